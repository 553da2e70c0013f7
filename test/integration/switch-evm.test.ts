/**
 * A route of kind `evm` end to end: a relayer sends a `decision.execute` message to the switch, the
 * switch delivers it through the EVM adapter to the gateway on a real anvil node, and the gateway
 * executes the certified decision once. The gateway trusts a validator set of the vector kit, which
 * certifies the decision blocks here; what the switch itself checks is the relayer's signature.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Contract, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployGateway, evmProvider, mintArgs, signerFromKey } from '../../adapters/evm/index.ts';
import { loadArtifact } from '../../adapters/evm/build.ts';
import { certifiedDecision, CHAIN_ID, decisionId, vectorSet } from '../../adapters/evm/gateway.fixture.ts';
import { DecisionAction, systemId, type Decision } from '../../relayers/decision.ts';
import type { MessageRecord } from '../../switch/model.ts';
import { startAnvil, type TestAnvil } from '../support/anvil.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { relayDecision } from '../support/relay.ts';

const TARGET = 'cn.loulan.partner.air.evm';
const UNKEYED = 'cn.loulan.partner.other.evm';
const set = vectorSet(['a1', 'a2', 'a3', 'a4']);
const scratch = mkdtempSync(join(tmpdir(), 'loulan-switch-evm-'));
let anvil: TestAnvil;
let net: TestConsortium;
let points: Contract;
let holder: string;
let seq = 0;

beforeAll(async () => {
  anvil = await startAnvil();
  const provider = evmProvider(anvil.url);
  const deployed = await deployGateway({ provider, signer: signerFromKey(anvil.privateKeys[0]!), chainId: CHAIN_ID, validatorSet: { publicKeys: set.publicKeys }, target: TARGET });
  points = new Contract(deployed.points, loadArtifact('LoulanPoints').abi as never, provider);
  holder = new Wallet(anvil.privateKeys[5]!).address;
  const keyFile = join(scratch, 'evm-key.json');
  writeFileSync(keyFile, JSON.stringify({ privateKey: anvil.privateKeys[1] }), { mode: 0o600 });
  const link = (chainId: string) => ({
    adapter: { kind: 'evm', endpoint: anvil.url, chainId, contract: deployed.gateway, confirmations: 0 },
    ordered: false,
    retry: { maxAttempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 },
  });
  net = await startConsortium({
    routes: [
      { prefix: TARGET, link: link(anvil.chainId.toString()) },
      { prefix: UNKEYED, link: link('999') },
    ],
    switchFile: { evm: { keys: { [anvil.chainId.toString()]: keyFile } } },
  });
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await anvil?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function mint(label: string, amount: bigint, target = TARGET): Decision {
  return { decisionId: decisionId(label), target: systemId(target), action: DecisionAction.MINT, deadline: 1n << 62n, args: mintArgs(points.target as string, holder, amount) };
}

function relay(id: string, data: unknown, to = TARGET): Promise<MessageRecord> {
  seq += 1;
  return relayDecision(net, { id, to, seq, data });
}

describe('switch → evm route', () => {
  it('executes a certified decision through the gateway once; a second message with it is delivered without a second effect', async () => {
    const data = certifiedDecision(mint('switch-mint-1', 250n), set, 10n);
    const first = await relay('d-1', data);
    expect(first.status).toBe('delivered');
    expect(first.receipt?.evidence).toMatchObject({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(await points.getFunction('balanceOf')(holder)).toBe(250n);

    const again = await relay('d-2', data);
    expect(again.status).toBe('delivered');
    expect(again.receipt?.evidence).toMatchObject({ alreadyExecuted: true });
    expect(await points.getFunction('balanceOf')(holder)).toBe(250n);
  });

  it('dead-letters what the gateway refuses, with its code, and moves nothing', async () => {
    const wrongTarget = await relay('d-3', certifiedDecision(mint('switch-mint-2', 999n, 'cn.loulan.partner.elsewhere.evm'), set, 11n));
    expect(wrongTarget.status).toBe('dead');
    expect(wrongTarget.lastError?.code).toBe('DECISION_WRONG_TARGET');

    const forged = certifiedDecision(mint('switch-mint-3', 999n), set, 12n, [0, 1]); // 2 of 4: below quorum
    const tooFew = await relay('d-4', forged);
    expect(tooFew.status).toBe('dead');
    expect(tooFew.lastError?.code).toBe('CERT_TOO_FEW_SIGNERS');
    expect(await points.getFunction('balanceOf')(holder)).toBe(250n);
  });

  it('a route to a chain the switch holds no key for dead-letters as ROUTE_ADAPTER_UNAVAILABLE', async () => {
    const record = await relay('d-5', certifiedDecision(mint('switch-mint-4', 1n), set, 13n), UNKEYED);
    expect(record.status).toBe('dead');
    expect(record.lastError?.code).toBe('ROUTE_ADAPTER_UNAVAILABLE');
  });
});
