/**
 * Contract state: string keys to byte values, held entirely in memory, plus its root.
 *
 * Everything a block does goes through a `StateOverlay` over the committed `State`: reads fall through,
 * writes are buffered, and nothing touches the committed map until the block commits. Validating a
 * proposal therefore never disturbs the state, a rejected proposal is simply dropped, and the commit
 * is `state.apply(change)` with the change computed (and its root checked) during validation.
 *
 * ROOT: the root of the state tree (core-chain/smt), a compressed sparse Merkle tree over
 * keyHash = SHA-256(UTF-8 key) with leaves SHA-256(0x00 ‖ keyHash ‖ SHA-256(value)). Anyone holding a
 * certified header can check one key's value, or its absence, with `State.prove(key)` and
 * `verifySparseProof`. A block costs O(changed paths): `preview` hashes each internal node on the union
 * of the changed paths once and shares the rest of the tree, `apply` swaps the root in. The map keeps
 * the values (the tree holds only their hashes); the block store persists the tree's nodes beside the
 * entries so a restart does not rebuild it (`BlockStore.openState`).
 */
import { hash as nodeHash } from 'node:crypto';
import { LoulanError } from '../errors.ts';
import type { SparseProof } from '../smt/proof.ts';
import { SparseMerkleTree, type TreeChange, type TreeUpdate } from '../smt/tree.ts';

/**
 * Bounds a contract cannot exceed; checked where contracts write (contracts.ts). Keys carry ids: the
 * longest today is `xmsg/inbox/<source: 253>/<messageId: 128>` (393 characters).
 */
export const MAX_KEY_LENGTH = 512;
export const MAX_VALUE_BYTES = 64 * 1024;

/** Read access to a state or an overlay. */
export interface StateReader {
  get(key: string): Uint8Array | undefined;
}

/** What a block changes, in first-write order (deterministic for a given block). */
export interface StateDiff {
  readonly puts: readonly (readonly [key: string, value: Uint8Array])[];
  readonly deletes: readonly string[];
}

/**
 * A computed but not yet applied transition of one `State`: the diff, the root after it, and the
 * tree update to install. Valid only for the state (and version of it) it was computed against.
 */
export class StateChange implements StateDiff {
  readonly puts: readonly (readonly [string, Uint8Array])[];
  readonly deletes: readonly string[];
  readonly root: Uint8Array;
  readonly #base: State;
  readonly #version: number;
  readonly #update: TreeUpdate;

  /** @internal built by `State.preview` */
  constructor(base: State, version: number, diff: StateDiff, update: TreeUpdate) {
    this.#base = base;
    this.#version = version;
    this.puts = diff.puts;
    this.deletes = diff.deletes;
    this.#update = update;
    this.root = update.root;
  }

  /** @internal */
  updateFor(state: State, version: number): TreeUpdate {
    if (state !== this.#base || version !== this.#version) {
      throw new LoulanError('INTERNAL', 'state change was computed against another state or version', {
        details: { expectedVersion: this.#version, actualVersion: version },
      });
    }
    return this.#update;
  }
}

/** The committed state. */
export class State implements StateReader {
  #map: Map<string, Uint8Array>;
  #tree: SparseMerkleTree;
  #version = 0;

  constructor() {
    this.#map = new Map();
    this.#tree = new SparseMerkleTree();
  }

  static #of(map: Map<string, Uint8Array>, tree: SparseMerkleTree): State {
    const state = new State();
    state.#map = map;
    state.#tree = tree;
    return state;
  }

  /**
   * A state holding `entries`, its root recomputed from scratch: how a snapshot received from a peer
   * is checked against a certified header's state root. A key listed twice keeps its last value (the
   * root then describes what was kept, so a doctored snapshot still fails the root check).
   */
  static fromEntries(entries: Iterable<readonly [string, Uint8Array]>): State {
    const map = new Map<string, Uint8Array>();
    for (const [key, value] of entries) {
      checkEntry(key, value);
      map.set(key, value.slice());
    }
    const leaves: [string, string][] = [];
    for (const [key, value] of map) leaves.push([keyDigest(key), valueDigest(value)]);
    return State.#of(map, SparseMerkleTree.fromLeaves(leaves));
  }

  /**
   * A state from parts the block store has already checked: `entries` (taken over, not copied) and the
   * tree loaded from its persisted nodes and authenticated against a certified root. Only the entry
   * count is compared here; re-hashing every entry is what loading the tree saves.
   */
  static fromStore(entries: Map<string, Uint8Array>, tree: SparseMerkleTree): State {
    if (entries.size !== tree.size) {
      throw new LoulanError('STORE_CORRUPT', `the stored state holds ${entries.size} entries, its tree ${tree.size} leaves`, {
        details: { key: 'state', entries: entries.size, leaves: tree.size },
      });
    }
    return State.#of(entries, tree);
  }

  get(key: string): Uint8Array | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Incremented by every `apply`; a `StateChange` is tied to the version it was computed on. */
  get version(): number {
    return this.#version;
  }

  root(): Uint8Array {
    return this.#tree.root();
  }

  /**
   * The state tree, for the block store (it persists the nodes each commit changed). Treat as
   * read-only: only `apply` moves it.
   */
  get tree(): SparseMerkleTree {
    return this.#tree;
  }

  /**
   * Proof of `key`'s current value, or of its absence, against `root()`.
   *
   * @example
   * const proof = state.prove('asset/balance/alice');
   * verifySparseProof(state.root(), hashStateKey('asset/balance/alice'), hashStateValue(state.get('asset/balance/alice')!), proof);
   */
  prove(key: string): SparseProof {
    return this.#tree.prove(keyDigest(key));
  }

  /**
   * Every entry sorted by key (UTF-16 code unit order), for snapshots: two replicas with equal roots
   * produce identical lists. O(n log n); not for hot paths.
   */
  entries(): [string, Uint8Array][] {
    const keys = [...this.#map.keys()].sort();
    return keys.map((key) => [key, this.#map.get(key) as Uint8Array]);
  }

  /**
   * A page of the entries under `prefix`: at most `limit` of those whose key starts with `prefix` and
   * sorts after `after` ('' for the first page), in key order (UTF-16 code units, as `entries`), and
   * whether more follow. One pass over every key, keeping only the page's smallest `limit`:
   * O(n + m·limit) worst case for m keys under the prefix, typically O(n); for RPC paging, not hot paths.
   */
  list(prefix: string, after: string, limit: number): { entries: [string, Uint8Array][]; more: boolean } {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new LoulanError('INTERNAL', 'a state page holds at least one entry', { details: { limit } });
    const page: string[] = [];
    let more = false;
    for (const key of this.#map.keys()) {
      if (!key.startsWith(prefix) || key <= after) continue;
      if (page.length === limit) {
        more = true;
        if (key >= (page[limit - 1] as string)) continue;
        page.pop();
      }
      let lo = 0;
      let hi = page.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((page[mid] as string) < key) lo = mid + 1;
        else hi = mid;
      }
      page.splice(lo, 0, key);
    }
    return { entries: page.map((key) => [key, this.#map.get(key) as Uint8Array]), more };
  }

  /** The root and diff this state would have after the overlay's writes, without applying them. */
  preview(overlay: StateOverlay): StateChange {
    if (overlay.parent !== this) throw new LoulanError('INTERNAL', 'overlay is not over this state');
    const puts: [string, Uint8Array][] = [];
    const deletes: string[] = [];
    const changes: TreeChange[] = [];
    for (const [key, value] of overlay.writes()) {
      if (value === null) {
        if (!this.#map.has(key)) continue;
        deletes.push(key);
        changes.push([keyDigest(key), null]);
      } else {
        puts.push([key, value]);
        changes.push([keyDigest(key), valueDigest(value)]);
      }
    }
    return new StateChange(this, this.#version, { puts, deletes }, this.#tree.preview(changes));
  }

  /** Installs a change computed by `preview` on this very state and version. */
  apply(change: StateChange): void {
    const update = change.updateFor(this, this.#version);
    this.#tree.apply(update);
    for (const [key, value] of change.puts) this.#map.set(key, value);
    for (const key of change.deletes) this.#map.delete(key);
    this.#version++;
  }
}

/**
 * Buffered writes over a parent (the committed state, or another overlay). A per-block overlay sits on
 * the state; a per-transaction overlay sits on the block's and is merged into it when the transaction
 * succeeds or cleared when it fails.
 */
export class StateOverlay implements StateReader {
  readonly parent: StateReader;
  // null marks a delete; a Map keeps first-write order, which is the diff order.
  readonly #writes = new Map<string, Uint8Array | null>();

  constructor(parent: StateReader) {
    this.parent = parent;
  }

  get(key: string): Uint8Array | undefined {
    const value = this.#writes.get(key);
    if (value === undefined) return this.parent.get(key);
    return value === null ? undefined : value;
  }

  /** Stores `value` as given (callers hand over ownership; contracts write fresh arrays). */
  put(key: string, value: Uint8Array): void {
    this.#writes.set(key, value);
  }

  delete(key: string): void {
    this.#writes.set(key, null);
  }

  /** Number of buffered writes. */
  get size(): number {
    return this.#writes.size;
  }

  /** Buffered writes in first-write order; null is a delete. */
  writes(): IterableIterator<[string, Uint8Array | null]> {
    return this.#writes.entries();
  }

  /** Puts and effective deletes relative to the parent, in first-write order. */
  diff(): StateDiff {
    const puts: [string, Uint8Array][] = [];
    const deletes: string[] = [];
    for (const [key, value] of this.#writes) {
      if (value !== null) puts.push([key, value]);
      else if (this.parent.get(key) !== undefined) deletes.push(key);
    }
    return { puts, deletes };
  }

  /** Moves every buffered write into `target` (normally this overlay's parent) and clears this one. */
  mergeInto(target: StateOverlay): void {
    for (const [key, value] of this.#writes) {
      if (value === null) target.delete(key);
      else target.put(key, value);
    }
    this.#writes.clear();
  }

  /** Drops every buffered write. */
  clear(): void {
    this.#writes.clear();
  }
}

export function checkEntry(key: string, value: Uint8Array): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || !key.isWellFormed()) {
    throw new LoulanError('CONTRACT_STATE_LIMIT', `state key must be 1..${MAX_KEY_LENGTH} characters of well-formed text`, {
      details: { field: 'key', length: typeof key === 'string' ? key.length : undefined },
    });
  }
  if (!(value instanceof Uint8Array) || value.length > MAX_VALUE_BYTES) {
    throw new LoulanError('CONTRACT_STATE_LIMIT', `state value must be at most ${MAX_VALUE_BYTES} bytes`, {
      details: { field: 'value', key, length: value instanceof Uint8Array ? value.length : undefined },
    });
  }
}

// keyHash and valueHash (smt/proof.ts) as the tree's 32-character latin1 digests, straight from
// node:crypto: no Buffer is allocated per hash (a string input is hashed as UTF-8).
function keyDigest(key: string): string {
  return nodeHash('sha256', key, 'binary');
}

function valueDigest(value: Uint8Array): string {
  return nodeHash('sha256', value, 'binary');
}
