import { describe, expect, it } from 'vitest';
import type { TypedEnvelope } from '../schemas/index.ts';
import { messageValue, ValueLimits } from './limits.ts';
import { pointsOrder } from './testkit.ts';

const T0 = 1_800_000_000_000;
const order = (from: string, to: string, points: string) => {
  const m = pointsOrder(from, to, 1, {}, T0);
  return { ...m, data: { ...m.data, points } } as unknown as TypedEnvelope;
};

describe('value limits', () => {
  it('values messages by what their payload moves', () => {
    expect(messageValue(order('a.b', 'c.d', '5000'))).toBe(5000n);
    expect(messageValue({ type: 'receivable.lock.release', data: {} } as unknown as TypedEnvelope)).toBe(0n);
  });

  it('caps each participant per sliding window, and the window frees up as it slides', () => {
    const limits = new ValueLimits({ rules: [{ scope: 'participant', match: '*', cap: '10000', windowMs: 60_000 }] });
    const take = (from: string, points: string, at: number) => {
      const r = limits.check(order(from, 'cn.x', points), at);
      if (r.decision.kind === 'accept') r.commit();
      return r.decision.kind === 'refuse' ? r.decision.error.code : r.decision.kind;
    };
    expect(take('cn.a', '6000', T0)).toBe('accept');
    expect(take('cn.a', '4000', T0 + 1000)).toBe('accept');
    expect(take('cn.a', '1', T0 + 2000)).toBe('INTAKE_VALUE_CAP');
    expect(take('cn.b', '10000', T0 + 2000)).toBe('accept'); // per participant
    expect(take('cn.a', '1', T0 + 60_000 + 6_001)).toBe('accept'); // the first bucket slid out
  });

  it('never lets a window exceed its cap, whatever the arrival times (property)', () => {
    const limits = new ValueLimits({ rules: [{ scope: 'route', match: 'cn.loulan.partner', cap: '1000', windowMs: 10_000 }] });
    const log: Array<[number, bigint]> = [];
    let t = T0;
    for (let i = 0; i < 2000; i++) {
      t += Math.floor(Math.random() * 300);
      const v = BigInt(1 + Math.floor(Math.random() * 200));
      const r = limits.check(order('cn.a', 'cn.loulan.partner.sky', v.toString()), t);
      if (r.decision.kind === 'accept') {
        r.commit();
        log.push([t, v]);
      }
      const inWindow = log.filter(([at]) => at > t - 10_000).reduce((s, [, x]) => s + x, 0n);
      expect(inWindow).toBeLessThanOrEqual(1000n);
    }
    expect(log.length).toBeGreaterThan(50);
    // A route rule does not apply elsewhere.
    expect(limits.check(order('cn.a', 'cn.loulan.partnerx', '999999'), t).decision.kind).toBe('accept');
  });

  it('holds messages above the approval threshold, with a release time when a delay is set', () => {
    const limits = new ValueLimits({ approval: { above: '1000', delayMs: 30_000 } });
    expect(limits.check(order('cn.a', 'cn.b', '1000'), T0).decision).toEqual({ kind: 'accept' });
    expect(limits.check(order('cn.a', 'cn.b', '1001'), T0).decision).toMatchObject({ kind: 'hold', until: T0 + 30_000 });
  });

  it('refuses bad configuration', () => {
    expect(() => new ValueLimits({ rules: [{ scope: 'participant', match: '*', cap: '-1', windowMs: 1000 }] })).toThrowError(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
