import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Interface, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureContract } from '../../test/fixtures/evm/fixture.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { fileCheckpointStore, memoryCheckpointStore, type CheckpointStore } from './checkpoint.ts';
import { evmProvider, signerFromKey } from './client.ts';
import { createSubmitter, type EvmSubmitter } from './submitter.ts';
import { createEvmWatcher, type EvmWatchEvent } from './watcher.ts';

const { abi, bytecode } = fixtureContract();
const iface = new Interface(abi);
let anvil: TestAnvil;
let dir: string;
let submitter: EvmSubmitter;

async function deploy(): Promise<string> {
  return (await submitter.send({ data: bytecode + iface.encodeDeploy([1n]).slice(2) })).contractAddress as string;
}

async function ping(contract: string, value: bigint): Promise<string> {
  const id = hexlify(randomBytes(32));
  await submitter.send({ to: contract, data: iface.encodeFunctionData('ping', [id, value, '0x']) });
  return id;
}

async function mine(blocks: number): Promise<void> {
  await anvil.rpc('anvil_mine', ['0x' + blocks.toString(16)]);
}

/** Rewinds the chain; the submitter's nonce counter must forget the transactions that went with it. */
async function revert(snapshot: unknown): Promise<void> {
  await anvil.rpc('evm_revert', [snapshot]);
  submitter.nonces.reset();
}

function watcher(contract: string, store: CheckpointStore, confirmations = 2) {
  return createEvmWatcher({ provider: evmProvider(anvil.url, { chainId: anvil.chainId }), chainId: anvil.chainId, contracts: [contract], confirmations, store });
}

function collector() {
  const events: EvmWatchEvent[] = [];
  return { events, onEvent: async (e: EvmWatchEvent) => void events.push(e) };
}

/** The `id` argument (first topic after the signature) of a Pinged log. */
function pingedId(e: EvmWatchEvent): string | undefined {
  return e.kind === 'log' ? e.topics[1] : undefined;
}

beforeAll(async () => {
  anvil = await startAnvil();
  dir = await mkdtemp(join(tmpdir(), 'loulan-evm-watch-'));
  submitter = createSubmitter({ provider: evmProvider(anvil.url, { chainId: anvil.chainId }), signer: signerFromKey(anvil.privateKeys[0] as string), chainId: anvil.chainId, pollIntervalMs: 5 });
  await mine(5);
});

afterAll(async () => {
  await anvil?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('EVM watcher on anvil', () => {
  it('delivers a log only once it has the configured confirmations, and only once', async () => {
    const contract = await deploy();
    const w = watcher(contract, memoryCheckpointStore());
    const { events, onEvent } = collector();
    await w.poll(onEvent);
    const id = await ping(contract, 1n);
    expect(await w.poll(onEvent)).toBe(0);
    await mine(1);
    expect(await w.poll(onEvent)).toBe(0);
    await mine(1);
    expect(await w.poll(onEvent)).toBe(1);
    expect(await w.poll(onEvent)).toBe(0);
    expect(events.map(pingedId)).toEqual([id]);
    expect(events[0]).toMatchObject({ kind: 'log', address: contract.toLowerCase() });
  });

  it('never delivers a log from a block dropped before it was confirmed', async () => {
    const contract = await deploy();
    const w = watcher(contract, memoryCheckpointStore());
    const { events, onEvent } = collector();
    await w.poll(onEvent);
    const snapshot = await anvil.rpc('evm_snapshot');
    await ping(contract, 1n);
    await mine(1);
    expect(await w.poll(onEvent)).toBe(0);
    await revert(snapshot);
    const kept = await ping(contract, 2n);
    await mine(3);
    await w.poll(onEvent);
    expect(events.map(pingedId)).toEqual([kept]);
  });

  it('retracts the events of confirmed blocks a deep reorg dropped, then delivers the new canonical ones', async () => {
    const contract = await deploy();
    const w = watcher(contract, memoryCheckpointStore());
    const { events, onEvent } = collector();
    await w.poll(onEvent);
    const snapshot = await anvil.rpc('evm_snapshot');
    const first = await ping(contract, 1n);
    const second = await ping(contract, 2n);
    await mine(2);
    await w.poll(onEvent);
    expect(events.map(pingedId)).toEqual([first, second]);
    const delivered = events.map((e) => e.id);

    await revert(snapshot);
    await mine(1);
    const replacement = await ping(contract, 3n);
    await mine(3);
    events.length = 0;
    await w.poll(onEvent);
    expect(events.map((e) => e.kind)).toEqual(['retracted', 'retracted', 'log']);
    expect(events.slice(0, 2).map((e) => e.id)).toEqual([...delivered].reverse());
    expect(pingedId(events[2] as EvmWatchEvent)).toBe(replacement);
    events.length = 0;
    expect(await w.poll(onEvent)).toBe(0);
  });

  it('resumes from its checkpoint file after a stop in the middle: no event lost or repeated', async () => {
    const contract = await deploy();
    const path = join(dir, 'resume', 'checkpoint.json');
    const first = watcher(contract, fileCheckpointStore(path), 1);
    const seen: string[] = [];
    await first.poll(async () => undefined);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await ping(contract, BigInt(i)));
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      // Two logs in one block, so the stop falls inside a block.
      const both = [ping(contract, 10n), ping(contract, 11n)];
      for (let i = 0; i < 100 && ((await anvil.rpc('eth_getBlockByNumber', ['pending', false])) as { transactions: unknown[] }).transactions.length < 2; i++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      await anvil.rpc('evm_mine');
      ids.push(...(await Promise.all(both)));
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
    await mine(1);
    // The receiver fails on the fourth event: the watcher stops there, as a crash would.
    await expect(
      first.poll(async (e) => {
        if (seen.length === 3) throw new Error('receiver down');
        seen.push(pingedId(e) as string);
      }),
    ).rejects.toThrow('receiver down');
    expect((await readdir(join(dir, 'resume'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const second = watcher(contract, fileCheckpointStore(path), 1);
    await second.poll(async (e) => void seen.push(pingedId(e) as string));
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((s) => s.toLowerCase()))).toEqual(new Set(ids.map((s) => s.toLowerCase())));
    const saved = JSON.parse(await readFile(path, 'utf8')) as { version: number; contracts: string[] };
    expect(saved).toMatchObject({ version: 1, contracts: [contract.toLowerCase()] });
  });

  it('walks a long history in steps of maxRange blocks, in order, from a given start block', async () => {
    const contract = await deploy();
    const start = BigInt((await anvil.rpc('eth_blockNumber')) as string);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await ping(contract, BigInt(i)));
      await mine(1);
    }
    const w = createEvmWatcher({ provider: evmProvider(anvil.url), chainId: anvil.chainId, contracts: [contract], confirmations: 0, store: memoryCheckpointStore(), startBlock: start, maxRange: 3 });
    const { events, onEvent } = collector();
    let steps = 0;
    const head = BigInt((await anvil.rpc('eth_blockNumber')) as string);
    for (; steps < 20 && events.length < 5; steps++) await w.poll(onEvent);
    expect(events.map(pingedId)).toEqual(ids);
    expect(steps).toBe(Math.ceil(Number(head - start + 1n) / 3));
  });

  it('stops with EVM_REORG_TOO_DEEP when no remembered block is canonical any more', async () => {
    const contract = await deploy();
    const snapshot = await anvil.rpc('evm_snapshot');
    await mine(2);
    const w = createEvmWatcher({ provider: evmProvider(anvil.url), chainId: anvil.chainId, contracts: [contract], confirmations: 0, store: memoryCheckpointStore(), window: 2 });
    await w.poll(async () => undefined);
    await ping(contract, 1n);
    await mine(4);
    await w.poll(async () => undefined);
    await revert(snapshot);
    await ping(contract, 2n);
    await mine(8);
    await expect(w.poll(async () => undefined)).rejects.toMatchObject({ code: 'EVM_REORG_TOO_DEEP' });
  });

  it('refuses a checkpoint that does not parse or is for another contract set', async () => {
    const contract = await deploy();
    const path = join(dir, 'bad.json');
    await writeFile(path, '{"version":1,');
    await expect(watcher(contract, fileCheckpointStore(path)).poll(async () => undefined)).rejects.toMatchObject({ code: 'EVM_CHECKPOINT_INVALID', details: { reason: 'parse' } });
    const store = memoryCheckpointStore();
    await watcher(contract, store).poll(async () => undefined);
    const other = await deploy();
    await expect(watcher(other, memoryCheckpointStore(store.current())).poll(async () => undefined)).rejects.toMatchObject({ code: 'EVM_CHECKPOINT_INVALID', details: { reason: 'contracts' } });
  });
});
