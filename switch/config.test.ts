import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoulanError } from '../core-chain/index.ts';
import { loadSwitchConfig, loadSwitchKey, parseSwitchConfig } from './config.ts';

const BASE = '/etc/loulan/switch-a';
const TOKEN_HASH = 'ab'.repeat(32);
const SECRET = 'whsec_0123456789abcdef';

/** The least a config file must say. */
function minimal(): Record<string, unknown> {
  return {
    name: 'switch-a',
    switchId: 'sw-a',
    dataDir: 'data',
    core: { endpoints: ['http://127.0.0.1:8545'] },
    participant: 'cn.loulan.switch.a',
    keyFile: 'keys/switch.json',
  };
}

function refused(run: () => unknown): LoulanError {
  try {
    run();
  } catch (error) {
    return error as LoulanError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('parseSwitchConfig', () => {
  it('a minimal config parses with every default filled in, frozen', () => {
    const config = parseSwitchConfig(minimal(), BASE);
    expect(config).toEqual({
      name: 'switch-a',
      switchId: 'sw-a',
      dataDir: '/etc/loulan/switch-a/data',
      http: { host: '127.0.0.1', port: 8080, bodyLimitBytes: 16 << 20 },
      core: { endpoints: ['http://127.0.0.1:8545'], timeoutMs: 5_000 },
      participant: 'cn.loulan.switch.a',
      keyFile: '/etc/loulan/switch-a/keys/switch.json',
      operatorTokenHashes: [],
      delivery: { stuckAfterMs: 60_000, probeIntervalMs: 2_000 },
      anchor: { intervalMs: 1_000, maxLeaves: 50_000 },
      limits: {},
      maxClockSkewMs: 300_000,
      verifyWorkers: Math.max(0, Math.min(4, availableParallelism() - 2)),
      webhookSecrets: new Map(),
      evmKeyFiles: new Map(),
      fabricIdentities: new Map(),
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(Object.isFrozen(config.core.endpoints)).toBe(true);
    expect(Object.isFrozen(config.anchor)).toBe(true);
  });

  it('takes EVM keys by chain id and Fabric identities by MSP id, with paths resolved against the file', () => {
    const config = parseSwitchConfig(
      {
        ...minimal(),
        evm: { keys: { '31337': 'keys/anvil.json' } },
        fabric: { identities: { Org1MSP: { certificate: 'org1/cert.pem', privateKey: '/abs/key.pem', tlsRootCertificate: 'org1/tls.pem' } } },
      },
      '/etc/loulan',
    );
    expect(config.evmKeyFiles).toEqual(new Map([['31337', '/etc/loulan/keys/anvil.json']]));
    expect(config.fabricIdentities.get('Org1MSP')).toEqual({ certificateFile: '/etc/loulan/org1/cert.pem', privateKeyFile: '/abs/key.pem', tlsRootCertificateFile: '/etc/loulan/org1/tls.pem' });
    const field = (value: object) => refused(() => parseSwitchConfig({ ...minimal(), ...value }, BASE)).details?.['field'];
    expect(field({ evm: { keys: { mainnet: 'k.json' } } })).toBe('/evm/keys/mainnet');
    expect(field({ evm: { signers: {} } })).toBe('/evm/signers');
    expect(field({ fabric: { identities: { Org1MSP: { certificate: 'c.pem' } } } })).toBe('/fabric/identities/Org1MSP/privateKey');
    expect(field({ fabric: { identities: { Org1MSP: { certificate: 'c.pem', privateKey: 'k.pem', pin: '1234' } } } })).toBe('/fabric/identities/Org1MSP/pin');
  });

  it('takes every setting it knows', () => {
    const config = parseSwitchConfig(
      {
        ...minimal(),
        dataDir: '/var/lib/loulan',
        http: { host: '0.0.0.0', port: 0, bodyLimitBytes: 1024 },
        core: { endpoints: ['http://a:1', 'https://b:2/rpc'], timeoutMs: 100 },
        operatorTokenHashes: [TOKEN_HASH],
        delivery: { stuckAfterMs: 1_000, probeIntervalMs: 100 },
        anchor: { intervalMs: 50, maxLeaves: 1 },
        limits: { participants: {} },
        maxClockSkewMs: 0,
        verifyWorkers: 3,
      },
      BASE,
    );
    expect(config).toMatchObject({
      dataDir: '/var/lib/loulan',
      http: { host: '0.0.0.0', port: 0, bodyLimitBytes: 1024 },
      core: { endpoints: ['http://a:1', 'https://b:2/rpc'], timeoutMs: 100 },
      operatorTokenHashes: [TOKEN_HASH],
      delivery: { stuckAfterMs: 1_000, probeIntervalMs: 100 },
      anchor: { intervalMs: 50, maxLeaves: 1 },
      limits: { participants: {} },
      maxClockSkewMs: 0,
      verifyWorkers: 3,
    });
  });

  type Config = Record<string, unknown>;
  const bad: Array<[string, (c: Config) => unknown, string]> = [
    ['not an object', () => 'switch-a', ''],
    ['an unknown key', (c) => ({ ...c, dataDirectory: 'x' }), '/dataDirectory'],
    ['no name', ({ name: _, ...c }) => c, '/name'],
    ['an empty name', (c) => ({ ...c, name: '' }), '/name'],
    ['no switchId', ({ switchId: _, ...c }) => c, '/switchId'],
    ['a switchId with a space', (c) => ({ ...c, switchId: 'sw a' }), '/switchId'],
    ['a switchId with a slash', (c) => ({ ...c, switchId: 'sw/a' }), '/switchId'],
    ['a switchId of 65 characters', (c) => ({ ...c, switchId: 'a'.repeat(65) }), '/switchId'],
    ['no dataDir', ({ dataDir: _, ...c }) => c, '/dataDir'],
    ['no core section', ({ core: _, ...c }) => c, '/core'],
    ['core as a list', (c) => ({ ...c, core: ['http://a:1'] }), '/core'],
    ['no core endpoints', (c) => ({ ...c, core: {} }), '/core/endpoints'],
    ['an empty endpoint list', (c) => ({ ...c, core: { endpoints: [] } }), '/core/endpoints'],
    ['an endpoint that is not http', (c) => ({ ...c, core: { endpoints: ['http://a:1', 'ftp://b'] } }), '/core/endpoints/1'],
    ['an endpoint that is not a URL', (c) => ({ ...c, core: { endpoints: ['localhost:8545'] } }), '/core/endpoints/0'],
    ['an endpoint that is not a string', (c) => ({ ...c, core: { endpoints: [8545] } }), '/core/endpoints/0'],
    ['a core timeout below 100 ms', (c) => ({ ...c, core: { endpoints: ['http://a:1'], timeoutMs: 99 } }), '/core/timeoutMs'],
    ['a port above 65535', (c) => ({ ...c, http: { port: 65_536 } }), '/http/port'],
    ['a negative port', (c) => ({ ...c, http: { port: -1 } }), '/http/port'],
    ['a fractional port', (c) => ({ ...c, http: { port: 80.5 } }), '/http/port'],
    ['a port as a string', (c) => ({ ...c, http: { port: '8080' } }), '/http/port'],
    ['a body limit below 1 KiB', (c) => ({ ...c, http: { bodyLimitBytes: 1023 } }), '/http/bodyLimitBytes'],
    ['an empty host', (c) => ({ ...c, http: { host: '' } }), '/http/host'],
    ['http as a string', (c) => ({ ...c, http: 'localhost' }), '/http'],
    ['token hashes not a list', (c) => ({ ...c, operatorTokenHashes: TOKEN_HASH }), '/operatorTokenHashes'],
    ['a short token hash', (c) => ({ ...c, operatorTokenHashes: [TOKEN_HASH, 'ab'.repeat(31)] }), '/operatorTokenHashes/1'],
    ['an upper-case token hash', (c) => ({ ...c, operatorTokenHashes: [TOKEN_HASH.toUpperCase()] }), '/operatorTokenHashes/0'],
    ['a token in clear', (c) => ({ ...c, operatorTokenHashes: ['secret-token'] }), '/operatorTokenHashes/0'],
    ['a participant id with a space', (c) => ({ ...c, participant: 'cn loulan' }), '/participant'],
    ['no keyFile', ({ keyFile: _, ...c }) => c, '/keyFile'],
    ['stuckAfterMs below a second', (c) => ({ ...c, delivery: { stuckAfterMs: 999 } }), '/delivery/stuckAfterMs'],
    ['probeIntervalMs below 100 ms', (c) => ({ ...c, delivery: { probeIntervalMs: 99 } }), '/delivery/probeIntervalMs'],
    ['anchor interval below 50 ms', (c) => ({ ...c, anchor: { intervalMs: 49 } }), '/anchor/intervalMs'],
    ['zero leaves per anchor batch', (c) => ({ ...c, anchor: { maxLeaves: 0 } }), '/anchor/maxLeaves'],
    ['limits as a list', (c) => ({ ...c, limits: [] }), '/limits'],
    ['a negative clock skew', (c) => ({ ...c, maxClockSkewMs: -1 }), '/maxClockSkewMs'],
    ['65 verify workers', (c) => ({ ...c, verifyWorkers: 65 }), '/verifyWorkers'],
    ['webhook secrets as a list', (c) => ({ ...c, webhookSecrets: ['whsec_0123456789abcdef'] }), '/webhookSecrets'],
    ['a webhook secret for a non-URL', (c) => ({ ...c, webhookSecrets: { 'shop.example': SECRET } }), '/webhookSecrets/shop.example'],
    ['a short webhook secret', (c) => ({ ...c, webhookSecrets: { 'https://shop.example/hook': 'short' } }), '/webhookSecrets/https:~1~1shop.example~1hook'],
    ['an empty list of webhook secrets', (c) => ({ ...c, webhookSecrets: { 'https://shop.example/hook': [] } }), '/webhookSecrets/https:~1~1shop.example~1hook'],
    ['a short secret in a rotation', (c) => ({ ...c, webhookSecrets: { 'https://shop.example/hook': [SECRET, 'x'] } }), '/webhookSecrets/https:~1~1shop.example~1hook/1'],
  ];

  it('takes webhook secrets by endpoint, one or a rotation list', () => {
    const config = parseSwitchConfig({ ...minimal(), webhookSecrets: { 'https://shop.example/hook': SECRET, 'http://127.0.0.1:9/h': [SECRET, `${SECRET}-old`] } }, BASE);
    expect(config.webhookSecrets).toEqual(
      new Map([
        ['https://shop.example/hook', [SECRET]],
        ['http://127.0.0.1:9/h', [SECRET, `${SECRET}-old`]],
      ]),
    );
    expect(Object.isFrozen(config.webhookSecrets.get('https://shop.example/hook'))).toBe(true);
  });

  it.each(bad)('refuses %s with CONFIG_INVALID naming %s', (_, change, field) => {
    const error = refused(() => parseSwitchConfig(change(minimal()), BASE));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details['field']).toBe(field);
  });
});

describe('loadSwitchConfig and loadSwitchKey', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loulan-config-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves relative paths against the folder of the file, and keeps absolute ones', () => {
    mkdirSync(join(dir, 'consortium'));
    const file = join(dir, 'consortium', 'switch.json');
    writeFileSync(file, JSON.stringify(minimal()));
    const config = loadSwitchConfig(file);
    expect(config.dataDir).toBe(join(dir, 'consortium', 'data'));
    expect(config.keyFile).toBe(join(dir, 'consortium', 'keys', 'switch.json'));

    writeFileSync(file, JSON.stringify({ ...minimal(), dataDir: '../state', keyFile: '/keys/k.json' }));
    expect(loadSwitchConfig(file)).toMatchObject({ dataDir: join(dir, 'state'), keyFile: '/keys/k.json' });
  });

  it('a missing file or one that is not JSON is CONFIG_INVALID', () => {
    expect(refused(() => loadSwitchConfig(join(dir, 'missing.json')))).toMatchObject({ code: 'CONFIG_INVALID', details: { field: '' } });
    const file = join(dir, 'switch.json');
    writeFileSync(file, '{"name": ');
    expect(refused(() => loadSwitchConfig(file))).toMatchObject({ code: 'CONFIG_INVALID', details: { field: '' } });
    writeFileSync(file, JSON.stringify({ ...minimal(), http: { port: 70_000 } }));
    expect(refused(() => loadSwitchConfig(file))).toMatchObject({ code: 'CONFIG_INVALID', details: { field: '/http/port' } });
  });

  const PRIVATE = '0f'.repeat(32);

  it('loads a key file, Ed25519 by default', () => {
    const file = join(dir, 'key.json');
    writeFileSync(file, JSON.stringify({ alg: 'ES256', privateKey: PRIVATE }));
    expect(loadSwitchKey(file)).toEqual({ alg: 'ES256', privateKey: Uint8Array.from(Buffer.from(PRIVATE, 'hex')) });
    writeFileSync(file, JSON.stringify({ privateKey: PRIVATE }));
    expect(loadSwitchKey(file).alg).toBe('Ed25519');
  });

  it.each([
    ['an unknown alg', JSON.stringify({ alg: 'RSA', privateKey: PRIVATE })],
    ['an alg in the wrong case', JSON.stringify({ alg: 'ed25519', privateKey: PRIVATE })],
    ['no private key', JSON.stringify({ alg: 'Ed25519' })],
    ['a short key', JSON.stringify({ privateKey: '0f'.repeat(31) })],
    ['a long key', JSON.stringify({ privateKey: '0f'.repeat(33) })],
    ['upper-case hex', JSON.stringify({ privateKey: '0F'.repeat(32) })],
    ['not hex', JSON.stringify({ privateKey: 'zz'.repeat(32) })],
    ['a list', JSON.stringify([PRIVATE])],
    ['not JSON', 'privateKey=0f0f'],
  ])('refuses a key file with %s', (_, text) => {
    const file = join(dir, 'key.json');
    writeFileSync(file, text);
    const error = refused(() => loadSwitchKey(file));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details['field']).toBe('/keyFile');
  });

  it('refuses a missing key file', () => {
    expect(refused(() => loadSwitchKey(join(dir, 'none.json')))).toMatchObject({ code: 'CONFIG_INVALID', details: { field: '/keyFile' } });
  });
});
