import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { signers } from '@hyperledger/fabric-gateway';
import { common, msp, peer } from '@hyperledger/fabric-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import { createFabricCa, startFabricEmulator, type FabricCredentials, type FabricEmulator } from '../../test/support/fabric/index.ts';
import { AssetContract } from '../../test/support/fabric/test-contract.ts';
import { FileCheckpointer, MemoryCheckpointer } from './checkpoint.ts';
import { connectFabric, type FabricClient, type FabricClientOptions, type FabricEvent } from './client.ts';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function rejection(promise: Promise<unknown>): Promise<LoulanError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LoulanError);
  return error as LoulanError;
}

let fabric: FabricEmulator;
let user: FabricCredentials;
const clients: FabricClient[] = [];
let dir: string;

async function client(credentials: FabricCredentials = user, extra: Partial<FabricClientOptions> = {}): Promise<FabricClient> {
  const c = await connectFabric({
    endpoint: fabric.endpoint,
    identity: { mspId: credentials.mspId, certificatePem: credentials.certificatePem, privateKeyPem: credentials.privateKeyPem },
    channel: fabric.channel,
    chaincode: 'assets',
    ...extra,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-fabric-client-'));
  fabric = await startFabricEmulator({
    chaincodes: [
      { name: 'assets', contracts: [AssetContract], policy: "AND('Org1MSP.peer','Org2MSP.peer')" },
      { name: 'either', contracts: [AssetContract], policy: "OR('Org1MSP.peer','Org2MSP.peer')" },
    ],
  });
  user = await fabric.newClient('Org1MSP');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await fabric.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('fabric client against the peer emulator (real fabric-gateway over gRPC)', () => {
  it('submits through endorse, submit and commit status, then evaluates the committed state', async () => {
    const c = await client();
    const submitted = await c.submit('put', ['car1', 'blue']);
    expect(submitted.txId).toMatch(/^[0-9a-f]{64}$/);
    expect(submitted.blockNumber).toBeGreaterThan(0n);
    expect(text(submitted.result)).toBe('blue');
    expect(text(await c.evaluate('get', ['car1']))).toBe('blue');
    const committed = await c.transaction(submitted.txId);
    expect(committed.validationCode).toBe(0);
    expect(committed.envelope).toEqual(submitted.envelope);
    expect(await c.height()).toBe(BigInt(fabric.network.blocks.height));
  });

  it('hands the chaincode the creator, channel, tx id and the proposal time', async () => {
    const c = await client();
    const before = Date.now();
    const who = JSON.parse(text(await c.evaluate('whoami', []))) as Record<string, unknown>;
    expect(who['mspId']).toBe('Org1MSP');
    expect(who['channel']).toBe(fabric.channel);
    expect(String(who['id'])).toContain('OU=client');
    expect(Date.parse(String(who['time']))).toBeGreaterThanOrEqual(before - 1000);
    expect(who['args']).toEqual(['whoami']);
  });

  it('reports a chaincode failure as FABRIC_ENDORSE with the tx id; nothing is ordered', async () => {
    const c = await client();
    const height = fabric.network.blocks.height;
    const evaluated = await rejection(c.evaluate('fail', ['no way']));
    expect(evaluated.code).toBe('FABRIC_ENDORSE');
    expect(evaluated.details['operation']).toBe('evaluate');
    const endorsed = await rejection(c.submit('fail', ['no way']));
    expect(endorsed.code).toBe('FABRIC_ENDORSE');
    expect(endorsed.details['operation']).toBe('endorse');
    expect(endorsed.details['txId']).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(endorsed.details['peers'])).toContain('no way');
    expect(fabric.network.blocks.height).toBe(height);
  });

  it('confirm endorses on every policy organisation and never orders: the envelope carries both endorsements', async () => {
    const c = await client();
    await c.submit('put', ['car9', 'teal']);
    const height = fabric.network.blocks.height;
    const confirmation = await c.confirm('get', ['car9']);
    expect(text(confirmation.result)).toBe('teal');
    const envelope = common.Envelope.deserializeBinary(confirmation.envelope);
    const header = common.ChannelHeader.deserializeBinary(common.Payload.deserializeBinary(envelope.getPayload_asU8()).getHeader()!.getChannelHeader_asU8());
    expect(header.getTxId()).toBe(confirmation.txId);
    const action = peer.Transaction.deserializeBinary(common.Payload.deserializeBinary(envelope.getPayload_asU8()).getData_asU8()).getActionsList()[0]!;
    const endorsers = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8()).getAction()!.getEndorsementsList();
    expect(endorsers.map((e) => msp.SerializedIdentity.deserializeBinary(e.getEndorser_asU8()).getMspid()).sort()).toEqual(['Org1MSP', 'Org2MSP']);
    const failed = await rejection(c.confirm('fail', ['no way']));
    expect(failed.details).toMatchObject({ operation: 'endorse', txId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(failed.code).toBe('FABRIC_ENDORSE');
    expect(fabric.network.blocks.height).toBe(height);
  });

  it('marks the later of two transactions that read and wrote the same key MVCC_READ_CONFLICT', async () => {
    const c = await client();
    await c.submit('put', ['counter', '0']);
    // Both endorse against the same committed version; only the first to commit may use it.
    const results = await Promise.allSettled([c.submit('increment', ['counter']), c.submit('increment', ['counter'])]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    const error = rejected[0]!.reason as LoulanError;
    expect(error.code).toBe('FABRIC_COMMIT');
    expect(error.details['validationCode']).toBe('MVCC_READ_CONFLICT');
    expect(error.details['code']).toBe(11);
    expect(error.details['txId']).toMatch(/^[0-9a-f]{64}$/);
    expect(text(await c.evaluate('get', ['counter']))).toBe('1');
  });

  it('commits an AND-policy transaction endorsed by Org1 only as ENDORSEMENT_POLICY_FAILURE', async () => {
    const c = await client();
    const error = await rejection(c.submit('put', ['lonely', 'x'], { endorsingOrganizations: ['Org1MSP'] }));
    expect(error.code).toBe('FABRIC_COMMIT');
    expect(error.details['validationCode']).toBe('ENDORSEMENT_POLICY_FAILURE');
    expect(await rejection(c.evaluate('get', ['lonely']))).toMatchObject({ code: 'FABRIC_ENDORSE' });
    // The same single endorsement satisfies an OR policy.
    const either = await client(user, { chaincode: 'either' });
    await expect(either.submit('put', ['lonely', 'x'], { endorsingOrganizations: ['Org1MSP'] })).resolves.toMatchObject({ txId: expect.any(String) });
  });

  it('refuses a proposal whose signature does not verify (PERMISSION_DENIED)', async () => {
    const stranger = await fabric.newClient('Org1MSP');
    const c = await client(user, { signer: signers.newPrivateKeySigner(createPrivateKey(stranger.privateKeyPem)) });
    const error = await rejection(c.evaluate('get', ['car1']));
    expect(error.code).toBe('FABRIC_ENDORSE');
    expect(error.details['grpcCode']).toBe(7);
    expect(JSON.stringify(error.details['peers'])).toContain('signature');
  });

  it('refuses an events request whose signature does not verify', async () => {
    const stranger = await fabric.newClient('Org1MSP');
    const c = await client(user, { signer: signers.newPrivateKeySigner(stranger.privateKey) });
    const watch = c.watchEvents(new MemoryCheckpointer(), async () => undefined, { startBlock: 0n });
    const error = await rejection(watch.done);
    expect(error.code).toBe('FABRIC_ENDORSE');
    expect(error.details).toMatchObject({ operation: 'events', grpcCode: 7 });
  });

  it('refuses a client whose certificate does not chain to its MSP root (unknown CA)', async () => {
    const rogueCa = await createFabricCa('Org1MSP');
    const rogue = await rogueCa.issue('mallory', 'client');
    const c = await client(rogue);
    const error = await rejection(c.submit('put', ['car1', 'stolen']));
    expect(error.code).toBe('FABRIC_ENDORSE');
    expect(error.details['grpcCode']).toBe(7);
    expect(JSON.stringify(error.details['peers'])).toContain('does not chain');
    const unknownMsp = await (await createFabricCa('Org9MSP')).issue('eve', 'client');
    expect((await rejection((await client(unknownMsp)).evaluate('get', ['car1']))).details['grpcCode']).toBe(7);
  });

  it('reports an envelope the orderer refuses as FABRIC_SUBMIT', async () => {
    const good = signers.newPrivateKeySigner(user.privateKey);
    const stranger = await fabric.newClient('Org1MSP');
    const bad = signers.newPrivateKeySigner(stranger.privateKey);
    let calls = 0;
    // The proposal is signed properly; the endorsed envelope is signed by someone else.
    const c = await client(user, { signer: (digest) => (++calls === 1 ? good(digest) : bad(digest)) });
    const error = await rejection(c.submit('put', ['car2', 'red']));
    expect(error.code).toBe('FABRIC_SUBMIT');
    expect(error.details['grpcCode']).toBe(7);
    expect(error.details['txId']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports a commit status it could not read in time as FABRIC_COMMIT_STATUS; the transaction commits later', async () => {
    const c = await client(user, { timeouts: { commitStatus: 300 } });
    fabric.network.setOrdering(false);
    let error: LoulanError;
    try {
      error = await rejection(c.submit('put', ['stalled', 'late']));
    } finally {
      fabric.network.setOrdering(true);
    }
    expect(error.code).toBe('FABRIC_COMMIT_STATUS');
    expect(error.details['grpcCode']).toBe(4);
    const txId = String(error.details['txId']);
    // It was ordered after all: never endorse it anew, ask for its status.
    expect((await c.transaction(txId)).validationCode).toBe(0);
    expect(text(await c.evaluate('get', ['stalled']))).toBe('late');
  });

  it('replays chaincode events from an atomically persisted checkpoint after the client restarts', async () => {
    const path = join(dir, 'events.checkpoint');
    const first = await client();
    const start = BigInt(fabric.network.blocks.height);
    const a = await first.submit('put', ['e1', 'one']);
    const b = await first.submit('put', ['e2', 'two']);

    // Listener 1 handles the first event, persists, and "crashes" (stops) before the second.
    const seen1: FabricEvent[] = [];
    const checkpoint1 = await FileCheckpointer.open(path);
    const watch1 = first.watchEvents(
      checkpoint1,
      async (event) => {
        seen1.push(event);
        if (seen1.length === 1) watch1.stop();
      },
      { startBlock: start },
    );
    await watch1.done;
    first.close();
    expect(seen1.map((e) => e.txId)).toEqual([a.txId]);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ blockNumber: String(a.blockNumber), transactionId: a.txId });

    // More happens while no client listens.
    const second = await client();
    const c = await second.submit('put', ['e3', 'three']);

    // A new client reopens the file and resumes right after the last handled event.
    const seen2: FabricEvent[] = [];
    const checkpoint2 = await FileCheckpointer.open(path);
    const watch2 = second.watchEvents(checkpoint2, async (event) => {
      seen2.push(event);
      if (seen2.length === 2) watch2.stop();
    });
    await watch2.done;
    expect(seen2.map((e) => e.txId)).toEqual([b.txId, c.txId]);
    expect(seen2.map((e) => e.eventName)).toEqual(['put', 'put']);
    expect(JSON.parse(text(seen2[1]!.payload))).toEqual({ key: 'e3', value: 'three' });
    expect((await FileCheckpointer.open(path)).getTransactionId()).toBe(c.txId);
  });

  it('replays blocks from a checkpoint (Deliver service): the next client starts after the last block handled', async () => {
    const c = await client();
    await c.submit('put', ['b1', 'x']);
    const path = join(dir, 'blocks.checkpoint');
    const numbers: bigint[] = [];
    const checkpoint = await FileCheckpointer.open(path);
    const first = c.watchBlocks(
      checkpoint,
      async ({ number, block }) => {
        expect(common.Block.deserializeBinary(block).getHeader()!.getNumber()).toBe(Number(number));
        numbers.push(number);
        if (numbers.length === 3) first.stop();
      },
      { startBlock: 0n },
    );
    await first.done;
    expect(numbers).toEqual([0n, 1n, 2n]);
    expect((await FileCheckpointer.open(path)).getBlockNumber()).toBe(3n);
    const more: bigint[] = [];
    const second = (await client()).watchBlocks(await FileCheckpointer.open(path), async ({ number }) => {
      more.push(number);
      if (more.length === 2) second.stop();
    });
    await second.done;
    expect(more).toEqual([3n, 4n]);
  });

  it('delivers events committed after the watch starts when there is no checkpoint', async () => {
    const c = await client();
    const seen: FabricEvent[] = [];
    let delivered!: () => void;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    const watch = c.watchEvents(new MemoryCheckpointer(), async (event) => {
      seen.push(event);
      watch.stop();
      delivered();
    });
    // The stream is open once the gateway has it; submit until the live event arrives.
    let submitted: string | undefined;
    for (let i = 0; i < 50 && seen.length === 0; i++) {
      submitted = (await c.submit('put', [`live${i}`, 'v'])).txId;
      await Promise.race([arrived, new Promise((resolve) => setImmediate(resolve))]);
    }
    await watch.done;
    expect(seen).toHaveLength(1);
    expect(seen[0]!.eventName).toBe('put');
    expect(seen[0]!.blockNumber).toBeGreaterThan(0n);
    expect(submitted).toBeDefined();
  });
});
