/**
 * The connector's two halves against a real PostgreSQL: the outbox pass (signing, recording, SKIP
 * LOCKED, refusals, resends after a crash) with an in-memory switch behind `fetch`, the webhook
 * endpoint over real HTTP, and the loop's two wake-ups, LISTEN and polling, each shown to deliver
 * without the other. The end-to-end path with a real switch is test/integration/db-connector.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LoulanError, createSigner, envelopeSigningInput, generateKeyPair, sha256, toHex, verifyEnvelopeWithKey, type Signer } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import { keyIdOf } from '../../switch/chain.ts';
import { signWebhook } from '../rest/signature.ts';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.ts';
import { until } from '../../test/support/ports.ts';
import { loadConnectorConfig, loadShopSigner, parseConnectorConfig, type ConnectorConfig } from './config.ts';
import { startConnector, type RunningConnector } from './connector.ts';
import { sendOutboxPass, type SubmitEnvelope } from './outbox.ts';
import { dbNames, migrate, type DbNames } from './schema.ts';

const SHOP = 'cn.loulan.shop.acme';
const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const pair = generateKeyPair('Ed25519');
const signer: Signer = createSigner('Ed25519', pair.privateKey, { kid: keyIdOf(SHOP, pair) });

let server: TestPostgres;
let pool: pg.Pool;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 20 });
  pool.on('error', () => undefined);
  dir = mkdtempSync(join(tmpdir(), 'loulan-connector-'));
  keyFile = join(dir, 'shop.json');
  writeFileSync(keyFile, JSON.stringify({ id: SHOP, alg: 'Ed25519', kid: signer.kid, privateKey: toHex(pair.privateKey), publicKey: toHex(pair.publicKey) }));
});
afterAll(async () => {
  await pool?.end();
  await server?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

let nextId = 0;
type Row = { readonly id: string; readonly [field: string]: unknown };
function unsigned(id = `m-${++nextId}`): Row {
  return {
    id,
    type: 'points.exchange.request',
    source: SHOP,
    to: 'cn.loulan.partner.air',
    seq: String(nextId),
    time: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T00:10:00.000Z',
    data: { points: '10' },
  };
}

async function freshTables(prefix: string): Promise<DbNames> {
  const names = dbNames({ outboxTable: `${prefix}.outbox`, inboxTable: `${prefix}.inbox` });
  const client = await pool.connect();
  try {
    await migrate(client, names);
  } finally {
    client.release();
  }
  return names;
}

async function insertOutbox(names: DbNames, envelopes: readonly Record<string, unknown>[]): Promise<void> {
  for (const e of envelopes) await pool.query(`INSERT INTO ${names.outbox.sql} (envelope) VALUES ($1)`, [JSON.stringify(e)]);
}

async function outboxRows(names: DbNames): Promise<{ id: string; sent: boolean; error_code: string | null }[]> {
  const { rows } = await pool.query(`SELECT envelope->>'id' AS id, sent_at IS NOT NULL AS sent, error_code FROM ${names.outbox.sql} ORDER BY ${names.outbox.sql}."id"`);
  return rows;
}

/** A switch in memory: idempotent by (source, id) over the signing-input digest, as the real one is. */
function memorySwitch() {
  const held = new Map<string, string>();
  const posts: Envelope[] = [];
  const refuse = new Map<string, { status: number; code: string }>();
  let down = false;
  const submit: SubmitEnvelope = async (envelope) => {
    posts.push(envelope);
    if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return { duplicate: accept(envelope) };
  };
  function accept(envelope: Envelope): boolean {
    const digest = toHex(sha256(envelopeSigningInput(envelope as never)));
    const key = `${envelope.source}/${envelope.id}`;
    const before = held.get(key);
    if (before !== undefined && before !== digest) throw new Error(`INTAKE_ID_CONFLICT for ${key}`);
    held.set(key, digest);
    return before !== undefined;
  }
  /** The same switch over `fetch`, for the connector (which uses the shop client). */
  const fetchImpl: typeof fetch = async (_url, init) => {
    const envelope = JSON.parse(String(init?.body)) as Envelope;
    posts.push(envelope);
    if (down) throw new TypeError('fetch failed');
    const refusal = refuse.get(envelope.id);
    if (refusal !== undefined) {
      return new Response(JSON.stringify({ type: `urn:loulan:error:${refusal.code}`, title: refusal.code, status: refusal.status, code: refusal.code, detail: 'refused in test' }), {
        status: refusal.status,
        headers: { 'content-type': 'application/problem+json' },
      });
    }
    const duplicate = accept(envelope);
    const body = { id: envelope.id, source: envelope.source, status: 'accepted', acceptedAt: new Date().toISOString(), digest: 'x', duplicate };
    return new Response(JSON.stringify(body), { status: duplicate ? 200 : 202, headers: { 'content-type': 'application/json' } });
  };
  return {
    held,
    posts,
    refuse,
    submit,
    fetch: fetchImpl,
    setDown: (value: boolean) => {
      down = value;
    },
  };
}

async function pass(names: DbNames, submit: SubmitEnvelope, batchSize = 100, concurrency = 4) {
  const client = await pool.connect();
  try {
    return await sendOutboxPass(client, names, { batchSize, concurrency, signer, submit });
  } finally {
    client.release();
  }
}

describe('sendOutboxPass', () => {
  it('signs unsigned rows, sends signed rows as stored, in created order, and marks them sent', async () => {
    const names = await freshTables('ob1');
    const other = generateKeyPair('Ed25519');
    const presigned: Row = { ...unsigned(), sig: { alg: 'Ed25519', kid: `${SHOP}#other`, value: 'AAAA' } };
    const rows = [unsigned(), presigned, unsigned()];
    await insertOutbox(names, rows);
    const sw = memorySwitch();
    const result = await pass(names, sw.submit, 100, 1);
    expect(result).toEqual({ taken: 3, sent: 3, duplicates: 0, refused: [] });
    expect(sw.posts.map((p) => p.id)).toEqual(rows.map((r) => r['id']));
    verifyEnvelopeWithKey(sw.posts[0] as never, pair);
    expect(sw.posts[0]!.sig?.kid).toBe(signer.kid);
    expect(sw.posts[1]!.sig).toEqual(presigned['sig']);
    expect(() => verifyEnvelopeWithKey(sw.posts[1] as never, other)).toThrow();
    expect((await outboxRows(names)).every((r) => r.sent && r.error_code === null)).toBe(true);
    // Nothing is pending any more: the next pass takes nothing and sends nothing.
    expect(await pass(names, sw.submit)).toMatchObject({ taken: 0, sent: 0 });
    expect(sw.posts).toHaveLength(3);
  });

  it('a row re-sent after a crash before sent_at is the same signed message, answered as a duplicate', async () => {
    const names = await freshTables('ob2');
    await insertOutbox(names, [unsigned(), unsigned()]);
    const sw = memorySwitch();
    // The first run "dies" after both POSTs, before its transaction commits: nothing is recorded.
    const client = await pool.connect();
    await expect(
      sendOutboxPass({ query: (text, values) => (text.startsWith('UPDATE') ? Promise.reject(new Error('connection terminated')) : client.query(text, values)) }, names, {
        batchSize: 10,
        signer,
        submit: sw.submit,
      }),
    ).rejects.toThrow('connection terminated');
    client.release(true);
    expect((await outboxRows(names)).map((r) => r.sent)).toEqual([false, false]);
    const again = await pass(names, sw.submit);
    expect(again).toMatchObject({ taken: 2, sent: 2, duplicates: 2 });
    expect(sw.posts.slice(2)).toEqual(sw.posts.slice(0, 2)); // byte for byte: Ed25519 signs deterministically
    expect(sw.held.size).toBe(2);
  });

  it('records a final refusal on the row and never retries it; a failure that may pass leaves rows pending', async () => {
    const names = await freshTables('ob3');
    const [a, b, c] = [unsigned(), unsigned(), unsigned()];
    await insertOutbox(names, [a, b, c]);
    const sw = memorySwitch();
    let calls = 0;
    const submit: SubmitEnvelope = async (e) => {
      calls++;
      if (e.id === a['id']) throw new LoulanError('INTAKE_SEQ_REPLAY', 'seq 1 was used', { details: { seq: '1' } });
      if (e.id === b['id']) throw new LoulanError('INTAKE_OVERLOADED', 'busy', { details: { retryAfterMs: 1000 } });
      return sw.submit(e);
    };
    const first = await pass(names, submit);
    expect(first).toMatchObject({ taken: 3, sent: 1, refused: [{ code: 'INTAKE_SEQ_REPLAY', detail: 'seq 1 was used' }] });
    expect(first.failure).toMatchObject({ code: 'INTAKE_OVERLOADED' });
    const { rows } = await pool.query(`SELECT envelope->>'id' AS id, sent_at IS NOT NULL AS sent, error_code, error_detail FROM ob3.outbox ORDER BY ob3.outbox.id`);
    expect(rows).toEqual([
      { id: a['id'], sent: false, error_code: 'INTAKE_SEQ_REPLAY', error_detail: 'seq 1 was used' },
      { id: b['id'], sent: false, error_code: null, error_detail: null },
      { id: c['id'], sent: true, error_code: null, error_detail: null },
    ]);
    // Only the row that may pass is taken again.
    calls = 0;
    const second = await pass(names, sw.submit);
    expect(second).toEqual({ taken: 1, sent: 1, duplicates: 0, refused: [] });
    expect(calls).toBe(0);
  });

  it('two passes at once never take the same row (FOR UPDATE SKIP LOCKED); together they send each row once', async () => {
    const names = await freshTables('ob4');
    await insertOutbox(names, Array.from({ length: 40 }, () => unsigned()));
    const sw = memorySwitch();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const slow: SubmitEnvelope = async (e) => {
      if (++started === 1) await gate; // holds the first pass's locks until the second pass has run
      return sw.submit(e);
    };
    const first = pass(names, slow, 25, 1);
    await until('first pass holding its rows', 10_000, () => (started === 1 ? true : undefined));
    const second = await pass(names, sw.submit, 25, 4);
    release();
    const results = [await first, second];
    expect(results.map((r) => r.taken)).toEqual([25, 15]);
    expect(results.reduce((n, r) => n + r.sent, 0)).toBe(40);
    expect(sw.posts).toHaveLength(40);
    expect(new Set(sw.posts.map((p) => p.id)).size).toBe(40);
  });
});

function config(names: DbNames, overrides: Record<string, unknown> = {}): ConnectorConfig {
  return parseConnectorConfig(
    {
      databaseUrl: server.url,
      names: { outboxTable: names.outbox.name, inboxTable: names.inbox.name },
      switchUrl: 'http://127.0.0.1:9',
      participant: SHOP,
      keyFile,
      http: { port: 0 },
      webhookSecrets: [SECRET],
      pollMs: 3_600_000,
      retry: { initialBackoffMs: 10, maxBackoffMs: 50 },
      ...overrides,
    },
    dir,
  );
}

async function postWebhook(connector: RunningConnector, envelope: unknown, secret = SECRET): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const body = JSON.stringify(envelope);
  const res = await fetch(connector.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'loulan-signature': signWebhook({ secrets: [secret], timestamp: Math.floor(Date.now() / 1000), body }) },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') };
}

describe('connector', () => {
  it('LISTEN alone delivers: with polling set to an hour, a new outbox row is sent at once', async () => {
    const names = await freshTables('lis');
    const sw = memorySwitch();
    const connector = await startConnector(config(names, { notify: true }), { fetch: sw.fetch });
    try {
      // The start-up pass has run (and found nothing) once the loop waits.
      await until('first pass', 10_000, () => (connector.stats().passes >= 1 ? true : undefined));
      const e = unsigned();
      await insertOutbox(names, [e]);
      await until('sent through LISTEN', 10_000, async () => ((await outboxRows(names))[0]?.sent ? true : undefined));
      expect(connector.stats().notifications).toBeGreaterThanOrEqual(1);
      expect(sw.posts.map((p) => p.id)).toEqual([e['id']]);
    } finally {
      await connector.close();
    }
  });

  it('polling alone delivers: with LISTEN off, rows are picked up by the poll', async () => {
    const names = await freshTables('pol');
    const sw = memorySwitch();
    const connector = await startConnector(config(names, { notify: false, pollMs: 50 }), { fetch: sw.fetch });
    try {
      await until('a few passes', 10_000, () => (connector.stats().passes >= 2 ? true : undefined));
      await insertOutbox(names, [unsigned(), unsigned()]);
      await until('sent by polling', 10_000, async () => ((await outboxRows(names)).every((r) => r.sent) ? true : undefined));
      expect(connector.stats()).toMatchObject({ notifications: 0, sent: 2 });
    } finally {
      await connector.close();
    }
  });

  it('retries with backoff while the switch is unreachable, then sends; a 4xx is recorded, not retried', async () => {
    const names = await freshTables('ret');
    const sw = memorySwitch();
    sw.setDown(true);
    const refused = unsigned();
    sw.refuse.set(refused['id'] as string, { status: 422, code: 'INTAKE_EXPIRED' });
    await insertOutbox(names, [unsigned(), refused]);
    const connector = await startConnector(config(names, { notify: false, pollMs: 50 }), { fetch: sw.fetch });
    try {
      await until('failed passes', 10_000, () => (connector.stats().failedPasses >= 3 ? true : undefined));
      expect((await outboxRows(names)).some((r) => r.sent)).toBe(false);
      sw.setDown(false);
      await until('sent after the outage', 10_000, async () => ((await outboxRows(names))[0]?.sent ? true : undefined));
      const rows = await outboxRows(names);
      expect(rows[1]).toMatchObject({ sent: false, error_code: 'INTAKE_EXPIRED' });
      const postsOfRefused = sw.posts.filter((p) => p.id === refused['id']).length;
      const passes = connector.stats().passes;
      await until('three more passes', 10_000, () => (connector.stats().passes >= passes + 3 ? true : undefined));
      expect(sw.posts.filter((p) => p.id === refused['id']).length).toBe(postsOfRefused);
    } finally {
      await connector.close();
    }
  });

  it('writes a verified webhook into the inbox once, answers duplicates 200, conflicts 409, bad signatures 400', async () => {
    const names = await freshTables('inb');
    const connector = await startConnector(config(names, { notify: false }), { fetch: memorySwitch().fetch });
    try {
      const e = { ...unsigned(), source: 'cn.loulan.partner.air', to: SHOP, sig: { alg: 'Ed25519', kid: 'cn.loulan.partner.air#x', value: 'AAAA' } };
      const first = await postWebhook(connector, e);
      expect(first).toMatchObject({ status: 200, body: { id: e.id, source: e.source, duplicate: false } });
      expect(await postWebhook(connector, e)).toMatchObject({ status: 200, body: { duplicate: true } });
      const { rows } = await pool.query(`SELECT source, message_id, envelope FROM inb.inbox`);
      expect(rows).toEqual([{ source: e.source, message_id: e.id, envelope: e }]);

      const conflict = await postWebhook(connector, { ...e, data: { points: '11' } });
      expect(conflict).toMatchObject({ status: 409, body: { code: 'DELIVER_ID_CONFLICT', id: e.id, source: e.source } });

      const forged = await postWebhook(connector, { ...unsigned(), to: SHOP }, `${SECRET}-wrong`);
      expect(forged).toMatchObject({ status: 400, body: { code: 'WEBHOOK_REFUSED', reason: 'SIGNATURE_MISMATCH' } });
      const unsignedRequest = await fetch(connector.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) });
      expect(unsignedRequest.status).toBe(400);
      expect(await unsignedRequest.json()).toMatchObject({ code: 'WEBHOOK_REFUSED', reason: 'HEADER_MISSING' });
      const { rows: after } = await pool.query(`SELECT count(*)::int AS n FROM inb.inbox`);
      expect(after).toEqual([{ n: 1 }]);
      expect(connector.stats()).toMatchObject({ received: 2, receivedDuplicates: 1 });
    } finally {
      await connector.close();
    }
  });

  it('answers 503 with Retry-After when the database is unreachable, so the switch retries', async () => {
    const names = await freshTables('dwn');
    const unreachable = server.url.replace(/:(\d+)\//, ':1/');
    const connector = await startConnector(config(names, { notify: false, databaseUrl: unreachable }), { fetch: memorySwitch().fetch });
    try {
      const reply = await postWebhook(connector, { ...unsigned(), to: SHOP });
      expect(reply).toMatchObject({ status: 503, retryAfter: '1', body: { code: 'INBOX_UNAVAILABLE' } });
    } finally {
      await connector.close();
    }
  });
});

describe('connector config', () => {
  const valid = () => ({ databaseUrl: 'postgres://u:p@127.0.0.1:5432/shop', switchUrl: 'http://127.0.0.1:8080', participant: SHOP, keyFile: 'shop.json', webhookSecrets: SECRET });

  it('fills defaults, resolves the key file against the config folder, and freezes', () => {
    const c = parseConnectorConfig(valid(), dir);
    expect(c).toMatchObject({ keyFile: keyFile, notify: true, pollMs: 1_000, batchSize: 100, concurrency: 16, webhookSecrets: [SECRET], http: { host: '127.0.0.1', port: 8780, path: '/loulan' } });
    expect(c.names.outbox.name).toBe('loulan_outbox');
    expect(Object.isFrozen(c) && Object.isFrozen(c.http)).toBe(true);
    expect(loadShopSigner(c).kid).toBe(signer.kid);
  });

  it('refuses anything wrong with CONFIG_INVALID naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid(), databaseUrl: 'mysql://x' }, '/databaseUrl'],
      [{ ...valid(), switchUrl: undefined }, '/switchUrl'],
      [{ ...valid(), participant: 'Shop' }, '/participant'],
      [{ ...valid(), webhookSecrets: ['short'] }, '/webhookSecrets/0'],
      [{ ...valid(), webhookSecrets: [] }, '/webhookSecrets'],
      [{ ...valid(), pollMs: 0 }, '/pollMs'],
      [{ ...valid(), batchSize: 1.5 }, '/batchSize'],
      [{ ...valid(), notify: 'yes' }, '/notify'],
      [{ ...valid(), http: { port: 70000 } }, '/http/port'],
      [{ ...valid(), http: { tls: true } }, '/http/tls'],
      [{ ...valid(), names: { outboxColumns: { envelope: 'Body' } } }, '/names/outboxColumns/envelope'],
      [{ ...valid(), extra: 1 }, '/extra'],
      [{ ...valid(), retry: { initialBackoffMs: 100, maxBackoffMs: 10 } }, '/retry/maxBackoffMs'],
    ];
    for (const [value, field] of cases) {
      let caught: unknown;
      try {
        parseConnectorConfig(value, dir);
      } catch (error) {
        caught = error;
      }
      expect({ field, caught }).toMatchObject({ field, caught: { code: 'CONFIG_INVALID', details: { field } } });
    }
  });

  it('refuses a key file of another participant, and an unreadable config', () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ id: 'cn.loulan.shop.other', alg: 'Ed25519', kid: 'cn.loulan.shop.other#00', privateKey: toHex(pair.privateKey) }));
    expect(() => loadShopSigner({ keyFile: other, participant: SHOP })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: { field: '/keyFile' } }));
    expect(() => loadConnectorConfig(join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
