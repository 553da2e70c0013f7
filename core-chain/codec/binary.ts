/**
 * The fixed binary layout for consensus messages and block headers.
 *
 * A structure is a sequence of fields written in a fixed order with no tags, names or padding:
 * unsigned integers big-endian at their declared width, fixed-size byte strings raw, variable-size
 * byte strings and UTF-8 strings behind a u32 length, booleans as one byte 0 or 1. There is exactly
 * one encoding per value, so "decode then re-encode" is the identity and hashes of encodings can be
 * compared; the Reader enforces that by refusing anything a Writer could not have produced
 * (truncation, over-long lengths, booleans other than 0/1, ill-formed UTF-8, trailing bytes).
 *
 * Every limit is explicit at the call site (`varBytes(v, max)`), because a length prefix read off the
 * network is attacker-controlled and must be checked before anything is allocated.
 *
 * Errors name the field when the caller passes one (`r.u64('height')`), plus the byte offset.
 */
import { LoulanError } from '../errors.ts';

const MAX_U64 = (1n << 64n) - 1n;
const MAX_U32 = 0xffff_ffff;

const utf8Encoder = new TextEncoder();
// `fatal` refuses ill-formed UTF-8 (overlongs, surrogates, truncated sequences); `ignoreBOM` keeps a
// leading U+FEFF as data instead of silently stripping it, so decoding is injective.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Appends fields to a growing buffer. Each write checks its value and advances; `finish()` returns
 * the bytes written so far (a copy, so the Writer can be reused with `reset()`).
 *
 * @example
 * const bytes = new Writer().u8(1).u64(height).bytes(prevHash, 32).varBytes(payload, 1 << 20).finish();
 */
export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, initialCapacity));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  u8(value: number, field?: string): this {
    checkUint(value, 0xff, 8, field);
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
    return this;
  }

  u16(value: number, field?: string): this {
    checkUint(value, 0xffff, 16, field);
    this.#ensure(2);
    this.#view.setUint16(this.#pos, value);
    this.#pos += 2;
    return this;
  }

  u32(value: number, field?: string): this {
    checkUint(value, MAX_U32, 32, field);
    this.#ensure(4);
    this.#view.setUint32(this.#pos, value);
    this.#pos += 4;
    return this;
  }

  u64(value: bigint, field?: string): this {
    if (typeof value !== 'bigint' || value < 0n || value > MAX_U64) {
      throw rangeError(`u64 out of range: ${String(value)}`, field, value);
    }
    this.#ensure(8);
    this.#view.setBigUint64(this.#pos, value);
    this.#pos += 8;
    return this;
  }

  bool(value: boolean, field?: string): this {
    if (typeof value !== 'boolean') throw rangeError('bool expected', field, value);
    this.#ensure(1);
    this.#buf[this.#pos++] = value ? 1 : 0;
    return this;
  }

  /** Exactly `length` raw bytes (hashes, keys, signatures). */
  bytes(value: Uint8Array, length: number, field?: string): this {
    if (value.length !== length) {
      throw new LoulanError('CODEC_LENGTH', `expected ${length} bytes, got ${value.length}`, {
        details: { field, expected: length, actual: value.length },
      });
    }
    this.#ensure(length);
    this.#buf.set(value, this.#pos);
    this.#pos += length;
    return this;
  }

  /** A u32 length followed by that many bytes; `max` bounds the length. */
  varBytes(value: Uint8Array, max: number, field?: string): this {
    if (value.length > max || value.length > MAX_U32) {
      throw new LoulanError('CODEC_LENGTH', `${value.length} bytes exceeds the limit of ${max}`, {
        details: { field, max, actual: value.length },
      });
    }
    this.#ensure(4 + value.length);
    this.#view.setUint32(this.#pos, value.length);
    this.#buf.set(value, this.#pos + 4);
    this.#pos += 4 + value.length;
    return this;
  }

  /** A u32 byte length followed by UTF-8; `maxBytes` bounds the encoded length. */
  string(value: string, maxBytes: number, field?: string): this {
    if (typeof value !== 'string' || !value.isWellFormed()) {
      throw new LoulanError('CODEC_UTF8', 'string is not well-formed Unicode (lone surrogate)', { details: { field } });
    }
    // Every UTF-16 code unit takes at least one UTF-8 byte, so this bound is safe to check before
    // encoding; at most three, which bounds the space to reserve.
    const written = value.length > maxBytes ? value.length : this.#encodeUtf8(value);
    if (written > maxBytes || written > MAX_U32) {
      throw new LoulanError('CODEC_LENGTH', `${written} UTF-8 bytes exceeds the limit of ${maxBytes}`, {
        details: { field, max: maxBytes, actual: written },
      });
    }
    this.#view.setUint32(this.#pos, written);
    this.#pos += 4 + written;
    return this;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }

  /** Forget what was written and keep the buffer for the next structure. */
  reset(): this {
    this.#pos = 0;
    return this;
  }

  /** Encodes after the 4-byte length slot without advancing; returns the byte count. */
  #encodeUtf8(value: string): number {
    this.#ensure(4 + value.length * 3);
    return utf8Encoder.encodeInto(value, this.#buf.subarray(this.#pos + 4)).written;
  }

  #ensure(extra: number): void {
    const needed = this.#pos + extra;
    if (needed <= this.#buf.length) return;
    let capacity = this.#buf.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
}

/**
 * Reads fields in the order they were written. Every read checks that the bytes are there and that
 * the value is one a Writer could have produced; `finish()` checks nothing is left over.
 *
 * Byte fields are returned as copies: a decoded structure never aliases the network buffer.
 */
export class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    // A Node Buffer's `slice` shares memory; read through a plain view so `slice` copies.
    this.#buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Current read offset. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  u8(field?: string): number {
    this.#need(1, field);
    return this.#buf[this.#pos++] as number;
  }

  u16(field?: string): number {
    this.#need(2, field);
    const value = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return value;
  }

  u32(field?: string): number {
    this.#need(4, field);
    const value = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return value;
  }

  u64(field?: string): bigint {
    this.#need(8, field);
    const value = this.#view.getBigUint64(this.#pos);
    this.#pos += 8;
    return value;
  }

  bool(field?: string): boolean {
    this.#need(1, field);
    const byte = this.#buf[this.#pos] as number;
    if (byte > 1) {
      throw new LoulanError('CODEC_RANGE', `bool byte must be 0 or 1, got ${byte}`, {
        details: { field, offset: this.#pos, actual: byte },
      });
    }
    this.#pos++;
    return byte === 1;
  }

  bytes(length: number, field?: string): Uint8Array {
    this.#need(length, field);
    const out = this.#buf.slice(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  varBytes(max: number, field?: string): Uint8Array {
    const length = this.#length(max, field);
    const out = this.#buf.slice(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  string(maxBytes: number, field?: string): string {
    const start = this.#pos;
    const length = this.#length(maxBytes, field);
    let value: string;
    try {
      value = utf8Decoder.decode(this.#buf.subarray(this.#pos, this.#pos + length));
    } catch (cause) {
      throw new LoulanError('CODEC_UTF8', 'string field is not well-formed UTF-8', { details: { field, offset: start }, cause });
    }
    this.#pos += length;
    return value;
  }

  /** Throws `CODEC_TRAILING_BYTES` unless every byte has been read. */
  finish(): void {
    if (this.#pos !== this.#buf.length) {
      throw new LoulanError('CODEC_TRAILING_BYTES', `${this.#buf.length - this.#pos} bytes left after the last field`, {
        details: { offset: this.#pos, trailing: this.#buf.length - this.#pos },
      });
    }
  }

  // A length prefix is checked against its limit before the body is looked at, and the prefix is
  // consumed only when the whole field is present.
  #length(max: number, field: string | undefined): number {
    this.#need(4, field);
    const length = this.#view.getUint32(this.#pos);
    if (length > max) {
      throw new LoulanError('CODEC_LENGTH', `length ${length} exceeds the limit of ${max}`, {
        details: { field, offset: this.#pos, max, actual: length },
      });
    }
    this.#need(4 + length, field);
    this.#pos += 4;
    return length;
  }

  #need(count: number, field: string | undefined): void {
    if (this.#buf.length - this.#pos < count) {
      throw new LoulanError('CODEC_TRUNCATED', `need ${count} bytes at offset ${this.#pos}, have ${this.#buf.length - this.#pos}`, {
        details: { field, offset: this.#pos, need: count, have: this.#buf.length - this.#pos },
      });
    }
  }
}

function checkUint(value: number, max: number, bits: number, field: string | undefined): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw rangeError(`u${bits} out of range: ${String(value)}`, field, value);
  }
}

function rangeError(message: string, field: string | undefined, value: unknown): LoulanError {
  return new LoulanError('CODEC_RANGE', message, {
    details: { field, actual: typeof value === 'bigint' || typeof value === 'number' ? value : typeof value },
  });
}
