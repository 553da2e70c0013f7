import { readFileSync } from 'node:fs';
import { verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { checkSignatureFormat, createSigner, SIGNATURE_LENGTH, sign, verify, verifyOrThrow } from './signature.ts';
import { ALGS, CURVE_ORDER, generateKeyPair, keyId, publicKeyFromPem, publicKeyObject, type Alg } from './keys.ts';
import { fromHex, sha256, toHex } from './hash.ts';
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
const codeOf = (fn: () => unknown): string => errorOf(fn)?.code ?? 'none';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex32 = (n: bigint): string => n.toString(16).padStart(64, '0');

const RFC8032 = JSON.parse(readFileSync(new URL('../../test/vectors/signatures/rfc8032-ed25519.json', import.meta.url), 'utf8')) as {
  vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
};
const WYCHEPROOF = JSON.parse(readFileSync(new URL('../../test/vectors/signatures/wycheproof-ecdsa-subset.json', import.meta.url), 'utf8')) as {
  groups: { alg: 'ES256' | 'ES256K'; publicKeyPem: string; tests: { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' }[] }[];
};

/** A verification outcome: true, false, or the code it threw. */
function outcome(fn: () => boolean): boolean | string {
  try {
    return fn();
  } catch (error) {
    if (error instanceof LoulanError) return error.code;
    throw error;
  }
}

describe('Ed25519: RFC 8032 §7.1', () => {
  it.each(RFC8032.vectors)('$name: signature is byte-exact and verifies', ({ secretKey, publicKey, message, signature }) => {
    const msg = fromHex(message);
    expect(toHex(sign('Ed25519', fromHex(secretKey), msg))).toBe(signature);
    expect(verify('Ed25519', fromHex(publicKey), msg, fromHex(signature))).toBe(true);
    const flipped = fromHex(signature);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(verify('Ed25519', fromHex(publicKey), msg, flipped)).toBe(false);
    expect(verify('Ed25519', fromHex(publicKey), utf8('other'), fromHex(signature))).toBe(false);
  });

  it('the 1023-byte message of TEST 1024 was transcribed exactly', () => {
    expect(fromHex(RFC8032.vectors[3]!.message).length).toBe(1023);
  });

  it('rejects a non-canonical S (S + L) as not verifying', () => {
    const v = RFC8032.vectors[0]!;
    const sig = fromHex(v.signature);
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const sPlusL = s + L;
    for (let i = 0; i < 32; i++) sig[32 + i] = Number((sPlusL >> BigInt(8 * i)) & 0xffn);
    expect(verify('Ed25519', fromHex(v.publicKey), new Uint8Array(0), sig)).toBe(false);
  });

  it.each([0, 63, 65, 128])('a %i-byte signature is CRYPTO_MALFORMED_SIGNATURE', (length) => {
    const pair = generateKeyPair('Ed25519');
    expect(codeOf(() => verify('Ed25519', pair.publicKey, utf8('m'), new Uint8Array(length)))).toBe('CRYPTO_MALFORMED_SIGNATURE');
  });
});

describe('all algorithms', () => {
  it.each(ALGS)('%s: sign then verify; other message, other key, flipped bit fail', (alg) => {
    const pair = generateKeyPair(alg);
    const other = generateKeyPair(alg);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (message, bit) => {
        const sig = sign(alg, pair.privateKey, message);
        expect(sig.length).toBe(SIGNATURE_LENGTH[alg]);
        expect(verify(alg, pair.publicKey, message, sig)).toBe(true);
        expect(verify(alg, other.publicKey, message, sig)).toBe(false);
        const otherMessage = new Uint8Array([...message, 0]);
        expect(verify(alg, pair.publicKey, otherMessage, sig)).toBe(false);
        // Every bit of the signature matters: either malformed or not verifying.
        const flipped = sig.slice();
        const at = bit % (sig.length * 8);
        flipped[at >> 3] = (flipped[at >> 3] as number) ^ (1 << (at & 7));
        expect(outcome(() => verify(alg, pair.publicKey, message, flipped))).not.toBe(true);
      }),
      { numRuns: alg === 'ES256K' ? 30 : 100 },
    );
  });

  it.each(ALGS)('%s: createSigner signs under the key id of its public key', async (alg) => {
    const pair = generateKeyPair(alg);
    const signer = createSigner(alg, pair.privateKey);
    expect(signer.alg).toBe(alg);
    expect(signer.kid).toBe(keyId(alg, pair.publicKey));
    const sig = await signer.sign(utf8('hello'));
    expect(verify(alg, pair.publicKey, utf8('hello'), sig)).toBe(true);
    expect(createSigner(alg, pair.privateKey, { kid: 'k1' }).kid).toBe('k1');
    expect(Object.isFrozen(signer)).toBe(true);
  });

  it('verifyOrThrow throws CRYPTO_SIGNATURE_INVALID for a valid-looking wrong signature', () => {
    const pair = generateKeyPair('ES256');
    const sig = sign('ES256', pair.privateKey, utf8('a'));
    expect(() => verifyOrThrow('ES256', pair.publicKey, utf8('a'), sig)).not.toThrow();
    const error = errorOf(() => verifyOrThrow('ES256', pair.publicKey, utf8('b'), sig));
    expect(error?.code).toBe('CRYPTO_SIGNATURE_INVALID');
    expect(error?.status).toBe(401);
  });

  it('unknown algorithms are CRYPTO_UNKNOWN_ALG', () => {
    const pair = generateKeyPair('ES256');
    expect(codeOf(() => sign('RS256' as Alg, pair.privateKey, utf8('a')))).toBe('CRYPTO_UNKNOWN_ALG');
    expect(codeOf(() => verify('ES512' as Alg, pair.publicKey, utf8('a'), new Uint8Array(64)))).toBe('CRYPTO_UNKNOWN_ALG');
  });

  it('a key of the wrong algorithm is refused or fails, never verifies', () => {
    const p = generateKeyPair('ES256');
    const sig = sign('ES256', p.privateKey, utf8('m'));
    // The P-256 key bytes read as secp256k1: either not a point there, or a different key.
    const asK = outcome(() => verify('ES256K', p.publicKey, utf8('m'), new Uint8Array([...sig, 0])));
    expect(asK === false || asK === 'CRYPTO_BAD_KEY').toBe(true);
    expect(codeOf(() => verify('Ed25519', p.publicKey, utf8('m'), sig))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => sign('ES256K', p.privateKey.subarray(1), utf8('m')))).toBe('CRYPTO_BAD_KEY');
  });
});

describe('ECDSA low-S policy', () => {
  it('ES256 signatures are always low-S and verify in OpenSSL and noble', () => {
    const pair = generateKeyPair('ES256');
    const half = CURVE_ORDER.ES256 >> 1n;
    for (let i = 0; i < 200; i++) {
      const msg = utf8(`message ${i}`);
      const sig = sign('ES256', pair.privateKey, msg);
      expect(BigInt('0x' + toHex(sig.subarray(32))) <= half).toBe(true);
      expect(p256.verify(sig, msg, pair.publicKey, { lowS: true })).toBe(true);
      expect(nodeVerify('sha256', msg, { key: publicKeyObject('ES256', pair.publicKey), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    }
  });

  it.each(['ES256', 'ES256K'] as const)('%s: the high-S twin of a valid signature is malformed, not merely invalid', (alg) => {
    const pair = generateKeyPair(alg);
    const msg = utf8('pay 10 to bob');
    const sig = sign(alg, pair.privateKey, msg);
    const n = CURVE_ORDER[alg];
    const s = BigInt('0x' + toHex(sig.subarray(32, 64)));
    const twin = sig.slice();
    twin.set(fromHex(hex32(n - s)), 32);
    if (alg === 'ES256K') twin[64] = (twin[64] as number) ^ 1; // the twin's R has the other parity
    // The twin is a mathematically valid ECDSA signature...
    const curve = alg === 'ES256' ? p256 : secp256k1;
    expect(curve.verify(twin.subarray(0, 64), msg, pair.publicKey, { lowS: false })).toBe(true);
    // ...that we refuse by policy.
    const error = errorOf(() => verify(alg, pair.publicKey, msg, twin));
    expect(error?.code).toBe('CRYPTO_MALFORMED_SIGNATURE');
    expect(error?.details.reason).toBe('high-s');
  });

  it.each<['ES256' | 'ES256K', string, (n: bigint) => [bigint, bigint]]>([
    ['ES256', 'r = 0', () => [0n, 1n]],
    ['ES256', 's = 0', () => [1n, 0n]],
    ['ES256', 'r = n', (n) => [n, 1n]],
    ['ES256', 's = n', (n) => [1n, n]],
    ['ES256', 'r = 2^256 - 1', () => [(1n << 256n) - 1n, 1n]],
    ['ES256', 's = n/2 + 1', (n) => [1n, (n >> 1n) + 1n]],
    ['ES256K', 'r = 0', () => [0n, 1n]],
    ['ES256K', 's = 0', () => [1n, 0n]],
    ['ES256K', 'r = n', (n) => [n, 1n]],
    ['ES256K', 's = n', (n) => [1n, n]],
    ['ES256K', 's = n/2 + 1', (n) => [1n, (n >> 1n) + 1n]],
  ])('%s %s is CRYPTO_MALFORMED_SIGNATURE', (alg, _name, make) => {
    const [r, s] = make(CURVE_ORDER[alg]);
    const sig = fromHex(hex32(r) + hex32(s) + (alg === 'ES256K' ? '00' : ''));
    const pair = generateKeyPair(alg);
    expect(codeOf(() => verify(alg, pair.publicKey, utf8('m'), sig))).toBe('CRYPTO_MALFORMED_SIGNATURE');
    expect(codeOf(() => checkSignatureFormat(alg, sig))).toBe('CRYPTO_MALFORMED_SIGNATURE');
  });

  it('s = n/2 exactly is the largest accepted s (well-formed, does not verify)', () => {
    for (const alg of ['ES256', 'ES256K'] as const) {
      const sig = fromHex(hex32(1n) + hex32(CURVE_ORDER[alg] >> 1n) + (alg === 'ES256K' ? '00' : ''));
      expect(outcome(() => verify(alg, generateKeyPair(alg).publicKey, utf8('m'), sig))).toBe(false);
    }
  });

  it.each<[Alg, number]>([
    ['ES256', 63],
    ['ES256', 65],
    ['ES256K', 64],
    ['ES256K', 66],
  ])('%s: a %i-byte signature is CRYPTO_MALFORMED_SIGNATURE', (alg, length) => {
    const pair = generateKeyPair(alg);
    const sig = new Uint8Array(length).fill(1);
    expect(codeOf(() => verify(alg, pair.publicKey, utf8('m'), sig))).toBe('CRYPTO_MALFORMED_SIGNATURE');
  });
});

describe('ES256K recovery id', () => {
  it('v is authenticated: the other v does not verify, v outside {0,1} is malformed', () => {
    const pair = generateKeyPair('ES256K');
    for (let i = 0; i < 20; i++) {
      const msg = utf8(`vote ${i}`);
      const sig = sign('ES256K', pair.privateKey, msg);
      expect([0, 1]).toContain(sig[64]);
      const other = sig.slice();
      other[64] = (sig[64] as number) ^ 1;
      expect(verify('ES256K', pair.publicKey, msg, other)).toBe(false);
      for (const v of [2, 3, 27, 28, 255]) {
        const bad = sig.slice();
        bad[64] = v;
        expect(errorOf(() => verify('ES256K', pair.publicKey, msg, bad))?.details.reason).toBe('recovery-id');
      }
    }
  });

  it('r || s of an ES256K signature verifies in OpenSSL and noble over SHA-256(message)', () => {
    const pair = generateKeyPair('ES256K');
    const msg = utf8('interop');
    const sig = sign('ES256K', pair.privateKey, msg);
    expect(nodeVerify('sha256', msg, { key: publicKeyObject('ES256K', pair.publicKey), dsaEncoding: 'ieee-p1363' }, sig.subarray(0, 64))).toBe(true);
    expect(secp256k1.verify(sig.subarray(0, 64), sha256(msg), pair.publicKey, { prehash: false })).toBe(true);
  });
});

describe('Wycheproof ECDSA (P1363) subset', () => {
  for (const group of WYCHEPROOF.groups) {
    const { publicKey } = publicKeyFromPem(group.publicKeyPem, group.alg);
    const n = CURVE_ORDER[group.alg];
    it.each(group.tests)(`${group.alg} tcId $tcId: $comment`, ({ msg, sig, result }) => {
      const message = fromHex(msg);
      const bytes = fromHex(sig);
      if (group.alg === 'ES256') {
        const got = outcome(() => verify('ES256', publicKey, message, bytes));
        if (result === 'invalid') expect(got).not.toBe(true);
        else if (BigInt('0x' + sig.slice(64)) > n >> 1n) expect(got).toBe('CRYPTO_MALFORMED_SIGNATURE');
        else expect(got).toBe(true);
        return;
      }
      // ES256K signatures carry v; a Wycheproof (r, s) is accepted iff exactly one v verifies
      // after normalising s to the low half (the high-S form itself is refused).
      const outcomes = [0, 1].map((v) => outcome(() => verify('ES256K', publicKey, message, new Uint8Array([...bytes, v]))));
      if (result === 'invalid') {
        expect(outcomes).not.toContain(true);
        return;
      }
      const s = BigInt('0x' + sig.slice(64));
      if (s > n >> 1n) {
        expect(outcomes).toEqual(['CRYPTO_MALFORMED_SIGNATURE', 'CRYPTO_MALFORMED_SIGNATURE']);
        const low = fromHex(sig.slice(0, 64) + hex32(n - s));
        const normalised = [0, 1].map((v) => verify('ES256K', publicKey, message, new Uint8Array([...low, v])));
        expect(normalised.filter(Boolean).length).toBe(1);
      } else {
        expect(outcomes.filter((o) => o === true).length).toBe(1);
      }
    });
  }
});
