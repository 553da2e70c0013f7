/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the only way JSON is turned into bytes that are
 * hashed or signed in Loulan.
 *
 * JCS is defined in terms of ECMAScript's own JSON serialization, so the primitives map directly
 * onto the engine: numbers use `Number.prototype.toString` (the shortest round-trip form that
 * RFC 8785 §3.2.2.3 prescribes), strings use `JSON.stringify` (whose escaping is exactly §3.2.2.2
 * once lone surrogates are excluded), and object members are sorted by UTF-16 code units, which is
 * what the default string comparison does. What remains is refusing everything that `JSON.stringify`
 * would silently drop, coerce or turn into `null`: a signer and a verifier must never disagree about
 * what was signed, so a value with no exact JSON form is an error (`CODEC_NOT_CANONICAL`, with
 * `details.pointer` the RFC 6901 JSON pointer of the offending value and `details.reason`).
 *
 * Accepted values: `null`, booleans, finite numbers, well-formed strings, arrays without holes, and
 * plain objects (prototype `Object.prototype` or `null`) without symbol keys. Amounts and other
 * big integers travel as decimal strings, never as `bigint` (DESIGN §3).
 */
import { LoulanError } from '../errors.ts';

/** Nesting deeper than this is refused rather than risking a stack overflow mid-signature. */
export const MAX_DEPTH = 512;

export type CanonicalReason =
  | 'number'
  | 'undefined'
  | 'function'
  | 'symbol'
  | 'bigint'
  | 'object'
  | 'surrogate'
  | 'cycle'
  | 'depth'
  | 'sparse-array';

/**
 * The canonical JSON text of `value`.
 *
 * @example canonicalize({ b: [1, 2.50], a: 'x' }) === '{"a":"x","b":[1,2.5]}'
 */
export function canonicalize(value: unknown): string {
  return serialize(value, new Walk());
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `canonicalize(value)`: what gets hashed or signed. */
export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(serialize(value, new Walk()));
}

/**
 * Where the serializer is: the containers it is inside (for cycle detection) and the member names or
 * indexes leading to the current value. The JSON pointer is only built when something fails, so the
 * common path allocates nothing per value.
 */
class Walk {
  readonly ancestors: object[] = [];
  readonly path: (string | number)[] = [];

  fail(reason: CanonicalReason, message: string): never {
    const pointer = this.path.map((token) => '/' + escapePointer(String(token))).join('');
    throw new LoulanError('CODEC_NOT_CANONICAL', message, { details: { pointer, reason } });
  }
}

function serialize(value: unknown, walk: Walk): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) walk.fail('surrogate', 'string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) walk.fail('number', `${value} has no JSON form`);
      // ES Number::toString is RFC 8785's number format; `-0` prints as "0" as §3.2.2.3 requires.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return walk.fail('undefined', 'undefined has no JSON form');
    case 'function':
      return walk.fail('function', 'a function has no JSON form');
    case 'symbol':
      return walk.fail('symbol', 'a symbol has no JSON form');
    case 'bigint':
      return walk.fail('bigint', 'bigint has no exact JSON number form; encode it as a decimal string');
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const { ancestors, path } = walk;
  if (ancestors.length >= MAX_DEPTH) walk.fail('depth', `nesting deeper than ${MAX_DEPTH}`);
  if (ancestors.includes(value)) walk.fail('cycle', 'value contains itself');
  ancestors.push(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      if (!(i in value)) walk.fail('sparse-array', 'array has a hole');
      if (i > 0) out += ',';
      out += serialize(value[i], walk);
      path.pop();
    }
    out += ']';
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) walk.fail('object', `${describe(value)} is not a plain object`);
    if (Object.getOwnPropertySymbols(value).length > 0) walk.fail('symbol', 'object has symbol keys');
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units: exactly RFC 8785 §3.2.3.
    const keys = Object.keys(record).sort();
    out = '{';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      path.push(key);
      if (!key.isWellFormed()) walk.fail('surrogate', 'member name holds a lone surrogate');
      if (i > 0) out += ',';
      out += JSON.stringify(key) + ':' + serialize(record[key], walk);
      path.pop();
    }
    out += '}';
  }
  ancestors.pop();
  return out;
}

/** RFC 6901 reference-token escaping. */
export function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describe(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'object';
}
