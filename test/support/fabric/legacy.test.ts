import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { common, orderer, peer } from '@hyperledger/fabric-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signFabric } from '../../../relayers/fabric/msp.ts';
import { startFabricEmulator, type FabricCredentials, type FabricEmulator } from './index.ts';
import { AssetContract } from './test-contract.ts';

// The legacy services spoken to directly, for the edge cases fabric-network never produces.

let fabric: FabricEmulator;
let user: FabricCredentials;
const clients: grpc.Client[] = [];

function seekEnvelope(signer: FabricCredentials, seek: orderer.SeekInfo, forgeSignature = false): common.Envelope {
  const channelHeader = new common.ChannelHeader();
  channelHeader.setType(common.HeaderType.DELIVER_SEEK_INFO);
  channelHeader.setChannelId(fabric.channel);
  const signatureHeader = new common.SignatureHeader();
  signatureHeader.setCreator(signer.serialized);
  signatureHeader.setNonce(randomBytes(24));
  const header = new common.Header();
  header.setChannelHeader(channelHeader.serializeBinary());
  header.setSignatureHeader(signatureHeader.serializeBinary());
  const payload = new common.Payload();
  payload.setHeader(header);
  payload.setData(seek.serializeBinary());
  const envelope = new common.Envelope();
  envelope.setPayload(payload.serializeBinary());
  envelope.setSignature(signFabric(signer.privateKey, forgeSignature ? randomBytes(8) : payload.serializeBinary()));
  return envelope;
}

function position(number: number | 'newest'): orderer.SeekPosition {
  const result = new orderer.SeekPosition();
  if (number === 'newest') result.setNewest(new orderer.SeekNewest());
  else {
    const specified = new orderer.SeekSpecified();
    specified.setNumber(number);
    result.setSpecified(specified);
  }
  return result;
}

/** Sends one seek and collects responses until a status arrives. */
function deliver(kind: 'deliver' | 'deliverFiltered', envelope: common.Envelope): Promise<peer.DeliverResponse[]> {
  const client = new peer.DeliverClient(fabric.endpoint, grpc.credentials.createInsecure());
  clients.push(client);
  const stream = client[kind]();
  const responses: peer.DeliverResponse[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (response: peer.DeliverResponse) => {
      responses.push(response);
      if (response.getTypeCase() === peer.DeliverResponse.TypeCase.STATUS) {
        stream.cancel();
        resolve(responses);
      }
    });
    stream.on('error', (error: { code?: number }) => (error.code === grpc.status.CANCELLED ? undefined : reject(error)));
    stream.write(envelope);
  });
}

beforeAll(async () => {
  fabric = await startFabricEmulator({ chaincodes: [{ name: 'assets', contracts: [AssetContract], policy: "OR('Org1MSP.peer')" }] });
  user = await fabric.newClient('Org1MSP');
  const { connectFabric } = await import('../../../adapters/fabric/client.ts');
  const client = await connectFabric({ endpoint: fabric.endpoint, identity: { mspId: 'Org1MSP', certificatePem: user.certificatePem, privateKeyPem: user.privateKeyPem }, channel: fabric.channel, chaincode: 'assets' });
  await client.submit('put', ['a', '1']);
  await client.submit('put', ['b', '2']);
  client.close();
});

afterAll(async () => {
  for (const client of clients) client.close();
  await fabric.stop();
});

describe('emulator Deliver service', () => {
  it('streams the blocks of a range, full or filtered, then SUCCESS', async () => {
    const seek = new orderer.SeekInfo();
    seek.setStart(position(1));
    seek.setStop(position(2));
    const full = await deliver('deliver', seekEnvelope(user, seek));
    expect(full.map((r) => r.getBlock()?.getHeader()?.getNumber())).toEqual([1, 2, undefined]);
    expect(full.at(-1)!.getStatus()).toBe(common.Status.SUCCESS);
    const filtered = await deliver('deliverFiltered', seekEnvelope(user, seek));
    const first = filtered[0]!.getFilteredBlock()!;
    expect(first.getNumber()).toBe(1);
    const tx = first.getFilteredTransactionsList()[0]!;
    expect(tx.getTxValidationCode()).toBe(peer.TxValidationCode.VALID);
    const event = tx.getTransactionActions()!.getChaincodeActionsList()[0]!.getChaincodeEvent()!;
    expect([event.getEventName(), event.getPayload_asU8().length]).toEqual(['put', 0]);
  });

  it('answers NOT_FOUND past the tip when asked not to wait, FORBIDDEN to a forged request', async () => {
    const ahead = new orderer.SeekInfo();
    ahead.setStart(position(99));
    ahead.setStop(position(99));
    ahead.setBehavior(orderer.SeekInfo.SeekBehavior.FAIL_IF_NOT_READY);
    expect((await deliver('deliver', seekEnvelope(user, ahead)))[0]!.getStatus()).toBe(common.Status.NOT_FOUND);
    const newest = new orderer.SeekInfo();
    newest.setStart(position('newest'));
    newest.setStop(position('newest'));
    expect((await deliver('deliver', seekEnvelope(user, newest, true)))[0]!.getStatus()).toBe(common.Status.FORBIDDEN);
    const ok = await deliver('deliver', seekEnvelope(user, newest));
    expect(ok[0]!.getBlock()!.getHeader()!.getNumber()).toBe(fabric.network.blocks.height - 1);
  });
});

describe('emulator Broadcast service', () => {
  it('refuses an envelope not signed by its creator (FORBIDDEN) and malformed bytes (BAD_REQUEST)', async () => {
    const client = new orderer.AtomicBroadcastClient(fabric.ordererEndpoint, grpc.credentials.createInsecure());
    clients.push(client);
    const stream = client.broadcast();
    const answers: orderer.BroadcastResponse[] = [];
    const two = new Promise<void>((resolve) => {
      stream.on('data', (response: orderer.BroadcastResponse) => {
        answers.push(response);
        if (answers.length === 2) resolve();
      });
    });
    stream.write(seekEnvelope(user, new orderer.SeekInfo(), true));
    const junk = new common.Envelope();
    junk.setPayload(new Uint8Array([1, 2, 3]));
    stream.write(junk);
    await two;
    const closed = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.end();
    expect((await closed).code).toBe(grpc.status.OK);
    expect(answers.map((a) => a.getStatus())).toEqual([common.Status.FORBIDDEN, common.Status.BAD_REQUEST]);
  });
});
