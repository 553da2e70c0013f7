import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, toHex, type LoulanError } from '../core-chain/index.ts';
import type { MessageRecord, MessageStatus, StatusEvent } from './model.ts';
import { anchorLeaf, SwitchStore } from './store.ts';
import { pointsOrder } from './testkit.ts';

const NOW = Date.parse('2026-11-21T10:00:00Z');
const ACME = 'cn.loulan.shop.acme';
const BOLT = 'cn.loulan.shop.bolt';
const SKYAIR = 'cn.loulan.partner.skyair';

let dir: string;
let store: SwitchStore;
/** Waiter counts of the batches written so far, one entry per fsync. */
let batches: number[];
/** What happened, in order: 'batch' when a batch is on disk, anything else the test pushes. */
let log: string[];

async function open(): Promise<SwitchStore> {
  return SwitchStore.open(dir, {
    onBatch: (ops) => {
      batches.push(ops);
      log.push('batch');
    },
  });
}

async function reopen(): Promise<void> {
  await store.close();
  store = await open();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-store-'));
  batches = [];
  log = [];
  store = await open();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh record as intake makes it (status accepted, one history entry, the next acceptance order). */
function record(source: string, id: string, at = NOW): MessageRecord {
  return {
    source,
    id,
    envelope: pointsOrder(source, SKYAIR, 1, { id }, at),
    digest: toHex(sha256(new TextEncoder().encode(`${source}/${id}`))),
    acceptedAt: at,
    deadline: at + 3_600_000,
    order: store.takeOrder(),
    status: 'accepted',
    attempts: 0,
    history: [{ at, status: 'accepted' }],
    historyCount: 1,
  };
}

/** A status change as the delivery engine writes it: the new status and its history entry. */
function move(r: MessageRecord, status: MessageStatus, at: number, extra: Partial<MessageRecord> = {}): MessageRecord {
  Object.assign(r, extra);
  r.status = status;
  r.history.push({ at, status });
  r.historyCount++;
  return r;
}

async function pendingIds(): Promise<string[]> {
  const out: string[] = [];
  for await (const r of store.pendingMessages()) out.push(r.id);
  return out;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('group commit', () => {
  it('writes issued in the same turn share one batch; a later write gets its own', async () => {
    const a = record(ACME, 'a');
    const b = record(ACME, 'b');
    await Promise.all([store.accept([a]), store.accept([b]), store.put([{ name: 'n', value: 1 }])]);
    expect(batches).toEqual([3]);
    await store.update(move(a, 'queued', NOW + 1));
    expect(batches).toEqual([3, 1]);
  });

  it('a write resolves only after its batch is on disk', async () => {
    const written = store.accept([record(ACME, 'a')]).then(() => log.push('resolved'));
    expect(log).toEqual([]);
    await written;
    expect(log).toEqual(['batch', 'resolved']);
  });

  it('writes arriving while a batch is being written wait for it, then share the next batch', async () => {
    const first = store.accept([record(ACME, 'a')]);
    // The store starts its batch in the first check phase after the write; this turn runs after that.
    await new Promise<void>((resolve) => setImmediate(resolve));
    log.push('queued b, c');
    const later = [store.accept([record(ACME, 'b')]), store.accept([record(ACME, 'c')])];
    await Promise.all([first, ...later]);
    expect(log).toEqual(['queued b, c', 'batch', 'batch']);
    expect(batches).toEqual([1, 2]);
  });

  it('a failed write rejects with SWITCH_STORE_FAILED, and so does every write after it', async () => {
    await store.accept([record(ACME, 'a')]);
    expect(store.failed).toBe(false);
    await store.close(); // the database is closed under the store: the next batch cannot be written
    const error = (await store.accept([record(ACME, 'b')]).catch((e: unknown) => e)) as LoulanError;
    expect(error.code).toBe('SWITCH_STORE_FAILED');
    expect(store.failed).toBe(true); // health reports the switch down
    const again = (await store.put([{ name: 'x', value: 1 }]).catch((e: unknown) => e)) as LoulanError;
    expect(again.code).toBe('SWITCH_STORE_FAILED');
    store = await open();
    expect(await store.getMessage(ACME, 'a')).toBeDefined();
    expect(await store.getMessage(ACME, 'b')).toBeUndefined();
  });
});

describe('messages', () => {
  it('a record is readable at once, before its batch is durable, and after a reopen', async () => {
    const r = record(ACME, 'a');
    const written = store.accept([r]);
    const early = await store.getMessage(ACME, 'a');
    expect(batches).toEqual([]); // not yet on disk
    expect(early).toMatchObject({ source: ACME, id: 'a', digest: r.digest, status: 'accepted', order: r.order, envelope: r.envelope });
    await written;
    await reopen();
    expect(await store.getMessage(ACME, 'a')).toEqual(JSON.parse(JSON.stringify(r)));
  });

  it('update() writes only the changing part: the envelope stays as accepted', async () => {
    const r = record(ACME, 'a');
    await store.accept([r]);
    const changed = move({ ...r, history: [...r.history], envelope: { ...r.envelope, to: 'cn.loulan.elsewhere' } }, 'retrying', NOW + 5, {
      attempts: 1,
      nextAttemptAt: NOW + 1_000,
      lastError: { code: 'DELIVER_UNAVAILABLE', message: 'down' },
    });
    await store.update(changed);
    await reopen();
    const stored = (await store.getMessage(ACME, 'a'))!;
    expect(stored.envelope).toEqual(r.envelope);
    expect(stored).toMatchObject({ status: 'retrying', attempts: 1, nextAttemptAt: NOW + 1_000, lastError: { code: 'DELIVER_UNAVAILABLE' }, historyCount: 2 });
    expect(stored.history.map((h) => h.status)).toEqual(['accepted', 'retrying']);
  });

  it('a terminal status takes a message out of the pending list, in acceptance order otherwise', async () => {
    const [a, b, c] = [record(ACME, 'a'), record(ACME, 'b'), record(BOLT, 'c')];
    await store.accept([a, b, c]);
    expect(await pendingIds()).toEqual(['a', 'b', 'c']);
    await store.update(move(b, 'queued', NOW + 1));
    expect(await pendingIds()).toEqual(['a', 'b', 'c']);
    await store.update(move(b, 'delivered', NOW + 2, { receipt: { link: 'loop', at: NOW + 2 } }));
    await store.update(move(a, 'expired', NOW + 3));
    expect(await pendingIds()).toEqual(['c']);
    await reopen();
    expect(await pendingIds()).toEqual(['c']);
  });

  it('dead goes to the dead-letter queue; a replay brings it back to pending', async () => {
    const [a, b] = [record(ACME, 'a'), record(ACME, 'b')];
    await store.accept([a, b]);
    await store.update(move(a, 'dead', NOW + 1, { lastError: { code: 'DELIVER_REJECTED', message: 'no' } }));
    expect(store.deadCount).toBe(1);
    expect((await store.deadLetters()).map((r) => r.id)).toEqual(['a']);
    expect(await pendingIds()).toEqual(['b']);

    await reopen(); // the DLQ count is rebuilt from the index
    expect(store.deadCount).toBe(1);
    const dead = (await store.getMessage(ACME, 'a'))!;
    await store.update(move(dead, 'queued', NOW + 2));
    expect(store.deadCount).toBe(0);
    expect(await store.deadLetters()).toEqual([]);
    expect(await pendingIds()).toEqual(['a', 'b']);
    await reopen();
    expect(store.deadCount).toBe(0);
    expect(await pendingIds()).toEqual(['a', 'b']);
  });

  it('deadLetters pages by acceptance order', async () => {
    const rs = ['a', 'b', 'c'].map((id) => record(ACME, id));
    await store.accept(rs);
    for (const r of rs) await store.update(move(r, 'dead', NOW + 1));
    const first = await store.deadLetters(0, 2);
    expect(first.map((r) => r.id)).toEqual(['a', 'b']);
    expect((await store.deadLetters(first[1]!.order, 2)).map((r) => r.id)).toEqual(['c']);
  });

  it('messagesById finds every source that used the id', async () => {
    await store.accept([record(ACME, 'same'), record(BOLT, 'same'), record(ACME, 'other')]);
    const found = await store.messagesById('same');
    expect(found.map((r) => r.source).sort()).toEqual([ACME, BOLT]);
    expect(await store.messagesById('none')).toEqual([]);
  });

  it('after a reopen the known-id filter is rebuilt: known ids are found, unknown ones are not', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `m-${i}`);
    await store.accept(ids.map((id) => record(ACME, id)));
    await reopen();
    for (const id of ids) expect((await store.getMessage(ACME, id))?.id).toBe(id);
    expect(await store.getMessage(ACME, 'never')).toBeUndefined();
    expect(await store.getMessage(BOLT, 'm-0')).toBeUndefined();
  });

  it('acceptance orders keep counting across a reopen', async () => {
    const r = record(ACME, 'a');
    await store.accept([r]);
    await reopen();
    expect(store.takeOrder()).toBe(r.order + 1);
  });
});

describe('event log', () => {
  it('gives strictly increasing cursors that survive a reopen, and pages with eventsAfter', async () => {
    const [a, b] = [record(ACME, 'a'), record(BOLT, 'b')];
    await store.accept([a, b]);
    await store.update(move(a, 'queued', NOW + 1));
    expect(store.lastCursor).toBe(3);
    await reopen();
    expect(store.lastCursor).toBe(3);
    await store.update(move(a, 'delivered', NOW + 2, { receipt: { link: 'loop', at: NOW + 2 } }));

    const all = await store.eventsAfter(0);
    expect(all.map((e) => e.cursor)).toEqual([1, 2, 3, 4]);
    expect(all.map((e) => [e.id, e.status])).toEqual([
      ['a', 'accepted'],
      ['b', 'accepted'],
      ['a', 'queued'],
      ['a', 'delivered'],
    ]);
    expect(all[0]).toEqual({ cursor: 1, source: ACME, id: 'a', to: SKYAIR, status: 'accepted', at: NOW });
    expect((await store.eventsAfter(1, 2)).map((e) => e.cursor)).toEqual([2, 3]);
    expect((await store.eventsAfter(4)).length).toBe(0);
  });

  it('onEvents fires once the events are durable, in cursor order', async () => {
    const seen: StatusEvent[] = [];
    const unsubscribe = store.onEvents((events) => {
      log.push(`events ${events.map((e) => e.cursor).join(',')}`);
      seen.push(...events);
    });
    const a = record(ACME, 'a');
    const first = store.accept([a, record(ACME, 'b')]);
    const second = first.then(() => store.update(move(a, 'queued', NOW + 1)));
    await Promise.all([first, second]);
    expect(log).toEqual(['batch', 'events 1,2', 'batch', 'events 3']);
    expect(seen.map((e) => e.cursor)).toEqual([1, 2, 3]);
    unsubscribe();
    await store.update(move(a, 'delivered', NOW + 2, { receipt: { link: 'loop', at: NOW + 2 } }));
    expect(seen.length).toBe(3);
  });
});

describe('anchoring leaves', () => {
  it('one leaf per acceptance and per delivery, numbered in order, surviving a reopen', async () => {
    const [a, b] = [record(ACME, 'a'), record(BOLT, 'b', NOW + 1)];
    await store.accept([a, b]);
    expect(a.anchors).toEqual({ accepted: 0 });
    expect(b.anchors).toEqual({ accepted: 1 });
    await store.update(move(b, 'queued', NOW + 2)); // not a delivery: no leaf
    expect(store.leafCount).toBe(2);
    await store.update(move(b, 'delivered', NOW + 3, { receipt: { link: 'loop', at: NOW + 3 } }));
    expect(b.anchors).toEqual({ accepted: 1, delivered: 2 });
    // A second write of a delivered record (a note) does not add another leaf.
    await store.update(move(b, 'delivered', NOW + 4));
    expect(store.leafCount).toBe(3);

    await reopen();
    expect(store.leafCount).toBe(3);
    expect((await store.getMessage(BOLT, 'b'))?.anchors).toEqual({ accepted: 1, delivered: 2 });
    expect(await store.leaves(0, 3)).toEqual([
      { leaf: anchorLeaf('accepted', a.digest, NOW), message: [ACME, 'a'] },
      { leaf: anchorLeaf('accepted', b.digest, NOW + 1), message: [BOLT, 'b'] },
      { leaf: anchorLeaf('delivered', b.digest, NOW + 3), message: [BOLT, 'b'] },
    ]);
    expect((await store.leaves(1, 2)).map((l) => l.message)).toEqual([[BOLT, 'b']]);
    const c = record(ACME, 'c');
    await store.accept([c]);
    expect(c.anchors).toEqual({ accepted: 3 });
  });

  it('anchorLeaf commits to the kind, the digest and the time', () => {
    const digest = 'ab'.repeat(32);
    const leaf = anchorLeaf('accepted', digest, NOW);
    expect(leaf.length).toBe(32);
    expect(anchorLeaf('delivered', digest, NOW)).not.toEqual(leaf);
    expect(anchorLeaf('accepted', 'cd'.repeat(32), NOW)).not.toEqual(leaf);
    expect(anchorLeaf('accepted', digest, NOW + 1)).not.toEqual(leaf);
    const tag = new TextEncoder().encode('loulan-anchor-v1\naccepted\n');
    const time = new Uint8Array(8);
    new DataView(time.buffer).setBigUint64(0, BigInt(NOW));
    expect(leaf).toEqual(sha256(new Uint8Array([...tag, ...Buffer.from(digest, 'hex'), ...time])));
  });
});

describe('named records', () => {
  it('put() / getNamed() / named(): visible at once, durable, listed by prefix in name order, deletable', async () => {
    const written = store.put([
      { name: 'anchor/batch/000000000001', value: { seq: 1 } },
      { name: 'anchor/batch/000000000000', value: { seq: 0 } },
      { name: 'anchor/state', value: { nextLeaf: 3 } },
      { name: 'limits/acme', value: [1, 2] },
    ]);
    expect(await store.getNamed('anchor/state')).toEqual({ nextLeaf: 3 });
    await written;
    await reopen();
    expect(await store.getNamed('limits/acme')).toEqual([1, 2]);
    expect(await store.getNamed('missing')).toBeUndefined();
    expect(await collect(store.named('anchor/batch/'))).toEqual([
      { name: 'anchor/batch/000000000000', value: { seq: 0 } },
      { name: 'anchor/batch/000000000001', value: { seq: 1 } },
    ]);
    await store.put([{ name: 'anchor/state', value: { nextLeaf: 4 } }], ['limits/acme']);
    expect(await store.getNamed('limits/acme')).toBeUndefined();
    expect(await store.getNamed('anchor/state')).toEqual({ nextLeaf: 4 });
    expect((await collect(store.named(''))).map((n) => n.name)).toEqual(['anchor/batch/000000000000', 'anchor/batch/000000000001', 'anchor/state']);
  });

  it('accept() and update() write their extra records in the same batch', async () => {
    const a = record(ACME, 'a');
    await store.accept([a], [{ name: `chan/${ACME}`, value: { highest: '1' } }]);
    await store.update(move(a, 'queued', NOW + 1), [{ name: 'limits/x', value: 7 }]);
    expect(batches).toEqual([1, 1]);
    await reopen();
    expect(await store.getNamed(`chan/${ACME}`)).toEqual({ highest: '1' });
    expect(await store.getNamed('limits/x')).toBe(7);
  });
});
