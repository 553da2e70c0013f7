/**
 * Four validator processes on loopback, each with its own database, talking over real sockets.
 * Faults are real too: kill -9 of the leader under load, a restart that catches up, a wiped validator
 * that catches up from a snapshot, and kill -9 at every persistence point. After each, every
 * transaction acknowledged as committed must be committed on every running validator, and all
 * validators must hold the same block at every height.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTestnet, type TestnetLayout } from '../../core-chain/node/testnet.ts';
import { Cluster, type ReadyInfo } from '../../cli/cluster.ts';
import { TransferFactory, type SignedTx } from '../support/txgen.ts';
import { freeBasePort, until } from '../support/ports.ts';

let dir: string;
let layout: TestnetLayout;
let cluster: Cluster;
let txs: TransferFactory;
const ready = new Map<string, ReadyInfo>();
const acknowledged: string[] = [];
const logs: string[] = [];

async function get<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url);
    if (!res.ok) return undefined;
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

interface Status {
  height: string;
  view: string;
  leader: number;
  self: number;
  connectedPeers: number[];
}

const status = (url: string) => get<Status>(`${url}/v1/status`);
const blockHash = async (url: string, h: number) => (await get<{ hash: string }>(`${url}/v1/blocks/${h}`))?.hash;

function running(): string[] {
  return cluster.processes.filter((p) => p.running).map((p) => ready.get(p.name)!.rpc);
}

function urlOf(index: number): string {
  const entry = [...ready.values()].find((r) => r.index === index);
  return entry!.rpc;
}

function processOf(index: number) {
  const entry = [...ready.values()].find((r) => r.index === index)!;
  return cluster.processes.find((p) => p.name === entry.name)!;
}

async function start(name: string, env: Record<string, string> = {}): Promise<void> {
  const p = cluster.processes.find((x) => x.name === name)!;
  ready.set(name, await p.start({ env, onLine: (n, line) => logs.push(`[${n}] ${line}`) }));
}

/**
 * Like a real client, a transaction that was not acknowledged is sent again later (by whoever submits
 * next) until it is, so that no account is left with a nonce gap that would block its later ones.
 */
const unacknowledged: SignedTx[] = [];
/** Why the last submission was not acknowledged, for the assertion messages. */
let lastFailure = '';
const nextTx = (): SignedTx => unacknowledged.shift() ?? txs.next();

/** Submits one transfer with ?wait=commit; records it as acknowledged only on a committed reply. */
async function submitOne(url: string, tx = nextTx()): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v1/tx?wait=commit&timeoutMs=20000`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: tx.bytes });
    const text = await res.text();
    lastFailure = `${url}: ${res.status} ${text.slice(0, 300)}`;
    if (res.status === 200 && (JSON.parse(text) as { status: string }).status === 'committed') {
      acknowledged.push(tx.hash);
      return true;
    }
  } catch (error) {
    // the node was killed mid-request: not acknowledged
    lastFailure = `${url}: ${String(error)}`;
  }
  unacknowledged.push(tx);
  return false;
}

/** Keeps `concurrency` submissions in flight against the running validators until stopped. */
function load(concurrency = 6): { stop(): Promise<number> } {
  let stopped = false;
  let committed = 0;
  const worker = async (w: number) => {
    let attempt = 0;
    while (!stopped) {
      const targets = running();
      if (targets.length === 0) return;
      if (await submitOne(targets[(w + attempt++) % targets.length]!)) committed++;
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      return committed;
    },
  };
}

async function heights(): Promise<bigint[]> {
  const all = await Promise.all(running().map((url) => status(url)));
  return all.map((s) => (s === undefined ? -1n : BigInt(s.height)));
}

/** Waits until every running validator reached `height`. */
async function allReach(height: bigint, ms = 60_000): Promise<void> {
  await until(`all validators at height ${height}`, ms, async () => ((await heights()).every((h) => h >= height) ? true : undefined));
}

/** Same block hash at every height on every running validator that still holds the block. */
async function expectOneChain(from = 1): Promise<void> {
  const urls = running();
  const top = (await heights()).reduce((a, b) => (a < b ? a : b));
  for (let h = from; h <= Number(top); h++) {
    const hashes = new Set((await Promise.all(urls.map((u) => blockHash(u, h)))).filter((x) => x !== undefined));
    expect(hashes.size, `height ${h}`).toBeLessThanOrEqual(1);
  }
}

/**
 * Every acknowledged transaction is committed on every running validator, except that a validator
 * restored from a snapshot has no history below it: there the block must be absent too.
 */
async function expectAcknowledgedCommitted(): Promise<void> {
  for (const url of running()) {
    const missing: string[] = [];
    for (const hash of acknowledged) {
      const tx = await get<{ status: string; height?: string }>(`${url}/v1/tx/${hash}`);
      if (tx?.status === 'committed') continue;
      const elsewhere = (await Promise.all(running().map((u) => get<{ status: string; height?: string }>(`${u}/v1/tx/${hash}`)))).find((t) => t?.status === 'committed');
      if (elsewhere?.height !== undefined && tx?.status === 'unknown') {
        const block = await get<{ txHashes: string[] }>(`${url}/v1/blocks/${elsewhere.height}`);
        if (block === undefined || block.txHashes.length === 0) continue; // below this validator's snapshot
      }
      missing.push(hash);
    }
    expect(missing, `acknowledged transactions missing on ${url}`).toEqual([]);
  }
}

async function expectNoEquivocation(): Promise<void> {
  for (const url of running()) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const lines = text.split('\n').filter((l) => /two (prepares|commits)|equivocat|two proposals/.test(l) && !l.startsWith('#'));
    const counted = lines.filter((l) => Number(l.split(' ').at(-1)) > 0);
    expect(counted, `equivocation seen by ${url}`).toEqual([]);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-cluster-'));
  layout = initTestnet({
    dir,
    validators: 4,
    basePort: await freeBasePort(4),
    accounts: 64,
    consensus: { progressTimeoutMs: 1_000, statusIntervalMs: 250, checkpointInterval: 5, retainBlocks: 20 },
  });
  cluster = new Cluster(layout);
  txs = TransferFactory.fromFile(layout.genesis, layout.accountsFile);
  await Promise.all(cluster.processes.map((p) => start(p.name)));
  await until('a full mesh', 20_000, async () => {
    const all = await Promise.all(running().map((u) => status(u)));
    return all.every((s) => s !== undefined && s.connectedPeers.length === 3) ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await cluster?.killAll();
  // The validators' output, for whoever has to read a failure.
  writeFileSync(join(tmpdir(), 'loulan-cluster-test.log'), logs.join('\n') + '\n');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('four validator processes', () => {
  test('commit signed transfers submitted to any validator, all holding one chain', async () => {
    for (let i = 0; i < 12; i++) expect(await submitOne(running()[i % 4]!), lastFailure).toBe(true);
    // Resubmitting a committed transaction (a client failing over) is answered as a duplicate.
    const again = nextTx();
    expect(await submitOne(running()[0]!, again), lastFailure).toBe(true);
    const res = await fetch(`${running()[0]!}/v1/tx`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: again.bytes });
    expect(await res.json()).toEqual({ hash: again.hash, duplicate: true });
    const top = (await heights()).reduce((a, b) => (a > b ? a : b));
    expect(top).toBeGreaterThan(0n);
    await allReach(top);
    await expectOneChain();
    await expectAcknowledgedCommitted();
  });

  test('kill -9 of the leader under load: a view change, progress, and no acknowledged transaction lost', async () => {
    const before = (await status(running()[0]!))!;
    const leader = before.leader;
    const traffic = load();
    await until('some load committed', 30_000, () => (acknowledged.length > 20 ? true : undefined));
    await processOf(leader).kill();
    const survivors = running();
    const base = (await heights()).reduce((a, b) => (a > b ? a : b));
    await until('progress without the old leader', 60_000, async () => ((await heights()).every((h) => h >= base + 5n) ? true : undefined));
    const committed = await traffic.stop();
    expect(committed).toBeGreaterThan(0);
    const after = (await status(survivors[0]!))!;
    expect(BigInt(after.view)).toBeGreaterThan(BigInt(before.view));
    expect(after.leader).not.toBe(leader);
    await expectOneChain();
    await expectAcknowledgedCommitted();
  });

  test('the killed validator restarts and catches up from its peers', async () => {
    const down = cluster.processes.find((p) => !p.running)!;
    await start(down.name);
    const top = (await heights()).reduce((a, b) => (a > b ? a : b));
    await allReach(top);
    expect(await submitOne(ready.get(down.name)!.rpc), lastFailure).toBe(true);
    await expectOneChain();
    await expectAcknowledgedCommitted();
  });

  test('a validator whose data was wiped catches up from a snapshot once blocks below were pruned', async () => {
    const victim = processOf(3);
    const name = victim.name;
    await victim.stop();
    rmSync(layout.validators.find((v) => v.name === name)!.dataDir, { recursive: true, force: true });
    // Enough new blocks that the others prune the bodies the wiped validator would need.
    const traffic = load();
    const base = (await heights()).reduce((a, b) => (a > b ? a : b));
    await until('the others moved past the retention window', 90_000, async () => ((await heights()).every((h) => h >= base + 30n) ? true : undefined));
    await traffic.stop();
    await start(name);
    const top = (await heights()).reduce((a, b) => (a > b ? a : b));
    await allReach(top);
    const url = ready.get(name)!.rpc;
    // Caught up by height; its snapshot install may still be finishing (it refuses transactions until then).
    await until('the wiped validator done syncing', 30_000, async () => ((await get<{ syncing: boolean }>(`${url}/v1/status`))?.syncing === false ? true : undefined));
    expect(await get(`${url}/v1/blocks/1`)).toBeUndefined(); // came from a snapshot, not block by block
    expect(await submitOne(url), lastFailure).toBe(true);
    await expectOneChain();
    await expectAcknowledgedCommitted();
  });

  const points = ['safety:before-write', 'safety:after-fsync', 'safety:after-rename', 'block:before-batch', 'block:after-batch'];
  test.each(points)('kill -9 at %s: restart without divergence, double-signing or lost transactions', async (point) => {
    const victim = processOf(1);
    await victim.stop();
    await start(victim.name, { LOULAN_CRASH_AT: `${point}@3` });
    const traffic = load(4);
    const code = await victim.exited;
    expect(code).toBeNull(); // killed by its own SIGKILL at the point, not a clean exit
    await traffic.stop();
    await start(victim.name);
    const top = (await heights()).reduce((a, b) => (a > b ? a : b));
    await allReach(top);
    expect(await submitOne(ready.get(victim.name)!.rpc), lastFailure).toBe(true);
    await expectOneChain();
    await expectAcknowledgedCommitted();
    await expectNoEquivocation();
  });
});
