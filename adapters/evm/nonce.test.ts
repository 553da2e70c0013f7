import { describe, expect, it } from 'vitest';
import { createNonceManager } from './nonce.ts';

describe('nonce manager', () => {
  it('hands out distinct consecutive nonces to concurrent senders, reading the node once', async () => {
    let reads = 0;
    const nonces = createNonceManager(async () => {
      reads++;
      return 7;
    });
    const used = await Promise.all(Array.from({ length: 20 }, () => nonces.withNonce(async (n) => n)));
    expect([...used].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 7 + i));
    expect(reads).toBe(1);
  });

  it('does not advance past a failed broadcast, and re-reads the node after it', async () => {
    let chain = 3;
    const nonces = createNonceManager(async () => chain);
    expect(await nonces.withNonce(async (n) => n)).toBe(3);
    chain = 4;
    await expect(nonces.withNonce(async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(await nonces.withNonce(async (n) => n)).toBe(4);
    expect(await nonces.withNonce(async (n) => n)).toBe(5);
  });

  it('reset during a broadcast is not undone by that broadcast succeeding', async () => {
    let chain = 0;
    const nonces = createNonceManager(async () => chain);
    await nonces.withNonce(async (n) => {
      chain = 10;
      nonces.reset();
      return n;
    });
    expect(await nonces.withNonce(async (n) => n)).toBe(10);
  });
});
