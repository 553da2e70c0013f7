/**
 * The shop-side database connector end to end: a real PostgreSQL (startPostgres), a real consortium
 * (4 validators, the loopback sink, the switch; startConsortium) and the connector as its own process
 * (adapters/db/connector-main.ts), as a shop would run it.
 *
 * The demo shop's route is a `rest` link to the connector's webhook endpoint, with its secret in the
 * switch's `webhookSecrets`. Outbound, the shop inserts rows into `loulan_outbox`; the connector sends
 * them to the switch, which delivers them to the sink (route cn.loulan.partner). Inbound, the demo
 * program sends to the shop; the switch POSTs to the connector, which writes `loulan_inbox`.
 *
 * The kill test SIGKILLs the connector at least 200 times while messages flow both ways: half the
 * time by itself at a random step (LOULAN_CONNECTOR_KILL_AFTER: the start or end of a random database
 * call or POST), a quarter at a random POST (between a POST and its `sent_at` is the crash that
 * matters most), a quarter from outside at a random moment after it is ready. Each time it is
 * restarted. At the end every outbox row was accepted by the switch exactly once (no refusal, no
 * INTAKE_ID_CONFLICT, one effect each at the sink) and every message the switch delivered to the shop
 * is in the inbox exactly once. LOULAN_SOAK=1 runs 1,000 iterations.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import pg from 'pg';
import { main, type Io } from '../../cli/main.ts';
import type { MessageRecord } from '../../switch/model.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';
import { until } from '../support/ports.ts';

const CONNECTOR_MAIN = fileURLToPath(new URL('../../adapters/db/connector-main.ts', import.meta.url));
const SECRET = 'whsec-db-connector-test-0123456789abcdef';
const SOAK = process.env['LOULAN_SOAK'] === '1';
const ITERATIONS = SOAK ? 1_000 : 200;

let db: TestPostgres;
let pool: pg.Pool;
let c: TestConsortium;
let configFile: string;
let connectorUrl: string;

/** A port below the ephemeral range that nothing listens on now (the connector restarts on it many times). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 15_000 + Math.floor(Math.random() * 5_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

beforeAll(async () => {
  db = await startPostgres();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  const port = await freePort();
  connectorUrl = `http://127.0.0.1:${port}/loulan`;
  c = await startConsortium({
    switch: { anchor: { intervalMs: 500, maxLeaves: 50_000 }, delivery: { stuckAfterMs: 600_000, probeIntervalMs: 200 } },
    switchFile: { webhookSecrets: { [connectorUrl]: SECRET } },
    routes: [
      {
        prefix: 'cn.loulan.shop.demo',
        link: {
          adapter: { kind: 'rest', endpoint: connectorUrl, timeoutMs: 5_000 },
          ordered: false,
          // The connector is down most of the kill test: retry quickly and for long, never open the breaker.
          retry: { maxAttempts: 1_000, initialBackoffMs: 20, maxBackoffMs: 250 },
          breaker: { failures: 1_000, coolDownMs: 100 },
        },
      },
    ],
  });
  configFile = join(c.dir, 'connector.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      databaseUrl: db.url,
      switchUrl: c.switchUrl,
      participant: c.layout.shop.id,
      keyFile: c.layout.shop.keyFile,
      http: { host: '127.0.0.1', port },
      webhookSecrets: [SECRET],
      pollMs: 100,
      batchSize: 10,
      concurrency: 4,
      retry: { initialBackoffMs: 20, maxBackoffMs: 200 },
      requestTimeoutMs: 5_000,
    }),
  );
  const io = capture();
  expect(await main(['connector', 'migrate', '--config', configFile], io), io.err_.join('\n')).toBe(0);
  expect(JSON.parse(io.out_[0]!)).toMatchObject({ event: 'migrated', applied: 3 });
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await pool?.end();
  await c?.stop();
  await db?.stop();
});

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (t) => void out_.push(t), err: (t) => void err_.push(t) };
}

// -- the connector process -------------------------------------------------------------------------

const children = new Set<ChildProcess>();
const connectorLog: string[] = [];

interface Connector {
  readonly child: ChildProcess;
  /** The ready line, or undefined when the process died first. */
  readonly ready: Promise<Record<string, unknown> | undefined>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Parsed JSON lines from stdout. */
  readonly events: Record<string, unknown>[];
}

function startConnector(env: Record<string, string> = {}): Connector {
  // The compile cache halves a restart's start-up (most of it is loading modules), which is most of the test's time.
  const child = spawn(process.execPath, [CONNECTOR_MAIN, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_COMPILE_CACHE: join(c.dir, 'compile-cache'), ...env },
  });
  children.add(child);
  const events: Record<string, unknown>[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  createInterface({ input: child.stderr! }).on('line', (line) => {
    connectorLog.push(line);
    if (connectorLog.length > 200) connectorLog.shift();
  });
  const ready = new Promise<Record<string, unknown> | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        events.push(event);
        if (event['event'] === 'ready') resolve(event);
      } catch {
        connectorLog.push(`stdout: ${line}`);
      }
    });
    void exited.then(() => resolve(undefined));
  });
  return { child, ready, exited, events };
}

/** The child's exit, failing the test if it outlives `ms` (it is then killed). */
async function exitWithin(connector: Connector, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      connector.child.kill('SIGKILL');
      reject(new Error(`${what}: the connector did not exit within ${ms} ms\n${connectorLog.slice(-20).join('\n')}`));
    }, ms);
  });
  try {
    return await Promise.race([connector.exited, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

// -- traffic ---------------------------------------------------------------------------------------

let seq = 0;
const outboundIds: string[] = [];
const inboundIds: string[] = [];

/** Rows as the shop writes them: complete envelopes without `sig`; the connector signs. */
async function queueOutbound(count: number, tag: string): Promise<void> {
  if (count === 0) return;
  const now = Date.now();
  const rows = Array.from({ length: count }, () => {
    const n = ++seq;
    const id = `out-${tag}-${n}`;
    outboundIds.push(id);
    return {
      id,
      type: 'points.exchange.request',
      source: c.layout.shop.id,
      to: c.layout.program.id,
      seq: String(n),
      time: new Date(now).toISOString(),
      expiresAt: new Date(now + 1_800_000).toISOString(),
      data: {
        orderId: `order-${id}`,
        idempotencyKey: `checkout-${id}`,
        pair: 'demo-pair',
        quoteId: 'q-demo',
        source: { program: c.layout.shop.id, member: 'member-1' },
        target: { program: c.layout.program.id, member: 'member-2' },
        points: '10',
        expectedCredit: '1',
      },
    };
  });
  // One statement: one NOTIFY, as a shop's checkout transaction would do it.
  const values = rows.map((_, i) => `($${i + 1}::jsonb)`).join(', ');
  await pool.query(`INSERT INTO loulan_outbox (envelope) VALUES ${values}`, rows.map((r) => JSON.stringify(r)));
}

/** The demo program sends to the shop through the switch (accepted now, delivered to the connector when it can). */
async function sendInbound(count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const n = ++seq;
    const id = `in-${tag}-${n}`;
    inboundIds.push(id);
    const reply = await c.submit(await c.request({ id, to: c.layout.shop.id, seq: n, from: c.layout.program, points: 10, ttlMs: 1_800_000 }));
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  }
}

async function record(id: string, source: string): Promise<MessageRecord | undefined> {
  const res = await fetch(`${c.switchUrl}/v1/messages/${id}?source=${source}`);
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return (await res.json()) as MessageRecord;
}

async function pendingOutbox(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM loulan_outbox WHERE sent_at IS NULL AND error_code IS NULL`);
  return rows[0]!.n;
}

async function inboxCounts(): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ source: string; message_id: string }>(`SELECT source, message_id FROM loulan_inbox`);
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(`${r.source}/${r.message_id}`, (counts.get(`${r.source}/${r.message_id}`) ?? 0) + 1);
  return counts;
}

/** With a connector running: waits until every outbox row is sent and every inbound message delivered. */
async function settle(ms: number): Promise<void> {
  await until('outbox drained', ms, async () => ((await pendingOutbox()) === 0 ? true : undefined));
  const program = c.layout.program.id;
  for (const id of inboundIds) {
    await until(`inbound ${id} delivered`, ms, async () => ((await record(id, program))?.status === 'delivered' ? true : undefined));
  }
}

/** 0 lost, 0 duplicated, both ways. */
async function checkExactlyOnce(): Promise<void> {
  const shop = c.layout.shop.id;
  const program = c.layout.program.id;
  const { rows } = await pool.query<{ id: string; sent: boolean; error_code: string | null; error_detail: string | null }>(
    `SELECT envelope->>'id' AS id, sent_at IS NOT NULL AS sent, error_code, error_detail FROM loulan_outbox`,
  );
  expect(rows.length).toBe(outboundIds.length);
  expect(rows.filter((r) => !r.sent || r.error_code !== null)).toEqual([]);
  // The switch holds each outbox id (once: its store is keyed by source and id) and delivered it to the
  // sink, whose durable effects file has each exactly once.
  for (const id of outboundIds) {
    await until(`outbound ${id} delivered`, 30_000, async () => ((await record(id, shop))?.status === 'delivered' ? true : undefined));
  }
  const effects = c.sink.effectLines();
  const counts = outboundIds.map((id) => effects.get(`${shop}/${id}`) ?? 0);
  expect(counts.filter((n) => n !== 1)).toEqual([]);
  // Every message the switch delivered to the shop is in the inbox exactly once, with its marker.
  const inbox = await inboxCounts();
  expect(inbox.size).toBe(inboundIds.length);
  expect(inboundIds.filter((id) => inbox.get(`${program}/${id}`) !== 1)).toEqual([]);
  const { rows: markers } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM loulan_inbox_marker`);
  expect(markers[0]!.n).toBe(inboundIds.length);
}

// -- tests -----------------------------------------------------------------------------------------

describe('database connector with a real switch', () => {
  test('outbox → switch → sink, and switch → connector → inbox; SIGTERM stops it cleanly', async () => {
    const connector = startConnector();
    const ready = await connector.ready;
    expect(ready, connectorLog.join('\n')).toMatchObject({ event: 'ready', participant: c.layout.shop.id, url: connectorUrl });
    await queueOutbound(3, 'basic');
    await sendInbound(3, 'basic');
    await settle(30_000);
    await checkExactlyOnce();
    // The inbox row is the envelope the switch delivered, signed by the program.
    const { rows } = await pool.query(`SELECT envelope FROM loulan_inbox WHERE message_id = $1`, [inboundIds[0]]);
    expect(rows[0].envelope).toMatchObject({ id: inboundIds[0], source: c.layout.program.id, to: c.layout.shop.id, sig: { kid: c.layout.program.kid } });
    connector.child.kill('SIGTERM');
    expect(await exitWithin(connector, 20_000, 'SIGTERM')).toEqual({ code: 0, signal: null });
    expect(connector.events.at(-1)).toMatchObject({ event: 'stopped', sent: 3 });
  });

  test(`exactly once with the connector SIGKILLed ${ITERATIONS} times while messages flow both ways`, async () => {
    const started = Date.now();
    const kills: Record<string, number> = {};
    const tally = (key: string) => void (kills[key] = (kills[key] ?? 0) + 1);
    for (let i = 0; i < ITERATIONS; i++) {
      const rows = i % 4 === 1 ? 1 + Math.floor(Math.random() * 3) : Math.floor(Math.random() * 3);
      await queueOutbound(rows, String(i));
      if (i % 2 === 0) await sendInbound(1, String(i));
      if (i % 4 === 3) {
        // From outside, at a random moment once it is up (the random point is the point of this timer).
        const connector = startConnector();
        await connector.ready;
        const timer = setTimeout(() => connector.child.kill('SIGKILL'), Math.floor(Math.random() * 150));
        const exit = await exitWithin(connector, 30_000, `iteration ${i}`);
        clearTimeout(timer);
        expect(exit.signal).toBe('SIGKILL');
        tally('external');
      } else {
        // Aimed at the POSTs every fourth time: at least `rows` are pending, so the kill step (the start
        // or end of one of them) does come; otherwise at any step.
        const env =
          i % 4 === 1
            ? { LOULAN_CONNECTOR_KILL_STAGE: 'post', LOULAN_CONNECTOR_KILL_AFTER: String(1 + Math.floor(Math.random() * 2 * rows)) }
            : { LOULAN_CONNECTOR_KILL_AFTER: String(1 + Math.floor(Math.random() * 60)) };
        const connector = startConnector(env);
        const exit = await exitWithin(connector, 30_000, `iteration ${i}`);
        expect({ i, signal: exit.signal }).toEqual({ i, signal: 'SIGKILL' });
        const kill = connector.events.find((e) => e['event'] === 'kill');
        tally(kill === undefined ? 'unreported' : `${String(kill['stage'])} ${String(kill['at'])}`);
      }
    }
    const killed = Date.now();
    const survivor = startConnector();
    expect(await survivor.ready).toBeDefined();
    await settle(120_000);
    await checkExactlyOnce();
    survivor.child.kill('SIGTERM');
    const exit = await exitWithin(survivor, 20_000, 'final SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const stopped = survivor.events.at(-1) ?? {};
    const summary = {
      iterations: ITERATIONS,
      kills,
      outbound: outboundIds.length,
      inbound: inboundIds.length,
      killPhaseMs: killed - started,
      settleMs: Date.now() - killed,
      totalMs: Date.now() - started,
      lastRun: { sent: stopped['sent'], duplicates: stopped['duplicates'], received: stopped['received'], receivedDuplicates: stopped['receivedDuplicates'] },
    };
    console.log(`db-connector kill test: ${JSON.stringify(summary)}`);
    expect(Object.values(kills).reduce((a, b) => a + b, 0)).toBe(ITERATIONS);
  }, SOAK ? 3_600_000 : 300_000);
});
