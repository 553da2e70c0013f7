import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedLoop, encodePost, HttpConnection, openConnections, openLoop, percentile, type HttpReply } from './http-load.ts';

// The server answers what the body asks for: {"status": N, "size": BYTES, "chunked"?: true}.
let server: Server;
let url: URL;
let connections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ask = JSON.parse(Buffer.concat(chunks).toString()) as { status: number; size: number; chunked?: boolean };
      const body = Buffer.alloc(ask.size, 'x');
      if (ask.chunked === true) {
        res.writeHead(ask.status);
        res.write(body);
        res.end();
      } else {
        res.writeHead(ask.status, { 'content-length': body.length });
        res.end(body);
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const ask = (status: number, size: number, chunked = false) => encodePost(url, '/x', JSON.stringify({ status, size, chunked }));
const byStatus = (reply: HttpReply) => (reply.status === 202 ? { ok: 1, failed: 0 } : { ok: 0, failed: 1, reason: `HTTP ${reply.status}` });

describe('HttpConnection', () => {
  it('reads answers of any size, one after another on one keep-alive connection', async () => {
    const before = connections;
    const conn = await HttpConnection.open(url);
    for (const [status, size] of [[202, 0], [503, 17], [200, 400_000], [202, 3]] as const) {
      const reply = await conn.send(ask(status, size));
      expect(reply.status).toBe(status);
      expect(reply.body.length).toBe(size);
      expect(reply.body.every((b) => b === 0x78)).toBe(true);
    }
    expect(connections - before).toBe(1);
    conn.close();
  });

  it('refuses a chunked answer instead of guessing its end', async () => {
    const conn = await HttpConnection.open(url);
    await expect(conn.send(ask(202, 10, true))).rejects.toThrow(/chunked/);
    await expect(conn.send(ask(202, 10))).rejects.toThrow();
    conn.close();
  });

  it('refuses a second request while one is in flight', async () => {
    const conn = await HttpConnection.open(url);
    const first = conn.send(ask(202, 1));
    await expect(conn.send(ask(202, 1))).rejects.toThrow(/in flight/);
    expect((await first).status).toBe(202);
    conn.close();
  });
});

describe('load drivers', () => {
  it('the closed loop sends every request once and counts verdicts, ending early when requests run out', async () => {
    const requests = [...Array.from({ length: 30 }, () => ask(202, 10)), ...Array.from({ length: 5 }, () => ask(429, 10))];
    let sent = 0;
    const conns = await openConnections(url, 4);
    const stats = await closedLoop({ connections: conns, next: () => requests[sent++], classify: byStatus, seconds: 60, warmupSeconds: 0 });
    conns.forEach((c) => c.close());
    expect(stats).toMatchObject({ requests: 35, ok: 30, failed: 5, failures: { 'HTTP 429': 5 }, errors: 0, exhausted: true });
    expect(stats.latenciesMs).toHaveLength(35);
    expect([...stats.latenciesMs]).toEqual([...stats.latenciesMs].sort((a, b) => a - b));
  });

  it('the open loop sends every due request, queueing those that find no idle connection', async () => {
    let sent = 0;
    const conns = await openConnections(url, 2);
    const stats = await openLoop({ connections: conns, next: () => (sent < 40 ? ask(202, 5 + sent++) : undefined), classify: byStatus, rate: 20_000, seconds: 60, warmupSeconds: 0 });
    conns.forEach((c) => c.close());
    expect(stats).toMatchObject({ requests: 40, ok: 40, failed: 0, errors: 0, exhausted: true });
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 0.5), percentile(sorted, 0.99), percentile(sorted, 1), percentile([7], 0.99), percentile([], 0.5)]).toEqual([50, 99, 100, 7, null]);
  });
});
