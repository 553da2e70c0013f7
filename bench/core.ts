/**
 * bench:core — 4 validator processes on this machine and a separate load-generator process sending
 * signed (P-256) transfers over the RPC.
 *
 * Reports committed tx/s at saturation, p50/p99 commit latency at fixed offered loads (25, 50 and
 * 75 % of saturation), CPU and RSS per validator, bytes on disk per transaction, and the ratio to
 * this machine's verification limit measured in the same run (ES256 verifications per second on all
 * cores, divided by the number of validators). Targets (DESIGN §8): ≥ 5,000 tx/s, ≥ 60 % of the verify
 * limit, p99 ≤ 500 ms at half load.
 *
 *   npm run bench:core [-- --json] [-- --quick]
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initTestnet } from '../core-chain/node/testnet.ts';
import { Cluster } from '../cli/cluster.ts';
import { freeBasePort, until } from '../test/support/ports.ts';
import { measureVerifyLimit } from './lib/verify-limit.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
/** `--profile DIR`: validators write V8 CPU profiles there (summarise with bench/lib/profile-summary.ts). */
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const VALIDATORS = 4;
const cores = availableParallelism();
const SAT_SECONDS = quick ? 8 : 20;
const FIXED_SECONDS = quick ? 5 : 10;
const ACCOUNTS_PER_PHASE = 1000;
const log = (text: string) => process.stderr.write(text + '\n');

interface LoadResult {
  offered: number;
  submitted: number;
  committedTotal: number;
  committedInWindow: number;
  txPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  signSeconds: number;
  sendCpuSeconds: number;
}

function runLoad(plan: Record<string, unknown>): Promise<LoadResult> {
  const script = fileURLToPath(new URL('./lib/loadgen.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || line === undefined) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(line) as LoadResult);
    });
  });
}

interface ProcSample {
  cpuTicks: number;
  rssMb: number;
}

function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuTicks, rssMb: rssKb / 1024 };
}

function duBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    total += entry.isDirectory() ? duBytes(p) : statSync(p).size;
  }
  return total;
}

log('measuring the verification limit (ES256, all cores)...');
const limit = await measureVerifyLimit({ algs: ['ES256'], fullOnly: true, oneCoreMs: 800, allCoresMs: 1500 });
const verifyAllCores = limit.verifyPerSecAllCores.ES256 ?? 0;
const limitPerValidator = verifyAllCores / VALIDATORS;
log(`  ES256 verify: ${Math.round(verifyAllCores)}/s on all cores → ${Math.round(limitPerValidator)}/s per validator`);

const dir = mkdtempSync(join(tmpdir(), 'loulan-bench-core-'));
const layout = initTestnet({
  dir,
  validators: VALIDATORS,
  basePort: await freeBasePort(VALIDATORS),
  accounts: ACCOUNTS_PER_PHASE * 4,
  consensus: { progressTimeoutMs: 3_000, statusIntervalMs: 1_000, maxBlockTxs: Number(process.env.BENCH_BLOCK_TXS ?? 4_000), checkpointInterval: 1_000, retainBlocks: 1_000_000 },
});
const cluster = new Cluster(layout);
try {
  const logFile = process.env.BENCH_LOG;
  if (logFile !== undefined) writeFileSync(logFile, '');
  await cluster.startAll({
    ...(profileDir === undefined ? {} : { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } }),
    ...(logFile === undefined ? {} : { onLine: (name: string, line: string) => appendFileSync(logFile, `${name} ${line}\n`) }),
  });
  const endpoints = cluster.rpcUrls;
  await until('a full mesh', 30_000, async () => {
    const all = await Promise.all(endpoints.map(async (u) => (await (await fetch(`${u}/v1/status`)).json()) as { connectedPeers: number[] }));
    return all.every((s) => s.connectedPeers.length === VALIDATORS - 1) ? true : undefined;
  });

  log(`saturation: ${SAT_SECONDS} s...`);
  const pids = cluster.processes.map((p) => p.child!.pid!);
  const before = pids.map(sample);
  const t0 = performance.now();
  const saturation = await runLoad({ dir, from: 0, to: ACCOUNTS_PER_PHASE, rate: 0, seconds: SAT_SECONDS, warmupSeconds: 3, endpoints });
  const elapsed = (performance.now() - t0) / 1000;
  const after = pids.map(sample);
  const ticks = 100; // USER_HZ
  // Over the time the load was on: the load generator signs everything before it starts sending.
  const loaded = Math.max(1, elapsed - saturation.signSeconds);
  const cpu = pids.map((_, i) => Math.round(((after[i]!.cpuTicks - before[i]!.cpuTicks) / ticks / loaded) * 100));
  const rss = after.map((s) => Math.round(s.rssMb));
  log(`  ${saturation.txPerSec} tx/s committed (p50 ${saturation.p50Ms} ms, p99 ${saturation.p99Ms} ms, ${saturation.errors} rejected)`);

  const fixed: Array<{ fraction: number; offered: number; result: LoadResult }> = [];
  for (const [i, fraction] of [0.5, 0.25, 0.75].entries()) {
    // Each phase starts on an idle cluster: the backlog a saturation run leaves in the mempools would
    // otherwise be charged to the next phase's latency.
    await until('empty mempools', 120_000, async () => {
      const all = await Promise.all(endpoints.map(async (u) => (await (await fetch(`${u}/v1/status`)).json()) as { mempool: { size: number } }));
      return all.every((s) => s.mempool.size === 0) ? true : undefined;
    });
    const offered = Math.max(50, Math.round(saturation.txPerSec * fraction));
    log(`fixed load ${Math.round(fraction * 100)} % = ${offered} tx/s for ${FIXED_SECONDS} s...`);
    const result = await runLoad({ dir, from: ACCOUNTS_PER_PHASE * (i + 1), to: ACCOUNTS_PER_PHASE * (i + 2), rate: offered, seconds: FIXED_SECONDS, warmupSeconds: 2, endpoints });
    log(`  ${result.txPerSec} tx/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`);
    fixed.push({ fraction, offered, result });
  }

  const committedTotal = saturation.committedTotal + fixed.reduce((a, f) => a + f.result.committedTotal, 0);
  const disk = layout.validators.map((v) => duBytes(v.dataDir));
  const diskBytesPerTx = Math.round(disk.reduce((a, b) => a + b, 0) / VALIDATORS / Math.max(1, committedTotal));
  const half = fixed.find((f) => f.fraction === 0.5)!.result;
  const ratio = limitPerValidator > 0 ? saturation.txPerSec / limitPerValidator : 0;

  // Where the time goes: CPU per committed transaction, and the throughput the machine could give if
  // every core were busy (the one-in-flight pipeline leaves them partly idle; see docs/core-chain.md).
  const cpuSeconds = pids.map((_, i) => (after[i]!.cpuTicks - before[i]!.cpuTicks) / ticks);
  const validatorUsPerTx = cpuSeconds.map((s) => (s / Math.max(1, saturation.committedTotal)) * 1e6);
  const loadgenUsPerTx = (saturation.sendCpuSeconds / Math.max(1, saturation.submitted)) * 1e6;
  const verifyUs = verifyAllCores > 0 ? (cores / verifyAllCores) * 1e6 : 0;
  const clusterUsPerTx = validatorUsPerTx.reduce((a, b) => a + b, 0) + loadgenUsPerTx;
  const cpuCeiling = clusterUsPerTx > 0 ? Math.round((cores * 1e6) / clusterUsPerTx) : 0;
  const avgValidatorUs = validatorUsPerTx.reduce((a, b) => a + b, 0) / VALIDATORS;
  const budgetRows = [
    ['CPU per committed tx, each validator', `${validatorUsPerTx.map((u) => Math.round(u)).join(', ')} µs`, '', ''],
    ['  of which signature verification', `${Math.round(verifyUs)} µs (${Math.round((verifyUs / avgValidatorUs) * 100)} %)`, '', ''],
    ['CPU per tx, load generator (sending)', `${Math.round(loadgenUsPerTx)} µs`, '', ''],
    [`CPU-bound ceiling on ${cores} cores`, `${cpuCeiling} tx/s`, '', `measured ${(saturation.txPerSec / Math.max(1, cpuCeiling)).toFixed(2)}×`],
    ['5,000 tx/s would need, per validator', `≤ ${Math.round(((cores * 1e6) / 5000 - loadgenUsPerTx) / VALIDATORS)} µs per tx`, '', ''],
  ];
  const rows = [
    ['committed tx/s at saturation', `${saturation.txPerSec}`, '≥ 5000', `${(saturation.txPerSec / 5000).toFixed(2)}×`],
    ['ratio to verify limit (ES256 all cores / 4)', `${(ratio * 100).toFixed(1)} %`, '≥ 60 %', `${(ratio / 0.6).toFixed(2)}×`],
    ['p50 / p99 at half load', `${half.p50Ms} / ${half.p99Ms} ms`, 'p99 ≤ 500 ms', half.p99Ms === null ? '-' : `${(500 / half.p99Ms).toFixed(2)}×`],
    ...fixed.map((f) => [`p50 / p99 at ${Math.round(f.fraction * 100)} % (${f.offered} tx/s)`, `${f.result.p50Ms} / ${f.result.p99Ms} ms`, '', '']),
    ['CPU per validator (saturation)', cpu.map((c) => `${c} %`).join(', '), '', ''],
    ['RSS per validator', rss.map((r) => `${r} MB`).join(', '), '', ''],
    ['bytes on disk per tx', `${diskBytesPerTx}`, '', ''],
    ...budgetRows,
  ];
  console.log('\nbench:core (4 validators, P-256 signed transfers)');
  for (const [what, value, target, vs] of rows) console.log(`  ${what!.padEnd(46)} ${value!.padEnd(28)} ${target!.padEnd(14)} ${vs}`);
  if (json) {
    console.log(
      JSON.stringify({
        committedTxPerSec: saturation.txPerSec,
        ratioToVerifyLimit: Math.round(ratio * 1000) / 1000,
        verifyPerSecAllCores: Math.round(verifyAllCores),
        p50MsAtHalfLoad: half.p50Ms,
        p99MsAtHalfLoad: half.p99Ms,
        latencyAtFixedLoads: fixed.map((f) => ({ offered: f.offered, committed: f.result.txPerSec, p50Ms: f.result.p50Ms, p99Ms: f.result.p99Ms })),
        cpuPercentPerValidator: cpu,
        rssMbPerValidator: rss,
        diskBytesPerTx,
        cpuUsPerTxPerValidator: validatorUsPerTx.map((u) => Math.round(u)),
        verifyUsPerTx: Math.round(verifyUs),
        loadgenUsPerTx: Math.round(loadgenUsPerTx),
        cpuBoundCeilingTxPerSec: cpuCeiling,
        targets: { committedTxPerSec: 5000, ratioToVerifyLimit: 0.6, p99MsAtHalfLoad: 500 },
      }),
    );
  }
} finally {
  await cluster.stopAll();
  rmSync(dir, { recursive: true, force: true });
}
