/**
 * Route lookups per second on one core with a realistic 100,000-route table, for `bench:switch`
 * (target ≥ 1,000,000/s). The table mixes the hierarchies a consortium grows (shops, partner
 * programs with one route per outside system, bank branches, factoring pools) at depths 2 to 6, with
 * no default route; the addresses are a fixed mix of exact hits, addresses below a route, near misses
 * that fall back to a shorter prefix (`cn.loulan.shop.s12x` → `cn.loulan.shop`) and foreign addresses
 * that match nothing. Addresses are built before the clock starts, so the figure is the lookup alone.
 *
 *   npx node bench/lib/route-lookup.ts      # prints one JSON line
 *
 * @example
 * const { lookupsPerSec } = benchRouteLookup({ seconds: 2 });
 */
import { createRouteTable } from '../../switch/routing/index.ts';

export interface RouteLookupOptions {
  /** Routes in the table. Default 100,000. */
  readonly routes?: number;
  /** Measured time. Default 2 s. */
  readonly seconds?: number;
  /** Unmeasured warm-up (JIT). Default 300 ms. */
  readonly warmupMs?: number;
}

export interface RouteLookupResult {
  readonly routes: number;
  readonly lookups: number;
  readonly lookupsPerSec: number;
  /** Time to build the table from the route list, one batch. */
  readonly buildMs: number;
  /** Share of lookups that found an entry (the rest match nothing: there is no default route). */
  readonly matchedShare: number;
}

const PROGRAMS = ['airline', 'hotel', 'rail', 'fuel', 'telecom', 'bank'];
const SYSTEMS = ['evm', 'fabric', 'rest'];

/** `count` distinct route prefixes, parents included. */
export function realisticRoutes(count: number): string[] {
  const routes = new Set<string>(['cn.loulan', 'cn.loulan.shop', 'cn.loulan.partner', 'cn.loulan.bank', 'cn.loulan.factor', 'hk.loulan', 'hk.loulan.shop']);
  for (let i = 0; routes.size < count; i++) {
    switch (i % 8) {
      case 0:
      case 1:
      case 2:
        routes.add(`cn.loulan.shop.s${i}`);
        break;
      case 3:
        routes.add(`hk.loulan.shop.region${i % 40}.s${i}`);
        break;
      case 4:
        routes.add(`cn.loulan.partner.${PROGRAMS[i % PROGRAMS.length]}${i >> 4}`);
        routes.add(`cn.loulan.partner.${PROGRAMS[i % PROGRAMS.length]}${i >> 4}.${SYSTEMS[i % SYSTEMS.length]}`);
        break;
      case 5:
        routes.add(`cn.loulan.bank.b${i >> 8}.branch${i}`);
        break;
      case 6:
        routes.add(`cn.loulan.factor.f${i >> 10}.pool${i >> 3}.tranche-${'abc'[i % 3]}`);
        break;
      default:
        routes.add(`cn.loulan.partner.${PROGRAMS[i % PROGRAMS.length]}${i >> 4}.members.m${i}`);
    }
  }
  return [...routes].slice(0, count);
}

/** Addresses for the lookups: a quarter each of exact, below-a-route, near-miss and foreign. */
export function lookupAddresses(routes: readonly string[], count: number): string[] {
  const out: string[] = [];
  for (let j = 0; j < count; j++) {
    const route = routes[(j * 7919) % routes.length]!;
    switch (j % 4) {
      case 0:
        out.push(route);
        break;
      case 1:
        out.push(`${route}.orders.o${j}`);
        break;
      case 2:
        out.push(`${route}x${j % 10}.pos`);
        break;
      default:
        out.push(`us.acme.store${j}.pos.terminal${j % 7}`);
    }
  }
  return out;
}

export function benchRouteLookup(options: RouteLookupOptions = {}): RouteLookupResult {
  const count = options.routes ?? 100_000;
  const seconds = options.seconds ?? 2;
  const warmupMs = options.warmupMs ?? 300;
  const routes = realisticRoutes(count);
  const addresses = lookupAddresses(routes, 1 << 16);
  const mask = addresses.length - 1;

  const buildStart = performance.now();
  const table = createRouteTable(routes.map((prefix, i) => [prefix, i] as const));
  const buildMs = performance.now() - buildStart;

  const CHUNK = 65_536;
  let matched = 0;
  let lookups = 0;
  const warmupEnd = performance.now() + warmupMs;
  while (performance.now() < warmupEnd) {
    for (let j = 0; j < CHUNK; j++) if (table.lookup(addresses[j & mask]!) !== undefined) matched++;
  }
  matched = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let j = 0; j < CHUNK; j++) if (table.lookup(addresses[j & mask]!) !== undefined) matched++;
    lookups += CHUNK;
    now = performance.now();
  }
  const elapsed = (now - start) / 1000;
  return {
    routes: table.size,
    lookups,
    lookupsPerSec: Math.round(lookups / elapsed),
    buildMs: Math.round(buildMs),
    matchedShare: Math.round((matched / lookups) * 1000) / 1000,
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(benchRouteLookup()));
}
