/**
 * Nonces for one account under concurrent submissions.
 *
 * Every submission needs the next nonce, and a gap (a nonce taken but never broadcast) stalls every
 * later transaction of the account. So a nonce is handed out only for the moment of the broadcast:
 * `withNonce` runs its callback under a lock, with the next nonce, and advances only when the
 * callback succeeds (the node accepted the transaction). Estimation and waiting for the receipt
 * happen outside the lock, so N concurrent submissions estimate and confirm in parallel and only
 * their broadcasts are serialized: N distinct, consecutive nonces, no gaps.
 *
 * When a broadcast fails, or a transaction is later found dropped or replaced, the local counter may
 * no longer match the node, so it is forgotten and re-read from the node's pending count on the next
 * use: the node is the source of truth, the counter only a cache of it.
 */

export interface NonceManager {
  /**
   * Runs `send` with the next nonce, one at a time. The nonce counts as used when `send` resolves;
   * when it throws, the counter is re-read from the node before the next use.
   */
  withNonce<T>(send: (nonce: number) => Promise<T>): Promise<T>;
  /** Forget the counter (a dropped or replaced transaction); the next use re-reads the node. */
  reset(): void;
}

/**
 * @param pendingCount the account's transaction count including pending ones
 *   (`eth_getTransactionCount(address, 'pending')`).
 *
 * @example
 * const nonces = createNonceManager(() => provider.getTransactionCount(signer.address, 'pending'));
 * const hash = await nonces.withNonce(async (nonce) => broadcast(await sign({ ...tx, nonce })));
 */
export function createNonceManager(pendingCount: () => Promise<number>): NonceManager {
  let next: number | undefined;
  // Bumped by reset(): a broadcast that was already under way must not restore the stale counter.
  let generation = 0;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    withNonce<T>(send: (nonce: number) => Promise<T>): Promise<T> {
      const run = tail.then(async () => {
        if (next === undefined) next = await pendingCount();
        const nonce = next;
        const started = generation;
        try {
          const result = await send(nonce);
          if (started === generation) next = nonce + 1;
          return result;
        } catch (error) {
          next = undefined;
          throw error;
        }
      });
      tail = run.catch(() => undefined);
      return run;
    },
    reset() {
      generation++;
      next = undefined;
    },
  };
}
