/**
 * Recoverable secp256k1 signatures over 32-byte digests: validator votes and commit certificates,
 * which an EVM contract checks with `ecrecover`.
 *
 * Wire form: 65 bytes `r || s || v`, r and s big-endian 32 bytes each, v the recovery id 0 or 1
 * (an EVM caller adds 27, see `evmSignature`). Only low-S signatures exist (s <= n/2): with the
 * `s -> n - s` twin excluded, and v checked by recovery, each (digest, key) pair has exactly one
 * valid signature, so signatures can be deduplicated and hashed into certificates safely.
 *
 * Recovery ids 2 and 3 (r = x mod n with x >= n, probability about 2^-128) cannot be expressed to
 * `ecrecover`; the signer re-signs with fresh entropy instead of emitting one, and verifiers reject
 * them as malformed.
 *
 * Verification is "recover, then compare with the expected key", which is exactly what `ecrecover`
 * does on chain, so a signature accepted here is accepted there and vice versa. OpenSSL cannot help
 * on this path: it verifies only (r, s) over a message it hashes itself, and cannot check v, which is
 * part of what the EVM consumes (a wrong v would make a certificate fail on chain).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { LoulanError } from '../errors.ts';
import { assertPublicKey, bigIntTo32Bytes, CURVE_ORDER, checkPrivateScalar } from './keys.ts';
import { equalBytes, keccak256, toHex } from './hash.ts';

export const RECOVERABLE_SIGNATURE_LENGTH = 65;

const N = CURVE_ORDER.ES256K;
const HALF_N = N >> 1n;

/**
 * Signs a 32-byte digest; returns `r || s || v` (65 bytes, low-S, v in {0, 1}). Deterministic
 * (RFC 6979) unless the rare recovery id >= 2 forces a hedged retry.
 */
export function secp256k1SignDigest(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  checkDigest(digest);
  checkPrivateScalar('ES256K', privateKey);
  let extraEntropy = false;
  for (;;) {
    const rec = secp256k1.sign(digest, privateKey, { prehash: false, lowS: true, format: 'recovered', extraEntropy });
    const v = rec[0] as number;
    if (v <= 1) {
      const out = new Uint8Array(RECOVERABLE_SIGNATURE_LENGTH);
      out.set(rec.subarray(1, 65), 0);
      out[64] = v;
      return out;
    }
    extraEntropy = true;
  }
}

/**
 * The compressed (33-byte) public key that produced `signature` over `digest`.
 *
 * Throws `CRYPTO_MALFORMED_SIGNATURE` for a wrong length, v not 0/1, r or s zero or >= n, or high S;
 * throws `CRYPTO_SIGNATURE_INVALID` when a well-formed signature recovers no key (r is not the
 * x-coordinate of a curve point, or the result is the point at infinity).
 */
export function secp256k1RecoverDigest(digest: Uint8Array, signature: Uint8Array): Uint8Array {
  checkDigest(digest);
  const recovered = recover(digest, signature);
  if (recovered === undefined) {
    throw new LoulanError('CRYPTO_SIGNATURE_INVALID', 'signature recovers no public key', { details: { alg: 'ES256K' } });
  }
  return recovered;
}

/**
 * True when `signature` over `digest` recovers exactly `publicKey` (33-byte compressed); false for a
 * well-formed signature that does not. Malformed signatures and keys throw.
 */
export function secp256k1VerifyDigest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  checkDigest(digest);
  assertPublicKey('ES256K', publicKey);
  const recovered = recover(digest, signature);
  return recovered !== undefined && equalBytes(recovered, publicKey);
}

/** Structural checks of a 65-byte recoverable signature; throws `CRYPTO_MALFORMED_SIGNATURE`. */
export function checkRecoverableSignature(signature: Uint8Array): void {
  parse(signature);
}

function parse(signature: Uint8Array): { r: bigint; s: bigint; v: number } {
  if (!(signature instanceof Uint8Array) || signature.length !== RECOVERABLE_SIGNATURE_LENGTH) {
    throw malformed('length', `ES256K signature must be ${RECOVERABLE_SIGNATURE_LENGTH} bytes (r || s || v)`, {
      length: signature instanceof Uint8Array ? signature.length : undefined,
    });
  }
  const v = signature[64] as number;
  if (v !== 0 && v !== 1) {
    throw malformed('recovery-id', `recovery id must be 0 or 1, got ${v}${v === 27 || v === 28 ? ' (EVM form: subtract 27)' : ''}`, { v });
  }
  const r = BigInt('0x' + toHex(signature.subarray(0, 32)));
  const s = BigInt('0x' + toHex(signature.subarray(32, 64)));
  if (r === 0n || r >= N) throw malformed('r-range', 'r must be in 1..n-1', {});
  if (s === 0n || s >= N) throw malformed('s-range', 's must be in 1..n-1', {});
  if (s > HALF_N) throw malformed('high-s', 's must be at most n/2 (low-S form)', {});
  return { r, s, v };
}

function recover(digest: Uint8Array, signature: Uint8Array): Uint8Array | undefined {
  const { r, s, v } = parse(signature);
  try {
    return new secp256k1.Signature(r, s, v).recoverPublicKey(digest).toBytes(true);
  } catch {
    // noble throws only for "no such point" here: r is not an x-coordinate, or Q is infinity. Every
    // structural problem was rejected by parse() above.
    return undefined;
  }
}

/**
 * The Ethereum address of a secp256k1 public key: the last 20 bytes of keccak-256 over the 64-byte
 * uncompressed point (x || y). Accepts the 33-byte compressed or 65-byte uncompressed SEC1 form.
 */
export function ethAddress(publicKey: Uint8Array): Uint8Array {
  let point: Uint8Array;
  try {
    point = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  } catch (cause) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'not a secp256k1 public key', { details: { alg: 'ES256K' }, cause });
  }
  return keccak256(point.subarray(1)).slice(12);
}

/** EIP-55 mixed-case checksum form of a 20-byte address, with `0x`. */
export function toChecksumAddress(address: Uint8Array): string {
  if (!(address instanceof Uint8Array) || address.length !== 20) {
    throw new LoulanError('CODEC_LENGTH', 'an address is 20 bytes', { details: { field: 'address', expected: 20 } });
  }
  const hex = toHex(address);
  const hash = toHex(keccak256(new TextEncoder().encode(hex)));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = hex[i] as string;
    out += parseInt(hash[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/** `r || s || (v + 27)`: the form Solidity's `ecrecover(digest, v, r, s)` and most EVM tooling take. */
export function evmSignature(signature: Uint8Array): Uint8Array {
  parse(signature);
  const out = signature.slice();
  out[64] = (signature[64] as number) + 27;
  return out;
}

/** Converts a low-S bigint pair back to `r || s || v`; used by tests and tooling. */
export function recoverableSignatureFrom(r: bigint, s: bigint, v: number): Uint8Array {
  const out = new Uint8Array(RECOVERABLE_SIGNATURE_LENGTH);
  out.set(bigIntTo32Bytes(r), 0);
  out.set(bigIntTo32Bytes(s), 32);
  out[64] = v;
  return out;
}

function checkDigest(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) {
    throw new LoulanError('CODEC_LENGTH', 'a digest is 32 bytes', {
      details: { field: 'digest', expected: 32, actual: digest instanceof Uint8Array ? digest.length : undefined },
    });
  }
}

function malformed(reason: string, message: string, extra: Record<string, unknown>): LoulanError {
  return new LoulanError('CRYPTO_MALFORMED_SIGNATURE', message, { details: { alg: 'ES256K', reason, ...extra } });
}
