/**
 * The demo shop: a small web shop that awards loyalty points on purchases through the switch, built
 * the way we tell real shops to connect (docs/db-connector.md, docs/shops.md). It never calls the
 * switch to send: a purchase and its `points.accrual` message are written in ONE transaction, the
 * message into the `loulan_outbox` table, and the database connector sends it. So a purchase is never
 * recorded without its message, nor a message sent for a purchase that rolled back (the transactional
 * outbox pattern).
 *
 * Points are awarded when the switch reports the message delivered to the loyalty program (its status
 * stream). The award, the purchase's new state and the stream cursor move together in one
 * transaction, and the award is a conditional update (`status = 'pending'`), so a replayed event after
 * a crash awards nothing twice. A message that dead-letters or expires marks the purchase `failed`.
 *
 * HTTP:
 *   POST /customers {id, name, member}              201 (200 when the same customer exists)
 *   GET  /customers/:id                             the customer, points balance and purchases
 *   POST /purchases {id, customerId, amount, currency}   202 {purchase}; the same id again: 200, no second purchase
 *   GET  /purchases/:id
 */
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { isLoulanError, type Signer } from '../../core-chain/index.ts';
import { createShopClient } from '../../adapters/rest/client.ts';
import type { DbNames, SqlSession } from '../../adapters/db/index.ts';
import type { StatusEvent } from '../../switch/model.ts';

export interface DemoShopOptions {
  readonly databaseUrl: string;
  /** The connector's table names (the outbox the shop writes). */
  readonly names: DbNames;
  readonly switchUrl: string;
  /** The shop's participant address. */
  readonly participant: string;
  /** Its key: the status stream is public per source, but the client library wants a signer or an API key. */
  readonly signer: Signer;
  /** The loyalty program credited: its address, which the switch routes. */
  readonly program: string;
  /**
   * Where accruals are addressed; default `<program>.accruals`. Its own channel (source, to), so that
   * the sequence numbers this shop's database hands out never compete with other messages the
   * participant sends the program.
   */
  readonly to?: string;
  /** Points per 100 minor units spent. Default 1. */
  readonly pointsPer100?: number;
  readonly host?: string;
  readonly port?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  readonly now?: () => number;
}

export interface RunningDemoShop {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Resolves once every status event seen so far is applied (tests wait on the database instead). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** The shop's own tables; the connector's come from `migrate` (adapters/db). */
export const DEMO_SHOP_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS demo_customers (
     id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
     name text NOT NULL,
     member text NOT NULL,
     points bigint NOT NULL DEFAULT 0 CHECK (points >= 0))`,
  `CREATE TABLE IF NOT EXISTS demo_purchases (
     id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:-]{1,64}$'),
     customer_id text NOT NULL REFERENCES demo_customers (id),
     amount bigint NOT NULL CHECK (amount > 0),
     currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
     points bigint NOT NULL,
     message_id text NOT NULL UNIQUE,
     status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'awarded', 'failed')),
     reason text,
     created_at timestamptz NOT NULL DEFAULT now(),
     settled_at timestamptz)`,
  `CREATE SEQUENCE IF NOT EXISTS demo_channel_seq`,
  `CREATE TABLE IF NOT EXISTS demo_stream_cursor (one boolean PRIMARY KEY DEFAULT true CHECK (one), cursor bigint NOT NULL)`,
  `INSERT INTO demo_stream_cursor (one, cursor) VALUES (true, 0) ON CONFLICT DO NOTHING`,
];

export async function migrateDemoShop(session: SqlSession): Promise<void> {
  await session.query('BEGIN');
  try {
    await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['loulan demo shop']);
    for (const statement of DEMO_SHOP_SQL) await session.query(statement);
    await session.query('COMMIT');
  } catch (error) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

const CUSTOMER_BODY = {
  type: 'object',
  required: ['id', 'name', 'member'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    member: { type: 'string', pattern: '^[A-Za-z0-9._:@+-]{1,128}$' },
  },
} as const;

const PURCHASE_BODY = {
  type: 'object',
  required: ['id', 'customerId', 'amount', 'currency'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
    customerId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    amount: { type: 'string', pattern: '^[1-9][0-9]{0,15}$', description: 'Minor units, as a decimal string.' },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  },
} as const;

interface PurchaseRow {
  id: string;
  customer_id: string;
  amount: string;
  currency: string;
  points: string;
  message_id: string;
  status: string;
  reason: string | null;
}

const purchaseView = (r: PurchaseRow) => ({
  id: r.id,
  customerId: r.customer_id,
  amount: r.amount,
  currency: r.currency,
  points: r.points,
  messageId: r.message_id,
  status: r.status,
  ...(r.reason === null ? {} : { reason: r.reason }),
});

function problem(status: number, code: string, detail: string, field?: string) {
  return { type: `https://loulan.dev/errors/${code}`, title: code, status, code, detail, ...(field === undefined ? {} : { pointer: field }) };
}

export async function startDemoShop(options: DemoShopOptions): Promise<RunningDemoShop> {
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const per100 = BigInt(options.pointsPer100 ?? 1);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 8 });
  pool.on('error', (error) => log('warn', 'database connection lost', { reason: error.message }));
  const names = options.names;
  const oc = names.outboxColumns;

  const app = Fastify({ logger: false });
  app.setErrorHandler((error, _request, reply) => {
    const e = error as { validation?: unknown; statusCode?: number; message: string; instancePath?: string };
    if (e.validation !== undefined) return reply.code(400).type('application/problem+json').send(problem(400, 'VALIDATE_FORMAT', e.message));
    log('error', 'demo shop: unexpected error', { reason: e.message });
    return reply.code(500).type('application/problem+json').send(problem(500, 'INTERNAL', 'unexpected error'));
  });

  app.post<{ Body: { id: string; name: string; member: string } }>('/customers', { schema: { body: CUSTOMER_BODY } }, async (request, reply) => {
    const { id, name, member } = request.body;
    const inserted = await pool.query('INSERT INTO demo_customers (id, name, member) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [id, name, member]);
    return reply.code(inserted.rowCount === 1 ? 201 : 200).send({ id, name, member });
  });

  app.get<{ Params: { id: string } }>('/customers/:id', async (request, reply) => {
    const { rows } = await pool.query('SELECT id, name, member, points::text AS points FROM demo_customers WHERE id = $1', [request.params.id]);
    if (rows.length === 0) return reply.code(404).type('application/problem+json').send(problem(404, 'NOT_FOUND', `no customer ${request.params.id}`));
    const purchases = await pool.query(
      'SELECT id, customer_id, amount::text AS amount, currency, points::text AS points, message_id, status, reason FROM demo_purchases WHERE customer_id = $1 ORDER BY created_at, id',
      [request.params.id],
    );
    return { ...rows[0], purchases: (purchases.rows as PurchaseRow[]).map(purchaseView) };
  });

  app.get<{ Params: { id: string } }>('/purchases/:id', async (request, reply) => {
    const { rows } = await pool.query(
      'SELECT id, customer_id, amount::text AS amount, currency, points::text AS points, message_id, status, reason FROM demo_purchases WHERE id = $1',
      [request.params.id],
    );
    if (rows.length === 0) return reply.code(404).type('application/problem+json').send(problem(404, 'NOT_FOUND', `no purchase ${request.params.id}`));
    return purchaseView(rows[0] as PurchaseRow);
  });

  app.post<{ Body: { id: string; customerId: string; amount: string; currency: string } }>('/purchases', { schema: { body: PURCHASE_BODY } }, async (request, reply) => {
    const { id, customerId, amount, currency } = request.body;
    const points = (BigInt(amount) * per100) / 100n;
    const messageId = `accrual-${id}`;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const customer = await client.query('SELECT member FROM demo_customers WHERE id = $1', [customerId]);
      if (customer.rows.length === 0) {
        await client.query('ROLLBACK');
        return reply.code(422).type('application/problem+json').send(problem(422, 'NOT_FOUND', `no customer ${customerId}`, '/customerId'));
      }
      const inserted = await client.query(
        `INSERT INTO demo_purchases (id, customer_id, amount, currency, points, message_id, status)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5::bigint > 0 THEN 'pending' ELSE 'awarded' END) ON CONFLICT (id) DO NOTHING`,
        [id, customerId, amount, currency, points.toString(), messageId],
      );
      if (inserted.rowCount === 1 && points > 0n) {
        const { rows } = await client.query("SELECT nextval('demo_channel_seq')::text AS seq");
        const time = now();
        const envelope = {
          id: messageId,
          type: 'points.accrual',
          source: options.participant,
          to: options.to ?? `${options.program}.accruals`,
          seq: rows[0].seq as string,
          time: new Date(time).toISOString(),
          expiresAt: new Date(time + 24 * 3_600_000).toISOString(),
          data: {
            orderId: id,
            account: { program: options.program, member: customer.rows[0].member as string },
            purchase: { amount, currency },
            points: points.toString(),
            purchasedAt: new Date(time).toISOString(),
          },
        };
        await client.query(`INSERT INTO ${names.outbox.sql} (${oc.envelope}) VALUES ($1::jsonb)`, [JSON.stringify(envelope)]);
      }
      await client.query('COMMIT');
      const { rows } = await client.query(
        'SELECT id, customer_id, amount::text AS amount, currency, points::text AS points, message_id, status, reason FROM demo_purchases WHERE id = $1',
        [id],
      );
      const row = rows[0] as PurchaseRow;
      if (row.customer_id !== customerId || row.amount !== amount || row.currency !== currency) {
        return reply.code(409).type('application/problem+json').send(problem(409, 'ID_CONFLICT', `purchase ${id} exists with other content`, '/id'));
      }
      return reply.code(inserted.rowCount === 1 ? 202 : 200).send(purchaseView(row));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  });

  // -- awarding points as the switch reports deliveries -----------------------------------------
  let queue: Promise<void> = Promise.resolve();
  const apply = async (event: StatusEvent): Promise<void> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query('SELECT cursor::text AS cursor FROM demo_stream_cursor FOR UPDATE');
      // Replayed after a restart: already applied with its cursor.
      if (BigInt(rows[0].cursor as string) >= BigInt(event.cursor)) {
        await client.query('ROLLBACK');
        return;
      }
      if (event.status === 'delivered') {
        const awarded = await client.query(
          "UPDATE demo_purchases SET status = 'awarded', settled_at = now() WHERE message_id = $1 AND status = 'pending' RETURNING customer_id, points",
          [event.id],
        );
        if (awarded.rowCount === 1) await client.query('UPDATE demo_customers SET points = points + $2 WHERE id = $1', [awarded.rows[0].customer_id, awarded.rows[0].points]);
      } else if (event.status === 'dead' || event.status === 'expired') {
        await client.query("UPDATE demo_purchases SET status = 'failed', reason = $2, settled_at = now() WHERE message_id = $1 AND status = 'pending'", [
          event.id,
          event.code ?? event.status,
        ]);
      }
      await client.query('UPDATE demo_stream_cursor SET cursor = $1', [event.cursor]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };

  const shopClient = createShopClient({ switchUrl: options.switchUrl, participant: options.participant, signer: options.signer });
  let unsubscribe: (() => void) | undefined;
  /** Set when an event could not be applied: later events wait for the resubscription that replays it. */
  let broken = false;
  let closing = false;
  const subscribe = async (): Promise<void> => {
    const { rows } = await pool.query('SELECT cursor::text AS cursor FROM demo_stream_cursor');
    const from = Number(rows[0]?.cursor ?? 0);
    unsubscribe?.();
    broken = false;
    unsubscribe = shopClient.subscribe(
      (event) => {
        queue = queue.then(async () => {
          if (broken || closing) return;
          try {
            await apply(event);
          } catch (error) {
            // The database failed: start over from the stored cursor, which replays this event.
            broken = true;
            log('warn', 'demo shop: could not apply a status event; resubscribing', { cursor: event.cursor, reason: String(error) });
            setTimeout(() => void subscribe().catch(() => undefined), 500).unref();
          }
        });
      },
      { cursor: from, onError: (error) => log('warn', 'demo shop: status stream', { code: isLoulanError(error) ? error.code : String(error) }) },
    );
  };
  await subscribe();

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    app,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    settled: () => queue,
    async close() {
      closing = true;
      unsubscribe?.();
      await app.close();
      await queue.catch(() => undefined);
      await pool.end();
    },
  };
}

