import { describe, it, expect } from 'vitest';
import { createRouteTable } from './table.ts';
import { createHealthBoard } from './health.ts';
import { createFailover, type Failover } from './failover.ts';
import { explainRoute } from './explain.ts';

interface Link {
  readonly id: string;
  readonly alternates: readonly string[];
}

const linksOf = (link: Link): { primary: string; alternates: readonly string[] } => ({ primary: link.id, alternates: link.alternates });

describe('explainRoute', () => {
  it('names the winning entry, why, its alternates with their health and the active link', () => {
    let now = 1_000;
    const health = createHealthBoard({ now: () => now });
    const table = createRouteTable<Link>([
      ['cn.loulan', { id: 'core', alternates: [] }],
      ['cn.loulan.partner.airline', { id: 'evm-a', alternates: ['evm-b'] }],
    ]);
    const selectors = new Map<string, Failover>([['cn.loulan.partner.airline', createFailover({ primary: 'evm-a', alternates: ['evm-b'], health, now: () => now })]]);
    for (let i = 0; i < 5; i++) health.record('evm-a', { ok: false, latencyMs: 100, error: { code: 'DELIVER_FAILED', message: 'refused' } });
    now = 2_000;
    const out = explainRoute(table, 'cn.loulan.partner.airline.evm', { linksOf, health, failoverOf: (prefix) => selectors.get(prefix) });
    expect(out.matched).toEqual({ prefix: 'cn.loulan.partner.airline', value: { id: 'evm-a', alternates: ['evm-b'] }, rule: 'longest-prefix' });
    expect(out.tableVersion).toBe(table.version);
    expect(out.candidates.map((c) => [c.prefix, c.hasEntry, c.chosen])).toEqual([
      ['cn.loulan.partner.airline.evm', false, false],
      ['cn.loulan.partner.airline', true, true],
      ['cn.loulan.partner', false, false],
      ['cn.loulan', true, false],
      ['cn', false, false],
      ['', false, false],
    ]);
    expect(out.why).toBe('"cn.loulan.partner.airline" is the longest prefix of "cn.loulan.partner.airline.evm" that has an entry (1 longer candidate has none); it shadows 1 shorter entry');
    expect(out.active).toEqual({ active: 'evm-b', reason: 'primary-down', since: 2_000 });
    expect(out.links.map((l) => [l.id, l.role, l.rank, l.active, l.health?.state])).toEqual([
      ['evm-a', 'primary', 0, false, 'down'],
      ['evm-b', 'alternate', 1, true, 'up'],
    ]);
    expect(out.links[0]!.health?.lastError?.code).toBe('DELIVER_FAILED');
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('says when the default route applies, and when nothing matches', () => {
    const table = createRouteTable<Link>([['cn.loulan', { id: 'core', alternates: [] }]]);
    const none = explainRoute(table, 'hk.x', { linksOf });
    expect(none).toMatchObject({ matched: null, links: [], active: null });
    expect(none.why).toBe('no prefix of "hk.x" has an entry and there is no default route');
    table.set('', { id: 'fallback', alternates: ['fallback-2'] });
    const fallback = explainRoute(table, 'hk.x', { linksOf });
    expect(fallback.matched).toMatchObject({ prefix: '', rule: 'default-route' });
    expect(fallback.why).toBe('no prefix of "hk.x" has an entry, so the default route applies');
    // Without a selector the primary is shown as active; without a board there is no health.
    expect(fallback.links).toEqual([
      { id: 'fallback', role: 'primary', rank: 0, active: true, health: null },
      { id: 'fallback-2', role: 'alternate', rank: 1, active: false, health: null },
    ]);
  });
});
