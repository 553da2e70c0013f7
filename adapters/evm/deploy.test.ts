import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Contract } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type Io } from '../../cli/main.ts';
import { toHex } from '../../core-chain/index.ts';
import { createGenesis, stringifyGenesis } from '../../core-chain/ledger/genesis.ts';
import { systemId } from '../../relayers/decision.ts';
import { CHAIN_ID, vectorSet } from '../../test/vectors/loulan/kit.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { loadArtifact } from './build.ts';
import { evmProvider, signerFromKey } from './client.ts';
import { deployGateway } from './deploy.ts';

let anvil: TestAnvil;
let dir: string;
const set = vectorSet(['v1', 'v2', 'v3', 'v4']);

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (t) => void out_.push(t), err: (t) => void err_.push(t) };
}

beforeAll(async () => {
  anvil = await startAnvil();
  dir = await mkdtemp(join(tmpdir(), 'loulan-evm-deploy-'));
});

afterAll(async () => {
  await anvil?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('deploying the gateway', () => {
  it('deploys the gateway with its tokens wired to it, trusting the given set and target', async () => {
    const provider = evmProvider(anvil.url);
    const deployed = await deployGateway({
      provider,
      signer: signerFromKey(anvil.privateKeys[0] as string),
      chainId: CHAIN_ID,
      validatorSet: { publicKeys: set.publicKeys },
      target: 'cn.loulan.partner.test.evm',
      tokens: { pointsSymbol: 'SKY' },
    });
    expect(deployed.evmChainId).toBe(anvil.chainId);
    const gateway = new Contract(deployed.gateway, loadArtifact('LoulanGateway').abi as never, provider);
    const points = new Contract(deployed.points, loadArtifact('LoulanPoints').abi as never, provider);
    const receivables = new Contract(deployed.receivables, loadArtifact('LoulanReceivables').abi as never, provider);
    expect(await gateway.getFunction('chainId')()).toBe('0x' + toHex(CHAIN_ID));
    expect(await gateway.getFunction('systemId')()).toBe('0x' + toHex(systemId('cn.loulan.partner.test.evm')));
    expect(await gateway.getFunction('validatorSetHash')()).toBe('0x' + toHex(set.hash));
    expect(await points.getFunction('gateway')()).toBe(deployed.gateway);
    expect(await receivables.getFunction('gateway')()).toBe(deployed.gateway);
    expect(await points.getFunction('symbol')()).toBe('SKY');
    expect(deployed.systemId).toBe(toHex(systemId('cn.loulan.partner.test.evm')));
    provider.destroy();
  });

  it('`loulan evm deploy` prints the addresses as JSON, from a genesis file and a key file', async () => {
    const genesis = createGenesis({ chainName: 'evm-deploy-test', time: 1_767_225_600_000n, validators: set.validators.map((v) => ({ name: v.label, publicKey: v.publicKey })) });
    await writeFile(join(dir, 'genesis.json'), stringifyGenesis(genesis));
    await writeFile(join(dir, 'key.json'), JSON.stringify({ privateKey: (anvil.privateKeys[1] as string).slice(2) }));
    const io = capture();
    const code = await main(['evm', 'deploy', '--rpc', anvil.url, '--key-file', join(dir, 'key.json'), '--genesis', join(dir, 'genesis.json'), '--target', 'cn.loulan.partner.cli.evm'], io);
    expect(io.err_).toEqual([]);
    expect(code).toBe(0);
    const printed = JSON.parse(io.out_.join('\n')) as Record<string, string>;
    expect(Object.keys(printed).sort()).toEqual(['blockNumber', 'evmChainId', 'gasUsed', 'gateway', 'points', 'receivables', 'systemId', 'target', 'txHash']);
    for (const address of [printed['gateway'], printed['points'], printed['receivables']]) {
      expect(await anvil.rpc('eth_getCode', [address, 'latest'])).not.toBe('0x');
    }
    const provider = evmProvider(anvil.url);
    const gateway = new Contract(printed['gateway'] as string, loadArtifact('LoulanGateway').abi as never, provider);
    expect(await gateway.getFunction('chainId')()).toBe('0x' + toHex(genesis.chainId));
    provider.destroy();
  });

  it('`loulan evm deploy` is a usage error (exit 2) without its required options', async () => {
    const io = capture();
    expect(await main(['evm', 'deploy', '--rpc', anvil.url], io)).toBe(2);
    expect(io.err_.join('\n')).toContain('CLI_USAGE');
  });
});
