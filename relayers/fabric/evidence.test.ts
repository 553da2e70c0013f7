import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import { connectFabric, type FabricClient, type SubmitResult } from '../../adapters/fabric/client.ts';
import { createFabricCa, startFabricEmulator, type FabricEmulator } from '../../test/support/fabric/index.ts';
import { AssetContract } from '../../test/support/fabric/test-contract.ts';
import { evidenceFromEnvelope, evidenceFromJson, evidenceToJson, fabricEvidenceVerifier, verifyFabricEvidence, type FabricEvidence, type VerifyFabricEvidenceOptions } from './evidence.ts';
import { signFabric } from './msp.ts';

const POLICY = "AND('Org1MSP.peer','Org2MSP.peer')";
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

let fabric: FabricEmulator;
let client: FabricClient;
let put: SubmitResult;
let options: VerifyFabricEvidenceOptions;

function codeOf(run: () => unknown): { code: string; details: Readonly<Record<string, unknown>> } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LoulanError);
    return { code: (error as LoulanError).code, details: (error as LoulanError).details };
  }
  throw new Error('verified');
}

function withPayloadByte(evidence: FabricEvidence, index: number): FabricEvidence {
  const payload = Uint8Array.from(evidence.proposalResponsePayload);
  payload[index] = payload[index]! ^ 0x01;
  return { ...evidence, proposalResponsePayload: payload };
}

/** The same ECDSA signature with s replaced by n - s (valid maths, refused as malleable). */
function highS(der: Uint8Array): Uint8Array {
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const rLength = der[3]!;
  const r = der.subarray(4, 4 + rLength);
  const sLength = der[5 + rLength]!;
  const s = BigInt(`0x${Buffer.from(der.subarray(6 + rLength, 6 + rLength + sLength)).toString('hex')}`);
  let hex = (n - s).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let sBytes = Buffer.from(hex, 'hex');
  if ((sBytes[0]! & 0x80) !== 0) sBytes = Buffer.concat([Buffer.of(0), sBytes]);
  const body = Buffer.concat([Buffer.of(0x02, r.length), r, Buffer.of(0x02, sBytes.length), sBytes]);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]));
}

beforeAll(async () => {
  fabric = await startFabricEmulator({ chaincodes: [{ name: 'assets', contracts: [AssetContract], policy: POLICY }] });
  const user = await fabric.newClient('Org1MSP');
  client = await connectFabric({
    endpoint: fabric.endpoint,
    identity: { mspId: 'Org1MSP', certificatePem: user.certificatePem, privateKeyPem: user.privateKeyPem },
    channel: fabric.channel,
    chaincode: 'assets',
  });
  put = await client.submit('put', ['lock-7', '100']);
  options = { mspRoots: fabric.mspRoots, policy: POLICY, expected: { chaincode: 'assets', eventName: 'put', payload: utf8(JSON.stringify({ key: 'lock-7', value: '100' })) } };
});

afterAll(async () => {
  client.close();
  await fabric.stop();
});

describe('fabric evidence: valid', () => {
  it('verifies a committed transaction and returns its event and endorsers', () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    expect(evidence).toMatchObject({ channelId: fabric.channel, txId: put.txId, chaincodeId: 'assets' });
    expect(evidence.endorsements).toHaveLength(2);
    const event = verifyFabricEvidence(evidence, { ...options, expected: { ...options.expected, txId: put.txId, channelId: fabric.channel } });
    expect(event.eventName).toBe('put');
    expect(event.txId).toBe(put.txId);
    expect(new TextDecoder().decode(event.result)).toBe('100');
    expect(event.endorsers.map((e) => `${e.mspId}.${e.role}`).sort()).toEqual(['Org1MSP.peer', 'Org2MSP.peer']);
  });

  it('verifies the same with a verifier built once for the network', () => {
    const verifier = fabricEvidenceVerifier({ mspRoots: fabric.mspRoots, policy: POLICY });
    expect(verifier(evidenceFromEnvelope(put.envelope), options.expected)).toEqual(verifyFabricEvidence(evidenceFromEnvelope(put.envelope), options));
    expect(() => verifier(withPayloadByte(evidenceFromEnvelope(put.envelope), 3), options.expected)).toThrow(LoulanError);
  });

  it('is the same evidence when fetched later from the ledger (qscc) and after a JSON round trip', async () => {
    const fetched = await client.transaction(put.txId);
    expect(fetched.validationCode).toBe(0);
    const evidence = evidenceFromEnvelope(fetched.envelope);
    expect(evidence).toEqual(evidenceFromEnvelope(put.envelope));
    const json = JSON.parse(JSON.stringify(evidenceToJson(evidence))) as unknown;
    expect(evidenceFromJson(json)).toEqual(evidence);
    expect(verifyFabricEvidence(evidenceFromJson(json), options).txId).toBe(put.txId);
  });
});

describe('fabric evidence: refused', () => {
  it('a tampered payload: FABRIC_BAD_ENDORSEMENT', () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    for (const index of [0, 10, evidence.proposalResponsePayload.length - 1]) {
      expect(codeOf(() => verifyFabricEvidence(withPayloadByte(evidence, index), options))).toEqual({ code: 'FABRIC_BAD_ENDORSEMENT', details: { index: 0, field: 'signature' } });
    }
  });

  it('a high-S copy of a valid signature, or one from another key: FABRIC_BAD_ENDORSEMENT', async () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    const [first, second] = evidence.endorsements;
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [first!, { ...second!, signature: highS(second!.signature) }] }, options))).toMatchObject({ code: 'FABRIC_BAD_ENDORSEMENT', details: { index: 1 } });
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [{ ...first!, signature: second!.signature }, second!] }, options))).toMatchObject({ code: 'FABRIC_BAD_ENDORSEMENT', details: { index: 0 } });
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [{ ...first!, endorser: utf8('junk') }, second!] }, options))).toMatchObject({ code: 'FABRIC_BAD_ENDORSEMENT', details: { field: 'endorser' } });
  });

  it('an endorsement from a CA the MSP did not register, or from an unregistered MSP: FABRIC_UNKNOWN_CA', async () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    const rogue = await (await createFabricCa('Org2MSP')).issue('peer0.org2msp', 'peer');
    const forged = { endorser: rogue.serialized, signature: signFabric(rogue.privateKey, Buffer.concat([evidence.proposalResponsePayload, rogue.serialized])) };
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [evidence.endorsements[0]!, forged] }, options))).toEqual({
      code: 'FABRIC_UNKNOWN_CA',
      details: { mspId: 'Org2MSP', reason: 'not-issued-by-root', index: 1 },
    });
    const stranger = await (await createFabricCa('Org3MSP')).issue('peer0.org3msp', 'peer');
    const foreign = { endorser: stranger.serialized, signature: signFabric(stranger.privateKey, Buffer.concat([evidence.proposalResponsePayload, stranger.serialized])) };
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [...evidence.endorsements, foreign] }, options))).toMatchObject({ code: 'FABRIC_UNKNOWN_CA', details: { mspId: 'Org3MSP', reason: 'unknown-msp' } });
  });

  it('endorsements that do not meet the policy, counting one signer once: FABRIC_POLICY_UNMET', async () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    const org1 = evidence.endorsements[0]!;
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [org1] }, options))).toEqual({
      code: 'FABRIC_POLICY_UNMET',
      details: { policy: POLICY.replaceAll("','", "', '"), endorsers: ['Org1MSP.peer'] },
    });
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [org1, org1] }, options)).code).toBe('FABRIC_POLICY_UNMET');
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [] }, options)).code).toBe('FABRIC_POLICY_UNMET');
    // A client certificate of Org2 is a member but not a peer.
    const org2Client = await fabric.newClient('Org2MSP');
    const byClient = { endorser: org2Client.serialized, signature: signFabric(org2Client.privateKey, Buffer.concat([evidence.proposalResponsePayload, org2Client.serialized])) };
    expect(codeOf(() => verifyFabricEvidence({ ...evidence, endorsements: [org1, byClient] }, options)).details['endorsers']).toEqual(['Org1MSP.peer', 'Org2MSP.client']);
    expect(verifyFabricEvidence({ ...evidence, endorsements: [org1, byClient] }, { ...options, policy: "AND('Org1MSP.peer','Org2MSP.member')" }).txId).toBe(put.txId);
  });

  it('a payload that does not hold the claimed event, or claims that the signed bytes contradict: FABRIC_EVENT_MISMATCH', async () => {
    const evidence = evidenceFromEnvelope(put.envelope);
    const mismatch = (e: FabricEvidence, o: VerifyFabricEvidenceOptions = options) => codeOf(() => verifyFabricEvidence(e, o));
    expect(mismatch(evidence, { ...options, expected: { ...options.expected, eventName: 'burned' } })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'eventName' } });
    expect(mismatch(evidence, { ...options, expected: { ...options.expected, payload: utf8('{}') } })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'payload' } });
    expect(mismatch(evidence, { ...options, expected: { ...options.expected, chaincode: 'points' } })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'chaincode' } });
    expect(mismatch(evidence, { ...options, expected: { ...options.expected, txId: 'a'.repeat(64) } })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'txId' } });
    expect(mismatch({ ...evidence, txId: 'a'.repeat(64) })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'txId' } });
    expect(mismatch({ ...evidence, channelId: 'other' })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'channelId' } });
    expect(mismatch({ ...evidence, chaincodeId: 'other' })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'chaincodeId' } });
    // The header of another transaction does not hash to this payload's proposal hash.
    const other = evidenceFromEnvelope((await client.submit('put', ['other', '1'])).envelope);
    expect(mismatch({ ...evidence, header: other.header, txId: other.txId })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'proposalHash' } });
    expect(mismatch({ ...evidence, proposalPayload: other.proposalPayload })).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'proposalHash' } });
    // A transaction that emitted no event proves none.
    const silent = evidenceFromEnvelope((await client.submit('remove', ['other'])).envelope);
    expect(mismatch(silent)).toMatchObject({ code: 'FABRIC_EVENT_MISMATCH', details: { field: 'event' } });
  });

  it('malformed evidence JSON: FABRIC_BAD_ENDORSEMENT naming the field', () => {
    const json = evidenceToJson(evidenceFromEnvelope(put.envelope));
    expect(codeOf(() => evidenceFromJson({ ...json, version: 2 })).details).toEqual({ field: 'version' });
    expect(codeOf(() => evidenceFromJson({ ...json, header: 'not base64url!' })).details).toEqual({ field: 'header' });
    expect(codeOf(() => evidenceFromJson({ ...json, endorsements: [{ endorser: 'AA' }] })).details).toEqual({ field: 'endorsements/0/signature' });
    expect(codeOf(() => evidenceFromEnvelope(utf8('not an envelope'))).code).toBe('FABRIC_BAD_ENDORSEMENT');
  });
});

describe('fabric evidence: trust boundary', () => {
  it('proves endorsement, not validity: an endorsed transaction that lost an MVCC race still verifies', async () => {
    await client.submit('put', ['race', '0']);
    const results = await Promise.allSettled([client.submit('increment', ['race']), client.submit('increment', ['race'])]);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as LoulanError;
    expect(lost.details['validationCode']).toBe('MVCC_READ_CONFLICT');
    const committed = await client.transaction(String(lost.details['txId']));
    expect(committed.validationCode).toBe(11);
    const event = verifyFabricEvidence(evidenceFromEnvelope(committed.envelope), { ...options, expected: { chaincode: 'assets', eventName: 'incremented' } });
    expect(event.txId).toBe(lost.details['txId']);
  });
});
