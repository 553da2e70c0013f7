/**
 * Hashes and the two text encodings of bytes that cross our boundaries (hex and base64url).
 *
 * SHA-256 goes through `node:crypto`'s one-shot `hash()` (OpenSSL, about 4x faster than pure JS on
 * small inputs, and Merkle trees hash millions of 65-byte nodes); keccak-256 exists only for EVM
 * compatibility and comes from @noble/hashes because OpenSSL does not ship the pre-NIST padding.
 *
 * Every function returns a plain `Uint8Array` (never a pooled `Buffer`), so callers can compare,
 * slice and keep results without aliasing surprises. Decoders are strict: anything that could have
 * two spellings for the same bytes (case aside for hex) is rejected with `CODEC_ENCODING`, because
 * these strings end up inside signed and hashed documents.
 */
import { hash as nodeHash } from 'node:crypto';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { LoulanError } from '../errors.ts';

/** SHA-256 (FIPS 180-4). */
export function sha256(data: Uint8Array): Uint8Array {
  const out = nodeHash('sha256', data, 'buffer');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Keccak-256 as used by Ethereum (original Keccak padding, not SHA3-256). */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Byte equality. Not constant-time: use it for public data (hashes, public keys, signatures being
 * compared with what we computed), never to compare secrets.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lowercase hex, no prefix. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Strict hex decoder: even length, only hex digits (either case), no `0x` prefix. With `length`,
 * the result must be exactly that many bytes (`CODEC_LENGTH` otherwise).
 *
 * `Buffer.from(s, 'hex')` stops silently at the first bad character; this never guesses.
 */
export function fromHex(hex: string, length?: number): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) {
    throw new LoulanError('CODEC_ENCODING', 'not a hex string', { details: { encoding: 'hex' } });
  }
  if (length !== undefined && hex.length !== length * 2) {
    throw new LoulanError('CODEC_LENGTH', `expected ${length} bytes of hex, got ${hex.length / 2}`, {
      details: { expected: length, actual: hex.length / 2 },
    });
  }
  const buf = Buffer.from(hex, 'hex');
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** base64url without padding (RFC 4648 §5), as JOSE uses it. */
export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64url decoder: alphabet `A-Z a-z 0-9 - _`, no padding, no whitespace, a length that
 * some byte string encodes to, and zero unused trailing bits, so each byte string has exactly one
 * accepted spelling. With `length`, the result must be exactly that many bytes.
 */
export function fromBase64url(text: string, length?: number): Uint8Array {
  if (typeof text !== 'string' || !B64URL_RE.test(text) || text.length % 4 === 1) {
    throw new LoulanError('CODEC_ENCODING', 'not an unpadded base64url string', { details: { encoding: 'base64url' } });
  }
  const buf = Buffer.from(text, 'base64url');
  // Non-zero trailing bits decode to the same bytes as the canonical spelling; re-encode to catch them.
  if (buf.toString('base64url') !== text) {
    throw new LoulanError('CODEC_ENCODING', 'base64url string has non-zero trailing bits', { details: { encoding: 'base64url' } });
  }
  if (length !== undefined && buf.length !== length) {
    throw new LoulanError('CODEC_LENGTH', `expected ${length} bytes of base64url, got ${buf.length}`, {
      details: { expected: length, actual: buf.length },
    });
  }
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
