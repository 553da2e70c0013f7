/** The database connector's public surface: the shop's tables, their migration, and the inbox write. */
export { SCHEMA_VERSION, dbNames, migrate, quoteIdent, schemaSql } from './schema.ts';
export type { DbNames, DbNamesOptions, InboxColumns, MigrateResult, OutboxColumns, SqlSession, TableName } from './schema.ts';
export { envelopeDigest, writeInbox, type InboxEnvelope, type InboxWrite } from './inbox.ts';
