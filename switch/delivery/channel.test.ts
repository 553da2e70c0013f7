import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderedChannel } from './channel.ts';

describe('OrderedChannel', () => {
  it('lets seqs go strictly in order from 1, holding and reporting a gap', () => {
    const c = new OrderedChannel<string>('s', 't');
    c.join(2n, 'two', 10);
    expect(c.mayGo(2n)).toBe(false);
    expect(c.gapSince).toBe(10);
    c.join(1n, 'one', 20);
    expect(c.gapSince).toBeUndefined();
    expect(c.head()).toBe('one');
    expect(c.finish(1n, 30)).toBe(true);
    expect(c.head()).toBe('two');
    expect(c.toJson()).toEqual({ next: '2' });
  });

  it('steps over numbers that ended while waiting, also from its stored form', () => {
    const c = new OrderedChannel<string>('s', 't');
    c.join(3n, 'three', 0);
    c.join(4n, 'four', 0);
    expect(c.finish(3n, 1)).toBe(true);
    expect(c.toJson()).toEqual({ next: '1', done: ['3'] });
    const restored = new OrderedChannel<string>('s', 't', c.toJson());
    restored.join(4n, 'four', 2);
    restored.join(1n, 'one', 2);
    restored.finish(1n, 3);
    expect(restored.head()).toBeUndefined();
    expect(restored.gapSince).toBe(3);
    restored.join(2n, 'two', 4);
    restored.finish(2n, 5);
    expect(restored.next).toBe(4n);
    expect(restored.head()).toBe('four');
  });

  it('lets a replayed (lower) seq go ungated without holding the channel', () => {
    const c = new OrderedChannel<string>('s', 't', { next: '5' });
    c.join(2n, 'replayed', 0);
    expect(c.mayGo(2n)).toBe(true);
    expect(c.gapSince).toBeUndefined();
    expect(c.finish(2n, 1)).toBe(false);
    expect(c.next).toBe(5n);
  });

  it('skips a gap up to the lowest waiting seq', () => {
    const c = new OrderedChannel<string>('s', 't', { next: '2', done: ['3'] });
    c.join(6n, 'six', 0);
    expect(c.skipGap(1)).toEqual([2n, 4n, 5n]);
    expect(c.head()).toBe('six');
    expect(c.gapSince).toBeUndefined();
    expect(c.skipGap(2)).toEqual([]);
  });

  it('finishes every seq exactly in order whatever the arrival and finishing order (model check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }).chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()], { minLength: n }))), ([n, arrival]) => {
        const c = new OrderedChannel<number>('s', 't');
        const delivered: number[] = [];
        const waiting = new Set<number>();
        const pump = (): void => {
          for (let head = c.head(); head !== undefined && waiting.has(head); head = c.head()) {
            waiting.delete(head);
            delivered.push(head);
            c.finish(BigInt(head), 0);
          }
        };
        for (const i of arrival) {
          const seq = i + 1;
          c.join(BigInt(seq), seq, 0);
          waiting.add(seq);
          if (c.mayGo(BigInt(seq))) pump();
          // Held exactly when something waits and the next seq has not arrived.
          expect(c.gapSince !== undefined).toBe(waiting.size > 0 && !waiting.has(Number(c.next)));
        }
        expect(delivered).toEqual([...Array(n).keys()].map((i) => i + 1));
        expect(c.next).toBe(BigInt(n + 1));
      }),
    );
  });
});
