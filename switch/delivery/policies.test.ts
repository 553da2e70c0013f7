import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, Breaker } from './policies.ts';

const policyArb = fc
  .record({ maxAttempts: fc.integer({ min: 1, max: 1000 }), initialBackoffMs: fc.integer({ min: 1, max: 3_600_000 }), maxBackoffMs: fc.integer({ min: 1, max: 86_400_000 }) });

describe('backoffDelay', () => {
  it('stays within [0, min(max, initial * 2^(attempt-1))], or exactly at Retry-After when that is later', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.option(fc.integer({ min: 0, max: 86_400_000 }), { nil: undefined }), (policy, attempt, r, retryAfter) => {
        const d = backoffDelay(policy, attempt, () => r, retryAfter);
        const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt - 1, 52));
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(retryAfter ?? 0);
        expect(d).toBeLessThanOrEqual(Math.max(ceiling, retryAfter ?? 0));
      }),
    );
  });

  it('spreads delays over the whole interval (full jitter)', () => {
    const policy = { maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 10_000 };
    expect(backoffDelay(policy, 1, () => 0)).toBe(0);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBe(100);
    expect(backoffDelay(policy, 4, () => 0.5)).toBe(400);
    expect(backoffDelay(policy, 30, () => 0.5)).toBe(5000);
    expect(backoffDelay(policy, 2, () => 0.1, 5000)).toBe(5000);
  });
});

describe('Breaker', () => {
  it('opens after N consecutive failures, probes once after the cool-down, and closes on success', () => {
    const b = new Breaker({ failures: 3, coolDownMs: 1000 });
    expect(b.record('failure', 0, false)).toBeUndefined();
    expect(b.record('success', 0, false)).toBeUndefined();
    b.record('failure', 1, false);
    b.record('failure', 2, false);
    expect(b.acquire(2)).toBe('attempt');
    expect(b.record('failure', 3, false)).toBe('open');
    expect(b.acquire(500)).toBe('wait');
    expect(b.state(1002)).toBe('open');
    expect(b.state(1003)).toBe('half-open');
    expect(b.acquire(1003)).toBe('probe');
    expect(b.acquire(1003)).toBe('wait');
    // A late failure from before the breaker opened changes nothing; the probe decides.
    expect(b.record('failure', 1004, false)).toBeUndefined();
    expect(b.record('failure', 1005, true)).toBe('open');
    expect(b.reopensAt).toBe(2005);
    expect(b.acquire(2005)).toBe('probe');
    expect(b.record('success', 2006, true)).toBe('closed');
    expect(b.acquire(2006)).toBe('attempt');
  });

  it('frees the probe slot when the probe was cut short by us', () => {
    const b = new Breaker({ failures: 1, coolDownMs: 10 });
    b.record('failure', 0, false);
    expect(b.acquire(10)).toBe('probe');
    expect(b.record('neutral', 11, true)).toBeUndefined();
    expect(b.state(11)).toBe('half-open');
    expect(b.acquire(11)).toBe('probe');
  });

  it('never lets two probes run at once, whatever the sequence of events', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('acquire', 'success', 'failure', 'neutral', 'tick'), { maxLength: 200 }), (events) => {
        const b = new Breaker({ failures: 2, coolDownMs: 5 });
        let now = 0;
        const probes: number[] = [];
        for (const e of events) {
          if (e === 'tick') now += 3;
          else if (e === 'acquire') {
            const grant = b.acquire(now);
            if (grant === 'probe') {
              expect(probes).toEqual([]);
              probes.push(now);
            }
            if (b.state(now) === 'open') expect(grant).toBe('wait');
          } else {
            b.record(e, now, probes.length > 0);
            probes.length = 0;
          }
        }
      }),
    );
  });
});
