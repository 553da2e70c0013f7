import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reader, Writer } from './binary.ts';
import { LoulanError } from '../errors.ts';

function errorOf(fn: () => unknown): LoulanError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError, nothing was thrown');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('layout', () => {
  it('writes big-endian integers, bools and raw bytes with no framing', () => {
    const bytes = new Writer()
      .u8(0x01)
      .u16(0x0203)
      .u32(0x04050607)
      .u64(0x08090a0b0c0d0e0fn)
      .bool(true)
      .bool(false)
      .bytes(Uint8Array.of(0xaa, 0xbb), 2)
      .finish();
    expect(hex(bytes)).toBe('01' + '0203' + '04050607' + '08090a0b0c0d0e0f' + '01' + '00' + 'aabb');
  });

  it('prefixes variable bytes and strings with a u32 byte length', () => {
    const bytes = new Writer().varBytes(Uint8Array.of(9, 8, 7), 10).string('h€', 10).varBytes(new Uint8Array(0), 0).finish();
    expect(hex(bytes)).toBe('00000003090807' + '0000000468e282ac' + '00000000');
  });

  it('reads back what it wrote, including extremes', () => {
    const w = new Writer(16)
      .u8(255)
      .u16(65535)
      .u32(0xffff_ffff)
      .u64((1n << 64n) - 1n)
      .u64(0n)
      .string('\ufeffbom stays', 100)
      .string('😂', 4);
    const r = new Reader(w.finish());
    expect([r.u8(), r.u16(), r.u32(), r.u64(), r.u64(), r.string(100), r.string(4)]).toEqual([
      255,
      65535,
      0xffff_ffff,
      (1n << 64n) - 1n,
      0n,
      '\ufeffbom stays',
      '😂',
    ]);
    expect(r.remaining).toBe(0);
    r.finish();
  });

  it('grows from a tiny buffer and can be reset and reused', () => {
    const w = new Writer(1);
    for (let i = 0; i < 10_000; i++) w.u32(i);
    expect(w.length).toBe(40_000);
    const r = new Reader(w.finish());
    for (let i = 0; i < 10_000; i++) expect(r.u32()).toBe(i);
    r.finish();
    expect(hex(w.reset().u8(7).finish())).toBe('07');
  });

  it('returns copies: decoded bytes do not alias the input, finish() does not alias the writer', () => {
    const input = Uint8Array.of(0, 0, 0, 2, 5, 6);
    const out = new Reader(input).varBytes(2);
    input[4] = 0;
    expect([...out]).toEqual([5, 6]);
    const w = new Writer().u8(1);
    const first = w.finish();
    w.reset().u8(2);
    expect([...first]).toEqual([1]);
  });
});

describe('writer refusals', () => {
  it.each<[string, (w: Writer) => unknown, string]>([
    ['u8 256', (w) => w.u8(256), 'CODEC_RANGE'],
    ['u8 -1', (w) => w.u8(-1), 'CODEC_RANGE'],
    ['u8 1.5', (w) => w.u8(1.5), 'CODEC_RANGE'],
    ['u8 NaN', (w) => w.u8(Number.NaN), 'CODEC_RANGE'],
    ['u16 65536', (w) => w.u16(65536), 'CODEC_RANGE'],
    ['u32 2^32', (w) => w.u32(2 ** 32), 'CODEC_RANGE'],
    ['u64 -1', (w) => w.u64(-1n), 'CODEC_RANGE'],
    ['u64 2^64', (w) => w.u64(1n << 64n), 'CODEC_RANGE'],
    ['u64 number', (w) => w.u64(1 as unknown as bigint), 'CODEC_RANGE'],
    ['bool 1', (w) => w.bool(1 as unknown as boolean), 'CODEC_RANGE'],
    ['fixed bytes too short', (w) => w.bytes(new Uint8Array(31), 32), 'CODEC_LENGTH'],
    ['fixed bytes too long', (w) => w.bytes(new Uint8Array(33), 32), 'CODEC_LENGTH'],
    ['var bytes over max', (w) => w.varBytes(new Uint8Array(5), 4), 'CODEC_LENGTH'],
    ['string over max (bytes, not characters)', (w) => w.string('€€', 5), 'CODEC_LENGTH'],
    ['string with a lone surrogate', (w) => w.string('a\ud800', 10), 'CODEC_UTF8'],
  ])('%s', (_name, write, code) => {
    const w = new Writer();
    const error = errorOf(() => write(w));
    expect(error.code).toBe(code);
    expect(w.length).toBe(0);
  });

  it('names the field', () => {
    expect(errorOf(() => new Writer().u64(-1n, 'height')).details.field).toBe('height');
  });
});

describe('reader refusals', () => {
  it.each<[string, string, (r: Reader) => unknown, string]>([
    ['empty u8', '', (r) => r.u8(), 'CODEC_TRUNCATED'],
    ['short u64', '00000000000000', (r) => r.u64(), 'CODEC_TRUNCATED'],
    ['bool 2', '02', (r) => r.bool(), 'CODEC_RANGE'],
    ['length over max', '00000005' + '0102030405', (r) => r.varBytes(4), 'CODEC_LENGTH'],
    ['huge length is checked before the body', 'ffffffff', (r) => r.varBytes(1024), 'CODEC_LENGTH'],
    ['body shorter than length', '00000004' + '010203', (r) => r.varBytes(10), 'CODEC_TRUNCATED'],
    ['invalid UTF-8 byte', '00000001' + 'ff', (r) => r.string(10), 'CODEC_UTF8'],
    ['overlong NUL', '00000002' + 'c080', (r) => r.string(10), 'CODEC_UTF8'],
    ['encoded surrogate', '00000003' + 'eda080', (r) => r.string(10), 'CODEC_UTF8'],
    ['truncated sequence', '00000002' + 'e282', (r) => r.string(10), 'CODEC_UTF8'],
    ['trailing bytes', '0100', (r) => (r.u8(), r.finish()), 'CODEC_TRAILING_BYTES'],
  ])('%s', (_name, input, read, code) => {
    expect(errorOf(() => read(new Reader(Buffer.from(input, 'hex')))).code).toBe(code);
  });

  it('leaves the offset where it was when a field fails', () => {
    const r = new Reader(Buffer.from('0000000a0102', 'hex'));
    expect(errorOf(() => r.varBytes(100, 'payload')).details).toMatchObject({ field: 'payload', offset: 0, need: 14, have: 6 });
    expect(r.offset).toBe(0);
  });

  it('reads from a subarray with a non-zero offset', () => {
    const backing = Uint8Array.of(0xff, 0xff, 0x00, 0x2a, 0xff);
    expect(new Reader(backing.subarray(2, 4)).u16()).toBe(42);
  });
});

// -- properties -------------------------------------------------------------------------------------

type Field =
  | { kind: 'u8' | 'u16' | 'u32'; value: number }
  | { kind: 'u64'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'varBytes'; value: Uint8Array; max: number }
  | { kind: 'string'; value: string; max: number };

const field: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((value) => ({ kind: 'u8' as const, value })),
  fc.integer({ min: 0, max: 0xffff }).map((value) => ({ kind: 'u16' as const, value })),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((value) => ({ kind: 'u32' as const, value })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => ({ kind: 'u64' as const, value })),
  fc.boolean().map((value) => ({ kind: 'bool' as const, value })),
  fc.uint8Array({ maxLength: 40 }).map((value) => ({ kind: 'bytes' as const, value })),
  fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.nat(10)).map(([value, slack]) => ({ kind: 'varBytes' as const, value, max: value.length + slack })),
  fc.tuple(fc.string({ unit: 'binary', maxLength: 20 }), fc.nat(10)).map(([value, slack]) => ({
    kind: 'string' as const,
    value,
    max: Buffer.byteLength(value) + slack,
  })),
);

function encode(fields: readonly Field[]): Uint8Array {
  const w = new Writer(8);
  for (const f of fields) {
    switch (f.kind) {
      case 'u8': w.u8(f.value); break;
      case 'u16': w.u16(f.value); break;
      case 'u32': w.u32(f.value); break;
      case 'u64': w.u64(f.value); break;
      case 'bool': w.bool(f.value); break;
      case 'bytes': w.bytes(f.value, f.value.length); break;
      case 'varBytes': w.varBytes(f.value, f.max); break;
      case 'string': w.string(f.value, f.max); break;
    }
  }
  return w.finish();
}

function decode(bytes: Uint8Array, fields: readonly Field[]): unknown[] {
  const r = new Reader(bytes);
  const out = fields.map((f) => {
    switch (f.kind) {
      case 'u8': return r.u8();
      case 'u16': return r.u16();
      case 'u32': return r.u32();
      case 'u64': return r.u64();
      case 'bool': return r.bool();
      case 'bytes': return r.bytes(f.value.length);
      case 'varBytes': return r.varBytes(f.max);
      case 'string': return r.string(f.max);
    }
  });
  r.finish();
  return out;
}

describe('properties', () => {
  const fields = fc.array(field, { minLength: 1, maxLength: 12 });

  it('round-trips any field sequence', () => {
    fc.assert(
      fc.property(fields, (fs) => {
        expect(decode(encode(fs), fs)).toEqual(fs.map((f) => f.value));
      }),
      { numRuns: 500 },
    );
  });

  it('fails every strict prefix with CODEC_TRUNCATED', () => {
    fc.assert(
      fc.property(fields, (fs) => {
        const bytes = encode(fs);
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(errorOf(() => decode(bytes.subarray(0, cut), fs)).code).toBe('CODEC_TRUNCATED');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('fails any extension with CODEC_TRAILING_BYTES', () => {
    fc.assert(
      fc.property(fields, fc.uint8Array({ minLength: 1, maxLength: 16 }), (fs, extra) => {
        const bytes = encode(fs);
        const longer = new Uint8Array(bytes.length + extra.length);
        longer.set(bytes);
        longer.set(extra, bytes.length);
        expect(errorOf(() => decode(longer, fs)).code).toBe('CODEC_TRAILING_BYTES');
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: equal values give equal bytes', () => {
    fc.assert(
      fc.property(fields, (fs) => {
        expect(hex(encode(fs))).toBe(hex(encode(structuredClone(fs))));
      }),
      { numRuns: 200 },
    );
  });
});
