import { Contract, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core-chain/index.ts';
import { DecisionAction, systemId, type Decision } from '../../relayers/decision.ts';
import type { Envelope } from '../../schemas/index.ts';
import type { VectorSet } from '../../test/vectors/loulan/kit.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import type { Adapter, DeliveryOutcome, WatchedEvent } from '../adapter.ts';
import { certifiedDecisionFrom, createEvmAdapter, submitDecision, type CertifiedDecisionJson } from './adapter.ts';
import { loulanErrorFromRevert } from './codec.ts';
import { createSubmitter } from './submitter.ts';
import { loadArtifact } from './build.ts';
import { evmProvider, signerFromKey } from './client.ts';
import { mintArgs } from './codec.ts';
import { deployGateway } from './deploy.ts';
import { CHAIN_ID, certifiedDecision, decisionId, vectorSet } from './gateway.fixture.ts';

const TARGET = 'cn.loulan.partner.adapter.evm';
const set: VectorSet = vectorSet(['a1', 'a2', 'a3', 'a4']);
let anvil: TestAnvil;
let adapter: Adapter;
let points: Contract;
let gatewayAddress: string;
let holder: string;
let height = 10n;

function decision(label: string, amount: bigint, target = TARGET): Decision {
  return { decisionId: decisionId(label), target: systemId(target), action: DecisionAction.MINT, deadline: 1n << 62n, args: mintArgs(points.target as string, holder, amount) };
}

/** A block carrying the decision among other events, certified by `signers`, as message data. */
function certified(d: Decision, signers = [0, 1, 2]): { decision: CertifiedDecisionJson } {
  return certifiedDecision(d, set, height++, signers);
}

function request(data: unknown) {
  const envelope = { id: 'm-' + Math.random().toString(36).slice(2), type: 'asset.transfer.request', source: 'cn.loulan.core', to: TARGET, seq: '1', time: new Date().toISOString(), data } as unknown as Envelope;
  return { envelope, digest: '00'.repeat(32), attempt: 1, deadline: Date.now() + 60_000, signal: new AbortController().signal };
}

beforeAll(async () => {
  anvil = await startAnvil();
  const provider = evmProvider(anvil.url);
  const deployed = await deployGateway({ provider, signer: signerFromKey(anvil.privateKeys[0] as string), chainId: CHAIN_ID, validatorSet: { publicKeys: set.publicKeys }, target: TARGET });
  gatewayAddress = deployed.gateway;
  points = new Contract(deployed.points, loadArtifact('LoulanPoints').abi as never, provider);
  holder = new Wallet(anvil.privateKeys[5] as string).address;
  adapter = createEvmAdapter(
    { kind: 'evm', endpoint: anvil.url, chainId: anvil.chainId.toString(), contract: deployed.gateway, confirmations: 1 },
    { signer: signerFromKey(anvil.privateKeys[1] as string), pollIntervalMs: 5, watchIntervalMs: 10 },
  );
});

afterAll(async () => {
  await adapter?.close();
  await anvil?.stop();
});

describe('evm adapter against the deployed gateway', () => {
  it('delivers a certified decision: the gateway executes it once, a repeat counts as delivered', async () => {
    const before = (await points.getFunction('balanceOf')(holder)) as bigint;
    const data = certified(decision('mint-1', 250n));
    const first = await adapter.deliver(request(data));
    expect(first).toMatchObject({ ok: true, evidence: { decisionId: toHex(decisionId('mint-1')) } });
    expect((first as unknown as { evidence: { txHash: string } }).evidence.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await points.getFunction('balanceOf')(holder)) as bigint).toBe(before + 250n);
    const again = await adapter.deliver(request(data));
    expect(again).toMatchObject({ ok: true, evidence: { alreadyExecuted: true, decisionId: toHex(decisionId('mint-1')) } });
    expect((await points.getFunction('balanceOf')(holder)) as bigint).toBe(before + 250n);
  });

  it('refuses for good, with the verifier\'s code, what the gateway refuses', async () => {
    const expectRefused = (outcome: DeliveryOutcome, code: string) => expect(outcome).toMatchObject({ ok: false, retryable: false, code });
    expectRefused(await adapter.deliver(request(certified(decision('few', 1n), [0, 1]))), 'CERT_TOO_FEW_SIGNERS');
    expectRefused(await adapter.deliver(request(certified(decision('elsewhere', 1n, 'cn.loulan.partner.other.evm')))), 'DECISION_WRONG_TARGET');
    const tampered = certified(decision('tampered', 1n));
    const path = [...tampered.decision.eventPath];
    path[0] = 'ff'.repeat(32);
    expectRefused(await adapter.deliver(request({ decision: { ...tampered.decision, eventPath: path } })), 'MERKLE_BAD_PROOF');
    expectRefused(await adapter.deliver(request({ nothing: true })), 'DECISION_MALFORMED');
    expect(adapter.health().state).toBe('up');
  });

  it('submitDecision reports the phase error with the decoded custom error, which maps to the verifier\'s code', async () => {
    const submitter = createSubmitter({ provider: evmProvider(anvil.url), signer: signerFromKey(anvil.privateKeys[3] as string), chainId: anvil.chainId, pollIntervalMs: 5, abis: [loadArtifact('LoulanGateway').abi as never] });
    const one = certifiedDecisionFrom(certified(decision('direct', 3n)));
    const mined = await submitDecision(submitter, gatewayAddress, one);
    expect(mined.decisionId).toBe(toHex(decisionId('direct')));
    const error = (await submitDecision(submitter, gatewayAddress, one).catch((e: unknown) => e)) as { code: string; details: Record<string, unknown> };
    expect(error.code).toBe('EVM_ESTIMATE');
    expect(error.details['reason']).toBe('DecisionConsumed');
    expect(loulanErrorFromRevert(error.details['data'] as string)).toMatchObject({ code: 'DECISION_CONSUMED', details: { decisionId: toHex(decisionId('direct')) } });
  });

  it('probes the node and its chain id', async () => {
    expect(await adapter.probe?.(new AbortController().signal)).toBe(true);
    const wrong = createEvmAdapter({ kind: 'evm', endpoint: anvil.url, chainId: '1', contract: gatewayAddress, confirmations: 1 }, { signer: signerFromKey(anvil.privateKeys[1] as string) });
    expect(await wrong.probe?.(new AbortController().signal)).toBe(false);
    await wrong.close();
  });

  it('watches the gateway\'s events once confirmed, and resumes from a checkpoint string without repeating', async () => {
    const from = BigInt((await anvil.rpc('eth_blockNumber')) as string) + 1n;
    const watching = createEvmAdapter(
      { kind: 'evm', endpoint: anvil.url, chainId: anvil.chainId.toString(), contract: gatewayAddress, confirmations: 1 },
      { signer: signerFromKey(anvil.privateKeys[2] as string), pollIntervalMs: 5, watchIntervalMs: 10, watchFrom: from },
    );
    try {
      const first = await nextEvent(watching, undefined, async () => {
        await adapter.deliver(request(certified(decision('watched', 5n))));
        await anvil.rpc('evm_mine');
      });
      expect(first.type).toBe('evm.log');
      expect(first.data['address']).toBe(gatewayAddress.toLowerCase());
      expect(BigInt(first.data['blockNumber'] as string)).toBeGreaterThanOrEqual(from);
      expect(JSON.parse(first.checkpoint)).toMatchObject({ version: 1, contracts: [gatewayAddress.toLowerCase()] });
      // From the first event's checkpoint, the next event is the next decision's, not the first again.
      const second = await nextEvent(watching, first.checkpoint, async () => {
        await adapter.deliver(request(certified(decision('after-resume', 1n))));
        await anvil.rpc('evm_mine');
      });
      expect(second.data['id']).not.toBe(first.data['id']);
      expect(BigInt(second.data['blockNumber'] as string)).toBeGreaterThan(BigInt(first.data['blockNumber'] as string));
    } finally {
      await watching.close();
    }
  });
});

/** Starts watching from `checkpoint`, runs `act`, and resolves with the first event reported. */
async function nextEvent(a: Adapter, checkpoint: string | undefined, act: () => Promise<void>): Promise<WatchedEvent> {
  let stop: (() => void) | undefined;
  const event = new Promise<WatchedEvent>((resolve) => {
    stop = a.watch?.(checkpoint, async (e) => resolve(e));
  });
  try {
    await act();
    return await event;
  } finally {
    stop?.();
  }
}
