/**
 * Message signatures for the three algorithms, one calling convention: `sign(alg, privateKey, msg)`,
 * `verify(alg, publicKey, msg, sig)`, keys as raw bytes (see keys.ts).
 *
 * | alg     | signature                   | signed value      | engine                               |
 * | ------- | --------------------------- | ----------------- | ------------------------------------ |
 * | Ed25519 | 64 bytes (RFC 8032)         | the message       | node:crypto (OpenSSL)                |
 * | ES256   | 64 bytes r || s (P1363)     | SHA-256(message)  | node:crypto (OpenSSL)                |
 * | ES256K  | 65 bytes r || s || v        | SHA-256(message)  | @noble/curves, recover-and-compare   |
 *
 * Both ECDSA variants accept only low-S signatures (s <= n/2) and the signers only produce them.
 * ECDSA is malleable: (r, s) and (r, n - s) both verify, so a relayer could re-encode someone else's
 * signature and make a second, different-looking copy of the same signed message. Fabric's
 * validators and Bitcoin/Ethereum reject high S for that reason; so do we, with
 * `CRYPTO_MALFORMED_SIGNATURE`, so that signature bytes can be deduplicated and hashed.
 *
 * ES256K verification checks the recovery id too (by recovering the key), because v is part of the
 * signature bytes and of what an EVM contract consumes; see secp256k1.ts. That costs a pure-JS
 * recovery (about 1 ms); OpenSSL would check (r, s) four times faster but cannot check v.
 *
 * Error contract: malformed input (wrong length, out-of-range or high-S scalars, bad v, bad key,
 * unknown alg) throws a `LoulanError`; a well-formed signature that does not verify returns `false`.
 * `verifyOrThrow` turns `false` into `CRYPTO_SIGNATURE_INVALID`.
 */
import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { LoulanError } from '../errors.ts';
import { sha256 } from './hash.ts';
import {
  assertAlg,
  bigIntTo32Bytes,
  bytesToBigInt,
  CURVE_ORDER,
  keyId,
  privateKeyObject,
  publicKeyFromPrivate,
  publicKeyObject,
  type Alg,
} from './keys.ts';
import { checkRecoverableSignature, secp256k1SignDigest, secp256k1VerifyDigest } from './secp256k1.ts';

export const SIGNATURE_LENGTH: Readonly<Record<Alg, number>> = Object.freeze({ Ed25519: 64, ES256: 64, ES256K: 65 });

const P256_N = CURVE_ORDER.ES256;
const P256_HALF_N = P256_N >> 1n;
const P256_N_BYTES = bigIntTo32Bytes(P256_N);
const P256_HALF_N_BYTES = bigIntTo32Bytes(P256_HALF_N);

/**
 * Signs `message` with a raw private key. For repeated signing with one key, `createSigner` parses
 * the key once.
 */
export function sign(alg: Alg, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertAlg(alg);
  if (alg === 'ES256K') return secp256k1SignDigest(privateKey, sha256(message));
  return signWithKeyObject(alg, privateKeyObject(alg, privateKey), message);
}

function signWithKeyObject(alg: 'Ed25519' | 'ES256', key: KeyObject, message: Uint8Array): Uint8Array {
  if (alg === 'Ed25519') return plain(nodeSign(null, message, key));
  const sig = plain(nodeSign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
  // OpenSSL picks either s or n - s; keep the low one (see module comment).
  const s = bytesToBigInt(sig.subarray(32, 64));
  if (s > P256_HALF_N) sig.set(bigIntTo32Bytes(P256_N - s), 32);
  return sig;
}

/**
 * True when `signature` is a valid signature of `message` under `publicKey`; false when it is
 * well-formed but does not verify. Throws for malformed signatures, keys or algorithms.
 */
export function verify(alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertAlg(alg);
  if (!(signature instanceof Uint8Array)) throw malformed(alg, 'type', 'signature must be a Uint8Array');
  if (alg === 'ES256K') return secp256k1VerifyDigest(publicKey, sha256(message), signature);
  const key = publicKeyObject(alg, publicKey);
  if (signature.length !== 64) throw malformed(alg, 'length', `${alg} signature must be 64 bytes, got ${signature.length}`);
  if (alg === 'Ed25519') return nodeVerify(null, message, key, signature);
  checkP256Scalars(signature);
  return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

/** `verify`, throwing `CRYPTO_SIGNATURE_INVALID` instead of returning false. */
export function verifyOrThrow(alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
  if (!verify(alg, publicKey, message, signature)) {
    throw new LoulanError('CRYPTO_SIGNATURE_INVALID', `${alg} signature does not verify`, { details: { alg } });
  }
}

/** Structural checks only (length, scalar ranges, low S, recovery id); throws `CRYPTO_MALFORMED_SIGNATURE`. */
export function checkSignatureFormat(alg: Alg, signature: Uint8Array): void {
  assertAlg(alg);
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH[alg]) {
    throw malformed(alg, 'length', `${alg} signature must be ${SIGNATURE_LENGTH[alg]} bytes`);
  }
  if (alg === 'ES256') checkP256Scalars(signature);
  if (alg === 'ES256K') checkRecoverableSignature(signature);
}

// Byte-wise comparisons against n and n/2: no bigint allocation on the hot path.
function checkP256Scalars(signature: Uint8Array): void {
  if (isZero(signature, 0) || compare32(signature, 0, P256_N_BYTES) >= 0) throw malformed('ES256', 'r-range', 'r must be in 1..n-1');
  if (isZero(signature, 32) || compare32(signature, 32, P256_N_BYTES) >= 0) throw malformed('ES256', 's-range', 's must be in 1..n-1');
  if (compare32(signature, 32, P256_HALF_N_BYTES) > 0) throw malformed('ES256', 'high-s', 's must be at most n/2 (low-S form)');
}

function compare32(bytes: Uint8Array, offset: number, constant: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const a = bytes[offset + i] as number;
    const b = constant[i] as number;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

function isZero(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 32; i++) if (bytes[offset + i] !== 0) return false;
  return true;
}

function malformed(alg: Alg, reason: string, message: string): LoulanError {
  return new LoulanError('CRYPTO_MALFORMED_SIGNATURE', message, { details: { alg, reason } });
}

function plain(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// -- signers ----------------------------------------------------------------------------------------

/**
 * A signing capability: whoever holds one can sign as `kid`, and nothing else. It may live in
 * another process or an HSM, hence the optional Promise.
 */
export interface Signer {
  readonly alg: Alg;
  readonly kid: string;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * A `Signer` over a raw private key held in memory. The key is parsed once; `kid` defaults to
 * `keyId(alg, publicKey)`.
 */
export function createSigner(alg: Alg, privateKey: Uint8Array, options: { readonly kid?: string } = {}): Signer {
  assertAlg(alg);
  const kid = options.kid ?? keyId(alg, publicKeyFromPrivate(alg, privateKey));
  if (alg === 'ES256K') {
    const secret = privateKey.slice();
    return Object.freeze({ alg, kid, sign: (message: Uint8Array) => secp256k1SignDigest(secret, sha256(message)) });
  }
  const key = privateKeyObject(alg, privateKey);
  return Object.freeze({ alg, kid, sign: (message: Uint8Array) => signWithKeyObject(alg, key, message) });
}
