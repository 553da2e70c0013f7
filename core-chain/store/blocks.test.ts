import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runUntilKilled } from './fixtures/run-child.ts';
import { BlockStore, type BlockStorePoint, type CommitInput } from './blocks.ts';
import { SnapshotAssembler } from './snapshot.ts';
import { LoulanError } from '../errors.ts';
import { hashOf, makeBlock, receiptOf, txHashOf } from './fixtures/chain.ts';

const td = new TextDecoder();

async function rejection(promise: Promise<unknown>): Promise<LoulanError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError');
}

/** The state makeBlock leaves at tip t (with `txs` transactions per block). */
function expectedState(tip: bigint, txs = 10): Map<string, string> {
  const state = new Map<string, string>([['counter', String(tip)]]);
  for (let h = tip - 2n > 1n ? tip - 2n : 1n; h <= tip; h++) state.set(`h/${h}`, `value ${h}`);
  for (let i = 0; i < txs; i++) state.set(`acct/${String(i).padStart(6, '0')}`, `balance ${tip}/${i}`.padEnd(100, ' '));
  return state;
}

const asText = (state: Map<string, Uint8Array>): Map<string, string> => new Map([...state].map(([k, v]) => [k, td.decode(v)]));

let root: string;
let dir: string;
const open: BlockStore[] = [];
async function openStore(at = dir, options = {}): Promise<BlockStore> {
  const store = await BlockStore.open(at, options);
  open.push(store);
  return store;
}
async function closeStore(store: BlockStore): Promise<void> {
  open.splice(open.indexOf(store), 1);
  await store.close();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'loulan-blocks-'));
  dir = join(root, 'blocks');
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await rm(root, { recursive: true, force: true });
});

async function commitRange(store: BlockStore, from: bigint, to: bigint, txs = 10): Promise<void> {
  for (let h = from; h <= to; h++) await store.commitBlock(makeBlock(h, txs));
}

describe('BlockStore', () => {
  it('an empty store', async () => {
    const store = await openStore();
    expect(store.tip()).toBeNull();
    expect(await store.getBlock(1n)).toBeUndefined();
    expect((await store.loadState()).size).toBe(0);
    expect(await rejection(store.readSnapshot())).toMatchObject({ code: 'SNAPSHOT_INVALID', details: { reason: 'empty' } });
  });

  it('commits blocks and finds them by height, hash and transaction', async () => {
    const store = await openStore();
    await commitRange(store, 1n, 5n);
    const b3 = makeBlock(3n);
    expect(store.tip()).toEqual({ height: 5n, hash: makeBlock(5n).blockHash });
    expect(await store.getBlock(3n)).toEqual({ height: 3n, hash: b3.blockHash, header: b3.header, payload: b3.payload, cert: b3.cert });
    expect(await store.getHeader(3n)).toEqual({ height: 3n, hash: b3.blockHash, header: b3.header, cert: b3.cert });
    expect(await store.getCertificate(3n)).toEqual(b3.cert);
    expect(await store.getHeightByHash(b3.blockHash)).toBe(3n);
    expect((await store.getBlockByHash(b3.blockHash))?.height).toBe(3n);
    expect(await store.getBlockByHash(hashOf('nope'))).toBeUndefined();
    expect(await store.getTxLocation(txHashOf(3n, 7))).toEqual({ height: 3n, index: 7 });
    expect(await store.getTxLocation(hashOf('nope'))).toBeUndefined();
    expect(await store.getReceipt(txHashOf(3n, 7))).toEqual(receiptOf(3n, 7));
    expect(await store.getEvents(3n)).toEqual(b3.events);
    expect(await store.getEvents(6n)).toBeUndefined();
    expect(asText(await store.loadState())).toEqual(expectedState(5n));
    // values are plain arrays, not pooled Buffers
    expect((await store.getBlock(3n))?.payload.constructor).toBe(Uint8Array);
  });

  it('survives reopening', async () => {
    let store = await openStore();
    await commitRange(store, 1n, 4n);
    await closeStore(store);
    store = await openStore();
    expect(store.tip()?.height).toBe(4n);
    expect(asText(await store.loadState())).toEqual(expectedState(4n));
    await store.commitBlock(makeBlock(5n));
    expect(store.tip()?.height).toBe(5n);
  });

  it('refuses commits that do not extend the tip or do not match their certificate', async () => {
    const store = await openStore();
    const reason = async (input: CommitInput): Promise<unknown> => {
      const error = await rejection(store.commitBlock(input));
      expect(error.code).toBe('STORE_COMMIT_INVALID');
      return error.details.reason;
    };
    expect(await reason(makeBlock(2n))).toBe('height');
    await store.commitBlock(makeBlock(1n));
    expect(await reason(makeBlock(1n))).toBe('height');
    expect(await reason(makeBlock(3n))).toBe('height');
    const b2 = makeBlock(2n);
    expect(await reason({ ...b2, cert: makeBlock(3n).cert })).toBe('certificate');
    expect(await reason({ ...b2, cert: { ...b2.cert, digest: hashOf('other') } })).toBe('certificate');
    expect(await reason({ ...b2, blockHash: b2.blockHash.subarray(1) })).toBe('hash');
    expect(await reason({ ...b2, txHashes: [new Uint8Array(31)] })).toBe('hash');
    expect(await reason({ ...b2, stateDeletes: ['counter'] })).toBe('state');
    expect(await reason({ ...b2, statePuts: [['x'.repeat(4097), new Uint8Array(1)]] })).toBe('state-key');
    expect(await reason({ ...b2, statePuts: [['\ud800', new Uint8Array(1)]] })).toBe('state-key');
    // nothing of the refused commits landed, and the store carries on
    expect(store.tip()?.height).toBe(1n);
    await store.commitBlock(b2);
    expect(asText(await store.loadState())).toEqual(expectedState(2n));
  });

  it('accepts a genesis block at height 0', async () => {
    const store = await openStore();
    await store.commitBlock(makeBlock(0n));
    await store.commitBlock(makeBlock(1n));
    expect(store.tip()?.height).toBe(1n);
    expect((await store.getBlock(0n))?.height).toBe(0n);
  });

  it('queues overlapping commits in call order', async () => {
    const store = await openStore();
    await Promise.all([1n, 2n, 3n, 4n].map((h) => store.commitBlock(makeBlock(h))));
    expect(store.tip()?.height).toBe(4n);
  });

  it('calls the crash hook around the batch', async () => {
    const points: BlockStorePoint[] = [];
    const store = await openStore(dir, { onPoint: (p: BlockStorePoint) => points.push(p) });
    await store.commitBlock(makeBlock(1n));
    expect(points).toEqual(['before-batch', 'after-batch']);
  });

  it('serves ranges of blocks for catch-up', async () => {
    const store = await openStore();
    await commitRange(store, 1n, 6n);
    const heights = async (from: bigint, to: bigint): Promise<bigint[]> => {
      const out: bigint[] = [];
      for await (const block of store.blocks(from, to)) {
        expect(block.payload).toEqual(makeBlock(block.height).payload);
        out.push(block.height);
      }
      return out;
    };
    expect(await heights(2n, 4n)).toEqual([2n, 3n, 4n]);
    expect(await heights(5n, 100n)).toEqual([5n, 6n]);
    expect(await heights(4n, 3n)).toEqual([]);
    // a commit while a range is being read does not tear it
    const it = store.blocks(1n, 100n);
    const first = await it.next();
    await store.commitBlock(makeBlock(7n));
    const rest: bigint[] = [];
    for await (const block of it) rest.push(block.height);
    expect([first.value?.height, ...rest]).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('prunes bodies but keeps headers, certificates, indexes, receipts and state', async () => {
    let store = await openStore();
    await commitRange(store, 1n, 6n);
    expect(await store.pruneBelow(4n)).toBe(4n);
    expect(store.prunedBelow()).toBe(4n);
    expect(await store.getBlock(3n)).toBeUndefined();
    expect((await store.getBlock(4n))?.height).toBe(4n);
    expect((await store.getHeader(1n))?.header).toEqual(makeBlock(1n).header);
    expect(await store.getCertificate(2n)).toEqual(makeBlock(2n).cert);
    expect(await store.getTxLocation(txHashOf(2n, 1))).toEqual({ height: 2n, index: 1 });
    expect(await store.getReceipt(txHashOf(2n, 1))).toEqual(receiptOf(2n, 1));
    expect(await store.getEvents(2n)).toEqual(makeBlock(2n).events);
    const served: bigint[] = [];
    for await (const block of store.blocks(1n, 10n)) served.push(block.height);
    expect(served).toEqual([4n, 5n, 6n]);
    // the floor only rises, and never past the tip
    expect(await store.pruneBelow(2n)).toBe(4n);
    expect(await store.pruneBelow(100n)).toBe(6n);
    expect((await store.getBlock(6n))?.height).toBe(6n);
    await closeStore(store);
    store = await openStore();
    expect(store.prunedBelow()).toBe(6n);
    expect(asText(await store.loadState())).toEqual(expectedState(6n));
  });

  it('is locked against a second opener', async () => {
    await openStore();
    const error = await rejection(BlockStore.open(dir));
    expect(error.code).toBe('STORE_LOCKED');
    expect(error.details.dir).toBe(dir);
  });

  it('refuses to open a store with a corrupt tip', async () => {
    const store = await openStore();
    await store.commitBlock(makeBlock(1n));
    // reach under the API to damage the meta record, as a disk fault would
    const { Level } = await import('level');
    await closeStore(store);
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.sublevel<string, Uint8Array>('meta', { valueEncoding: 'view' }).put('tip', Uint8Array.of(1, 2, 3));
    await db.close();
    const error = await rejection(BlockStore.open(dir));
    expect(error.code).toBe('STORE_CORRUPT');
    expect(error.details.key).toBe('meta/tip');
    // the failed open released the lock
    const again = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await again.open();
    await again.close();
  });

  it('wipe removes a store and refuses anything else', async () => {
    const store = await openStore();
    await store.commitBlock(makeBlock(1n));
    await closeStore(store);
    await BlockStore.wipe(dir);
    expect(existsSync(dir)).toBe(false);
    await BlockStore.wipe(dir); // nothing there: fine
    const other = join(root, 'precious');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'keep me');
    expect((await rejection(BlockStore.wipe(other))).code).toBe('CONFIG_INVALID');
    expect(existsSync(join(other, 'notes.txt'))).toBe(true);
  });
});

describe('snapshots', () => {
  it('reads the state at the tip, streams it in bounded chunks and installs it elsewhere', async () => {
    const source = await openStore();
    await commitRange(source, 1n, 5n, 300);
    const snap = await source.readSnapshot();
    expect(snap.height).toBe(5n);
    expect(snap.header).toEqual(makeBlock(5n).header);
    expect(snap.cert).toEqual(makeBlock(5n).cert);
    expect(new Map(snap.entries.map(([k, v]) => [k, td.decode(v)]))).toEqual(expectedState(5n, 300));

    const maxBytes = 4096;
    const assembler = new SnapshotAssembler({ maxTotalBytes: 1 << 20, maxChunkBytes: maxBytes, height: 5n });
    let chunks = 0;
    let done = false;
    for await (const chunk of source.snapshotChunks(maxBytes)) {
      expect(chunk.length).toBeLessThanOrEqual(maxBytes);
      done = assembler.accept(chunk);
      chunks++;
    }
    expect(done).toBe(true);
    expect(chunks).toBeGreaterThan(5);
    const received = assembler.result();
    expect(received).toEqual(snap);

    const target = await openStore(join(root, 'target'));
    await commitRange(target, 1n, 2n, 300); // a lagging node with some history and stale state
    await target.writeSnapshot(received);
    expect(target.tip()).toEqual({ height: 5n, hash: snap.hash });
    expect(target.prunedBelow()).toBe(6n);
    expect(asText(await target.loadState())).toEqual(expectedState(5n, 300));
    expect((await target.getHeader(5n))?.cert).toEqual(snap.cert);
    expect(await target.getBlock(5n)).toBeUndefined();
    await target.commitBlock(makeBlock(6n, 300));
    expect(asText(await target.loadState())).toEqual(expectedState(6n, 300));
    expect(await rejection(target.writeSnapshot(received))).toMatchObject({ code: 'STORE_COMMIT_INVALID', details: { reason: 'height' } });
  });

  it('keeps validator-set hand-overs: committed with their block, or verified below an installed snapshot', async () => {
    const source = await openStore();
    const keys = [new Uint8Array(33).fill(2), new Uint8Array(33).fill(3)];
    await commitRange(source, 1n, 2n);
    await source.commitBlock({ ...makeBlock(3n), nextValidatorSet: keys });
    await commitRange(source, 4n, 6n);
    const served = await source.getHandovers(1n, 10);
    expect(served.map((h) => [h.height, h.nextValidatorSet])).toEqual([[3n, keys]]);
    expect(served[0]!.cert).toEqual(makeBlock(3n).cert);
    expect(served[0]!.header).toEqual(makeBlock(3n).header);
    expect(await source.getHandovers(4n, 10)).toEqual([]);

    // A node installing a snapshot at 6 keeps the hand-over it verified to trust it, and serves it on.
    const snap = await source.readSnapshot();
    const target = await openStore(join(root, 'target-handovers'));
    await target.writeSnapshot(snap, undefined, served);
    expect(await target.getHandovers(0n, 10)).toEqual(served);
    expect(await target.getBlock(3n)).toBeUndefined(); // the header only, no body
  });

  it('a snapshot stream is consistent even when blocks commit while it is read', async () => {
    const store = await openStore();
    await commitRange(store, 1n, 3n, 200);
    const assembler = new SnapshotAssembler({ maxTotalBytes: 1 << 20 });
    const chunks = store.snapshotChunks(1024);
    const first = await chunks.next();
    assembler.accept(first.value as Uint8Array);
    await store.commitBlock(makeBlock(4n, 200));
    for await (const chunk of chunks) assembler.accept(chunk);
    const snap = assembler.result();
    expect(snap.height).toBe(3n);
    expect(new Map(snap.entries.map(([k, v]) => [k, td.decode(v)]))).toEqual(expectedState(3n, 200));
  });

  it('a chunk size too small for one entry is refused', async () => {
    const store = await openStore();
    await store.commitBlock({ ...makeBlock(1n), statePuts: [['big', new Uint8Array(5000)]] });
    const error = await rejection((async () => {
      for await (const chunk of store.snapshotChunks(4096)) void chunk;
    })());
    expect(error.code).toBe('CODEC_LENGTH');
  });
});

describe('performance (logged, not asserted)', () => {
  it('commitBlock latency with 1,000 transactions', async () => {
    const store = await openStore();
    const blocks = Array.from({ length: 21 }, (_, i) => makeBlock(BigInt(i + 1), 1000, 256 * 1024));
    const times: number[] = [];
    for (const block of blocks) {
      const t0 = performance.now();
      await store.commitBlock(block);
      times.push(performance.now() - t0);
    }
    times.shift(); // the first commit opens files
    times.sort((a, b) => a - b);
    console.log(
      `commitBlock, 1,000 txs + 1,000 receipts + 1,002 state puts + 256 KiB body: p50 ${times[10]?.toFixed(2)} ms, p90 ${times[18]?.toFixed(2)} ms`,
    );
    const small: number[] = [];
    for (let h = 22n; h < 52n; h++) {
      const t0 = performance.now();
      await store.commitBlock(makeBlock(h, 1, 512));
      small.push(performance.now() - t0);
    }
    small.sort((a, b) => a - b);
    console.log(`commitBlock, 1 tx: p50 ${small[15]?.toFixed(2)} ms`);
    const t0 = performance.now();
    const state = await store.loadState();
    console.log(`loadState, ${state.size} entries: ${(performance.now() - t0).toFixed(1)} ms`);
  });
});

// -- kill -9 around the batch ------------------------------------------------------------------------------

const fixture = fileURLToPath(new URL('./fixtures/blocks-crash.ts', import.meta.url));

async function runCrashChild(env: Record<string, string>): Promise<bigint[]> {
  return (await runUntilKilled(fixture, env, 'committed ')).values;
}

describe('kill -9 during commitBlock', () => {
  it.each(['before-batch', 'after-batch'] as const)('at %s: the tip is the last acknowledged block or the one in flight', async (point) => {
    let acknowledged = 0n;
    for (let iteration = 0; iteration < 3; iteration++) {
      const killAt = 1 + Math.floor(Math.random() * 4);
      const committed = await runCrashChild({ STORE_DIR: dir, KILL_POINT: point, KILL_AT: String(killAt) });
      expect(committed).toHaveLength(killAt - 1);
      acknowledged = committed.at(-1) ?? acknowledged;
      // The batch is the commit point: killed before it, the block is absent; after it returned, present.
      const expected = point === 'after-batch' ? acknowledged + 1n : acknowledged;

      const store = await openStore(); // the dead child's LevelDB lock is gone
      expect(store.tip()?.height ?? 0n).toBe(expected);
      if (expected > 0n) {
        const block = await store.getBlock(expected);
        expect(block?.payload).toEqual(makeBlock(expected, 50, 16 * 1024).payload);
        expect(await store.getTxLocation(txHashOf(expected, 49))).toEqual({ height: expected, index: 49 });
        expect(asText(await store.loadState())).toEqual(expectedState(expected, 50));
      }
      expect(await store.getBlock(expected + 1n)).toBeUndefined();
      expect(await store.getTxLocation(txHashOf(expected + 1n, 0))).toBeUndefined();
      await closeStore(store);
      acknowledged = expected;
    }
  });
});
