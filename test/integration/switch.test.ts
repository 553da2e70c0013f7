/**
 * The switch end to end, with every part its own process as `loulan up` runs them: 4 validators, a
 * loopback sink (and a spare one for fail-over), and the switch. Each test drives the HTTP API the way
 * a sender or an operator would, makes the sink misbehave through its /control endpoint, and checks
 * what the sink recorded, what the switch says about each message, and what the core chain holds.
 *
 * One consortium serves the whole file, so the tests run in order and each leaves the sinks healthy
 * and nothing in flight. Every wait is a poll for a state (`until`), bounded; none is a sleep.
 */
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { decodeInboxRecord, fromHex, toHex, xmsgInboxKey } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import { anchorProofFromJson, verifyAnchorProof, type TrustedValidatorSet } from '../../core-chain/verify/index.ts';
import { DEFAULT_RETRY } from '../../cli/consortium.ts';
import { linkId } from '../../switch/delivery/index.ts';
import { anchorLeaf } from '../../switch/store.ts';
import type { RouteExplanation, RouteView, SwitchHealth } from '../../switch/api.ts';
import { TERMINAL_STATUSES, type IntakeResult, type MessageRecord, type MessageStatus } from '../../switch/model.ts';
import type { MessageEventProof } from '../../switch/anchor.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { until } from '../support/ports.ts';

let c: TestConsortium;
let genesisSet: TrustedValidatorSet;
let token: string;
/** Unordered channels take any fresh seq; one counter keeps them fresh across the file. */
let nextSeq = 1;

beforeAll(async () => {
  c = await startConsortium({
    switch: {
      anchor: { intervalMs: 200, maxLeaves: 50_000 },
      delivery: { stuckAfterMs: 60_000, probeIntervalMs: 200 },
      // Orders above 100,000 points wait for an operator; the program may move 1,000,000 per hour.
      limits: { approval: { above: '100000' }, rules: [{ scope: 'participant', match: 'cn.loulan.partner.demo', cap: '1000000', windowMs: 3_600_000 }] },
    },
  });
  const genesis = c.layout.testnet.genesis!;
  genesisSet = { chainId: genesis.chainId, publicKeys: genesis.validators.map((v) => v.publicKey) };
  token = c.layout.operatorToken;
}, 90_000);

afterAll(async () => {
  await c?.stop();
});

// -- helpers ---------------------------------------------------------------------------------------

interface Reply<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

async function http<T = Record<string, unknown>>(method: string, path: string, options: { body?: unknown; token?: string; base?: string } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const res = await fetch(`${options.base ?? c.switchUrl}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T, headers: res.headers };
}

const record = async (id: string): Promise<MessageRecord> => {
  const reply = await http<MessageRecord>('GET', `/v1/messages/${id}`);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
};

/** Polls the message until its status is `status` (fails fast if it ends in another terminal status). */
async function reaches(id: string, status: MessageStatus, ms = 30_000): Promise<MessageRecord> {
  let last: MessageRecord | undefined;
  try {
    return await until(`${id} ${status}`, ms, async () => {
      last = await record(id);
      if (last.status === status) return last;
      if (TERMINAL_STATUSES.has(last.status)) throw new Error(`${id} ended ${last.status}, expected ${status}`);
      return undefined;
    });
  } catch (error) {
    // Where the message got to is what a failure report needs.
    throw new Error(`${(error as Error).message}; history: ${JSON.stringify(last?.history)}`, { cause: error });
  }
}

async function send(envelope: Envelope, expected = 202): Promise<IntakeResult> {
  const reply = await c.submit(envelope);
  expect(reply.status, JSON.stringify(reply.body)).toBe(expected);
  return reply.body as unknown as IntakeResult;
}

function request(id: string, to: string, seq: number = nextSeq++, ttlMs?: number): Promise<Envelope> {
  return c.request({ id, to, seq, ...(ttlMs === undefined ? {} : { ttlMs }) });
}

const effectKey = (id: string) => `${c.layout.shop.id}/${id}`;
const loopback = (endpoint: string) => ({ kind: 'loopback', endpoint });

async function setRoute(prefix: string, link: Record<string, unknown>): Promise<void> {
  const reply = await http('PUT', `/v1/routes/${prefix}`, { token, body: { link, reason: `test ${prefix}` } });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expect(reply.body).toMatchObject({ applied: true });
}

const explain = async (address: string) => (await http<RouteExplanation>('GET', `/v1/routes/explain?address=${address}`)).body;
const health = async () => (await http<SwitchHealth>('GET', '/v1/health')).body;

// -- tests -----------------------------------------------------------------------------------------

describe('switch with real processes', () => {
  let first: { id: string; result: IntakeResult };

  test('a signed message is accepted, delivered once, and its history reads accepted → queued → delivered; a resend is a duplicate', async () => {
    const id = 'it-basic-1';
    const envelope = await request(id, 'cn.loulan.partner.demo');
    const result = await send(envelope, 202);
    expect(result).toMatchObject({ id, source: c.layout.shop.id, status: 'accepted', duplicate: false });
    expect(result.digest).toMatch(/^[0-9a-f]{64}$/);

    const delivered = await reaches(id, 'delivered');
    expect(delivered.history.map((h) => h.status)).toEqual(['accepted', 'queued', 'delivered']);
    expect(delivered.attempts).toBe(1);
    expect(delivered.route).toEqual({ prefix: 'cn.loulan.partner', link: linkId(loopback(c.layout.sink.url)) });

    const resend = await c.submit(envelope);
    expect(resend.status).toBe(200);
    expect(resend.body).toEqual({ ...result, duplicate: true });

    const effects = await c.sink.effects();
    expect(effects.get(effectKey(id))?.received).toBe(1);
    expect(c.sink.effectLines().get(effectKey(id))).toBe(1);
    // The resend changed nothing about the message.
    expect((await record(id)).historyCount).toBe(3);
    first = { id, result };
  });

  test('the acceptance and delivery proofs verify against the genesis validator set, over the leaves the switch committed to', async () => {
    const { id, result } = first;
    const proof = await until('both proofs', 30_000, async () => {
      const reply = await http<{ id: string; source: string; accepted: MessageEventProof; delivered?: MessageEventProof }>('GET', `/v1/messages/${id}/proof`);
      if (reply.status === 409) {
        expect(reply.body).toMatchObject({ code: 'MESSAGE_NOT_ANCHORED' });
        return undefined;
      }
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      return reply.body.delivered === undefined ? undefined : reply.body;
    });
    const r = await record(id);
    expect(proof).toMatchObject({ id, source: c.layout.shop.id });

    const accepted = proof.accepted;
    expect(accepted).toMatchObject({ kind: 'accepted', digest: result.digest, at: r.acceptedAt, switchId: c.layout.switchId });
    expect(r.acceptedAt).toBe(Date.parse(result.acceptedAt));
    expect(accepted.proof.leaf).toBe(toHex(anchorLeaf('accepted', result.digest, r.acceptedAt)));
    const a = verifyAnchorProof(genesisSet, anchorProofFromJson(accepted.proof), { switchId: c.layout.switchId, batchSeq: BigInt(accepted.batchSeq) });
    expect(a.header.time).toBeGreaterThanOrEqual(BigInt(r.acceptedAt));

    const delivered = proof.delivered!;
    expect(delivered).toMatchObject({ kind: 'delivered', digest: result.digest, at: r.receipt!.at, switchId: c.layout.switchId });
    expect(delivered.proof.leaf).toBe(toHex(anchorLeaf('delivered', result.digest, r.receipt!.at)));
    const d = verifyAnchorProof(genesisSet, anchorProofFromJson(delivered.proof), { switchId: c.layout.switchId });
    expect(d.header.height).toBeGreaterThanOrEqual(a.header.height);

    // A proof for another message's leaf does not pass for this one.
    const forged = { ...anchorProofFromJson(accepted.proof), leaf: anchorLeaf('accepted', result.digest, r.acceptedAt + 1) };
    expect(() => verifyAnchorProof(genesisSet, forged)).toThrow(expect.objectContaining({ code: 'ANCHOR_LEAF_NOT_IN_BATCH' }));
  });

  test('a message for cn.loulan.core.points is delivered into the core chain (xmsg inbox)', async () => {
    const id = 'it-core-1';
    const result = await send(await request(id, 'cn.loulan.core.points'));
    const r = await reaches(id, 'delivered');
    expect(r.route?.prefix).toBe('cn.loulan.core');
    expect(r.receipt?.evidence).toMatchObject({ txHash: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const key = xmsgInboxKey(c.layout.shop.id, id);
    for (const rpc of c.cluster.rpcUrls) {
      const state = await until(`inbox record at ${rpc}`, 10_000, async () => {
        const reply = await http<{ key: string; value: string }>('GET', `/v1/state/${encodeURIComponent(key)}`, { base: rpc });
        return reply.status === 200 ? reply.body : undefined;
      });
      const inbox = decodeInboxRecord(fromHex(state.value));
      expect(toHex(inbox.digest)).toBe(result.digest);
      expect(inbox.height.toString()).toBe(r.receipt?.evidence?.['height']);
    }
    expect(c.sink.effectLines().has(effectKey(id))).toBe(false);
  });

  test('a governed route change needs the operator token, is applied on chain, routes traffic, and is removed again', async () => {
    const prefix = 'cn.loulan.partner.alt';
    const link = { adapter: loopback(`${c.sink.url}/alt`), ordered: false, retry: DEFAULT_RETRY };
    const entryKey = encodeURIComponent(`routes/entry/${prefix}`);
    const rpc = c.cluster.rpcUrls[0]!;

    const anonymous = await http('PUT', `/v1/routes/${prefix}`, { body: { link } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: 'SWITCH_UNAUTHORIZED' });
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await http('PUT', `/v1/routes/${prefix}`, { token: `${token}x`, body: { link } });
    expect(wrong.body).toMatchObject({ code: 'SWITCH_UNAUTHORIZED' });
    expect((await http('GET', `/v1/state/${entryKey}`, { base: rpc })).status).toBe(404);

    const put = await http<{ changeId: string; applied: boolean; txHash: string; height: string }>('PUT', `/v1/routes/${prefix}`, { token, body: { link, reason: 'onboard alt' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ applied: true, txHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(BigInt(put.body.changeId)).toBeGreaterThan(0n);
    // On chain, at every validator.
    for (const url of c.cluster.rpcUrls) {
      await until(`route entry at ${url}`, 10_000, async () => ((await http('GET', `/v1/state/${entryKey}`, { base: url })).status === 200 ? true : undefined));
    }

    const view = await until('the route in GET /v1/routes', 10_000, async () =>
      (await http<{ routes: RouteView[] }>('GET', '/v1/routes')).body.routes.find((r) => r.prefix === prefix),
    );
    expect(view).toMatchObject({ prefix, link, changeId: put.body.changeId, height: put.body.height });
    const e = await explain(`${prefix}.x`);
    expect(e.matched?.prefix).toBe(prefix);
    expect(e.candidates).toEqual([
      { prefix: `${prefix}.x`, hasEntry: false },
      { prefix, hasEntry: true },
      { prefix: 'cn.loulan.partner', hasEntry: true },
      { prefix: 'cn.loulan', hasEntry: false },
      { prefix: 'cn', hasEntry: false },
      { prefix: '', hasEntry: false },
    ]);
    expect(e.active?.link).toBe(linkId(link.adapter));

    await send(await request('it-alt-1', `${prefix}.x`));
    expect((await reaches('it-alt-1', 'delivered')).route).toEqual({ prefix, link: linkId(link.adapter) });

    expect((await http('DELETE', `/v1/routes/${prefix}?reason=done`)).status).toBe(401);
    const del = await http('DELETE', `/v1/routes/${prefix}`, { token, body: { reason: 'offboard alt' } });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toMatchObject({ applied: true });
    await until('the route gone from GET /v1/routes', 10_000, async () =>
      (await http<{ routes: RouteView[] }>('GET', '/v1/routes')).body.routes.some((r) => r.prefix === prefix) ? undefined : true,
    );
    expect((await explain(`${prefix}.x`)).matched?.prefix).toBe('cn.loulan.partner');
    expect((await http('GET', `/v1/state/${entryKey}`, { base: rpc })).status).toBe(404);
    const again = await http('DELETE', `/v1/routes/${prefix}`, { token });
    expect(again.body).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
  });

  test('primary down: traffic fails over to the alternate, health says so; back up, the primary takes over again after the hold time, not before', async () => {
    const spare = await c.startSpareSink();
    const prefix = 'cn.loulan.partner.fo';
    const primary = loopback(`${c.sink.url}/fo`);
    const alternate = loopback(`${spare.url}/fo`);
    const [primaryId, alternateId] = [linkId(primary), linkId(alternate)];
    await setRoute(prefix, {
      adapter: primary,
      alternates: [alternate],
      ordered: false,
      retry: { maxAttempts: 30, initialBackoffMs: 50, maxBackoffMs: 400 },
      breaker: { failures: 3, coolDownMs: 60_000 },
      failbackAfterMs: 3_000,
    });
    const to = `${prefix}.shop`;

    await send(await request('it-fo-0', to));
    expect((await reaches('it-fo-0', 'delivered')).receipt?.link).toBe(primaryId);
    expect((await explain(to)).active).toMatchObject({ link: primaryId, reason: 'primary' });

    await c.sink.control({ down: true });
    onTestFinished(() => c.sink.control({ down: false }));
    const during = Array.from({ length: 8 }, (_, i) => `it-fo-down-${i}`);
    for (const id of during) await send(await request(id, to));
    for (const id of during) {
      const r = await reaches(id, 'delivered');
      expect(r.receipt?.link).toBe(alternateId);
    }
    const spareEffects = await spare.effects();
    for (const id of during) expect(spareEffects.get(effectKey(id))?.received).toBe(1);
    const e = await explain(to);
    expect(e.active).toMatchObject({ link: alternateId, reason: 'primary-down' });
    expect(e.primary).toMatchObject({ link: primaryId, state: 'down' });
    expect(e.primary?.lastError?.code).toBe('DELIVER_FAILED');
    expect(e.alternates).toEqual([expect.objectContaining({ link: alternateId, state: 'up' })]);
    expect((await health()).links.find((l) => l.link === primaryId)?.state).toBe('down');
    const listed = (await (await fetch(`${c.switchUrl}/v1/routes`)).json()) as { routes: Array<{ prefix: string; health?: unknown }> };
    expect(listed.routes.find((r) => r.prefix === prefix)?.health).toEqual({
      active: alternateId,
      links: [
        { link: primaryId, role: 'primary', state: 'down' },
        { link: alternateId, role: 'alternate', state: 'up' },
      ],
    });

    // The primary is back, yet traffic stays on the alternate at first: it returns only once probes
    // have seen the primary up for the route's hold time (failbackAfterMs), so it does not flap.
    await c.sink.control({ down: false });
    const backAt = Date.now();
    const after = Array.from({ length: 4 }, (_, i) => `it-fo-up-${i}`);
    for (const id of after) await send(await request(id, to));
    for (const id of after) expect((await reaches(id, 'delivered')).receipt?.link).toBe(alternateId);
    expect((await explain(to)).active).toMatchObject({ link: alternateId, reason: 'primary-down' });
    const primaryEffects = c.sink.effectLines();
    for (const id of [...during, ...after]) expect(primaryEffects.has(effectKey(id))).toBe(false);

    const back = await until('the primary active again', 60_000, async () => {
      const active = (await explain(to)).active;
      return active?.link === primaryId ? active : undefined;
    });
    expect(Date.now() - backAt).toBeGreaterThanOrEqual(3_000);
    expect(back.reason).not.toBe('primary-down');
    await send(await request('it-fo-back', to));
    expect((await reaches('it-fo-back', 'delivered')).receipt?.link).toBe(primaryId);
  }, 90_000);

  test('an ordered channel holds a gap, reports it in health, and delivers in seq order once it fills', async () => {
    const prefix = 'cn.loulan.partner.ord';
    await setRoute(prefix, { adapter: loopback(`${c.sink.url}/ord`), ordered: true, retry: DEFAULT_RETRY });
    const to = `${prefix}.x`;
    await send(await request('it-ord-1', to, 1));
    await reaches('it-ord-1', 'delivered');

    await send(await request('it-ord-3', to, 3));
    const waiting = await reaches('it-ord-3', 'waiting');
    expect(waiting.history.at(-1)).toMatchObject({ status: 'waiting', code: 'DELIVER_SEQ_WAITING' });
    const gap = await until('the gap in /v1/health', 10_000, async () => (await health()).gaps.find((g) => g.to === to));
    expect(gap).toMatchObject({ source: c.layout.shop.id, to, expectedSeq: '2', waiting: 1 });
    expect(c.sink.effectLines().has(effectKey('it-ord-3'))).toBe(false);

    await send(await request('it-ord-2', to, 2));
    const two = await reaches('it-ord-2', 'delivered');
    const three = await reaches('it-ord-3', 'delivered');
    expect(three.receipt!.at).toBeGreaterThanOrEqual(two.receipt!.at);
    const order = [...(await c.sink.effects()).keys()];
    expect(order.indexOf(effectKey('it-ord-1'))).toBeLessThan(order.indexOf(effectKey('it-ord-2')));
    expect(order.indexOf(effectKey('it-ord-2'))).toBeLessThan(order.indexOf(effectKey('it-ord-3')));
    expect((await health()).gaps.some((g) => g.to === to)).toBe(false);

    // A gap that will never fill: an operator skips it and the channel goes on.
    const lost = `${prefix}.y`;
    await send(await request('it-ord-y1', lost, 1));
    await reaches('it-ord-y1', 'delivered');
    await send(await request('it-ord-y4', lost, 4));
    await reaches('it-ord-y4', 'waiting');
    expect((await http('POST', '/v1/gaps/skip', { body: { source: c.layout.shop.id, to: lost } })).status).toBe(401);
    const skipped = await http<{ skipped: string[] }>('POST', '/v1/gaps/skip', { token, body: { source: c.layout.shop.id, to: lost } });
    expect(skipped.status, JSON.stringify(skipped.body)).toBe(200);
    expect(skipped.body.skipped).toEqual(['2', '3']);
    await reaches('it-ord-y4', 'delivered');
  });

  test('a refused delivery is dead with DELIVER_REJECTED in the DLQ; an operator replays it and it is delivered', async () => {
    const id = 'it-dlq-1';
    await c.sink.control({ failNext: 1, failStatus: 400 });
    await send(await request(id, 'cn.loulan.partner.dlq'));
    const dead = await reaches(id, 'dead');
    expect(dead.lastError?.code).toBe('DELIVER_REJECTED');
    expect(dead.history.at(-1)).toMatchObject({ status: 'dead', code: 'DELIVER_REJECTED', attempt: 1 });
    const dlq = await http<{ messages: MessageRecord[]; next: number | null }>('GET', '/v1/dlq');
    expect(dlq.body.messages.find((m) => m.id === id)?.lastError?.code).toBe('DELIVER_REJECTED');
    expect(c.sink.effectLines().has(effectKey(id))).toBe(false);

    const anonymous = await http('POST', `/v1/dlq/${id}/replay`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: 'SWITCH_UNAUTHORIZED' });
    const replay = await http<MessageRecord>('POST', `/v1/dlq/${id}/replay`, { token });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    await reaches(id, 'delivered');
    expect(c.sink.effectLines().get(effectKey(id))).toBe(1);
    expect((await http<{ messages: MessageRecord[] }>('GET', '/v1/dlq')).body.messages.some((m) => m.id === id)).toBe(false);
    expect((await http('POST', `/v1/dlq/${id}/replay`, { token })).body).toMatchObject({ code: 'DLQ_NOT_FOUND' });
  });

  test('a message whose destination stays down past its deadline expires with DELIVER_EXPIRED', async () => {
    const id = 'it-exp-1';
    await c.sink.control({ down: true });
    onTestFinished(() => c.sink.control({ down: false }));
    await send(await request(id, 'cn.loulan.partner.exp', nextSeq++, 2_000));
    const expired = await reaches(id, 'expired', 15_000);
    expect(expired.lastError?.code).toBe('DELIVER_EXPIRED');
    expect(expired.history.at(-1)).toMatchObject({ status: 'expired', code: 'DELIVER_EXPIRED' });
    expect(expired.history.some((h) => h.status === 'retrying')).toBe(true);
    expect(c.sink.effectLines().has(effectKey(id))).toBe(false);
  });

  test('value limits: a large order waits for an operator, who approves one and rejects another; a cap refuses with 429', async () => {
    const to = 'cn.loulan.partner.limits';
    const big = await c.request({ id: 'it-lim-big', to, seq: nextSeq++, points: 250_000 });
    await send(big);
    const held = await reaches('it-lim-big', 'held');
    expect(held.hold?.reason).toContain('100000');
    const listed = await http<MessageRecord[] | { messages: MessageRecord[] }>('GET', '/v1/approvals');
    const pending = Array.isArray(listed.body) ? listed.body : listed.body.messages;
    expect(pending.map((m) => m.id)).toContain('it-lim-big');
    expect(c.sink.effectLines().has(effectKey('it-lim-big'))).toBe(false);

    expect((await http('POST', '/v1/approvals/it-lim-big', { body: { approve: true } })).status).toBe(401);
    expect((await http('POST', '/v1/approvals/it-lim-big', { token, body: { approve: true } })).status).toBe(200);
    await reaches('it-lim-big', 'delivered');

    const other = await c.request({ id: 'it-lim-no', to, seq: nextSeq++, points: 300_000 });
    await send(other);
    await reaches('it-lim-no', 'held');
    expect((await http('POST', '/v1/approvals/it-lim-no', { token, body: { approve: false } })).status).toBe(200);
    const rejected = await reaches('it-lim-no', 'dead');
    expect(rejected.lastError?.code).toBe('DELIVER_APPROVAL_REJECTED');
    expect((await http('POST', '/v1/approvals/it-lim-no', { token, body: { approve: true } })).body).toMatchObject({ code: 'APPROVAL_NOT_PENDING' });

    // The program's cap: 1,000,000 per hour. 900,000 passes (held for approval, but counted), 200,000 more does not.
    const program = c.layout.program;
    const first = await c.request({ id: 'it-lim-p1', to: 'cn.loulan.partner.x', seq: 1, from: program, points: 900_000 });
    await send(first);
    const over = await c.request({ id: 'it-lim-p2', to: 'cn.loulan.partner.x', seq: 2, from: program, points: 200_000 });
    const refused = await c.submit(over);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'INTAKE_VALUE_CAP', scope: 'participant', cap: '1000000', pointer: '/data' });
    expect((await http('GET', `/v1/messages/it-lim-p2?source=${program.id}`)).status).toBe(404);
  });

  test('with f = 1 validator down (the first the switch talks to): delivery into the chain, anchoring and route changes go on', async () => {
    const down = c.cluster.processes[0]!; // config endpoint 0: the switch's preferred validator
    await down.kill();
    onTestFinished(async () => {
      if (!down.running) await down.start();
    });
    const id = 'it-fdown-1';
    const result = await send(await request(id, 'cn.loulan.core.points'));
    await reaches(id, 'delivered', 60_000);
    const proof = await until('an anchoring proof made while a validator is down', 60_000, async () => {
      const reply = await http<{ accepted: MessageEventProof }>('GET', `/v1/messages/${id}/proof`);
      return reply.status === 200 ? reply.body : undefined;
    });
    expect(proof.accepted.digest).toBe(result.digest);
    verifyAnchorProof(genesisSet, anchorProofFromJson(proof.accepted.proof), { switchId: c.layout.switchId });
    // The switch follows the chain through another validator: a governed change still shows up.
    await setRoute('cn.loulan.partner.fdown', { adapter: loopback(`${c.sink.url}/fdown`), ordered: false, retry: DEFAULT_RETRY });
    const e = await until('the new route in force', 20_000, async () => {
      const x = await explain('cn.loulan.partner.fdown.a');
      return x.matched?.prefix === 'cn.loulan.partner.fdown' ? x : undefined;
    });
    expect(e.matched?.prefix).toBe('cn.loulan.partner.fdown');
    await send(await request('it-fdown-2', 'cn.loulan.partner.fdown.a'));
    await reaches('it-fdown-2', 'delivered');
  }, 180_000);
});
