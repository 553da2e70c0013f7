/**
 * A route of kind `fabric` end to end: a relayer sends a `decision.execute` message to the switch, the
 * switch delivers it through the Fabric adapter (the real fabric-gateway client over gRPC) to the
 * points chaincode on the peer emulator, endorsed by both organisations, and the chaincode executes
 * the certified decision once. The chaincode trusts a validator set of the vector kit, which certifies
 * the decision blocks here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Contract } from '@hyperledger/fabric-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core-chain/index.ts';
import { contracts, encodeMintArgs, initTransaction } from '../../adapters/fabric/chaincode/index.ts';
import { block, decisionEvent, SET_A } from '../../adapters/fabric/chaincode/test-kit.ts';
import { DecisionAction, systemId } from '../../relayers/index.ts';
import type { MessageRecord } from '../../switch/model.ts';
import { CHAIN_ID } from '../vectors/loulan/kit.ts';
import { gatewayContract, startFabricEmulator, type FabricCredentials, type FabricEmulator, type GatewayContract } from '../support/fabric/index.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { relayDecision } from '../support/relay.ts';

const TARGET = 'cn.loulan.partner.trade.fabric';
const scratch = mkdtempSync(join(tmpdir(), 'loulan-switch-fabric-'));
let fabric: FabricEmulator;
let net: TestConsortium;
let alice: Contract;
let account: string;
let seq = 0;
const opened: GatewayContract[] = [];

function contractOf(credentials: FabricCredentials): Contract {
  const connection = gatewayContract(fabric.endpoint, fabric.channel, credentials, 'loulan');
  opened.push(connection);
  return connection.contract;
}

beforeAll(async () => {
  fabric = await startFabricEmulator({
    channel: 'loulan',
    orgs: ['Org1MSP', 'Org2MSP'],
    chaincodes: [{ name: 'loulan', contracts: [...contracts], policy: "AND('Org1MSP.peer','Org2MSP.peer')" }],
  });
  const operator = contractOf(await fabric.newClient('Org2MSP', 'operator'));
  const init = initTransaction({ chainId: toHex(CHAIN_ID), validators: SET_A.publicKeys.map(toHex), systemAddress: TARGET });
  await operator.submitTransaction(init.fcn, ...init.args);
  alice = contractOf(await fabric.newClient('Org1MSP', 'alice'));
  account = (JSON.parse(new TextDecoder().decode(await alice.evaluateTransaction('points:whoami'))) as { account: string }).account;

  // The switch's own Fabric identity (Org1), as files its configuration names.
  const id = await fabric.newClient('Org1MSP', 'switch');
  writeFileSync(join(scratch, 'switch-cert.pem'), id.certificatePem);
  writeFileSync(join(scratch, 'switch-key.pem'), id.privateKeyPem, { mode: 0o600 });
  net = await startConsortium({
    routes: [
      {
        prefix: TARGET,
        link: {
          adapter: { kind: 'fabric', endpoint: `grpc://${fabric.endpoint}`, mspId: 'Org1MSP', channel: fabric.channel, chaincode: 'loulan' },
          ordered: false,
          retry: { maxAttempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 },
        },
      },
    ],
    switchFile: { fabric: { identities: { Org1MSP: { certificate: join(scratch, 'switch-cert.pem'), privateKey: join(scratch, 'switch-key.pem') } } } },
  });
}, 120_000);

afterAll(async () => {
  await net?.stop();
  for (const connection of opened) connection.close();
  await fabric?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A certified mint of `amount` to alice, as decision.execute data. */
function mint(label: string, amount: bigint, height: bigint, signers?: readonly number[]) {
  const b = block(SET_A, height, [decisionEvent({ id: label, action: DecisionAction.MINT, args: encodeMintArgs({ account, amount }), target: systemId(TARGET) })], {}, signers);
  const [headerBytes, certificateJson, event, index, pathJson] = b.proofArgs(0) as [string, string, string, string, string];
  // The vector kit writes certificates as {height, view, digest, sigs: [{from, sig}]}; messages carry the node's form.
  const cert = JSON.parse(certificateJson) as { height: string; view: string; digest: string; sigs: { from: number; sig: string }[] };
  return {
    decision: {
      headerBytes,
      certificate: { height: cert.height, view: cert.view, blockHash: cert.digest, signatures: cert.sigs.map((s) => ({ validator: s.from, signature: s.sig })) },
      validatorKeys: SET_A.publicKeys.map(toHex),
      event,
      eventIndex: Number(index),
      eventPath: JSON.parse(pathJson) as unknown,
    },
  };
}

function relay(id: string, data: unknown): Promise<MessageRecord> {
  seq += 1;
  return relayDecision(net, { id, to: TARGET, seq, data });
}

const balance = async () => (JSON.parse(new TextDecoder().decode(await alice.evaluateTransaction('points:balanceOf', account))) as { balance: string }).balance;

describe('switch → fabric route', () => {
  it('executes a certified decision in the chaincode once; a second message with it is delivered without a second effect', async () => {
    const data = mint('fabric-switch-1', 300n, 20n);
    const first = await relay('f-1', data);
    expect(first.status, JSON.stringify(first.lastError)).toBe('delivered');
    expect(first.receipt?.evidence).toMatchObject({ txId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await balance()).toBe('300');

    const again = await relay('f-2', data);
    expect(again.status).toBe('delivered');
    expect(await balance()).toBe('300');
  });

  it('dead-letters a decision the chaincode refuses, with the chaincode\'s code in the reason, and moves nothing', async () => {
    const tooFew = await relay('f-3', mint('fabric-switch-2', 999n, 21n, [0, 1]));
    expect(tooFew.status).toBe('dead');
    expect(tooFew.lastError?.code).toBe('CERT_TOO_FEW_SIGNERS');
    expect(tooFew.lastError?.message).toContain('chaincode response 500');
    expect(await balance()).toBe('300');
  });
});
