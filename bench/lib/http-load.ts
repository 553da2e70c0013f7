/**
 * A small HTTP/1.1 load driver for the switch benchmark: keep-alive connections over `node:net`,
 * requests encoded to bytes before the clock starts, one request in flight per connection.
 *
 * Why not `fetch` or `http.request`: the load generator shares a 2-core machine with the process it
 * measures, so every microsecond the client spends per request is taken from the server. Writing
 * prepared bytes and reading a `Content-Length` framed answer costs a few microseconds; the general
 * clients cost tens. The framing this reads is the subset fastify and the loopback servers answer
 * with (status line, headers, `Content-Length` body); a chunked answer is an error, not a guess.
 *
 * Two drivers:
 * - `closedLoop`: every connection sends its next request as soon as the answer to the previous one
 *   arrives (saturation: throughput at a fixed concurrency). Counts answers that complete inside the
 *   measured window, after the warm-up.
 * - `openLoop`: requests are due at a fixed rate whatever the server does; latency runs from the time
 *   a request was due, not from when a connection was free to send it, so a server that falls behind
 *   is charged for the queue it causes (no coordinated omission).
 *
 * @example
 * const conns = await openConnections(new URL(url), 64);
 * const stats = await closedLoop({ connections: conns, next: () => bodies.pop(), classify, seconds: 5, warmupSeconds: 1 });
 */
import { connect, type Socket } from 'node:net';

export interface HttpReply {
  readonly status: number;
  readonly body: Buffer;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** The full bytes of a `POST path` with a JSON body, for a keep-alive connection to `url`'s host. */
export function encodePost(url: URL, path: string, body: string | Buffer): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** One keep-alive connection; `send` must not be called again before its promise settles. */
export class HttpConnection {
  readonly #socket: Socket;
  #chunks: Buffer[] = [];
  #received = 0;
  /** Byte length of status line and headers including the blank line, once known. */
  #headLength = -1;
  #status = 0;
  #contentLength = 0;
  #waiter: { resolve: (reply: HttpReply) => void; reject: (error: Error) => void } | undefined;
  #failed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  static open(url: URL): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port || 80) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new HttpConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  send(request: Buffer): Promise<HttpReply> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#waiter !== undefined) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#socket.write(request);
    });
  }

  close(): void {
    this.#failed ??= new Error('connection closed');
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#waiter === undefined) {
      this.#fail(new Error('bytes arrived with no request in flight'));
      return;
    }
    this.#chunks.push(chunk);
    this.#received += chunk.length;
    if (this.#headLength < 0) {
      const all = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks);
      this.#chunks = [all];
      const end = all.indexOf(CRLFCRLF);
      if (end < 0) return;
      this.#headLength = end + 4;
      const head = all.toString('latin1', 0, end);
      this.#status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length === null) {
        this.#fail(new Error(/\r\ntransfer-encoding:/i.test(head) ? 'chunked answers are not supported' : 'an answer without Content-Length'));
        return;
      }
      this.#contentLength = Number(length[1]);
    }
    const total = this.#headLength + this.#contentLength;
    if (this.#received < total) return;
    if (this.#received > total) {
      this.#fail(new Error('more bytes than the answer announced'));
      return;
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const reply: HttpReply = { status: this.#status, body: all.subarray(this.#headLength) };
    const waiter = this.#waiter;
    this.#chunks = [];
    this.#received = 0;
    this.#headLength = -1;
    this.#waiter = undefined;
    waiter.resolve(reply);
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }
}

export async function openConnections(url: URL, count: number): Promise<HttpConnection[]> {
  return Promise.all(Array.from({ length: count }, () => HttpConnection.open(url)));
}

/** What one answer counts for: units accepted and refused (a batch answer counts its messages), and why. */
export interface Verdict {
  readonly ok: number;
  readonly failed: number;
  /** Failure reason (error code or status), counted `failed` times. */
  readonly reason?: string;
}

export interface LoadStats {
  /** Length of the measured window, in seconds. */
  readonly seconds: number;
  /** Answers counted in the window. */
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Latencies of the counted answers, ms, ascending. */
  readonly latenciesMs: readonly number[];
  /** Connection errors (the request is lost; the connection is not reused). */
  readonly errors: number;
  /** True when `next` ran out before the window ended: the window was cut at the last answer. */
  readonly exhausted: boolean;
}

interface Tally {
  requests: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  latencies: number[];
  errors: number;
}

function tally(): Tally {
  return { requests: 0, ok: 0, failed: 0, failures: {}, latencies: [], errors: 0 };
}

function count(t: Tally, verdict: Verdict, latencyMs: number): void {
  t.requests++;
  t.ok += verdict.ok;
  t.failed += verdict.failed;
  if (verdict.failed > 0) {
    const reason = verdict.reason ?? 'failed';
    t.failures[reason] = (t.failures[reason] ?? 0) + verdict.failed;
  }
  t.latencies.push(latencyMs);
}

function stats(t: Tally, seconds: number, exhausted: boolean): LoadStats {
  return { seconds, requests: t.requests, ok: t.ok, failed: t.failed, failures: t.failures, latenciesMs: t.latencies.sort((a, b) => a - b), errors: t.errors, exhausted };
}

export interface ClosedLoopOptions {
  readonly connections: readonly HttpConnection[];
  /** The next request's bytes; undefined when there are no more. */
  next(): Buffer | undefined;
  classify(reply: HttpReply): Verdict;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

/** Saturation at `connections.length` requests in flight; counts answers completed in the window. */
export async function closedLoop(options: ClosedLoopOptions): Promise<LoadStats> {
  const t = tally();
  const start = performance.now();
  const windowStart = start + options.warmupSeconds * 1000;
  const end = windowStart + options.seconds * 1000;
  let lastAnswer = windowStart;
  let exhausted = false;
  const run = async (connection: HttpConnection): Promise<void> => {
    for (;;) {
      const sentAt = performance.now();
      if (sentAt >= end) return;
      const request = options.next();
      if (request === undefined) {
        exhausted = true;
        return;
      }
      let reply: HttpReply;
      try {
        reply = await connection.send(request);
      } catch {
        t.errors++;
        return;
      }
      const at = performance.now();
      if (at >= windowStart && at <= end) {
        count(t, options.classify(reply), at - sentAt);
        lastAnswer = at;
      }
    }
  };
  await Promise.all(options.connections.map(run));
  const windowEnd = exhausted ? lastAnswer : end;
  return stats(t, Math.max(0.001, (windowEnd - windowStart) / 1000), exhausted);
}

export interface OpenLoopOptions extends ClosedLoopOptions {
  /** Requests per second, due at evenly spaced times. */
  readonly rate: number;
  /** How long to wait, after the last request was due, for the answers still out. Default 10 s. */
  readonly drainSeconds?: number;
}

/**
 * A fixed offered rate. Requests due while every connection is busy wait in a queue, and their
 * latency includes the wait. Counts requests that were due inside the window.
 */
export async function openLoop(options: OpenLoopOptions): Promise<LoadStats> {
  const t = tally();
  const interval = 1000 / options.rate;
  const start = performance.now();
  const windowStart = start + options.warmupSeconds * 1000;
  const end = windowStart + options.seconds * 1000;
  const idle = [...options.connections];
  const queue: Array<{ due: number; request: Buffer }> = [];
  let issued = 0;
  let outstanding = 0;
  let exhausted = false;
  let settle: () => void = () => undefined;

  const dispatch = (connection: HttpConnection): void => {
    const item = queue.shift();
    if (item === undefined) {
      idle.push(connection);
      if (outstanding === 0) settle();
      return;
    }
    outstanding++;
    connection.send(item.request).then(
      (reply) => {
        outstanding--;
        if (item.due >= windowStart && item.due < end) count(t, options.classify(reply), performance.now() - item.due);
        dispatch(connection);
      },
      () => {
        outstanding--;
        t.errors++;
        if (outstanding === 0 && queue.length === 0) settle();
      },
    );
  };

  for (;;) {
    const now = performance.now();
    const dueCount = Math.min(Math.floor((now - start) / interval) + 1, Math.ceil((end - start) / interval));
    while (issued < dueCount) {
      const request = options.next();
      if (request === undefined) {
        exhausted = true;
        break;
      }
      queue.push({ due: start + issued * interval, request });
      issued++;
    }
    while (queue.length > 0 && idle.length > 0) dispatch(idle.pop()!);
    if (exhausted || now >= end) break;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (outstanding > 0 || queue.length > 0) {
    const drained = new Promise<void>((resolve) => (settle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, (options.drainSeconds ?? 10) * 1000)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
  }
  const windowEnd = exhausted ? Math.min(end, start + issued * interval) : end;
  return stats(t, Math.max(0.001, (windowEnd - windowStart) / 1000), exhausted);
}

/** Nearest-rank percentile of ascending `sorted`, or null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
