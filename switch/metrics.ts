/**
 * Prometheus metrics for one switch.
 *
 * The switch owns its own prom-client `Registry` (never the global one): tests run several switches in
 * one process, and a metric name can be registered once per registry. Intake, the delivery engine,
 * the store and the HTTP server call small methods named after what happened (`accepted(type)`,
 * `delivered(route, link, ms)`...) instead of handling prom-client objects, so the names, units and
 * label rules live in this file only. Nothing here reads the clock or starts a timer; process metrics
 * (which do start monitors) are opt-in.
 *
 * Label values come from bounded sets. Error codes must be registry codes (anything else counts as
 * `OTHER`). Message types, route prefixes and link ids are capped: the first `maxLabelValues` distinct
 * values of each get their own series, later ones are folded into `_other`, so a 100,000-route table
 * cannot blow up the exposition. Message ids and addresses never become labels. The default route
 * (prefix `""`) is labelled `_`, as in the URL.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CODES } from '../core-chain/index.ts';

export interface SwitchMetricsOptions {
  /** Labels added to every series, e.g. `{ switch: 'sw1' }`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Include prom-client's process metrics (CPU, memory, event-loop lag, GC). Default false. */
  readonly processMetrics?: boolean;
  /** Distinct values kept per capped label (type, route, link) before folding into `_other`. Default 500. */
  readonly maxLabelValues?: number;
}

/** The label value that stands for every value past the cap. */
export const OTHER_LABEL = '_other';
const UNKNOWN_CODE = 'OTHER';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const INTAKE_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const DISK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * @example
 * const metrics = new SwitchMetrics({ labels: { switch: 'sw1' } });
 * const store = await SwitchStore.open(dir, { onBatch: (n, ms) => metrics.storeBatch(n, ms) });
 * metrics.accepted('points.exchange.request');
 * metrics.delivered('cn.loulan.partner', 'airline-rest', 42);
 * const api: SwitchApi = { ..., metrics: () => metrics.metrics() };
 */
export class SwitchMetrics {
  readonly registry: Registry;
  readonly #types: LabelCap;
  readonly #routes: LabelCap;
  readonly #links: LabelCap;
  readonly #acceptedTotal: Counter<'type'>;
  readonly #rejectedTotal: Counter<'code'>;
  readonly #deliveredTotal: Counter<'route' | 'link'>;
  readonly #failedTotal: Counter<'route' | 'link' | 'code'>;
  readonly #deadTotal: Counter<'code'>;
  readonly #expiredTotal: Counter;
  readonly #stuckTotal: Counter;
  readonly #deliverySeconds: Histogram<'route' | 'link'>;
  readonly #intakeSeconds: Histogram;
  readonly #queueDepth: Gauge<'link'>;
  readonly #queueOldest: Gauge<'link'>;
  readonly #batchMessages: Histogram;
  readonly #batchSeconds: Histogram;
  readonly #httpTotal: Counter<'route' | 'method' | 'status'>;
  readonly #httpSeconds: Histogram<'route'>;
  readonly #streamClients: Gauge;
  readonly #streamClosed: Counter<'reason'>;

  constructor(options: SwitchMetricsOptions = {}) {
    const cap = options.maxLabelValues ?? 500;
    if (!Number.isSafeInteger(cap) || cap < 1) throw new RangeError('maxLabelValues must be a positive integer');
    this.registry = new Registry();
    if (options.labels !== undefined) this.registry.setDefaultLabels({ ...options.labels });
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
    this.#types = new LabelCap(cap);
    this.#routes = new LabelCap(cap);
    this.#links = new LabelCap(cap);
    const registers = [this.registry];
    const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
    const histogram = <L extends string = never>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
      new Histogram<L>({ name, help, buckets, labelNames, registers });

    this.#acceptedTotal = counter('loulan_switch_accepted_total', 'Messages accepted at intake (durable), by payload type.', ['type']);
    this.#rejectedTotal = counter('loulan_switch_rejected_total', 'Messages refused at intake, by error code.', ['code']);
    this.#deliveredTotal = counter('loulan_switch_delivered_total', 'Messages delivered, by route prefix and link.', ['route', 'link']);
    this.#failedTotal = counter('loulan_switch_delivery_failures_total', 'Failed delivery attempts, by route prefix, link and error code.', ['route', 'link', 'code']);
    this.#deadTotal = counter('loulan_switch_dead_total', 'Messages moved to the dead-letter queue, by reason code.', ['code']);
    this.#expiredTotal = counter('loulan_switch_expired_total', 'Messages that passed their deadline before delivery.');
    this.#stuckTotal = counter('loulan_switch_stuck_total', 'Stuck-message alerts raised (no progress for the configured time).');
    this.#deliverySeconds = histogram('loulan_switch_delivery_seconds', 'Seconds from acceptance to confirmed delivery, by route prefix and link.', LATENCY_BUCKETS, ['route', 'link']);
    this.#intakeSeconds = histogram('loulan_switch_intake_seconds', 'Seconds from receiving a message to its durable acknowledgement.', INTAKE_BUCKETS);
    this.#queueDepth = gauge('loulan_switch_queue_depth', 'Messages waiting for delivery, by link.', ['link']);
    this.#queueOldest = gauge('loulan_switch_queue_oldest_seconds', 'Age of the oldest message waiting for delivery, by link.', ['link']);
    this.#batchMessages = histogram('loulan_switch_store_batch_writes', 'Writes sharing one group-committed store batch (one fsync).', BATCH_BUCKETS);
    this.#batchSeconds = histogram('loulan_switch_store_batch_seconds', 'Seconds to write and fsync one store batch.', DISK_BUCKETS);
    this.#httpTotal = counter('loulan_switch_http_requests_total', 'HTTP requests answered, by route template, method and status.', ['route', 'method', 'status']);
    this.#httpSeconds = histogram('loulan_switch_http_request_seconds', 'Seconds to answer an HTTP request, by route template.', INTAKE_BUCKETS, ['route']);
    this.#streamClients = gauge('loulan_switch_stream_clients', 'Open /v1/stream WebSocket clients.');
    this.#streamClosed = counter('loulan_switch_stream_closed_total', 'Stream clients the server closed, by reason (slow, full, error).', ['reason']);
  }

  /** A message of `type` was accepted (written durably). */
  accepted(type: string, count = 1): void {
    this.#acceptedTotal.inc({ type: this.#types.value(type) }, count);
  }

  /** A message was refused at intake with `code`. */
  rejected(code: string): void {
    this.#rejectedTotal.inc({ code: knownCode(code) });
  }

  /** Time from receiving a message to acknowledging it, in milliseconds. */
  intake(ms: number): void {
    this.#intakeSeconds.observe(ms / 1000);
  }

  /** A message routed through `route` (prefix) was delivered on `link`, `ms` after it was accepted. */
  delivered(route: string, link: string, ms: number): void {
    const labels = { route: this.#route(route), link: this.#links.value(link) };
    this.#deliveredTotal.inc(labels);
    this.#deliverySeconds.observe(labels, ms / 1000);
  }

  /** A delivery attempt on `link` failed with `code` (the message may be retried). */
  failed(route: string, link: string, code: string): void {
    this.#failedTotal.inc({ route: this.#route(route), link: this.#links.value(link), code: knownCode(code) });
  }

  /** A message went to the dead-letter queue for `code`. */
  dead(code: string): void {
    this.#deadTotal.inc({ code: knownCode(code) });
  }

  expired(): void {
    this.#expiredTotal.inc();
  }

  stuck(): void {
    this.#stuckTotal.inc();
  }

  /** The current backlog of `link`: messages waiting and the age of the oldest, in milliseconds. */
  queue(link: string, depth: number, oldestAgeMs: number): void {
    const labels = { link: this.#links.value(link) };
    this.#queueDepth.set(labels, depth);
    this.#queueOldest.set(labels, oldestAgeMs / 1000);
  }

  /** Drops the queue series of a link that is no longer in the routing table. */
  forgetLink(link: string): void {
    this.#queueDepth.remove({ link });
    this.#queueOldest.remove({ link });
  }

  /** One group-committed store batch: `writes` sharing one fsync, taking `ms` (fits `SwitchStoreOptions.onBatch`). */
  storeBatch(writes: number, ms: number): void {
    this.#batchMessages.observe(writes);
    this.#batchSeconds.observe(ms / 1000);
  }

  /** An HTTP request answered; `route` is the route template (`/v1/messages/:id`), never the raw URL. */
  http(route: string, method: string, status: number, ms: number): void {
    this.#httpTotal.inc({ route, method, status: String(status) });
    this.#httpSeconds.observe({ route }, ms / 1000);
  }

  streamOpened(): void {
    this.#streamClients.inc();
  }

  streamEnded(): void {
    this.#streamClients.dec();
  }

  /** The server closed a stream client: `slow` (fell behind), `full` (too many clients), `error`. */
  streamClosed(reason: 'slow' | 'full' | 'error'): void {
    this.#streamClosed.inc({ reason });
  }

  /** The Prometheus text exposition, for `GET /metrics`. */
  async metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #route(prefix: string): string {
    return this.#routes.value(prefix === '' ? '_' : prefix);
  }
}

function knownCode(code: string): string {
  return Object.hasOwn(ERROR_CODES, code) ? code : UNKNOWN_CODE;
}

/** Admits the first `max` distinct values of a label; the rest read as `_other`. */
class LabelCap {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  value(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return OTHER_LABEL;
    this.#seen.add(value);
    return value;
  }
}
