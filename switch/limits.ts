/**
 * Value limits (DESIGN §5): caps on the value a participant, or a route, may move per time window,
 * and a threshold above which a message waits for an operator's approval or a configured delay.
 *
 * The value of a message is the amount its payload moves, in the payload's own minor units: points
 * for a points order, the token or points amount of an asset transfer, the locked amount of a
 * receivable lock. Messages that move nothing (quotes, results, releases, proofs) have value 0 and
 * pass. A rule may name the types it counts, so that caps in different units are not mixed.
 *
 * Windows are sliding, kept as ten buckets per window: a sum over the buckets that overlap the last
 * `windowMs` counts a little more than the exact window (up to one bucket), never less, so a cap is
 * never exceeded. The buckets of each (rule, participant or route) are stored with the message that
 * changes them, in intake's atomic write, so a restart neither forgets nor double-counts.
 */
import { LoulanError } from '../core-chain/index.ts';
import type { TypedEnvelope } from '../schemas/index.ts';
import type { LimitDecision, ValueLimiter } from './intake.ts';

export interface CapRule {
  /** `participant`: counts per sending participant; `route`: per destination prefix. */
  readonly scope: 'participant' | 'route';
  /** Participant id, or address prefix of whole segments; `*` matches every participant or address. */
  readonly match: string;
  /** Message types counted (default: every type that moves value). */
  readonly types?: readonly string[];
  /** Most value per window, a decimal amount in minor units. */
  readonly cap: string;
  readonly windowMs: number;
}

export interface ValueLimitsConfig {
  readonly rules?: readonly CapRule[];
  /** Messages moving more than `above` are held: released by an operator, or after `delayMs` when set. */
  readonly approval?: { readonly above: string; readonly delayMs?: number };
}

const BUCKETS = 10;

interface Window {
  /** Bucket start (ms) → value counted in it (decimal string when stored). */
  buckets: Array<[number, string]>;
}

/** The value a message moves, in its payload's minor units; 0 for messages that move nothing. */
export function messageValue(envelope: TypedEnvelope): bigint {
  switch (envelope.type) {
    case 'points.exchange.request':
      return BigInt(envelope.data.points);
    case 'asset.transfer.request':
      return BigInt((envelope.data.asset as { amount?: string }).amount ?? '0');
    case 'receivable.lock.request':
      return BigInt(envelope.data.lockedAmount);
    default:
      return 0n;
  }
}

function matchesPrefix(prefix: string, address: string): boolean {
  return prefix === '*' || prefix === '' || address === prefix || address.startsWith(`${prefix}.`);
}

/**
 * A `ValueLimiter` for intake. `load(name)` reads a stored window (intake's store); windows are
 * cached after the first read.
 */
export class ValueLimits implements ValueLimiter {
  readonly #rules: readonly CapRule[];
  readonly #approval: ValueLimitsConfig['approval'];
  readonly #windows = new Map<string, Window>();

  constructor(config: ValueLimitsConfig, stored: ReadonlyMap<string, Window> = new Map()) {
    for (const [i, r] of (config.rules ?? []).entries()) {
      if (!/^(0|[1-9][0-9]*)$/.test(r.cap) || !(r.windowMs >= 1000)) {
        throw new LoulanError('CONFIG_INVALID', `value limit rule ${i} needs a decimal cap and windowMs >= 1000`, { details: { field: `/limits/rules/${i}` } });
      }
    }
    if (config.approval !== undefined && !/^(0|[1-9][0-9]*)$/.test(config.approval.above)) {
      throw new LoulanError('CONFIG_INVALID', 'limits.approval.above must be a decimal amount', { details: { field: '/limits/approval/above' } });
    }
    this.#rules = config.rules ?? [];
    this.#approval = config.approval;
    for (const [k, v] of stored) this.#windows.set(k, v);
  }

  /** Store names of the windows, for loading them at start (`limits/` prefix). */
  static readonly PREFIX = 'limits/';

  check(envelope: TypedEnvelope, now: number): { decision: LimitDecision; commit(): Array<{ name: string; value: unknown }> } {
    const value = messageValue(envelope);
    const touched: Array<{ name: string; window: Window; bucket: number; rule: CapRule }> = [];
    if (value > 0n) {
      for (const [i, rule] of this.#rules.entries()) {
        if (rule.types !== undefined && !rule.types.includes(envelope.type)) continue;
        const subject = rule.scope === 'participant' ? envelope.source : envelope.to;
        const applies = rule.scope === 'participant' ? rule.match === '*' || rule.match === subject : matchesPrefix(rule.match, subject);
        if (!applies) continue;
        const key = rule.scope === 'participant' ? subject : rule.match;
        const name = `${ValueLimits.PREFIX}${i}/${key}`;
        const window = this.#windows.get(name) ?? { buckets: [] };
        const width = Math.max(1, Math.floor(rule.windowMs / BUCKETS));
        const bucket = Math.floor(now / width) * width;
        const live = window.buckets.filter(([start]) => start + width > now - rule.windowMs);
        const used = live.reduce((sum, [, v]) => sum + BigInt(v), 0n);
        if (used + value > BigInt(rule.cap)) {
          return {
            decision: {
              kind: 'refuse',
              error: new LoulanError('INTAKE_VALUE_CAP', `${rule.scope} ${key} may move at most ${rule.cap} per ${rule.windowMs} ms (${used} used)`, {
                details: { pointer: '/data', scope: rule.scope, subject: key, cap: rule.cap, windowMs: rule.windowMs, used: used.toString(), value: value.toString() },
              }),
            },
            commit: () => [],
          };
        }
        touched.push({ name, window: { buckets: live }, bucket, rule });
      }
    }
    const hold = this.#approval !== undefined && value > BigInt(this.#approval.above);
    const decision: LimitDecision = hold
      ? { kind: 'hold', reason: `value ${value} is above the approval threshold ${this.#approval!.above}`, ...(this.#approval!.delayMs === undefined ? {} : { until: now + this.#approval!.delayMs }) }
      : { kind: 'accept' };
    return {
      decision,
      commit: () =>
        touched.map(({ name, window, bucket }) => {
          const last = window.buckets[window.buckets.length - 1];
          if (last !== undefined && last[0] === bucket) last[1] = (BigInt(last[1]) + value).toString();
          else window.buckets.push([bucket, value.toString()]);
          this.#windows.set(name, window);
          return { name, value: window };
        }),
    };
  }
}
