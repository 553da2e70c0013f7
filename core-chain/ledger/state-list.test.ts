import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { State } from './state.ts';
import { codeOf } from './testkit.ts';

/** The page a sort of every key gives: the reference `State.list` must agree with. */
function reference(entries: ReadonlyMap<string, Uint8Array>, prefix: string, after: string, limit: number) {
  const keys = [...entries.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  return { entries: keys.slice(0, limit).map((k) => [k, entries.get(k)!] as const), more: keys.length > limit };
}

const keyArb = fc.stringMatching(/^[ab]{1,2}\/[a-c€]{0,4}$/);

describe('State.list', () => {
  it('property: a page is the first `limit` keys under the prefix after `after`, in key order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { maxLength: 60 }),
        fc.constantFrom('', 'a', 'a/', 'b/c', 'ab/'),
        fc.oneof(fc.constant(''), keyArb),
        fc.integer({ min: 1, max: 12 }),
        (keys, prefix, after, limit) => {
          const map = new Map(keys.map((k, i) => [k, Uint8Array.of(i)]));
          expect(State.fromEntries(map).list(prefix, after, limit)).toEqual(reference(map, prefix, after, limit));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('walking page by page from the last key yields every entry under the prefix exactly once', () => {
    const keys = Array.from({ length: 250 }, (_, i) => `routes/entry/p${(i * 7919) % 1000}`);
    const state = State.fromEntries([...keys.map((k) => [k, Uint8Array.of(1)] as const), ['routes/params', Uint8Array.of(2)], ['xmsg/x', Uint8Array.of(3)]]);
    const seen: string[] = [];
    let after = '';
    for (;;) {
      const page = state.list('routes/entry/', after, 32);
      seen.push(...page.entries.map(([k]) => k));
      if (!page.more) break;
      after = page.entries.at(-1)![0];
    }
    expect(seen).toEqual([...keys].sort());
  });

  it('refuses a page of no entries', () => {
    expect(codeOf(() => new State().list('', '', 0))).toBe('INTERNAL');
  });
});
