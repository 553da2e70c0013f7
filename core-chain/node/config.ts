/**
 * A validator's configuration file (JSON), checked once at start and then frozen. Relative paths are
 * resolved against the file's folder, so a testnet folder can be moved as a whole.
 *
 * The safety record (what this validator has signed) lives beside the key, not in the data folder:
 * restoring a backup of the data folder must never roll back the record that stops double-signing
 * (the same reason CometBFT keeps priv_validator_state.json with the key).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LoulanError } from '../errors.ts';

export interface PeerConfig {
  /** The peer's node id. */
  readonly index: number;
  readonly url: string;
  /**
   * The peer's validator key (compressed secp256k1, hex), when the operator knows it: a node restored
   * from nothing, after the validator set changed since genesis, links to the validators it is given
   * here (as CometBFT's persistent peers name their node ids) until the chain tells it the set.
   */
  readonly publicKey?: string;
}

export interface NodeConfig {
  readonly name: string;
  readonly genesisFile: string;
  /** JSON file holding the validator's secp256k1 private key (`{"privateKey": "<hex>"}`). */
  readonly keyFile: string;
  readonly safetyFile: string;
  readonly dataDir: string;
  readonly p2p: {
    readonly host: string;
    readonly port: number;
    readonly peers: readonly PeerConfig[];
    /**
     * This validator's stable id on the peer network. Genesis validators may leave it out (it is
     * their genesis position); a validator joining later sets the id the registry assigned to its
     * join (`loulan validator status`).
     */
    readonly nodeId?: number;
    readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  };
  readonly rpc: { readonly host: string; readonly port: number };
  readonly consensus: {
    readonly progressTimeoutMs: number;
    readonly statusIntervalMs: number;
    readonly maxBlockTxs: number;
    readonly maxBlockBytes: number;
    /** Every K blocks: prune block bodies older than `retainBlocks` (headers and certificates stay). */
    readonly checkpointInterval: number;
    readonly retainBlocks: number;
  };
}

export const DEFAULT_CONSENSUS: NodeConfig['consensus'] = Object.freeze({
  progressTimeoutMs: 2_000,
  statusIntervalMs: 1_000,
  maxBlockTxs: 4_000,
  maxBlockBytes: 4 * 1024 * 1024,
  checkpointInterval: 100,
  retainBlocks: 10_000,
});

function invalid(field: string, message: string): never {
  throw new LoulanError('CONFIG_INVALID', `config ${field}: ${message}`, { details: { field } });
}

function str(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) invalid(field, 'must be a non-empty string');
  return value;
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(field, `must be an integer in [${min}, ${max}]`);
  return value;
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

/** Parses and checks a config document; `base` resolves relative paths. */
export function parseNodeConfig(value: unknown, base: string): NodeConfig {
  const doc = obj(value, '/');
  const p2p = obj(doc.p2p, '/p2p');
  const rpc = obj(doc.rpc, '/rpc');
  const peersRaw = p2p.peers ?? [];
  if (!Array.isArray(peersRaw)) invalid('/p2p/peers', 'must be an array');
  const peers = peersRaw.map((peer, i) => {
    const p = obj(peer, `/p2p/peers/${i}`);
    const url = str(p.url, `/p2p/peers/${i}/url`);
    if (!/^wss?:\/\//.test(url)) invalid(`/p2p/peers/${i}/url`, 'must be a ws:// or wss:// URL');
    const index = int(p.index, `/p2p/peers/${i}/index`, 0, 0xffff);
    if (p.publicKey === undefined) return Object.freeze({ index, url });
    const publicKey = str(p.publicKey, `/p2p/peers/${i}/publicKey`);
    if (!/^0[23][0-9a-f]{64}$/.test(publicKey)) invalid(`/p2p/peers/${i}/publicKey`, 'must be a compressed secp256k1 key in lowercase hex (66 characters)');
    return Object.freeze({ index, url, publicKey });
  });
  const c = doc.consensus === undefined ? {} : obj(doc.consensus, '/consensus');
  const pick = (key: keyof NodeConfig['consensus'], min: number, max: number) =>
    c[key] === undefined ? DEFAULT_CONSENSUS[key] : int(c[key], `/consensus/${key}`, min, max);
  let tls: NodeConfig['p2p']['tls'];
  if (p2p.tls !== undefined) {
    const t = obj(p2p.tls, '/p2p/tls');
    tls = Object.freeze({
      certFile: resolve(base, str(t.certFile, '/p2p/tls/certFile')),
      keyFile: resolve(base, str(t.keyFile, '/p2p/tls/keyFile')),
      caFile: resolve(base, str(t.caFile, '/p2p/tls/caFile')),
    });
  }
  const keyFile = resolve(base, str(doc.keyFile, '/keyFile'));
  const config: NodeConfig = {
    name: str(doc.name, '/name'),
    genesisFile: resolve(base, str(doc.genesisFile, '/genesisFile')),
    keyFile,
    safetyFile: doc.safetyFile === undefined ? resolve(dirname(keyFile), 'safety.rec') : resolve(base, str(doc.safetyFile, '/safetyFile')),
    dataDir: resolve(base, str(doc.dataDir, '/dataDir')),
    p2p: Object.freeze({
      host: str(p2p.host ?? '127.0.0.1', '/p2p/host'),
      port: int(p2p.port, '/p2p/port', 0, 65535),
      peers: Object.freeze(peers),
      ...(p2p.nodeId === undefined ? {} : { nodeId: int(p2p.nodeId, '/p2p/nodeId', 0, 0xffff) }),
      ...(tls === undefined ? {} : { tls }),
    }),
    rpc: Object.freeze({ host: str(rpc.host ?? '127.0.0.1', '/rpc/host'), port: int(rpc.port, '/rpc/port', 0, 65535) }),
    consensus: Object.freeze({
      progressTimeoutMs: pick('progressTimeoutMs', 50, 600_000),
      statusIntervalMs: pick('statusIntervalMs', 50, 600_000),
      maxBlockTxs: pick('maxBlockTxs', 1, 100_000),
      maxBlockBytes: pick('maxBlockBytes', 1024, 64 * 1024 * 1024),
      checkpointInterval: pick('checkpointInterval', 1, 1_000_000),
      retainBlocks: pick('retainBlocks', 1, 1_000_000_000),
    }),
  };
  return Object.freeze(config);
}

export function loadNodeConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read config file ${file}`, { details: { field: 'file', file }, cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `config file ${file} is not valid JSON`, { details: { field: '/', file }, cause });
  }
  return parseNodeConfig(value, dirname(resolve(file)));
}

export function loadPrivateKey(file: string): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read key file ${file}`, { details: { field: 'keyFile', file }, cause });
  }
  const hex = (doc as { privateKey?: unknown }).privateKey;
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) invalid('keyFile', 'privateKey must be 64 lower-case hex characters');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
