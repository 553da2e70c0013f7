/**
 * bench:switch — one switch process (with the core chain it follows), load from a separate process
 * over loopback HTTP with keep-alive connections.
 *
 * Measures, in one run on one machine state:
 * - single-message durable intake at saturation (closed loop, one signed envelope per POST);
 * - batched intake (batches of 1,000 under one signature over their Merkle root);
 * - a bare fastify route in its own process driven by the same load generator (the HTTP floor), and
 *   the Ed25519 verification limit on one core (node:crypto, the senders' algorithm): single-message
 *   intake is printed as a ratio to both;
 * - route lookups per second with 100,000 routes (bench/lib/route-lookup.ts);
 * - p99 latency intake adds at half the measured single-message rate: an open loop at that rate
 *   against the switch, then the same rate against the bare route; the figure is p99(switch) minus
 *   p99(bare), both measured from the time each request was due;
 * - the switch's RSS at the end.
 *
 * Delivery is not paused: every accepted message is routed and delivered by the same switch process
 * while intake runs (to an in-process `memory://` destination by default, or with `--sink` to the
 * loopback sink process, which fsyncs each effect), and anchoring runs as configured. The table
 * reports how much was delivered during each phase and how long the backlog took to drain; each
 * phase starts with an empty backlog.
 *
 *   npm run bench:switch [-- --json] [-- --sink] [-- --profile DIR]
 *   BENCH_SECONDS=20 npm run bench:switch      # measured seconds per phase (default 5)
 *
 * Other knobs (env): BENCH_WARMUP (s, default 1), BENCH_CONNECTIONS (single, default 64),
 * BENCH_BATCH_CONNECTIONS (default 4), BENCH_BATCH_SIZE (default 1000), BENCH_VALIDATORS (default 4,
 * the consortium's own; a lone validator takes no transactions, so anchoring would only retry),
 * BENCH_MAX_RATE / BENCH_MAX_BATCH_RATE (messages/s prepared for; a faster switch
 * ends the phase early, marked "exhausted", with the rate measured up to that point), BENCH_LOG (file
 * for the children's log lines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Cluster, ValidatorProcess } from '../cli/cluster.ts';
import { DEFAULT_RETRY, initConsortium } from '../cli/consortium.ts';
import { freeBasePort, until } from '../test/support/ports.ts';
import { benchRouteLookup } from './lib/route-lookup.ts';
import type { LoadPlan, LoadReport } from './lib/switch-load.ts';
import type { BenchSender } from './lib/switch-messages.ts';
import { measureVerifyLimit } from './lib/verify-limit.ts';

const json = process.argv.includes('--json');
const toSink = process.argv.includes('--sink');
/** `--profile DIR`: the switch writes a V8 CPU profile there (summarise with bench/lib/profile-summary.ts). */
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const SECONDS = env('BENCH_SECONDS', 5);
const WARMUP = env('BENCH_WARMUP', 1);
const CONNECTIONS = env('BENCH_CONNECTIONS', 64);
const BATCH_CONNECTIONS = env('BENCH_BATCH_CONNECTIONS', 4);
const BATCH_SIZE = env('BENCH_BATCH_SIZE', 1000);
const VALIDATORS = env('BENCH_VALIDATORS', 4);
const MAX_RATE = env('BENCH_MAX_RATE', 12_000);
const MAX_BATCH_RATE = env('BENCH_MAX_BATCH_RATE', 60_000);
const TARGETS = Object.freeze({ singleMsgPerSec: 8_000, batchMsgPerSec: 50_000, routeLookupsPerSec: 1_000_000, p99AddedMsAtHalfLoad: 5 });
const log = (text: string) => process.stderr.write(text + '\n');
const logFile = process.env.BENCH_LOG;
if (logFile !== undefined) writeFileSync(logFile, '');
const onLine = (name: string, line: string) => {
  if (logFile !== undefined) appendFileSync(logFile, `${name} ${line}\n`);
};

// -- children -------------------------------------------------------------------------------------

/** A child that prints one JSON line when ready (bare fastify, the loopback sink). */
async function startChild(name: string, script: string, args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stderr! }).on('line', (line) => onLine(name, line));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
  return { child, ready };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface ProcSample {
  readonly cpuSeconds: number;
  readonly rssMb: number;
  readonly at: number;
}

function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMb: rssKb / 1024, at: performance.now() }; // USER_HZ = 100
}

/** Sums of the switch's counters and gauges, by metric name (labels summed over). */
async function scrape(switchUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${switchUrl}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    sums.set(match[1]!, (sums.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return sums;
}

const metric = (m: Map<string, number>, name: string) => m.get(`loulan_switch_${name}`) ?? 0;
/** Accepted messages not yet in a terminal state. */
const backlog = (m: Map<string, number>) => metric(m, 'accepted_total') - metric(m, 'delivered_total') - metric(m, 'dead_total') - metric(m, 'expired_total');

// -- phases ---------------------------------------------------------------------------------------

interface Phase {
  readonly report: LoadReport;
  /** The measured server process during the load (warm-up included), when one was watched. */
  readonly server?: {
    cpuPercent: number;
    cpuUsPerMessage: number | null;
    acceptedDuring: number;
    deliveredDuring: number;
    backlogAtEnd: number;
    drainSeconds: number;
    /** Group-committed store batches (one fsync each) during the load, their mean size and time. */
    fsyncs: number;
    writesPerFsync: number;
    msPerFsync: number;
  };
}

const LOAD_SCRIPT = fileURLToPath(new URL('./lib/switch-load.ts', import.meta.url));

/** Runs one load process; `onStart` fires when its clock starts (building done, connections open). */
function runLoad(plan: LoadPlan, onStart: () => void | Promise<void>): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD_SCRIPT, JSON.stringify({ ...plan, announceStart: true })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    let started: Promise<void> = Promise.resolve();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === '{"event":"start"}') started = Promise.resolve(onStart());
      else last = line;
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      onLine('load', line);
      log(`  load: ${line}`);
    });
    child.once('exit', (code) => {
      void started.then(() => {
        if (code !== 0 || last === '') reject(new Error(`load generator exited with ${code}`));
        else resolve(JSON.parse(last) as LoadReport);
      }, reject);
    });
  });
}

/** A load against the switch, watching its CPU, its counters and the delivery backlog it leaves. */
async function switchPhase(switchUrl: string, pid: number, plan: LoadPlan): Promise<Phase> {
  let before: { proc: ProcSample; metrics: Map<string, number> } | undefined;
  const report = await runLoad(plan, async () => {
    before = { proc: sample(pid), metrics: await scrape(switchUrl) };
  });
  const proc = sample(pid);
  const metrics = await scrape(switchUrl);
  const drainStart = performance.now();
  await until('the delivery backlog to drain', 300_000, async () => (backlog(await scrape(switchUrl)) <= 0 ? true : undefined));
  const drainSeconds = (performance.now() - drainStart) / 1000;
  const b = before!;
  const cpu = proc.cpuSeconds - b.proc.cpuSeconds;
  const acceptedDuring = metric(metrics, 'accepted_total') - metric(b.metrics, 'accepted_total');
  const delta = (name: string) => metric(metrics, name) - metric(b.metrics, name);
  const fsyncs = delta('store_batch_seconds_count');
  return {
    report,
    server: {
      cpuPercent: Math.round((cpu / ((proc.at - b.proc.at) / 1000)) * 100),
      cpuUsPerMessage: acceptedDuring > 0 ? Math.round((cpu / acceptedDuring) * 1e6) : null,
      acceptedDuring,
      deliveredDuring: metric(metrics, 'delivered_total') - metric(b.metrics, 'delivered_total'),
      backlogAtEnd: backlog(metrics),
      drainSeconds: Math.round(drainSeconds * 10) / 10,
      fsyncs,
      writesPerFsync: fsyncs > 0 ? Math.round((delta('store_batch_writes_sum') / fsyncs) * 10) / 10 : 0,
      msPerFsync: fsyncs > 0 ? Math.round((delta('store_batch_seconds_sum') / fsyncs) * 10_000) / 10 : 0,
    },
  };
}

function describe(name: string, p: Phase): void {
  const r = p.report;
  const fails = Object.entries(r.failures).map(([code, n]) => `${code} ×${n}`).join(', ');
  log(
    `  ${name}: ${r.messagesPerSec.toLocaleString('en-US')} msg/s (${r.requestsPerSec.toLocaleString('en-US')} req/s over ${r.seconds} s), ` +
      `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms` +
      (r.failed > 0 ? `, ${r.failed} refused (${fails})` : '') +
      (r.errors > 0 ? `, ${r.errors} connection errors` : '') +
      (r.exhausted ? ', EXHAUSTED (raise BENCH_MAX_RATE / BENCH_MAX_BATCH_RATE)' : ''),
  );
  if (r.rate === 0 && r.requests < 10 * r.connections) {
    log(`    few answers completed inside the window (${r.requests}, with ${r.connections} in flight): the figure is coarse; lengthen BENCH_SECONDS`);
  }
  if (p.server !== undefined) {
    const s = p.server;
    log(`    switch: ${s.cpuPercent} % CPU, ${s.cpuUsPerMessage ?? '-'} µs CPU per accepted message; delivered ${s.deliveredDuring} of ${s.acceptedDuring} during the load, backlog ${s.backlogAtEnd} drained in ${s.drainSeconds} s`);
    log(`    store: ${s.fsyncs} group commits, ${s.writesPerFsync} writes and ${s.msPerFsync} ms each on average`);
  }
}

// -- the run ---------------------------------------------------------------------------------------

const loadavg1 = Math.round((loadavg()[0] ?? 0) * 100) / 100;
log(`bench:switch on ${availableParallelism()} cores (load average ${loadavg1}); ${SECONDS} s per phase after ${WARMUP} s warm-up`);

log('route lookups, 100,000 routes...');
const lookups = benchRouteLookup({ seconds: Math.min(SECONDS, 3) });
log(`  ${lookups.lookupsPerSec.toLocaleString('en-US')} lookups/s (table built in ${lookups.buildMs} ms)`);

log('Ed25519 verification limit, one core (node:crypto)...');
const limit = await measureVerifyLimit({ cases: ['ed25519-node'], oneCoreMs: 1000, allCoresMs: 300, workers: 1 });
const verifyOneCore = limit.verifyPerSecOneCore.Ed25519 ?? 0;
log(`  ${Math.round(verifyOneCore).toLocaleString('en-US')} verifications/s`);

const dir = mkdtempSync(join(tmpdir(), 'loulan-bench-switch-'));
const basePort = await freeBasePort(10);
const layout = initConsortium({
  dir,
  basePort,
  validators: VALIDATORS,
  routes: [{ prefix: 'cn.loulan.bench', link: { adapter: { kind: 'loopback', endpoint: 'memory://bench' }, ordered: false, retry: DEFAULT_RETRY } }],
});
const shop = layout.shop;
const sender: BenchSender = { id: shop.id, alg: shop.alg, kid: shop.kid, privateKey: shop.privateKey };
/** `cn.loulan.bench` routes to the in-process memory destination; `cn.loulan.partner` to the sink process. */
const destination = toSink ? 'cn.loulan.partner.bench' : 'cn.loulan.bench';
const cluster = new Cluster(layout.testnet);
const switchProcess = new ValidatorProcess('switch-0', layout.switchConfigFile, 'switch');
const children: ChildProcess[] = [];
let failed = false;
try {
  log(`starting ${VALIDATORS} validator(s), ${toSink ? 'the loopback sink, ' : ''}the switch and a bare fastify server...`);
  await cluster.startAll({ onLine });
  await until('a full validator mesh', 30_000, async () => {
    const all = await Promise.all(cluster.rpcUrls.map(async (u) => (await (await fetch(`${u}/v1/status`)).json()) as { connectedPeers: number[] }));
    return all.every((s) => s.connectedPeers.length === VALIDATORS - 1) ? true : undefined;
  });
  if (toSink) {
    const sinkMain = fileURLToPath(new URL('../adapters/loopback/sink-main.ts', import.meta.url));
    children.push((await startChild('sink', sinkMain, ['--file', layout.sink.file, '--port', String(layout.sink.port)])).child);
  }
  await switchProcess.start({ onLine, ...(profileDir === undefined ? {} : { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } }) });
  const switchPid = switchProcess.child!.pid!;
  const switchUrl = layout.switchUrl;
  const bare = await startChild('bare', fileURLToPath(new URL('./lib/bare-fastify.ts', import.meta.url)), []);
  children.push(bare.child);
  const bareUrl = bare.ready['url'] as string;

  const plan = (name: string, overrides: Partial<LoadPlan>): LoadPlan => ({
    url: switchUrl,
    kind: 'single',
    rate: 0,
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    connections: CONNECTIONS,
    messages: Math.ceil(MAX_RATE * (SECONDS + WARMUP)),
    sender,
    to: `${destination}.${name}`,
    channels: 16,
    idPrefix: `bench-${name}`,
    ...overrides,
  });

  log(`bare fastify route, closed loop, ${CONNECTIONS} connections...`);
  const bareSat: Phase = { report: await runLoad(plan('bare', { url: bareUrl, messages: 2_000, cycle: true }), () => undefined) };
  describe('bare fastify', bareSat);

  log(`single-message intake, closed loop, ${CONNECTIONS} connections...`);
  const single = await switchPhase(switchUrl, switchPid, plan('single', {}));
  describe('single', single);

  const halfRate = Math.max(10, Math.round(single.report.messagesPerSec / 2));
  log(`half load: ${halfRate} msg/s open loop, switch then bare fastify...`);
  const halfSwitch = await switchPhase(switchUrl, switchPid, plan('half', { rate: halfRate, messages: Math.ceil(halfRate * (SECONDS + WARMUP)) + 1 }));
  describe('switch at half load', halfSwitch);
  const halfBare: Phase = { report: await runLoad(plan('halfbare', { url: bareUrl, rate: halfRate, messages: 2_000, cycle: true }), () => undefined) };
  describe('bare at the same rate', halfBare);

  log(`batches of ${BATCH_SIZE}, closed loop, ${BATCH_CONNECTIONS} connections...`);
  const batch = await switchPhase(
    switchUrl,
    switchPid,
    plan('batch', { kind: 'batch', connections: BATCH_CONNECTIONS, batchSize: BATCH_SIZE, messages: Math.ceil(MAX_BATCH_RATE * (SECONDS + WARMUP)) }),
  );
  describe('batch', batch);

  const rssMb = Math.round(sample(switchPid).rssMb);
  const singleRate = single.report.messagesPerSec;
  const bareRate = bareSat.report.requestsPerSec;
  const p99Switch = halfSwitch.report.p99Ms;
  const p99Bare = halfBare.report.p99Ms;
  const p99Added = p99Switch === null || p99Bare === null ? null : Math.max(0, Math.round((p99Switch - p99Bare) * 100) / 100);
  failed = single.server!.acceptedDuring === 0 || batch.server!.acceptedDuring === 0;

  const ratio = (value: number | null, target: number, lowerIsBetter = false) =>
    value === null ? '-' : lowerIsBetter ? (value === 0 ? '∞' : `${(target / value).toFixed(2)}×`) : `${(value / target).toFixed(2)}×`;
  const n = (v: number) => v.toLocaleString('en-US');
  const rows: string[][] = [
    ['single messages/s (durable, 1 per POST)', n(singleRate), `≥ ${n(TARGETS.singleMsgPerSec)}`, ratio(singleRate, TARGETS.singleMsgPerSec)],
    ['  ÷ bare fastify route (req/s)', `${((singleRate / Math.max(1, bareRate)) * 100).toFixed(1)} % of ${n(bareRate)}`, '', ''],
    ['  ÷ Ed25519 verify limit, 1 core', `${((singleRate / Math.max(1, verifyOneCore)) * 100).toFixed(1)} % of ${n(Math.round(verifyOneCore))}`, '', ''],
    [`batched messages/s (${n(BATCH_SIZE)} per batch)`, n(batch.report.messagesPerSec), `≥ ${n(TARGETS.batchMsgPerSec)}`, ratio(batch.report.messagesPerSec, TARGETS.batchMsgPerSec)],
    ['route lookups/s (100,000 routes)', n(lookups.lookupsPerSec), `≥ ${n(TARGETS.routeLookupsPerSec)}`, ratio(lookups.lookupsPerSec, TARGETS.routeLookupsPerSec)],
    [`p99 added at half load (${n(halfRate)} msg/s)`, p99Added === null ? '-' : `${p99Added} ms`, `≤ ${TARGETS.p99AddedMsAtHalfLoad} ms`, ratio(p99Added, TARGETS.p99AddedMsAtHalfLoad, true)],
    ['  p99 switch / bare at that rate', `${p99Switch} / ${p99Bare} ms`, '', ''],
    ['switch RSS at the end', `${rssMb} MB`, '', ''],
    ['switch CPU per message, single / batch', `${single.server!.cpuUsPerMessage} / ${batch.server!.cpuUsPerMessage} µs`, '', ''],
    ['delivered during load, single / batch', `${n(single.server!.deliveredDuring)} / ${n(batch.server!.deliveredDuring)}`, '', toSink ? 'to the sink process' : 'to memory://'],
    ['store commit (fsync), half load', `${halfSwitch.server!.msPerFsync} ms mean, ${halfSwitch.server!.writesPerFsync} writes each`, '', ''],
    ['backlog drained after, single / batch', `${single.server!.drainSeconds} / ${batch.server!.drainSeconds} s`, '', ''],
  ];
  console.log(`\nbench:switch (1 switch, ${VALIDATORS} validator(s), ${availableParallelism()} cores, load average ${loadavg1} at start)`);
  for (const [what, value, target, vs] of rows) console.log(`  ${what!.padEnd(42)} ${value!.padEnd(30)} ${target!.padEnd(14)} ${vs}`);
  if (json) {
    console.log(
      JSON.stringify({
        singleMsgPerSec: singleRate,
        batchMsgPerSec: batch.report.messagesPerSec,
        bareFastifyReqPerSec: bareRate,
        routeLookupsPerSec: lookups.lookupsPerSec,
        p99AddedMsAtHalfLoad: p99Added,
        rssMb,
        targets: TARGETS,
      }),
    );
  }
} finally {
  await switchProcess.stop().catch(() => undefined);
  await Promise.all(children.map(stopChild));
  await cluster.stopAll().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  log('bench:switch: the switch accepted no message in a phase; see the refusals above, and BENCH_LOG for the switch log');
  process.exitCode = 1;
}
