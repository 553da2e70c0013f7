/**
 * The set of transaction hashes whose signatures this process has already verified.
 *
 * A P-256 verification costs about 65 µs, most of a validator's per-transaction budget, and every
 * transaction meets a validator twice: at mempool admission and again inside the block that carries
 * it. A hash covers the whole encoding, signature included (tx.ts), so "this hash verified" is a fact
 * about those exact bytes and the second check can be skipped. Only successes are recorded.
 *
 * Bounded FIFO: the oldest hashes are forgotten first. Forgetting only costs a re-verification.
 */
export class VerifiedTxCache {
  readonly #set = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = 262_144) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** `key` is `txKey(hash)`. */
  has(key: string): boolean {
    return this.#set.has(key);
  }

  add(key: string): void {
    if (this.#set.has(key)) return;
    if (this.#set.size >= this.#capacity) {
      const oldest = this.#set.values().next();
      if (oldest.done !== true) this.#set.delete(oldest.value);
    }
    this.#set.add(key);
  }

  get size(): number {
    return this.#set.size;
  }
}

/** The string form of a tx hash used as a map key across the ledger (lowercase hex). */
export function txKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}
