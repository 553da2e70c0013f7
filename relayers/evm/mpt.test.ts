import { createMPT, createMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mptProvenValue } from './mpt.ts';

async function trieOf(values: readonly Uint8Array[]) {
  const trie = await createMPT();
  for (const [i, v] of values.entries()) await trie.put(RLP.encode(i), v);
  return trie;
}

function code(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as { code: string; details: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}

describe('Merkle-Patricia proofs', () => {
  it('agrees with @ethereumjs/mpt on every key of random tries, small (inlined) and large values alike', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 40 }), async (values) => {
        const trie = await trieOf(values);
        for (const [i, v] of values.entries()) {
          const proof = await createMerkleProof(trie, RLP.encode(i));
          expect(mptProvenValue(trie.root(), RLP.encode(i), proof)).toEqual(v);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a tampered node, a missing or extra node, and a key that is not in the trie', async () => {
    const values = Array.from({ length: 20 }, (_, i) => new Uint8Array(40).fill(i + 1));
    const trie = await trieOf(values);
    const key = RLP.encode(5);
    const proof = await createMerkleProof(trie, key);
    expect(proof.length).toBeGreaterThan(1);

    const tampered = proof.map((n) => n.slice());
    const node = tampered[1] as Uint8Array;
    node[5] = (node[5] as number) ^ 1;
    expect(code(() => mptProvenValue(trie.root(), key, tampered))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'node-hash', node: 1 } });
    expect(code(() => mptProvenValue(trie.root(), key, proof.slice(0, -1)))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'missing-node' } });
    expect(code(() => mptProvenValue(trie.root(), key, [...proof, proof[0] as Uint8Array]))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'extra-node' } });
    // Key 6's proof used for key 5: the path leads to another leaf.
    const other = await createMerkleProof(trie, RLP.encode(6));
    expect(code(() => mptProvenValue(trie.root(), key, other)).code).toBe('EVM_PROOF_INVALID');
    // An absent key, with the proof of absence @ethereumjs/mpt gives.
    const absent = await createMerkleProof(trie, RLP.encode(999));
    expect(code(() => mptProvenValue(trie.root(), RLP.encode(999), absent))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'path' } });
    // Another root.
    expect(code(() => mptProvenValue(new Uint8Array(32), key, proof))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'node-hash', node: 0 } });
  });
});
