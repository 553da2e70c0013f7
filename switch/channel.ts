/**
 * Replay protection per channel (`source`, `to`): a sliding window over sequence numbers, as IPsec
 * (RFC 4303 §3.4.3) and DTLS do it. The channel remembers the highest `seq` it accepted and one bit
 * for each of the `WINDOW` numbers below it. A `seq` is accepted once; a `seq` too far below the
 * highest can no longer be checked and is refused as too old.
 *
 * Why a window and not "strictly increasing": senders on unordered links send concurrently, so
 * messages arrive out of order, and an ordered link holds a gap until the missing message arrives;
 * both need an earlier `seq` to be accepted after a later one. Why not a set of every `seq` seen: it
 * grows without bound. The window is fixed-size (512 bytes per channel) and is stored with the
 * messages it admits, in the same atomic batch.
 */
import { LoulanError } from '../core-chain/index.ts';

/** Sequence numbers remembered below the highest accepted one. */
export const WINDOW = 4096;

/**
 * Stored form: `highest` as a decimal string; the bitmap as `ones` leading 0xff bytes followed by
 * `bits` (base64, trailing zero bytes dropped). A sender that uses its numbers in order has a bitmap
 * of all ones, so its window stores in a few dozen bytes instead of 700; it is written with every
 * message that moves it.
 */
export interface ChannelStateJson {
  readonly highest: string;
  readonly ones?: number;
  readonly bits: string;
}

export class ReplayWindow {
  #highest: bigint;
  /** Bit i (byte i >> 3, bit i & 7) is set when `highest - i` has been accepted. */
  #bits: Uint8Array;

  constructor(json?: ChannelStateJson) {
    this.#highest = json === undefined ? -1n : BigInt(json.highest);
    this.#bits = new Uint8Array(WINDOW / 8);
    if (json !== undefined) {
      const ones = json.ones ?? 0;
      const rest = Buffer.from(json.bits, 'base64');
      if (!Number.isInteger(ones) || ones < 0 || ones + rest.length > WINDOW / 8) throw new TypeError('channel state has a bitmap of the wrong size');
      this.#bits.fill(0xff, 0, ones);
      this.#bits.set(rest, ones);
    }
  }

  get highest(): bigint {
    return this.#highest;
  }

  /** Throws `INTAKE_SEQ_REPLAY` or `INTAKE_SEQ_TOO_OLD` when `seq` cannot be accepted; changes nothing. */
  check(seq: bigint): void {
    if (seq > this.#highest) return;
    const distance = this.#highest - seq;
    if (distance >= BigInt(WINDOW)) {
      throw new LoulanError('INTAKE_SEQ_TOO_OLD', `seq ${seq} is below the replay window`, {
        details: { pointer: '/seq', seq: seq.toString(), highest: this.#highest.toString(), window: WINDOW },
      });
    }
    const i = Number(distance);
    if ((this.#bits[i >> 3]! & (1 << (i & 7))) !== 0) {
      throw new LoulanError('INTAKE_SEQ_REPLAY', `seq ${seq} was already used on this channel`, { details: { pointer: '/seq', seq: seq.toString() } });
    }
  }

  /** Marks `seq` as used; call only after `check(seq)` passed. */
  accept(seq: bigint): void {
    if (seq > this.#highest) {
      const shift = this.#highest < 0n ? WINDOW : seq - this.#highest;
      this.#shift(shift >= BigInt(WINDOW) ? WINDOW : Number(shift));
      this.#highest = seq;
      this.#bits[0]! |= 1;
      return;
    }
    const i = Number(this.#highest - seq);
    this.#bits[i >> 3]! |= 1 << (i & 7);
  }

  /** `check` then `accept`. */
  use(seq: bigint): void {
    this.check(seq);
    this.accept(seq);
  }

  toJSON(): ChannelStateJson {
    const b = this.#bits;
    let ones = 0;
    while (ones < b.length && b[ones] === 0xff) ones++;
    let end = b.length;
    while (end > ones && b[end - 1] === 0) end--;
    return { highest: this.#highest.toString(), ones, bits: Buffer.from(b.subarray(ones, end)).toString('base64') };
  }

  /** Moves every bit i to i + n (older), dropping those that fall out of the window. */
  #shift(n: number): void {
    if (n <= 0) return;
    if (n >= WINDOW) {
      this.#bits.fill(0);
      return;
    }
    const bytes = n >> 3;
    const bits = n & 7;
    const b = this.#bits;
    for (let i = b.length - 1; i >= 0; i--) {
      const from = i - bytes;
      const hi = from >= 0 ? b[from]! : 0;
      const lo = from - 1 >= 0 ? b[from - 1]! : 0;
      b[i] = bits === 0 ? hi : ((hi << bits) | (lo >>> (8 - bits))) & 0xff;
    }
  }
}
