/**
 * Load generator for bench:core, run as its own process so that signing and HTTP never share a core
 * budget with the validator it measures more than the OS makes them.
 *
 *   node bench/lib/loadgen.ts '{"dir":…,"from":0,"to":1000,"rate":0,"seconds":20,"endpoints":[…]}'
 *
 * rate 0 means saturation: keep up to `window` transactions outstanding (submitted, not yet seen
 * committed). Otherwise an open loop at `rate` tx/s. Transactions are signed before the clock starts,
 * one nonce round across all accounts at a time so that no account runs far ahead of the chain.
 * Commit times come from the block stream of the first endpoint; prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseGenesis } from '../../core-chain/ledger/index.ts';
import { TransferFactory } from '../../test/support/txgen.ts';
import type { TestnetAccount } from '../../core-chain/node/testnet.ts';

interface Plan {
  readonly dir: string;
  readonly from: number;
  readonly to: number;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly endpoints: readonly string[];
  readonly window?: number;
  readonly batch?: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const genesis = parseGenesis(readFileSync(join(plan.dir, 'genesis.json'), 'utf8'));
const accounts = (JSON.parse(readFileSync(join(plan.dir, 'accounts.json'), 'utf8')) as TestnetAccount[]).slice(plan.from, plan.to);
const factory = new TransferFactory(genesis, accounts);

const expected = plan.rate > 0 ? plan.rate * (plan.seconds + plan.warmupSeconds) : 9_000 * (plan.seconds + plan.warmupSeconds);
const total = Math.ceil(expected / accounts.length) * accounts.length;
const signStart = performance.now();
const txs: Array<{ hex: string; hash: string }> = [];
for (let i = 0; i < total; i++) {
  const tx = factory.next();
  txs.push({ hex: Buffer.from(tx.bytes).toString('hex'), hash: tx.hash });
}
const signSeconds = (performance.now() - signStart) / 1000;

const submittedAt = new Map<string, number>();
const latencies: number[] = [];
let committedInWindow = 0;
let committedTotal = 0;
let outstanding = 0;
let errors = 0;
let windowStart = 0;
let windowEnd = 0;

// Commit times: the block stream, then the block's transaction hashes.
const ws = new WebSocket(`${plan.endpoints[0]!.replace(/^http/, 'ws')}/v1/subscribe?events=block`);
await new Promise<void>((resolve, reject) => {
  ws.once('open', () => resolve());
  ws.once('error', reject);
});
const blockQueue: bigint[] = [];
let fetching = false;
ws.on('message', (data) => {
  const event = JSON.parse(String(data)) as { type: string; height: string; txCount: number };
  if (event.type !== 'block' || event.txCount === 0) return;
  blockQueue.push(BigInt(event.height));
  void drainBlocks();
});

async function drainBlocks(): Promise<void> {
  if (fetching) return;
  fetching = true;
  while (blockQueue.length > 0) {
    const height = blockQueue.shift()!;
    const seen = performance.now();
    const res = await fetch(`${plan.endpoints[0]}/v1/blocks/${height}`);
    if (!res.ok) continue;
    const block = (await res.json()) as { txHashes: string[] };
    for (const hash of block.txHashes) {
      const at = submittedAt.get(hash);
      if (at === undefined) continue;
      submittedAt.delete(hash);
      outstanding--;
      committedTotal++;
      if (seen >= windowStart && seen <= windowEnd) {
        committedInWindow++;
        latencies.push(seen - at);
      }
    }
  }
  fetching = false;
}

let next = 0;
let endpoint = 0;
async function send(count: number): Promise<void> {
  const slice = txs.slice(next, next + count);
  next += slice.length;
  if (slice.length === 0) return;
  const now = performance.now();
  for (const tx of slice) submittedAt.set(tx.hash, now);
  outstanding += slice.length;
  const url = plan.endpoints[endpoint++ % plan.endpoints.length]!;
  try {
    const res = await fetch(`${url}/v1/txs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ txs: slice.map((t) => t.hex) }) });
    const body = (await res.json()) as { results?: Array<{ error?: unknown }> };
    const failed = body.results?.filter((r) => r.error !== undefined).length ?? slice.length;
    errors += failed;
    outstanding -= failed;
  } catch {
    errors += slice.length;
    outstanding -= slice.length;
  }
}

const start = performance.now();
const cpuAtStart = process.cpuUsage();
windowStart = start + plan.warmupSeconds * 1000;
windowEnd = windowStart + plan.seconds * 1000;
const batch = plan.batch ?? 200;
const window = plan.window ?? 12_000;
const inflight = new Set<Promise<void>>();
while (performance.now() < windowEnd && next < txs.length) {
  const elapsed = (performance.now() - start) / 1000;
  let due: number;
  if (plan.rate > 0) due = Math.floor(elapsed * plan.rate) - next;
  else due = window - outstanding;
  if (due >= Math.min(batch, plan.rate > 0 ? Math.max(1, plan.rate / 200) : batch) && inflight.size < 8) {
    const p = send(Math.min(due, batch)).finally(() => inflight.delete(p));
    inflight.add(p);
  } else {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
await Promise.all(inflight);
const cpu = process.cpuUsage(cpuAtStart);
const sendCpuSeconds = (cpu.user + cpu.system) / 1e6;
// Let the tail commit so latencies of the window are complete.
const tailDeadline = performance.now() + 5_000;
while (performance.now() < tailDeadline && [...submittedAt.values()].some((t) => t <= windowEnd)) await new Promise((resolve) => setTimeout(resolve, 20));
ws.close();

latencies.sort((a, b) => a - b);
const q = (p: number) => (latencies.length === 0 ? null : Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! * 10) / 10);
process.stdout.write(
  JSON.stringify({
    offered: plan.rate,
    submitted: next,
    committedTotal,
    committedInWindow,
    txPerSec: Math.round(committedInWindow / plan.seconds),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    errors,
    signSeconds: Math.round(signSeconds * 10) / 10,
    // CPU this process spent sending (signing excluded: it happens before the clock starts).
    sendCpuSeconds: Math.round(sendCpuSeconds * 100) / 100,
  }) + '\n',
);
