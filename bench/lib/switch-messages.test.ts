import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../core-chain/index.ts';
import type { BatchItemResult } from '../../switch/api.ts';
import { Intake } from '../../switch/intake.ts';
import { SwitchStore } from '../../switch/store.ts';
import { StaticDirectory, testParticipant } from '../../switch/testkit.ts';
import { batchBodies, benchEnvelope, singleBodies, type MessagePlan } from './switch-messages.ts';

// What the benchmark sends must pass intake as it is, or the benchmark measures refusals.
const NOW = Date.parse('2026-11-21T10:00:00Z');
let dir: string;
let store: SwitchStore;
let intake: Intake;
let plan: MessagePlan;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-bench-messages-'));
  store = await SwitchStore.open(dir);
  const shop = testParticipant('cn.loulan.shop.demo', ['shop']);
  intake = new Intake({ store, directory: new StaticDirectory([shop]), now: () => NOW + 1_000 });
  plan = { sender: { id: shop.id, alg: shop.alg, kid: shop.signer.kid, privateKey: toHex(shop.privateKey) }, to: 'cn.loulan.bench.t', channels: 3, idPrefix: 'b', now: NOW };
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bench messages', () => {
  it('spreads messages round-robin over channels, each channel counting seq from 1', () => {
    const envelopes = [0, 1, 2, 3, 4, 5, 6].map((n) => benchEnvelope(plan, n, NOW));
    expect(envelopes.map((e) => [e.to, e.seq, e.id])).toEqual([
      ['cn.loulan.bench.t.c0', '1', 'b-0'],
      ['cn.loulan.bench.t.c1', '1', 'b-1'],
      ['cn.loulan.bench.t.c2', '1', 'b-2'],
      ['cn.loulan.bench.t.c0', '2', 'b-3'],
      ['cn.loulan.bench.t.c1', '2', 'b-4'],
      ['cn.loulan.bench.t.c2', '2', 'b-5'],
      ['cn.loulan.bench.t.c0', '3', 'b-6'],
    ]);
  });

  it('signed single bodies are each accepted once', async () => {
    const bodies = await singleBodies(plan, 20);
    const results = await Promise.all(bodies.map((b) => intake.submit(JSON.parse(b))));
    expect(results.map((r) => [r.status, r.duplicate])).toEqual(bodies.map(() => ['accepted', false]));
    expect(new Set(results.map((r) => r.id)).size).toBe(20);
  });

  it('batch bodies split the messages and every message of every batch is accepted', async () => {
    const bodies = batchBodies(plan, 25, 10);
    expect(bodies.map((b) => (JSON.parse(b) as { messages: unknown[] }).messages.length)).toEqual([10, 10, 5]);
    const results: BatchItemResult[] = [];
    for (const b of bodies) results.push(...(await intake.submitBatch(JSON.parse(b))));
    expect(results).toHaveLength(25);
    expect(results.filter((r) => 'problem' in r)).toEqual([]);
    expect(new Set(results.map((r) => r.id)).size).toBe(25);
  });

  it('a batch signed by someone else is refused as a whole', async () => {
    const other = testParticipant('cn.loulan.shop.demo', ['shop']);
    const forged = batchBodies({ ...plan, sender: { ...plan.sender, privateKey: toHex(other.privateKey) } }, 5, 5)[0]!;
    await expect(intake.submitBatch(JSON.parse(forged))).rejects.toMatchObject({ code: 'CRYPTO_SIGNATURE_INVALID' });
  });
});
