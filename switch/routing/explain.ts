/**
 * `route explain ADDRESS`: which entry matched and why, what the alternates are, how each link is
 * doing and which one carries traffic now, as one JSON-ready value for the operator API and the CLI.
 *
 * Kept apart from the table and the health board so that both stay free of each other: the table
 * knows nothing of links (its values are opaque), and the caller says how to read link ids out of a
 * route's value. No I/O: it reads the table and the board, and asks the route's selector to decide
 * now, as the next delivery would, so that the answer is not stale on an idle route.
 */
import type { RouteEntry, RouteTable } from './table.ts';
import type { HealthBoard, LinkSnapshot } from './health.ts';
import type { Failover, FailoverDecision } from './failover.ts';

export interface RouteLinks {
  readonly primary: string;
  /** Most preferred first. */
  readonly alternates: readonly string[];
}

export interface ExplainOptions<T> {
  /** The link ids of a route's value. */
  readonly linksOf: (value: T) => RouteLinks;
  readonly health?: HealthBoard;
  /** The route's selector, if the switch has one for this prefix. */
  readonly failoverOf?: (prefix: string) => Failover | undefined;
}

export interface ExplainedCandidate {
  readonly prefix: string;
  readonly hasEntry: boolean;
  /** True for the winning entry only; shorter prefixes with an entry are shadowed by it. */
  readonly chosen: boolean;
}

export interface ExplainedLink {
  readonly id: string;
  readonly role: 'primary' | 'alternate';
  /** 0 for the primary, then 1, 2, ... in order of preference. */
  readonly rank: number;
  readonly active: boolean;
  readonly health: LinkSnapshot | null;
}

export interface RouteExplanation<T> {
  readonly address: string;
  readonly tableVersion: number;
  /** `rule` is `default-route` when only the empty prefix matched. */
  readonly matched: (RouteEntry<T> & { readonly rule: 'longest-prefix' | 'default-route' }) | null;
  /** One sentence for people. */
  readonly why: string;
  readonly candidates: readonly ExplainedCandidate[];
  readonly links: readonly ExplainedLink[];
  /** The selector's decision now; null when no route matched or the switch keeps no selector for it. */
  readonly active: FailoverDecision | null;
}

/**
 * @example
 * explainRoute(table, 'cn.loulan.shop.acme', { linksOf: (link) => ({ primary: link.id, alternates: link.alternateIds }), health });
 * // { matched: { prefix: 'cn.loulan.shop', rule: 'longest-prefix', ... }, why: '...', links: [...], active: {...} }
 */
export function explainRoute<T>(table: RouteTable<T>, address: string, options: ExplainOptions<T>): RouteExplanation<T> {
  const match = table.explain(address);
  const entry = match.matched;
  const candidates = match.candidates.map((c) => ({ prefix: c.prefix, hasEntry: c.hasEntry, chosen: entry !== undefined && c.prefix === entry.prefix }));
  if (entry === undefined) {
    return { address, tableVersion: match.version, matched: null, why: `no prefix of ${quote(address)} has an entry and there is no default route`, candidates, links: [], active: null };
  }
  const rule = entry.prefix === '' ? 'default-route' : 'longest-prefix';
  const decision = options.failoverOf?.(entry.prefix)?.choose() ?? null;
  const { primary, alternates } = options.linksOf(entry.value);
  const links = [primary, ...alternates].map((id, rank) => ({
    id,
    role: rank === 0 ? ('primary' as const) : ('alternate' as const),
    rank,
    active: decision === null ? rank === 0 : decision.active === id,
    health: options.health?.link(id) ?? null,
  }));
  return { address, tableVersion: match.version, matched: { prefix: entry.prefix, value: entry.value, rule }, why: why(address, entry.prefix, candidates), candidates, links, active: decision };
}

function why(address: string, prefix: string, candidates: readonly ExplainedCandidate[]): string {
  const longer = candidates.findIndex((c) => c.chosen);
  const shadowed = candidates.slice(longer + 1).filter((c) => c.hasEntry).length;
  const head =
    prefix === ''
      ? `no prefix of ${quote(address)} has an entry, so the default route applies`
      : `${quote(prefix)} is the longest prefix of ${quote(address)} that has an entry` + (longer > 0 ? ` (${longer} longer ${longer === 1 ? 'candidate has' : 'candidates have'} none)` : '');
  return shadowed > 0 ? `${head}; it shadows ${shadowed} shorter ${shadowed === 1 ? 'entry' : 'entries'}` : head;
}

function quote(text: string): string {
  return `"${text}"`;
}
