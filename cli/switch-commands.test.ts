import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoulanError } from '../core-chain/errors.ts';
import type { Envelope } from '../schemas/index.ts';
import type { BatchItemResult, ChangeSubmitted, LinkHealthView, RouteExplanation, RouteView, SwitchApi, SwitchHealth } from '../switch/api.ts';
import { buildSwitchServer } from '../switch/http.ts';
import type { IntakeResult, MessageRecord, StatusEvent } from '../switch/model.ts';
import { main, type Io } from './main.ts';
import { DEFAULT_RETRY, endpointOnlyKinds } from './routes-command.ts';

// -- a switch: the real HTTP server over a fake SwitchApi, so that paths, bodies, the token check and
//    problem documents are exactly what the switch does --------------------------------------------

const TOKEN = 'operator-token-0123456789';
const SOURCE = 'cn.loulan.shop.acme';
const LINK = { adapter: { kind: 'rest', endpoint: 'https://airline.example/loulan' }, ordered: true, retry: { maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 5000 } };
const ROUTE: RouteView = { prefix: 'cn.loulan.core', link: LINK, version: '3', changeId: 'chg-7', height: '120', time: '2025-03-01T08:00:00.000Z' };
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

function record(id: string, order = 1, source = SOURCE): MessageRecord {
  return {
    source,
    id,
    envelope: { id, type: 'points.exchange.request', source, to: 'cn.loulan.core.points', seq: '42' } as unknown as Envelope,
    digest: 'ab'.repeat(32),
    acceptedAt: 1_700_000_000_000,
    deadline: 1_700_000_060_000,
    order,
    status: 'dead',
    attempts: 10,
    route: { prefix: 'cn.loulan.core', link: 'core-rpc' },
    lastError: { code: 'DELIVER_ATTEMPTS_EXHAUSTED', message: 'gave up after 10 attempts' },
    history: [
      { at: 1_700_000_000_000, status: 'accepted' },
      { at: 1_700_000_000_100, status: 'dead', attempt: 10, link: 'core-rpc', code: 'DELIVER_ATTEMPTS_EXHAUSTED' },
    ],
    historyCount: 2,
  };
}

class FakeSwitch implements SwitchApi {
  readonly calls: Array<[string, ...unknown[]]> = [];
  /** Thrown by the next operation instead of answering. */
  fail: LoulanError | undefined;
  applied = true;
  deadCount = 3;

  #call(name: string, ...args: unknown[]): void {
    this.calls.push([name, ...args]);
    const error = this.fail;
    this.fail = undefined;
    if (error !== undefined) throw error;
  }

  async submit(): Promise<IntakeResult> {
    throw new Error('not used');
  }
  async submitBatch(): Promise<BatchItemResult[]> {
    throw new Error('not used');
  }
  async message(id: string, source?: string): Promise<MessageRecord> {
    this.#call('message', id, source);
    return record(id);
  }
  async proof(): Promise<Readonly<Record<string, unknown>>> {
    throw new Error('not used');
  }
  async eventsAfter(): Promise<StatusEvent[]> {
    return [];
  }
  onEvents(): () => void {
    return () => undefined;
  }
  readonly lastCursor = 0;

  routes(): RouteView[] {
    this.#call('routes');
    return [ROUTE, { ...ROUTE, prefix: '', link: { ...LINK, adapter: { kind: 'loopback', endpoint: 'memory://sink' } }, changeId: 'chg-1', height: '5' }];
  }
  explain(address: string): RouteExplanation {
    this.#call('explain', address);
    return {
      address,
      matched: ROUTE,
      candidates: [
        { prefix: 'cn.loulan.core.points', hasEntry: false },
        { prefix: 'cn.loulan.core', hasEntry: true },
        { prefix: 'cn.loulan', hasEntry: false },
        { prefix: 'cn', hasEntry: false },
        { prefix: '', hasEntry: true },
      ],
      why: 'cn.loulan.core is the longest prefix with an entry',
      active: { link: 'core-spare', reason: 'primary down', since: 1_700_000_000_000 },
      primary: { ...HEALTH, state: 'down', lastError: { code: 'DELIVER_FAILED', message: 'ECONNREFUSED', at: 1_700_000_000_500 } },
      alternates: [{ ...HEALTH, link: 'core-spare', queueDepth: 0 }],
    };
  }
  async setRoute(prefix: string, link: unknown, reason: string | undefined): Promise<ChangeSubmitted> {
    this.#call('setRoute', prefix, link, reason);
    return { changeId: 'chg-8', applied: this.applied, txHash: 'ef'.repeat(32), height: '121' };
  }
  async removeRoute(prefix: string, reason: string | undefined): Promise<ChangeSubmitted> {
    this.#call('removeRoute', prefix, reason);
    return { changeId: 'chg-9', applied: this.applied, txHash: 'cd'.repeat(32), height: '122' };
  }
  async deadLetters(after: number, limit: number): Promise<MessageRecord[]> {
    this.#call('deadLetters', after, limit);
    const orders = Array.from({ length: this.deadCount }, (_, i) => i + 1);
    return orders.filter((order) => order > after).slice(0, limit).map((order) => record(`dead-${order}`, order));
  }
  async replay(id: string, source?: string): Promise<MessageRecord> {
    this.#call('replay', id, source);
    return { ...record(id), status: 'queued', attempts: 0 };
  }
  async skipGap(source: string, to: string): Promise<bigint[]> {
    this.#call('skipGap', source, to);
    return [2n, 3n];
  }
  async approvals(): Promise<MessageRecord[]> {
    this.#call('approvals');
    return [{ ...record('held-1'), status: 'held', hold: { reason: 'value 50000 above the approval threshold 10000' } }];
  }
  async decide(id: string, source: string | undefined, approve: boolean, operator: string): Promise<MessageRecord> {
    this.#call('decide', id, source, approve, operator);
    return { ...record(id), status: approve ? 'queued' : 'dead' };
  }
  health(): SwitchHealth {
    throw new Error('not used');
  }
  async metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    throw new Error('not used');
  }
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function startSwitch(): Promise<{ api: FakeSwitch; url: string; seen: Seen[] }> {
  const api = new FakeSwitch();
  const app: FastifyInstance = buildSwitchServer(api, { operatorTokens: [TOKEN] });
  const seen: Seen[] = [];
  app.addHook('onResponse', async (request) => {
    seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization, contentType: request.headers['content-type'], body: request.body });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  return { api, url, seen };
}

/** A plain HTTP stub for answers the switch never gives (a proxy's HTML page, a code from a newer switch). */
async function startStub(answer: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server: Server = createServer(answer);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function run(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (text) => void out.push(text), err: (text) => void err.push(text) };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

// -- routes -----------------------------------------------------------------------------------------

describe('loulan routes', () => {
  it('list prints the table, default route included, without sending the token', async () => {
    const { url, seen } = await startSwitch();
    const human = await run('routes', 'list', '--switch', url, '--token', TOKEN);
    expect(human.code).toBe(0);
    const lines = human.out.split('\n');
    expect(lines[0]).toMatch(/^PREFIX\s+LINK\s+ORDERED\s+RETRY\s+ALTERNATES\s+CHANGE @ HEIGHT$/);
    expect(lines[1]).toMatch(/^_ \(default\)\s+loopback memory:\/\/sink\s+yes\s+10 x 100\.\.5000 ms\s+-\s+chg-1 @ 5$/);
    expect(lines[2]).toMatch(/^cn\.loulan\.core\s+rest https:\/\/airline\.example\/loulan\s+yes/);
    expect(seen).toEqual([{ method: 'GET', url: '/v1/routes', authorization: undefined, contentType: undefined, body: undefined }]);

    const json = await run('routes', 'list', '--switch', url, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual({ routes: new FakeSwitch().routes() });
  });

  it('explain shows the matched entry, the candidates, the active link and the health of each link', async () => {
    const { api, url, seen } = await startSwitch();
    const human = await run('routes', 'explain', 'cn.loulan.core.points', '--switch', url);
    expect(human.code).toBe(0);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/routes/explain?address=cn.loulan.core.points' });
    expect(api.calls).toEqual([['explain', 'cn.loulan.core.points']]);
    expect(human.out).toMatch(/^matched\s+cn\.loulan\.core \(change chg-7 @ height 120, version 3\)$/m);
    expect(human.out).toMatch(/^ {2}cn\.loulan\.core\s+matched$/m);
    expect(human.out).toMatch(/^ {2}_ \(default\)\s+entry \(shadowed\)$/m);
    expect(human.out).toMatch(/^active\s+core-spare: primary down/m);
    expect(human.out).toMatch(/^primary\s+core-rpc \(rest https:\/\/airline\.example\/loulan\) down, queue 3, .*last error DELIVER_FAILED at 2023-11-14T22:13:20\.500Z: ECONNREFUSED$/m);
    expect(human.out).toMatch(/^alternate 1 core-spare \(rest https:\/\/airline\.example\/loulan\) up, queue 0, oldest 120 ms, success 99\.0%, p50 4 ms, p99 20 ms, breaker closed$/m);

    const json = await run('routes', 'explain', 'cn.loulan.core.points', '--switch', url, '--json');
    expect(JSON.parse(json.out)).toEqual(new FakeSwitch().explain('cn.loulan.core.points'));
  });

  it('set builds the link from options and submits it with the operator token', async () => {
    const { api, url, seen } = await startSwitch();
    const result = await run(
      'routes', 'set', 'cn.loulan.shop',
      '--adapter-kind', 'rest', '--endpoint', 'https://shop.example/hook', '--ordered',
      '--max-attempts', '5', '--initial-backoff-ms', '100', '--max-backoff-ms', '2000',
      '--alternate', 'loopback=memory://spare', '--alternate=core=http://127.0.0.1:26657',
      '--reason', 'onboard shops', '--switch', url, '--token', TOKEN,
    );
    expect(result).toMatchObject({ code: 0, err: '' });
    const link = {
      adapter: { kind: 'rest', endpoint: 'https://shop.example/hook' },
      ordered: true,
      retry: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 2000 },
      alternates: [
        { kind: 'loopback', endpoint: 'memory://spare' },
        { kind: 'core', endpoint: 'http://127.0.0.1:26657' },
      ],
    };
    expect(seen).toEqual([{ method: 'PUT', url: '/v1/routes/cn.loulan.shop', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: { link, reason: 'onboard shops' } }]);
    expect(api.calls).toEqual([['setRoute', 'cn.loulan.shop', link, 'onboard shops']]);
    expect(result.out).toBe(`route cn.loulan.shop: change chg-8 applied (tx ${'ef'.repeat(32)}, height 121)`);
  });

  it('set without retry options uses the defaults; _ is the default route; a change waiting for approvals says so', async () => {
    const { api, url } = await startSwitch();
    api.applied = false;
    const human = await run('routes', 'set', '_', '--adapter-kind', 'loopback', '--endpoint', 'memory://sink', '--switch', url, '--token', TOKEN);
    expect(human.code).toBe(0);
    expect(api.calls).toEqual([['setRoute', '', { adapter: { kind: 'loopback', endpoint: 'memory://sink' }, ordered: false, retry: { ...DEFAULT_RETRY } }, undefined]]);
    expect(human.out).toBe(`the default route: change chg-8 submitted, waiting for approvals (tx ${'ef'.repeat(32)}, height 121)`);

    const json = await run('routes', 'set', '_', '--adapter-kind', 'loopback', '--endpoint', 'memory://sink', '--switch', url, '--token', TOKEN, '--json');
    expect(JSON.parse(json.out)).toEqual({ changeId: 'chg-8', applied: false, txHash: 'ef'.repeat(32), height: '121' });
  });

  it('set --link-file sends the link from the file unchanged', async () => {
    const { api, url } = await startSwitch();
    const link = {
      adapter: { kind: 'evm', endpoint: 'https://rpc.skyair.example:8545', chainId: '31337', contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3', confirmations: 12 },
      ordered: true,
      retry: { maxAttempts: 20, initialBackoffMs: 200, maxBackoffMs: 60000 },
      breaker: { failures: 3, coolDownMs: 1000 },
    };
    const file = join(mkdtempSync(join(tmpdir(), 'loulan-routes-')), 'link.json');
    writeFileSync(file, JSON.stringify(link));
    const result = await run('routes', 'set', 'cn.loulan.partner.skyair', '--link-file', file, '--reason', 'CHG-42', '--switch', url, '--token', TOKEN);
    expect(result.code).toBe(0);
    expect(api.calls).toEqual([['setRoute', 'cn.loulan.partner.skyair', link, 'CHG-42']]);
  });

  it('set refuses, before sending anything, what the options cannot express', async () => {
    const { url, seen } = await startSwitch();
    const file = join(mkdtempSync(join(tmpdir(), 'loulan-routes-')), 'link.json');
    writeFileSync(file, '{"adapter":');
    const cases: string[][] = [
      ['cn.loulan.shop', '--adapter-kind', 'evm', '--endpoint', 'https://rpc.example'],
      ['cn.loulan.shop', '--adapter-kind', 'rest'],
      ['cn.loulan.shop', '--endpoint', 'https://shop.example'],
      ['cn.loulan.shop', '--adapter-kind', 'rest', '--endpoint', 'https://shop.example', '--alternate', 'https://spare.example'],
      ['cn.loulan.shop', '--adapter-kind', 'rest', '--endpoint', 'https://shop.example', '--max-attempts', 'many'],
      ['cn.loulan.shop', '--link-file', file, '--endpoint', 'https://shop.example'],
      ['cn.loulan.shop', '--link-file', file, '--alternate', 'rest=https://spare.example'],
      ['cn.loulan.shop', '--link-file', file],
      ['cn.loulan.shop', '--link-file', join(tmpdir(), 'no-such-dir-loulan', 'link.json')],
      ['--adapter-kind', 'rest', '--endpoint', 'https://shop.example'],
    ];
    for (const args of cases) {
      const result = await run('routes', 'set', ...args, '--switch', url, '--token', TOKEN);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err).toMatch(/^loulan routes: CLI_USAGE: /);
    }
    expect(seen).toEqual([]);
  });

  it('endpoint-only adapter kinds come from the route.change schema', () => {
    expect([...endpointOnlyKinds()].sort()).toEqual(['core', 'loopback', 'rest']);
  });

  it('remove sends the reason as a JSON body, or no body at all', async () => {
    const { api, url, seen } = await startSwitch();
    const withReason = await run('routes', 'remove', 'cn.loulan.shop.legacy', '--reason', 'shop closed', '--switch', url, '--token', TOKEN);
    expect(withReason.code).toBe(0);
    expect(withReason.out).toBe(`route cn.loulan.shop.legacy: change chg-9 applied (tx ${'cd'.repeat(32)}, height 122)`);
    const without = await run('routes', 'remove', '_', '--switch', url, '--token', TOKEN);
    expect(without.code).toBe(0);
    expect(seen).toEqual([
      { method: 'DELETE', url: '/v1/routes/cn.loulan.shop.legacy', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: { reason: 'shop closed' } },
      { method: 'DELETE', url: '/v1/routes/_', authorization: `Bearer ${TOKEN}`, contentType: undefined, body: undefined },
    ]);
    expect(api.calls).toEqual([
      ['removeRoute', 'cn.loulan.shop.legacy', 'shop closed'],
      ['removeRoute', '', undefined],
    ]);
  });

  it('a refused change prints the problem as CODE: detail (where) and exits 1', async () => {
    const { api, url } = await startSwitch();
    api.fail = new LoulanError('ROUTE_INVALID', 'maxAttempts must be at least 1', { details: { pointer: '/link/retry/maxAttempts', in: 'body' } });
    const invalid = await run('routes', 'set', 'cn.loulan.shop', '--adapter-kind', 'rest', '--endpoint', 'https://shop.example', '--switch', url, '--token', TOKEN);
    expect(invalid).toEqual({ code: 1, out: '', err: 'loulan routes: ROUTE_INVALID: maxAttempts must be at least 1 (body /link/retry/maxAttempts)' });

    // The switch answered, though it could not reach the core chain: exit 1, not the exit 2 of an unreachable switch.
    api.fail = new LoulanError('RPC_UNAVAILABLE', 'no validator answered', { details: { endpoints: ['http://127.0.0.1:26657'] } });
    const chainDown = await run('routes', 'remove', 'cn.loulan.shop', '--switch', url, '--token', TOKEN);
    expect(chainDown).toMatchObject({ code: 1, err: 'loulan routes: RPC_UNAVAILABLE: no validator answered' });
  });

  it('the switch checks the token: a wrong one is SWITCH_UNAUTHORIZED; a missing one is a usage error, nothing sent', async () => {
    const { api, url, seen } = await startSwitch();
    const wrong = await run('routes', 'remove', 'cn.loulan.shop', '--switch', url, '--token', 'not-the-operator-token');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^loulan routes: SWITCH_UNAUTHORIZED: /);
    expect(api.calls).toEqual([]);

    vi.stubEnv('LOULAN_OPERATOR_TOKEN', '');
    const missing = await run('routes', 'remove', 'cn.loulan.shop', '--switch', url);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^loulan routes: CLI_USAGE: /);
    expect(seen).toHaveLength(1);
  });

  it('takes the switch URL and the token from LOULAN_SWITCH and LOULAN_OPERATOR_TOKEN', async () => {
    const { api, url, seen } = await startSwitch();
    vi.stubEnv('LOULAN_SWITCH', `${url}/`);
    vi.stubEnv('LOULAN_OPERATOR_TOKEN', TOKEN);
    const result = await run('routes', 'remove', 'cn.loulan.shop');
    expect(result.code).toBe(0);
    expect(seen[0]).toMatchObject({ url: '/v1/routes/cn.loulan.shop', authorization: `Bearer ${TOKEN}` });
    expect(api.calls).toEqual([['removeRoute', 'cn.loulan.shop', undefined]]);
  });

  it('usage errors exit 2: unknown subcommand, --alternate outside set, a bad --switch, extra arguments', async () => {
    for (const args of [
      ['routes'],
      ['routes', 'frobnicate'],
      ['routes', 'list', '--alternate', 'rest=https://x.example'],
      ['routes', 'list', '--switch', 'ftp://127.0.0.1:1'],
      ['routes', 'list', '--switch', 'not a url'],
      ['routes', 'list', 'extra'],
      ['routes', 'explain'],
      ['routes', 'explain', 'a.b', 'c.d'],
    ]) {
      const result = await run(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err).toMatch(/^loulan routes: CLI_USAGE: /);
    }
  });
});

// -- messages ---------------------------------------------------------------------------------------

describe('loulan messages', () => {
  it('show prints status, route, last error and history; --source narrows; --json is the record', async () => {
    const { api, url, seen } = await startSwitch();
    const human = await run('messages', 'show', 'acme-msg-1', '--source', SOURCE, '--switch', url);
    expect(human.code).toBe(0);
    expect(seen[0]).toMatchObject({ method: 'GET', url: `/v1/messages/acme-msg-1?source=${SOURCE}`, authorization: undefined });
    expect(api.calls).toEqual([['message', 'acme-msg-1', SOURCE]]);
    expect(human.out).toMatch(/^status\s+dead after 10 attempts$/m);
    expect(human.out).toMatch(/^route\s+cn\.loulan\.core via core-rpc$/m);
    expect(human.out).toMatch(/^last error DELIVER_ATTEMPTS_EXHAUSTED: gave up after 10 attempts$/m);
    expect(human.out).toMatch(/^ {2}2023-11-14T22:13:20\.100Z\s+dead\s+10\s+core-rpc\s+DELIVER_ATTEMPTS_EXHAUSTED$/m);

    const json = await run('messages', 'show', 'acme-msg-1', '--switch', url, '--json');
    expect(JSON.parse(json.out)).toEqual(record('acme-msg-1'));
    expect(api.calls[1]).toEqual(['message', 'acme-msg-1', undefined]);
  });

  it('show of an unknown message, or of a malformed id, is the switch problem with exit 1', async () => {
    const { api, url } = await startSwitch();
    api.fail = new LoulanError('MESSAGE_NOT_FOUND', 'no message acme-404', { details: { id: 'acme-404' } });
    const missing = await run('messages', 'show', 'acme-404', '--switch', url);
    expect(missing).toEqual({ code: 1, out: '', err: 'loulan messages: MESSAGE_NOT_FOUND: no message acme-404' });

    const malformed = await run('messages', 'show', 'not/an id', '--switch', url);
    expect(malformed.code).toBe(1);
    expect(malformed.err).toMatch(/^loulan messages: VALIDATE_FORMAT: .* \(path \/id\)$/);
  });

  it('dlq pages with --after and --limit and shows the reason code of each dead letter', async () => {
    const { api, url, seen } = await startSwitch();
    const page = await run('messages', 'dlq', '--after', '0', '--limit', '2', '--switch', url);
    expect(page.code).toBe(0);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/dlq?after=0&limit=2' });
    expect(api.calls).toEqual([['deadLetters', 0, 2]]);
    const lines = page.out.split('\n');
    expect(lines[0]).toMatch(/^ORDER\s+ID\s+SOURCE\s+TO\s+ATTEMPTS\s+REASON\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^1\s+dead-1\s+cn\.loulan\.shop\.acme\s+cn\.loulan\.core\.points\s+10\s+DELIVER_ATTEMPTS_EXHAUSTED\s+gave up after 10 attempts$/);
    expect(lines[3]).toBe('more: loulan messages dlq --after 2 --limit 2');

    const last = await run('messages', 'dlq', '--after', '3', '--switch', url);
    expect(last.out).toBe('no dead letters after order 3');
    api.deadCount = 0;
    expect((await run('messages', 'dlq', '--switch', url)).out).toBe('the dead-letter queue is empty');
    expect(seen[2]).toMatchObject({ url: '/v1/dlq' });

    api.deadCount = 3;
    const json = await run('messages', 'dlq', '--switch', url, '--json');
    expect(JSON.parse(json.out)).toEqual({ messages: [record('dead-1', 1), record('dead-2', 2), record('dead-3', 3)], next: null });

    for (const bad of [['--limit', '0'], ['--limit', '1001'], ['--after', '-1'], ['--source', SOURCE]]) {
      const result = await run('messages', 'dlq', ...bad, '--switch', url);
      expect(result.code, bad.join(' ')).toBe(2);
    }
    expect(seen).toHaveLength(4);
  });

  it('replay is one operator request, and says where the message went', async () => {
    const { api, url, seen } = await startSwitch();
    const result = await run('messages', 'replay', 'dead-1', '--source', SOURCE, '--switch', url, '--token', TOKEN);
    expect(result).toEqual({ code: 0, out: `dead-1 from ${SOURCE}: back in the queue (status queued, attempts 0)`, err: '' });
    expect(seen).toEqual([{ method: 'POST', url: `/v1/dlq/dead-1/replay?source=${SOURCE}`, authorization: `Bearer ${TOKEN}`, contentType: undefined, body: undefined }]);
    expect(api.calls).toEqual([['replay', 'dead-1', SOURCE]]);

    api.fail = new LoulanError('DLQ_NOT_FOUND', 'dead-9 is not in the dead-letter queue', { details: { id: 'dead-9' } });
    const missing = await run('messages', 'replay', 'dead-9', '--switch', url, '--token', TOKEN);
    expect(missing).toMatchObject({ code: 1, err: 'loulan messages: DLQ_NOT_FOUND: dead-9 is not in the dead-letter queue' });
  });

  it('skip-gap names the channel, needs the token, and says what it skipped', async () => {
    const { api, url, seen } = await startSwitch();
    const to = 'cn.loulan.partner.air';
    const result = await run('messages', 'skip-gap', '--source', SOURCE, '--to', to, '--switch', url, '--token', TOKEN);
    expect(result).toEqual({ code: 0, out: 'skipped seq 2, 3: the messages behind them go on', err: '' });
    expect(seen).toMatchObject([{ method: 'POST', url: '/v1/gaps/skip', authorization: `Bearer ${TOKEN}` }]);
    expect(seen[0]!.body).toEqual({ source: SOURCE, to });
    expect(api.calls).toEqual([['skipGap', SOURCE, to]]);
    expect((await run('messages', 'skip-gap', '--source', SOURCE, '--switch', url, '--token', TOKEN)).code).toBe(2);
  });
});

// -- approvals --------------------------------------------------------------------------------------

describe('loulan approvals', () => {
  it('list shows each held message and why it is held', async () => {
    const { url, seen } = await startSwitch();
    const result = await run('approvals', 'list', '--switch', url);
    expect(result.code).toBe(0);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/approvals', authorization: undefined });
    expect(result.out.split('\n')[1]).toMatch(/^held-1\s+cn\.loulan\.shop\.acme\s+cn\.loulan\.core\.points\s+points\.exchange\.request\s+2023-11-14T22:13:20\.000Z\s+value 50000 above the approval threshold 10000\s+-$/);
  });

  it('approve and reject post the decision; the switch names the operator by its token', async () => {
    const { api, url, seen } = await startSwitch();
    const approved = await run('approvals', 'approve', 'held-1', '--switch', url, '--token', TOKEN);
    expect(approved).toEqual({ code: 0, out: `held-1 from ${SOURCE}: approved (status queued)`, err: '' });
    const rejected = await run('approvals', 'reject', 'held-2', '--source', SOURCE, '--switch', url, '--token', TOKEN, '--json');
    expect(rejected.code).toBe(0);
    expect(JSON.parse(rejected.out)).toMatchObject({ id: 'held-2', status: 'dead' });
    expect(seen).toEqual([
      { method: 'POST', url: '/v1/approvals/held-1', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: { approve: true } },
      { method: 'POST', url: `/v1/approvals/held-2?source=${SOURCE}`, authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: { approve: false } },
    ]);
    expect(api.calls).toEqual([
      ['decide', 'held-1', undefined, true, expect.stringMatching(/^op:[0-9a-f]{8}$/)],
      ['decide', 'held-2', SOURCE, false, expect.stringMatching(/^op:[0-9a-f]{8}$/)],
    ]);

    api.fail = new LoulanError('APPROVAL_NOT_PENDING', 'held-1 is not waiting for approval', { details: { id: 'held-1' } });
    const again = await run('approvals', 'approve', 'held-1', '--switch', url, '--token', TOKEN);
    expect(again).toMatchObject({ code: 1, err: 'loulan approvals: APPROVAL_NOT_PENDING: held-1 is not waiting for approval' });
    expect((await run('approvals', 'approve', '--switch', url, '--token', TOKEN)).code).toBe(2);
  });
});

// -- answers the switch does not give, and no switch at all ------------------------------------------

describe('switch commands against a broken or absent switch', () => {
  it('an unreachable switch names the URL and exits 2', async () => {
    const url = await startStub(() => undefined);
    await Promise.all(closers.splice(0).map((close) => close()));
    const result = await run('routes', 'list', '--switch', url);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^loulan routes: RPC_UNAVAILABLE: cannot reach the switch at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/);
    expect(result.err).toContain(url);
  });

  it('an answer that is not JSON, or a problem with an unknown code, is RPC_BAD_RESPONSE with exit 1', async () => {
    const url = await startStub((request, response) => {
      if (request.url === '/v1/routes') {
        response.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      } else if (request.url === '/v1/approvals') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"messages": [');
      } else {
        response.writeHead(418, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'urn:loulan:error:FUTURE_CODE', title: 'FUTURE_CODE', status: 418, code: 'FUTURE_CODE', detail: 'from a newer switch' }));
      }
    });
    const html = await run('routes', 'list', '--switch', url);
    expect(html).toMatchObject({ code: 1, out: '' });
    expect(html.err).toMatch(/^loulan routes: RPC_BAD_RESPONSE: /);
    const truncated = await run('approvals', 'list', '--switch', url);
    expect(truncated.code).toBe(1);
    expect(truncated.err).toMatch(/^loulan approvals: RPC_BAD_RESPONSE: /);
    const future = await run('messages', 'show', 'm-1', '--switch', url);
    expect(future.code).toBe(1);
    expect(future.err).toMatch(/^loulan messages: RPC_BAD_RESPONSE: .*FUTURE_CODE: from a newer switch$/);
  });

  it('the commands are listed by loulan --help', async () => {
    const help = await run('--help');
    for (const name of ['routes', 'messages', 'approvals']) expect(help.out).toMatch(new RegExp(`^ {2}${name} +\\S`, 'm'));
    const usage = await run('routes', '--help');
    expect(usage.out).toContain('loulan routes set PREFIX --link-file FILE');
  });
});
