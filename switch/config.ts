/**
 * A switch's configuration file (JSON), checked once at start and then frozen; every problem is a
 * `CONFIG_INVALID` naming the field as a JSON pointer. Relative paths are resolved against the file's
 * folder, so a consortium folder can be moved as a whole.
 *
 * The switch holds one participant key on the core chain (`key`): it anchors batches, submits route
 * changes that operators ask for, and delivers messages into core contracts. Operators authenticate to
 * the switch's operator API with bearer tokens; the file holds only their SHA-256 hashes.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isAlg, LoulanError, type Alg } from '../core-chain/index.ts';
import type { ValueLimitsConfig } from './limits.ts';

export interface SwitchConfig {
  readonly name: string;
  /** Names this switch's anchor batches on the core chain; unique in the consortium. */
  readonly switchId: string;
  readonly dataDir: string;
  readonly http: { readonly host: string; readonly port: number; readonly bodyLimitBytes: number };
  readonly core: { readonly endpoints: readonly string[]; readonly timeoutMs: number };
  /** The switch's participant on the core chain (roles operator and relayer) and its key file. */
  readonly participant: string;
  /** `{"alg": "Ed25519", "privateKey": "<hex>"}`. */
  readonly keyFile: string;
  /** SHA-256 (hex) of each operator bearer token. */
  readonly operatorTokenHashes: readonly string[];
  readonly delivery: { readonly stuckAfterMs: number; readonly probeIntervalMs: number };
  readonly anchor: { readonly intervalMs: number; readonly maxLeaves: number };
  readonly limits: ValueLimitsConfig;
  /** Clock skew allowed on an envelope's `time`, in ms. */
  readonly maxClockSkewMs: number;
  /** Worker threads checking message signatures (0: on the main thread). Default: cores - 2, at most 4 (on 2 cores the hop costs more than it saves; measured by bench:switch). */
  readonly verifyWorkers: number;
  /**
   * HMAC secrets of `rest` endpoints, by endpoint URL exactly as routes name it (docs/webhooks.md). In
   * the file a secret or a list of them (a rotation: every one signs). An endpoint without one gets nothing.
   */
  readonly webhookSecrets: ReadonlyMap<string, readonly string[]>;
  /**
   * Key custody (custody.ts): present to let the switch hold keys for shops. The master key that seals
   * them is a file of 64 hex characters (mode 0600), or the LOULAN_CUSTODY_MASTER_KEY variable, which wins.
   */
  readonly custody: { readonly masterKeyFile: string } | undefined;
  /**
   * Keys that sign transactions for routes of kind `evm`, by EIP-155 chain id (decimal): key files
   * `{"privateKey": "<64 hex>"}`. A chain without one gets nothing: its routes dead-letter with
   * ROUTE_ADAPTER_UNAVAILABLE.
   */
  readonly evmKeyFiles: ReadonlyMap<string, string>;
  /** Identities for routes of kind `fabric`, by MSP id: PEM files of the certificate and P-256 key, and the peers' TLS root. */
  readonly fabricIdentities: ReadonlyMap<string, FabricIdentityFiles>;
}

export interface FabricIdentityFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly tlsRootCertificateFile?: string;
}

export interface SwitchKey {
  readonly alg: Alg;
  readonly privateKey: Uint8Array;
}

function invalid(field: string, message: string): never {
  throw new LoulanError('CONFIG_INVALID', `switch config ${field}: ${message}`, { details: { field } });
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

function int(value: unknown, field: string, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(field, `must be an integer in [${min}, ${max}]`);
  return value;
}

/** Checks a parsed configuration object; `base` resolves relative paths. */
export function parseSwitchConfig(value: unknown, base: string): SwitchConfig {
  const c = obj(value, '');
  const known = new Set(['name', 'switchId', 'dataDir', 'http', 'core', 'participant', 'keyFile', 'operatorTokenHashes', 'delivery', 'anchor', 'limits', 'maxClockSkewMs', 'verifyWorkers', 'webhookSecrets', 'custody', 'evm', 'fabric']);
  for (const key of Object.keys(c)) if (!known.has(key)) invalid(`/${key}`, 'is not a known setting');
  const http = obj(c['http'] ?? {}, '/http');
  const core = obj(c['core'], '/core');
  const endpoints = core['endpoints'];
  if (!Array.isArray(endpoints) || endpoints.length === 0) invalid('/core/endpoints', 'must list at least one validator RPC URL');
  endpoints.forEach((e, i) => str(e, `/core/endpoints/${i}`, /^https?:\/\/\S+$/));
  const tokens = c['operatorTokenHashes'] ?? [];
  if (!Array.isArray(tokens)) invalid('/operatorTokenHashes', 'must be a list');
  tokens.forEach((t, i) => str(t, `/operatorTokenHashes/${i}`, /^[0-9a-f]{64}$/));
  const delivery = obj(c['delivery'] ?? {}, '/delivery');
  const anchor = obj(c['anchor'] ?? {}, '/anchor');
  const limits = obj(c['limits'] ?? {}, '/limits');
  return Object.freeze({
    name: str(c['name'], '/name'),
    switchId: str(c['switchId'], '/switchId', /^[A-Za-z0-9._:-]{1,64}$/),
    dataDir: resolve(base, str(c['dataDir'], '/dataDir')),
    http: Object.freeze({
      host: str(http['host'] ?? '127.0.0.1', '/http/host'),
      port: int(http['port'], '/http/port', 0, 65535, 8080),
      bodyLimitBytes: int(http['bodyLimitBytes'], '/http/bodyLimitBytes', 1024, 256 << 20, 16 << 20),
    }),
    core: Object.freeze({ endpoints: Object.freeze([...(endpoints as string[])]), timeoutMs: int(core['timeoutMs'], '/core/timeoutMs', 100, 600_000, 5_000) }),
    participant: str(c['participant'], '/participant', /^[A-Za-z0-9._:-]{1,64}$/),
    keyFile: resolve(base, str(c['keyFile'], '/keyFile')),
    operatorTokenHashes: Object.freeze([...(tokens as string[])]),
    delivery: Object.freeze({
      stuckAfterMs: int(delivery['stuckAfterMs'], '/delivery/stuckAfterMs', 1_000, 86_400_000, 60_000),
      probeIntervalMs: int(delivery['probeIntervalMs'], '/delivery/probeIntervalMs', 100, 3_600_000, 2_000),
    }),
    anchor: Object.freeze({
      intervalMs: int(anchor['intervalMs'], '/anchor/intervalMs', 50, 3_600_000, 1_000),
      maxLeaves: int(anchor['maxLeaves'], '/anchor/maxLeaves', 1, 1_000_000, 50_000),
    }),
    limits: limits as ValueLimitsConfig,
    maxClockSkewMs: int(c['maxClockSkewMs'], '/maxClockSkewMs', 0, 86_400_000, 300_000),
    verifyWorkers: int(c['verifyWorkers'], '/verifyWorkers', 0, 64, Math.max(0, Math.min(4, availableParallelism() - 2))),
    webhookSecrets: webhookSecrets(c['webhookSecrets']),
    custody: c['custody'] === undefined ? undefined : Object.freeze({ masterKeyFile: resolve(base, str(obj(c['custody'], '/custody')['masterKeyFile'], '/custody/masterKeyFile')) }),
    evmKeyFiles: evmKeyFiles(c['evm'], base),
    fabricIdentities: fabricIdentities(c['fabric'], base),
  });
}

function evmKeyFiles(value: unknown, base: string): ReadonlyMap<string, string> {
  const evm = obj(value ?? {}, '/evm');
  for (const key of Object.keys(evm)) if (key !== 'keys') invalid(`/evm/${key}`, 'is not a known setting');
  const files = new Map<string, string>();
  for (const [chainId, file] of Object.entries(obj(evm['keys'] ?? {}, '/evm/keys'))) {
    if (!/^(?:0|[1-9][0-9]{0,19})$/.test(chainId)) invalid(`/evm/keys/${chainId}`, 'must be keyed by a decimal EIP-155 chain id');
    files.set(chainId, resolve(base, str(file, `/evm/keys/${chainId}`)));
  }
  return files;
}

function fabricIdentities(value: unknown, base: string): ReadonlyMap<string, FabricIdentityFiles> {
  const fabric = obj(value ?? {}, '/fabric');
  for (const key of Object.keys(fabric)) if (key !== 'identities') invalid(`/fabric/${key}`, 'is not a known setting');
  const identities = new Map<string, FabricIdentityFiles>();
  for (const [mspId, entry] of Object.entries(obj(fabric['identities'] ?? {}, '/fabric/identities'))) {
    const at = `/fabric/identities/${mspId}`;
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(mspId)) invalid(at, 'must be keyed by an MSP id');
    const e = obj(entry, at);
    for (const key of Object.keys(e)) if (!['certificate', 'privateKey', 'tlsRootCertificate'].includes(key)) invalid(`${at}/${key}`, 'is not a known setting');
    identities.set(
      mspId,
      Object.freeze({
        certificateFile: resolve(base, str(e['certificate'], `${at}/certificate`)),
        privateKeyFile: resolve(base, str(e['privateKey'], `${at}/privateKey`)),
        ...(e['tlsRootCertificate'] === undefined ? {} : { tlsRootCertificateFile: resolve(base, str(e['tlsRootCertificate'], `${at}/tlsRootCertificate`)) }),
      }),
    );
  }
  return identities;
}

/** Each secret at least 16 characters (docs/webhooks.md suggests 32 random bytes in hex); keys are http(s) URLs. */
function webhookSecrets(value: unknown): ReadonlyMap<string, readonly string[]> {
  const secrets = new Map<string, readonly string[]>();
  for (const [endpoint, entry] of Object.entries(obj(value ?? {}, '/webhookSecrets'))) {
    const field = `/webhookSecrets/${endpoint.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    str(endpoint, field, /^https?:\/\/\S+$/);
    const list = typeof entry === 'string' ? [entry] : entry;
    if (!Array.isArray(list) || list.length === 0) invalid(field, 'must be a secret or a non-empty list of secrets');
    list.forEach((s, i) => {
      if (typeof s !== 'string' || s.length < 16) invalid(typeof entry === 'string' ? field : `${field}/${i}`, 'must be a secret of at least 16 characters');
    });
    secrets.set(endpoint, Object.freeze([...(list as string[])]));
  }
  return secrets;
}

export function loadSwitchConfig(file: string): SwitchConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read switch config ${file}: ${(cause as Error).message}`, { details: { field: '', file }, cause });
  }
  return parseSwitchConfig(parsed, dirname(resolve(file)));
}

export function loadSwitchKey(file: string): SwitchKey {
  let parsed: Record<string, unknown>;
  try {
    parsed = obj(JSON.parse(readFileSync(file, 'utf8')), '/keyFile');
  } catch (cause) {
    if (cause instanceof LoulanError) throw cause;
    throw new LoulanError('CONFIG_INVALID', `cannot read key file ${file}`, { details: { field: '/keyFile', file }, cause });
  }
  const alg = parsed['alg'] ?? 'Ed25519';
  if (!isAlg(alg)) invalid('/keyFile', 'alg must be Ed25519, ES256 or ES256K');
  const hex = str(parsed['privateKey'], '/keyFile', /^[0-9a-f]{64}$/);
  return { alg, privateKey: Uint8Array.from(Buffer.from(hex, 'hex')) };
}
