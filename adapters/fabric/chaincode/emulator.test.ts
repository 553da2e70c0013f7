import type { Contract } from '@hyperledger/fabric-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, type LoulanError } from '../../../core-chain/index.ts';
import { DecisionAction } from '../../../relayers/index.ts';
import { CHAIN_ID } from '../../../test/vectors/loulan/kit.ts';
import { gatewayContract, startFabricEmulator, type FabricCredentials, type FabricEmulator, type GatewayContract } from '../../../test/support/fabric/index.ts';
import { chaincodeErrorFromMessage, contracts, encodeMintArgs, initTransaction } from './index.ts';
import { block, decisionEvent, SET_A, SYSTEM_ADDRESS } from './test-kit.ts';

// The chaincode hosted by the Fabric peer emulator and driven by the real fabric-gateway client:
// endorsed by two organisations' peers (each runs the chaincode; their results must agree byte for
// byte), with failures carried to the client as the peer's message.

let fabric: FabricEmulator;
const opened: GatewayContract[] = [];

function contractOf(credentials: FabricCredentials): Contract {
  const connection = gatewayContract(fabric.endpoint, fabric.channel, credentials, 'loulan');
  opened.push(connection);
  return connection.contract;
}

/** The LoulanError in a gateway error: the peers' messages are in `details`. */
function loulanErrorOf(error: unknown): LoulanError | undefined {
  const e = error as { message?: string; details?: { message?: string }[] };
  const texts = [...(e.details ?? []).map((d) => d.message ?? ''), e.message ?? ''];
  for (const text of texts) {
    const found = chaincodeErrorFromMessage(text);
    if (found !== undefined) return found;
  }
  return undefined;
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

let relayer: Contract;
let alice: Contract;

beforeAll(async () => {
  fabric = await startFabricEmulator({
    channel: 'loulan',
    orgs: ['Org1MSP', 'Org2MSP'],
    chaincodes: [{ name: 'loulan', contracts: [...contracts], policy: "AND('Org1MSP.peer','Org2MSP.peer')" }],
  });
  relayer = contractOf(await fabric.newClient('Org2MSP', 'relayer'));
  alice = contractOf(await fabric.newClient('Org1MSP', 'alice'));
  const init = initTransaction({ chainId: toHex(CHAIN_ID), validators: SET_A.publicKeys.map(toHex), systemAddress: SYSTEM_ADDRESS });
  await relayer.submitTransaction(init.fcn, ...init.args);
});

afterAll(async () => {
  for (const connection of opened) connection.close();
  await fabric?.stop();
});

describe('chaincode in the Fabric peer emulator', () => {
  it('executes a certified mint once, endorsed by both organisations', async () => {
    const account = (JSON.parse(text(await alice.evaluateTransaction('points:whoami'))) as { account: string }).account;
    expect(account).toMatch(/^x509::/);
    const proof = block(SET_A, 12n, [decisionEvent({ id: 'emu-mint', action: DecisionAction.MINT, args: encodeMintArgs({ account, amount: 250n }) })]).proofArgs(0);
    const result = JSON.parse(text(await relayer.submitTransaction('points:executeDecision', ...proof))) as Record<string, unknown>;
    expect(result).toMatchObject({ action: DecisionAction.MINT, account, amount: '250', height: '12' });
    expect(JSON.parse(text(await alice.evaluateTransaction('points:balanceOf', account)))).toEqual({ account, balance: '250' });

    let thrown: unknown;
    await relayer.submitTransaction('points:executeDecision', ...proof).catch((error: unknown) => (thrown = error));
    expect(loulanErrorOf(thrown)?.code).toBe('DECISION_CONSUMED');
  });

  it('carries a verifier failure and its details to the client', async () => {
    const proof = block(SET_A, 13n, [decisionEvent({ id: 'emu-forged', action: DecisionAction.MINT, args: encodeMintArgs({ account: 'x', amount: 1n }) })], {}, [0, 1]).proofArgs(0);
    let thrown: unknown;
    await relayer.evaluateTransaction('points:executeDecision', ...proof).catch((error: unknown) => (thrown = error));
    const error = loulanErrorOf(thrown);
    expect(error?.code).toBe('CERT_TOO_FEW_SIGNERS');
    expect(error?.details).toEqual({ have: 2, need: 3 });
  });
});
