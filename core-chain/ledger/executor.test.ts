import { describe, expect, it } from 'vitest';
import { sha256 } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import type { BlockContext } from './block.ts';
import { contractRegistry, type Contract } from './contracts.ts';
import { createAssetContract, assetBalance } from './contracts/asset.ts';
import { committedNonce, executeBlock, nonceKey, type ExecuteOptions } from './executor.ts';
import { genesisState } from './genesis.ts';
import { State } from './state.ts';
import { errorOf, makeChain, signedTx, transfer } from './testkit.ts';
import { txHash } from './tx.ts';
import { txKey, VerifiedTxCache } from './verified.ts';

const chain = makeChain({ accounts: 2, balance: 100n });
const [alice, bob] = chain.accounts as [(typeof chain.accounts)[0], (typeof chain.accounts)[0]];
const chainId = chain.genesis.chainId;

/** Writes a marker, then fails when asked to: shows that a failed call's writes are rolled back. */
const probe: Contract = {
  name: 'probe',
  access: { ok: ['operator'], fail: ['operator'], crash: ['operator'] },
  execute(ctx, method, args) {
    ctx.put('touched', Uint8Array.of(1));
    ctx.emit('touched', args);
    if (method === 'fail') throw new LoulanError('CONTRACT_BAD_ARGS', 'asked to fail', { details: { field: 'method' } });
    if (method === 'crash') throw new TypeError('bug');
  },
};
const contracts = contractRegistry([createAssetContract(), probe]);

const context: BlockContext = {
  chainId,
  height: 1n,
  prevHash: new Uint8Array(32),
  time: 1_700_000_000_001n,
  proposer: 0,
  validatorSetHash: chain.genesis.validatorSetHash,
  nextValidatorSetHash: chain.genesis.validatorSetHash,
};

function exec(txs: Uint8Array[], options: Partial<ExecuteOptions> = {}) {
  return executeBlock(genesisState(chain.genesis), context, txs, { contracts, ...options });
}

function blockError(txs: Uint8Array[], options: Partial<ExecuteOptions> = {}): LoulanError {
  const error = errorOf(() => exec(txs, options));
  expect(error?.code).toBe('LEDGER_BLOCK_INVALID');
  return error as LoulanError;
}

describe('nonces', () => {
  it('start at 1 and must continue by exactly one, also within a block', () => {
    const state = genesisState(chain.genesis);
    const result = executeBlock(state, context, [transfer(chainId, alice, 1n, bob.address, 1n), transfer(chainId, alice, 2n, bob.address, 1n)], { contracts });
    state.apply(result.change);
    expect(committedNonce(state, alice.address)).toBe(2n);
    expect(committedNonce(state, bob.address)).toBe(0n);
    expect(state.get(nonceKey(alice.address))).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2));
  });

  it('a skipped nonce makes the block invalid (LEDGER_NONCE_GAP)', () => {
    const error = blockError([transfer(chainId, alice, 2n, bob.address, 1n)]);
    expect(error.details).toMatchObject({ reason: 'tx', index: 0, txCode: 'LEDGER_NONCE_GAP' });
  });

  it('a reused nonce, or the same transaction twice, makes the block invalid (LEDGER_NONCE_STALE)', () => {
    const tx = transfer(chainId, alice, 1n, bob.address, 1n);
    expect(blockError([tx, tx]).details).toMatchObject({ index: 1, txCode: 'LEDGER_NONCE_STALE' });
    expect(blockError([tx, transfer(chainId, alice, 1n, bob.address, 2n)]).details).toMatchObject({ index: 1, txCode: 'LEDGER_NONCE_STALE' });
  });
});

describe('block-invalid transactions', () => {
  it('a bad signature', () => {
    const tx = transfer(chainId, alice, 1n, bob.address, 1n);
    tx[tx.length - 40] = (tx[tx.length - 40] as number) ^ 1; // inside r
    expect(blockError([tx]).details.txCode).toMatch(/^CRYPTO_(SIGNATURE_INVALID|MALFORMED_SIGNATURE)$/);
  });

  it('another chain', () => {
    const other = sha256(new TextEncoder().encode('other-chain'));
    expect(blockError([transfer(other, alice, 1n, bob.address, 1n)]).details.txCode).toBe('LEDGER_WRONG_CHAIN');
  });

  it('bytes that do not decode', () => {
    expect(blockError([Uint8Array.of(1, 2, 3)]).details.txCode).toBe('CODEC_TRUNCATED');
  });

  it('propose mode leaves them out and reports them instead', () => {
    const good = transfer(chainId, alice, 1n, bob.address, 1n);
    const gap = transfer(chainId, bob, 5n, alice.address, 1n);
    const result = exec([gap, good], { mode: 'propose' });
    expect(result.txs).toEqual([good]);
    expect(result.header.txCount).toBe(1);
    expect(result.skipped.map((s) => [s.index, s.error.code])).toEqual([[0, 'LEDGER_NONCE_GAP']]);
    expect(result.receipts[0]).toMatchObject({ index: 0, status: 'ok' });
  });
});

describe('failed calls', () => {
  it('roll back their writes and events but consume the nonce', () => {
    const state = genesisState(chain.genesis);
    const result = executeBlock(state, context, [signedTx(chainId, alice, 1n, 'probe', 'fail', Uint8Array.of(7))], { contracts });
    expect(result.receipts[0]).toMatchObject({ status: 'failed', code: 'CONTRACT_BAD_ARGS', nonce: 1n, sender: alice.address, eventCount: 0 });
    expect(result.events).toEqual([]);
    expect(result.overlay.get('probe/touched')).toBeUndefined();
    expect(result.change.puts.map(([k]) => k)).toEqual([nonceKey(alice.address)]);
    state.apply(result.change);
    expect(committedNonce(state, alice.address)).toBe(1n);
  });

  it('keep the writes of successful calls around them', () => {
    const result = exec([
      signedTx(chainId, alice, 1n, 'probe', 'ok', Uint8Array.of(1)),
      signedTx(chainId, alice, 2n, 'probe', 'fail', Uint8Array.of(2)),
      signedTx(chainId, bob, 1n, 'probe', 'ok', Uint8Array.of(3)),
    ]);
    expect(result.receipts.map((r) => r.status)).toEqual(['ok', 'failed', 'ok']);
    expect(result.events.map((e) => [e.tx, e.data[0]])).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(result.overlay.get('probe/touched')).toEqual(Uint8Array.of(1));
    expect(result.header.eventCount).toBe(2);
  });

  it('an unknown contract, or a contract bug, fails the transaction only', () => {
    const result = exec([signedTx(chainId, alice, 1n, 'nosuch', 'x', new Uint8Array(0)), signedTx(chainId, alice, 2n, 'probe', 'crash', new Uint8Array(0))]);
    expect(result.receipts.map((r) => r.code)).toEqual(['LEDGER_UNKNOWN_CONTRACT', 'INTERNAL']);
  });

  it('an event that cannot be encoded fails the call', () => {
    const noisy: Contract = { name: 'noisy', access: { go: ['operator'] }, execute: (ctx) => ctx.emit('x'.repeat(33), new Uint8Array(0)) };
    const result = executeBlock(genesisState(chain.genesis), context, [signedTx(chainId, alice, 1n, 'noisy', 'go', new Uint8Array(0))], {
      contracts: contractRegistry([noisy]),
    });
    expect(result.receipts[0]!.code).toBe('CODEC_LENGTH');
    expect(result.header.eventCount).toBe(0);
  });

  it('a contract cannot write outside the size limits', () => {
    const big: Contract = { name: 'big', access: { go: ['operator'] }, execute: (ctx) => ctx.put('k', new Uint8Array(64 * 1024 + 1)) };
    const result = executeBlock(genesisState(chain.genesis), context, [signedTx(chainId, alice, 1n, 'big', 'go', new Uint8Array(0))], {
      contracts: contractRegistry([big]),
    });
    expect(result.receipts[0]!.code).toBe('CONTRACT_STATE_LIMIT');
  });
});

describe('signature cache', () => {
  it('verifies each transaction once, recording it, and trusts what is recorded', () => {
    const verified = new VerifiedTxCache();
    const tx = transfer(chainId, alice, 1n, bob.address, 1n);
    exec([tx], { verified });
    expect(verified.has(txKey(txHash(tx)))).toBe(true);
    // A hash in the cache is not verified again: a (hypothetically) bad signature under a cached
    // hash passes, which is exactly the saving. Hashes cover the signature, so this cannot happen
    // with a real cache.
    const forged = tx.slice();
    forged[forged.length - 40] = (forged[forged.length - 40] as number) ^ 1;
    verified.add(txKey(txHash(forged)));
    expect(exec([forged], { verified }).receipts[0]!.status).toBe('ok');
    expect(errorOf(() => exec([forged], { verified: new VerifiedTxCache() }))?.code).toBe('LEDGER_BLOCK_INVALID');
  });

  it('is bounded, forgetting the oldest first', () => {
    const cache = new VerifiedTxCache(2);
    cache.add('a');
    cache.add('b');
    cache.add('c');
    expect([cache.has('a'), cache.has('b'), cache.has('c'), cache.size]).toEqual([false, true, true, 2]);
  });
});

describe('roots', () => {
  it('do not depend on anything but the block: same inputs, same header', () => {
    const txs = [transfer(chainId, alice, 1n, bob.address, 3n), transfer(chainId, bob, 1n, alice.address, 4n)];
    const a = exec(txs);
    const b = exec(txs);
    expect(a.header).toEqual(b.header);
    expect(assetBalance(a.overlay, alice.address)).toBe(101n);
  });

  it('do not depend on the order the state was built in (Map insertion order)', () => {
    const txs = [transfer(chainId, alice, 1n, bob.address, 3n), signedTx(chainId, bob, 1n, 'probe', 'ok', Uint8Array.of(1))];
    const forward = genesisState(chain.genesis);
    const backward = State.fromEntries([...forward.entries()].reverse());
    const a = executeBlock(forward, context, txs, { contracts });
    const b = executeBlock(backward, context, txs, { contracts });
    expect(b.header).toEqual(a.header);
    // Apply, then continue from a snapshot of one and the live state of the other.
    forward.apply(a.change);
    backward.apply(b.change);
    const next = { ...context, height: 2n };
    const more = [transfer(chainId, alice, 2n, bob.address, 1n)];
    expect(executeBlock(State.fromEntries(backward.entries()), next, more, { contracts }).header).toEqual(executeBlock(forward, next, more, { contracts }).header);
  });

  it('an empty block changes nothing', () => {
    const state = genesisState(chain.genesis);
    const result = executeBlock(state, context, [], { contracts });
    expect(result.stateRoot).toEqual(state.root());
    expect(result.header).toMatchObject({ txCount: 0, eventCount: 0 });
  });
});
