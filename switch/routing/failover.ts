/**
 * Which of a route's links to deliver on now: the primary while it is not down, otherwise the first
 * alternate (in the route's order of preference) that is not down.
 *
 * Hysteresis comes from using two different tests for leaving and for returning. The switch leaves a
 * link the moment it is down (staying on a dead link helps nobody), but returns to the primary only
 * once the primary has been `up` (not merely not-down) continuously for `holdMs`. A primary that
 * keeps falling over therefore costs one switch away and no switch back; each return is at least
 * `holdMs` after the departure before it, so a route makes at most one round trip per hold period.
 * "Continuously" is the health board's `since`, which is exact in time (see health.ts), so the
 * answer does not depend on how often `choose` is called.
 *
 * When the active alternate goes down, the first link in order primary, alternates that is not down
 * takes over, the primary included even before its hold time is up: a recovering primary is better
 * than a dead alternate. When every link is down the selector stays where it is and says so; there
 * is nothing to gain from hopping between dead links. A recovered earlier alternate does not pull
 * traffic back from a later one: only the primary is preferred enough to be worth a switch.
 *
 * One selector per route; the switch creates a new one when the route's links change.
 */
import { LoulanError } from '../../core-chain/index.ts';
import type { HealthView } from './health.ts';

export type FailoverReason =
  /** The primary is active and has not failed since the selector was created. */
  | 'primary'
  /** An alternate took over because the primary went down. */
  | 'primary-down'
  /** The active alternate went down; the next link that is not down took over. */
  | 'active-down'
  /** The primary came back after being up for the hold time. */
  | 'primary-recovered'
  /** Every link is down; the active link stays. */
  | 'all-down';

export interface FailoverDecision {
  /** The link id to deliver on. */
  readonly active: string;
  readonly reason: FailoverReason;
  /** When `active` became the active link (clock time). */
  readonly since: number;
}

export interface FailoverOptions {
  readonly primary: string;
  /** Most preferred first. */
  readonly alternates?: readonly string[];
  /** How long the primary must be up, without a break, before traffic returns to it. Default 30,000. */
  readonly holdMs?: number;
  readonly health: HealthView;
  /** The health board's clock. */
  readonly now: () => number;
}

export interface Failover {
  /** Primary first, then the alternates. */
  readonly links: readonly string[];
  readonly holdMs: number;
  /** Number of times the active link changed. */
  readonly switches: number;
  /** The last decision, without re-evaluating. */
  readonly current: FailoverDecision;
  /**
   * Re-evaluates against the health board and returns the link to use now. Returns the same object
   * while nothing changes, so it is cheap to call per message.
   *
   * @example
   * const route = createFailover({ primary: 'evm-a', alternates: ['evm-b'], health, now });
   * const { active } = route.choose(); // 'evm-b' while evm-a is down, and for 30 s after it is up
   */
  choose(): FailoverDecision;
}

export const DEFAULT_HOLD_MS = 30_000;

export function createFailover(options: FailoverOptions): Failover {
  const links = [options.primary, ...(options.alternates ?? [])];
  const fail = (field: string, message: string): never => {
    throw new LoulanError('CONFIG_INVALID', message, { details: { field } });
  };
  if (typeof options.primary !== 'string' || options.primary === '') fail('primary', 'failover needs a primary link id');
  if (links.some((id) => typeof id !== 'string' || id === '')) fail('alternates', 'failover link ids must be non-empty strings');
  if (new Set(links).size !== links.length) fail('alternates', 'a failover link is listed twice');
  const holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  if (!(Number.isFinite(holdMs) && holdMs >= 0)) fail('holdMs', 'failover holdMs must be a finite number >= 0');
  return new Selector(Object.freeze(links), holdMs, options.health, options.now);
}

class Selector implements Failover {
  readonly links: readonly string[];
  readonly holdMs: number;
  readonly #health: HealthView;
  readonly #clock: () => number;
  #decision: FailoverDecision;
  // The reason to restore when an all-down episode ends without a switch.
  #settledReason: FailoverReason = 'primary';
  #switches = 0;
  #last = -Infinity;

  constructor(links: readonly string[], holdMs: number, health: HealthView, clock: () => number) {
    this.links = links;
    this.holdMs = holdMs;
    this.#health = health;
    this.#clock = clock;
    this.#decision = Object.freeze({ active: links[0]!, reason: 'primary', since: this.#now() });
  }

  get switches(): number {
    return this.#switches;
  }

  get current(): FailoverDecision {
    return this.#decision;
  }

  choose(): FailoverDecision {
    const now = this.#now();
    const health = this.#health;
    const current = this.#decision;
    const primary = this.links[0]!;
    if (current.active !== primary) {
      const status = health.status(primary);
      if (status.state === 'up' && now - status.since >= this.holdMs) return this.#switchTo(primary, 'primary-recovered', now);
    }
    if (health.status(current.active).state !== 'down') {
      if (current.reason === 'all-down') this.#decision = Object.freeze({ ...current, reason: this.#settledReason });
      return this.#decision;
    }
    for (const link of this.links) {
      if (link !== current.active && health.status(link).state !== 'down') {
        return this.#switchTo(link, current.active === primary ? 'primary-down' : 'active-down', now);
      }
    }
    if (current.reason !== 'all-down') this.#decision = Object.freeze({ ...current, reason: 'all-down' });
    return this.#decision;
  }

  #switchTo(active: string, reason: FailoverReason, now: number): FailoverDecision {
    this.#switches++;
    this.#settledReason = reason;
    this.#decision = Object.freeze({ active, reason, since: now });
    return this.#decision;
  }

  #now(): number {
    const t = this.#clock();
    if (t > this.#last) this.#last = t;
    return this.#last;
  }
}
