import { readFileSync } from 'node:fs';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  ALGS,
  assertAlg,
  assertPublicKey,
  CURVE_ORDER,
  generateKeyPair,
  keyId,
  privateKeyFromJwk,
  privateKeyFromPem,
  privateKeyToJwk,
  privateKeyToPem,
  publicKeyFromJwk,
  publicKeyFromPem,
  publicKeyFromPrivate,
  publicKeyToJwk,
  publicKeyToPem,
  type Alg,
} from './keys.ts';
import { equalBytes, fromBase64url, fromHex, toBase64url, toHex } from './hash.ts';
import { LoulanError } from '../errors.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error.code;
    throw error;
  }
  return 'none';
}

const RFC8032 = JSON.parse(readFileSync(new URL('../../test/vectors/signatures/rfc8032-ed25519.json', import.meta.url), 'utf8')) as {
  vectors: { name: string; secretKey: string; publicKey: string }[];
};
const WYCHEPROOF = JSON.parse(readFileSync(new URL('../../test/vectors/signatures/wycheproof-ecdsa-subset.json', import.meta.url), 'utf8')) as {
  groups: { alg: Alg; publicKeyUncompressed: string; publicKeyPem: string }[];
};

/** A raw private key for `alg` from 32 random bytes (reduced into 1..n-1 for EC). */
function privateKeyFrom(alg: Alg, seed: Uint8Array): Uint8Array {
  if (alg === 'Ed25519') return seed;
  const n = CURVE_ORDER[alg];
  const d = (BigInt('0x' + toHex(seed)) % (n - 1n)) + 1n;
  return fromHex(d.toString(16).padStart(64, '0'));
}

describe('algorithms', () => {
  it('knows exactly the three JOSE names', () => {
    expect(ALGS).toEqual(['Ed25519', 'ES256', 'ES256K']);
    expect(assertAlg('ES256K')).toBe('ES256K');
    for (const bad of ['EdDSA', 'es256', 'RS256', 'ES384', '', undefined, 1]) expect(codeOf(() => assertAlg(bad))).toBe('CRYPTO_UNKNOWN_ALG');
  });
});

describe('raw keys', () => {
  it.each(ALGS)('%s: generated keys have the documented sizes and match', (alg) => {
    const pair = generateKeyPair(alg);
    expect(pair.privateKey.length).toBe(32);
    expect(pair.publicKey.length).toBe(alg === 'Ed25519' ? 32 : 33);
    if (alg !== 'Ed25519') expect([2, 3]).toContain(pair.publicKey[0]);
    expect(equalBytes(publicKeyFromPrivate(alg, pair.privateKey), pair.publicKey)).toBe(true);
  });

  it('derives RFC 8032 public keys from seeds', () => {
    for (const v of RFC8032.vectors) expect(toHex(publicKeyFromPrivate('Ed25519', fromHex(v.secretKey))), v.name).toBe(v.publicKey);
  });

  it('derives the same EC public keys as @noble/curves', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const d256 = privateKeyFrom('ES256', seed);
        const dk = privateKeyFrom('ES256K', seed);
        expect(toHex(publicKeyFromPrivate('ES256', d256))).toBe(toHex(p256.getPublicKey(d256, true)));
        expect(toHex(publicKeyFromPrivate('ES256K', dk))).toBe(toHex(secp256k1.getPublicKey(dk, true)));
      }),
      { numRuns: 50 },
    );
  });

  it.each<[Alg, Uint8Array, string]>([
    ['ES256', new Uint8Array(32), 'zero scalar'],
    ['ES256K', new Uint8Array(32), 'zero scalar'],
    ['ES256', fromHex(CURVE_ORDER.ES256.toString(16)), 'n'],
    ['ES256K', fromHex(CURVE_ORDER.ES256K.toString(16)), 'n'],
    ['ES256K', new Uint8Array(32).fill(0xff), '2^256 - 1'],
    ['Ed25519', new Uint8Array(31), '31 bytes'],
    ['ES256', new Uint8Array(33).fill(1), '33 bytes'],
  ])('%s private key %s (%s) is CRYPTO_BAD_KEY', (alg, key) => {
    expect(codeOf(() => publicKeyFromPrivate(alg, key))).toBe('CRYPTO_BAD_KEY');
  });

  it('refuses malformed public keys', () => {
    const ec = generateKeyPair('ES256').publicKey;
    const uncompressed = p256.Point.fromBytes(ec).toBytes(false);
    expect(codeOf(() => assertPublicKey('ES256', uncompressed))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => assertPublicKey('ES256', ec.subarray(1)))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => assertPublicKey('Ed25519', new Uint8Array(33)))).toBe('CRYPTO_BAD_KEY');
    const wrongPrefix = ec.slice();
    wrongPrefix[0] = 0x04;
    expect(codeOf(() => assertPublicKey('ES256', wrongPrefix))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => assertPublicKey('ES256', 'abc' as unknown as Uint8Array))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => assertPublicKey('RS256' as Alg, ec))).toBe('CRYPTO_UNKNOWN_ALG');
  });

  it.each(['ES256', 'ES256K'] as const)('%s: an x with no point on the curve is CRYPTO_BAD_KEY', (alg) => {
    const curve = alg === 'ES256' ? p256 : secp256k1;
    for (let x = 1; ; x++) {
      const candidate = new Uint8Array(33);
      candidate[0] = 2;
      candidate[32] = x;
      let onCurve = true;
      try {
        curve.Point.fromBytes(candidate);
      } catch {
        onCurve = false;
      }
      if (!onCurve) {
        expect(codeOf(() => assertPublicKey(alg, candidate))).toBe('CRYPTO_BAD_KEY');
        return;
      }
      expect(codeOf(() => assertPublicKey(alg, candidate))).toBe('none');
    }
  });
});

describe('PEM', () => {
  it.each(ALGS)('%s: PKCS#8 and SPKI round-trip', (alg) => {
    const pair = generateKeyPair(alg);
    const pem = privateKeyToPem(alg, pair.privateKey);
    expect(pem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    const back = privateKeyFromPem(pem, alg);
    expect(back.alg).toBe(alg);
    expect(equalBytes(back.privateKey, pair.privateKey)).toBe(true);
    expect(equalBytes(back.publicKey, pair.publicKey)).toBe(true);
    const spki = publicKeyToPem(alg, pair.publicKey);
    expect(spki.startsWith('-----BEGIN PUBLIC KEY-----\n')).toBe(true);
    expect(publicKeyFromPem(spki)).toEqual({ alg, publicKey: pair.publicKey });
  });

  it('reads OpenSSL-generated keys and tells the algorithm from the key', () => {
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(privateKeyFromPem(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).alg).toBe('Ed25519');
    expect(publicKeyFromPem(ec.publicKey.export({ type: 'spki', format: 'pem' }) as string).alg).toBe('ES256K');
  });

  it('reads the Wycheproof public keys', () => {
    for (const g of WYCHEPROOF.groups) {
      const { alg, publicKey } = publicKeyFromPem(g.publicKeyPem);
      expect(alg).toBe(g.alg);
      const curve = alg === 'ES256' ? p256 : secp256k1;
      expect(toHex(curve.Point.fromBytes(publicKey).toBytes(false))).toBe(g.publicKeyUncompressed);
    }
  });

  it('refuses a key of another algorithm when one is expected (P-256 as ES256K and vice versa)', () => {
    const p = generateKeyPair('ES256');
    const k = generateKeyPair('ES256K');
    expect(codeOf(() => privateKeyFromPem(privateKeyToPem('ES256', p.privateKey), 'ES256K'))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => publicKeyFromPem(publicKeyToPem('ES256K', k.publicKey), 'ES256'))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => publicKeyFromPem(publicKeyToPem('Ed25519', generateKeyPair('Ed25519').publicKey), 'ES256'))).toBe('CRYPTO_BAD_KEY');
  });

  it('refuses other curves and key types', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const x25519 = generateKeyPairSync('x25519');
    for (const key of [p384, rsa, x25519]) {
      expect(codeOf(() => privateKeyFromPem(key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string))).toBe('CRYPTO_BAD_KEY');
      expect(codeOf(() => publicKeyFromPem(key.publicKey.export({ type: 'spki', format: 'pem' }) as string))).toBe('CRYPTO_BAD_KEY');
    }
  });

  it('refuses truncated, corrupted and mislabelled PEM', () => {
    const pair = generateKeyPair('ES256');
    const pem = privateKeyToPem('ES256', pair.privateKey);
    const spki = publicKeyToPem('ES256', pair.publicKey);
    const lines = pem.trim().split('\n');
    const body = lines.slice(1, -1).join('');
    const rewrap = (b64: string, label: string): string =>
      `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
    const cases = [
      ['truncated DER', rewrap(body.slice(0, body.length - 8), 'PRIVATE KEY')],
      ['DER with a flipped length byte', rewrap(Buffer.from(Buffer.from(body, 'base64').map((b, i) => (i === 1 ? b ^ 0x40 : b))).toString('base64'), 'PRIVATE KEY')],
      ['not base64', rewrap('!!!!' + body.slice(4), 'PRIVATE KEY')],
      ['empty body', '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n'],
      ['public key where a private key is expected', spki],
      ['SEC1 label', pem.replaceAll('PRIVATE KEY', 'EC PRIVATE KEY')],
      ['garbage', 'hello'],
    ] as const;
    for (const [name, text] of cases) expect(codeOf(() => privateKeyFromPem(text)), name).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => publicKeyFromPem(pem)), 'private key where a public key is expected').toBe('CRYPTO_BAD_KEY');
    const spkiBody = spki.trim().split('\n').slice(1, -1).join('');
    expect(codeOf(() => publicKeyFromPem(rewrap(spkiBody.slice(0, 40), 'PUBLIC KEY')))).toBe('CRYPTO_BAD_KEY');
  });

  it('refuses a PKCS#8 EC key whose scalar is zero', () => {
    // PKCS#8 for P-256 with d = 0 (OpenSSL parses it; we must not accept it).
    const der = Buffer.from(
      '3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420' + '00'.repeat(32),
      'hex',
    );
    let pem: string;
    try {
      pem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
    } catch {
      return; // this OpenSSL refuses it already
    }
    expect(codeOf(() => privateKeyFromPem(pem))).toBe('CRYPTO_BAD_KEY');
  });
});

describe('JWK', () => {
  it('matches RFC 8037 Appendix A (Ed25519 JWK and its RFC 7638 thumbprint)', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const pub = publicKeyFromPrivate('Ed25519', seed);
    const jwk = privateKeyToJwk('Ed25519', seed);
    expect(jwk).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
      x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
    });
    expect(keyId('Ed25519', pub)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    expect(jwk.kid).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('writes EC coordinates that match the Wycheproof keys', () => {
    for (const g of WYCHEPROOF.groups) {
      const { publicKey } = publicKeyFromPem(g.publicKeyPem);
      const jwk = publicKeyToJwk(g.alg, publicKey);
      expect(jwk.crv).toBe(g.alg === 'ES256' ? 'P-256' : 'secp256k1');
      expect(toHex(fromBase64url(jwk.x)) + toHex(fromBase64url(jwk.y!))).toBe(g.publicKeyUncompressed.slice(2));
    }
  });

  it('refuses JWKs that do not describe a key of the expected algorithm', () => {
    const p = generateKeyPair('ES256');
    const jwk = publicKeyToJwk('ES256', p.publicKey);
    const priv = privateKeyToJwk('ES256', p.privateKey);
    const other = generateKeyPair('ES256');
    const yFlipped = toBase64url(fromBase64url(jwk.y!).map((b, i) => (i === 31 ? b ^ 1 : b)));
    const cases: [string, unknown, Alg | undefined][] = [
      ['P-256 as ES256K', jwk, 'ES256K'],
      ['alg member disagrees with crv', { ...jwk, alg: 'ES256K' }, undefined],
      ['crv secp256k1 with P-256 coordinates', { ...jwk, crv: 'secp256k1', alg: undefined }, undefined],
      ['point not on the curve', { ...jwk, y: yFlipped }, undefined],
      ['short coordinate', { ...jwk, x: jwk.x.slice(0, 40) }, undefined],
      ['padded coordinate', { ...jwk, x: jwk.x + '=' }, undefined],
      ['missing y', { kty: 'EC', crv: 'P-256', x: jwk.x }, undefined],
      ['unknown curve', { ...jwk, crv: 'P-384' }, undefined],
      ['RSA', { kty: 'RSA', n: 'AQAB', e: 'AQAB' }, undefined],
      ['not an object', 'jwk', undefined],
      ['null', null, undefined],
    ];
    for (const [name, value, expected] of cases) expect(codeOf(() => publicKeyFromJwk(value, expected)), name).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => privateKeyFromJwk({ ...priv, x: publicKeyToJwk('ES256', other.publicKey).x, y: publicKeyToJwk('ES256', other.publicKey).y }))).toBe(
      'CRYPTO_BAD_KEY',
    );
    expect(codeOf(() => privateKeyFromJwk({ ...priv, d: undefined }))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => publicKeyFromJwk({ ...jwk, alg: 'ES512' }))).toBe('CRYPTO_BAD_KEY');
  });

  it('accepts alg EdDSA (RFC 8037) for Ed25519', () => {
    const p = generateKeyPair('Ed25519');
    expect(publicKeyFromJwk({ ...publicKeyToJwk('Ed25519', p.publicKey), alg: 'EdDSA' }).alg).toBe('Ed25519');
  });
});

describe('round-trips raw <-> PEM <-> JWK for random keys', () => {
  it.each(ALGS)('%s', (alg) => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const privateKey = privateKeyFrom(alg, seed);
        const publicKey = publicKeyFromPrivate(alg, privateKey);
        const viaPem = privateKeyFromPem(privateKeyToPem(alg, privateKey), alg);
        const viaJwk = privateKeyFromJwk(privateKeyToJwk(alg, viaPem.privateKey), alg);
        expect(toHex(viaJwk.privateKey)).toBe(toHex(privateKey));
        expect(toHex(viaJwk.publicKey)).toBe(toHex(publicKey));
        const pubViaJwk = publicKeyFromJwk(publicKeyToJwk(alg, publicKey), alg).publicKey;
        const pubViaPem = publicKeyFromPem(publicKeyToPem(alg, pubViaJwk), alg).publicKey;
        expect(toHex(pubViaPem)).toBe(toHex(publicKey));
        // A key id is a function of the public key only, however it arrived.
        expect(publicKeyToJwk(alg, pubViaPem).kid).toBe(keyId(alg, publicKey));
      }),
      { numRuns: 40 },
    );
  });

  it('keys with leading zero bytes survive (fixed-width encodings)', () => {
    for (const alg of ['ES256', 'ES256K'] as const) {
      const privateKey = new Uint8Array(32);
      privateKey[31] = 7;
      const back = privateKeyFromJwk(privateKeyToJwk(alg, privateKey), alg);
      expect(toHex(back.privateKey)).toBe(toHex(privateKey));
      expect(toHex(privateKeyFromPem(privateKeyToPem(alg, privateKey)).privateKey)).toBe(toHex(privateKey));
    }
  });
});

describe('key ids', () => {
  it('separate curves: the same 33 bytes on P-256 and secp256k1 get different ids', () => {
    // Find bytes that are a valid compressed point on both curves.
    for (let x = 1; ; x++) {
      const bytes = new Uint8Array(33);
      bytes[0] = 2;
      bytes[32] = x;
      try {
        p256.Point.fromBytes(bytes);
        secp256k1.Point.fromBytes(bytes);
      } catch {
        continue;
      }
      expect(keyId('ES256', bytes)).not.toBe(keyId('ES256K', bytes));
      expect(keyId('ES256', bytes)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      return;
    }
  });
});

describe('Ed25519 public key hygiene', () => {
  it('refuses small-order points and non-canonical encodings', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1; // (0, 1), the neutral element
    const nonCanonicalY = new Uint8Array(32).fill(0xff);
    nonCanonicalY[31] = 0x7f; // y = 2^255 - 1 >= p
    const order2 = fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // (0, -1)
    for (const key of [identity, nonCanonicalY, order2]) expect(codeOf(() => assertPublicKey('Ed25519', key))).toBe('CRYPTO_BAD_KEY');
    expect(codeOf(() => assertPublicKey('Ed25519', generateKeyPair('Ed25519').publicKey))).toBe('none');
  });
});
