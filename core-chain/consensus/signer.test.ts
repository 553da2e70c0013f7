import { describe, expect, test } from 'vitest';
import { generateKeyPair, sha256, secp256k1RecoverDigest } from '../crypto/index.ts';
import { commitSigningBytes, signingBytes, type ChainBinding } from './messages.ts';
import { validatorCrypto } from './signer.ts';

const chain: ChainBinding = { chainId: sha256(new TextEncoder().encode('signer')), validatorSetHash: sha256(new TextEncoder().encode('set')) };
const keys = Array.from({ length: 2 }, () => generateKeyPair('ES256K'));
const publicKeys = keys.map((k) => k.publicKey);
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function withS(sig: Uint8Array, s: bigint): Uint8Array {
  const out = sig.slice();
  for (let i = 63; i >= 32; i--, s >>= 8n) out[i] = Number(s & 0xffn);
  return out;
}
const sOf = (sig: Uint8Array) => sig.subarray(32, 64).reduce((a, b) => (a << 8n) | BigInt(b), 0n);

describe('validator signatures', () => {
  const zero = validatorCrypto(publicKeys, keys[0]!.privateKey);
  const anyone = validatorCrypto(publicKeys, null);

  test('commit votes recover to the signer (what ecrecover checks), and a wrong recovery id fails', () => {
    const bytes = commitSigningBytes(chain, 7n, 1n, sha256(new Uint8Array([1])));
    const sig = zero.sign(bytes);
    expect(secp256k1RecoverDigest(sha256(bytes), sig)).toEqual(publicKeys[0]);
    expect(anyone.verify(0, bytes, sig)).toBe(true);
    expect(anyone.verify(1, bytes, sig)).toBe(false);
    const flipped = sig.slice();
    flipped[64] = flipped[64]! ^ 1;
    expect(anyone.verify(0, bytes, flipped)).toBe(false);
  });

  test('other messages: r || low s || 0 under the sender key; high s, v != 0, another key or other bytes fail', () => {
    const bytes = signingBytes(chain, { kind: 'prepare', view: 0n, height: 3n, digest: sha256(new Uint8Array([2])) });
    for (let i = 0; i < 20; i++) {
      const sig = zero.sign(bytes);
      expect(sig.length).toBe(65);
      expect(sig[64]).toBe(0);
      expect(sOf(sig) <= N >> 1n).toBe(true);
      expect(anyone.verify(0, bytes, sig)).toBe(true);
      expect(anyone.verify(1, bytes, sig)).toBe(false);
      expect(anyone.verify(0, bytes, withS(sig, N - sOf(sig)))).toBe(false);
      const v1 = sig.slice();
      v1[64] = 1;
      expect(anyone.verify(0, bytes, v1)).toBe(false);
      const other = signingBytes(chain, { kind: 'prepare', view: 0n, height: 4n, digest: sha256(new Uint8Array([2])) });
      expect(anyone.verify(0, other, sig)).toBe(false);
    }
    expect(anyone.verify(0, bytes, new Uint8Array(64))).toBe(false);
    expect(anyone.verify(5, bytes, zero.sign(bytes))).toBe(false);
    expect(() => anyone.sign(bytes)).toThrow();
  });
});
