/**
 * One timer for everything the delivery engine waits for: retry back-offs, message deadlines, hold
 * delays, breaker cool-downs and the stuck-message sweep.
 *
 * Why not one `setTimeout` each: every pending message has a deadline, so a backlog of 100,000
 * messages would mean 100,000 live timers, and tests would need fake timers that also fake the
 * store's `setImmediate`. Instead, due times sit in a binary min-heap indexed by position (so a
 * cancelled item leaves at once: a delivered message must not keep its deadline alive for hours), and
 * a single injected timer is armed for the earliest one. The clock and the timer are capabilities, so
 * a test drives time by hand and never sleeps.
 */

/** The timer capability: arm a callback after `ms`, or disarm it. Defaults to `setTimeout`. */
export interface Timer {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const REAL_TIMER: Timer = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Node's timers take at most 2^31 - 1 ms; a later due time re-arms when that fires. */
const MAX_DELAY = 2 ** 31 - 1;

interface Item {
  readonly at: number;
  /** Insertion number: items due at the same time run in the order they were scheduled. */
  readonly no: number;
  readonly run: () => void;
  /** Position in the heap, or -1 once run or cancelled. */
  index: number;
}

/** Handle to a scheduled callback: `cancel()` removes it; calling it twice is harmless. */
export interface Scheduled {
  readonly at: number;
  cancel(): void;
}

export class Scheduler {
  readonly #now: () => number;
  readonly #timer: Timer;
  readonly #heap: Item[] = [];
  #no = 0;
  #armed: { handle: unknown; at: number } | undefined;
  #stopped = false;
  /** While due items run, arming waits until they are done (what they schedule for now runs in this turn). */
  #firing = false;

  constructor(now: () => number, timer: Timer) {
    this.#now = now;
    this.#timer = timer;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Runs `run` once the clock reaches `at` (at once, on the next timer turn, if it already has). */
  at(at: number, run: () => void): Scheduled {
    const item: Item = { at, no: this.#no++, run, index: this.#heap.length };
    this.#heap.push(item);
    this.#up(item.index);
    this.#arm();
    return {
      at,
      cancel: () => {
        if (item.index < 0) return;
        this.#remove(item.index);
        this.#arm();
      },
    };
  }

  /** Disarms the timer and forgets every item; nothing runs afterwards. */
  stop(): void {
    this.#stopped = true;
    if (this.#armed !== undefined) this.#timer.clear(this.#armed.handle);
    this.#armed = undefined;
    for (const item of this.#heap) item.index = -1;
    this.#heap.length = 0;
  }

  /** Runs every item due by now, earliest first; what they schedule for now runs in the same turn. */
  #fire = (): void => {
    this.#armed = undefined;
    this.#firing = true;
    const now = this.#now();
    try {
      for (;;) {
        const top = this.#heap[0];
        if (top === undefined || top.at > now || this.#stopped) break;
        this.#remove(0);
        top.run();
      }
    } finally {
      this.#firing = false;
      this.#arm();
    }
  };

  #arm(): void {
    if (this.#stopped || this.#firing) return;
    const top = this.#heap[0];
    if (this.#armed !== undefined) {
      if (top !== undefined && this.#armed.at <= top.at) return;
      this.#timer.clear(this.#armed.handle);
      this.#armed = undefined;
    }
    if (top === undefined) return;
    const delay = Math.min(MAX_DELAY, Math.max(0, top.at - this.#now()));
    this.#armed = { handle: this.#timer.set(this.#fire, delay), at: top.at };
  }

  #remove(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    const last = heap.pop()!;
    item.index = -1;
    if (last === item) return;
    heap[index] = last;
    last.index = index;
    this.#down(index);
    this.#up(last.index);
  }

  #less(a: Item, b: Item): boolean {
    return a.at < b.at || (a.at === b.at && a.no < b.no);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!this.#less(item, parent)) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.index = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    const n = heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#less(heap[right]!, heap[left]!)) child = right;
      if (!this.#less(heap[child]!, item)) break;
      heap[index] = heap[child]!;
      heap[index]!.index = index;
      index = child;
    }
    heap[index] = item;
    item.index = index;
  }
}
