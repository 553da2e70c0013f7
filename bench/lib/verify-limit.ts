/**
 * Measures this machine's signature-verification limit: verifications per second per algorithm and
 * library, on one core (the calling thread) and on all cores (one worker thread per available core,
 * all verifying at the same time; rates summed).
 *
 * Throughput targets elsewhere are stated relative to this limit ("≥ 60 % of the machine's own
 * verification limit"), so benchmarks call `measureVerifyLimit` in the same run as their own load,
 * on the same machine state, instead of trusting a number measured another day.
 *
 * @example
 * const limit = await measureVerifyLimit({ algs: ['ES256'] });
 * const target = 0.6 * limit.verifyPerSecAllCores.ES256! / validators;
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Alg } from '../../core-chain/crypto/index.ts';
import { runFor, VERIFY_CASES, type VerifyCase } from './verify-cases.ts';

export interface VerifyLimitOptions {
  /** Case ids to run (see verify-cases.ts); default all. */
  readonly cases?: readonly string[];
  /** Only cases for these algorithms; default all. */
  readonly algs?: readonly Alg[];
  /** Only Loulan-complete verifications (skip the r||s-only reference points). Default false. */
  readonly fullOnly?: boolean;
  /** Measured time on one core, after warm-up. Default 1000 ms. */
  readonly oneCoreMs?: number;
  /** Measured time on all cores, after warm-up. Default 1500 ms. */
  readonly allCoresMs?: number;
  /** Warm-up before each measurement (JIT, precomputed tables). Default 250 ms. */
  readonly warmupMs?: number;
  /** Worker threads for the all-cores figure. Default `os.availableParallelism()`. */
  readonly workers?: number;
  /** Called with a line after each case. */
  readonly onProgress?: (result: VerifyCaseResult) => void;
}

export interface VerifyCaseResult {
  readonly id: string;
  readonly alg: Alg;
  readonly library: string;
  readonly checks: string;
  readonly full: boolean;
  readonly oneCorePerSec: number;
  readonly allCoresPerSec: number;
  readonly workers: number;
}

export interface VerifyLimit {
  /** `loadavg1` is the 1-minute load average when the run started: other work on the machine depresses every figure. */
  readonly machine: { readonly cpus: number; readonly model: string; readonly node: string; readonly loadavg1: number };
  readonly results: readonly VerifyCaseResult[];
  /** Best full-rule implementation per algorithm, all cores. */
  readonly verifyPerSecAllCores: Partial<Record<Alg, number>>;
  /** Best full-rule implementation per algorithm, one core. */
  readonly verifyPerSecOneCore: Partial<Record<Alg, number>>;
}

export async function measureVerifyLimit(options: VerifyLimitOptions = {}): Promise<VerifyLimit> {
  const oneCoreMs = options.oneCoreMs ?? 1000;
  const allCoresMs = options.allCoresMs ?? 1500;
  const warmupMs = options.warmupMs ?? 250;
  const workerCount = Math.max(1, options.workers ?? availableParallelism());
  const selected = VERIFY_CASES.filter(
    (c) =>
      (options.cases === undefined || options.cases.includes(c.id)) &&
      (options.algs === undefined || options.algs.includes(c.alg)) &&
      (options.fullOnly !== true || c.full),
  );

  const loadavg1 = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const pool = await WorkerPool.start(workerCount);
  const results: VerifyCaseResult[] = [];
  try {
    for (const c of selected) {
      const oneCorePerSec = measureHere(c, warmupMs, oneCoreMs);
      const allCoresPerSec = await pool.measure(c.id, warmupMs, allCoresMs);
      const result: VerifyCaseResult = {
        id: c.id,
        alg: c.alg,
        library: c.library,
        checks: c.checks,
        full: c.full,
        oneCorePerSec: Math.round(oneCorePerSec),
        allCoresPerSec: Math.round(allCoresPerSec),
        workers: workerCount,
      };
      results.push(result);
      options.onProgress?.(result);
    }
  } finally {
    await pool.close();
  }

  const best = (pick: (r: VerifyCaseResult) => number): Partial<Record<Alg, number>> => {
    const out: Partial<Record<Alg, number>> = {};
    for (const r of results) if (r.full && pick(r) > (out[r.alg] ?? 0)) out[r.alg] = pick(r);
    return out;
  };
  const cpuList = cpus();
  return {
    machine: { cpus: availableParallelism(), model: cpuList[0]?.model.trim() ?? 'unknown', node: process.version, loadavg1 },
    results,
    verifyPerSecAllCores: best((r) => r.allCoresPerSec),
    verifyPerSecOneCore: best((r) => r.oneCorePerSec),
  };
}

function measureHere(c: VerifyCase, warmupMs: number, durationMs: number): number {
  const op = c.prepare();
  runFor(op, warmupMs);
  const { count, seconds } = runFor(op, durationMs);
  return count / seconds;
}

type WorkerReply = { type: 'ready' } | { type: 'done'; count: number; seconds: number };

/** N long-lived workers, so thread start-up and module loading are paid once per run. */
class WorkerPool {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  static async start(count: number): Promise<WorkerPool> {
    const url = new URL('./verify-worker.ts', import.meta.url);
    const workers = Array.from({ length: count }, () => new Worker(url));
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('online', () => resolve());
      w.once('error', reject);
    })));
    return new WorkerPool(workers);
  }

  /** Prepares the case everywhere, then starts all workers together and sums their rates. */
  async measure(caseId: string, warmupMs: number, durationMs: number): Promise<number> {
    await Promise.all(this.#workers.map((w) => this.#request(w, { type: 'prepare', caseId, warmupMs }, 'ready')));
    const done = await Promise.all(this.#workers.map((w) => this.#request(w, { type: 'go', durationMs }, 'done')));
    let total = 0;
    for (const reply of done) if (reply.type === 'done') total += reply.count / reply.seconds;
    return total;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        w.postMessage({ type: 'exit' });
        await w.terminate();
      }),
    );
  }

  #request(worker: Worker, command: object, expect: WorkerReply['type']): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: WorkerReply): void => {
        if (reply.type !== expect) return;
        worker.off('error', onError);
        worker.off('message', onMessage);
        resolve(reply);
      };
      const onError = (error: Error): void => {
        worker.off('message', onMessage);
        reject(error);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.postMessage(command);
    });
  }
}
