/**
 * What crosses the chaincode boundary: string arguments in, canonical JSON strings out, and errors
 * that keep their Loulan code.
 *
 * Fabric carries a chaincode failure to the client as one string (the proposal response message,
 * which the Gateway client surfaces inside its EndorseError). So a failure is an `Error` whose
 * message is readable on its own and ends with a machine line:
 *
 *   CONTRACT_INSUFFICIENT_FUNDS: balance 5 is below 7
 *   loulan-error:{"code":"CONTRACT_INSUFFICIENT_FUNDS","details":{"balance":"5","need":"7"}}
 *
 * The JSON is RFC 8785 canonical (bigints as decimal strings, bytes as hex), so every endorsing peer
 * returns byte-identical messages. `chaincodeErrorFromMessage` finds the last marker anywhere in a
 * longer text (the peer prefixes its own words) and rebuilds the LoulanError.
 *
 * Argument parsers name the argument in `details.field` (CONTRACT_BAD_ARGS) and bound every size, so
 * that a transaction's cost is bounded before any signature is checked.
 */
import { canonicalize, ERROR_CODES, fromHex, isLoulanError, LoulanError, type ErrorCode } from '../../../core-chain/index.ts';

export const ERROR_MARKER = 'loulan-error:';

/** The `Error` a transaction throws for `error` (anything not a LoulanError becomes INTERNAL). */
export function toChaincodeError(error: unknown): Error {
  const loulan = isLoulanError(error) ? error : new LoulanError('INTERNAL', 'internal error', { cause: error });
  const text = loulan.code === 'INTERNAL' ? 'internal error' : loulan.message.replaceAll('\n', ' ');
  const payload = canonicalize({ code: loulan.code, details: loulan.code === 'INTERNAL' ? {} : jsonSafe(loulan.details) });
  return new Error(`${loulan.code}: ${text}\n${ERROR_MARKER}${payload}`, { cause: loulan });
}

/**
 * The LoulanError carried in a chaincode failure message (as the Fabric client reports it), or
 * undefined when the text carries none (a peer-side failure such as an MVCC conflict).
 *
 * @example
 * try { await contract.submitTransaction('hold', id, '10', deadline); }
 * catch (e) { const err = chaincodeErrorFromMessage(String(e.details?.[0]?.message ?? e.message)); }
 */
export function chaincodeErrorFromMessage(text: string): LoulanError | undefined {
  const at = text.lastIndexOf(ERROR_MARKER);
  if (at < 0) return undefined;
  const line = text.slice(at + ERROR_MARKER.length).split('\n', 1)[0] ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { code, details } = parsed as { code?: unknown; details?: unknown };
  if (typeof code !== 'string' || !Object.hasOwn(ERROR_CODES, code)) return undefined;
  const start = text.lastIndexOf(`${code}: `, at);
  const message = start < 0 ? code : text.slice(start + code.length + 2, at).trim();
  const plain = typeof details === 'object' && details !== null && !Array.isArray(details) ? (details as Record<string, unknown>) : {};
  return new LoulanError(code as ErrorCode, message, { details: plain });
}

/** Runs a transaction body, turning whatever it throws into the wire form. */
export async function guard<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toChaincodeError(error);
  }
}

/** Details as JSON: bigints as decimal strings, bytes as hex, undefined members dropped. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : jsonSafe(v)));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = jsonSafe(v);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

/** A transaction result: canonical JSON text. */
export function result(value: unknown): string {
  return canonicalize(jsonSafe(value));
}

// -- argument parsing ------------------------------------------------------------------------------

/** Largest amount any balance, hold or piece may hold (u128, as the core chain's asset contract). */
export const MAX_AMOUNT = (1n << 128n) - 1n;
/** Longest id (account, hold, piece, pool) in UTF-16 units. */
export const MAX_ID_LENGTH = 256;

export function badArgs(field: string, message: string, extra: Record<string, unknown> = {}): LoulanError {
  return new LoulanError('CONTRACT_BAD_ARGS', `${field}: ${message}`, { details: { field, ...extra } });
}

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;

/** A decimal string in 0..max (or 1..max with `positive`). */
export function decimalArg(value: unknown, field: string, options: { positive?: boolean; max?: bigint } = {}): bigint {
  if (typeof value !== 'string' || !DECIMAL.test(value)) throw badArgs(field, 'expected a decimal integer string');
  const n = BigInt(value);
  if (options.positive === true && n === 0n) throw badArgs(field, 'must be above zero');
  if (n > (options.max ?? MAX_AMOUNT)) throw badArgs(field, 'too large', { max: (options.max ?? MAX_AMOUNT).toString() });
  return n;
}

/**
 * An id usable as a composite-key attribute: 1..256 characters, well-formed, without U+0000 (the
 * composite-key separator) or U+10FFFF (the range-end sentinel).
 */
export function idArg(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw badArgs(field, `expected 1..${MAX_ID_LENGTH} characters`);
  }
  if (!value.isWellFormed() || value.includes('\u0000') || value.includes('\u{10ffff}')) throw badArgs(field, 'contains a forbidden character');
  return value;
}

/** Lower- or upper-case hex of at most `maxBytes` bytes (exactly `length` when given). */
export function hexArg(value: unknown, field: string, maxBytes: number, length?: number): Uint8Array {
  if (typeof value !== 'string' || value.length > 2 * maxBytes) throw badArgs(field, `expected hex of at most ${maxBytes} bytes`);
  try {
    return fromHex(value, length);
  } catch (cause) {
    throw new LoulanError('CONTRACT_BAD_ARGS', `${field}: not ${length === undefined ? '' : `${length} bytes of `}hex`, { details: { field }, cause });
  }
}

/** A JSON argument of at most `maxChars` characters. */
export function jsonArg(value: unknown, field: string, maxChars: number): unknown {
  if (typeof value !== 'string' || value.length > maxChars) throw badArgs(field, `expected JSON of at most ${maxChars} characters`);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw badArgs(field, 'not JSON');
  }
}

/** A plain object with exactly the `required` members and optionally the `optional` ones. */
export function objectArg(value: unknown, field: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badArgs(field, 'expected an object');
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!required.includes(key) && !optional.includes(key)) throw badArgs(`${field}/${key}`, 'unknown member');
  }
  for (const key of required) if (!Object.hasOwn(record, key)) throw badArgs(`${field}/${key}`, 'missing');
  return record;
}

export function arrayArg(value: unknown, field: string, maxItems: number): unknown[] {
  if (!Array.isArray(value)) throw badArgs(field, 'expected an array');
  if (value.length > maxItems) throw badArgs(field, `at most ${maxItems} items`);
  return value;
}

/** A small non-negative integer given as a decimal string (a Merkle leaf index). */
export function indexArg(value: unknown, field: string): number {
  return Number(decimalArg(value, field, { max: 0xffff_ffffn }));
}
