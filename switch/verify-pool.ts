/**
 * Message signatures checked on worker threads. Verification is the largest single cost of intake
 * (an Ed25519 check is ~70 µs on a slow core); on the main thread it competes with HTTP parsing,
 * schema checks and the store. Requests made in one turn of the event loop go to a worker as one
 * batch, so the hop costs one message each way per batch, not per signature.
 *
 * A worker's verdict of "malformed" (the check threw) is not trusted to name the error: the caller
 * checks that signature again inline, which throws the precise `LoulanError`. A worker that dies
 * fails its batch over to inline checks, and a new worker takes its place.
 */
import { Worker } from 'node:worker_threads';
import { verify, type Alg } from '../core-chain/index.ts';

export interface VerifyItem {
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

interface Waiting {
  readonly item: VerifyItem;
  resolve(ok: boolean): void;
  reject(error: unknown): void;
}

/** Checks signatures; `true` valid, `false` invalid; throws what `verify` throws for malformed input. */
export interface SignatureVerifier {
  verify(item: VerifyItem): Promise<boolean>;
  close(): Promise<void>;
}

/** Inline verification: what a pool of size 0 is. */
export const INLINE_VERIFIER: SignatureVerifier = {
  verify: async (i) => verify(i.alg, i.publicKey, i.message, i.signature),
  close: async () => undefined,
};

export function createVerifyPool(size: number): SignatureVerifier {
  return size <= 0 ? INLINE_VERIFIER : new VerifyPool(size);
}

const MAX_RESPAWNS = 16;

class VerifyPool implements SignatureVerifier {
  readonly #workers: Array<{ worker: Worker; load: number }> = [];
  readonly #jobs = new Map<number, { slot: { worker: Worker; load: number }; waiting: Waiting[] }>();
  #queued: Waiting[] = [];
  #scheduled = false;
  #id = 0;
  #closed = false;
  #respawns = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#spawn();
  }

  verify(item: VerifyItem): Promise<boolean> {
    if (this.#closed) return INLINE_VERIFIER.verify(item);
    return new Promise((resolve, reject) => {
      this.#queued.push({ item, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const workers = this.#workers.splice(0);
    for (const job of this.#jobs.values()) this.#inline(job.waiting);
    this.#jobs.clear();
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  #spawn(): void {
    const worker = new Worker(new URL('./verify-worker.ts', import.meta.url));
    const slot = { worker, load: 0 };
    worker.on('message', (msg: { id: number; ok: Uint8Array }) => {
      const job = this.#jobs.get(msg.id);
      if (job === undefined) return;
      this.#jobs.delete(msg.id);
      job.slot.load -= job.waiting.length;
      job.waiting.forEach((w, i) => {
        const v = msg.ok[i];
        if (v === 2) this.#inline([w]);
        else w.resolve(v === 1);
      });
    });
    const gone = () => {
      const at = this.#workers.indexOf(slot);
      if (at < 0) return;
      this.#workers.splice(at, 1);
      for (const [id, job] of this.#jobs) {
        if (job.slot !== slot) continue;
        this.#jobs.delete(id);
        this.#inline(job.waiting);
      }
      // A worker that cannot even start would be replaced forever: after a few, verify inline.
      if (!this.#closed && ++this.#respawns <= MAX_RESPAWNS) this.#spawn();
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    this.#workers.push(slot);
  }

  #flush(): void {
    this.#scheduled = false;
    const waiting = this.#queued;
    this.#queued = [];
    if (waiting.length === 0) return;
    const slot = this.#workers.reduce<{ worker: Worker; load: number } | undefined>((a, b) => (a === undefined || b.load < a.load ? b : a), undefined);
    if (slot === undefined) return this.#inline(waiting);
    const id = ++this.#id;
    slot.load += waiting.length;
    this.#jobs.set(id, { slot, waiting });
    slot.worker.postMessage({ id, items: waiting.map((w) => w.item) });
  }

  #inline(waiting: readonly Waiting[]): void {
    for (const w of waiting) {
      try {
        w.resolve(verify(w.item.alg, w.item.publicKey, w.item.message, w.item.signature));
      } catch (error) {
        w.reject(error);
      }
    }
  }
}
