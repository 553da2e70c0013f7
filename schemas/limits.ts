/**
 * Size and nesting limits, checked before schema validation so that a hostile input costs at most
 * one bounded walk: ajv's generated code recurses and would otherwise meet whatever depth the sender
 * chose. The walk is iterative, stops at the first breach, and sizes the value as the JSON text it
 * would serialise to (UTF-8 bytes), so that a parsed body and its raw form obey the same number.
 */
import { LoulanError } from '../core-chain/errors.ts';

export interface Limits {
  /** Largest accepted JSON encoding, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Deepest accepted nesting of objects and arrays; the top-level object is depth 1. */
  readonly maxDepth: number;
}

/** 1 MiB and 32 levels: ample for every payload, e.g. a route change in a signed envelope inside a REST proof needs 7. */
export const DEFAULT_LIMITS: Limits = Object.freeze({ maxBytes: 1 << 20, maxDepth: 32 });

interface Frame {
  readonly value: unknown;
  readonly depth: number;
  readonly parent: Frame | undefined;
  readonly key: string;
}

/**
 * Throws `VALIDATE_TOO_LARGE` when `value` is larger or deeper than `limits`. A `Uint8Array` is taken
 * as the raw body and only its length is checked (parse it, then call again for the depth); any
 * other value is taken as parsed JSON. `details.pointer` is `''` for size and the JSON Pointer of
 * the first container that is too deep for depth.
 *
 * @example
 * checkLimits(body, DEFAULT_LIMITS);
 * const message = JSON.parse(decoder.decode(body));
 * checkLimits(message, DEFAULT_LIMITS);
 * validateEnvelope(message);
 */
export function checkLimits(value: unknown, limits: Limits): void {
  const { maxBytes, maxDepth } = limits;
  if (value instanceof Uint8Array) {
    if (value.byteLength > maxBytes) throw tooLarge(maxBytes);
    return;
  }
  let bytes = 0;
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: '' }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const node = frame.value;
    if (node === null || typeof node !== 'object') {
      bytes += scalarBytes(node);
    } else {
      const depth = frame.depth + 1;
      if (depth > maxDepth) throw tooDeep(frame, maxDepth);
      if (Array.isArray(node)) {
        bytes += 2 + Math.max(0, node.length - 1);
        for (let i = node.length - 1; i >= 0; i--) stack.push({ value: node[i], depth, parent: frame, key: String(i) });
      } else {
        const keys = Object.keys(node);
        bytes += 2 + Math.max(0, keys.length - 1);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i] as string;
          bytes += scalarBytes(key) + 1;
          stack.push({ value: (node as Record<string, unknown>)[key], depth, parent: frame, key });
        }
      }
    }
    if (bytes > maxBytes) throw tooLarge(maxBytes);
  }
}

function scalarBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (typeof value === 'number') return Number.isFinite(value) ? String(value).length : 4;
  if (typeof value === 'boolean') return value ? 4 : 5;
  return 4; // null; undefined and functions do not occur in parsed JSON
}

function tooLarge(limit: number): LoulanError {
  return new LoulanError('VALIDATE_TOO_LARGE', `input is larger than ${limit} bytes`, {
    details: { pointer: '', keyword: 'maxBytes', limit },
  });
}

function tooDeep(frame: Frame, limit: number): LoulanError {
  const keys: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent !== undefined; f = f.parent) keys.push(f.key);
  const pointer = keys
    .reverse()
    .map((key) => '/' + key.replaceAll('~', '~0').replaceAll('/', '~1'))
    .join('');
  return new LoulanError('VALIDATE_TOO_LARGE', `input is nested deeper than ${limit} levels at ${pointer || '/'}`, {
    details: { pointer, keyword: 'maxDepth', limit },
  });
}
