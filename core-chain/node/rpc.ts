/**
 * The validator's RPC: `NodeApi` as HTTP routes and a WebSocket subscription, on fastify.
 *
 * Shaped by three rules. Every failure leaves through one error handler as an RFC 9457 problem
 * document with a registry code (fastify's own validation, parse and size errors are translated to
 * VALIDATE_* / RPC_* codes with a JSON pointer), so clients branch on `code` and no stack trace or
 * internal message can reach a body. Every JSON reply goes through one serializer that writes bigint
 * as a decimal string and bytes as hex, so a handler cannot leak a `Uint8Array` as `{"0":..}`.
 * Validation is fastify's JSON schema with type coercion, defaults and property removal turned off:
 * what reaches a handler is what the client sent, or the request was refused.
 *
 * Subscribers cost bounded memory: the server subscribes to the node once, serializes each event once,
 * and closes (1013, "try again later") any socket whose unsent bytes exceed the limit instead of
 * queueing for it. A subscriber reconnects and fills its gap from `GET /v1/blocks/:height`.
 *
 * Routes (JSON unless noted; errors are `application/problem+json`):
 *
 *   POST /v1/tx                 raw bytes (application/octet-stream) or {"tx": hex}; 202 {hash, duplicate}
 *        ?wait=commit[&timeoutMs=]     200 TxStatus once committed, 202 TxStatus if still pending at the deadline
 *   POST /v1/txs                {"txs": [hex, ...]}; 200 {results: [{hash, duplicate} | {error: problem}]}
 *   GET  /v1/tx/:hash           TxStatus (status "unknown" for a hash the node has never seen)
 *   GET  /v1/blocks/:height     BlockView with certificate; `latest` for the tip; 404 RPC_BLOCK_NOT_FOUND
 *   GET  /v1/headers?from=&to=  {headers: HeaderView[]}: headers with certificates, from..to inclusive (to
 *                               defaults to and is cut at the tip; at most 1,000); what light clients verify
 *   GET  /v1/events/:id         EventView, id = <height>-<index>; ?proof=1 adds the audit path and the
 *                               certified header; 404 RPC_EVENT_NOT_FOUND
 *   GET  /v1/state?prefix=&after=&limit=   {height, entries: [{key, value: hex}], next?}: committed entries
 *                               under a key prefix in key order, after `after` (exclusive), at most `limit`
 *                               (1..1,000, default 100) per page; `next` is the `after` of the next page
 *   GET  /v1/state/:key         {key, value: hex}; key URL-encoded; 404 RPC_STATE_NOT_FOUND
 *        ?proof=1               StateProofView: value (or null) with a sparse Merkle proof and the certified
 *                               header it is against; 200 for an absent key too (non-inclusion)
 *   GET  /v1/status             NodeStatus
 *   GET  /v1/subscribe          WebSocket; ?events=block,event; one NodeEvent per text message
 *   GET  /metrics               Prometheus text format
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { WebSocket } from 'ws';
import { fromHex, toHex } from '../crypto/hash.ts';
import { LoulanError, asLoulanError, isLoulanError } from '../errors.ts';
import { httpErrorToLoulan } from './http-errors.ts';
import { MAX_TX_BYTES, txHash } from '../ledger/tx.ts';
import { MAX_KEY_LENGTH } from '../ledger/state.ts';
import { MAX_HEADERS_PER_CALL, MAX_STATE_PAGE, type NodeApi, type NodeEvent } from './api.ts';
import { rpcMetrics, type RpcMetrics } from './metrics.ts';

export interface RpcServerOptions {
  /** Log requests and errors with fastify's logger (pino, to stdout). Default false. */
  readonly logger?: boolean;
  /** Largest request body in bytes (default 16 MiB). `POST /v1/tx` is capped further, at what the largest transaction needs. */
  readonly bodyLimit?: number;
  /** Longest `?wait=commit` in milliseconds; a larger `timeoutMs` is cut to it. Default 30 s. */
  readonly maxWaitMs?: number;
  /** Most transactions in one `POST /v1/txs`. Default 10,000. */
  readonly maxBatch?: number;
  /** Unsent bytes a subscriber may have queued before it is closed with 1013. Default 1 MiB. */
  readonly maxSubscriberBufferBytes?: number;
  /** Most open subscriptions; one more is closed with 1013 at once. Default 1,000. */
  readonly maxSubscribers?: number;
  /** Ping period for subscribers; one that missed the previous pong is terminated. Default 30 s. */
  readonly heartbeatMs?: number;
}

/** The WebSocket close code for a subscriber the server dropped: too slow, or too many subscribers. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

const EVENT_TYPES = ['block', 'event'] as const;
type EventType = (typeof EVENT_TYPES)[number];

const U64_MAX = (1n << 64n) - 1n;
const DEFAULT_STATE_PAGE = 100;
const HEIGHT_PATTERN = '^(?:0|[1-9][0-9]{0,19})$';
const HEX_PATTERN = '^(?:[0-9a-fA-F]{2})+$';
const MAX_TX_HEX = 2 * MAX_TX_BYTES;
// Room for `{"tx":"<hex>"}` and whitespace around the largest transaction.
const TX_BODY_LIMIT = MAX_TX_HEX + 1024;
// Grace for a dropped subscriber to read its close frame before the socket is destroyed.
const DROP_GRACE_MS = 5_000;
const SHUTDOWN_GRACE_MS = 1_000;

/**
 * Builds the RPC server for one node; the caller listens (`app.listen({ host, port })`) and closes it.
 *
 * @example
 * const app = await createRpcServer(node, { maxWaitMs: 10_000 });
 * await app.listen({ host: '127.0.0.1', port: 8545 });
 * ...
 * await app.close();
 */
export async function createRpcServer(api: NodeApi, options: RpcServerOptions = {}): Promise<FastifyInstance> {
  const opts = resolveOptions(options);
  const metrics = rpcMetrics(api.metrics);
  const app = Fastify({
    logger: opts.logger,
    bodyLimit: opts.bodyLimit,
    // State keys are up to MAX_KEY_LENGTH characters, each up to 9 bytes once percent-encoded.
    routerOptions: { maxParamLength: MAX_KEY_LENGTH * 9 },
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false } },
  });

  app.setReplySerializer((payload) => toJson(payload));
  app.setErrorHandler((error, request, reply) => {
    const problem = httpErrorToLoulan(error);
    if (problem.code === 'INTERNAL') request.log.error({ err: error }, 'rpc: unexpected error');
    return sendProblem(reply, problem, request.url);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new LoulanError('RPC_ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`, { details: { method: request.method } }), request.url),
  );

  // Bodies are JSON, or raw transaction bytes; nothing else is parsed.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
    done();
  });

  const hub = createSubscriberHub(api, metrics, opts, app);
  await app.register(websocket, {
    options: { maxPayload: 4096 },
    preClose: async () => {
      await hub.closeAll();
      app.websocketServer.close();
    },
  });

  app.post<{ Body: Buffer | { tx: string } | undefined; Querystring: { wait?: 'commit'; timeoutMs?: string } }>(
    '/v1/tx',
    {
      bodyLimit: Math.min(opts.bodyLimit, TX_BODY_LIMIT),
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { wait: { type: 'string', enum: ['commit'] }, timeoutMs: { type: 'string', pattern: '^[0-9]{1,10}$' } },
        },
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['tx'],
                additionalProperties: false,
                properties: { tx: { type: 'string', maxLength: MAX_TX_HEX, pattern: HEX_PATTERN } },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let bytes: Uint8Array;
      if (Buffer.isBuffer(body)) bytes = new Uint8Array(body); // a copy: the node may keep it
      else if (body !== undefined && body !== null) bytes = fromHex(body.tx);
      else throw new LoulanError('VALIDATE_REQUIRED', 'a transaction is required in the body', { details: { pointer: '', in: 'body' } });
      const result = await submitIdempotent(api, bytes);
      if (request.query.wait !== 'commit') return reply.code(202).send(result);
      const requested = request.query.timeoutMs === undefined ? opts.maxWaitMs : Number(request.query.timeoutMs);
      const status = await api.waitForCommit(result.hash, Math.min(requested, opts.maxWaitMs));
      return reply.code(status.status === 'committed' ? 200 : 202).send(status);
    },
  );

  app.post<{ Body: { txs: string[] } | Buffer | undefined }>(
    '/v1/txs',
    {
      schema: {
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['txs'],
                additionalProperties: false,
                // Items are checked one by one below, so one bad transaction fails alone.
                properties: { txs: { type: 'array', maxItems: opts.maxBatch, items: { type: 'string' } } },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (Buffer.isBuffer(request.body)) {
        throw new LoulanError('RPC_UNSUPPORTED_MEDIA_TYPE', 'POST /v1/txs takes application/json', { details: { contentType: request.headers['content-type'] ?? null } });
      }
      if (request.body === undefined || request.body === null) {
        throw new LoulanError('VALIDATE_REQUIRED', 'a JSON body {"txs": [...]} is required', { details: { pointer: '', in: 'body' } });
      }
      const decoded = request.body.txs.map((hex) => (hex.length <= MAX_TX_HEX && HEX_RE.test(hex) ? fromHex(hex) : null));
      await api.prepareTxs?.(decoded.filter((tx): tx is Uint8Array => tx !== null));
      const results = decoded.map((bytes, index) => {
        try {
          if (bytes === null) {
            throw new LoulanError('VALIDATE_FORMAT', 'not a hex-encoded transaction', { details: { pointer: `/txs/${index}`, in: 'body' } });
          }
          return api.submitTx(bytes);
        } catch (error) {
          if (bytes !== null && isLoulanError(error) && error.code === 'LEDGER_NONCE_STALE') return { stale: bytes, error };
          const problem = asLoulanError(error);
          if (problem.code === 'INTERNAL') request.log.error({ err: error, index }, 'rpc: unexpected error in batch item');
          return { error: problem.toProblem(request.url) };
        }
      });
      // A stale nonce may just be this very transaction, already committed (a client resending after a
      // timeout or a failover): that is a duplicate, not an error.
      const settled = await Promise.all(
        results.map(async (r) => {
          if (!('stale' in r)) return r;
          const known = await committedDuplicate(api, r.stale);
          return known ?? { error: asLoulanError(r.error).toProblem(request.url) };
        }),
      );
      return reply.code(200).send({ results: settled });
    },
  );

  app.get<{ Params: { hash: string } }>(
    '/v1/tx/:hash',
    { schema: { params: { type: 'object', required: ['hash'], properties: { hash: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } } } } },
    async (request) => api.getTx(request.params.hash.toLowerCase()),
  );

  app.get<{ Params: { height: string } }>(
    '/v1/blocks/:height',
    { schema: { params: { type: 'object', required: ['height'], properties: { height: { type: 'string', pattern: '^(?:latest|0|[1-9][0-9]{0,19})$' } } } } },
    async (request, reply) => {
      const param = request.params.height;
      const height = param === 'latest' ? api.status().height : BigInt(param);
      if (height > U64_MAX) {
        throw new LoulanError('VALIDATE_RANGE', 'height does not fit in 64 bits', { details: { pointer: '/height', in: 'path' } });
      }
      const block = await api.getBlock(height);
      if (block === null) throw new LoulanError('RPC_BLOCK_NOT_FOUND', `no block at height ${height}`, { details: { height } });
      return reply.send(block);
    },
  );

  app.get<{ Querystring: { from: string; to?: string } }>(
    '/v1/headers',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['from'],
          additionalProperties: false,
          properties: { from: { type: 'string', pattern: HEIGHT_PATTERN }, to: { type: 'string', pattern: HEIGHT_PATTERN } },
        },
      },
    },
    async (request, reply) => {
      const from = BigInt(request.query.from);
      const tip = api.status().height;
      const asked = request.query.to === undefined ? (tip > from ? tip : from) : BigInt(request.query.to);
      if (from > U64_MAX || asked > U64_MAX) throw new LoulanError('VALIDATE_RANGE', 'heights fit in 64 bits', { details: { pointer: from > U64_MAX ? '/from' : '/to', in: 'query' } });
      if (from < 1n) throw new LoulanError('VALIDATE_RANGE', 'heights start at 1', { details: { pointer: '/from', in: 'query' } });
      if (asked < from) throw new LoulanError('VALIDATE_RANGE', 'to is below from', { details: { pointer: '/to', in: 'query' } });
      if (asked - from >= BigInt(MAX_HEADERS_PER_CALL)) {
        throw new LoulanError('VALIDATE_RANGE', `at most ${MAX_HEADERS_PER_CALL} headers per request`, { details: { pointer: '/to', in: 'query', limit: MAX_HEADERS_PER_CALL } });
      }
      const to = asked < tip ? asked : tip;
      return reply.send({ headers: from > to ? [] : await api.getHeaders(from, to) });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { proof?: '0' | '1' } }>(
    '/v1/events/:id',
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^(?:0|[1-9][0-9]{0,19})-(?:0|[1-9][0-9]{0,9})$' } } },
        querystring: { type: 'object', additionalProperties: false, properties: { proof: { type: 'string', enum: ['0', '1'] } } },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const [heightText, indexText] = id.split('-') as [string, string];
      const height = BigInt(heightText);
      const index = Number(indexText);
      if (height > U64_MAX) throw new LoulanError('VALIDATE_RANGE', 'height does not fit in 64 bits', { details: { pointer: '/id', in: 'path' } });
      if (index > 0xffffffff) throw new LoulanError('VALIDATE_RANGE', 'event index does not fit in 32 bits', { details: { pointer: '/id', in: 'path' } });
      const event = await api.getEvent(height, index, request.query.proof === '1');
      if (event === null) throw new LoulanError('RPC_EVENT_NOT_FOUND', `no event ${id}`, { details: { id } });
      return reply.send(event);
    },
  );

  app.get<{ Querystring: { prefix: string; after?: string; limit?: string } }>(
    '/v1/state',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['prefix'],
          additionalProperties: false,
          properties: {
            prefix: { type: 'string', maxLength: MAX_KEY_LENGTH },
            after: { type: 'string', maxLength: MAX_KEY_LENGTH },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const { prefix, after = '' } = request.query;
      const limit = request.query.limit === undefined ? DEFAULT_STATE_PAGE : Number(request.query.limit);
      if (limit > MAX_STATE_PAGE) {
        throw new LoulanError('VALIDATE_RANGE', `at most ${MAX_STATE_PAGE} entries per page`, { details: { pointer: '/limit', in: 'query', limit: MAX_STATE_PAGE } });
      }
      return reply.send(api.listState(prefix, after, limit));
    },
  );

  app.get<{ Params: { key: string }; Querystring: { proof?: '0' | '1' } }>(
    '/v1/state/:key',
    {
      schema: {
        params: { type: 'object', required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH } } },
        querystring: { type: 'object', additionalProperties: false, properties: { proof: { type: 'string', enum: ['0', '1'] } } },
      },
    },
    async (request, reply) => {
      const key = request.params.key;
      // With a proof, absence is an answer too: a non-inclusion proof, value null.
      if (request.query.proof === '1') return reply.send(await api.proveState(key));
      const value = api.getState(key);
      if (value === undefined) throw new LoulanError('RPC_STATE_NOT_FOUND', 'no value under this key', { details: { key } });
      return reply.send({ key, value: toHex(value) });
    },
  );

  app.get('/v1/status', async (_request, reply) => reply.send(api.status()));

  app.get('/metrics', async (_request, reply) => reply.type(api.metrics.contentType).send(await api.metrics.metrics()));

  app.route<{ Querystring: { events?: string } }>({
    method: 'GET',
    url: '/v1/subscribe',
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { events: { type: 'string', pattern: '^(?:block|event)(?:,(?:block|event))*$' } },
      },
    },
    handler: async (_request, reply) => {
      reply.header('upgrade', 'websocket');
      throw new LoulanError('RPC_UPGRADE_REQUIRED', '/v1/subscribe is a WebSocket endpoint');
    },
    wsHandler: (socket, request) => {
      const wanted = request.query.events?.split(',') ?? EVENT_TYPES;
      hub.add(socket, new Set(wanted as EventType[]));
    },
  });

  return app;
}

// -- options ---------------------------------------------------------------------------------------

type ResolvedOptions = Required<RpcServerOptions>;

function resolveOptions(options: RpcServerOptions): ResolvedOptions {
  const positive = (field: keyof RpcServerOptions, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new LoulanError('CONFIG_INVALID', `rpc option ${field} must be a positive integer`, { details: { field, value } });
    }
    return value;
  };
  return Object.freeze({
    logger: options.logger ?? false,
    bodyLimit: positive('bodyLimit', options.bodyLimit, 16 * 1024 * 1024),
    maxWaitMs: positive('maxWaitMs', options.maxWaitMs, 30_000),
    maxBatch: positive('maxBatch', options.maxBatch, 10_000),
    maxSubscriberBufferBytes: positive('maxSubscriberBufferBytes', options.maxSubscriberBufferBytes, 1024 * 1024),
    maxSubscribers: positive('maxSubscribers', options.maxSubscribers, 1_000),
    heartbeatMs: positive('heartbeatMs', options.heartbeatMs, 30_000),
  });
}

// -- JSON and problems -----------------------------------------------------------------------------

const HEX_RE = new RegExp(HEX_PATTERN);

/**
 * JSON with the wire conventions: bigint as a decimal string, bytes as lowercase hex. The raw value is
 * read from the holder because `Buffer#toJSON` runs before a replacer sees its result.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, replaced: unknown) {
    const raw = key === '' ? replaced : this[key];
    if (typeof raw === 'bigint') return raw.toString();
    if (raw instanceof Uint8Array) return toHex(raw);
    return replaced;
  });
}

function sendProblem(reply: FastifyReply, error: LoulanError, instance: string): FastifyReply {
  return reply.code(error.status).type('application/problem+json').send(error.toProblem(instance));
}




// -- subscriptions ---------------------------------------------------------------------------------

interface Subscriber {
  readonly types: ReadonlySet<EventType>;
  alive: boolean;
}

interface SubscriberHub {
  add(socket: WebSocket, types: ReadonlySet<EventType>): void;
  /** Closes every open socket (1001), terminating those that have not finished within a grace period. */
  closeAll(): Promise<void>;
}

/**
 * Fan-out from the node to WebSocket subscribers. The node is subscribed to while anyone listens, and
 * each event is serialized once. The node calls the listener synchronously on its commit path, so the
 * listener never throws and never waits.
 */
function createSubscriberHub(api: NodeApi, metrics: RpcMetrics, opts: ResolvedOptions, app: FastifyInstance): SubscriberHub {
  const subscribers = new Map<WebSocket, Subscriber>();
  let unsubscribe: (() => void) | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closing = false;

  const remove = (socket: WebSocket): void => {
    if (!subscribers.delete(socket)) return;
    metrics.subscribers.dec();
    if (subscribers.size > 0) return;
    unsubscribe?.();
    unsubscribe = undefined;
    clearInterval(heartbeat);
    heartbeat = undefined;
  };

  const drop = (socket: WebSocket, reason: 'slow' | 'full'): void => {
    remove(socket);
    metrics.subscribersClosed.inc({ reason });
    socket.close(CLOSE_TRY_AGAIN_LATER, reason === 'slow' ? 'subscriber too slow' : 'too many subscribers');
    // A stalled reader never acknowledges the close; its queued bytes are freed by terminating.
    setTimeout(() => socket.terminate(), DROP_GRACE_MS).unref();
  };

  const broadcast = (event: NodeEvent): void => {
    let text: string | undefined;
    for (const [socket, subscriber] of subscribers) {
      if (!subscriber.types.has(event.type)) continue;
      if (socket.readyState !== socket.OPEN) continue;
      if (socket.bufferedAmount > opts.maxSubscriberBufferBytes) {
        drop(socket, 'slow');
        continue;
      }
      text ??= toJson(event);
      socket.send(text);
    }
  };

  const beat = (): void => {
    for (const [socket, subscriber] of subscribers) {
      if (!subscriber.alive) {
        remove(socket);
        socket.terminate();
        continue;
      }
      subscriber.alive = false;
      socket.ping();
    }
  };

  return {
    add(socket, types) {
      if (closing) {
        socket.close(1001, 'server shutting down');
        return;
      }
      if (subscribers.size >= opts.maxSubscribers) {
        metrics.subscribersClosed.inc({ reason: 'full' });
        socket.close(CLOSE_TRY_AGAIN_LATER, 'too many subscribers');
        return;
      }
      const subscriber: Subscriber = { types, alive: true };
      subscribers.set(socket, subscriber);
      metrics.subscribers.inc();
      socket.on('pong', () => {
        subscriber.alive = true;
      });
      socket.on('close', () => remove(socket));
      // Subscribers have nothing to say; frames they send are ignored (and bounded by maxPayload).
      if (unsubscribe === undefined) {
        unsubscribe = api.subscribe((event) => {
          try {
            broadcast(event);
          } catch (error) {
            app.log.error({ err: error }, 'rpc: failed to fan out an event');
          }
        });
      }
      heartbeat ??= setInterval(beat, opts.heartbeatMs).unref();
    },

    async closeAll() {
      closing = true;
      for (const socket of [...subscribers.keys()]) remove(socket);
      const open = [...app.websocketServer.clients];
      await Promise.all(
        open.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === socket.CLOSED) return resolve();
              const timer = setTimeout(() => socket.terminate(), SHUTDOWN_GRACE_MS);
              socket.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              socket.close(1001, 'server shutting down');
            }),
        ),
      );
    },
  };
}

/**
 * `submitTx`, made idempotent across restarts: a transaction refused for a stale nonce that is in
 * fact committed (the node forgot it was recently committed when it restarted, or it came in
 * through another validator) is answered as a duplicate.
 */
async function submitIdempotent(api: NodeApi, bytes: Uint8Array): Promise<{ hash: string; duplicate: boolean }> {
  try {
    return api.submitTx(bytes);
  } catch (error) {
    if (isLoulanError(error) && error.code === 'LEDGER_NONCE_STALE') {
      const known = await committedDuplicate(api, bytes);
      if (known !== undefined) return known;
    }
    throw error;
  }
}

async function committedDuplicate(api: NodeApi, bytes: Uint8Array): Promise<{ hash: string; duplicate: true } | undefined> {
  const hash = toHex(txHash(bytes));
  const status = await api.getTx(hash);
  return status.status === 'committed' ? { hash, duplicate: true } : undefined;
}
