/**
 * Storage latencies on this machine (`node bench/store.ts`): a raw fdatasync, SafetyFile.save for a
 * small record and one carrying a 1 MiB prepared payload, and BlockStore.commitBlock for a 1-tx and a
 * 1,000-tx block. Every number includes the fsyncs that make the write durable.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetyFile } from '../core-chain/store/safety.ts';
import { BlockStore } from '../core-chain/store/blocks.ts';
import { makeBlock } from '../core-chain/store/fixtures/chain.ts';
import type { SafetyState } from '../core-chain/consensus/types.ts';

const dir = await mkdtemp(join(tmpdir(), 'loulan-bench-store-'));

async function measure(label: string, runs: number, fn: (i: number) => Promise<void>): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p: number): string => (times[Math.min(times.length - 1, Math.floor(p * times.length))] as number).toFixed(2);
  console.log(`${label.padEnd(58)} p50 ${q(0.5).padStart(7)} ms   p90 ${q(0.9).padStart(7)} ms   p99 ${q(0.99).padStart(7)} ms`);
}

try {
  const raw = await open(join(dir, 'raw'), 'w');
  const page = new Uint8Array(4096).fill(1);
  await measure('raw 4 KiB write + fdatasync', 200, async () => {
    await raw.write(page, 0, page.length, 0);
    await raw.datasync();
  });
  await raw.close();

  const digest = new Uint8Array(32).fill(7);
  const state = (i: number, payloadBytes: number): SafetyState => ({
    view: BigInt(i),
    changing: false,
    lastProposal: null,
    lastPrepare: { height: BigInt(i), view: 0n, digest },
    lastCommit: { height: BigInt(i), view: 0n, digest },
    prepared: payloadBytes === 0 ? null : { view: 0n, height: BigInt(i), digest, payload: new Uint8Array(payloadBytes), prepares: [] },
    signFloor: 0n,
  });
  const safety = await SafetyFile.open(join(dir, 'safety'));
  await measure('SafetyFile.save, small record (~120 B)', 200, (i) => safety.save(state(i, 0)));
  await measure('SafetyFile.save, 1 MiB prepared payload', 50, (i) => safety.save(state(i, 1 << 20)));

  const store = await BlockStore.open(join(dir, 'blocks'));
  let height = 0n;
  await measure('commitBlock, 1 tx', 200, () => store.commitBlock(makeBlock(++height, 1, 512)));
  const big = Array.from({ length: 50 }, (_, i) => makeBlock(height + BigInt(i) + 1n, 1000, 256 * 1024));
  await measure('commitBlock, 1,000 txs/receipts/state puts, 256 KiB body', 50, (i) => store.commitBlock(big[i] as ReturnType<typeof makeBlock>));
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
