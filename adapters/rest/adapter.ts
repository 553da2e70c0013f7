/**
 * The rest adapter (kind `rest`): delivers each message to a shop's URL as a signed webhook. One
 * attempt per call, classified by the same HTTP rules as every HTTP destination (adapters/http.ts):
 * 2xx is the receipt, 408/429/5xx/network/timeout are retried (Retry-After honoured), any other 4xx
 * and any redirect go to the dead-letter queue. Retries, backoff and the per-shop concurrency limit
 * (the link's `maxInFlight`) belong to the switch's delivery engine, not here.
 *
 * Secrets live only in the switch's config (`webhookSecrets`, by endpoint URL). An endpoint with none
 * is not an error at start (a route may name a shop before its secret is installed) but nothing goes
 * out unsigned: every attempt fails for good with ROUTE_ADAPTER_UNAVAILABLE, so the messages wait in
 * the dead-letter queue until the secret is configured and an operator replays them.
 */
import { LoulanError } from '../../core-chain/index.ts';
import type { Adapter, AdapterFactory, AdapterHealth, AdapterTarget, DeliveryOutcome, DeliveryRequest } from '../adapter.ts';
import { failureStreak, outcomeOfError, outcomeOfStatus } from '../http.ts';
import { signWebhook } from './signature.ts';

export interface RestAdapterOptions {
  /** The endpoint's webhook secrets; during a rotation, every valid one (each signs). None: nothing is delivered. */
  readonly secrets?: readonly string[];
  /** Per-request timeout when the target sets no `timeoutMs`. Default 10 s. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 10_000;

const te = new TextEncoder();

export function createRestAdapter(target: AdapterTarget, options: RestAdapterOptions = {}): Adapter {
  if (target.kind !== 'rest') {
    throw new LoulanError('ROUTE_ADAPTER_UNAVAILABLE', `the rest adapter cannot serve kind ${target.kind}`, { details: { kind: target.kind } });
  }
  const endpoint = target.endpoint;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw new LoulanError('ROUTE_INVALID', `not a URL: ${endpoint}`, { details: { pointer: '/adapter/endpoint' }, cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LoulanError('ROUTE_INVALID', `a rest endpoint is http(s)://..., not ${url.protocol}`, { details: { pointer: '/adapter/endpoint' } });
  }
  const configured = target['timeoutMs'];
  const timeoutMs = typeof configured === 'number' ? configured : (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? fetch;
  const secrets = [...(options.secrets ?? [])];
  const unsigned = `no webhook secret is configured for ${endpoint} (switch config webhookSecrets): nothing is sent unsigned`;

  async function post(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const budget = Math.max(1, Math.min(timeoutMs, request.deadline - now()));
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(budget)]);
    // These exact bytes are signed and sent.
    const body = te.encode(JSON.stringify(request.envelope));
    const signature = signWebhook({ secrets, timestamp: Math.floor(now() / 1000), body });
    try {
      const response = await fetchImpl(endpoint, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'loulan-switch',
          'loulan-signature': signature,
          'loulan-id': request.envelope.id,
          'loulan-source': request.envelope.source,
          'idempotency-key': request.envelope.id,
          'loulan-attempt': String(request.attempt),
          'loulan-digest': request.digest,
        },
        body,
      });
      // Drain the body so the connection goes back to the pool.
      await response.arrayBuffer().catch(() => undefined);
      return outcomeOfStatus(response.status, response.headers.get('retry-after'), now());
    } catch (error) {
      return outcomeOfError(error, request.signal.aborted);
    }
  }

  const streak = failureStreak();
  return {
    kind: 'rest',
    async deliver(request) {
      if (secrets.length === 0) return { ok: false, retryable: false, code: 'ROUTE_ADAPTER_UNAVAILABLE', message: unsigned };
      return streak.record(await post(request));
    },
    // Any HTTP answer, even a 405, means the shop is reachable; a link without a secret stays down.
    probe: async (signal) => {
      if (secrets.length === 0) return false;
      return fetchImpl(endpoint, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) }).then(
        () => true,
        () => false,
      );
    },
    health(): AdapterHealth {
      if (secrets.length === 0) return { state: 'down', detail: unsigned };
      return streak.health();
    },
    async close() {},
  };
}

/** An `AdapterFactory` for kind `rest`: each target gets the secrets configured for its endpoint. */
export function restAdapterFactory(secrets: ReadonlyMap<string, readonly string[]>, options: Omit<RestAdapterOptions, 'secrets'> = {}): AdapterFactory {
  return (target) => createRestAdapter(target, { ...options, secrets: secrets.get(target.endpoint) ?? [] });
}
