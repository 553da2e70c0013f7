/**
 * Transaction signature checks on worker threads. Admission verifies every transaction once per
 * validator; done on the main thread, a burst of gossip holds the event loop for seconds and stalls
 * consensus behind it. Workers check a batch and the main thread marks the good ones as verified,
 * so that the mempool admits them without verifying again.
 *
 * A worker's answer is only an optimisation: anything not marked is verified on the main thread as
 * before. So every request settles: on an answer, on its worker failing, or after a deadline — a
 * lost answer must never hold transactions back from the mempool.
 */
import { Worker } from 'node:worker_threads';

interface Pending {
  readonly worker: Worker;
  readonly count: number;
  readonly timer: NodeJS.Timeout;
  resolve(ok: boolean[]): void;
}

export interface VerifyPoolOptions {
  readonly size: number;
  /** After this long without an answer, a batch falls back to main-thread verification. */
  readonly deadlineMs?: number;
  readonly log?: (message: string) => void;
}

export class VerifyPool {
  readonly #workers = new Set<Worker>();
  readonly #pending = new Map<number, Pending>();
  readonly #deadlineMs: number;
  readonly #log: (message: string) => void;
  #id = 0;
  #closed = false;

  constructor(options: VerifyPoolOptions) {
    this.#deadlineMs = options.deadlineMs ?? 2_000;
    this.#log = options.log ?? (() => undefined);
    for (let i = 0; i < options.size; i++) this.#spawn();
  }

  #spawn(): void {
    const worker = new Worker(new URL('./verify-worker.ts', import.meta.url));
    worker.on('message', (msg: { id: number; ok: boolean[] }) => this.#settle(msg.id, msg.ok));
    const gone = (why: string) => {
      if (!this.#workers.delete(worker)) return;
      for (const [id, p] of this.#pending) if (p.worker === worker) this.#settle(id, []);
      if (!this.#closed) {
        this.#log(`signature worker ${why}; starting another`);
        this.#spawn();
      }
    };
    worker.on('error', (error) => gone(`failed: ${String(error)}`));
    worker.on('exit', (code) => gone(`exited with ${code}`));
    worker.unref();
    this.#workers.add(worker);
  }

  #settle(id: number, ok: boolean[]): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(ok.length === p.count ? ok : new Array<boolean>(p.count).fill(false));
  }

  /** One boolean per encoded transaction: true when it decodes and its signature verifies. */
  verify(txs: readonly Uint8Array[]): Promise<boolean[]> {
    const workers = [...this.#workers];
    if (this.#closed || workers.length === 0 || txs.length === 0) return Promise.resolve(txs.map(() => false));
    const id = ++this.#id;
    const worker = workers[id % workers.length]!;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#settle(id, []), this.#deadlineMs);
      timer.unref();
      this.#pending.set(id, { worker, count: txs.length, timer, resolve });
      worker.postMessage({ id, txs });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, []);
    const workers = [...this.#workers];
    this.#workers.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
