/**
 * Live health of the switch's links: what the delivery workers saw (outcomes, latencies, errors) and
 * what they report (queue depth, oldest queued message, circuit breaker), turned into up / degraded /
 * down with a reason and the time the link has been in that state.
 *
 * A pure state machine over an injected clock, so that failover can be tested by driving the clock.
 * The window is the last `windowMs` of outcomes, capped at `maxSamples`. The state is kept exact as
 * a function of time, not only at the moments someone asks: when outcomes leave the window (which
 * can change the state while nobody records anything), each departure is replayed at the instant it
 * happened. That makes `since` trustworthy, and failover's "up continuously for the hold time" rests
 * on it. To keep a replay cheap, the latencies in the window are held sorted (insertion into a typed
 * array), so the success rate and the percentiles cost O(1) to read and O(window) to update.
 *
 * Consecutive failures are counted across the window and reset only by a success: a link that failed
 * and then went silent stays down until an outcome (a delivery or a health probe) proves otherwise.
 * Queue gauges are reported, not judged: a long queue may be a held ordered channel, not a bad link.
 * The clock should be monotonic; a clock that steps back is held at the latest time seen.
 */
import { LoulanError } from '../../core-chain/index.ts';

export type LinkState = 'up' | 'degraded' | 'down';

/** Why the link is in its state; the first rule that applies, in this order. */
export type HealthReason =
  | 'breaker-open'
  | 'consecutive-failures'
  | 'success-rate'
  | 'latency'
  | 'ok'
  /** Fewer outcomes in the window than `minSamples`: too few to judge rate or latency. */
  | 'few-samples'
  | 'no-samples';

/** One delivery attempt (or health probe) as the caller saw it. */
export interface Outcome {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface HealthThresholds {
  /** Outcomes older than this leave the window. Default 60,000. */
  readonly windowMs: number;
  /** At most this many outcomes are kept per link (the oldest leave first). Default 1,000. */
  readonly maxSamples: number;
  /** Success rate and latency are judged only with at least this many outcomes. Default 20. */
  readonly minSamples: number;
  /** Degraded below this success rate. Default 0.95. */
  readonly degradedBelowSuccessRate: number;
  /** Down below this success rate. Default 0.5. */
  readonly downBelowSuccessRate: number;
  /** Degraded when the p99 latency is above this. Default 2,000 ms. */
  readonly degradedAboveP99Ms: number;
  /** Down after this many failures in a row. Default 5. */
  readonly downAfterConsecutiveFailures: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = Object.freeze({
  windowMs: 60_000,
  maxSamples: 1_000,
  minSamples: 20,
  degradedBelowSuccessRate: 0.95,
  downBelowSuccessRate: 0.5,
  degradedAboveP99Ms: 2_000,
  downAfterConsecutiveFailures: 5,
});

export interface HealthOptions extends Partial<HealthThresholds> {
  /** Milliseconds, monotonic; inject a fake to drive tests. */
  readonly now: () => number;
}

export interface LinkStatus {
  readonly state: LinkState;
  readonly reason: HealthReason;
  /** When the link entered `state` (clock time); unchanged while only the reason changes. */
  readonly since: number;
}

/** The JSON-ready view of one link. Times are clock milliseconds; null where there is nothing to say. */
export interface LinkSnapshot extends LinkStatus {
  readonly link: string;
  readonly samples: number;
  readonly successRate: number | null;
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  readonly consecutiveFailures: number;
  readonly breakerOpen: boolean;
  readonly queueDepth: number;
  readonly oldestAgeMs: number | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | null;
  readonly lastOutcomeAt: number | null;
}

export interface HealthSnapshot {
  readonly at: number;
  readonly windowMs: number;
  /** Sorted by link id. */
  readonly links: readonly LinkSnapshot[];
}

/** What failover needs to know about a link. */
export interface HealthView {
  status(link: string): LinkStatus;
}

export interface HealthBoard extends HealthView {
  /** Counts an outcome at the clock's current time; returns the link's status after it. */
  record(link: string, outcome: Outcome): LinkStatus;
  /**
   * Sets the queue gauges. Pass the time the oldest queued message was enqueued (not its age), so
   * that the age reported later is current without another call; omit it when the queue is empty.
   */
  setQueue(link: string, depth: number, oldestEnqueuedAt?: number): void;
  /** The delivery layer's circuit breaker opened or closed; an open breaker means down. */
  setBreaker(link: string, open: boolean): LinkStatus;
  /** Status now. A link seen for the first time starts up (`no-samples`) from this moment. */
  status(link: string): LinkStatus;
  link(link: string): LinkSnapshot;
  snapshot(): HealthSnapshot;
  /** Drops a link that no route uses any more; false if it was unknown. */
  forget(link: string): boolean;
}

/**
 * @example
 * const health = createHealthBoard({ now: () => performance.now() });
 * health.record('evm-main', { ok: false, latencyMs: 30_000, error: { code: 'DELIVER_FAILED', message: 'timeout' } });
 * health.status('evm-main'); // { state: 'up', reason: 'few-samples', since: … } until failures add up
 */
export function createHealthBoard(options: HealthOptions): HealthBoard {
  return new Board(checkThresholds(options), options.now);
}

function checkThresholds(options: Partial<HealthThresholds>): HealthThresholds {
  const t: HealthThresholds = { ...DEFAULT_HEALTH_THRESHOLDS };
  for (const key of Object.keys(DEFAULT_HEALTH_THRESHOLDS) as Array<keyof HealthThresholds>) {
    const value = options[key];
    if (value !== undefined) (t as { -readonly [K in keyof HealthThresholds]: number })[key] = value;
  }
  const fail = (field: string): never => {
    throw new LoulanError('CONFIG_INVALID', `health threshold ${field} is out of range`, { details: { field } });
  };
  if (!(Number.isFinite(t.windowMs) && t.windowMs > 0)) fail('windowMs');
  if (!(Number.isInteger(t.maxSamples) && t.maxSamples >= 1 && t.maxSamples <= 100_000)) fail('maxSamples');
  if (!(Number.isInteger(t.minSamples) && t.minSamples >= 1 && t.minSamples <= t.maxSamples)) fail('minSamples');
  if (!(t.degradedBelowSuccessRate >= 0 && t.degradedBelowSuccessRate <= 1)) fail('degradedBelowSuccessRate');
  if (!(t.downBelowSuccessRate >= 0 && t.downBelowSuccessRate <= t.degradedBelowSuccessRate)) fail('downBelowSuccessRate');
  if (!(t.degradedAboveP99Ms > 0)) fail('degradedAboveP99Ms');
  if (!(Number.isInteger(t.downAfterConsecutiveFailures) && t.downAfterConsecutiveFailures >= 1)) fail('downAfterConsecutiveFailures');
  return Object.freeze(t);
}

const MAX_ERROR_MESSAGE = 512;

/** Nearest-rank percentile of a sorted prefix of `values`. */
function percentile(sorted: Float64Array, n: number, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * n) - 1)]!;
}

/** First index in sorted[0, n) whose value is >= x. */
function lowerBound(sorted: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class LinkRecord {
  // Ring buffer of the window's outcomes, oldest at `head`.
  readonly times: Float64Array;
  readonly latencies: Float64Array;
  readonly oks: Uint8Array;
  head = 0;
  count = 0;
  okCount = 0;
  // The window's latencies, ascending, in sorted[0, count).
  readonly sorted: Float64Array;
  consecutiveFailures = 0;
  breakerOpen = false;
  queueDepth = 0;
  oldestEnqueuedAt: number | undefined = undefined;
  lastError: LinkSnapshot['lastError'] = null;
  lastOutcomeAt: number | null = null;
  status: LinkStatus;

  constructor(capacity: number, at: number) {
    this.times = new Float64Array(capacity);
    this.latencies = new Float64Array(capacity);
    this.oks = new Uint8Array(capacity);
    this.sorted = new Float64Array(capacity);
    this.status = Object.freeze({ state: 'up', reason: 'no-samples', since: at });
  }

  push(at: number, ok: boolean, latencyMs: number): void {
    const capacity = this.times.length;
    const slot = (this.head + this.count) % capacity;
    this.times[slot] = at;
    this.latencies[slot] = latencyMs;
    this.oks[slot] = ok ? 1 : 0;
    this.count++;
    if (ok) this.okCount++;
    const i = lowerBound(this.sorted, this.count - 1, latencyMs);
    this.sorted.copyWithin(i + 1, i, this.count - 1);
    this.sorted[i] = latencyMs;
  }

  shift(): void {
    const latency = this.latencies[this.head]!;
    if (this.oks[this.head] === 1) this.okCount--;
    this.head = (this.head + 1) % this.times.length;
    this.count--;
    const i = lowerBound(this.sorted, this.count + 1, latency);
    this.sorted.copyWithin(i, i + 1, this.count + 1);
  }

  oldestTime(): number {
    return this.times[this.head]!;
  }
}

class Board implements HealthBoard {
  readonly #t: HealthThresholds;
  readonly #clock: () => number;
  readonly #links = new Map<string, LinkRecord>();
  #last = -Infinity;

  constructor(thresholds: HealthThresholds, clock: () => number) {
    this.#t = thresholds;
    this.#clock = clock;
  }

  record(link: string, outcome: Outcome): LinkStatus {
    const latency = outcome.latencyMs;
    if (!(Number.isFinite(latency) && latency >= 0)) throw new RangeError(`latencyMs must be a finite number >= 0, got ${latency}`);
    const now = this.#now();
    const record = this.#advance(link, now);
    if (record.count === this.#t.maxSamples) record.shift();
    record.push(now, outcome.ok, latency);
    record.lastOutcomeAt = now;
    if (outcome.ok) {
      record.consecutiveFailures = 0;
    } else {
      record.consecutiveFailures++;
      if (outcome.error !== undefined) {
        record.lastError = Object.freeze({ code: outcome.error.code, message: outcome.error.message.slice(0, MAX_ERROR_MESSAGE), at: now });
      }
    }
    this.#evaluate(record, now);
    return record.status;
  }

  setQueue(link: string, depth: number, oldestEnqueuedAt?: number): void {
    const record = this.#advance(link, this.#now());
    record.queueDepth = depth;
    record.oldestEnqueuedAt = depth > 0 ? oldestEnqueuedAt : undefined;
  }

  setBreaker(link: string, open: boolean): LinkStatus {
    const now = this.#now();
    const record = this.#advance(link, now);
    record.breakerOpen = open;
    this.#evaluate(record, now);
    return record.status;
  }

  status(link: string): LinkStatus {
    return this.#advance(link, this.#now()).status;
  }

  link(link: string): LinkSnapshot {
    const now = this.#now();
    return this.#snapshotOf(link, this.#advance(link, now), now);
  }

  snapshot(): HealthSnapshot {
    const now = this.#now();
    const ids = [...this.#links.keys()].sort();
    return { at: now, windowMs: this.#t.windowMs, links: ids.map((id) => this.#snapshotOf(id, this.#advance(id, now), now)) };
  }

  forget(link: string): boolean {
    return this.#links.delete(link);
  }

  #now(): number {
    const t = this.#clock();
    if (t > this.#last) this.#last = t;
    return this.#last;
  }

  /** The link's record with every outcome older than the window replayed out, at the instant it left. */
  #advance(link: string, now: number): LinkRecord {
    let record = this.#links.get(link);
    if (record === undefined) {
      record = new LinkRecord(this.#t.maxSamples, now);
      this.#links.set(link, record);
      return record;
    }
    const windowMs = this.#t.windowMs;
    while (record.count > 0 && record.oldestTime() + windowMs <= now) {
      // Outcomes recorded at the same instant leave together: no state exists between them.
      const time = record.oldestTime();
      do record.shift();
      while (record.count > 0 && record.oldestTime() === time);
      this.#evaluate(record, time + windowMs);
    }
    return record;
  }

  #evaluate(record: LinkRecord, at: number): void {
    const t = this.#t;
    let state: LinkState = 'up';
    let reason: HealthReason;
    const n = record.count;
    if (record.breakerOpen) {
      state = 'down';
      reason = 'breaker-open';
    } else if (record.consecutiveFailures >= t.downAfterConsecutiveFailures) {
      state = 'down';
      reason = 'consecutive-failures';
    } else if (n === 0) {
      reason = 'no-samples';
    } else if (n < t.minSamples) {
      reason = 'few-samples';
    } else {
      const rate = record.okCount / n;
      if (rate < t.downBelowSuccessRate) {
        state = 'down';
        reason = 'success-rate';
      } else if (rate < t.degradedBelowSuccessRate) {
        state = 'degraded';
        reason = 'success-rate';
      } else if (percentile(record.sorted, n, 0.99) > t.degradedAboveP99Ms) {
        state = 'degraded';
        reason = 'latency';
      } else {
        reason = 'ok';
      }
    }
    const current = record.status;
    if (state !== current.state) record.status = Object.freeze({ state, reason, since: at });
    else if (reason !== current.reason) record.status = Object.freeze({ state, reason, since: current.since });
  }

  #snapshotOf(link: string, record: LinkRecord, now: number): LinkSnapshot {
    const n = record.count;
    return {
      link,
      ...record.status,
      samples: n,
      successRate: n === 0 ? null : record.okCount / n,
      latencyP50Ms: n === 0 ? null : percentile(record.sorted, n, 0.5),
      latencyP99Ms: n === 0 ? null : percentile(record.sorted, n, 0.99),
      consecutiveFailures: record.consecutiveFailures,
      breakerOpen: record.breakerOpen,
      queueDepth: record.queueDepth,
      oldestAgeMs: record.oldestEnqueuedAt === undefined ? null : Math.max(0, now - record.oldestEnqueuedAt),
      lastError: record.lastError,
      lastOutcomeAt: record.lastOutcomeAt,
    };
  }
}
