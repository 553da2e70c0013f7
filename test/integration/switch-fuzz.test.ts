/**
 * Intake under hostile input, against a real switch process: more than 10,000 malformed bodies sent
 * to `POST /v1/messages` over real sockets, so that the HTTP parser, the error handler, intake and
 * the group-commit store are exercised together, as deployed.
 *
 * The generator is fast-check driven by one seed (set LOULAN_FUZZ_SEED to replay a run; every failure
 * message names the seed). Each case is a recipe built from drawn data: random JSON, deep nesting,
 * huge strings, wrong types in every envelope field, envelopes changed after signing, bad, missing
 * and foreign signatures, unknown key ids, replays of accepted messages, duplicate member names,
 * invalid UTF-8, content types other than JSON, and batches mixing them. Several recipes start from
 * a message that would be accepted and break it in one way only (a duplicate name whose last value
 * is the signed one, bytes that decode leniently to the signed text), so a parser that quietly
 * repairs input shows up as a stored message.
 *
 * What must hold: every answer is a 4xx problem document whose code is in ERROR_CODES with that
 * status (a batch may answer 200, but then every item is such a problem), no connection is dropped,
 * the process is up afterwards, and the store is unchanged: the event cursor is where it was, a
 * sample of the messages' ids is unknown, and the destination received nothing new.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { createSigner, ERROR_CODES, generateKeyPair, signEnvelope, toBase64url, toHex, type Signer } from '../../core-chain/index.ts';
import type { ConsortiumParticipant } from '../../cli/consortium.ts';
import type { Envelope } from '../../schemas/index.ts';
import { batchRoot, batchSigningInput, SENDER_ROLES } from '../../switch/intake.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { until } from '../support/ports.ts';

const SEED = Number(process.env['LOULAN_FUZZ_SEED'] ?? Math.floor(Math.random() * 0x7fffffff));
const CASES = 10_200;
const IN_FLIGHT = 16;
/** Intake's size limit (schemas/limits.ts) and the switch's default HTTP body limit (switch/config.ts). */
const MAX_MESSAGE_BYTES = 1 << 20;
const BODY_LIMIT = 16 << 20;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Message = Record<string, Json>;

/** One request: the bytes, how they are labelled, and what the answer may be. */
interface Case {
  readonly kind: string;
  readonly body: Uint8Array;
  /** `undefined` sends no Content-Type header. */
  readonly contentType: string | undefined;
  /** Further request headers; `chunked` sends the body in pieces without a Content-Length. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly chunked?: boolean;
  /** When set, the answer's code must be one of these. */
  readonly expect?: readonly string[];
  /** When set, the problem document must carry these members. */
  readonly expectDetails?: Readonly<Record<string, unknown>>;
  /** Ids of messages in the body that the switch must not know afterwards. */
  readonly ids: readonly string[];
  /** The JSON value sent, for recipes that batches can reuse. */
  readonly value?: Json;
}

/** What recipes build with: fresh messages, the accepted ones, and keys (the demo shop's and others). */
interface Kit {
  /** An unsigned message from the shop to the program that intake would accept once signed. */
  fresh(type?: 'points.exchange.request' | 'asset.transfer.request'): Message;
  sign(message: Message, as?: Signer): Promise<Message>;
  /** The messages accepted before the fuzzing started (seq 1 to 3 on the shop's channel). */
  readonly accepted: readonly Message[];
  readonly shop: ConsortiumParticipant;
  readonly program: ConsortiumParticipant;
  /** The shop's own key, for batch signatures. */
  readonly shopSigner: Signer;
  /** Signs with the program's own key and kid. */
  readonly programSigner: Signer;
  /** A key nobody registered, under the shop's kid. */
  readonly impostor: Signer;
  /** Valid payloads per type, from schemas/examples. */
  readonly examples: ReadonlyMap<string, readonly Json[]>;
  readonly now: number;
}

type Recipe = (kit: Kit) => Case | Promise<Case>;

const JSON_TYPE = 'application/json';
const utf8 = (text: string) => new TextEncoder().encode(text);
const jsonCase = (kind: string, value: Json, ids: readonly string[] = [], expect?: readonly string[]): Case => ({
  kind,
  body: utf8(JSON.stringify(value)),
  contentType: JSON_TYPE,
  ids,
  value,
  ...(expect === undefined ? {} : { expect }),
});
const clone = <T>(value: T): T => structuredClone(value);
const idOf = (m: Message): string[] => (typeof m['id'] === 'string' ? [m['id']] : []);

/** Sets (or with `undefined`, deletes) the member at a dotted path; the objects on the way must exist. */
function setPath(message: Message, path: string, value: Json | undefined): Message {
  const out = clone(message);
  const keys = path.split('.');
  let node = out as Record<string, Json>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, Json>;
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return out;
}

function getPath(message: Message, path: string): Json | undefined {
  let node: Json | undefined = message;
  for (const key of path.split('.')) node = node !== null && typeof node === 'object' && !Array.isArray(node) ? node[key] : undefined;
  return node;
}

/** `message` changed at `path`, guaranteed to differ from it (so a signed message never survives intact). */
function changed(message: Message, path: string, value: Json | undefined): Message {
  const out = setPath(message, path, value);
  if (JSON.stringify(out) !== JSON.stringify(message)) return out;
  return setPath(message, path, getPath(message, path) === null ? 0 : null);
}

// -- recipes --------------------------------------------------------------------------------------

const ENVELOPE_FIELDS = ['id', 'type', 'source', 'to', 'seq', 'time', 'expiresAt', 'data', 'sig'];
const FIELD_PATHS = [
  ...ENVELOPE_FIELDS,
  'sig.alg',
  'sig.kid',
  'sig.value',
  'data.orderId',
  'data.idempotencyKey',
  'data.pair',
  'data.quoteId',
  'data.source',
  'data.source.program',
  'data.source.member',
  'data.target',
  'data.target.member',
  'data.points',
  'data.expectedCredit',
];

const jsonValue = fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>;
/** A value of some JSON type, often not the one the field wants. */
const wrongValue: fc.Arbitrary<Json | undefined> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(''),
  fc.string({ maxLength: 40 }),
  fc.array(jsonValue, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 3 }),
  fc.constant('1e3'),
  fc.constant('-1'),
  fc.constant('18446744073709551616'),
);

/** Random JSON, and random objects named like envelopes or batches. */
const randomJson: fc.Arbitrary<Recipe> = fc.oneof(
  jsonValue.map((v) => () => jsonCase('random-json', v)),
  fc
    .dictionary(fc.constantFrom(...ENVELOPE_FIELDS, 'messages', '__proto__', 'constructor', 'extra'), jsonValue, { maxKeys: 10 })
    .map((v) => () => jsonCase('random-envelope', v as Json)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => () => ({ kind: 'random-text', body: utf8(s), contentType: JSON_TYPE, ids: [] })),
  fc.uint8Array({ maxLength: 300 }).map((b) => () => ({ kind: 'random-bytes', body: b, contentType: JSON_TYPE, ids: [] })),
);

/** A signed fresh message with one field of the wrong type (or missing). */
const wrongType: fc.Arbitrary<Recipe> = fc.tuple(fc.constantFrom(...FIELD_PATHS), wrongValue, fc.boolean()).map(([path, value, before]): Recipe => async (kit) => {
  const fresh = kit.fresh();
  // Changed before signing only when the value cannot be valid there (a string might be), and
  // never for the signature's own fields: then the signature cannot cover it.
  const early = before && typeof value !== 'string' && value !== undefined && !path.startsWith('sig');
  const message = early ? await kit.sign(changed(fresh, path, value)) : changed(await kit.sign(fresh), path, value);
  return jsonCase('wrong-type', message, idOf(message));
});

/** Signed, then one field changed to another well-formed value: the signature no longer covers it. */
const MUTATIONS: ReadonlyArray<[string, (m: Message, kit: Kit) => Json, readonly string[] | undefined]> = [
  ['id', (m) => `${String(m['id'])}x`, ['CRYPTO_SIGNATURE_INVALID']],
  ['seq', (m) => String(BigInt(String(m['seq'])) + 1n), ['CRYPTO_SIGNATURE_INVALID']],
  ['to', () => 'cn.loulan.partner.other', ['CRYPTO_SIGNATURE_INVALID']],
  ['time', (_m, kit) => new Date(kit.now - 1_000).toISOString(), ['CRYPTO_SIGNATURE_INVALID']],
  ['expiresAt', (_m, kit) => new Date(kit.now + 7_200_000).toISOString(), ['CRYPTO_SIGNATURE_INVALID']],
  ['data.points', () => '5001', ['CRYPTO_SIGNATURE_INVALID']],
  ['data.orderId', () => 'ord-tampered', ['CRYPTO_SIGNATURE_INVALID']],
  ['data.target.member', () => 'CA-9999999999', ['CRYPTO_SIGNATURE_INVALID']],
  ['source', (_m, kit) => kit.program.id, ['INTAKE_KEY_NOT_OF_SOURCE']],
  ['type', () => 'points.exchange.quote.request', undefined],
  ['extra', () => 1, ['VALIDATE_UNKNOWN_FIELD']],
  ['data.extra', () => 'x', ['VALIDATE_UNKNOWN_FIELD']],
];
const mutated: fc.Arbitrary<Recipe> = fc.constantFrom(...MUTATIONS).map(([path, value, expect]): Recipe => async (kit) => {
  const signed = await kit.sign(kit.fresh());
  const message = changed(signed, path, value(signed, kit));
  return jsonCase(`mutated-${path}`, message, idOf(message), expect);
});

/** Missing, malformed, forged and foreign signatures. */
const badSignature: fc.Arbitrary<Recipe> = fc.oneof(
  fc.constant<Recipe>((kit) => {
    const m = kit.fresh();
    return jsonCase('sig-missing', m, idOf(m), ['VALIDATE_REQUIRED']);
  }),
  fc.uint8Array({ minLength: 64, maxLength: 64 }).map((bytes): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.value', toBase64url(bytes));
    return jsonCase('sig-random', m, idOf(m), ['CRYPTO_SIGNATURE_INVALID', 'CRYPTO_MALFORMED_SIGNATURE']);
  }),
  fc.uint8Array({ minLength: 1, maxLength: 95 }).filter((b) => b.length !== 64).map((bytes): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.value', toBase64url(bytes));
    return jsonCase('sig-length', m, idOf(m));
  }),
  fc.string({ minLength: 1, maxLength: 130 }).map((value): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.value', value);
    return jsonCase('sig-text', m, idOf(m));
  }),
  fc.constant<Recipe>(async (kit) => {
    const m = await kit.sign(kit.fresh(), kit.impostor);
    return jsonCase('sig-impostor', m, idOf(m), ['CRYPTO_SIGNATURE_INVALID']);
  }),
  fc.constant<Recipe>(async (kit) => {
    const m = await kit.sign(kit.fresh(), kit.programSigner);
    return jsonCase('sig-foreign', m, idOf(m), ['INTAKE_KEY_NOT_OF_SOURCE']);
  }),
  fc.constant<Recipe>(async (kit) => {
    // A genuine signature of the shop, over another message.
    const other = await kit.sign(kit.fresh());
    const m = { ...(await kit.sign(kit.fresh())), sig: other['sig']! };
    return jsonCase('sig-swapped', m, idOf(m), ['CRYPTO_SIGNATURE_INVALID']);
  }),
  fc.constantFrom('ES256', 'ES256K', 'RS256', 'none', 'ed25519').map((alg): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.alg', alg);
    return jsonCase('sig-alg', m, idOf(m));
  }),
);

/** Key ids that name no key of the source, and sources that are no participant. */
const unknownKid: fc.Arbitrary<Recipe> = fc.oneof(
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.kid', `${kit.shop.id}#${toHex(bytes)}`);
    return jsonCase('kid-unknown', m, idOf(m), ['INTAKE_KEY_NOT_OF_SOURCE']);
  }),
  fc.string({ maxLength: 60 }).map((kid): Recipe => async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.kid', kid);
    return jsonCase('kid-random', m, idOf(m));
  }),
  fc.constant<Recipe>(async (kit) => {
    const m = setPath(await kit.sign(kit.fresh()), 'sig.kid', kit.program.kid);
    return jsonCase('kid-foreign', m, idOf(m), ['INTAKE_KEY_NOT_OF_SOURCE']);
  }),
  fc.constantFrom('cn.loulan.shop.ghost', 'cn.loulan.shop.demo.sub', 'cn.loulan.switch.local').map((source): Recipe => async (kit) => {
    const ghost = createSigner('Ed25519', generateKeyPair('Ed25519').privateKey, { kid: `${source}#00` });
    const m = await kit.sign({ ...kit.fresh(), source }, ghost);
    return jsonCase('source-unknown', m, idOf(m), ['INTAKE_UNKNOWN_SOURCE', 'INTAKE_KEY_NOT_OF_SOURCE']);
  }),
);

/** Accepted messages again: under new ids with their old seqs, or other content under their ids. */
const replay: fc.Arbitrary<Recipe> = fc.tuple(fc.nat(), fc.boolean()).map(([pick, sameId]): Recipe => async (kit) => {
  const original = kit.accepted[pick % kit.accepted.length]!;
  const { sig: _sig, ...unsigned } = original;
  if (sameId) {
    const m = await kit.sign({ ...kit.fresh(), id: unsigned['id']! });
    return jsonCase('replay-id', m, [], ['INTAKE_ID_CONFLICT']);
  }
  const m = await kit.sign({ ...unsigned, id: String(kit.fresh()['id']) });
  return jsonCase('replay-seq', m, idOf(m), ['INTAKE_SEQ_REPLAY']);
});

/** Well signed, but past its deadline, from the future, or of a type the shop may not send. */
const refused: fc.Arbitrary<Recipe> = fc.oneof(
  fc.integer({ min: 1, max: 86_400_000 }).map((ago): Recipe => async (kit) => {
    const m = await kit.sign({ ...kit.fresh(), time: new Date(kit.now - ago - 1_000).toISOString(), expiresAt: new Date(kit.now - ago).toISOString() });
    return jsonCase('expired', m, idOf(m), ['INTAKE_EXPIRED']);
  }),
  fc.integer({ min: 600_000, max: 86_400_000 }).map((ahead): Recipe => async (kit) => {
    const m = await kit.sign({ ...kit.fresh(), time: new Date(kit.now + ahead).toISOString(), expiresAt: new Date(kit.now + 2 * ahead).toISOString() });
    return jsonCase('future', m, idOf(m), ['INTAKE_CLOCK_SKEW']);
  }),
  fc.constant<Recipe>(async (kit) => {
    // Both far enough ahead that neither expiry nor a slow run changes the answer.
    const m = await kit.sign({ ...kit.fresh(), time: new Date(kit.now + 3_300_000).toISOString(), expiresAt: new Date(kit.now + 3_000_000).toISOString() });
    return jsonCase('after-deadline', m, idOf(m), ['INTAKE_CLOCK_SKEW']);
  }),
  fc.tuple(fc.constantFrom(...Object.keys(SENDER_ROLES).filter((t) => !SENDER_ROLES[t]!.includes('shop'))), fc.nat()).map(([type, pick]): Recipe => async (kit) => {
    const examples = kit.examples.get(type)!;
    const m = await kit.sign({ ...kit.fresh(), type, data: examples[pick % examples.length]! });
    return jsonCase('forbidden', m, idOf(m), ['INTAKE_FORBIDDEN']);
  }),
);

/** JSON text of `value` with nested text in place of the string `"\u0000HOLE"` (built as text: no recursion). */
function withHole(value: Json, hole: string): Uint8Array {
  return utf8(JSON.stringify(value).replace('"\\u0000HOLE"', hole));
}

function nested(depth: number, shape: 'array' | 'object' | 'mixed'): string {
  if (shape === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  return '{"a":['.repeat(depth >> 1) + (depth % 2 === 1 ? '{"a":0}' : '0') + ']}'.repeat(depth >> 1);
}

/** Nesting beyond the 32-level limit, at the top, in the payload, in the signature, in a batch. */
const deep: fc.Arbitrary<Recipe> = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 33, max: 64 }) }, { weight: 3, arbitrary: fc.integer({ min: 65, max: 5_000 }) }, { weight: 1, arbitrary: fc.constantFrom(100_000, 1_000_000) }),
    fc.constantFrom('array' as const, 'object' as const, 'mixed' as const),
    fc.constantFrom('top', 'data', 'data.source', 'sig', 'extra', 'batch'),
  )
  .map(([depth, shape, where]): Recipe => async (kit) => {
    const text = nested(depth, shape);
    const signed = await kit.sign(kit.fresh());
    const ids = idOf(signed);
    const tampered = { ...signed, seq: '1' };
    if (where === 'top') return { kind: `deep-top-${shape}`, body: utf8(text), contentType: JSON_TYPE, ids: [], expect: [shape === 'array' ? 'INTAKE_MALFORMED' : 'VALIDATE_TOO_LARGE'] };
    // In a batch the deep item is refused alone (a 200 whose items are all problems).
    if (where === 'batch') return { kind: 'deep-batch', body: withHole({ messages: [tampered, '\u0000HOLE'] }, text), contentType: JSON_TYPE, ids };
    return { kind: `deep-${where}`, body: withHole(setPath(signed, where, '\u0000HOLE'), text), contentType: JSON_TYPE, ids, expect: ['VALIDATE_TOO_LARGE'] };
  });

/** Strings longer than any field allows, up to a few hundred kilobytes (the ones at the limits are fixed cases). */
const longString: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom(...FIELD_PATHS, 'data.memo'), fc.integer({ min: 257, max: 300_000 }), fc.constantFrom('a', 'é', '😀', '\\', '"'))
  .map(([path, length, unit]): Recipe => async (kit) => {
    const fresh = kit.fresh(path === 'data.memo' ? 'asset.transfer.request' : 'points.exchange.request');
    const m = path.startsWith('sig') ? changed(await kit.sign(fresh), path, unit.repeat(length)) : await kit.sign(changed(fresh, path, unit.repeat(length)));
    return jsonCase('long-string', m, idOf(m));
  });

/** JSON text of `value` with an extra member `name` in the object at `path` (before or after the real one). */
function withDuplicate(value: Json, path: string[], name: string, extra: Json, first: boolean): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => withDuplicate(v, [], name, extra, first)).join(',')}]`;
  const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${path.length > 0 && k === path[0] ? withDuplicate(v, path.slice(1), name, extra, first) : JSON.stringify(v)}`);
  if (path.length === 0) {
    const dup = `${JSON.stringify(name)}:${JSON.stringify(extra)}`;
    if (first) members.unshift(dup);
    else members.push(dup);
  }
  return `{${members.join(',')}}`;
}

/**
 * A member name twice in one object. With the signed value last, lenient parsers (last one wins)
 * see a valid message; with it first, they see a forged one. Either way the text is not I-JSON.
 */
const duplicateNames: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom(...FIELD_PATHS.filter((p) => !p.startsWith('sig.')), 'sig.value', 'data.memo'), wrongValue, fc.boolean(), fc.boolean())
  .map(([path, bogus, first, escaped]): Recipe => async (kit) => {
    const signed = await kit.sign(kit.fresh(path === 'data.memo' ? 'asset.transfer.request' : 'points.exchange.request'));
    const keys = path.split('.');
    const name = keys[keys.length - 1]!;
    const real = getPath(signed, path);
    // The extra copy holds the signed value itself half of the time: exact duplicates are refused too.
    const extra = bogus === undefined || real === undefined ? (real ?? null) : bogus;
    let text = withDuplicate(signed, keys.slice(0, -1), name, extra, first);
    // The same name spelled with an escape, which JSON.parse decodes to the same key.
    if (escaped) text = text.replace(`"${name}":`, `"\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${name.slice(1)}":`);
    const pointer = keys.map((k) => `/${k}`).join('');
    return { kind: 'duplicate-name', body: utf8(text), contentType: JSON_TYPE, ids: idOf(signed), expect: ['INTAKE_MALFORMED'], expectDetails: { pointer, reason: 'DUPLICATE_NAME' } };
  });

/** Byte sequences that are not UTF-8: stray continuation bytes, overlongs, surrogates, truncations, > U+10FFFF. */
const BAD_UTF8: readonly number[][] = [[0xff], [0xfe], [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3]];

/**
 * Invalid UTF-8 inside a signed message's free text. The memo is signed as the bytes decode
 * leniently (U+FFFD for each bad sequence), so only a strict decoder tells the two apart.
 */
const invalidUtf8: fc.Arbitrary<Recipe> = fc.oneof(
  fc.tuple(fc.constantFrom(...BAD_UTF8), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })).map(([bad, pre, post]): Recipe => async (kit) => {
    const raw = Uint8Array.from(bad);
    const lenient = new TextDecoder().decode(raw);
    const signed = await kit.sign(setPath(kit.fresh('asset.transfer.request'), 'data.memo', `${pre}${lenient}${post}`));
    const text = Buffer.from(JSON.stringify(signed), 'utf8');
    const at = text.indexOf(Buffer.from(lenient, 'utf8'));
    const body = Buffer.concat([text.subarray(0, at), raw, text.subarray(at + Buffer.byteLength(lenient))]);
    return { kind: 'invalid-utf8-memo', body, contentType: JSON_TYPE, ids: idOf(signed), expect: ['INTAKE_MALFORMED'], expectDetails: { pointer: '', reason: 'INVALID_UTF8' } };
  }),
  fc.tuple(fc.constantFrom(...BAD_UTF8), fc.nat()).map(([bad, pick]): Recipe => async (kit) => {
    // Anywhere in the text: in a name, a value, or between tokens.
    const text = Buffer.from(JSON.stringify(await kit.sign(kit.fresh())), 'utf8');
    const at = pick % text.length;
    return { kind: 'invalid-utf8-anywhere', body: Buffer.concat([text.subarray(0, at), Uint8Array.from(bad), text.subarray(at)]), contentType: JSON_TYPE, ids: [] };
  }),
);

/** A message that intake would accept, labelled as anything but JSON (or not labelled). */
const contentTypes: fc.Arbitrary<Recipe> = fc
  .constantFrom(
    undefined,
    '',
    'text/plain',
    'text/plain; charset=utf-8',
    'text/json',
    'application/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/jsonx',
    'application/json-seq',
    'application/problem+json',
    'application/x-json',
    'json',
    '*/*',
    'image/png',
    'application',
    ';',
  )
  .map((contentType): Recipe => async (kit) => {
    const m = await kit.sign(kit.fresh());
    return { kind: 'content-type', body: utf8(JSON.stringify(m)), contentType, ids: idOf(m), expect: ['RPC_UNSUPPORTED_MEDIA_TYPE'] };
  });

/** Framing: a chunked body, and content codings the switch does not decode. */
const transport: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom(undefined, 'gzip', 'br', 'deflate', 'identity', 'x-unknown'), fc.boolean())
  .map(([coding, chunked]): Recipe => async (kit) => {
    // A message broken only by its signature, so that whatever the framing, it must be refused.
    const m = { ...(await kit.sign(kit.fresh())), seq: '1' };
    let body: Uint8Array = utf8(JSON.stringify(m));
    if (coding === 'gzip') body = gzipSync(body);
    else if (coding === 'deflate') body = deflateSync(body);
    else if (coding === 'br') body = brotliCompressSync(body);
    const headers = coding === undefined ? {} : { 'content-encoding': coding };
    return { kind: `transport-${coding ?? 'plain'}${chunked ? '-chunked' : ''}`, body, contentType: JSON_TYPE, headers, chunked, ids: idOf(m) };
  });

/** The recipes whose JSON value a batch can carry. */
const itemRecipes = fc.oneof(wrongType, mutated, badSignature, unknownKid, replay, refused, randomJson);

/** Batches mixing the above; batch signatures that are wrong, foreign, or cover broken messages. */
const batch: fc.Arbitrary<Recipe> = fc.oneof(
  fc.array(itemRecipes, { minLength: 1, maxLength: 8 }).map((recipes): Recipe => async (kit) => {
    const items = await Promise.all(recipes.map((r) => r(kit)));
    const messages = items.flatMap((c) => (c.value === undefined ? [] : [c.value]));
    const value = messages.length > 0 ? { messages } : { messages: [null] };
    return jsonCase('batch-mixed', value, items.flatMap((c) => c.ids));
  }),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.constantFrom('other-root', 'impostor', 'foreign', 'unknown-kid', 'random')).map(([n, how]): Recipe => async (kit) => {
    const messages = Array.from({ length: n }, () => kit.fresh());
    const root = batchRoot(how === 'other-root' ? [...messages, kit.fresh()] : messages);
    const signer = how === 'impostor' ? kit.impostor : how === 'foreign' ? kit.programSigner : kit.shopSigner;
    const value = how === 'random' ? toBase64url(crypto.getRandomValues(new Uint8Array(64))) : toBase64url(await signer.sign(batchSigningInput(root)));
    const kid = how === 'unknown-kid' ? `${kit.shop.id}#${'00'.repeat(20)}` : signer.kid;
    const expect = how === 'foreign' || how === 'unknown-kid' ? ['INTAKE_KEY_NOT_OF_SOURCE'] : ['CRYPTO_SIGNATURE_INVALID'];
    return jsonCase(`batch-sig-${how}`, { messages, sig: { alg: signer.alg, kid, value } } as unknown as Json, messages.flatMap(idOf), expect);
  }),
  // A correct batch signature over messages that are each refused for what they say (or are no message).
  fc.array(fc.oneof(fc.constantFrom('replay', 'expired', 'forbidden', 'own-sig'), jsonValue.map((random) => ({ random }))), { minLength: 1, maxLength: 6 }).map((kinds): Recipe => async (kit) => {
    const messages: Json[] = [];
    for (const [i, kind] of kinds.entries()) {
      const original = kit.accepted[i % kit.accepted.length]!;
      const { sig: _sig, ...unsigned } = original;
      if (typeof kind === 'object') messages.push(kind.random);
      else if (kind === 'replay') messages.push({ ...unsigned, id: String(kit.fresh()['id']) });
      else if (kind === 'expired') messages.push({ ...kit.fresh(), time: new Date(kit.now - 2_000).toISOString(), expiresAt: new Date(kit.now - 1_000).toISOString() });
      else if (kind === 'forbidden') messages.push({ ...kit.fresh(), type: 'points.exchange.result', data: kit.examples.get('points.exchange.result')![0]! });
      else messages.push(await kit.sign(kit.fresh()));
    }
    const signer = kit.shopSigner;
    let root: Uint8Array;
    try {
      root = batchRoot(messages as object[]);
    } catch {
      // A value with no canonical form (a number JCS cannot write): sign something else.
      root = new Uint8Array(32);
    }
    const sig = { alg: signer.alg, kid: signer.kid, value: toBase64url(await signer.sign(batchSigningInput(root))) };
    const ids = messages.flatMap((m) => (m !== null && typeof m === 'object' && !Array.isArray(m) ? idOf(m) : []));
    return jsonCase('batch-signed-refused', { messages, sig } as unknown as Json, ids);
  }),
  fc.oneof(
    fc.constant<Json>({ messages: [] }),
    fc.constant<Json>({ messages: {} }),
    fc.constant<Json>({ messages: null }),
    fc.constant<Json>({ messages: 'x' }),
    jsonValue.map((extra) => ({ messages: [{}], extra })),
    wrongValue.map((sig) => ({ messages: [{}], sig: sig ?? null })),
    fc.record({ alg: wrongValue, kid: wrongValue, value: wrongValue }).map((sig) => ({ messages: [{}], sig: JSON.parse(JSON.stringify(sig)) as Json })),
  ).map((value) => () => jsonCase('batch-malformed', value)),
);

const anyRecipe: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 10, arbitrary: randomJson },
  { weight: 12, arbitrary: wrongType },
  { weight: 10, arbitrary: mutated },
  { weight: 10, arbitrary: badSignature },
  { weight: 6, arbitrary: unknownKid },
  { weight: 6, arbitrary: replay },
  { weight: 8, arbitrary: refused },
  { weight: 6, arbitrary: deep },
  { weight: 2, arbitrary: longString },
  { weight: 6, arbitrary: duplicateNames },
  { weight: 6, arbitrary: invalidUtf8 },
  { weight: 5, arbitrary: contentTypes },
  { weight: 8, arbitrary: batch },
  { weight: 2, arbitrary: transport },
);

/**
 * Fixed cases at the size limits: a message exactly at intake's 1 MiB limit (refused by the schema,
 * not the size check) and one byte over it, and bodies just under, at and over the 16 MiB body limit.
 */
async function limitCases(kit: Kit): Promise<Case[]> {
  const sized = async (bytes: number) => {
    let memo = 0;
    for (let i = 0; i < 3; i++) {
      const m = await kit.sign(setPath(kit.fresh('asset.transfer.request'), 'data.memo', 'm'.repeat(memo)));
      const size = utf8(JSON.stringify(m)).length;
      if (size === bytes) return m;
      memo += bytes - size;
    }
    throw new Error(`cannot size a message to ${bytes} bytes`);
  };
  const atLimit = await sized(MAX_MESSAGE_BYTES);
  const overLimit = await sized(MAX_MESSAGE_BYTES + 1);
  const filler = (bytes: number) => utf8(`{"data":"${'x'.repeat(bytes - 11)}"}`);
  return [
    jsonCase('limit-message-at', atLimit, idOf(atLimit), ['VALIDATE_RANGE']),
    jsonCase('limit-message-over', overLimit, idOf(overLimit), ['VALIDATE_TOO_LARGE']),
    { kind: 'limit-body-under', body: filler(BODY_LIMIT - 1), contentType: JSON_TYPE, ids: [], expect: ['VALIDATE_TOO_LARGE'] },
    { kind: 'limit-body-at', body: filler(BODY_LIMIT), contentType: JSON_TYPE, ids: [], expect: ['VALIDATE_TOO_LARGE'] },
    { kind: 'limit-body-over', body: filler(BODY_LIMIT + 1), contentType: JSON_TYPE, ids: [], expect: ['VALIDATE_TOO_LARGE'] },
    { kind: 'limit-body-over-text', body: utf8('"' + 'x'.repeat(BODY_LIMIT + 1024) + '"'), contentType: JSON_TYPE, ids: [], expect: ['VALIDATE_TOO_LARGE'] },
    jsonCase('limit-batch-items', { messages: Array.from({ length: 10_001 }, () => ({})) }, [], ['INTAKE_MALFORMED']),
    { kind: 'limit-empty', body: new Uint8Array(0), contentType: JSON_TYPE, ids: [], expect: ['INTAKE_MALFORMED'] },
  ];
}

// -- the switch -----------------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

let consortium: TestConsortium;
let agent: Agent;
let kit: Kit;
let cursorBefore: number;
let effectsBefore: number;

function post(body: Uint8Array, contentType: string | undefined, extra: { headers?: Readonly<Record<string, string>>; chunked?: boolean } = {}): Promise<Answer> {
  const url = new URL(consortium.switchUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...extra.headers };
    if (extra.chunked !== true) headers['content-length'] = String(body.length);
    if (contentType !== undefined) headers['content-type'] = contentType;
    // A server may answer a body over its limit (413) before it has read it all, and close: the
    // client then fails writing the rest (EPIPE). The answer it got is still the answer; and a body
    // over the limit may also just be cut off, which is a refusal too.
    let answered = false;
    const req = request({ agent, host: url.hostname, port: url.port, method: 'POST', path: '/v1/messages', headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      const done = () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', done);
      res.on('close', done);
      res.on('error', () => undefined);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (answered) return; // the response's close settles it
      if (body.length > BODY_LIMIT && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) {
        resolve({ status: 413, contentType: 'application/problem+json', text: JSON.stringify({ code: 'VALIDATE_TOO_LARGE', status: 413, type: 'urn:loulan:error:VALIDATE_TOO_LARGE', cutOff: true }) });
        return;
      }
      reject(error);
    });
    if (extra.chunked === true) {
      // Several writes, each its own chunk.
      const step = Math.max(1, Math.ceil(body.length / 7));
      for (let at = 0; at < body.length; at += step) req.write(body.subarray(at, at + step));
      req.end();
    } else req.end(body);
  });
}

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${consortium.switchUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What is wrong with one problem document (empty when it is a registry-coded 4xx matching `status`). */
function problemFault(problem: unknown, status: number): string | undefined {
  if (problem === null || typeof problem !== 'object') return 'not a problem document';
  const { code, status: inBody, type } = problem as Record<string, unknown>;
  if (typeof code !== 'string' || !Object.hasOwn(ERROR_CODES, code)) return `code ${String(code)} is not in ERROR_CODES`;
  const spec = ERROR_CODES[code as keyof typeof ERROR_CODES];
  if (spec.status !== status || inBody !== status) return `${code}: status ${status}, body says ${String(inBody)}, registry says ${spec.status}`;
  if (status < 400 || status >= 500) return `${code} is a ${status}, not a 4xx`;
  if (type !== `urn:loulan:error:${code}`) return `${code}: type is ${String(type)}`;
  return undefined;
}

/** The codes of an answer, or why the answer breaks the rules. */
function judge(c: Case, answer: Answer): { codes: string[]; fault?: string } {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return { codes: [], fault: `${answer.status} with a body that is not JSON: ${answer.text.slice(0, 100)}` };
  }
  const results = (body as { results?: unknown }).results;
  if (answer.status === 200 && Array.isArray(results)) {
    if (c.expect !== undefined) return { codes: [], fault: `expected the whole batch refused with ${c.expect.join(' or ')}, got per-message answers` };
    const codes: string[] = [];
    for (const item of results as Array<Record<string, unknown>>) {
      if (!('problem' in item)) return { codes, fault: `batch item ${String(item['id'])} was accepted` };
      const problem = item['problem'] as Record<string, unknown>;
      const fault = problemFault(problem, Number(problem['status']));
      if (fault !== undefined) return { codes, fault: `batch item ${String(item['index'])}: ${fault}` };
      codes.push(String(problem['code']));
    }
    return { codes };
  }
  if (!answer.contentType.startsWith('application/problem+json')) return { codes: [], fault: `${answer.status} ${answer.contentType}: ${answer.text.slice(0, 160)}` };
  const fault = problemFault(body, answer.status);
  const code = String((body as Record<string, unknown>)['code']);
  if (fault !== undefined) return { codes: [code], fault };
  if (c.expect !== undefined && !c.expect.includes(code)) return { codes: [code], fault: `expected ${c.expect.join(' or ')}, got ${code}: ${answer.text.slice(0, 200)}` };
  for (const [name, value] of Object.entries(c.expectDetails ?? {})) {
    const got = (body as Record<string, unknown>)[name];
    if (got !== value) return { codes: [code], fault: `${code}: ${name} is ${JSON.stringify(got)}, expected ${JSON.stringify(value)}` };
  }
  return { codes: [code] };
}

function loadExamples(): Map<string, Json[]> {
  const root = fileURLToPath(new URL('../../schemas/examples/', import.meta.url));
  const out = new Map<string, Json[]>();
  for (const type of readdirSync(root)) {
    if (type === 'envelope') continue;
    out.set(
      type,
      readdirSync(`${root}${type}/valid`).map((f) => JSON.parse(readFileSync(`${root}${type}/valid/${f}`, 'utf8')) as Json),
    );
  }
  return out;
}

beforeAll(async () => {
  consortium = await startConsortium();
  agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const { shop, program } = consortium.layout;
  const now = Date.now();
  const examples = loadExamples();
  const transfer = examples.get('asset.transfer.request')!.find((d) => (d as { asset: { kind: string } }).asset.kind === 'points') as Message;
  let n = 0;
  let seq = 1_000;
  const make = (type: 'points.exchange.request' | 'asset.transfer.request' = 'points.exchange.request'): Message => {
    n++;
    return {
      id: `fz-${SEED.toString(36)}-${n}`,
      type,
      source: shop.id,
      to: program.id,
      seq: String(seq++),
      time: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      data:
        type === 'points.exchange.request'
          ? {
              orderId: `ord-${n}`,
              idempotencyKey: `k-${n}`,
              pair: 'demo-pair',
              quoteId: 'q-1',
              source: { program: shop.id, member: '13800138000' },
              target: { program: program.id, member: 'CA-0012345678' },
              points: '5000',
              expectedCredit: '480',
            }
          : { ...clone(transfer), transferId: `tr-${n}`, memo: `note ${n}` },
    };
  };
  const sign = async (message: Message, as?: Signer) => {
    const { sig: _sig, ...unsigned } = message;
    if (as === undefined) return (await consortium.sign(shop, unsigned as unknown as Envelope)) as unknown as Message;
    return (await signEnvelope(unsigned, as)) as unknown as Message;
  };

  // The messages the replays copy: accepted, and delivered, so that nothing moves the cursor later.
  const accepted: Message[] = [];
  for (let s = 1; s <= 3; s++) {
    const m = await sign({ ...make(), id: `fz-${SEED.toString(36)}-accepted-${s}`, seq: String(s) });
    const res = await post(utf8(JSON.stringify(m)), JSON_TYPE);
    expect(res.status, res.text).toBe(202);
    accepted.push(m);
  }
  kit = {
    fresh: make,
    sign,
    accepted,
    shop,
    program,
    shopSigner: consortium.signerOf(shop),
    programSigner: consortium.signerOf(program),
    impostor: createSigner(shop.alg, generateKeyPair(shop.alg).privateKey, { kid: shop.kid }),
    examples,
    now,
  };
  for (const m of accepted) {
    await until(`delivery of ${String(m['id'])}`, 30_000, async () => ((await getJson(`/v1/messages/${String(m['id'])}?source=${shop.id}`)).body['status'] === 'delivered' ? true : undefined));
  }
  cursorBefore = Number(((await getJson('/v1/health')).body['store'] as { lastCursor: number }).lastCursor);
  effectsBefore = (await consortium.sink.effects()).size;
});

afterAll(async () => {
  agent?.destroy();
  await consortium?.stop();
});

describe(`switch intake fuzz (LOULAN_FUZZ_SEED=${SEED})`, () => {
  it(`answers ${CASES}+ malformed bodies with 4xx problem documents, stays up and stores nothing`, async () => {
    const recipes = fc.sample(anyRecipe, { seed: SEED, numRuns: CASES });
    const cases: Case[] = [];
    for (const recipe of recipes) cases.push(await recipe(kit));
    // The limit cases go in among the others, so that the big bodies overlap small ones.
    for (const [i, c] of (await limitCases(kit)).entries()) cases.splice(Math.floor(((i + 1) * cases.length) / 10), 0, c);

    const started = performance.now();
    const faults: string[] = [];
    const codes = new Map<string, number>();
    const kinds = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < cases.length; i = next++) {
        const c = cases[i]!;
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        let answer: Answer;
        try {
          answer = await post(c.body, c.contentType, { ...(c.headers === undefined ? {} : { headers: c.headers }), ...(c.chunked === undefined ? {} : { chunked: c.chunked }) });
        } catch (error) {
          faults.push(`#${i} ${c.kind}: connection failed: ${String(error)}`);
          continue;
        }
        const verdict = judge(c, answer);
        for (const code of verdict.codes) codes.set(code, (codes.get(code) ?? 0) + 1);
        if (verdict.fault !== undefined) faults.push(`#${i} ${c.kind}: ${verdict.fault}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (performance.now() - started) / 1000;
    console.log(`switch fuzz, seed ${SEED}: ${cases.length} bodies in ${seconds.toFixed(1)} s; answers by code ${JSON.stringify(Object.fromEntries([...codes].sort()))}`);

    const context = `seed ${SEED} (rerun with LOULAN_FUZZ_SEED=${SEED})`;
    expect(faults.slice(0, 20), `${context}: ${faults.length} bad answers`).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(10_000);
    // The generator reaches every stage of intake, not only the parser.
    for (const code of [
      'INTAKE_MALFORMED',
      'RPC_UNSUPPORTED_MEDIA_TYPE',
      'VALIDATE_TOO_LARGE',
      'VALIDATE_TYPE',
      'VALIDATE_REQUIRED',
      'VALIDATE_FORMAT',
      'VALIDATE_UNKNOWN_FIELD',
      'CRYPTO_SIGNATURE_INVALID',
      'CRYPTO_MALFORMED_SIGNATURE',
      'INTAKE_UNKNOWN_SOURCE',
      'INTAKE_KEY_NOT_OF_SOURCE',
      'INTAKE_FORBIDDEN',
      'INTAKE_SEQ_REPLAY',
      'INTAKE_ID_CONFLICT',
      'INTAKE_EXPIRED',
      'INTAKE_CLOCK_SKEW',
    ]) {
      expect(codes.get(code) ?? 0, `${context}: no answer had ${code}`).toBeGreaterThan(0);
    }

    // Still up, and nothing stored: same event cursor, no message known, nothing delivered.
    expect(consortium.switchProcess.running).toBe(true);
    const health = await getJson('/v1/health');
    expect(health.status).toBe(200);
    expect((health.body['store'] as { lastCursor: number }).lastCursor, context).toBe(cursorBefore);
    // Ids a message could be stored under (the others cannot name one in a URL).
    const ids = [...new Set(cases.flatMap((c) => c.ids))].filter((id) => /^[A-Za-z0-9._:-]{1,128}$/.test(id));
    expect(ids.length).toBeGreaterThan(5_000);
    const sample = fc.sample(fc.constantFrom(...ids), { seed: SEED, numRuns: 200 });
    for (const id of sample) {
      const res = await getJson(`/v1/messages/${encodeURIComponent(id)}?source=${kit.shop.id}`);
      expect([res.status, res.body['code']], `${context}: message ${id}`).toEqual([404, 'MESSAGE_NOT_FOUND']);
    }
    expect((await consortium.sink.effects()).size).toBe(effectsBefore);
  }, 120_000);
});
