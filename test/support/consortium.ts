/**
 * A local consortium for integration tests and benchmarks: validators, a loopback sink and a switch,
 * each its own process, built by the same `initConsortium` that `loulan up` uses. Processes listen on
 * 127.0.0.1 only; `stop()` ends them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSigner, fromHex, signEnvelope, type Signer } from '../../core-chain/index.ts';
import { Cluster, ValidatorProcess } from '../../cli/cluster.ts';
import { initConsortium, type ConsortiumLayout, type ConsortiumOptions, type ConsortiumParticipant } from '../../cli/consortium.ts';
import type { Envelope } from '../../schemas/index.ts';
import { freeBasePort } from './ports.ts';

const SINK_MAIN = fileURLToPath(new URL('../../adapters/loopback/sink-main.ts', import.meta.url));

/** The loopback sink as a child process (so the switch can be killed without touching it, and vice versa). */
export class SinkProcess {
  readonly file: string;
  readonly port: number;
  child: ChildProcess | null = null;
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(file: string, port: number) {
    this.file = file;
    this.port = port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    const child = spawn(process.execPath, [SINK_MAIN, '--file', this.file, '--port', String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      let ready = false;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!ready && line.startsWith('{"url"')) {
          ready = true;
          resolve();
        }
      });
      void this.exited.then((code) => {
        if (!ready) reject(new Error(`sink exited with ${code} before it was ready`));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child === null || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  /** `POST /control` on the sink (fail, throttle, delay, down/up; see adapters/loopback/sink.ts). */
  async control(body: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${this.url}/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`sink control ${res.status}: ${await res.text()}`);
  }

  /** Recorded effects by `source/id`, with the deliveries received for each since the sink started. */
  async effects(): Promise<Map<string, { at: number; received: number }>> {
    const res = await fetch(`${this.url}/effects`);
    const body = (await res.json()) as { effects: Array<{ source: string; id: string; at: number; received: number }> };
    return new Map(body.effects.map((e) => [`${e.source}/${e.id}`, { at: e.at, received: e.received }]));
  }

  /** How many times each `source/id` appears in the effects file (the durable record; must be 1). */
  effectLines(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const e = JSON.parse(line) as { source: string; id: string };
        const key = `${e.source}/${e.id}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      } catch {
        // a torn last line, cut off by the sink on its next start
      }
    }
    return counts;
  }
}

export interface TestConsortium {
  readonly dir: string;
  readonly layout: ConsortiumLayout;
  readonly cluster: Cluster;
  readonly sink: SinkProcess;
  readonly switchProcess: ValidatorProcess;
  readonly switchUrl: string;
  readonly logs: string[];
  /** Signs an envelope as a consortium participant. */
  sign(as: ConsortiumParticipant, envelope: Envelope): Promise<Envelope>;
  signerOf(as: ConsortiumParticipant): Signer;
  /** A signed `points.exchange.request` (a type shops and programs may both send). */
  request(options: RequestOptions): Promise<Envelope>;
  /** `POST /v1/messages` to the switch; every answer comes back, refusals and failures included. */
  submit(body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Starts a second loopback sink on the port after the first one (free by the same check); `stop()` ends it. */
  startSpareSink(): Promise<SinkProcess>;
  startSwitch(): Promise<void>;
  stop(): Promise<void>;
}

export interface RequestOptions {
  readonly id: string;
  readonly to: string;
  readonly seq: bigint | number;
  /** The sender; default the demo shop. */
  readonly from?: ConsortiumParticipant;
  /** Time to the deadline; default 10 minutes. */
  readonly ttlMs?: number;
  /** Points the order moves (its value for the switch's limits); default 500. */
  readonly points?: bigint | number;
}

/** Inits and starts a consortium in a fresh temp folder. */
export async function startConsortium(options: Partial<ConsortiumOptions> = {}): Promise<TestConsortium> {
  const dir = mkdtempSync(join(tmpdir(), 'loulan-consortium-'));
  const basePort = await freeBasePort(10);
  const layout = initConsortium({ dir, basePort, consensus: { progressTimeoutMs: 1_000, statusIntervalMs: 250 }, ...options });
  const logs: string[] = [];
  const onLine = (name: string, line: string) => {
    logs.push(`[${name}] ${line}`);
  };
  const cluster = new Cluster(layout.testnet);
  const sink = new SinkProcess(layout.sink.file, layout.sink.port);
  const switchProcess = new ValidatorProcess('switch-0', layout.switchConfigFile, 'switch');
  const signers = new Map<string, Signer>();
  const signerOf = (p: ConsortiumParticipant) => {
    let s = signers.get(p.id);
    if (s === undefined) signers.set(p.id, (s = createSigner(p.alg, fromHex(p.privateKey), { kid: p.kid })));
    return s;
  };
  const spares: SinkProcess[] = [];
  const stop = async () => {
    await switchProcess.kill().catch(() => undefined);
    await cluster.killAll().catch(() => undefined);
    await Promise.all([sink, ...spares].map((s) => s.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  };
  const sign = async (as: ConsortiumParticipant, envelope: Envelope): Promise<Envelope> => {
    const { sig: _sig, ...unsigned } = envelope;
    return (await signEnvelope(unsigned, signerOf(as))) as unknown as Envelope;
  };
  try {
    await cluster.startAll({ onLine });
    await sink.start();
    await switchProcess.start({ onLine });
  } catch (error) {
    // Nothing is left running when the consortium cannot start; its last lines say why.
    await stop();
    throw new Error(`${(error as Error).message}\n${logs.slice(-20).join('\n')}`, { cause: error });
  }
  return {
    dir,
    layout,
    cluster,
    sink,
    switchProcess,
    switchUrl: layout.switchUrl,
    logs,
    signerOf,
    sign,
    request({ id, to, seq, from = layout.shop, ttlMs = 600_000, points = 500 }) {
      const now = Date.now();
      return sign(from, {
        id,
        type: 'points.exchange.request',
        source: from.id,
        to,
        seq: String(seq),
        time: new Date(now).toISOString(),
        expiresAt: new Date(now + ttlMs).toISOString(),
        data: {
          orderId: `order-${id}`,
          idempotencyKey: `checkout-${id}`,
          pair: 'demo-pair',
          quoteId: 'q-demo',
          source: { program: from.id, member: 'member-1' },
          target: { program: layout.program.id, member: 'member-2' },
          points: String(points),
          expectedCredit: '50',
        },
      } as unknown as Envelope);
    },
    async submit(body) {
      const res = await fetch(`${layout.switchUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async startSpareSink() {
      const spare = new SinkProcess(join(dir, 'sink', `spare-${spares.length}.log`), layout.sink.port + 1 + spares.length);
      spares.push(spare);
      await spare.start();
      return spare;
    },
    async startSwitch() {
      await switchProcess.start({ onLine });
    },
    stop,
  };
}
