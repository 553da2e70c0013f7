/**
 * The delivery engine: takes accepted messages to their destinations, once in effect, in order where
 * the route asks for it, and always able to say where each one is and why.
 *
 * Shape. Every message not yet terminal lives in memory as an entry (the store holds the same record
 * durably; `start()` rebuilds the entries from it after a restart). Each target (link id) has a
 * worker: a FIFO of messages ready to go, an in-flight limit and a circuit breaker. Everything a
 * message does passes through its own promise chain, so two steps of one message (a retry firing
 * while its deadline passes, say) never interleave, while different messages proceed concurrently.
 *
 * Durability. Each status change is written to the store (`await store.update`) before anything acts
 * on it: a message is `queued` on disk before its first attempt, `delivered`/`retrying`/`dead` on
 * disk before the next thing happens to it or its channel. An attempt itself is not recorded
 * beforehand (that would add an fsync per attempt); a crash during one means it is made again with
 * the same attempt number, and the destination, which deduplicates by message id, counts it once.
 *
 * Time. The clock, the chance source and the timer are injected; all waiting (back-off, deadlines,
 * hold delays, breaker cool-downs, the stuck sweep) goes through one `Scheduler`, so tests drive
 * time by hand and never sleep.
 *
 * Choices worth knowing:
 * - Routes are resolved again at each attempt: a route added or changed later is what retries use,
 *   and no route at all when a message is due makes it dead with `DELIVER_NO_ROUTE`.
 * - While a target's breaker is open its messages wait without spending attempts; when it opens,
 *   messages queued for it are routed again so that `chooseLink` can send them to an alternate.
 * - Ordered channels (see channel.ts): a dead or expired message releases its successor.
 * - A message is flagged stuck when its status has not changed for `stuckAfterMs` (held messages wait
 *   for a person and are not flagged): once per stall, as a `MESSAGE_STUCK` line in its history (so
 *   the stream carries the alert) and an `onStuck` call.
 */
import { LoulanError, isLoulanError, type ErrorCode } from '../../core-chain/index.ts';
import type { Adapter, AdapterTarget, DeliveryOutcome } from '../../adapters/adapter.ts';
import { channelKey, HISTORY_LIMIT, messageKey, TERMINAL_STATUSES, type HistoryEntry, type MessageRecord, type MessageStatus } from '../model.ts';
import type { SwitchStore } from '../store.ts';
import { OrderedChannel, type ChannelStateJson } from './channel.ts';
import { backoffDelay, Breaker, DEFAULT_BREAKER, type AttemptVerdict, type BreakerState } from './policies.ts';
import type { ResolvedRoute, RouteTarget } from './route.ts';
import { REAL_TIMER, Scheduler, type Scheduled, type Timer } from './scheduler.ts';

export interface DeliveryLogger {
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** What `onOutcome` learns besides the link, the outcome and the latency. */
export interface OutcomeContext {
  readonly prefix: string;
  readonly attempt: number;
  readonly record: MessageRecord;
}

export interface DeliveryEngineOptions {
  readonly store: SwitchStore;
  /** The route for a destination address now (longest prefix), or undefined when none matches. */
  readonly resolve: (to: string) => ResolvedRoute | undefined;
  /** The adapter for a target; the caller keeps one instance per target and closes them. */
  readonly adapterFor: (target: AdapterTarget) => Adapter;
  /** The target to use now (health-driven fail-over). Default: the primary. */
  readonly chooseLink?: (route: ResolvedRoute) => RouteTarget;
  /** Every finished attempt, for live health and metrics. Must not throw (it is logged if it does). */
  readonly onOutcome?: (linkId: string, outcome: DeliveryOutcome, latencyMs: number, context: OutcomeContext) => void;
  /** A target's breaker changed state. */
  readonly onBreaker?: (linkId: string, state: BreakerState) => void;
  /** A message was flagged stuck (once per stall; the flag clears at its next status change). */
  readonly onStuck?: (record: MessageRecord) => void;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly timer?: Timer;
  /** No status change for this long flags a message as stuck. Default 45 s. */
  readonly stuckAfterMs?: number;
  /** How often messages are checked for being stuck. Default a third of `stuckAfterMs`, at most 15 s. */
  readonly stuckCheckMs?: number;
  /** The longest one attempt may take, whatever the adapter does. Default 60 s. */
  readonly attemptTimeoutMs?: number;
  /** In-flight limit per target when the link sets no `maxInFlight`. Default 32. */
  readonly maxInFlight?: number;
  readonly logger?: DeliveryLogger;
}

export interface LinkStats {
  readonly link: string;
  /** Messages routed to this target and not terminal: ready, in flight, backing off, or waiting their turn. */
  readonly queueDepth: number;
  readonly ready: number;
  readonly inFlight: number;
  /** Age of the oldest of them (since acceptance), 0 when there are none. */
  readonly oldestAgeMs: number;
  readonly breaker: BreakerState;
}

/** An ordered channel held because the `seq` it needs next has not arrived. */
export interface ChannelGap {
  readonly source: string;
  readonly to: string;
  readonly expectedSeq: bigint;
  /** Messages on the channel waiting behind the gap. */
  readonly waiting: number;
  /** When the channel started waiting for `expectedSeq` (Unix ms). */
  readonly since: number;
}

/** A message named by its sender and id. */
export interface MessageRef {
  readonly source: string;
  readonly id: string;
}

export interface DeliveryEngine {
  /** Loads every pending message from the store and starts delivering. Call once. */
  start(): Promise<void>;
  /** Takes newly accepted (durable) records; the engine owns these objects from now on. */
  enqueue(records: readonly MessageRecord[]): void;
  /** Stops scheduling, aborts attempts in flight, and resolves once nothing is running. */
  stop(): Promise<void>;
  /** Puts a dead message back (`queued`, a fresh attempt budget); `DLQ_NOT_FOUND` if it is not dead. */
  replay(message: MessageRef): Promise<MessageRecord>;
  /** Lets a held message go; `APPROVAL_NOT_PENDING` if it is not held. */
  release(message: MessageRef, detail?: string): Promise<MessageRecord>;
  /** Refuses a held message: dead with `DELIVER_APPROVAL_REJECTED`. */
  reject(message: MessageRef, detail?: string): Promise<MessageRecord>;
  /** Gives up on the missing `seq`s holding an ordered channel; returns them (empty if it was not held). */
  skipGap(source: string, to: string): Promise<bigint[]>;
  /** Routes every waiting and ready message again (call after the routing table changed). */
  reroute(): void;
  breakerState(linkId: string): BreakerState;
  /**
   * A probe found the target answering again (see the switch's link probes): an open breaker closes
   * at once instead of waiting out its cool-down, and waiting messages go.
   */
  probeSucceeded(linkId: string): void;
  linkStats(linkId: string): LinkStats | undefined;
  links(): LinkStats[];
  gaps(): ChannelGap[];
  /** Messages currently flagged stuck. */
  stuck(): number;
  /** Messages not yet terminal. */
  pending(): number;
  /**
   * Resolves once no step is running and none is about to: what is left waits for a timer or for an
   * answer from outside (attempts in flight are not waited for). For tests, which drive the clock.
   */
  settled(): Promise<void>;
}

export function createDeliveryEngine(options: DeliveryEngineOptions): DeliveryEngine {
  return new Engine(options);
}

/** Where an entry is, in memory; `idle` means a step owns it. */
type Where = 'idle' | 'held' | 'waiting' | 'ready' | 'inflight' | 'backoff' | 'done';

interface Attempt {
  readonly controller: AbortController;
  readonly probe: boolean;
  cause: 'deadline' | 'timeout' | 'shutdown' | undefined;
}

interface Entry {
  readonly key: string;
  readonly record: MessageRecord;
  readonly seq: bigint;
  where: Where;
  chain: Promise<void>;
  route: ResolvedRoute | undefined;
  link: Worker | undefined;
  channel: OrderedChannel<Entry> | undefined;
  /** Retry back-off or hold delay. */
  wake: Scheduled | undefined;
  deadline: Scheduled | undefined;
  attempt: Attempt | undefined;
  /** When the status last changed. */
  progressAt: number;
  stuck: boolean;
}

interface Worker {
  readonly id: string;
  target: AdapterTarget;
  maxInFlight: number;
  readonly breaker: Breaker;
  /** The breaker state last reported to `onBreaker`. */
  reported: BreakerState;
  readonly ready: Set<Entry>;
  readonly assigned: Set<Entry>;
  inFlight: number;
  wake: Scheduled | undefined;
}

type Note = Omit<HistoryEntry, 'at' | 'status'>;

const CHANNEL_PREFIX = 'delivery/channel/';
const SILENT: DeliveryLogger = { warn: () => undefined, error: () => undefined };

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new LoulanError('CONFIG_INVALID', `${name} must be a positive integer`, { details: { field: name, value } });
  }
  return value;
}

function snapshot(record: MessageRecord): MessageRecord {
  return structuredClone(record);
}

class Engine implements DeliveryEngine {
  readonly #o: DeliveryEngineOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #log: DeliveryLogger;
  readonly #sched: Scheduler;
  readonly #stuckAfterMs: number;
  readonly #stuckCheckMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #maxInFlight: number;
  readonly #entries = new Map<string, Entry>();
  readonly #workers = new Map<string, Worker>();
  readonly #channels = new Map<string, OrderedChannel<Entry>>();
  /** Running steps (store writes and what follows them). */
  readonly #tasks = new Set<Promise<void>>();
  /** Attempts in flight: they end by their answer, the deadline, the attempt timeout or `stop()`. */
  readonly #attempts = new Set<Promise<void>>();
  #stuckCount = 0;
  #started = false;
  #stopped = false;

  constructor(options: DeliveryEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger ?? SILENT;
    this.#sched = new Scheduler(this.#now, options.timer ?? REAL_TIMER);
    this.#stuckAfterMs = positive('stuckAfterMs', options.stuckAfterMs, 45_000);
    this.#stuckCheckMs = positive('stuckCheckMs', options.stuckCheckMs, Math.max(1, Math.min(15_000, Math.floor(this.#stuckAfterMs / 3))));
    this.#attemptTimeoutMs = positive('attemptTimeoutMs', options.attemptTimeoutMs, 60_000);
    this.#maxInFlight = positive('maxInFlight', options.maxInFlight, 32);
  }

  async start(): Promise<void> {
    if (this.#started) throw new LoulanError('INTERNAL', 'the delivery engine was started twice');
    this.#started = true;
    for await (const { name, value } of this.#o.store.named<ChannelStateJson>(CHANNEL_PREFIX)) {
      const key = name.slice(CHANNEL_PREFIX.length);
      const at = key.indexOf('\u0000');
      this.#channels.set(key, new OrderedChannel(key.slice(0, at), key.slice(at + 1), value));
    }
    this.#sched.at(this.#now() + this.#stuckCheckMs, this.#sweep);
    for await (const record of this.#o.store.pendingMessages()) {
      if (this.#stopped) break;
      this.#admit(record);
    }
  }

  enqueue(records: readonly MessageRecord[]): void {
    if (this.#stopped) return; // durable already: the next start picks them up
    for (const record of records) this.#admit(record);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#sched.stop();
    for (const entry of this.#entries.values()) if (entry.attempt !== undefined) this.#abort(entry.attempt, 'shutdown');
    while (this.#attempts.size > 0) await Promise.all(this.#attempts);
    await this.settled();
  }

  async settled(): Promise<void> {
    for (;;) {
      while (this.#tasks.size > 0) await Promise.all(this.#tasks);
      // Answers that are already on their way (an in-process adapter) arrive within a turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#tasks.size === 0) return;
    }
  }

  async replay(message: MessageRef): Promise<MessageRecord> {
    const record = await this.#o.store.getMessage(message.source, message.id);
    const key = messageKey(message.source, message.id);
    if (record === undefined || record.status !== 'dead' || this.#entries.has(key) || this.#stopped) {
      throw new LoulanError('DLQ_NOT_FOUND', `no dead-lettered message ${message.id} from ${message.source}`, { details: { id: message.id, source: message.source } });
    }
    record.attempts = 0;
    delete record.nextAttemptAt;
    const entry = this.#entry(record, 'idle');
    return this.#step(entry, async () => {
      await this.#write(entry, 'queued', { detail: 'replayed from the dead-letter queue with a fresh attempt budget' });
      await this.#dispatch(entry);
    }).then(() => snapshot(record));
  }

  release(message: MessageRef, detail = 'released by an operator'): Promise<MessageRecord> {
    const entry = this.#held(message);
    entry.where = 'idle';
    entry.wake?.cancel();
    entry.wake = undefined;
    return this.#step(entry, async () => {
      delete entry.record.hold;
      await this.#dispatch(entry, detail);
    }).then(() => snapshot(entry.record));
  }

  reject(message: MessageRef, detail = 'rejected by an operator'): Promise<MessageRecord> {
    const entry = this.#held(message);
    entry.where = 'idle';
    return this.#step(entry, () =>
      this.#finish(entry, 'dead', { code: 'DELIVER_APPROVAL_REJECTED', detail }, { code: 'DELIVER_APPROVAL_REJECTED', message: detail }),
    ).then(() => snapshot(entry.record));
  }

  async skipGap(source: string, to: string): Promise<bigint[]> {
    const channel = this.#channels.get(channelKey(source, to));
    if (channel === undefined) return [];
    const skipped = channel.skipGap(this.#now());
    if (skipped.length === 0) return skipped;
    await this.#o.store.put([{ name: CHANNEL_PREFIX + channelKey(source, to), value: channel.toJson() }]);
    this.#releaseHead(channel, `seq ${skipped.join(', ')} skipped by an operator`);
    return skipped;
  }

  reroute(): void {
    if (this.#stopped) return;
    for (const worker of this.#workers.values()) this.#rerouteReady(worker);
    for (const channel of this.#channels.values()) {
      for (const entry of channel.members.values()) {
        if (entry.where !== 'waiting') continue;
        entry.where = 'idle';
        void this.#step(entry, () => this.#dispatch(entry));
      }
    }
  }

  breakerState(linkId: string): BreakerState {
    return this.#workers.get(linkId)?.breaker.state(this.#now()) ?? 'closed';
  }

  probeSucceeded(linkId: string): void {
    const worker = this.#workers.get(linkId);
    if (worker === undefined || worker.breaker.state(this.#now()) === 'closed') return;
    worker.breaker.record('success', this.#now(), false);
    this.#reportBreaker(worker);
    this.#pump(worker);
  }

  linkStats(linkId: string): LinkStats | undefined {
    const worker = this.#workers.get(linkId);
    return worker === undefined ? undefined : this.#stats(worker);
  }

  links(): LinkStats[] {
    return [...this.#workers.values()].map((w) => this.#stats(w));
  }

  gaps(): ChannelGap[] {
    const out: ChannelGap[] = [];
    for (const c of this.#channels.values()) {
      if (c.gapSince !== undefined) out.push({ source: c.source, to: c.to, expectedSeq: c.next, waiting: c.members.size, since: c.gapSince });
    }
    return out;
  }

  stuck(): number {
    return this.#stuckCount;
  }

  pending(): number {
    return this.#entries.size;
  }

  // -- entries ---------------------------------------------------------------------------------------

  #entry(record: MessageRecord, where: Where): Entry {
    const key = messageKey(record.source, record.id);
    let progressAt = record.acceptedAt;
    let stuck = false;
    for (let i = record.history.length - 1; i >= 0; i--) {
      const h = record.history[i]!;
      if (h.code === 'MESSAGE_STUCK') {
        stuck ||= i === record.history.length - 1;
        continue;
      }
      progressAt = h.at;
      break;
    }
    const entry: Entry = {
      key,
      record,
      seq: BigInt(record.envelope.seq),
      where,
      chain: Promise.resolve(),
      route: undefined,
      link: undefined,
      channel: undefined,
      wake: undefined,
      deadline: undefined,
      attempt: undefined,
      progressAt,
      stuck,
    };
    if (stuck) this.#stuckCount++;
    this.#entries.set(key, entry);
    entry.deadline = this.#sched.at(record.deadline, () => this.#onDeadline(entry));
    return entry;
  }

  #admit(record: MessageRecord): void {
    if (this.#entries.has(messageKey(record.source, record.id)) || TERMINAL_STATUSES.has(record.status)) return;
    if (record.status === 'held') {
      const entry = this.#entry(record, 'held');
      const until = record.hold?.until;
      if (until !== undefined) {
        entry.wake = this.#sched.at(until, () => {
          entry.wake = undefined;
          if (entry.where === 'held') void this.release(record, 'hold delay ended').catch((error: unknown) => this.#failed(entry, error));
        });
      }
      return;
    }
    if (record.status === 'retrying' && record.nextAttemptAt !== undefined && record.nextAttemptAt > this.#now()) {
      this.#backoff(this.#entry(record, 'backoff'), record.nextAttemptAt);
      return;
    }
    const entry = this.#entry(record, 'idle');
    void this.#step(entry, () => this.#dispatch(entry));
  }

  #held(message: MessageRef): Entry {
    const entry = this.#entries.get(messageKey(message.source, message.id));
    if (entry === undefined || entry.where !== 'held' || this.#stopped) {
      throw new LoulanError('APPROVAL_NOT_PENDING', `message ${message.id} from ${message.source} is not waiting for approval`, { details: { id: message.id, source: message.source } });
    }
    return entry;
  }

  /** Runs `fn` after every earlier step of this entry; skipped once the entry is terminal. */
  #step(entry: Entry, fn: () => Promise<void> | void): Promise<void> {
    const next = entry.chain.then(async () => {
      if (entry.where !== 'done') await fn();
    });
    entry.chain = next.catch((error: unknown) => this.#failed(entry, error));
    this.#track(entry.chain);
    return next;
  }

  #track(task: Promise<void>, set = this.#tasks): void {
    const tracked = task.catch((error: unknown) => this.#log.error('delivery task failed', { error: error instanceof Error ? error.message : String(error) }));
    set.add(tracked);
    void tracked.finally(() => set.delete(tracked));
  }

  #failed(entry: Entry, error: unknown): void {
    this.#log.error('delivery step failed; the message stays as last written until the switch restarts', {
      source: entry.record.source,
      id: entry.record.id,
      code: isLoulanError(error) ? error.code : 'INTERNAL',
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Records a status change durably. Stuck notes keep the status and do not count as progress. */
  async #write(entry: Entry, status: MessageStatus, note: Note, extra: ReadonlyArray<{ name: string; value: unknown }> = []): Promise<void> {
    const r = entry.record;
    const at = this.#now();
    r.status = status;
    r.history.push({ at, status, ...note });
    if (r.history.length > HISTORY_LIMIT) r.history.splice(0, r.history.length - HISTORY_LIMIT);
    r.historyCount++;
    if (note.code !== 'MESSAGE_STUCK') {
      entry.progressAt = at;
      if (entry.stuck) {
        entry.stuck = false;
        this.#stuckCount--;
      }
    }
    await this.#o.store.update(r, extra);
  }

  // -- routing and ordering --------------------------------------------------------------------------

  /** Routes the message and puts it where it belongs now: ready on a target, or waiting its turn. */
  async #dispatch(entry: Entry, detail?: string): Promise<void> {
    if (this.#stopped) return;
    const r = entry.record;
    const now = this.#now();
    if (now >= r.deadline) return this.#expire(entry);
    const route = this.#o.resolve(r.envelope.to);
    if (route === undefined) {
      const message = `no route matches ${r.envelope.to}`;
      return this.#finish(entry, 'dead', { code: 'DELIVER_NO_ROUTE', detail: message }, { code: 'DELIVER_NO_ROUTE', message });
    }
    const target = this.#o.chooseLink?.(route) ?? route.primary;
    const worker = this.#worker(target, route);
    entry.route = route;
    if (entry.link !== worker) {
      entry.link?.assigned.delete(entry);
      worker.assigned.add(entry);
      entry.link = worker;
    }
    r.route = { prefix: route.prefix, link: worker.id };

    if (route.link.ordered) {
      const channel = this.#channel(r.source, r.envelope.to);
      entry.channel = channel;
      channel.join(entry.seq, entry, now);
      if (!channel.mayGo(entry.seq)) {
        entry.where = 'waiting';
        const waitingFor = `waiting for seq ${channel.next}`;
        const last = r.history[r.history.length - 1]?.detail;
        if (r.status !== 'waiting' || (last !== waitingFor && last !== gapDetail(channel.next))) {
          await this.#write(entry, 'waiting', { code: 'DELIVER_SEQ_WAITING', detail: waitingFor, link: worker.id });
        }
        return;
      }
    } else if (entry.channel !== undefined) {
      entry.channel.leave(entry.seq, now);
      entry.channel = undefined;
    }

    if (r.status !== 'queued' && r.status !== 'retrying') {
      await this.#write(entry, 'queued', detail === undefined ? { link: worker.id } : { link: worker.id, detail });
    }
    if (this.#stopped) return;
    entry.where = 'ready';
    worker.ready.add(entry);
    this.#pump(worker);
  }

  #channel(source: string, to: string): OrderedChannel<Entry> {
    const key = channelKey(source, to);
    let channel = this.#channels.get(key);
    if (channel === undefined) {
      channel = new OrderedChannel<Entry>(source, to);
      this.#channels.set(key, channel);
    }
    return channel;
  }

  /** Dispatches the channel's head if it has been waiting for its turn. */
  #releaseHead(channel: OrderedChannel<Entry>, detail?: string): void {
    const head = channel.head();
    if (head === undefined || head.where !== 'waiting') return;
    head.where = 'idle';
    void this.#step(head, () => this.#dispatch(head, detail));
  }

  #worker(target: RouteTarget, route: ResolvedRoute): Worker {
    let worker = this.#workers.get(target.id);
    if (worker === undefined) {
      worker = {
        id: target.id,
        target: target.target,
        maxInFlight: this.#maxInFlight,
        breaker: new Breaker(),
        reported: 'closed',
        ready: new Set(),
        assigned: new Set(),
        inFlight: 0,
        wake: undefined,
      };
      this.#workers.set(target.id, worker);
    }
    // Settings follow the route that used the target last (one target under two routes shares them).
    worker.maxInFlight = route.link.maxInFlight ?? this.#maxInFlight;
    worker.breaker.policy = route.link.breaker ?? DEFAULT_BREAKER;
    return worker;
  }

  #rerouteReady(worker: Worker): void {
    for (const entry of worker.ready) {
      worker.ready.delete(entry);
      entry.where = 'idle';
      void this.#step(entry, () => this.#dispatch(entry));
    }
  }

  /** Routes again the ready messages whose route now chooses another target (fail-over). */
  #rerouteElsewhere(worker: Worker): void {
    const choose = this.#o.chooseLink;
    if (choose === undefined) return;
    for (const entry of worker.ready) {
      if (entry.route === undefined || choose(entry.route).id === worker.id) continue;
      worker.ready.delete(entry);
      entry.where = 'idle';
      void this.#step(entry, () => this.#dispatch(entry));
    }
  }

  // -- attempts --------------------------------------------------------------------------------------

  /** Starts as many attempts as the target's in-flight limit and breaker allow. */
  #pump(worker: Worker): void {
    while (!this.#stopped && worker.inFlight < worker.maxInFlight && worker.ready.size > 0) {
      const now = this.#now();
      const grant = worker.breaker.acquire(now);
      this.#reportBreaker(worker);
      if (grant === 'wait') {
        // Messages routed here before the breaker opened, but made ready after it did, missed the
        // reroute that opening does: send them where their route goes now rather than wait it out.
        if (worker.breaker.state(now) === 'open') this.#rerouteElsewhere(worker);
        if (worker.breaker.state(now) === 'open' && worker.wake === undefined) {
          worker.wake = this.#sched.at(worker.breaker.reopensAt, () => {
            worker.wake = undefined;
            this.#pump(worker);
          });
        }
        return;
      }
      const entry = worker.ready.values().next().value!;
      worker.ready.delete(entry);
      this.#attempt(entry, worker, grant === 'probe');
    }
  }

  #attempt(entry: Entry, worker: Worker, probe: boolean): void {
    const r = entry.record;
    const started = this.#now();
    if (started >= r.deadline) {
      if (probe) worker.breaker.record('neutral', started, true);
      entry.where = 'idle';
      void this.#step(entry, () => this.#expire(entry));
      return;
    }
    const attempt: Attempt = { controller: new AbortController(), probe, cause: undefined };
    const n = r.attempts + 1;
    const prefix = entry.route?.prefix ?? '';
    entry.attempt = attempt;
    entry.where = 'inflight';
    worker.inFlight++;
    const timeout = this.#sched.at(started + this.#attemptTimeoutMs, () => this.#abort(attempt, 'timeout'));

    const run = async (): Promise<void> => {
      const aborted = new Promise<DeliveryOutcome>((resolve) => {
        attempt.controller.signal.addEventListener('abort', () => resolve(abortedOutcome(attempt.cause, this.#attemptTimeoutMs)), { once: true });
      });
      let outcome: DeliveryOutcome;
      try {
        const adapter = this.#o.adapterFor(worker.target);
        const request = { envelope: r.envelope, digest: r.digest, attempt: n, deadline: r.deadline, signal: attempt.controller.signal };
        outcome = await Promise.race([adapter.deliver(request), aborted]);
      } catch (error) {
        // Adapters never throw by contract; one that does (or a target no adapter serves) is a failed attempt.
        const code: ErrorCode = isLoulanError(error) ? error.code : 'DELIVER_FAILED';
        outcome = { ok: false, retryable: true, code, message: error instanceof Error ? error.message : String(error) };
      }
      timeout.cancel();
      entry.attempt = undefined;
      entry.where = 'idle';
      worker.inFlight--;
      const latencyMs = this.#now() - started;
      const verdict: AttemptVerdict =
        attempt.cause === 'deadline' || attempt.cause === 'shutdown' ? 'neutral' : outcome.ok || !outcome.retryable ? 'success' : 'failure';
      const change = worker.breaker.record(verdict, this.#now(), probe);
      this.#reportBreaker(worker);
      try {
        // An attempt cut short by shutdown says nothing about the destination.
        if (attempt.cause !== 'shutdown') this.#o.onOutcome?.(worker.id, outcome, latencyMs, { prefix, attempt: n, record: r });
      } catch (error) {
        this.#log.warn('onOutcome threw', { error: error instanceof Error ? error.message : String(error) });
      }
      void this.#step(entry, () => this.#settle(entry, worker, n, outcome, attempt.cause));
      if (change === 'open' && this.#o.chooseLink !== undefined) this.#rerouteReady(worker);
      this.#pump(worker);
    };
    this.#track(run(), this.#attempts);
  }

  #abort(attempt: Attempt, cause: NonNullable<Attempt['cause']>): void {
    if (attempt.cause !== undefined) return;
    attempt.cause = cause;
    attempt.controller.abort(new LoulanError(cause === 'deadline' ? 'DELIVER_EXPIRED' : 'DELIVER_FAILED', `attempt aborted: ${cause}`));
  }

  /** Records what an attempt achieved and decides what comes next. */
  async #settle(entry: Entry, worker: Worker, n: number, outcome: DeliveryOutcome, cause: Attempt['cause']): Promise<void> {
    const r = entry.record;
    const now = this.#now();
    const link = worker.id;
    if (outcome.ok) {
      r.attempts = n;
      r.receipt = { link, at: now, ...(outcome.evidence === undefined ? {} : { evidence: outcome.evidence }) };
      delete r.lastError;
      return this.#finish(entry, 'delivered', { attempt: n, link });
    }
    if (this.#stopped) return; // the attempt is made again after the restart
    r.attempts = n;
    const error = { code: outcome.code, message: outcome.message };
    if (cause === 'deadline' || now >= r.deadline) {
      return this.#finish(entry, 'expired', { attempt: n, link, code: 'DELIVER_EXPIRED', detail: `deadline passed; last attempt: ${outcome.code}` }, { code: 'DELIVER_EXPIRED', message: outcome.message });
    }
    if (!outcome.retryable) {
      return this.#finish(entry, 'dead', { attempt: n, link, code: outcome.code, detail: outcome.message }, error);
    }
    const policy = entry.route!.link.retry;
    if (n >= policy.maxAttempts) {
      return this.#finish(entry, 'dead', { attempt: n, link, code: 'DELIVER_ATTEMPTS_EXHAUSTED', detail: `${n} attempts; last: ${outcome.code}: ${outcome.message}` }, error);
    }
    const at = now + backoffDelay(policy, n, this.#random, outcome.retryAfterMs);
    r.nextAttemptAt = at;
    r.lastError = error;
    await this.#write(entry, 'retrying', { attempt: n, link, code: outcome.code, detail: outcome.message });
    if (!this.#stopped) this.#backoff(entry, at);
  }

  #backoff(entry: Entry, at: number): void {
    entry.where = 'backoff';
    entry.wake = this.#sched.at(at, () => {
      entry.wake = undefined;
      if (entry.where !== 'backoff') return;
      entry.where = 'idle';
      void this.#step(entry, () => this.#dispatch(entry));
    });
  }

  #reportBreaker(worker: Worker): void {
    const state = worker.breaker.state(this.#now());
    if (state === worker.reported) return;
    worker.reported = state;
    try {
      this.#o.onBreaker?.(worker.id, state);
    } catch (error) {
      this.#log.warn('onBreaker threw', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  // -- endings ---------------------------------------------------------------------------------------

  #onDeadline(entry: Entry): void {
    entry.deadline = undefined;
    if (entry.attempt !== undefined) this.#abort(entry.attempt, 'deadline');
    else void this.#step(entry, () => this.#expire(entry));
  }

  async #expire(entry: Entry): Promise<void> {
    // An attempt that started meanwhile is cut short; its settlement expires the message.
    if (entry.attempt !== undefined) return this.#abort(entry.attempt, 'deadline');
    const message = `the deadline ${new Date(entry.record.deadline).toISOString()} passed before delivery`;
    return this.#finish(entry, 'expired', { code: 'DELIVER_EXPIRED', detail: message }, { code: 'DELIVER_EXPIRED', message });
  }

  /** Writes a terminal status (with the channel's new state, atomically) and releases the successor. */
  async #finish(entry: Entry, status: 'delivered' | 'dead' | 'expired', note: Note, lastError?: { code: string; message: string }): Promise<void> {
    const r = entry.record;
    entry.where = 'done';
    entry.link?.ready.delete(entry);
    entry.link?.assigned.delete(entry);
    entry.wake?.cancel();
    entry.deadline?.cancel();
    delete r.nextAttemptAt;
    if (lastError !== undefined) r.lastError = lastError;
    const channel = entry.channel;
    const extra = channel?.finish(entry.seq, this.#now()) ? [{ name: CHANNEL_PREFIX + channelKey(channel.source, channel.to), value: channel.toJson() }] : [];
    const written = this.#write(entry, status, note, extra);
    // The successor's `queued` write joins the same group commit or a later one (the store applies
    // writes in call order), and its attempt waits for that write: it cannot go out before this
    // state is durable, and an ordered channel costs one fsync per message instead of two.
    if (channel !== undefined) this.#releaseHead(channel);
    try {
      await written;
    } finally {
      this.#entries.delete(entry.key);
      if (entry.stuck) {
        entry.stuck = false;
        this.#stuckCount--;
      }
    }
    if (channel !== undefined && channel.head() === undefined && channel.gapSince !== undefined) this.#noteGap(channel);
  }

  /**
   * A gap just opened behind a finished message: the first message waiting behind it learns which
   * `seq` is missing (the others keep naming the one they waited for when they arrived).
   */
  #noteGap(channel: OrderedChannel<Entry>): void {
    let first: Entry | undefined;
    for (const [seq, entry] of channel.members) if (seq > channel.next && (first === undefined || seq < first.seq)) first = entry;
    if (first === undefined || first.where !== 'waiting') return;
    const entry = first;
    const detail = gapDetail(channel.next);
    void this.#step(entry, async () => {
      if (entry.where === 'waiting' && entry.record.history.at(-1)?.detail !== detail) {
        await this.#write(entry, 'waiting', { code: 'DELIVER_SEQ_WAITING', detail, ...(entry.link === undefined ? {} : { link: entry.link.id }) });
      }
    });
  }

  // -- stuck messages --------------------------------------------------------------------------------

  #sweep = (): void => {
    const now = this.#now();
    for (const entry of this.#entries.values()) {
      if (entry.stuck || entry.where === 'held' || entry.where === 'done' || now - entry.progressAt < this.#stuckAfterMs) continue;
      entry.stuck = true;
      this.#stuckCount++;
      const stalled = now - entry.progressAt;
      void this.#step(entry, async () => {
        await this.#write(entry, entry.record.status, { code: 'MESSAGE_STUCK', detail: `no status change for ${stalled} ms` });
        try {
          this.#o.onStuck?.(snapshot(entry.record));
        } catch (error) {
          this.#log.warn('onStuck threw', { error: error instanceof Error ? error.message : String(error) });
        }
      });
    }
    this.#sched.at(now + this.#stuckCheckMs, this.#sweep);
  };

  #stats(worker: Worker): LinkStats {
    const now = this.#now();
    let oldest = now;
    for (const entry of worker.assigned) if (entry.record.acceptedAt < oldest) oldest = entry.record.acceptedAt;
    return {
      link: worker.id,
      queueDepth: worker.assigned.size,
      ready: worker.ready.size,
      inFlight: worker.inFlight,
      oldestAgeMs: now - oldest,
      breaker: worker.breaker.state(now),
    };
  }
}

function gapDetail(missing: bigint): string {
  return `waiting for seq ${missing}, which has not arrived`;
}

function abortedOutcome(cause: Attempt['cause'], timeoutMs: number): DeliveryOutcome {
  if (cause === 'deadline') return { ok: false, retryable: false, code: 'DELIVER_EXPIRED', message: 'the message deadline passed during the attempt' };
  if (cause === 'timeout') return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: `the attempt took longer than ${timeoutMs} ms` };
  return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: 'the switch is shutting down' };
}
