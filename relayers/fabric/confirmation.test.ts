import { peer } from '@hyperledger/fabric-protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError, toHex } from '../../core-chain/index.ts';
import { connectFabric, type FabricClient } from '../../adapters/fabric/client.ts';
import { contracts, encodeMintArgs, initTransaction } from '../../adapters/fabric/chaincode/index.ts';
import { block, decisionEvent, SET_A, SYSTEM_ADDRESS } from '../../adapters/fabric/chaincode/test-kit.ts';
import { DecisionAction } from '../decision.ts';
import { CHAIN_ID } from '../../test/vectors/loulan/kit.ts';
import { startFabricEmulator, type FabricCredentials, type FabricEmulator } from '../../test/support/fabric/index.ts';
import { AssetContract } from '../../test/support/fabric/test-contract.ts';
import { fabricConfirmationVerifier, verifyFabricConfirmation, type VerifyFabricConfirmationOptions } from './confirmation.ts';
import { evidenceFromEnvelope, evidenceFromJson, evidenceToJson, verifyFabricEvidence, type FabricEvidence } from './evidence.ts';

// Confirmation evidence end to end: the real fabric-gateway client endorses read-only queries on the
// peer emulator's two organisations (never submitted), and the verifier decides from the signed bytes
// alone whether the committed state shows the effect.

const POLICY = "AND('Org1MSP.peer','Org2MSP.peer')";
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

let fabric: FabricEmulator;
const opened: FabricClient[] = [];
let assets: FabricClient;
let put: { txId: string; blockNumber: bigint };

async function clientOf(credentials: FabricCredentials, chaincode: string): Promise<FabricClient> {
  const client = await connectFabric({
    endpoint: fabric.endpoint,
    identity: { mspId: credentials.mspId, certificatePem: credentials.certificatePem, privateKeyPem: credentials.privateKeyPem },
    channel: fabric.channel,
    chaincode,
  });
  opened.push(client);
  return client;
}

function refusal(run: () => unknown): { code: string; details: Readonly<Record<string, unknown>> } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LoulanError);
    return { code: (error as LoulanError).code, details: (error as LoulanError).details };
  }
  throw new Error('verified');
}

const options = (expected: Partial<VerifyFabricConfirmationOptions['expected']> = {}): VerifyFabricConfirmationOptions => ({
  mspRoots: fabric.mspRoots,
  policy: POLICY,
  expected: { chaincode: 'assets', fcn: 'get', args: ['car'], result: utf8('blue'), ...expected },
});

beforeAll(async () => {
  fabric = await startFabricEmulator({
    chaincodes: [
      { name: 'assets', contracts: [AssetContract], policy: POLICY },
      { name: 'loulan', contracts: [...contracts], policy: POLICY },
    ],
  });
  assets = await clientOf(await fabric.newClient('Org1MSP'), 'assets');
  put = await assets.submit('put', ['car', 'blue']);
});

afterAll(async () => {
  for (const client of opened) client.close();
  await fabric.stop();
});

describe('fabric confirmation: valid', () => {
  it('an endorsed query of the committed state verifies, names the version it read, and never reaches the ledger', async () => {
    const height = await assets.height();
    const confirmation = await assets.confirm('get', ['car']);
    expect(text(confirmation.result)).toBe('blue');
    const confirmed = verifyFabricConfirmation(evidenceFromEnvelope(confirmation.envelope), options({ txId: confirmation.txId, channelId: fabric.channel }));
    expect(confirmed).toMatchObject({ chaincodeId: 'assets', fcn: 'get', args: [utf8('car')], result: utf8('blue'), txId: confirmation.txId });
    expect(confirmed.endorsers.map((e) => `${e.mspId}.${e.role}`).sort()).toEqual(['Org1MSP.peer', 'Org2MSP.peer']);
    // The key's committed version is the block (and index) of the transaction that wrote it.
    expect(confirmed.reads).toEqual([{ namespace: 'assets', key: 'car', version: { blockNum: put.blockNumber, txNum: 0n } }]);
    // Endorsed, never ordered.
    expect(await assets.height()).toBe(height);
    await expect(assets.transaction(confirmation.txId)).rejects.toMatchObject({ code: 'FABRIC_ENDORSE' });
  });

  it('accepts a predicate, a verifier built once, and the JSON form', async () => {
    const evidence = evidenceFromEnvelope((await assets.confirm('get', ['car'])).envelope);
    expect(verifyFabricConfirmation(evidence, options({ result: (r) => text(r).startsWith('bl') })).result).toEqual(utf8('blue'));
    const verifier = fabricConfirmationVerifier({ mspRoots: fabric.mspRoots, policy: POLICY });
    const json = JSON.parse(JSON.stringify(evidenceToJson(evidence))) as unknown;
    expect(verifier(evidenceFromJson(json), options().expected)).toEqual(verifyFabricConfirmation(evidence, options()));
  });
});

describe('fabric confirmation: proves the effect, not only the endorsement', () => {
  it('a hold that lost an MVCC race: its event evidence verifies, but the confirmation shows no hold', async () => {
    const relayer = await clientOf(await fabric.newClient('Org2MSP', 'relayer'), 'loulan');
    const alice = await clientOf(await fabric.newClient('Org1MSP', 'alice'), 'loulan');
    const init = initTransaction({ chainId: toHex(CHAIN_ID), validators: SET_A.publicKeys.map(toHex), systemAddress: SYSTEM_ADDRESS });
    await relayer.submit(init.fcn, init.args);
    const account = (JSON.parse(text(await alice.evaluate('points:whoami'))) as { account: string }).account;
    const mint = block(SET_A, 21n, [decisionEvent({ id: 'confirm-mint', action: DecisionAction.MINT, args: encodeMintArgs({ account, amount: 100n }) })]).proofArgs(0);
    await relayer.submit('points:executeDecision', mint);

    // Both holds read the same balance; the later one in the block is invalidated.
    const results = await Promise.allSettled([alice.submit('points:hold', ['hold-a', '60', '9999999999999']), alice.submit('points:hold', ['hold-b', '60', '9999999999999'])]);
    const won = results.find((r) => r.status === 'fulfilled')!.value;
    const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as LoulanError;
    expect(lost.details['validationCode']).toBe('MVCC_READ_CONFLICT');
    const lostTx = await alice.transaction(String(lost.details['txId']));
    const lostEvent = verifyFabricEvidence(evidenceFromEnvelope(lostTx.envelope), { mspRoots: fabric.mspRoots, policy: POLICY, expected: { chaincode: 'loulan', eventName: 'points.hold' } });
    const lostHold = JSON.parse(text(lostEvent.payload)) as { holdId: string };
    const winner = (JSON.parse(text(won.result)) as { holdId: string }).holdId;
    const loser = lostHold.holdId;
    expect([winner, loser].sort()).toEqual(['hold-a', 'hold-b']);

    const confirm = async (holdId: string): Promise<FabricEvidence> => evidenceFromEnvelope((await alice.confirm('points:getHold', [holdId])).envelope);
    const holdOptions = (holdId: string, result: Uint8Array): VerifyFabricConfirmationOptions => ({
      mspRoots: fabric.mspRoots,
      policy: POLICY,
      expected: { chaincode: 'loulan', fcn: 'points:getHold', args: [holdId], result },
    });
    // The winner's effect is in the committed state, written by the winner's block.
    const winnerEvidence = await confirm(winner);
    const confirmed = verifyFabricConfirmation(winnerEvidence, holdOptions(winner, won.result));
    expect(confirmed.reads.find((r) => r.key.includes(winner))?.version?.blockNum).toBe(won.blockNumber);
    // The loser's claimed effect (its own endorsed result) is not.
    const loserEvidence = await confirm(loser);
    expect(refusal(() => verifyFabricConfirmation(loserEvidence, holdOptions(loser, lostEvent.result)))).toEqual({
      code: 'FABRIC_RESULT_MISMATCH',
      details: { field: 'result', actual: Buffer.from('null').toString('base64url') },
    });
    const absent = verifyFabricConfirmation(loserEvidence, holdOptions(loser, utf8('null'))).reads.find((r) => r.key.includes(loser));
    expect(absent).toBeDefined();
    expect(absent).not.toHaveProperty('version');
    // Nor can the winner's confirmation stand in for a query of the loser's hold.
    expect(refusal(() => verifyFabricConfirmation(winnerEvidence, holdOptions(loser, won.result)))).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'args', index: 0 } });
  });
});

/** The evidence with its ChaincodeAction's response payload replaced (endorsements left as they were). */
function withResult(evidence: FabricEvidence, result: Uint8Array): FabricEvidence {
  const payload = peer.ProposalResponsePayload.deserializeBinary(evidence.proposalResponsePayload);
  const action = peer.ChaincodeAction.deserializeBinary(payload.getExtension_asU8());
  action.getResponse()!.setPayload(result);
  payload.setExtension$(action.serializeBinary());
  return { ...evidence, proposalResponsePayload: payload.serializeBinary() };
}

describe('fabric confirmation: refused', () => {
  it('a confirmation endorsed by one organisation under AND: FABRIC_POLICY_UNMET', async () => {
    const lonely = await assets.confirm('get', ['car'], { endorsingOrganizations: ['Org1MSP'] });
    expect(text(lonely.result)).toBe('blue');
    expect(refusal(() => verifyFabricConfirmation(evidenceFromEnvelope(lonely.envelope), options()))).toEqual({
      code: 'FABRIC_POLICY_UNMET',
      details: { policy: POLICY.replaceAll("','", "', '"), endorsers: ['Org1MSP.peer'] },
    });
    // The same endorsement satisfies OR.
    expect(verifyFabricConfirmation(evidenceFromEnvelope(lonely.envelope), { ...options(), policy: "OR('Org1MSP.peer','Org2MSP.peer')" }).result).toEqual(utf8('blue'));
  });

  it('an endorsed write passed off as a confirmation: FABRIC_EVENT_MISMATCH writes, and nothing was written', async () => {
    const write = await assets.confirm('put', ['car', 'red']);
    expect(text(write.result)).toBe('red');
    expect(refusal(() => verifyFabricConfirmation(evidenceFromEnvelope(write.envelope), options({ fcn: 'put', args: ['car', 'red'], result: utf8('red') })))).toEqual({
      code: 'FABRIC_EVENT_MISMATCH',
      details: { field: 'writes', namespace: 'assets', count: 1 },
    });
    expect(text(await assets.evaluate('get', ['car']))).toBe('blue');
    // A committed write's own envelope is refused the same way.
    const committed = await assets.transaction(put.txId);
    expect(refusal(() => verifyFabricConfirmation(evidenceFromEnvelope(committed.envelope), options({ fcn: 'put', args: ['car', 'blue'] }))).details).toMatchObject({ field: 'writes' });
  });

  it('a tampered result: FABRIC_BAD_ENDORSEMENT; an unexpected one: FABRIC_RESULT_MISMATCH', async () => {
    const evidence = evidenceFromEnvelope((await assets.confirm('get', ['car'])).envelope);
    expect(refusal(() => verifyFabricConfirmation(withResult(evidence, utf8('red')), options({ result: utf8('red') })))).toEqual({
      code: 'FABRIC_BAD_ENDORSEMENT',
      details: { index: 0, field: 'signature' },
    });
    expect(refusal(() => verifyFabricConfirmation(evidence, options({ result: utf8('red') })))).toEqual({
      code: 'FABRIC_RESULT_MISMATCH',
      details: { field: 'result', actual: Buffer.from('blue').toString('base64url') },
    });
    expect(refusal(() => verifyFabricConfirmation(evidence, options({ result: () => false }))).code).toBe('FABRIC_RESULT_MISMATCH');
  });

  it('another query than the one claimed: FABRIC_EVENT_MISMATCH function, args, chaincode', async () => {
    await assets.submit('put', ['van', 'blue']);
    const evidence = evidenceFromEnvelope((await assets.confirm('get', ['van'])).envelope);
    expect(refusal(() => verifyFabricConfirmation(evidence, options()))).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'args', index: 0 } });
    expect(refusal(() => verifyFabricConfirmation(evidence, options({ args: ['van', 'x'] })))).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'args', expected: 2, actual: 1 } });
    expect(refusal(() => verifyFabricConfirmation(evidence, options({ fcn: 'list', args: ['van'] })))).toEqual({
      code: 'FABRIC_EVENT_MISMATCH',
      details: { field: 'function', expected: 'list', actual: 'get' },
    });
    expect(refusal(() => verifyFabricConfirmation(evidence, options({ chaincode: 'loulan', args: ['van'] })))).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'chaincode' } });
  });

  it('a query the chaincode refuses is not endorsed: FABRIC_ENDORSE with the tx id', async () => {
    const error = await assets.confirm('get', ['no-such-car']).then(
      () => undefined,
      (e: unknown) => e as LoulanError,
    );
    expect(error?.code).toBe('FABRIC_ENDORSE');
    expect(error?.details).toMatchObject({ txId: expect.stringMatching(/^[0-9a-f]{64}$/), operation: 'endorse' });
  });
});
