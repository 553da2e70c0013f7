/**
 * The state tree: a compressed sparse Merkle tree over keyHash (rules in proof.ts), held in memory
 * as immutable nodes and persisted node by node.
 *
 * Nodes are never mutated. A batch (`preview`) rebuilds only the union of the changed paths and
 * shares every other subtree with the current version, so the new root is known before anything is
 * installed, a rejected block costs nothing to drop, and `apply` is a pointer swap. Each internal
 * node on those paths is hashed once per batch (changes are sorted by keyHash and split bit by bit),
 * through one preallocated 65-byte input buffer and node:crypto's one-shot hash.
 *
 * Storage keys are node POSITIONS, not node hashes: depth as three hex digits ‖ the path's first
 * `depth` bits as hex (ceil(depth/8) bytes, unused low bits zero). A position holds whatever node
 * sits there in the latest version, so a batch writes exactly the positions whose node changed and
 * deletes the positions that emptied; nothing is reference-counted or garbage-collected, as it would
 * be with hash-keyed nodes. The price is that old versions are not kept, which is fine: proofs are
 * served against the latest committed state. The stored value is the node's hash preimage
 * (0x00 ‖ keyHash ‖ valueHash, or 0x01 ‖ left ‖ right), so loading re-authenticates every node from
 * the root down with one hash each, and a tampered store fails with STORE_CORRUPT.
 *
 * Which node writes reach the disk is the block store's business: it calls `takeWrites()` when it
 * builds a block's batch, which diffs the version it last persisted against the current one. Both are
 * still in memory (immutable), so the diff costs O(changed nodes) and several applied batches
 * collapse into one set of writes.
 */
import { hash as nodeHash } from 'node:crypto';
import { LoulanError } from '../errors.ts';
import { HASH_BYTES, LEAF_PREFIX, MAX_DEPTH, NODE_PREFIX, isZero, pathBit, type SparseProof } from './proof.ts';

/** One storage operation: put the encoded node at `key`, or delete `key` (value null). */
export interface NodeWrite {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/**
 * keyHash → new valueHash, or null to delete. A hash is 32 bytes, or the same 32 bytes as a latin1
 * string (what `hash('sha256', data, 'latin1')` returns: the ledger's fast path).
 */
export type TreeChange = readonly [keyHash: Uint8Array | string, valueHash: Uint8Array | string | null];

// Hashes live in memory as 32-character latin1 strings ("binary strings"): node:crypto returns them
// without allocating a Buffer per hash (several times faster and lighter than 32-byte Buffers), they
// compare with === and sort with <, and they are written into the hash input with one native call.
type Digest = string;
const ZERO_DIGEST: Digest = '\0'.repeat(HASH_BYTES);

class Leaf {
  readonly keyHash: Digest;
  readonly valueHash: Digest;
  readonly hash: Digest;

  constructor(keyHash: Digest, valueHash: Digest, hash: Digest) {
    this.keyHash = keyHash;
    this.valueHash = valueHash;
    this.hash = hash;
  }
}

class Branch {
  readonly left: Node | null;
  readonly right: Node | null;
  readonly hash: Digest;

  constructor(left: Node | null, right: Node | null, hash: Digest) {
    this.left = left;
    this.right = right;
    this.hash = hash;
  }
}

type Node = Leaf | Branch;

interface Change {
  readonly keyHash: Digest;
  readonly valueHash: Digest | null;
}

/** Per-batch counters threaded through the recursion (no closures, no globals). */
interface Batch {
  readonly changes: readonly Change[];
  hashes: number;
  size: number;
}

/**
 * A computed, not yet installed batch: the root after it, and what it changed. Valid only on the
 * tree and version it was computed from.
 */
export class TreeUpdate {
  readonly root: Uint8Array;
  /** Leaves in the tree after the batch. */
  readonly size: number;
  /** Node hashes computed for this batch (leaves and internal nodes). */
  readonly hashes: number;
  readonly #tree: SparseMerkleTree;
  readonly #version: number;
  readonly #base: Node | null;
  readonly #next: Node | null;

  /** @internal built by `SparseMerkleTree.preview` */
  constructor(tree: SparseMerkleTree, version: number, base: Node | null, next: Node | null, size: number, hashes: number) {
    this.#tree = tree;
    this.#version = version;
    this.#base = base;
    this.#next = next;
    this.size = size;
    this.hashes = hashes;
    this.root = bytesOf(next === null ? ZERO_DIGEST : next.hash);
  }

  /** The storage writes that turn the base version's nodes into this one's. */
  writes(): NodeWrite[] {
    return diffWrites(this.#base, this.#next);
  }

  /** @internal */
  nodeFor(tree: SparseMerkleTree, version: number): Node | null {
    if (tree !== this.#tree || version !== this.#version) {
      throw new LoulanError('INTERNAL', 'tree update was computed against another tree or version', {
        details: { expectedVersion: this.#version, actualVersion: version },
      });
    }
    return this.#next;
  }
}

export class SparseMerkleTree {
  #root: Node | null = null;
  #size = 0;
  #version = 0;
  // The version whose nodes the store holds (null: none, an empty store).
  #persisted: Node | null = null;

  /**
   * A tree holding `leaves` (keyHash, valueHash), built bottom-up in one pass; a keyHash listed twice
   * keeps its last valueHash. Nothing of it is persisted yet: the first `takeWrites()` writes it all.
   */
  static fromLeaves(leaves: Iterable<readonly [keyHash: Uint8Array | string, valueHash: Uint8Array | string]>): SparseMerkleTree {
    const changes = sortChanges(leaves);
    const batch: Batch = { changes, hashes: 0, size: 0 };
    const items: Leaf[] = changes.map((c) => newLeaf(c.keyHash, c.valueHash as Digest, batch));
    const tree = new SparseMerkleTree();
    tree.#root = build(items, 0, items.length, 0, batch);
    tree.#size = items.length;
    return tree;
  }

  /**
   * The tree persisted as `nodes` (storage key → encoded node), authenticated from the root down:
   * every node must hash to what its parent (or `expectedRoot`) says, sit on its own key's path, be
   * canonical, and be reachable. Throws STORE_CORRUPT (`details.key`) otherwise.
   */
  static fromNodes(nodes: ReadonlyMap<string, Uint8Array>, expectedRoot: Uint8Array): SparseMerkleTree {
    const tree = new SparseMerkleTree();
    if (isZero(expectedRoot)) {
      if (nodes.size !== 0) throw corrupt(nodes.keys().next().value as string, 'nodes stored for an empty tree');
      return tree;
    }
    const loader = { nodes, path: new Uint8Array(HASH_BYTES), used: 0, leaves: 0 };
    tree.#root = load(loader, 0, digestOf(expectedRoot, 'expectedRoot'));
    if (loader.used !== nodes.size) {
      const reachable = new Set<string>();
      collectKeys(tree.#root, 0, new Uint8Array(HASH_BYTES), reachable);
      const stray = [...nodes.keys()].find((key) => !reachable.has(key)) as string;
      throw corrupt(stray, 'a stored node is not reachable from the root');
    }
    tree.#size = loader.leaves;
    tree.#persisted = tree.#root;
    return tree;
  }

  /** The root hash (ZERO for the empty tree). */
  root(): Uint8Array {
    return bytesOf(this.#root === null ? ZERO_DIGEST : this.#root.hash);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** Incremented by every `apply`. */
  get version(): number {
    return this.#version;
  }

  /** The valueHash stored under keyHash, if any. */
  get(keyHash: Uint8Array): Uint8Array | undefined {
    const k = digestOf(keyHash, 'keyHash');
    let node = this.#root;
    for (let depth = 0; node instanceof Branch; depth++) node = bitOf(k, depth) === 0 ? node.left : node.right;
    return node !== null && node.keyHash === k ? bytesOf(node.valueHash) : undefined;
  }

  /**
   * The inclusion proof of keyHash if present, else its non-inclusion proof (ending in an empty
   * subtree or in the one other leaf on its path).
   */
  prove(keyHash: Uint8Array | string): SparseProof {
    const k = digestOf(keyHash, 'keyHash');
    const siblings: Uint8Array[] = [];
    let node = this.#root;
    for (let depth = 0; node instanceof Branch; depth++) {
      const right = bitOf(k, depth) === 1;
      const sibling = right ? node.left : node.right;
      siblings.push(sibling === null ? new Uint8Array(HASH_BYTES) : bytesOf(sibling.hash));
      node = right ? node.right : node.left;
    }
    return { leaf: node === null ? null : { keyHash: bytesOf(node.keyHash), valueHash: bytesOf(node.valueHash) }, siblings };
  }

  /**
   * The root after `changes` (keyHash → valueHash, or null to delete; the last change of a keyHash
   * wins; deleting an absent key does nothing), without touching this tree. Install it with `apply`.
   */
  preview(changes: Iterable<TreeChange>): TreeUpdate {
    const sorted = sortChanges(changes);
    const batch: Batch = { changes: sorted, hashes: 0, size: this.#size };
    const next = sorted.length === 0 ? this.#root : update(this.#root, 0, 0, sorted.length, batch);
    return new TreeUpdate(this, this.#version, this.#root, next, batch.size, batch.hashes);
  }

  /** Installs an update computed by `preview` on this very tree and version. */
  apply(update: TreeUpdate): void {
    this.#root = update.nodeFor(this, this.#version);
    this.#size = update.size;
    this.#version++;
  }

  /**
   * The storage writes that bring the persisted copy up to this version, and marks this version
   * persisted. Call it when the batch carrying them is built (the block store does, per commit).
   */
  takeWrites(): NodeWrite[] {
    const out = diffWrites(this.#persisted, this.#root);
    this.#persisted = this.#root;
    return out;
  }

  /** Every node of this version as storage puts (a snapshot install writes them all). */
  allNodes(): NodeWrite[] {
    return diffWrites(null, this.#root);
  }
}

// -- hashing ------------------------------------------------------------------------------------------

const input = Buffer.alloc(1 + 2 * HASH_BYTES);

function newLeaf(keyHash: Digest, valueHash: Digest, batch: Batch): Leaf {
  input[0] = LEAF_PREFIX;
  input.write(keyHash, 1, HASH_BYTES, 'latin1');
  input.write(valueHash, 1 + HASH_BYTES, HASH_BYTES, 'latin1');
  batch.hashes++;
  return new Leaf(keyHash, valueHash, nodeHash('sha256', input, 'binary'));
}

/** The node for a subtree with children `left` and `right`, compressed: a lone leaf moves up. */
function join(left: Node | null, right: Node | null, batch: Batch): Node | null {
  if (left === null && (right === null || right instanceof Leaf)) return right;
  if (right === null && left instanceof Leaf) return left;
  input[0] = NODE_PREFIX;
  input.write(left === null ? ZERO_DIGEST : left.hash, 1, HASH_BYTES, 'latin1');
  input.write(right === null ? ZERO_DIGEST : right.hash, 1 + HASH_BYTES, HASH_BYTES, 'latin1');
  batch.hashes++;
  return new Branch(left, right, nodeHash('sha256', input, 'binary'));
}

// -- batch update -------------------------------------------------------------------------------------

/** The subtree at `depth` after changes[lo, hi) (all on this subtree's path, sorted). */
function update(node: Node | null, depth: number, lo: number, hi: number, batch: Batch): Node | null {
  if (node instanceof Branch) {
    const mid = splitChanges(batch.changes, lo, hi, depth);
    const left = lo < mid ? update(node.left, depth + 1, lo, mid, batch) : node.left;
    const right = mid < hi ? update(node.right, depth + 1, mid, hi, batch) : node.right;
    if (left === node.left && right === node.right) return node;
    return join(left, right, batch);
  }
  const changes = batch.changes;
  if (hi - lo === 1) {
    // The common case: one change meets an empty subtree or one leaf.
    const c = changes[lo] as Change;
    if (node === null) {
      if (c.valueHash === null) return null;
      batch.size++;
      return newLeaf(c.keyHash, c.valueHash, batch);
    }
    if (node.keyHash === c.keyHash) {
      if (c.valueHash === null) {
        batch.size--;
        return null;
      }
      return node.valueHash === c.valueHash ? node : newLeaf(c.keyHash, c.valueHash, batch);
    }
    if (c.valueHash === null) return node;
    batch.size++;
    const leaf = newLeaf(c.keyHash, c.valueHash, batch);
    return node.keyHash < leaf.keyHash ? build([node, leaf], 0, 2, depth, batch) : build([leaf, node], 0, 2, depth, batch);
  }
  // Several changes meet an empty subtree or one leaf: merge them into a sorted list of leaves.
  const items: Leaf[] = [];
  let existing: Leaf | null = node;
  for (let i = lo; i < hi; i++) {
    const c = changes[i] as Change;
    if (existing !== null) {
      if (existing.keyHash < c.keyHash) {
        items.push(existing);
        existing = null;
      } else if (existing.keyHash === c.keyHash) {
        if (c.valueHash !== null) items.push(existing.valueHash === c.valueHash ? existing : newLeaf(c.keyHash, c.valueHash, batch));
        existing = null;
        continue;
      }
    }
    if (c.valueHash !== null) items.push(newLeaf(c.keyHash, c.valueHash, batch));
  }
  if (existing !== null) items.push(existing);
  batch.size += items.length - (node === null ? 0 : 1);
  if (items.length === 1 && items[0] === node) return node;
  return build(items, 0, items.length, depth, batch);
}

/** The subtree at `depth` holding exactly items[lo, hi) (sorted, all on this subtree's path). */
function build(items: readonly Leaf[], lo: number, hi: number, depth: number, batch: Batch): Node | null {
  if (hi - lo <= 1) return hi === lo ? null : (items[lo] as Leaf);
  let mid = lo;
  while (mid < hi && bitOf((items[mid] as Leaf).keyHash, depth) === 0) mid++;
  return join(build(items, lo, mid, depth + 1, batch), build(items, mid, hi, depth + 1, batch), batch);
}

/** First index in [lo, hi) whose keyHash has bit `depth` set (they share the bits above, sorted). */
function splitChanges(changes: readonly Change[], lo: number, hi: number, depth: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bitOf((changes[mid] as Change).keyHash, depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortChanges(changes: Iterable<readonly [Uint8Array | string, Uint8Array | string | null]>): Change[] {
  const list: Change[] = [];
  for (const [keyHash, valueHash] of changes) {
    list.push({ keyHash: digestOf(keyHash, 'keyHash'), valueHash: valueHash === null ? null : digestOf(valueHash, 'valueHash') });
  }
  // Stable, so the last of equal keyHashes stays last; keep only it.
  list.sort(byKeyHash);
  let out = 0;
  for (let i = 0; i < list.length; i++) {
    const next = list[i + 1];
    if (next !== undefined && next.keyHash === (list[i] as Change).keyHash) continue;
    list[out++] = list[i] as Change;
  }
  list.length = out;
  return list;
}

// -- persistence --------------------------------------------------------------------------------------

const DEPTH_KEY = Array.from({ length: MAX_DEPTH + 1 }, (_, d) => d.toString(16).padStart(3, '0'));
const BYTE_HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Storage key of the position at `depth` whose path is the first `depth` bits of `path`. */
export function nodeKey(path: Uint8Array, depth: number): string {
  const full = depth >> 3;
  let key = DEPTH_KEY[depth] as string;
  for (let i = 0; i < full; i++) key += BYTE_HEX[path[i] as number];
  const rest = depth & 7;
  if (rest !== 0) key += BYTE_HEX[(path[full] as number) & ((0xff << (8 - rest)) & 0xff)];
  return key;
}

function setBit(path: Uint8Array, depth: number, bit: number): void {
  const mask = 0x80 >> (depth & 7);
  const i = depth >> 3;
  path[i] = bit === 0 ? (path[i] as number) & ~mask : (path[i] as number) | mask;
}

/** Encodes every changed position into one shared slab (one allocation per batch, not per node). */
function diffWrites(before: Node | null, after: Node | null): NodeWrite[] {
  const keys: string[] = [];
  const nodes: (Node | null)[] = [];
  diff(before, after, 0, new Uint8Array(HASH_BYTES), keys, nodes);
  const slab = Buffer.alloc(nodes.reduce((n, node) => (node === null ? n : n + 1 + 2 * HASH_BYTES), 0));
  const out: NodeWrite[] = new Array(keys.length);
  let pos = 0;
  for (let i = 0; i < keys.length; i++) {
    const node = nodes[i] as Node | null;
    if (node === null) {
      out[i] = { key: keys[i] as string, value: null };
      continue;
    }
    if (node instanceof Leaf) {
      slab[pos] = LEAF_PREFIX;
      slab.write(node.keyHash, pos + 1, HASH_BYTES, 'latin1');
      slab.write(node.valueHash, pos + 1 + HASH_BYTES, HASH_BYTES, 'latin1');
    } else {
      slab[pos] = NODE_PREFIX;
      slab.write(node.left === null ? ZERO_DIGEST : node.left.hash, pos + 1, HASH_BYTES, 'latin1');
      slab.write(node.right === null ? ZERO_DIGEST : node.right.hash, pos + 1 + HASH_BYTES, HASH_BYTES, 'latin1');
    }
    out[i] = { key: keys[i] as string, value: new Uint8Array(slab.buffer, slab.byteOffset + pos, 1 + 2 * HASH_BYTES) };
    pos += 1 + 2 * HASH_BYTES;
  }
  return out;
}

/**
 * Writes turning `before` into `after` at this position. Identical objects are identical subtrees
 * (nodes are immutable), so only changed positions are visited.
 */
function diff(before: Node | null, after: Node | null, depth: number, path: Uint8Array, keys: string[], nodes: (Node | null)[]): void {
  if (before === after) return;
  keys.push(nodeKey(path, depth));
  nodes.push(after);
  const b = before instanceof Branch ? before : null;
  const a = after instanceof Branch ? after : null;
  if (a === null && b === null) return;
  setBit(path, depth, 0);
  diff(b === null ? null : b.left, a === null ? null : a.left, depth + 1, path, keys, nodes);
  setBit(path, depth, 1);
  diff(b === null ? null : b.right, a === null ? null : a.right, depth + 1, path, keys, nodes);
}

interface Loader {
  readonly nodes: ReadonlyMap<string, Uint8Array>;
  readonly path: Uint8Array;
  used: number;
  leaves: number;
}

function load(loader: Loader, depth: number, expected: Digest): Node {
  const key = nodeKey(loader.path, depth);
  const value = loader.nodes.get(key);
  if (value === undefined) throw corrupt(key, 'a node its parent (or the root) commits to is missing');
  if (value.length !== 1 + 2 * HASH_BYTES || (value[0] !== LEAF_PREFIX && value[0] !== NODE_PREFIX)) throw corrupt(key, 'not an encoded node');
  loader.used++;
  const hash = nodeHash('sha256', value, 'binary');
  if (hash !== expected) throw corrupt(key, 'the node does not hash to what its parent (or the root) commits to');
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const left = bytes.toString('latin1', 1, 1 + HASH_BYTES);
  const right = bytes.toString('latin1', 1 + HASH_BYTES);
  if (value[0] === LEAF_PREFIX) {
    for (let i = 0; i < depth; i++) if (bitOf(left, i) !== pathBit(loader.path, i)) throw corrupt(key, 'a leaf stored off its key\'s path');
    loader.leaves++;
    return new Leaf(left, right, hash);
  }
  if (depth >= MAX_DEPTH) throw corrupt(key, 'an internal node below the deepest level');
  setBit(loader.path, depth, 0);
  const l = left === ZERO_DIGEST ? null : load(loader, depth + 1, left);
  setBit(loader.path, depth, 1);
  const r = right === ZERO_DIGEST ? null : load(loader, depth + 1, right);
  if ((l === null && (r === null || r instanceof Leaf)) || (r === null && l instanceof Leaf)) throw corrupt(key, 'a non-canonical node (a lone leaf or nothing below it)');
  return new Branch(l, r, hash);
}

function collectKeys(node: Node | null, depth: number, path: Uint8Array, out: Set<string>): void {
  if (node === null) return;
  out.add(nodeKey(path, depth));
  if (node instanceof Leaf) return;
  setBit(path, depth, 0);
  collectKeys(node.left, depth + 1, path, out);
  setBit(path, depth, 1);
  collectKeys(node.right, depth + 1, path, out);
}

// -- bytes --------------------------------------------------------------------------------------------

function byKeyHash(a: Change, b: Change): number {
  return a.keyHash < b.keyHash ? -1 : a.keyHash > b.keyHash ? 1 : 0;
}

/** Bit `i` of a digest string, most significant bit of byte 0 first. */
function bitOf(digest: Digest, i: number): number {
  return (digest.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1;
}

/** A hash as a digest string; a string must already be one (32 characters, each below 256). */
function digestOf(hash: Uint8Array | string, field: string): Digest {
  if (typeof hash === 'string') {
    if (hash.length === HASH_BYTES && !/[^\0-\xff]/.test(hash)) return hash;
  } else if (hash instanceof Uint8Array && hash.length === HASH_BYTES) {
    return Buffer.from(hash.buffer, hash.byteOffset, HASH_BYTES).toString('latin1');
  }
  throw new LoulanError('CODEC_LENGTH', `${field}: a hash is ${HASH_BYTES} bytes`, {
    details: { field, expected: HASH_BYTES, actual: hash?.length },
  });
}

/** A digest string as plain, unshared bytes. */
function bytesOf(digest: Digest): Uint8Array {
  const out = new Uint8Array(HASH_BYTES);
  for (let i = 0; i < HASH_BYTES; i++) out[i] = digest.charCodeAt(i);
  return out;
}

function corrupt(key: string, message: string): LoulanError {
  return new LoulanError('STORE_CORRUPT', `state tree node ${key}: ${message}`, { details: { key } });
}
