/** Worker side of switch/verify-pool.ts: checks a batch of signatures; true/false per item. */
import { parentPort } from 'node:worker_threads';
import { verify, type Alg } from '../core-chain/index.ts';

interface Job {
  readonly id: number;
  readonly items: ReadonlyArray<{ alg: Alg; publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }>;
}

parentPort!.on('message', (job: Job) => {
  const ok = new Uint8Array(job.items.length);
  job.items.forEach((item, i) => {
    try {
      ok[i] = verify(item.alg, item.publicKey, item.message, item.signature) ? 1 : 0;
    } catch {
      ok[i] = 2; // malformed: the caller checks again inline for the precise error
    }
  });
  parentPort!.postMessage({ id: job.id, ok }, [ok.buffer]);
});
