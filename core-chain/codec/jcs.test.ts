import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalBytes, canonicalize, MAX_DEPTH } from './jcs.ts';
import { LoulanError } from '../errors.ts';

const VECTORS = new URL('../../test/vectors/jcs/', import.meta.url);

function codeOf(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code, details: { ...error.details } };
    throw error;
  }
  throw new Error('expected a LoulanError, nothing was thrown');
}

function float64(hex: string): number {
  return Buffer.from(hex.padStart(16, '0'), 'hex').readDoubleBE(0);
}

/** Rebuilds every object with its members in a different order (own data properties only). */
function reorder(value: unknown, pick: (n: number) => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, pick));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const shuffled: [string, unknown][] = [];
    while (entries.length > 0) shuffled.push(...entries.splice(pick(entries.length), 1));
    return Object.fromEntries(shuffled.map(([k, v]) => [k, reorder(v, pick)]));
  }
  return value;
}

/** JSON.stringify with keys sorted by code unit: an independent oracle for well-formed values. */
function sortedStringify(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(sortedStringify).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + sortedStringify((value as Record<string, unknown>)[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}

describe('RFC 8785 reference test data (cyberphone/json-canonicalization testdata)', () => {
  const names = readdirSync(new URL('input/', VECTORS)).filter((f) => f.endsWith('.json')).sort();

  it('has all six published cases', () => {
    expect(names).toEqual(['arrays.json', 'french.json', 'structures.json', 'unicode.json', 'values.json', 'weird.json']);
  });

  it.each(names)('%s canonicalizes to the published output', (name) => {
    const input = JSON.parse(readFileSync(new URL(`input/${name}`, VECTORS), 'utf8')) as unknown;
    const expected = readFileSync(new URL(`output/${name}`, VECTORS));
    expect(canonicalize(input)).toBe(expected.toString('utf8'));
    expect(Buffer.from(canonicalBytes(input)).equals(expected)).toBe(true);
  });
});

describe('RFC 8785 examples and Appendix B', () => {
  const rfc = JSON.parse(readFileSync(new URL('rfc8785.json', VECTORS), 'utf8')) as {
    examples: { name: string; input: string; output?: string; outputHex?: string; valueOrder?: string[] }[];
    numbers: [string, string | null, string][];
  };

  it('§3.2.2 / §3.2.4: primitive types, escaping and UTF-8 bytes', () => {
    const example = rfc.examples[0]!;
    const value = JSON.parse(example.input) as unknown;
    expect(canonicalize(value)).toBe(example.output);
    expect(Buffer.from(canonicalBytes(value)).toString('hex')).toBe(example.outputHex);
  });

  it('§3.2.3: members sort by UTF-16 code units, not code points or locale', () => {
    const example = rfc.examples[1]!;
    const out = canonicalize(JSON.parse(example.input));
    // Positions in the text, not Object.values: JS enumerates integer-like keys ("1") first.
    const positions = example.valueOrder!.map((v) => out.indexOf(`"${v}"`));
    expect(positions.every((p, i) => p > 0 && (i === 0 || p > positions[i - 1]!))).toBe(true);
    // U+1F600 (surrogates D83D DE00) sorts before U+FB33 by code unit, after it by code point.
    expect(out.indexOf('Emoji')).toBeLessThan(out.indexOf('Hebrew'));
  });

  it.each(rfc.numbers)('Appendix B: %s serializes as %s (%s)', (hex, expected) => {
    const n = float64(hex);
    if (expected === null) {
      expect(codeOf(() => canonicalize(n))).toEqual({ code: 'CODEC_NOT_CANONICAL', details: { pointer: '', reason: 'number' } });
    } else {
      expect(canonicalize(n)).toBe(expected);
      expect(canonicalize([n])).toBe(`[${expected}]`);
    }
  });
});

describe('canonicalize: accepted values', () => {
  it('serializes literals, nested structures and null-prototype objects', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = 1;
    bare.a = [true, false, null, 'x'];
    expect(canonicalize(bare)).toBe('{"a":[true,false,null,"x"],"b":1}');
    expect(canonicalize({})).toBe('{}');
    expect(canonicalize([])).toBe('[]');
    expect(canonicalize('')).toBe('""');
    expect(canonicalize(-0)).toBe('0');
  });

  it('escapes exactly the characters RFC 8785 escapes', () => {
    expect(canonicalize('\u0000\u0008\u0009\u000a\u000c\u000d\u001f"\\/\u007f\u00e9\u2028')).toBe(
      '"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\u007f\u00e9\u2028"',
    );
  });

  it('keeps an own "__proto__" member as data', () => {
    const value = JSON.parse('{"__proto__":{"x":1},"a":2}') as unknown;
    expect(canonicalize(value)).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('accepts shared (non-cyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalize({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
  });
});

describe('canonicalize: refusals name the value', () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };
  const sparse: unknown[] = [1];
  sparse[2] = 3;
  const lone = { 'k\ud800': 1 };
  const withSymbol = { a: 1, [Symbol('s')]: 2 };

  it.each<[string, unknown, string, string]>([
    ['NaN', { a: [1, { b: Number.NaN }] }, '/a/1/b', 'number'],
    ['Infinity', [Infinity], '/0', 'number'],
    ['-Infinity', { x: -Infinity }, '/x', 'number'],
    ['undefined member', { a: undefined }, '/a', 'undefined'],
    ['undefined element', [undefined], '/0', 'undefined'],
    ['function', { f: () => 1 }, '/f', 'function'],
    ['symbol value', { s: Symbol('x') }, '/s', 'symbol'],
    ['symbol key', withSymbol, '', 'symbol'],
    ['bigint', { amount: 10n }, '/amount', 'bigint'],
    ['Date', { at: new Date(0) }, '/at', 'object'],
    ['Map', new Map(), '', 'object'],
    ['Uint8Array', { b: new Uint8Array(1) }, '/b', 'object'],
    ['class instance', { p: new Point() }, '/p', 'object'],
    ['boxed string', { s: new String('x') }, '/s', 'object'],
    ['lone high surrogate', { s: 'a\ud800' }, '/s', 'surrogate'],
    ['lone low surrogate', ['\udc00b'], '/0', 'surrogate'],
    ['lone surrogate in a key', lone, '/k\ud800', 'surrogate'],
    ['cycle', cyclic, '/self/back', 'cycle'],
    ['sparse array', sparse, '/1', 'sparse-array'],
    ['pointer escaping', { 'a/b': { 'c~d': NaN } }, '/a~1b/c~0d', 'number'],
  ])('%s', (_name, value, pointer, reason) => {
    expect(codeOf(() => canonicalize(value))).toEqual({ code: 'CODEC_NOT_CANONICAL', details: { pointer, reason } });
    expect(codeOf(() => canonicalBytes(value)).code).toBe('CODEC_NOT_CANONICAL');
  });

  it(`refuses nesting deeper than ${MAX_DEPTH}`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
    expect(() => canonicalize(deep)).not.toThrow();
    expect(codeOf(() => canonicalize([deep])).details.reason).toBe('depth');
    let deeper: unknown = 1;
    for (let i = 0; i < 100_000; i++) deeper = { a: deeper };
    expect(codeOf(() => canonicalize(deeper)).details.reason).toBe('depth');
  });
});

describe('canonicalize: properties', () => {
  const json = fc.jsonValue({ stringUnit: 'binary', maxDepth: 6 });

  it('is idempotent through JSON.parse', () => {
    fc.assert(
      fc.property(json, (value) => {
        const once = canonicalize(value);
        expect(canonicalize(JSON.parse(once))).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on member order', () => {
    fc.assert(
      fc.property(json, fc.infiniteStream(fc.nat()), (value, stream) => {
        const it = stream[Symbol.iterator]();
        const shuffled = reorder(value, (n) => (it.next().value as number) % n);
        expect(canonicalize(shuffled)).toBe(canonicalize(value));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with a sorted JSON.stringify on well-formed values, and parses back', () => {
    fc.assert(
      fc.property(json, (value) => {
        const out = canonicalize(value);
        expect(out).toBe(sortedStringify(value));
        expect(canonicalize(JSON.parse(out))).toBe(out);
        expect(new TextDecoder().decode(canonicalBytes(value))).toBe(out);
      }),
      { numRuns: 500 },
    );
  });

  it('serializes every finite double as JSON.stringify does and round-trips it', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const out = canonicalize(n);
        expect(out).toBe(JSON.stringify(n));
        expect(Number(out)).toBe(n === 0 ? 0 : n);
      }),
      { numRuns: 2000 },
    );
  });
});
