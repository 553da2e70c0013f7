import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  anchorProofFromJson,
  decodeXmsgEvent,
  encodeAnchorArgs,
  fromHex,
  LoulanError,
  sha256,
  toHex,
  xmsgBatchKey,
  type AnchorArgs,
  type CallResult,
  type CoreClient,
  type EventView,
  type TxSubmitter,
} from '../core-chain/index.ts';
import { verifyInclusionOfData } from '../core-chain/crypto/merkle.ts';
import { encodeBatchRecord } from '../core-chain/ledger/contracts/xmsg.ts';
import { AnchorService, type AnchorBatch } from './anchor.ts';
import type { MessageRecord } from './model.ts';
import { anchorLeaf, SwitchStore } from './store.ts';
import { pointsOrder } from './testkit.ts';

const NOW = Date.parse('2026-11-21T10:00:00Z');
const SWITCH = 'sw-a';
const ACME = 'cn.loulan.shop.acme';
const SKYAIR = 'cn.loulan.partner.skyair';
/** Longer than any test: the service's own timer runs its first round and then stays quiet. */
const QUIET_MS = 3_600_000;

/**
 * The core chain as the anchoring service sees it: `xmsg.anchor` refuses a second (switchId, batchSeq)
 * with CONTRACT_ALREADY_EXISTS as the contract does, each call commits a block whose events put the
 * batch's `anchored` event behind look-alikes, and `mode` plays the network's part.
 */
class FakeChain {
  height = 10n;
  readonly state = new Map<string, Uint8Array>();
  readonly blocks = new Map<bigint, EventView[]>();
  /** Every anchor call, in order. */
  readonly calls: AnchorArgs[] = [];
  /** commit: answered; unavailable: never reached the chain; lost: committed, but the answer was lost; pending: the commit wait timed out. */
  mode: 'commit' | 'unavailable' | 'lost' | 'pending' = 'commit';
  onCall: ((args: AnchorArgs) => Promise<void>) | undefined;

  readonly submitter = {
    call: async (contract: string, method: string, bytes: Uint8Array): Promise<CallResult> => {
      expect([contract, method]).toEqual(['xmsg', 'anchor']);
      const decoded = decodeXmsgEvent('anchored', bytes);
      if (decoded.type !== 'anchored') throw new Error('not anchor args');
      const { type: _, ...args } = decoded;
      this.calls.push(args);
      await this.onCall?.(args);
      const hash = toHex(sha256(bytes));
      if (this.mode === 'unavailable') throw new LoulanError('RPC_UNAVAILABLE', 'no endpoint answered');
      if (this.mode === 'pending') return { hash, nonce: 1n, status: { hash, status: 'pending' } };
      const height = ++this.height;
      const key = xmsgBatchKey(args.switchId, args.batchSeq);
      let ok = false;
      if (this.state.has(key)) {
        this.blocks.set(height, []);
      } else {
        ok = true;
        this.state.set(key, encodeBatchRecord({ root: args.root, count: args.count, height, time: BigInt(NOW) }));
        const decoy: AnchorArgs = { ...args, switchId: 'sw-other' };
        this.blocks.set(height, [
          this.#event(height, 0, 'points', 'transferred', new Uint8Array([1, 2, 3])),
          this.#event(height, 1, 'xmsg', 'anchored', encodeAnchorArgs(decoy)),
          this.#event(height, 2, 'xmsg', 'anchored', bytes),
        ]);
      }
      if (this.mode === 'lost') throw new LoulanError('RPC_UNAVAILABLE', 'timed out waiting for the answer');
      const receipt = ok ? { status: 'ok' as const, code: null } : { status: 'failed' as const, code: 'CONTRACT_ALREADY_EXISTS' };
      return { hash, nonce: 1n, status: { hash, status: 'committed', height, index: 0, receipt: { ...receipt, sender: 'ab'.repeat(20), nonce: 1n, eventCount: ok ? 3 : 0 } } };
    },
  } as unknown as TxSubmitter;

  readonly client = {
    getState: async (key: string) => this.state.get(key),
    getBlock: async (height: bigint) => {
      const events = this.blocks.get(height);
      return events === undefined ? null : { height, header: { eventCount: events.length } };
    },
    getEvent: async (height: bigint, index: number, options: { proof?: boolean } = {}) => {
      const event = this.blocks.get(height)?.[index];
      if (event === undefined) return null;
      if (options.proof !== true) return event;
      const certificate = { height, view: 0n, blockHash: '22'.repeat(32), signatures: [{ validator: 0, signature: '33'.repeat(65) }] };
      return { ...event, proof: { path: ['11'.repeat(32)], header: { height, headerBytes: `aa${height.toString(16).padStart(16, '0')}`, certificate } } };
    },
  } as unknown as CoreClient;

  #event(height: bigint, index: number, contract: string, name: string, data: Uint8Array): EventView {
    return { id: `${height}-${index}`, height, index, tx: 0, contract, name, data: toHex(data), encoded: toHex(new Uint8Array([index, ...data])) };
  }
}

let dir: string;
let store: SwitchStore;
let chain: FakeChain;
const services: AnchorService[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-anchor-'));
  store = await SwitchStore.open(dir);
  chain = new FakeChain();
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function service(maxLeaves = 50_000): AnchorService {
  const s = new AnchorService({ store, client: chain.client, submitter: chain.submitter, switchId: SWITCH, maxLeaves, intervalMs: QUIET_MS });
  services.push(s);
  return s;
}

function record(id: string, at = NOW): MessageRecord {
  return {
    source: ACME,
    id,
    envelope: pointsOrder(ACME, SKYAIR, 1, { id }, at),
    digest: toHex(sha256(new TextEncoder().encode(id))),
    acceptedAt: at,
    deadline: at + 3_600_000,
    order: store.takeOrder(),
    status: 'accepted',
    attempts: 0,
    history: [{ at, status: 'accepted' }],
    historyCount: 1,
  };
}

async function deliver(r: MessageRecord, at: number): Promise<void> {
  r.status = 'delivered';
  r.receipt = { link: 'loop', at };
  r.history.push({ at, status: 'delivered' });
  r.historyCount++;
  await store.update(r);
}

async function storedBatches(): Promise<AnchorBatch[]> {
  const out: AnchorBatch[] = [];
  for await (const { value } of store.named<AnchorBatch>('anchor/batch/')) out.push(value);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<LoulanError> {
  try {
    await promise;
  } catch (error) {
    return error as LoulanError;
  }
  throw new Error('expected a rejection');
}

/** RFC 6962 by hand: leaf hash H(0x00 ‖ d), node hash H(0x01 ‖ l ‖ r). */
const leafH = (d: Uint8Array) => sha256(new Uint8Array([0, ...d]));
const nodeH = (l: Uint8Array, r: Uint8Array) => sha256(new Uint8Array([1, ...l, ...r]));

describe('cutting and submitting', () => {
  it('cuts the leaves into batches of at most maxLeaves, each with its RFC 6962 root, in leaf order', async () => {
    const rs = ['a', 'b', 'c', 'd', 'e'].map((id, i) => record(id, NOW + i));
    await store.accept(rs);
    await deliver(rs[1]!, NOW + 100);
    await deliver(rs[3]!, NOW + 101);
    const leaves = [
      ...rs.map((r) => anchorLeaf('accepted', r.digest, r.acceptedAt)),
      anchorLeaf('delivered', rs[1]!.digest, NOW + 100),
      anchorLeaf('delivered', rs[3]!.digest, NOW + 101),
    ];
    const anchor = service(3);
    await anchor.flush();

    expect(chain.calls.map((c) => [c.switchId, c.batchSeq, c.count])).toEqual([
      [SWITCH, 0n, 3],
      [SWITCH, 1n, 3],
      [SWITCH, 2n, 1],
    ]);
    const [l0, l1, l2, l3, l4, l5, l6] = leaves.map(leafH) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    expect(chain.calls.map((c) => toHex(c.root))).toEqual([toHex(nodeH(nodeH(l0, l1), l2)), toHex(nodeH(nodeH(l3, l4), l5)), toHex(l6)]);
    expect(anchor.unanchored).toBe(0);
    const batches = await storedBatches();
    expect(batches.map((b) => [b.seq, b.from, b.to])).toEqual([
      [0, 0, 3],
      [1, 3, 6],
      [2, 6, 7],
    ]);
    // The block also holds a look-alike from another switch: the batch's own event is found.
    expect(batches.map((b) => b.anchored?.eventIndex)).toEqual([2, 2, 2]);
    expect(batches.map((b) => b.anchored?.height)).toEqual(['11', '12', '13']);
    expect(await store.getNamed('anchor/state')).toEqual({ nextLeaf: 7, nextSeq: 3 });

    // Nothing new: no batch. A new leaf: the next batch, from where the last one ended.
    await anchor.flush();
    expect(chain.calls.length).toBe(3);
    await store.accept([record('f')]);
    await anchor.flush();
    expect(chain.calls.slice(3).map((c) => [c.batchSeq, c.count])).toEqual([[3n, 1]]);
    expect((await storedBatches())[3]).toMatchObject({ seq: 3, from: 7, to: 8 });
  });

  it('records a batch durably before it submits it', async () => {
    await store.accept([record('a'), record('b')]);
    const seen: AnchorBatch[][] = [];
    chain.onCall = async () => {
      seen.push(await storedBatches());
    };
    await service().flush();
    expect(seen).toEqual([[{ seq: 0, from: 0, to: 2, root: toHex(chain.calls[0]!.root) }]]);
  });

  it('a commit that is still pending is submitted again on the next round', async () => {
    await store.accept([record('a')]);
    const anchor = service();
    chain.mode = 'pending';
    await anchor.flush();
    expect(anchor.unanchored).toBe(1);
    chain.mode = 'commit';
    await anchor.flush();
    expect(anchor.unanchored).toBe(0);
    expect(chain.calls.map((c) => [c.batchSeq, toHex(c.root)])).toEqual([
      [0n, toHex(chain.calls[0]!.root)],
      [0n, toHex(chain.calls[0]!.root)],
    ]);
  });

  it('a flush while the timer round runs does not cut or submit the same leaves twice', async () => {
    await store.accept([record('a'), record('b')]);
    const anchor = service();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      await anchor.start(); // its first round is due at once, on the timer
      // The timer fires while the flush's round is reading the leaves it is about to cut.
      const leaves = store.leaves.bind(store);
      let fired = false;
      store.leaves = (from, to) => {
        if (!fired) {
          fired = true;
          vi.advanceTimersByTime(0);
        }
        return leaves(from, to);
      };
      await anchor.flush();
      await anchor.stop();
    } finally {
      vi.useRealTimers();
    }
    expect(chain.calls.map((c) => c.batchSeq)).toEqual([0n]);
    expect((await storedBatches()).map((b) => [b.seq, b.from, b.to])).toEqual([[0, 0, 2]]);
    expect(await store.getNamed('anchor/state')).toEqual({ nextLeaf: 2, nextSeq: 1 });
    expect(anchor.unanchored).toBe(0);
  });
});

describe('after a crash', () => {
  it('an unanchored batch is submitted again with the same root; later leaves go to the next batch', async () => {
    await store.accept([record('a'), record('b'), record('c')]);
    chain.mode = 'unavailable';
    const first = service();
    expect((await failure(first.flush())).code).toBe('RPC_UNAVAILABLE');
    expect(first.unanchored).toBe(1);
    await first.stop();
    const root = toHex(chain.calls[0]!.root);
    await store.close();
    store = await SwitchStore.open(dir);
    const d = record('d');
    await store.accept([d]);

    chain.mode = 'commit';
    chain.calls.length = 0;
    const second = service();
    await second.start();
    await second.flush();
    await second.stop();
    expect(chain.calls.map((c) => [c.batchSeq, toHex(c.root), c.count])).toEqual([
      [0n, root, 3],
      [1n, toHex(leafH(anchorLeaf('accepted', d.digest, NOW))), 1],
    ]);
    expect(second.unanchored).toBe(0);
    expect((await storedBatches()).map((b) => [b.seq, b.from, b.to, b.anchored !== undefined])).toEqual([
      [0, 0, 3, true],
      [1, 3, 4, true],
    ]);
  });

  it('CONTRACT_ALREADY_EXISTS for the same root counts as anchored, at the first anchor', async () => {
    await store.accept([record('a'), record('b')]);
    chain.mode = 'lost';
    const first = service();
    await failure(first.flush());
    await first.stop();
    expect(first.unanchored).toBe(1);
    const anchoredAt = chain.height;

    chain.mode = 'commit';
    const second = service();
    await second.start();
    await second.flush();
    expect(second.unanchored).toBe(0);
    expect(chain.calls.map((c) => c.batchSeq)).toEqual([0n, 0n]);
    const [batch] = await storedBatches();
    expect(batch?.anchored).toMatchObject({ height: anchoredAt.toString(), eventIndex: 2 });
  });

  it('CONTRACT_ALREADY_EXISTS for another root does not: DELIVER_REJECTED, the batch stays unanchored', async () => {
    await store.accept([record('a'), record('b')]);
    chain.state.set(xmsgBatchKey(SWITCH, 0n), encodeBatchRecord({ root: new Uint8Array(32).fill(7), count: 2, height: 5n, time: BigInt(NOW) }));
    const anchor = service();
    const error = await failure(anchor.flush());
    expect(error.code).toBe('DELIVER_REJECTED');
    expect(error.details).toEqual({ batch: 0 });
    expect(anchor.unanchored).toBe(1);
    expect((await storedBatches())[0]?.anchored).toBeUndefined();
  });
});

describe('proofs', () => {
  it('MESSAGE_NOT_ANCHORED before the batch is committed', async () => {
    const r = record('a');
    const anchor = service();
    await expect(anchor.proof(r)).rejects.toMatchObject({ code: 'MESSAGE_NOT_ANCHORED', details: { id: 'a', source: ACME } });
    await store.accept([r]);
    await expect(anchor.proof(r)).rejects.toMatchObject({ code: 'MESSAGE_NOT_ANCHORED' });
    chain.mode = 'unavailable';
    await failure(anchor.flush()); // cut and recorded, not committed
    expect(anchor.unanchored).toBe(1);
    await expect(anchor.proof(r)).rejects.toMatchObject({ code: 'MESSAGE_NOT_ANCHORED', details: { id: 'a', source: ACME } });
  });

  it('once anchored: the leaf, its path to the batch root, and the anchoring event with its header', async () => {
    const rs = ['a', 'b', 'c'].map((id) => record(id));
    await store.accept(rs);
    const anchor = service();
    await anchor.flush();
    const target = rs[1]!;
    const first = await anchor.proof(target);
    expect(first.delivered).toBeUndefined();
    const p = first.accepted;
    expect(p).toMatchObject({ kind: 'accepted', digest: target.digest, at: NOW, switchId: SWITCH, batchSeq: 0 });
    expect(p.proof.leaf).toBe(toHex(anchorLeaf('accepted', target.digest, NOW)));
    expect(p.proof.leafIndex).toBe(1);
    expect(verifyInclusionOfData(fromHex(p.proof.leaf), 1, 3, p.proof.batchPath.map((h) => fromHex(h)), chain.calls[0]!.root)).toBe(true);
    const event = chain.blocks.get(11n)![2]!;
    expect(p.proof).toMatchObject({ event: event.encoded, eventIndex: 2, eventPath: ['11'.repeat(32)], headerBytes: `aa${(11).toString(16).padStart(16, '0')}` });
    expect(p.proof.certificate).toEqual({ height: '11', view: '0', blockHash: '22'.repeat(32), signatures: [{ validator: 0, signature: '33'.repeat(65) }] });
    expect(() => anchorProofFromJson(p.proof)).not.toThrow();

    // Delivery adds a leaf in a later batch; both proofs come back.
    await deliver(target, NOW + 500);
    await expect(anchor.proof(target)).resolves.not.toHaveProperty('delivered');
    await anchor.flush();
    const both = await anchor.proof(target);
    expect(both.delivered).toMatchObject({ kind: 'delivered', at: NOW + 500, batchSeq: 1 });
    expect(both.delivered?.proof).toMatchObject({ leaf: toHex(anchorLeaf('delivered', target.digest, NOW + 500)), leafIndex: 0, batchPath: [] });
    expect(both.accepted).toEqual(p);
  });
});
