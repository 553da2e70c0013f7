/**
 * A route as the delivery engine sees it: the matched prefix, the link's settings, and its targets
 * each named by a stable link id.
 *
 * A link id is the first 16 hex digits of SHA-256 over the target's RFC 8785 encoding, so every
 * switch names the same target the same way without coordination, the id survives restarts (it is
 * written into message histories and the DLQ), and the same target used by two routes shares one
 * worker, one breaker and one health record. Credentials are never in a target, so the id leaks none.
 */
import { canonicalBytes, sha256, toHex } from '../../core-chain/index.ts';
import type { AdapterTarget } from '../../adapters/adapter.ts';
import type { Link } from '../../schemas/index.ts';

export interface RouteTarget {
  readonly id: string;
  readonly target: AdapterTarget;
}

export interface ResolvedRoute {
  /** The routing entry that matched ("" is the default route). */
  readonly prefix: string;
  /** The link as the routing table holds it (route.change `$defs/link`, already validated). */
  readonly link: Link;
  readonly primary: RouteTarget;
  /** Fail-over targets, most preferred first. */
  readonly alternates: readonly RouteTarget[];
}

/** The stable id of one adapter target (16 lowercase hex digits). */
export function linkId(target: object): string {
  return toHex(sha256(canonicalBytes(target))).slice(0, 16);
}

/**
 * Builds the engine's view of a routing entry; compute it once per route change, not per message.
 *
 * @example resolvedRoute('cn.loulan.test', { adapter: { kind: 'loopback', endpoint: 'memory://a' }, ordered: false, retry })
 */
export function resolvedRoute(prefix: string, link: Link): ResolvedRoute {
  const target = (t: Link['adapter']): RouteTarget => {
    const copy: AdapterTarget = { ...t };
    return { id: linkId(copy), target: copy };
  };
  return Object.freeze({ prefix, link, primary: target(link.adapter), alternates: Object.freeze((link.alternates ?? []).map(target)) });
}
