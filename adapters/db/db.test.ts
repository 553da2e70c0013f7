import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../../test/support/postgres.ts';
import { dbNames, migrate, SCHEMA_VERSION } from './schema.ts';
import { envelopeDigest, writeInbox, type InboxEnvelope } from './inbox.ts';

let server: TestPostgres;
let pool: pg.Pool;
beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 100 });
  // pool.end() resolves before every idle client's socket is closed; the server's shutdown then
  // reaches a few of them as an 'error' event, which would otherwise be an uncaught exception.
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

async function count(table: string, where = 'true', values: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, values);
  return Number(rows[0]!.n);
}

function envelope(id: string, points = '10', source = 'cn.loulan.shop.acme'): InboxEnvelope {
  return {
    id,
    type: 'points.exchange.request',
    source,
    to: 'cn.loulan.shop.beta',
    seq: '1',
    time: '2026-01-01T00:00:00Z',
    data: { points },
    sig: { alg: 'Ed25519', kid: `${source}#00`, value: 'AAAA' },
  };
}

describe('migrate', () => {
  it('creates the tables once; a second run, and concurrent runs, change nothing', async () => {
    const names = dbNames();
    expect(await withClient((c) => migrate(c, names))).toEqual({ applied: 3, version: SCHEMA_VERSION });
    expect(await withClient((c) => migrate(c, names))).toEqual({ applied: 0, version: SCHEMA_VERSION });
    const results = await Promise.all([1, 2, 3].map(() => withClient((c) => migrate(c, names))));
    expect(results.map((r) => r.applied)).toEqual([0, 0, 0]);
    const { rows } = await pool.query('SELECT subject, version FROM loulan_migrations ORDER BY subject');
    expect(rows).toEqual([
      { subject: 'inbox loulan_inbox', version: 1 },
      { subject: 'outbox loulan_outbox', version: 2 },
    ]);
  });

  it('concurrent first runs on an empty schema all succeed, one applies', async () => {
    const names = dbNames({ outboxTable: 'race.outbox', inboxTable: 'race.inbox' });
    const results = await Promise.all([1, 2, 3, 4].map(() => withClient((c) => migrate(c, names))));
    expect(results.map((r) => r.applied).sort()).toEqual([0, 0, 0, 3]);
  });

  it('uses custom schema, table and column names, and the outbox notifies its channel', async () => {
    const names = dbNames({
      outboxTable: 'shop.order',
      inboxTable: 'shop.incoming',
      outboxColumns: { id: 'seq', envelope: 'body', createdAt: 'at', sentAt: 'taken' },
      inboxColumns: { source: 'sender', messageId: 'mid', envelope: 'body', receivedAt: 'at', processedAt: 'done' },
    });
    await withClient((c) => migrate(c, names));
    const { rows: cols } = await pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'shop' ORDER BY table_name, ordinal_position`,
    );
    expect(cols.map((c) => `${c.table_name}.${c.column_name}`)).toEqual([
      'incoming.sender', 'incoming.mid', 'incoming.body', 'incoming.at', 'incoming.done',
      'incoming_marker.source', 'incoming_marker.message_id', 'incoming_marker.digest', 'incoming_marker.written_at',
      'loulan_migrations.subject', 'loulan_migrations.version', 'loulan_migrations.applied_at',
      'order.seq', 'order.body', 'order.at', 'order.taken', 'order.error_code', 'order.error_detail',
    ]);
    const listener = new pg.Client({ connectionString: server.url });
    await listener.connect();
    try {
      const heard = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(n.channel)));
      await listener.query(`LISTEN "${names.outboxChannel}"`);
      await pool.query(`INSERT INTO shop."order" (body) VALUES ($1)`, [JSON.stringify(envelope('o-1'))]);
      expect(await heard).toBe('order');
    } finally {
      await listener.end();
    }
    const w = await withClient((c) => writeInbox(c, names, envelope('custom-1')));
    expect(w.duplicate).toBe(false);
    const { rows } = await pool.query('SELECT sender, mid, body, done FROM shop.incoming');
    expect(rows).toEqual([{ sender: 'cn.loulan.shop.acme', mid: 'custom-1', body: envelope('custom-1'), done: null }]);
  });

  it('refuses a migrations record newer than it knows', async () => {
    const names = dbNames({ outboxTable: 'future.outbox', inboxTable: 'future.inbox' });
    await withClient((c) => migrate(c, names));
    await pool.query(`UPDATE future.loulan_migrations SET version = 99 WHERE subject = 'inbox future.inbox'`);
    const error = await withClient((c) => migrate(c, names)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'migrationsTable', version: 99, known: 1 } });
  });
});

describe('writeInbox', () => {
  const names = dbNames();
  beforeAll(() => withClient((c) => migrate(c, names)));

  it('writes message and marker once; the same message again is a duplicate, even re-signed', async () => {
    const e = envelope('m-1');
    expect(await withClient((c) => writeInbox(c, names, e))).toEqual({ duplicate: false, digest: envelopeDigest(e) });
    const resigned = { ...e, sig: { alg: 'Ed25519' as const, kid: e.sig!.kid, value: 'BBBB' } };
    expect(await withClient((c) => writeInbox(c, names, resigned))).toEqual({ duplicate: true, digest: envelopeDigest(e) });
    expect(await count('loulan_inbox', 'message_id = $1', ['m-1'])).toBe(1);
    expect(await count('loulan_inbox_marker', 'message_id = $1', ['m-1'])).toBe(1);
  });

  it('keeps the same id from two sources apart', async () => {
    await withClient((c) => writeInbox(c, names, envelope('m-2', '1', 'cn.loulan.shop.a')));
    expect((await withClient((c) => writeInbox(c, names, envelope('m-2', '1', 'cn.loulan.shop.b')))).duplicate).toBe(false);
    expect(await count('loulan_inbox', 'message_id = $1', ['m-2'])).toBe(2);
  });

  it('refuses another message under the same (source, id) with DELIVER_ID_CONFLICT, writing nothing', async () => {
    const first = envelope('m-3', '10');
    await withClient((c) => writeInbox(c, names, first));
    const other = envelope('m-3', '11');
    const error = await withClient((c) => writeInbox(c, names, other)).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DELIVER_ID_CONFLICT',
      details: { source: first.source, id: 'm-3', digest: envelopeDigest(other), existing: envelopeDigest(first) },
    });
    const { rows } = await pool.query('SELECT envelope FROM loulan_inbox WHERE message_id = $1', ['m-3']);
    expect(rows).toEqual([{ envelope: first }]);
  });

  it('stays a no-op after the shop deleted the processed inbox row (the marker remembers)', async () => {
    await withClient((c) => writeInbox(c, names, envelope('m-4')));
    await pool.query(`DELETE FROM loulan_inbox WHERE message_id = 'm-4'`);
    expect((await withClient((c) => writeInbox(c, names, envelope('m-4')))).duplicate).toBe(true);
    expect(await count('loulan_inbox', 'message_id = $1', ['m-4'])).toBe(0);
  });

  it('writes exactly once under 200 concurrent writes of the same message', async () => {
    const e = envelope('m-burst');
    const results = await Promise.all(Array.from({ length: 200 }, () => withClient((c) => writeInbox(c, names, e))));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await count('loulan_inbox', 'message_id = $1', ['m-burst'])).toBe(1);
    expect(await count('loulan_inbox_marker', 'message_id = $1', ['m-burst'])).toBe(1);
  });

  it('leaves both rows or neither when the writer is killed at any statement; a redelivery then completes it once', async () => {
    const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
    // Statements: BEGIN, marker insert, inbox insert, COMMIT; index 4 is never reached (the write completes).
    const points = [0, 1, 2, 3].flatMap((at) => [`${at} before`, `${at} after`]).concat(['4 before']);
    for (const point of points) {
      const [at, when] = point.split(' ') as [string, string];
      const e = envelope(`crash-${at}-${when}`);
      const proc = spawn(process.execPath, [child, server.url, at, when, JSON.stringify(e)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const said = await new Promise<string>((resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        proc.on('exit', (code) => reject(new Error(`child exited ${code} before reporting (${point})`)));
      });
      proc.kill('SIGKILL');
      await new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve(null) : proc.once('exit', resolve)));
      expect(said).toBe(at === '4' ? 'done' : 'hang');
      // The redelivery waits on the marker's key until the dead session's transaction is over.
      const again = await withClient((c) => writeInbox(c, names, e));
      const inbox = await count('loulan_inbox', 'message_id = $1', [e.id]);
      const marker = await count('loulan_inbox_marker', 'message_id = $1', [e.id]);
      expect({ point, inbox, marker }).toEqual({ point, inbox: 1, marker: 1 });
      if (at === '4' || at === '0' || at === '1' || at === '2') {
        expect({ point, duplicate: again.duplicate }).toEqual({ point, duplicate: at === '4' });
      }
    }
  });
});
