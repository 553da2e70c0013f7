import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../schemas/index.ts';
import type { DeliveryRequest } from '../adapter.ts';
import { createRestAdapter, restAdapterFactory } from './adapter.ts';
import { verifyWebhook, webhookKey } from './signature.ts';

const SECRET = 'whsec_shop_0123456789abcdef';
const NOW = 1_767_225_600_000;
const now = (): number => NOW;

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A shop on 127.0.0.1: each path answers as its handler says, and every request is recorded. */
let server: Server;
let base: string;
const received: Received[] = [];
const handlers = new Map<string, (req: Received, res: ServerResponse) => void>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      const handler = handlers.get(r.path);
      if (handler === undefined) res.writeHead(404).end();
      else handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function envelope(id: string): Envelope {
  return {
    id,
    type: 'points.order',
    source: 'cn.loulan.partner.airline',
    to: 'cn.loulan.shop.acme',
    seq: '1',
    time: '2026-01-01T00:00:00Z',
    data: { note: 'café ☕' },
  } as unknown as Envelope;
}

function request(id: string, attempt = 1): DeliveryRequest {
  return { envelope: envelope(id), digest: 'ab'.repeat(32), attempt, deadline: NOW + 60_000, signal: new AbortController().signal };
}

function sent(path: string): Received[] {
  return received.filter((r) => r.path === path && r.method === 'POST');
}

const adapterFor = (path: string, settings: Record<string, unknown> = {}, secrets: readonly string[] = [SECRET]) =>
  createRestAdapter({ kind: 'rest', endpoint: `${base}${path}`, ...settings }, { secrets, now });

describe('rest adapter against a real HTTP server', () => {
  it('POSTs the envelope with headers the shop verifies; a tampered body is refused', async () => {
    handlers.set('/ok', (_req, res) => res.writeHead(204).end());
    const outcome = await adapterFor('/ok').deliver(request('m-ok', 3));
    expect(outcome).toEqual({ ok: true, evidence: { status: 204 } });
    const [req] = sent('/ok');
    expect(req?.headers).toMatchObject({
      'content-type': 'application/json',
      'loulan-id': 'm-ok',
      'loulan-source': 'cn.loulan.partner.airline',
      'idempotency-key': 'm-ok',
      'loulan-attempt': '3',
      'loulan-signature': expect.stringMatching(/^t=1767225600,v1=[0-9a-f]{64}$/) as unknown as string,
    });
    const header = req?.headers['loulan-signature'] as string;
    const body = req?.body as Buffer;
    expect(JSON.parse(body.toString('utf8'))).toEqual(envelope('m-ok'));
    expect(verifyWebhook({ header, body, secrets: SECRET, now: NOW })).toMatchObject({ ok: true, key: webhookKey('cn.loulan.partner.airline', 'm-ok') });
    const tampered = Buffer.from(body.toString('utf8').replace('café', 'cafe'));
    expect(verifyWebhook({ header, body: tampered, secrets: SECRET, now: NOW })).toMatchObject({ ok: false, reason: 'SIGNATURE_MISMATCH' });
  });

  it('signs with every secret of a rotation', async () => {
    handlers.set('/rotate', (_req, res) => res.writeHead(200).end());
    expect((await adapterFor('/rotate', {}, ['whsec_new_0123456789abcdef', SECRET]).deliver(request('m-rot'))).ok).toBe(true);
    const [req] = sent('/rotate');
    const header = req?.headers['loulan-signature'] as string;
    expect(header.split(',')).toHaveLength(3);
    expect(verifyWebhook({ header, body: req?.body as Buffer, secrets: SECRET, now: NOW }).ok).toBe(true);
    expect(verifyWebhook({ header, body: req?.body as Buffer, secrets: 'whsec_new_0123456789abcdef', now: NOW }).ok).toBe(true);
  });

  it('500 then 200: retryable, then delivered', async () => {
    let calls = 0;
    handlers.set('/flaky', (_req, res) => res.writeHead(++calls === 1 ? 500 : 200).end('{}'));
    const adapter = adapterFor('/flaky');
    expect(await adapter.deliver(request('m-flaky', 1))).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    expect(adapter.health().state).toBe('degraded');
    expect(await adapter.deliver(request('m-flaky', 2))).toEqual({ ok: true, evidence: { status: 200 } });
    expect(adapter.health()).toEqual({ state: 'up' });
    expect(sent('/flaky').map((r) => r.headers['loulan-attempt'])).toEqual(['1', '2']);
  });

  it('no answer within timeoutMs is retryable', async () => {
    handlers.set('/slow', () => undefined);
    const outcome = await adapterFor('/slow', { timeoutMs: 50 }).deliver(request('m-slow'));
    expect(outcome).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    expect(outcome.ok ? '' : outcome.message).toMatch(/in time/);
  });

  it('429 with Retry-After in seconds or as an HTTP-date gives retryAfterMs', async () => {
    handlers.set('/busy-seconds', (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end());
    handlers.set('/busy-date', (_req, res) => res.writeHead(429, { 'retry-after': new Date(NOW + 120_000).toUTCString() }).end());
    expect(await adapterFor('/busy-seconds').deliver(request('m-429a'))).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED', retryAfterMs: 7_000 });
    expect(await adapterFor('/busy-date').deliver(request('m-429b'))).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED', retryAfterMs: 120_000 });
  });

  it('400 (and a redirect) is a final DELIVER_REJECTED', async () => {
    handlers.set('/bad', (_req, res) => res.writeHead(400).end('{"reason":"SIGNATURE_MISMATCH"}'));
    handlers.set('/moved', (_req, res) => res.writeHead(302, { location: '/ok' }).end());
    expect(await adapterFor('/bad').deliver(request('m-400'))).toMatchObject({ ok: false, retryable: false, code: 'DELIVER_REJECTED' });
    const before = sent('/ok').length;
    expect(await adapterFor('/moved').deliver(request('m-302'))).toMatchObject({ ok: false, retryable: false, code: 'DELIVER_REJECTED' });
    expect(sent('/ok').length).toBe(before);
  });

  it('a receiver using `seen` acts on a message once, and answers 200 to the duplicate', async () => {
    const seen = new Set<string>();
    let effects = 0;
    handlers.set('/shop', (req, res) => {
      const result = verifyWebhook({ header: req.headers['loulan-signature'] as string, body: req.body, secrets: SECRET, now: NOW, seen });
      if (!result.ok) {
        res.writeHead(result.reason === 'DUPLICATE' ? 200 : 400).end(result.reason);
        return;
      }
      effects++;
      seen.add(result.key);
      res.writeHead(200).end();
    });
    const adapter = adapterFor('/shop');
    expect((await adapter.deliver(request('m-dup', 1))).ok).toBe(true);
    expect((await adapter.deliver(request('m-dup', 2))).ok).toBe(true);
    expect((await adapter.deliver(request('m-other', 1))).ok).toBe(true);
    expect(sent('/shop')).toHaveLength(3);
    expect(effects).toBe(2);
    expect([...seen]).toEqual(['cn.loulan.partner.airline/m-dup', 'cn.loulan.partner.airline/m-other']);
  });

  it('without a secret nothing is sent: a final ROUTE_ADAPTER_UNAVAILABLE, the link down', async () => {
    handlers.set('/unsigned', (_req, res) => res.writeHead(200).end());
    const adapter = restAdapterFactory(new Map([[`${base}/other`, [SECRET]]]), { now })({ kind: 'rest', endpoint: `${base}/unsigned` });
    expect(await adapter.deliver(request('m-unsigned'))).toMatchObject({ ok: false, retryable: false, code: 'ROUTE_ADAPTER_UNAVAILABLE' });
    expect(adapter.health().state).toBe('down');
    expect(await adapter.probe?.(new AbortController().signal)).toBe(false);
    expect(received.filter((r) => r.path === '/unsigned')).toHaveLength(0);
  });

  it('probe: any HTTP answer is reachable (HEAD), a refused connection is not', async () => {
    const signal = new AbortController().signal;
    expect(await adapterFor('/no-such-path').probe?.(signal)).toBe(true);
    expect(received.some((r) => r.method === 'HEAD' && r.path === '/no-such-path')).toBe(true);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await createRestAdapter({ kind: 'rest', endpoint: `http://127.0.0.1:${port}/` }, { secrets: [SECRET] }).probe?.(signal)).toBe(false);
  });

  it('refuses targets it cannot serve', () => {
    expect(() => createRestAdapter({ kind: 'loopback', endpoint: base })).toThrow(expect.objectContaining({ code: 'ROUTE_ADAPTER_UNAVAILABLE' }) as unknown as Error);
    expect(() => createRestAdapter({ kind: 'rest', endpoint: 'ftp://shop.example/' })).toThrow(expect.objectContaining({ code: 'ROUTE_INVALID' }) as unknown as Error);
    expect(() => createRestAdapter({ kind: 'rest', endpoint: 'not a url' })).toThrow(expect.objectContaining({ code: 'ROUTE_INVALID' }) as unknown as Error);
  });
});
