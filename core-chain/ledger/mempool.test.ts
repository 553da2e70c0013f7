import { describe, expect, it } from 'vitest';
import { sha256, toHex } from '../crypto/hash.ts';
import { contractRegistry } from './contracts.ts';
import { createAssetContract } from './contracts/asset.ts';
import { Mempool, type MempoolOptions } from './mempool.ts';
import { codeOf, errorOf, makeAccount, makeChain, signedTx, transfer, type Account } from './testkit.ts';
import { decodeTx, txHash } from './tx.ts';
import { txKey, VerifiedTxCache } from './verified.ts';

const chain = makeChain({ accounts: 4 });
const chainId = chain.genesis.chainId;
const [a, b, c, d] = chain.accounts as [Account, Account, Account, Account];
const TO = 'f'.repeat(40);

function pool(options: Partial<MempoolOptions> & { committed?: Map<string, bigint> } = {}) {
  const committed = options.committed ?? new Map<string, bigint>();
  const mempool = new Mempool({ chainId, nonceOf: (addr) => committed.get(addr) ?? 0n, ...options });
  return { mempool, committed };
}

const tx = (from: Account, nonce: bigint, amount = 1n) => transfer(chainId, from, nonce, TO, amount);
const senderOf = (bytes: Uint8Array) => toHex(decodeTx(bytes).sender.publicKey);
const nonceOf = (bytes: Uint8Array) => decodeTx(bytes).nonce;

describe('admission', () => {
  it('accepts a valid transaction, caching its hash as verified', () => {
    const verified = new VerifiedTxCache();
    const { mempool } = pool({ verified });
    const bytes = tx(a, 1n);
    const result = mempool.add(bytes);
    expect(result).toEqual({ hash: txHash(bytes), duplicate: false });
    expect(verified.has(txKey(result.hash))).toBe(true);
    expect([mempool.size, mempool.bytes, mempool.executableCount()]).toEqual([1, bytes.length, 1]);
    expect(mempool.get(result.hash)?.sender).toBe(a.address);
  });

  it('is idempotent: a duplicate returns the existing hash and changes nothing', () => {
    const { mempool } = pool();
    const bytes = tx(a, 1n);
    const first = mempool.add(bytes);
    expect(mempool.add(bytes)).toEqual({ hash: first.hash, duplicate: true });
    expect(mempool.size).toBe(1);
  });

  it('refuses malformed bytes, another chain, bad signatures and unknown contracts', () => {
    const { mempool } = pool({ contracts: contractRegistry([createAssetContract()]) });
    expect(codeOf(() => mempool.add(Uint8Array.of(1, 2)))).toBe('CODEC_TRUNCATED');
    expect(codeOf(() => mempool.add(transfer(sha256(Uint8Array.of(1)), a, 1n, TO, 1n)))).toBe('LEDGER_WRONG_CHAIN');
    const forged = tx(a, 1n);
    forged[forged.length - 40] = (forged[forged.length - 40] as number) ^ 1;
    expect(codeOf(() => mempool.add(forged))).toMatch(/^CRYPTO_(SIGNATURE_INVALID|MALFORMED_SIGNATURE)$/);
    expect(codeOf(() => mempool.add(signedTx(chainId, a, 1n, 'nosuch', 'x', new Uint8Array(0))))).toBe('LEDGER_UNKNOWN_CONTRACT');
    expect(mempool.size).toBe(0);
  });

  it('refuses a used nonce (LEDGER_NONCE_STALE) and one too far ahead (LEDGER_NONCE_GAP)', () => {
    const { mempool, committed } = pool({ maxNonceAhead: 4 });
    committed.set(a.address, 3n);
    const stale = errorOf(() => mempool.add(tx(a, 3n)));
    expect(stale?.code).toBe('LEDGER_NONCE_STALE');
    expect(stale?.details).toMatchObject({ nonce: 3n, committed: 3n });
    expect(codeOf(() => mempool.add(tx(a, 8n)))).toBe('LEDGER_NONCE_GAP');
    expect(codeOf(() => mempool.add(tx(a, 7n)))).toBe('none');
  });

  it('never replaces a pending (sender, nonce) (MEMPOOL_NONCE_TAKEN)', () => {
    const { mempool } = pool();
    mempool.add(tx(a, 1n, 1n));
    expect(codeOf(() => mempool.add(tx(a, 1n, 2n)))).toBe('MEMPOOL_NONCE_TAKEN');
  });

  it('bounds pending transactions per sender (MEMPOOL_SENDER_LIMIT)', () => {
    const { mempool, committed } = pool({ maxPerSender: 2 });
    mempool.add(tx(a, 1n));
    mempool.add(tx(a, 3n));
    expect(codeOf(() => mempool.add(tx(a, 2n)))).toBe('MEMPOOL_SENDER_LIMIT');
    expect(codeOf(() => mempool.add(tx(b, 1n)))).toBe('none');
    // Commits free the sender's slots.
    committed.set(a.address, 1n);
    mempool.onCommit([txHash(tx(a, 1n))], undefined, [a.address]);
    expect(codeOf(() => mempool.add(tx(a, 2n)))).toBe('none');
  });

  it('bounds the total count and bytes (MEMPOOL_FULL)', () => {
    const { mempool } = pool({ maxTxs: 2 });
    mempool.add(tx(a, 1n));
    mempool.add(tx(b, 1n));
    expect(codeOf(() => mempool.add(tx(c, 1n)))).toBe('MEMPOOL_FULL');
    const one = tx(a, 1n);
    const { mempool: small } = pool({ maxBytes: one.length * 2 - 1 });
    small.add(one);
    expect(codeOf(() => small.add(tx(b, 1n)))).toBe('MEMPOOL_FULL');
  });
});

describe('executable transactions', () => {
  it('count only nonces that continue contiguously from the committed one', () => {
    const { mempool } = pool();
    mempool.add(tx(a, 2n));
    mempool.add(tx(a, 4n));
    expect(mempool.executableCount()).toBe(0);
    expect(mempool.take(10, 1 << 20)).toEqual([]);
    mempool.add(tx(a, 1n));
    expect(mempool.executableCount()).toBe(2);
    mempool.add(tx(a, 3n));
    expect(mempool.executableCount()).toBe(4);
    expect(mempool.take(10, 1 << 20).map(nonceOf)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('take serves senders round-robin, nonce order per sender, without removing anything', () => {
    const { mempool } = pool();
    for (let n = 1n; n <= 3n; n++) mempool.add(tx(a, n));
    mempool.add(tx(b, 1n));
    for (let n = 1n; n <= 2n; n++) mempool.add(tx(c, n));
    const taken = mempool.take(100, 1 << 20);
    const names = new Map([a, b, c].map((x, i) => [toHex(x.publicKey), 'abc'[i]]));
    expect(taken.map((t) => `${names.get(senderOf(t))}${nonceOf(t)}`)).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
    expect(mempool.size).toBe(6);
  });

  it('is fair across blocks: senders served last time go to the back of the line', () => {
    const { mempool } = pool();
    for (const s of [a, b, c, d]) for (let n = 1n; n <= 3n; n++) mempool.add(tx(s, n));
    const first = mempool.take(2, 1 << 20).map(senderOf);
    const second = mempool.take(2, 1 << 20).map(senderOf);
    expect(new Set([...first, ...second]).size).toBe(4);
  });

  it('respects the byte budget without breaking nonce order', () => {
    const { mempool } = pool();
    const small = tx(a, 1n);
    mempool.add(small);
    mempool.add(tx(a, 2n));
    expect(mempool.take(10, small.length).length).toBe(1);
    expect(mempool.take(10, small.length - 1)).toEqual([]);
    expect(mempool.take(1, 1 << 20).length).toBe(1);
  });

  it('onCommit drops included transactions and those made stale by them', () => {
    const { mempool, committed } = pool();
    const a1 = tx(a, 1n);
    mempool.add(a1);
    mempool.add(tx(a, 2n));
    mempool.add(tx(a, 3n));
    const b1 = tx(b, 1n, 1n);
    mempool.add(b1);
    mempool.add(tx(b, 2n));
    // The block carried a1 and ANOTHER transaction of b's with nonce 1 (not ours): b1 is stale.
    committed.set(a.address, 1n);
    committed.set(b.address, 1n);
    mempool.onCommit([txHash(a1), txHash(tx(b, 1n, 99n))], (addr) => committed.get(addr) ?? 0n, [b.address]);
    expect(mempool.has(txHash(a1))).toBe(false);
    expect(mempool.has(txHash(b1))).toBe(false);
    expect([mempool.size, mempool.executableCount()]).toEqual([3, 3]);
    expect(mempool.take(10, 1 << 20).map(nonceOf)).toEqual([2n, 2n, 3n]);
  });

  it('admission notices a commit it was not told about (stale queue entries are dropped)', () => {
    const { mempool, committed } = pool();
    mempool.add(tx(a, 1n));
    mempool.add(tx(a, 2n));
    committed.set(a.address, 1n);
    mempool.add(tx(a, 3n));
    expect([mempool.size, mempool.executableCount()]).toEqual([2, 2]);
  });

  it('remove drops one transaction and holds back the ones after it', () => {
    const { mempool } = pool();
    const first = tx(a, 1n);
    mempool.add(first);
    mempool.add(tx(a, 2n));
    expect(mempool.remove(txHash(first))).toBe(true);
    expect(mempool.remove(txHash(first))).toBe(false);
    expect([mempool.size, mempool.executableCount()]).toEqual([1, 0]);
  });

  it('keeps many senders and their counts consistent under churn', () => {
    const { mempool, committed } = pool();
    const senders = Array.from({ length: 12 }, () => makeAccount('Ed25519'));
    for (const s of senders) for (let n = 1n; n <= 3n; n++) mempool.add(tx(s, n));
    expect(mempool.executableCount()).toBe(36);
    const taken = mempool.take(20, 1 << 20);
    expect(taken.length).toBe(20);
    for (const t of taken) {
      const decoded = decodeTx(t);
      const addr = senders.find((s) => toHex(s.publicKey) === toHex(decoded.sender.publicKey))!.address;
      committed.set(addr, decoded.nonce > (committed.get(addr) ?? 0n) ? decoded.nonce : (committed.get(addr) ?? 0n));
    }
    mempool.onCommit(taken.map(txHash));
    expect(mempool.size).toBe(16);
    expect(mempool.executableCount()).toBe(16);
  });
});
