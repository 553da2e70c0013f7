import { ContractFactory, Interface, Wallet, getBytes, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { fixtureContract } from '../../test/fixtures/evm/fixture.ts';
import { evmProvider, signerFromKey } from './client.ts';
import { createSubmitter, type SubmitterOptions } from './submitter.ts';

let anvil: TestAnvil;
let fixture: string;
const { abi, bytecode } = fixtureContract();
const iface = new Interface(abi);

function submitter(key: number, extra: Partial<SubmitterOptions> = {}) {
  return createSubmitter({
    provider: evmProvider(anvil.url, { chainId: anvil.chainId }),
    signer: signerFromKey(anvil.privateKeys[key] as string),
    chainId: anvil.chainId,
    abis: [abi],
    pollIntervalMs: 5,
    ...extra,
  });
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; details: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  anvil = await startAnvil();
  const deployer = submitter(0);
  const created = await deployer.send({ data: new ContractFactory(abi, bytecode).interface.encodeDeploy([1n]).replace(/^0x/, bytecode) });
  fixture = created.contractAddress as string;
});

afterAll(async () => {
  await anvil?.stop();
});

describe('EVM submitter on anvil', () => {
  it('deploys a contract and returns its address', async () => {
    expect(fixture).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(await anvil.rpc('eth_getCode', [fixture, 'latest'])).not.toBe('0x');
  });

  it('sends N concurrent transactions from one account with N distinct consecutive nonces, all mined', async () => {
    const s = submitter(1);
    const start = Number(await anvil.rpc('eth_getTransactionCount', [s.address, 'latest']));
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => s.send({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), BigInt(i), '0x']) })),
    );
    expect(results.map((r) => r.nonce).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => start + i));
    expect(new Set(results.map((r) => r.txHash)).size).toBe(12);
    expect(Number(await anvil.rpc('eth_getTransactionCount', [s.address, 'latest']))).toBe(start + 12);
    for (const r of results) expect(r.logs).toHaveLength(1);
  });

  it('refuses with EVM_ESTIMATE and the decoded reason when the call would revert, sending nothing', async () => {
    const s = submitter(2);
    const id = hexlify(randomBytes(32));
    await s.send({ to: fixture, data: iface.encodeFunctionData('execute', [id]) });
    const before = await anvil.rpc('eth_getTransactionCount', [s.address, 'latest']);
    const custom = await rejection(s.send({ to: fixture, data: iface.encodeFunctionData('execute', [id]) }));
    expect(custom.code).toBe('EVM_ESTIMATE');
    expect(custom.details['reason']).toBe('AlreadyExecuted');
    expect(custom.details['args']).toEqual([id]);
    const message = await rejection(s.send({ to: fixture, data: iface.encodeFunctionData('fail', ['no way']) }));
    expect(message).toMatchObject({ code: 'EVM_ESTIMATE', details: { reason: 'no way' } });
    expect(await anvil.rpc('eth_getTransactionCount', [s.address, 'latest'])).toBe(before);
  });

  it('refuses a transaction whose estimate with margin is above the gas cap', async () => {
    const s = submitter(2, { gas: { cap: 200_000n, marginPercent: 20 } });
    const error = await rejection(s.send({ to: fixture, data: iface.encodeFunctionData('burn', [20n]) }));
    expect(error.code).toBe('EVM_ESTIMATE');
    expect(error.details).toMatchObject({ reason: 'gas-cap', cap: 200_000n });
    expect(error.details['gasLimit'] as bigint).toBeGreaterThan(200_000n);
    expect(error.details['gasLimit']).toBe(((error.details['estimate'] as bigint) * 120n + 99n) / 100n);
  });

  it('reports EVM_REVERTED with the tx hash and the custom error when a mined transaction reverts', async () => {
    const s = submitter(3);
    const id = hexlify(randomBytes(32));
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      const hashes: string[] = [];
      const both = [s.send({ to: fixture, data: iface.encodeFunctionData('execute', [id]) }), s.send({ to: fixture, data: iface.encodeFunctionData('execute', [id]) })].map((p) =>
        p.then(
          (r) => ({ ok: true as const, r }),
          (e: { code: string; details: Record<string, unknown> }) => ({ ok: false as const, e }),
        ),
      );
      // Both estimate before either is mined, so both are sent; the block runs them in nonce order.
      await waitUntil(async () => ((await anvil.rpc('eth_getBlockByNumber', ['pending', false])) as { transactions: string[] }).transactions.length === 2);
      hashes.push(...((await anvil.rpc('eth_getBlockByNumber', ['pending', false])) as { transactions: string[] }).transactions);
      await anvil.rpc('evm_mine');
      const outcomes = await Promise.all(both);
      const ok = outcomes.filter((o) => o.ok);
      const failed = outcomes.flatMap((o) => (o.ok ? [] : [o.e]));
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.code).toBe('EVM_REVERTED');
      expect(failed[0]?.details).toMatchObject({ reason: 'AlreadyExecuted' });
      expect(hashes).toContain(failed[0]?.details['txHash']);
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
  });

  it('rebroadcasts a transaction the node dropped (same hash), which is then mined', async () => {
    let dropped = false;
    const broadcasts: { txHash: string; attempt: number }[] = [];
    const s = submitter(4, {
      onBroadcast: (tx) => {
        broadcasts.push(tx);
        if (tx.attempt === 1 && !dropped) {
          dropped = true;
          void anvil.rpc('anvil_dropTransaction', [tx.txHash]);
        } else {
          void anvil.rpc('evm_mine');
        }
      },
    });
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      const result = await s.send({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), 1n, '0x']) });
      expect(broadcasts.map((b) => b.attempt)).toEqual([1, 2]);
      expect(broadcasts.every((b) => b.txHash === result.txHash)).toBe(true);
      expect(result.blockNumber).toBeGreaterThan(0n);
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
  });

  it('gives up with EVM_DROPPED after the allowed rebroadcasts', async () => {
    const s = submitter(5, {
      maxRebroadcasts: 1,
      onBroadcast: (tx) => void anvil.rpc('anvil_dropTransaction', [tx.txHash]),
    });
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      const error = await rejection(s.send({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), 1n, '0x']) }));
      expect(error.code).toBe('EVM_DROPPED');
      expect(error.details).toMatchObject({ reason: 'dropped', rebroadcasts: 1 });
      expect(error.details['txHash']).toMatch(/^0x[0-9a-f]{64}$/);
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
  });

  it('reports a replaced transaction as EVM_DROPPED (replaced), and the next submission uses the next nonce', async () => {
    const key = anvil.privateKeys[6] as string;
    const provider = evmProvider(anvil.url, { chainId: anvil.chainId });
    let replaced = false;
    const s = submitter(6, {
      onBroadcast: (tx) => {
        if (replaced) return;
        replaced = true;
        // Someone else with the same key sends another transaction at the same nonce with a higher fee.
        void (async () => {
          const wallet = new Wallet(key, provider);
          const fees = await provider.getFeeData();
          await wallet.sendTransaction({
            to: wallet.address,
            nonce: tx.nonce,
            gasLimit: 21_000n,
            maxFeePerGas: (fees.maxFeePerGas as bigint) * 3n,
            maxPriorityFeePerGas: (fees.maxPriorityFeePerGas as bigint) * 3n,
          });
          await anvil.rpc('evm_mine');
        })();
      },
    });
    await anvil.rpc('evm_setAutomine', [false]);
    let replacedNonce: number;
    try {
      const error = await rejection(s.send({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), 1n, '0x']) }));
      expect(error.code).toBe('EVM_DROPPED');
      expect(error.details['reason']).toBe('replaced');
      replacedNonce = error.details['nonce'] as number;
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
    const next = await s.send({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), 2n, getBytes('0x01')]) });
    expect(next.nonce).toBe(replacedNonce + 1);
  });
});

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition never held');
}
