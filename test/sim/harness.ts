/**
 * Deterministic simulation of the PBFT core: real `Replica` state machines over a simulated network and
 * clock, driven by a seeded schedule of faults. Everything a schedule does (delays, losses, duplicates,
 * crashes with a random prefix of a step's effects carried out, partitions, Byzantine behaviour, twins)
 * is decided by the seed, so any failure replays exactly from its seed.
 *
 * The checker runs after every commit: no two different digests committed at one height by any
 * honest instance, and every committed block carries a valid certificate (q distinct members' valid
 * signatures over the commit layout, for the block's digest, at the right height). After the heal
 * time the network is reliable and crashed nodes restart; every honest instance must then commit every
 * client request within the liveness bound.
 *
 * Signatures here are HMACs with a per-validator secret: a Byzantine instance can sign only as itself,
 * which is exactly the property the protocol relies on. The real secp256k1 signer is tested elsewhere.
 */
import { createHash, createHmac } from 'node:crypto';
import { Replica } from '../../core-chain/consensus/replica.ts';
import { commitSigningBytes, signingBytes, type ChainBinding } from '../../core-chain/consensus/messages.ts';
import { quorum } from '../../core-chain/consensus/quorum.ts';
import type {
  Certificate,
  ConsensusApp,
  ConsensusCrypto,
  ConsensusMessage,
  Effect,
  Input,
  Propose,
  SafetyState,
  TimerName,
  Vote,
} from '../../core-chain/consensus/types.ts';
import { Rng } from './rng.ts';

export type Behaviour = 'equivocate' | 'double-vote' | 'forge' | 'replay' | 'silent' | 'bad-sync' | 'outsider';

export interface SimOptions {
  readonly seed: number;
  readonly n: number;
  /** Identities whose instance misbehaves (at most f for a run that must stay safe). */
  readonly byzantine?: ReadonlyMap<number, readonly Behaviour[]>;
  /** Identities that run as two independent honest instances with one key (Twins). */
  readonly twins?: readonly number[];
  readonly requests?: number;
  readonly faultUntilMs?: number;
  readonly livenessBoundMs?: number;
  /** Probabilities during the fault phase. */
  readonly drop?: number;
  readonly duplicate?: number;
  readonly longDelay?: number;
  readonly crashes?: number;
  readonly partitions?: number;
  /** Scripted scenario instead of random faults (used by the negative control). */
  readonly script?: (sim: Simulation) => void;
  /** Called with the finished simulation (for debugging a seed). */
  readonly inspect?: (sim: Simulation) => void;
}

export interface SimResult {
  readonly seed: number;
  readonly violations: string[];
  readonly heights: number[];
  readonly committedRequests: number;
  readonly totalRequests: number;
  readonly live: boolean;
  readonly events: number;
  readonly simulatedMs: number;
}

const CHAIN: ChainBinding = {
  chainId: createHash('sha256').update('sim').digest(),
  validatorSetHash: createHash('sha256').update('sim-validators').digest(),
};

const PROGRESS_MS = 300;
const STATUS_MS = 1_000;
const RESUBMIT_MS = 1_500;

interface Block {
  readonly payload: Uint8Array;
  readonly cert: Certificate;
}

interface BlockBody {
  readonly h: number;
  readonly prev: string;
  readonly reqs: readonly string[];
}

type SimEvent =
  | { kind: 'deliver'; to: number; msg: ConsensusMessage }
  | { kind: 'timer'; node: number; name: TimerName; gen: number }
  | { kind: 'request'; id: string; targets: readonly number[] | null }
  | { kind: 'pending'; node: number }
  | { kind: 'certified'; node: number; block: Block }
  | { kind: 'crash'; node: number; midStep: boolean }
  | { kind: 'restart'; node: number }
  | { kind: 'partition'; groups: number[][] | null }
  | { kind: 'resubmit' }
  | { kind: 'replay'; node: number }
  | { kind: 'heal' };

interface Queued {
  readonly at: number;
  readonly order: number;
  readonly event: SimEvent;
}

/** Min-heap of events by (time, insertion order). */
class EventQueue {
  readonly #items: Queued[] = [];
  #order = 0;

  get size(): number {
    return this.#items.length;
  }

  push(at: number, event: SimEvent): void {
    const items = this.#items;
    items.push({ at, order: this.#order++, event });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): Queued | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && before(items[l]!, items[m]!)) m = l;
      if (r < items.length && before(items[r]!, items[m]!)) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m]!, items[i]!];
      i = m;
    }
    return top;
  }
}

function before(a: Queued, b: Queued): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

function hmacKey(identity: number): string {
  return `validator-secret-${identity}`;
}

function sign(identity: number, bytes: Uint8Array): Uint8Array {
  return createHmac('sha256', hmacKey(identity)).update(bytes).digest();
}

export function simCrypto(identity: number, n: number): ConsensusCrypto {
  return {
    sign: (bytes) => sign(identity, bytes),
    verify: (from, bytes, sig) => from >= 0 && from < n && Buffer.from(sign(from, bytes)).equals(sig),
  };
}

function digestOf(payload: Uint8Array): Uint8Array {
  return createHash('sha256').update(payload).digest();
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function decodeBody(payload: Uint8Array): BlockBody | null {
  try {
    const body = JSON.parse(Buffer.from(payload).toString('utf8')) as BlockBody;
    if (typeof body.h !== 'number' || typeof body.prev !== 'string' || !Array.isArray(body.reqs)) return null;
    return body;
  } catch {
    return null;
  }
}

function encodeBody(body: BlockBody): Uint8Array {
  return Buffer.from(JSON.stringify(body), 'utf8');
}

class SimNode {
  readonly index: number;
  readonly identity: number;
  readonly behaviours: ReadonlySet<Behaviour>;
  alive = true;
  store: Block[] = [];
  committed = new Set<string>();
  safety: SafetyState | null = null;
  mempool = new Set<string>();
  timers = new Map<TimerName, number>();
  timerGen = 0;
  crashMidStep = false;
  seen: ConsensusMessage[] = [];
  replica!: Replica;

  constructor(index: number, identity: number, behaviours: readonly Behaviour[]) {
    this.index = index;
    this.identity = identity;
    this.behaviours = new Set(behaviours);
  }

  get honest(): boolean {
    return this.behaviours.size === 0;
  }

  app(): ConsensusApp {
    return {
      digest: digestOf,
      propose: (height) => {
        const reqs = [...this.mempool].filter((id) => !this.committed.has(id)).sort().slice(0, 8);
        if (reqs.length === 0) return null;
        return encodeBody({ h: Number(height), prev: this.tipHash(), reqs });
      },
      validate: (height, payload) => {
        const body = decodeBody(payload);
        if (body === null || body.h !== Number(height) || body.prev !== this.tipHash()) return false;
        if (body.reqs.length === 0 || new Set(body.reqs).size !== body.reqs.length) return false;
        return body.reqs.every((id) => !this.committed.has(id));
      },
    };
  }

  tipHash(): string {
    const last = this.store.at(-1);
    return last === undefined ? '0'.repeat(64) : hex(last.cert.digest);
  }

  pendingCount(): number {
    let count = 0;
    for (const id of this.mempool) if (!this.committed.has(id)) count++;
    return count;
  }
}

export class Simulation {
  readonly rng: Rng;
  readonly n: number;
  readonly q: number;
  readonly nodes: SimNode[] = [];
  readonly violations: string[] = [];
  readonly requests: string[] = [];
  readonly queue = new EventQueue();
  now = 0;
  events = 0;
  faulty = true;
  groups: number[][] | null = null;
  readonly #opts: SimOptions;
  readonly #committedDigest = new Map<number, string>();

  constructor(opts: SimOptions) {
    this.#opts = opts;
    this.rng = new Rng(opts.seed);
    this.n = opts.n;
    this.q = quorum(opts.n);
    const twins = new Set(opts.twins ?? []);
    for (let id = 0; id < opts.n; id++) {
      this.nodes.push(new SimNode(this.nodes.length, id, opts.byzantine?.get(id) ?? []));
      if (twins.has(id)) this.nodes.push(new SimNode(this.nodes.length, id, []));
    }
    for (const node of this.nodes) this.#boot(node);
  }

  // -- scheduling ----------------------------------------------------------------------------------

  at(delay: number, event: SimEvent): void {
    this.queue.push(this.now + Math.max(0, delay), event);
  }

  partition(groups: number[][] | null, atMs: number): void {
    this.queue.push(atMs, { kind: 'partition', groups });
  }

  submit(id: string, atMs: number, targets: readonly number[] | null = null): void {
    this.requests.push(id);
    this.queue.push(atMs, { kind: 'request', id, targets });
  }

  /** Runs until `untilMs` of simulated time, or until every honest instance committed every request. */
  run(untilMs: number): void {
    while (this.queue.size > 0) {
      const next = this.queue.pop()!;
      if (next.at > untilMs) break;
      this.now = next.at;
      this.events++;
      this.#handle(next.event);
      if (!this.faulty && this.#allDone()) break;
    }
  }

  // -- events --------------------------------------------------------------------------------------

  #handle(event: SimEvent): void {
    switch (event.kind) {
      case 'deliver': {
        const node = this.nodes[event.to]!;
        if (!node.alive) return;
        if (node.behaviours.has('replay')) node.seen.push(event.msg);
        if (node.seen.length > 200) node.seen.splice(0, 100);
        this.#step(node, { kind: 'message', msg: event.msg });
        return;
      }
      case 'timer': {
        const node = this.nodes[event.node]!;
        if (!node.alive || node.timers.get(event.name) !== event.gen) return;
        node.timers.delete(event.name);
        this.#step(node, { kind: 'timer', name: event.name });
        return;
      }
      case 'request':
        for (const node of this.nodes) {
          if (event.targets !== null && !event.targets.includes(node.index)) continue;
          if (!node.alive || node.mempool.has(event.id) || node.committed.has(event.id)) continue;
          if (this.faulty && this.rng.chance(this.#opts.drop ?? 0)) continue;
          node.mempool.add(event.id);
          this.at(this.#delay(), { kind: 'pending', node: node.index });
        }
        return;
      case 'pending': {
        const node = this.nodes[event.node]!;
        if (node.alive) this.#step(node, { kind: 'pending', count: node.pendingCount() });
        return;
      }
      case 'certified': {
        const node = this.nodes[event.node]!;
        if (node.alive) this.#step(node, { kind: 'certified', payload: event.block.payload, cert: event.block.cert });
        return;
      }
      case 'crash': {
        const node = this.nodes[event.node]!;
        if (!node.alive || !this.faulty) return;
        if (event.midStep) node.crashMidStep = true;
        else this.#kill(node);
        return;
      }
      case 'restart': {
        const node = this.nodes[event.node]!;
        if (node.alive) return;
        this.#boot(node);
        return;
      }
      case 'partition':
        this.groups = event.groups;
        return;
      case 'resubmit':
        for (const id of this.requests) {
          if (this.nodes.every((node) => !node.honest || node.committed.has(id))) continue;
          this.at(this.#delay(), { kind: 'request', id, targets: null });
        }
        this.at(RESUBMIT_MS, { kind: 'resubmit' });
        return;
      case 'replay': {
        const node = this.nodes[event.node]!;
        if (node.alive && node.seen.length > 0) {
          const msg = this.rng.pick(node.seen);
          this.#send(node, this.rng.int(0, this.n - 1), msg, true);
        }
        if (this.faulty || this.rng.chance(0.5)) this.at(this.rng.int(50, 400), { kind: 'replay', node: event.node });
        return;
      }
      case 'heal':
        this.faulty = false;
        this.groups = null;
        for (const node of this.nodes) {
          node.crashMidStep = false;
          if (!node.alive) this.#boot(node);
        }
        return;
    }
  }

  #boot(node: SimNode): void {
    node.alive = true;
    node.crashMidStep = false;
    node.mempool.clear();
    node.timers.clear();
    const last = node.store.at(-1);
    node.replica = new Replica(
      { n: this.n, self: node.identity, chain: CHAIN, progressTimeoutMs: PROGRESS_MS, statusIntervalMs: STATUS_MS },
      node.app(),
      simCrypto(node.identity, this.n),
      { committedHeight: BigInt(node.store.length), lastCert: last?.cert ?? null, safety: node.safety },
    );
    this.#step(node, { kind: 'start' });
  }

  #kill(node: SimNode): void {
    node.alive = false;
    node.timers.clear();
    node.mempool.clear();
  }

  #step(node: SimNode, input: Input): void {
    const effects = node.replica.step(input, this.now);
    let limit = effects.length;
    if (node.crashMidStep && effects.length > 0) limit = this.rng.int(0, effects.length - 1);
    for (let i = 0; i < limit; i++) this.#apply(node, effects[i]!);
    if (node.crashMidStep && effects.length > 0) this.#kill(node);
  }

  #apply(node: SimNode, effect: Effect): void {
    switch (effect.kind) {
      case 'persist':
        node.safety = effect.state;
        return;
      case 'broadcast':
        this.#broadcast(node, effect.msg);
        return;
      case 'send':
        this.#send(node, effect.to, effect.msg, false);
        return;
      case 'commit':
        this.#commit(node, effect.payload, effect.cert);
        return;
      case 'set-timer': {
        const gen = ++node.timerGen;
        node.timers.set(effect.name, gen);
        this.at(effect.ms, { kind: 'timer', node: node.index, name: effect.name, gen });
        return;
      }
      case 'clear-timer':
        node.timers.delete(effect.name);
        return;
      case 'sync':
        this.#sync(node, effect.height, effect.peers);
        return;
      case 'fault':
        return;
    }
  }

  #commit(node: SimNode, payload: Uint8Array, cert: Certificate): void {
    const height = node.store.length + 1;
    if (node.honest) this.#check(node, payload, cert, height);
    node.store.push({ payload, cert });
    const body = decodeBody(payload);
    for (const id of body?.reqs ?? []) {
      node.committed.add(id);
      node.mempool.delete(id);
    }
    this.at(0, { kind: 'pending', node: node.index });
  }

  /** The safety checker: runs on every commit of every honest instance. */
  #check(node: SimNode, payload: Uint8Array, cert: Certificate, height: number): void {
    const where = `seed ${this.#opts.seed}, t=${this.now}, instance ${node.index} (validator ${node.identity}), height ${height}`;
    const digest = hex(digestOf(payload));
    if (cert.height !== BigInt(height)) this.violations.push(`${where}: certificate for height ${cert.height}`);
    if (hex(cert.digest) !== digest) this.violations.push(`${where}: certificate digest differs from the block`);
    if (!certificateValid(cert, this.n)) this.violations.push(`${where}: invalid certificate`);
    const body = decodeBody(payload);
    if (body === null || body.h !== height || body.prev !== node.tipHash()) this.violations.push(`${where}: block does not extend the chain`);
    const seen = this.#committedDigest.get(height);
    if (seen === undefined) this.#committedDigest.set(height, digest);
    else if (seen !== digest) this.violations.push(`${where}: FORK: ${digest.slice(0, 12)} committed where ${seen.slice(0, 12)} was`);
  }

  #sync(node: SimNode, height: bigint, peers: readonly number[]): void {
    const from = node.store.length + 1;
    // Like the node shell: ask a named peer first, fall back to any other when that fails.
    const named = this.nodes.filter((peer) => peer.index !== node.index && peers.includes(peer.identity));
    const others = this.nodes.filter((peer) => peer.index !== node.index);
    const peer = named.length > 0 && this.rng.chance(0.5) ? this.rng.pick(named) : this.rng.pick(others);
    if (!peer.alive || !this.#reachable(peer.index, node.index)) return;
    const upTo = Math.min(Number(height), peer.store.length, from + 15);
    let delay = this.#delay();
    for (let h = from; h <= upTo; h++) {
      let block = peer.store[h - 1]!;
      if (peer.behaviours.has('bad-sync')) block = corrupt(block, this.rng);
      delay += 1;
      this.at(delay, { kind: 'certified', node: node.index, block });
    }
  }

  // -- network -------------------------------------------------------------------------------------

  #broadcast(from: SimNode, msg: ConsensusMessage): void {
    for (let to = 0; to < this.n; to++) if (to !== from.identity || this.#hasTwin(from)) this.#send(from, to, msg, false);
  }

  #hasTwin(node: SimNode): boolean {
    return this.nodes.some((other) => other.identity === node.identity && other.index !== node.index);
  }

  /** Sends to every instance of validator `to` (twins receive both), through the Byzantine filter. */
  #send(from: SimNode, to: number, msg: ConsensusMessage, raw: boolean): void {
    if (!raw && from.behaviours.size > 0) {
      for (const [target, out] of this.#misbehave(from, to, msg)) this.#send(from, target, out, true);
      return;
    }
    for (const node of this.nodes) {
      if (node.identity !== to || node.index === from.index) continue;
      if (!this.#reachable(from.index, node.index)) continue;
      if (this.faulty && this.rng.chance(this.#opts.drop ?? 0)) continue;
      this.at(this.#delay(), { kind: 'deliver', to: node.index, msg });
      if (this.faulty && this.rng.chance(this.#opts.duplicate ?? 0)) this.at(this.#delay(), { kind: 'deliver', to: node.index, msg });
    }
  }

  #misbehave(from: SimNode, to: number, msg: ConsensusMessage): Array<[number, ConsensusMessage]> {
    const b = from.behaviours;
    if (b.has('silent')) return [];
    const out: Array<[number, ConsensusMessage]> = [[to, msg]];
    const id = from.identity;
    if (b.has('equivocate') && msg.kind === 'propose' && to % 2 === 1) {
      const body = decodeBody(msg.payload);
      if (body !== null) {
        const payload = encodeBody({ ...body, reqs: [...body.reqs.slice(1), `byz-${this.rng.u32()}`] });
        const digest = digestOf(payload);
        const sig = sign(id, signingBytes(CHAIN, { kind: 'propose', view: msg.view, height: msg.height, digest }));
        out[0] = [to, { ...msg, payload, digest, sig } satisfies Propose];
      }
    }
    if (b.has('double-vote') && (msg.kind === 'prepare' || msg.kind === 'commit')) {
      const digest = createHash('sha256').update(`junk-${this.rng.u32()}`).digest();
      const bytes = msg.kind === 'commit' ? commitSigningBytes(CHAIN, msg.height, msg.view, digest) : signingBytes(CHAIN, { kind: msg.kind, view: msg.view, height: msg.height, digest });
      const vote: Vote = { ...msg, digest, sig: sign(id, bytes) };
      out.push([to, vote]);
      if (this.rng.chance(0.5)) out.reverse();
    }
    if (b.has('forge') && msg.kind !== 'new-view') {
      const victim = this.rng.int(0, this.n - 1);
      out.push([to, { ...msg, from: victim } as ConsensusMessage]);
    }
    if (b.has('outsider')) {
      out.push([to, { ...msg, from: this.n + this.rng.int(0, 2) } as ConsensusMessage]);
    }
    return out;
  }

  #reachable(a: number, b: number): boolean {
    if (this.groups === null) return true;
    return this.groups.some((group) => group.includes(a) && group.includes(b));
  }

  #delay(): number {
    if (!this.faulty) return this.rng.int(1, 20);
    if (this.rng.chance(this.#opts.longDelay ?? 0)) return this.rng.int(PROGRESS_MS, PROGRESS_MS * 6);
    return this.rng.int(1, 60);
  }

  #allDone(): boolean {
    return this.nodes.every((node) => !node.honest || this.requests.every((id) => node.committed.has(id)));
  }

  result(): SimResult {
    const honest = this.nodes.filter((node) => node.honest);
    const committedRequests = Math.min(...honest.map((node) => this.requests.filter((id) => node.committed.has(id)).length));
    return {
      seed: this.#opts.seed,
      violations: this.violations,
      heights: this.nodes.map((node) => node.store.length),
      committedRequests,
      totalRequests: this.requests.length,
      live: committedRequests === this.requests.length,
      events: this.events,
      simulatedMs: this.now,
    };
  }
}

function certificateValid(cert: Certificate, n: number): boolean {
  if (cert.sigs.length < quorum(n)) return false;
  const bytes = commitSigningBytes(CHAIN, cert.height, cert.view, cert.digest);
  let previous = -1;
  for (const { from, sig } of cert.sigs) {
    if (from <= previous || from >= n) return false;
    previous = from;
    if (!Buffer.from(sign(from, bytes)).equals(sig)) return false;
  }
  return true;
}

function corrupt(block: Block, rng: Rng): Block {
  const payload = Uint8Array.from(block.payload);
  if (rng.chance(0.5) && payload.length > 0) {
    const i = rng.int(0, payload.length - 1);
    payload[i] = payload[i]! ^ 0x01;
    return { payload, cert: block.cert };
  }
  const sigs = block.cert.sigs.map((s, i) => (i === 0 ? { from: s.from, sig: Uint8Array.from(s.sig, (b, j) => (j === 0 ? b ^ 1 : b)) } : s));
  return { payload: block.payload, cert: { ...block.cert, sigs } };
}

/** A random schedule of faults from the seed, then heal, then the liveness bound. */
export function runRandomSchedule(seed: number, inspect?: (sim: Simulation) => void): SimResult {
  const rng = new Rng(seed ^ 0x5eed);
  const n = rng.pick([4, 4, 4, 4, 5, 7]);
  const f = Math.floor((n - 1) / 3);
  const byzantine = new Map<number, Behaviour[]>();
  const twins: number[] = [];
  const all: Behaviour[] = ['equivocate', 'double-vote', 'forge', 'replay', 'silent', 'bad-sync', 'outsider'];
  const faults = rng.int(0, f);
  const ids = rng.shuffle([...Array(n).keys()]);
  for (let i = 0; i < faults; i++) {
    const id = ids[i]!;
    if (rng.chance(0.2)) twins.push(id);
    else byzantine.set(id, rng.shuffle([...all]).slice(0, rng.int(1, 3)));
  }
  const opts: SimOptions = {
    seed,
    n,
    byzantine,
    twins,
    requests: rng.int(4, 14),
    faultUntilMs: rng.int(3_000, 10_000),
    livenessBoundMs: 120_000,
    drop: rng.pick([0, 0.02, 0.1, 0.3]),
    duplicate: rng.pick([0, 0.05, 0.2]),
    longDelay: rng.pick([0, 0.01, 0.05]),
    crashes: rng.int(0, 4),
    partitions: rng.int(0, 3),
    ...(inspect === undefined ? {} : { inspect }),
  };
  return runSimulation(opts);
}

export function runSimulation(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  const rng = sim.rng;
  const faultUntil = opts.faultUntilMs ?? 5_000;
  if (opts.script !== undefined) opts.script(sim);
  else {
    const count = opts.requests ?? 8;
    for (let i = 0; i < count; i++) sim.submit(`r${i}`, rng.int(0, faultUntil + 2_000));
    for (const node of sim.nodes) if (node.behaviours.has('replay')) sim.at(rng.int(0, 500), { kind: 'replay', node: node.index });
    sim.at(RESUBMIT_MS, { kind: 'resubmit' });
    for (let i = 0; i < (opts.crashes ?? 0); i++) {
      const node = rng.pick(sim.nodes);
      const at = rng.int(0, faultUntil);
      const everyone = rng.chance(0.15);
      for (const target of everyone ? sim.nodes : [node]) {
        sim.queue.push(at, { kind: 'crash', node: target.index, midStep: rng.chance(0.5) });
        sim.queue.push(Math.min(faultUntil, at + rng.int(100, 3_000)), { kind: 'restart', node: target.index });
      }
    }
    for (let i = 0; i < (opts.partitions ?? 0); i++) {
      const at = rng.int(0, faultUntil);
      sim.partition(randomPartition(sim, rng), at);
      sim.partition(null, Math.min(faultUntil, at + rng.int(200, 4_000)));
    }
  }
  sim.queue.push(faultUntil, { kind: 'heal' });
  sim.run(faultUntil + (opts.livenessBoundMs ?? 120_000));
  opts.inspect?.(sim);
  return sim.result();
}

function randomPartition(sim: Simulation, rng: Rng): number[][] {
  const indices = rng.shuffle(sim.nodes.map((node) => node.index));
  const kind = rng.int(0, 2);
  if (kind === 0) {
    // isolate one instance (often the current leader: before or after it decides, depending on timing)
    const leader = sim.nodes.find((node) => node.honest && node.alive)?.replica.leader;
    const victim = rng.chance(0.6) && leader !== undefined ? sim.nodes.filter((node) => node.identity === leader).map((node) => node.index) : [indices[0]!];
    return [victim, indices.filter((i) => !victim.includes(i))];
  }
  if (kind === 1) {
    const half = Math.floor(indices.length / 2);
    return [indices.slice(0, half), indices.slice(half)];
  }
  const cut = rng.int(1, indices.length - 1);
  return [indices.slice(0, cut), indices.slice(cut)];
}
