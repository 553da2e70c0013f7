/**
 * Test support for the delivery engine: a hand-driven clock and timer, and message records as intake
 * writes them. Not exported from index.ts.
 */
import type { Envelope } from '../../schemas/index.ts';
import type { MessageRecord } from '../model.ts';
import type { Timer } from './scheduler.ts';

/** A clock that moves only when told; timers fire when it passes their due time. */
export class ManualTime implements Timer {
  now: number;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  #next = 1;

  constructor(start = 1_700_000_000_000) {
    this.now = start;
  }

  readonly clock = (): number => this.now;

  set(callback: () => void, ms: number): unknown {
    const handle = this.#next++;
    this.#timers.set(handle, { at: this.now + ms, callback });
    return handle;
  }

  clear(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** The earliest armed due time, if any. */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const t of this.#timers.values()) if (due === undefined || t.at < due) due = t.at;
    return due;
  }

  /** Fires every timer due by now. */
  fire(): void {
    for (const [handle, t] of [...this.#timers]) {
      if (t.at > this.now) continue;
      this.#timers.delete(handle);
      t.callback();
    }
  }
}

let counter = 0;

export interface RecordOptions {
  readonly source?: string;
  readonly to?: string;
  readonly seq?: number | bigint;
  readonly id?: string;
  /** Ms after `now`. Default one hour. */
  readonly ttlMs?: number;
  readonly status?: 'accepted' | 'held';
  readonly holdUntil?: number;
}

/** A record as intake writes it (`accepted`, one history line); `order` from the store. */
export function acceptedRecord(now: number, order: number, options: RecordOptions = {}): MessageRecord {
  const n = ++counter;
  const deadline = now + (options.ttlMs ?? 3_600_000);
  const envelope: Envelope = {
    id: options.id ?? `m-${n}`,
    type: 'points.exchange.request',
    source: options.source ?? 'cn.loulan.shop.acme',
    to: options.to ?? 'cn.loulan.test.sink',
    seq: String(options.seq ?? n),
    time: new Date(now).toISOString(),
    expiresAt: new Date(deadline).toISOString(),
    data: { n },
  };
  const status = options.status ?? 'accepted';
  return {
    source: envelope.source,
    id: envelope.id,
    envelope,
    digest: n.toString(16).padStart(64, '0'),
    acceptedAt: now,
    deadline,
    order,
    status,
    attempts: 0,
    ...(status === 'held' ? { hold: { reason: 'value above the approval threshold', ...(options.holdUntil === undefined ? {} : { until: options.holdUntil }) } } : {}),
    history: [{ at: now, status, ...(status === 'held' ? { code: 'INTAKE_VALUE_CAP', detail: 'value above the approval threshold' } : {}) }],
    historyCount: 1,
  };
}
