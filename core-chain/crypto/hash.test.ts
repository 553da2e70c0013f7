import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes, equalBytes, fromBase64url, fromHex, keccak256, sha256, toBase64url, toHex } from './hash.ts';
import { LoulanError } from '../errors.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error.code;
    throw error;
  }
  return 'none';
}

describe('sha256 (FIPS 180-4 examples)', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ])('sha256(%j)', (input, expected) => {
    expect(toHex(sha256(utf8(input)))).toBe(expected);
  });

  it('one million "a"', () => {
    expect(toHex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('returns a plain Uint8Array that owns its 32 bytes', () => {
    const h = sha256(utf8('x'));
    expect(Object.getPrototypeOf(h)).toBe(Uint8Array.prototype);
    expect(h.byteLength).toBe(32);
    expect(h.buffer.byteLength).toBe(32);
  });

  it('hashes subarray views by their contents only', () => {
    const backing = utf8('xxabcxx');
    expect(toHex(sha256(backing.subarray(2, 5)))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('keccak256 (Ethereum)', () => {
  it.each([
    ['', 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'],
    ['abc', '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45'],
    // The EVM event signature hash everyone knows.
    ['Transfer(address,address,uint256)', 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'],
  ])('keccak256(%j)', (input, expected) => {
    expect(toHex(keccak256(utf8(input)))).toBe(expected);
  });
});

describe('hex', () => {
  it('encodes lowercase and decodes either case', () => {
    expect(toHex(Uint8Array.of(0, 1, 0xab, 0xff))).toBe('0001abff');
    expect([...fromHex('00ABff')]).toEqual([0, 0xab, 0xff]);
    expect(fromHex('').length).toBe(0);
  });

  it.each(['0', 'abc', '0x00', 'zz', ' 00', '00 ', 'g0', '0\n'])('refuses %j', (text) => {
    expect(codeOf(() => fromHex(text))).toBe('CODEC_ENCODING');
  });

  it('checks an expected length', () => {
    expect(fromHex('0011', 2).length).toBe(2);
    expect(codeOf(() => fromHex('0011', 3))).toBe('CODEC_LENGTH');
  });

  it('round-trips', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      expect(equalBytes(fromHex(toHex(bytes)), bytes)).toBe(true);
    }));
  });
});

describe('base64url', () => {
  it.each([
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ])('RFC 4648 §10: %j <-> %j (unpadded)', (plain, encoded) => {
    expect(toBase64url(utf8(plain))).toBe(encoded);
    expect(new TextDecoder().decode(fromBase64url(encoded))).toBe(plain);
  });

  it('uses the URL-safe alphabet', () => {
    expect(toBase64url(Uint8Array.of(0xfb, 0xff, 0xbf))).toBe('-_-_');
  });

  it.each([
    ['Zg==', 'padding'],
    ['Zh', 'non-zero trailing bits'],
    ['Zm9', 'non-zero trailing bits: "fo" is Zm8'],
    ['Z', 'impossible length'],
    ['Zm9v+', 'standard alphabet'],
    ['Zm9v/', 'standard alphabet'],
    ['Zm 9v', 'whitespace'],
  ])('refuses %j (%s)', (text) => {
    expect(codeOf(() => fromBase64url(text))).toBe('CODEC_ENCODING');
  });

  it('checks an expected length', () => {
    expect(codeOf(() => fromBase64url('Zm9v', 2))).toBe('CODEC_LENGTH');
  });

  it('has exactly one accepted spelling per byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
        const text = toBase64url(bytes);
        expect(equalBytes(fromBase64url(text), bytes)).toBe(true);
        // Any other string that decodes must decode to other bytes.
        for (let i = 0; i < text.length; i++) {
          for (const c of ['A', 'B', 'Q', 'g', 'w', '-', '_']) {
            const other = text.slice(0, i) + c + text.slice(i + 1);
            if (other === text) continue;
            let decoded: Uint8Array | undefined;
            try {
              decoded = fromBase64url(other);
            } catch {
              decoded = undefined;
            }
            if (decoded !== undefined) expect(equalBytes(decoded, bytes)).toBe(false);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('bytes helpers', () => {
  it('concatenates and compares', () => {
    const joined = concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3));
    expect([...joined]).toEqual([1, 2, 3]);
    expect(equalBytes(joined, Uint8Array.of(1, 2, 3))).toBe(true);
    expect(equalBytes(joined, Uint8Array.of(1, 2))).toBe(false);
    expect(equalBytes(joined, Uint8Array.of(1, 2, 4))).toBe(false);
  });
});
