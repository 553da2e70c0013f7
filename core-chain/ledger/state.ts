/**
 * Contract state: string keys to byte values, held entirely in memory, plus its root.
 *
 * Everything a block does goes through a `StateOverlay` over the committed `State`: reads fall through,
 * writes are buffered, and nothing touches the committed map until the block commits. Validating a
 * proposal therefore never disturbs the state, a rejected proposal is simply dropped, and the commit
 * is `state.apply(change)` with the change computed (and its root checked) during validation.
 *
 * ROOT: PLACEHOLDER, NOT A PROOF-CAPABLE COMMITMENT. The root is an incremental multiset hash
 * (AdHash): the sum modulo 2^256 of SHA-256(u32 len(key) ‖ key ‖ value) over all entries, finished as
 *
 *   stateRoot = SHA-256("LOULAN/STATE/V0" ‖ sum (32 bytes, big-endian) ‖ entry count (u64))
 *
 * It costs O(changes) per block (subtract each old entry's hash, add the new one), does not depend on
 * insertion order, and lets honest replicas and snapshot loaders check that they hold the same state.
 * It is NOT a commitment anyone can prove a key against (there are no paths), and a 256-bit additive
 * hash is not collision-resistant against an adversary who chooses many entries (Wagner's generalized
 * birthday attack). It will be replaced by a sparse Merkle tree behind the same two calls
 * (`State.root()` and `State.preview()`); nothing else in the ledger knows how the root is made.
 */
import { hash as cryptoHash } from 'node:crypto';
import { sha256 } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';

export const STATE_ROOT_DOMAIN = 'LOULAN/STATE/V0';
/** Bounds a contract cannot exceed; checked where contracts write (contracts.ts). */
export const MAX_KEY_LENGTH = 256;
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
 * accumulator to install. Valid only for the state (and version of it) it was computed against.
 */
export class StateChange implements StateDiff {
  readonly puts: readonly (readonly [string, Uint8Array])[];
  readonly deletes: readonly string[];
  readonly root: Uint8Array;
  readonly #base: State;
  readonly #version: number;
  readonly #acc: Accumulator;

  /** @internal built by `State.preview` */
  constructor(base: State, version: number, diff: StateDiff, acc: Accumulator) {
    this.#base = base;
    this.#version = version;
    this.puts = diff.puts;
    this.deletes = diff.deletes;
    this.#acc = acc;
    this.root = acc.root();
  }

  /** @internal */
  accumulatorFor(state: State, version: number): Accumulator {
    if (state !== this.#base || version !== this.#version) {
      throw new LoulanError('INTERNAL', 'state change was computed against another state or version', {
        details: { expectedVersion: this.#version, actualVersion: version },
      });
    }
    return this.#acc;
  }
}

/** The committed state. */
export class State implements StateReader {
  readonly #map: Map<string, Uint8Array>;
  #acc: Accumulator;
  #version = 0;

  constructor() {
    this.#map = new Map();
    this.#acc = new Accumulator();
  }

  /**
   * A state holding `entries`, its root recomputed from scratch: how a snapshot received from a peer
   * is checked against a certified header's state root. A key listed twice keeps its last value (the
   * root then describes what was kept, so a doctored snapshot still fails the root check).
   */
  static fromEntries(entries: Iterable<readonly [string, Uint8Array]>): State {
    const state = new State();
    for (const [key, value] of entries) {
      checkEntry(key, value);
      const old = state.#map.get(key);
      if (old !== undefined) state.#acc.remove(key, old);
      state.#map.set(key, value.slice());
      state.#acc.add(key, value);
    }
    return state;
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
    return this.#acc.root();
  }

  /**
   * Every entry sorted by key (UTF-16 code unit order), for snapshots: two replicas with equal roots
   * produce identical lists. O(n log n); not for hot paths.
   */
  entries(): [string, Uint8Array][] {
    const keys = [...this.#map.keys()].sort();
    return keys.map((key) => [key, this.#map.get(key) as Uint8Array]);
  }

  /** The root and diff this state would have after the overlay's writes, without applying them. */
  preview(overlay: StateOverlay): StateChange {
    if (overlay.parent !== this) throw new LoulanError('INTERNAL', 'overlay is not over this state');
    const acc = this.#acc.clone();
    const puts: [string, Uint8Array][] = [];
    const deletes: string[] = [];
    for (const [key, value] of overlay.writes()) {
      const old = this.#map.get(key);
      if (old !== undefined) acc.remove(key, old);
      if (value === null) {
        if (old !== undefined) deletes.push(key);
      } else {
        acc.add(key, value);
        puts.push([key, value]);
      }
    }
    return new StateChange(this, this.#version, { puts, deletes }, acc);
  }

  /** Installs a change computed by `preview` on this very state and version. */
  apply(change: StateChange): void {
    const acc = change.accumulatorFor(this, this.#version);
    for (const [key, value] of change.puts) this.#map.set(key, value);
    for (const key of change.deletes) this.#map.delete(key);
    this.#acc = acc.clone();
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

// -- the placeholder accumulator --------------------------------------------------------------------

const ROOT_TAG = new TextEncoder().encode(STATE_ROOT_DOMAIN);
const utf8 = new TextEncoder();
// Entry hashing is synchronous: one growing scratch buffer serves every entry.
let scratch = new Uint8Array(4 + 3 * MAX_KEY_LENGTH + 1024);
let scratchView = new DataView(scratch.buffer);

/** SHA-256(u32 len(keyUtf8) ‖ keyUtf8 ‖ value), as a Buffer view (read immediately). */
function entryHash(key: string, value: Uint8Array): Uint8Array {
  const need = 4 + 3 * key.length + value.length;
  if (need > scratch.length) {
    scratch = new Uint8Array(Math.max(need, scratch.length * 2));
    scratchView = new DataView(scratch.buffer);
  }
  const { written } = utf8.encodeInto(key, scratch.subarray(4));
  scratchView.setUint32(0, written);
  scratch.set(value, 4 + written);
  return cryptoHash('sha256', scratch.subarray(0, 4 + written + value.length), 'buffer');
}

/** A 256-bit sum modulo 2^256 (eight u32 limbs, most significant first) and an entry count. */
class Accumulator {
  readonly limbs: Uint32Array;
  count: bigint;

  constructor(limbs = new Uint32Array(8), count = 0n) {
    this.limbs = limbs;
    this.count = count;
  }

  clone(): Accumulator {
    return new Accumulator(this.limbs.slice(), this.count);
  }

  add(key: string, value: Uint8Array): void {
    const h = entryHash(key, value);
    const l = this.limbs;
    let carry = 0;
    for (let i = 7; i >= 0; i--) {
      const sum = (l[i] as number) + readU32(h, 4 * i) + carry;
      l[i] = sum >>> 0;
      carry = sum > 0xffff_ffff ? 1 : 0;
    }
    this.count++;
  }

  remove(key: string, value: Uint8Array): void {
    const h = entryHash(key, value);
    const l = this.limbs;
    let borrow = 0;
    for (let i = 7; i >= 0; i--) {
      let diff = (l[i] as number) - readU32(h, 4 * i) - borrow;
      borrow = diff < 0 ? 1 : 0;
      if (diff < 0) diff += 0x1_0000_0000;
      l[i] = diff;
    }
    this.count--;
  }

  root(): Uint8Array {
    const input = new Uint8Array(ROOT_TAG.length + 32 + 8);
    const view = new DataView(input.buffer);
    input.set(ROOT_TAG, 0);
    for (let i = 0; i < 8; i++) view.setUint32(ROOT_TAG.length + 4 * i, this.limbs[i] as number);
    view.setBigUint64(ROOT_TAG.length + 32, this.count);
    return sha256(input);
  }
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] as number) << 24) | ((bytes[offset + 1] as number) << 16) | ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number)) >>>
    0
  );
}
