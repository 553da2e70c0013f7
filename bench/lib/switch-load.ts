/**
 * Load generator for bench:switch, its own process so that building requests and driving sockets
 * never run on the event loop of the server being measured.
 *
 *   npx node bench/lib/switch-load.ts '<plan JSON>'      # prints one JSON line (LoadReport)
 *
 * Everything is built before the clock starts: single messages are signed, batches hashed and
 * signed, every request encoded to bytes. `rate` 0 runs a closed loop at `connections` requests in
 * flight (saturation); a positive `rate` an open loop at that many requests per second. With `cycle`
 * the prepared bodies are sent round and round (for the bare fastify route, which keeps no ids);
 * otherwise each is sent once and the phase ends early, reported `exhausted`, if they run out.
 */
import { closedLoop, encodePost, openConnections, openLoop, percentile, type HttpReply, type Verdict } from './http-load.ts';
import { batchBodies, singleBodies, type BenchSender } from './switch-messages.ts';

export interface LoadPlan {
  /** Base URL of the server; requests go to `POST /v1/messages`. */
  readonly url: string;
  readonly kind: 'single' | 'batch';
  /** Requests per second (open loop), or 0 for a closed loop. */
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  /** Messages to prepare: the most this phase can send unless `cycle`. */
  readonly messages: number;
  /** Messages per batch (kind `batch`). */
  readonly batchSize?: number;
  readonly cycle?: boolean;
  readonly sender: BenchSender;
  readonly to: string;
  readonly channels: number;
  readonly idPrefix: string;
  /** Print `{"event":"start"}` when the clock starts, so a watcher can sample the server then. */
  readonly announceStart?: boolean;
}

export interface LoadReport {
  readonly kind: LoadPlan['kind'];
  readonly rate: number;
  readonly connections: number;
  readonly prepared: number;
  readonly prepareSeconds: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Messages accepted per second (a batch answer counts its accepted messages). */
  readonly messagesPerSec: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly exhausted: boolean;
  /** CPU this process spent while the load ran (building excluded). */
  readonly cpuSeconds: number;
}

function problemCode(reply: HttpReply): string {
  try {
    const code = (JSON.parse(reply.body.toString()) as { code?: unknown }).code;
    return typeof code === 'string' ? code : `HTTP ${reply.status}`;
  } catch {
    return `HTTP ${reply.status}`;
  }
}

/** 202 is an acceptance; 200 on a single message is a duplicate (a benchmark bug, so a failure). */
function classifySingle(reply: HttpReply): Verdict {
  if (reply.status === 202) return { ok: 1, failed: 0 };
  return { ok: 0, failed: 1, reason: reply.status === 200 ? 'duplicate' : problemCode(reply) };
}

function classifyBatch(size: number): (reply: HttpReply) => Verdict {
  return (reply) => {
    if (reply.status !== 200) return { ok: 0, failed: size, reason: problemCode(reply) };
    const { results } = JSON.parse(reply.body.toString()) as { results: Array<{ problem?: { code: string }; duplicate?: boolean }> };
    let failed = 0;
    let reason: string | undefined;
    for (const r of results) {
      if (r.problem !== undefined || r.duplicate === true) {
        failed++;
        reason ??= r.problem?.code ?? 'duplicate';
      }
    }
    return { ok: results.length - failed, failed, ...(reason === undefined ? {} : { reason }) };
  };
}

export async function runLoad(plan: LoadPlan): Promise<LoadReport> {
  const url = new URL(plan.url);
  const messagePlan = { sender: plan.sender, to: plan.to, channels: plan.channels, idPrefix: plan.idPrefix };
  const prepareStart = performance.now();
  const size = plan.batchSize ?? 1000;
  const bodies = plan.kind === 'single' ? await singleBodies(messagePlan, plan.messages) : batchBodies(messagePlan, plan.messages, size);
  const requests = bodies.map((b) => encodePost(url, '/v1/messages', b));
  bodies.length = 0;
  const prepareSeconds = (performance.now() - prepareStart) / 1000;

  let index = 0;
  const next = plan.cycle === true ? () => requests[index++ % requests.length] : () => requests[index++];
  const connections = await openConnections(url, plan.connections);
  const classify = plan.kind === 'single' ? classifySingle : classifyBatch(size);
  if (plan.announceStart === true) process.stdout.write('{"event":"start"}\n');
  const cpuStart = process.cpuUsage();
  const options = { connections, next, classify, seconds: plan.seconds, warmupSeconds: plan.warmupSeconds };
  const stats = plan.rate > 0 ? await openLoop({ ...options, rate: plan.rate }) : await closedLoop(options);
  const cpu = process.cpuUsage(cpuStart);
  for (const c of connections) c.close();

  const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 100) / 100);
  return {
    kind: plan.kind,
    rate: plan.rate,
    connections: plan.connections,
    prepared: requests.length,
    prepareSeconds: Math.round(prepareSeconds * 10) / 10,
    seconds: Math.round(stats.seconds * 1000) / 1000,
    requests: stats.requests,
    requestsPerSec: Math.round(stats.requests / stats.seconds),
    messagesPerSec: Math.round(stats.ok / stats.seconds),
    ok: stats.ok,
    failed: stats.failed,
    failures: stats.failures,
    errors: stats.errors,
    p50Ms: round(percentile(stats.latenciesMs, 0.5)),
    p99Ms: round(percentile(stats.latenciesMs, 0.99)),
    maxMs: round(stats.latenciesMs.at(-1) ?? null),
    exhausted: stats.exhausted,
    cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
  };
}

if (import.meta.main) {
  const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
  process.stdout.write(`${JSON.stringify(await runLoad(plan))}\n`);
}
