/**
 * The loopback sink server: a destination that records each message's effect exactly once, durably,
 * and misbehaves on request. The crash tests point a switch at it, kill -9 the switch (and the sink)
 * at random moments, and then ask it whether every acknowledged message took effect exactly once.
 *
 * Durability: an effect is a line `{"source","id","at"}` appended to a file and fsynced before the
 * 200 goes out; lines from concurrent requests share one fsync (group commit). On start the file is
 * read back, and a torn last line (a kill during the append) is cut off: its request was never
 * answered, so the switch will deliver it again and it will be recorded then. A delivery whose
 * effect exists already, or is being written, gets a 200 without a second effect.
 *
 * Misbehaviour (`POST /control`, JSON): `failNext` requests answered `failStatus` (default 500);
 * `retryAfterNext` requests answered 429 with `Retry-After: retryAfter` (default "1"); `delayMs` before
 * every answer; `down: true` drops every delivery's connection without an answer (the control
 * endpoints keep working) until `down: false`; `failRate` in [0, 1] answers that fraction 500 at
 * random; `reset: true` clears all of it. `GET /effects` lists the effects with the deliveries
 * received for each since the server started.
 *
 * node:http rather than fastify: this is a test instrument that must start in milliseconds as its
 * own process and whose every byte of behaviour is spelled out here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

export interface SinkServerOptions {
  /** The effects file (created if missing). */
  readonly file: string;
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface SinkControl {
  readonly failNext?: number;
  readonly failStatus?: number;
  readonly retryAfterNext?: number;
  readonly retryAfter?: string;
  readonly delayMs?: number;
  readonly down?: boolean;
  readonly failRate?: number;
  readonly reset?: boolean;
}

export interface SinkServerEffect {
  readonly source: string;
  readonly id: string;
  readonly at: number;
  /** Deliveries of this message received since the server started (0 if only read from the file). */
  readonly received: number;
}

export interface SinkServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`; deliveries go to any other path, e.g. `${url}/deliver`. */
  readonly url: string;
  readonly port: number;
  effects(): SinkServerEffect[];
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

interface Behaviour {
  failNext: number;
  failStatus: number;
  retryAfterNext: number;
  retryAfter: string;
  delayMs: number;
  down: boolean;
  failRate: number;
}

const NORMAL: Readonly<Behaviour> = Object.freeze({ failNext: 0, failStatus: 500, retryAfterNext: 0, retryAfter: '1', delayMs: 0, down: false, failRate: 0 });

export async function startSinkServer(options: SinkServerOptions): Promise<SinkServer> {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const log = await EffectLog.open(options.file);
  const received = new Map<string, number>();
  let behaviour: Behaviour = { ...NORMAL };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, { error: 'internal' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/effects') {
      return reply(res, 200, { effects: effectList() });
    }
    if (req.method === 'GET' && path === '/health') return reply(res, 200, { ok: true });
    if (req.method === 'POST' && path === '/control') {
      const body = await readBody(req);
      const control = parseControl(body);
      if (control === undefined) return reply(res, 400, { error: 'control body must be a JSON object of known settings' });
      behaviour = control.reset === true ? { ...NORMAL } : { ...behaviour };
      if (control.failNext !== undefined) behaviour.failNext = control.failNext;
      if (control.failStatus !== undefined) behaviour.failStatus = control.failStatus;
      if (control.retryAfterNext !== undefined) behaviour.retryAfterNext = control.retryAfterNext;
      if (control.retryAfter !== undefined) behaviour.retryAfter = control.retryAfter;
      if (control.delayMs !== undefined) behaviour.delayMs = control.delayMs;
      if (control.down !== undefined) behaviour.down = control.down;
      if (control.failRate !== undefined) behaviour.failRate = control.failRate;
      return reply(res, 200, behaviour);
    }
    // Down: every request but the control endpoints loses its connection, probes included.
    if (behaviour.down) {
      req.socket.destroy();
      return;
    }
    if (req.method !== 'POST') return reply(res, 405, { error: 'deliveries are POSTed' });

    // A delivery.
    const body = await readBody(req);
    if (behaviour.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    const id = req.headers['idempotency-key'];
    const source = req.headers['loulan-source'] ?? '';
    if (typeof id !== 'string' || id === '' || typeof source !== 'string') return reply(res, 400, { error: 'Idempotency-Key (and at most one Loulan-Source) required' });
    if (body === undefined) return reply(res, 413, { error: 'body too large' });
    if (behaviour.failNext > 0) {
      behaviour.failNext--;
      return reply(res, behaviour.failStatus, { error: 'scripted failure' });
    }
    if (behaviour.retryAfterNext > 0) {
      behaviour.retryAfterNext--;
      res.setHeader('retry-after', behaviour.retryAfter);
      return reply(res, 429, { error: 'scripted back-pressure' });
    }
    if (behaviour.failRate > 0 && random() < behaviour.failRate) return reply(res, 500, { error: 'random failure' });
    const key = `${source}\u0000${id}`;
    received.set(key, (received.get(key) ?? 0) + 1);
    const duplicate = await log.record(source, id, now());
    return reply(res, 200, { id, source, duplicate });
  }

  function effectList(): SinkServerEffect[] {
    return log.list().map((e) => ({ ...e, received: received.get(`${e.source}\u0000${e.id}`) ?? 0 }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    effects: effectList,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await log.close();
    },
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as text, or undefined when it exceeds the limit. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseControl(body: string | undefined): SinkControl | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const counts = ['failNext', 'retryAfterNext', 'delayMs'];
  for (const [key, v] of Object.entries(value)) {
    if (counts.includes(key) && !(Number.isSafeInteger(v) && (v as number) >= 0)) return undefined;
    else if (key === 'failStatus' && !(Number.isInteger(v) && (v as number) >= 100 && (v as number) <= 599)) return undefined;
    else if (key === 'retryAfter' && typeof v !== 'string') return undefined;
    else if ((key === 'down' || key === 'reset') && typeof v !== 'boolean') return undefined;
    else if (key === 'failRate' && !(typeof v === 'number' && v >= 0 && v <= 1)) return undefined;
    else if (![...counts, 'failStatus', 'retryAfter', 'down', 'reset', 'failRate'].includes(key)) return undefined;
  }
  return value as SinkControl;
}

/** The append-only effects file with group-committed fsyncs. */
class EffectLog {
  readonly #file: FileHandle;
  readonly #effects = new Map<string, { source: string; id: string; at: number }>();
  /** Effects being written: a duplicate arriving meanwhile waits for the same fsync. */
  readonly #writing = new Map<string, Promise<void>>();
  #queue: Array<{ line: string; resolve: () => void; reject: (error: unknown) => void }> = [];
  #flushing = false;

  private constructor(file: FileHandle) {
    this.#file = file;
  }

  static async open(path: string): Promise<EffectLog> {
    const file = await open(path, 'a+');
    const text = await file.readFile('utf8');
    const complete = text.lastIndexOf('\n') + 1;
    if (complete < Buffer.byteLength(text)) {
      // A torn last line: that request was never answered, so it is not an effect.
      await file.truncate(Buffer.byteLength(text.slice(0, complete)));
      await file.sync();
    }
    const log = new EffectLog(file);
    for (const line of text.slice(0, complete).split('\n')) {
      if (line === '') continue;
      const e = JSON.parse(line) as { source: string; id: string; at: number };
      log.#effects.set(`${e.source}\u0000${e.id}`, e);
    }
    return log;
  }

  list(): Array<{ source: string; id: string; at: number }> {
    return [...this.#effects.values()];
  }

  /** Records the effect once; resolves true when it was already recorded (or being recorded). */
  async record(source: string, id: string, at: number): Promise<boolean> {
    const key = `${source}\u0000${id}`;
    if (this.#effects.has(key)) return true;
    const pending = this.#writing.get(key);
    if (pending !== undefined) {
      await pending;
      return true;
    }
    const effect = { source, id, at };
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ line: `${JSON.stringify(effect)}\n`, resolve, reject }));
    this.#writing.set(key, done);
    if (!this.#flushing) void this.#flush();
    try {
      await done;
      this.#effects.set(key, effect);
    } finally {
      this.#writing.delete(key);
    }
    return false;
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    // Let the requests of this turn join the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#file.appendFile(batch.map((b) => b.line).join(''));
        await this.#file.datasync();
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.#flushing = false;
  }

  async close(): Promise<void> {
    while (this.#flushing) await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#file.close();
  }
}
