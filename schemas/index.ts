/**
 * The message schemas: the JSON Schema 2020-12 documents in this folder are the single source of
 * truth for the envelope and every payload; the types in generated/types.ts and the validators here
 * are both derived from them, never written by hand.
 *
 * Validation happens once, at the boundary, and answers with one `LoulanError` whose code is fixed
 * by the failing JSON Schema keyword and whose `details.pointer` names the field, so that a 4xx
 * problem document is stable across ajv versions and message wording. ajv stops at the first error
 * (`allErrors: false`): a rejected message costs little and the sender fixes one field at a time.
 * The envelope is checked in two steps because its `data` is typed by its `type`; splitting them
 * keeps the envelope schema fixed while payload schemas are added, and lets an unknown `type` get
 * its own code instead of an unreadable union failure.
 *
 * ajv is built on first use, not on import, and compiles each schema the first time it is needed.
 */
import { Ajv2020, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { LoulanError, validateCodeFor } from '../core-chain/errors.ts';
import { loadSchemaDocuments, type SchemaDocument } from './documents.ts';
import { PAYLOAD_TYPES, type Envelope, type PayloadByType, type PayloadType, type RestProof } from './generated/types.ts';

export type * from './generated/types.ts';
export { PAYLOAD_TYPES } from './generated/types.ts';
export { checkLimits, DEFAULT_LIMITS, type Limits } from './limits.ts';
export type { SchemaDocument, SchemaRole } from './documents.ts';

/** Any payload. */
export type Payload = PayloadByType[PayloadType];

/**
 * An envelope whose `data` has been validated against the schema its `type` names; narrowing on
 * `type` narrows `data`.
 */
export type TypedEnvelope<T extends PayloadType = PayloadType> = T extends PayloadType
  ? Omit<Envelope, 'type' | 'data'> & { type: T; data: PayloadByType[T] }
  : never;

const payloadTypes: ReadonlySet<string> = new Set(PAYLOAD_TYPES);

export function isPayloadType(value: unknown): value is PayloadType {
  return typeof value === 'string' && payloadTypes.has(value);
}

/** Every schema document in force (common, envelope, payloads) with its `$id`, version and hash. */
export function listSchemas(): readonly SchemaDocument[] {
  return registry().documents;
}

/**
 * Checks `data` against the payload schema for `type` and returns it, typed. Pointers in errors are
 * relative to `data`; an unknown `type` throws `VALIDATE_UNKNOWN_TYPE` with pointer `''`.
 *
 * @example
 * const order = validatePayload('points.exchange.request', body); // PointsExchangeRequest
 */
export function validatePayload<T extends PayloadType>(type: T, data: unknown): PayloadByType[T];
export function validatePayload(type: string, data: unknown): Payload;
export function validatePayload(type: string, data: unknown): Payload {
  const id = registry().payloadIds.get(type);
  if (id === undefined) {
    throw new LoulanError('VALIDATE_UNKNOWN_TYPE', `unknown payload type ${JSON.stringify(type)}`, {
      details: { pointer: '', keyword: 'payloadType', type },
    });
  }
  checkPayload(type, id, data, '');
  return data as Payload;
}

/**
 * Checks an envelope, then its `data` against the payload schema its `type` names (error pointers
 * under `/data`). Does not check the signature, the sequence or the deadline.
 *
 * @example
 * const message = validateEnvelope(JSON.parse(body));
 * if (message.type === 'receivable.lock.request') message.data.fingerprint.fpStrong; // typed
 */
export function validateEnvelope(value: unknown): TypedEnvelope {
  run(registry().envelopeId, value, '');
  checkEnvelopeData(value as Envelope, '');
  return value as TypedEnvelope;
}

// -- implementation ---------------------------------------------------------------------------------

interface Registry {
  readonly documents: readonly SchemaDocument[];
  readonly envelopeId: string;
  /** Payload type → schema `$id`. */
  readonly payloadIds: ReadonlyMap<string, string>;
  readonly ajv: Ajv2020;
  readonly compiled: Map<string, ValidateFunction>;
}

let loaded: Registry | undefined;

function registry(): Registry {
  if (loaded !== undefined) return loaded;
  const documents = loadSchemaDocuments();
  const payloads = documents.filter((doc) => doc.role === 'payload');
  const names = payloads.map((doc) => doc.name);
  if (names.join() !== PAYLOAD_TYPES.join()) {
    throw new LoulanError('INTERNAL', 'schemas/generated/types.ts does not match schemas/payloads/; run `npm run gen`', {
      details: { files: names, generated: [...PAYLOAD_TYPES] },
    });
  }
  // strictRequired is off because it rejects the `then: { required: [...] }` of conditionals, whose
  // properties are declared one level up; schemas.test.ts checks every required name instead.
  // discriminator turns each tagged oneOf into a lookup, so errors come from the one branch that
  // the tag selects instead of from every branch.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: false, discriminator: true });
  ajvFormats.default(ajv);
  for (const doc of documents) ajv.addSchema(doc.document as AnySchemaObject);
  const envelope = documents.find((doc) => doc.role === 'envelope') as SchemaDocument;
  loaded = {
    documents,
    envelopeId: envelope.id,
    payloadIds: new Map(payloads.map((doc) => [doc.name, doc.id])),
    ajv,
    compiled: new Map(),
  };
  return loaded;
}

function checkEnvelopeData(envelope: Envelope, at: string): void {
  const { payloadIds, envelopeId } = registry();
  const id = payloadIds.get(envelope.type);
  if (id === undefined) {
    throw new LoulanError('VALIDATE_UNKNOWN_TYPE', `unknown payload type ${JSON.stringify(envelope.type)}`, {
      details: { pointer: `${at}/type`, keyword: 'payloadType', schema: envelopeId },
    });
  }
  checkPayload(envelope.type, id, envelope.data, `${at}/data`);
}

function checkPayload(type: string, id: string, data: unknown, at: string): void {
  run(id, data, at);
  // A REST proof carries a participant's envelope, whose data the proof schema leaves open.
  if (type === 'proof.bundle' && (data as { kind: string }).kind === 'rest') {
    checkEnvelopeData((data as RestProof).envelope, `${at}/envelope`);
  }
}

function run(id: string, value: unknown, at: string): void {
  const { ajv, compiled } = registry();
  let validate = compiled.get(id);
  if (validate === undefined) {
    validate = ajv.getSchema(id) as ValidateFunction;
    compiled.set(id, validate);
  }
  if (validate(value)) return;
  const error = validate.errors?.[0];
  if (error === undefined) throw new LoulanError('INTERNAL', `schema ${id} rejected a value without saying why`);
  throw toLoulanError(error, id, at);
}


function toLoulanError(error: ErrorObject, schema: string, at: string): LoulanError {
  const { keyword, params } = error;
  let code = validateCodeFor(keyword);
  let pointer = at + error.instancePath;
  let message: string;
  if (keyword === 'required' || keyword === 'dependentRequired') {
    pointer += `/${escape(String(params['missingProperty']))}`;
    message = keyword === 'required' ? `missing required field ${pointer}` : `${pointer} is required with ${String(params['property'])}`;
  } else if (keyword === 'additionalProperties' || keyword === 'unevaluatedProperties') {
    pointer += `/${escape(String(params[keyword === 'additionalProperties' ? 'additionalProperty' : 'unevaluatedProperty']))}`;
    message = `unknown field ${pointer}`;
  } else if (keyword === 'discriminator') {
    // The tag of a tagged union (`kind`, `op`): missing, not a string, or naming no branch.
    pointer += `/${escape(String(params['tag']))}`;
    const value: unknown = params['tagValue'];
    code = value === undefined ? 'VALIDATE_REQUIRED' : typeof value === 'string' ? 'VALIDATE_ENUM' : 'VALIDATE_TYPE';
    message =
      value === undefined
        ? `missing required field ${pointer}`
        : typeof value === 'string'
          ? `${pointer} names no variant: ${JSON.stringify(value)}`
          : `${pointer} must be a string`;
  } else {
    message = `${pointer || '(root)'} ${error.message ?? `fails ${keyword}`}`;
  }
  return new LoulanError(code, message, { details: { pointer, keyword, schema } });
}

function escape(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
