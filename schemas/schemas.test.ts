import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ERROR_CODES, LoulanError } from '../core-chain/errors.ts';
import { canonicalJson, loadSchemaDocuments, parseSchemaId, schemaHash } from './documents.ts';
import * as api from './index.ts';
import {
  checkLimits,
  DEFAULT_LIMITS,
  isPayloadType,
  listSchemas,
  PAYLOAD_TYPES,
  validateEnvelope,
  validatePayload,
  type TypedEnvelope,
} from './index.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface InvalidExample {
  readonly expect: { readonly code: string; readonly pointer: string };
  readonly value: Json;
}

const examplesDir = new URL('./examples/', import.meta.url);
const readJson = (url: URL): Json => JSON.parse(readFileSync(url, 'utf8')) as Json;

function examples(type: string, kind: 'valid'): [string, Json][];
function examples(type: string, kind: 'invalid'): [string, InvalidExample][];
function examples(type: string, kind: 'valid' | 'invalid'): [string, unknown][] {
  const dir = new URL(`${type}/${kind}/`, examplesDir);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => [file, readJson(new URL(file, dir))]);
}

/** What intake does: limits, then the envelope or the payload schema. */
function check(type: string, value: unknown): void {
  checkLimits(value, DEFAULT_LIMITS);
  if (type === 'envelope') validateEnvelope(value);
  else validatePayload(type, value);
}

function thrown(run: () => unknown): LoulanError {
  try {
    run();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError, nothing was thrown');
}

const exampleTypes = readdirSync(examplesDir).sort();
const documents = loadSchemaDocuments();

describe('examples', () => {
  test('every envelope and payload schema has at least 2 valid and 4 invalid examples, and nothing else does', () => {
    const expected = documents.filter((doc) => doc.role !== 'common').map((doc) => doc.name);
    expect(exampleTypes).toEqual([...expected].sort());
    for (const type of exampleTypes) {
      expect(examples(type, 'valid').length, type).toBeGreaterThanOrEqual(2);
      expect(examples(type, 'invalid').length, type).toBeGreaterThanOrEqual(4);
    }
  });

  test('the invalid examples together exercise every validate error code', () => {
    const used = new Set(exampleTypes.flatMap((type) => examples(type, 'invalid').map(([, doc]) => doc.expect.code)));
    // The schema layer's codes; contracts and the ledger raise validate-phase codes of their own.
    const validateCodes = Object.keys(ERROR_CODES).filter((code) => code.startsWith('VALIDATE_'));
    expect([...used].sort()).toEqual(validateCodes.sort());
  });

  for (const type of exampleTypes) {
    describe(type, () => {
      for (const [file, value] of examples(type, 'valid')) {
        test(`valid/${file}`, () => {
          expect(() => check(type, value)).not.toThrow();
        });
      }
      for (const [file, doc] of examples(type, 'invalid')) {
        test(`invalid/${file}`, () => {
          const { expect: expectation, value } = doc;
          const error = thrown(() => check(type, value));
          expect({ code: error.code, pointer: error.details['pointer'] }).toEqual(expectation);
        });
      }
    });
  }
});

describe('errors', () => {
  test('details carry the pointer, the failing keyword and the schema $id', () => {
    const error = thrown(() => validatePayload('receivable.lock.release', { lockId: 'lk-1', reason: 'DONE' }));
    expect(error.code).toBe('VALIDATE_ENUM');
    expect(error.status).toBe(400);
    expect(error.details).toEqual({ pointer: '/reason', keyword: 'enum', schema: 'urn:loulan:schema:receivable.lock.release:1.0.0' });
  });

  test('payload errors inside an envelope name the payload schema and point under /data', () => {
    const envelope = examples('envelope', 'valid').find(([file]) => file === 'signed-points-order.json')?.[1] as JsonObject;
    const error = thrown(() => validateEnvelope({ ...envelope, data: { ...(envelope['data'] as JsonObject), points: 1 } }));
    expect(error.details).toEqual({ pointer: '/data/points', keyword: 'type', schema: 'urn:loulan:schema:points.exchange.request:1.0.0' });
  });

  test('field names are escaped in pointers (RFC 6901)', () => {
    const error = thrown(() => validatePayload('receivable.lock.release', { lockId: 'lk-1', reason: 'OBSA', 'a/b~c': 1 }));
    expect(error.details['pointer']).toBe('/a~1b~0c');
  });

  test('an unknown type passed to validatePayload points at the payload as a whole', () => {
    const error = thrown(() => validatePayload('points.exchange.refund', {}));
    expect(error.code).toBe('VALIDATE_UNKNOWN_TYPE');
    expect(error.details['pointer']).toBe('');
  });

  test('non-objects are rejected with VALIDATE_TYPE at the root', () => {
    for (const value of [null, 'x', 1, [], true]) {
      const error = thrown(() => validateEnvelope(value));
      expect({ code: error.code, pointer: error.details['pointer'] }).toEqual({ code: 'VALIDATE_TYPE', pointer: '' });
    }
  });
});

// -- the documents themselves ------------------------------------------------------------------------

interface Node {
  readonly schema: JsonObject;
  /** JSON Pointer of the node inside its document. */
  readonly at: string;
  /** Property names of the object schema the node's `required` refers to. */
  readonly scope: readonly string[];
  /** Under `if`: a condition, not the shape of a value. */
  readonly condition: boolean;
}

const SUBSCHEMA_MAPS = ['properties', '$defs', 'patternProperties', 'dependentSchemas'];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMA_ONE = ['items', 'not', 'if', 'then', 'else', 'contains', 'additionalProperties', 'propertyNames'];

function walk(document: JsonObject): Node[] {
  const out: Node[] = [];
  const visit = (schema: Json, at: string, scope: readonly string[], condition: boolean): void => {
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
    const own = schema['properties'];
    const here = own !== undefined ? Object.keys(own as JsonObject) : scope;
    out.push({ schema, at, scope: here, condition });
    for (const key of SUBSCHEMA_MAPS) {
      const map = schema[key];
      if (map === undefined) continue;
      for (const [name, sub] of Object.entries(map as JsonObject)) {
        visit(sub, `${at}/${key}/${name}`, [], condition);
      }
    }
    for (const key of SUBSCHEMA_LISTS) {
      const list = schema[key];
      if (Array.isArray(list)) list.forEach((sub, i) => visit(sub, `${at}/${key}/${i}`, here, condition));
    }
    // Conditionals and combinators inherit the enclosing object's properties for `required`.
    for (const key of SUBSCHEMA_ONE) {
      if (schema[key] !== undefined) visit(schema[key], `${at}/${key}`, here, condition || key === 'if');
    }
  };
  visit(document, '', [], false);
  return out;
}

/** Nodes left open on purpose: the envelope's `data` is closed by the payload schema `type` names. */
const OPEN = new Set(['urn:loulan:schema:envelope:1.0.0#/properties/data']);

describe('schema documents', () => {
  test('each has a versioned urn:loulan $id, the 2020-12 dialect and a description', () => {
    for (const doc of documents) {
      expect(parseSchemaId(doc.id), doc.file).toEqual({ name: doc.name, version: doc.version });
      expect(doc.document['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(typeof doc.document['description'], doc.file).toBe('string');
    }
  });

  test('every object schema is closed with additionalProperties: false', () => {
    const open: string[] = [];
    for (const doc of documents) {
      for (const { schema, at, condition } of walk(doc.document as JsonObject)) {
        const where = `${doc.id}#${at}`;
        const objectLike = schema['type'] === 'object' || schema['properties'] !== undefined;
        if (!objectLike || condition) continue;
        if (OPEN.has(where)) {
          expect(schema['additionalProperties'], where).toBe(true);
          continue;
        }
        const closed =
          schema['additionalProperties'] === false ||
          // A tagged union: each branch is a closed object; the union node only dispatches on the tag.
          (schema['oneOf'] !== undefined && schema['discriminator'] !== undefined && schema['properties'] === undefined) ||
          // A reference that only narrows (`required`): closed by its target.
          (typeof schema['$ref'] === 'string' && schema['properties'] === undefined);
        if (!closed) open.push(where);
      }
    }
    expect(open).toEqual([]);
  });

  test('every required name is a declared property (ajv strictRequired is off for conditionals)', () => {
    const undeclared: string[] = [];
    for (const doc of documents) {
      for (const { schema, at, scope } of walk(doc.document as JsonObject)) {
        if (typeof schema['$ref'] === 'string') continue; // narrows the referenced schema, checked below
        const names = [...((schema['required'] as string[] | undefined) ?? [])];
        for (const [key, deps] of Object.entries((schema['dependentRequired'] as Record<string, string[]> | undefined) ?? {})) names.push(key, ...deps);
        for (const name of names) if (!scope.includes(name)) undeclared.push(`${doc.id}#${at}: ${name}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  test('every field is described, itself or by the definition it references', () => {
    const byId = new Map(documents.map((doc) => [doc.id, doc.document as JsonObject]));
    const target = (doc: string, ref: string): JsonObject | undefined => {
      const [base, fragment = ''] = ref.split('#');
      let node: Json | undefined = byId.get(base === '' || base === undefined ? doc : base);
      for (const part of fragment.split('/').slice(1)) node = (node as JsonObject | undefined)?.[part];
      return node as JsonObject | undefined;
    };
    const undescribed: string[] = [];
    for (const doc of documents) {
      for (const { schema, at } of walk(doc.document as JsonObject)) {
        for (const [name, property] of Object.entries((schema['properties'] as JsonObject | undefined) ?? {})) {
          const p = property as JsonObject;
          if (p['const'] !== undefined) continue; // the tag of a union branch
          const described =
            typeof p['description'] === 'string' ||
            (typeof p['$ref'] === 'string' && typeof target(doc.id, p['$ref'])?.['description'] === 'string');
          if (!described && !at.includes('/if')) undescribed.push(`${doc.id}#${at}/properties/${name}`);
        }
      }
    }
    expect(undescribed).toEqual([]);
  });

  test('PAYLOAD_TYPES lists exactly the payload files, named by their $id, and each is a valid envelope type', () => {
    const files = readdirSync(new URL('./payloads/', import.meta.url))
      .filter((file) => file.endsWith('.schema.json'))
      .map((file) => file.slice(0, -'.schema.json'.length))
      .sort();
    expect([...PAYLOAD_TYPES]).toEqual(files);
    const payloadIds = documents.filter((doc) => doc.role === 'payload').map((doc) => parseSchemaId(doc.id)?.name);
    expect(payloadIds).toEqual(files);
    const typeName = new RegExp(
      ((documents[0]?.document['$defs'] as JsonObject)['typeName'] as JsonObject)['pattern'] as string,
      'u',
    );
    for (const type of PAYLOAD_TYPES) {
      expect(typeName.test(type), type).toBe(true);
      expect(isPayloadType(type)).toBe(true);
    }
    expect(isPayloadType('envelope')).toBe(false);
  });

  test('listSchemas gives id, version and the SHA-256 of the canonical form', () => {
    const list = listSchemas();
    expect(list.map((s) => s.id)).toEqual(documents.map((doc) => doc.id));
    for (const info of list) {
      expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(info.sha256).toBe(schemaHash(JSON.parse(readFileSync(new URL(`../${info.file}`, import.meta.url), 'utf8'))));
      expect(Object.isFrozen(info.document)).toBe(true);
    }
    expect(new Set(list.map((s) => s.sha256)).size).toBe(list.length);
  });

  test('the hash ignores key order and whitespace', () => {
    const reorder = (value: Json): Json =>
      Array.isArray(value)
        ? value.map(reorder)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reorder(v)]))
          : value;
    for (const doc of documents) {
      expect(schemaHash(reorder(doc.document as Json))).toBe(doc.sha256);
    }
    expect(canonicalJson({ b: [1, { d: 'x', c: null }], a: true })).toBe('{"a":true,"b":[1,{"c":null,"d":"x"}]}');
  });

  test('the generated types are current', async () => {
    const { generate } = await import('../scripts/gen/schema-types.ts');
    const [file] = await generate();
    expect(file?.path).toBe('schemas/generated/types.ts');
    expect(file?.content).toBe(readFileSync(new URL('./generated/types.ts', import.meta.url), 'utf8'));
  });

  test('the public surface', () => {
    expect(Object.keys(api).sort()).toEqual([
      'DEFAULT_LIMITS',
      'PAYLOAD_TYPES',
      'checkLimits',
      'isPayloadType',
      'listSchemas',
      'validateEnvelope',
      'validatePayload',
    ]);
  });

  test('validated envelopes narrow data by type (checked by tsc)', () => {
    const value = examples('envelope', 'valid').find(([, v]) => (v as JsonObject)['type'] === 'route.change')?.[1];
    const envelope: TypedEnvelope = validateEnvelope(value);
    if (envelope.type !== 'route.change') throw new Error('expected a route change');
    const op: 'upsert' | 'delete' = envelope.data.op;
    expect(op).toBe('delete');
  });
});

// -- properties ----------------------------------------------------------------------------------------

/** Pointers of every object inside a value (all of them closed in a valid example). */
function objectPointers(value: Json, at = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const children = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const nested = children.flatMap(([key, child]) => objectPointers(child, `${at}/${escapeKey(key)}`));
  return Array.isArray(value) ? nested : [at, ...nested];
}

function escapeKey(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function at(value: Json, pointer: string): JsonObject {
  let node: Json = value;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    node = Array.isArray(node) ? (node[Number(key)] as Json) : (node as JsonObject)[key] as Json;
  }
  return node as JsonObject;
}

const valid = exampleTypes.flatMap((type) => examples(type, 'valid').map(([file, value]) => ({ type, file, value })));

describe('properties', () => {
  test('an extra field anywhere in a valid message is rejected with VALIDATE_UNKNOWN_FIELD at that field', () => {
    const cases = valid.flatMap((example) => objectPointers(example.value).map((pointer) => ({ ...example, pointer })));
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), (example, key, extra) => {
        const value = structuredClone(example.value);
        const target = at(value, example.pointer);
        fc.pre(!Object.hasOwn(target, key));
        Object.defineProperty(target, key, { value: extra as Json, enumerable: true, writable: true, configurable: true });
        const error = thrown(() => check(example.type, value));
        expect({ code: error.code, pointer: error.details['pointer'] }).toEqual({
          code: 'VALIDATE_UNKNOWN_FIELD',
          pointer: `${example.pointer}/${escapeKey(key)}`,
        });
      }),
      { numRuns: 300 },
    );
  });

  test('a sequence number is accepted exactly when it is a canonical decimal of 0..2^64-1', () => {
    const base = examples('envelope', 'valid')[0]?.[1] as JsonObject;
    const accepts = (seq: string): boolean => {
      try {
        validateEnvelope({ ...base, seq });
        return true;
      } catch (error) {
        expect((error as LoulanError).details['pointer']).toBe('/seq');
        return false;
      }
    };
    const max = 2n ** 64n - 1n;
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 66n }), fc.bigInt({ min: max - 1000n, max: max + 1000n })), (n) => {
        expect(accepts(n.toString())).toBe(n <= max);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max }), fc.constantFrom('0', '00', '+', '-', ' '), (n, prefix) => {
        expect(accepts(prefix + n.toString())).toBe(false);
      }),
    );
  });

  test('an amount is accepted exactly when it is a canonical decimal of at most 78 digits', () => {
    const base = examples('points.exchange.result', 'valid').find(([file]) => file === 'completed.json')?.[1] as JsonObject;
    fc.assert(
      fc.property(fc.bigInt({ min: -10n, max: 10n ** 79n }), (n) => {
        const ok = n >= 0n && n < 10n ** 78n;
        const run = () => validatePayload('points.exchange.result', { ...base, pointsDebited: n.toString() });
        if (ok) expect(run).not.toThrow();
        else expect(thrown(run).details['pointer']).toBe('/pointsDebited');
      }),
      { numRuns: 300 },
    );
  });

  test('a base64url value is accepted exactly when it is the canonical encoding of 1..96 bytes', () => {
    const base = examples('envelope', 'valid').find(([file]) => file === 'signed-points-order.json')?.[1] as JsonObject;
    const accepts = (value: string): boolean => {
      try {
        validateEnvelope({ ...base, sig: { ...(base['sig'] as JsonObject), value } });
        return true;
      } catch (error) {
        expect((error as LoulanError).details['pointer']).toBe('/sig/value');
        return false;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 96 }), (bytes) => {
        expect(accepts(Buffer.from(bytes).toString('base64url'))).toBe(true);
      }),
    );
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { minLength: 2, maxLength: 128 }), (chars) => {
        const text = chars.join('');
        const canonical = text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
        expect(accepts(text)).toBe(canonical);
      }),
      { numRuns: 500 },
    );
  });

  test('an envelope type that names no payload schema is VALIDATE_UNKNOWN_TYPE at /type', () => {
    const base = examples('envelope', 'valid')[0]?.[1] as JsonObject;
    const word = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 2, maxLength: 4 }), (words) => {
        const type = words.join('.');
        fc.pre(!isPayloadType(type));
        const error = thrown(() => validateEnvelope({ ...base, type }));
        expect({ code: error.code, pointer: error.details['pointer'] }).toEqual({ code: 'VALIDATE_UNKNOWN_TYPE', pointer: '/type' });
      }),
    );
  });
});

describe('checkLimits', () => {
  test('counts exactly the UTF-8 bytes of the JSON encoding', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const size = Buffer.byteLength(JSON.stringify(value), 'utf8');
        expect(() => checkLimits(value, { maxBytes: size, maxDepth: 1000 })).not.toThrow();
        const error = thrown(() => checkLimits(value, { maxBytes: size - 1, maxDepth: 1000 }));
        expect(error.code).toBe('VALIDATE_TOO_LARGE');
        expect(error.details).toEqual({ pointer: '', keyword: 'maxBytes', limit: size - 1 });
      }),
      { numRuns: 300 },
    );
  });

  test('points at the first container nested too deep', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const depth = (v: unknown): number =>
          v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
        const d = depth(value);
        expect(() => checkLimits(value, { maxBytes: 1e9, maxDepth: d })).not.toThrow();
        if (d === 0) return;
        const error = thrown(() => checkLimits(value, { maxBytes: 1e9, maxDepth: d - 1 }));
        expect(error.code).toBe('VALIDATE_TOO_LARGE');
        const pointer = error.details['pointer'] as string;
        const node = pointer === '' ? value : at(value as Json, pointer);
        expect(node !== null && typeof node === 'object').toBe(true);
        expect(pointer === '' ? 0 : pointer.split('/').length - 1).toBe(d - 1);
      }),
      { numRuns: 300 },
    );
  });

  test('raw bytes are checked by length only; cycles stop at the depth limit', () => {
    expect(() => checkLimits(new Uint8Array(10), { maxBytes: 10, maxDepth: 0 })).not.toThrow();
    expect(thrown(() => checkLimits(new Uint8Array(11), { maxBytes: 10, maxDepth: 0 })).code).toBe('VALIDATE_TOO_LARGE');
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    const error = thrown(() => checkLimits(cycle, { maxBytes: 1e9, maxDepth: 3 }));
    expect(error.details['pointer']).toBe('/self/self/self');
  });

  test('escapes keys in the pointer', () => {
    const error = thrown(() => checkLimits({ 'a/b': { '~': {} } }, { maxBytes: 100, maxDepth: 2 }));
    expect(error.details['pointer']).toBe('/a~1b/~0');
  });
});
