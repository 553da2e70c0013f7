import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  ethAddress,
  evmSignature,
  recoverableSignatureFrom,
  secp256k1RecoverDigest,
  secp256k1SignDigest,
  secp256k1VerifyDigest,
  toChecksumAddress,
} from './secp256k1.ts';
import { CURVE_ORDER, generateKeyPair, publicKeyFromPrivate } from './keys.ts';
import { fromHex, keccak256, sha256, toHex } from './hash.ts';
import { LoulanError } from '../errors.ts';

function errorOf(fn: () => unknown): LoulanError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  return undefined;
}

const N = CURVE_ORDER.ES256K;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const scalar = (n: bigint): Uint8Array => fromHex(n.toString(16).padStart(64, '0'));

describe('known answers', () => {
  it('private key 1 has the well-known Ethereum address', () => {
    const pub = publicKeyFromPrivate('ES256K', scalar(1n));
    expect(toHex(pub)).toBe('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
    expect(toChecksumAddress(ethAddress(pub))).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
    expect(toChecksumAddress(ethAddress(secp256k1.getPublicKey(scalar(1n), false)))).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  });

  it('private key 2 likewise', () => {
    expect(toChecksumAddress(ethAddress(publicKeyFromPrivate('ES256K', scalar(2n))))).toBe('0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF');
  });

  it.each([
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ])('EIP-55 checksum %s', (address) => {
    expect(toChecksumAddress(fromHex(address.slice(2).toLowerCase()))).toBe(address);
  });

  it('RFC 6979 deterministic signature for key 1 over SHA-256("Satoshi Nakamoto")', () => {
    const sig = secp256k1SignDigest(scalar(1n), sha256(utf8('Satoshi Nakamoto')));
    expect(toHex(sig.subarray(0, 64))).toBe(
      '934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8' + '2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5',
    );
  });
});

describe('sign / recover / verify over digests', () => {
  it('recovers the signer, for random keys and digests', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: N - 1n }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (d, digest) => {
        const priv = scalar(d);
        const pub = publicKeyFromPrivate('ES256K', priv);
        const sig = secp256k1SignDigest(priv, digest);
        expect(sig.length).toBe(65);
        expect(BigInt('0x' + toHex(sig.subarray(32, 64))) <= N >> 1n).toBe(true);
        expect(toHex(secp256k1RecoverDigest(digest, sig))).toBe(toHex(pub));
        expect(secp256k1VerifyDigest(pub, digest, sig)).toBe(true);
        // Same answer as noble's own recovery (recovered format puts v first).
        const nobleForm = new Uint8Array([sig[64]!, ...sig.subarray(0, 64)]);
        expect(toHex(secp256k1.recoverPublicKey(nobleForm, digest, { prehash: false }))).toBe(toHex(pub));
      }),
      { numRuns: 40 },
    );
  });

  it('a wrong digest, key or v does not verify', () => {
    const pair = generateKeyPair('ES256K');
    const digest = sha256(utf8('header'));
    const sig = secp256k1SignDigest(pair.privateKey, digest);
    expect(secp256k1VerifyDigest(pair.publicKey, sha256(utf8('other')), sig)).toBe(false);
    expect(secp256k1VerifyDigest(generateKeyPair('ES256K').publicKey, digest, sig)).toBe(false);
    const otherV = sig.slice();
    otherV[64] = sig[64]! ^ 1;
    expect(secp256k1VerifyDigest(pair.publicKey, digest, otherV)).toBe(false);
    expect(toHex(secp256k1RecoverDigest(digest, otherV))).not.toBe(toHex(pair.publicKey));
  });

  it.each<[string, (sig: Uint8Array) => Uint8Array, string]>([
    ['64 bytes', (s) => s.subarray(0, 64), 'length'],
    ['66 bytes', (s) => new Uint8Array([...s, 0]), 'length'],
    ['v = 2', (s) => withByte(s, 64, 2), 'recovery-id'],
    ['v = 27 (EVM form)', (s) => withByte(s, 64, 27), 'recovery-id'],
    ['r = 0', (s) => recoverableSignatureFrom(0n, 1n, s[64]!), 'r-range'],
    ['s = 0', (s) => recoverableSignatureFrom(1n, 0n, s[64]!), 's-range'],
    ['r = n', (s) => recoverableSignatureFrom(N, 1n, s[64]!), 'r-range'],
    ['s = n', (s) => recoverableSignatureFrom(1n, N, s[64]!), 's-range'],
    ['high S', (s) => recoverableSignatureFrom(BigInt('0x' + toHex(s.subarray(0, 32))), N - BigInt('0x' + toHex(s.subarray(32, 64))), s[64]! ^ 1), 'high-s'],
  ])('%s is CRYPTO_MALFORMED_SIGNATURE for recover and verify', (_name, mutate, reason) => {
    const pair = generateKeyPair('ES256K');
    const digest = sha256(utf8('x'));
    const bad = mutate(secp256k1SignDigest(pair.privateKey, digest));
    for (const fn of [() => secp256k1RecoverDigest(digest, bad), () => secp256k1VerifyDigest(pair.publicKey, digest, bad)]) {
      const error = errorOf(fn);
      expect(error?.code).toBe('CRYPTO_MALFORMED_SIGNATURE');
      expect(error?.details.reason).toBe(reason);
    }
  });

  it('a well-formed signature whose r is no x-coordinate recovers nothing', () => {
    // Find r in range such that r^3 + 7 is not a square mod p.
    for (let r = 1n; ; r++) {
      const sig = recoverableSignatureFrom(r, 1n, 0);
      let recovers = true;
      try {
        secp256k1.recoverPublicKey(new Uint8Array([0, ...sig.subarray(0, 64)]), new Uint8Array(32).fill(1), { prehash: false });
      } catch {
        recovers = false;
      }
      if (recovers) continue;
      expect(errorOf(() => secp256k1RecoverDigest(new Uint8Array(32).fill(1), sig))?.code).toBe('CRYPTO_SIGNATURE_INVALID');
      expect(secp256k1VerifyDigest(generateKeyPair('ES256K').publicKey, new Uint8Array(32).fill(1), sig)).toBe(false);
      return;
    }
  });

  it('digests must be 32 bytes; keys must be valid', () => {
    const pair = generateKeyPair('ES256K');
    expect(errorOf(() => secp256k1SignDigest(pair.privateKey, new Uint8Array(31)))?.code).toBe('CODEC_LENGTH');
    expect(errorOf(() => secp256k1RecoverDigest(new Uint8Array(33), new Uint8Array(65)))?.code).toBe('CODEC_LENGTH');
    expect(errorOf(() => secp256k1SignDigest(new Uint8Array(32), new Uint8Array(32)))?.code).toBe('CRYPTO_BAD_KEY');
    expect(errorOf(() => secp256k1SignDigest(scalar(N), new Uint8Array(32)))?.code).toBe('CRYPTO_BAD_KEY');
    const sig = secp256k1SignDigest(pair.privateKey, new Uint8Array(32));
    expect(errorOf(() => secp256k1VerifyDigest(new Uint8Array(33), new Uint8Array(32), sig))?.code).toBe('CRYPTO_BAD_KEY');
  });
});

describe('EVM form', () => {
  it('ecrecover semantics: keccak of the recovered key is the signer address, v = 27/28', () => {
    const pair = generateKeyPair('ES256K');
    const digest = keccak256(utf8('certificate'));
    const sig = secp256k1SignDigest(pair.privateKey, digest);
    const evm = evmSignature(sig);
    expect(evm[64]).toBe(sig[64]! + 27);
    expect(toHex(evm.subarray(0, 64))).toBe(toHex(sig.subarray(0, 64)));
    // What Solidity's ecrecover(digest, v, r, s) computes.
    const recovered = secp256k1.Signature.fromBytes(evm.subarray(0, 64), 'compact').addRecoveryBit(evm[64]! - 27).recoverPublicKey(digest);
    expect(toHex(ethAddress(recovered.toBytes(true)))).toBe(toHex(ethAddress(pair.publicKey)));
  });

  it('ethAddress refuses non-points', () => {
    expect(errorOf(() => ethAddress(new Uint8Array(33)))?.code).toBe('CRYPTO_BAD_KEY');
    expect(errorOf(() => toChecksumAddress(new Uint8Array(19)))?.code).toBe('CODEC_LENGTH');
  });
});

function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const out = bytes.slice();
  out[index] = value;
  return out;
}
