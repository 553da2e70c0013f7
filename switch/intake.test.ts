import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64url, sha256, envelopeSigningInput, type LoulanError } from '../core-chain/index.ts';
import { leafHash, merkleRootFromLeafHashes } from '../core-chain/crypto/merkle.ts';
import type { Envelope } from '../schemas/index.ts';
import { batchRoot, batchSigningInput, Intake, type LimitDecision } from './intake.ts';
import type { IntakeResult, MessageRecord } from './model.ts';
import { SwitchStore } from './store.ts';
import { pointsOrder, signed, StaticDirectory, testParticipant, type TestParticipant } from './testkit.ts';

const NOW = Date.parse('2026-11-21T10:00:00Z');
let dir: string;
let store: SwitchStore;
let directory: StaticDirectory;
let intake: Intake;
let acme: TestParticipant;
let skyair: TestParticipant;
let accepted: MessageRecord[];
let limit: LimitDecision;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-intake-'));
  store = await SwitchStore.open(dir);
  acme = testParticipant('cn.loulan.shop.acme', ['shop']);
  skyair = testParticipant('cn.loulan.partner.skyair', ['program'], 'ES256');
  directory = new StaticDirectory([acme, skyair]);
  accepted = [];
  limit = { kind: 'accept' };
  intake = new Intake({
    store,
    directory,
    now: () => NOW,
    onAccepted: (r) => accepted.push(...r),
    limiter: { check: () => ({ decision: limit, commit: () => [{ name: 'limits/test', value: 1 }] }) },
  });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const order = (seq: number, overrides: Partial<Envelope> = {}) => pointsOrder(acme.id, skyair.id, seq, overrides, NOW);

async function rejected(promise: Promise<unknown>): Promise<LoulanError> {
  try {
    await promise;
  } catch (error) {
    return error as LoulanError;
  }
  throw new Error('expected a rejection');
}

/** Nothing stored: no event, no message, no channel window, no limit window. */
async function nothingStored(message: { source?: string; id?: string }): Promise<void> {
  await store.flushed();
  expect(store.lastCursor).toBe(0);
  if (message.source !== undefined && message.id !== undefined) expect(await store.getMessage(message.source, message.id)).toBeUndefined();
  const named: string[] = [];
  for await (const n of store.named('')) named.push(n.name);
  expect(named).toEqual([]);
}

describe('intake accepts', () => {
  it('a signed message: durable before the answer, with its digest, first history entry and channel window', async () => {
    const m = await signed(acme, order(1));
    const result = await intake.submit(m);
    expect(result).toMatchObject({ id: m.id, source: acme.id, status: 'accepted', duplicate: false, digest: Buffer.from(sha256(envelopeSigningInput(m as never))).toString('hex') });
    const record = (await store.getMessage(acme.id, m.id))!;
    expect(record.status).toBe('accepted');
    expect(record.history).toEqual([{ at: NOW, status: 'accepted' }]);
    expect(accepted.map((r) => r.id)).toEqual([m.id]);
    expect(await store.getNamed('limits/test')).toBe(1);
  });

  it('the same message again: the original answer, marked duplicate, and nothing new stored', async () => {
    const m = await signed(acme, order(1));
    const first = await intake.submit(m);
    const cursor = store.lastCursor;
    const again = await intake.submit(m);
    expect(again).toEqual({ ...first, duplicate: true });
    expect(store.lastCursor).toBe(cursor);
  });

  it('two copies at once: one accepted, the other its duplicate', async () => {
    const m = await signed(acme, order(1));
    const [a, b] = await Promise.all([intake.submit(m), intake.submit(m)]);
    expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
    expect(accepted).toHaveLength(1);
  });

  it('out-of-order sequence numbers within the window', async () => {
    for (const seq of [5, 3, 4, 1, 2]) await intake.submit(await signed(acme, order(seq)));
    expect(accepted).toHaveLength(5);
  });

  it('a held message when the value rules ask for approval', async () => {
    limit = { kind: 'hold', reason: 'above 1000 points' };
    const m = await signed(acme, order(1));
    await intake.submit(m);
    const record = (await store.getMessage(acme.id, m.id))!;
    expect(record.status).toBe('held');
    expect(record.hold).toEqual({ reason: 'above 1000 points' });
  });
});

describe('intake refuses, leaving no trace', () => {
  const cases: Array<[string, () => Promise<unknown>, string, string]> = [
    ['too deep', async () => ({ ...(await signed(acme, order(1))), data: nest(40) }), 'VALIDATE_TOO_LARGE', '/data/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a'],
    ['not an envelope', async () => ['x'], 'VALIDATE_TYPE', ''],
    ['schema: unknown field', async () => signed(acme, { ...order(1), extra: 1 } as unknown as Envelope), 'VALIDATE_UNKNOWN_FIELD', '/extra'],
    ['schema: bad amount', async () => signed(acme, order(1, { data: { ...order(1).data, points: '-1' } })), 'VALIDATE_FORMAT', '/data/points'],
    ['unsigned', async () => order(1), 'VALIDATE_REQUIRED', '/sig'],
    ['signature by another key', async () => ({ ...(await signed(testParticipant(acme.id, ['shop']), order(1))) }), 'INTAKE_KEY_NOT_OF_SOURCE', '/sig/kid'],
    ['key of another participant', async () => signed(skyair, order(1)), 'INTAKE_KEY_NOT_OF_SOURCE', '/sig/kid'],
    ['tampered after signing', async () => ({ ...(await signed(acme, order(1))), seq: '2' }), 'CRYPTO_SIGNATURE_INVALID', ''],
    ['unknown source', async () => signed(testParticipant('cn.loulan.shop.ghost', ['shop']), pointsOrder('cn.loulan.shop.ghost', skyair.id, 1, {}, NOW)), 'INTAKE_UNKNOWN_SOURCE', '/source'],
    ['role', async () => signed(skyair, pointsOrder(skyair.id, acme.id, 1, { type: 'receivable.lock.release', data: { lockId: 'l1', reason: 'OBSA' } }, NOW)), 'INTAKE_FORBIDDEN', '/type'],
    ['expired', async () => signed(acme, order(1, { expiresAt: new Date(NOW - 1).toISOString() })), 'INTAKE_EXPIRED', '/expiresAt'],
    ['from the future', async () => signed(acme, order(1, { time: new Date(NOW + 3_600_000).toISOString(), expiresAt: new Date(NOW + 7_200_000).toISOString() })), 'INTAKE_CLOCK_SKEW', '/time'],
  ];
  for (const [name, make, code, pointer] of cases) {
    it(`${name}: ${code}`, async () => {
      const m = (await make()) as Envelope;
      const error = await rejected(intake.submit(m));
      expect(error.code).toBe(code);
      if (pointer !== '' || code === 'VALIDATE_TYPE') expect(error.details['pointer']).toBe(pointer);
      await nothingStored(m);
      expect(accepted).toEqual([]);
    });
  }

  it('suspended participant: INTAKE_UNKNOWN_SOURCE', async () => {
    directory.add(acme, false);
    const m = await signed(acme, order(1));
    expect((await rejected(intake.submit(m))).code).toBe('INTAKE_UNKNOWN_SOURCE');
    await nothingStored(m);
  });

  it('schema not registered on the core chain', async () => {
    directory.schemas.clear();
    const m = await signed(acme, order(1));
    const error = await rejected(intake.submit(m));
    expect(error.code).toBe('INTAKE_SCHEMA_NOT_REGISTERED');
    expect(error.details['schemaId']).toBe('urn:loulan:schema:points.exchange.request:1.0.0');
    await nothingStored(m);
  });

  it('value cap', async () => {
    const m = await signed(acme, order(1));
    limit = { kind: 'refuse', error: new (await import('../core-chain/index.ts')).LoulanError('INTAKE_VALUE_CAP', 'cap', { details: { scope: 'participant' } }) };
    expect((await rejected(intake.submit(m))).code).toBe('INTAKE_VALUE_CAP');
    await nothingStored(m);
  });

  it('replayed seq under a new id, and a too-old seq; the first message only is stored', async () => {
    await intake.submit(await signed(acme, order(5000)));
    const cursor = store.lastCursor;
    const replay = await signed(acme, order(5000));
    expect((await rejected(intake.submit(replay))).code).toBe('INTAKE_SEQ_REPLAY');
    const old = await signed(acme, order(1));
    expect((await rejected(intake.submit(old))).code).toBe('INTAKE_SEQ_TOO_OLD');
    expect(store.lastCursor).toBe(cursor);
    expect(await store.getMessage(acme.id, replay.id)).toBeUndefined();
  });

  it('the same id with other content: INTAKE_ID_CONFLICT', async () => {
    const m = await signed(acme, order(1));
    await intake.submit(m);
    const other = await signed(acme, { ...order(2), id: m.id });
    const error = await rejected(intake.submit(other));
    expect(error.code).toBe('INTAKE_ID_CONFLICT');
    expect((await store.getMessage(acme.id, m.id))!.digest).not.toBe(undefined);
    expect((await store.getMessage(acme.id, m.id))!.envelope.seq).toBe('1');
  });

  it('a replay window survives a restart of intake', async () => {
    await intake.submit(await signed(acme, order(7)));
    const fresh = new Intake({ store, directory, now: () => NOW });
    expect((await rejected(fresh.submit(await signed(acme, order(7))))).code).toBe('INTAKE_SEQ_REPLAY');
  });
});

describe('batches', () => {
  it('per-message signatures: the good ones accepted in one write, the bad one refused alone', async () => {
    const good = await Promise.all([1, 2, 3].map(async (s) => signed(acme, order(s))));
    const bad = { ...(await signed(acme, order(4))), seq: '9' };
    const results = await intake.submitBatch({ messages: [good[0], bad, good[1], good[2]] });
    expect(results.map((r) => ('problem' in r ? r.problem['code'] : r.status))).toEqual(['accepted', 'CRYPTO_SIGNATURE_INVALID', 'accepted', 'accepted']);
    expect(accepted).toHaveLength(3);
  });

  it('one signature over the Merkle root: accepted with inclusion evidence per message', async () => {
    const messages = [1, 2, 3, 4, 5].map((s) => order(s));
    const root = batchRoot(messages);
    const expected = merkleRootFromLeafHashes(messages.map((m) => leafHash(sha256(envelopeSigningInput(m as never)))));
    expect(Buffer.from(root)).toEqual(Buffer.from(expected));
    const sig = { alg: acme.alg, kid: acme.signer.kid, value: toBase64url(await acme.signer.sign(batchSigningInput(root))) };
    const results = await intake.submitBatch({ messages, sig });
    expect(results.every((r) => 'status' in r && (r as IntakeResult).status === 'accepted')).toBe(true);
    const record = (await store.getMessage(acme.id, messages[2]!.id))!;
    expect(record.batch).toMatchObject({ index: 2, size: 5, root: Buffer.from(root).toString('hex') });
  });

  it('a batch signature that does not cover the messages refuses the whole batch', async () => {
    const messages = [1, 2].map((s) => order(s));
    const sig = { alg: acme.alg, kid: acme.signer.kid, value: toBase64url(await acme.signer.sign(batchSigningInput(batchRoot([messages[0]!])))) };
    const error = await rejected(intake.submitBatch({ messages, sig }));
    expect(error.code).toBe('CRYPTO_SIGNATURE_INVALID');
    await nothingStored({});
  });

  it('malformed batches', async () => {
    expect((await rejected(intake.submitBatch({ messages: [] }))).code).toBe('INTAKE_MALFORMED');
    expect((await rejected(intake.submitBatch({ messages: [order(1)], other: 1 }))).details['pointer']).toBe('/other');
    expect((await rejected(intake.submitBatch([]))).code).toBe('INTAKE_MALFORMED');
    await nothingStored({});
  });
});

function nest(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('after a restart of the store', () => {
  it('a resend of a message accepted before the restart is still a duplicate (the id index is reloaded)', async () => {
    const m = await signed(acme, order(1));
    const first = await intake.submit(m);
    await store.close();
    store = await SwitchStore.open(dir);
    const again = new Intake({ store, directory, now: () => NOW });
    expect(await again.submit(m)).toEqual({ ...first, duplicate: true });
  });
});

describe('with signatures checked on a worker thread', () => {
  it('accepts a good signature and refuses bad ones with the same codes as inline', async () => {
    const { createVerifyPool } = await import('./verify-pool.ts');
    const pool = createVerifyPool(1);
    try {
      const pooled = new Intake({ store, directory, now: () => NOW, verifier: pool });
      const good = await signed(acme, order(1));
      expect((await pooled.submit(good)).status).toBe('accepted');
      const tampered = { ...(await signed(acme, order(2))), seq: '3' };
      expect((await rejected(pooled.submit(tampered))).code).toBe('CRYPTO_SIGNATURE_INVALID');
      const short = await signed(acme, order(4));
      const malformed = { ...short, sig: { ...short.sig!, value: short.sig!.value.slice(0, 40) } };
      expect((await rejected(pooled.submit(malformed))).code).toBe('CRYPTO_MALFORMED_SIGNATURE');
      const results = await pooled.submitBatch({ messages: [await signed(acme, order(5)), tampered, await signed(skyair, pointsOrder(skyair.id, acme.id, 1, {}, NOW))] });
      expect(results.map((r) => ('problem' in r ? r.problem['code'] : r.status))).toEqual(['accepted', 'CRYPTO_SIGNATURE_INVALID', 'accepted']);
    } finally {
      await pool.close();
    }
  });
});

describe('back-pressure', () => {
  it('answers INTAKE_OVERLOADED beyond maxInFlight, stores nothing for it, and takes messages again once the load drops', async () => {
    const small = new Intake({ store, directory, now: () => NOW, maxInFlight: 3 });
    const messages = await Promise.all([1, 2, 3, 4].map(async (s) => signed(acme, order(s))));
    const running = messages.slice(0, 3).map((m) => small.submit(m));
    expect(small.inFlight).toBe(3);
    const refused = await rejected(small.submit(messages[3]!));
    expect(refused.code).toBe('INTAKE_OVERLOADED');
    expect(refused.details['retryAfterMs']).toBe(1000);
    await Promise.all(running);
    expect(small.inFlight).toBe(0);
    expect(await store.getMessage(acme.id, messages[3]!.id)).toBeUndefined();
    expect((await small.submit(messages[3]!)).status).toBe('accepted');
    // A batch counts each of its messages.
    const batch = await Promise.all([5, 6, 7, 8].map(async (s) => signed(acme, order(s))));
    const busy = small.submit(await signed(acme, order(9)));
    expect((await rejected(small.submitBatch({ messages: batch }))).code).toBe('INTAKE_OVERLOADED');
    await busy;
  });
});
