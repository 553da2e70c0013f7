/**
 * The two delivery policies, as pure functions of time and chance so that they can be tested without
 * a network or a clock: when to try a message again (back-off), and when to stop trying a target at
 * all (the circuit breaker).
 *
 * Back-off is "full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015): the
 * delay is uniform in [0, min(max, initial * 2^(attempt-1))]. Spreading retries over the whole
 * interval is what stops a thousand messages that failed together from coming back together; a
 * destination's `Retry-After` is a floor on top of that and wins over the cap (it said when it can
 * take more, and retrying sooner only gets another refusal).
 *
 * The breaker counts consecutive retryable failures per target; refusals (a 4xx) prove the target is
 * up and count as successes. Open, it lets nothing through until its cool-down ends; then exactly one
 * probe goes (half-open), and its outcome closes the breaker or opens it for another cool-down.
 */

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed (1-based): full jitter, capped by
 * `maxBackoffMs`, never less than `retryAfterMs`.
 *
 * @example backoffDelay({ maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1000 }, 3, () => 0.5) // 200
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number, retryAfterMs?: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** exponent);
  const r = random();
  const jittered = Math.floor((r >= 0 && r < 1 ? r : 0) * (ceiling + 1));
  return Math.max(Math.min(jittered, ceiling), retryAfterMs ?? 0);
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  readonly failures: number;
  readonly coolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerPolicy = Object.freeze({ failures: 5, coolDownMs: 30_000 });

/** What an attempt says about its target: `neutral` for attempts cut short by us (deadline, shutdown). */
export type AttemptVerdict = 'success' | 'failure' | 'neutral';

export class Breaker {
  policy: BreakerPolicy;
  #state: BreakerState = 'closed';
  #consecutive = 0;
  #openedAt = 0;
  #probing = false;

  constructor(policy: BreakerPolicy = DEFAULT_BREAKER) {
    this.policy = policy;
  }

  /** The state as of `now`: an open breaker whose cool-down has ended reads as half-open. */
  state(now: number): BreakerState {
    if (this.#state === 'open' && now >= this.reopensAt) return 'half-open';
    return this.#state;
  }

  /** When an open breaker lets its probe through. */
  get reopensAt(): number {
    return this.#openedAt + this.policy.coolDownMs;
  }

  /**
   * Whether an attempt may start now: `attempt` when closed, `probe` for the one attempt a half-open
   * breaker lets through (no other starts until `record` hears how it went), `wait` otherwise.
   */
  acquire(now: number): 'attempt' | 'probe' | 'wait' {
    const state = this.state(now);
    if (state === 'closed') return 'attempt';
    if (state === 'open' || this.#probing) return 'wait';
    this.#state = 'half-open';
    this.#probing = true;
    return 'probe';
  }

  /** Feeds an attempt's verdict; returns the new state when it changed. */
  record(verdict: AttemptVerdict, now: number, probe: boolean): BreakerState | undefined {
    const before = this.#state;
    if (probe) this.#probing = false;
    if (verdict === 'success') {
      this.#consecutive = 0;
      this.#state = 'closed';
    } else if (verdict === 'failure') {
      this.#consecutive++;
      // A failed probe reopens at once; in the closed state it takes `failures` in a row. Failures of
      // attempts started before the breaker opened do not restart its cool-down.
      if ((this.#state === 'half-open' && probe) || (this.#state === 'closed' && this.#consecutive >= this.policy.failures)) {
        this.#state = 'open';
        this.#openedAt = now;
      }
    }
    return this.#state === before ? undefined : this.#state;
  }
}
