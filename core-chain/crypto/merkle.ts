/**
 * RFC 9162 (Certificate Transparency v2, same tree as RFC 6962) Merkle trees over SHA-256: the
 * transactions and events roots in block headers, and the paths that prove an event was committed.
 *
 *   leaf hash  = SHA-256(0x00 || data)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
 *
 * The distinct leaf and node prefixes are what make a proof sound: without them an inner node could
 * be presented as a leaf (its two children as the leaf's data) and "proved" to be in the tree. The
 * unbalanced split (rather than duplicating the last node, as Bitcoin does) means no two different
 * leaf lists share a root.
 *
 * Roots and proofs are computed bottom-up: pairing neighbours level by level and carrying an unpaired
 * last node up unchanged yields exactly the RFC's recursive split, without recursion or slicing. The
 * same recipe is simple enough to repeat in Solidity and chaincode.
 *
 * Verification contract: `verifyInclusion` returns false when the proof is well-formed but leads to
 * another root, and throws `MERKLE_INDEX_RANGE` / `MERKLE_BAD_PROOF` for inputs that no tree could
 * produce (index outside the tree, a path of the wrong length for (index, size), hashes not 32 bytes).
 */
import { hash as cryptoHash } from 'node:crypto';
import { LoulanError } from '../errors.ts';
import { equalBytes, sha256 } from './hash.ts';

export const HASH_LENGTH = 32;

const EMPTY_ROOT = sha256(new Uint8Array(0));

/** SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + data.length);
  input.set(data, 1);
  return digest(input);
}

// Node hashing is synchronous, so one scratch buffer serves every call (tree building hashes
// millions of nodes; this saves an allocation per node). crypto.hash() copies its input.
const nodeInput = new Uint8Array(1 + 2 * HASH_LENGTH);
nodeInput[0] = 1;

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_LENGTH || right.length !== HASH_LENGTH) {
    throw new LoulanError('MERKLE_BAD_PROOF', `node children must be ${HASH_LENGTH} bytes`, {
      details: { left: left.length, right: right.length },
    });
  }
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_LENGTH);
  return digest(nodeInput);
}

/** The root of the empty tree, SHA-256 of the empty string. */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}

/** MTH over raw leaf data. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return merkleRootFromLeafHashes(leaves.map(leafHash));
}

/** MTH over leaf hashes already computed with `leafHash`. */
export function merkleRootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot();
  checkHashes(leafHashes, 'leaf hash');
  let level = leafHashes.slice();
  while (level.length > 1) level = nextLevel(level);
  return (level[0] as Uint8Array).slice();
}

/** The audit path for leaf `index` (RFC 9162 §2.1.3.1), leaf-side first. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  checkIndex(index, leaves.length);
  return inclusionProofFromLeafHashes(leaves.map(leafHash), index);
}

/** `inclusionProof` over leaf hashes already computed with `leafHash`. */
export function inclusionProofFromLeafHashes(leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  checkIndex(index, leafHashes.length);
  checkHashes(leafHashes, 'leaf hash');
  const path: Uint8Array[] = [];
  let level = leafHashes.slice();
  let i = index;
  while (level.length > 1) {
    const sibling = i ^ 1;
    // The last node of an odd level has no sibling: it is carried up and contributes nothing.
    if (sibling < level.length) path.push((level[sibling] as Uint8Array).slice());
    level = nextLevel(level);
    i = Math.floor(i / 2);
  }
  return path;
}

/**
 * Every leaf's audit path at once (same paths as `inclusionProofFromLeafHashes`), building the tree's
 * levels once: O(n log n) instead of O(n²) for a whole batch.
 */
export function inclusionProofsFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array[][] {
  checkHashes(leafHashes, 'leaf hash');
  const levels: Uint8Array[][] = [leafHashes.slice()];
  while (levels[levels.length - 1]!.length > 1) levels.push(nextLevel(levels[levels.length - 1]!));
  return leafHashes.map((_, index) => {
    const path: Uint8Array[] = [];
    let i = index;
    for (let d = 0; d < levels.length - 1; d++) {
      const sibling = i ^ 1;
      const level = levels[d]!;
      if (sibling < level.length) path.push(level[sibling]!);
      i = Math.floor(i / 2);
    }
    return path;
  });
}

/**
 * The root that `path` leads to from `leafHash` at `index` in a tree of `treeSize` leaves
 * (RFC 9162 §2.1.3.2). Throws `MERKLE_INDEX_RANGE` or `MERKLE_BAD_PROOF` for impossible inputs.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  path: readonly Uint8Array[],
): Uint8Array {
  checkIndex(index, treeSize);
  checkHashes([leafHash], 'leaf hash');
  checkHashes(path, 'path element');
  const expected = inclusionPathLength(index, treeSize);
  if (path.length !== expected) {
    throw new LoulanError('MERKLE_BAD_PROOF', `path for leaf ${index} of ${treeSize} has ${expected} hashes, got ${path.length}`, {
      details: { index, treeSize, expected, actual: path.length },
    });
  }
  // fn: the node's index at the current level; sn: the index of the last node at that level.
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // A node that is last on its level without a sibling moves up unchanged until it has one.
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return r;
}

/**
 * True when `path` proves `leafHash` is leaf `index` of the tree of `treeSize` leaves whose root is
 * `root`; false when it leads elsewhere. Throws for structurally impossible input (see module header).
 *
 * @example verifyInclusion(leafHash(event), 5, 8, proof, header.eventsRoot)
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  path: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  checkHashes([root], 'root');
  return equalBytes(rootFromInclusionProof(leafHash, index, treeSize, path), root);
}

/**
 * `verifyInclusion` for raw leaf data: hashes the leaf itself, so the leaf/node domain separation
 * applies. Prefer this whenever the verifier holds the data: a caller-supplied leaf hash could be an
 * inner node, which verifies against the same root if `treeSize` is not itself authenticated.
 */
export function verifyInclusionOfData(
  data: Uint8Array,
  index: number,
  treeSize: number,
  path: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  return verifyInclusion(leafHash(data), index, treeSize, path, root);
}

/** Number of hashes in the audit path of leaf `index` in a tree of `treeSize` leaves. */
export function inclusionPathLength(index: number, treeSize: number): number {
  checkIndex(index, treeSize);
  let length = 0;
  let fn = index;
  let sn = treeSize - 1;
  while (sn > 0) {
    // A level contributes a hash unless the node is the unpaired last one.
    if (fn % 2 === 1 || fn !== sn) length++;
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return length;
}

function nextLevel(level: readonly Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = new Array<Uint8Array>(Math.ceil(level.length / 2));
  for (let i = 0; i + 1 < level.length; i += 2) next[i / 2] = nodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array);
  if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1] as Uint8Array;
  return next;
}

function digest(input: Uint8Array): Uint8Array {
  const out = cryptoHash('sha256', input, 'buffer');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function checkIndex(index: number, treeSize: number): void {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) {
    throw new LoulanError('MERKLE_INDEX_RANGE', `tree size must be a non-negative integer, got ${String(treeSize)}`, {
      details: { treeSize },
    });
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new LoulanError('MERKLE_INDEX_RANGE', `leaf index ${String(index)} is outside a tree of ${treeSize}`, {
      details: { index, treeSize },
    });
  }
}

function checkHashes(hashes: readonly Uint8Array[], what: string): void {
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i];
    if (!(h instanceof Uint8Array) || h.length !== HASH_LENGTH) {
      throw new LoulanError('MERKLE_BAD_PROOF', `${what} ${i} is not ${HASH_LENGTH} bytes`, {
        details: { index: i, what, actual: h instanceof Uint8Array ? h.length : typeof h },
      });
    }
  }
}
