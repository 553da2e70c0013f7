import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../../core-chain/index.ts';
import { listSchemas } from '../../schemas/index.ts';
import { ADDRESS_PATTERN, MAX_ADDRESS_LENGTH, comparePrefixes, createRouteTable, isRoutePrefix, type RouteChange } from './table.ts';

/** The rule, written the slow and obvious way: the longest entry that is the address or a parent of it. */
function referenceLookup(model: ReadonlyMap<string, number>, address: string): string | undefined {
  let best: string | undefined;
  for (const prefix of model.keys()) {
    const matches = prefix === '' || address === prefix || address.startsWith(`${prefix}.`);
    if (matches && (best === undefined || prefix.length > best.length)) best = prefix;
  }
  return best;
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

// Few, overlapping segments, so that random prefixes and addresses share parents, differ by one
// character (`ab` / `ab-c`) and collide in the hash table's probe runs.
const segment = fc.constantFrom('a', 'b', 'ab', 'ab-c', 'b0', '0', 'shop', 'shopping');
const prefixArb = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => s.join('.'));
const addressArb = fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join('.'));
const changeArb: fc.Arbitrary<RouteChange<number>> = fc.oneof(
  fc.record({ op: fc.constant('upsert' as const), prefix: prefixArb, value: fc.integer() }),
  fc.record({ op: fc.constant('delete' as const), prefix: prefixArb }),
);

describe('RouteTable: longest prefix of whole segments', () => {
  it('matches whole segments only, and falls back to shorter prefixes and the default route', () => {
    const table = createRouteTable<string>([
      ['cn.loulan.shop', 'shops'],
      ['cn.loulan', 'loulan'],
    ]);
    expect(table.lookup('cn.loulan.shop.acme')?.prefix).toBe('cn.loulan.shop');
    expect(table.lookup('cn.loulan.shop')?.value).toBe('shops');
    expect(table.lookup('cn.loulan.shopping')?.prefix).toBe('cn.loulan');
    expect(table.lookup('cn.loulanx')).toBeUndefined();
    expect(table.lookup('hk.loulan.shop')).toBeUndefined();
    table.set('', 'default');
    expect(table.lookup('hk.loulan.shop')?.prefix).toBe('');
    expect(table.lookup('cn.loulanx')?.value).toBe('default');
  });

  it('agrees with a brute-force reference over random tables, deletes and the default route', () => {
    fc.assert(
      fc.property(fc.array(fc.array(changeArb, { minLength: 1, maxLength: 8 }), { maxLength: 12 }), fc.array(addressArb, { minLength: 1, maxLength: 20 }), (batches, addresses) => {
        const table = createRouteTable<number>();
        const model = new Map<string, number>();
        for (const batch of batches) {
          table.applyBatch(batch);
          for (const change of batch) {
            if (change.op === 'upsert') model.set(change.prefix, change.value);
            else model.delete(change.prefix);
          }
          expect(table.size).toBe(model.size);
          for (const address of [...addresses, ...model.keys()]) {
            const expected = referenceLookup(model, address);
            const got = table.lookup(address);
            expect(got?.prefix).toBe(expected);
            if (expected !== undefined) expect(got?.value).toBe(model.get(expected));
          }
          for (const prefix of model.keys()) expect(table.get(prefix)?.value).toBe(model.get(prefix));
          expect(table.entries().map((e) => [e.prefix, e.value])).toEqual([...model].sort((a, b) => comparePrefixes(a[0], b[0])));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('set and delete one at a time agree with the reference, down to an empty table', () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 60 }), addressArb, (changes, address) => {
        const table = createRouteTable<number>();
        const model = new Map<string, number>();
        for (const change of changes) {
          if (change.op === 'upsert') {
            table.set(change.prefix, change.value);
            model.set(change.prefix, change.value);
          } else {
            expect(table.delete(change.prefix)).toBe(model.delete(change.prefix));
          }
          expect(table.lookup(address)?.prefix).toBe(referenceLookup(model, address));
        }
        for (const prefix of [...model.keys()]) {
          expect(table.delete(prefix)).toBe(true);
          model.delete(prefix);
          for (const rest of model.keys()) expect(table.lookup(rest)?.prefix).toBe(referenceLookup(model, rest));
        }
        expect(table.size).toBe(0);
        expect(table.lookup(address)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('keeps prefixes whose hashes collide apart', () => {
    // Distinct prefixes of equal length with the same 32-bit FNV-1a hash.
    const [a, b] = ['cn.7w37aaa', 'cn.bnaacaa'];
    const table = createRouteTable<string>([[a, 'A']]);
    expect(table.lookup(`${b}.x`)).toBeUndefined();
    table.set(b, 'B');
    expect(table.lookup(`${a}.x`)?.value).toBe('A');
    expect(table.lookup(`${b}.x`)?.value).toBe('B');
    expect(table.delete(a)).toBe(true);
    expect(table.lookup(`${a}.x`)).toBeUndefined();
    expect(table.lookup(b)?.value).toBe('B');
  });

  it('hands out the stored, frozen entry: a lookup allocates nothing', () => {
    const table = createRouteTable<{ link: string }>([['cn.loulan', { link: 'l1' }]]);
    const first = table.lookup('cn.loulan.a');
    expect(first).toBe(table.lookup('cn.loulan.b.c'));
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('builds and answers a 100,000-route table', () => {
    const routes: string[] = ['cn.loulan', 'cn.loulan.shop', 'cn.loulan.partner', 'hk.loulan.shop'];
    for (let i = 0; routes.length < 100_000; i++) {
      if (i % 3 === 0) routes.push(`cn.loulan.shop.s${i}`);
      else if (i % 3 === 1) routes.push(`cn.loulan.partner.p${i >> 4}.sys${i}`);
      else routes.push(`hk.loulan.shop.r${i % 37}.s${i}.pos`);
    }
    const table = createRouteTable(routes.map((prefix, i) => [prefix, i] as const));
    expect(table.size).toBe(100_000);
    const set = new Set(routes);
    // Reference: probe every parent in a Set, longest first (independent of the table's hashing).
    const expected = (address: string): string | undefined => {
      for (let p = address; ; p = p.slice(0, p.lastIndexOf('.'))) {
        if (set.has(p)) return p;
        if (!p.includes('.')) return set.has('') ? '' : undefined;
      }
    };
    const check = (): void => {
      const wrong: string[] = [];
      for (let j = 0; j < 25_000; j++) {
        const route = routes[(j * 7919) % routes.length]!;
        for (const address of [route, `${route}.orders.o${j}`, `${route}x.pos`, `us.acme.s${j}`]) {
          if (table.lookup(address)?.prefix !== expected(address)) wrong.push(address);
        }
      }
      expect(wrong).toEqual([]);
    };
    check();
    const removed = routes.filter((_, i) => i % 2 === 1);
    const result = table.applyBatch(removed.map((prefix) => ({ op: 'delete' as const, prefix })));
    expect(result.removed).toBe(50_000);
    for (const prefix of removed) set.delete(prefix);
    expect(table.size).toBe(50_000);
    table.set('', -1);
    set.add('');
    check();
  });
});

describe('RouteTable: batches and versions', () => {
  it('applies a batch as a whole and counts one version per batch', () => {
    const table = createRouteTable<number>();
    expect(table.version).toBe(0);
    const result = table.applyBatch([
      { op: 'upsert', prefix: 'a', value: 1 },
      { op: 'upsert', prefix: 'a.b', value: 2 },
      { op: 'delete', prefix: 'a' },
      { op: 'delete', prefix: 'missing' },
    ]);
    expect(result).toEqual({ version: 1, upserted: 2, removed: 1 });
    expect(table.lookup('a.b.c')?.value).toBe(2);
    expect(table.lookup('a.c')).toBeUndefined();
  });

  it('refuses a batch with a malformed prefix without applying any of it', () => {
    const table = createRouteTable<number>([['a', 1]]);
    const before = table.version;
    const error = codeOf(() =>
      table.applyBatch([
        { op: 'upsert', prefix: 'b', value: 2 },
        { op: 'delete', prefix: 'a' },
        { op: 'upsert', prefix: 'Bad.Prefix', value: 3 },
      ]),
    );
    expect(error).toEqual({ code: 'ROUTE_INVALID', details: { pointer: '/2/prefix', index: 2 } });
    expect(table.version).toBe(before);
    expect(table.lookup('a.x')?.value).toBe(1);
    expect(table.lookup('b')).toBeUndefined();
    expect(codeOf(() => table.applyBatch([{ op: 'rename' as 'delete', prefix: 'a' }]))).toEqual({ code: 'ROUTE_INVALID', details: { pointer: '/0/op', index: 0 } });
  });

  it('checks prefixes with the address pattern of the schemas', () => {
    const common = listSchemas().find((doc) => doc.role === 'common')!.document as { $defs: { address: { pattern: string; maxLength: number } } };
    expect(ADDRESS_PATTERN).toBe(common.$defs.address.pattern);
    expect(MAX_ADDRESS_LENGTH).toBe(common.$defs.address.maxLength);
    for (const good of ['', 'cn', 'cn.loulan.shop-1', '0.a-b.z9', `${'a'.repeat(63)}.b`]) expect(isRoutePrefix(good)).toBe(true);
    for (const bad of ['.', 'cn.', '.cn', 'cn..x', 'Cn', 'cn.-a', 'cn.a-', 'cn_x', `${'a'.repeat(64)}.b`, `${'a.'.repeat(127)}a`]) expect(isRoutePrefix(bad)).toBe(false);
  });
});

describe('RouteTable: explain and entries', () => {
  it('lists every candidate from longest to the default route, and the winner', () => {
    const table = createRouteTable<string>([
      ['cn.loulan', 'l'],
      ['cn', 'c'],
    ]);
    const match = table.explain('cn.loulan.shop.acme');
    expect(match.matched?.prefix).toBe('cn.loulan');
    expect(match.version).toBe(table.version);
    expect(match.candidates).toEqual([
      { prefix: 'cn.loulan.shop.acme', hasEntry: false },
      { prefix: 'cn.loulan.shop', hasEntry: false },
      { prefix: 'cn.loulan', hasEntry: true },
      { prefix: 'cn', hasEntry: true },
      { prefix: '', hasEntry: false },
    ]);
    expect(table.explain('hk').matched).toBeUndefined();
  });

  it('agrees with lookup on random tables', () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 20 }), addressArb, (changes, address) => {
        const table = createRouteTable<number>();
        table.applyBatch(changes);
        const match = table.explain(address);
        expect(match.matched).toBe(table.lookup(address));
        expect(match.candidates.find((c) => c.hasEntry)?.prefix).toBe(match.matched?.prefix);
        expect(match.candidates.at(-1)?.prefix).toBe('');
      }),
    );
  });

  it('orders entries parents first', () => {
    const table = createRouteTable<number>(['cn.loulan-x', 'cn.loulan.shop', '', 'cn.loulan', 'cn.a'].map((p, i) => [p, i] as const));
    expect(table.entries().map((e) => e.prefix)).toEqual(['', 'cn.a', 'cn.loulan', 'cn.loulan.shop', 'cn.loulan-x']);
  });
});
