/**
 * Test fixtures for the chaincode: a core chain made of certified headers that carry our own events
 * (decisions), built with the shared vector kit so that every certificate is real secp256k1 over the
 * real commit bytes, and a harness initialised to trust it.
 *
 * Test support only (imports core-chain internals to build blocks); never imported by the chaincode.
 */
import { expect } from 'vitest';
import { encodeEvent, encodeHeader, merkleRoot, inclusionProof, sha256, toHex, type Header, type LoulanError } from '../../../core-chain/index.ts';
import { encodeDecision, systemId, type DecisionActionCode } from '../../../relayers/index.ts';
import { CHAIN_ID, certify, certToJson, header as vectorHeader, vectorSet, type VectorSet } from '../../../test/vectors/loulan/kit.ts';
import { contracts, initTransaction } from './index.ts';
import { ChaincodeHarness, MemoryIdentity } from './testing.ts';
import { chaincodeErrorFromMessage } from './wire.ts';

export const SYSTEM_ADDRESS = 'cn.loulan.fabric.org1';
export const SET_A = vectorSet(['a0', 'a1', 'a2', 'a3']);
export const SET_B = vectorSet(['b0', 'b1', 'b2', 'b3', 'b4']);
export const GENESIS_TIME = 1_767_225_600_000n;

export const admin = new MemoryIdentity('Org1MSP', 'admin');
export const relayer = new MemoryIdentity('Org2MSP', 'relayer');
export const alice = new MemoryIdentity('Org1MSP', 'alice');
export const bob = new MemoryIdentity('Org1MSP', 'bob');
export const carol = new MemoryIdentity('Org2MSP', 'carol');

const te = new TextEncoder();

export function bytes32(label: string): Uint8Array {
  return sha256(te.encode(`chaincode-test/${label}`));
}

export interface DecisionInput {
  readonly id: string;
  readonly action: DecisionActionCode;
  readonly args: Uint8Array;
  readonly deadline?: bigint;
  readonly target?: Uint8Array;
  readonly contract?: string;
  readonly type?: string;
}

/** An encoded core-chain event carrying a decision (contract/type overridable to forge). */
export function decisionEvent(d: DecisionInput): Uint8Array {
  const data = encodeDecision({
    decisionId: bytes32(d.id),
    target: d.target ?? systemId(SYSTEM_ADDRESS),
    action: d.action,
    deadline: d.deadline ?? GENESIS_TIME + 1_000_000n,
    args: d.args,
  });
  return encodeEvent({ contract: d.contract ?? 'xfer', type: d.type ?? 'decision', tx: 0, data });
}

/** A certified block carrying `events`; `proofArgs(i)` gives executeDecision's five arguments. */
export interface Block {
  readonly header: Header;
  readonly headerHex: string;
  readonly certificateJson: string;
  proofArgs(i: number): [string, string, string, string, string];
}

export function block(
  set: VectorSet,
  height: bigint,
  events: readonly Uint8Array[],
  fields: Partial<Header> = {},
  signers: readonly number[] = quorumSigners(set),
  signWith: VectorSet = set,
): Block {
  const h = vectorHeader(height, set, { eventsRoot: merkleRoot(events), eventCount: events.length, time: GENESIS_TIME + 1_000n * height, ...fields });
  const headerHex = toHex(encodeHeader(h));
  const certificateJson = JSON.stringify(certToJson(certify(signWith, h, signers)));
  return {
    header: h,
    headerHex,
    certificateJson,
    proofArgs: (i) => [headerHex, certificateJson, toHex(events[i] as Uint8Array), String(i), JSON.stringify(inclusionProof(events, i).map(toHex))],
  };
}

/** Signer indexes 0..q-1, q = ceil((n+f+1)/2): the smallest valid certificate. */
export function quorumSigners(set: VectorSet): number[] {
  const n = set.publicKeys.length;
  const f = Math.floor((n - 1) / 3);
  return Array.from({ length: Math.ceil((n + f + 1) / 2) }, (_, i) => i);
}

/** A chain item for updateValidatorSet / verifyHeaderChain. */
export function chainItem(b: Block, next?: VectorSet): Record<string, unknown> {
  return { header: b.headerHex, certificate: JSON.parse(b.certificateJson), ...(next === undefined ? {} : { nextValidatorSet: next.publicKeys.map(toHex) }) };
}

/** A harness trusting `set` on the vector chain. */
export async function initialised(set: VectorSet = SET_A, trustedFrom?: bigint): Promise<ChaincodeHarness> {
  const h = new ChaincodeHarness(contracts);
  const init = initTransaction({
    chainId: toHex(CHAIN_ID),
    validators: set.publicKeys.map(toHex),
    systemAddress: SYSTEM_ADDRESS,
    ...(trustedFrom === undefined ? {} : { trustedFrom: trustedFrom.toString() }),
  });
  await h.submit(admin, init.fcn, ...init.args);
  return h;
}

/** The LoulanError a chaincode call failed with, read back from the wire message. */
export async function failure(call: Promise<unknown>): Promise<LoulanError> {
  let thrown: unknown;
  try {
    await call;
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'the call should have failed').toBeInstanceOf(Error);
  const parsed = chaincodeErrorFromMessage((thrown as Error).message);
  expect(parsed, `no Loulan error in: ${(thrown as Error).message}`).toBeDefined();
  return parsed as LoulanError;
}

/** Asserts a call fails with `code` (and details matching `details`). */
export async function expectCode(call: Promise<unknown>, code: string, details?: Record<string, unknown>): Promise<void> {
  const error = await failure(call);
  expect({ code: error.code, ...(details === undefined ? {} : { details: error.details }) }).toMatchObject({ code, ...(details === undefined ? {} : { details }) });
}

export function json<T = Record<string, unknown>>(text: string): T {
  return JSON.parse(text) as T;
}
