import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256, toHex } from '../crypto/hash.ts';
import { inclusionProofFromLeafHashes, leafHash, verifyInclusionOfData } from '../crypto/merkle.ts';
import {
  blockDigestFromPayload,
  blockHash,
  decodeBlock,
  decodeHeader,
  encodeBlock,
  encodeHeader,
  HEADER_LENGTH,
  headerMismatch,
  txRootFromHashes,
  type Header,
} from './block.ts';
import { codeOf } from './testkit.ts';

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u32 = fc.nat({ max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const arbHeader: fc.Arbitrary<Header> = fc.record({
  chainId: b32,
  height: u64,
  prevHash: b32,
  time: u64,
  proposer: u32,
  txRoot: b32,
  txCount: u32,
  eventsRoot: b32,
  eventCount: u32,
  stateRoot: b32,
  validatorSetHash: b32,
  nextValidatorSetHash: b32,
});

const arbBlock = fc
  .tuple(arbHeader, fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }))
  .map(([header, txs]) => ({ header: { ...header, txCount: txs.length }, txs }));

describe('header codec', () => {
  it('round-trips and is always HEADER_LENGTH bytes', () => {
    fc.assert(
      fc.property(arbHeader, (h) => {
        const bytes = encodeHeader(h);
        expect(bytes.length).toBe(HEADER_LENGTH);
        expect(decodeHeader(bytes)).toEqual(h);
        expect(headerMismatch(decodeHeader(bytes), h)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  it('puts every field at its documented offset', () => {
    const h: Header = {
      chainId: new Uint8Array(32).fill(1),
      height: 0x0102n,
      prevHash: new Uint8Array(32).fill(2),
      time: 0x0304n,
      proposer: 5,
      txRoot: new Uint8Array(32).fill(3),
      txCount: 6,
      eventsRoot: new Uint8Array(32).fill(4),
      eventCount: 7,
      stateRoot: new Uint8Array(32).fill(5),
      validatorSetHash: new Uint8Array(32).fill(6),
      nextValidatorSetHash: new Uint8Array(32).fill(7),
    };
    const b = encodeHeader(h);
    expect(b[0]).toBe(1);
    expect(b[1]).toBe(1);
    expect(toHex(b.subarray(33, 41))).toBe('0000000000000102');
    expect(b[41]).toBe(2);
    expect(toHex(b.subarray(73, 81))).toBe('0000000000000304');
    expect(toHex(b.subarray(81, 85))).toBe('00000005');
    expect(b[85]).toBe(3);
    expect(toHex(b.subarray(117, 121))).toBe('00000006');
    expect(b[121]).toBe(4);
    expect(toHex(b.subarray(153, 157))).toBe('00000007');
    expect(b[157]).toBe(5);
    expect(b[189]).toBe(6);
    expect(b[220]).toBe(6);
    expect(b[221]).toBe(7);
    expect(b[252]).toBe(7);
    expect(b.length).toBe(253);
  });

  it('refuses truncation, trailing bytes and unknown versions', () => {
    fc.assert(
      fc.property(arbHeader, fc.nat({ max: HEADER_LENGTH - 1 }), (h, cut) => {
        const bytes = encodeHeader(h);
        expect(codeOf(() => decodeHeader(bytes.subarray(0, cut)))).toBe('CODEC_TRUNCATED');
        expect(codeOf(() => decodeHeader(Uint8Array.of(...bytes, 0)))).toBe('CODEC_TRAILING_BYTES');
        const v2 = bytes.slice();
        v2[0] = 2;
        expect(codeOf(() => decodeHeader(v2))).toBe('CODEC_TAG');
      }),
      { numRuns: 50 },
    );
  });
});

describe('block codec', () => {
  it('round-trips any block', () => {
    fc.assert(
      fc.property(arbBlock, (block) => {
        const payload = encodeBlock(block);
        const back = decodeBlock(payload);
        expect(back.header).toEqual(block.header);
        expect(back.txs.map((t) => toHex(t))).toEqual(block.txs.map((t) => toHex(t)));
        expect(encodeBlock(back)).toEqual(payload);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses every truncation and trailing bytes', () => {
    fc.assert(
      fc.property(arbBlock, fc.nat(), (block, cut) => {
        const payload = encodeBlock(block);
        const at = cut % payload.length;
        expect(codeOf(() => decodeBlock(payload.subarray(0, at)))).toMatch(/^CODEC_(TRUNCATED|LENGTH)$/);
        expect(codeOf(() => decodeBlock(Uint8Array.of(...payload, 0)))).toBe('CODEC_TRAILING_BYTES');
      }),
      { numRuns: 200 },
    );
  });

  it('never aliases the payload', () => {
    const block = { header: { ...fc.sample(arbHeader, { numRuns: 1, seed: 1 })[0]!, txCount: 1 }, txs: [Uint8Array.of(9, 9, 9)] };
    const payload = encodeBlock(block);
    const decoded = decodeBlock(payload);
    payload.fill(0);
    expect(decoded.txs[0]).toEqual(Uint8Array.of(9, 9, 9));
  });

  it('refuses a header count that disagrees with the transactions', () => {
    const [block] = fc.sample(arbBlock, { numRuns: 1, seed: 3 });
    expect(codeOf(() => encodeBlock({ header: { ...block!.header, txCount: block!.txs.length + 1 }, txs: block!.txs }))).toBe('CODEC_LENGTH');
  });

  it('refuses a header length other than HEADER_LENGTH', () => {
    const [block] = fc.sample(arbBlock, { numRuns: 1, seed: 4 });
    const payload = encodeBlock(block!);
    const bad = payload.slice();
    bad[3] = HEADER_LENGTH + 1;
    expect(codeOf(() => decodeBlock(bad))).toBe('CODEC_LENGTH');
  });
});

describe('block digest', () => {
  it('is the block hash, computed from the header slice alone', () => {
    fc.assert(
      fc.property(arbBlock, (block) => {
        const payload = encodeBlock(block);
        expect(blockDigestFromPayload(payload)).toEqual(blockHash(block.header));
        expect(blockHash(block.header)).toEqual(sha256(encodeHeader(block.header)));
      }),
      { numRuns: 100 },
    );
  });

  it('never throws, and a malformed payload never shares a digest with its header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (junk) => {
        expect(blockDigestFromPayload(junk)).toHaveLength(32);
      }),
    );
    const [h] = fc.sample(arbHeader, { numRuns: 1, seed: 5 });
    const headerOnly = encodeHeader(h!);
    expect(blockDigestFromPayload(headerOnly)).not.toEqual(blockHash(h!));
  });
});

describe('txRoot', () => {
  it('is the RFC 6962 root over the tx hashes as leaf data, so a tx hash alone proves inclusion', () => {
    const hashes = Array.from({ length: 7 }, (_, i) => sha256(Uint8Array.of(i)));
    const root = txRootFromHashes(hashes);
    const leaves = hashes.map((h) => leafHash(h));
    for (let i = 0; i < hashes.length; i++) {
      const path = inclusionProofFromLeafHashes(leaves, i);
      expect(verifyInclusionOfData(hashes[i]!, i, hashes.length, path, root)).toBe(true);
    }
    expect(txRootFromHashes([])).toEqual(sha256(new Uint8Array(0)));
  });
});
