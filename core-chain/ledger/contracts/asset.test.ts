import { describe, expect, it } from 'vitest';
import { toHex } from '../../crypto/hash.ts';
import type { BlockContext } from '../block.ts';
import { contractRegistry, decodeU128, encodeU128 } from '../contracts.ts';
import { decodeEvent } from '../events.ts';
import { executeBlock } from '../executor.ts';
import { genesisState } from '../genesis.ts';
import type { State } from '../state.ts';
import { codeOf, makeChain, signedTx, transfer } from '../testkit.ts';
import { assetBalance, assetGenesisEntries, createAssetContract, encodeAssetArgs, encodeMintArgs } from './asset.ts';

const chain = makeChain({ accounts: 3, balance: 100n });
const [alice, bob, carol] = chain.accounts as [(typeof chain.accounts)[0], (typeof chain.accounts)[0], (typeof chain.accounts)[0]];
const chainId = chain.genesis.chainId;
const contracts = contractRegistry([createAssetContract()]);

function context(height = 1n): BlockContext {
  return { chainId, height, prevHash: new Uint8Array(32), time: 1_700_000_000_001n, proposer: 0, validatorSetHash: chain.genesis.validatorSetHash, nextValidatorSetHash: chain.genesis.validatorSetHash };
}

function run(state: State, txs: Uint8Array[]) {
  const result = executeBlock(state, context(), txs, { contracts });
  state.apply(result.change);
  return result;
}

describe('asset contract', () => {
  it('transfers, debiting and crediting, and emits a transfer event', () => {
    const state = genesisState(chain.genesis);
    const result = run(state, [transfer(chainId, alice, 1n, bob.address, 30n)]);
    expect(result.receipts[0]).toMatchObject({ status: 'ok', code: null, eventCount: 1 });
    expect(assetBalance(state, alice.address)).toBe(70n);
    expect(assetBalance(state, bob.address)).toBe(130n);
    const event = decodeEvent(result.encodedEvents[0]!);
    expect(event).toMatchObject({ contract: 'asset', type: 'transfer', tx: 0 });
    expect(toHex(event.data.subarray(0, 20))).toBe(alice.address);
    expect(toHex(event.data.subarray(20, 40))).toBe(bob.address);
    expect(decodeU128(event.data, 40)).toBe(30n);
  });

  it('deletes a balance that reaches zero, and a transfer to oneself changes nothing', () => {
    const state = genesisState(chain.genesis);
    run(state, [transfer(chainId, alice, 1n, alice.address, 100n), transfer(chainId, alice, 2n, carol.address, 100n)]);
    expect(assetBalance(state, alice.address)).toBe(0n);
    expect(state.has(`asset/balance/${alice.address}`)).toBe(false);
    expect(assetBalance(state, carol.address)).toBe(200n);
  });

  it.each([
    ['more than the balance', encodeAssetArgs({ to: 'b'.repeat(40), amount: 101n }), 'CONTRACT_INSUFFICIENT_FUNDS'],
    ['a zero amount', Uint8Array.of(...new Uint8Array(20), ...encodeU128(0n)), 'CONTRACT_BAD_ARGS'],
    ['short arguments', new Uint8Array(35), 'CONTRACT_BAD_ARGS'],
    ['trailing arguments', new Uint8Array(37).fill(1), 'CONTRACT_BAD_ARGS'],
  ])('refuses %s', (_name, args, code) => {
    const state = genesisState(chain.genesis);
    const result = run(state, [signedTx(chainId, alice, 1n, 'asset', 'transfer', args)]);
    expect(result.receipts[0]).toMatchObject({ status: 'failed', code, eventCount: 0 });
    expect(assetBalance(state, alice.address)).toBe(100n);
  });

  it('lets only the issuer mint, and tracks the supply', () => {
    const state = genesisState(chain.genesis);
    const result = run(state, [
      signedTx(chainId, chain.issuer, 1n, 'asset', 'mint', encodeMintArgs({ to: carol.address, amount: 5n })),
      signedTx(chainId, alice, 1n, 'asset', 'mint', encodeMintArgs({ to: alice.address, amount: 5n })),
    ]);
    expect(result.receipts.map((r) => r.code)).toEqual([null, 'CONTRACT_UNAUTHORIZED']);
    expect(assetBalance(state, carol.address)).toBe(105n);
    expect(assetBalance(state, alice.address)).toBe(100n);
    expect(decodeU128(state.get('asset/supply')!)).toBe(305n);
    expect(decodeEvent(result.encodedEvents[0]!)).toMatchObject({ type: 'mint', tx: 0 });
  });

  it('refuses a mint that would overflow 128 bits', () => {
    const state = genesisState(chain.genesis);
    const result = run(state, [signedTx(chainId, chain.issuer, 1n, 'asset', 'mint', encodeMintArgs({ to: carol.address, amount: (1n << 128n) - 1n }))]);
    expect(result.receipts[0]!.code).toBe('CONTRACT_STATE_LIMIT');
  });

  it('refuses an unknown method', () => {
    const state = genesisState(chain.genesis);
    const result = run(state, [signedTx(chainId, alice, 1n, 'asset', 'burn', new Uint8Array(0))]);
    expect(result.receipts[0]!.code).toBe('CONTRACT_UNKNOWN_METHOD');
  });

  it('argument and genesis helpers check their input', () => {
    expect(codeOf(() => encodeAssetArgs({ to: 'xyz', amount: 1n }))).toBe('CONTRACT_BAD_ARGS');
    expect(codeOf(() => encodeAssetArgs({ to: 'a'.repeat(40), amount: 0n }))).toBe('CONTRACT_BAD_ARGS');
    expect(codeOf(() => assetGenesisEntries({ issuer: 'nope' }))).toBe('CONFIG_INVALID');
    expect(codeOf(() => encodeU128(1n << 128n))).toBe('CONTRACT_STATE_LIMIT');
  });
});
