/**
 * The switch's HTTP and WebSocket server: `SwitchApi` as routes, on fastify.
 *
 * A thin shell, so that everything with a rule in it (intake checks, routing, delivery) can be tested
 * and benchmarked without HTTP. What the shell owns: parsing, the operator token, and the mapping of
 * every failure to an RFC 9457 problem document with a registry code. Every error leaves through one
 * handler; fastify's own parse, size and validation errors are translated to stable codes with a JSON
 * pointer, and anything unexpected becomes INTERNAL with a generic detail (the cause is logged), so no
 * stack trace or internal message reaches a body. A JSON body must be UTF-8 and name no member twice
 * in one object (`strictJsonParser`). Paths and query strings are validated from the
 * operation table in openapi.ts, the same one `/docs` is generated from; bodies of messages are left
 * to intake, which checks them against the message schemas.
 *
 * Operator tokens are kept only as SHA-256 hashes and compared in constant time against every stored
 * hash, so neither a token nor how much of one matched leaks through memory dumps or timing. The check
 * runs before the body is read. An operator is named in decisions by a short hash of its token.
 *
 * The default route's prefix is empty; in URLs it is written `_` (`PUT /v1/routes/_`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema } from 'fastify';
import { escapePointer, httpErrorToLoulan, LoulanError, toHex, type ErrorCode } from '../core-chain/index.ts';
import type { SwitchApi } from './api.ts';
import type { CustodyApi } from './custody-api.ts';
import type { SwitchMetrics } from './metrics.ts';
import { buildOpenApi, DEFAULT_ROUTE_SEGMENT, MAX_PAGE, operation, type OperationSpec } from './openapi.ts';
import { createStreamHub, DEFAULT_STREAM_OPTIONS, type StreamOptions } from './stream.ts';

export interface SwitchServerOptions {
  /** Bearer tokens that may call operator routes (PUT/DELETE routes, DLQ replay, approvals). Each at least 16 characters. */
  readonly operatorTokens: readonly string[];
  /** SHA-256 (hex) of further operator tokens, as a configuration file keeps them. */
  readonly operatorTokenHashes?: readonly string[];
  /** Largest request body in bytes. Default 16 MiB (a batch of messages). */
  readonly bodyLimitBytes?: number;
  /** `true` for fastify's own logger (pino to stdout), or a pino-compatible logger. Default off. */
  readonly logger?: boolean | FastifyBaseLogger;
  /** Where to count requests and stream clients; leave out to count nothing. */
  readonly metrics?: SwitchMetrics;
  readonly stream?: Partial<StreamOptions>;
  /** Key custody (custody-api.ts); without it the custody routes answer CUSTODY_DISABLED. */
  readonly custody?: CustodyApi;
}

const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;
const MIN_TOKEN_LENGTH = 16;
const DEFAULT_PAGE = 100;
/** Ids are up to 128 characters and addresses up to 253; anything longer is no route. */
const MAX_PARAM_LENGTH = 256;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The code for a body that does not parse as JSON on this route (default RPC_MALFORMED_REQUEST). */
    malformed?: ErrorCode;
  }
}

/**
 * Builds the server; the caller listens and closes it.
 *
 * @example
 * const app = buildSwitchServer(api, { operatorTokens: [config.operatorToken], logger: true });
 * await app.listen({ host: '0.0.0.0', port: 8080 });
 * ...
 * await app.close(); // closes stream clients with 1001
 */
export function buildSwitchServer(api: SwitchApi, options: SwitchServerOptions): FastifyInstance {
  const opts = resolveOptions(options);
  const operators = operatorCheck([...opts.operatorTokens.map(tokenHash), ...(options.operatorTokenHashes ?? []).map((h) => Buffer.from(h, 'hex'))]);
  const app = Fastify({
    ...(typeof opts.logger === 'boolean' ? { logger: opts.logger } : { loggerInstance: opts.logger }),
    bodyLimit: opts.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false } },
    // Errors the router raises before any route is chosen: a path parameter over the length limit is
    // no route (instead of fastify's own 414 body), a malformed percent-encoding a malformed request.
    frameworkErrors: (error, request, reply) => {
      const problem =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new LoulanError('RPC_ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`, { details: { method: request.method } })
          : error.code === 'FST_ERR_BAD_URL'
            ? new LoulanError('RPC_MALFORMED_REQUEST', 'the URL is not valid', { details: { reason: error.code } })
            : httpErrorToLoulan(error, 'RPC_MALFORMED_REQUEST');
      if (problem.code === 'INTERNAL') request.log.error({ err: error }, 'switch http: unexpected router error');
      return sendProblem(reply, problem, request.url);
    },
  });

  app.setReplySerializer((payload) => toJson(payload));
  app.setErrorHandler((error, request, reply) => {
    const problem = httpErrorToLoulan(error, request.routeOptions.config.malformed ?? 'RPC_MALFORMED_REQUEST');
    if (problem.code === 'INTERNAL') request.log.error({ err: error }, 'switch http: unexpected error');
    return sendProblem(reply, problem, request.url);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new LoulanError('RPC_ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`, { details: { method: request.method } }), request.url),
  );
  // Bodies are JSON; nothing else is parsed (text/plain is a 415).
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, strictJsonParser(app.getDefaultJsonParser('error', 'error')));

  const metrics = opts.metrics;
  if (metrics !== undefined) {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.http(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime);
      done();
    });
  }

  const hub = createStreamHub(api, opts.stream, app.log, metrics);
  void app.register(websocket, {
    options: { maxPayload: 4096 },
    preClose: async () => {
      await hub.closeAll();
      app.websocketServer.close();
    },
  });
  // Routes go in a plugin registered after the WebSocket one, so that its route hook sees them.
  void app.register(async (routes) => registerRoutes(routes, api, operators, hub, options.custody));
  return app;
}

type Operators = (request: FastifyRequest) => string | undefined;

function registerRoutes(app: FastifyInstance, api: SwitchApi, operators: Operators, hub: ReturnType<typeof createStreamHub>, custodyApi: CustodyApi | undefined): void {
  /** Who is calling an operator route, as `op:<8 hex of the token's hash>`; set by the check below. */
  const operatorOf = new WeakMap<FastifyRequest, string>();
  const requireOperator = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const operator = operators(request);
    if (operator === undefined) {
      reply.header('www-authenticate', 'Bearer realm="loulan-switch"');
      throw new LoulanError('SWITCH_UNAUTHORIZED', 'this route needs an operator token (Authorization: Bearer ...)');
    }
    operatorOf.set(request, operator);
  };
  /** Route options for an operation of the table: its validation schema, and the operator check. */
  const spec = (id: string) => {
    const op = operation(id);
    return {
      schema: fastifySchema(op),
      ...(op.operator === true ? { onRequest: requireOperator } : {}),
    };
  };

  const custody = (): CustodyApi => {
    if (custodyApi === undefined) throw new LoulanError('CUSTODY_DISABLED', 'this switch holds no custodial keys');
    return custodyApi;
  };
  /** The custodial caller of a request that presents an API key (`Bearer lk_...`), or undefined. */
  const apiKeyCaller = (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !/^Bearer lk_/i.test(header)) return undefined;
    return custody().authenticate(header.slice(7).trim());
  };
  const requireApiKey = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (apiKeyCaller(request) === undefined) {
      reply.header('www-authenticate', 'Bearer realm="loulan-custody"');
      throw new LoulanError('CUSTODY_UNAUTHORIZED', 'this route needs an API key (Authorization: Bearer lk_...)');
    }
  };

  app.post<{ Body: unknown }>('/v1/messages', { ...spec('submitMessages'), config: { malformed: 'INTAKE_MALFORMED' } }, async (request, reply) => {
    let body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new LoulanError('INTAKE_MALFORMED', 'the body must be a JSON envelope or a batch {"messages": [...]}', { details: { pointer: '', in: 'body' } });
    }
    // With an API key, the switch signs unsigned envelopes with the caller's custodial key first.
    const caller = apiKeyCaller(request);
    if (caller !== undefined) {
      const signIfUnsigned = (envelope: unknown) =>
        envelope !== null && typeof envelope === 'object' && !Object.hasOwn(envelope, 'sig') ? custody().sign(caller, envelope) : Promise.resolve(envelope);
      const messages = (body as { messages?: unknown }).messages;
      body = Object.hasOwn(body, 'messages') && Array.isArray(messages) ? { ...body, messages: await Promise.all(messages.map(signIfUnsigned)) } : await signIfUnsigned(body);
    }
    if (Object.hasOwn(body as object, 'messages')) return reply.code(200).send({ results: await api.submitBatch(body) });
    const result = await api.submit(body);
    return reply.code(result.duplicate ? 200 : 202).send(result);
  });

  app.get<{ Params: { id: string }; Querystring: { source?: string } }>('/v1/messages/:id', spec('getMessage'), async (request) =>
    api.message(request.params.id, request.query.source),
  );

  app.get<{ Params: { id: string }; Querystring: { source?: string } }>('/v1/messages/:id/proof', spec('getMessageProof'), async (request) =>
    api.proof(request.params.id, request.query.source),
  );

  app.route<{ Querystring: { cursor?: string; source?: string } }>({
    method: 'GET',
    url: '/v1/stream',
    ...spec('streamEvents'),
    // Runs before the upgrade, so a cursor from another switch (or an older store) is a problem document.
    preHandler: async (request) => {
      const cursor = request.query.cursor;
      if (cursor !== undefined && Number(cursor) > api.lastCursor) {
        throw new LoulanError('VALIDATE_RANGE', 'the cursor is beyond the last event of this switch', {
          details: { pointer: '/cursor', in: 'query', lastCursor: api.lastCursor },
        });
      }
    },
    handler: async (_request, reply) => {
      reply.header('upgrade', 'websocket');
      throw new LoulanError('RPC_UPGRADE_REQUIRED', '/v1/stream is a WebSocket endpoint');
    },
    wsHandler: (socket, request) => {
      const cursor = request.query.cursor === undefined ? api.lastCursor : Number(request.query.cursor);
      hub.add(socket, cursor, request.query.source);
    },
  });

  app.get('/v1/routes', spec('listRoutes'), async () => ({ routes: api.routes() }));

  app.get<{ Querystring: { address: string } }>('/v1/routes/explain', spec('explainRoute'), async (request) => api.explain(request.query.address));

  app.put<{ Params: { prefix: string }; Body: { link: Record<string, unknown>; reason?: string } }>('/v1/routes/:prefix', spec('setRoute'), async (request, reply) => {
    const change = await api.setRoute(routePrefix(request.params.prefix), request.body.link, request.body.reason);
    return reply.code(change.applied ? 200 : 202).send(change);
  });

  app.delete<{ Params: { prefix: string }; Querystring: { reason?: string }; Body: { reason?: string } | undefined }>(
    '/v1/routes/:prefix',
    spec('removeRoute'),
    async (request, reply) => {
      const change = await api.removeRoute(routePrefix(request.params.prefix), request.body?.reason ?? request.query.reason);
      return reply.code(change.applied ? 200 : 202).send(change);
    },
  );

  app.get<{ Querystring: { after?: string; limit?: string } }>('/v1/dlq', spec('listDeadLetters'), async (request) => {
    const limit = request.query.limit === undefined ? DEFAULT_PAGE : Math.min(Number(request.query.limit), MAX_PAGE);
    const messages = await api.deadLetters(request.query.after === undefined ? 0 : Number(request.query.after), limit);
    const last = messages[messages.length - 1];
    return { messages, next: messages.length === limit && last !== undefined ? last.order : null };
  });

  app.post<{ Params: { id: string }; Querystring: { source?: string } }>('/v1/dlq/:id/replay', spec('replayDeadLetter'), async (request) =>
    api.replay(request.params.id, request.query.source),
  );

  app.post<{ Body: { source: string; to: string } }>('/v1/gaps/skip', spec('skipGap'), async (request) => ({
    skipped: (await api.skipGap(request.body.source, request.body.to)).map(String),
  }));

  app.get('/v1/approvals', spec('listApprovals'), async () => ({ messages: await api.approvals() }));

  app.post<{ Params: { id: string }; Querystring: { source?: string }; Body: { approve: boolean } }>('/v1/approvals/:id', spec('decideApproval'), async (request) =>
    api.decide(request.params.id, request.query.source, request.body.approve, operatorOf.get(request) as string),
  );

  app.get('/v1/custody/participants', spec('listCustody'), async () => ({ participants: custody().list() }));

  app.post<{ Body: { participant: string; alg?: 'Ed25519' | 'ES256' } }>('/v1/custody/participants', spec('createCustody'), async (request, reply) =>
    reply.code(201).send(await custody().create(request.body.participant, request.body.alg)),
  );

  app.post<{ Params: { participant: string } }>('/v1/custody/participants/:participant/rotate-key', spec('rotateCustodyKey'), async (request) =>
    custody().rotateKey(request.params.participant),
  );

  app.post<{ Params: { participant: string } }>('/v1/custody/participants/:participant/api-keys', spec('createApiKey'), async (request, reply) =>
    reply.code(201).send(await custody().createApiKey(request.params.participant)),
  );

  app.delete<{ Params: { participant: string; keyId: string } }>('/v1/custody/participants/:participant/api-keys/:keyId', spec('revokeApiKey'), async (request) => {
    await custody().revokeApiKey(request.params.participant, request.params.keyId);
    return { participant: request.params.participant, revoked: request.params.keyId };
  });

  app.post<{ Body: unknown }>('/v1/custody/sign', { ...spec('custodySign'), onRequest: requireApiKey, config: { malformed: 'INTAKE_MALFORMED' } }, async (request) =>
    custody().sign(apiKeyCaller(request)!, request.body),
  );

  app.get('/v1/health', spec('health'), async (_request, reply) => {
    const health = api.health();
    return reply.code(health.status === 'down' ? 503 : 200).send(health);
  });

  app.get('/metrics', spec('metrics'), async (_request, reply) => {
    const { contentType, body } = await api.metrics();
    return reply.type(contentType).send(body);
  });

  const docs = toJson(buildOpenApi());
  app.get('/docs', spec('openapi'), async (_request, reply) => reply.type('application/json; charset=utf-8').send(docs));
}

function routePrefix(segment: string): string {
  return segment === DEFAULT_ROUTE_SEGMENT ? '' : segment;
}

/** The fastify validation schema of an operation: path, query (closed) and body as the table gives them. */
function fastifySchema(op: OperationSpec): FastifySchema {
  const closed = (properties: Readonly<Record<string, unknown>>, required: readonly string[] = []) => ({
    type: 'object',
    additionalProperties: false,
    ...(required.length === 0 ? {} : { required: [...required] }),
    properties: Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, withoutDescription(schema)])),
  });
  return {
    ...(op.params === undefined ? {} : { params: closed(op.params, Object.keys(op.params)) }),
    querystring: closed(op.query ?? {}, op.requiredQuery),
    // An optional body is checked only when there is one (a JSON one: nothing else is parsed).
    ...(op.body?.validate === undefined ? {} : { body: op.body.required ? op.body.validate : { content: { 'application/json': { schema: op.body.validate } } } }),
  };
}

function withoutDescription(schema: unknown): unknown {
  const { description: _description, ...rest } = schema as Record<string, unknown>;
  return rest;
}

// -- options and operators ------------------------------------------------------------------------

interface ResolvedOptions {
  readonly operatorTokens: readonly string[];
  readonly bodyLimitBytes: number;
  readonly logger: boolean | FastifyBaseLogger;
  readonly metrics: SwitchMetrics | undefined;
  readonly stream: StreamOptions;
}

function resolveOptions(options: SwitchServerOptions): ResolvedOptions {
  const positive = (field: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new LoulanError('CONFIG_INVALID', `switch server option ${field} must be a positive integer`, { details: { field, value } });
    }
    return value;
  };
  if (!Array.isArray(options.operatorTokens)) {
    throw new LoulanError('CONFIG_INVALID', 'switch server option operatorTokens must be a list of tokens', { details: { field: 'operatorTokens' } });
  }
  options.operatorTokens.forEach((token, index) => {
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
      throw new LoulanError('CONFIG_INVALID', `operator tokens must be strings of at least ${MIN_TOKEN_LENGTH} characters`, { details: { field: `operatorTokens/${index}` } });
    }
  });
  const stream = options.stream ?? {};
  return Object.freeze({
    operatorTokens: [...options.operatorTokens],
    bodyLimitBytes: positive('bodyLimitBytes', options.bodyLimitBytes, DEFAULT_BODY_LIMIT),
    logger: options.logger ?? false,
    metrics: options.metrics,
    stream: Object.freeze({
      maxBufferedBytes: positive('stream.maxBufferedBytes', stream.maxBufferedBytes, DEFAULT_STREAM_OPTIONS.maxBufferedBytes),
      maxPendingEvents: positive('stream.maxPendingEvents', stream.maxPendingEvents, DEFAULT_STREAM_OPTIONS.maxPendingEvents),
      replayPageSize: positive('stream.replayPageSize', stream.replayPageSize, DEFAULT_STREAM_OPTIONS.replayPageSize),
      maxClients: positive('stream.maxClients', stream.maxClients, DEFAULT_STREAM_OPTIONS.maxClients),
      heartbeatMs: positive('stream.heartbeatMs', stream.heartbeatMs, DEFAULT_STREAM_OPTIONS.heartbeatMs),
    }),
  });
}

const tokenHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** The operator a request authenticates as, or undefined. Only hashes of the tokens are kept. */
function operatorCheck(hashes: readonly Buffer[]): Operators {
  return (request) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !/^Bearer /i.test(header)) return undefined;
    const presented = tokenHash(header.slice(7).trim());
    // Compare against every stored hash, without stopping at a match.
    let match = -1;
    for (let i = 0; i < hashes.length; i++) if (hashes[i]!.length === presented.length && timingSafeEqual(hashes[i]!, presented) && match < 0) match = i;
    return match < 0 ? undefined : `op:${toHex(presented.subarray(0, 4))}`;
  };
}

// -- JSON and problems ----------------------------------------------------------------------------

type BodyParser<T> = (request: FastifyRequest, body: T, done: (error: Error | null, value?: unknown) => void) => void;

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * fastify's JSON parser (prototype-poisoning checks included), made strict about what RFC 8259 and
 * I-JSON (RFC 7493) leave to the parser: the body must be UTF-8, and no object may name a member
 * twice. Lenient parsers repair both silently (U+FFFD for bad bytes, the last duplicate wins), so a
 * signed message could mean one thing to the switch and another to a parser downstream, and the
 * fuzz test found both accepted. A refusal carries the route's malformed code with `details.reason`.
 */
function strictJsonParser(parse: BodyParser<string>): BodyParser<Buffer> {
  return (request, body, done) => {
    const malformed = request.routeOptions.config.malformed ?? 'RPC_MALFORMED_REQUEST';
    // The body is read as it came: a compressed one, or one in another charset, would be read as
    // something it is not. Both are refused rather than guessed at.
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      done(new LoulanError('RPC_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not accepted; send the JSON body uncompressed`, { details: { header: 'content-encoding', value: encoding } }));
      return;
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(new LoulanError('RPC_UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not accepted; JSON bodies are UTF-8`, { details: { header: 'content-type', value: request.headers['content-type'] ?? null } }));
      return;
    }
    let text: string;
    try {
      text = utf8Strict.decode(body);
    } catch {
      done(new LoulanError(malformed, 'the body is not valid UTF-8', { details: { pointer: '', in: 'body', reason: 'INVALID_UTF8' } }));
      return;
    }
    parse(request, text, (error, value) => {
      if (error !== null) return done(error);
      const pointer = value !== null && typeof value === 'object' ? repeatedName(text) : undefined;
      if (pointer === undefined) return done(null, value);
      done(new LoulanError(malformed, `the body names a member twice at ${pointer}`, { details: { pointer, in: 'body', reason: 'DUPLICATE_NAME' } }));
    });
  };
}

/**
 * The JSON Pointer of the first member name that repeats within one object of `text`, or undefined.
 * `text` has parsed as JSON, so the scan follows only strings, brackets and commas. It is iterative
 * and allocates nothing for an object with one name, so that deep nesting costs less than the parse
 * did; an object keeps a list of its names, and a set once it has many. The pointer is worked out by
 * a second scan, on the failure path only.
 */
function repeatedName(text: string): string | undefined {
  // Per open container: null for an array; for an object, its names so far (none, one, a list, a set).
  const names: Array<null | undefined | string | string[] | Set<string>> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (expectName) {
        expectName = false;
        const name = stringAt(text, i, end);
        const top = names.length - 1;
        const seen = names[top];
        if (seen === undefined) names[top] = name;
        else if (typeof seen === 'string') {
          if (seen === name) return pointerTo(text, i);
          names[top] = [seen, name];
        } else if (Array.isArray(seen)) {
          if (seen.includes(name)) return pointerTo(text, i);
          seen.push(name);
          if (seen.length > 16) names[top] = new Set(seen);
        } else if ((seen as Set<string>).has(name)) return pointerTo(text, i);
        else (seen as Set<string>).add(name);
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      names.push(undefined);
      expectName = true;
    } else if (c === 0x5b /* [ */) names.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      names.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) expectName = names[names.length - 1] !== null;
  }
  return undefined;
}

/** The JSON Pointer of the member whose name starts at `offset`, from the containers around it. */
function pointerTo(text: string, offset: number): string {
  const path: Array<string | number> = [];
  let expectName = false;
  for (let i = 0; i <= offset; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (expectName) path[path.length - 1] = stringAt(text, i, end);
      expectName = false;
      i = end;
    } else if (c === 0x7b) {
      path.push('');
      expectName = true;
    } else if (c === 0x5b) path.push(0);
    else if (c === 0x7d || c === 0x5d) {
      path.pop();
      expectName = false;
    } else if (c === 0x2c) {
      const top = path[path.length - 1];
      if (typeof top === 'number') path[path.length - 1] = top + 1;
      else expectName = true;
    }
  }
  return path.map((key) => `/${escapePointer(String(key))}`).join('');
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let end = start + 1;
  for (let c = text.charCodeAt(end); c !== 0x22; c = text.charCodeAt(end)) end += c === 0x5c ? 2 : 1;
  return end;
}

/** The value of the string from `start` to `end` (its quotes), escapes decoded. */
function stringAt(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end + 1)) as string) : raw;
}

/** JSON with the wire conventions: bigint as a decimal string, bytes as lowercase hex. */
function toJson(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, replaced: unknown) {
    const raw = key === '' ? replaced : this[key];
    if (typeof raw === 'bigint') return raw.toString();
    if (raw instanceof Uint8Array) return toHex(raw);
    return replaced;
  });
}

function sendProblem(reply: FastifyReply, error: LoulanError, instance: string): FastifyReply {
  const retryAfterMs = error.details['retryAfterMs'];
  if (typeof retryAfterMs === 'number' && retryAfterMs > 0) reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  else if (error.code === 'INTAKE_OVERLOADED') reply.header('retry-after', '1');
  return reply.code(error.status).type('application/problem+json').send(error.toProblem(instance));
}



