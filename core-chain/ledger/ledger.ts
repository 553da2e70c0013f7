/**
 * The ledger as the consensus core sees it (`ConsensusApp`), plus `commit`, which the node shell calls
 * on the core's `commit` effect.
 *
 * Pure and injectable: the committed state, the mempool and every limit are passed in; time is the
 * `now` argument; nothing here touches a disk, socket or timer. What storage must write is returned by
 * `commit` as one batch.
 *
 * The digest binds the whole payload. `digest(payload)` is the block hash only when the payload
 * decodes strictly and its transactions are exactly the ones the header's txRoot commits to; any other
 * payload gets a digest no block has (`malformedBlockDigest`). Hashing the header alone would let a
 * Byzantine peer pair a certified header with other transactions: the core, which compares digests
 * only, would accept that payload in catch-up and the replica would move on while its ledger could not
 * follow. With the binding, "digest matches the certificate" means "this is the certified block", and
 * `commit` can fail only if this replica's state machine diverged. The check costs a hash per
 * transaction; the result is memoized per payload object (the core passes one object around) and its
 * tx hashes are reused by execution, so it adds no work to a block that is also validated.
 *
 * Every payload is executed at most once per tip: `propose` and `validate` cache the execution result
 * by digest, and `commit` applies the cached change (the roots were already checked). The leader's own
 * proposal, which the core validates right after proposing, is a cache hit. The cache is dropped at
 * every commit: its results were computed against the old tip.
 */
import type { Certificate, ConsensusApp } from '../consensus/types.ts';
import { equalBytes } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import {
  blockHash,
  decodeBlock,
  encodeBlock,
  HEADER_LENGTH,
  headerMismatch,
  malformedBlockDigest,
  txRootFromHashes,
  type Block,
  type BlockContext,
  type Header,
} from './block.ts';
import { contractRegistry, type Contract, type ContractRegistry } from './contracts.ts';
import type { LedgerEvent } from './events.ts';
import { committedNonce, executeBlock, type ExecutionResult, type Receipt } from './executor.ts';
import type { Mempool } from './mempool.ts';
import type { State, StateDiff } from './state.ts';
import { txHash } from './tx.ts';
import { txKey, type VerifiedTxCache } from './verified.ts';
import { currentValidators, pendingValidatorChange, type PendingValidatorChange, type ValidatorEntry } from './contracts/registry.ts';
import { validatorSetHash } from './genesis.ts';

/** The committed tip: the last block's height, hash and time (height 0 is the genesis). */
export interface LedgerTip {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly time: bigint;
}

export interface LedgerOptions {
  readonly chainId: Uint8Array;
  /**
   * The validator set when the state holds no registry (unit tests of the ledger alone). With a
   * registry, the set in force at each height comes from its committed state (`validatorsAt`).
   */
  readonly validatorSetHash: Uint8Array;
  /** This validator's index in that fallback set (written as `proposer` in the blocks it builds). */
  readonly self: number;
  /** Size of the fallback set; a header's proposer must be an index into the set in force. */
  readonly validatorCount: number;
  /**
   * This validator's consensus key: with a registry, its position in the set in force is the
   * `proposer` it writes (positions shift as validators join and leave).
   */
  readonly selfKey?: Uint8Array;
  readonly contracts: ContractRegistry | readonly Contract[];
  /** The committed state at `tip`; the ledger owns it from now on (only `commit` changes it). */
  readonly state: State;
  readonly mempool: Mempool;
  /** Where the state is: `genesisTip(genesis)` on a fresh node, the stored last header after a restart. */
  readonly tip: LedgerTip;
  readonly maxBlockTxs?: number;
  /** Bound on the whole encoded block (the consensus payload). */
  readonly maxBlockBytes?: number;
  /** How far past the local clock a proposer's block time may be. */
  readonly maxSkewMs?: number;
  /** Defaults to the mempool's, which is what lets block validation skip verified signatures. */
  readonly verified?: VerifiedTxCache;
}

/** Everything storage writes, atomically, for one committed block. */
export interface CommitBatch {
  readonly height: bigint;
  readonly blockHash: Uint8Array;
  readonly header: Header;
  /** The encoded block as certified (store it as is: it re-hashes to `blockHash`). */
  readonly payload: Uint8Array;
  readonly cert: Certificate;
  /** State writes to persist (the state root after them is `header.stateRoot`). */
  readonly stateDiff: StateDiff;
  readonly txHashes: readonly Uint8Array[];
  /** One per transaction, in block order: what `GET /v1/tx/:hash` reports. */
  readonly receipts: readonly Receipt[];
  readonly events: readonly LedgerEvent[];
  /** The eventsRoot leaves: keep them to serve event inclusion proofs. */
  readonly encodedEvents: readonly Uint8Array[];
}

interface Executed {
  readonly payload: Uint8Array;
  readonly digest: Uint8Array;
  readonly result: ExecutionResult;
}

/** What digesting a payload learned; `block` is null (and `error` set) for a malformed payload. */
type Parsed =
  | { readonly digest: Uint8Array; readonly block: Block; readonly txHashes: readonly Uint8Array[]; readonly error: null }
  | { readonly digest: Uint8Array; readonly block: null; readonly txHashes: null; readonly error: LoulanError };

const CACHE_LIMIT = 8;

interface ValidatorSets {
  readonly version: number;
  readonly current: ValidatorSetView;
  readonly pending: PendingValidatorChange | null;
  readonly next: ValidatorSetView | null;
}

/** The validator set in force at a height, as the ledger derives it from committed state. */
export interface ValidatorSetView {
  readonly hash: Uint8Array;
  /** In set order (index = consensus position); null for the fallback set of a registry-less state. */
  readonly members: readonly ValidatorEntry[] | null;
  readonly size: number;
}

export class Ledger implements ConsensusApp {
  readonly #chainId: Uint8Array;
  readonly #validatorSetHash: Uint8Array;
  readonly #self: number;
  readonly #validatorCount: number;
  readonly #selfKey: Uint8Array | undefined;
  #sets: ValidatorSets | null = null;
  readonly #contracts: ContractRegistry;
  readonly #state: State;
  readonly #mempool: Mempool;
  readonly #verified: VerifiedTxCache;
  readonly #maxBlockTxs: number;
  readonly #maxBlockBytes: number;
  readonly #maxSkewMs: bigint;
  readonly #txBytesBudget: number;
  readonly #cache = new Map<string, Executed>();
  readonly #parsed = new WeakMap<Uint8Array, Parsed>();
  #tip: LedgerTip;
  #lastRejection: LoulanError | null = null;

  constructor(options: LedgerOptions) {
    this.#chainId = bytes32(options.chainId, 'chainId');
    this.#validatorSetHash = bytes32(options.validatorSetHash, 'validatorSetHash');
    this.#validatorCount = integer(options.validatorCount, 'validatorCount', 1);
    this.#self = integer(options.self, 'self', 0);
    if (this.#self >= this.#validatorCount) config('self', 'self must be an index into the validator set');
    this.#selfKey = options.selfKey?.slice();
    this.#contracts = options.contracts instanceof Map ? options.contracts : contractRegistry(options.contracts as readonly Contract[]);
    this.#state = options.state;
    this.#mempool = options.mempool;
    this.#verified = options.verified ?? options.mempool.verified;
    this.#maxBlockTxs = integer(options.maxBlockTxs ?? 2_000, 'maxBlockTxs', 1);
    this.#maxBlockBytes = integer(options.maxBlockBytes ?? 4 * 1024 * 1024, 'maxBlockBytes', 1);
    this.#maxSkewMs = BigInt(integer(options.maxSkewMs ?? 2_000, 'maxSkewMs', 0));
    // Block framing: header length prefix, header, and a length prefix per transaction.
    this.#txBytesBudget = this.#maxBlockBytes - 4 - HEADER_LENGTH - 4 * this.#maxBlockTxs;
    if (this.#txBytesBudget <= 0) config('maxBlockBytes', 'maxBlockBytes leaves no room for transactions at maxBlockTxs');
    const tip = options.tip;
    this.#tip = { height: tip.height, hash: bytes32(tip.hash, 'tip.hash'), time: tip.time };
  }

  /** The committed tip. */
  tip(): LedgerTip & { readonly stateRoot: Uint8Array } {
    return { ...this.#tip, stateRoot: this.#state.root() };
  }

  /** The committed state (read it; never write it: only `commit` changes it). */
  get state(): State {
    return this.#state;
  }

  /** Why the last `validate` returned false (LEDGER_BLOCK_INVALID with `details.reason`). */
  get lastRejection(): LoulanError | null {
    return this.#lastRejection;
  }

  /**
   * The block hash when `payload` is a well-formed block whose transactions match its txRoot and
   * txCount; otherwise `malformedBlockDigest(payload)`. Never throws. See the module comment.
   */
  digest(payload: Uint8Array): Uint8Array {
    return this.#parse(payload).digest;
  }

  /**
   * A block of executable mempool transactions on top of the tip, or null when there are none (or
   * `height` is not the next one). Transactions that turn out block-invalid are dropped from the
   * mempool and left out. Time is max(now, previous time + 1).
   */
  propose(height: bigint, now: number): Uint8Array | null {
    if (height !== this.#tip.height + 1n) return null;
    const candidates = this.#mempool.take(this.#maxBlockTxs, this.#txBytesBudget);
    if (candidates.length === 0) return null;
    const clock = BigInt(Math.floor(now));
    const context: BlockContext = {
      chainId: this.#chainId,
      height,
      prevHash: this.#tip.hash,
      time: clock > this.#tip.time ? clock : this.#tip.time + 1n,
      proposer: this.#proposerIndex(height),
      validatorSetHash: this.validatorsAt(height).hash,
      nextValidatorSetHash: this.#nextValidatorSetHash(height),
    };
    const result = executeBlock(this.#state, context, candidates, { contracts: this.#contracts, verified: this.#verified, mode: 'propose' });
    for (const skipped of result.skipped) this.#mempool.remove(skipped.hash);
    if (result.txs.length === 0) return null;
    const block: Block = { header: result.header, txs: result.txs };
    const payload = encodeBlock(block);
    const digest = blockHash(result.header);
    // The core digests and validates its own proposal next: both are lookups.
    this.#parsed.set(payload, { digest, block, txHashes: result.txHashes, error: null });
    this.#remember({ payload, digest, result });
    return payload;
  }

  /** True when `payload` is a valid next block; see `check` for the rules. Never throws. */
  validate(height: bigint, payload: Uint8Array, now: number): boolean {
    try {
      this.check(height, payload, now);
      this.#lastRejection = null;
      return true;
    } catch (error) {
      this.#lastRejection =
        error instanceof LoulanError && error.code === 'LEDGER_BLOCK_INVALID'
          ? error
          : new LoulanError('LEDGER_BLOCK_INVALID', 'block validation failed', { details: { reason: 'internal' }, cause: error });
      return false;
    }
  }

  /**
   * Throws LEDGER_BLOCK_INVALID (`details.reason`) unless `payload` is a valid block at `height` on top
   * of the tip: at most maxBlockBytes ('size'); decodes strictly ('decode'); its transactions hash to
   * its txRoot ('txRoot'); chainId, validatorSetHash and nextValidatorSetHash are ours; height is tip + 1 ('height'); prevHash is the tip's hash ('prevHash'); time is after the tip's
   * ('time') and at most now + maxSkewMs ('time-ahead'); proposer indexes the validator set
   * ('proposer'); txCount within maxBlockTxs; every transaction valid ('tx', with `details.index`);
   * and the rest of the header equals what execution produces ('eventsRoot', 'eventCount', 'stateRoot').
   *
   * The proposer is only checked to be a member: after a view change the new leader re-proposes a
   * block its predecessor built, so the builder is not necessarily the current leader.
   */
  check(height: bigint, payload: Uint8Array, now: number): void {
    this.#execute(height, payload, BigInt(Math.floor(now)));
  }

  /**
   * Applies a certified block to the committed state and mempool, and returns what storage must write
   * in one atomic batch. Uses the execution cached by `validate`/`propose`; a block that arrives by
   * catch-up is executed here. Throws LEDGER_DIVERGED when the block does not extend the tip or does
   * not execute to its header (the quorum certified something this replica computes differently: stop
   * the node rather than carry on with a different state).
   *
   * Memory is ahead of disk once this returns: if persisting the batch fails, the process must exit
   * and recover from storage.
   */
  commit(payload: Uint8Array, cert: Certificate): CommitBatch {
    const height = this.#tip.height + 1n;
    const digest = this.digest(payload);
    if (cert.height !== height || !equalBytes(cert.digest, digest)) {
      throw new LoulanError('LEDGER_DIVERGED', 'certificate does not certify this payload as the next block', {
        details: { height, certHeight: cert.height },
      });
    }
    let executed: Executed;
    try {
      executed = this.#execute(height, payload, null);
    } catch (cause) {
      const reason = cause instanceof LoulanError ? cause.details.reason : undefined;
      throw new LoulanError('LEDGER_DIVERGED', `certified block ${height} does not execute to its header`, {
        details: { height, reason },
        cause,
      });
    }
    const { result } = executed;
    this.#state.apply(result.change);
    this.#cache.clear();
    this.#tip = { height, hash: digest, time: result.header.time };
    const senders = new Set<string>();
    for (const receipt of result.receipts) senders.add(receipt.sender);
    const state = this.#state;
    this.#mempool.onCommit(result.txHashes, (address) => committedNonce(state, address), senders);
    return {
      height,
      blockHash: digest,
      header: result.header,
      payload: executed.payload,
      cert,
      stateDiff: { puts: result.change.puts, deletes: result.change.deletes },
      txHashes: result.txHashes,
      receipts: result.receipts,
      events: result.events,
      encodedEvents: result.encodedEvents,
    };
  }

  /** Decodes, hashes and binds a payload once per payload object (see the module comment). */
  #parse(payload: Uint8Array): Parsed {
    const hit = this.#parsed.get(payload);
    if (hit !== undefined) return hit;
    let parsed: Parsed;
    try {
      if (payload.length > this.#maxBlockBytes) invalid('size', `block of ${payload.length} bytes exceeds ${this.#maxBlockBytes}`);
      let block: Block;
      try {
        block = decodeBlock(payload);
      } catch (cause) {
        invalid('decode', 'block does not decode', { cause });
      }
      const txHashes = block.txs.map(txHash);
      if (!equalBytes(txRootFromHashes(txHashes), block.header.txRoot)) invalid('txRoot', 'transactions do not match the header txRoot');
      parsed = { digest: blockHash(block.header), block, txHashes, error: null };
    } catch (error) {
      parsed = { digest: malformedBlockDigest(payload), block: null, txHashes: null, error: error as LoulanError };
    }
    this.#parsed.set(payload, parsed);
    return parsed;
  }

  // `now` null: committing a certified block, whose time the quorum already bounded.
  #execute(height: bigint, payload: Uint8Array, now: bigint | null): Executed {
    const parsed = this.#parse(payload);
    if (parsed.error !== null) throw parsed.error;
    const cached = this.#cache.get(txKey(parsed.digest));
    if (cached !== undefined && sameBytes(cached.payload, payload)) {
      this.#checkTime(cached.result.header, now);
      if (cached.result.header.height !== height) invalid('height', `block is for height ${cached.result.header.height}, expected ${height}`);
      return cached;
    }

    const { block, txHashes, digest } = parsed;
    const h = block.header;
    if (!equalBytes(h.chainId, this.#chainId)) invalid('chainId', 'block is for another chain');
    if (height !== this.#tip.height + 1n || h.height !== height) {
      invalid('height', `block height ${h.height}, asked ${height}, expected ${this.#tip.height + 1n}`);
    }
    if (!equalBytes(h.validatorSetHash, this.validatorsAt(height).hash)) invalid('validatorSetHash', 'block names another validator set');
    if (!equalBytes(h.nextValidatorSetHash, this.#nextValidatorSetHash(height))) {
      invalid('nextValidatorSetHash', 'block names another validator set for the next height');
    }
    if (!equalBytes(h.prevHash, this.#tip.hash)) invalid('prevHash', 'block does not extend the committed tip');
    this.#checkTime(h, now);
    if (h.proposer >= this.validatorsAt(height).size) invalid('proposer', `proposer ${h.proposer} is not a validator index`);
    if (h.txCount > this.#maxBlockTxs) invalid('txCount', `${h.txCount} transactions exceeds ${this.#maxBlockTxs}`);

    const result = executeBlock(this.#state, h, block.txs, {
      contracts: this.#contracts,
      verified: this.#verified,
      mode: 'validate',
      known: { txHashes, txRoot: h.txRoot },
    });
    const mismatch = headerMismatch(result.header, h);
    if (mismatch !== null) invalid(mismatch, `header ${mismatch} does not match the executed block`);
    const executed: Executed = { payload: payload.slice(), digest, result };
    this.#remember(executed);
    return executed;
  }

  /**
   * The set that certifies block `height + 1`, written into block `height`'s header: the last block
   * before a change names the incoming set, so the outgoing set certifies the hand-over.
   */
  #nextValidatorSetHash(height: bigint): Uint8Array {
    return this.validatorsAt(height + 1n).hash;
  }

  /**
   * The validator set that certifies block `height`, for the next two heights above the committed tip
   * (what proposing, validating and the header's nextValidatorSetHash need). It comes from the
   * registry in the committed state: the current set, or the scheduled one from its activation height
   * on (the registry's begin-block hook installs it in that very block). A change passed in block h is
   * scheduled at least two blocks later (the registry's minimum activation delay), so the committed
   * state always knows the set of tip + 2.
   */
  validatorsAt(height: bigint): ValidatorSetView {
    if (height <= this.#tip.height || height > this.#tip.height + 2n) {
      throw new LoulanError('INTERNAL', `validator set asked for height ${height}, tip is ${this.#tip.height}`, { details: { height } });
    }
    const sets = this.#validatorSets();
    return sets.next !== null && sets.pending !== null && height >= sets.pending.activationHeight ? sets.next : sets.current;
  }

  /** The scheduled validator change in the committed state, or null. */
  pendingValidatorChange(): PendingValidatorChange | null {
    return this.#validatorSets().pending;
  }

  #validatorSets(): ValidatorSets {
    const version = this.#state.version;
    if (this.#sets !== null && this.#sets.version === version) return this.#sets;
    const members = currentValidators(this.#state);
    const pending = members.length === 0 ? null : pendingValidatorChange(this.#state);
    const view = (list: readonly ValidatorEntry[]): ValidatorSetView => ({ hash: validatorSetHash(list), members: list, size: list.length });
    this.#sets = {
      version,
      current: members.length === 0 ? { hash: this.#validatorSetHash, members: null, size: this.#validatorCount } : view(members),
      pending,
      next: pending === null ? null : view(pending.validators),
    };
    return this.#sets;
  }

  /** This validator's position in the set of `height` (the fallback index without a registry). */
  #proposerIndex(height: bigint): number {
    const members = this.validatorsAt(height).members;
    if (members === null || this.#selfKey === undefined) return this.#self;
    const at = members.findIndex((m) => equalBytes(m.publicKey, this.#selfKey!));
    return at < 0 ? this.#self : at;
  }

  #checkTime(h: Header, now: bigint | null): void {
    if (h.time <= this.#tip.time) invalid('time', `block time ${h.time} is not after the tip's ${this.#tip.time}`);
    if (now !== null && h.time > now + this.#maxSkewMs) invalid('time-ahead', `block time ${h.time} is more than ${this.#maxSkewMs} ms ahead of ${now}`);
  }

  #remember(executed: Executed): void {
    if (this.#cache.size >= CACHE_LIMIT) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(txKey(executed.digest), executed);
  }
}

function invalid(reason: string, message: string, extra: { readonly cause?: unknown } = {}): never {
  throw new LoulanError('LEDGER_BLOCK_INVALID', message, extra.cause === undefined ? { details: { reason } } : { details: { reason }, cause: extra.cause });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function bytes32(value: Uint8Array, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== 32) config(field, `${field} must be 32 bytes`);
  return value.slice();
}

function integer(value: number, field: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) config(field, `${field} must be an integer >= ${min}`);
  return value;
}

function config(field: string, message: string): never {
  throw new LoulanError('CONFIG_INVALID', message, { details: { field } });
}
