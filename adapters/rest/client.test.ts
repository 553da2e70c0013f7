/**
 * The shop client against a real switch (4 validators, a loopback sink and the switch, each its own
 * process): one consortium for the file, so the tests run in order on fresh ids and sequence numbers.
 * Failures the switch would not produce on demand (a dropped connection, a 503, a 429) are injected
 * by wrapping the real fetch and WebSocket; the requests still reach the real switch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError, type Signer, type TrustedValidatorSet } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import type { StatusEvent } from '../../switch/index.ts';
import { startConsortium, type TestConsortium } from '../../test/support/consortium.ts';
import { until } from '../../test/support/ports.ts';
import { createShopClient, verifyMessageProof, verifyWebhook, type ProofResponse, type SendResult, type ShopClient, type ShopClientOptions } from './client.ts';

let c: TestConsortium;
let trusted: TrustedValidatorSet;
let signer: Signer;
let client: ShopClient;
let nextSeq = 1;
const TO = 'cn.loulan.partner.demo';

beforeAll(async () => {
  c = await startConsortium({ switch: { anchor: { intervalMs: 200, maxLeaves: 50_000 } } });
  const genesis = c.layout.testnet.genesis!;
  trusted = { chainId: genesis.chainId, publicKeys: genesis.validators.map((v) => v.publicKey) };
  signer = c.signerOf(c.layout.shop);
  client = make();
}, 90_000);

afterAll(async () => {
  await c?.stop();
});

function make(extra: Partial<ShopClientOptions> = {}): ShopClient {
  return createShopClient({ switchUrl: c.switchUrl, participant: c.layout.shop.id, signer, initialBackoffMs: 10, ...extra });
}

function order(id: string, seq = nextSeq++) {
  return {
    id,
    type: 'points.exchange.request',
    to: TO,
    seq,
    data: {
      orderId: `order-${id}`,
      idempotencyKey: `checkout-${id}`,
      pair: 'demo-pair',
      quoteId: 'q-demo',
      source: { program: c.layout.shop.id, member: 'member-1' },
      target: { program: c.layout.program.id, member: 'member-2' },
      points: '500',
      expectedCredit: '50',
    },
  };
}

async function refusal(promise: Promise<unknown>): Promise<LoulanError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LoulanError);
  return error as LoulanError;
}

const delivered = (id: string) => until(`${id} delivered`, 30_000, async () => {
  const record = await client.status(id);
  return record.status === 'delivered' ? record : undefined;
});

describe('shop client against a real switch', () => {
  let first: SendResult;

  it('sends a signed message that the switch accepts and delivers; status follows it', async () => {
    first = await client.send(order('shop-client-1'));
    expect(first).toMatchObject({ id: 'shop-client-1', source: c.layout.shop.id, status: 'accepted', duplicate: false });
    expect(first.envelope).toMatchObject({ id: 'shop-client-1', source: c.layout.shop.id, seq: '1', sig: { kid: signer.kid } });
    const record = await delivered('shop-client-1');
    expect(record.digest).toBe(first.digest);
    expect(record.history.map((h) => h.status)).toEqual(['accepted', 'queued', 'delivered']);
  });

  it('fills in a random id when none is given', async () => {
    const { id: _id, ...rest } = order('unused');
    const sent = await client.send(rest);
    expect(sent.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.envelope.id).toBe(sent.id);
  });

  it('a resend of the same envelope is answered with the original result and duplicate: true', async () => {
    const again = await client.submit(first.envelope);
    expect(again).toEqual({ ...first, duplicate: true });
  });

  it('a refusal throws the switch code and details, and is not retried', async () => {
    let calls = 0;
    const counting = make({ fetch: (input, init) => (calls++, fetch(input, init)) });
    const error = await refusal(counting.send(order('shop-client-replay', 1)));
    expect(error.code).toBe('INTAKE_SEQ_REPLAY');
    expect(error.details).toMatchObject({ pointer: '/seq', seq: '1' });
    expect(calls).toBe(1);

    const missing = await refusal(client.status('no-such-message'));
    expect(missing.code).toBe('MESSAGE_NOT_FOUND');
    expect(missing.details).toMatchObject({ id: 'no-such-message' });
  });

  it('network errors, 503 and 429 are retried with the same signed bytes until the switch answers', async () => {
    const bodies: string[] = [];
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      bodies.push(String(init?.body));
      if (calls === 1) throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      // The first real attempt reaches the switch, but its answer is "lost" and replaced by a 503.
      if (calls === 2) {
        await fetch(input, init);
        return new Response(JSON.stringify({ code: 'INTAKE_OVERLOADED', detail: 'busy' }), { status: 503, headers: { 'retry-after': '0' } });
      }
      if (calls === 3) return new Response(JSON.stringify({ code: 'INTAKE_OVERLOADED', detail: 'slow down' }), { status: 429 });
      return fetch(input, init);
    };
    const result = await make({ fetch: flaky }).send(order('shop-client-retry'));
    expect(calls).toBe(4);
    expect(new Set(bodies).size).toBe(1);
    // The second attempt was taken, so the last one is a resend.
    expect(result).toMatchObject({ id: 'shop-client-retry', status: 'accepted', duplicate: true });

    const down = make({ fetch: () => Promise.reject(new TypeError('fetch failed')), retries: 2 });
    const error = await refusal(down.status('shop-client-retry'));
    expect(error.code).toBe('RPC_UNAVAILABLE');
  });

  it('subscribe replays from a cursor, follows a message to delivered, and resumes after a drop without gaps or repeats', async () => {
    const sockets: WebSocket[] = [];
    const urls: string[] = [];
    class Recording extends WebSocket {
      constructor(url: string | URL) {
        super(url);
        urls.push(String(url));
        sockets.push(this);
      }
    }
    const events: StatusEvent[] = [];
    const errors: LoulanError[] = [];
    const close = make({ WebSocket: Recording }).subscribe((e) => events.push(e), { cursor: 0, onError: (e) => errors.push(e) });
    try {
      // The replay from 0 already holds the first message's whole life.
      await until('first message replayed', 20_000, () => (events.some((e) => e.id === 'shop-client-1' && e.status === 'delivered') ? true : undefined));
      sockets[0]!.close();
      await until('reconnected', 20_000, () => (sockets.length === 2 && sockets[1]!.readyState === WebSocket.OPEN ? true : undefined));
      expect(urls[1]).toContain(`cursor=${events.at(-1)!.cursor}`);
      expect(errors.map((e) => e.code)).toEqual(['RPC_UNAVAILABLE']);

      await client.send(order('shop-client-live'));
      await until('live message delivered', 30_000, () => (events.some((e) => e.id === 'shop-client-live' && e.status === 'delivered') ? true : undefined));
      expect(events.filter((e) => e.id === 'shop-client-live').map((e) => e.status)).toEqual(['accepted', 'queued', 'delivered']);
      const cursors = events.map((e) => e.cursor);
      expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
      expect(new Set(cursors).size).toBe(cursors.length);
      expect(events.every((e) => e.source === c.layout.shop.id)).toBe(true);
    } finally {
      close();
    }
  });

  it('the anchoring proofs verify against the genesis validators for the envelope sent, and for no other', async () => {
    const response = await until('both proofs', 30_000, async () => {
      try {
        const p = await client.proof(first.id);
        return p.delivered === undefined ? undefined : p;
      } catch (error) {
        if (error instanceof LoulanError && error.code === 'MESSAGE_NOT_ANCHORED') return undefined;
        throw error;
      }
    });
    const verified = client.verifyProof(response, trusted, first.envelope);
    expect(verified.accepted).toMatchObject({ kind: 'accepted', switchId: c.layout.switchId, at: Date.parse(first.acceptedAt) });
    expect(verified.delivered).toMatchObject({ kind: 'delivered', switchId: c.layout.switchId });
    expect(verifyMessageProof(response, trusted, first.envelope, { switchId: c.layout.switchId }).accepted.leafIndex).toBe(verified.accepted.leafIndex);

    const other = { ...first.envelope, seq: '999' } as Envelope;
    expect(codeOf(() => client.verifyProof(response, trusted, other))).toBe('ANCHOR_LEAF_NOT_IN_BATCH');
    const shifted: ProofResponse = { ...response, accepted: { ...response.accepted, at: response.accepted.at + 1 } };
    expect(codeOf(() => client.verifyProof(shifted, trusted, first.envelope))).toBe('ANCHOR_LEAF_NOT_IN_BATCH');
    expect(codeOf(() => verifyMessageProof(response, trusted, first.envelope, { switchId: 'another-switch' }))).toBe('ANCHOR_WRONG_BATCH');
    expect(codeOf(() => client.verifyProof({ ...response, accepted: undefined }, trusted, first.envelope))).toBe('VALIDATE_REQUIRED');
  });

  it('refuses a signer that is not a key of the participant, and re-exports verifyWebhook', () => {
    expect(codeOf(() => createShopClient({ switchUrl: c.switchUrl, participant: 'cn.loulan.shop.other', signer }))).toBe('CONFIG_INVALID');
    expect(typeof verifyWebhook).toBe('function');
  });
});

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (error) {
    return error instanceof LoulanError ? error.code : String(error);
  }
}
