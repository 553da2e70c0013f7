/**
 * Keys for the three signature algorithms Loulan speaks, named as JOSE names them (RFC 7518, RFC 8812,
 * RFC 9864): `Ed25519`, `ES256` (ECDSA P-256 + SHA-256) and `ES256K` (ECDSA secp256k1 + SHA-256).
 *
 * The canonical in-memory form of a key is its raw bytes, because that is what goes into registries,
 * key ids and consensus structures, and it has exactly one encoding per key:
 *
 * | alg     | public key                      | private key                        |
 * | ------- | ------------------------------- | ---------------------------------- |
 * | Ed25519 | 32 bytes (RFC 8032 encoding)    | 32-byte seed                       |
 * | ES256   | 33 bytes, compressed SEC1 point | 32-byte big-endian scalar, 1..n-1  |
 * | ES256K  | 33 bytes, compressed SEC1 point | 32-byte big-endian scalar, 1..n-1  |
 *
 * PEM (PKCS#8 / SPKI) and JWK are interchange formats, converted at the edge through `node:crypto`,
 * which also validates points (on the curve, right curve). Importers always return the algorithm
 * they found and refuse a key of another algorithm when the caller names one, so a P-256 key can
 * never be used as a secp256k1 key or the other way round.
 *
 * Verification is the hot path, so parsed public `KeyObject`s are cached by raw bytes in a bounded
 * LRU map; a key is parsed (and its point validated) once, not per signature.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { LoulanError } from '../errors.ts';
import { canonicalBytes } from '../codec/jcs.ts';
import { equalBytes, fromBase64url, sha256, toBase64url } from './hash.ts';

export type Alg = 'Ed25519' | 'ES256' | 'ES256K';

export const ALGS: readonly Alg[] = Object.freeze(['Ed25519', 'ES256', 'ES256K']);

export function isAlg(value: unknown): value is Alg {
  return value === 'Ed25519' || value === 'ES256' || value === 'ES256K';
}

/** Returns `value` as an `Alg`, or throws `CRYPTO_UNKNOWN_ALG`. */
export function assertAlg(value: unknown): Alg {
  if (!isAlg(value)) {
    throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown signature algorithm: ${String(value)}`, {
      details: { alg: typeof value === 'string' ? value : typeof value },
    });
  }
  return value;
}

export interface KeyPair {
  readonly alg: Alg;
  /** Raw private key: Ed25519 seed or EC scalar, 32 bytes. Keep it out of logs. */
  readonly privateKey: Uint8Array;
  /** Raw public key: 32 bytes (Ed25519) or 33 bytes compressed SEC1 (ES256, ES256K). */
  readonly publicKey: Uint8Array;
}

export const PUBLIC_KEY_LENGTH: Readonly<Record<Alg, number>> = Object.freeze({ Ed25519: 32, ES256: 33, ES256K: 33 });
export const PRIVATE_KEY_LENGTH = 32;

/** OpenSSL's curve names, and JOSE's (`crv`). */
const CURVE = {
  ES256: { openssl: 'prime256v1', jwk: 'P-256' },
  ES256K: { openssl: 'secp256k1', jwk: 'secp256k1' },
} as const;

/** Group orders, big-endian, for the scalar range checks done on bytes. */
export const CURVE_ORDER: Readonly<Record<'ES256' | 'ES256K', bigint>> = Object.freeze({
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES256K: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
});

export function generateKeyPair(alg: Alg): KeyPair {
  assertAlg(alg);
  const pair =
    alg === 'Ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: CURVE[alg].openssl });
  return { alg, privateKey: exportRawPrivate(pair.privateKey), publicKey: exportRawPublic(alg, pair.publicKey) };
}

/** The raw public key belonging to a raw private key. */
export function publicKeyFromPrivate(alg: Alg, privateKey: Uint8Array): Uint8Array {
  return exportRawPublic(alg, createPublicKey(privateKeyObject(alg, privateKey)));
}

// -- node:crypto KeyObjects ------------------------------------------------------------------------

/**
 * A `KeyObject` for a raw private key, after checking its length and (for EC) that the scalar is in
 * 1..n-1, which OpenSSL's raw import does not check.
 */
export function privateKeyObject(alg: Alg, privateKey: Uint8Array): KeyObject {
  checkPrivateScalar(alg, privateKey);
  try {
    return alg === 'Ed25519'
      ? createPrivateKey({ key: asBuffer(privateKey), format: 'raw-private', asymmetricKeyType: 'ed25519' })
      : createPrivateKey({ key: asBuffer(privateKey), format: 'raw-private', asymmetricKeyType: 'ec', namedCurve: CURVE[alg].openssl });
  } catch (cause) {
    throw badKey(alg, 'private key rejected', cause);
  }
}

/** Throws `CRYPTO_BAD_KEY` unless `privateKey` is 32 bytes and, for EC, a scalar in 1..n-1. */
export function checkPrivateScalar(alg: Alg, privateKey: Uint8Array): void {
  assertAlg(alg);
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== PRIVATE_KEY_LENGTH) {
    throw badKey(alg, `private key must be ${PRIVATE_KEY_LENGTH} bytes`);
  }
  if (alg !== 'Ed25519') {
    const d = bytesToBigInt(privateKey);
    if (d === 0n || d >= CURVE_ORDER[alg]) throw badKey(alg, 'private scalar out of range 1..n-1');
  }
}

const PUBLIC_KEY_CACHE_LIMIT = 8192;
const publicKeyCache = new Map<string, KeyObject>();

/**
 * The parsed `KeyObject` for a raw public key, from a bounded LRU cache. Parsing validates the
 * encoding and (for EC) that the point is on the named curve; a bad key throws `CRYPTO_BAD_KEY`
 * and is not cached.
 */
export function publicKeyObject(alg: Alg, publicKey: Uint8Array): KeyObject {
  const id = cacheId(alg, publicKey);
  const hit = publicKeyCache.get(id);
  if (hit !== undefined) {
    // Re-insert so Map order is recency order and eviction drops the least recently used key.
    publicKeyCache.delete(id);
    publicKeyCache.set(id, hit);
    return hit;
  }
  const key = parsePublicKey(alg, publicKey);
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) {
    const oldest = publicKeyCache.keys().next();
    if (oldest.done !== true) publicKeyCache.delete(oldest.value);
  }
  publicKeyCache.set(id, key);
  return key;
}

/** Throws `CRYPTO_BAD_KEY` unless `publicKey` is a valid raw public key for `alg`. */
export function assertPublicKey(alg: Alg, publicKey: Uint8Array): void {
  publicKeyObject(alg, publicKey);
}

function cacheId(alg: Alg, publicKey: Uint8Array): string {
  assertAlg(alg);
  if (!(publicKey instanceof Uint8Array)) throw badKey(alg, 'public key must be a Uint8Array');
  return alg + ':' + Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64');
}

function parsePublicKey(alg: Alg, publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== PUBLIC_KEY_LENGTH[alg]) {
    throw badKey(alg, `public key must be ${PUBLIC_KEY_LENGTH[alg]} bytes, got ${publicKey.length}`);
  }
  if (alg !== 'Ed25519' && publicKey[0] !== 0x02 && publicKey[0] !== 0x03) {
    throw badKey(alg, 'EC public key must be a compressed SEC1 point (prefix 02 or 03)');
  }
  if (alg === 'Ed25519') checkEd25519Point(publicKey);
  try {
    return alg === 'Ed25519'
      ? createPublicKey({ key: asBuffer(publicKey), format: 'raw-public', asymmetricKeyType: 'ed25519' })
      : createPublicKey({ key: asBuffer(publicKey), format: 'raw-public', asymmetricKeyType: 'ec', namedCurve: CURVE[alg].openssl });
  } catch (cause) {
    throw badKey(alg, 'public key is not a point on the curve', cause);
  }
}

/**
 * OpenSSL takes any 32 bytes as an Ed25519 public key. We also require a canonical encoding of a
 * curve point outside the small-order subgroup: with a small-order key (the identity, say) one
 * signature verifies for every message, so anyone could sign as whoever registered it. Runs once
 * per key (the result is cached with the KeyObject).
 */
function checkEd25519Point(publicKey: Uint8Array): void {
  let smallOrder: boolean;
  try {
    smallOrder = ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch (cause) {
    throw badKey('Ed25519', 'public key is not a canonical Ed25519 point', cause);
  }
  if (smallOrder) throw badKey('Ed25519', 'public key is a small-order point');
}

function exportRawPrivate(key: KeyObject): Uint8Array {
  return toPlain(key.export({ format: 'raw-private' }));
}

function exportRawPublic(alg: Alg, key: KeyObject): Uint8Array {
  const raw = toPlain(key.export({ format: 'raw-public' }));
  return alg === 'Ed25519' ? raw : compressPoint(raw);
}

/** 65-byte uncompressed SEC1 point (04 || x || y) to 33-byte compressed (02|03 || x). */
function compressPoint(uncompressed: Uint8Array): Uint8Array {
  if (uncompressed.length !== 65 || uncompressed[0] !== 0x04) throw new LoulanError('INTERNAL', 'unexpected EC point encoding');
  const out = new Uint8Array(33);
  out[0] = ((uncompressed[64] as number) & 1) === 1 ? 0x03 : 0x02;
  out.set(uncompressed.subarray(1, 33), 1);
  return out;
}

/** The algorithm of a node:crypto key, or `CRYPTO_BAD_KEY` for any other key type or curve. */
function algOfKeyObject(key: KeyObject): Alg {
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === CURVE.ES256.openssl) return 'ES256';
    if (curve === CURVE.ES256K.openssl) return 'ES256K';
    throw new LoulanError('CRYPTO_BAD_KEY', `unsupported EC curve: ${String(curve)}`, { details: { curve } });
  }
  throw new LoulanError('CRYPTO_BAD_KEY', `unsupported key type: ${String(key.asymmetricKeyType)}`, {
    details: { keyType: key.asymmetricKeyType },
  });
}

function checkExpected(found: Alg, expected: Alg | undefined): Alg {
  if (expected !== undefined && assertAlg(expected) !== found) {
    throw new LoulanError('CRYPTO_BAD_KEY', `key is ${found}, expected ${expected}`, { details: { alg: found, expected } });
  }
  return found;
}

// -- PEM --------------------------------------------------------------------------------------------

/** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
export function privateKeyToPem(alg: Alg, privateKey: Uint8Array): string {
  return privateKeyObject(alg, privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** SPKI PEM (`-----BEGIN PUBLIC KEY-----`); EC points are written uncompressed, as is customary. */
export function publicKeyToPem(alg: Alg, publicKey: Uint8Array): string {
  return publicKeyObject(alg, publicKey).export({ type: 'spki', format: 'pem' }) as string;
}

const PRIVATE_PEM_RE = /^\s*-----BEGIN PRIVATE KEY-----\r?\n[\s\S]*-----END PRIVATE KEY-----\s*$/;
const PUBLIC_PEM_RE = /^\s*-----BEGIN PUBLIC KEY-----\r?\n[\s\S]*-----END PUBLIC KEY-----\s*$/;

/**
 * Parses a PKCS#8 PEM private key. The algorithm is read from the key; with `expected`, a key of any
 * other algorithm is refused. Unencrypted PKCS#8 only: SEC1 (`EC PRIVATE KEY`) and encrypted keys are
 * converted with openssl first.
 */
export function privateKeyFromPem(pem: string, expected?: Alg): KeyPair {
  if (typeof pem !== 'string' || !PRIVATE_PEM_RE.test(pem)) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'not a PKCS#8 PEM private key', { details: { format: 'pem' } });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'PEM private key does not parse', { details: { format: 'pem' }, cause });
  }
  const alg = checkExpected(algOfKeyObject(key), expected);
  const privateKey = exportRawPrivate(key);
  return { alg, privateKey, publicKey: publicKeyFromPrivate(alg, privateKey) };
}

/** Parses an SPKI PEM public key; see `privateKeyFromPem` for `expected`. */
export function publicKeyFromPem(pem: string, expected?: Alg): { readonly alg: Alg; readonly publicKey: Uint8Array } {
  if (typeof pem !== 'string' || !PUBLIC_PEM_RE.test(pem)) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'not an SPKI PEM public key', { details: { format: 'pem' } });
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'PEM public key does not parse', { details: { format: 'pem' }, cause });
  }
  const alg = checkExpected(algOfKeyObject(key), expected);
  return { alg, publicKey: exportRawPublic(alg, key) };
}

// -- JWK --------------------------------------------------------------------------------------------

/** A public JWK as Loulan writes it: required members plus `alg` and `kid`. */
export interface PublicJwk {
  readonly kty: 'OKP' | 'EC';
  readonly crv: 'Ed25519' | 'P-256' | 'secp256k1';
  readonly x: string;
  readonly y?: string;
  readonly alg?: string;
  readonly kid?: string;
  readonly [member: string]: unknown;
}

export interface PrivateJwk extends PublicJwk {
  readonly d: string;
}

const JWK_SHAPE: Readonly<Record<Alg, { kty: 'OKP' | 'EC'; crv: PublicJwk['crv'] }>> = Object.freeze({
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES256K: { kty: 'EC', crv: 'secp256k1' },
});

/** `{kty, crv, x, y?, alg, kid}` for a raw public key. */
export function publicKeyToJwk(alg: Alg, publicKey: Uint8Array): PublicJwk {
  const jwk = publicKeyObject(alg, publicKey).export({ format: 'jwk' });
  return { ...requiredMembers(alg, jwk), alg, kid: thumbprintOf(alg, jwk) };
}

/** `{kty, crv, x, y?, d, alg, kid}` for a raw private key. */
export function privateKeyToJwk(alg: Alg, privateKey: Uint8Array): PrivateJwk {
  const jwk = privateKeyObject(alg, privateKey).export({ format: 'jwk' });
  return { ...requiredMembers(alg, jwk), d: String(jwk.d), alg, kid: thumbprintOf(alg, jwk) };
}

/**
 * Parses a public JWK (OKP/Ed25519, EC/P-256, EC/secp256k1). Members are checked strictly (exact
 * base64url, 32-byte coordinates, point on the curve); a JWK `alg` member, when present, must agree
 * with the curve (`EdDSA` is accepted for Ed25519, per RFC 8037).
 */
export function publicKeyFromJwk(jwk: unknown, expected?: Alg): { readonly alg: Alg; readonly publicKey: Uint8Array } {
  const { alg, members } = readJwk(jwk, expected, false);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: members, format: 'jwk' });
  } catch (cause) {
    throw badKey(alg, 'JWK is not a valid public key', cause);
  }
  return { alg, publicKey: exportRawPublic(alg, key) };
}

/** Parses a private JWK; the public members must belong to `d`. */
export function privateKeyFromJwk(jwk: unknown, expected?: Alg): KeyPair {
  const { alg, members } = readJwk(jwk, expected, true);
  const privateKey = fromBase64url(members.d as string, PRIVATE_KEY_LENGTH);
  const publicKey = publicKeyFromPrivate(alg, privateKey);
  const claimed = publicKeyFromJwk({ kty: members.kty, crv: members.crv, x: members.x, ...(members.y === undefined ? {} : { y: members.y }) }, alg);
  if (!equalBytes(claimed.publicKey, publicKey)) throw badKey(alg, 'JWK public members do not match d');
  return { alg, privateKey, publicKey };
}

function readJwk(jwk: unknown, expected: Alg | undefined, isPrivate: boolean): { alg: Alg; members: JsonWebKey } {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'JWK must be an object', { details: { format: 'jwk' } });
  }
  const j = jwk as Record<string, unknown>;
  const alg = ((Object.keys(JWK_SHAPE) as Alg[]).find((a) => JWK_SHAPE[a].kty === j.kty && JWK_SHAPE[a].crv === j.crv));
  if (alg === undefined) {
    throw new LoulanError('CRYPTO_BAD_KEY', `unsupported JWK kty/crv: ${String(j.kty)}/${String(j.crv)}`, {
      details: { format: 'jwk', kty: String(j.kty), crv: String(j.crv) },
    });
  }
  if (j.alg !== undefined && j.alg !== alg && !(alg === 'Ed25519' && j.alg === 'EdDSA')) {
    throw badKey(alg, `JWK alg ${String(j.alg)} does not match curve ${String(j.crv)}`);
  }
  checkExpected(alg, expected);
  const coordinate = (name: 'x' | 'y' | 'd'): string => {
    const value = j[name];
    if (typeof value !== 'string') throw badKey(alg, `JWK member ${name} must be a base64url string`);
    try {
      fromBase64url(value, 32);
    } catch (cause) {
      throw badKey(alg, `JWK member ${name} is not 32 bytes of base64url`, cause);
    }
    return value;
  };
  const members: JsonWebKey = { kty: j.kty as string, crv: j.crv as string, x: coordinate('x') };
  if (alg !== 'Ed25519') members.y = coordinate('y');
  else if (j.y !== undefined) throw badKey(alg, 'OKP JWK must not have y');
  if (isPrivate) members.d = coordinate('d');
  return { alg, members };
}

function requiredMembers(alg: Alg, jwk: JsonWebKey): { kty: 'OKP' | 'EC'; crv: PublicJwk['crv']; x: string; y?: string } {
  const { kty, crv } = JWK_SHAPE[alg];
  return alg === 'Ed25519' ? { kty, crv, x: String(jwk.x) } : { kty, crv, x: String(jwk.x), y: String(jwk.y) };
}

// -- key ids ----------------------------------------------------------------------------------------

/**
 * The key id: the RFC 7638 JWK thumbprint (SHA-256 over the canonical JSON of the required public
 * members `crv, kty, x[, y]`), base64url, 43 characters.
 *
 * A thumbprint rather than a hash of the raw bytes because anyone can compute it with standard JOSE
 * tooling (`jose.calculateJwkThumbprint`), and because it covers the curve: the same 33 bytes on
 * P-256 and secp256k1 get different ids.
 */
export function keyId(alg: Alg, publicKey: Uint8Array): string {
  return thumbprintOf(alg, publicKeyObject(alg, publicKey).export({ format: 'jwk' }));
}

function thumbprintOf(alg: Alg, jwk: JsonWebKey): string {
  // RFC 7638 §3: required members only, lexicographic order, no whitespace: exactly JCS.
  return toBase64url(sha256(canonicalBytes(requiredMembers(alg, jwk))));
}

// -- helpers ----------------------------------------------------------------------------------------

export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

export function bigIntTo32Bytes(value: bigint): Uint8Array {
  const hex = value.toString(16);
  if (value < 0n || hex.length > 64) throw new LoulanError('INTERNAL', 'scalar does not fit 32 bytes');
  return Uint8Array.from(Buffer.from(hex.padStart(64, '0'), 'hex'));
}

/** A Buffer view (no copy) for node:crypto APIs typed as taking `Buffer`. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toPlain(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function badKey(alg: Alg, message: string, cause?: unknown): LoulanError {
  return new LoulanError('CRYPTO_BAD_KEY', message, cause === undefined ? { details: { alg } } : { details: { alg }, cause });
}
