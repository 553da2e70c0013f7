import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../../core-chain/index.ts';
import { createFailover, DEFAULT_HOLD_MS, type FailoverDecision } from './failover.ts';
import { createHealthBoard, type HealthView, type LinkState, type LinkStatus } from './health.ts';

/** A health view whose states the test sets directly; `since` moves only when the state changes. */
class ScriptedHealth implements HealthView {
  readonly #links = new Map<string, LinkStatus>();
  set(link: string, state: LinkState, at: number): void {
    const current = this.#links.get(link);
    if (current?.state !== state) this.#links.set(link, { state, reason: 'ok', since: at });
  }
  status(link: string): LinkStatus {
    return this.#links.get(link) ?? { state: 'up', reason: 'no-samples', since: 0 };
  }
}

function codeOf(fn: () => unknown): { code: string; details: Readonly<Record<string, unknown>> } | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code, details: error.details };
    throw error;
  }
  return undefined;
}

const HOLD = 30_000;

describe('failover: leaving and returning', () => {
  it('moves to the first alternate that is not down, and back only after the hold time', () => {
    let now = 0;
    const health = new ScriptedHealth();
    const route = createFailover({ primary: 'p', alternates: ['a1', 'a2'], holdMs: HOLD, health, now: () => now });
    expect(route.choose()).toEqual({ active: 'p', reason: 'primary', since: 0 });
    health.set('p', 'degraded', (now = 1_000));
    expect(route.choose().active).toBe('p'); // degraded is not down
    health.set('a1', 'down', now);
    health.set('p', 'down', (now = 2_000));
    expect(route.choose()).toEqual({ active: 'a2', reason: 'primary-down', since: 2_000 });
    health.set('p', 'up', (now = 3_000));
    now = 3_000 + HOLD - 1;
    expect(route.choose().active).toBe('a2');
    now = 3_000 + HOLD;
    expect(route.choose()).toEqual({ active: 'p', reason: 'primary-recovered', since: now });
    expect(route.switches).toBe(2);
  });

  it('a dead alternate hands over to the next link that is not down, the primary included', () => {
    let now = 0;
    const health = new ScriptedHealth();
    const route = createFailover({ primary: 'p', alternates: ['a1', 'a2'], holdMs: HOLD, health, now: () => now });
    health.set('p', 'down', (now = 10));
    expect(route.choose().active).toBe('a1');
    health.set('a1', 'down', (now = 20));
    expect(route.choose()).toEqual({ active: 'a2', reason: 'active-down', since: 20 });
    health.set('p', 'degraded', (now = 30));
    health.set('a2', 'down', (now = 40));
    expect(route.choose()).toEqual({ active: 'p', reason: 'active-down', since: 40 });
  });

  it('stays put when every link is down, and says so until one recovers', () => {
    let now = 0;
    const health = new ScriptedHealth();
    const route = createFailover({ primary: 'p', alternates: ['a1'], holdMs: HOLD, health, now: () => now });
    health.set('p', 'down', (now = 10));
    health.set('a1', 'down', now);
    expect(route.choose()).toEqual({ active: 'p', reason: 'all-down', since: 0 });
    health.set('a1', 'up', (now = 20));
    expect(route.choose()).toEqual({ active: 'a1', reason: 'primary-down', since: 20 });
    health.set('a1', 'down', (now = 30));
    expect(route.choose()).toEqual({ active: 'a1', reason: 'all-down', since: 20 });
    health.set('a1', 'degraded', (now = 40));
    expect(route.choose()).toEqual({ active: 'a1', reason: 'primary-down', since: 20 });
  });

  it('returns the same decision object while nothing changes', () => {
    const health = new ScriptedHealth();
    const route = createFailover({ primary: 'p', health, now: () => 0 });
    expect(route.choose()).toBe(route.choose());
    expect(route.holdMs).toBe(DEFAULT_HOLD_MS);
    expect(route.links).toEqual(['p']);
  });

  it('validates its links and hold time', () => {
    const health = new ScriptedHealth();
    const now = (): number => 0;
    expect(codeOf(() => createFailover({ primary: '', health, now }))).toEqual({ code: 'CONFIG_INVALID', details: { field: 'primary' } });
    expect(codeOf(() => createFailover({ primary: 'p', alternates: ['a', 'p'], health, now }))).toEqual({ code: 'CONFIG_INVALID', details: { field: 'alternates' } });
    expect(codeOf(() => createFailover({ primary: 'p', holdMs: -1, health, now }))).toEqual({ code: 'CONFIG_INVALID', details: { field: 'holdMs' } });
  });
});

describe('failover: hysteresis properties (scripted health, driven clock)', () => {
  const state = fc.constantFrom<LinkState>('up', 'up', 'degraded', 'down');
  const step = fc.record({ dt: fc.integer({ min: 0, max: 45_000 }), link: fc.constantFrom('p', 'p', 'a1', 'a2'), state, choose: fc.boolean() });

  it('never sits on a down link while another is not down, and never moves without cause', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
        let now = 0;
        const health = new ScriptedHealth();
        const route = createFailover({ primary: 'p', alternates: ['a1', 'a2'], holdMs: HOLD, health, now: () => now });
        let previous = route.choose();
        for (const s of steps) {
          now += s.dt;
          health.set(s.link, s.state, now);
          if (!s.choose) continue;
          const decision = route.choose();
          const down = (link: string): boolean => health.status(link).state === 'down';
          if (down(decision.active)) expect(route.links.every(down)).toBe(true);
          const primary = health.status('p');
          const primaryHeld = primary.state === 'up' && now - primary.since >= HOLD;
          if (decision.active !== 'p') expect(primaryHeld).toBe(false);
          if (decision.active !== previous.active) {
            expect(down(previous.active) || (decision.active === 'p' && primaryHeld)).toBe(true);
            expect(decision.since).toBe(now);
          }
          previous = decision;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('with a healthy alternate, a flapping primary costs at most one round trip per hold period', () => {
    const primaryStep = fc.record({ dt: fc.integer({ min: 1, max: 40_000 }), state, choose: fc.boolean() });
    fc.assert(
      fc.property(fc.array(primaryStep, { maxLength: 150 }), (steps) => {
        let now = 0;
        const health = new ScriptedHealth();
        const route = createFailover({ primary: 'p', alternates: ['a1'], holdMs: HOLD, health, now: () => now });
        const switches: FailoverDecision[] = [];
        let previous = route.choose();
        for (const s of steps) {
          now += s.dt;
          health.set('p', s.state, now);
          if (!s.choose) continue;
          const decision = route.choose();
          if (decision.active !== previous.active) switches.push(decision);
          previous = decision;
        }
        switches.forEach((d, i) => {
          expect(d.active).toBe(i % 2 === 0 ? 'a1' : 'p');
          if (i >= 1 && d.active === 'p') expect(d.since - switches[i - 1]!.since).toBeGreaterThanOrEqual(HOLD);
          if (i >= 2) expect(d.since - switches[i - 2]!.since).toBeGreaterThanOrEqual(HOLD);
        });
        expect(route.switches).toBe(switches.length);
      }),
      { numRuns: 500 },
    );
  });

  it('a primary that is never up for the hold time is left once; a lasting recovery returns exactly once, on time', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 29 }), fc.integer({ min: 1, max: 60 })), { minLength: 1, maxLength: 30 }), (flaps) => {
        // Time in whole seconds; choose() is called every second, as the delivery loop would.
        const health = new ScriptedHealth();
        let now = 0;
        const route = createFailover({ primary: 'p', alternates: ['a1'], holdMs: HOLD, health, now: () => now });
        const run = (seconds: number, state: LinkState): void => {
          for (let i = 0; i < seconds; i++) {
            health.set('p', state, now);
            route.choose();
            now += 1_000;
          }
        };
        for (const [upSeconds, downSeconds] of flaps) {
          run(downSeconds, 'down');
          run(upSeconds, 'up'); // shorter than the hold time
        }
        expect(route.switches).toBe(1);
        expect(route.current.active).toBe('a1');
        const recoveredAt = health.status('p').since;
        run(120, 'up');
        expect(route.switches).toBe(2);
        expect(route.current).toEqual({ active: 'p', reason: 'primary-recovered', since: recoveredAt + HOLD });
      }),
      { numRuns: 200 },
    );
  });
});

describe('failover on the live health board', () => {
  // One delivery per second on the active link and one probe per second on each other link.
  function drive(primaryOk: (second: number) => boolean, seconds: number): { switches: Array<{ at: number; active: string }>; board: ReturnType<typeof createHealthBoard> } {
    let now = 0;
    const board = createHealthBoard({ now: () => now });
    const route = createFailover({ primary: 'evm-a', alternates: ['evm-b'], holdMs: HOLD, health: board, now: () => now });
    const switches: Array<{ at: number; active: string }> = [];
    let active = route.choose().active;
    for (let second = 0; second < seconds; second++) {
      now = second * 1_000;
      const up = primaryOk(second);
      board.record('evm-a', up ? { ok: true, latencyMs: 20 } : { ok: false, latencyMs: 5_000, error: { code: 'DELIVER_FAILED', message: 'timeout' } });
      board.record('evm-b', { ok: true, latencyMs: 30 });
      const decision = route.choose();
      if (decision.active !== active) switches.push({ at: now, active: decision.active });
      active = decision.active;
    }
    return { switches, board };
  }

  it('destination down: health flips, the alternate takes over, the primary returns once after the hold', () => {
    const { switches, board } = drive((s) => s < 10 || s >= 40, 400);
    // Down at the fifth consecutive failure (second 14); back once, 30 s after it has been up again.
    expect(switches[0]).toEqual({ at: 14_000, active: 'evm-b' });
    expect(switches).toHaveLength(2);
    expect(switches[1]!.active).toBe('evm-a');
    const upSince = switches[1]!.at - HOLD;
    expect(upSince).toBeGreaterThan(40_000);
    expect(board.link('evm-a')).toMatchObject({ state: 'up', successRate: 1 });
    expect(board.link('evm-a').lastError).toMatchObject({ code: 'DELIVER_FAILED', at: 39_000 });
  });

  it('a primary flapping every few seconds is left once and not returned to while it flaps', () => {
    const { switches } = drive((s) => s < 10 || (s < 300 && Math.floor(s / 5) % 2 === 0) || s >= 300, 600);
    expect(switches[0]!.active).toBe('evm-b');
    expect(switches[0]!.at).toBeLessThan(20_000);
    expect(switches).toHaveLength(2);
    expect(switches[1]!.active).toBe('evm-a');
    expect(switches[1]!.at).toBeGreaterThanOrEqual(300_000 + HOLD);
  });
});
