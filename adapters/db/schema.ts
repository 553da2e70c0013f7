/**
 * The tables the database connector shares with a shop (DESIGN §6): `loulan_outbox`, which the shop
 * writes and the connector reads, and `loulan_inbox`, which the connector writes and the shop reads.
 *
 * - Names fit an existing schema: every table and column name is configurable, validated once against
 *   the rule of route.change `$defs/tableName` (lower-case, optionally `schema.table`, at most 63
 *   characters a part), then always emitted double-quoted, so a name that is also an SQL keyword
 *   (`order`, `user`) works and nothing from configuration reaches SQL unquoted.
 * - The inbox has a companion marker table, (source, message_id) → digest, written in the same
 *   transaction as the inbox row (inbox.ts). The shop may archive or delete inbox rows once it has
 *   processed them (`processed_at` is the shop's own marker); the marker rows must stay, since they are
 *   what makes a redelivery of an old message a no-op rather than a second effect.
 * - `migrate` is idempotent and safe to run from several connectors at once: one transaction, an
 *   advisory lock, versioned steps per table recorded in a migrations table, and `IF NOT EXISTS` on
 *   every object so tables a shop created by hand are adopted rather than clashed with.
 * - An insert into the outbox fires `pg_notify(<outbox channel>)` (one per statement): the connector
 *   LISTENs for low latency and polls as the fallback, as notifications are lost while it is away.
 */
import { LoulanError } from '../../core-chain/index.ts';

/** The one thing the connector needs from a PostgreSQL session (`pg.Client` or a pool's client). */
export interface SqlSession {
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

export interface OutboxColumns {
  readonly id: string;
  readonly envelope: string;
  readonly createdAt: string;
  readonly sentAt: string;
  /** Set with `errorDetail` when the switch refused the row for good (version 2); the row is not sent again. */
  readonly errorCode: string;
  readonly errorDetail: string;
}

export interface InboxColumns {
  readonly source: string;
  readonly messageId: string;
  readonly envelope: string;
  readonly receivedAt: string;
  readonly processedAt: string;
}

export interface DbNamesOptions {
  /** Default `loulan_outbox`; `schema.table` allowed. */
  readonly outboxTable?: string;
  /** Default `loulan_inbox`. */
  readonly inboxTable?: string;
  /** Default `<inbox table>_marker`, in the inbox's schema. */
  readonly markerTable?: string;
  /** Default `loulan_migrations`, in the inbox's schema. */
  readonly migrationsTable?: string;
  readonly outboxColumns?: Partial<OutboxColumns>;
  readonly inboxColumns?: Partial<InboxColumns>;
}

/** A table's configured name and its quoted SQL form. */
export interface TableName {
  /** As configured: `loulan_inbox` or `shop.loulan_inbox`. */
  readonly name: string;
  /** `"loulan_inbox"` or `"shop"."loulan_inbox"`. */
  readonly sql: string;
  readonly schema: string | undefined;
  /** The unqualified table name. */
  readonly table: string;
}

/** Validated, frozen names; every `*Sql` string is safe to splice into a statement. */
export interface DbNames {
  readonly outbox: TableName;
  readonly inbox: TableName;
  readonly marker: TableName;
  readonly migrations: TableName;
  /** Quoted column names. */
  readonly outboxColumns: OutboxColumns;
  readonly inboxColumns: InboxColumns;
  /** The NOTIFY channel an outbox insert signals: the outbox's unqualified table name. */
  readonly outboxChannel: string;
}

const PART = /^[a-z_][a-z0-9_]{0,62}$/;
const TABLE = /^[a-z_][a-z0-9_]{0,62}(?:\.[a-z_][a-z0-9_]{0,62})?$/;
const MAX_IDENTIFIER = 63;

/** Double-quotes an identifier (doubling any quote inside, although validated names have none). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function invalid(field: string, value: unknown, why: string): LoulanError {
  return new LoulanError('CONFIG_INVALID', `${field} ${why}`, { details: { field, value } });
}

function tableName(field: string, value: string): TableName {
  if (typeof value !== 'string' || !TABLE.test(value)) {
    throw invalid(field, value, 'must be a lower-case PostgreSQL name, optionally schema-qualified (schema.table)');
  }
  const dot = value.indexOf('.');
  const schema = dot < 0 ? undefined : value.slice(0, dot);
  const table = dot < 0 ? value : value.slice(dot + 1);
  const sql = schema === undefined ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
  return Object.freeze({ name: value, sql, schema, table });
}

function columns<T extends object>(field: string, defaults: T, given: Partial<T> | undefined): T {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const key of Object.keys(given ?? {})) {
    if (!Object.hasOwn(defaults, key)) throw invalid(`${field}.${key}`, key, 'is not a column of this table');
  }
  for (const [key, fallback] of Object.entries(defaults) as [string, string][]) {
    const value = (given as Record<string, unknown> | undefined)?.[key] ?? fallback;
    if (typeof value !== 'string' || !PART.test(value)) {
      throw invalid(`${field}.${key}`, value, 'must be a lower-case PostgreSQL column name');
    }
    if (seen.has(value)) throw invalid(`${field}.${key}`, value, 'names the same column as another field');
    seen.add(value);
    out[key] = quoteIdent(value);
  }
  return Object.freeze(out) as T;
}

/** A name derived from a table's (e.g. an index's): truncated so it stays within PostgreSQL's 63 bytes. */
function derived(table: string, suffix: string): string {
  return table.slice(0, MAX_IDENTIFIER - suffix.length) + suffix;
}

function sibling(of: TableName, table: string): string {
  return of.schema === undefined ? table : `${of.schema}.${table}`;
}

/**
 * Validates table and column names once; throws `CONFIG_INVALID` with `details.field`.
 *
 * @example dbNames({ inboxTable: 'shop.loulan_inbox', inboxColumns: { envelope: 'body' } })
 */
export function dbNames(options: DbNamesOptions = {}): DbNames {
  const outbox = tableName('outboxTable', options.outboxTable ?? 'loulan_outbox');
  const inbox = tableName('inboxTable', options.inboxTable ?? 'loulan_inbox');
  const marker = tableName('markerTable', options.markerTable ?? sibling(inbox, derived(inbox.table, '_marker')));
  const migrations = tableName('migrationsTable', options.migrationsTable ?? sibling(inbox, 'loulan_migrations'));
  const tables = [outbox, inbox, marker, migrations];
  for (const [i, t] of tables.entries()) {
    if (tables.findIndex((other) => other.sql === t.sql) !== i) {
      throw invalid(['outboxTable', 'inboxTable', 'markerTable', 'migrationsTable'][i]!, t.name, 'names the same table as another');
    }
  }
  return Object.freeze({
    outbox,
    inbox,
    marker,
    migrations,
    outboxColumns: columns(
      'outboxColumns',
      { id: 'id', envelope: 'envelope', createdAt: 'created_at', sentAt: 'sent_at', errorCode: 'error_code', errorDetail: 'error_detail' },
      options.outboxColumns,
    ),
    inboxColumns: columns(
      'inboxColumns',
      { source: 'source', messageId: 'message_id', envelope: 'envelope', receivedAt: 'received_at', processedAt: 'processed_at' },
      options.inboxColumns,
    ),
    outboxChannel: outbox.table,
  });
}

/** An object named after a table, in that table's schema (indexes take no schema: they follow their table). */
function qualified(of: TableName, name: string): string {
  return of.schema === undefined ? quoteIdent(name) : `${quoteIdent(of.schema)}.${quoteIdent(name)}`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

interface Subject {
  readonly key: string;
  /** steps[i] brings the subject from version i to i + 1. */
  readonly steps: readonly (readonly string[])[];
}

function outboxSteps(n: DbNames): Subject {
  const c = n.outboxColumns;
  const t = n.outbox;
  const fn = qualified(t, derived(t.table, '_notify'));
  return {
    key: `outbox ${t.name}`,
    steps: [
      [
        `CREATE TABLE IF NOT EXISTS ${t.sql} (
  ${c.id} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ${c.envelope} jsonb NOT NULL,
  ${c.createdAt} timestamptz NOT NULL DEFAULT now(),
  ${c.sentAt} timestamptz
)`,
        `CREATE INDEX IF NOT EXISTS ${quoteIdent(derived(t.table, '_unsent'))} ON ${t.sql} (${c.id}) WHERE ${c.sentAt} IS NULL`,
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $loulan$
BEGIN
  PERFORM pg_notify(${literal(n.outboxChannel)}, '');
  RETURN NULL;
END
$loulan$`,
        `DROP TRIGGER IF EXISTS ${quoteIdent(derived(t.table, '_notify'))} ON ${t.sql}`,
        `CREATE TRIGGER ${quoteIdent(derived(t.table, '_notify'))} AFTER INSERT ON ${t.sql} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
      ],
      // 2: a refusal by the switch is recorded on the row, which then leaves the pending set for good.
      [
        `ALTER TABLE ${t.sql} ADD COLUMN IF NOT EXISTS ${c.errorCode} text, ADD COLUMN IF NOT EXISTS ${c.errorDetail} text`,
        `DROP INDEX IF EXISTS ${qualified(t, derived(t.table, '_unsent'))}`,
        `CREATE INDEX IF NOT EXISTS ${quoteIdent(derived(t.table, '_pending'))} ON ${t.sql} (${c.id}) WHERE ${c.sentAt} IS NULL AND ${c.errorCode} IS NULL`,
      ],
    ],
  };
}

function inboxSteps(n: DbNames): Subject {
  const c = n.inboxColumns;
  const t = n.inbox;
  return {
    key: `inbox ${t.name}`,
    steps: [
      [
        `CREATE TABLE IF NOT EXISTS ${t.sql} (
  ${c.source} text NOT NULL,
  ${c.messageId} text NOT NULL,
  ${c.envelope} jsonb NOT NULL,
  ${c.receivedAt} timestamptz NOT NULL DEFAULT now(),
  ${c.processedAt} timestamptz,
  PRIMARY KEY (${c.source}, ${c.messageId})
)`,
        `CREATE INDEX IF NOT EXISTS ${quoteIdent(derived(t.table, '_unprocessed'))} ON ${t.sql} (${c.receivedAt}) WHERE ${c.processedAt} IS NULL`,
        `CREATE TABLE IF NOT EXISTS ${n.marker.sql} (
  "source" text NOT NULL,
  "message_id" text NOT NULL,
  "digest" text NOT NULL,
  "written_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("source", "message_id")
)`,
      ],
    ],
  };
}

/** The newest version of the table set (the outbox's; the inbox is at 1); `migrate` brings every table to its newest. */
export const SCHEMA_VERSION = 2;

/** The schemas the tables live in and the migrations record: created before any versioned step. */
function setupSql(names: DbNames): string[] {
  const schemas = new Set([names.outbox, names.inbox, names.marker, names.migrations].flatMap((t) => (t.schema === undefined ? [] : [t.schema])));
  return [
    ...[...schemas].map((s) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)}`),
    `CREATE TABLE IF NOT EXISTS ${names.migrations.sql} (
  "subject" text PRIMARY KEY,
  "version" integer NOT NULL,
  "applied_at" timestamptz NOT NULL DEFAULT now()
)`,
  ];
}

/** Every statement `migrate` would run on an empty database, in order: for a shop's DBA to review or apply by hand. */
export function schemaSql(names: DbNames): string[] {
  return [...setupSql(names), ...[outboxSteps(names), inboxSteps(names)].flatMap((s) => s.steps.flat())];
}

export interface MigrateResult {
  /** Steps applied by this call (0 when the tables were already current). */
  readonly applied: number;
  readonly version: number;
}

/**
 * Creates or upgrades the outbox, inbox, marker and migrations tables; does nothing when they are
 * current. Runs in one transaction on `session`, so a failure leaves the database as it was.
 */
export async function migrate(session: SqlSession, names: DbNames): Promise<MigrateResult> {
  let applied = 0;
  await session.query('BEGIN');
  try {
    // Serialises concurrent migrators: CREATE ... IF NOT EXISTS alone races on the catalog.
    await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`loulan migrate ${names.migrations.name}`]);
    for (const statement of setupSql(names)) await session.query(statement);
    for (const subject of [outboxSteps(names), inboxSteps(names)]) {
      const { rows } = await session.query(`SELECT "version" FROM ${names.migrations.sql} WHERE "subject" = $1`, [subject.key]);
      const from = rows.length === 0 ? 0 : Number(rows[0].version);
      if (from > subject.steps.length) {
        throw new LoulanError('CONFIG_INVALID', `${subject.key} is at version ${from}, newer than this connector knows`, {
          details: { field: 'migrationsTable', subject: subject.key, version: from, known: subject.steps.length },
        });
      }
      for (const step of subject.steps.slice(from)) {
        for (const statement of step) await session.query(statement);
        applied++;
      }
      if (from < subject.steps.length) {
        await session.query(
          `INSERT INTO ${names.migrations.sql} ("subject", "version") VALUES ($1, $2)
           ON CONFLICT ("subject") DO UPDATE SET "version" = EXCLUDED."version", "applied_at" = now()`,
          [subject.key, subject.steps.length],
        );
      }
    }
    await session.query('COMMIT');
  } catch (error) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return { applied, version: SCHEMA_VERSION };
}
