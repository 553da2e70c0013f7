import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ERROR_CODES, LoulanError, type ErrorCode } from '../core-chain/index.ts';
import type { Envelope } from '../schemas/index.ts';
import type { BatchItemResult, ChangeSubmitted, LinkHealthView, RouteExplanation, RouteView, SwitchApi, SwitchHealth } from './api.ts';
import { buildSwitchServer, type SwitchServerOptions } from './http.ts';
import { SwitchMetrics } from './metrics.ts';
import type { IntakeResult, MessageRecord, StatusEvent } from './model.ts';
import { buildOpenApi, OPERATIONS, type OperationSpec } from './openapi.ts';
import { CLOSE_TRY_AGAIN_LATER } from './stream.ts';

// -- a fake switch ---------------------------------------------------------------------------------

const ENVELOPE: Envelope = {
  id: 'acme-msg-000001',
  type: 'points.exchange.request',
  source: 'cn.loulan.shop.acme',
  to: 'cn.loulan.core.points',
  seq: '42',
  time: '2025-03-01T08:00:01.120Z',
  expiresAt: '2025-03-01T08:01:01.120Z',
  data: {
    orderId: 'acme-ord-20250301-0001',
    idempotencyKey: 'checkout:7f3a9c',
    pair: 'acme-skyair-2025',
    quoteId: 'q-5e1d2c',
    source: { program: 'cn.loulan.shop.acme', member: '13800138000' },
    target: { program: 'cn.loulan.partner.skyair', member: 'CA-0012345678' },
    points: '5000',
    expectedCredit: '480',
  },
  sig: { alg: 'Ed25519', kid: 'cn.loulan.shop.acme#k1', value: 'LGQ0ENFTYITFi6lZnWPKx0XO1BtNdCnzAL-geFCoOj2Ut8QPWXNfTs0UxVlBLayojVcBKcHIloUwiM-dewxnFQ' },
} as unknown as Envelope;

const LINK = {
  adapter: { kind: 'rest', endpoint: 'https://airline.example/loulan' },
  ordered: true,
  retry: { maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 5000 },
};

function record(id: string, source = ENVELOPE.source, order = 1): MessageRecord {
  return {
    source,
    id,
    envelope: { ...ENVELOPE, id, source },
    digest: 'ab'.repeat(32),
    acceptedAt: 1_700_000_000_000,
    deadline: 1_700_000_060_000,
    order,
    status: 'dead',
    attempts: 10,
    route: { prefix: 'cn.loulan.core', link: 'core-rpc' },
    lastError: { code: 'DELIVER_ATTEMPTS_EXHAUSTED', message: 'gave up' },
    history: [
      { at: 1_700_000_000_000, status: 'accepted' },
      { at: 1_700_000_000_100, status: 'dead', attempt: 10, link: 'core-rpc', code: 'DELIVER_ATTEMPTS_EXHAUSTED' },
    ],
    historyCount: 2,
  };
}

const HEALTH: LinkHealthView = {
  link: 'core-rpc',
  target: LINK.adapter,
  state: 'up',
  queueDepth: 3,
  oldestAgeMs: 120,
  successRate: 0.99,
  latencyP50Ms: 4,
  latencyP99Ms: 20,
  lastError: null,
  breaker: 'closed',
};

const ROUTE: RouteView = { prefix: 'cn.loulan.core', link: LINK, version: '3', changeId: 'chg-7', height: '120', time: '2025-03-01T08:00:00.000Z' };

type Call = [string, ...unknown[]];

class FakeSwitch implements SwitchApi {
  readonly calls: Call[] = [];
  readonly accepted = new Map<string, IntakeResult>();
  readonly records = new Map<string, MessageRecord>();
  readonly log: StatusEvent[] = [];
  readonly listeners = new Set<(events: readonly StatusEvent[]) => void>();
  /** Thrown by the next call of any method. */
  fail: unknown = undefined;
  status: SwitchHealth['status'] = 'up';
  applied = true;
  /** Called at the start of each `eventsAfter`, before the log is read. */
  onRead: ((after: number) => void) | undefined;
  reads = 0;

  #check(name: string, ...args: unknown[]): void {
    this.calls.push([name, ...args]);
    if (this.fail === undefined) return;
    const error = this.fail;
    this.fail = undefined;
    throw error;
  }

  async submit(envelope: unknown): Promise<IntakeResult> {
    this.#check('submit', envelope);
    const { id, source } = envelope as Envelope;
    const known = this.accepted.get(id);
    if (known !== undefined) return { ...known, duplicate: true };
    const result: IntakeResult = { id, source, status: 'accepted', acceptedAt: '2025-03-01T08:00:01.500Z', digest: 'cd'.repeat(32), duplicate: false };
    this.accepted.set(id, result);
    return result;
  }

  async submitBatch(batch: unknown): Promise<BatchItemResult[]> {
    this.#check('submitBatch', batch);
    const results: BatchItemResult[] = [];
    for (const [index, message] of (batch as { messages: Envelope[] }).messages.entries()) {
      if (message.seq === '0') {
        results.push({ id: message.id, index, problem: new LoulanError('INTAKE_SEQ_REPLAY', 'replayed', { details: { seq: '0' } }).toProblem() });
      } else {
        results.push(await this.submit(message));
      }
    }
    return results;
  }

  async message(id: string, source?: string): Promise<MessageRecord> {
    this.#check('message', id, source);
    const found = this.records.get(id);
    if (found === undefined) throw new LoulanError('MESSAGE_NOT_FOUND', 'no such message', { details: { id } });
    return found;
  }

  async proof(id: string, source?: string): Promise<Readonly<Record<string, unknown>>> {
    this.#check('proof', id, source);
    return { accepted: { leaf: 'ab'.repeat(32), index: 0 } };
  }

  async eventsAfter(after: number, limit: number): Promise<StatusEvent[]> {
    this.reads++;
    this.onRead?.(after);
    await tick();
    return this.log.filter((e) => e.cursor > after).slice(0, limit);
  }

  onEvents(listener: (events: readonly StatusEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lastCursor(): number {
    return this.log.length;
  }

  /** Appends `count` events to the log (durable) and announces them as one group. */
  emit(count: number, fields: Partial<StatusEvent> = {}): void {
    const events: StatusEvent[] = [];
    for (let i = 0; i < count; i++) {
      const cursor = this.log.length + 1;
      const event: StatusEvent = { cursor, source: ENVELOPE.source, id: `m-${cursor}`, to: ENVELOPE.to, status: 'queued', at: 1_700_000_000_000 + cursor, ...fields };
      this.log.push(event);
      events.push(event);
    }
    for (const listener of this.listeners) listener(events);
  }

  routes(): RouteView[] {
    this.#check('routes');
    return [ROUTE, { ...ROUTE, prefix: '', changeId: 'chg-1' }];
  }

  explain(address: string): RouteExplanation {
    this.#check('explain', address);
    return {
      address,
      matched: ROUTE,
      candidates: [
        { prefix: 'cn.loulan.core.points', hasEntry: false },
        { prefix: 'cn.loulan.core', hasEntry: true },
      ],
      why: 'longest matching prefix cn.loulan.core',
      active: { link: 'core-rpc', reason: 'primary healthy', since: 1_700_000_000_000 },
      primary: HEALTH,
      alternates: [],
    };
  }

  async setRoute(prefix: string, link: unknown, reason: string | undefined): Promise<ChangeSubmitted> {
    this.#check('setRoute', prefix, link, reason);
    return { changeId: 'chg-8', applied: this.applied, txHash: 'ef'.repeat(32), height: '121' };
  }

  async removeRoute(prefix: string, reason: string | undefined): Promise<ChangeSubmitted> {
    this.#check('removeRoute', prefix, reason);
    return { changeId: 'chg-9', applied: this.applied, txHash: 'ef'.repeat(32), height: '122' };
  }

  async deadLetters(after: number, limit: number): Promise<MessageRecord[]> {
    this.#check('deadLetters', after, limit);
    return [1, 2, 3].filter((order) => order > after).slice(0, limit).map((order) => record(`dead-${order}`, ENVELOPE.source, order));
  }

  async replay(id: string, source?: string): Promise<MessageRecord> {
    this.#check('replay', id, source);
    return { ...record(id), status: 'queued', attempts: 0 };
  }

  async skipGap(source: string, to: string): Promise<bigint[]> {
    this.#check('skipGap', source, to);
    return [2n];
  }

  async approvals(): Promise<MessageRecord[]> {
    this.#check('approvals');
    return [{ ...record('held-1'), status: 'held', hold: { reason: 'value above 10000 needs approval' } }];
  }

  async decide(id: string, source: string | undefined, approve: boolean, operator: string): Promise<MessageRecord> {
    this.#check('decide', id, source, approve, operator);
    return { ...record(id), status: approve ? 'queued' : 'dead' };
  }

  health(): SwitchHealth {
    this.#check('health');
    return {
      status: this.status,
      switchId: 'sw1',
      core: { connected: this.status !== 'down', height: '120', endpoint: 'http://127.0.0.1:8545' },
      store: { lastCursor: this.lastCursor },
      routes: 2,
      links: [HEALTH],
      gaps: [],
      stuck: 0,
      dlq: 3,
    };
  }

  async metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    this.#check('metrics');
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'loulan_switch_expired_total 0\n' };
  }
}

// -- harness ---------------------------------------------------------------------------------------

const TOKEN = 'operator-token-0123456789';
const OTHER_TOKEN = 'second-operator-token-abcdef';
const apps: FastifyInstance[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) if (socket.readyState !== socket.CONNECTING) socket.terminate();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function server(options: Partial<SwitchServerOptions> = {}): { api: FakeSwitch; app: FastifyInstance } {
  const api = new FakeSwitch();
  const app = buildSwitchServer(api, { operatorTokens: [TOKEN, OTHER_TOKEN], ...options });
  apps.push(app);
  return { api, app };
}

interface Reply {
  readonly status: number;
  readonly type: string;
  readonly headers: Record<string, unknown>;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

interface Request {
  readonly payload?: unknown;
  readonly contentType?: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

/** Sends a request and checks the reply against the OpenAPI document: success schemas, and problem shape and codes. */
async function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, request: Request = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.contentType !== undefined) headers['content-type'] = request.contentType;
  if (request.token !== undefined) headers['authorization'] = `Bearer ${request.token}`;
  const response = await app.inject({
    method,
    url,
    headers,
    ...(request.payload === undefined ? {} : { payload: request.payload as string | object }),
  });
  const type = String(response.headers['content-type'] ?? '');
  const reply: Reply = {
    status: response.statusCode,
    type,
    headers: response.headers,
    text: response.body,
    body: type.includes('json') ? (JSON.parse(response.body) as Record<string, unknown>) : {},
  };
  checkDocumented(method, url, reply);
  return reply;
}

function expectProblem(reply: Reply, status: number, code: ErrorCode, fields: Record<string, unknown> = {}): void {
  expect(reply.body).toMatchObject({ code, status, ...fields });
  expect(reply.status).toBe(status);
}

// The document the server serves, compiled once: every reply a test sees must match it.
const openapi = buildOpenApi();
const ajv = new Ajv2020({ strict: false, discriminator: true });
ajvFormats.default(ajv);
ajv.addSchema(openapi as unknown as Record<string, unknown>, 'urn:loulan:test:openapi');
const compiled = new Map<string, ValidateFunction>();
function schemaValidator(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate === undefined) {
    const rebased = JSON.parse(key.replaceAll('"#/components/', '"urn:loulan:test:openapi#/components/')) as Record<string, unknown>;
    validate = ajv.compile(rebased);
    compiled.set(key, validate);
  }
  return validate;
}

function operationFor(method: string, url: string): OperationSpec | undefined {
  const path = url.split('?')[0] as string;
  return OPERATIONS.find((op) => op.method === method && new RegExp(`^${op.url.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(path));
}

function checkDocumented(method: string, url: string, reply: Reply): void {
  if (reply.type.startsWith('application/problem+json')) {
    const problem = reply.body;
    expect(Object.keys(problem)).toEqual(expect.arrayContaining(['type', 'title', 'status', 'code', 'detail']));
    expect(problem['type']).toBe(`urn:loulan:error:${String(problem['code'])}`);
    expect(problem['title']).toBe(problem['code']);
    expect(problem['status']).toBe(reply.status);
    expect(ERROR_CODES[problem['code'] as ErrorCode].status).toBe(reply.status);
    expect(reply.text).not.toMatch(/\bat .+:\d+:\d+|stack/i);
    expect(schemaValidator({ $ref: '#/components/schemas/Problem' })(problem)).toBe(true);
    const op = operationFor(method, url);
    // Any URL may be no route (a parameter over the router's length limit is one).
    if (op === undefined) expect(problem['code']).toBe('RPC_ROUTE_NOT_FOUND');
    else expect([...op.errors, 'INTERNAL', 'RPC_ROUTE_NOT_FOUND', 'RPC_MALFORMED_REQUEST']).toContain(problem['code']);
    return;
  }
  const op = operationFor(method, url);
  expect(op, `${method} ${url} is documented`).toBeDefined();
  const ok = op?.ok[reply.status];
  expect(ok, `${method} ${url} documents status ${reply.status}`).toBeDefined();
  if (ok?.schema === undefined || ok.contentType !== undefined) return;
  const validate = schemaValidator(typeof ok.schema === 'string' ? { $ref: `#/components/schemas/${ok.schema}` } : ok.schema);
  expect(validate(reply.body), JSON.stringify(validate.errors)).toBe(true);
}

function captureLogger(): { logger: FastifyBaseLogger; errors: unknown[] } {
  const errors: unknown[] = [];
  const noop = (): void => undefined;
  const logger = {
    level: 'info',
    fatal: noop,
    error: (...args: unknown[]) => errors.push(args),
    warn: noop,
    info: noop,
    debug: noop,
    trace: noop,
    silent: noop,
    child: () => logger,
  } as unknown as FastifyBaseLogger;
  return { logger, errors };
}

// -- options ---------------------------------------------------------------------------------------

describe('options', () => {
  it('refuses short operator tokens and bad limits with CONFIG_INVALID', () => {
    const api = new FakeSwitch();
    expect(() => buildSwitchServer(api, { operatorTokens: ['short'] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: { field: 'operatorTokens/0' } }));
    expect(() => buildSwitchServer(api, { operatorTokens: [TOKEN], bodyLimitBytes: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: expect.objectContaining({ field: 'bodyLimitBytes' }) }));
    expect(() => buildSwitchServer(api, { operatorTokens: [TOKEN], stream: { replayPageSize: 1.5 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

// -- intake ----------------------------------------------------------------------------------------

describe('POST /v1/messages', () => {
  it('accepts one envelope with 202, and answers a resend with the original result and 200', async () => {
    const { api, app } = server();
    const first = await call(app, 'POST', '/v1/messages', { payload: ENVELOPE });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ id: ENVELOPE.id, source: ENVELOPE.source, status: 'accepted', acceptedAt: '2025-03-01T08:00:01.500Z', digest: 'cd'.repeat(32), duplicate: false });
    expect(api.calls).toEqual([['submit', ENVELOPE]]);
    const again = await call(app, 'POST', '/v1/messages', { payload: ENVELOPE });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: ENVELOPE.id, duplicate: true });
  });

  it('answers a batch item by item with 200, refused items as problems', async () => {
    const { api, app } = server();
    const batch = { messages: [{ ...ENVELOPE, id: 'b-1', seq: '1' }, { ...ENVELOPE, id: 'b-2', seq: '0' }], sig: ENVELOPE.sig };
    const reply = await call(app, 'POST', '/v1/messages', { payload: batch });
    expect(reply.status).toBe(200);
    const results = reply.body['results'] as Array<Record<string, unknown>>;
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ id: 'b-1', duplicate: false });
    expect(results[1]).toMatchObject({ id: 'b-2', index: 1, problem: { code: 'INTAKE_SEQ_REPLAY', status: 409, seq: '0' } });
    expect(api.calls[0]).toEqual(['submitBatch', batch]);
  });

  it('an object without `messages` goes to intake as an envelope, which names the missing field', async () => {
    const { api, app } = server();
    api.fail = new LoulanError('VALIDATE_REQUIRED', 'missing required field /id', { details: { pointer: '/id', keyword: 'required' } });
    const reply = await call(app, 'POST', '/v1/messages', { payload: { type: 'points.exchange.request' } });
    expectProblem(reply, 400, 'VALIDATE_REQUIRED', { pointer: '/id', instance: '/v1/messages' });
    expect(api.calls).toEqual([['submit', { type: 'points.exchange.request' }]]);
  });

  it('refuses bodies that are not a JSON object with INTAKE_MALFORMED and pointer "", before intake', async () => {
    const { api, app } = server();
    for (const payload of ['{"id": "x",', '', '{"__proto__": {"x": 1}}', '[1, 2]', '"text"', 'null', '42']) {
      const reply = await call(app, 'POST', '/v1/messages', { payload, contentType: 'application/json' });
      expectProblem(reply, 400, 'INTAKE_MALFORMED', { pointer: '', in: 'body' });
    }
    expect(api.calls).toEqual([]);
  });

  it('refuses other content types with 415 and oversized bodies with 413', async () => {
    const { api, app } = server({ bodyLimitBytes: 1024 });
    for (const contentType of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      expectProblem(await call(app, 'POST', '/v1/messages', { payload: 'id=1', contentType }), 415, 'RPC_UNSUPPORTED_MEDIA_TYPE');
    }
    // A compressed body or another charset is refused, not guessed at; UTF-8 spelled either way passes the parser.
    for (const [contentType, headers, header] of [
      ['application/json', { 'content-encoding': 'gzip' }, 'content-encoding'],
      ['application/json', { 'content-encoding': 'br' }, 'content-encoding'],
      ['application/json; charset=iso-8859-1', {}, 'content-type'],
      ['application/json; charset="utf-16"', {}, 'content-type'],
    ] as const) {
      const reply = await call(app, 'POST', '/v1/messages', { payload: JSON.stringify(ENVELOPE), contentType, headers });
      expectProblem(reply, 415, 'RPC_UNSUPPORTED_MEDIA_TYPE', { header });
    }
    for (const contentType of ['application/json; charset=utf-8', 'application/json; charset=UTF8']) {
      expect((await call(app, 'POST', '/v1/messages', { payload: '[1]', contentType, headers: { 'content-encoding': 'identity' } })).status).toBe(400);
    }
    const big = { ...ENVELOPE, data: { note: 'x'.repeat(2000) } };
    expectProblem(await call(app, 'POST', '/v1/messages', { payload: big }), 413, 'VALIDATE_TOO_LARGE', { pointer: '' });
    expect(api.calls).toEqual([]);
  });

  it('passes intake refusals through with their status, code and details', async () => {
    const { api, app } = server();
    const cases: Array<[LoulanError, number]> = [
      [new LoulanError('INTAKE_SEQ_REPLAY', 'seq used', { details: { seq: '42', pointer: '/seq' } }), 409],
      [new LoulanError('CRYPTO_SIGNATURE_INVALID', 'bad signature', { details: { pointer: '/sig/value' } }), 401],
      [new LoulanError('INTAKE_FORBIDDEN', 'no role', { details: { required: ['shop'] } }), 403],
      [new LoulanError('INTAKE_EXPIRED', 'too late', { details: { pointer: '/expiresAt' } }), 422],
      [new LoulanError('INTAKE_VALUE_CAP', 'over cap', { details: { scope: 'participant', cap: '1000', windowMs: 60000 } }), 429],
      [new LoulanError('SWITCH_STORE_FAILED', 'disk gone'), 503],
    ];
    for (const [error, status] of cases) {
      api.fail = error;
      expectProblem(await call(app, 'POST', '/v1/messages', { payload: ENVELOPE }), status, error.code, { ...error.details, detail: error.message });
    }
  });

  it('tells an overloaded sender when to come back', async () => {
    const { api, app } = server();
    api.fail = new LoulanError('INTAKE_OVERLOADED', 'busy', { details: { retryAfterMs: 2500 } });
    const reply = await call(app, 'POST', '/v1/messages', { payload: ENVELOPE });
    expectProblem(reply, 503, 'INTAKE_OVERLOADED');
    expect(reply.headers['retry-after']).toBe('3');
    api.fail = new LoulanError('INTAKE_OVERLOADED', 'busy');
    expect((await call(app, 'POST', '/v1/messages', { payload: ENVELOPE })).headers['retry-after']).toBe('1');
  });

  it('turns unexpected failures into INTERNAL with a generic detail, and logs them', async () => {
    const { logger, errors } = captureLogger();
    const { api, app } = server({ logger });
    const secret = new Error('connection string postgres://admin:hunter2@db');
    api.fail = secret;
    const reply = await call(app, 'POST', '/v1/messages', { payload: ENVELOPE });
    expectProblem(reply, 500, 'INTERNAL', { detail: 'internal error' });
    expect(reply.text).not.toContain('hunter2');
    expect(Object.keys(reply.body).sort()).toEqual(['code', 'detail', 'instance', 'status', 'title', 'type']);
    expect(errors).toContainEqual([expect.objectContaining({ err: secret }), expect.any(String)]);
    api.fail = new TypeError('undefined is not a function');
    expectProblem(await call(app, 'GET', '/v1/messages/x1'), 500, 'INTERNAL', { detail: 'internal error' });
  });
});

// -- messages --------------------------------------------------------------------------------------

describe('GET /v1/messages/:id and /proof', () => {
  it('returns the record, narrowed by ?source=', async () => {
    const { api, app } = server();
    api.records.set('acme-msg-000001', record('acme-msg-000001'));
    const reply = await call(app, 'GET', '/v1/messages/acme-msg-000001?source=cn.loulan.shop.acme');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: 'acme-msg-000001', status: 'dead', historyCount: 2 });
    expect(api.calls).toEqual([['message', 'acme-msg-000001', 'cn.loulan.shop.acme']]);
    await call(app, 'GET', '/v1/messages/a:b.c-d_e');
    expect(api.calls[1]).toEqual(['message', 'a:b.c-d_e', undefined]);
  });

  it('answers unknown ids with MESSAGE_NOT_FOUND and bad parameters with a pointer', async () => {
    const { api, app } = server();
    expectProblem(await call(app, 'GET', '/v1/messages/nope'), 404, 'MESSAGE_NOT_FOUND', { id: 'nope' });
    expectProblem(await call(app, 'GET', '/v1/messages/a%20b'), 400, 'VALIDATE_FORMAT', { pointer: '/id', in: 'path' });
    expectProblem(await call(app, 'GET', `/v1/messages/${'a'.repeat(129)}`), 400, 'VALIDATE_FORMAT', { pointer: '/id', in: 'path' });
    expectProblem(await call(app, 'GET', '/v1/messages/x?source=Not_An_Address'), 400, 'VALIDATE_FORMAT', { pointer: '/source', in: 'query' });
    expectProblem(await call(app, 'GET', '/v1/messages/x?src=cn.a'), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/src', in: 'query' });
    expect(api.calls).toEqual([['message', 'nope', undefined]]);
  });

  it('returns the anchoring proof, or MESSAGE_NOT_ANCHORED', async () => {
    const { api, app } = server();
    const reply = await call(app, 'GET', '/v1/messages/m1/proof?source=cn.loulan.shop.acme');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ accepted: { leaf: 'ab'.repeat(32), index: 0 } });
    expect(api.calls).toEqual([['proof', 'm1', 'cn.loulan.shop.acme']]);
    api.fail = new LoulanError('MESSAGE_NOT_ANCHORED', 'not yet');
    expectProblem(await call(app, 'GET', '/v1/messages/m1/proof'), 409, 'MESSAGE_NOT_ANCHORED');
  });
});

// -- routes ----------------------------------------------------------------------------------------

describe('routes', () => {
  it('lists the table and explains an address', async () => {
    const { api, app } = server();
    const list = await call(app, 'GET', '/v1/routes');
    expect(list.status).toBe(200);
    expect((list.body['routes'] as RouteView[]).map((r) => r.prefix)).toEqual(['cn.loulan.core', '']);
    const explained = await call(app, 'GET', '/v1/routes/explain?address=cn.loulan.core.points');
    expect(explained.status).toBe(200);
    expect(explained.body).toMatchObject({ address: 'cn.loulan.core.points', matched: { prefix: 'cn.loulan.core' }, primary: { state: 'up' } });
    expect(api.calls).toEqual([['routes'], ['explain', 'cn.loulan.core.points']]);
  });

  it('explain needs a valid address, named by a pointer', async () => {
    const { api, app } = server();
    expectProblem(await call(app, 'GET', '/v1/routes/explain'), 400, 'VALIDATE_REQUIRED', { pointer: '/address', in: 'query' });
    expectProblem(await call(app, 'GET', '/v1/routes/explain?address=CN..x'), 400, 'VALIDATE_FORMAT', { pointer: '/address', in: 'query' });
    expectProblem(await call(app, 'GET', `/v1/routes/explain?address=${'a'.repeat(254)}`), 400, 'VALIDATE_RANGE', { pointer: '/address' });
    expect(api.calls).toEqual([]);
  });

  it('PUT and DELETE need an operator token; the check comes before the body is read', async () => {
    const { api, app } = server();
    const body = { link: LINK, reason: 'new partner' };
    for (const token of [undefined, 'operator-token-0123456788', '']) {
      const reply = await call(app, 'PUT', '/v1/routes/cn.loulan.partner', { payload: body, ...(token === undefined ? {} : { token }) });
      expectProblem(reply, 401, 'SWITCH_UNAUTHORIZED');
      expect(reply.headers['www-authenticate']).toMatch(/^Bearer /);
    }
    expectProblem(await call(app, 'PUT', '/v1/routes/x', { payload: body, headers: { authorization: `Basic ${TOKEN}` } }), 401, 'SWITCH_UNAUTHORIZED');
    expectProblem(await call(app, 'PUT', '/v1/routes/x', { payload: '{not json', contentType: 'application/json' }), 401, 'SWITCH_UNAUTHORIZED');
    expectProblem(await call(app, 'DELETE', '/v1/routes/x'), 401, 'SWITCH_UNAUTHORIZED');
    expect(api.calls).toEqual([]);
  });

  it('PUT submits the governed change: 200 when applied, 202 while it waits; `_` is the default route', async () => {
    const { api, app } = server();
    const applied = await call(app, 'PUT', '/v1/routes/cn.loulan.partner', { payload: { link: LINK, reason: 'new partner' }, token: TOKEN });
    expect(applied.status).toBe(200);
    expect(applied.body).toEqual({ changeId: 'chg-8', applied: true, txHash: 'ef'.repeat(32), height: '121' });
    api.applied = false;
    const pending = await call(app, 'PUT', '/v1/routes/_', { payload: { link: LINK }, token: OTHER_TOKEN });
    expect(pending.status).toBe(202);
    expect(api.calls).toEqual([
      ['setRoute', 'cn.loulan.partner', LINK, 'new partner'],
      ['setRoute', '', LINK, undefined],
    ]);
  });

  it('PUT refuses bad prefixes and bodies with a pointer, and passes ROUTE_INVALID through', async () => {
    const { api, app } = server();
    const put = (url: string, payload: unknown) => call(app, 'PUT', url, { payload, token: TOKEN, contentType: 'application/json' });
    expectProblem(await put('/v1/routes/Bad_Prefix', { link: LINK }), 400, 'VALIDATE_FORMAT', { pointer: '/prefix', in: 'path' });
    expectProblem(await put('/v1/routes/__', { link: LINK }), 400, 'VALIDATE_FORMAT', { pointer: '/prefix' });
    expectProblem(await put('/v1/routes/cn.a', { reason: 'x' }), 400, 'VALIDATE_REQUIRED', { pointer: '/link', in: 'body' });
    expectProblem(await put('/v1/routes/cn.a', { link: LINK, extra: 1 }), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/extra', in: 'body' });
    expectProblem(await put('/v1/routes/cn.a', { link: 'rest' }), 400, 'VALIDATE_TYPE', { pointer: '/link', in: 'body' });
    expectProblem(await put('/v1/routes/cn.a', { link: LINK, reason: 'x'.repeat(257) }), 400, 'VALIDATE_RANGE', { pointer: '/reason' });
    expectProblem(await put('/v1/routes/cn.a', '{"link":'), 400, 'RPC_MALFORMED_REQUEST', { reason: 'FST_ERR_CTP_INVALID_JSON_BODY' });
    expect(api.calls).toEqual([]);
    api.fail = new LoulanError('ROUTE_INVALID', 'bad retry', { details: { pointer: '/link/retry/maxAttempts' } });
    expectProblem(await put('/v1/routes/cn.a', { link: { ...LINK, retry: { maxAttempts: 0 } } }), 400, 'ROUTE_INVALID', { pointer: '/link/retry/maxAttempts' });
    api.fail = new LoulanError('RPC_UNAVAILABLE', 'no validator reachable', { details: { endpoints: ['http://127.0.0.1:8545'] } });
    expectProblem(await put('/v1/routes/cn.a', { link: LINK }), 503, 'RPC_UNAVAILABLE');
  });

  it('DELETE takes its reason from the body or the query (the body wins)', async () => {
    const { api, app } = server();
    expect((await call(app, 'DELETE', '/v1/routes/cn.loulan.old?reason=closed', { token: TOKEN })).status).toBe(200);
    expect((await call(app, 'DELETE', '/v1/routes/_', { token: TOKEN, payload: { reason: 'no default' } })).status).toBe(200);
    expect((await call(app, 'DELETE', '/v1/routes/cn.a?reason=query', { token: TOKEN, payload: { reason: 'body' } })).status).toBe(200);
    expect((await call(app, 'DELETE', '/v1/routes/cn.a', { token: TOKEN })).status).toBe(200);
    api.applied = false;
    expect((await call(app, 'DELETE', '/v1/routes/cn.a', { token: TOKEN })).status).toBe(202);
    expect(api.calls).toEqual([
      ['removeRoute', 'cn.loulan.old', 'closed'],
      ['removeRoute', '', 'no default'],
      ['removeRoute', 'cn.a', 'body'],
      ['removeRoute', 'cn.a', undefined],
      ['removeRoute', 'cn.a', undefined],
    ]);
    api.fail = new LoulanError('ROUTE_NOT_FOUND', 'no entry', { details: { address: 'cn.b' } });
    expectProblem(await call(app, 'DELETE', '/v1/routes/cn.b', { token: TOKEN }), 404, 'ROUTE_NOT_FOUND', { address: 'cn.b' });
    expectProblem(await call(app, 'DELETE', '/v1/routes/cn.b', { token: TOKEN, payload: { why: 'x' } }), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/why', in: 'body' });
  });
});

// -- operations ------------------------------------------------------------------------------------

describe('dead letters and approvals', () => {
  it('pages the DLQ by acceptance order', async () => {
    const { api, app } = server();
    const first = await call(app, 'GET', '/v1/dlq?limit=2');
    expect(first.status).toBe(200);
    expect((first.body['messages'] as MessageRecord[]).map((m) => m.id)).toEqual(['dead-1', 'dead-2']);
    expect(first.body['next']).toBe(2);
    const last = await call(app, 'GET', '/v1/dlq?after=2&limit=2');
    expect((last.body['messages'] as MessageRecord[]).map((m) => m.id)).toEqual(['dead-3']);
    expect(last.body['next']).toBeNull();
    await call(app, 'GET', '/v1/dlq');
    expect(api.calls).toEqual([
      ['deadLetters', 0, 2],
      ['deadLetters', 2, 2],
      ['deadLetters', 0, 100],
    ]);
    for (const query of ['limit=0', 'limit=1001', 'limit=-1', 'after=x', 'after=01']) {
      expectProblem(await call(app, 'GET', `/v1/dlq?${query}`), 400, 'VALIDATE_FORMAT', { in: 'query' });
    }
  });

  it('replays a dead letter for an operator only', async () => {
    const { api, app } = server();
    expectProblem(await call(app, 'POST', '/v1/dlq/dead-1/replay'), 401, 'SWITCH_UNAUTHORIZED');
    const reply = await call(app, 'POST', '/v1/dlq/dead-1/replay?source=cn.loulan.shop.acme', { token: TOKEN });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: 'dead-1', status: 'queued', attempts: 0 });
    api.fail = new LoulanError('DLQ_NOT_FOUND', 'not dead', { details: { id: 'm9' } });
    expectProblem(await call(app, 'POST', '/v1/dlq/m9/replay', { token: TOKEN }), 404, 'DLQ_NOT_FOUND', { id: 'm9' });
    expect(api.calls).toEqual([
      ['replay', 'dead-1', 'cn.loulan.shop.acme'],
      ['replay', 'm9', undefined],
    ]);
  });

  it('skips a gap holding an ordered channel, for an operator only, with a checked body', async () => {
    const { api, app } = server();
    const body = { source: 'cn.loulan.shop.acme', to: 'cn.loulan.partner.air' };
    expectProblem(await call(app, 'POST', '/v1/gaps/skip', { payload: body }), 401, 'SWITCH_UNAUTHORIZED');
    const reply = await call(app, 'POST', '/v1/gaps/skip', { token: TOKEN, payload: body });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ skipped: ['2'] });
    expect((await call(app, 'POST', '/v1/gaps/skip', { token: TOKEN, payload: { source: 'cn.loulan.shop.acme' } })).status).toBe(400);
    expect(api.calls).toEqual([['skipGap', 'cn.loulan.shop.acme', 'cn.loulan.partner.air']]);
  });

  it('lists held messages and takes an operator decision, naming the operator', async () => {
    const { api, app } = server();
    const list = await call(app, 'GET', '/v1/approvals');
    expect(list.status).toBe(200);
    expect((list.body['messages'] as MessageRecord[])[0]).toMatchObject({ id: 'held-1', status: 'held' });
    expectProblem(await call(app, 'POST', '/v1/approvals/held-1', { payload: { approve: true } }), 401, 'SWITCH_UNAUTHORIZED');
    const approved = await call(app, 'POST', '/v1/approvals/held-1?source=cn.loulan.shop.acme', { payload: { approve: true }, token: TOKEN });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: 'held-1', status: 'queued' });
    await call(app, 'POST', '/v1/approvals/held-2', { payload: { approve: false }, token: OTHER_TOKEN });
    const [, first, second] = api.calls as [Call, Call, Call];
    expect(first).toEqual(['decide', 'held-1', 'cn.loulan.shop.acme', true, expect.stringMatching(/^op:[0-9a-f]{8}$/)]);
    expect(second).toEqual(['decide', 'held-2', undefined, false, expect.stringMatching(/^op:[0-9a-f]{8}$/)]);
    expect(first[4]).not.toBe(second[4]);
    expect(String(first[4])).not.toContain(TOKEN.slice(0, 4));
  });

  it('refuses bad decisions with a pointer, and passes APPROVAL_NOT_PENDING through', async () => {
    const { api, app } = server();
    const decide = (payload: unknown) => call(app, 'POST', '/v1/approvals/held-1', { payload, token: TOKEN, contentType: 'application/json' });
    expectProblem(await decide({}), 400, 'VALIDATE_REQUIRED', { pointer: '/approve', in: 'body' });
    expectProblem(await decide({ approve: 'yes' }), 400, 'VALIDATE_TYPE', { pointer: '/approve', in: 'body' });
    expectProblem(await decide({ approve: true, note: 1 }), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/note' });
    expectProblem(await decide('[true]'), 400, 'VALIDATE_TYPE', { pointer: '' });
    expect(api.calls).toEqual([]);
    api.fail = new LoulanError('APPROVAL_NOT_PENDING', 'already decided');
    expectProblem(await decide({ approve: true }), 409, 'APPROVAL_NOT_PENDING');
  });
});

describe('health, metrics, docs and unknown routes', () => {
  it('health is 200 when up or degraded and 503 when down, with the same body', async () => {
    const { api, app } = server();
    for (const [status, code] of [['up', 200], ['degraded', 200], ['down', 503]] as const) {
      api.status = status;
      const reply = await call(app, 'GET', '/v1/health');
      expect(reply.status).toBe(code);
      expect(reply.body).toMatchObject({ status, switchId: 'sw1', dlq: 3 });
    }
  });

  it('serves the metrics exposition as the switch gives it, and counts requests when given metrics', async () => {
    const metrics = new SwitchMetrics();
    const { app } = server({ metrics });
    const reply = await call(app, 'GET', '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(reply.text).toBe('loulan_switch_expired_total 0\n');
    await call(app, 'GET', '/v1/messages/nope');
    await call(app, 'GET', '/nowhere');
    const text = (await metrics.metrics()).body;
    expect(text).toMatch(/^loulan_switch_http_requests_total\{route="\/v1\/messages\/:id",method="GET",status="404"\} 1$/m);
    expect(text).toMatch(/^loulan_switch_http_requests_total\{route="\/metrics",method="GET",status="200"\} 1$/m);
    expect(text).toMatch(/^loulan_switch_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m);
  });

  it('serves the OpenAPI document at /docs', async () => {
    const { app } = server();
    const reply = await call(app, 'GET', '/docs');
    expect(reply.status).toBe(200);
    expect(reply.type).toMatch(/^application\/json/);
    expect(reply.body).toEqual(JSON.parse(JSON.stringify(buildOpenApi())));
  });

  it('answers unknown routes and methods with RPC_ROUTE_NOT_FOUND, and plain GETs of the stream with 426', async () => {
    const { app } = server();
    expectProblem(await call(app, 'GET', '/v1/nothing'), 404, 'RPC_ROUTE_NOT_FOUND', { method: 'GET' });
    expectProblem(await call(app, 'PUT', '/v1/messages'), 404, 'RPC_ROUTE_NOT_FOUND', { method: 'PUT' });
    expectProblem(await call(app, 'GET', `/v1/messages/${'a'.repeat(300)}`), 404, 'RPC_ROUTE_NOT_FOUND');
    expectProblem(await call(app, 'GET', '/v1/messages/%E0%A4%A'), 400, 'RPC_MALFORMED_REQUEST');
    const plain = await call(app, 'GET', '/v1/stream');
    expectProblem(plain, 426, 'RPC_UPGRADE_REQUIRED');
    expect(plain.headers['upgrade']).toBe('websocket');
  });
});

// -- the stream, on a real socket ----------------------------------------------------------------

async function listening(options: Partial<SwitchServerOptions> = {}): Promise<{ api: FakeSwitch; app: FastifyInstance; url: string }> {
  const { api, app } = server(options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { api, app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/stream` };
}

interface Subscriber {
  readonly socket: WebSocket;
  readonly events: StatusEvent[];
  readonly closed: Promise<[number, string]>;
}

async function subscribe(url: string): Promise<Subscriber> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  const events: StatusEvent[] = [];
  socket.on('message', (data) => events.push(JSON.parse(String(data)) as StatusEvent));
  const closed = new Promise<[number, string]>((resolve) => socket.on('close', (code, reason) => resolve([code, String(reason)])));
  await once(socket, 'open');
  return { socket, events, closed };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cursors = (events: readonly StatusEvent[]): number[] => events.map((e) => e.cursor);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('GET /v1/stream', () => {
  it('replays from the cursor, then goes live, with no gap and no duplicate while events keep coming', async () => {
    const { api, url } = await listening({ stream: { replayPageSize: 100 } });
    api.emit(1_000);
    // New events become durable and are announced while the replay is reading: before, between and after pages.
    api.onRead = () => {
      if (api.reads <= 8) api.emit(37);
    };
    const client = await subscribe(`${url}?cursor=250`);
    for (let i = 0; i < 20; i++) {
      api.emit(5);
      await tick();
    }
    const last = api.lastCursor;
    await until(() => client.events.at(-1)?.cursor === last, 'every event');
    expect(cursors(client.events)).toEqual(range(251, last));
    expect(api.reads).toBeGreaterThanOrEqual(3);
    expect(api.listeners.size).toBe(1);
  });

  it('starts at the current position without a cursor, and filters by ?source=', async () => {
    const { api, url } = await listening();
    api.emit(10);
    const all = await subscribe(url);
    const acme = await subscribe(`${url}?source=cn.loulan.shop.acme&cursor=0`);
    await until(() => acme.events.length === 10, 'the replay');
    api.emit(3, { source: 'cn.loulan.shop.other' });
    api.emit(2);
    await until(() => all.events.length === 5 && acme.events.length === 12, 'live events');
    expect(cursors(all.events)).toEqual(range(11, 15));
    expect(cursors(acme.events)).toEqual([...range(1, 10), 14, 15]);
    expect(api.listeners.size).toBe(1); // one subscription to the switch, fanned out
    all.socket.close();
    acme.socket.close();
    await until(() => api.listeners.size === 0, 'the switch subscription to end');
  });

  it('resumes from the last cursor a client received', async () => {
    const { api, url } = await listening({ stream: { replayPageSize: 7 } });
    api.emit(30);
    const first = await subscribe(`${url}?cursor=0`);
    await until(() => first.events.length === 30, 'the first 30');
    first.socket.close();
    await first.closed;
    api.emit(25);
    const resumed = await subscribe(`${url}?cursor=${String(first.events.at(-1)?.cursor)}`);
    api.emit(5);
    await until(() => resumed.events.length === 30, 'the rest');
    expect(cursors([...first.events, ...resumed.events])).toEqual(range(1, 60));
  });

  it('closes a client that stops reading with 1013; it resumes from its cursor without a gap', async () => {
    const metrics = new SwitchMetrics();
    const { api, app, url } = await listening({ metrics, stream: { maxBufferedBytes: 64 * 1024 } });
    const slow = await subscribe(`${url}?cursor=0`);
    slow.socket.pause();
    const [serverSide] = app.websocketServer.clients;
    const detail = 'x'.repeat(16 * 1024);
    // Kernel buffers absorb a few MB first; the cap only matters once the socket queues in user space.
    while (serverSide?.readyState === serverSide?.OPEN) {
      expect(api.lastCursor).toBeLessThan(100_000);
      api.emit(16, { detail });
      await tick();
    }
    const published = api.lastCursor;
    slow.socket.resume();
    const [code, reason] = await slow.closed;
    expect(code).toBe(CLOSE_TRY_AGAIN_LATER);
    expect(reason).toMatch(/cursor/);
    expect(slow.events.length).toBeGreaterThan(0);
    expect(slow.events.length).toBeLessThan(published);
    expect(cursors(slow.events)).toEqual(range(1, slow.events.length));
    expect((await metrics.metrics()).body).toMatch(/^loulan_switch_stream_closed_total\{reason="slow"\} 1$/m);
    expect(api.listeners.size).toBe(0);

    const resumed = await subscribe(`${url}?cursor=${slow.events.length}`);
    api.emit(3);
    await until(() => resumed.events.at(-1)?.cursor === api.lastCursor, 'the rest');
    expect(cursors([...slow.events, ...resumed.events])).toEqual(range(1, api.lastCursor));
  });

  it('refuses a bad cursor before the upgrade, with a problem document', async () => {
    const { api, url } = await listening();
    api.emit(5);
    for (const [query, code, status] of [
      ['cursor=-1', 'VALIDATE_FORMAT', 400],
      ['cursor=01', 'VALIDATE_FORMAT', 400],
      ['cursor=6', 'VALIDATE_RANGE', 400],
      ['source=UPPER', 'VALIDATE_FORMAT', 400],
      ['from=1', 'VALIDATE_UNKNOWN_FIELD', 400],
    ] as const) {
      const socket = new WebSocket(`${url}?${query}`);
      sockets.push(socket);
      const [, response] = (await once(socket, 'unexpected-response')) as [unknown, IncomingMessage];
      let body = '';
      for await (const chunk of response) body += String(chunk);
      expect(response.statusCode).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(body)).toMatchObject({ code, in: 'query' });
    }
    expect(api.listeners.size).toBe(0);
  });

  it('closing the server closes its stream clients with 1001', async () => {
    const { api, app, url } = await listening();
    const client = await subscribe(url);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect((await client.closed)[0]).toBe(1001);
    expect(api.listeners.size).toBe(0);
  });
});
