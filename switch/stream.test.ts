import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { SwitchMetrics } from './metrics.ts';
import type { StatusEvent } from './model.ts';
import { CLOSE_TRY_AGAIN_LATER, createStreamHub, DEFAULT_STREAM_OPTIONS, type StreamOptions, type StreamSocket } from './stream.ts';

// -- a switch whose reads, writes and announcements happen when the test says ------------------------

/**
 * The event log as the switch keeps it: events become durable (readable) first and are announced
 * later, in cursor order. A read takes its snapshot either when it is called or when it is
 * released, so reads race with writes and announcements in both ways.
 */
class ScriptedSwitch {
  readonly durable: StatusEvent[] = [];
  unannounced: StatusEvent[] = [];
  readonly reads: Array<{ after: number; limit: number; snapshot: StatusEvent[] | undefined; resolve: (events: StatusEvent[]) => void; reject: (error: unknown) => void }> = [];
  readonly listeners = new Set<(events: readonly StatusEvent[]) => void>();
  snapshotAtCall = false;

  write(count: number, source = 'cn.a'): void {
    for (let i = 0; i < count; i++) {
      const cursor = this.durable.length + 1;
      const event: StatusEvent = { cursor, source, id: `m${cursor}`, to: 'cn.b', status: 'queued', at: cursor };
      this.durable.push(event);
      this.unannounced.push(event);
    }
  }

  announce(count = Infinity): void {
    const events = this.unannounced.slice(0, count);
    this.unannounced = this.unannounced.slice(events.length);
    if (events.length > 0) for (const listener of this.listeners) listener(events);
  }

  release(): boolean {
    const read = this.reads.shift();
    if (read === undefined) return false;
    read.resolve(read.snapshot ?? this.#read(read.after, read.limit));
    return true;
  }

  eventsAfter = (after: number, limit: number): Promise<StatusEvent[]> =>
    new Promise((resolve, reject) => this.reads.push({ after, limit, snapshot: this.snapshotAtCall ? this.#read(after, limit) : undefined, resolve, reject }));

  onEvents = (listener: (events: readonly StatusEvent[]) => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  #read(after: number, limit: number): StatusEvent[] {
    return this.durable.filter((e) => e.cursor > after).slice(0, limit);
  }
}

/** A socket that records frames; writes complete when the test flushes them. */
class FakeSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly frames: StatusEvent[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  #callbacks: Array<() => void> = [];
  readonly #listeners = new Map<string, Array<() => void>>();

  send(text: string, callback?: () => void): void {
    this.frames.push(JSON.parse(text) as StatusEvent);
    if (callback !== undefined) this.#callbacks.push(callback);
  }

  get unflushed(): number {
    return this.#callbacks.length;
  }

  flush(): void {
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const callback of callbacks) callback();
  }

  close(code: number, reason: string): void {
    if (this.closed !== undefined) return;
    this.closed = { code, reason };
    this.readyState = 3;
    this.flush();
    for (const listener of this.#listeners.get('close') ?? []) listener();
  }

  terminate(): void {
    this.terminated = true;
    this.close(1006, '');
  }

  ping(): void {}

  on(event: string, listener: () => void): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return this;
  }

  get socket(): StreamSocket {
    return this as unknown as StreamSocket;
  }
}

const silent = { error: () => undefined } as unknown as FastifyBaseLogger;

function options(overrides: Partial<StreamOptions> = {}): StreamOptions {
  return { ...DEFAULT_STREAM_OPTIONS, heartbeatMs: 3_600_000, ...overrides };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await tick();
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

// -- properties ------------------------------------------------------------------------------------

type Step = { kind: 'write'; count: number; other: boolean } | { kind: 'announce'; count: number } | { kind: 'release' } | { kind: 'flush' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), count: fc.integer({ min: 1, max: 7 }), other: fc.boolean() }),
  fc.record({ kind: fc.constant('announce' as const), count: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constant('release' as const) }),
  fc.record({ kind: fc.constant('flush' as const) }),
);

describe('stream hub', () => {
  it('sends every event after the cursor exactly once, in order, however reads, writes and announcements interleave', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(step, { maxLength: 60 }),
        async (initial, cursorSeed, pageSize, maxPending, snapshotAtCall, filtered, steps) => {
          const api = new ScriptedSwitch();
          api.snapshotAtCall = snapshotAtCall;
          api.write(initial);
          api.announce();
          const cursor = cursorSeed % (initial + 1);
          const hub = createStreamHub(api, options({ replayPageSize: pageSize, maxPendingEvents: maxPending }), silent);
          const client = new FakeSocket();
          hub.add(client.socket, cursor, filtered ? 'cn.a' : undefined);
          await settle();
          for (const s of steps) {
            if (s.kind === 'write') api.write(s.count, s.other ? 'cn.other' : 'cn.a');
            else if (s.kind === 'announce') api.announce(s.count);
            else if (s.kind === 'release') api.release();
            else client.flush();
            await settle();
          }
          // Let everything finish: announce what is durable, answer every read, complete every write.
          for (let i = 0; i < 10_000 && (api.unannounced.length > 0 || api.reads.length > 0 || client.unflushed > 0); i++) {
            api.announce();
            api.release();
            client.flush();
            await settle();
          }
          const expected = api.durable.filter((e) => e.cursor > cursor && (!filtered || e.source === 'cn.a')).map((e) => e.cursor);
          expect(client.closed).toBeUndefined();
          expect(client.frames.map((e) => e.cursor)).toEqual(expected);
          // And once caught up, live events go straight out.
          api.write(2);
          api.announce();
          expect(client.frames.slice(-2).map((e) => e.cursor)).toEqual([api.durable.length - 1, api.durable.length]);
          await hub.closeAll();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads the next page only after the socket has written the last one', async () => {
    const api = new ScriptedSwitch();
    api.write(10);
    api.announce();
    const hub = createStreamHub(api, options({ replayPageSize: 3 }), silent);
    const client = new FakeSocket();
    hub.add(client.socket, 0, undefined);
    await settle();
    api.release();
    await settle();
    expect(client.frames.map((e) => e.cursor)).toEqual([1, 2, 3]);
    expect(api.reads).toHaveLength(0);
    client.flush();
    await settle();
    expect(api.reads).toHaveLength(1);
    await hub.closeAll();
  });

  it('discards held events past the cap while replaying, and reads them back instead', async () => {
    const api = new ScriptedSwitch();
    api.write(5);
    api.announce();
    const hub = createStreamHub(api, options({ replayPageSize: 2, maxPendingEvents: 3 }), silent);
    const client = new FakeSocket();
    hub.add(client.socket, 0, undefined);
    await settle();
    api.write(20);
    api.announce(); // 20 events at once: more than the cap, all discarded
    for (let i = 0; i < 100 && (api.reads.length > 0 || client.frames.length < 25); i++) {
      api.release();
      client.flush();
      await settle();
    }
    expect(client.frames.map((e) => e.cursor)).toEqual(range(1, 25));
    await hub.closeAll();
  });

  it('closes a live client whose unsent bytes pass the limit with 1013, and counts it', async () => {
    const api = new ScriptedSwitch();
    const metrics = new SwitchMetrics();
    const hub = createStreamHub(api, options({ maxBufferedBytes: 1000 }), silent, metrics);
    const fast = new FakeSocket();
    const slow = new FakeSocket();
    hub.add(fast.socket, 0, undefined);
    hub.add(slow.socket, 0, undefined);
    await settle();
    api.release();
    api.release();
    await settle();
    api.write(2);
    api.announce();
    slow.bufferedAmount = 1001;
    api.write(2);
    api.announce();
    expect(slow.closed).toEqual({ code: CLOSE_TRY_AGAIN_LATER, reason: expect.stringContaining('cursor') });
    expect(slow.frames.map((e) => e.cursor)).toEqual([1, 2]);
    expect(fast.frames.map((e) => e.cursor)).toEqual([1, 2, 3, 4]);
    expect(hub.size).toBe(1);
    expect((await metrics.metrics()).body).toMatch(/^loulan_switch_stream_closed_total\{reason="slow"\} 1$/m);
    expect((await metrics.metrics()).body).toMatch(/^loulan_switch_stream_clients 1$/m);
    await hub.closeAll();
    expect(fast.closed?.code).toBe(1001);
    expect(api.listeners.size).toBe(0);
  });

  it('closes a client whose replay read fails with 1011, and logs it', async () => {
    const api = new ScriptedSwitch();
    const errors: unknown[] = [];
    const hub = createStreamHub(api, options(), { error: (...args: unknown[]) => errors.push(args) } as unknown as FastifyBaseLogger);
    const client = new FakeSocket();
    hub.add(client.socket, 0, undefined);
    await settle();
    api.reads.shift()?.reject(new Error('disk on fire'));
    await settle();
    expect(client.closed?.code).toBe(1011);
    expect(client.closed?.reason).not.toContain('disk');
    expect(errors).toHaveLength(1);
    expect(api.listeners.size).toBe(0);
  });

  it('turns away clients beyond the limit, and everyone once closing', async () => {
    const api = new ScriptedSwitch();
    const hub = createStreamHub(api, options({ maxClients: 1 }), silent);
    const first = new FakeSocket();
    const second = new FakeSocket();
    hub.add(first.socket, 0, undefined);
    hub.add(second.socket, 0, undefined);
    expect(second.closed?.code).toBe(CLOSE_TRY_AGAIN_LATER);
    expect(hub.size).toBe(1);
    await hub.closeAll();
    const late = new FakeSocket();
    hub.add(late.socket, 0, undefined);
    expect(late.closed?.code).toBe(1001);
    expect(api.listeners.size).toBe(0);
  });
});
