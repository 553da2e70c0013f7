import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dbNames, quoteIdent, schemaSql } from './schema.ts';
import * as db from './index.ts';

function codeOf(fn: () => unknown): { code: unknown; field: unknown } {
  try {
    fn();
  } catch (error) {
    const e = error as { code?: unknown; details?: { field?: unknown } };
    return { code: e.code, field: e.details?.field };
  }
  throw new Error('did not throw');
}

describe('dbNames', () => {
  it('defaults to loulan_outbox, loulan_inbox, its marker and loulan_migrations, all quoted', () => {
    const n = dbNames();
    expect([n.outbox.sql, n.inbox.sql, n.marker.sql, n.migrations.sql]).toEqual([
      '"loulan_outbox"',
      '"loulan_inbox"',
      '"loulan_inbox_marker"',
      '"loulan_migrations"',
    ]);
    expect(n.inboxColumns).toEqual({
      source: '"source"',
      messageId: '"message_id"',
      envelope: '"envelope"',
      receivedAt: '"received_at"',
      processedAt: '"processed_at"',
    });
    expect(n.outboxChannel).toBe('loulan_outbox');
    expect(Object.isFrozen(n) && Object.isFrozen(n.inbox) && Object.isFrozen(n.outboxColumns)).toBe(true);
  });

  it('puts the marker and migrations tables in the inbox schema, keywords as column names work', () => {
    const n = dbNames({ inboxTable: 'shop.inbox', outboxTable: 'shop.order', outboxColumns: { id: 'user' } });
    expect(n.marker.sql).toBe('"shop"."inbox_marker"');
    expect(n.migrations.sql).toBe('"shop"."loulan_migrations"');
    expect(n.outbox).toMatchObject({ sql: '"shop"."order"', schema: 'shop', table: 'order' });
    expect(n.outboxColumns.id).toBe('"user"');
    expect(n.outboxChannel).toBe('order');
  });

  it('refuses names outside the tableName rule with CONFIG_INVALID naming the field', () => {
    const cases: [Parameters<typeof dbNames>[0], string][] = [
      [{ inboxTable: 'Inbox' }, 'inboxTable'],
      [{ outboxTable: 'a.b.c' }, 'outboxTable'],
      [{ outboxTable: 'x"; DROP TABLE y; --' }, 'outboxTable'],
      [{ inboxTable: 'a'.repeat(64) }, 'inboxTable'],
      [{ markerTable: '' }, 'markerTable'],
      [{ inboxColumns: { envelope: 'body text' } }, 'inboxColumns.envelope'],
      [{ inboxColumns: { envelope: 'shop.body' } }, 'inboxColumns.envelope'],
      [{ inboxColumns: { envelope: 'source' } }, 'inboxColumns.envelope'],
      [{ outboxColumns: { nope: 'x' } as never }, 'outboxColumns.nope'],
      [{ inboxTable: 'same', outboxTable: 'same' }, 'inboxTable'],
      [{ migrationsTable: 'loulan_inbox_marker' }, 'migrationsTable'],
    ];
    for (const [options, field] of cases) expect(codeOf(() => dbNames(options))).toEqual({ code: 'CONFIG_INVALID', field });
  });

  it('accepts exactly the names route.change allows, and quotes them losslessly', () => {
    const part = fc.stringMatching(/^[a-z_][a-z0-9_]{0,62}$/);
    fc.assert(
      fc.property(part, fc.option(part, { nil: undefined }), (table, schema) => {
        const name = schema === undefined ? table : `${schema}.${table}`;
        const n = dbNames({ outboxTable: name, inboxTable: `${name === 'inbox' ? 'x' : 'inbox'}` });
        expect(n.outbox.sql).toBe(schema === undefined ? `"${table}"` : `"${schema}"."${table}"`);
      }),
    );
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });

  it('keeps derived names within 63 bytes', () => {
    const long = 'i'.repeat(63);
    const n = dbNames({ inboxTable: long });
    expect(n.marker.table).toHaveLength(63);
    expect(n.marker.table.endsWith('_marker')).toBe(true);
    for (const statement of schemaSql(n)) {
      for (const [, ident] of statement.matchAll(/"([^"]*)"/g)) expect(ident!.length).toBeLessThanOrEqual(63);
    }
  });
});

describe('adapters/db public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(db).sort()).toEqual([
      'SCHEMA_VERSION',
      'dbNames',
      'envelopeDigest',
      'isFinalRefusal',
      'loadConnectorConfig',
      'loadShopSigner',
      'migrate',
      'migrateConnector',
      'parseConnectorConfig',
      'quoteIdent',
      'schemaSql',
      'sendOutboxPass',
      'serveConnector',
      'startConnector',
      'startEmbeddedPostgres',
      'writeInbox',
    ]);
  });
});
