/** The database connector's public surface: the shop's tables and their migration, the inbox write, the outbox pass, and the connector process. */
export { SCHEMA_VERSION, dbNames, migrate, quoteIdent, schemaSql } from './schema.ts';
export type { DbNames, DbNamesOptions, InboxColumns, MigrateResult, OutboxColumns, SqlSession, TableName } from './schema.ts';
export { envelopeDigest, writeInbox, type InboxEnvelope, type InboxWrite } from './inbox.ts';
export { loadConnectorConfig, loadShopSigner, parseConnectorConfig, type ConnectorConfig } from './config.ts';
export { isFinalRefusal, sendOutboxPass, type OutboxPass, type OutboxPassOptions, type OutboxRefusal, type SubmitEnvelope } from './outbox.ts';
export { startConnector, type ConnectorOptions, type ConnectorStats, type RunningConnector, type StepHook } from './connector.ts';
export { migrateConnector, serveConnector, type ConnectorIo } from './connector-main.ts';
export { startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningPostgres } from './embedded.ts';
