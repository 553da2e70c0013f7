/**
 * Durable storage of one validator: the safety record (what it has signed) and the block store (the
 * certified chain, its indexes and the committed state), plus state snapshots for catch-up.
 *
 * How a node shell uses them:
 *  - Open the BlockStore first: its LevelDB lock keeps a second process off the data directory (the
 *    kernel drops the lock on kill -9), which also protects the safety file beside it. Then open the
 *    SafetyFile and `load()` it; a SAFETY_RECORD_CORRUPT error must stop the node, never be "fixed" by
 *    starting from null.
 *  - A null safety record with a non-empty block store means the record was lost, not that the node
 *    never signed: do not feed null to the replica then. Refuse to start by default; an operator
 *    override may start it with `signFloor` = tip height + 2, so it never votes at the one height it
 *    may already have voted at (it also forgot any prepared certificate there, so for that height it
 *    counts as the one faulty validator).
 *  - Carry out each `persist` effect with `await safety.save(state)` before executing any later
 *    `send`/`broadcast` of the same step. Consecutive persists with no send between them may be
 *    collapsed to the last one. A failed save is fatal.
 *  - Carry out each `commit` effect with `await blocks.commitBlock(...)` before the effects after it
 *    and before acknowledging the block to anyone (RPC, subscribers); after a crash, the tip is the
 *    last commit that returned, or the one after it, and the replica restarts at tip + 1.
 */
export { SafetyFile, type SafetyFileOptions, type SafetyPoint } from './safety.ts';
export {
  BlockStore,
  type BlockStoreOptions,
  type BlockStorePoint,
  type BlockRecord,
  type CommitInput,
  type StoredBlock,
  type Tip,
  type TxLocation,
} from './blocks.ts';
export { SnapshotAssembler, MAX_STATE_KEY_BYTES, MAX_HEADER_BYTES, type Snapshot, type SnapshotLimits } from './snapshot.ts';
