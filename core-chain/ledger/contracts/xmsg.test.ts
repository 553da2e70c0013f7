import { describe, expect, it } from 'vitest';
import { Writer } from '../../codec/binary.ts';
import { sha256, toHex } from '../../crypto/hash.ts';
import { merkleRoot } from '../../crypto/merkle.ts';
import type { LedgerEvent } from '../events.ts';
import { BlockRunner, codeOf, directContext, errorOf, makeAccount, makeChain, type Account } from '../testkit.ts';
import type { ParticipantInput } from './registry.ts';
import {
  createXmsgContract,
  decodeXmsgEvent,
  encodeAnchorArgs,
  encodeDeliverArgs,
  MAX_DELIVER_DATA_BYTES,
  xmsgBatch,
  xmsgBatchKey,
  xmsgInbox,
  xmsgInboxKey,
  xmsgSwitchOwner,
  type AnchorArgs,
  type DeliverArgs,
} from './xmsg.ts';

const X = 'xmsg';
const key = (a: Account) => ({ alg: a.alg, publicKey: a.publicKey });
const te = new TextEncoder();
const digest = (label: string) => sha256(te.encode(label));

const contextFor = (run: BlockRunner, sender: Account) => directContext(run.state, 'xmsg', sender, run);

/** A switch (operator + relayer, as seeded in genesis), a second switch operator, a relayer, and a shop. */
function setup() {
  const sw = makeAccount('Ed25519');
  const sw2 = makeAccount('ES256');
  const other = makeAccount('ES256');
  const relayer = makeAccount('ES256');
  const shop = makeAccount('ES256');
  const participants: ParticipantInput[] = [
    { id: 'switch-a', organisation: 'consortium', roles: ['operator', 'relayer'], keys: [key(sw), key(sw2)] },
    { id: 'switch-b', organisation: 'consortium', roles: ['operator'], keys: [key(other)] },
    { id: 'relay', organisation: 'relay-org', roles: ['relayer'], keys: [key(relayer)] },
    { id: 'shop', organisation: 'shop-org', roles: ['shop'], keys: [key(shop)] },
  ];
  const chain = makeChain({ accounts: 1, participants });
  return { run: new BlockRunner(chain.genesis), sw, sw2, other, relayer, shop };
}

function xmsgEvents(result: { events: readonly LedgerEvent[] }) {
  return result.events.filter((e) => e.contract === X).map((e) => decodeXmsgEvent(e.type, e.data));
}

const leaves = [digest('m1'), digest('m2'), digest('m3')];
const batch = (seq: bigint, switchId = 'switch-a'): AnchorArgs => ({ switchId, batchSeq: seq, root: merkleRoot(leaves), count: leaves.length });
const message = (overrides: Partial<DeliverArgs> = {}): DeliverArgs => ({
  messageId: 'msg-0001',
  source: 'cn.loulan.shop.acme',
  to: 'cn.loulan.core.points',
  type: 'points.exchange.request',
  digest: digest('envelope-1'),
  data: te.encode('{"points":"100"}'),
  ...overrides,
});

describe('xmsg.anchor', () => {
  it('stores the batch, emits anchored with the arguments, and binds the switch id to its participant', () => {
    const { run, sw } = setup();
    const args = encodeAnchorArgs(batch(1n));
    const { code, result } = run.call(sw, X, 'anchor', args);
    expect(code).toBeNull();
    expect(xmsgBatch(run.state, 'switch-a', 1n)).toEqual({ root: merkleRoot(leaves), count: 3, height: run.height, time: run.time });
    expect(xmsgBatchKey('switch-a', 1n)).toBe('xmsg/batch/switch-a/00000000000000000001');
    expect(run.state.get(xmsgBatchKey('switch-a', 1n))).toBeDefined();
    expect(result.events).toHaveLength(1);
    expect(result.events[0]).toMatchObject({ contract: X, type: 'anchored', data: args });
    expect(xmsgEvents(result)).toEqual([{ type: 'anchored', ...batch(1n) }]);
    expect(xmsgSwitchOwner(run.state, 'switch-a')).toBe('switch-a');
  });

  it('refuses a duplicate (switchId, batchSeq), saying whether it matches the first', () => {
    const { run, sw, sw2 } = setup();
    expect(run.call(sw, X, 'anchor', encodeAnchorArgs(batch(7n))).code).toBeNull();
    const again = run.block([run.tx(sw2, X, 'anchor', encodeAnchorArgs(batch(7n))), run.tx(sw, X, 'anchor', encodeAnchorArgs({ ...batch(7n), count: 4 }))]);
    expect(again.receipts.map((r) => r.code)).toEqual(['CONTRACT_ALREADY_EXISTS', 'CONTRACT_ALREADY_EXISTS']);
    expect(again.events).toHaveLength(0);
    const ctx = contextFor(run, sw);
    expect(errorOf(() => createXmsgContract().execute(ctx, 'anchor', encodeAnchorArgs(batch(7n))))?.details).toMatchObject({ kind: 'batch', id: 'switch-a/7', matches: true });
    expect(errorOf(() => createXmsgContract().execute(ctx, 'anchor', encodeAnchorArgs({ ...batch(7n), root: digest('x') })))?.details).toMatchObject({ matches: false });
    // The next batch, and the same number for another switch id, are fine.
    expect(run.block([run.tx(sw, X, 'anchor', encodeAnchorArgs(batch(8n))), run.tx(sw, X, 'anchor', encodeAnchorArgs(batch(7n, 'switch-a2')))]).receipts.map((r) => r.code)).toEqual([null, null]);
  });

  it('another participant cannot anchor under a switch id it does not own; any key of the owner can', () => {
    const { run, sw, sw2, other, relayer } = setup();
    expect(run.call(sw, X, 'anchor', encodeAnchorArgs(batch(1n))).code).toBeNull();
    const result = run.block([run.tx(other, X, 'anchor', encodeAnchorArgs(batch(2n))), run.tx(relayer, X, 'anchor', encodeAnchorArgs(batch(2n))), run.tx(sw2, X, 'anchor', encodeAnchorArgs(batch(2n)))]);
    expect(result.receipts.map((r) => r.code)).toEqual(['CONTRACT_FORBIDDEN', 'CONTRACT_FORBIDDEN', null]);
    expect(errorOf(() => createXmsgContract().execute(contextFor(run, other), 'anchor', encodeAnchorArgs(batch(3n))))?.details).toMatchObject({ reason: 'switch-owner', owner: 'switch-a' });
    // A relayer may anchor for a switch id of its own.
    expect(run.call(relayer, X, 'anchor', encodeAnchorArgs(batch(1n, 'relay-batches'))).code).toBeNull();
  });

  it('is gated to operators and relayers', () => {
    const { run, shop } = setup();
    expect(run.call(shop, X, 'anchor', encodeAnchorArgs(batch(1n))).code).toBe('CONTRACT_FORBIDDEN');
    expect(run.call(makeAccount(), X, 'anchor', encodeAnchorArgs(batch(1n))).code).toBe('CONTRACT_FORBIDDEN');
    expect(run.call(shop, X, 'burn', encodeAnchorArgs(batch(1n))).code).toBe('CONTRACT_UNKNOWN_METHOD');
  });

  it.each<[string, Uint8Array, string]>([
    ['a bad switch id', new Writer().string('switch/a', 200).u64(1n).bytes(digest('r'), 32).u32(1).finish(), 'switchId'],
    ['a switch id over 128 characters', new Writer().string('s'.repeat(129), 200).u64(1n).bytes(digest('r'), 32).u32(1).finish(), 'switchId'],
    ['an empty batch', new Writer().string('switch-a', 200).u64(1n).bytes(digest('r'), 32).u32(0).finish(), 'count'],
    ['a short root', new Writer().string('switch-a', 200).u64(1n).bytes(digest('r').subarray(1), 31).u32(1).finish(), 'count'],
    ['trailing bytes', new Writer().string('switch-a', 200).u64(1n).bytes(digest('r'), 32).u32(1).u8(0).finish(), 'args'],
  ])('refuses %s (CONTRACT_BAD_ARGS naming the field)', (_name, args, field) => {
    const { run, sw } = setup();
    expect(run.call(sw, X, 'anchor', args).code).toBe('CONTRACT_BAD_ARGS');
    expect(errorOf(() => createXmsgContract().execute(contextFor(run, sw), 'anchor', args))?.details.field).toBe(field);
  });
});

describe('xmsg.deliver', () => {
  it('records the first delivery and emits message-delivered; a retry with the same digest has no effect', () => {
    const { run, sw, sw2 } = setup();
    const args = encodeDeliverArgs(message());
    const first = run.call(sw, X, 'deliver', args);
    expect(first.code).toBeNull();
    expect(xmsgInbox(run.state, 'cn.loulan.shop.acme', 'msg-0001')).toEqual({ digest: digest('envelope-1'), height: run.height });
    expect(xmsgInboxKey('cn.loulan.shop.acme', 'msg-0001')).toBe('xmsg/inbox/cn.loulan.shop.acme/msg-0001');
    expect(first.result.events).toHaveLength(1);
    expect(first.result.events[0]).toMatchObject({ contract: X, type: 'message-delivered', data: args });
    expect(xmsgEvents(first.result)).toEqual([{ type: 'message-delivered', message: message() }]);
    const height = run.height;
    // The retry (another key, another transaction, even another data payload) changes nothing.
    const retry = run.block([run.tx(sw2, X, 'deliver', args), run.tx(sw, X, 'deliver', encodeDeliverArgs(message({ data: te.encode('{}') })))]);
    expect(retry.receipts.map((r) => r.code)).toEqual([null, null]);
    expect(retry.events).toHaveLength(0);
    expect([...retry.change.puts.map(([k]) => k), ...retry.change.deletes].filter((k) => k.startsWith('xmsg/'))).toEqual([]);
    expect(xmsgInbox(run.state, 'cn.loulan.shop.acme', 'msg-0001')?.height).toBe(height);
  });

  it('refuses the same (source, messageId) with another digest; the first stays', () => {
    const { run, sw } = setup();
    expect(run.call(sw, X, 'deliver', encodeDeliverArgs(message())).code).toBeNull();
    const conflicting = encodeDeliverArgs(message({ digest: digest('forged') }));
    expect(run.call(sw, X, 'deliver', conflicting).code).toBe('CONTRACT_CONFLICT');
    expect(errorOf(() => createXmsgContract().execute(contextFor(run, sw), 'deliver', conflicting))?.details).toMatchObject({
      kind: 'message',
      id: 'cn.loulan.shop.acme/msg-0001',
      digest: toHex(digest('envelope-1')),
    });
    expect(xmsgInbox(run.state, 'cn.loulan.shop.acme', 'msg-0001')?.digest).toEqual(digest('envelope-1'));
    // The same message id from another source is another message.
    expect(run.call(sw, X, 'deliver', encodeDeliverArgs(message({ source: 'cn.loulan.shop.other', digest: digest('forged') }))).code).toBeNull();
  });

  it('is gated to operators and relayers', () => {
    const { run, relayer, shop } = setup();
    expect(run.call(shop, X, 'deliver', encodeDeliverArgs(message())).code).toBe('CONTRACT_FORBIDDEN');
    expect(run.call(relayer, X, 'deliver', encodeDeliverArgs(message())).code).toBeNull();
  });

  const raw = (m: DeliverArgs, dataMax = 1 << 20) =>
    new Writer().string(m.messageId, 500).string(m.source, 500).string(m.to, 500).string(m.type, 500).bytes(m.digest, m.digest.length).varBytes(m.data, dataMax).finish();
  it.each<[string, Uint8Array, string]>([
    ['a message id with a slash', raw(message({ messageId: 'a/b' })), 'messageId'],
    ['an upper-case source', raw(message({ source: 'CN.shop' })), 'source'],
    ['a destination over 253 bytes', raw(message({ to: `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(62) })), 'to'],
    ['a type without a dot', raw(message({ type: 'points' })), 'type'],
    ['data over 32 KiB', raw(message({ data: new Uint8Array(MAX_DELIVER_DATA_BYTES + 1) })), 'data'],
    ['a short digest', raw(message({ digest: new Uint8Array(31) })), 'data'],
  ])('refuses %s (CONTRACT_BAD_ARGS naming the field)', (_name, args, field) => {
    const { run, sw } = setup();
    expect(run.call(sw, X, 'deliver', args).code).toBe('CONTRACT_BAD_ARGS');
    expect(errorOf(() => createXmsgContract().execute(contextFor(run, sw), 'deliver', args))?.details.field).toBe(field);
  });

  it('accepts data of exactly 32 KiB', () => {
    const { run, sw } = setup();
    expect(run.call(sw, X, 'deliver', encodeDeliverArgs(message({ data: new Uint8Array(MAX_DELIVER_DATA_BYTES) }))).code).toBeNull();
  });
});

describe('xmsg encoders and events', () => {
  it('the encoders refuse what the contract would refuse', () => {
    expect(errorOf(() => encodeAnchorArgs({ ...batch(1n), switchId: '' }))?.details).toMatchObject({ field: 'switchId' });
    expect(errorOf(() => encodeAnchorArgs({ ...batch(1n), count: 0 }))?.details).toMatchObject({ field: 'count' });
    expect(errorOf(() => encodeDeliverArgs(message({ source: 'Shop' })))?.details).toMatchObject({ field: 'source' });
    expect(codeOf(() => encodeDeliverArgs(message({ digest: new Uint8Array(3) })))).toBe('CODEC_LENGTH');
  });

  it('refuses event types it does not emit', () => {
    expect(codeOf(() => decodeXmsgEvent('delivered', new Uint8Array(0)))).toBe('CODEC_TAG');
  });

  it('declares its methods and roles', () => {
    expect(createXmsgContract().access).toEqual({ anchor: ['operator', 'relayer'], deliver: ['operator', 'relayer'] });
  });
});
