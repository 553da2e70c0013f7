import { createHash } from 'node:crypto';
import type { Contract } from '@hyperledger/fabric-gateway';
import { common, peer } from '@hyperledger/fabric-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockHeaderHash } from './ledger.ts';
import { gatewayContract, startFabricEmulator, type FabricCredentials, type FabricEmulator, type GatewayContract } from './index.ts';
import { AssetContract } from './test-contract.ts';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const Code = peer.TxValidationCode;

let fabric: FabricEmulator;
const opened: GatewayContract[] = [];

/** The raw fabric-gateway API, to drive endorse and submit separately. */
function contract(credentials: FabricCredentials, chaincode: string): Contract {
  const connection = gatewayContract(fabric.endpoint, fabric.channel, credentials, chaincode);
  opened.push(connection);
  return connection.contract;
}

let org1: Contract;
let org3: Contract;

beforeAll(async () => {
  fabric = await startFabricEmulator({
    channel: 'emu',
    orgs: ['Org1MSP', 'Org2MSP', 'Org3MSP'],
    chaincodes: [
      { name: 'assets', contracts: [AssetContract], policy: "AND('Org1MSP.peer','Org2MSP.peer')" },
      { name: 'two', contracts: [AssetContract], policy: "OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')" },
      { name: 'members', contracts: [AssetContract], policy: "OR('Org3MSP.member')" },
    ],
  });
  org1 = contract(await fabric.newClient('Org1MSP'), 'assets');
  org3 = contract(await fabric.newClient('Org3MSP'), 'two');
});

afterAll(async () => {
  for (const connection of opened) connection.close();
  await fabric.stop();
});

async function statusOf(tx: Awaited<ReturnType<ReturnType<Contract['newProposal']>['endorse']>>): Promise<number> {
  const submitted = await tx.submit();
  return (await submitted.getStatus()).code;
}

describe('fabric peer emulator: chaincode hosting', () => {
  it('dispatches by method name, qualified or not, and hides Contract and underscore methods', async () => {
    await org1.submitTransaction('assets:put', 'k1', 'v1');
    expect(text(await org1.evaluateTransaction('get', 'k1'))).toBe('v1');
    await expect(org1.evaluateTransaction('_helper')).rejects.toThrow(/does not exist/);
    await expect(org1.evaluateTransaction('beforeTransaction')).rejects.toThrow(/does not exist/);
    await expect(org1.evaluateTransaction('nope:get', 'k1')).rejects.toThrow(/Contract name is not known/);
  });

  it('refuses a call with another number of arguments than the function declares', async () => {
    await expect(org1.evaluateTransaction('get')).rejects.toThrow(/Expected 1 parameters, but 0/);
    await expect(org1.evaluateTransaction('get', 'a', 'b')).rejects.toThrow(/Expected 1 parameters, but 2/);
  });

  it('simulates against committed state: a transaction does not read its own write', async () => {
    await org1.submitTransaction('put', 'rw', 'old');
    expect(text(await org1.submitTransaction('putThenGet', 'rw', 'new'))).toBe('old');
    expect(text(await org1.evaluateTransaction('get', 'rw'))).toBe('new');
  });

  it('keeps composite keys out of plain range scans and finds them by partial key', async () => {
    await org1.submitTransaction('tag', 'alice', 't2');
    await org1.submitTransaction('tag', 'alice', 't1');
    await org1.submitTransaction('tag', 'bob', 't3');
    expect(JSON.parse(text(await org1.evaluateTransaction('tags', 'alice')))).toEqual(['t1', 't2']);
    const keys = JSON.parse(text(await org1.evaluateTransaction('list'))) as string[];
    expect(keys.every((key) => !key.startsWith('\u0000'))).toBe(true);
    expect(keys).toEqual([...keys].sort());
  });

  it('refuses to endorse when the endorsing peers simulate different results (non-deterministic chaincode)', async () => {
    const error = (await org1.submitTransaction('lottery').catch((e: unknown) => e)) as { name?: string; details?: { message: string }[] };
    expect(error.name).toBe('EndorseError');
    expect(error.details?.[0]?.message).toMatch(/do not match/);
  });

  it('deletes keys', async () => {
    await org1.submitTransaction('put', 'gone', 'x');
    await org1.submitTransaction('remove', 'gone');
    await expect(org1.evaluateTransaction('get', 'gone')).rejects.toThrow(/no asset gone/);
  });
});

describe('fabric peer emulator: validation at commit', () => {
  it('marks a write that read a key changed after endorsement MVCC_READ_CONFLICT', async () => {
    await org1.submitTransaction('put', 'mv', '5');
    const first = await org1.newProposal('increment', { arguments: ['mv'] }).endorse();
    const second = await org1.newProposal('increment', { arguments: ['mv'] }).endorse();
    expect(await statusOf(first)).toBe(Code.VALID);
    expect(await statusOf(second)).toBe(Code.MVCC_READ_CONFLICT);
    expect(text(await org1.evaluateTransaction('get', 'mv'))).toBe('6');
  });

  it('marks a range scan whose result changed before commit PHANTOM_READ_CONFLICT', async () => {
    const scan = await org1.newProposal('snapshot').endorse();
    const insert = await org1.newProposal('put', { arguments: ['phantom', 'boo'] }).endorse();
    expect(await statusOf(insert)).toBe(Code.VALID);
    expect(await statusOf(scan)).toBe(Code.PHANTOM_READ_CONFLICT);
  });

  it('evaluates OutOf(2, ...) with distinct organisations and the member role', async () => {
    expect(await statusOf(await org3.newProposal('put', { arguments: ['o', '1'], endorsingOrganizations: ['Org1MSP', 'Org3MSP'] }).endorse())).toBe(Code.VALID);
    expect(await statusOf(await org3.newProposal('put', { arguments: ['o', '2'], endorsingOrganizations: ['Org2MSP'] }).endorse())).toBe(Code.ENDORSEMENT_POLICY_FAILURE);
    const members = contract(await fabric.newClient('Org1MSP'), 'members');
    expect(await statusOf(await members.newProposal('put', { arguments: ['m', '1'] }).endorse())).toBe(Code.VALID);
    expect(await statusOf(await members.newProposal('put', { arguments: ['m', '2'], endorsingOrganizations: ['Org1MSP'] }).endorse())).toBe(Code.ENDORSEMENT_POLICY_FAILURE);
  });

  it('keeps a resubmitted transaction in its block as DUPLICATE_TXID, first commit wins', async () => {
    const tx = await org1.newProposal('put', { arguments: ['dup', '1'] }).endorse();
    expect(await statusOf(tx)).toBe(Code.VALID);
    const again = await tx.submit();
    const status = await again.getStatus();
    expect(status.code).toBe(Code.VALID);
    // The copy is in a later block, marked duplicate, and wrote nothing.
    fabric.network.cutBlock();
    const last = fabric.network.blocks.at(fabric.network.blocks.height - 1)!;
    const copy = last.txs.find((record) => record.txId === tx.getTransactionId());
    expect(copy?.code).toBe(Code.DUPLICATE_TXID);
    await expect(org1.newProposal('get', { arguments: ['dup'] }).evaluate()).resolves.toBeDefined();
  });
});

describe('fabric peer emulator: blocks', () => {
  it('chains block headers by hash and records each transaction validation code in metadata', async () => {
    const { network } = fabric;
    expect(network.blocks.height).toBeGreaterThan(5);
    for (let n = 0; n < network.blocks.height; n++) {
      const stored = network.blocks.at(n)!;
      const header = stored.block.getHeader()!;
      expect(header.getNumber()).toBe(n);
      const previous = n === 0 ? new Uint8Array(0) : network.blocks.at(n - 1)!.hash;
      expect(header.getPreviousHash_asU8()).toEqual(previous);
      const data = stored.block.getData()!.getDataList_asU8();
      const dataHash = createHash('sha256');
      for (const envelope of data) dataHash.update(envelope);
      expect(header.getDataHash_asU8()).toEqual(new Uint8Array(dataHash.digest()));
      expect(blockHeaderHash(header)).toEqual(stored.hash);
      expect([...stored.block.getMetadata()!.getMetadataList_asU8()[2]!]).toEqual(stored.txs.map((tx) => tx.code));
    }
  });

  it('serves blocks, transactions and chain info through qscc', async () => {
    const qscc = contract(await fabric.newClient('Org2MSP'), 'qscc');
    const info = common.BlockchainInfo.deserializeBinary(await qscc.evaluateTransaction('GetChainInfo', 'emu'));
    expect(info.getHeight()).toBe(fabric.network.blocks.height);
    expect(info.getCurrentblockhash_asU8()).toEqual(fabric.network.blocks.at(info.getHeight() - 1)!.hash);
    const block = common.Block.deserializeBinary(await qscc.evaluateTransaction('GetBlockByNumber', 'emu', '1'));
    expect(block.serializeBinary()).toEqual(fabric.network.blocks.at(1)!.block.serializeBinary());
    const txId = fabric.network.blocks.at(1)!.txs[0]!.txId;
    const processed = peer.ProcessedTransaction.deserializeBinary(await qscc.evaluateTransaction('GetTransactionByID', 'emu', txId));
    expect(processed.getValidationcode()).toBe(Code.VALID);
    await expect(qscc.evaluateTransaction('GetTransactionByID', 'emu', 'f'.repeat(64))).rejects.toThrow(/no such transaction/);
    await expect(qscc.submitTransaction('GetChainInfo', 'emu')).rejects.toThrow();
  });
});
