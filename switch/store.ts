/**
 * The switch's durable store: one LevelDB per switch data directory.
 *
 * Durability is by group commit. Every write (an accepted message, a status change, a DLQ entry) is
 * queued and resolves only once the LevelDB batch holding it has been written with `sync: true`
 * (LevelDB appends the batch to its log as one record and fsyncs it). While one batch is being
 * fsynced, every write that arrives joins the next one, so under load many messages share one fsync
 * and under light load a write waits for exactly one. Nothing is acknowledged before its batch is on
 * disk, and a batch is all-or-nothing, so kill -9 at any moment leaves either a message with all its
 * indexes or none of it.
 *
 * Writes are applied in call order. A record written is visible to `get` at once (from the queue),
 * before it is durable: intake's idempotency and replay checks must see a message the moment it is
 * reserved, or two concurrent copies could both pass.
 *
 * Layout (string keys; numbers are 16 lowercase hex digits so that byte order is numeric order):
 *   m!<source>\0<id>       the record's fixed part (envelope, digest, batch evidence, times, order; JSON)
 *   s!<source>\0<id>       the record's changing part (status, attempts, route, receipt, history; JSON)
 *   i!<id>\0<source>       '': finds a message by id alone
 *   p!<order>              <source>\0<id>: messages not yet terminal, in acceptance order
 *   d!<order>              <source>\0<id>: the dead-letter queue, in acceptance order
 *   e!<cursor>             StatusEvent (JSON): the log `/v1/stream` replays
 *   l!<leaf>               <leaf hex>|<source>\0<id>: anchoring leaves in order (anchor.ts)
 *   x!<name>               small named records other modules keep (anchoring, limits, checkpoints)
 *   meta!counters          {order, cursor}: the next free numbers
 */
import { Level } from 'level';
import { anchorLeaf, fromHex, LoulanError, toHex } from '../core-chain/index.ts';

export { anchorLeaf };
import { BloomFilter } from './bloom.ts';
import { messageKey, TERMINAL_STATUSES, type MessageRecord, type StatusEvent } from './model.ts';

type Op = { readonly type: 'put'; readonly key: string; readonly value: string } | { readonly type: 'del'; readonly key: string };

interface Pending {
  readonly ops: Op[];
  readonly waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

export interface SwitchStoreOptions {
  /** Called with the size of each group-committed batch (messages per fsync), for metrics. */
  readonly onBatch?: (ops: number, ms: number) => void;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export class SwitchStore {
  readonly #db: Level<string, string>;
  readonly #options: SwitchStoreOptions;
  /** Values written but not yet durable (undefined = deleted), so reads see them at once. */
  readonly #unflushed = new Map<string, { value: string | undefined; batch: number }>();
  /** Number of the batch queued writes join; a written value is forgotten once its batch is durable. */
  #batchNo = 0;
  #pending: Pending = { ops: [], waiters: [] };
  #writing: Promise<void> | undefined;
  #nextOrder = 1;
  #nextCursor = 1;
  /** Next anchoring leaf number (see anchor.ts): one leaf per acceptance and per delivery. */
  #nextLeaf = 0;
  /** Every message key ever accepted (see bloom.ts): most lookups of new ids never touch LevelDB. */
  readonly #known = new BloomFilter();
  /** Acceptance orders of the messages in the dead-letter queue. */
  readonly #dead = new Set<number>();
  #failed: unknown;
  readonly #listeners = new Set<(events: readonly StatusEvent[]) => void>();
  #queuedEvents: StatusEvent[] = [];

  private constructor(db: Level<string, string>, options: SwitchStoreOptions) {
    this.#db = db;
    this.#options = options;
  }

  static async open(dir: string, options: SwitchStoreOptions = {}): Promise<SwitchStore> {
    const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (cause) {
      throw new LoulanError('CONFIG_INVALID', `cannot open the switch store at ${dir}: ${(cause as Error).message}`, { details: { field: 'dataDir', dir }, cause });
    }
    const store = new SwitchStore(db, options);
    for await (const key of db.keys({ gte: 'i!', lt: 'i"' })) {
      const at = key.indexOf('\u0000');
      store.#known.add(messageKey(key.slice(at + 1), key.slice(2, at)));
    }
    for await (const key of db.keys({ gte: 'd!', lt: 'd"' })) store.#dead.add(parseInt(key.slice(2), 16));
    const counters = await db.get('meta!counters');
    if (counters !== undefined) {
      const parsed = JSON.parse(counters) as { order: number; cursor: number; leaf?: number };
      store.#nextOrder = parsed.order;
      store.#nextCursor = parsed.cursor;
      store.#nextLeaf = parsed.leaf ?? 0;
    }
    return store;
  }

  /** The next acceptance-order number; reserved at once, made durable with the write that uses it. */
  takeOrder(): number {
    return this.#nextOrder++;
  }

  async getMessage(source: string, id: string): Promise<MessageRecord | undefined> {
    const key = messageKey(source, id);
    if (!this.#known.mayContain(key)) return undefined;
    const [fixed, state] = await Promise.all([this.#read(`m!${key}`), this.#read(`s!${key}`)]);
    if (fixed === undefined || state === undefined) return undefined;
    return Object.assign(JSON.parse(fixed) as MessageRecord, JSON.parse(state) as MessageState);
  }

  /**
   * Writes new messages with their first event each; resolves once durable. `extra` carries other
   * keys that must change atomically with them (channel states).
   */
  accept(records: readonly MessageRecord[], extra: ReadonlyArray<{ name: string; value: unknown }> = []): Promise<void> {
    const ops: Op[] = [];
    const events: StatusEvent[] = [];
    for (const r of records) {
      const key = messageKey(r.source, r.id);
      this.#known.add(key);
      const leaf = this.#nextLeaf++;
      r.anchors = { accepted: leaf };
      ops.push({ type: 'put', key: `l!${hex16(leaf)}`, value: leafValue(anchorLeaf('accepted', r.digest, r.acceptedAt), key) });
      ops.push({ type: 'put', key: `m!${key}`, value: fixedJson(r) });
      ops.push({ type: 'put', key: `s!${key}`, value: stateJson(r) });
      ops.push({ type: 'put', key: `i!${r.id}\u0000${r.source}`, value: '' });
      ops.push({ type: 'put', key: `p!${hex16(r.order)}`, value: key });
      const last = r.history[r.history.length - 1];
      if (last !== undefined) events.push(this.#event(r, last));
    }
    for (const e of events) ops.push({ type: 'put', key: `e!${hex16(e.cursor)}`, value: JSON.stringify(e) });
    for (const x of extra) ops.push({ type: 'put', key: `x!${x.name}`, value: JSON.stringify(x.value) });
    return this.#enqueue(ops, events);
  }

  /**
   * Writes a message's new state (its last history entry is the change) and logs the event; resolves
   * once durable. Moving to a terminal status drops it from the pending index; `dead` adds it to the DLQ.
   */
  update(record: MessageRecord, extra: ReadonlyArray<{ name: string; value: unknown }> = []): Promise<void> {
    const key = messageKey(record.source, record.id);
    const ops: Op[] = [];
    if (record.status === 'delivered' && record.anchors?.delivered === undefined && record.receipt !== undefined) {
      const leaf = this.#nextLeaf++;
      record.anchors = { ...record.anchors, delivered: leaf };
      ops.push({ type: 'put', key: `l!${hex16(leaf)}`, value: leafValue(anchorLeaf('delivered', record.digest, record.receipt.at), key) });
    }
    ops.push({ type: 'put', key: `s!${key}`, value: stateJson(record) });
    const order = hex16(record.order);
    if (TERMINAL_STATUSES.has(record.status)) ops.push({ type: 'del', key: `p!${order}` });
    if (record.status === 'dead') {
      ops.push({ type: 'put', key: `d!${order}`, value: key });
      this.#dead.add(record.order);
    } else if (this.#dead.delete(record.order)) {
      // Replayed out of the DLQ: pending again.
      ops.push({ type: 'del', key: `d!${order}` });
      ops.push({ type: 'put', key: `p!${order}`, value: key });
    }
    const last = record.history[record.history.length - 1];
    const events = last === undefined ? [] : [this.#event(record, last)];
    for (const e of events) ops.push({ type: 'put', key: `e!${hex16(e.cursor)}`, value: JSON.stringify(e) });
    for (const x of extra) ops.push({ type: 'put', key: `x!${x.name}`, value: JSON.stringify(x.value) });
    return this.#enqueue(ops, events);
  }

  /** Every message with this id, from any source (ids are chosen by senders, so two may collide). */
  async messagesById(id: string, limit = 16): Promise<MessageRecord[]> {
    await this.flushed();
    const out: MessageRecord[] = [];
    for await (const key of this.#db.keys({ gte: `i!${id}\u0000`, lt: `i!${id}\u0001`, limit })) {
      const record = await this.getMessage(key.slice(key.indexOf('\u0000') + 1), id);
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  /** Writes small named records (anchoring state, limit windows, watcher checkpoints) atomically. */
  put(entries: ReadonlyArray<{ name: string; value: unknown }>, deletes: readonly string[] = []): Promise<void> {
    const ops: Op[] = entries.map((x) => ({ type: 'put', key: `x!${x.name}`, value: JSON.stringify(x.value) }));
    for (const name of deletes) ops.push({ type: 'del', key: `x!${name}` });
    return this.#enqueue(ops, []);
  }

  async getNamed<T>(name: string): Promise<T | undefined> {
    const raw = await this.#read(`x!${name}`);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  /** Named records whose name starts with `prefix`, in name order. */
  async *named<T>(prefix: string): AsyncGenerator<{ name: string; value: T }> {
    await this.flushed();
    for await (const [key, value] of this.#db.iterator({ gte: `x!${prefix}`, lt: `x!${prefix}\uffff` })) {
      yield { name: key.slice(2), value: JSON.parse(value) as T };
    }
  }

  /** Every message not yet delivered, dead or expired, in acceptance order. */
  async *pendingMessages(): AsyncGenerator<MessageRecord> {
    await this.flushed();
    for await (const key of this.#db.values({ gte: 'p!', lt: 'p!\uffff' })) {
      const record = await this.getMessage(...splitKey(key));
      if (record !== undefined && !TERMINAL_STATUSES.has(record.status)) yield record;
    }
  }

  /** The dead-letter queue in acceptance order, `limit` entries after acceptance order `after`. */
  async deadLetters(after = 0, limit = 100): Promise<MessageRecord[]> {
    await this.flushed();
    const out: MessageRecord[] = [];
    for await (const key of this.#db.values({ gt: `d!${hex16(after)}`, lt: 'd!\uffff', limit })) {
      const record = await this.getMessage(...splitKey(key));
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  /** Logged events with cursor > `after`, oldest first, at most `limit`. */
  async eventsAfter(after: number, limit = 1000): Promise<StatusEvent[]> {
    await this.flushed();
    const out: StatusEvent[] = [];
    for await (const value of this.#db.values({ gt: `e!${hex16(after)}`, lt: 'e!\uffff', limit })) out.push(JSON.parse(value) as StatusEvent);
    return out;
  }

  /** True once a write has failed: the store takes no more writes and the switch must restart. */
  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** Messages in the dead-letter queue now. */
  get deadCount(): number {
    return this.#dead.size;
  }

  /** Number of anchoring leaves written so far (leaf numbers are 0 .. leafCount - 1). */
  get leafCount(): number {
    return this.#nextLeaf;
  }

  /** Anchoring leaves `from` (inclusive) to `to` (exclusive), in order: 32-byte leaf data and the message. */
  async leaves(from: number, to: number): Promise<Array<{ leaf: Uint8Array; message: [string, string] }>> {
    await this.flushed();
    const out: Array<{ leaf: Uint8Array; message: [string, string] }> = [];
    for await (const value of this.#db.values({ gte: `l!${hex16(from)}`, lt: `l!${hex16(to)}` })) {
      const at = value.indexOf('|');
      out.push({ leaf: fromHex(value.slice(0, at)), message: splitKey(value.slice(at + 1)) });
    }
    return out;
  }

  /** The cursor of the last event logged (0 when none). */
  get lastCursor(): number {
    return this.#nextCursor - 1;
  }

  /** Called with each group of events once they are durable, in cursor order. Returns an unsubscribe. */
  onEvents(listener: (events: readonly StatusEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when everything queued so far is durable. */
  async flushed(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing.catch(() => undefined);
    if (this.#pending.ops.length > 0) await this.#enqueue([], []);
  }

  async close(): Promise<void> {
    await this.flushed().catch(() => undefined);
    await this.#db.close();
  }

  #event(record: MessageRecord, entry: MessageRecord['history'][number]): StatusEvent {
    return {
      cursor: this.#nextCursor++,
      source: record.source,
      id: record.id,
      to: record.envelope.to,
      status: entry.status,
      at: entry.at,
      ...(entry.attempt === undefined ? {} : { attempt: entry.attempt }),
      ...(entry.link === undefined ? {} : { link: entry.link }),
      ...(entry.code === undefined ? {} : { code: entry.code }),
      ...(entry.detail === undefined ? {} : { detail: entry.detail }),
    };
  }

  async #read(key: string): Promise<string | undefined> {
    const queued = this.#unflushed.get(key);
    if (queued !== undefined) return queued.value;
    return this.#db.get(key);
  }

  #enqueue(ops: Op[], events: StatusEvent[]): Promise<void> {
    if (this.#failed !== undefined) {
      return Promise.reject(new LoulanError('SWITCH_STORE_FAILED', 'the switch store failed earlier; restart the switch', { cause: this.#failed }));
    }
    for (const op of ops) {
      this.#pending.ops.push(op);
      this.#unflushed.set(op.key, { value: op.type === 'put' ? op.value : undefined, batch: this.#batchNo });
    }
    this.#queuedEvents.push(...events);
    const done = new Promise<void>((resolve, reject) => this.#pending.waiters.push({ resolve, reject }));
    if (this.#writing === undefined) this.#writing = this.#drain();
    return done;
  }

  /** Writes queued batches one after another until the queue is empty. */
  async #drain(): Promise<void> {
    // Let the rest of this turn's writes join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.waiters.length > 0) {
      const batch = this.#pending;
      const events = this.#queuedEvents;
      const no = this.#batchNo++;
      this.#pending = { ops: [], waiters: [] };
      this.#queuedEvents = [];
      batch.ops.push({ type: 'put', key: 'meta!counters', value: JSON.stringify({ order: this.#nextOrder, cursor: this.#nextCursor, leaf: this.#nextLeaf }) });
      const started = performance.now();
      try {
        const chained = this.#db.batch();
        for (const op of batch.ops) {
          if (op.type === 'put') chained.put(op.key, op.value);
          else chained.del(op.key);
        }
        await chained.write({ sync: true });
      } catch (cause) {
        this.#failed = cause;
        const error = new LoulanError('SWITCH_STORE_FAILED', `the switch store write failed: ${(cause as Error).message}`, { cause });
        for (const w of batch.waiters) w.reject(error);
        for (const w of this.#pending.waiters) w.reject(error);
        this.#pending = { ops: [], waiters: [] };
        break;
      }
      this.#options.onBatch?.(batch.waiters.length, performance.now() - started);
      // Forget what is now on disk, unless a later write (still queued) replaced it.
      for (const op of batch.ops) if (this.#unflushed.get(op.key)?.batch === no) this.#unflushed.delete(op.key);
      for (const w of batch.waiters) w.resolve();
      if (events.length > 0) for (const listener of this.#listeners) listener(events);
    }
    this.#writing = undefined;
  }
}

/** The parts of a record that change after acceptance; `update` rewrites only these. */
type MessageState = Pick<MessageRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'route' | 'lastError' | 'receipt' | 'anchors' | 'hold' | 'history' | 'historyCount'>;

/** The parts fixed at acceptance (the envelope is most of the bytes): written once. */
function fixedJson(r: MessageRecord): string {
  return JSON.stringify({ source: r.source, id: r.id, envelope: r.envelope, digest: r.digest, batch: r.batch, acceptedAt: r.acceptedAt, deadline: r.deadline, order: r.order });
}

function stateJson(r: MessageRecord): string {
  const state: MessageState = {
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    route: r.route,
    lastError: r.lastError,
    receipt: r.receipt,
    anchors: r.anchors,
    hold: r.hold,
    history: r.history,
    historyCount: r.historyCount,
  } as MessageState;
  return JSON.stringify(state);
}

function leafValue(leaf: Uint8Array, key: string): string {
  return `${toHex(leaf)}|${key}`;
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}
