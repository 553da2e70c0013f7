import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoulanError } from '../../core-chain/index.ts';
import type { Adapter, AdapterTarget } from '../../adapters/adapter.ts';
import { createMemorySink, loopbackAdapterFactory, type MemorySink } from '../../adapters/loopback/index.ts';
import type { Link } from '../../schemas/index.ts';
import type { MessageRecord } from '../model.ts';
import { SwitchStore } from '../store.ts';
import { createDeliveryEngine, type DeliveryEngine, type DeliveryEngineOptions } from './engine.ts';
import { linkId, resolvedRoute, type ResolvedRoute } from './route.ts';
import { acceptedRecord, ManualTime, type RecordOptions } from './testkit.ts';

const PREFIX = 'cn.loulan.test';

function link(endpoint: string, overrides: Partial<Link> = {}): Link {
  return {
    adapter: { kind: 'loopback', endpoint },
    ordered: false,
    retry: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1000 },
    breaker: { failures: 100, coolDownMs: 1000 },
    ...overrides,
  };
}

let dir: string;
let store: SwitchStore;
let time: ManualTime;
let sinks: Map<string, MemorySink>;
let routes: Map<string, ResolvedRoute>;
let engines: DeliveryEngine[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loulan-delivery-'));
  store = await SwitchStore.open(dir);
  time = new ManualTime();
  sinks = new Map(['a', 'b'].map((name) => [name, createMemorySink(name)]));
  routes = new Map([[PREFIX, resolvedRoute(PREFIX, link('memory://a'))]]);
  engines = [];
});

afterEach(async () => {
  for (const engine of engines) await engine.stop();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function resolve(to: string): ResolvedRoute | undefined {
  let best: ResolvedRoute | undefined;
  for (const [prefix, route] of routes) {
    if ((to === prefix || to.startsWith(`${prefix}.`)) && (best === undefined || prefix.length > best.prefix.length)) best = route;
  }
  return best;
}

const sink = (name: string): MemorySink => sinks.get(name)!;

function engine(options: Partial<DeliveryEngineOptions> = {}): DeliveryEngine {
  const factory = loopbackAdapterFactory({ sinks, now: time.clock });
  const adapters = new Map<string, Adapter>();
  const adapterFor = (target: AdapterTarget): Adapter => {
    const id = linkId(target);
    let adapter = adapters.get(id);
    if (adapter === undefined) adapters.set(id, (adapter = factory(target)));
    return adapter;
  };
  const e = createDeliveryEngine({ store, resolve, adapterFor, now: time.clock, random: () => 0.5, timer: time, stuckAfterMs: 3_600_000, ...options });
  engines.push(e);
  return e;
}

/** Lets everything due within `ms` happen, in time order, then moves the clock to the end. */
async function run(e: DeliveryEngine, ms = 0): Promise<void> {
  const end = time.now + ms;
  await e.settled();
  for (;;) {
    const due = time.nextDue();
    if (due === undefined || due > end) break;
    time.now = Math.max(time.now, due);
    time.fire();
    await e.settled();
    await store.flushed();
  }
  time.now = end;
}

async function accept(e: DeliveryEngine, ...options: RecordOptions[]): Promise<MessageRecord[]> {
  const records = options.map((o) => acceptedRecord(time.now, store.takeOrder(), o));
  await store.accept(records);
  e.enqueue(records);
  return records;
}

async function stored(r: MessageRecord): Promise<MessageRecord> {
  await store.flushed();
  const found = await store.getMessage(r.source, r.id);
  if (found === undefined) throw new Error(`${r.id} is not in the store`);
  return found;
}

const ids = (s: MemorySink): string[] => s.effects().map((e) => e.id);

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (isLoulanError(error)) return error.code;
    throw error;
  }
  return 'none';
}

const A = linkId({ kind: 'loopback', endpoint: 'memory://a' });
const B = linkId({ kind: 'loopback', endpoint: 'memory://b' });

describe('retries and back-off', () => {
  it('backs off with full jitter after each failure, then delivers and records the receipt', async () => {
    const e = engine();
    sink('a').script({ status: 500 }, 'down');
    const [m] = await accept(e, {});
    const t0 = time.now;
    await run(e);
    let r = await stored(m!);
    expect(r).toMatchObject({ status: 'retrying', attempts: 1, lastError: { code: 'DELIVER_FAILED' } });
    // random() = 0.5: half of min(1000, 100 * 2^0), over the integers 0..100.
    expect(r.nextAttemptAt).toBe(t0 + 50);
    await run(e, 49);
    expect(sink('a').received).toBe(1);
    await run(e, 1);
    r = await stored(m!);
    expect(r).toMatchObject({ status: 'retrying', attempts: 2 });
    expect(r.nextAttemptAt).toBe(t0 + 50 + 100);
    await run(e, 100);
    r = await stored(m!);
    expect(r).toMatchObject({ status: 'delivered', attempts: 3, receipt: { link: A, evidence: { status: 200 } } });
    expect(r.lastError).toBeUndefined();
    expect(r.history.map((h) => [h.status, h.attempt, h.code])).toEqual([
      ['accepted', undefined, undefined],
      ['queued', undefined, undefined],
      ['retrying', 1, 'DELIVER_FAILED'],
      ['retrying', 2, 'DELIVER_FAILED'],
      ['delivered', 3, undefined],
    ]);
    expect(r.historyCount).toBe(5);
    expect(ids(sink('a'))).toEqual([m!.id]);
    expect(e.pending()).toBe(0);
    expect(await store.eventsAfter(0)).toHaveLength(5);
  });

  it('never retries sooner than Retry-After, even past maxBackoffMs', async () => {
    const e = engine();
    sink('a').script({ status: 429, retryAfter: '5' });
    const [m] = await accept(e, {});
    const t0 = time.now;
    await run(e);
    expect((await stored(m!)).nextAttemptAt).toBe(t0 + 5000);
    await run(e, 4999);
    expect(sink('a').received).toBe(1);
    await run(e, 1);
    expect(await stored(m!)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('sends a message that runs out of attempts to the DLQ, and a replay delivers it with a fresh budget', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 10 } })));
    const e = engine();
    sink('a').fallback = { status: 503 };
    const [m] = await accept(e, {});
    await run(e, 1000);
    let r = await stored(m!);
    expect(r).toMatchObject({ status: 'dead', attempts: 2, lastError: { code: 'DELIVER_FAILED' } });
    expect(r.history.at(-1)).toMatchObject({ status: 'dead', code: 'DELIVER_ATTEMPTS_EXHAUSTED', attempt: 2, link: A });
    expect((await store.deadLetters()).map((d) => d.id)).toEqual([m!.id]);
    expect(e.pending()).toBe(0);
    await run(e, 60_000);
    expect(sink('a').received).toBe(2);

    sink('a').fallback = 'ok';
    const replayed = await e.replay(m!);
    expect(replayed).toMatchObject({ status: 'queued', attempts: 0 });
    expect(replayed.history.at(-1)?.detail).toMatch(/replayed/);
    expect(await store.deadLetters()).toEqual([]);
    await run(e);
    r = await stored(m!);
    expect(r).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(ids(sink('a'))).toEqual([m!.id]);
    expect(await codeOf(() => e.replay(m!))).toBe('DLQ_NOT_FOUND');
    expect(await codeOf(() => e.replay({ source: m!.source, id: 'nope' }))).toBe('DLQ_NOT_FOUND');
  });

  it('sends a refused message straight to the DLQ with the refusal code', async () => {
    const e = engine();
    sink('a').script({ status: 400 });
    const [m] = await accept(e, {});
    await run(e, 60_000);
    const r = await stored(m!);
    expect(r).toMatchObject({ status: 'dead', attempts: 1, lastError: { code: 'DELIVER_REJECTED' } });
    expect(r.history.at(-1)).toMatchObject({ code: 'DELIVER_REJECTED', attempt: 1 });
    expect(sink('a').received).toBe(1);
    expect(sink('a').effects()).toEqual([]);
  });
});

describe('routes', () => {
  it('makes a message with no route dead with DELIVER_NO_ROUTE', async () => {
    const e = engine();
    const [m] = await accept(e, { to: 'cn.loulan.nowhere' });
    await run(e);
    expect(await stored(m!)).toMatchObject({ status: 'dead', lastError: { code: 'DELIVER_NO_ROUTE' } });
  });

  it('resolves the route again at each attempt, so retries use a route changed meanwhile', async () => {
    const e = engine();
    sink('a').fallback = 'down';
    const [m] = await accept(e, {});
    await run(e);
    expect(await stored(m!)).toMatchObject({ status: 'retrying', route: { prefix: PREFIX, link: A } });
    routes.set(`${PREFIX}.sink`, resolvedRoute(`${PREFIX}.sink`, link('memory://b')));
    await run(e, 1000);
    const r = await stored(m!);
    expect(r).toMatchObject({ status: 'delivered', attempts: 2, route: { prefix: `${PREFIX}.sink`, link: B }, receipt: { link: B } });
    expect(ids(sink('b'))).toEqual([m!.id]);
  });

  it('keeps at most maxInFlight attempts in flight per target and reports depth and age', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { maxInFlight: 2 })));
    const e = engine();
    sink('a').fallback = 'hang';
    await accept(e, {}, {}, {}, {}, {});
    await run(e, 250);
    expect(sink('a').inFlight).toBe(2);
    expect(e.linkStats(A)).toEqual({ link: A, queueDepth: 5, ready: 3, inFlight: 2, oldestAgeMs: 250, breaker: 'closed' });
    expect(e.links().map((l) => l.link)).toEqual([A]);
    expect(e.linkStats('unknown')).toBeUndefined();
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, holds messages without spending attempts, probes once, then closes', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { maxInFlight: 1, breaker: { failures: 3, coolDownMs: 1000 }, retry: { maxAttempts: 100, initialBackoffMs: 10, maxBackoffMs: 10 } })));
    const changes: string[] = [];
    const e = engine({ onBreaker: (id, state) => changes.push(`${id === A ? 'A' : id}:${state}`) });
    sink('a').fallback = { status: 503 };
    const messages = await accept(e, {}, {}, {}, {}, {});
    await run(e, 500);
    expect(sink('a').received).toBe(3);
    expect(e.breakerState(A)).toBe('open');
    expect(changes).toEqual(['A:open']);
    const attempts = await Promise.all(messages.map(async (m) => (await stored(m)).attempts));
    expect(attempts).toEqual([1, 1, 1, 0, 0]);
    expect(e.linkStats(A)).toMatchObject({ queueDepth: 5, breaker: 'open' });

    // Cool-down over: exactly one probe; it fails, so the breaker opens again.
    await run(e, 500);
    expect(sink('a').received).toBe(4);
    expect(changes).toEqual(['A:open', 'A:half-open', 'A:open']);
    await run(e, 999);
    expect(sink('a').received).toBe(4);

    sink('a').fallback = 'ok';
    await run(e, 1);
    expect(changes).toEqual(['A:open', 'A:half-open', 'A:open', 'A:half-open', 'A:closed']);
    await run(e, 100);
    expect(e.breakerState(A)).toBe('closed');
    expect(new Set(ids(sink('a')))).toEqual(new Set(messages.map((m) => m.id)));
    expect(sink('a').received).toBe(4 + 5);
    for (const m of messages) expect((await stored(m)).status).toBe('delivered');
  });

  it('a successful link probe closes an open breaker at once, and the waiting messages go', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { maxInFlight: 1, breaker: { failures: 2, coolDownMs: 60_000 }, retry: { maxAttempts: 100, initialBackoffMs: 10, maxBackoffMs: 10 } })));
    const changes: string[] = [];
    const e = engine({ onBreaker: (id, state) => changes.push(`${id === A ? 'A' : id}:${state}`) });
    sink('a').fallback = { status: 503 };
    const messages = await accept(e, {}, {}, {});
    await run(e, 100);
    expect(e.breakerState(A)).toBe('open');
    sink('a').fallback = 'ok';
    await run(e, 1000);
    expect(sink('a').received).toBe(2); // still cooling down: nothing goes
    e.probeSucceeded(A);
    expect(changes).toEqual(['A:open', 'A:closed']);
    await run(e, 100);
    for (const m of messages) expect((await stored(m)).status).toBe('delivered');
    e.probeSucceeded(A); // closed already: nothing changes
    expect(changes).toEqual(['A:open', 'A:closed']);
  });

  it('fails over to an alternate when the primary breaker opens and chooseLink says so', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { maxInFlight: 1, breaker: { failures: 1, coolDownMs: 60_000 }, alternates: [{ kind: 'loopback', endpoint: 'memory://b' }] })));
    let e: DeliveryEngine | undefined;
    e = engine({ chooseLink: (route) => (e!.breakerState(route.primary.id) === 'open' ? route.alternates[0]! : route.primary) });
    sink('a').fallback = 'down';
    const messages = await accept(e, {}, {}, {});
    await run(e, 10_000);
    expect(sink('a').received).toBe(0);
    expect(new Set(ids(sink('b')))).toEqual(new Set(messages.map((m) => m.id)));
    for (const m of messages) expect((await stored(m)).receipt?.link).toBe(B);
  });
});

describe('ordered channels', () => {
  beforeEach(() => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { ordered: true })));
  });

  it('holds and reports a gap, and delivers in seq order once it fills', async () => {
    const e = engine();
    const [m1, m3, m4] = await accept(e, { seq: 1 }, { seq: 3 }, { seq: 4 });
    await run(e);
    expect(ids(sink('a'))).toEqual([m1!.id]);
    // Both arrived while seq 1 was on its way; once it was delivered, the first in line learnt of the gap.
    expect((await stored(m4!)).history.at(-1)).toMatchObject({ status: 'waiting', code: 'DELIVER_SEQ_WAITING', detail: 'waiting for seq 1' });
    expect((await stored(m3!)).history.at(-1)).toMatchObject({ status: 'waiting', code: 'DELIVER_SEQ_WAITING', detail: 'waiting for seq 2, which has not arrived' });
    const since = time.now;
    await run(e, 5000);
    expect(e.gaps()).toEqual([{ source: m1!.source, to: m1!.envelope.to, expectedSeq: 2n, waiting: 2, since }]);
    expect(sink('a').received).toBe(1);

    const [m2] = await accept(e, { seq: 2 });
    await run(e);
    expect(ids(sink('a'))).toEqual([m1!.id, m2!.id, m3!.id, m4!.id]);
    expect(e.gaps()).toEqual([]);
  });

  it('does not start a successor while its predecessor is retrying', async () => {
    const e = engine();
    sink('a').script({ status: 503 }, { status: 503 });
    const [m1, m2] = await accept(e, { seq: 1 }, { seq: 2 });
    await run(e);
    expect((await stored(m2!)).status).toBe('waiting');
    expect(e.gaps()).toEqual([]);
    await run(e, 10_000);
    expect(ids(sink('a'))).toEqual([m1!.id, m2!.id]);
    expect(sink('a').received).toBe(4);
  });

  it('lets a dead or expired message release its successor', async () => {
    const e = engine();
    sink('a').script({ status: 400 }, 'hang');
    const [m1, m2, m3] = await accept(e, { seq: 1 }, { seq: 2, ttlMs: 1000 }, { seq: 3 });
    await run(e);
    expect((await stored(m1!)).status).toBe('dead');
    expect(sink('a').inFlight).toBe(1);
    await run(e, 1000);
    expect(await stored(m2!)).toMatchObject({ status: 'expired', attempts: 1, lastError: { code: 'DELIVER_EXPIRED' } });
    expect(sink('a').inFlight).toBe(0);
    expect(ids(sink('a'))).toEqual([m3!.id]);
    expect(await store.getNamed(`delivery/channel/${m1!.source}\u0000${m1!.envelope.to}`)).toEqual({ next: '4' });
  });

  it('steps over a message that expired behind a gap once the gap fills, also after a restart', async () => {
    const e1 = engine();
    const [m2, m3] = await accept(e1, { seq: 2, ttlMs: 100 }, { seq: 3 });
    await run(e1, 100);
    expect((await stored(m2!)).status).toBe('expired');
    expect(e1.gaps()).toMatchObject([{ expectedSeq: 1n, waiting: 1 }]);
    await e1.stop();

    const e2 = engine();
    await e2.start();
    const [m1] = await accept(e2, { seq: 1 });
    await run(e2);
    expect(ids(sink('a'))).toEqual([m1!.id, m3!.id]);
  });

  it('moves again when an operator skips the gap', async () => {
    const e = engine();
    const [m5] = await accept(e, { seq: 5 });
    await run(e);
    expect(await e.skipGap(m5!.source, m5!.envelope.to)).toEqual([1n, 2n, 3n, 4n]);
    await run(e);
    expect(ids(sink('a'))).toEqual([m5!.id]);
    expect((await stored(m5!)).history.at(-2)?.detail).toMatch(/skipped/);
    expect(await e.skipGap(m5!.source, m5!.envelope.to)).toEqual([]);
  });
});

describe('deadlines', () => {
  it('expires a message waiting for a retry at its deadline and never attempts it again', async () => {
    const e = engine();
    sink('a').script({ status: 429, retryAfter: '10' });
    const [m] = await accept(e, { ttlMs: 500 });
    await run(e, 500);
    const r = await stored(m!);
    expect(r).toMatchObject({ status: 'expired', attempts: 1, lastError: { code: 'DELIVER_EXPIRED' } });
    expect(r.history.at(-1)?.code).toBe('DELIVER_EXPIRED');
    await run(e, 60_000);
    expect(sink('a').received).toBe(1);
  });

  it('never attempts a message whose deadline passed before it was due', async () => {
    const e = engine();
    const [m] = await accept(e, { ttlMs: 0 });
    await run(e);
    expect(await stored(m!)).toMatchObject({ status: 'expired', attempts: 0 });
    expect(sink('a').received).toBe(0);
  });

  it('aborts an attempt at the deadline', async () => {
    const e = engine();
    sink('a').script('hang');
    const [m] = await accept(e, { ttlMs: 2000 });
    await run(e, 1999);
    expect(sink('a').inFlight).toBe(1);
    await run(e, 1);
    expect(sink('a').inFlight).toBe(0);
    expect(await stored(m!)).toMatchObject({ status: 'expired', attempts: 1 });
  });

  it('gives up on an attempt after attemptTimeoutMs and retries it', async () => {
    const e = engine({ attemptTimeoutMs: 300 });
    sink('a').script('hang');
    const [m] = await accept(e, {});
    await run(e, 300);
    expect(await stored(m!)).toMatchObject({ status: 'retrying', attempts: 1, lastError: { code: 'DELIVER_FAILED' } });
    await run(e, 1000);
    expect(await stored(m!)).toMatchObject({ status: 'delivered', attempts: 2 });
  });
});

describe('stuck messages', () => {
  it('raises the alert once per stall, in the history and through onStuck, and clears it on progress', async () => {
    routes.set(PREFIX, resolvedRoute(PREFIX, link('memory://a', { ordered: true })));
    const alerts: MessageRecord[] = [];
    const e = engine({ stuckAfterMs: 1000, stuckCheckMs: 100, onStuck: (r) => alerts.push(r) });
    await e.start();
    const [m2] = await accept(e, { seq: 2 });
    await accept(e, { status: 'held', seq: 7, to: 'cn.loulan.test.other' });
    await run(e, 999);
    expect(e.stuck()).toBe(0);
    await run(e, 200);
    expect(e.stuck()).toBe(1);
    expect(alerts.map((r) => r.id)).toEqual([m2!.id]);
    expect((await stored(m2!)).history.at(-1)).toMatchObject({ status: 'waiting', code: 'MESSAGE_STUCK' });
    await run(e, 10_000);
    expect(alerts).toHaveLength(1);

    await accept(e, { seq: 1 });
    await run(e);
    expect((await stored(m2!)).status).toBe('delivered');
    expect(e.stuck()).toBe(0);
  });
});

describe('held messages', () => {
  it('delivers a held message only once released', async () => {
    const e = engine();
    const [m] = await accept(e, { status: 'held' });
    await run(e, 60_000);
    expect(sink('a').received).toBe(0);
    const released = await e.release(m!);
    expect(released.status).toBe('queued');
    expect(released.hold).toBeUndefined();
    await run(e);
    expect(await stored(m!)).toMatchObject({ status: 'delivered' });
    expect(await codeOf(() => e.release(m!))).toBe('APPROVAL_NOT_PENDING');
  });

  it('refuses a rejected message and lets a hold delay end by itself', async () => {
    const e = engine();
    const [rejected, delayed] = await accept(e, { status: 'held' }, { status: 'held', holdUntil: time.now + 5000 });
    expect(await e.reject(rejected!)).toMatchObject({ status: 'dead', lastError: { code: 'DELIVER_APPROVAL_REJECTED' } });
    await run(e, 4999);
    expect(sink('a').received).toBe(0);
    await run(e, 1);
    expect(ids(sink('a'))).toEqual([delayed!.id]);
  });
});

describe('restart', () => {
  it('resumes every pending message from the store and delivers each once in effect', async () => {
    const e1 = engine();
    // m1 goes through; m2 meets a 503; m3's effect happens but the answer is lost.
    sink('a').script('ok', { status: 503 }, 'lost-ack');
    const [m1, m2, m3] = await accept(e1, {}, {}, {});
    await run(e1);
    expect((await stored(m2!)).status).toBe('retrying');
    expect((await stored(m3!)).status).toBe('retrying');
    // m4 is accepted while the engine is down.
    await e1.stop();
    const [m4] = await accept(e1, {});
    await store.close();

    store = await SwitchStore.open(dir);
    const e2 = engine();
    await e2.start();
    expect(e2.pending()).toBe(3);
    await run(e2, 10_000);
    for (const m of [m1!, m2!, m3!, m4!]) expect((await stored(m)).status).toBe('delivered');
    const effects = sink('a').effects();
    expect(effects.map((x) => x.id).sort()).toEqual([m1!.id, m2!.id, m3!.id, m4!.id].sort());
    expect(effects.find((x) => x.id === m3!.id)?.received).toBe(2);
  });

  it('stops cleanly with an attempt in flight, leaving the message to the next start', async () => {
    const e1 = engine();
    sink('a').script('hang');
    const [m] = await accept(e1, {});
    await run(e1);
    expect(sink('a').inFlight).toBe(1);
    await e1.stop();
    expect(sink('a').inFlight).toBe(0);
    expect(await stored(m!)).toMatchObject({ status: 'queued', attempts: 0 });

    const e2 = engine();
    await e2.start();
    await run(e2);
    expect(await stored(m!)).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
