/**
 * Signing and verifying message envelopes (DESIGN §3).
 *
 * Signed bytes = ENVELOPE_DOMAIN || JCS(envelope without `sig`), where ENVELOPE_DOMAIN is the ASCII
 * text `loulan-envelope-v1` followed by a newline. `sig = { alg, kid, value }`, `value` the base64url
 * signature.
 *
 * - Every field except `sig` is covered, including fields this module does not know about: the
 *   envelope shape belongs to schemas/, and a field added there is signed without a change here.
 * - The domain tag keeps an envelope signature from being valid for anything else the same key signs
 *   as JSON (webhook bodies, operator requests), and names the version of this rule. A verifier that
 *   reimplements the check prepends the same 19 bytes to the RFC 8785 output.
 * - `alg` and `kid` sit outside the signed bytes, so they are not trusted: `kid` only selects a
 *   candidate key, and the key's registered algorithm must equal `sig.alg` (`CRYPTO_BAD_KEY`
 *   otherwise), which rules out algorithm substitution.
 *
 * Verification throws on every failure, with a code saying why (and the envelope `id` in details):
 * `CRYPTO_MALFORMED_SIGNATURE` (missing or ill-formed `sig`), `CRYPTO_UNKNOWN_ALG`,
 * `CRYPTO_UNKNOWN_KEY` (resolver knows no such kid), `CRYPTO_BAD_KEY` (algorithm mismatch),
 * `CRYPTO_SIGNATURE_INVALID` (does not verify), `CODEC_NOT_CANONICAL` (no canonical form).
 */
import { LoulanError, isLoulanError } from '../errors.ts';
import { canonicalize } from '../codec/jcs.ts';
import { fromBase64url, toBase64url } from './hash.ts';
import { isAlg, type Alg } from './keys.ts';
import { SIGNATURE_LENGTH, verify, type Signer } from './signature.ts';

export const ENVELOPE_DOMAIN = 'loulan-envelope-v1\n';

export interface EnvelopeSignature {
  readonly alg: Alg;
  readonly kid: string;
  /** base64url (no padding) signature bytes. */
  readonly value: string;
}

/** Any JSON object; `sig`, when present, is the signature. The envelope schema lives in schemas/. */
export interface SignableEnvelope {
  readonly sig?: EnvelopeSignature | undefined;
  readonly [field: string]: unknown;
}

/** A public key as a registry returns it. */
export interface ResolvedKey {
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
}

/** Finds the key registered under `kid`, or `undefined`. May be asynchronous (a store lookup). */
export type KeyResolver = (kid: string, alg: Alg) => ResolvedKey | undefined | Promise<ResolvedKey | undefined>;

const encoder = new TextEncoder();

/** The exact bytes an envelope signature covers. */
export function envelopeSigningInput(envelope: SignableEnvelope): Uint8Array {
  const { sig: _sig, ...unsigned } = envelope;
  return encoder.encode(ENVELOPE_DOMAIN + canonicalize(unsigned));
}

/**
 * Returns a copy of `envelope` with `sig` set by `signer` (any existing `sig` is replaced).
 *
 * @example const signed = await signEnvelope({ id, type, source, to, seq, time, data }, signer);
 */
export async function signEnvelope<T extends SignableEnvelope>(
  envelope: T,
  signer: Signer,
): Promise<Omit<T, 'sig'> & { readonly sig: EnvelopeSignature }> {
  const { sig: _old, ...unsigned } = envelope;
  const signature = await signer.sign(envelopeSigningInput(unsigned));
  return { ...unsigned, sig: { alg: signer.alg, kid: signer.kid, value: toBase64url(signature) } };
}

/**
 * Verifies `envelope.sig`, resolving the key by `sig.kid`. Returns the key that verified; throws a
 * `LoulanError` (codes in the module header) otherwise.
 */
export async function verifyEnvelope(envelope: SignableEnvelope, resolveKey: KeyResolver): Promise<ResolvedKey> {
  const sig = readSig(envelope);
  const key = await resolveKey(sig.kid, sig.alg);
  if (key === undefined) {
    throw new LoulanError('CRYPTO_UNKNOWN_KEY', `no key registered under kid ${sig.kid}`, { details: detailsOf(envelope, sig) });
  }
  verifyWith(envelope, sig, key);
  return key;
}

/**
 * `verifyEnvelope` with the key already in hand (synchronous). `signingInput`, when the caller has
 * already computed `envelopeSigningInput(envelope)` (to hash it, say), saves encoding it twice.
 */
export function verifyEnvelopeWithKey(envelope: SignableEnvelope, key: ResolvedKey, signingInput?: Uint8Array): void {
  verifyWith(envelope, readSig(envelope), key, signingInput);
}

function verifyWith(envelope: SignableEnvelope, sig: EnvelopeSignature & { bytes: Uint8Array }, key: ResolvedKey, signingInput?: Uint8Array): void {
  if (key.alg !== sig.alg) {
    throw new LoulanError('CRYPTO_BAD_KEY', `key ${sig.kid} is ${key.alg}, signature says ${sig.alg}`, {
      details: { ...detailsOf(envelope, sig), keyAlg: key.alg },
    });
  }
  let ok: boolean;
  try {
    ok = verify(sig.alg, key.publicKey, signingInput ?? envelopeSigningInput(envelope), sig.bytes);
  } catch (cause) {
    if (isLoulanError(cause)) {
      throw new LoulanError(cause.code, cause.message, { details: { ...cause.details, ...detailsOf(envelope, sig) }, cause });
    }
    throw cause;
  }
  if (!ok) {
    throw new LoulanError('CRYPTO_SIGNATURE_INVALID', 'envelope signature does not verify', { details: detailsOf(envelope, sig) });
  }
}

function readSig(envelope: SignableEnvelope): EnvelopeSignature & { bytes: Uint8Array } {
  if (typeof envelope !== 'object' || envelope === null) {
    throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'envelope must be an object', { details: { pointer: '' } });
  }
  const sig: unknown = envelope.sig;
  const id = typeof envelope.id === 'string' ? { id: envelope.id } : {};
  if (typeof sig !== 'object' || sig === null || Array.isArray(sig)) {
    throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'envelope has no sig object', { details: { ...id, pointer: '/sig' } });
  }
  const { alg, kid, value } = sig as Record<string, unknown>;
  if (!isAlg(alg)) {
    throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown signature algorithm: ${String(alg)}`, {
      details: { ...id, pointer: '/sig/alg', alg: typeof alg === 'string' ? alg : typeof alg },
    });
  }
  if (typeof kid !== 'string' || kid.length === 0) {
    throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'sig.kid must be a non-empty string', { details: { ...id, pointer: '/sig/kid' } });
  }
  if (typeof value !== 'string') {
    throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'sig.value must be a base64url string', { details: { ...id, pointer: '/sig/value' } });
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(value, SIGNATURE_LENGTH[alg]);
  } catch (cause) {
    throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', `sig.value is not ${SIGNATURE_LENGTH[alg]} bytes of base64url`, {
      details: { ...id, pointer: '/sig/value', alg },
      cause,
    });
  }
  return { alg, kid, value, bytes };
}

function detailsOf(envelope: SignableEnvelope, sig: EnvelopeSignature): Record<string, unknown> {
  return { ...(typeof envelope.id === 'string' ? { id: envelope.id } : {}), kid: sig.kid, alg: sig.alg };
}
