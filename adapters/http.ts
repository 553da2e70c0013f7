/**
 * How an HTTP answer becomes a delivery outcome, for every adapter that speaks HTTP to its
 * destination (the loopback sink, REST webhooks), so that all of them retry the same way.
 *
 * 2xx is success. 408, 429 and 5xx say "not now": retryable, with the destination's `Retry-After`
 * honoured. Any other status says "never": the message goes to the dead-letter queue. A redirect
 * is never followed (the route names the endpoint; following one would send the message somewhere no
 * operator approved) and counts as a refusal. Network errors and timeouts are retryable.
 */
import type { AdapterHealth, DeliveryOutcome, DeliveryRequest } from './adapter.ts';

/** The longest wait a `Retry-After` can impose (a day); anything longer is taken as a day. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * `Retry-After` (RFC 9110 §10.2.3) in ms from `now`: delay-seconds or an HTTP-date. Undefined when
 * absent or unreadable; a date in the past is 0.
 *
 * @example parseRetryAfter('120', now) // 120000
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // HTTP-dates always name the weekday and GMT; Date.parse alone would accept far looser text.
  if (!/^[A-Z][a-z]{2},? .*\d{2}:\d{2}:\d{2} GMT$|^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/** The outcome an HTTP status (and its `Retry-After`) stands for. */
export function outcomeOfStatus(status: number, retryAfter: string | null, now: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return { ok: true, evidence: { status } };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: `the destination answered ${status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  return { ok: false, retryable: false, code: 'DELIVER_REJECTED', message: `the destination refused the message with ${status}` };
}

/** The outcome of an attempt that got no answer (`aborted`: the switch gave up on it). */
export function outcomeOfError(error: unknown, aborted: boolean): DeliveryOutcome {
  if (aborted) return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: 'the attempt was aborted' };
  if ((error as { name?: unknown } | undefined)?.name === 'TimeoutError') {
    return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: 'the destination did not answer in time' };
  }
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: `no answer from the destination${typeof code === 'string' ? ` (${code})` : ''}` };
}

export interface PostOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

/**
 * POSTs the envelope as JSON with its id as `Idempotency-Key` (and `Loulan-Source`, since ids are
 * unique per sender), within the attempt's timeout and the message deadline; never throws.
 */
export async function postEnvelope(request: DeliveryRequest, options: PostOptions): Promise<DeliveryOutcome> {
  const budget = Math.max(1, Math.min(options.timeoutMs, request.deadline - options.now()));
  const signal = AbortSignal.any([request.signal, AbortSignal.timeout(budget)]);
  try {
    const response = await (options.fetch ?? fetch)(options.url, {
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': request.envelope.id,
        'loulan-source': request.envelope.source,
        'loulan-digest': request.digest,
        'loulan-attempt': String(request.attempt),
      },
      body: JSON.stringify(request.envelope),
    });
    // Drain the body so the connection goes back to the pool.
    await response.arrayBuffer().catch(() => undefined);
    return outcomeOfStatus(response.status, response.headers.get('retry-after'), options.now());
  } catch (error) {
    return outcomeOfError(error, request.signal.aborted);
  }
}

/** Failed attempts in a row after which an HTTP adapter reports its destination down. */
export const DOWN_AFTER_FAILURES = 5;

/**
 * An HTTP adapter's own view of its destination, from the outcomes of its attempts: up after any
 * success or final refusal (the destination answered), degraded after retryable failures, down after
 * `DOWN_AFTER_FAILURES` of them in a row.
 */
export function failureStreak(): { record(outcome: DeliveryOutcome): DeliveryOutcome; health(): AdapterHealth } {
  let failures = 0;
  let lastError: string | undefined;
  return {
    record(outcome) {
      if (outcome.ok || !outcome.retryable) failures = 0;
      else {
        failures++;
        lastError = outcome.message;
      }
      return outcome;
    },
    health() {
      if (failures === 0) return { state: 'up' };
      const detail = `${failures} failed attempts in a row; last: ${lastError ?? 'unknown'}`;
      return { state: failures >= DOWN_AFTER_FAILURES ? 'down' : 'degraded', detail };
    },
  };
}
