import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256, toHex } from '../crypto/hash.ts';
import { isZero, pathBit, verifySparseProof, ZERO, type SparseProof } from './proof.ts';
import { SparseMerkleTree, type TreeChange } from './tree.ts';
import { codeOf } from '../ledger/testkit.ts';

/** A small key space, so batches update and delete keys that exist. */
const keyHashOf = (n: number): Uint8Array => sha256(Uint8Array.of(n >> 8, n & 0xff));
const valueHashOf = (v: number): Uint8Array => sha256(Uint8Array.of(0xee, v >> 8, v & 0xff));

const change = fc.tuple(fc.nat(80), fc.option(fc.nat(255), { nil: null, freq: 4 }));
const batches = fc.array(fc.array(change, { maxLength: 24 }), { minLength: 1, maxLength: 6 });

function h(prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array {
  const input = new Uint8Array(65);
  input[0] = prefix;
  input.set(a, 1);
  input.set(b, 33);
  return sha256(input);
}

/** The spec, written the slow way: the root of a set of leaves, rebuilt from scratch. */
function referenceRoot(leaves: readonly (readonly [Uint8Array, Uint8Array])[], depth = 0): Uint8Array {
  if (leaves.length === 0) return ZERO;
  if (leaves.length === 1) return h(0, leaves[0]![0], leaves[0]![1]);
  const left = leaves.filter(([k]) => pathBit(k, depth) === 0);
  const right = leaves.filter(([k]) => pathBit(k, depth) === 1);
  return h(1, referenceRoot(left, depth + 1), referenceRoot(right, depth + 1));
}

function applyBatch(tree: SparseMerkleTree, model: Map<string, readonly [Uint8Array, Uint8Array]>, batch: readonly (readonly [number, number | null])[]): void {
  const changes: TreeChange[] = batch.map(([k, v]) => [keyHashOf(k), v === null ? null : valueHashOf(v)]);
  tree.apply(tree.preview(changes));
  for (const [k, v] of batch) {
    if (v === null) model.delete(toHex(keyHashOf(k)));
    else model.set(toHex(keyHashOf(k)), [keyHashOf(k), valueHashOf(v)]);
  }
}

describe('sparse Merkle tree', () => {
  it('matches the from-scratch reference after every batch of inserts, updates and deletes', () => {
    fc.assert(
      fc.property(batches, (list) => {
        const tree = new SparseMerkleTree();
        const model = new Map<string, readonly [Uint8Array, Uint8Array]>();
        for (const batch of list) {
          applyBatch(tree, model, batch);
          expect(toHex(tree.root())).toBe(toHex(referenceRoot([...model.values()])));
          expect(tree.size).toBe(model.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on insertion order or batching', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.nat(500), fc.nat(255)), { selector: (e) => e[0], maxLength: 60 }), fc.nat(), (entries, seed) => {
        const leaves = entries.map(([k, v]) => [keyHashOf(k), valueHashOf(v)] as const);
        const shuffled = [...leaves].sort((a, b) => (toHex(sha256(Uint8Array.of(...a[0], seed & 0xff))) < toHex(sha256(Uint8Array.of(...b[0], seed & 0xff))) ? -1 : 1));
        const oneByOne = new SparseMerkleTree();
        for (const leaf of shuffled) oneByOne.apply(oneByOne.preview([leaf]));
        const bulk = SparseMerkleTree.fromLeaves(leaves);
        expect(oneByOne.root()).toEqual(bulk.root());
        expect(bulk.root()).toEqual(referenceRoot(leaves));
      }),
      { numRuns: 150 },
    );
  });

  it('proves every present key and the absence of every other key', () => {
    fc.assert(
      fc.property(batches, (list) => {
        const tree = new SparseMerkleTree();
        const model = new Map<string, readonly [Uint8Array, Uint8Array]>();
        for (const batch of list) applyBatch(tree, model, batch);
        if (tree.size === 0) return;
        for (let k = 0; k <= 80; k++) {
          const entry = model.get(toHex(keyHashOf(k)));
          verifySparseProof(tree.root(), keyHashOf(k), entry === undefined ? null : entry[1], tree.prove(keyHashOf(k)));
          expect(tree.get(keyHashOf(k))).toEqual(entry?.[1]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rejects every tampered proof with the code for what was tampered', () => {
    fc.assert(
      fc.property(batches, fc.nat(80), fc.nat(80), fc.nat(255), (list, a, b, bit) => {
        const tree = SparseMerkleTree.fromLeaves([[keyHashOf(1000), valueHashOf(1)], [keyHashOf(1001), valueHashOf(2)]]);
        const model = new Map<string, readonly [Uint8Array, Uint8Array]>();
        for (const batch of list) applyBatch(tree, model, batch);
        const root = tree.root();
        const key = keyHashOf(a);
        const present = model.get(toHex(key));
        const value = present === undefined ? null : present[1];
        const proof = tree.prove(key);
        const verify = (p: SparseProof, v: Uint8Array | null = value, k: Uint8Array = key): string => codeOf(() => verifySparseProof(root, k, v, p));
        expect(verify(proof)).toBe('none');
        const n = proof.siblings.length;

        // A flipped bit in any sibling.
        if (n > 0) {
          const i = bit % n;
          const siblings = proof.siblings.map((s) => s.slice());
          const target = siblings[i]!;
          target[bit % 32] = target[bit % 32]! ^ (1 << (bit % 8));
          const expected = i === n - 1 && isZero(siblings[i]!) ? 'PROOF_BAD_DEPTH' : 'PROOF_ROOT_MISMATCH';
          expect(verify({ ...proof, siblings })).toBe(expected);
        }
        // The deepest sibling dropped.
        if (n > 0) {
          const siblings = proof.siblings.slice(0, -1);
          const canonical = siblings.length === 0 ? proof.leaf !== null : !isZero(siblings.at(-1)!);
          expect(verify({ ...proof, siblings })).toBe(canonical ? 'PROOF_ROOT_MISMATCH' : 'PROOF_BAD_DEPTH');
        }
        // A ZERO sibling added at the bottom.
        expect(verify({ ...proof, siblings: [...proof.siblings, ZERO] })).toBe('PROOF_BAD_DEPTH');

        if (present !== undefined) {
          // Another leaf swapped in, a changed value, non-inclusion claimed for a present key.
          const other = tree.prove(keyHashOf(1000)).leaf!;
          if (toHex(other.keyHash) !== toHex(key)) expect(verify({ ...proof, leaf: other })).toBe('PROOF_LEAF_MISMATCH');
          expect(verify(proof, valueHashOf(256 + (bit % 7)))).toBe('PROOF_VALUE_MISMATCH');
          expect(verify(proof, null)).toBe('PROOF_KEY_PRESENT');
          // An inner node presented as a leaf: the node above the leaf, its children as key and value.
          if (n > 0) {
            const d = n - 1;
            const own = h(0, proof.leaf!.keyHash, proof.leaf!.valueHash);
            const [left, right] = pathBit(key, d) === 0 ? [own, proof.siblings[d]!] : [proof.siblings[d]!, own];
            const fake: SparseProof = { leaf: { keyHash: left, valueHash: right }, siblings: proof.siblings.slice(0, d) };
            const canonical = d === 0 || !isZero(proof.siblings[d - 1]!);
            expect(verify(fake, right, left)).toBe(canonical ? 'PROOF_ROOT_MISMATCH' : 'PROOF_BAD_DEPTH');
            expect(verify(fake)).toBe(canonical ? 'PROOF_LEAF_MISMATCH' : 'PROOF_BAD_DEPTH');
          }
        } else {
          // Inclusion claimed for an absent key.
          expect(verify(proof, valueHashOf(1))).toBe('PROOF_LEAF_MISMATCH');
          // A leaf off the path presented as the one the path ends in.
          const otherKey = keyHashOf(b);
          const otherLeaf = tree.prove(otherKey).leaf;
          if (otherLeaf !== null && n > 0) {
            let shared = 0;
            while (shared < 256 && pathBit(otherLeaf.keyHash, shared) === pathBit(key, shared)) shared++;
            const off = shared < n;
            const same = toHex(otherLeaf.keyHash) === toHex(proof.leaf?.keyHash ?? ZERO);
            if (off) expect(verify({ ...proof, leaf: otherLeaf })).toBe('PROOF_LEAF_MISMATCH');
            else if (!same) expect(verify({ ...proof, leaf: otherLeaf })).toBe('PROOF_ROOT_MISMATCH');
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('previews without mutating; an update applies only to its own tree and version', () => {
    const tree = SparseMerkleTree.fromLeaves([[keyHashOf(1), valueHashOf(1)]]);
    const before = tree.root();
    const update = tree.preview([[keyHashOf(2), valueHashOf(2)]]);
    expect(tree.root()).toEqual(before);
    expect(update.root).toEqual(referenceRoot([[keyHashOf(1), valueHashOf(1)], [keyHashOf(2), valueHashOf(2)]]));
    expect(codeOf(() => new SparseMerkleTree().apply(update))).toBe('INTERNAL');
    tree.apply(update);
    expect(tree.root()).toEqual(update.root);
    expect(codeOf(() => tree.apply(update))).toBe('INTERNAL');
  });

  it('hashes each changed internal node once per batch', () => {
    const tree = SparseMerkleTree.fromLeaves(Array.from({ length: 64 }, (_, i) => [keyHashOf(i), valueHashOf(0)] as const));
    const update = tree.preview(Array.from({ length: 64 }, (_, i) => [keyHashOf(i), valueHashOf(1)] as const));
    // 64 new leaves and the 63 internal nodes above them (every node changed); nothing hashed twice.
    const branches = update.writes().filter((w) => w.value !== null && w.value[0] === 1).length;
    expect(update.hashes).toBe(64 + branches);
  });

  it('round-trips through its node writes, and refuses tampered nodes', () => {
    fc.assert(
      fc.property(batches, (list) => {
        const tree = new SparseMerkleTree();
        const model = new Map<string, readonly [Uint8Array, Uint8Array]>();
        const disk = new Map<string, Uint8Array>();
        const flush = (): void => {
          for (const { key, value } of tree.takeWrites()) {
            if (value === null) disk.delete(key);
            else disk.set(key, value);
          }
        };
        for (const batch of list) {
          applyBatch(tree, model, batch);
          flush();
          const loaded = SparseMerkleTree.fromNodes(disk, tree.root());
          expect(loaded.root()).toEqual(tree.root());
          expect(loaded.size).toBe(tree.size);
          expect(new Map(tree.allNodes().map((w) => [w.key, toHex(w.value!)]))).toEqual(new Map([...disk].map(([k, v]) => [k, toHex(v)])));
        }
        if (disk.size === 0) return;
        const [victim, bytes] = [...disk][0]!;
        const tampered = new Map(disk);
        const flipped = bytes.slice();
        flipped[40] = flipped[40]! ^ 1;
        tampered.set(victim, flipped);
        expect(codeOf(() => SparseMerkleTree.fromNodes(tampered, tree.root()))).toBe('STORE_CORRUPT');
        const extra = new Map(disk);
        extra.set('0ffff', bytes);
        expect(codeOf(() => SparseMerkleTree.fromNodes(extra, tree.root()))).toBe('STORE_CORRUPT');
        const missing = new Map(disk);
        missing.delete(victim);
        expect(codeOf(() => SparseMerkleTree.fromNodes(missing, tree.root()))).toBe('STORE_CORRUPT');
      }),
      { numRuns: 150 },
    );
  });

  it('names node positions by depth and path', () => {
    const a = Uint8Array.of(0b1000_0000, ...new Array(31).fill(0));
    const b = Uint8Array.of(0b0100_0000, ...new Array(31).fill(0));
    const tree = SparseMerkleTree.fromLeaves([[a, valueHashOf(1)], [b, valueHashOf(2)]]);
    expect(tree.allNodes().map((w) => w.key)).toEqual(['000', '00100', '00180']);
  });
});
