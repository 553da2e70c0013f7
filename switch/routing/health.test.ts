import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../../core-chain/index.ts';
import { createHealthBoard, DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds, type LinkState, type Outcome } from './health.ts';

function fakeClock(start = 0): { now: () => number; set: (t: number) => void; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v), advance: (ms) => (t += ms) };
}

const ok = (latencyMs = 10): Outcome => ({ ok: true, latencyMs });
const fail = (latencyMs = 10, code = 'DELIVER_FAILED'): Outcome => ({ ok: false, latencyMs, error: { code, message: 'connection refused' } });

function codeOf(fn: () => unknown): { code: string; details: Readonly<Record<string, unknown>> } | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code, details: error.details };
    throw error;
  }
  return undefined;
}

describe('health board: states and reasons', () => {
  it('starts a link up with no samples, from the moment it is first seen', () => {
    const clock = fakeClock(1_000);
    const health = createHealthBoard({ now: clock.now });
    expect(health.status('a')).toEqual({ state: 'up', reason: 'no-samples', since: 1_000 });
    clock.advance(500);
    expect(health.status('a').since).toBe(1_000);
  });

  it('goes down after N consecutive failures, and only a success resets the count', () => {
    const clock = fakeClock();
    const health = createHealthBoard({ now: clock.now });
    for (let i = 1; i <= 4; i++) {
      clock.set(i * 100);
      expect(health.record('a', fail()).state).toBe('up');
    }
    clock.set(500);
    expect(health.record('a', fail())).toEqual({ state: 'down', reason: 'consecutive-failures', since: 500 });
    // Silence does not bring it back: the outcomes leave the window, the run of failures stays.
    clock.set(10 * 60_000);
    expect(health.status('a')).toEqual({ state: 'down', reason: 'consecutive-failures', since: 500 });
    expect(health.record('a', ok())).toEqual({ state: 'up', reason: 'few-samples', since: 10 * 60_000 });
  });

  it('judges success rate and p99 once there are enough samples', () => {
    const clock = fakeClock();
    const health = createHealthBoard({ now: clock.now, minSamples: 20, downAfterConsecutiveFailures: 1_000 });
    for (let i = 0; i < 19; i++) health.record('a', ok());
    expect(health.record('a', fail()).reason).toBe('ok'); // 19/20 = 95 %: not below 95 %
    expect(health.record('a', fail())).toMatchObject({ state: 'degraded', reason: 'success-rate' }); // 19/21
    for (let i = 0; i < 19; i++) health.record('a', fail());
    expect(health.record('a', fail())).toMatchObject({ state: 'down', reason: 'success-rate' }); // 19/41
    const slow = createHealthBoard({ now: clock.now, minSamples: 20, degradedAboveP99Ms: 1_000 });
    for (let i = 0; i < 99; i++) slow.record('b', ok(50));
    expect(slow.record('b', ok(5_000)).reason).toBe('ok'); // p99 of 100 is the 99th value: 50
    expect(slow.record('b', ok(5_000))).toMatchObject({ state: 'degraded', reason: 'latency' });
  });

  it('an open breaker means down until it closes', () => {
    const clock = fakeClock();
    const health = createHealthBoard({ now: clock.now });
    health.record('a', ok());
    clock.set(10);
    expect(health.setBreaker('a', true)).toEqual({ state: 'down', reason: 'breaker-open', since: 10 });
    clock.set(20);
    expect(health.record('a', ok()).reason).toBe('breaker-open');
    expect(health.setBreaker('a', false)).toEqual({ state: 'up', reason: 'few-samples', since: 20 });
  });

  it('dates a change caused by outcomes leaving the window at the instant they left, however late it is asked', () => {
    const clock = fakeClock();
    const health = createHealthBoard({ now: clock.now, minSamples: 4, downAfterConsecutiveFailures: 100, windowMs: 60_000 });
    for (let i = 0; i < 4; i++) health.record('a', fail());
    expect(health.status('a')).toMatchObject({ state: 'down', reason: 'success-rate', since: 0 });
    clock.set(10_000);
    for (let i = 0; i < 4; i++) health.record('a', ok());
    expect(health.status('a')).toMatchObject({ state: 'degraded', since: 10_000 }); // 4/8
    clock.set(500_000);
    // The failures left at 60 s (up), the successes at 70 s (no samples, still up since 60 s).
    expect(health.status('a')).toEqual({ state: 'up', reason: 'no-samples', since: 60_000 });
  });
});

describe('health board: gauges, errors and snapshots', () => {
  it('reports queue depth, the current age of the oldest message, the last error and percentiles', () => {
    const clock = fakeClock(1_000);
    const health = createHealthBoard({ now: clock.now });
    health.setQueue('a', 3, 400);
    for (const latency of [5, 1, 9, 7, 3]) health.record('a', ok(latency));
    health.record('a', { ok: false, latencyMs: 100, error: { code: 'DELIVER_REJECTED', message: 'x'.repeat(2_000) } });
    clock.set(2_000);
    const snap = health.link('a');
    expect(snap).toMatchObject({
      link: 'a',
      samples: 6,
      successRate: 5 / 6,
      latencyP50Ms: 5,
      latencyP99Ms: 100,
      consecutiveFailures: 1,
      queueDepth: 3,
      oldestAgeMs: 1_600,
      lastOutcomeAt: 1_000,
      breakerOpen: false,
    });
    expect(snap.lastError).toMatchObject({ code: 'DELIVER_REJECTED', at: 1_000 });
    expect(snap.lastError?.message.length).toBe(512);
    health.setQueue('a', 0, 400);
    expect(health.link('a').oldestAgeMs).toBeNull();
  });

  it('snapshots every link, sorted, as plain JSON', () => {
    const clock = fakeClock(5);
    const health = createHealthBoard({ now: clock.now });
    health.record('z', ok());
    health.status('b');
    const snap = health.snapshot();
    expect(snap.links.map((l) => l.link)).toEqual(['b', 'z']);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.links[0]).toMatchObject({ samples: 0, successRate: null, latencyP50Ms: null, lastError: null });
    expect(health.forget('b')).toBe(true);
    expect(health.forget('b')).toBe(false);
    expect(health.snapshot().links.map((l) => l.link)).toEqual(['z']);
  });

  it('holds a clock that steps back at the latest time seen', () => {
    const clock = fakeClock(10_000);
    const health = createHealthBoard({ now: clock.now });
    health.record('a', ok());
    clock.set(5_000);
    health.record('a', ok());
    expect(health.link('a').lastOutcomeAt).toBe(10_000);
  });

  it('validates thresholds once, naming the field', () => {
    const now = (): number => 0;
    const bad: Array<[Partial<HealthThresholds>, string]> = [
      [{ windowMs: 0 }, 'windowMs'],
      [{ maxSamples: 1.5 }, 'maxSamples'],
      [{ minSamples: 2_000 }, 'minSamples'],
      [{ degradedBelowSuccessRate: 1.2 }, 'degradedBelowSuccessRate'],
      [{ downBelowSuccessRate: 0.99 }, 'downBelowSuccessRate'],
      [{ degradedAboveP99Ms: Number.NaN }, 'degradedAboveP99Ms'],
      [{ downAfterConsecutiveFailures: 0 }, 'downAfterConsecutiveFailures'],
    ];
    for (const [options, field] of bad) expect(codeOf(() => createHealthBoard({ now, ...options }))).toEqual({ code: 'CONFIG_INVALID', details: { field } });
    expect(() => createHealthBoard({ now }).record('a', { ok: true, latencyMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('health board against a from-scratch reference', () => {
  type Event = { at: number; link: 'a' | 'b'; outcome?: Outcome; breaker?: boolean };

  // State at instant x after every event at or before x, computed from the whole history.
  function referenceState(events: readonly Event[], link: string, x: number, t: HealthThresholds): { state: LinkState; reason: string; samples: number; rate: number | null; p50: number | null; p99: number | null } {
    const mine = events.filter((e) => e.link === link && e.at <= x);
    const outcomes = mine.filter((e) => e.outcome !== undefined);
    const window = outcomes.slice(-t.maxSamples).filter((e) => e.at > x - t.windowMs);
    let run = 0;
    for (const e of outcomes) run = e.outcome!.ok ? 0 : run + 1;
    const breaker = mine.filter((e) => e.breaker !== undefined).at(-1)?.breaker ?? false;
    const n = window.length;
    const rate = n === 0 ? null : window.filter((e) => e.outcome!.ok).length / n;
    const sorted = window.map((e) => e.outcome!.latencyMs).sort((p, q) => p - q);
    const pct = (q: number): number | null => (n === 0 ? null : sorted[Math.max(0, Math.ceil(q * n) - 1)]!);
    const p99 = pct(0.99);
    const base = { samples: n, rate, p50: pct(0.5), p99 };
    if (breaker) return { state: 'down', reason: 'breaker-open', ...base };
    if (run >= t.downAfterConsecutiveFailures) return { state: 'down', reason: 'consecutive-failures', ...base };
    if (n === 0) return { state: 'up', reason: 'no-samples', ...base };
    if (n < t.minSamples) return { state: 'up', reason: 'few-samples', ...base };
    if (rate! < t.downBelowSuccessRate) return { state: 'down', reason: 'success-rate', ...base };
    if (rate! < t.degradedBelowSuccessRate) return { state: 'degraded', reason: 'success-rate', ...base };
    if (p99! > t.degradedAboveP99Ms) return { state: 'degraded', reason: 'latency', ...base };
    return { state: 'up', reason: 'ok', ...base };
  }

  it('state, reason, since, rate and percentiles match at every query', () => {
    const t: HealthThresholds = { windowMs: 40, maxSamples: 8, minSamples: 3, degradedBelowSuccessRate: 0.8, downBelowSuccessRate: 0.4, degradedAboveP99Ms: 50, downAfterConsecutiveFailures: 4 };
    const step = fc.record({
      // Often 0 or small: outcomes at the same instant, and more than maxSamples in one window.
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 25 })),
      link: fc.constantFrom('a' as const, 'b' as const),
      kind: fc.constantFrom('ok', 'fail', 'ok', 'fail', 'breaker-open', 'breaker-closed', 'query'),
      latency: fc.integer({ min: 0, max: 80 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80, size: 'max' }), (steps) => {
        const clock = fakeClock();
        const health = createHealthBoard({ now: clock.now, ...t });
        const events: Event[] = [];
        // Per link, the reference state at every point where it could change: the start of every
        // millisecond (outcomes leave the window) and after every event. `since` is the first point
        // of the final run of equal states.
        const points = new Map<string, Array<{ at: number; state: LinkState }>>();
        let last = 0;
        for (const s of steps) {
          const now = last + s.dt;
          clock.set(now);
          for (const [link, list] of points) {
            for (let x = last + 1; x <= now; x++) list.push({ at: x, state: referenceState(events, link, x, t).state });
          }
          last = now;
          if (!points.has(s.link)) points.set(s.link, [{ at: now, state: 'up' }]);
          if (s.kind === 'ok' || s.kind === 'fail') {
            const outcome = s.kind === 'ok' ? ok(s.latency) : fail(s.latency);
            events.push({ at: now, link: s.link, outcome });
            health.record(s.link, outcome);
          } else if (s.kind !== 'query') {
            events.push({ at: now, link: s.link, breaker: s.kind === 'breaker-open' });
            health.setBreaker(s.link, s.kind === 'breaker-open');
          }
          const expected = referenceState(events, s.link, now, t);
          const list = points.get(s.link)!;
          list.push({ at: now, state: expected.state });
          let first = list.length - 1;
          while (first > 0 && list[first - 1]!.state === expected.state) first--;
          const snap = health.link(s.link);
          expect({ state: snap.state, reason: snap.reason, samples: snap.samples, rate: snap.successRate, p50: snap.latencyP50Ms, p99: snap.latencyP99Ms }).toEqual(expected);
          expect(snap.since).toBe(list[first]!.at);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('health defaults', () => {
  it('match the documented thresholds', () => {
    expect(DEFAULT_HEALTH_THRESHOLDS).toEqual({ windowMs: 60_000, maxSamples: 1_000, minSamples: 20, degradedBelowSuccessRate: 0.95, downBelowSuccessRate: 0.5, degradedAboveP99Ms: 2_000, downAfterConsecutiveFailures: 5 });
  });
});
