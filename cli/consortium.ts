/**
 * A local consortium in one folder: validators (a testnet), a switch, a loopback destination, and
 * the participants that talk through it. `loulan up` runs it, and the switch's integration tests and
 * benchmark build theirs the same way, so what a developer tries is what the tests check.
 *
 * Genesis registers everything the switch decides with: the payload schema versions of this
 * repository, the switch's participant (operator and relayer roles: it anchors, proposes route
 * changes, delivers into core contracts), a demo shop and a demo program with keys in the folder,
 * and the initial routing table:
 *
 *   cn.loulan.partner   → loopback sink (an HTTP destination that records each message id once)
 *   cn.loulan.core      → the core chain itself (xmsg.deliver)
 *
 * The operator token is written to `switch/operator-token` (mode 600); the switch config holds its
 * SHA-256 only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, LoulanError, toHex, type Alg } from '../core-chain/index.ts';
import { newMasterKeyText } from '../switch/custody.ts';
import { initTestnet, type TestnetLayout, type TestnetOptions } from '../core-chain/node/testnet.ts';
import { listSchemas } from '../schemas/index.ts';
import type { SwitchConfig } from '../switch/config.ts';
import { keyIdOf } from '../switch/chain.ts';

export interface ConsortiumParticipant {
  readonly id: string;
  readonly roles: readonly ('shop' | 'program' | 'financier' | 'operator' | 'relayer')[];
  readonly alg: Alg;
  readonly privateKey: string;
  readonly publicKey: string;
  /** The key id envelopes name in `sig.kid`. */
  readonly kid: string;
  readonly keyFile: string;
}

export interface ConsortiumLayout {
  readonly dir: string;
  /** The validators (and, right after init, the whole testnet layout). */
  readonly testnet: Pick<TestnetLayout, 'validators' | 'dir' | 'genesisFile'> & Partial<TestnetLayout>;
  readonly switchConfigFile: string;
  readonly switchUrl: string;
  readonly switchId: string;
  readonly operatorToken: string;
  readonly sink: { readonly port: number; readonly url: string; readonly file: string };
  readonly switchParticipant: ConsortiumParticipant;
  readonly shop: ConsortiumParticipant;
  readonly program: ConsortiumParticipant;
  readonly layoutFile: string;
  /** `{alg, privateKey}` of the consortium admin (testnet account 0): `loulan participant add --admin-key`. */
  readonly adminKeyFile: string;
  /** The demo shop with its PostgreSQL and database connector (`demoShop: true`; `loulan up` asks for it). */
  readonly demoShop?: DemoShopLayout;
}

export interface DemoShopLayout {
  /** The shop's web app. */
  readonly port: number;
  /** The PostgreSQL cluster's parent folder and port. */
  readonly dbDir: string;
  readonly dbPort: number;
  readonly dbPassword: string;
  /** The database connector's configuration (its webhook endpoint is the shop's route). */
  readonly connectorConfigFile: string;
  readonly connectorUrl: string;
}

export interface ConsortiumOptions {
  readonly dir: string;
  readonly validators?: number;
  /** Validators use basePort + 10i (+1); the switch basePort + 80, the sink basePort + 90. */
  readonly basePort?: number;
  readonly consensus?: TestnetOptions['consensus'];
  /** Extra switch configuration (limits, anchoring, delivery). */
  readonly switch?: Partial<Pick<SwitchConfig, 'limits' | 'anchor' | 'delivery' | 'maxClockSkewMs'>>;
  /** Further switch configuration, as the file spells it (`evm`, `fabric`, `webhookSecrets`). */
  readonly switchFile?: Readonly<Record<string, unknown>>;
  /** Route changes need this many operators' approvals (default 1). */
  readonly approvalsRequired?: number;
  /** Extra genesis routes, after the default ones. */
  readonly routes?: ReadonlyArray<{ readonly prefix: string; readonly link: Readonly<Record<string, unknown>> }>;
  readonly accounts?: number;
  /** Lay out the demo shop: ports basePort + 91 (shop), + 92 (connector), + 93 (PostgreSQL), and the shop's inbound route. */
  readonly demoShop?: boolean;
}

export const DEFAULT_RETRY = Object.freeze({ maxAttempts: 8, initialBackoffMs: 200, maxBackoffMs: 5_000 });

function participant(dir: string, id: string, roles: ConsortiumParticipant['roles'], alg: Alg = 'Ed25519'): ConsortiumParticipant {
  const pair = generateKeyPair(alg);
  const keyFile = join(dir, 'participants', `${id}.json`);
  const p: ConsortiumParticipant = { id, roles, alg, privateKey: toHex(pair.privateKey), publicKey: toHex(pair.publicKey), kid: keyIdOf(id, pair), keyFile };
  writeFileSync(keyFile, JSON.stringify({ id, alg, kid: p.kid, privateKey: p.privateKey, publicKey: p.publicKey }, null, 2) + '\n', { mode: 0o600 });
  return p;
}

export function initConsortium(options: ConsortiumOptions): ConsortiumLayout {
  const { dir } = options;
  const basePort = options.basePort ?? 26600;
  mkdirSync(join(dir, 'participants'), { recursive: true });
  mkdirSync(join(dir, 'switch'), { recursive: true });
  const switchParticipant = participant(dir, 'cn.loulan.switch.local', ['operator', 'relayer']);
  const shop = participant(dir, 'cn.loulan.shop.demo', ['shop']);
  const program = participant(dir, 'cn.loulan.partner.demo', ['program']);
  const sinkPort = basePort + 90;
  const sink = { port: sinkPort, url: `http://127.0.0.1:${sinkPort}/deliver`, file: join(dir, 'sink', 'effects.log') };
  mkdirSync(join(dir, 'sink'), { recursive: true });

  const demoShop = options.demoShop === true ? demoShopLayout(dir, basePort) : undefined;
  const webhookSecret = toHex(randomBytes(24));
  const toInput = (p: ConsortiumParticipant) => ({
    id: p.id,
    organisation: p.id,
    roles: p.roles,
    keys: [{ alg: p.alg, publicKey: Uint8Array.from(Buffer.from(p.publicKey, 'hex')) }],
  });
  const testnet = initTestnet({
    dir: join(dir, 'chain'),
    validators: options.validators ?? 4,
    basePort,
    accounts: options.accounts ?? 4,
    ...(options.consensus === undefined ? {} : { consensus: options.consensus }),
    schemas: listSchemas()
      .filter((d) => d.role === 'payload')
      .map((d) => ({ id: d.id, hash: Uint8Array.from(Buffer.from(d.sha256, 'hex')) })),
    participants: [toInput(switchParticipant), toInput(shop), toInput(program)],
    routes: {
      approvalsRequired: options.approvalsRequired ?? 1,
      entries: [
        { prefix: 'cn.loulan.partner', link: { adapter: { kind: 'loopback', endpoint: sink.url }, ordered: false, retry: DEFAULT_RETRY } },
        { prefix: 'cn.loulan.core', link: { adapter: { kind: 'core', endpoint: testnet0Rpc(basePort) }, ordered: false, retry: DEFAULT_RETRY } },
        ...(demoShop === undefined ? [] : [{ prefix: shop.id, link: { adapter: { kind: 'rest', endpoint: demoShop.connectorUrl }, ordered: false, retry: DEFAULT_RETRY } }]),
        ...(options.routes ?? []),
      ],
    },
  } as TestnetOptions);

  const operatorToken = toHex(randomBytes(24));
  writeFileSync(join(dir, 'switch', 'operator-token'), operatorToken + '\n', { mode: 0o600 });
  const switchKeyFile = join(dir, 'switch', 'switch-key.json');
  writeFileSync(switchKeyFile, JSON.stringify({ alg: switchParticipant.alg, privateKey: switchParticipant.privateKey }) + '\n', { mode: 0o600 });
  const masterKeyFile = join(dir, 'switch', 'custody-master-key');
  writeFileSync(masterKeyFile, newMasterKeyText(), { mode: 0o600 });
  const admin = testnet.accounts[0];
  if (admin === undefined) throw new LoulanError('CONFIG_INVALID', 'a consortium needs at least one account (the admin)', { details: { field: 'accounts' } });
  const adminKeyFile = join(dir, 'participants', 'admin-key.json');
  writeFileSync(adminKeyFile, JSON.stringify({ alg: admin.alg, privateKey: admin.privateKey }) + '\n', { mode: 0o600 });
  const switchPort = basePort + 80;
  const config = {
    name: 'switch-0',
    switchId: 'switch-0',
    dataDir: 'data',
    http: { host: '127.0.0.1', port: switchPort },
    core: { endpoints: testnet.validators.map((v) => v.rpcUrl), timeoutMs: 5_000 },
    participant: switchParticipant.id,
    keyFile: 'switch-key.json',
    operatorTokenHashes: [createHash('sha256').update(operatorToken).digest('hex')],
    custody: { masterKeyFile: 'custody-master-key' },
    ...(demoShop === undefined ? {} : { webhookSecrets: { [demoShop.connectorUrl]: webhookSecret } }),
    ...options.switch,
    ...options.switchFile,
  };
  const switchConfigFile = join(dir, 'switch', 'config.json');
  writeFileSync(switchConfigFile, JSON.stringify(config, null, 2) + '\n');
  const layout: ConsortiumLayout = {
    dir,
    testnet,
    switchConfigFile,
    switchUrl: `http://127.0.0.1:${switchPort}`,
    switchId: config.switchId,
    operatorToken,
    sink,
    switchParticipant,
    shop,
    program,
    layoutFile: join(dir, 'consortium.json'),
    adminKeyFile,
    ...(demoShop === undefined ? {} : { demoShop }),
  };
  if (demoShop !== undefined) {
    const connector = {
      databaseUrl: `postgres://postgres:${demoShop.dbPassword}@127.0.0.1:${demoShop.dbPort}/postgres`,
      switchUrl: layout.switchUrl,
      participant: shop.id,
      keyFile: shop.keyFile,
      http: { host: '127.0.0.1', port: demoShop.port + 1, path: '/loulan' },
      webhookSecrets: [webhookSecret],
      pollMs: 500,
    };
    mkdirSync(join(dir, 'shop'), { recursive: true });
    writeFileSync(demoShop.connectorConfigFile, JSON.stringify(connector, null, 2) + '\n', { mode: 0o600 });
  }
  writeFileSync(layout.layoutFile, JSON.stringify({ ...layout, testnet: { dir: testnet.dir, genesisFile: testnet.genesisFile, validators: testnet.validators } }, null, 2) + '\n');
  return layout;
}

/** Reads the layout `initConsortium` wrote into `dir`, or undefined when there is none. */
export function readConsortium(dir: string): ConsortiumLayout | undefined {
  const file = join(dir, 'consortium.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ConsortiumLayout;
}

function demoShopLayout(dir: string, basePort: number): DemoShopLayout {
  return {
    port: basePort + 91,
    dbDir: join(dir, 'shop', 'postgres'),
    dbPort: basePort + 93,
    dbPassword: toHex(randomBytes(16)),
    connectorConfigFile: join(dir, 'shop', 'connector.json'),
    connectorUrl: `http://127.0.0.1:${basePort + 92}/loulan`,
  };
}

function testnet0Rpc(basePort: number): string {
  return `http://127.0.0.1:${basePort + 1}`;
}
