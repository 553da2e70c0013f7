/**
 * The demo shop end to end: a real PostgreSQL holding the shop's tables and the connector's outbox,
 * the connector, validators, a switch and the loyalty program's endpoint (the loopback sink). A
 * purchase writes its points.accrual into the outbox in the same transaction; the connector sends it;
 * the switch delivers it; the shop awards the points when the switch reports the delivery.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, fromHex } from '../../core-chain/index.ts';
import { dbNames, migrate, parseConnectorConfig, startConnector, type RunningConnector } from '../../adapters/db/index.ts';
import { migrateDemoShop, startDemoShop, type RunningDemoShop } from '../../examples/demo-shop/shop.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';
import { until } from '../support/ports.ts';

let net: TestConsortium;
let db: TestPostgres;
let connector: RunningConnector;
let shop: RunningDemoShop;
let pool: pg.Pool;

beforeAll(async () => {
  [net, db] = await Promise.all([startConsortium(), startPostgres()]);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  // pool.end() resolves before every idle socket is closed; the server's shutdown in afterAll may
  // still reach one, and an 'error' without a listener would be an uncaught exception.
  pool.on('error', () => undefined);
  const names = dbNames();
  const session = await pool.connect();
  try {
    await migrate(session, names);
    await migrateDemoShop(session);
  } finally {
    session.release();
  }
  const config = parseConnectorConfig(
    { databaseUrl: db.url, switchUrl: net.switchUrl, participant: net.layout.shop.id, keyFile: net.layout.shop.keyFile, webhookSecrets: 'demo-shop-webhook-secret-0001', http: { port: 0 }, pollMs: 200 },
    net.dir,
  );
  connector = await startConnector(config);
  const s = net.layout.shop;
  shop = await startDemoShop({
    databaseUrl: db.url,
    names,
    switchUrl: net.switchUrl,
    participant: s.id,
    signer: createSigner(s.alg, fromHex(s.privateKey), { kid: s.kid }),
    program: net.layout.program.id,
    pointsPer100: 2,
  });
});

afterAll(async () => {
  await shop?.close();
  await connector?.close();
  await pool?.end();
  await Promise.all([net?.stop(), db?.stop()]);
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${shop.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

describe('demo shop', () => {
  it('awards points for each purchase once, after the switch delivered its accrual to the program', async () => {
    expect((await call('POST', '/customers', { id: 'alice', name: 'Alice', member: 'member-alice' })).status).toBe(201);
    const amounts = ['1250', '999', '30000', '4100', '100'];
    for (const [i, amount] of amounts.entries()) {
      const placed = await call('POST', '/purchases', { id: `order-${i}`, customerId: 'alice', amount, currency: 'CNY' });
      expect(placed.status).toBe(202);
      expect(placed.body).toMatchObject({ status: 'pending', points: String((BigInt(amount) * 2n) / 100n) });
    }
    // The same order again is the same purchase: no second row, no second message.
    expect((await call('POST', '/purchases', { id: 'order-0', customerId: 'alice', amount: '1250', currency: 'CNY' })).status).toBe(200);
    expect((await call('POST', '/purchases', { id: 'order-0', customerId: 'alice', amount: '9', currency: 'CNY' })).status).toBe(409);
    // Bad input changes nothing.
    expect((await call('POST', '/purchases', { id: 'order-x', customerId: 'nobody', amount: '5', currency: 'CNY' })).status).toBe(422);
    expect((await call('POST', '/purchases', { id: 'order-y', customerId: 'alice', amount: '-5', currency: 'CNY' })).status).toBe(400);

    const expected = amounts.reduce((sum, a) => sum + (BigInt(a) * 2n) / 100n, 0n);
    const customer = await until('every purchase to be awarded', 60_000, async () => {
      const c = await call('GET', '/customers/alice');
      return c.body.purchases.every((p: { status: string }) => p.status === 'awarded') ? c.body : undefined;
    });
    expect(customer.points).toBe(expected.toString());
    expect(customer.purchases).toHaveLength(amounts.length);

    const { rows } = await pool.query('SELECT count(*)::int AS n, count(sent_at)::int AS sent FROM loulan_outbox');
    expect(rows[0]).toEqual({ n: amounts.length, sent: amounts.length });
    const counts = net.sink.effectLines();
    for (let i = 0; i < amounts.length; i++) expect(counts.get(`${net.layout.shop.id}/accrual-order-${i}`)).toBe(1);
  });

  it('a restarted shop replays the stream from its stored cursor and awards nothing twice', async () => {
    const before = (await call('GET', '/customers/alice')).body.points as string;
    await shop.close();
    const s = net.layout.shop;
    // Rewind the cursor as if the shop had died before storing it: the replay must be a no-op.
    await pool.query('UPDATE demo_stream_cursor SET cursor = 0');
    shop = await startDemoShop({
      databaseUrl: db.url,
      names: dbNames(),
      switchUrl: net.switchUrl,
      participant: s.id,
      signer: createSigner(s.alg, fromHex(s.privateKey), { kid: s.kid }),
      program: net.layout.program.id,
      pointsPer100: 2,
    });
    await until('the replay to reach the stored cursor again', 30_000, async () => {
      const { rows } = await pool.query('SELECT cursor::int AS cursor FROM demo_stream_cursor');
      return rows[0].cursor > 0 ? true : undefined;
    });
    await call('POST', '/purchases', { id: 'order-after', customerId: 'alice', amount: '500', currency: 'CNY' });
    const after = await until('the new purchase to be awarded', 60_000, async () => {
      const p = await call('GET', '/purchases/order-after');
      return p.body.status === 'awarded' ? p.body : undefined;
    });
    expect(after.points).toBe('10');
    expect((await call('GET', '/customers/alice')).body.points).toBe(String(BigInt(before) + 10n));
  });
});
