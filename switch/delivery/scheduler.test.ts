import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.ts';
import { ManualTime } from './testkit.ts';

function drive(time: ManualTime, until: number): void {
  for (;;) {
    const due = time.nextDue();
    if (due === undefined || due > until) break;
    time.now = Math.max(time.now, due);
    time.fire();
  }
  time.now = until;
}

describe('Scheduler', () => {
  it('runs items in due order (ties in scheduling order), skipping cancelled ones, with one timer armed', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 60 }), (items) => {
        const time = new ManualTime(0);
        const scheduler = new Scheduler(time.clock, time);
        const ran: number[] = [];
        const handles = items.map(([at], i) => scheduler.at(at, () => ran.push(i)));
        items.forEach(([, cancel], i) => cancel && handles[i]!.cancel());
        expect(scheduler.size).toBe(items.filter(([, c]) => !c).length);
        drive(time, 100);
        const expected = items
          .map(([at, cancel], i) => ({ at, cancel, i }))
          .filter((x) => !x.cancel)
          .sort((a, b) => a.at - b.at || a.i - b.i)
          .map((x) => x.i);
        expect(ran).toEqual(expected);
        expect(scheduler.size).toBe(0);
        expect(time.nextDue()).toBeUndefined();
      }),
    );
  });

  it('runs what a callback schedules for now in the same turn, and later items only when due', () => {
    const time = new ManualTime(0);
    const scheduler = new Scheduler(time.clock, time);
    const ran: string[] = [];
    scheduler.at(10, () => {
      ran.push('a');
      scheduler.at(10, () => ran.push('b'));
      scheduler.at(20, () => ran.push('c'));
    });
    time.now = 10;
    time.fire();
    expect(ran).toEqual(['a', 'b']);
    expect(time.nextDue()).toBe(20);
    drive(time, 20);
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('runs nothing after stop', () => {
    const time = new ManualTime(0);
    const scheduler = new Scheduler(time.clock, time);
    let ran = false;
    scheduler.at(5, () => (ran = true));
    scheduler.stop();
    drive(time, 10);
    expect(ran).toBe(false);
    expect(time.nextDue()).toBeUndefined();
  });

  it('re-arms for due times beyond what one timer can wait', () => {
    const time = new ManualTime(0);
    const scheduler = new Scheduler(time.clock, time);
    let ran = false;
    const far = 2 ** 31 + 1000;
    scheduler.at(far, () => (ran = true));
    expect(time.nextDue()).toBe(2 ** 31 - 1);
    drive(time, far - 1);
    expect(ran).toBe(false);
    drive(time, far);
    expect(ran).toBe(true);
  });
});
