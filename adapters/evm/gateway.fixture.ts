/**
 * A stand-in core chain for gateway tests and the gas benchmark: a validator set from the vector kit
 * (deterministic keys), blocks that carry the events a test chooses, certified by any subset of the
 * set, and the gateway deployed from the committed artefacts.
 *
 * Blocks are built with the core chain's own encoders (header, events, RFC 6962 tree, commit
 * signing bytes), so what the gateway accepts here is what it would accept from the real chain.
 * Not part of the adapter's public surface.
 */
import { Contract, ContractFactory, type ContractRunner } from 'ethers';
import { encodeEvent, encodeHeader, inclusionProof, merkleRoot, sha256, toHex, type Header } from '../../core-chain/index.ts';
import { certify, CHAIN_ID, header as vectorHeader, vectorSet, type VectorSet } from '../../test/vectors/loulan/kit.ts';
import { DECISION_CONTRACT, DECISION_TYPE, encodeDecision, systemId, type Decision } from '../../relayers/decision.ts';
import { loadArtifact } from './build.ts';
import { eventProofArg, packSetKeys, type EventProofArg } from './codec.ts';
import type { CertifiedDecisionJson } from './adapter.ts';

export { CHAIN_ID, vectorSet, type VectorSet };

/** The Loulan address the test gateway knows itself by. */
export const GATEWAY_ADDRESS = 'cn.loulan.partner.test.evm';
export const GATEWAY_ID = systemId(GATEWAY_ADDRESS);

export interface Deployed {
  readonly gateway: Contract;
  readonly points: Contract;
  readonly receivables: Contract;
}

/** Deploys LoulanGateway (which creates its two tokens) trusting `set` from height 0. */
export async function deployGateway(runner: ContractRunner, set: VectorSet, target = GATEWAY_ID): Promise<Deployed> {
  const g = loadArtifact('LoulanGateway');
  const factory = new ContractFactory(g.abi as never, g.bytecode, runner);
  const deployed = await factory.deploy('0x' + Buffer.from(CHAIN_ID).toString('hex'), target, packSetKeys(set.publicKeys), 0n, {
    pointsName: 'Loulan Points',
    pointsSymbol: 'LPT',
    pointsDecimals: 0,
    receivablesName: 'Loulan Receivables',
    receivablesSymbol: 'LRC',
  });
  await deployed.waitForDeployment();
  const gateway = new Contract(await deployed.getAddress(), g.abi as never, runner);
  const points = new Contract((await gateway.getFunction('points')()) as string, loadArtifact('LoulanPoints').abi as never, runner);
  const receivables = new Contract((await gateway.getFunction('receivables')()) as string, loadArtifact('LoulanReceivables').abi as never, runner);
  return { gateway, points, receivables };
}

/** A decision event's bytes (contract and type overridable to forge wrong events). */
export function decisionEvent(decision: Decision, contract: string = DECISION_CONTRACT, type: string = DECISION_TYPE): Uint8Array {
  return encodeEvent({ contract, type, tx: 0, data: encodeDecision(decision) });
}

/** An unrelated event, to give blocks more than one leaf. */
export function otherEvent(n: number): Uint8Array {
  return encodeEvent({ contract: 'points', type: 'transfer', tx: n, data: new TextEncoder().encode(`{"n":${n}}`) });
}

export interface Block {
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  readonly events: readonly Uint8Array[];
}

/** A block at `height` naming `set` as its validator set, carrying `events`; `fields` override. */
export function block(height: bigint, set: VectorSet, events: readonly Uint8Array[], fields: Partial<Header> = {}): Block {
  const header = vectorHeader(height, set, { eventsRoot: merkleRoot(events), eventCount: events.length, ...fields });
  return { header, headerBytes: encodeHeader(header), events };
}

/** The gateway's `EventProof` for event `index` of `b`, certified by `signers` of `set`. */
export function proofOf(b: Block, index: number, set: VectorSet, signers?: readonly number[]): EventProofArg {
  const q = quorumOf(set.publicKeys.length);
  const certificate = certify(set, b.header, signers ?? [...Array(q).keys()]);
  return eventProofArg({
    header: b.headerBytes,
    certificate,
    publicKeys: set.publicKeys,
    event: b.events[index] as Uint8Array,
    index,
    path: inclusionProof(b.events, index),
  });
}

export function quorumOf(n: number): number {
  const f = Math.floor((n - 1) / 3);
  return Math.ceil((n + f + 1) / 2);
}

/** A 32-byte decision id from a label. */
export function decisionId(label: string): Uint8Array {
  return sha256(new TextEncoder().encode('evm-test/decision/' + label));
}

/**
 * A block at `height` carrying `decision` among two other events, certified by `signers` of `set`, as
 * the message data the EVM adapter (and a `decision.execute` message) carries.
 */
export function certifiedDecision(decision: Decision, set: VectorSet, height: bigint, signers: readonly number[] = [0, 1, 2]): { decision: CertifiedDecisionJson } {
  const events = [otherEvent(1), decisionEvent(decision), otherEvent(2)];
  const b = block(height, set, events);
  const cert = certify(set, b.header, signers);
  return {
    decision: {
      headerBytes: toHex(b.headerBytes),
      certificate: { height: cert.height.toString(), view: cert.view.toString(), blockHash: toHex(cert.digest), signatures: cert.sigs.map((s) => ({ validator: s.from, signature: toHex(s.sig) })) },
      validatorKeys: set.publicKeys.map(toHex),
      event: toHex(events[1] as Uint8Array),
      eventIndex: 1,
      eventPath: inclusionProof(events, 1).map(toHex),
    },
  };
}
