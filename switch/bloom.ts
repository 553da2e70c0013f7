/**
 * A Bloom filter over message keys, so that intake's idempotency check costs no store read for a
 * message the switch has never seen (nearly every message): "definitely not present" answers at once,
 * "maybe present" falls back to the store. False positives only cost a read; there are no false
 * negatives, so no resend is ever taken for new.
 *
 * 2^24 bits (2 MiB) and 7 probes keep false positives near 1 % up to about 1.7 million keys and
 * degrade gently beyond (a read per message, as without the filter). It lives in memory and is
 * rebuilt from the store's id index when the switch starts.
 */
const BITS = 1 << 24;
const PROBES = 7;

export class BloomFilter {
  readonly #bits = new Uint32Array(BITS / 32);

  add(key: string): void {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0 & (BITS - 1);
      this.#bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mayContain(key: string): boolean {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0 & (BITS - 1);
      if ((this.#bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two independent 32-bit hashes of the UTF-16 code units (FNV-1a and a multiplicative mix). */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, (b | 1) >>> 0];
}
