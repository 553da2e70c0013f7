import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import { startFabricEmulator, type FabricCredentials, type FabricEmulator } from '../../test/support/fabric/index.ts';
import { AssetContract } from '../../test/support/fabric/test-contract.ts';
import type { Adapter, AdapterTarget, DeliveryRequest, WatchedEvent } from '../adapter.ts';
import { createFabricAdapter, fabricAdapterFactory, outcomeOfFabricError } from './adapter.ts';
import { parsePosition } from './checkpoint.ts';

function request(id: string, data: Record<string, unknown> = {}): DeliveryRequest {
  const envelope = { id, type: 'points.exchange.request', source: 'cn.loulan.shop.acme', to: 'cn.loulan.member.fabric', seq: '1', time: '2025-06-01T12:00:00Z', expiresAt: '2099-01-01T00:00:00Z', data } as Envelope;
  return { envelope, digest: 'ab'.repeat(32), attempt: 1, deadline: Date.now() + 60_000, signal: new AbortController().signal };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

let fabric: FabricEmulator;
let user: FabricCredentials;
let target: AdapterTarget;
const adapters: Adapter[] = [];

function adapter(overrides: Partial<AdapterTarget> = {}): Adapter {
  const created = fabricAdapterFactory({ identity: { mspId: 'Org1MSP', certificatePem: user.certificatePem, privateKeyPem: user.privateKeyPem } })({ ...target, ...overrides });
  adapters.push(created);
  return created;
}

beforeAll(async () => {
  fabric = await startFabricEmulator({ chaincodes: [{ name: 'inbox', contracts: [AssetContract], policy: "AND('Org1MSP.peer','Org2MSP.peer')" }] });
  user = await fabric.newClient('Org1MSP');
  target = { kind: 'fabric', endpoint: `grpc://${fabric.endpoint}`, channel: fabric.channel, chaincode: 'inbox', transaction: 'assets:receive' };
});

afterAll(async () => {
  for (const a of adapters) await a.close();
  await fabric.stop();
});

describe('fabric adapter', () => {
  it('delivers a message as one chaincode transaction and returns its tx id and block', async () => {
    const a = adapter();
    const outcome = await a.deliver(request('m1'));
    expect(outcome).toMatchObject({ ok: true, evidence: { txId: expect.stringMatching(/^[0-9a-f]{64}$/), blockNumber: expect.any(String) } });
    // A second delivery of the same message is counted once by the chaincode (and still succeeds).
    expect(await a.deliver(request('m1'))).toMatchObject({ ok: true });
    expect(a.health()).toEqual({ state: 'up' });
  });

  it('sends a chaincode refusal to the dead-letter queue and retries an unreachable peer', async () => {
    expect(await adapter().deliver(request('bad', { refuse: true }))).toMatchObject({ ok: false, retryable: false, code: 'FABRIC_ENDORSE' });
    const down = adapter({ endpoint: '127.0.0.1:1' });
    expect(await down.deliver(request('m2'))).toMatchObject({ ok: false, retryable: true, code: 'FABRIC_ENDORSE' });
    expect(down.health().state).toBe('degraded');
    expect(await down.probe!(new AbortController().signal)).toBe(false);
    expect(await adapter().probe!(new AbortController().signal)).toBe(true);
  });

  it('gives up an attempt at the message deadline (retryable) and reports watch failures', async () => {
    fabric.network.setOrdering(false);
    try {
      const late = { ...request('slow'), deadline: Date.now() + 200 };
      expect(await adapter().deliver(late)).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    } finally {
      fabric.network.setOrdering(true);
    }
    let reported!: (error: unknown) => void;
    const firstError = new Promise<unknown>((resolve) => (reported = resolve));
    const broken = createFabricAdapter({ ...target, endpoint: '127.0.0.1:1' }, { identity: { mspId: 'Org1MSP', certificatePem: user.certificatePem, privateKeyPem: user.privateKeyPem }, onWatchError: (e) => reported(e) });
    adapters.push(broken);
    const stop = broken.watch!(undefined, async () => undefined);
    const error = await firstError;
    stop();
    expect(error).toMatchObject({ code: 'FABRIC_ENDORSE', details: { operation: 'events' } });
  });

  it('classifies commit outcomes: read conflicts retry, policy failures do not', () => {
    const commit = (validationCode: string) => new LoulanError('FABRIC_COMMIT', 'x', { details: { txId: 't', validationCode } });
    expect(outcomeOfFabricError(commit('MVCC_READ_CONFLICT'))).toMatchObject({ retryable: true, code: 'FABRIC_COMMIT' });
    expect(outcomeOfFabricError(commit('ENDORSEMENT_POLICY_FAILURE'))).toMatchObject({ retryable: false, code: 'FABRIC_COMMIT' });
    expect(outcomeOfFabricError(new LoulanError('FABRIC_COMMIT_STATUS', 'x', { details: { txId: 't' } }))).toMatchObject({ retryable: true });
    expect(outcomeOfFabricError(new LoulanError('FABRIC_SUBMIT', 'x', { details: { txId: 't' } }))).toMatchObject({ retryable: true });
  });

  it('watches chaincode events and resumes from the checkpoint of the last event handled', async () => {
    const start = fabric.network.blocks.height;
    const a = adapter();
    for (const id of ['w1', 'w2', 'w3']) expect(await a.deliver(request(id))).toMatchObject({ ok: true });
    const watched: WatchedEvent[] = [];
    let stop!: () => void;
    await new Promise<void>((resolve) => {
      stop = a.watch!(`${start}`, async (event) => {
        watched.push(event);
        if (watched.length === 2) resolve();
      });
    });
    stop();
    expect(watched.map((e) => e.type)).toEqual(['received', 'received']);
    expect(watched.map((e) => JSON.parse(Buffer.from(String(e.data['payload']), 'base64url').toString()).id)).toEqual(['w1', 'w2']);
    const resumeFrom = watched[1]!.checkpoint;
    expect(parsePosition(resumeFrom)).toEqual({ blockNumber: BigInt(String(watched[1]!.data['blockNumber'])), transactionId: watched[1]!.data['txId'] });

    const again: WatchedEvent[] = [];
    const b = adapter();
    await new Promise<void>((resolve) => {
      stop = b.watch!(resumeFrom, async (event) => {
        again.push(event);
        resolve();
      });
    });
    stop();
    expect(JSON.parse(Buffer.from(String(again[0]!.data['payload']), 'base64url').toString()).id).toBe('w3');
  });

  it('refuses targets it cannot serve', () => {
    const identity = { identity: { mspId: 'Org1MSP', certificatePem: user.certificatePem, privateKeyPem: user.privateKeyPem } };
    expect(codeOf(() => createFabricAdapter({ ...target, kind: 'evm' }, identity))).toBe('ROUTE_ADAPTER_UNAVAILABLE');
    expect(codeOf(() => createFabricAdapter({ ...target, endpoint: 'http://x/' }, identity))).toBe('ROUTE_INVALID');
    expect(codeOf(() => createFabricAdapter({ ...target, channel: '' }, identity))).toBe('ROUTE_INVALID');
    expect(codeOf(() => createFabricAdapter({ ...target, transaction: '' }, identity))).toBe('ROUTE_INVALID');
    expect(codeOf(() => createFabricAdapter({ ...target, mspId: 'Org2MSP' }, identity))).toBe('CONFIG_INVALID');
    // The routing table's own shape (mspId, no transaction) is accepted: the default function takes the message.
    const { transaction: _t, ...tableShape } = target;
    expect(createFabricAdapter({ ...tableShape, mspId: 'Org1MSP' } as typeof target, identity).kind).toBe('fabric');
    expect(codeOf(() => createFabricAdapter({ ...target, endpoint: 'grpcs://peer:7051' }, identity))).toBe('CONFIG_INVALID');
  });
});
