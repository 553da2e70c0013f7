import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, isLoulanError, verifyEnvelopeWithKey } from '../core-chain/index.ts';
import { Custody, custodyPaths, newMasterKeyText, verifyCustodyLog, type CustodyOptions } from './custody.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(active = new Set<string>()): CustodyOptions & { active: Set<string> } {
  const dir = mkdtempSync(join(tmpdir(), 'loulan-custody-'));
  dirs.push(dir);
  return { ...custodyPaths(dir), masterKey: fromHex(newMasterKeyText().trim()), isActive: (_p, kid) => active.has(kid), active };
}

async function codeOf(action: () => unknown): Promise<{ code: string; details: unknown }> {
  try {
    await action();
  } catch (error) {
    if (isLoulanError(error)) return { code: error.code, details: error.details };
    throw error;
  }
  throw new Error('no error');
}

const SHOP = 'cn.loulan.shop.acme';
const envelope = (id: string, source = SHOP) => ({
  id,
  type: 'points.exchange.request',
  source,
  to: 'cn.loulan.partner.demo',
  seq: '1',
  time: '2026-11-21T00:00:00.000Z',
  expiresAt: '2026-11-21T01:00:00.000Z',
  data: { points: '10' },
});

describe('custody', () => {
  it('keeps no key bytes in the clear, and the key opens only with the master key', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { view } = await custody.createParticipant(SHOP);
    const kid = view.keys[0]!.kid;
    const privateKey = custody.privateKey(SHOP, kid);
    await custody.close();
    const file = readFileSync(o.file);
    const hex = Buffer.from(privateKey).toString('hex');
    expect(file.toString('utf8')).not.toContain(hex);
    expect(file.includes(Buffer.from(privateKey))).toBe(false);
    expect(file.toString('utf8')).not.toContain(Buffer.from(privateKey).toString('base64'));
    expect(file.toString('utf8')).not.toContain(Buffer.from(privateKey).toString('base64url'));

    const wrong = await codeOf(() => Custody.open({ ...o, masterKey: fromHex(newMasterKeyText().trim()) }));
    expect(wrong.code).toBe('CUSTODY_SEALED');

    // The same master key opens it again and yields the same key.
    const again = await Custody.open(o);
    expect(Buffer.from(again.privateKey(SHOP, kid)).toString('hex')).toBe(hex);
    await again.close();
  });

  it('a sealed key moved to another participant does not open', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { view } = await custody.createParticipant(SHOP);
    await custody.createParticipant('cn.loulan.shop.other');
    await custody.close();
    const store = JSON.parse(readFileSync(o.file, 'utf8'));
    store.participants['cn.loulan.shop.other'].keys = store.participants[SHOP].keys.map((k: Record<string, unknown>) => ({ ...k }));
    writeFileSync(o.file, JSON.stringify(store));
    const opened = await codeOf(() => Custody.open(o));
    expect(opened.code).toBe('CUSTODY_SEALED');
    expect(view.keys).toHaveLength(1);
  });

  it('signs only for the API key owner, only with a key active on chain, and logs every signature', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { view, apiKey } = await custody.createParticipant(SHOP);
    const caller = custody.authenticate(apiKey.token);
    expect(caller).toEqual({ participant: SHOP, apiKeyId: apiKey.id });

    expect((await codeOf(() => custody.sign(caller, envelope('m-0')))).code).toBe('CUSTODY_NO_ACTIVE_KEY');
    const key = view.keys[0]!;
    o.active.add(key.kid);
    const signed = await custody.sign(caller, envelope('m-1'));
    expect(signed.sig.kid).toBe(key.kid);
    expect(() => verifyEnvelopeWithKey(signed, { alg: 'Ed25519', publicKey: fromHex(key.publicKey) })).not.toThrow();

    const forbidden = await codeOf(() => custody.sign(caller, envelope('m-2', 'cn.loulan.shop.other')));
    expect(forbidden).toMatchObject({ code: 'CUSTODY_FORBIDDEN', details: { pointer: '/source' } });

    await Promise.all([custody.sign(caller, envelope('m-3')), custody.sign(caller, envelope('m-4'))]);
    await custody.close();
    const entries = verifyCustodyLog(readFileSync(o.logFile, 'utf8'));
    expect(entries.map((e) => e.id)).toEqual(['m-1', 'm-3', 'm-4']);
    expect(entries.every((e) => e.kid === key.kid && e.apiKey === apiKey.id && e.participant === SHOP)).toBe(true);
  });

  it('refuses wrong, malformed and revoked API keys with one code; a second key survives the first one’s revocation', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { apiKey } = await custody.createParticipant(SHOP);
    const forged = apiKey.token.slice(0, -1) + (apiKey.token.endsWith('A') ? 'B' : 'A');
    for (const token of [forged, 'lk_nothing', '', `lk_${'0'.repeat(16)}_${'A'.repeat(43)}`]) {
      expect((await codeOf(() => custody.authenticate(token))).code).toBe('CUSTODY_UNAUTHORIZED');
    }
    const second = await custody.createApiKey(SHOP);
    await custody.revokeApiKey(SHOP, apiKey.id);
    expect((await codeOf(() => custody.authenticate(apiKey.token))).code).toBe('CUSTODY_UNAUTHORIZED');
    expect(custody.authenticate(second.token).participant).toBe(SHOP);
    await custody.close();
    // Revocation is durable: a reopened store refuses the old token too.
    const again = await Custody.open(o);
    expect((await codeOf(() => again.authenticate(apiKey.token))).code).toBe('CUSTODY_UNAUTHORIZED');
    expect(again.authenticate(second.token).participant).toBe(SHOP);
    expect(JSON.stringify(again.list())).not.toContain(second.token);
    await again.close();
  });

  it('rotates keys: the newest active key signs, and a destroyed key is gone', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { view, apiKey } = await custody.createParticipant(SHOP);
    const caller = custody.authenticate(apiKey.token);
    const first = view.keys[0]!.kid;
    o.active.add(first);
    const next = await custody.addKey(SHOP);
    // Until the chain knows the new key, the old one keeps signing.
    expect((await custody.sign(caller, envelope('r-1'))).sig.kid).toBe(first);
    o.active.add(next.kid);
    expect((await custody.sign(caller, envelope('r-2'))).sig.kid).toBe(next.kid);
    o.active.delete(first);
    await custody.destroyKey(SHOP, first);
    expect(custody.view(SHOP).keys.map((k) => k.kid)).toEqual([next.kid]);
    expect((await codeOf(() => custody.privateKey(SHOP, first))).code).toBe('CUSTODY_NOT_FOUND');
    expect((await codeOf(() => custody.destroyKey(SHOP, next.kid))).code).toBe('CUSTODY_NO_ACTIVE_KEY');
    await custody.close();
  });

  it('a torn last log line is cut off and the chain continues', async () => {
    const o = setup();
    const custody = await Custody.open(o);
    const { view, apiKey } = await custody.createParticipant(SHOP);
    o.active.add(view.keys[0]!.kid);
    await custody.sign(custody.authenticate(apiKey.token), envelope('t-1'));
    await custody.close();
    writeFileSync(o.logFile, readFileSync(o.logFile, 'utf8') + '{"at":1,"partic');
    const again = await Custody.open(o);
    await again.sign(again.authenticate(apiKey.token), envelope('t-2'));
    await again.close();
    expect(verifyCustodyLog(readFileSync(o.logFile, 'utf8')).map((e) => e.id)).toEqual(['t-1', 't-2']);
    const lines = readFileSync(o.logFile, 'utf8').split('\n');
    const edited = [lines[0]!.replace('t-1', 't-9'), ...lines.slice(1)].join('\n');
    expect((await codeOf(() => verifyCustodyLog(edited))).details).toEqual({ line: 2 });
  });
});
