/**
 * The loopback adapter (kind `loopback`): a destination that only records what it receives, for
 * tests and the local consortium. `memory://<name>` delivers to an in-process sink; an `http://` or
 * `https://` endpoint POSTs to the loopback sink server (sink.ts), through the same HTTP outcome
 * rules a real webhook destination gets.
 *
 * Memory sinks are found in a map the caller passes in (a name not in it gets a new sink, added to
 * the map), never in a module-level registry: two switches in one test process stay apart.
 */
import { LoulanError } from '../../core-chain/index.ts';
import type { Adapter, AdapterFactory, AdapterHealth, AdapterTarget, DeliveryOutcome, DeliveryRequest } from '../adapter.ts';
import { failureStreak, outcomeOfError, outcomeOfStatus, postEnvelope } from '../http.ts';
import { createMemorySink, type MemorySink } from './memory.ts';

export interface LoopbackOptions {
  /** Memory sinks by name; a `memory://` name not in the map gets a new sink, added to it. */
  readonly sinks?: Map<string, MemorySink>;
  /** Per-request timeout for http endpoints whose target sets no `timeoutMs`. Default 10 s. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}


export function createLoopbackAdapter(target: AdapterTarget, options: LoopbackOptions = {}): Adapter {
  if (target.kind !== 'loopback') {
    throw new LoulanError('ROUTE_ADAPTER_UNAVAILABLE', `the loopback adapter cannot serve kind ${target.kind}`, { details: { kind: target.kind } });
  }
  const now = options.now ?? Date.now;
  const endpoint = target.endpoint;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw new LoulanError('ROUTE_INVALID', `not a URL: ${endpoint}`, { details: { pointer: '/adapter/endpoint' }, cause });
  }
  let deliver: (request: DeliveryRequest) => Promise<DeliveryOutcome>;
  let probe: (signal: AbortSignal) => Promise<boolean> = async () => true;
  if (url.protocol === 'memory:') {
    const name = url.host;
    if (name === '') throw new LoulanError('ROUTE_INVALID', 'a memory:// endpoint needs a sink name', { details: { pointer: '/adapter/endpoint' } });
    const sinks = options.sinks ?? new Map<string, MemorySink>();
    let sink = sinks.get(name);
    if (sink === undefined) {
      sink = createMemorySink(name);
      sinks.set(name, sink);
    }
    const memory = sink;
    deliver = async (request) => {
      const reply = await memory.receive(request);
      if (reply.kind === 'status') return outcomeOfStatus(reply.status, reply.retryAfter ?? null, now());
      return outcomeOfError(new Error('connection lost'), reply.kind === 'aborted');
    };
  } else if (url.protocol === 'http:' || url.protocol === 'https:') {
    const configured = target['timeoutMs'];
    const timeoutMs = typeof configured === 'number' ? configured : (options.timeoutMs ?? 10_000);
    deliver = (request) => postEnvelope(request, { url: endpoint, timeoutMs, now, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });
    // Any HTTP answer, even a 405, means the destination is reachable again.
    const fetchImpl = options.fetch ?? fetch;
    probe = (signal) =>
      fetchImpl(endpoint, { method: 'HEAD', signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) }).then(
        () => true,
        () => false,
      );
  } else {
    throw new LoulanError('ROUTE_INVALID', `a loopback endpoint is memory://<name> or http(s)://..., not ${url.protocol}`, { details: { pointer: '/adapter/endpoint' } });
  }

  const streak = failureStreak();
  return {
    kind: 'loopback',
    async deliver(request) {
      return streak.record(await deliver(request));
    },
    probe: (signal) => probe(signal),
    health(): AdapterHealth {
      return streak.health();
    },
    async close() {},
  };
}

/** An `AdapterFactory` for kind `loopback`, sharing `options` (and its sink map) between targets. */
export function loopbackAdapterFactory(options: LoopbackOptions = {}): AdapterFactory {
  const shared: LoopbackOptions = { ...options, sinks: options.sinks ?? new Map() };
  return (target) => createLoopbackAdapter(target, shared);
}
