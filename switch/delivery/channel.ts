/**
 * Ordering for one (`source`, `to`) channel on an ordered link: which `seq` may go next, and whether
 * the channel is held by a gap.
 *
 * The channel releases `seq` n only once every `seq` below it has reached a terminal state, starting
 * at 1. Terminal means delivered, dead or expired: a message in the dead-letter queue releases its
 * successor. Holding the channel for it instead would stop every later message until an operator
 * acted, for a failure that replaying would not cure in order anyway (its successors may well have
 * deadlines); the DLQ keeps the evidence, and a replayed message goes out on its own, ungated.
 *
 * State kept per channel is `next` (the lowest `seq` not yet terminal) plus the terminal numbers
 * above it (messages that expired while waiting behind a gap), so the channel can step over them
 * once the gap fills, also after a restart. It is persisted in the same store write as the message
 * change that moves it, so the two never disagree.
 */

/** Stored form (decimal strings, like every `seq` in JSON). */
export interface ChannelStateJson {
  readonly next: string;
  readonly done?: readonly string[];
}

export class OrderedChannel<T> {
  readonly source: string;
  readonly to: string;
  /** The lowest `seq` not yet terminal: the one allowed to go. */
  #next: bigint;
  /** Terminal numbers above `next`. */
  readonly #done: Set<bigint>;
  /** Pending messages on the channel by `seq`. */
  readonly members = new Map<bigint, T>();
  /** How many members are below `next` (replayed ones): they never hold the channel. */
  #below = 0;
  /** When the channel started waiting for a `seq` that is not there; undefined when it is not held. */
  gapSince: number | undefined;

  constructor(source: string, to: string, json?: ChannelStateJson) {
    this.source = source;
    this.to = to;
    this.#next = json === undefined ? 1n : BigInt(json.next);
    this.#done = new Set((json?.done ?? []).map((s) => BigInt(s)));
  }

  get next(): bigint {
    return this.#next;
  }

  toJson(): ChannelStateJson {
    const done = [...this.#done].sort((a, b) => (a < b ? -1 : 1)).map(String);
    return done.length === 0 ? { next: String(this.#next) } : { next: String(this.#next), done };
  }

  /** True when `seq` may be attempted now: it is next, or below it (a replayed message goes ungated). */
  mayGo(seq: bigint): boolean {
    return seq <= this.#next;
  }

  join(seq: bigint, member: T, now: number): void {
    if (!this.members.has(seq) && seq < this.#next) this.#below++;
    // A replayed message pending again is no longer a terminal number to step over.
    this.#done.delete(seq);
    this.members.set(seq, member);
    this.#track(now);
  }

  /** Takes a message off the channel without a verdict (its route stopped being ordered). */
  leave(seq: bigint, now: number): void {
    this.#drop(seq);
    this.#track(now);
  }

  /**
   * Records that `seq` reached a terminal state. Returns true when the persisted state changed; the
   * member now at the head, if any, is `head()`.
   */
  finish(seq: bigint, now: number): boolean {
    this.#drop(seq);
    let changed = false;
    if (seq === this.#next) {
      this.#next++;
      while (this.#done.delete(this.#next)) this.#next++;
      changed = true;
    } else if (seq > this.#next) {
      this.#done.add(seq);
      changed = true;
    }
    this.#track(now);
    return changed;
  }

  /** The member whose turn it is, if it has arrived. */
  head(): T | undefined {
    return this.members.get(this.#next);
  }

  /**
   * Gives up on the missing `seq`s before the lowest waiting member (an operator's decision), so the
   * channel moves again. Returns the numbers skipped, empty when the channel was not held.
   */
  skipGap(now: number): bigint[] {
    if (this.members.size === 0 || this.members.has(this.#next)) return [];
    let lowest: bigint | undefined;
    for (const seq of this.members.keys()) if (seq > this.#next && (lowest === undefined || seq < lowest)) lowest = seq;
    if (lowest === undefined) return [];
    const skipped: bigint[] = [];
    while (this.#next < lowest) {
      if (!this.#done.delete(this.#next)) skipped.push(this.#next);
      this.#next++;
    }
    this.#track(now);
    return skipped;
  }

  #drop(seq: bigint): void {
    if (this.members.delete(seq) && seq < this.#next) this.#below--;
  }

  #track(now: number): void {
    // Members above `next` exist and `next` itself is missing. (`next` only moves past numbers that
    // are terminal or skipped, never past a member, so `#below` stays exact.)
    const held = this.members.size > this.#below && !this.members.has(this.#next);
    if (!held) this.gapSince = undefined;
    else this.gapSince ??= now;
  }
}
