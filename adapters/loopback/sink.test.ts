import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../schemas/index.ts';
import type { DeliveryRequest } from '../adapter.ts';
import { createLoopbackAdapter } from './adapter.ts';
import { startSinkServer, type SinkControl, type SinkServer } from './sink.ts';

let dir: string;
let file: string;
let servers: SinkServer[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loulan-sink-'));
  file = join(dir, 'effects.log');
  servers = [];
});

afterEach(async () => {
  for (const s of servers) await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(random?: () => number): Promise<SinkServer> {
  const server = await startSinkServer({ file, ...(random === undefined ? {} : { random }) });
  servers.push(server);
  return server;
}

async function control(server: SinkServer, body: SinkControl): Promise<void> {
  const res = await fetch(`${server.url}/control`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

let n = 0;
function request(id = `m-${++n}`, source = 'cn.loulan.shop.acme', signal = new AbortController().signal): DeliveryRequest {
  const envelope: Envelope = { id, type: 'points.exchange.request', source, to: 'cn.loulan.test.sink', seq: '1', time: '2025-06-01T12:00:00Z', expiresAt: '2099-01-01T00:00:00Z', data: {} };
  return { envelope, digest: '00'.repeat(32), attempt: 1, deadline: Date.now() + 60_000, signal };
}

describe('loopback sink server over HTTP', () => {
  it('records each message once, durably, and answers a duplicate 200 without a second effect', async () => {
    const server = await start();
    const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver` });
    const r = request();
    expect(await adapter.deliver(r)).toEqual({ ok: true, evidence: { status: 200 } });
    expect(await adapter.deliver(r)).toMatchObject({ ok: true });
    // The same id from another sender is another message.
    expect(await adapter.deliver(request(r.envelope.id, 'cn.loulan.shop.other'))).toMatchObject({ ok: true });
    const res = await fetch(`${server.url}/effects`);
    const body = (await res.json()) as { effects: Array<{ source: string; id: string; received: number }> };
    expect(body.effects.map((e) => [e.source, e.id, e.received])).toEqual([
      ['cn.loulan.shop.acme', r.envelope.id, 2],
      ['cn.loulan.shop.other', r.envelope.id, 1],
    ]);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
    expect(adapter.health()).toEqual({ state: 'up' });
  });

  it('records concurrent copies of one message once', async () => {
    const server = await start();
    const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver` });
    const r = request();
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => adapter.deliver(r)));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(server.effects()).toMatchObject([{ id: r.envelope.id, received: 20 }]);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('reloads its effects after a restart and cuts off a torn last line', async () => {
    const first = await start();
    const adapter1 = createLoopbackAdapter({ kind: 'loopback', endpoint: `${first.url}/deliver` });
    const r = request();
    await adapter1.deliver(r);
    await first.close();
    servers = [];
    await appendFile(file, '{"source":"cn.loulan.shop.acme","id":"torn');

    const second = await start();
    expect(second.effects().map((e) => e.id)).toEqual([r.envelope.id]);
    const adapter2 = createLoopbackAdapter({ kind: 'loopback', endpoint: `${second.url}/deliver` });
    await adapter2.deliver(r);
    const torn = request('torn');
    await adapter2.deliver(torn);
    expect(second.effects().map((e) => [e.id, e.received])).toEqual([
      [r.envelope.id, 1],
      ['torn', 1],
    ]);
    expect((await readFile(file, 'utf8')).split('\n')).toEqual([expect.stringContaining(r.envelope.id), expect.stringContaining('"torn"'), '']);
  });

  it('fails the next N requests, answers 429 with Retry-After, and fails a fraction at random', async () => {
    let coin = 0;
    const server = await start(() => coin);
    const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver` });
    await control(server, { failNext: 2, failStatus: 503 });
    expect(await adapter.deliver(request())).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED', message: expect.stringContaining('503') });
    expect(await adapter.deliver(request())).toMatchObject({ ok: false, retryable: true });
    expect(adapter.health()).toMatchObject({ state: 'degraded' });
    await control(server, { retryAfterNext: 1, retryAfter: '3' });
    expect(await adapter.deliver(request())).toMatchObject({ ok: false, retryable: true, retryAfterMs: 3000 });
    await control(server, { failStatus: 400, failNext: 1 });
    expect(await adapter.deliver(request())).toMatchObject({ ok: false, retryable: false, code: 'DELIVER_REJECTED' });
    await control(server, { failRate: 0.5 });
    coin = 0.4;
    expect(await adapter.deliver(request())).toMatchObject({ ok: false, retryable: true });
    coin = 0.6;
    expect(await adapter.deliver(request())).toMatchObject({ ok: true });
    expect(server.effects()).toHaveLength(1);
  });

  it('goes down (no answer, retryable) and comes back up', async () => {
    const server = await start();
    const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver` });
    await control(server, { down: true });
    const r = request();
    for (let i = 0; i < 5; i++) expect(await adapter.deliver(r)).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    expect(adapter.health()).toMatchObject({ state: 'down' });
    expect(server.effects()).toEqual([]);
    await control(server, { down: false });
    expect(await adapter.deliver(r)).toMatchObject({ ok: true });
    expect(adapter.health()).toEqual({ state: 'up' });
  });

  it('lets a slow answer time out, and an aborted attempt end at once', async () => {
    const server = await start();
    await control(server, { delayMs: 300 });
    const slow = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver`, timeoutMs: 50 });
    expect(await slow.deliver(request())).toMatchObject({ ok: false, retryable: true, message: expect.stringContaining('in time') });
    const controller = new AbortController();
    const pending = createLoopbackAdapter({ kind: 'loopback', endpoint: `${server.url}/deliver` }).deliver(request(undefined, undefined, controller.signal));
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, retryable: true, message: expect.stringContaining('aborted') });
  });

  it('refuses a control body it does not understand, and a delivery without an Idempotency-Key', async () => {
    const server = await start();
    for (const body of ['[]', '{"failNext":-1}', '{"explode":true}', 'not json', '{"failRate":2}']) {
      expect((await fetch(`${server.url}/control`, { method: 'POST', body })).status, body).toBe(400);
    }
    expect((await fetch(`${server.url}/deliver`, { method: 'POST', body: '{}' })).status).toBe(400);
    expect(server.effects()).toEqual([]);
  });

  it('runs as its own process', async () => {
    const child = spawn(process.execPath, [new URL('./sink-main.ts', import.meta.url).pathname, '--file', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`sink exited with ${code}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: `${url}/deliver` });
      const r = request();
      expect(await adapter.deliver(r)).toMatchObject({ ok: true });
      const body = (await (await fetch(`${url}/effects`)).json()) as { effects: Array<{ id: string }> };
      expect(body.effects.map((e) => e.id)).toEqual([r.envelope.id]);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
