import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fromHex } from '../../../core-chain/crypto/hash.ts';
import { LoulanError } from '../../../core-chain/errors.ts';
import { proofFromJson, verifySparseProof } from '../../../core-chain/smt/proof.ts';
import { renderSmtVectors, type SmtVectors } from './smt.gen.ts';

const path = new URL('./smt.json', import.meta.url);
const text = readFileSync(path, 'utf8');
const vectors = JSON.parse(text) as SmtVectors;

describe('state-tree proof vectors (test/vectors/loulan/smt.json)', () => {
  it('are what the generator produces, byte for byte (regenerate: npx node test/vectors/loulan/smt.write.ts)', () => {
    expect(text).toBe(renderSmtVectors());
  });

  for (const c of vectors.cases) {
    it(c.name, () => {
      // Hex of the wrong length must reach the verifier (CODEC_LENGTH there), so decode leniently here.
      const hex = (s: string): Uint8Array => fromHex(s);
      const proof = c.proof.siblings.some((s) => s.length !== 64) || c.proof.siblings.length > 256
        ? { leaf: c.proof.leaf === null ? null : { keyHash: hex(c.proof.leaf.keyHash), valueHash: hex(c.proof.leaf.valueHash) }, siblings: c.proof.siblings.map(hex) }
        : proofFromJson(c.proof);
      let got: unknown = 'ok';
      try {
        verifySparseProof(hex(c.root), hex(c.keyHash), c.valueHash === null ? null : hex(c.valueHash), proof);
      } catch (error) {
        if (!(error instanceof LoulanError)) throw error;
        got = { code: error.code };
      }
      expect(got).toEqual(c.expect);
    });
  }
});
