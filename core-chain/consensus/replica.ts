/**
 * PBFT (Castro–Liskov) as a pure state machine: inputs (messages, timer expiries, mempool news,
 * certified blocks from catch-up) in, effects (persist, send, commit, timers, sync requests) out. No
 * sockets, clocks or disks: the caller passes `now` and carries out the effects in order, and must
 * finish a `persist` durably before it sends anything that follows it.
 *
 * One proposal in flight (as BFT-SMaRt and SmartBFT): height h+1 is proposed only after h commits, so a
 * view change only ever concerns one height, and a prepared certificate for that height is all a
 * replica carries into the next view. Batching comes for free: transactions that arrive while a block
 * is in flight go into the next one.
 *
 * Safety rests on three rules, each enforced here rather than by the shell:
 *  - a replica never signs two different digests for one (height, view, kind): `SafetyState` keeps
 *    the highest mark signed per kind and is persisted before the signature leaves;
 *  - a replica that prepared a payload reports that prepared certificate in every later view change
 *    for the height (it is in `SafetyState` too);
 *  - a new leader re-proposes the highest-view prepared payload among q view changes, and replicas
 *    check that it did before they enter the view.
 * Liveness: a progress timer, doubled after each unsuccessful view, forwards censorship or a dead
 * leader into a view change; f+1 view changes for higher views pull a replica along; NEW-VIEW is
 * re-sent to peers seen in older views, and status gossip drives catch-up.
 */
import { bytesEqual, toHex } from './bytes.ts';
import { faultBound, leaderOf, quorum } from './quorum.ts';
import {
  commitSigningBytes,
  signingBytes,
  type ChainBinding,
} from './messages.ts';
import type {
  Certificate,
  ConsensusApp,
  ConsensusCrypto,
  ConsensusMessage,
  Effect,
  Input,
  NewView,
  PreparedCert,
  Propose,
  SafetyState,
  SignedMark,
  SignerSig,
  Status,
  ViewChange,
  Vote,
} from './types.ts';

export interface ReplicaConfig {
  /** Number of validators; validators are 0..n-1. */
  readonly n: number;
  /**
   * This replica's index, or -1 for an observer: a node that follows the chain without voting (a
   * validator waiting for its join to activate, or one removed). An observer never signs; it turns
   * members' messages from later heights into catch-up requests and commits certified blocks.
   */
  readonly self: number;
  readonly chain: ChainBinding;
  /** Base progress timeout; doubled per consecutive failed view, capped at 2^maxBackoff times. */
  readonly progressTimeoutMs: number;
  readonly statusIntervalMs: number;
  readonly maxBackoff?: number;
  /** Messages from the future (later height or view) kept per peer. */
  readonly bufferPerPeer?: number;
}

export interface ReplicaInit {
  /** Highest committed height (0 before the first block) and its certificate. */
  readonly committedHeight: bigint;
  readonly lastCert: Certificate | null;
  /** The persisted safety record, or null for a validator that has never signed. */
  readonly safety: SafetyState | null;
}

export const INITIAL_SAFETY: SafetyState = {
  view: 0n,
  changing: false,
  lastProposal: null,
  lastPrepare: null,
  lastCommit: null,
  prepared: null,
  signFloor: 0n,
};

/** How far ahead of the current view a replica keeps votes and view changes. */
const VIEW_WINDOW = 64n;

export class Replica {
  readonly #cfg: ReplicaConfig;
  readonly #app: ConsensusApp;
  readonly #crypto: ConsensusCrypto;
  readonly #f: number;
  readonly #q: number;

  // committed chain
  #height: bigint; // the height being decided: committed + 1
  #lastCert: Certificate | null;

  // view
  #view: bigint;
  #changing: boolean;
  #failedViews = 0;
  #newView: NewView | null = null;
  #newViewSentTo = new Set<number>();
  #sentViewChanges = new Map<bigint, ViewChange>(); // own, for the last few views: help laggards count
  #helpedThisTick = new Set<number>();
  #highestSeenView = 0n; // highest view any peer signed a view change or status for

  // the height being decided
  #proposal: Propose | null = null;
  #payloads = new Map<string, Uint8Array>();
  #prepares = new Map<string, Map<number, Uint8Array>>(); // key view:digest, current view only
  #commits = new Map<string, Map<number, Uint8Array>>(); // key view:digest, any view
  #prepared: PreparedCert | null;
  #viewChanges = new Map<bigint, Map<number, ViewChange>>();

  // signing guard
  #lastProposal: SignedMark | null;
  #lastPrepare: SignedMark | null;
  #lastCommit: SignedMark | null;
  #signFloor: bigint;

  // own messages for the current height, re-sent when a status tick finds no progress (lossy links)
  #own: ConsensusMessage[] = [];
  #heightAtLastTick = 0n;

  // local bookkeeping
  #pending = 0;
  #awaitPending = false; // after a commit, until the mempool has been pruned
  #progressArmed = false;
  #buffer = new Map<number, ConsensusMessage[]>();
  #out: Effect[] = [];
  #now = 0;

  constructor(config: ReplicaConfig, app: ConsensusApp, crypto: ConsensusCrypto, init: ReplicaInit) {
    if (config.self < -1 || config.self >= config.n || !Number.isInteger(config.self)) throw new RangeError('self is not a validator index (or -1 for an observer)');
    this.#cfg = config;
    this.#app = app;
    this.#crypto = crypto;
    this.#f = faultBound(config.n);
    this.#q = quorum(config.n);
    this.#height = init.committedHeight + 1n;
    this.#lastCert = init.lastCert;
    const s = init.safety ?? INITIAL_SAFETY;
    this.#view = s.view;
    this.#changing = s.changing;
    // A replica restored from a snapshot (or a newcomer) starts in the view the chain is in (see #commit).
    const certView = init.lastCert?.view ?? 0n;
    if (certView > this.#view) {
      this.#view = certView;
      this.#changing = false;
    }
    this.#lastProposal = s.lastProposal;
    this.#lastPrepare = s.lastPrepare;
    this.#lastCommit = s.lastCommit;
    this.#signFloor = s.signFloor;
    // A prepared certificate for a height already committed is history.
    this.#prepared = s.prepared !== null && s.prepared.height === this.#height ? s.prepared : null;
    if (this.#prepared !== null) this.#payloads.set(toHex(this.#prepared.digest), this.#prepared.payload);
  }

  get height(): bigint {
    return this.#height;
  }
  get view(): bigint {
    return this.#view;
  }
  get changing(): boolean {
    return this.#changing;
  }
  get leader(): number {
    return leaderOf(this.#view, this.#cfg.n);
  }
  get quorum(): number {
    return this.#q;
  }
  get lastCert(): Certificate | null {
    return this.#lastCert;
  }

  /** Sizes of everything peers can make this replica hold (bounded; checked by the flood tests). */
  memory(): { buffered: number; votes: number; viewChanges: number; payloads: number } {
    let votes = 0;
    for (const m of this.#prepares.values()) votes += m.size;
    for (const m of this.#commits.values()) votes += m.size;
    let viewChanges = 0;
    for (const m of this.#viewChanges.values()) viewChanges += m.size;
    let buffered = 0;
    for (const list of this.#buffer.values()) buffered += list.length;
    return { buffered, votes, viewChanges, payloads: this.#payloads.size };
  }

  safety(): SafetyState {
    return {
      view: this.#view,
      changing: this.#changing,
      lastProposal: this.#lastProposal,
      lastPrepare: this.#lastPrepare,
      lastCommit: this.#lastCommit,
      prepared: this.#prepared,
      signFloor: this.#signFloor,
    };
  }

  get observer(): boolean {
    return this.#cfg.self === -1;
  }

  /** Feeds one input; returns the effects to carry out, in order. */
  step(input: Input, now: number): Effect[] {
    this.#now = now;
    this.#out = [];
    if (this.observer) {
      this.#observe(input);
      return this.#out;
    }
    switch (input.kind) {
      case 'start':
        this.#set('status', this.#cfg.statusIntervalMs);
        this.#broadcastStatus();
        // Restarted between views: the view change sent before the crash may be lost with the
        // in-memory state of the others, so send it again (same prepared certificate, persisted).
        if (this.#changing) this.#sendViewChange();
        break;
      case 'message':
        this.#onMessage(input.msg);
        break;
      case 'timer':
        if (input.name === 'status') {
          this.#broadcastStatus();
          this.#helpedThisTick.clear();
          if (this.#height === this.#heightAtLastTick) for (const msg of this.#own) this.#emit({ kind: 'broadcast', msg });
          this.#heightAtLastTick = this.#height;
          this.#set('status', this.#cfg.statusIntervalMs);
        } else {
          this.#progressArmed = false;
          this.#onProgressTimeout();
        }
        break;
      case 'pending': {
        this.#pending = input.count;
        const afterCommit = this.#awaitPending;
        this.#awaitPending = false;
        if (this.#pending > 0) this.#armProgress(false);
        if (afterCommit) {
          this.#replay();
          if (this.#changing && this.#isLeaderOf(this.#view)) this.#tryNewView();
        }
        this.#maybePropose();
        break;
      }
      case 'certified':
        this.#onCertified(input.payload, input.cert);
        break;
    }
    return this.#out;
  }

  /** The whole protocol of an observer: follow members' heights through catch-up, never sign. */
  #observe(input: Input): void {
    switch (input.kind) {
      case 'start':
        this.#set('status', this.#cfg.statusIntervalMs);
        return;
      case 'timer':
        if (input.name === 'status') this.#set('status', this.#cfg.statusIntervalMs);
        return;
      case 'pending':
        this.#awaitPending = false;
        return;
      case 'certified':
        this.#onCertified(input.payload, input.cert);
        return;
      case 'message': {
        const msg = input.msg;
        if (!Number.isInteger(msg.from) || msg.from < 0 || msg.from >= this.#cfg.n) return;
        const height = messageHeight(msg);
        // A member deciding a later height proves (once its signature checks) that blocks we lack exist.
        if (height === null || height <= this.#height) return;
        const bytes = msg.kind === 'commit' ? commitSigningBytes(this.#cfg.chain, msg.height, msg.view, msg.digest) : signingBytes(this.#cfg.chain, msg);
        if (!this.#crypto.verify(msg.from, bytes, msg.sig)) return this.#fault(msg.from, `bad signature on ${msg.kind}`);
        this.#emit({ kind: 'sync', height: height - 1n, peers: [msg.from] });
        return;
      }
    }
  }

  // -- message dispatch ----------------------------------------------------------------------------

  #onMessage(msg: ConsensusMessage): void {
    if (!Number.isInteger(msg.from) || msg.from < 0 || msg.from >= this.#cfg.n) return; // not a member
    if (msg.from === this.#cfg.self) return; // own messages are applied when created
    const bytes = msg.kind === 'commit' ? commitSigningBytes(this.#cfg.chain, msg.height, msg.view, msg.digest) : signingBytes(this.#cfg.chain, msg);
    if (!this.#crypto.verify(msg.from, bytes, msg.sig)) return this.#fault(msg.from, `bad signature on ${msg.kind}`);
    this.#dispatch(msg);
  }

  /** A member's message whose signature has been checked (on arrival, or before it was held). */
  #dispatch(msg: ConsensusMessage): void {
    switch (msg.kind) {
      case 'propose':
        return this.#onPropose(msg);
      case 'prepare':
        return this.#onPrepare(msg);
      case 'commit':
        return this.#onCommit(msg);
      case 'view-change':
        return this.#onViewChange(msg);
      case 'new-view':
        return this.#onNewView(msg);
      case 'status':
        return this.#onStatus(msg);
    }
  }

  #onPropose(p: Propose): void {
    if (p.from !== leaderOf(p.view, this.#cfg.n)) return this.#fault(p.from, 'proposal from a non-leader');
    if (p.height < this.#height || p.view < this.#view) return;
    if (p.height > this.#height || p.view > this.#view || this.#changing) return this.#hold(p);
    this.#acceptProposal(p);
  }

  /** A proposal for (current height, current view) from its leader, signature already checked. */
  #acceptProposal(p: Propose): void {
    // Just committed in this step: the application has not applied that block yet (see #commit).
    if (this.#awaitPending) return this.#hold(p);
    if (!bytesEqual(this.#app.digest(p.payload), p.digest)) return this.#fault(p.from, 'proposal digest does not match its payload');
    if (this.#proposal !== null) {
      if (!bytesEqual(this.#proposal.digest, p.digest)) {
        this.#fault(p.from, 'equivocating leader: two proposals for one height and view');
        this.#startViewChange(this.#view + 1n);
      }
      return;
    }
    if (!this.#app.validate(p.height, p.payload, this.#now)) {
      this.#fault(p.from, 'invalid proposal');
      this.#startViewChange(this.#view + 1n);
      return;
    }
    this.#proposal = p;
    this.#payloads.set(toHex(p.digest), p.payload);
    this.#armProgress(false);
    const mark = { height: p.height, view: p.view, digest: p.digest };
    if (this.#maySign(this.#lastPrepare, mark)) {
      this.#lastPrepare = mark;
      const sig = this.#crypto.sign(signingBytes(this.#cfg.chain, { kind: 'prepare', view: p.view, height: p.height, digest: p.digest }));
      this.#persist();
      this.#broadcastOwn({ kind: 'prepare', view: p.view, height: p.height, digest: p.digest, from: this.#cfg.self, sig });
      this.#addVote(this.#prepares, p.view, p.digest, this.#cfg.self, sig);
    }
    this.#checkPrepared();
    this.#checkCommitted();
  }

  #onPrepare(v: Vote): void {
    if (v.height < this.#height) return;
    if (v.view < this.#view) return this.#helpLaggard(v.from, v.view);
    if (v.height > this.#height || v.view > this.#view || this.#changing) return this.#hold(v);
    if (!this.#addVote(this.#prepares, v.view, v.digest, v.from, v.sig)) return this.#fault(v.from, 'two prepares in one view');
    this.#checkPrepared();
  }

  #onCommit(v: Vote): void {
    if (v.height < this.#height) return;
    if (v.height > this.#height) return this.#hold(v);
    // Views far ahead of ours cannot be real yet; refusing them keeps a Byzantine flood bounded.
    if (v.view > this.#view + VIEW_WINDOW) return;
    // Commits count in any view: q of them for one (view, digest) are a certificate on their own.
    if (!this.#addVote(this.#commits, v.view, v.digest, v.from, v.sig)) return this.#fault(v.from, 'two commits in one view');
    this.#checkCommitted();
  }

  #onStatus(s: Status): void {
    if (s.view > this.#highestSeenView) this.#highestSeenView = s.view;
    if (s.view < this.#view) this.#helpLaggard(s.from, s.view);
    if (s.height > this.#height) this.#emit({ kind: 'sync', height: s.height - 1n, peers: [s.from] });
  }

  // -- normal case ---------------------------------------------------------------------------------

  #maybePropose(): void {
    if (this.#changing || this.#awaitPending || this.#pending === 0) return;
    if (this.leader !== this.#cfg.self || this.#proposal !== null) return;
    const payload = this.#app.propose(this.#height, this.#now);
    if (payload === null) return;
    const p = this.#signProposal(this.#view, this.#height, payload);
    if (p === null) return;
    this.#broadcastOwn(p);
    this.#acceptProposal(p);
  }

  /** Signs (and persists the guard for) a proposal, or returns null when the guard forbids it. */
  #signProposal(view: bigint, height: bigint, payload: Uint8Array): Propose | null {
    const digest = this.#app.digest(payload);
    const mark = { height, view, digest };
    if (!this.#maySign(this.#lastProposal, mark)) return null;
    this.#lastProposal = mark;
    const sig = this.#crypto.sign(signingBytes(this.#cfg.chain, { kind: 'propose', view, height, digest }));
    this.#persist();
    return { kind: 'propose', view, height, digest, payload, from: this.#cfg.self, sig };
  }

  #checkPrepared(): void {
    const p = this.#proposal;
    if (p === null || this.#changing) return;
    const votes = this.#prepares.get(voteKey(p.view, p.digest));
    if (votes === undefined || votes.size < this.#q) return;
    if (this.#prepared !== null && this.#prepared.view >= p.view) return; // already prepared here
    this.#prepared = { view: p.view, height: p.height, digest: p.digest, payload: p.payload, prepares: sortedSigs(votes) };
    const mark = { height: p.height, view: p.view, digest: p.digest };
    if (!this.#maySign(this.#lastCommit, mark)) {
      this.#persist();
      return;
    }
    this.#lastCommit = mark;
    const sig = this.#crypto.sign(commitSigningBytes(this.#cfg.chain, p.height, p.view, p.digest));
    this.#persist();
    this.#broadcastOwn({ kind: 'commit', view: p.view, height: p.height, digest: p.digest, from: this.#cfg.self, sig });
    this.#addVote(this.#commits, p.view, p.digest, this.#cfg.self, sig);
    this.#checkCommitted();
  }

  #checkCommitted(): void {
    for (const [key, votes] of this.#commits) {
      if (votes.size < this.#q) continue;
      const [viewText, digestHex] = splitKey(key);
      const payload = this.#payloads.get(digestHex);
      const view = BigInt(viewText);
      if (payload === undefined) {
        // q commits for a payload we never saw: fetch the block from the signers.
        this.#emit({ kind: 'sync', height: this.#height, peers: [...votes.keys()] });
        return;
      }
      const digest = this.#app.digest(payload);
      const cert: Certificate = { height: this.#height, view, digest, sigs: sortedSigs(votes).slice(0, this.#q) };
      this.#commit(payload, cert);
      return;
    }
  }

  #commit(payload: Uint8Array, cert: Certificate): void {
    this.#emit({ kind: 'commit', payload, cert });
    // A block certified in a later view than ours (caught up, or we missed a view change): q replicas
    // were in that view at this height, so the next height starts there for everyone. Moving up to it
    // is safe (no view change of ours is outstanding for a height now decided, and nothing is signed
    // for the next height yet) and keeps a replica that fell behind from waiting in a view nobody is in.
    if (cert.view > this.#view) {
      this.#view = cert.view;
      this.#changing = false;
      this.#newView = null;
      this.#newViewSentTo.clear();
    }
    this.#lastCert = cert;
    this.#height = cert.height + 1n;
    this.#own = this.#changing ? this.#own.filter((m) => m.kind === 'view-change') : [];
    this.#proposal = null;
    this.#prepared = null;
    this.#payloads.clear();
    this.#prepares.clear();
    this.#commits.clear();
    for (const v of [...this.#viewChanges.keys()]) if (v <= this.#view && !this.#changing) this.#viewChanges.delete(v);
    this.#failedViews = 0;
    this.#awaitPending = true;
    this.#disarmProgress();
    if (this.#changing) this.#armProgress(true);
    // Held messages for the next height are replayed on the 'pending' input that follows every
    // commit, not here: the application applies this block only when the caller carries out the
    // commit effect, after this step returns, and validating the next block needs it applied.
  }

  /**
   * A certificate for the height being decided (carried in a view change as the sender's last
   * certificate) commits the block if we hold its payload, e.g. from our own prepared certificate:
   * no fetch needed, and no dependence on the one peer that assembled the certificate.
   */
  #adoptCertificate(cert: Certificate): void {
    if (cert.height !== this.#height) return;
    const payload = this.#payloads.get(toHex(cert.digest));
    if (payload === undefined || !this.#certificateValid(cert)) return;
    this.#commit(payload, cert);
  }

  #onCertified(payload: Uint8Array, cert: Certificate): void {
    if (cert.height !== this.#height) return;
    const digest = this.#app.digest(payload);
    if (!bytesEqual(digest, cert.digest) || !this.#certificateValid(cert)) return;
    this.#commit(payload, cert);
  }

  // -- view change ---------------------------------------------------------------------------------

  /**
   * No progress in time. From a working view, move on. From a view change, move on only once q
   * replicas asked for this view too, or some peer is known to be in a later view: a replica cut off
   * from the others then waits (re-sending its view change) instead of running ahead alone into views
   * nobody else reaches, while replicas behind still climb, one view per timeout, to the front.
   */
  #onProgressTimeout(): void {
    const enough = (this.#viewChanges.get(this.#view)?.size ?? 0) >= this.#q;
    if (!this.#changing || enough || this.#highestSeenView > this.#view) {
      this.#startViewChange(this.#view + 1n);
      return;
    }
    for (const msg of this.#own) this.#emit({ kind: 'broadcast', msg });
    this.#armProgress(true);
  }

  #startViewChange(view: bigint): void {
    if (view < this.#view || (view === this.#view && this.#changing)) return;
    this.#view = view;
    this.#changing = true;
    this.#failedViews++;
    this.#proposal = null;
    this.#prepares.clear();
    this.#newView = null;
    this.#newViewSentTo.clear();
    this.#sendViewChange();
    for (const v of [...this.#viewChanges.keys()]) if (v < view) this.#viewChanges.delete(v);
    this.#replay();
    if (this.#isLeaderOf(view)) this.#tryNewView();
  }

  /** Signs and broadcasts this replica's view change for the view it is changing to. */
  #sendViewChange(): void {
    const view = this.#view;
    const body = { kind: 'view-change' as const, view, height: this.#height, lastCert: this.#lastCert, prepared: this.#prepared };
    const sig = this.#crypto.sign(signingBytes(this.#cfg.chain, { ...body, from: this.#cfg.self }));
    const vc: ViewChange = { ...body, from: this.#cfg.self, sig };
    this.#sentViewChanges.set(view, vc);
    for (const v of this.#sentViewChanges.keys()) if (v + 4n < view) this.#sentViewChanges.delete(v);
    this.#persist();
    // A commit vote stays valid in every view: keep re-sending it with the view change.
    this.#own = this.#own.filter((m) => m.kind === 'commit' && m.height === this.#height);
    this.#broadcastOwn(vc);
    this.#storeViewChange(vc);
    this.#disarmProgress();
    this.#armProgress(true);
  }

  #onViewChange(vc: ViewChange): void {
    if (!this.#viewChangeValid(vc)) return this.#fault(vc.from, 'invalid view change');
    if (vc.view > this.#highestSeenView) this.#highestSeenView = vc.view;
    if (vc.lastCert !== null) this.#adoptCertificate(vc.lastCert);
    if (vc.view < this.#view || (vc.view === this.#view && !this.#changing)) {
      // The sender is behind. Hand it what lets it catch up: the NEW-VIEW of our view, or our own view
      // changes for its view and ours, so that it can count to q there or follow us with f+1.
      this.#helpLaggard(vc.from, vc.view);
      // At most once per peer per status tick: the view changes we hand out are themselves from older
      // views, and must not start an exchange between two replicas that each think the other is behind.
      if (this.#changing && !this.#helpedThisTick.has(vc.from)) {
        this.#helpedThisTick.add(vc.from);
        const mine = this.#sentViewChanges.get(vc.view);
        if (mine !== undefined) this.#emit({ kind: 'send', to: vc.from, msg: mine });
        const current = this.#sentViewChanges.get(this.#view);
        if (current !== undefined) this.#emit({ kind: 'send', to: vc.from, msg: current });
      }
      return;
    }
    if (vc.height > this.#height && vc.lastCert !== null) this.#emit({ kind: 'sync', height: vc.lastCert.height, peers: [vc.from] });
    this.#storeViewChange(vc);
    // f+1 replicas want a later view: at least one honest one timed out, so follow (smallest such view).
    const ahead = new Map<number, bigint>();
    for (const [view, senders] of this.#viewChanges) {
      if (view <= this.#view) continue;
      for (const from of senders.keys()) {
        const seen = ahead.get(from);
        if (seen === undefined || view < seen) ahead.set(from, view);
      }
    }
    if (ahead.size >= this.#f + 1) {
      const target = [...ahead.values()].reduce((a, b) => (a < b ? a : b));
      if (target > this.#view) this.#startViewChange(target);
    }
    if (this.#changing && vc.view === this.#view && this.#isLeaderOf(this.#view)) this.#tryNewView();
  }

  #storeViewChange(vc: ViewChange): void {
    let senders = this.#viewChanges.get(vc.view);
    if (senders === undefined) {
      // Bound memory: keep view changes only for a few views ahead of the current one.
      if (vc.view > this.#view + VIEW_WINDOW) return;
      senders = new Map();
      this.#viewChanges.set(vc.view, senders);
    }
    if (!senders.has(vc.from)) senders.set(vc.from, vc);
  }

  #tryNewView(): void {
    if (this.#awaitPending) return; // retried on the 'pending' input that follows the commit
    const vcs = this.#viewChanges.get(this.#view);
    if (vcs === undefined || vcs.size < this.#q) return;
    const list = [...vcs.values()].sort((a, b) => a.from - b.from);
    const { height, chosen } = selectFromViewChanges(list);
    if (height > this.#height) {
      const behind = list.find((vc) => vc.height === height);
      if (behind?.lastCert) this.#emit({ kind: 'sync', height: behind.lastCert.height, peers: [behind.from] });
      return; // retried after each commit
    }
    let proposal: Propose | null = null;
    if (chosen !== null) proposal = this.#signProposal(this.#view, height, chosen.payload);
    else if (height === this.#height && !this.#awaitPending && this.#pending > 0) {
      const payload = this.#app.propose(height, this.#now);
      if (payload !== null) proposal = this.#signProposal(this.#view, height, payload);
    }
    if (chosen !== null && proposal === null) return; // guard refused: cannot lead this view safely
    const body = { kind: 'new-view' as const, view: this.#view, viewChanges: list, proposal };
    const sig = this.#crypto.sign(signingBytes(this.#cfg.chain, { ...body, from: this.#cfg.self }));
    const nv: NewView = { ...body, from: this.#cfg.self, sig };
    this.#installView(nv);
    this.#broadcastOwn(nv);
  }

  #onNewView(nv: NewView): void {
    if (nv.from !== leaderOf(nv.view, this.#cfg.n)) return this.#fault(nv.from, 'new view from a non-leader');
    if (nv.view < this.#view || (nv.view === this.#view && !this.#changing)) return;
    const senders = new Set<number>();
    for (const vc of nv.viewChanges) if (vc.lastCert !== null) this.#adoptCertificate(vc.lastCert);
    for (const vc of nv.viewChanges) {
      if (vc.view !== nv.view || senders.has(vc.from)) return this.#fault(nv.from, 'new view with a foreign or duplicate view change');
      senders.add(vc.from);
      const bytes = signingBytes(this.#cfg.chain, vc);
      if (!this.#crypto.verify(vc.from, bytes, vc.sig) || !this.#viewChangeValid(vc)) return this.#fault(nv.from, 'new view with an invalid view change');
    }
    if (senders.size < this.#q) return this.#fault(nv.from, 'new view without a quorum of view changes');
    const { height, chosen } = selectFromViewChanges(nv.viewChanges);
    const p = nv.proposal;
    if (p !== null) {
      if (p.view !== nv.view || p.from !== nv.from || p.height !== height) return this.#fault(nv.from, 'new view proposal for the wrong view or height');
      if (!this.#crypto.verify(p.from, signingBytes(this.#cfg.chain, p), p.sig)) return this.#fault(nv.from, 'bad signature on new view proposal');
    }
    if (chosen !== null && (p === null || !bytesEqual(p.digest, chosen.digest))) {
      return this.#fault(nv.from, 'new view does not re-propose the highest prepared payload');
    }
    this.#installView(nv);
    if (height > this.#height) {
      const ahead = nv.viewChanges.find((vc) => vc.height === height);
      if (ahead?.lastCert) this.#emit({ kind: 'sync', height: ahead.lastCert.height, peers: [ahead.from] });
    }
  }

  #installView(nv: NewView): void {
    this.#own = this.#own.filter((m) => m.kind === 'commit' && m.height === this.#height);
    this.#view = nv.view;
    this.#changing = false;
    this.#newView = nv;
    this.#newViewSentTo.clear();
    this.#proposal = null;
    this.#prepares.clear();
    for (const v of [...this.#viewChanges.keys()]) if (v <= nv.view) this.#viewChanges.delete(v);
    this.#persist();
    this.#disarmProgress();
    this.#armProgress(false);
    const p = nv.proposal;
    if (p !== null && p.height === this.#height) this.#acceptProposal(p);
    this.#replay();
    this.#maybePropose();
  }

  /** A peer is in an older view: hand it the NEW-VIEW that installed ours, once per view. */
  #helpLaggard(peer: number, peerView: bigint): void {
    if (this.#newView === null || peerView >= this.#view || this.#newViewSentTo.has(peer)) return;
    this.#newViewSentTo.add(peer);
    this.#emit({ kind: 'send', to: peer, msg: this.#newView });
  }

  // -- checks --------------------------------------------------------------------------------------

  #viewChangeValid(vc: ViewChange): boolean {
    if (vc.height < 1n) return false;
    if (vc.height === 1n) {
      if (vc.lastCert !== null) return false;
    } else if (vc.lastCert === null || vc.lastCert.height !== vc.height - 1n || !this.#lastCertValid(vc.lastCert)) return false;
    const p = vc.prepared;
    if (p === null) return true;
    if (p.height !== vc.height || p.view >= vc.view) return false;
    if (!bytesEqual(this.#app.digest(p.payload), p.digest)) return false;
    return this.#sigsValid(p.prepares, signingBytes(this.#cfg.chain, { kind: 'prepare', view: p.view, height: p.height, digest: p.digest }));
  }

  /**
   * A view change's certificate for the block below it. The block this replica committed last needs
   * no signature check: its certificate was checked when it was committed, and at the first height of
   * a new validator set it is signed by the outgoing set, which this replica no longer holds.
   */
  #lastCertValid(cert: Certificate): boolean {
    const own = this.#lastCert;
    if (own !== null && cert.height === own.height && bytesEqual(cert.digest, own.digest)) return true;
    return this.#certificateValid(cert);
  }

  /** q valid signatures from distinct validators, sorted by signer, over the commit digest. */
  #certificateValid(cert: Certificate): boolean {
    return this.#sigsValid(cert.sigs, commitSigningBytes(this.#cfg.chain, cert.height, cert.view, cert.digest));
  }

  #sigsValid(sigs: readonly SignerSig[], bytes: Uint8Array): boolean {
    if (sigs.length < this.#q) return false;
    let previous = -1;
    for (const { from, sig } of sigs) {
      if (!Number.isInteger(from) || from <= previous || from >= this.#cfg.n) return false;
      previous = from;
      if (!this.#crypto.verify(from, bytes, sig)) return false;
    }
    return true;
  }

  /** The guard: sign at a mark only above the last one signed, or again for the identical digest. */
  #maySign(last: SignedMark | null, mark: SignedMark): boolean {
    if (mark.height < this.#signFloor) return false;
    if (last === null) return true;
    if (mark.height !== last.height) return mark.height > last.height;
    if (mark.view !== last.view) return mark.view > last.view;
    return bytesEqual(mark.digest, last.digest);
  }

  // -- helpers -------------------------------------------------------------------------------------

  #isLeaderOf(view: bigint): boolean {
    return leaderOf(view, this.#cfg.n) === this.#cfg.self;
  }

  #addVote(votes: Map<string, Map<number, Uint8Array>>, view: bigint, digest: Uint8Array, from: number, sig: Uint8Array): boolean {
    // A validator votes once per view; a second, different vote is equivocation and is not counted.
    for (const [key, voters] of votes) {
      if (voters.has(from) && key.startsWith(`${view}:`)) return key === voteKey(view, digest);
    }
    const key = voteKey(view, digest);
    let voters = votes.get(key);
    if (voters === undefined) {
      voters = new Map();
      votes.set(key, voters);
    }
    voters.set(from, sig);
    return true;
  }

  #hold(msg: ConsensusMessage): void {
    const limit = this.#cfg.bufferPerPeer ?? 64;
    let list = this.#buffer.get(msg.from);
    if (list === undefined) {
      list = [];
      this.#buffer.set(msg.from, list);
    }
    list.push(msg);
    if (list.length > limit) list.shift();
  }

  #replay(): void {
    if (this.#buffer.size === 0) return;
    const held = [...this.#buffer.values()].flat();
    this.#buffer.clear();
    for (const msg of held) this.#dispatch(msg);
  }


  #armProgress(force: boolean): void {
    if (this.#progressArmed && !force) return;
    if (!force && this.#pending === 0 && this.#proposal === null) return;
    const backoff = Math.min(this.#failedViews, this.#cfg.maxBackoff ?? 4);
    this.#progressArmed = true;
    this.#set('progress', this.#cfg.progressTimeoutMs * 2 ** backoff);
  }

  #disarmProgress(): void {
    if (!this.#progressArmed) return;
    this.#progressArmed = false;
    this.#emit({ kind: 'clear-timer', name: 'progress' });
  }

  #set(name: 'progress' | 'status', ms: number): void {
    this.#emit({ kind: 'set-timer', name, ms });
  }

  #broadcastStatus(): void {
    const body = { kind: 'status' as const, view: this.#view, height: this.#height };
    const sig = this.#crypto.sign(signingBytes(this.#cfg.chain, { ...body, from: this.#cfg.self }));
    this.#emit({ kind: 'broadcast', msg: { ...body, from: this.#cfg.self, sig } });
  }

  #broadcastOwn(msg: ConsensusMessage): void {
    this.#own.push(msg);
    this.#emit({ kind: 'broadcast', msg });
  }

  #persist(): void {
    this.#emit({ kind: 'persist', state: this.safety() });
  }

  #fault(from: number, reason: string): void {
    this.#emit({ kind: 'fault', from, reason });
  }

  #emit(effect: Effect): void {
    this.#out.push(effect);
  }
}

/**
 * From q view changes: the height the new view decides (the highest any sender is deciding, backed by
 * its certificate) and the prepared payload with the highest view for that height, which the new
 * leader must re-propose.
 */
export function selectFromViewChanges(vcs: readonly ViewChange[]): { height: bigint; chosen: PreparedCert | null } {
  let height = 0n;
  for (const vc of vcs) if (vc.height > height) height = vc.height;
  let chosen: PreparedCert | null = null;
  for (const vc of vcs) {
    const p = vc.prepared;
    if (vc.height !== height || p === null) continue;
    if (chosen === null || p.view > chosen.view) chosen = p;
  }
  return { height, chosen };
}

function voteKey(view: bigint, digest: Uint8Array): string {
  return `${view}:${toHex(digest)}`;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}

function sortedSigs(votes: Map<number, Uint8Array>): SignerSig[] {
  return [...votes.entries()].sort((a, b) => a[0] - b[0]).map(([from, sig]) => ({ from, sig }));
}

/** The height a message is about (a new view's, from its view changes or proposal); null if none. */
export function messageHeight(msg: ConsensusMessage): bigint | null {
  if (msg.kind !== 'new-view') return msg.height;
  return msg.proposal?.height ?? msg.viewChanges[0]?.height ?? null;
}
