/**
 * Prometheus metrics for one validator.
 *
 * Each node owns its own `Registry`: several validators run in one test process, and prom-client's
 * global registry would make them collide (a metric name can be registered once per registry). The
 * node creates its handles once, updates them where things happen, and hands `registry` to the RPC
 * server through `NodeApi.metrics`; nothing here reads the clock or starts a timer of its own.
 *
 * Label values must come from small closed sets (error codes from the registry, consensus message
 * types, fault reasons), never from transaction hashes, addresses or peer-supplied text, or the
 * registry grows without bound.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface NodeMetricsOptions {
  /** Labels added to every series of this registry, e.g. `{ node: 'v0' }`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Include prom-client's process metrics (CPU, memory, event-loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

export interface NodeMetrics {
  readonly registry: Registry;
  /** `loulan_txs_admitted_total`: transactions accepted into the mempool (from clients or peers). */
  readonly txsAdmitted: Counter;
  /** `loulan_txs_rejected_total{code}`: transactions refused at admission, by LoulanError code. */
  readonly txsRejected: Counter<'code'>;
  /** `loulan_txs_committed_total`: transactions in committed blocks. */
  readonly txsCommitted: Counter;
  /** `loulan_blocks_committed_total`. */
  readonly blocksCommitted: Counter;
  /** `loulan_view_changes_total`: views this replica moved to. */
  readonly viewChanges: Counter;
  /** `loulan_frames_received_total{type}`: consensus frames received, by message type. */
  readonly framesIn: Counter<'type'>;
  /** `loulan_frames_sent_total{type}`: consensus frames sent, by message type. */
  readonly framesOut: Counter<'type'>;
  /** `loulan_faults_total{reason}`: misbehaviour seen (bad signature, equivocation, bad frame, ...). */
  readonly faults: Counter<'reason'>;
  /** `loulan_height`: last committed height (set with `Number(height)`). */
  readonly height: Gauge;
  /** `loulan_view`: current view. */
  readonly view: Gauge;
  /** `loulan_mempool_size`: transactions in the mempool. */
  readonly mempoolSize: Gauge;
  /** `loulan_connected_peers`: validators with an open link. */
  readonly connectedPeers: Gauge;
  /** `loulan_syncing`: 1 while catching up from peers, else 0. */
  readonly syncing: Gauge;
  /** `loulan_validators`: size of the validator set in force. */
  readonly validators: Gauge;
  /** `loulan_commit_latency_seconds`: from admission to this node's mempool to commit. */
  readonly commitLatency: Histogram;
  /** `loulan_block_txs`: transactions per committed block. */
  readonly blockSize: Histogram;
  /** `loulan_persist_seconds`: writing one committed block (and its state changes) to the store. */
  readonly persistSeconds: Histogram;
  /** `loulan_commit_batch_seconds`: executing and committing one batch of certified blocks. */
  readonly commitBatchSeconds: Histogram;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DISK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BLOCK_TX_BUCKETS = [0, 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/**
 * A fresh registry with the node's metrics (and, by default, process metrics) registered in it.
 *
 * @example
 * const metrics = createNodeMetrics({ labels: { node: 'v0' } });
 * metrics.txsRejected.inc({ code: error.code });
 * metrics.height.set(Number(block.height));
 * const api: NodeApi = { ..., metrics: metrics.registry };
 */
export function createNodeMetrics(options: NodeMetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  if (options.labels !== undefined) registry.setDefaultLabels({ ...options.labels });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, buckets, registers });
  return Object.freeze({
    registry,
    txsAdmitted: counter('loulan_txs_admitted_total', 'Transactions admitted to the mempool.'),
    txsRejected: counter('loulan_txs_rejected_total', 'Transactions refused at admission, by error code.', ['code']),
    txsCommitted: counter('loulan_txs_committed_total', 'Transactions in committed blocks.'),
    blocksCommitted: counter('loulan_blocks_committed_total', 'Blocks committed.'),
    viewChanges: counter('loulan_view_changes_total', 'View changes this replica moved through.'),
    framesIn: counter('loulan_frames_received_total', 'Consensus frames received, by message type.', ['type']),
    framesOut: counter('loulan_frames_sent_total', 'Consensus frames sent, by message type.', ['type']),
    faults: counter('loulan_faults_total', 'Peer misbehaviour observed, by reason.', ['reason']),
    height: gauge('loulan_height', 'Last committed block height.'),
    view: gauge('loulan_view', 'Current consensus view.'),
    mempoolSize: gauge('loulan_mempool_size', 'Transactions in the mempool.'),
    connectedPeers: gauge('loulan_connected_peers', 'Validators with an open link to this one.'),
    syncing: gauge('loulan_syncing', '1 while catching up from peers, 0 otherwise.'),
    validators: gauge('loulan_validators', 'Validators in the set in force.'),
    commitLatency: histogram('loulan_commit_latency_seconds', 'Seconds from mempool admission to commit.', LATENCY_BUCKETS),
    blockSize: histogram('loulan_block_txs', 'Transactions per committed block.', BLOCK_TX_BUCKETS),
    persistSeconds: histogram('loulan_persist_seconds', 'Seconds to persist one committed block.', DISK_BUCKETS),
    commitBatchSeconds: histogram('loulan_commit_batch_seconds', 'Seconds to execute and commit one batch of certified blocks.', DISK_BUCKETS),
  });
}

export interface RpcMetrics {
  /** `loulan_rpc_requests_total{route,method,status}`. */
  readonly requests: Counter<'route' | 'method' | 'status'>;
  /** `loulan_rpc_request_seconds{route}`. */
  readonly requestSeconds: Histogram<'route'>;
  /** `loulan_rpc_subscribers`: open WebSocket subscriptions. */
  readonly subscribers: Gauge;
  /** `loulan_rpc_subscribers_closed_total{reason}`: subscriptions the server ended (slow, full). */
  readonly subscribersClosed: Counter<'reason'>;
}

/**
 * The RPC server's own series, registered in the node's registry. Get-or-create, because several RPC
 * servers may front one node (tests, or a public and an internal listener).
 */
export function rpcMetrics(registry: Registry): RpcMetrics {
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const registers = [registry];
  return Object.freeze({
    requests:
      existing<Counter<'route' | 'method' | 'status'>>('loulan_rpc_requests_total') ??
      new Counter({ name: 'loulan_rpc_requests_total', help: 'RPC requests answered, by route, method and status.', labelNames: ['route', 'method', 'status'] as const, registers }),
    requestSeconds:
      existing<Histogram<'route'>>('loulan_rpc_request_seconds') ??
      new Histogram({ name: 'loulan_rpc_request_seconds', help: 'Seconds to answer an RPC request.', labelNames: ['route'] as const, buckets: LATENCY_BUCKETS, registers }),
    subscribers:
      existing<Gauge>('loulan_rpc_subscribers') ?? new Gauge({ name: 'loulan_rpc_subscribers', help: 'Open WebSocket subscriptions.', registers }),
    subscribersClosed:
      existing<Counter<'reason'>>('loulan_rpc_subscribers_closed_total') ??
      new Counter({ name: 'loulan_rpc_subscribers_closed_total', help: 'Subscriptions closed by the server, by reason.', labelNames: ['reason'] as const, registers }),
  });
}
