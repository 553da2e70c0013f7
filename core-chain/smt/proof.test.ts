import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeProof, decodeProofCompact, encodeProof, encodeProofCompact, proofFromJson, proofToJson, ZERO, type SparseProof } from './proof.ts';
import { codeOf } from '../ledger/testkit.ts';

const hash = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constant(new Uint8Array(32)));
const proofArb: fc.Arbitrary<SparseProof> = fc.record({
  leaf: fc.option(fc.record({ keyHash: hash, valueHash: hash }), { nil: null }),
  siblings: fc.array(hash, { maxLength: 256 }),
});

describe('proof encodings', () => {
  it('JSON, binary and compact binary round-trip', () => {
    fc.assert(
      fc.property(proofArb, (proof) => {
        expect(proofFromJson(JSON.parse(JSON.stringify(proofToJson(proof))))).toEqual(proof);
        expect(decodeProof(encodeProof(proof))).toEqual(proof);
        expect(decodeProofCompact(encodeProofCompact(proof))).toEqual(proof);
      }),
      { numRuns: 200 },
    );
  });

  it('decoders are strict', () => {
    const proof: SparseProof = { leaf: null, siblings: [new Uint8Array(32).fill(1), ZERO] };
    const bytes = encodeProof(proof);
    expect(codeOf(() => decodeProof(Uint8Array.of(...bytes, 0)))).toBe('CODEC_TRAILING_BYTES');
    expect(codeOf(() => decodeProof(bytes.subarray(0, bytes.length - 1)))).toBe('CODEC_TRUNCATED');
    expect(codeOf(() => decodeProof(Uint8Array.of(2, 0, 0)))).toBe('CODEC_RANGE');
    expect(codeOf(() => decodeProof(Uint8Array.of(0, 1, 1)))).toBe('PROOF_BAD_DEPTH');
    const compact = encodeProofCompact(proof);
    const stray = compact.slice();
    stray[3 + 31] = 1; // bitmap bit 255, beyond count
    expect(codeOf(() => decodeProofCompact(stray))).toBe('CODEC_RANGE');
    const listedZero = encodeProofCompact({ leaf: null, siblings: [new Uint8Array(32).fill(1)] });
    listedZero.fill(0, 35);
    expect(codeOf(() => decodeProofCompact(listedZero))).toBe('CODEC_RANGE');
    expect(codeOf(() => proofFromJson({ leaf: null, siblings: [], extra: 1 }))).toBe('VALIDATE_UNKNOWN_FIELD');
    expect(codeOf(() => proofFromJson({ siblings: [] }))).toBe('VALIDATE_REQUIRED');
    expect(codeOf(() => proofFromJson({ leaf: null, siblings: ['00'] }))).toBe('CODEC_LENGTH');
    expect(codeOf(() => proofFromJson({ leaf: null, siblings: ['zz'.repeat(32)] }))).toBe('CODEC_ENCODING');
    expect(codeOf(() => proofFromJson({ leaf: null, siblings: new Array(257).fill('00'.repeat(32)) }))).toBe('PROOF_BAD_DEPTH');
  });
});
