/**
 * The block store: one LevelDB per validator data directory holding the certified chain, its indexes
 * and the committed contract state, so a node restarts from its tip instead of replaying history.
 *
 * Everything one block changes (body, header, certificate, indexes, receipts, state writes, tip) goes
 * into ONE LevelDB write batch with `sync: true`: LevelDB appends the batch to its log as one record and
 * fsyncs it before the promise resolves, so after a kill -9 or a power cut the store holds either the
 * whole block or none of it, and a block whose `commitBlock` returned is there.
 *
 * Layout: sublevels with short names; heights are 16 lowercase hex digits (u64 big-endian), so
 * LevelDB's byte order is numeric order; hashes are lowercase hex.
 *   meta   'format' → u8 · 'tip' → height u64 ‖ hash · 'pruned' → height u64 (bodies below are gone)
 *   hdr    height → block hash (32) ‖ encoded header            (kept forever)
 *   cert   height → wire-encoded certificate                    (kept forever)
 *   body   height → encoded block payload                       (pruned by pruneBelow)
 *   hash   block hash → height u64                              (kept forever)
 *   tx     tx hash → height u64 ‖ index u32                     (kept forever)
 *   rcpt   tx hash → receipt bytes (opaque, from the ledger)    (kept forever)
 *   evt    height → u32 count ‖ count × u32-length event bytes   (kept forever: event proofs need the leaves)
 *   state  contract-state key → value                           (the state at the tip)
 *   vset   height → u32 count ‖ count × u32-length key           (hand-overs: the set after that block; kept forever)
 *   smt    state-tree node position → encoded node (65 bytes)   (the tree at the tip; see smt/tree.ts)
 *
 * The state tree's nodes change in the same batch as the state entries: the store tracks the live
 * `State` (`openState`, `trackState`) and, when a block is committed, takes the node writes its tree
 * made since the last commit. A restart authenticates the stored nodes against the tip header's state
 * root instead of rebuilding the tree from every entry.
 *
 * Writes (commit, snapshot install, prune) are queued so they apply one at a time in call order;
 * reads run concurrently and see whole blocks only.
 */
import { rm, readdir } from 'node:fs/promises';
import { Level } from 'level';
import { Reader, Writer } from '../codec/binary.ts';
import { decodeCertificate, encodeCertificate } from '../consensus/wire.ts';
import type { Certificate } from '../consensus/types.ts';
import { equalBytes, toHex } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import { State } from '../ledger/state.ts';
import { SparseMerkleTree, type NodeWrite } from '../smt/tree.ts';
import { chunkSnapshot, MAX_HEADER_BYTES, MAX_STATE_KEY_BYTES, type Snapshot, type SnapshotHead } from './snapshot.ts';

export type BlockStorePoint = 'before-batch' | 'after-batch';

export interface BlockStoreOptions {
  /** Called synchronously before and after each atomic batch (commit, snapshot install), for crash tests. */
  readonly onPoint?: (point: BlockStorePoint) => void;
}

export interface Tip {
  readonly height: bigint;
  readonly hash: Uint8Array;
}

export interface CommitInput {
  readonly height: bigint;
  /** The block hash: the digest the certificate signs (32 bytes). */
  readonly blockHash: Uint8Array;
  /** The encoded block header, kept after the body is pruned (proofs and snapshots need it). */
  readonly header: Uint8Array;
  /** The encoded block, as the consensus core ordered it. */
  readonly payload: Uint8Array;
  readonly cert: Certificate;
  /** Transaction hashes (32 bytes each) in block order; a tx's index is its position here. */
  readonly txHashes: readonly Uint8Array[];
  readonly receipts: ReadonlyArray<readonly [txHash: Uint8Array, receipt: Uint8Array]>;
  readonly statePuts: ReadonlyArray<readonly [key: string, value: Uint8Array]>;
  readonly stateDeletes: readonly string[];
  /** The encoded events (the eventsRoot leaves, in order), kept to serve event inclusion proofs. */
  readonly events?: readonly Uint8Array[];
  /**
   * When this block hands over to another validator set (its header's nextValidatorSetHash differs
   * from its validatorSetHash): the incoming set's keys, in set order. Kept forever, so that a node
   * catching up from a snapshot can follow the chain of hand-overs from a set it trusts.
   */
  readonly nextValidatorSet?: readonly Uint8Array[];
}

/** A validator-set hand-over: the block that names the incoming set, and that set's keys. */
export interface Handover extends BlockRecord {
  readonly nextValidatorSet: Uint8Array[];
}

export interface HandoverRecord extends BlockRecord {
  readonly nextValidatorSet: readonly Uint8Array[];
}

/** What survives pruning: enough to prove anything against the header. */
export interface BlockRecord {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly header: Uint8Array;
  readonly cert: Certificate;
}

export interface StoredBlock extends BlockRecord {
  readonly payload: Uint8Array;
}

export interface TxLocation {
  readonly height: bigint;
  readonly index: number;
}

const FORMAT_VERSION = 1;
const HASH_BYTES = 32;
const MAX_U64 = (1n << 64n) - 1n;
const utf8 = new TextEncoder();

type Bytes = Uint8Array;
type Db = Level<string, Bytes>;
type Sub = ReturnType<typeof sublevelOf>;

function sublevelOf(db: Db, name: string) {
  return db.sublevel<string, Bytes>(name, { keyEncoding: 'utf8', valueEncoding: 'view' });
}

export class BlockStore {
  readonly dir: string;
  readonly #db: Db;
  readonly #meta: Sub;
  readonly #hdr: Sub;
  readonly #cert: Sub;
  readonly #body: Sub;
  readonly #hash: Sub;
  readonly #tx: Sub;
  readonly #rcpt: Sub;
  readonly #evt: Sub;
  readonly #state: Sub;
  readonly #smt: Sub;
  readonly #vset: Sub;
  readonly #onPoint: ((point: BlockStorePoint) => void) | undefined;
  #tip: Tip | null = null;
  #pruned = 0n;
  // The live state whose tree nodes each commit persists; `#wipeNodes` when the stored nodes are not
  // an earlier version of its tree (a fresh genesis state), so the first commit replaces them all.
  #tracked: State | null = null;
  #wipeNodes = false;
  #queue: Promise<void> = Promise.resolve();

  private constructor(dir: string, db: Db, options: BlockStoreOptions) {
    this.dir = dir;
    this.#db = db;
    const sub = (name: string): Sub => sublevelOf(db, name);
    this.#meta = sub('meta');
    this.#hdr = sub('hdr');
    this.#cert = sub('cert');
    this.#body = sub('body');
    this.#hash = sub('hash');
    this.#tx = sub('tx');
    this.#rcpt = sub('rcpt');
    this.#evt = sub('evt');
    this.#state = sub('state');
    this.#smt = sub('smt');
    this.#vset = sub('vset');
    this.#onPoint = options.onPoint;
  }

  /**
   * Opens (creating if needed) the store in `dir`. Throws STORE_LOCKED when another process has it
   * open: LevelDB's lock is released by the kernel when its holder dies, so a kill -9 never blocks a
   * restart.
   */
  static async open(dir: string, options: BlockStoreOptions = {}): Promise<BlockStore> {
    const db: Db = new Level<string, Bytes>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new LoulanError('STORE_LOCKED', `block store ${dir} is open in another process`, { details: { dir }, cause: error });
      }
      throw error;
    }
    const store = new BlockStore(dir, db, options);
    try {
      await store.#load();
    } catch (error) {
      await db.close();
      throw error;
    }
    return store;
  }

  /**
   * Deletes a store directory (tests). Refuses a non-empty directory that is not a LevelDB store, so a
   * wrong path cannot erase anything else.
   */
  static async wipe(dir: string): Promise<void> {
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (names === null) return;
    if (names.length > 0 && !names.includes('CURRENT')) {
      throw new LoulanError('CONFIG_INVALID', `${dir} is not a block store; not wiping it`, { details: { field: 'dir', dir } });
    }
    await rm(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#db.close();
  }

  /** The highest committed block, or null for an empty store. */
  tip(): Tip | null {
    return this.#tip;
  }

  /** Bodies below this height have been pruned (or never stored, below an installed snapshot). */
  prunedBelow(): bigint {
    return this.#pruned;
  }

  /**
   * Commits one block atomically and durably. `height` must be the tip's height + 1 (0 or 1 on an
   * empty store), and the certificate must be for this height and block hash. State deletes and puts
   * must not name the same key. Resolves once the batch is fsynced.
   *
   * Call it from one place only, in height order; calls are queued, so two in flight are applied in
   * call order (and the second fails unless it is the next height).
   */
  commitBlock(input: CommitInput): Promise<void> {
    // The tracked tree's writes are taken now, synchronously: the ledger applies a block just before
    // committing it and may apply the next one before this batch is written.
    const nodes = this.#tracked === null ? [] : this.#tracked.tree.takeWrites();
    const wipe = this.#wipeNodes;
    this.#wipeNodes = false;
    return this.#enqueue(() => this.#commit(input, nodes, wipe));
  }

  async #commit(input: CommitInput, nodes: readonly NodeWrite[], wipe: boolean): Promise<void> {
    const { height, blockHash, header, payload, cert } = input;
    const expected = this.#tip === null ? null : this.#tip.height + 1n;
    if (expected === null ? height !== 0n && height !== 1n : height !== expected) {
      throw rejected('height', `commit of height ${height}, the store expects ${expected ?? '0 or 1'}`, { height, expected });
    }
    checkHash(blockHash, 'blockHash');
    if (cert.height !== height || !equalBytes(cert.digest, blockHash)) {
      throw rejected('certificate', 'the certificate is for another height or block', { height });
    }
    if (header.length > MAX_HEADER_BYTES) throw rejected('header', `header of ${header.length} bytes exceeds ${MAX_HEADER_BYTES}`, { height });
    const deletes = new Set(input.stateDeletes);
    for (const key of deletes) checkStateKey(key);
    for (const [key] of input.statePuts) {
      checkStateKey(key);
      if (deletes.has(key)) throw rejected('state', `state key ${JSON.stringify(key)} is both written and deleted`, { height, key });
    }

    const h = heightKey(height);
    const batch = this.#db.batch();
    batch.put(h, concat(blockHash, header), { sublevel: this.#hdr });
    batch.put(h, encodeCertificate(cert), { sublevel: this.#cert });
    batch.put(h, payload, { sublevel: this.#body });
    batch.put(toHex(blockHash), u64(height), { sublevel: this.#hash });
    input.txHashes.forEach((txHash, index) => {
      checkHash(txHash, 'txHashes');
      batch.put(toHex(txHash), txLocation(height, index), { sublevel: this.#tx });
    });
    for (const [txHash, receipt] of input.receipts) {
      checkHash(txHash, 'receipts');
      batch.put(toHex(txHash), receipt, { sublevel: this.#rcpt });
    }
    if (input.events !== undefined) batch.put(h, encodeList(input.events), { sublevel: this.#evt });
    if (input.nextValidatorSet !== undefined) batch.put(h, encodeList(input.nextValidatorSet), { sublevel: this.#vset });
    for (const key of deletes) batch.del(key, { sublevel: this.#state });
    for (const [key, value] of input.statePuts) batch.put(key, value, { sublevel: this.#state });
    if (wipe) for await (const key of this.#smt.keys()) batch.del(key, { sublevel: this.#smt });
    putNodes(batch, nodes, this.#smt);
    batch.put('tip', concat(u64(height), blockHash), { sublevel: this.#meta });
    if (this.#tip === null) batch.put('pruned', u64(height), { sublevel: this.#meta });

    this.#onPoint?.('before-batch');
    await batch.write({ sync: true });
    this.#onPoint?.('after-batch');
    if (this.#tip === null) this.#pruned = height;
    this.#tip = { height, hash: plain(blockHash) };
  }

  /** The header, hash and certificate at `height` (kept after pruning). */
  async getHeader(height: bigint): Promise<BlockRecord | undefined> {
    const h = heightKey(height);
    const [hdr, cert] = await Promise.all([this.#hdr.get(h), this.#cert.get(h)]);
    if (hdr === undefined || cert === undefined) return undefined;
    return record(height, hdr, cert, h);
  }

  /** The block at `height` with its body, or undefined when unknown or pruned. */
  async getBlock(height: bigint): Promise<StoredBlock | undefined> {
    const h = heightKey(height);
    const [hdr, cert, payload] = await Promise.all([this.#hdr.get(h), this.#cert.get(h), this.#body.get(h)]);
    if (hdr === undefined || cert === undefined || payload === undefined) return undefined;
    return { ...record(height, hdr, cert, h), payload: plain(payload) };
  }

  async getCertificate(height: bigint): Promise<Certificate | undefined> {
    const h = heightKey(height);
    const cert = await this.#cert.get(h);
    return cert === undefined ? undefined : decodeStored(() => decodeCertificate(cert), `cert/${h}`);
  }

  /** The height of the block with this hash, if it is in the chain. */
  async getHeightByHash(hash: Uint8Array): Promise<bigint | undefined> {
    const value = await this.#hash.get(toHex(hash));
    return value === undefined ? undefined : readU64(value, `hash/${toHex(hash)}`);
  }

  /** The block with this hash with its body, or undefined when unknown or pruned. */
  async getBlockByHash(hash: Uint8Array): Promise<StoredBlock | undefined> {
    const height = await this.getHeightByHash(hash);
    return height === undefined ? undefined : this.getBlock(height);
  }

  async getTxLocation(txHash: Uint8Array): Promise<TxLocation | undefined> {
    const key = toHex(txHash);
    const value = await this.#tx.get(key);
    if (value === undefined) return undefined;
    if (value.length !== 12) throw corrupt(`tx/${key}`, 'a tx location is 12 bytes');
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    return { height: view.getBigUint64(0), index: view.getUint32(8) };
  }

  async getReceipt(txHash: Uint8Array): Promise<Uint8Array | undefined> {
    const value = await this.#rcpt.get(toHex(txHash));
    return value === undefined ? undefined : plain(value);
  }

  /** Validator-set hand-overs at heights >= `from`, in height order, at most `limit`. */
  async getHandovers(from: bigint, limit: number): Promise<Handover[]> {
    const out: Handover[] = [];
    for await (const [h, keys] of this.#vset.iterator({ gte: heightKey(from), limit })) {
      const height = BigInt(`0x${h}`);
      const record = await this.getHeader(height);
      if (record === undefined) throw corrupt(`vset/${h}`, 'a hand-over without its header');
      out.push({ ...record, nextValidatorSet: decodeStored(() => decodeList(keys), `vset/${h}`) });
    }
    return out;
  }

  /** The encoded events of the block at `height` (kept after pruning), or undefined if none were stored. */
  async getEvents(height: bigint): Promise<Uint8Array[] | undefined> {
    const h = heightKey(height);
    const value = await this.#evt.get(h);
    return value === undefined ? undefined : decodeStored(() => decodeList(value), `evt/${h}`);
  }

  /**
   * Blocks with bodies in [from, to], in height order, for serving catch-up. Heights below
   * `prunedBelow()` are skipped (their bodies are gone: serve a snapshot instead). Reads from one
   * LevelDB snapshot, so concurrent commits and pruning do not tear the sequence.
   */
  async *blocks(from: bigint, to: bigint): AsyncGenerator<StoredBlock> {
    const start = from > this.#pruned ? from : this.#pruned;
    if (start > to) return;
    const snapshot = this.#db.snapshot();
    try {
      const options = { gte: heightKey(start), lte: heightKey(to < MAX_U64 ? to : MAX_U64), snapshot };
      for await (const [h, payload] of this.#body.iterator(options)) {
        const [hdr, cert] = await Promise.all([this.#hdr.get(h, { snapshot }), this.#cert.get(h, { snapshot })]);
        if (hdr === undefined || cert === undefined) throw corrupt(`body/${h}`, 'a body without its header or certificate');
        yield { ...record(BigInt(`0x${h}`), hdr, cert, h), payload: plain(payload) };
      }
    } finally {
      await snapshot.close();
    }
  }

  /** Every contract-state entry at the tip. */
  async loadState(): Promise<Map<string, Uint8Array>> {
    const state = new Map<string, Uint8Array>();
    for await (const [key, value] of this.#stateEntries()) state.set(key, value);
    return state;
  }

  /**
   * The committed state at the tip, its tree loaded from the stored nodes and authenticated against
   * `stateRoot` (the tip header's): every node is hashed once from the root down, and the entry
   * count must match the tree's. Throws STORE_CORRUPT on any mismatch. From then on each
   * `commitBlock` persists the node writes of this state's tree (see `trackState`).
   */
  async openState(stateRoot: Uint8Array): Promise<State> {
    checkHash(stateRoot, 'stateRoot');
    return this.#enqueue(async () => {
      const snapshot = this.#db.snapshot();
      try {
        const entries = new Map<string, Uint8Array>();
        for await (const [key, value] of this.#stateEntries(snapshot)) entries.set(key, value);
        const nodes = new Map<string, Uint8Array>();
        const it = this.#smt.iterator({ snapshot });
        try {
          for (;;) {
            const batch = await it.nextv(1000);
            if (batch.length === 0) break;
            for (const [key, value] of batch) nodes.set(key, value);
          }
        } finally {
          await it.close();
        }
        const state = State.fromStore(entries, SparseMerkleTree.fromNodes(nodes, stateRoot));
        this.#tracked = state;
        this.#wipeNodes = false;
        return state;
      } finally {
        await snapshot.close();
      }
    });
  }

  /**
   * Makes `state` the one whose tree nodes each `commitBlock` persists, for a state that did not come
   * from `openState` (the genesis state): the next commit replaces every stored node with its tree.
   */
  trackState(state: State): void {
    this.#tracked = state;
    this.#wipeNodes = true;
  }

  /**
   * Deletes block bodies below `height` (never the tip's). Headers, certificates, events, the hash
   * and tx indexes, receipts and state stay: every header stays provable and every receipt stays queryable,
   * but blocks below the new floor can no longer be served for catch-up (a snapshot replaces them).
   * Returns the new floor. Bodies are deleted in small batches after the floor is raised, so a crash
   * midway leaves only unreachable leftovers, removed by the next prune.
   */
  pruneBelow(height: bigint): Promise<bigint> {
    return this.#enqueue(async () => {
      if (this.#tip === null) return this.#pruned;
      const target = height < this.#tip.height ? height : this.#tip.height;
      if (target > this.#pruned) {
        await this.#putMeta('pruned', u64(target));
        this.#pruned = target;
      }
      const keys = this.#body.keys({ lt: heightKey(this.#pruned) });
      try {
        for (;;) {
          const batch = await keys.nextv(1000);
          if (batch.length === 0) break;
          await this.#body.batch(batch.map((key) => ({ type: 'del' as const, key })));
        }
      } finally {
        await keys.close();
      }
      return this.#pruned;
    });
  }

  /**
   * The state at the tip as snapshot chunks of at most `maxBytes` each (see snapshot.ts), read from
   * one LevelDB snapshot so commits meanwhile do not tear it. Throws SNAPSHOT_INVALID on an empty store.
   */
  async *snapshotChunks(maxBytes: number): AsyncGenerator<Uint8Array> {
    const snapshot = this.#db.snapshot();
    try {
      const head = await this.#snapshotHead(snapshot);
      yield* chunkSnapshot(head, this.#stateEntries(snapshot), maxBytes);
    } finally {
      await snapshot.close();
    }
  }

  /** The whole snapshot at the tip in memory (small states, tests). */
  async readSnapshot(): Promise<Snapshot> {
    const snapshot = this.#db.snapshot();
    try {
      const head = await this.#snapshotHead(snapshot);
      const entries: Array<readonly [string, Uint8Array]> = [];
      for await (const entry of this.#stateEntries(snapshot)) entries.push(entry);
      return { ...head, entries };
    } finally {
      await snapshot.close();
    }
  }

  /**
   * Installs a snapshot received from a peer, after the caller has checked its certificate and that
   * the header's state root matches the entries. Atomically replaces the whole state, records the
   * header and certificate at its height and moves the tip there; bodies below it are not served.
   */
  /**
   * `handovers`: the validator-set hand-overs below the snapshot that the caller verified to trust it;
   * kept (header, certificate, incoming keys) so that this node can serve them to the next one.
   */
  writeSnapshot(snap: Snapshot, state?: State, handovers: readonly HandoverRecord[] = []): Promise<void> {
    // The tree is built before queueing (CPU work, no store access); a caller that checked the root
    // against the certified header passes the state it built for that and saves the rebuild.
    const tree = (state ?? State.fromEntries(snap.entries)).tree;
    return this.#enqueue(async () => {
      const { height, hash, header, cert } = snap;
      if (this.#tip !== null && height <= this.#tip.height) {
        throw rejected('height', `snapshot at ${height} is not above the tip ${this.#tip.height}`, { height, expected: this.#tip.height + 1n });
      }
      checkHash(hash, 'hash');
      if (cert.height !== height || !equalBytes(cert.digest, hash)) {
        throw rejected('certificate', 'the certificate is for another height or block', { height });
      }
      const h = heightKey(height);
      const batch = this.#db.batch();
      for await (const key of this.#state.keys()) batch.del(key, { sublevel: this.#state });
      for (const [key, value] of snap.entries) {
        checkStateKey(key);
        batch.put(key, value, { sublevel: this.#state });
      }
      for await (const key of this.#smt.keys()) batch.del(key, { sublevel: this.#smt });
      putNodes(batch, tree.allNodes(), this.#smt);
      batch.put(h, concat(hash, header), { sublevel: this.#hdr });
      batch.put(h, encodeCertificate(cert), { sublevel: this.#cert });
      batch.put(toHex(hash), u64(height), { sublevel: this.#hash });
      batch.put('tip', concat(u64(height), hash), { sublevel: this.#meta });
      batch.put('pruned', u64(height + 1n), { sublevel: this.#meta });
      for (const record of handovers) {
        if (record.height >= height) continue;
        const at = heightKey(record.height);
        checkHash(record.hash, 'handovers.hash');
        batch.put(at, concat(record.hash, record.header), { sublevel: this.#hdr });
        batch.put(at, encodeCertificate(record.cert), { sublevel: this.#cert });
        batch.put(at, encodeList(record.nextValidatorSet), { sublevel: this.#vset });
      }
      this.#onPoint?.('before-batch');
      await batch.write({ sync: true });
      this.#onPoint?.('after-batch');
      this.#tip = { height, hash: plain(hash) };
      this.#pruned = height + 1n;
      // The installed state replaces whatever was tracked: the caller reopens it (`openState`).
      this.#tracked = null;
    });
  }

  // -- internals -------------------------------------------------------------------------------------

  async #load(): Promise<void> {
    const [format, tip, pruned] = await this.#meta.getMany(['format', 'tip', 'pruned']);
    if (format === undefined) {
      if (tip !== undefined) throw corrupt('meta/format', 'a store with a tip but no format version');
      await this.#putMeta('format', Uint8Array.of(FORMAT_VERSION));
    } else if (format.length !== 1 || format[0] !== FORMAT_VERSION) {
      throw corrupt('meta/format', `unknown store format ${toHex(format)}`);
    }
    if (tip !== undefined) {
      if (tip.length !== 8 + HASH_BYTES) throw corrupt('meta/tip', 'the tip is height u64 ‖ 32-byte hash');
      this.#tip = { height: readU64(tip.subarray(0, 8), 'meta/tip'), hash: plain(tip.subarray(8)) };
    }
    if (pruned !== undefined) this.#pruned = readU64(pruned, 'meta/pruned');
  }

  // Sublevel put() has no `sync` option; a one-operation batch on the root database does.
  async #putMeta(key: string, value: Uint8Array): Promise<void> {
    await this.#db.batch([{ type: 'put', key, value, sublevel: this.#meta }], { sync: true });
  }

  async #snapshotHead(snapshot: ReturnType<Db['snapshot']>): Promise<SnapshotHead> {
    const tip = await this.#meta.get('tip', { snapshot });
    if (tip === undefined) throw new LoulanError('SNAPSHOT_INVALID', 'the store is empty: nothing to snapshot', { details: { reason: 'empty' } });
    const height = readU64(tip.subarray(0, 8), 'meta/tip');
    const h = heightKey(height);
    const [hdr, cert] = await Promise.all([this.#hdr.get(h, { snapshot }), this.#cert.get(h, { snapshot })]);
    if (hdr === undefined || cert === undefined) throw corrupt(`hdr/${h}`, 'the tip has no header or certificate');
    return record(height, hdr, cert, h);
  }

  async *#stateEntries(snapshot?: ReturnType<Db['snapshot']>): AsyncGenerator<readonly [string, Uint8Array]> {
    const it = this.#state.iterator(snapshot === undefined ? {} : { snapshot });
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) return;
        for (const [key, value] of entries) yield [key, plain(value)];
      }
    } finally {
      await it.close();
    }
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

// -- encodings --------------------------------------------------------------------------------------------

function putNodes(batch: ReturnType<Db['batch']>, nodes: readonly NodeWrite[], smt: Sub): void {
  for (const { key, value } of nodes) {
    if (value === null) batch.del(key, { sublevel: smt });
    else batch.put(key, value, { sublevel: smt });
  }
}

function heightKey(height: bigint): string {
  if (height < 0n || height > MAX_U64) throw new LoulanError('CODEC_RANGE', `height out of range: ${height}`, { details: { field: 'height' } });
  return height.toString(16).padStart(16, '0');
}

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

function readU64(bytes: Uint8Array, key: string): bigint {
  if (bytes.length !== 8) throw corrupt(key, 'expected a u64');
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

function txLocation(height: bigint, index: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, height);
  view.setUint32(8, index);
  return out;
}

function encodeList(items: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(16 + items.reduce((n, item) => n + 4 + item.length, 0)).u32(items.length, 'count');
  for (const item of items) w.varBytes(item, 0xffff_ffff, 'event');
  return w.finish();
}

function decodeList(bytes: Uint8Array): Uint8Array[] {
  const r = new Reader(bytes);
  const count = r.u32('count');
  if (count > r.remaining / 4) throw new LoulanError('CODEC_LENGTH', `${count} events cannot fit in ${r.remaining} bytes`, { details: { field: 'count' } });
  const items: Uint8Array[] = [];
  for (let i = 0; i < count; i++) items.push(r.varBytes(r.remaining, 'event'));
  r.finish();
  return items;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function record(height: bigint, hdr: Uint8Array, cert: Uint8Array, h: string): BlockRecord {
  if (hdr.length < HASH_BYTES) throw corrupt(`hdr/${h}`, 'a header record starts with the 32-byte block hash');
  return {
    height,
    hash: plain(hdr.subarray(0, HASH_BYTES)),
    header: plain(hdr.subarray(HASH_BYTES)),
    cert: decodeStored(() => decodeCertificate(cert), `cert/${h}`),
  };
}

/**
 * A copy as a plain Uint8Array. LevelDB hands back Buffers (whose `slice` shares memory and which
 * compare unequal to Uint8Arrays in deep-equality checks); callers get plain, unshared arrays.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function decodeStored<T>(decode: () => T, key: string): T {
  try {
    return decode();
  } catch (cause) {
    throw corrupt(key, 'a stored value does not decode', cause);
  }
}

function checkHash(hash: Uint8Array, field: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES) {
    throw rejected('hash', `${field}: a hash is ${HASH_BYTES} bytes`, { field, actual: hash?.length });
  }
}

function checkStateKey(key: string): void {
  if (typeof key !== 'string' || !key.isWellFormed() || utf8.encode(key).length > MAX_STATE_KEY_BYTES) {
    throw rejected('state-key', `state keys are well-formed strings of at most ${MAX_STATE_KEY_BYTES} UTF-8 bytes`, {
      key: typeof key === 'string' ? key.slice(0, 64) : typeof key,
    });
  }
}

function rejected(reason: string, message: string, details: Record<string, unknown>): LoulanError {
  return new LoulanError('STORE_COMMIT_INVALID', message, { details: { reason, ...details } });
}

function corrupt(key: string, message: string, cause?: unknown): LoulanError {
  return new LoulanError('STORE_CORRUPT', `block store value ${key}: ${message}`, { details: { key }, ...(cause === undefined ? {} : { cause }) });
}
