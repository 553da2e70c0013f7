import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../schemas/index.ts';
import type { DeliveryRequest } from '../adapter.ts';
import { createLoopbackAdapter, loopbackAdapterFactory } from './adapter.ts';
import { createMemorySink, type MemorySink } from './memory.ts';

function request(id: string, signal = new AbortController().signal): DeliveryRequest {
  const envelope: Envelope = { id, type: 'points.exchange.request', source: 'cn.loulan.shop.acme', to: 'cn.loulan.test.sink', seq: '1', time: '2025-06-01T12:00:00Z', expiresAt: '2099-01-01T00:00:00Z', data: {} };
  return { envelope, digest: '00'.repeat(32), attempt: 1, deadline: Date.now() + 60_000, signal };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('loopback adapter with a memory sink', () => {
  it('follows the script, classifies like HTTP, and records each effect once', async () => {
    const sinks = new Map<string, MemorySink>([['a', createMemorySink('a')]]);
    const adapter = loopbackAdapterFactory({ sinks, now: () => 0 })({ kind: 'loopback', endpoint: 'memory://a' });
    const sink = sinks.get('a')!;
    sink.script({ status: 503, retryAfter: '2' }, 'down', { status: 422 }, 'lost-ack', 'ok');
    expect(await adapter.deliver(request('m1'))).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED', retryAfterMs: 2000 });
    expect(await adapter.deliver(request('m1'))).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    expect(await adapter.deliver(request('m2'))).toMatchObject({ ok: false, retryable: false, code: 'DELIVER_REJECTED' });
    expect(await adapter.deliver(request('m1'))).toMatchObject({ ok: false, retryable: true });
    expect(await adapter.deliver(request('m1'))).toEqual({ ok: true, evidence: { status: 200 } });
    expect(sink.effects()).toEqual([{ source: 'cn.loulan.shop.acme', id: 'm1', received: 2 }]);
    expect(sink.received).toBe(4);
  });

  it('hangs until the attempt is aborted', async () => {
    const sinks = new Map<string, MemorySink>();
    const adapter = createLoopbackAdapter({ kind: 'loopback', endpoint: 'memory://new' }, { sinks });
    const sink = sinks.get('new')!;
    sink.fallback = 'hang';
    const controller = new AbortController();
    const pending = adapter.deliver(request('m', controller.signal));
    await Promise.resolve();
    expect(sink.inFlight).toBe(1);
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, retryable: true, message: expect.stringContaining('aborted') });
    expect(sink.inFlight).toBe(0);
    expect(sink.effects()).toEqual([]);
  });

  it('refuses targets it cannot serve', () => {
    expect(codeOf(() => createLoopbackAdapter({ kind: 'rest', endpoint: 'http://127.0.0.1:1/' }))).toBe('ROUTE_ADAPTER_UNAVAILABLE');
    expect(codeOf(() => createLoopbackAdapter({ kind: 'loopback', endpoint: 'ftp://x/' }))).toBe('ROUTE_INVALID');
    expect(codeOf(() => createLoopbackAdapter({ kind: 'loopback', endpoint: 'not a url' }))).toBe('ROUTE_INVALID');
  });
});
