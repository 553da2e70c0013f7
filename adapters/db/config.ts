/**
 * The database connector's configuration file (JSON), checked once and then frozen; anything wrong is
 * a `CONFIG_INVALID` whose `details.field` is a JSON pointer into the file. Relative paths (the key
 * file) resolve against the file's folder, as the switch's do.
 *
 * The connector runs at the shop, so the file holds what only the shop has: its database URL, its
 * participant key (in a separate file, in the format `loulan up` writes for participants) and the
 * webhook secrets it shares with the switch. The switch never sees the database credentials.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LoulanError, createSigner, fromHex, isAlg, type Signer } from '../../core-chain/index.ts';
import { dbNames, type DbNames, type DbNamesOptions } from './schema.ts';

export interface ConnectorConfig {
  /** `postgres://user:password@host:port/database` of the shop's own database. */
  readonly databaseUrl: string;
  /** Validated table and column names (the file's `names`, DbNamesOptions). */
  readonly names: DbNames;
  /** Base URL of the switch the outbox is sent to. */
  readonly switchUrl: string;
  /** The shop's participant address, e.g. `cn.loulan.shop.acme`. */
  readonly participant: string;
  /** The shop's key file: `{"id", "alg", "kid", "privateKey": "<hex>", ...}` (cli/consortium.ts writes it). */
  readonly keyFile: string;
  /** Where the switch's webhooks arrive: the route's `rest` endpoint is `http://host:port<path>`. */
  readonly http: { readonly host: string; readonly port: number; readonly path: string; readonly bodyLimitBytes: number };
  /** The endpoint's webhook secrets (every one valid during a rotation), as in the switch's `webhookSecrets`. */
  readonly webhookSecrets: readonly string[];
  /** LISTEN on the outbox channel for low latency (default true); polling runs either way. */
  readonly notify: boolean;
  /** Polling interval of the outbox, ms: the fallback for notifications lost while away. */
  readonly pollMs: number;
  /** Outbox rows taken (locked) and sent per pass. */
  readonly batchSize: number;
  /** POSTs in flight at once within a pass. */
  readonly concurrency: number;
  /** Backoff after a failed pass (switch or database unreachable): full jitter, doubling, capped. */
  readonly retry: { readonly initialBackoffMs: number; readonly maxBackoffMs: number };
  /** Per-request time limit of a POST to the switch. */
  readonly requestTimeoutMs: number;
}

const KNOWN = new Set([
  'databaseUrl',
  'names',
  'switchUrl',
  'participant',
  'keyFile',
  'http',
  'webhookSecrets',
  'notify',
  'pollMs',
  'batchSize',
  'concurrency',
  'retry',
  'requestTimeoutMs',
]);
/** schemas/common.schema.json `$defs/address`. */
const ADDRESS = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const MIN_SECRET_LENGTH = 16;

function invalid(field: string, message: string): never {
  throw new LoulanError('CONFIG_INVALID', `connector config ${field === '' ? '(root)' : field}: ${message}`, { details: { field } });
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

function str(value: unknown, field: string, pattern?: RegExp): string {
  if (typeof value !== 'string' || value.length === 0) invalid(field, 'must be a non-empty string');
  if (pattern !== undefined && !pattern.test(value)) invalid(field, `must match ${pattern}`);
  return value;
}

function int(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(field, `must be an integer in [${min}, ${max}]`);
  return value;
}

function only(o: Record<string, unknown>, field: string, known: readonly string[]): void {
  for (const key of Object.keys(o)) if (!known.includes(key)) invalid(`${field}/${key}`, 'is not a known setting');
}

/** `names` re-pointed: dbNames names its fields `outboxTable`, `inboxColumns.envelope`, ... */
function names(value: unknown): DbNames {
  try {
    return dbNames(obj(value ?? {}, '/names') as DbNamesOptions);
  } catch (error) {
    if (error instanceof LoulanError && error.code === 'CONFIG_INVALID') {
      const inner = String(error.details['field'] ?? '');
      invalid(`/names/${inner.replaceAll('.', '/')}`, error.message);
    }
    throw error;
  }
}

/**
 * Checks a parsed configuration object; `base` is the folder relative paths resolve against.
 *
 * @example parseConnectorConfig(JSON.parse(text), dirname(file))
 */
export function parseConnectorConfig(value: unknown, base: string): ConnectorConfig {
  const c = obj(value, '');
  for (const key of Object.keys(c)) if (!KNOWN.has(key)) invalid(`/${key}`, 'is not a known setting');
  const http = obj(c['http'] ?? {}, '/http');
  only(http, '/http', ['host', 'port', 'path', 'bodyLimitBytes']);
  const retry = obj(c['retry'] ?? {}, '/retry');
  only(retry, '/retry', ['initialBackoffMs', 'maxBackoffMs']);
  const databaseUrl = str(c['databaseUrl'], '/databaseUrl', /^postgres(?:ql)?:\/\/\S+$/);
  const switchUrl = str(c['switchUrl'], '/switchUrl', /^https?:\/\/\S+$/);
  const secrets = typeof c['webhookSecrets'] === 'string' ? [c['webhookSecrets']] : c['webhookSecrets'];
  if (!Array.isArray(secrets) || secrets.length === 0) invalid('/webhookSecrets', 'must be a secret or a non-empty list of secrets');
  secrets.forEach((s, i) => {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) invalid(`/webhookSecrets/${i}`, `must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  });
  const notify = c['notify'] ?? true;
  if (typeof notify !== 'boolean') invalid('/notify', 'must be true or false');
  const initialBackoffMs = int(retry['initialBackoffMs'], '/retry/initialBackoffMs', 1, 3_600_000, 200);
  const maxBackoffMs = int(retry['maxBackoffMs'], '/retry/maxBackoffMs', initialBackoffMs, 3_600_000, Math.max(initialBackoffMs, 10_000));
  const batchSize = int(c['batchSize'], '/batchSize', 1, 10_000, 100);
  return Object.freeze({
    databaseUrl,
    names: names(c['names']),
    switchUrl,
    participant: str(c['participant'], '/participant', ADDRESS),
    keyFile: resolve(base, str(c['keyFile'], '/keyFile')),
    http: Object.freeze({
      host: str(http['host'] ?? '127.0.0.1', '/http/host'),
      port: int(http['port'], '/http/port', 0, 65535, 8780),
      path: str(http['path'] ?? '/loulan', '/http/path', /^\/[A-Za-z0-9._~\/-]*$/),
      bodyLimitBytes: int(http['bodyLimitBytes'], '/http/bodyLimitBytes', 1024, 256 << 20, 16 << 20),
    }),
    webhookSecrets: Object.freeze([...(secrets as string[])]),
    notify,
    pollMs: int(c['pollMs'], '/pollMs', 10, 3_600_000, 1_000),
    batchSize,
    concurrency: int(c['concurrency'], '/concurrency', 1, 1_024, Math.min(16, batchSize)),
    retry: Object.freeze({ initialBackoffMs, maxBackoffMs }),
    requestTimeoutMs: int(c['requestTimeoutMs'], '/requestTimeoutMs', 100, 600_000, 10_000),
  });
}

/** Reads and checks a configuration file. */
export function loadConnectorConfig(file: string): ConnectorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read connector config ${file}`, { details: { field: '', file }, cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `connector config ${file} is not JSON`, { details: { field: '', file }, cause });
  }
  return parseConnectorConfig(value, dirname(resolve(file)));
}

/**
 * The shop's signer from its key file; the key must be the participant's (`id`) and its `kid` one of
 * the participant's key ids (`<participant>#...`), or the switch would refuse every message.
 */
export function loadShopSigner(config: Pick<ConnectorConfig, 'keyFile' | 'participant'>): Signer {
  let key: Record<string, unknown>;
  try {
    key = obj(JSON.parse(readFileSync(config.keyFile, 'utf8')), '/keyFile');
  } catch (cause) {
    if (cause instanceof LoulanError) throw cause;
    throw new LoulanError('CONFIG_INVALID', `cannot read the key file ${config.keyFile}`, { details: { field: '/keyFile' }, cause });
  }
  if (key['id'] !== undefined && key['id'] !== config.participant) invalid('/keyFile', `holds the key of ${String(key['id'])}, not of ${config.participant}`);
  const alg = key['alg'];
  if (!isAlg(alg)) invalid('/keyFile', 'alg must be Ed25519, ES256 or ES256K');
  const kid = str(key['kid'], '/keyFile');
  if (!kid.startsWith(`${config.participant}#`)) invalid('/keyFile', `kid ${kid} is not a key id of ${config.participant}`);
  try {
    return createSigner(alg, fromHex(str(key['privateKey'], '/keyFile', /^[0-9a-f]+$/)), { kid });
  } catch (cause) {
    if (cause instanceof LoulanError && cause.code === 'CONFIG_INVALID') throw cause;
    throw new LoulanError('CONFIG_INVALID', `the key file ${config.keyFile} holds no usable ${alg} private key`, { details: { field: '/keyFile' }, cause });
  }
}
