/**
 * Transaction signature checks on worker threads. Admission verifies every transaction once per
 * validator; done on the main thread, a burst of gossip holds the event loop for seconds and stalls
 * consensus behind it. Workers check a batch and the main thread marks the good ones as verified,
 * so that the mempool admits them without verifying again. A worker's answer is only an
 * optimisation: anything not marked is verified on the main thread as before.
 */
import { Worker } from 'node:worker_threads';

interface Pending {
  resolve(ok: boolean[]): void;
}

export class VerifyPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #id = 0;
  #closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./verify-worker.ts', import.meta.url));
      worker.on('message', (msg: { id: number; ok: boolean[] }) => {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        p?.resolve(msg.ok);
      });
      // A failed worker answers nothing: its batches fall back to main-thread verification.
      worker.on('error', () => undefined);
      worker.unref();
      this.#workers.push(worker);
    }
  }

  /** One boolean per encoded transaction: decodes and its signature verifies. */
  verify(txs: readonly Uint8Array[]): Promise<boolean[]> {
    if (this.#closed || this.#workers.length === 0 || txs.length === 0) return Promise.resolve(txs.map(() => false));
    const id = ++this.#id;
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve });
      worker.postMessage({ id, txs });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#pending.values()) p.resolve([]);
    this.#pending.clear();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
