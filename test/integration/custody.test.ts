/**
 * Onboarding and key custody end to end: validators, a switch and the `loulan participant` command,
 * each real. A shop is registered with a custodial key, sends unsigned messages with its API key,
 * has its key rotated on the core chain and its API keys rotated; a second shop brings its own key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, fromHex, signEnvelope } from '../../core-chain/index.ts';
import { main } from '../../cli/main.ts';
import { createShopClient } from '../../adapters/rest/index.ts';
import { verifyCustodyLog } from '../../switch/custody.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { until } from '../support/ports.ts';

let net: TestConsortium;

beforeAll(async () => {
  net = await startConsortium();
});
afterAll(async () => {
  await net?.stop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const coreUrl = () => net.layout.testnet.validators.map((v) => v.rpcUrl).join(',');
const switchArgs = () => ['--switch', net.switchUrl, '--token', net.layout.operatorToken];

let seq = 0;
function unsigned(source: string, id: string) {
  const now = Date.now();
  seq += 1;
  return {
    id,
    type: 'points.exchange.request',
    source,
    to: 'cn.loulan.partner.demo.points',
    seq: String(seq),
    time: new Date(now).toISOString(),
    expiresAt: new Date(now + 600_000).toISOString(),
    data: {
      orderId: `order-${id}`,
      idempotencyKey: `checkout-${id}`,
      pair: 'demo-pair',
      quoteId: 'q-demo',
      source: { program: source, member: 'member-1' },
      target: { program: net.layout.program.id, member: 'member-2' },
      points: '10',
      expectedCredit: '1',
    },
  };
}

async function post(body: unknown, auth?: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${net.switchUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: `Bearer ${auth}` }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Until the switch's chain view has caught up with a registration, intake answers INTAKE_UNKNOWN_SOURCE / CUSTODY_NO_ACTIVE_KEY. */
async function postWhenKnown(make: () => unknown, auth?: string) {
  return until('the switch to know the participant', 30_000, async () => {
    const reply = await post(await make(), auth);
    return reply.body['code'] === 'INTAKE_UNKNOWN_SOURCE' || reply.body['code'] === 'CUSTODY_NO_ACTIVE_KEY' || reply.body['code'] === 'INTAKE_KEY_NOT_OF_SOURCE' ? undefined : reply;
  });
}

describe('onboarding and custody', () => {
  const SHOP = 'cn.loulan.shop.acme';
  let apiKey: { id: string; token: string };
  let firstKid: string;

  it('registers a shop with a custodial key; the shop sends unsigned messages with its API key', async () => {
    const added = await cli('participant', 'add', SHOP, '--roles', 'shop', '--org', 'acme', '--custodial', '--admin-key', net.layout.adminKeyFile, '--core', coreUrl(), ...switchArgs(), '--json');
    expect(added.err).toBe('');
    expect(added.code).toBe(0);
    const result = JSON.parse(added.out);
    expect(result).toMatchObject({ participant: SHOP, roles: ['shop'], custodial: true });
    apiKey = result.apiKey;
    firstKid = result.kid;
    expect(apiKey.token).toMatch(/^lk_[0-9a-f]{16}_/);

    const reply = await postWhenKnown(() => unsigned(SHOP, 'c-1'), apiKey.token);
    expect(reply.status).toBe(202);
    const stored = (await (await fetch(`${net.switchUrl}/v1/messages/c-1?source=${SHOP}`)).json()) as { envelope: { sig: { kid: string } } };
    expect(stored.envelope.sig.kid).toBe(firstKid);
  });

  it('refuses a wrong API key and a foreign source, storing nothing', async () => {
    const wrong = apiKey.token.slice(0, -2) + (apiKey.token.endsWith('AA') ? 'BB' : 'AA');
    const refused = await post(unsigned(SHOP, 'c-wrong'), wrong);
    expect(refused.status).toBe(401);
    expect(refused.body['code']).toBe('CUSTODY_UNAUTHORIZED');
    const foreign = await post(unsigned(net.layout.shop.id, 'c-foreign'), apiKey.token);
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({ code: 'CUSTODY_FORBIDDEN', pointer: '/source' });
    for (const [id, source] of [['c-wrong', SHOP], ['c-foreign', net.layout.shop.id]] as const) {
      expect((await fetch(`${net.switchUrl}/v1/messages/${id}?source=${source}`)).status).toBe(404);
    }
  });

  it('rotates the custodial key on the core chain: the new key signs, the old one is revoked and destroyed', async () => {
    const rotated = await cli('participant', 'rotate-key', SHOP, ...switchArgs(), '--json');
    expect(rotated.code).toBe(0);
    const rotation = JSON.parse(rotated.out);
    expect(rotation.revoked).toEqual([firstKid]);
    expect(rotation.kid).not.toBe(firstKid);

    const reply = await post(unsigned(SHOP, 'c-2'), apiKey.token);
    expect(reply.status).toBe(202);
    const stored = (await (await fetch(`${net.switchUrl}/v1/messages/c-2?source=${SHOP}`)).json()) as { envelope: { sig: { kid: string } } };
    expect(stored.envelope.sig.kid).toBe(rotation.kid);

    const custody = await cli('participant', 'custody', ...switchArgs(), '--json');
    const held = JSON.parse(custody.out).participants.find((p: { participant: string }) => p.participant === SHOP);
    expect(held.keys.map((k: { kid: string }) => k.kid)).toEqual([rotation.kid]);

    // The key store holds sealed keys only; the log holds one chained line per signature.
    const store = readFileSync(join(net.dir, 'switch', 'data', 'custody', 'keys.json'), 'utf8');
    expect(store).not.toMatch(/privateKey/);
    const entries = verifyCustodyLog(readFileSync(join(net.dir, 'switch', 'data', 'custody', 'signatures.log'), 'utf8'));
    expect(entries.map((e) => [e.id, e.kid])).toEqual([
      ['c-1', firstKid],
      ['c-2', rotation.kid],
    ]);
  });

  it('rotates API keys: a new key works, the revoked one is refused at once', async () => {
    const created = await cli('participant', 'api-key', 'create', SHOP, ...switchArgs(), '--json');
    const second = JSON.parse(created.out) as { id: string; token: string };
    const revoked = await cli('participant', 'api-key', 'revoke', SHOP, apiKey.id, ...switchArgs(), '--json');
    expect(revoked.code).toBe(0);
    expect((await post(unsigned(SHOP, 'c-3'), apiKey.token)).body['code']).toBe('CUSTODY_UNAUTHORIZED');
    expect((await post(unsigned(SHOP, 'c-4'), second.token)).status).toBe(202);

    // The shop client library in custodial mode: the switch signs, the client sends those exact bytes.
    const client = createShopClient({ switchUrl: net.switchUrl, participant: SHOP, apiKey: second.token });
    seq += 1;
    const sent = await client.send({ id: 'c-5', type: 'points.exchange.request', to: 'cn.loulan.partner.demo.points', seq, data: unsigned(SHOP, 'c-5').data });
    expect(sent).toMatchObject({ id: 'c-5', duplicate: false });
    expect(sent.envelope.sig?.kid.startsWith(`${SHOP}#`)).toBe(true);
    expect((await client.status('c-5')).digest).toBe(sent.digest);
    const refused = createShopClient({ switchUrl: net.switchUrl, participant: SHOP, apiKey: apiKey.token, retries: 0 });
    await expect(refused.send({ type: 'points.exchange.request', to: 'cn.loulan.partner.demo.points', seq: seq + 1, data: unsigned(SHOP, 'c-6').data })).rejects.toMatchObject({
      code: 'CUSTODY_UNAUTHORIZED',
    });
  });

  it('registers a shop that holds its own key, and what it signs is accepted', async () => {
    const OWN = 'cn.loulan.shop.bazaar';
    const keyFile = join(net.dir, 'participants', 'bazaar.json');
    const added = await cli('participant', 'add', OWN, '--role', 'shop', '--new-key-file', keyFile, '--admin-key', net.layout.adminKeyFile, '--core', coreUrl(), '--json');
    expect(added.code).toBe(0);
    const key = JSON.parse(readFileSync(keyFile, 'utf8'));
    const signer = createSigner(key.alg, fromHex(key.privateKey), { kid: key.kid });
    const reply = await postWhenKnown(() => signEnvelope(unsigned(OWN, `b-${seq}`), signer));
    expect(reply.status).toBe(202);
    // Registering the same id again is refused by the registry.
    const again = await cli('participant', 'add', OWN, '--roles', 'shop', '--public-key', key.publicKey, '--admin-key', net.layout.adminKeyFile, '--core', coreUrl());
    expect(again.code).toBe(1);
    expect(again.err).toContain('CONTRACT_ALREADY_EXISTS');
  });
});
