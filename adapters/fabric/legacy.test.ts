import { common } from '@hyperledger/fabric-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import { evidenceFromEnvelope, verifyFabricConfirmation, verifyFabricEvidence } from '../../relayers/fabric/index.ts';
import { createFabricCa, startFabricEmulator, type FabricCredentials, type FabricEmulator } from '../../test/support/fabric/index.ts';
import { AssetContract } from '../../test/support/fabric/test-contract.ts';
import type { Adapter, DeliveryRequest } from '../adapter.ts';
import type { Envelope } from '../../schemas/index.ts';
import { createFabricAdapter } from './adapter.ts';
import { MemoryCheckpointer } from './checkpoint.ts';
import type { FabricClient, FabricEvent } from './client.ts';
import { connectLegacyFabric, type LegacyFabricClientOptions } from './legacy.ts';

const POLICY = "AND('Org1MSP.peer','Org2MSP.peer')";
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

let fabric: FabricEmulator;
let user: FabricCredentials;
const closers: (() => unknown)[] = [];

function legacyOptions(credentials: FabricCredentials, chaincode = 'assets'): LegacyFabricClientOptions {
  return {
    peers: Object.fromEntries(Object.entries(fabric.peers).map(([mspId, endpoint]) => [mspId, [endpoint]])),
    orderers: [fabric.ordererEndpoint],
    identity: { mspId: credentials.mspId, certificatePem: credentials.certificatePem, privateKeyPem: credentials.privateKeyPem },
    channel: fabric.channel,
    chaincode,
    timeouts: { endorseSeconds: 10, commitSeconds: 20 },
  };
}

async function legacy(credentials: FabricCredentials = user): Promise<FabricClient> {
  const client = await connectLegacyFabric(legacyOptions(credentials));
  closers.push(() => client.close());
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<LoulanError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LoulanError);
  return error as LoulanError;
}

beforeAll(async () => {
  fabric = await startFabricEmulator({ chaincodes: [{ name: 'assets', contracts: [AssetContract], policy: POLICY }] });
  user = await fabric.newClient('Org1MSP');
});

afterAll(async () => {
  for (const close of closers) await close();
  await fabric.stop();
});

describe('legacy fabric driver (fabric-network 2.2 → Endorser, Broadcast, Deliver)', () => {
  it('submits, evaluates, and reads the committed transaction back; its evidence verifies', async () => {
    const client = await legacy();
    const submitted = await client.submit('put', ['old1', 'green']);
    expect(text(submitted.result)).toBe('green');
    expect(submitted.blockNumber).toBeGreaterThan(0n);
    expect(text(await client.evaluate('get', ['old1']))).toBe('green');
    expect((await client.transaction(submitted.txId)).validationCode).toBe(0);
    expect(await client.height()).toBe(BigInt(fabric.network.blocks.height));
    const event = verifyFabricEvidence(evidenceFromEnvelope(submitted.envelope), { mspRoots: fabric.mspRoots, policy: POLICY, expected: { chaincode: 'assets', eventName: 'put', txId: submitted.txId } });
    expect(event.endorsers).toHaveLength(2);
  });

  it('endorses a read-only query without submitting it: confirmation evidence of the committed state', async () => {
    const client = await legacy();
    const written = await client.submit('put', ['old2', 'amber']);
    const height = await client.height();
    const confirmation = await client.confirm('get', ['old2']);
    expect(text(confirmation.result)).toBe('amber');
    const confirmed = verifyFabricConfirmation(evidenceFromEnvelope(confirmation.envelope), {
      mspRoots: fabric.mspRoots,
      policy: POLICY,
      expected: { chaincode: 'assets', fcn: 'get', args: ['old2'], result: new TextEncoder().encode('amber'), txId: confirmation.txId },
    });
    expect(confirmed.reads).toEqual([{ namespace: 'assets', key: 'old2', version: { blockNum: written.blockNumber, txNum: 0n } }]);
    expect(confirmed.endorsers).toHaveLength(2);
    expect(await client.height()).toBe(height);
    // One organisation only, as asked: the evidence exists but does not meet AND.
    const lonely = await client.confirm('get', ['old2'], { endorsingOrganizations: ['Org1MSP'] });
    expect(evidenceFromEnvelope(lonely.envelope).endorsements).toHaveLength(1);
    const refused = await rejection(client.confirm('get', ['no-such-key']));
    expect(refused.code).toBe('FABRIC_ENDORSE');
    expect(refused.details['txId']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('maps failures onto the same phase codes as the Gateway driver', async () => {
    const client = await legacy();
    expect((await rejection(client.evaluate('fail', ['nope']))).code).toBe('FABRIC_ENDORSE');
    const endorse = await rejection(client.submit('fail', ['nope']));
    expect(endorse.code).toBe('FABRIC_ENDORSE');
    expect(endorse.details['txId']).toMatch(/^[0-9a-f]{64}$/);

    const policy = await rejection(client.submit('put', ['solo', 'x'], { endorsingOrganizations: ['Org1MSP'] }));
    expect(policy.code).toBe('FABRIC_COMMIT');
    expect(policy.details['validationCode']).toBe('ENDORSEMENT_POLICY_FAILURE');

    await client.submit('put', ['n', '0']);
    const results = await Promise.allSettled([client.submit('increment', ['n']), client.submit('increment', ['n'])]);
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(lost).toHaveLength(1);
    expect((lost[0]!.reason as LoulanError).details).toMatchObject({ validationCode: 'MVCC_READ_CONFLICT', code: 11 });
    expect(BigInt(String((lost[0]!.reason as LoulanError).details['blockNumber']))).toBeGreaterThan(0n);
  });

  it('is refused by the peers when the client certificate does not chain to its MSP root', async () => {
    const rogue = await (await createFabricCa('Org1MSP')).issue('mallory', 'client');
    const client = await legacy(rogue);
    expect((await rejection(client.submit('put', ['old1', 'stolen']))).code).toBe('FABRIC_ENDORSE');
  });

  it('replays chaincode events from a checkpoint after the client restarts', async () => {
    const first = await legacy();
    const start = BigInt(fabric.network.blocks.height);
    const a = await first.submit('put', ['le1', '1']);
    const b = await first.submit('put', ['le2', '2']);
    const checkpoint = new MemoryCheckpointer();
    const seen1: FabricEvent[] = [];
    const w1 = first.watchEvents(
      checkpoint,
      async (event) => {
        seen1.push(event);
        if (seen1.length === 1) w1.stop();
      },
      { startBlock: start },
    );
    await w1.done;
    first.close();
    expect(seen1.map((e) => e.txId)).toEqual([a.txId]);
    expect(checkpoint.position).toEqual({ blockNumber: a.blockNumber, transactionId: a.txId });

    const second = await legacy();
    const c = await second.submit('put', ['le3', '3']);
    const seen2: FabricEvent[] = [];
    const w2 = second.watchEvents(checkpoint, async (event) => {
      seen2.push(event);
      if (seen2.length === 2) w2.stop();
    });
    await w2.done;
    expect(seen2.map((e) => e.txId)).toEqual([b.txId, c.txId]);
    expect(JSON.parse(text(seen2[1]!.payload))).toEqual({ key: 'le3', value: '3' });
  });

  it('replays blocks from a checkpoint (Deliver, raw blocks through qscc)', async () => {
    const client = await legacy();
    const checkpoint = new MemoryCheckpointer();
    const numbers: bigint[] = [];
    const watch = client.watchBlocks(
      checkpoint,
      async ({ number, block }) => {
        expect(common.Block.deserializeBinary(block).getHeader()!.getNumber()).toBe(Number(number));
        numbers.push(number);
        if (numbers.length === 2) watch.stop();
      },
      { startBlock: 1n },
    );
    await watch.done;
    expect(numbers).toEqual([1n, 2n]);
    expect(checkpoint.getBlockNumber()).toBe(3n);
  });

  it('serves the fabric adapter behind the same interface', async () => {
    const adapter: Adapter = createFabricAdapter(
      { kind: 'fabric', endpoint: fabric.endpoint, channel: fabric.channel, chaincode: 'assets', transaction: 'receive' },
      { identity: legacyOptions(user).identity, connect: async () => legacy() },
    );
    closers.push(() => adapter.close());
    const envelope = { id: 'legacy-1', type: 'points.exchange.request', source: 'cn.loulan.shop.acme', to: 'cn.loulan.member.fabric', seq: '1', time: '2025-06-01T12:00:00Z', expiresAt: '2099-01-01T00:00:00Z', data: {} } as Envelope;
    const request: DeliveryRequest = { envelope, digest: 'cd'.repeat(32), attempt: 1, deadline: Date.now() + 60_000, signal: new AbortController().signal };
    expect(await adapter.deliver(request)).toMatchObject({ ok: true, evidence: { txId: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(await adapter.probe!(new AbortController().signal)).toBe(true);
  });
});
