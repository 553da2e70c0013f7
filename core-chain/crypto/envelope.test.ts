import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ENVELOPE_DOMAIN,
  envelopeSigningInput,
  signEnvelope,
  verifyEnvelope,
  verifyEnvelopeWithKey,
  type KeyResolver,
  type ResolvedKey,
  type SignableEnvelope,
} from './envelope.ts';
import { createSigner, sign, type Signer } from './signature.ts';
import { ALGS, generateKeyPair, keyId, type Alg, type KeyPair } from './keys.ts';
import { canonicalize } from '../codec/jcs.ts';
import { equalBytes, toBase64url } from './hash.ts';
import { LoulanError } from '../errors.ts';

async function errorOf(fn: () => unknown): Promise<LoulanError | undefined> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  return undefined;
}

const KEYS: Record<Alg, KeyPair> = { Ed25519: generateKeyPair('Ed25519'), ES256: generateKeyPair('ES256'), ES256K: generateKeyPair('ES256K') };
const SIGNERS: Record<Alg, Signer> = {
  Ed25519: createSigner('Ed25519', KEYS.Ed25519.privateKey),
  ES256: createSigner('ES256', KEYS.ES256.privateKey),
  ES256K: createSigner('ES256K', KEYS.ES256K.privateKey),
};
const REGISTRY = new Map<string, ResolvedKey>(ALGS.map((alg) => [SIGNERS[alg].kid, { alg, publicKey: KEYS[alg].publicKey }]));
const resolve: KeyResolver = (kid) => REGISTRY.get(kid);

function sample(): Record<string, unknown> {
  return {
    id: '01J9Z5Q3V8M2K7H4D6F0B1C2E3',
    type: 'points.exchange.request',
    source: 'cn.loulan.shop.acme',
    to: 'cn.loulan.partner.airline.evm',
    seq: '42',
    time: '2025-01-02T03:04:05.678Z',
    expiresAt: '2025-01-02T03:09:05.678Z',
    data: { amount: '1500', rate: { num: 3, den: 2 }, memo: 'größe ✓ 😂', flags: [true, false, null], nested: [{ a: 1.5 }, { b: -2e-7 }] },
  };
}

describe('signing input', () => {
  it('is the domain tag followed by the JCS of every field but sig', () => {
    const envelope = { ...sample(), sig: { alg: 'ES256', kid: 'x', value: 'AA' } } as SignableEnvelope;
    const input = new TextDecoder().decode(envelopeSigningInput(envelope));
    expect(ENVELOPE_DOMAIN).toBe('loulan-envelope-v1\n');
    expect(input).toBe(ENVELOPE_DOMAIN + canonicalize(sample()));
  });

  it('does not depend on member order at any depth', () => {
    const a = sample();
    const reversed = Object.fromEntries(Object.entries(a).reverse());
    reversed.data = Object.fromEntries(Object.entries(a.data as object).reverse());
    expect(equalBytes(envelopeSigningInput(a), envelopeSigningInput(reversed))).toBe(true);
  });
});

describe('sign and verify', () => {
  it.each(ALGS)('%s: a signed envelope verifies and resolves to its key', async (alg) => {
    const signed = await signEnvelope(sample(), SIGNERS[alg]);
    expect(signed.sig).toMatchObject({ alg, kid: keyId(alg, KEYS[alg].publicKey) });
    expect(signed.sig.value).toMatch(/^[A-Za-z0-9_-]+$/);
    const key = await verifyEnvelope(signed, resolve);
    expect(key.alg).toBe(alg);
    verifyEnvelopeWithKey(signed, key);
    // The input object is not modified.
    expect('sig' in sample()).toBe(false);
  });

  it('reordering members after signing does not break the signature', async () => {
    const signed = await signEnvelope(sample(), SIGNERS.ES256);
    const shuffled = Object.fromEntries(Object.entries(signed).reverse()) as SignableEnvelope;
    await expect(verifyEnvelope(shuffled, resolve)).resolves.toMatchObject({ alg: 'ES256' });
  });

  it('re-signing replaces an existing sig', async () => {
    const first = await signEnvelope(sample(), SIGNERS.Ed25519);
    const second = await signEnvelope(first, SIGNERS.ES256K);
    expect(second.sig.alg).toBe('ES256K');
    await verifyEnvelope(second, resolve);
  });

  it('accepts an asynchronous signer and resolver', async () => {
    const inner = SIGNERS.Ed25519;
    const remote: Signer = { alg: inner.alg, kid: inner.kid, sign: async (m) => inner.sign(m) };
    const signed = await signEnvelope(sample(), remote);
    await expect(verifyEnvelope(signed, async (kid) => REGISTRY.get(kid))).resolves.toBeDefined();
  });
});

describe('failures say why', () => {
  it('missing or malformed sig', async () => {
    const signed = await signEnvelope(sample(), SIGNERS.ES256);
    const cases: [string, unknown, string, string][] = [
      ['no sig', { ...sample() }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig'],
      ['sig not an object', { ...sample(), sig: 'abc' }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig'],
      ['unknown alg', { ...signed, sig: { ...signed.sig, alg: 'RS256' } }, 'CRYPTO_UNKNOWN_ALG', '/sig/alg'],
      ['empty kid', { ...signed, sig: { ...signed.sig, kid: '' } }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig/kid'],
      ['value not a string', { ...signed, sig: { ...signed.sig, value: 5 } }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig/value'],
      ['value too short', { ...signed, sig: { ...signed.sig, value: signed.sig.value.slice(4) } }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig/value'],
      ['value padded', { ...signed, sig: { ...signed.sig, value: signed.sig.value + '==' } }, 'CRYPTO_MALFORMED_SIGNATURE', '/sig/value'],
    ];
    for (const [name, envelope, code, pointer] of cases) {
      const error = await errorOf(() => verifyEnvelope(envelope as SignableEnvelope, resolve));
      expect(error?.code, name).toBe(code);
      expect(error?.details.pointer, name).toBe(pointer);
      expect(error?.details.id, name).toBe(sample().id);
    }
  });

  it('unknown kid, algorithm mismatch, bad signature', async () => {
    const signed = await signEnvelope(sample(), SIGNERS.ES256);
    expect((await errorOf(() => verifyEnvelope({ ...signed, sig: { ...signed.sig, kid: 'nobody' } }, resolve)))?.code).toBe('CRYPTO_UNKNOWN_KEY');
    // The kid of an ES256 key, but the signature claims Ed25519: algorithm substitution.
    const substituted = { ...signed, sig: { ...signed.sig, alg: 'Ed25519' as const } };
    expect((await errorOf(() => verifyEnvelope(substituted, resolve)))?.code).toBe('CRYPTO_BAD_KEY');
    const tampered = { ...signed, seq: '43' };
    const error = await errorOf(() => verifyEnvelope(tampered, resolve));
    expect(error?.code).toBe('CRYPTO_SIGNATURE_INVALID');
    expect(error?.details).toMatchObject({ id: sample().id, kid: signed.sig.kid, alg: 'ES256' });
  });

  it('a high-S ES256 twin is refused as malformed', async () => {
    const signed = await signEnvelope(sample(), SIGNERS.ES256);
    const sigBytes = Buffer.from(signed.sig.value, 'base64url');
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const s = BigInt('0x' + sigBytes.subarray(32).toString('hex'));
    sigBytes.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32);
    const twin = { ...signed, sig: { ...signed.sig, value: toBase64url(sigBytes) } };
    expect((await errorOf(() => verifyEnvelope(twin, resolve)))?.code).toBe('CRYPTO_MALFORMED_SIGNATURE');
  });

  it('an envelope with no canonical form cannot be signed or verified', async () => {
    await expect(signEnvelope({ ...sample(), data: { amount: 10n } }, SIGNERS.Ed25519)).rejects.toMatchObject({ code: 'CODEC_NOT_CANONICAL' });
    const signed = await signEnvelope(sample(), SIGNERS.Ed25519);
    const error = await errorOf(() => verifyEnvelope({ ...signed, data: { x: Number.NaN } }, resolve));
    expect(error?.code).toBe('CODEC_NOT_CANONICAL');
  });
});

// -- bit flips --------------------------------------------------------------------------------------

type Path = (string | number)[];

/** Paths to every string, number and boolean in the envelope, including inside sig. */
function leaves(value: unknown, path: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...path, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? [path] : [];
}

function flipAt(envelope: unknown, path: Path, bit: number): unknown {
  const copy = structuredClone(envelope) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const value = parent[last];
  if (typeof value === 'boolean') parent[last] = !value;
  else if (typeof value === 'number') {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value);
    view.setUint8(Math.floor((bit % 64) / 8), view.getUint8(Math.floor((bit % 64) / 8)) ^ (1 << (bit % 8)));
    parent[last] = view.getFloat64(0);
  } else if (typeof value === 'string') {
    if (value.length === 0) parent[last] = 'A';
    else {
      const i = Math.floor(bit / 16) % value.length;
      parent[last] = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << (bit % 16))) + value.slice(i + 1);
    }
  }
  return copy;
}

function sameCanonicalForm(a: SignableEnvelope, b: SignableEnvelope): boolean {
  try {
    return canonicalize(a) === canonicalize(b);
  } catch {
    return false;
  }
}

describe('every bit is covered', () => {
  it.each(ALGS)('%s: flipping any bit of any field, nested data or sig fails verification', async (alg) => {
    const signed = (await signEnvelope(sample(), SIGNERS[alg])) as SignableEnvelope;
    const paths = leaves(signed);
    expect(paths.some((p) => p[0] === 'sig' && p[1] === 'value')).toBe(true);
    expect(paths.some((p) => p[0] === 'data' && p.length > 3)).toBe(true);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.nat(1023), async (path, bit) => {
        const mutated = flipAt(signed, path, bit) as SignableEnvelope;
        // -0 and 0 are one JSON number: a flip of the sign bit of 0 changes nothing that is signed.
        if (sameCanonicalForm(mutated, signed)) return;
        const error = await errorOf(() => verifyEnvelope(mutated, resolve));
        expect(error, `${path.join('/')} bit ${bit}`).toBeInstanceOf(LoulanError);
      }),
      { numRuns: alg === 'ES256K' ? 150 : 400 },
    );
  });

  it('ES256K: flipping the recovery id alone fails', async () => {
    const signed = await signEnvelope(sample(), SIGNERS.ES256K);
    const bytes = Buffer.from(signed.sig.value, 'base64url');
    bytes[64] = bytes[64]! ^ 1;
    const error = await errorOf(() => verifyEnvelope({ ...signed, sig: { ...signed.sig, value: toBase64url(bytes) } }, resolve));
    expect(error?.code).toBe('CRYPTO_SIGNATURE_INVALID');
  });

  it('a signature over the same JSON without the domain tag does not verify as an envelope', async () => {
    const unsigned = sample();
    const bare = sign('Ed25519', KEYS.Ed25519.privateKey, new TextEncoder().encode(canonicalize(unsigned)));
    const forged = { ...unsigned, sig: { alg: 'Ed25519' as const, kid: SIGNERS.Ed25519.kid, value: toBase64url(bare) } };
    expect((await errorOf(() => verifyEnvelope(forged, resolve)))?.code).toBe('CRYPTO_SIGNATURE_INVALID');
  });
});
