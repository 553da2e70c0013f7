/**
 * A validator process: the thin shell around the pure PBFT core and the ledger. It owns the sockets,
 * timers and disks; the core decides.
 *
 * Every input (a consensus frame, a timer, mempool news, a block fetched by catch-up) goes through
 * one serial queue; the effects of a step are carried out in order, and a `persist` effect is
 * fsynced before any message that follows it leaves the node. A committed block is written in one
 * fsynced level batch before anyone is told about it, so a transaction acknowledged as committed
 * survives kill -9.
 *
 * Catch-up: a replica that learns it is behind (status gossip, a certificate it cannot use) asks a
 * peer for blocks with their certificates; each is checked by the core before it is applied. Once the
 * blocks it needs were pruned, it installs a state snapshot checked against a certified header. A
 * peer that serves bad data is set aside and another is tried.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Reader, Writer } from '../codec/index.ts';
import { ethAddress, toChecksumAddress, toHex, fromHex, equalBytes, publicKeyFromPrivate } from '../crypto/index.ts';
import { LoulanError, isLoulanError } from '../errors.ts';
import { Replica, messageHeight } from '../consensus/replica.ts';
import { certificateValid, validatorCrypto } from '../consensus/signer.ts';
import { decodeCertificate, decodeMessage, encodeCertificate, encodeMessage } from '../consensus/wire.ts';
import type { ChainBinding } from '../consensus/messages.ts';
import type { Certificate, ConsensusMessage, Effect, Input, SafetyState, TimerName } from '../consensus/types.ts';
import {
  Ledger,
  Mempool,
  State,
  committedNonce,
  standardContracts,
  decodeBlock,
  decodeEvent,
  decodeHeader,
  blockHash,
  encodeHeader,
  genesisState,
  genesisTip,
  parseGenesis,
  validatorSetHash,
  txHash,
  type CommitBatch,
  type Genesis,
  type Receipt,
} from '../ledger/index.ts';
import { BlockStore, SafetyFile, SnapshotAssembler, type BlockRecord } from '../store/index.ts';
import type { HandoverRecord } from '../store/blocks.ts';
import { inclusionProof } from '../crypto/merkle.ts';
import type { BlockView, EventView, HeaderView, NodeApi, NodeEvent, NodeStatus, StateListView, StateProofView, SubmitResult, TxStatus, ValidatorInfo } from './api.ts';
import { proofToJson } from '../smt/proof.ts';
import { loadPrivateKey, type NodeConfig } from './config.ts';
import { createNodeMetrics, type NodeMetrics } from './metrics.ts';
import { Transport } from './transport.ts';
import { VerifyPool } from './verify-pool.ts';
import { txKey } from '../ledger/verified.ts';

const CH_CONSENSUS = 1;
const CH_TXS = 2;
const CH_SYNC_REQ = 3;
const CH_SYNC_RESP = 4;

const SYNC_BLOCKS = 1;
const SYNC_SNAPSHOT = 2;
const SYNC_HANDOVERS = 3;
const RESP_BLOCKS = 1;
const RESP_PRUNED = 2;
const RESP_HANDOVERS = 4;
/** Most validator-set hand-overs one response carries. */
const MAX_HANDOVERS = 256;
const RESP_CHUNK = 3;
const MAX_SYNC_BLOCKS = 64;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const GOSSIP_BATCH = 512;
const ADMISSION_SLICE = 32;
const RECENT_COMMITTED = 500_000;
const ADMISSION_QUEUE = 200_000;
/** Period and bound of re-offering executable transactions that are still waiting (see #regossip). */
const REGOSSIP_MS = 2_000;
const REGOSSIP_MAX = 512;
/** Consensus messages for the next validator set held until the switch (bounded; the oldest go first). */
const MAX_FUTURE_MESSAGES = 4096;

export type CrashPoint = 'safety:before-write' | 'safety:after-write' | 'safety:after-fsync' | 'safety:after-rename' | 'block:before-batch' | 'block:after-batch';

export interface NodeOptions {
  /** Kill -9 this process at a persistence point (fault tests): `point` after `after` occurrences. */
  readonly crashAt?: { readonly point: CrashPoint; readonly after: number };
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Start even though the safety record is missing while blocks exist (operator override). */
  readonly allowMissingSafety?: boolean;
}

interface Waiter {
  resolve(status: TxStatus): void;
}

export class ValidatorNode implements NodeApi {
  readonly config: NodeConfig;
  readonly genesis: Genesis;
  readonly self: number;
  readonly metrics: NodeMetrics['registry'];
  readonly #m: NodeMetrics;
  readonly #log: NonNullable<NodeOptions['log']>;
  readonly #opts: NodeOptions;
  /** The validator set in force for the height being decided (it changes when governance says so). */
  #chain: ChainBinding;
  #publicKeys: Uint8Array[];
  /** Stable peer ids of the set's members, by consensus position. */
  #nodeIds: number[];
  /** Our consensus position in the set, or -1 while we only follow (joining, or removed). */
  #position = -1;
  /** First height of the next set when a change is scheduled: its messages wait for the switch. */
  #nextSetAt: bigint | null = null;
  #futureMessages: ConsensusMessage[] = [];
  /** Set by a commit after which the next height has another validator set. */
  #switchAfter: Certificate | null = null;
  #membersKey = '';
  #wasMember = false;
  /** First height certified by the set in force (0 when unknown: since start). */
  #setSince = 0n;
  readonly #privateKey: Uint8Array;
  readonly #publicKey: Uint8Array;
  #store!: BlockStore;
  #safety!: SafetyFile;
  #state!: State;
  #mempool!: Mempool;
  #ledger!: Ledger;
  #replica!: Replica;
  #transport!: Transport;

  #queue: Input[] = [];
  #draining = false;
  /** The shutdown stage in progress (see `close`), for a watchdog to report. */
  #closing = '';
  #drained: Array<() => void> = [];
  /** Set while a snapshot replaces the ledger: inputs queue up but are not processed. */
  #paused = false;
  #installing = false;
  #pendingQueued = false;
  #timers = new Map<TimerName, NodeJS.Timeout>();
  #waiters = new Map<string, Waiter[]>();
  #listeners = new Set<(event: NodeEvent) => void>();
  #gossip: Uint8Array[] = [];
  #admission: Uint8Array[] = [];
  #admitting = false;
  readonly #pool: VerifyPool;
  #gossipTimer: NodeJS.Timeout | null = null;
  #regossipTimer: NodeJS.Timeout | null = null;
  #admittedAt = new Map<string, number>();
  /** Transactions in blocks committed in memory whose batch is not yet on disk: still 'pending'. */
  #committing = new Set<string>();
  /** Recently committed transaction hashes: a resubmission (client failover) answers `duplicate`. */
  #recent = new Set<string>();
  #lastWrite: Promise<void> = Promise.resolve();
  readonly #trace = process.env.LOULAN_TRACE === '1';
  #closed = false;
  #fatal!: (error: Error) => void;
  #stopResolve!: () => void;
  #crashCount = 0;

  // catch-up
  #syncTarget = 0n;
  #syncPeer: number | null = null;
  #syncRequest = 0;
  #syncTimer: NodeJS.Timeout | null = null;
  #badPeers = new Map<number, number>();
  #assembler: SnapshotAssembler | null = null;
  /** Validator sets by first height, as verified hand-overs since our tip showed them (snapshot sync). */
  #syncSets: ValidatorEpoch[] = [];
  #syncHandovers: HandoverRecord[] = [];

  private constructor(config: NodeConfig, options: NodeOptions) {
    this.config = config;
    this.#opts = options;
    this.#log = options.log ?? ((level, message, fields) => process.stderr.write(`${new Date().toISOString()} ${level} [${config.name}] ${message}${fields ? ' ' + JSON.stringify(fields, jsonSafe) : ''}\n`));
    this.genesis = parseGenesis(readFileSync(config.genesisFile, 'utf8'));
    this.#privateKey = loadPrivateKey(config.keyFile);
    this.#publicKeys = this.genesis.validators.map((v) => v.publicKey);
    this.#nodeIds = this.genesis.validators.map((_, index) => index);
    this.#publicKey = publicKeyFromPrivate('ES256K', this.#privateKey);
    const address = toChecksumAddress(ethAddress(this.#publicKey));
    const genesisIndex = this.genesis.validators.findIndex((v) => v.address === address);
    const nodeId = config.p2p.nodeId ?? (genesisIndex >= 0 ? genesisIndex : undefined);
    if (nodeId === undefined) {
      throw new LoulanError('CONFIG_INVALID', `the key in ${config.keyFile} (${address}) is not a genesis validator: set p2p.nodeId to the id the registry assigned to its join`, {
        details: { field: 'p2p.nodeId' },
      });
    }
    if (genesisIndex >= 0 && nodeId !== genesisIndex) {
      throw new LoulanError('CONFIG_INVALID', `a genesis validator's node id is its genesis position ${genesisIndex}`, { details: { field: 'p2p.nodeId' } });
    }
    /** Our stable peer id (the transport's index). */
    this.self = nodeId;
    this.#chain = { chainId: this.genesis.chainId, validatorSetHash: this.genesis.validatorSetHash };
    this.#m = createNodeMetrics();
    this.metrics = this.#m.registry;
    this.#pool = new VerifyPool({ size: 1, log: (message) => this.#log('warn', message) });
    // Callers that care await `stopped`; nobody else should see an unhandled rejection.
    this.stopped.catch(() => undefined);
  }

  /** Opens the stores, restores state, and starts networking and consensus. */
  static async start(config: NodeConfig, options: NodeOptions = {}): Promise<ValidatorNode> {
    const node = new ValidatorNode(config, options);
    await node.#open();
    return node;
  }

  /** Resolves when the node stops, or rejects with the fatal error that stopped it. */
  readonly stopped: Promise<void> = new Promise((resolve, reject) => {
    this.#fatal = reject;
    this.#stopResolve = resolve;
  });

  get p2pPort(): number {
    return this.#transport.port;
  }

  async #open(): Promise<void> {
    mkdirSync(this.config.dataDir, { recursive: true });
    mkdirSync(dirname(this.config.safetyFile), { recursive: true });
    this.#store = await BlockStore.open(this.config.dataDir, { onPoint: (p) => this.#crashPoint(`block:${p}`) });
    this.#safety = await SafetyFile.open(this.config.safetyFile, { onPoint: (p) => this.#crashPoint(`safety:${p}`) });
    const safety = this.#safety.load();
    const tip = this.#store.tip();
    if (safety === null && tip !== null && tip.height > 0n && !this.#opts.allowMissingSafety) {
      throw new LoulanError('SAFETY_RECORD_CORRUPT', `the safety record ${this.config.safetyFile} is missing but the store holds blocks: refusing to start (it could sign twice)`, {
        details: { path: this.config.safetyFile, height: tip.height },
      });
    }
    await this.#restoreLedger(safety);
    const tls = this.config.p2p.tls;
    const members = this.#transportMembers();
    this.#transport = new Transport(
      {
        self: this.self,
        chainId: this.genesis.chainId,
        validators: members,
        privateKey: this.#privateKey,
        listen: { host: this.config.p2p.host, port: this.config.p2p.port },
        // Configured peers that have left the set are not dialled (the chain knows better than the file).
        peers: this.config.p2p.peers.filter((p) => p.index === this.self || members.some((m) => m.index === p.index)),
        maxFrameBytes: this.config.consensus.maxBlockBytes * 4 + 1024 * 1024,
        ...(tls === undefined ? {} : { tls: { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8'), ca: readFileSync(tls.caFile, 'utf8') } }),
        log: (level, message, fields) => {
          if (level !== 'debug') this.#log(level, message, fields);
        },
      },
      (from, channel, payload) => this.#onFrame(from, channel, payload),
      (index, up) => {
        this.#m.connectedPeers.set(this.#transport.connected().length);
        if (up) this.#log('info', `peer ${index} connected`);
      },
    );
    await this.#transport.start();
    this.#updateMembers();
    this.#regossipTimer = setInterval(() => this.#regossip(), REGOSSIP_MS);
    this.#regossipTimer.unref();
    this.#enqueue({ kind: 'start' });
  }

  // -- the validator set -----------------------------------------------------------------------------

  /**
   * Who may link to us: the set in force, the scheduled one (a joining validator syncs before it
   * votes), and ourselves. Members registered with an endpoint are dialled there when the node's
   * configuration names none.
   */
  #transportMembers(): Array<{ index: number; publicKey: Uint8Array; url?: string }> {
    const out = new Map<number, { index: number; publicKey: Uint8Array; url?: string }>();
    const add = (nodeId: number, publicKey: Uint8Array, endpoint = ''): void => {
      out.set(nodeId, endpoint === '' ? { index: nodeId, publicKey } : { index: nodeId, publicKey, url: endpoint });
    };
    const current = this.#ledger.validatorsAt(this.#ledger.tip().height + 1n).members;
    if (current === null) this.#publicKeys.forEach((key, i) => add(this.#nodeIds[i]!, key));
    else for (const m of current) add(m.nodeId, m.publicKey, m.endpoint);
    for (const m of this.#ledger.pendingValidatorChange()?.validators ?? []) add(m.nodeId, m.publicKey, m.endpoint);
    // Peers the operator configured with their keys: how a node that knows only an old set (restored
    // from nothing) reaches the current validators to catch up. The chain's view of an id wins.
    for (const p of this.config.p2p.peers) if (p.publicKey !== undefined && !out.has(p.index)) add(p.index, fromHex(p.publicKey));
    if (out.has(this.self)) this.#wasMember = true;
    // Until it first appears in a set, a joining validator keeps its own entry so that members can
    // link to it; once removed, it drops it, and the transport closes every link.
    else if (!this.#wasMember) add(this.self, this.#publicKey);
    return [...out.values()];
  }

  /** Tells the transport about joins and removals (once per change). */
  #updateMembers(): void {
    const members = this.#transportMembers();
    const key = members.map((m) => `${m.index}:${toHex(m.publicKey)}:${m.url ?? ''}`).join(',');
    if (key === this.#membersKey) return;
    this.#membersKey = key;
    this.#log('info', `validator links: ${members.map((m) => m.index).join(', ')}`, { height: this.#ledger.tip().height });
    this.#transport.setMembers(members);
  }

  /** Adopts the set that certifies the next height, as the committed state says. */
  #adoptValidatorSet(): void {
    const view = this.#ledger.validatorsAt(this.#ledger.tip().height + 1n);
    if (view.members !== null) {
      this.#publicKeys = view.members.map((m) => m.publicKey);
      this.#nodeIds = view.members.map((m) => m.nodeId);
    }
    this.#chain = { chainId: this.genesis.chainId, validatorSetHash: view.hash };
    this.#position = this.#publicKeys.findIndex((k) => equalBytes(k, this.#publicKey));
    this.#nextSetAt = this.#nextSetHeight();
  }

  /** The first height of a scheduled set not yet in force, or null. */
  #nextSetHeight(): bigint | null {
    const at = this.#ledger.pendingValidatorChange()?.activationHeight;
    return at !== undefined && at > this.#ledger.tip().height + 1n ? at : null;
  }

  /**
   * Switches consensus to the set that certifies the next height, right after the commit that ends
   * the old one: a fresh core for the new membership, keeping everything this validator signed
   * (signing marks, floor) so no restart or switch can make it sign twice. The view starts at the
   * larger of ours and the one the hand-over block was committed in, which every member (a joiner
   * included) learns from that block's certificate.
   */
  #switchValidatorSet(cert: Certificate): void {
    const before = this.#position;
    const old = this.#replica.safety();
    this.#adoptValidatorSet();
    const view = old.view > cert.view ? old.view : cert.view;
    this.#replica = this.#newReplica(this.#ledger.tip().height, cert, { ...old, view, prepared: null });
    this.#setSince = cert.height + 1n;
    for (const name of [...this.#timers.keys()]) {
      clearTimeout(this.#timers.get(name));
      this.#timers.delete(name);
    }
    this.#updateMembers();
    this.#log('info', `validator set changed at height ${cert.height + 1n}: ${this.#publicKeys.length} validators, our position ${this.#position} (was ${before})`);
    this.#m.validators.set(this.#publicKeys.length);
    // Messages of the old set still queued would fail the new set's signature checks: drop them.
    this.#queue = this.#queue.filter((input) => input.kind !== 'message' || (messageHeight(input.msg) ?? this.#setSince) >= this.#setSince);
    this.#queue.unshift({ kind: 'start' });
    const held = this.#futureMessages.splice(0);
    for (const msg of held) this.#queue.push({ kind: 'message', msg });
    this.#notePending();
  }

  #newReplica(committedHeight: bigint, lastCert: Certificate | null, safety: SafetyState | null): Replica {
    const ledger = this.#ledger;
    const trace = process.env.LOULAN_TRACE === '1';
    const app = trace
      ? {
          digest: (p: Uint8Array) => ledger.digest(p),
          propose: (h: bigint, now: number) => {
            const t = performance.now();
            const out = ledger.propose(h, now);
            this.#log('info', `trace propose h=${h} bytes=${out?.length ?? 0} ms=${(performance.now() - t).toFixed(1)}`);
            return out;
          },
          validate: (h: bigint, p: Uint8Array, now: number) => {
            const t = performance.now();
            const ok = ledger.validate(h, p, now);
            this.#log('info', `trace validate h=${h} ok=${ok} ms=${(performance.now() - t).toFixed(1)}`);
            return ok;
          },
        }
      : ledger;
    return new Replica(
      {
        n: this.#publicKeys.length,
        self: this.#position,
        chain: this.#chain,
        progressTimeoutMs: this.config.consensus.progressTimeoutMs,
        statusIntervalMs: this.config.consensus.statusIntervalMs,
      },
      app,
      validatorCrypto(this.#publicKeys, this.#position < 0 ? null : this.#privateKey),
      { committedHeight, lastCert, safety },
    );
  }

  /** Builds state, mempool, ledger and replica from the store (after start or a snapshot install). */
  async #restoreLedger(safety: SafetyState | null): Promise<void> {
    const tip = this.#store.tip();
    let ledgerTip = genesisTip(this.genesis);
    let lastCert: Certificate | null = null;
    if (tip === null || tip.height === 0n) {
      this.#state = genesisState(this.genesis);
      this.#store.trackState(this.#state);
    } else {
      const record = await this.#store.getHeader(tip.height);
      if (record === undefined) throw new LoulanError('STORE_CORRUPT', `no header at the tip ${tip.height}`, { details: { height: tip.height } });
      const header = decodeHeader(record.header);
      // Loads the persisted state tree and checks it against the header (STORE_CORRUPT otherwise).
      this.#state = await this.#store.openState(header.stateRoot);
      ledgerTip = { height: tip.height, hash: tip.hash, time: header.time };
      lastCert = record.cert;
    }
    const state = this.#state;
    const contracts = standardContracts();
    this.#mempool = new Mempool({ chainId: this.genesis.chainId, nonceOf: (address) => committedNonce(state, address), contracts, state });
    this.#ledger = new Ledger({
      chainId: this.genesis.chainId,
      validatorSetHash: this.genesis.validatorSetHash,
      self: 0,
      validatorCount: this.genesis.validators.length,
      selfKey: this.#publicKey,
      contracts,
      state,
      mempool: this.#mempool,
      tip: ledgerTip,
      maxBlockTxs: this.config.consensus.maxBlockTxs,
      maxBlockBytes: this.config.consensus.maxBlockBytes,
    });
    this.#adoptValidatorSet();
    this.#replica = this.#newReplica(ledgerTip.height, lastCert, safety);
    this.#m.validators.set(this.#publicKeys.length);
    this.#m.height.set(Number(ledgerTip.height));
  }

  // -- the serial input queue ------------------------------------------------------------------------

  #enqueue(input: Input): void {
    if (this.#closed) return;
    this.#queue.push(input);
    if (!this.#draining && !this.#paused) void this.#drain();
  }

  /**
   * Tells the core how many transactions are ready. Goes to the front of the queue: after a commit
   * the core waits for it before proposing or replaying held messages for the next height.
   */
  #notePending(): void {
    if (this.#pendingQueued || this.#closed) return;
    this.#pendingQueued = true;
    this.#queue.unshift({ kind: 'pending', count: -1 });
    if (!this.#draining && !this.#paused) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && !this.#closed && !this.#paused) {
        let input = this.#queue.shift()!;
        if (input.kind === 'pending') {
          this.#pendingQueued = false;
          input = { kind: 'pending', count: this.#mempool.executableCount() };
          this.#m.mempoolSize.set(this.#mempool.size);
        }
        if (this.#trace && input.kind !== 'pending') this.#log('info', `trace in ${input.kind === 'message' ? `${input.msg.kind} from ${input.msg.from} h=${'height' in input.msg ? input.msg.height : ''} v=${input.msg.view}` : input.kind === 'timer' ? `timer ${input.name}` : input.kind}`);
        const effects = this.#replica.step(input, Date.now());
        await this.#apply(effects);
        const handover = this.#switchAfter;
        if (handover !== null) {
          this.#switchAfter = null;
          this.#switchValidatorSet(handover);
        }
        this.#m.view.set(Number(this.#replica.view));
      }
    } catch (error) {
      this.#die(error);
    } finally {
      this.#draining = false;
      for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  /** Stops processing inputs; resolves once the step in progress (if any) has finished. */
  async #pause(): Promise<void> {
    this.#paused = true;
    if (this.#draining) await new Promise<void>((resolve) => this.#drained.push(resolve));
  }

  #resume(): void {
    this.#paused = false;
    if (!this.#draining && this.#queue.length > 0) void this.#drain();
  }

  async #apply(effects: Effect[]): Promise<void> {
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      switch (effect.kind) {
        case 'persist': {
          // Consecutive persists with nothing sent between them: only the last needs to reach disk.
          const next = effects.slice(i + 1).find((e) => e.kind === 'persist' || e.kind === 'broadcast' || e.kind === 'send');
          if (next?.kind === 'persist') break;
          // Nothing is signed for a height until the block below it is on disk: a validator killed
          // with a committed block still unwritten must not have moved its safety record past it
          // (it would restart without the prepared certificate it may have to report).
          await this.#lastWrite;
          await this.#safety.save(effect.state);
          break;
        }
        case 'broadcast':
          this.#transport.broadcast(CH_CONSENSUS, encodeMessage(effect.msg));
          this.#m.framesOut.inc({ type: effect.msg.kind });
          break;
        case 'send':
          this.#transport.send(this.#nodeIds[effect.to] ?? -1, CH_CONSENSUS, encodeMessage(effect.msg));
          this.#m.framesOut.inc({ type: effect.msg.kind });
          break;
        case 'commit':
          await this.#commit(effect.payload, effect.cert);
          break;
        case 'set-timer':
          this.#setTimer(effect.name, effect.ms);
          break;
        case 'clear-timer': {
          const t = this.#timers.get(effect.name);
          if (t !== undefined) clearTimeout(t);
          this.#timers.delete(effect.name);
          break;
        }
        case 'sync':
          this.#startSync(effect.height, effect.peers.map((p) => this.#nodeIds[p] ?? -1));
          break;
        case 'fault':
          this.#m.faults.inc({ reason: effect.reason });
          this.#log('warn', `fault from validator ${effect.from}: ${effect.reason}`, effect.reason === 'invalid proposal' ? { why: String(this.#ledger.lastRejection?.message) } : undefined);
          break;
      }
    }
  }

  #setTimer(name: TimerName, ms: number): void {
    const old = this.#timers.get(name);
    if (old !== undefined) clearTimeout(old);
    const timer = setTimeout(() => {
      this.#timers.delete(name);
      if (name === 'progress') this.#m.viewChanges.inc();
      this.#enqueue({ kind: 'timer', name });
    }, ms);
    timer.unref();
    this.#timers.set(name, timer);
  }

  // -- commit ------------------------------------------------------------------------------------

  async #commit(payload: Uint8Array, cert: Certificate): Promise<void> {
    const started = performance.now();
    let batch: CommitBatch;
    try {
      batch = this.#ledger.commit(payload, cert);
    } catch (error) {
      // A certified block our state machine cannot reproduce: this node has diverged. Stop.
      throw new LoulanError('LEDGER_DIVERGED', `cannot apply certified block ${cert.height}`, { cause: error, details: { height: cert.height } });
    }
    // The store holds the full state: block 1 also writes the genesis entries it did not change.
    let statePuts = batch.stateDiff.puts;
    if (batch.height === 1n) {
      const touched = new Set([...batch.stateDiff.puts.map(([key]) => key), ...batch.stateDiff.deletes]);
      statePuts = [...this.genesis.state.filter(([key]) => !touched.has(key)), ...batch.stateDiff.puts];
    }
    // The write goes to disk in the background, in order (the store queues its batches), while
    // consensus moves on to the next height: the in-memory ledger is already ahead. Nobody is told
    // about the block (clients, subscribers, peers asking for it) until its batch is fsynced; a crash
    // before that only means the block is fetched again from the others.
    const txKeys = batch.receipts.map((r) => toHex(r.hash));
    for (const key of txKeys) this.#committing.add(key);
    const writing = performance.now();
    const write = this.#store.commitBlock({
      height: batch.height,
      blockHash: batch.blockHash,
      header: encodeHeader(batch.header),
      payload: batch.payload,
      cert: batch.cert,
      txHashes: batch.txHashes,
      receipts: batch.receipts.map((r) => [r.hash, encodeReceipt(batch.height, r)] as const),
      statePuts,
      stateDeletes: batch.stateDiff.deletes,
      events: batch.encodedEvents,
      ...(equalBytes(batch.header.nextValidatorSetHash, batch.header.validatorSetHash)
        ? {}
        : { nextValidatorSet: this.#ledger.validatorsAt(batch.height + 1n).members?.map((m) => m.publicKey) ?? [] }),
    });
    this.#lastWrite = write.then(
      () => this.#durable(batch, txKeys, started, writing),
      (error) => this.#die(error),
    );
    // A validator-set change: scheduled (admit the joiner's links now) or taking effect at the next
    // height (switch consensus once this step's effects are done).
    if (!equalBytes(this.#ledger.validatorsAt(batch.height + 1n).hash, this.#chain.validatorSetHash)) this.#switchAfter = cert;
    else this.#nextSetAt = this.#nextSetHeight();
    this.#updateMembers();
    this.#notePending();
    const k = BigInt(this.config.consensus.checkpointInterval);
    const retain = BigInt(this.config.consensus.retainBlocks);
    if (batch.height % k === 0n && batch.height > retain) void this.#store.pruneBelow(batch.height - retain).catch((error) => this.#die(error));
    if (this.#syncTarget > 0n) this.#continueSync();
  }

  /** A committed block's batch is on disk: now clients, subscribers and metrics hear of it. */
  #durable(batch: CommitBatch, txKeys: readonly string[], started: number, writing: number): void {
    for (const key of txKeys) {
      this.#committing.delete(key);
      this.#recent.add(key);
    }
    // Sets iterate in insertion order: drop the oldest beyond the bound.
    for (const key of this.#recent) {
      if (this.#recent.size <= RECENT_COMMITTED) break;
      this.#recent.delete(key);
    }
    this.#m.persistSeconds.observe((performance.now() - writing) / 1000);
    if (process.env.LOULAN_TRACE === '1') this.#log('info', `trace durable h=${batch.height} txs=${batch.txHashes.length} exec+write ms=${(performance.now() - started).toFixed(1)} write ms=${(performance.now() - writing).toFixed(1)}`);
    const now = Date.now();
    this.#m.commitBatchSeconds.observe((performance.now() - started) / 1000);
    this.#m.blocksCommitted.inc();
    this.#m.txsCommitted.inc(batch.txHashes.length);
    this.#m.height.set(Number(batch.height));
    this.#m.blockSize.observe(batch.txHashes.length);
    for (const receipt of batch.receipts) {
      const key = toHex(receipt.hash);
      const admitted = this.#admittedAt.get(key);
      if (admitted !== undefined) {
        this.#m.commitLatency.observe((now - admitted) / 1000);
        this.#admittedAt.delete(key);
      }
      const waiters = this.#waiters.get(key);
      if (waiters !== undefined) {
        this.#waiters.delete(key);
        const status = committedStatus(key, batch.height, receipt);
        for (const w of waiters) w.resolve(status);
      }
    }
    this.#emit({ type: 'block', height: batch.height, hash: toHex(batch.blockHash), txCount: batch.txHashes.length, time: batch.header.time });
    batch.events.forEach((event, index) =>
      this.#emit({ type: 'event', height: batch.height, tx: event.tx, index, contract: event.contract, name: event.type, data: toHex(event.data) }),
    );
  }

  #emit(event: NodeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#log('warn', 'subscriber failed', { error: String(error) });
      }
    }
  }

  // -- frames ------------------------------------------------------------------------------------

  #onFrame(from: number, channel: number, payload: Uint8Array): void {
    try {
      switch (channel) {
        case CH_CONSENSUS: {
          const msg: ConsensusMessage = decodeMessage(payload, { maxPayloadBytes: this.config.consensus.maxBlockBytes });
          this.#m.framesIn.inc({ type: msg.kind });
          const height = messageHeight(msg);
          if (height !== null) {
            // A peer ahead of us: fetch what we miss whatever set signed its status (the blocks
            // themselves are verified), so a node left behind a validator-set change still catches up.
            if (msg.kind === 'status' && height > this.#ledger.tip().height + 1n) this.#startSync(height - 1n, [from]);
            if (height < this.#setSince) return; // a message of the previous set: its signer index means another key
            // Beyond tip + 2 the set that signed it may not be known here yet: catch-up (above) covers it.
            if (height > this.#ledger.tip().height + 2n) return;
            if (this.#nextSetAt !== null && height >= this.#nextSetAt) {
              // For the next set: checked and counted once we switch to it.
              if (this.#futureMessages.length >= MAX_FUTURE_MESSAGES) this.#futureMessages.shift();
              this.#futureMessages.push(msg);
              return;
            }
          }
          this.#enqueue({ kind: 'message', msg });
          return;
        }
        case CH_TXS:
          this.#onGossip(payload);
          return;
        case CH_SYNC_REQ:
          void this.#serveSync(from, payload).catch((error) => this.#log('warn', 'sync request failed', { from, error: String(error) }));
          return;
        case CH_SYNC_RESP:
          this.#onSyncResponse(from, payload);
          return;
        default:
          this.#m.faults.inc({ reason: 'unknown channel' });
      }
    } catch (error) {
      this.#m.faults.inc({ reason: isLoulanError(error) ? error.code : 'frame' });
    }
  }

  #onGossip(payload: Uint8Array): void {
    const r = new Reader(payload);
    const count = r.u32('count');
    if (count > GOSSIP_BATCH * 4) return;
    const txs: Uint8Array[] = [];
    for (let i = 0; i < count; i++) txs.push(r.varBytes(128 * 1024, 'tx'));
    r.finish();
    void this.prepareTxs(txs).catch(() => undefined).then(() => {
      for (const tx of txs) {
        if (this.#admission.length >= ADMISSION_QUEUE) break; // shed load: the origin still has it
        this.#admission.push(tx);
      }
      if (!this.#admitting) {
        this.#admitting = true;
        setImmediate(() => this.#admitSome());
      }
    });
  }

  /** Marks the transactions whose signatures a worker checked, so admission does not check again. */
  async prepareTxs(txs: readonly Uint8Array[]): Promise<void> {
    const fresh = txs.filter((tx) => !this.#mempool.has(txHash(tx)));
    if (fresh.length === 0) return;
    const ok = await this.#pool.verify(fresh);
    fresh.forEach((tx, i) => {
      if (ok[i] === true) this.#mempool.verified.add(txKey(txHash(tx)));
    });
  }

  /**
   * Admits gossiped transactions a slice at a time. Each admission verifies a signature; doing a
   * whole burst at once would hold the event loop for seconds and stall consensus messages queued
   * behind it, so slices alternate with everything else the node has to do.
   */
  #admitSome(): void {
    const slice = this.#admission.splice(0, ADMISSION_SLICE);
    let added = false;
    for (const bytes of slice) {
      try {
        if (!this.#mempool.add(bytes).duplicate) added = true;
      } catch {
        // Stale or invalid by now: the origin answered its client; nothing to do here.
      }
    }
    if (added) this.#notePending();
    if (this.#admission.length > 0 && !this.#closed) setImmediate(() => this.#admitSome());
    else this.#admitting = false;
  }

  #queueGossip(bytes: Uint8Array): void {
    this.#gossip.push(bytes);
    if (this.#gossip.length >= GOSSIP_BATCH) this.#flushGossip();
    else if (this.#gossipTimer === null) {
      this.#gossipTimer = setTimeout(() => this.#flushGossip(), 2);
      this.#gossipTimer.unref();
    }
  }

  #flushGossip(): void {
    if (this.#gossipTimer !== null) clearTimeout(this.#gossipTimer);
    this.#gossipTimer = null;
    if (this.#gossip.length === 0) return;
    const w = new Writer().u32(this.#gossip.length);
    for (const tx of this.#gossip) w.varBytes(tx, 128 * 1024);
    this.#gossip = [];
    this.#transport.broadcast(CH_TXS, w.finish());
  }

  /**
   * Gossip is fire-and-forget (a link may be down, or drop frames when its buffer is full), so
   * executable transactions still waiting after a while are offered again, a bounded number per
   * period; peers drop the ones they know. A node that admitted transactions before it had any peer
   * (one that just started) gets them to the validators this way.
   */
  #regossip(): void {
    if (this.#closed || this.#transport.connected().length === 0) return;
    const now = Date.now();
    const stale = this.#mempool.take(REGOSSIP_MAX, 4 * 1024 * 1024).filter((tx) => {
      const admitted = this.#admittedAt.get(toHex(txHash(tx)));
      // Only those its own clients submitted: each transaction's entry node answers for it.
      return admitted !== undefined && now - admitted >= REGOSSIP_MS;
    });
    for (const tx of stale) this.#queueGossip(tx);
  }

  // -- catch-up ----------------------------------------------------------------------------------

  #startSync(height: bigint, peers: readonly number[]): void {
    if (height <= this.#replica.height - 1n) return;
    if (height > this.#syncTarget) this.#syncTarget = height;
    this.#m.syncing.set(1);
    if (this.#syncPeer !== null) return; // a request is in flight
    const connected = this.#transport.connected().filter((p) => (this.#badPeers.get(p) ?? 0) < Date.now());
    const preferred = peers.filter((p) => connected.includes(p));
    const candidates = preferred.length > 0 ? preferred : connected;
    if (candidates.length === 0) return;
    this.#syncPeer = candidates[Math.floor(Math.random() * candidates.length)]!;
    this.#requestBlocks();
  }

  #requestBlocks(): void {
    const peer = this.#syncPeer;
    if (peer === null) return;
    const from = this.#replica.height;
    const to = minBig(this.#syncTarget, from + BigInt(MAX_SYNC_BLOCKS) - 1n);
    this.#syncRequest = (this.#syncRequest + 1) >>> 0;
    this.#transport.send(peer, CH_SYNC_REQ, new Writer().u8(SYNC_BLOCKS).u32(this.#syncRequest).u64(from).u64(to).finish());
    this.#armSyncTimeout();
  }

  #armSyncTimeout(): void {
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = setTimeout(() => this.#syncFailed('timeout'), 5_000);
    this.#syncTimer.unref();
  }

  #syncFailed(reason: string): void {
    const peer = this.#syncPeer;
    if (peer !== null) {
      this.#log('warn', `catch-up from validator ${peer} failed: ${reason}`);
      this.#badPeers.set(peer, Date.now() + 10_000);
    }
    this.#syncPeer = null;
    this.#assembler = null;
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    const target = this.#syncTarget;
    this.#syncTarget = 0n;
    this.#startSync(target, []);
  }

  #continueSync(): void {
    if (this.#replica.height - 1n >= this.#syncTarget) {
      this.#syncTarget = 0n;
      this.#syncPeer = null;
      if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
      this.#syncTimer = null;
      this.#m.syncing.set(0);
    }
  }

  #onSyncResponse(from: number, payload: Uint8Array): void {
    if (from !== this.#syncPeer) return;
    const r = new Reader(payload);
    const kind = r.u8('kind');
    const id = r.u32('id');
    if (id !== this.#syncRequest) return;
    if (kind === RESP_PRUNED) {
      r.u64('prunedBelow');
      r.finish();
      // The blocks we need are gone: install a snapshot instead. Its certificate may come from a set
      // we have not reached, so first learn the hand-overs since our tip, each certified by the set
      // before it, starting from the set we trust.
      this.#syncRequest = (this.#syncRequest + 1) >>> 0;
      this.#transport.send(from, CH_SYNC_REQ, new Writer().u8(SYNC_HANDOVERS).u32(this.#syncRequest).u64(this.#ledger.tip().height).finish());
      this.#armSyncTimeout();
      return;
    }
    if (kind === RESP_HANDOVERS) {
      try {
        const followed = this.#followHandovers(r);
        this.#syncSets = followed.epochs;
        this.#syncHandovers = followed.records;
      } catch (error) {
        return this.#syncFailed(`bad validator-set hand-overs: ${String(error)}`);
      }
      this.#assembler = new SnapshotAssembler({ maxTotalBytes: 1024 * 1024 * 1024 });
      this.#syncRequest = (this.#syncRequest + 1) >>> 0;
      this.#transport.send(from, CH_SYNC_REQ, new Writer().u8(SYNC_SNAPSHOT).u32(this.#syncRequest).finish());
      this.#armSyncTimeout();
      return;
    }
    if (kind === RESP_CHUNK) {
      const chunk = r.varBytes(SNAPSHOT_CHUNK_BYTES * 2, 'chunk');
      r.finish();
      if (this.#assembler === null) return;
      try {
        if (this.#assembler.accept(chunk)) void this.#installSnapshot(this.#assembler).catch((error) => this.#syncFailed(String(error)));
        else this.#armSyncTimeout();
      } catch (error) {
        this.#syncFailed(`bad snapshot chunk: ${String(error)}`);
      }
      return;
    }
    const count = r.u32('count');
    if (count > MAX_SYNC_BLOCKS) return this.#syncFailed('too many blocks');
    const blocks: Array<{ payload: Uint8Array; cert: Certificate }> = [];
    try {
      for (let i = 0; i < count; i++) blocks.push({ payload: r.varBytes(this.config.consensus.maxBlockBytes, 'payload'), cert: decodeCertificate(r.varBytes(1024 * 80, 'cert')) });
      r.finish();
    } catch (error) {
      return this.#syncFailed(`malformed blocks: ${String(error)}`);
    }
    if (blocks.length === 0) {
      // The peer has not written those blocks yet (its disk lags its consensus a little): not bad
      // data. Ask again shortly, from anyone.
      this.#syncPeer = null;
      if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
      this.#syncTimer = null;
      const target = this.#syncTarget;
      this.#syncTarget = 0n;
      setTimeout(() => this.#closed || this.#startSync(target, []), 100).unref();
      return;
    }
    const first = blocks[0]!.cert.height;
    for (const [i, block] of blocks.entries()) {
      if (block.cert.height !== first + BigInt(i)) return this.#syncFailed('bad certificate');
      let setHash: Uint8Array;
      try {
        setHash = headerOfPayload(block.payload).validatorSetHash;
      } catch (error) {
        return this.#syncFailed(`malformed block: ${String(error)}`);
      }
      if (!equalBytes(setHash, this.#chain.validatorSetHash)) {
        // Certified by the next set: apply up to the hand-over, switch, then ask again.
        if (i === 0) return this.#syncFailed('block names a validator set not in force at its height');
        blocks.length = i;
        break;
      }
      if (!certificateValid(block.cert, this.#chain, this.#publicKeys)) return this.#syncFailed('bad certificate');
    }
    // Consensus may have committed some of these meanwhile: the core ignores those heights.
    for (const block of blocks) this.#enqueue({ kind: 'certified', payload: block.payload, cert: block.cert });
    const last = first + BigInt(blocks.length) - 1n;
    // After these are applied, #commit calls #continueSync; ask for more if still behind.
    this.#enqueueAfter(() => {
      if (this.#replica.height <= last) return this.#syncFailed('blocks did not apply');
      if (this.#replica.height - 1n < this.#syncTarget) this.#requestBlocks();
      else this.#continueSync();
    });
  }

  /**
   * Checks a peer's list of validator-set hand-overs since our tip, like a light client: each
   * hand-over block must be certified by the set in force at its height (starting from ours) and
   * name the next set by its hash. Returns the sets by the first height each certifies.
   */
  #followHandovers(r: Reader): { epochs: ValidatorEpoch[]; records: HandoverRecord[] } {
    const count = r.u32('count');
    if (count > MAX_HANDOVERS) throw new Error('too many hand-overs');
    const epochs: ValidatorEpoch[] = [{ from: 0n, chain: this.#chain, publicKeys: this.#publicKeys }];
    const records: HandoverRecord[] = [];
    let after = this.#ledger.tip().height;
    for (let i = 0; i < count; i++) {
      const headerBytes = r.varBytes(1024, 'header');
      const cert = decodeCertificate(r.varBytes(1024 * 80, 'cert'));
      const keys: Uint8Array[] = [];
      for (let n = r.u16('count'); n > 0; n--) keys.push(r.bytes(33, 'key'));
      const header = decodeHeader(headerBytes);
      const current = epochs.at(-1)!;
      if (header.height < after) throw new Error('hand-overs out of order');
      after = header.height;
      if (!equalBytes(header.validatorSetHash, current.chain.validatorSetHash)) throw new Error(`hand-over at ${header.height} is certified by a set we were not led to`);
      if (cert.height !== header.height || !equalBytes(cert.digest, blockHash(header)) || !certificateValid(cert, current.chain, current.publicKeys)) {
        throw new Error(`hand-over at ${header.height} carries no valid certificate`);
      }
      if (!equalBytes(validatorSetHash(keys.map((publicKey) => ({ publicKey }))), header.nextValidatorSetHash)) throw new Error(`hand-over at ${header.height} names other keys`);
      epochs.push({ from: header.height + 1n, chain: { chainId: this.genesis.chainId, validatorSetHash: header.nextValidatorSetHash }, publicKeys: keys });
      records.push({ height: header.height, hash: cert.digest, header: headerBytes, cert, nextValidatorSet: keys });
    }
    r.finish();
    return { epochs, records };
  }

  /** Runs `fn` once the inputs queued so far have been processed. */
  #enqueueAfter(fn: () => void): void {
    const check = () => {
      if (this.#queue.length === 0 && !this.#draining) fn();
      else setImmediate(check);
    };
    setImmediate(check);
  }

  async #installSnapshot(assembler: SnapshotAssembler): Promise<void> {
    // One install at a time: a second one would resume consensus while the first swaps the ledger.
    if (this.#installing) return;
    this.#installing = true;
    try {
      await this.#installSnapshotNow(assembler);
    } finally {
      this.#installing = false;
    }
  }

  async #installSnapshotNow(assembler: SnapshotAssembler): Promise<void> {
    const snap = assembler.result();
    this.#assembler = null;
    const header = decodeHeader(snap.header);
    if (!equalBytes(blockHash(header), snap.hash) || !equalBytes(snap.cert.digest, snap.hash) || snap.cert.height !== header.height) throw new Error('snapshot header does not match its certificate');
    // The set in force at the snapshot's height, from the hand-overs verified before asking for it.
    const epoch = this.#syncSets.filter((e) => e.from <= snap.height).at(-1);
    if (epoch === undefined || !equalBytes(header.validatorSetHash, epoch.chain.validatorSetHash)) {
      throw new Error('snapshot is certified by a validator set the verified hand-overs do not lead to');
    }
    if (!certificateValid(snap.cert, epoch.chain, epoch.publicKeys)) throw new Error('snapshot certificate invalid');
    const installed = State.fromEntries(snap.entries);
    if (!equalBytes(installed.root(), header.stateRoot)) throw new Error('snapshot state does not match the certified state root');
    await this.#pause();
    try {
      if (snap.height < this.#replica.height) return this.#continueSync();
      await this.#store.writeSnapshot(snap, installed, this.#syncHandovers);
      // The ledger is rebuilt on the snapshot's state: keep what clients submitted meanwhile (the
      // pool re-checks each against the new state; what is stale now drops out).
      const pending = this.#mempool.all();
      await this.#restoreLedger(this.#replica.safety());
      for (const tx of pending) {
        try {
          this.#mempool.add(tx);
        } catch {
          // committed or invalid by now
        }
      }
      // Clients waiting for a transaction the snapshot made stale (committed in blocks this node
      // skipped, or replaced) would wait for nothing: answer them now; they can ask any validator.
      for (const [hash, waiters] of [...this.#waiters]) {
        if (this.#mempool.has(fromHex(hash))) continue;
        this.#waiters.delete(hash);
        for (const w of waiters) w.resolve({ hash, status: 'unknown' });
      }
      this.#setSince = 0n;
      this.#updateMembers();
    } finally {
      this.#resume();
    }
    this.#log('info', `installed snapshot at height ${snap.height}`);
    this.#enqueue({ kind: 'start' });
    this.#notePending();
    this.#syncPeer = null;
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    if (this.#syncTarget > snap.height) this.#startSync(this.#syncTarget, []);
    else this.#continueSync();
  }

  async #serveSync(from: number, payload: Uint8Array): Promise<void> {
    const r = new Reader(payload);
    const kind = r.u8('kind');
    const id = r.u32('id');
    if (kind === SYNC_HANDOVERS) {
      const start = r.u64('from');
      r.finish();
      const w = new Writer();
      const list = await this.#store.getHandovers(start, MAX_HANDOVERS);
      w.u8(RESP_HANDOVERS).u32(id).u32(list.length);
      for (const h of list) {
        w.varBytes(h.header, 1024).varBytes(encodeCertificate(h.cert), 1024 * 80).u16(h.nextValidatorSet.length);
        for (const key of h.nextValidatorSet) w.bytes(key, 33);
      }
      this.#transport.send(from, CH_SYNC_RESP, w.finish());
      return;
    }
    if (kind === SYNC_SNAPSHOT) {
      r.finish();
      for await (const chunk of this.#store.snapshotChunks(SNAPSHOT_CHUNK_BYTES)) {
        this.#transport.send(from, CH_SYNC_RESP, new Writer().u8(RESP_CHUNK).u32(id).varBytes(chunk, SNAPSHOT_CHUNK_BYTES * 2).finish());
      }
      return;
    }
    const start = r.u64('from');
    const end = r.u64('to');
    r.finish();
    const pruned = this.#store.prunedBelow();
    if (start < pruned) {
      this.#transport.send(from, CH_SYNC_RESP, new Writer().u8(RESP_PRUNED).u32(id).u64(pruned).finish());
      return;
    }
    const last = minBig(end, start + BigInt(MAX_SYNC_BLOCKS) - 1n);
    const w = new Writer();
    const blocks: Array<[Uint8Array, Uint8Array]> = [];
    for await (const block of this.#store.blocks(start, last)) blocks.push([block.payload, encodeCertificate(block.cert)]);
    w.u8(RESP_BLOCKS).u32(id).u32(blocks.length);
    for (const [p, c] of blocks) w.varBytes(p, this.config.consensus.maxBlockBytes).varBytes(c, 1024 * 80);
    this.#transport.send(from, CH_SYNC_RESP, w.finish());
  }

  // -- NodeApi -----------------------------------------------------------------------------------

  submitTx(bytes: Uint8Array): SubmitResult {
    if (this.#closed) throw new LoulanError('INTERNAL', 'node is stopping');
    // While a snapshot replaces the ledger, a transaction admitted to the old mempool could be lost
    // with it, and its client told nothing: refuse it; the client moves on to another validator.
    if (this.#installing) throw new LoulanError('NODE_SYNCING', 'this node is installing a state snapshot; submit to another validator or retry shortly', { details: { self: this.self } });
    // Accepting what cannot reach any validator would leave the client waiting for nothing.
    if (this.#transport.connected().length === 0) {
      throw new LoulanError('NODE_NOT_CONNECTED', 'this node has no link to another validator; submit to another one', { details: { self: this.self } });
    }
    let result;
    try {
      const known = toHex(txHash(bytes));
      if (this.#recent.has(known) || this.#committing.has(known)) return { hash: known, duplicate: true };
      result = this.#mempool.add(bytes);
    } catch (error) {
      this.#m.txsRejected.inc({ code: isLoulanError(error) ? error.code : 'INTERNAL' });
      throw error;
    }
    const hash = toHex(result.hash);
    if (!result.duplicate) {
      this.#m.txsAdmitted.inc();
      if (this.#admittedAt.size < 1_000_000) this.#admittedAt.set(hash, Date.now());
      this.#queueGossip(bytes);
      this.#notePending();
    }
    return { hash, duplicate: result.duplicate };
  }

  async waitForCommit(hash: string, timeoutMs: number): Promise<TxStatus> {
    const now = await this.getTx(hash);
    if (now.status === 'committed') return now;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const list = this.#waiters.get(hash)?.filter((w) => w !== waiter);
        if (list === undefined || list.length === 0) this.#waiters.delete(hash);
        else this.#waiters.set(hash, list);
        void this.getTx(hash).then(resolve, () => resolve(now));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (status) => {
          clearTimeout(timer);
          resolve(status);
        },
      };
      const list = this.#waiters.get(hash) ?? [];
      list.push(waiter);
      this.#waiters.set(hash, list);
    });
  }

  async getTx(hash: string): Promise<TxStatus> {
    const bytes = fromHex(hash);
    if (this.#committing.has(hash)) return { hash, status: 'pending' };
    const location = await this.#store.getTxLocation(bytes);
    if (location !== undefined) {
      const receipt = await this.#store.getReceipt(bytes);
      return { hash, status: 'committed', height: location.height, index: location.index, ...(receipt === undefined ? {} : { receipt: decodeReceipt(receipt) }) };
    }
    if (this.#mempool.has(bytes)) return { hash, status: 'pending' };
    return { hash, status: 'unknown' };
  }

  async getBlock(height: bigint): Promise<BlockView | null> {
    const record = await this.#store.getHeader(height);
    if (record === undefined) return null;
    const stored = await this.#store.getBlock(height);
    let txHashes: string[] = [];
    if (stored !== undefined) {
      txHashes = decodeBlock(stored.payload).txs.map((tx) => toHex(txHash(tx)));
    }
    return { ...headerView(record), txHashes };
  }

  async getHeaders(from: bigint, to: bigint): Promise<HeaderView[]> {
    const out: HeaderView[] = [];
    for (let height = from; height <= to; height++) {
      const record = await this.#store.getHeader(height);
      if (record === undefined) break;
      out.push(headerView(record));
    }
    return out;
  }

  async getEvent(height: bigint, index: number, proof: boolean): Promise<EventView | null> {
    const [events, record] = await Promise.all([this.#store.getEvents(height), proof ? this.#store.getHeader(height) : undefined]);
    const encoded = events?.[index];
    if (events === undefined || encoded === undefined) return null;
    const event = decodeEvent(encoded);
    const view: EventView = {
      id: `${height}-${index}`,
      height,
      index,
      tx: event.tx,
      contract: event.contract,
      name: event.type,
      data: toHex(event.data),
      encoded: toHex(encoded),
    };
    if (!proof || record === undefined) return view;
    return { ...view, proof: { path: inclusionProof(events, index).map(toHex), header: headerView(record) } };
  }

  getState(key: string): Uint8Array | undefined {
    return this.#state.get(key);
  }

  listState(prefix: string, after: string, limit: number): StateListView {
    const { entries, more } = this.#state.list(prefix, after, limit);
    const last = entries.at(-1);
    return {
      height: this.#ledger.tip().height,
      entries: entries.map(([key, value]) => ({ key, value: toHex(value) })),
      ...(more && last !== undefined ? { next: last[0] } : {}),
    };
  }

  async proveState(key: string): Promise<StateProofView> {
    // Value and proof are read together from the committed state; its block may still be on its way
    // to disk (commits are written in the background), so wait for the write before reading it.
    const height = this.#ledger.tip().height;
    const value = this.#state.get(key);
    const proof = proofToJson(this.#state.prove(key));
    let record = await this.#store.getHeader(height);
    if (record === undefined) {
      await this.#lastWrite;
      record = await this.#store.getHeader(height);
    }
    if (record === undefined) throw new LoulanError('RPC_BLOCK_NOT_FOUND', `no certified header at height ${height} yet`, { details: { height } });
    return { key, value: value === undefined ? null : toHex(value), height, proof, header: headerView(record) };
  }

  status(): NodeStatus {
    const tip = this.#store.tip();
    const ledgerTip = this.#ledger.tip();
    return {
      chainId: toHex(this.genesis.chainId),
      self: this.self,
      height: tip?.height ?? 0n,
      lastBlockHash: tip === null ? null : toHex(tip.hash),
      lastBlockTime: tip === null ? null : Number(ledgerTip.time),
      view: this.#replica.view,
      changingView: this.#replica.changing,
      leader: this.#replica.leader,
      position: this.#position,
      validators: this.#validatorInfo(),
      connectedPeers: this.#transport.connected(),
      mempool: { size: this.#mempool.size, executable: this.#mempool.executableCount() },
      syncing: this.#syncTarget > 0n || this.#installing,
    };
  }

  #validatorInfo(): ValidatorInfo[] {
    const members = this.#ledger.validatorsAt(this.#ledger.tip().height + 1n).members;
    return this.#publicKeys.map((key, index) => ({
      index,
      nodeId: this.#nodeIds[index] ?? index,
      name: members?.[index]?.name ?? this.genesis.validators[index]?.name ?? '',
      address: toChecksumAddress(ethAddress(key)),
      publicKey: toHex(key),
    }));
  }

  subscribe(listener: (event: NodeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // -- lifecycle ---------------------------------------------------------------------------------

  #crashPoint(point: string): void {
    const crash = this.#opts.crashAt;
    if (crash === undefined || crash.point !== point) return;
    if (++this.#crashCount > crash.after) process.kill(process.pid, 'SIGKILL');
  }

  #die(error: unknown): void {
    if (this.#closed) return;
    this.#log('error', 'validator stopped on a fatal error', { error: isLoulanError(error) ? `${error.code}: ${error.message}` : String(error) });
    const fatal = this.#fatal;
    void this.close().finally(() => fatal(error instanceof Error ? error : new Error(String(error))));
  }

  /**
   * Answers every client waiting for a commit (status `unknown`) instead of making it wait out its
   * timeout: called first on shutdown, so the RPC server can close without waiting for long polls.
   */
  releaseWaiters(): void {
    for (const [hash, waiters] of this.#waiters) for (const w of waiters) w.resolve({ hash, status: 'unknown' });
    this.#waiters.clear();
  }

  /** Where a shutdown in progress is: '' before `close`, then each stage, then 'closed'. */
  get closingStage(): string {
    return this.#closing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    if (this.#gossipTimer !== null) clearTimeout(this.#gossipTimer);
    if (this.#regossipTimer !== null) clearInterval(this.#regossipTimer);
    this.releaseWaiters();
    // Each stage is recorded, so that a shutdown that hangs says where (see `closingStage`).
    this.#closing = 'transport';
    await this.#transport?.close();
    this.#closing = 'verify pool';
    await this.#pool.close();
    // Let an in-flight effect finish its disk write before the store closes.
    this.#closing = 'input queue';
    while (this.#draining) await new Promise((resolve) => setTimeout(resolve, 5));
    this.#closing = 'block write';
    await this.#lastWrite;
    this.#closing = 'store';
    await this.#store?.close();
    this.#closing = 'closed';
    this.#stopResolve();
  }
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function committedStatus(hash: string, height: bigint, r: Receipt): TxStatus {
  return {
    hash,
    status: 'committed',
    height,
    index: r.index,
    receipt: { status: r.status, code: r.code, sender: r.sender, nonce: r.nonce, eventCount: r.eventCount },
  };
}

/** The RPC view of a stored header and its certificate. */
function headerView(record: BlockRecord): HeaderView {
  const header = decodeHeader(record.header);
  return {
    height: record.height,
    hash: toHex(record.hash),
    header: {
      chainId: toHex(header.chainId),
      height: header.height,
      prevHash: toHex(header.prevHash),
      time: header.time,
      proposer: header.proposer,
      txRoot: toHex(header.txRoot),
      txCount: header.txCount,
      eventsRoot: toHex(header.eventsRoot),
      eventCount: header.eventCount,
      stateRoot: toHex(header.stateRoot),
      validatorSetHash: toHex(header.validatorSetHash),
      nextValidatorSetHash: toHex(header.nextValidatorSetHash),
    },
    headerBytes: toHex(record.header),
    certificate: {
      height: record.cert.height,
      view: record.cert.view,
      blockHash: toHex(record.cert.digest),
      signatures: record.cert.sigs.map((s) => ({ validator: s.from, signature: toHex(s.sig) })),
    },
  };
}

/** Receipt record in the store: height u64, index u32, status u8, code, sender, nonce u64, events u32. */
function encodeReceipt(height: bigint, r: Receipt): Uint8Array {
  return new Writer()
    .u64(height)
    .u32(r.index)
    .u8(r.status === 'ok' ? 1 : 0)
    .string(r.code ?? '', 64)
    .string(r.sender, 64)
    .u64(r.nonce)
    .u32(r.eventCount)
    .finish();
}

function decodeReceipt(bytes: Uint8Array): NonNullable<TxStatus['receipt']> {
  const r = new Reader(bytes);
  r.u64('height');
  r.u32('index');
  const ok = r.u8('status') === 1;
  const code = r.string(64, 'code');
  const sender = r.string(64, 'sender');
  const nonce = r.u64('nonce');
  const eventCount = r.u32('eventCount');
  r.finish();
  return { status: ok ? 'ok' : 'failed', code: code === '' ? null : code, sender, nonce, eventCount };
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** The header at the front of an encoded block (block.ts layout: u32 length ‖ header ‖ ...). */
function headerOfPayload(payload: Uint8Array): ReturnType<typeof decodeHeader> {
  if (payload.length < 4) throw new LoulanError('CODEC_TRUNCATED', 'block shorter than its header length', { details: { field: 'payload' } });
  const length = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (payload.length < 4 + length) throw new LoulanError('CODEC_TRUNCATED', 'block shorter than its header', { details: { field: 'payload' } });
  return decodeHeader(payload.subarray(4, 4 + length));
}

/** A validator set and the first height it certifies (snapshot sync across hand-overs). */
interface ValidatorEpoch {
  readonly from: bigint;
  readonly chain: ChainBinding;
  readonly publicKeys: readonly Uint8Array[];
}
