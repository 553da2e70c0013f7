import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  emptyRoot,
  inclusionPathLength,
  inclusionProof,
  inclusionProofFromLeafHashes,
  inclusionProofsFromLeafHashes,
  leafHash,
  merkleRoot,
  merkleRootFromLeafHashes,
  nodeHash,
  rootFromInclusionProof,
  verifyInclusion,
  verifyInclusionOfData,
} from './merkle.ts';
import { fromHex, sha256, toHex } from './hash.ts';
import { LoulanError } from '../errors.ts';

const CT = JSON.parse(readFileSync(new URL('../../test/vectors/merkle/ct-rfc6962.json', import.meta.url), 'utf8')) as {
  leaves: string[];
  emptyRoot: string;
  rootsBySize: Record<string, string>;
  inclusionProofs: { index: number; treeSize: number; path: string[] }[];
  hasher: { kind: 'leaf' | 'node'; data?: string; left?: string; right?: string; hash: string }[];
};
const LEAVES = CT.leaves.map((h) => fromHex(h));

/** Rejected = returns false or throws a MERKLE_* error; anything else is a bug. */
function rejected(fn: () => boolean): boolean {
  try {
    return !fn();
  } catch (error) {
    if (error instanceof LoulanError && error.code.startsWith('MERKLE_')) return true;
    throw error;
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error.code;
    throw error;
  }
  return 'none';
}

/** Straight transcription of RFC 9162 §2.1.1 (recursive MTH), as an independent oracle. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]), recursive, as an independent oracle. */
function referencePath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length === 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...referencePath(m, leaves.slice(0, k)), referenceRoot(leaves.slice(k))]
    : [...referencePath(m - k, leaves.slice(k)), referenceRoot(leaves.slice(0, k))];
}

describe('certificate-transparency reference vectors', () => {
  it('hashes leaves and nodes with the 0x00 / 0x01 prefixes', () => {
    for (const c of CT.hasher) {
      const got = c.kind === 'leaf' ? leafHash(fromHex(c.data!)) : nodeHashRaw(fromHex(c.left!), fromHex(c.right!));
      expect(toHex(got)).toBe(c.hash);
    }
  });

  it('empty tree is SHA-256 of the empty string', () => {
    expect(toHex(emptyRoot())).toBe(CT.emptyRoot);
    expect(toHex(merkleRoot([]))).toBe(CT.emptyRoot);
    expect(toHex(merkleRootFromLeafHashes([]))).toBe(CT.emptyRoot);
  });

  it.each(Object.entries(CT.rootsBySize))('root of the first %s leaves', (size, root) => {
    const leaves = LEAVES.slice(0, Number(size));
    expect(toHex(merkleRoot(leaves))).toBe(root);
    expect(toHex(merkleRootFromLeafHashes(leaves.map(leafHash)))).toBe(root);
  });

  it.each(CT.inclusionProofs)('audit path for leaf $index of $treeSize', ({ index, treeSize, path }) => {
    const leaves = LEAVES.slice(0, treeSize);
    const root = fromHex(CT.rootsBySize[String(treeSize)]!);
    const proof = inclusionProof(leaves, index);
    expect(proof.map(toHex)).toEqual(path);
    expect(inclusionPathLength(index, treeSize)).toBe(path.length);
    expect(toHex(rootFromInclusionProof(leafHash(leaves[index]!), index, treeSize, proof))).toBe(toHex(root));
    expect(verifyInclusion(leafHash(leaves[index]!), index, treeSize, proof, root)).toBe(true);
    expect(verifyInclusionOfData(leaves[index]!, index, treeSize, proof, root)).toBe(true);
  });

  // The corruptions transparency-dev/merkle's verifier test applies to each published proof.
  it.each(CT.inclusionProofs.filter((p) => p.path.length > 0))('rejects corruptions of the proof for leaf $index of $treeSize', ({ index, treeSize, path }) => {
    const root = fromHex(CT.rootsBySize[String(treeSize)]!);
    const leaf = leafHash(LEAVES[index]!);
    const proof = path.map((h) => fromHex(h));
    const someHash = fromHex('abacaba000000000000000000000000000000000000000000060061e00123456');
    const probes: [string, () => boolean][] = [
      ['index - 1', () => verifyInclusion(leaf, index - 1, treeSize, proof, root)],
      ['index + 1', () => verifyInclusion(leaf, index + 1, treeSize, proof, root)],
      ['index ^ 2', () => verifyInclusion(leaf, index ^ 2, treeSize, proof, root)],
      ['size * 2', () => verifyInclusion(leaf, index, treeSize * 2, proof, root)],
      ['size / 2', () => verifyInclusion(leaf, index, Math.floor(treeSize / 2), proof, root)],
      ['wrong leaf', () => verifyInclusion(sha256(new TextEncoder().encode('WrongLeaf')), index, treeSize, proof, root)],
      ['short leaf', () => verifyInclusion(new TextEncoder().encode('WrongLeaf'), index, treeSize, proof, root)],
      ['empty root', () => verifyInclusion(leaf, index, treeSize, proof, emptyRoot())],
      ['random root', () => verifyInclusion(leaf, index, treeSize, proof, someHash)],
      ['trailing garbage', () => verifyInclusion(leaf, index, treeSize, [...proof, new Uint8Array(0)], root)],
      ['trailing root', () => verifyInclusion(leaf, index, treeSize, [...proof, root], root)],
      ['preceding garbage', () => verifyInclusion(leaf, index, treeSize, [new Uint8Array(0), ...proof], root)],
      ['preceding root', () => verifyInclusion(leaf, index, treeSize, [root, ...proof], root)],
      ['removed component', () => verifyInclusion(leaf, index, treeSize, proof.slice(0, -1), root)],
      ['inserted component', () => verifyInclusion(leaf, index, treeSize, [proof[0]!, someHash, ...proof.slice(1)], root)],
      ...proof.map((_, i): [string, () => boolean] => [
        `proof[${i}] bit 3`,
        () => verifyInclusion(leaf, index, treeSize, proof.map((h, j) => (j === i ? flipBit(h, 3) : h)), root),
      ]),
    ];
    for (const [name, probe] of probes) expect(rejected(probe), name).toBe(true);
  });
});

describe('structural errors', () => {
  const leaves = LEAVES.slice(0, 5);
  const hashes = leaves.map(leafHash);
  const root = merkleRoot(leaves);

  it('index outside the tree is MERKLE_INDEX_RANGE', () => {
    expect(codeOf(() => inclusionProof(leaves, 5))).toBe('MERKLE_INDEX_RANGE');
    expect(codeOf(() => inclusionProof(leaves, -1))).toBe('MERKLE_INDEX_RANGE');
    expect(codeOf(() => inclusionProof(leaves, 1.5))).toBe('MERKLE_INDEX_RANGE');
    expect(codeOf(() => inclusionProof([], 0))).toBe('MERKLE_INDEX_RANGE');
    expect(codeOf(() => verifyInclusion(hashes[0]!, 0, 0, [], root))).toBe('MERKLE_INDEX_RANGE');
    expect(codeOf(() => verifyInclusion(hashes[0]!, 5, 5, [], root))).toBe('MERKLE_INDEX_RANGE');
  });

  it('wrong path length or hash size is MERKLE_BAD_PROOF', () => {
    const proof = inclusionProofFromLeafHashes(hashes, 1);
    expect(codeOf(() => verifyInclusion(hashes[1]!, 1, 5, proof.slice(1), root))).toBe('MERKLE_BAD_PROOF');
    expect(codeOf(() => verifyInclusion(hashes[1]!, 1, 5, [...proof, root], root))).toBe('MERKLE_BAD_PROOF');
    expect(codeOf(() => verifyInclusion(hashes[1]!.subarray(1), 1, 5, proof, root))).toBe('MERKLE_BAD_PROOF');
    expect(codeOf(() => verifyInclusion(hashes[1]!, 1, 5, proof, root.subarray(1)))).toBe('MERKLE_BAD_PROOF');
    expect(codeOf(() => merkleRootFromLeafHashes([new Uint8Array(31)]))).toBe('MERKLE_BAD_PROOF');
  });

  it('a single-leaf tree has an empty path and its root is the leaf hash', () => {
    expect(inclusionProof([LEAVES[3]!], 0)).toEqual([]);
    expect(toHex(merkleRoot([LEAVES[3]!]))).toBe(toHex(leafHash(LEAVES[3]!)));
    expect(verifyInclusion(leafHash(LEAVES[3]!), 0, 1, [], leafHash(LEAVES[3]!))).toBe(true);
  });
});

// -- properties -------------------------------------------------------------------------------------

const tree = fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 70 });
// Equal leaves legitimately share proofs across their indexes; properties about "another index" need distinct leaves.
const distinctTree = fc.uniqueArray(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 70, selector: toHex });

describe('properties', () => {
  it('agrees with the recursive RFC 9162 definitions of MTH and PATH', () => {
    fc.assert(
      fc.property(tree, fc.nat(), (leaves, pick) => {
        expect(toHex(merkleRoot(leaves))).toBe(toHex(referenceRoot(leaves)));
        const index = pick % leaves.length;
        expect(inclusionProof(leaves, index).map(toHex)).toEqual(referencePath(index, leaves).map(toHex));
      }),
      { numRuns: 300 },
    );
  });

  it('every leaf of every tree verifies', () => {
    fc.assert(
      fc.property(tree, (leaves) => {
        const root = merkleRoot(leaves);
        for (let i = 0; i < leaves.length; i++) {
          const proof = inclusionProof(leaves, i);
          expect(proof.length).toBe(inclusionPathLength(i, leaves.length));
          expect(verifyInclusionOfData(leaves[i]!, i, leaves.length, proof, root)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('any one-bit change in the leaf, a path hash or the root is rejected', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(), fc.nat(255), (leaves, pickIndex, pickTarget, bit) => {
        const index = pickIndex % leaves.length;
        const size = leaves.length;
        const leaf = leafHash(leaves[index]!);
        const proof = inclusionProof(leaves, index);
        const root = merkleRoot(leaves);
        const target = pickTarget % (proof.length + 2);
        if (target === 0) expect(rejected(() => verifyInclusion(flipBit(leaf, bit), index, size, proof, root))).toBe(true);
        else if (target === 1) expect(rejected(() => verifyInclusion(leaf, index, size, proof, flipBit(root, bit)))).toBe(true);
        else {
          const i = target - 2;
          expect(rejected(() => verifyInclusion(leaf, index, size, proof.map((h, j) => (j === i ? flipBit(h, bit) : h)), root))).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  // Only the index: the tree size is an input the verifier must already trust (it is in the signed
  // header), because a path can fit several sizes (leaf 0 of 9 and of 10 share a path and a root).
  it('a proof does not verify at another index of the same tree', () => {
    fc.assert(
      fc.property(distinctTree, fc.nat(), fc.nat(), (leaves, a, b) => {
        if (leaves.length < 2) return;
        const index = a % leaves.length;
        const other = b % leaves.length;
        if (other === index) return;
        const proof = inclusionProof(leaves, index);
        const root = merkleRoot(leaves);
        expect(rejected(() => verifyInclusion(leafHash(leaves[index]!), other, leaves.length, proof, root))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the same path fits several tree sizes (why the size must be authenticated)', () => {
    const nine = LEAVES.concat([Uint8Array.of(9)]);
    const proof = inclusionProof(nine, 0);
    expect(verifyInclusion(leafHash(nine[0]!), 0, 10, proof, merkleRoot(nine))).toBe(true);
  });

  it('an inner node presented as leaf data is rejected (domain separation)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 2, maxLength: 40 }), (leaves) => {
        const root = merkleRoot(leaves);
        const hashes = leaves.map(leafHash);
        // Level 1 of the tree: node(h0, h1), node(h2, h3), ...; a forger claims such a node is a leaf
        // whose data is the two child hashes, in a tree of half the size.
        const half = Math.ceil(leaves.length / 2);
        const level1 = Array.from({ length: half }, (_, i) =>
          2 * i + 1 < hashes.length ? nodeHash(hashes[2 * i]!, hashes[2 * i + 1]!) : hashes[2 * i]!,
        );
        const forgedPath = inclusionProofFromLeafHashes(level1, 0);
        const forgedData = new Uint8Array(64);
        forgedData.set(hashes[0]!, 0);
        forgedData.set(hashes[1]!, 32);
        // The inner node itself does reconstruct the root when the size is not authenticated...
        expect(verifyInclusion(level1[0]!, 0, half, forgedPath, root)).toBe(true);
        // ...but as leaf data it is hashed with the 0x00 prefix and fails at any size.
        expect(rejected(() => verifyInclusionOfData(forgedData, 0, half, forgedPath, root))).toBe(true);
        expect(rejected(() => verifyInclusion(leafHash(forgedData), 0, half, forgedPath, root))).toBe(true);
        // And at the true size, the inner node's path has the wrong length for a leaf.
        expect(rejected(() => verifyInclusion(level1[0]!, 0, leaves.length, forgedPath, root))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  const i = Math.floor(bit / 8) % out.length;
  out[i] = (out[i] as number) ^ (1 << (bit % 8));
  return out;
}

/** nodeHash on arbitrary-length children, for the hasher vector whose children are not hashes. */
function nodeHashRaw(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

describe('inclusionProofsFromLeafHashes', () => {
  it('gives every leaf the same path as inclusionProofFromLeafHashes, for every tree size up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      const hashes = Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i, n])));
      const all = inclusionProofsFromLeafHashes(hashes);
      expect(all).toHaveLength(n);
      all.forEach((path, i) => expect(path.map((p) => Buffer.from(p).toString('hex'))).toEqual(inclusionProofFromLeafHashes(hashes, i).map((p) => Buffer.from(p).toString('hex'))));
    }
  });
});
