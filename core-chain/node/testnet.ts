/**
 * Local consortium folders: keys, genesis and one config per validator, ready for
 * `loulan testnet up`. Funded participant accounts (P-256 by default) are written beside them, and
 * registered in the genesis registry (business roles; account 0 is also admin), so that examples,
 * tests and benchmarks can sign transactions at once.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, generateKeyPair, toHex, type Alg } from '../crypto/index.ts';
import { BUSINESS_ROLES, type ParticipantInput, type RegistryParams, type Role, type SchemaInput } from '../ledger/contracts/registry.ts';
import type { RoutesGenesisConfig } from '../ledger/contracts/routes.ts';
import { assetGenesisEntries, createGenesis, senderAddress, stringifyGenesis, type Genesis } from '../ledger/index.ts';
import { DEFAULT_CONSENSUS, type NodeConfig } from './config.ts';

export interface TestnetOptions {
  readonly dir: string;
  readonly validators: number;
  readonly chainName?: string;
  /** p2p port of validator i is basePort + 10i, its RPC port basePort + 10i + 1. */
  readonly basePort?: number;
  readonly host?: string;
  readonly accounts?: number;
  readonly accountAlg?: Alg;
  readonly initialBalance?: bigint;
  readonly consensus?: Partial<NodeConfig['consensus']>;
  readonly time?: bigint;
  /**
   * Mutual TLS on validator links (wss://): PEM files from a throwaway CA made with openssl
   * (`generateTestPki`). A real consortium supplies each organisation's own certificates instead.
   */
  readonly tls?: ReadonlyArray<{ readonly cert: string; readonly key: string; readonly ca: string }>;
  /**
   * Validators prepared to join later (not in genesis): each gets a key, a folder and a config with
   * the node id its join will be assigned (ids follow the genesis validators in order, so propose
   * their joins in that order), and is registered in genesis as a participant with the validator
   * role of its own organisation `org-<name>`, as an organisation's admin would do before proposing.
   */
  readonly spares?: number;
  readonly registry?: Partial<RegistryParams>;
  /** Payload schema versions to register in genesis (`$id` and SHA-256 of the canonical document). */
  readonly schemas?: readonly SchemaInput[];
  /** The routes contract's parameters and initial entries. */
  readonly routes?: RoutesGenesisConfig;
  /**
   * Further participants to register in genesis, e.g. a switch's key with the roles operator and
   * relayer (anchor, deliver, propose routes). Their keys are the caller's; nothing is written for them.
   */
  readonly participants?: readonly ParticipantInput[];
}

export interface SpareValidator {
  readonly name: string;
  readonly nodeId: number;
  readonly organisation: string;
  /** Compressed secp256k1 key, hex. */
  readonly publicKey: string;
  readonly configFile: string;
  readonly keyFile: string;
  readonly rpcUrl: string;
  /** What to register as its endpoint. */
  readonly p2pUrl: string;
  readonly dataDir: string;
}

export interface TestnetAccount {
  readonly alg: Alg;
  readonly privateKey: string;
  readonly publicKey: string;
  readonly address: string;
}

export interface TestnetLayout {
  readonly dir: string;
  readonly genesis: Genesis;
  readonly genesisFile: string;
  readonly accountsFile: string;
  readonly validators: ReadonlyArray<{ readonly name: string; readonly configFile: string; readonly rpcUrl: string; readonly p2pPort: number; readonly dataDir: string; readonly keyDir: string }>;
  readonly accounts: readonly TestnetAccount[];
  readonly spares: readonly SpareValidator[];
}

export function initTestnet(options: TestnetOptions): TestnetLayout {
  const { dir } = options;
  const host = options.host ?? '127.0.0.1';
  const basePort = options.basePort ?? 26600;
  const alg = options.accountAlg ?? 'ES256';
  mkdirSync(dir, { recursive: true });

  const accounts: TestnetAccount[] = [];
  for (let i = 0; i < (options.accounts ?? 16); i++) {
    const pair = generateKeyPair(alg);
    accounts.push({ alg, privateKey: toHex(pair.privateKey), publicKey: toHex(pair.publicKey), address: senderAddress(alg, pair.publicKey) });
  }
  const balance = options.initialBalance ?? 1_000_000_000_000n;
  const issuer = accounts[0]?.address ?? senderAddress(alg, generateKeyPair(alg).publicKey);
  const state = assetGenesisEntries({ issuer, balances: Object.fromEntries(accounts.map((a) => [a.address, balance])) });

  const keys = Array.from({ length: options.validators }, (_, i) => ({ name: `validator-${i}`, pair: generateKeyPair('ES256K') }));
  // Every account is a registered participant with the business roles (the registry gates every
  // call); account 0, the asset issuer, is also the consortium admin.
  const participants: ParticipantInput[] = accounts.map((a, i) => ({
    id: `account-${i}`,
    organisation: 'local',
    roles: i === 0 ? (['admin', ...BUSINESS_ROLES] as Role[]) : BUSINESS_ROLES,
    keys: [{ alg: a.alg, publicKey: fromHex(a.publicKey) }],
  }));
  const spareKeys = Array.from({ length: options.spares ?? 0 }, (_, i) => ({ name: `spare-${i}`, pair: generateKeyPair('ES256K') }));
  for (const k of spareKeys) participants.push({ id: k.name, organisation: `org-${k.name}`, roles: ['validator'], keys: [{ alg: 'ES256K', publicKey: k.pair.publicKey }] });
  participants.push(...(options.participants ?? []));
  const genesis = createGenesis({
    chainName: options.chainName ?? 'loulan-local',
    time: options.time ?? BigInt(Date.now()),
    validators: keys.map((k) => ({ name: k.name, publicKey: k.pair.publicKey })),
    participants,
    state,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.schemas === undefined ? {} : { schemas: options.schemas }),
    ...(options.routes === undefined ? {} : { routes: options.routes }),
  });
  const genesisFile = join(dir, 'genesis.json');
  writeFileSync(genesisFile, stringifyGenesis(genesis));
  const accountsFile = join(dir, 'accounts.json');
  writeFileSync(accountsFile, JSON.stringify(accounts, null, 2) + '\n');

  // Genesis sorts validators by address: index i in the chain is not necessarily keys[i].
  const byName = new Map(keys.map((k) => [k.name, k]));
  const ports = genesis.validators.map((_, index) => ({ p2p: basePort + 10 * index, rpc: basePort + 10 * index + 1 }));
  const validators = genesis.validators.map((v, index) => {
    const folder = join(dir, v.name);
    const keyDir = join(folder, 'keys');
    mkdirSync(keyDir, { recursive: true });
    writeFileSync(join(keyDir, 'validator-key.json'), JSON.stringify({ privateKey: toHex(byName.get(v.name)!.pair.privateKey) }) + '\n', { mode: 0o600 });
    const tls = options.tls?.[index];
    if (tls !== undefined) {
      writeFileSync(join(keyDir, 'tls-cert.pem'), tls.cert);
      writeFileSync(join(keyDir, 'tls-key.pem'), tls.key, { mode: 0o600 });
      writeFileSync(join(keyDir, 'tls-ca.pem'), tls.ca);
    }
    const scheme = options.tls === undefined ? 'ws' : 'wss';
    const config = {
      name: v.name,
      genesisFile: '../genesis.json',
      keyFile: 'keys/validator-key.json',
      safetyFile: 'keys/safety.rec',
      dataDir: 'data',
      p2p: {
        host,
        port: ports[index]!.p2p,
        peers: genesis.validators.map((_, j) => ({ index: j, url: `${scheme}://${host}:${ports[j]!.p2p}/p2p` })).filter((p) => p.index !== index),
        ...(tls === undefined ? {} : { tls: { certFile: 'keys/tls-cert.pem', keyFile: 'keys/tls-key.pem', caFile: 'keys/tls-ca.pem' } }),
      },
      rpc: { host, port: ports[index]!.rpc },
      consensus: { ...DEFAULT_CONSENSUS, ...options.consensus },
    };
    const configFile = join(folder, 'config.json');
    writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
    return { name: v.name, configFile, rpcUrl: `http://${host}:${ports[index]!.rpc}`, p2pPort: ports[index]!.p2p, dataDir: join(folder, 'data'), keyDir };
  });
  const scheme = options.tls === undefined ? 'ws' : 'wss';
  const spares = spareKeys.map((k, i): SpareValidator => {
    const nodeId = genesis.validators.length + i;
    const folder = join(dir, k.name);
    const keyDir = join(folder, 'keys');
    mkdirSync(keyDir, { recursive: true });
    const keyFile = join(keyDir, 'validator-key.json');
    writeFileSync(keyFile, JSON.stringify({ privateKey: toHex(k.pair.privateKey) }) + '\n', { mode: 0o600 });
    const p2p = basePort + 10 * nodeId;
    const config = {
      name: k.name,
      genesisFile: '../genesis.json',
      keyFile: 'keys/validator-key.json',
      safetyFile: 'keys/safety.rec',
      dataDir: 'data',
      p2p: { host, port: p2p, nodeId, peers: genesis.validators.map((_, j) => ({ index: j, url: `${scheme}://${host}:${ports[j]!.p2p}/p2p` })) },
      rpc: { host, port: p2p + 1 },
      consensus: { ...DEFAULT_CONSENSUS, ...options.consensus },
    };
    const configFile = join(folder, 'config.json');
    writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
    return {
      name: k.name,
      nodeId,
      organisation: `org-${k.name}`,
      publicKey: toHex(k.pair.publicKey),
      configFile,
      keyFile,
      rpcUrl: `http://${host}:${p2p + 1}`,
      p2pUrl: `${scheme}://${host}:${p2p}/p2p`,
      dataDir: join(folder, 'data'),
    };
  });
  return { dir, genesis, genesisFile, accountsFile, validators, accounts, spares };
}
