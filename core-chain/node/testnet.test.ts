import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../crypto/hash.ts';
import { addrRecord, registrySchema, roleMask } from '../ledger/contracts/registry.ts';
import { routeEntry, routesParams } from '../ledger/contracts/routes.ts';
import { genesisState, parseGenesis } from '../ledger/genesis.ts';
import { makeAccount } from '../ledger/testkit.ts';
import { initTestnet } from './testnet.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('initTestnet', () => {
  it('passes schemas, routes and extra participants (a switch key) into the genesis it writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loulan-testnet-'));
    dirs.push(dir);
    const sw = makeAccount('Ed25519');
    const hash = sha256(new TextEncoder().encode('envelope schema'));
    const layout = initTestnet({
      dir,
      validators: 4,
      accounts: 1,
      schemas: [{ id: 'urn:loulan:schema:envelope:1.0.0', hash }],
      routes: { approvalsRequired: 2, entries: [{ prefix: 'cn.loulan', link: { adapter: { kind: 'loopback' } } }] },
      participants: [{ id: 'switch-0', organisation: 'local', roles: ['operator', 'relayer'], keys: [{ alg: sw.alg, publicKey: sw.publicKey }] }],
    });
    const state = genesisState(parseGenesis(readFileSync(layout.genesisFile, 'utf8')));
    expect(addrRecord(state, sw.address)).toEqual({ status: 0, roles: roleMask(['operator', 'relayer']), participant: 'switch-0' });
    expect(registrySchema(state, 'urn:loulan:schema:envelope:1.0.0')).toEqual({ hash, height: 0n });
    expect(routesParams(state).approvalsRequired).toBe(2);
    expect(new TextDecoder().decode(routeEntry(state, 'cn.loulan')?.link)).toBe('{"adapter":{"kind":"loopback"}}');
  });
});
