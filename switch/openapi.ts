/**
 * The switch's HTTP surface as data: one table of operations, from which the server (http.ts) takes
 * its path and query validation and `/docs` its OpenAPI 3.1 document. Writing each parameter once
 * keeps what is enforced and what is documented from drifting apart.
 *
 * Message schemas are not restated here: the envelope and every payload document from `schemas/`
 * is embedded verbatim as a component (same `$id`, same hash as `listSchemas()` gives), and the
 * message request body points at them. OpenAPI 3.1 schema objects are JSON Schema 2020-12, so the
 * documents' own `urn:loulan:schema:...` references resolve inside the document by `$id`.
 * Response shapes (the `model.ts` and `api.ts` interfaces) are written as schemas below; the server
 * tests check every reply they see against them.
 *
 * Each operation lists the error codes it can answer with; the document groups them by the HTTP
 * status the error registry gives them, so the status of a code is never written twice either.
 */
import { ERROR_CODES, type ErrorCode } from '../core-chain/index.ts';
import { listSchemas, type SchemaDocument } from '../schemas/index.ts';

type Schema = Readonly<Record<string, unknown>>;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface OperationSpec {
  readonly id: string;
  readonly method: HttpMethod;
  /** Path in fastify's syntax (`/v1/messages/:id`). */
  readonly url: string;
  readonly tag: 'messages' | 'routes' | 'operations' | 'custody';
  readonly summary: string;
  readonly description?: string;
  /** Needs `Authorization: Bearer <operator token>`. */
  readonly operator?: boolean;
  /** Needs `Authorization: Bearer <API key>` of a custodial participant (`lk_...`). */
  readonly apiKey?: boolean;
  /** A WebSocket endpoint: a plain GET is answered 426. */
  readonly websocket?: boolean;
  readonly params?: Readonly<Record<string, Schema>>;
  readonly query?: Readonly<Record<string, Schema>>;
  readonly requiredQuery?: readonly string[];
  /** The JSON body as the server validates it, and (if richer) as the document describes it. */
  readonly body?: { readonly required: boolean; readonly validate?: Schema; readonly document: Schema };
  /** Success responses: status → description and schema (a component name, or an inline schema). */
  readonly ok: Readonly<Record<number, { readonly description: string; readonly schema?: string | Schema; readonly contentType?: string }>>;
  readonly errors: readonly ErrorCode[];
}

// -- parameters, taken from the common schema so that the URL and the envelope agree ---------------

const commonDefs = (listSchemas().find((doc) => doc.role === 'common')?.document['$defs'] ?? {}) as Record<string, Schema>;

function fromCommon(name: string): Schema {
  const def = commonDefs[name];
  if (def === undefined) throw new TypeError(`schemas/common.schema.json has no $defs/${name}`);
  const { type, pattern, maxLength, description } = def as { type: string; pattern: string; maxLength?: number; description: string };
  return { type, pattern, ...(maxLength === undefined ? {} : { maxLength }), description };
}

const identifier = fromCommon('identifier');
const address = fromCommon('address');
/** The path form of a routing prefix: an address, or `_` for the default route (the empty prefix). */
export const DEFAULT_ROUTE_SEGMENT = '_';
const prefix: Schema = {
  type: 'string',
  maxLength: address['maxLength'],
  pattern: `^(?:${DEFAULT_ROUTE_SEGMENT}|${String(address['pattern']).slice(1, -1)})$`,
  description: `A routing prefix (whole address segments), or \`${DEFAULT_ROUTE_SEGMENT}\` for the default route, whose prefix is empty and matches every address.`,
};
/** Non-negative safe integer as a decimal string (at most 15 digits). */
const counter = (description: string): Schema => ({ type: 'string', pattern: '^(?:0|[1-9][0-9]{0,14})$', description });
const sourceQuery: Schema = { ...address, description: 'The sender, when two senders used the same message id.' };

export const MAX_PAGE = 1000;

const VALIDATE_QUERY: readonly ErrorCode[] = ['VALIDATE_REQUIRED', 'VALIDATE_UNKNOWN_FIELD', 'VALIDATE_FORMAT', 'VALIDATE_RANGE'];
const OPERATOR: readonly ErrorCode[] = ['SWITCH_UNAUTHORIZED'];
const GOVERNED: readonly ErrorCode[] = ['ROUTE_INVALID', 'RPC_UNAVAILABLE', 'RPC_BAD_RESPONSE', 'CONTRACT_FORBIDDEN', 'CONTRACT_CONFLICT'];
const CUSTODY: readonly ErrorCode[] = ['CUSTODY_DISABLED'];
const PARTICIPANT: Schema = { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$', description: 'A participant id on the core chain.' };
const CUSTODY_CREATE: Schema = {
  type: 'object',
  required: ['participant'],
  additionalProperties: false,
  properties: {
    participant: { ...PARTICIPANT, description: 'The participant id it will have on the core chain.' },
    alg: { enum: ['Ed25519', 'ES256'], description: 'Default Ed25519.' },
  },
};
const BODY: readonly ErrorCode[] = ['RPC_MALFORMED_REQUEST', 'RPC_UNSUPPORTED_MEDIA_TYPE', 'VALIDATE_TOO_LARGE', 'VALIDATE_TYPE', 'VALIDATE_RANGE'];

/** Every route the server registers, in the order the document lists them. */
export const OPERATIONS: readonly OperationSpec[] = [
  {
    id: 'submitMessages',
    method: 'POST',
    url: '/v1/messages',
    tag: 'messages',
    summary: 'Submit one envelope, or a batch',
    description:
      'One signed envelope, or `{messages: [...], sig?}`: a batch whose one signature covers the RFC 6962 root of its messages. ' +
      'Checks, in order: size and depth, schema, signature, role, channel sequence and replay, deadline. An accepted message is durable ' +
      'before the reply. Resending the same `id` with the same content returns the original answer with `duplicate: true`. ' +
      'A batch is answered item by item (200 even when items fail); only a batch that is malformed as a whole is a problem.',
    body: { required: true, document: { oneOf: [{ $ref: '#/components/schemas/TypedEnvelope' }, { $ref: '#/components/schemas/MessageBatch' }] } },
    ok: {
      202: { description: 'The envelope was accepted and is durable.', schema: 'IntakeResult' },
      200: { description: 'A resend of an accepted envelope (`duplicate: true`), or the item results of a batch.', schema: { oneOf: [{ $ref: '#/components/schemas/IntakeResult' }, { $ref: '#/components/schemas/BatchResults' }] } },
    },
    errors: [
      'INTAKE_MALFORMED',
      'RPC_UNSUPPORTED_MEDIA_TYPE',
      'VALIDATE_TOO_LARGE',
      'VALIDATE_REQUIRED',
      'VALIDATE_UNKNOWN_FIELD',
      'VALIDATE_TYPE',
      'VALIDATE_FORMAT',
      'VALIDATE_ENUM',
      'VALIDATE_RANGE',
      'VALIDATE_CONSTRAINT',
      'VALIDATE_UNKNOWN_TYPE',
      'CODEC_NOT_CANONICAL',
      'CRYPTO_UNKNOWN_ALG',
      'CRYPTO_MALFORMED_SIGNATURE',
      'CRYPTO_SIGNATURE_INVALID',
      'INTAKE_SCHEMA_NOT_REGISTERED',
      'INTAKE_UNKNOWN_SOURCE',
      'INTAKE_KEY_NOT_OF_SOURCE',
      'INTAKE_FORBIDDEN',
      'INTAKE_SEQ_REPLAY',
      'INTAKE_SEQ_TOO_OLD',
      'INTAKE_EXPIRED',
      'INTAKE_CLOCK_SKEW',
      'INTAKE_ID_CONFLICT',
      'INTAKE_VALUE_CAP',
      'INTAKE_OVERLOADED',
      'SWITCH_STORE_FAILED',
    ],
  },
  {
    id: 'getMessage',
    method: 'GET',
    url: '/v1/messages/:id',
    tag: 'messages',
    summary: 'A message: status, route, last error, receipt and history',
    params: { id: identifier },
    query: { source: sourceQuery },
    ok: { 200: { description: 'The message as the switch records it.', schema: 'MessageRecord' } },
    errors: [...VALIDATE_QUERY, 'MESSAGE_NOT_FOUND'],
  },
  {
    id: 'getMessageProof',
    method: 'GET',
    url: '/v1/messages/:id/proof',
    tag: 'messages',
    summary: 'Proof that the message was accepted (and delivered), anchored on the core chain',
    description: 'Anchor proofs the verifier library checks (`verifyAnchor`): the message digest in an anchored batch, the batch in a certified block.',
    params: { id: identifier },
    query: { source: sourceQuery },
    ok: { 200: { description: 'The anchoring proofs.', schema: 'MessageProof' } },
    errors: [...VALIDATE_QUERY, 'MESSAGE_NOT_FOUND', 'MESSAGE_NOT_ANCHORED'],
  },
  {
    id: 'streamEvents',
    method: 'GET',
    url: '/v1/stream',
    tag: 'messages',
    websocket: true,
    summary: 'WebSocket: status changes as they become durable',
    description:
      'Each text frame is one `StatusEvent`. With `?cursor=N` the server first replays every event with a cursor above N, then ' +
      'continues live, with no gap and no duplicate at the boundary; without it, the stream starts at the current position. ' +
      'A client that cannot keep up is closed with code 1013 and resumes with `?cursor=` set to the last cursor it received. ' +
      'Frames sent by the client are ignored.',
    query: {
      cursor: counter('Resume after this event cursor (0 replays everything kept).'),
      source: { ...address, description: 'Only events of messages from this sender.' },
    },
    ok: { 101: { description: 'Switching to WebSocket; frames are `StatusEvent` JSON.', schema: 'StatusEvent' } },
    errors: [...VALIDATE_QUERY, 'RPC_UPGRADE_REQUIRED'],
  },
  {
    id: 'listRoutes',
    method: 'GET',
    url: '/v1/routes',
    tag: 'routes',
    summary: 'The routing table as this switch applies it (the default route has prefix "")',
    ok: { 200: { description: 'Every entry, with the governed change that set it.', schema: 'RouteList' } },
    errors: [],
  },
  {
    id: 'explainRoute',
    method: 'GET',
    url: '/v1/routes/explain',
    tag: 'routes',
    summary: 'Which entry an address matches, why, the link in use and the alternates, with live health',
    query: { address },
    requiredQuery: ['address'],
    ok: { 200: { description: 'The explanation.', schema: 'RouteExplanation' } },
    errors: VALIDATE_QUERY,
  },
  {
    id: 'setRoute',
    method: 'PUT',
    url: '/v1/routes/:prefix',
    tag: 'routes',
    operator: true,
    summary: 'Set the entry for a prefix (a governed change on the core chain)',
    description: `The prefix \`${DEFAULT_ROUTE_SEGMENT}\` sets the default route. 200 when the change took effect at once, 202 while it waits for approvals.`,
    params: { prefix },
    body: {
      required: true,
      validate: { type: 'object', required: ['link'], additionalProperties: false, properties: { link: { type: 'object' }, reason: { type: 'string', maxLength: 256 } } },
      document: { type: 'object', required: ['link'], additionalProperties: false, properties: { link: { $ref: '#/components/schemas/RouteLink' }, reason: { type: 'string', maxLength: 256 } } },
    },
    ok: {
      200: { description: 'The change was applied.', schema: 'ChangeSubmitted' },
      202: { description: 'The change was submitted and waits for approvals.', schema: 'ChangeSubmitted' },
    },
    errors: [...OPERATOR, 'VALIDATE_FORMAT', 'VALIDATE_REQUIRED', 'VALIDATE_UNKNOWN_FIELD', ...BODY, ...GOVERNED, 'ROUTE_ADAPTER_UNAVAILABLE'],
  },
  {
    id: 'removeRoute',
    method: 'DELETE',
    url: '/v1/routes/:prefix',
    tag: 'routes',
    operator: true,
    summary: 'Remove the entry for a prefix (a governed change on the core chain)',
    description: `The reason goes in the body (\`{reason}\`) or the query (\`?reason=\`); the body wins. \`${DEFAULT_ROUTE_SEGMENT}\` removes the default route.`,
    params: { prefix },
    query: { reason: { type: 'string', maxLength: 256, description: 'Why, for the audit trail.' } },
    body: {
      required: false,
      validate: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 256 } } },
      document: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 256 } } },
    },
    ok: {
      200: { description: 'The change was applied.', schema: 'ChangeSubmitted' },
      202: { description: 'The change was submitted and waits for approvals.', schema: 'ChangeSubmitted' },
    },
    errors: [...OPERATOR, 'VALIDATE_FORMAT', 'VALIDATE_UNKNOWN_FIELD', ...BODY, ...GOVERNED, 'ROUTE_NOT_FOUND'],
  },
  {
    id: 'listDeadLetters',
    method: 'GET',
    url: '/v1/dlq',
    tag: 'operations',
    summary: 'The dead-letter queue, in acceptance order',
    query: {
      after: counter('Page after this acceptance order (`next` of the previous page).'),
      limit: { type: 'string', pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: `Page size, 1 to ${MAX_PAGE}; default 100.` },
    },
    ok: { 200: { description: 'One page; `next` is null on the last one.', schema: 'DeadLetterPage' } },
    errors: VALIDATE_QUERY,
  },
  {
    id: 'replayDeadLetter',
    method: 'POST',
    url: '/v1/dlq/:id/replay',
    tag: 'operations',
    operator: true,
    summary: 'Send a dead-lettered message back to the queue with a fresh attempt budget',
    params: { id: identifier },
    query: { source: sourceQuery },
    ok: { 200: { description: 'The message, queued again.', schema: 'MessageRecord' } },
    errors: [...OPERATOR, ...VALIDATE_QUERY, 'DLQ_NOT_FOUND', 'MESSAGE_NOT_FOUND'],
  },
  {
    id: 'skipGap',
    method: 'POST',
    url: '/v1/gaps/skip',
    tag: 'operations',
    operator: true,
    summary: 'Give up on the missing sequence numbers holding an ordered channel, so the messages behind them go',
    body: {
      required: true,
      validate: { type: 'object', required: ['source', 'to'], additionalProperties: false, properties: { source: address, to: address } },
      document: { type: 'object', required: ['source', 'to'], additionalProperties: false, properties: { source: address, to: address } },
    },
    ok: {
      200: {
        description: 'The sequence numbers skipped (empty when the channel was not held).',
        schema: { type: 'object', required: ['skipped'], additionalProperties: false, properties: { skipped: { type: 'array', items: { type: 'string' } } } },
      },
    },
    errors: [...OPERATOR, ...BODY, 'VALIDATE_REQUIRED', 'VALIDATE_FORMAT', 'VALIDATE_UNKNOWN_FIELD'],
  },
  {
    id: 'listApprovals',
    method: 'GET',
    url: '/v1/approvals',
    tag: 'operations',
    summary: "Messages held for an operator's approval",
    ok: { 200: { description: 'Every held message.', schema: 'MessageList' } },
    errors: [],
  },
  {
    id: 'decideApproval',
    method: 'POST',
    url: '/v1/approvals/:id',
    tag: 'operations',
    operator: true,
    summary: 'Approve or reject a held message',
    params: { id: identifier },
    query: { source: sourceQuery },
    body: {
      required: true,
      validate: { type: 'object', required: ['approve'], additionalProperties: false, properties: { approve: { type: 'boolean' } } },
      document: { type: 'object', required: ['approve'], additionalProperties: false, properties: { approve: { type: 'boolean' } } },
    },
    ok: { 200: { description: 'The message after the decision.', schema: 'MessageRecord' } },
    errors: [...OPERATOR, ...VALIDATE_QUERY, ...BODY, 'APPROVAL_NOT_PENDING', 'MESSAGE_NOT_FOUND'],
  },
  {
    id: 'listCustody',
    method: 'GET',
    url: '/v1/custody/participants',
    tag: 'custody',
    operator: true,
    summary: 'Participants whose keys this switch holds: public keys and API key ids, never a secret',
    ok: { 200: { description: 'Every custodial participant.', schema: { type: 'object', required: ['participants'], properties: { participants: { type: 'array', items: { $ref: '#/components/schemas/CustodyView' } } } } } },
    errors: [...OPERATOR, ...CUSTODY],
  },
  {
    id: 'createCustody',
    method: 'POST',
    url: '/v1/custody/participants',
    tag: 'custody',
    operator: true,
    summary: 'Generate a custodial key and a first API key for a participant',
    description:
      'The private key is generated here and never leaves the switch; the answer carries its public key, to be registered on the core chain ' +
      '(`loulan participant add --custodial` does both), and the API key, shown this once.',
    body: { required: true, validate: CUSTODY_CREATE, document: CUSTODY_CREATE },
    ok: { 201: { description: 'Created.', schema: 'CustodyCreated' } },
    errors: [...OPERATOR, ...CUSTODY, ...BODY, 'VALIDATE_REQUIRED', 'VALIDATE_UNKNOWN_FIELD', 'VALIDATE_FORMAT', 'VALIDATE_ENUM', 'CUSTODY_EXISTS'],
  },
  {
    id: 'rotateCustodyKey',
    method: 'POST',
    url: '/v1/custody/participants/:participant/rotate-key',
    tag: 'custody',
    operator: true,
    summary: 'Rotate a custodial key on the core chain (addKey signed by the old key, revokeKey signed by the new one)',
    params: { participant: PARTICIPANT },
    ok: { 200: { description: 'The new key is active and the old ones are revoked and destroyed.', schema: 'KeyRotation' } },
    errors: [...OPERATOR, ...CUSTODY, 'CUSTODY_NOT_FOUND', 'CUSTODY_NO_ACTIVE_KEY', 'CUSTODY_ROTATION_FAILED', 'RPC_UNAVAILABLE'],
  },
  {
    id: 'createApiKey',
    method: 'POST',
    url: '/v1/custody/participants/:participant/api-keys',
    tag: 'custody',
    operator: true,
    summary: 'Issue another API key (rotation: issue, switch the shop over, revoke the old one)',
    params: { participant: PARTICIPANT },
    ok: { 201: { description: 'The key, shown this once.', schema: 'NewApiKey' } },
    errors: [...OPERATOR, ...CUSTODY, 'CUSTODY_NOT_FOUND'],
  },
  {
    id: 'revokeApiKey',
    method: 'DELETE',
    url: '/v1/custody/participants/:participant/api-keys/:keyId',
    tag: 'custody',
    operator: true,
    summary: 'Revoke an API key at once',
    params: { participant: PARTICIPANT, keyId: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'The id part of the key (`lk_<id>_...`).' } },
    ok: { 200: { description: 'Revoked.', schema: { type: 'object', required: ['participant', 'revoked'], properties: { participant: { type: 'string' }, revoked: { type: 'string' } } } } },
    errors: [...OPERATOR, ...CUSTODY, 'CUSTODY_NOT_FOUND'],
  },
  {
    id: 'custodySign',
    method: 'POST',
    url: '/v1/custody/sign',
    tag: 'custody',
    apiKey: true,
    summary: "Sign an envelope with the caller's custodial key (the signature is logged first)",
    description:
      'The body is an unsigned envelope whose `source` is the API key\'s participant. The answer is the signed envelope, ready for ' +
      '`POST /v1/messages`. Sending an unsigned envelope to `/v1/messages` with the API key does both in one call.',
    body: { required: true, document: { $ref: '#/components/schemas/envelope' } },
    ok: { 200: { description: 'The signed envelope.', schema: 'envelope' } },
    errors: [...CUSTODY, ...BODY, 'CUSTODY_UNAUTHORIZED', 'CUSTODY_FORBIDDEN', 'CUSTODY_NO_ACTIVE_KEY', 'INTAKE_MALFORMED', 'VALIDATE_REQUIRED', 'VALIDATE_UNKNOWN_FIELD', 'VALIDATE_FORMAT'],
  },
  {
    id: 'health',
    method: 'GET',
    url: '/v1/health',
    tag: 'operations',
    summary: 'Switch health: 200 when up or degraded, 503 (same body) when down',
    ok: {
      200: { description: 'Up or degraded.', schema: 'SwitchHealth' },
      503: { description: 'Down.', schema: 'SwitchHealth' },
    },
    errors: [],
  },
  {
    id: 'metrics',
    method: 'GET',
    url: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (text exposition format)',
    ok: { 200: { description: 'Metrics.', schema: { type: 'string' }, contentType: 'text/plain' } },
    errors: [],
  },
  {
    id: 'openapi',
    method: 'GET',
    url: '/docs',
    tag: 'operations',
    summary: 'This document (OpenAPI 3.1, JSON)',
    ok: { 200: { description: 'The OpenAPI document.', schema: { type: 'object' } } },
    errors: [],
  },
];

export function operation(id: string): OperationSpec {
  const found = OPERATIONS.find((op) => op.id === id);
  if (found === undefined) throw new TypeError(`no operation ${id}`);
  return found;
}

/** `/v1/messages/:id` → `/v1/messages/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

// -- response shapes (api.ts and model.ts) -----------------------------------------------------------

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer', minimum: 0 };
const ms: Schema = { type: 'integer', minimum: 0, description: 'Unix milliseconds.' };
const decimal: Schema = { type: 'string', pattern: '^(?:0|[1-9][0-9]*)$' };
const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] });
const object = (required: readonly string[], properties: Readonly<Record<string, Schema>>, description?: string): Schema => ({
  type: 'object',
  ...(description === undefined ? {} : { description }),
  required: [...required],
  properties,
});

const STATUSES = ['accepted', 'held', 'queued', 'waiting', 'retrying', 'delivered', 'dead', 'expired'];
function responseSchemas(docs: readonly SchemaDocument[]): Record<string, Schema> {
  const envelope = docs.find((doc) => doc.role === 'envelope') as SchemaDocument;
  const common = docs.find((doc) => doc.role === 'common') as SchemaDocument;
  const routeChange = docs.find((doc) => doc.name === 'route.change');
  const payloads = docs.filter((doc) => doc.role === 'payload');
  const linkHealth = object(['link', 'target', 'state', 'queueDepth', 'oldestAgeMs', 'successRate', 'latencyP50Ms', 'latencyP99Ms', 'lastError', 'breaker'], {
    link: str,
    target: { type: 'object' },
    state: { enum: ['up', 'degraded', 'down'] },
    queueDepth: int,
    oldestAgeMs: int,
    successRate: nullable({ type: 'number', minimum: 0, maximum: 1 }),
    latencyP50Ms: nullable({ type: 'number', minimum: 0 }),
    latencyP99Ms: nullable({ type: 'number', minimum: 0 }),
    lastError: nullable(object(['code', 'message', 'at'], { code: str, message: str, at: ms })),
    breaker: { enum: ['closed', 'open', 'half-open'] },
  });
  const routeView = object(
    ['prefix', 'link', 'version', 'changeId', 'height', 'time'],
    {
      prefix: { type: 'string', description: 'Empty for the default route.' },
      link: ref('RouteLink'),
      version: str,
      changeId: str,
      height: decimal,
      time: str,
      health: object(['active', 'links'], {
        active: str,
        links: { type: 'array', items: object(['link', 'role', 'state'], { link: str, role: { enum: ['primary', 'alternate'] }, state: { enum: ['up', 'degraded', 'down'] } }) },
      }),
    },
    'A routing-table entry and the governed change that set it.',
  );
  return {
    TypedEnvelope: {
      description: 'An envelope whose `data` matches the payload schema its `type` names.',
      allOf: [{ $ref: envelope.id }],
      oneOf: payloads.map((doc) => ({
        type: 'object',
        required: ['type', 'data'],
        properties: { type: { const: doc.name }, data: { $ref: doc.id } },
      })),
    },
    MessageBatch: {
      type: 'object',
      required: ['messages'],
      additionalProperties: false,
      properties: {
        messages: { type: 'array', minItems: 1, items: ref('TypedEnvelope') },
        sig: { description: 'One signature over the RFC 6962 root of the messages\' signing-input hashes, instead of one per message.', $ref: `${common.id}#/$defs/sig` },
      },
    },
    RouteLink: routeChange === undefined ? { type: 'object' } : { $ref: `${routeChange.id}#/$defs/link` },
    IntakeResult: object(['id', 'source', 'status', 'acceptedAt', 'digest', 'duplicate'], {
      id: str,
      source: str,
      status: { const: 'accepted' },
      acceptedAt: str,
      digest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      duplicate: { type: 'boolean' },
    }),
    BatchResults: object(['results'], {
      results: {
        type: 'array',
        items: {
          oneOf: [
            ref('IntakeResult'),
            object(['id', 'index', 'problem'], { id: nullable(str), index: int, problem: ref('Problem') }, 'An item refused on its own.'),
          ],
        },
      },
    }),
    HistoryEntry: object(['at', 'status'], { at: ms, status: { enum: STATUSES }, attempt: int, link: str, code: str, detail: str }),
    MessageRecord: object(
      ['source', 'id', 'envelope', 'digest', 'acceptedAt', 'deadline', 'order', 'status', 'attempts', 'history', 'historyCount'],
      {
        source: str,
        id: str,
        envelope: { $ref: envelope.id },
        digest: { type: 'string', pattern: '^[0-9a-f]{64}$', description: "SHA-256 of the envelope's signing input." },
        batch: object(['root', 'index', 'size', 'path', 'sig'], { root: str, index: int, size: int, path: { type: 'array', items: str }, sig: { $ref: `${common.id}#/$defs/sig` } }),
        acceptedAt: ms,
        deadline: ms,
        order: int,
        status: { enum: STATUSES },
        attempts: int,
        nextAttemptAt: ms,
        route: object(['prefix', 'link'], { prefix: str, link: str }),
        lastError: object(['code', 'message'], { code: str, message: str }),
        receipt: object(['link', 'at'], { link: str, at: ms, evidence: { type: 'object' } }),
        anchors: { type: 'object', properties: { accepted: int, delivered: int } },
        hold: object(['reason'], { reason: str, until: ms }),
        history: { type: 'array', items: ref('HistoryEntry'), description: 'The most recent entries, oldest first.' },
        historyCount: int,
      },
    ),
    MessageList: object(['messages'], { messages: { type: 'array', items: ref('MessageRecord') } }),
    DeadLetterPage: object(['messages', 'next'], { messages: { type: 'array', items: ref('MessageRecord') }, next: nullable(int) }),
    MessageProof: { type: 'object', description: 'Anchor proofs (`AnchorProofJson`) for acceptance and, once delivered, delivery.' },
    StatusEvent: object(['cursor', 'source', 'id', 'to', 'status', 'at'], {
      cursor: { type: 'integer', minimum: 1 },
      source: str,
      id: str,
      to: str,
      status: { enum: STATUSES },
      at: ms,
      attempt: int,
      link: str,
      code: str,
      detail: str,
    }),
    RouteView: routeView,
    RouteList: object(['routes'], { routes: { type: 'array', items: ref('RouteView') } }),
    LinkHealth: linkHealth,
    RouteExplanation: object(['address', 'matched', 'candidates', 'why', 'active', 'primary', 'alternates'], {
      address: str,
      matched: nullable(ref('RouteView')),
      candidates: { type: 'array', items: object(['prefix', 'hasEntry'], { prefix: str, hasEntry: { type: 'boolean' } }) },
      why: str,
      active: nullable(object(['link', 'reason', 'since'], { link: str, reason: str, since: ms })),
      primary: nullable(ref('LinkHealth')),
      alternates: { type: 'array', items: ref('LinkHealth') },
    }),
    CustodyView: object(['participant', 'alg', 'keys', 'apiKeys'], {
      participant: str,
      alg: str,
      keys: { type: 'array', items: object(['kid', 'publicKey', 'createdAt'], { kid: str, publicKey: str, createdAt: ms }) },
      apiKeys: { type: 'array', items: object(['id', 'createdAt'], { id: str, createdAt: ms, revokedAt: ms }) },
    }),
    NewApiKey: object(['id', 'token'], { id: str, token: { type: 'string', description: 'Shown once; the switch keeps only its SHA-256.' } }),
    CustodyCreated: object(['participant', 'alg', 'kid', 'publicKey', 'apiKey'], { participant: str, alg: str, kid: str, publicKey: str, apiKey: ref('NewApiKey') }),
    KeyRotation: object(['participant', 'kid', 'publicKey', 'revoked'], { participant: str, kid: str, publicKey: str, revoked: { type: 'array', items: str } }),
    ChangeSubmitted: object(['changeId', 'applied', 'txHash', 'height'], { changeId: str, applied: { type: 'boolean' }, txHash: str, height: decimal }),
    SwitchHealth: object(['status', 'switchId', 'core', 'store', 'routes', 'links', 'gaps', 'stuck', 'dlq'], {
      status: { enum: ['up', 'degraded', 'down'] },
      switchId: str,
      core: object(['connected', 'height', 'endpoint'], { connected: { type: 'boolean' }, height: nullable(decimal), endpoint: nullable(str) }),
      store: object(['lastCursor'], { lastCursor: int }),
      routes: int,
      links: { type: 'array', items: ref('LinkHealth') },
      gaps: {
        type: 'array',
        description: 'Ordered channels held because the seq they need next has not arrived.',
        items: object(['source', 'to', 'expectedSeq', 'waiting', 'since'], { source: str, to: str, expectedSeq: decimal, waiting: int, since: ms }),
      },
      stuck: int,
      dlq: int,
    }),
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem document. Clients branch on `code`; `pointer` (a JSON Pointer) and `in` name the failing field when there is one. Other members are the error\'s details.',
      required: ['type', 'title', 'status', 'code', 'detail'],
      properties: {
        type: { type: 'string', pattern: '^urn:loulan:error:[A-Z0-9_]+$' },
        title: str,
        status: { type: 'integer', minimum: 400, maximum: 599 },
        code: { enum: Object.keys(ERROR_CODES) },
        detail: str,
        instance: str,
        pointer: str,
        in: { enum: ['body', 'path', 'query', 'header'] },
      },
    },
  };
}

// -- the document ---------------------------------------------------------------------------------

export interface OpenApiDocument {
  readonly openapi: '3.1.0';
  readonly info: Schema;
  readonly jsonSchemaDialect: string;
  readonly tags: readonly Schema[];
  readonly paths: Readonly<Record<string, Readonly<Record<string, Schema>>>>;
  readonly components: { readonly schemas: Readonly<Record<string, Schema>>; readonly securitySchemes: Schema };
}

/**
 * The OpenAPI 3.1 document for the switch API. Each schema document from `schemas/` is a component
 * named after the document (`envelope`, `common`, `points.exchange.request`, ...), embedded as is.
 *
 * @example
 * const doc = buildOpenApi();
 * doc.paths['/v1/messages']['post'].requestBody; // references TypedEnvelope and MessageBatch
 */
export function buildOpenApi(docs: readonly SchemaDocument[] = listSchemas()): OpenApiDocument {
  const schemas: Record<string, Schema> = {};
  for (const doc of docs) schemas[doc.name] = doc.document;
  Object.assign(schemas, responseSchemas(docs));

  const paths: Record<string, Record<string, Schema>> = {};
  for (const op of OPERATIONS) {
    const path = openApiPath(op.url);
    paths[path] ??= {};
    (paths[path] as Record<string, Schema>)[op.method.toLowerCase()] = operationObject(op);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Loulan switch',
      version: '1',
      description:
        'Message intake, status, routing and operations of one Loulan switch. Errors are RFC 9457 problem documents ' +
        '(`application/problem+json`) with a stable `code`; see docs/errors.md. Each operation lists the codes it answers with; any ' +
        'URL may also be answered RPC_ROUTE_NOT_FOUND (404) or RPC_MALFORMED_REQUEST (400, a URL that does not decode). ' +
        'Operator routes need `Authorization: Bearer <token>`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [
      { name: 'messages', description: 'Intake, status and proofs of messages.' },
      { name: 'routes', description: 'The routing table (changes are governed transactions on the core chain).' },
      { name: 'operations', description: 'Dead letters, approvals, health, metrics.' },
      { name: 'custody', description: 'Keys the switch holds for shops, and signing with them.' },
    ],
    paths,
    components: { schemas, securitySchemes: {
        operator: { type: 'http', scheme: 'bearer', description: 'An operator token from the switch configuration.' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'A custodial participant\'s API key (`lk_<id>_<secret>`).' },
      },
    },
  };
}

function operationObject(op: OperationSpec): Schema {
  const parameters: Schema[] = [];
  for (const [name, schema] of Object.entries(op.params ?? {})) parameters.push(parameter(name, 'path', true, schema));
  for (const [name, schema] of Object.entries(op.query ?? {})) parameters.push(parameter(name, 'query', op.requiredQuery?.includes(name) ?? false, schema));

  const responses: Record<string, Schema> = {};
  for (const [status, ok] of Object.entries(op.ok)) {
    const schema = ok.schema === undefined ? undefined : typeof ok.schema === 'string' ? ref(ok.schema) : ok.schema;
    responses[status] = { description: ok.description, ...(schema === undefined ? {} : { content: { [ok.contentType ?? 'application/json']: { schema } } }) };
  }
  for (const [status, codes] of problemStatuses([...op.errors, 'INTERNAL'])) {
    responses[String(status)] = {
      description: `Problem: ${codes.join(', ')}.`,
      'x-codes': codes,
      content: { 'application/problem+json': { schema: ref('Problem') } },
    };
  }
  return {
    operationId: op.id,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(op.body === undefined
      ? {}
      : { requestBody: { required: op.body.required, content: { 'application/json': { schema: op.body.document } } } }),
    ...(op.operator === true ? { security: [{ operator: [] }] } : op.apiKey === true ? { security: [{ apiKey: [] }] } : {}),
    responses,
  };
}

function parameter(name: string, where: 'path' | 'query', required: boolean, schema: Schema): Schema {
  const { description, ...rest } = schema as { description?: string };
  return { name, in: where, required, ...(description === undefined ? {} : { description }), schema: rest };
}

/** Codes grouped by their registry status, statuses ascending. */
function problemStatuses(codes: readonly ErrorCode[]): Array<[number, ErrorCode[]]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return [...byStatus].sort(([a], [b]) => a - b);
}
