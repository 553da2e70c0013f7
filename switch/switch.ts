/**
 * A running switch: the parts wired together behind `SwitchApi`.
 *
 *   HTTP/WS (http.ts) ─► Intake ─► SwitchStore (group commit) ─► DeliveryEngine ─► adapters
 *                          ▲                    │                     ▲   │
 *                      ChainView ◄── core chain ◄── AnchorService     │   └─► HealthBoard ─► Failover
 *                (participants, schemas, routes)                RouteTable (longest prefix)
 *
 * Everything the switch decides with is on the core chain (who may send, in which schema versions,
 * where messages go), so any number of switches decide alike; everything it must not lose is in its
 * own store before it is acknowledged or acted on. Start order matters: the store and the chain view
 * load first, then delivery resumes what the store holds, and only then does the server take new
 * messages. Stop order is the reverse, and nothing acknowledged depends on a clean stop.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreClient,
  encodeRouteProposeArgs,
  fromHex,
  isLoulanError,
  LoulanError,
  publicKeyFromPrivate,
  TxSubmitter,
  type RouteEntry,
} from '../core-chain/index.ts';
import { createCoreAdapter, createLoopbackAdapter, createRestAdapter, type Adapter, type AdapterTarget, type DeliveryOutcome } from '../adapters/index.ts';
import type { FabricIdentityConfig } from '../adapters/fabric/index.ts';
import { validatePayload, type Link } from '../schemas/index.ts';
import { AnchorService } from './anchor.ts';
import type { BatchItemResult, ChangeSubmitted, LinkHealthView, RouteExplanation, RouteView, SwitchApi, SwitchHealth } from './api.ts';
import { ChainView, type RouteUpdate } from './chain.ts';
import { loadSwitchKey, type SwitchConfig } from './config.ts';
import { createDeliveryEngine, resolvedRoute, type DeliveryEngine, type ResolvedRoute, type RouteTarget } from './delivery/index.ts';
import { buildSwitchServer } from './http.ts';
import { Custody, custodyPaths, readMasterKey } from './custody.ts';
import { createCustodyApi, type CustodyApi } from './custody-api.ts';
import { Intake } from './intake.ts';
import { createVerifyPool } from './verify-pool.ts';
import { ValueLimits } from './limits.ts';
import { SwitchMetrics } from './metrics.ts';
import type { IntakeResult, MessageRecord, StatusEvent } from './model.ts';
import { createFailover, createHealthBoard, createRouteTable, explainRoute, type Failover, type HealthBoard, type RouteTable } from './routing/index.ts';
import { SwitchStore } from './store.ts';
import type { FastifyInstance } from 'fastify';

export type SwitchLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface StartSwitchOptions {
  readonly log?: SwitchLog;
  readonly now?: () => number;
  /** Plain operator tokens, in addition to the hashed ones of the config (tests and `loulan up`). */
  readonly operatorTokens?: readonly string[];
  /** How long to wait for the core chain at start. Default 60 s. */
  readonly coreWaitMs?: number;
}

export interface RunningSwitch {
  readonly api: SwitchApi;
  readonly server: FastifyInstance;
  /** `http://host:port` once listening. */
  readonly url: string;
  readonly store: SwitchStore;
  readonly chain: ChainView;
  readonly engine: DeliveryEngine;
  readonly anchor: AnchorService;
  close(): Promise<void>;
}

const noLog: SwitchLog = () => undefined;

/** Starts a switch from its configuration and listens; resolves once it takes messages. */
export async function startSwitch(config: SwitchConfig, options: StartSwitchOptions = {}): Promise<RunningSwitch> {
  const log = options.log ?? noLog;
  const now = options.now ?? Date.now;
  const key = loadSwitchKey(config.keyFile);
  const { evmKeys, fabricIdentities } = loadAdapterSecrets(config);
  const client = new CoreClient({ endpoints: config.core.endpoints, timeoutMs: config.core.timeoutMs });
  const status = await waitForCore(client, options.coreWaitMs ?? 60_000, log);
  const submitter = new TxSubmitter({ client, chainId: fromHex(status.chainId), alg: key.alg, privateKey: key.privateKey, publicKey: publicKeyFromPrivate(key.alg, key.privateKey) });

  mkdirSync(config.dataDir, { recursive: true });
  const metrics = new SwitchMetrics();
  const store = await SwitchStore.open(join(config.dataDir, 'store'), { onBatch: (writes, ms) => metrics.storeBatch(writes, ms) });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  try {
    const routing = new Routing(now, log);
    const chain = new ChainView({ client, log, onRoutes: (updates, reset) => routing.apply(updates, reset) });
    await chain.start();
    closers.unshift(async () => chain.stop());

    const adapters = new Map<string, Adapter>();
    const adapterFor = (target: AdapterTarget): Adapter => {
      const id = JSON.stringify(target);
      let adapter = adapters.get(id);
      if (adapter === undefined) {
        adapter = makeAdapter(target, { submitter, client, config, evmKeys, fabricIdentities });
        adapters.set(id, adapter);
      }
      return adapter;
    };
    closers.unshift(async () => {
      await Promise.all([...adapters.values()].map((a) => a.close().catch(() => undefined)));
    });

    const engine = createDeliveryEngine({
      store,
      resolve: (to) => routing.table.lookup(to)?.value,
      adapterFor,
      chooseLink: (route) => routing.choose(route),
      onOutcome: (link, outcome, ms, context) => {
        routing.health.record(link, outcomeForHealth(outcome, ms));
        if (outcome.ok) metrics.delivered(context.prefix, link, ms);
        else metrics.failed(context.prefix, link, outcome.code);
      },
      onBreaker: (link, state) => routing.health.setBreaker(link, state !== 'closed'),
      onStuck: (record) => {
        metrics.stuck();
        log('warn', 'message stuck', { id: record.id, source: record.source, status: record.status, since: record.history[record.history.length - 1]?.at });
      },
      now,
      stuckAfterMs: config.delivery.stuckAfterMs,
      logger: { warn: (m, f) => log('warn', m, f as Record<string, unknown>), error: (m, f) => log('error', m, f as Record<string, unknown>) },
    });
    routing.onChange = () => engine.reroute();
    await engine.start();
    closers.unshift(() => engine.stop());

    // Links not seen up are probed, so a route that failed over learns when its primary is back.
    const probes = new AbortController();
    const probeTimer = setInterval(() => {
      for (const [id, target] of routing.targets) {
        if (routing.health.status(id).state === 'up') continue;
        const adapter = adapterFor(target);
        if (adapter.probe === undefined) continue;
        const started = performance.now();
        void adapter.probe(probes.signal).then((ok) => {
          const latencyMs = performance.now() - started;
          if (ok) engine.probeSucceeded(id);
          routing.health.record(id, ok ? { ok: true, latencyMs } : { ok: false, latencyMs, error: { code: 'DELIVER_FAILED', message: 'probe: no answer' } });
        });
      }
    }, config.delivery.probeIntervalMs);
    probeTimer.unref();
    closers.unshift(async () => {
      clearInterval(probeTimer);
      probes.abort();
    });

    const stored = new Map<string, { buckets: Array<[number, string]> }>();
    for await (const { name, value } of store.named<{ buckets: Array<[number, string]> }>(ValueLimits.PREFIX)) stored.set(name, value);
    const limits = new ValueLimits(config.limits, stored);
    const verifier = createVerifyPool(config.verifyWorkers);
    closers.unshift(() => verifier.close());
    const intake = new Intake({
      store,
      verifier,
      directory: chain,
      now,
      limiter: limits,
      maxClockSkewMs: config.maxClockSkewMs,
      onAccepted: (records) => {
        for (const r of records) metrics.accepted(r.envelope.type);
        engine.enqueue(records);
      },
      onRejected: (code) => metrics.rejected(code),
    });

    const anchor = new AnchorService({ store, client, submitter, switchId: config.switchId, intervalMs: config.anchor.intervalMs, maxLeaves: config.anchor.maxLeaves, log });
    await anchor.start();
    closers.unshift(() => anchor.stop());

    let custody: CustodyApi | undefined;
    if (config.custody !== undefined) {
      const fromEnv = process.env['LOULAN_CUSTODY_MASTER_KEY'];
      const masterKey = fromEnv !== undefined && /^[0-9a-f]{64}$/.test(fromEnv) ? fromHex(fromEnv, 32) : readMasterKey(config.custody.masterKeyFile);
      const keys = await Custody.open({ ...custodyPaths(config.dataDir), masterKey, isActive: (participant, kid) => chain.participant(participant)?.keys.has(kid) ?? false, now });
      closers.unshift(() => keys.close());
      custody = createCustodyApi({ custody: keys, chain, client, chainId: fromHex(status.chainId) });
    }

    const api = new Api({ config, store, chain, engine, intake, anchor, routing, submitter, client, metrics });
    const server = buildSwitchServer(api, {
      operatorTokens: options.operatorTokens ?? [],
      operatorTokenHashes: config.operatorTokenHashes,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
      ...(custody === undefined ? {} : { custody }),
    });
    await server.listen({ host: config.http.host, port: config.http.port });
    closers.unshift(() => server.close());
    const address = server.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
    const url = `http://${config.http.host}:${port}`;
    log('info', 'switch ready', { url, switchId: config.switchId, participants: chain.participantCount, routes: routing.table.size });
    let closed = false;
    return {
      api,
      server,
      url,
      store,
      chain,
      engine,
      anchor,
      async close() {
        if (closed) return;
        closed = true;
        for (const close of closers) await close().catch((error: unknown) => log('warn', 'error while stopping', { error: String(error) }));
      },
    };
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}

async function waitForCore(client: CoreClient, ms: number, log: SwitchLog) {
  const deadline = Date.now() + ms;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await client.status();
    } catch (error) {
      if (Date.now() + delay > deadline) throw error;
      log('info', 'waiting for the core chain', { error: isLoulanError(error) ? error.code : String(error) });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

interface AdapterContext {
  readonly submitter: TxSubmitter;
  readonly client: CoreClient;
  readonly config: SwitchConfig;
  /** EVM private keys (hex) by chain id, read at start. */
  readonly evmKeys: ReadonlyMap<string, string>;
  readonly fabricIdentities: ReadonlyMap<string, { readonly identity: FabricIdentityConfig; readonly tlsRootCertificatePem?: string }>;
}

function makeAdapter(target: AdapterTarget, context: AdapterContext): Adapter {
  switch (target.kind) {
    case 'loopback':
      return createLoopbackAdapter(target);
    case 'rest':
      // No secret for the endpoint: every attempt fails for good, nothing goes out unsigned (docs/webhooks.md).
      return createRestAdapter(target, { secrets: context.config.webhookSecrets.get(target.endpoint) ?? [] });
    case 'core':
      return createCoreAdapter(target, { submitter: context.submitter, client: context.client });
    case 'evm': {
      // No key for the chain: nothing can be signed, so every attempt fails for good (the DLQ keeps the messages).
      const key = context.evmKeys.get(String(target['chainId']));
      if (key === undefined) return unavailableAdapter(target, `this switch holds no key for EVM chain ${String(target['chainId'])}`);
      return lazyAdapter(target.kind, async () => {
        const evm = await import('../adapters/evm/index.ts');
        return evm.createEvmAdapter(target, { signer: evm.signerFromKey(key) });
      });
    }
    case 'fabric': {
      const entry = context.fabricIdentities.get(String(target['mspId']));
      if (entry === undefined) return unavailableAdapter(target, `this switch holds no Fabric identity of ${String(target['mspId'])}`);
      return lazyAdapter(target.kind, async () =>
        (await import('../adapters/fabric/index.ts')).createFabricAdapter(target, {
          identity: entry.identity,
          ...(entry.tlsRootCertificatePem === undefined ? {} : { tlsRootCertificatePem: entry.tlsRootCertificatePem }),
        }),
      );
    }
    default:
      return unavailableAdapter(target);
  }
}

/**
 * An adapter whose module loads on first use: ethers and the Fabric client cost a few hundred ms to
 * load, which a switch with no such route should not pay at every start. A target the adapter refuses
 * (ROUTE_INVALID, CONFIG_INVALID) fails every attempt for good, with that code.
 */
function lazyAdapter(kind: string, load: () => Promise<Adapter>): Adapter {
  let loading: Promise<Adapter> | undefined;
  let loaded: Adapter | undefined;
  const get = () =>
    (loading ??= load().then((adapter) => {
      loaded = adapter;
      return adapter;
    }));
  return {
    kind,
    async deliver(request) {
      let adapter: Adapter;
      try {
        adapter = await get();
      } catch (error) {
        return { ok: false, retryable: false, code: isLoulanError(error) ? error.code : 'ROUTE_ADAPTER_UNAVAILABLE', message: error instanceof Error ? error.message : String(error) };
      }
      return adapter.deliver(request);
    },
    async probe(signal) {
      const adapter = await get().catch(() => undefined);
      if (adapter === undefined) return false;
      return adapter.probe === undefined ? true : adapter.probe(signal);
    },
    health: () => loaded?.health() ?? { state: 'up' },
    async close() {
      const adapter = await loading?.catch(() => undefined);
      await adapter?.close();
    },
  };
}

/** Reads the EVM keys and Fabric identities the configuration names; a missing or malformed file stops the start. */
function loadAdapterSecrets(config: SwitchConfig): Pick<AdapterContext, 'evmKeys' | 'fabricIdentities'> {
  const read = (file: string, field: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (cause) {
      throw new LoulanError('CONFIG_INVALID', `cannot read ${file}`, { details: { field }, cause });
    }
  };
  const evmKeys = new Map<string, string>();
  for (const [chainId, file] of config.evmKeyFiles) {
    let key: unknown;
    try {
      key = (JSON.parse(read(file, `/evm/keys/${chainId}`)) as { privateKey?: unknown }).privateKey;
    } catch (cause) {
      if (cause instanceof LoulanError) throw cause;
      throw new LoulanError('CONFIG_INVALID', `${file} is not JSON`, { details: { field: `/evm/keys/${chainId}` }, cause });
    }
    if (typeof key !== 'string' || !/^(?:0x)?[0-9a-fA-F]{64}$/.test(key)) {
      throw new LoulanError('CONFIG_INVALID', `${file} must hold {"privateKey": "<64 hex>"}`, { details: { field: `/evm/keys/${chainId}` } });
    }
    evmKeys.set(chainId, key.startsWith('0x') ? key : `0x${key}`);
  }
  const fabricIdentities = new Map<string, { identity: FabricIdentityConfig; tlsRootCertificatePem?: string }>();
  for (const [mspId, files] of config.fabricIdentities) {
    const at = `/fabric/identities/${mspId}`;
    fabricIdentities.set(mspId, {
      identity: { mspId, certificatePem: read(files.certificateFile, `${at}/certificate`), privateKeyPem: read(files.privateKeyFile, `${at}/privateKey`) },
      ...(files.tlsRootCertificateFile === undefined ? {} : { tlsRootCertificatePem: read(files.tlsRootCertificateFile, `${at}/tlsRootCertificate`) }),
    });
  }
  return { evmKeys, fabricIdentities };
}

/** Kinds (or targets) this switch cannot serve: every attempt fails for good, so messages wait in the DLQ for a replay. */
function unavailableAdapter(target: AdapterTarget, why = `this switch runs no ${target.kind} adapter`): Adapter {
  return {
    kind: target.kind,
    deliver: async () => ({ ok: false, retryable: false, code: 'ROUTE_ADAPTER_UNAVAILABLE', message: why }),
    health: () => ({ state: 'down', detail: why }),
    close: async () => undefined,
  };
}

function outcomeForHealth(outcome: DeliveryOutcome, latencyMs: number) {
  return outcome.ok ? { ok: true, latencyMs } : { ok: false, latencyMs, error: { code: outcome.code, message: outcome.message } };
}

/** The routing table with the chain's entries, live health and one fail-over selector per route. */
class Routing {
  readonly table: RouteTable<ResolvedRoute> = createRouteTable<ResolvedRoute>();
  readonly health: HealthBoard;
  readonly entries = new Map<string, RouteEntry>();
  /** Every adapter target the table names, by link id. */
  readonly targets = new Map<string, AdapterTarget>();
  readonly #failovers = new Map<string, Failover>();
  readonly #now: () => number;
  readonly #log: SwitchLog;
  onChange: () => void = () => undefined;

  constructor(now: () => number, log: SwitchLog) {
    this.#now = now;
    this.#log = log;
    this.health = createHealthBoard({ now });
  }

  apply(updates: readonly RouteUpdate[], reset: boolean): void {
    const changes: Array<{ op: 'upsert'; prefix: string; value: ResolvedRoute } | { op: 'delete'; prefix: string }> = [];
    const present = new Set<string>();
    for (const { prefix, entry } of updates) {
      if (entry === undefined) {
        if (this.entries.delete(prefix)) changes.push({ op: 'delete', prefix });
        continue;
      }
      const link = parseLink(entry);
      if (link === undefined) {
        this.#log('error', 'route entry on chain does not match the link schema; ignored', { prefix, version: entry.version.toString() });
        continue;
      }
      present.add(prefix);
      this.entries.set(prefix, entry);
      changes.push({ op: 'upsert', prefix, value: resolvedRoute(prefix, link) });
    }
    if (reset) {
      for (const prefix of [...this.entries.keys()]) {
        if (!present.has(prefix)) {
          this.entries.delete(prefix);
          changes.push({ op: 'delete', prefix });
        }
      }
    }
    if (changes.length === 0) return;
    this.table.applyBatch(changes);
    for (const c of changes) this.#failovers.delete(c.prefix);
    this.targets.clear();
    for (const { value } of this.table.entries()) for (const t of [value.primary, ...value.alternates]) this.targets.set(t.id, t.target);
    this.onChange();
  }

  choose(route: ResolvedRoute): RouteTarget {
    if (route.alternates.length === 0) return route.primary;
    let failover = this.#failovers.get(route.prefix);
    if (failover === undefined) {
      const holdMs = route.link.failbackAfterMs;
      failover = createFailover({ primary: route.primary.id, alternates: route.alternates.map((a) => a.id), health: this.health, now: this.#now, ...(holdMs === undefined ? {} : { holdMs }) });
      this.#failovers.set(route.prefix, failover);
    }
    const active = failover.choose().active;
    return [route.primary, ...route.alternates].find((t) => t.id === active) ?? route.primary;
  }

  failover(prefix: string): Failover | undefined {
    return this.#failovers.get(prefix);
  }
}

function parseLink(entry: RouteEntry): Link | undefined {
  try {
    const link = JSON.parse(new TextDecoder().decode(entry.link)) as unknown;
    validatePayload('route.change', { op: 'upsert', prefix: entry.prefix === '' ? 'default' : entry.prefix, link });
    return link as Link;
  } catch {
    return undefined;
  }
}

interface ApiParts {
  readonly config: SwitchConfig;
  readonly store: SwitchStore;
  readonly chain: ChainView;
  readonly engine: DeliveryEngine;
  readonly intake: Intake;
  readonly anchor: AnchorService;
  readonly routing: Routing;
  readonly submitter: TxSubmitter;
  readonly client: CoreClient;
  readonly metrics: SwitchMetrics;
}

class Api implements SwitchApi {
  readonly #p: ApiParts;

  constructor(parts: ApiParts) {
    this.#p = parts;
  }

  submit(envelope: unknown): Promise<IntakeResult> {
    return this.#p.intake.submit(envelope);
  }

  submitBatch(batch: unknown): Promise<BatchItemResult[]> {
    return this.#p.intake.submitBatch(batch);
  }

  async message(id: string, source?: string): Promise<MessageRecord> {
    if (source !== undefined) {
      const record = await this.#p.store.getMessage(source, id);
      if (record === undefined) throw notFound(id, source);
      return record;
    }
    const found = await this.#p.store.messagesById(id, 2);
    if (found.length === 0) throw notFound(id);
    if (found.length > 1) throw new LoulanError('MESSAGE_NOT_FOUND', `more than one sender used id ${id}; name the source`, { details: { id, ambiguous: true } });
    return found[0]!;
  }

  async proof(id: string, source?: string): Promise<Readonly<Record<string, unknown>>> {
    const record = await this.message(id, source);
    return { id: record.id, source: record.source, ...(await this.#p.anchor.proof(record)) };
  }

  eventsAfter(after: number, limit: number): Promise<StatusEvent[]> {
    return this.#p.store.eventsAfter(after, limit);
  }

  onEvents(listener: (events: readonly StatusEvent[]) => void): () => void {
    return this.#p.store.onEvents(listener);
  }

  get lastCursor(): number {
    return this.#p.store.lastCursor;
  }

  routes(): RouteView[] {
    const { routing } = this.#p;
    return [...routing.entries.values()]
      .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
      .map((entry) => {
        const route = routing.table.get(entry.prefix)?.value;
        if (route === undefined) return routeView(entry);
        const links = [
          { link: route.primary.id, role: 'primary' as const, state: routing.health.status(route.primary.id).state },
          ...route.alternates.map((a) => ({ link: a.id, role: 'alternate' as const, state: routing.health.status(a.id).state })),
        ];
        return { ...routeView(entry), health: { active: routing.choose(route).id, links } };
      });
  }

  explain(address: string): RouteExplanation {
    const { routing } = this.#p;
    const e = explainRoute(routing.table, address, {
      linksOf: (route: ResolvedRoute) => ({ primary: route.primary.id, alternates: route.alternates.map((a) => a.id) }),
      health: routing.health,
      failoverOf: (prefix: string) => routing.failover(prefix),
    }) as unknown as {
      matched: { prefix: string; value: ResolvedRoute; rule: string } | null;
      candidates: Array<{ prefix: string; hasEntry?: boolean; exists?: boolean }>;
      why: string;
      active: { active: string; reason: string; since: number } | null;
    };
    const route = e.matched?.value;
    const entry = e.matched === null ? undefined : routing.entries.get(e.matched.prefix);
    return {
      address,
      matched: entry === undefined ? null : routeView(entry),
      candidates: e.candidates.map((c) => ({ prefix: c.prefix, hasEntry: c.hasEntry ?? c.exists ?? false })),
      why: e.why,
      active: e.active === null ? (route === undefined ? null : { link: route.primary.id, reason: 'primary', since: 0 }) : { link: e.active.active, reason: e.active.reason, since: e.active.since },
      primary: route === undefined ? null : this.#linkHealth(route.primary),
      alternates: route === undefined ? [] : route.alternates.map((t) => this.#linkHealth(t)),
    };
  }

  async setRoute(prefix: string, link: unknown, reason: string | undefined): Promise<ChangeSubmitted> {
    try {
      validatePayload('route.change', { op: 'upsert', prefix: prefix === '' ? 'default' : prefix, link, ...(reason === undefined ? {} : { reason }) });
    } catch (error) {
      if (!isLoulanError(error)) throw error;
      throw new LoulanError('ROUTE_INVALID', error.message, { details: { ...error.details, pointer: String(error.details['pointer'] ?? '').replace(/^\/link/, '/link') }, cause: error });
    }
    return this.#propose(encodeRouteProposeArgs({ op: 'upsert', prefix, link: link as Record<string, unknown>, ...(reason === undefined ? {} : { reason }) }));
  }

  async removeRoute(prefix: string, reason: string | undefined): Promise<ChangeSubmitted> {
    if (!this.#p.routing.entries.has(prefix)) throw new LoulanError('ROUTE_NOT_FOUND', `no route entry for prefix '${prefix}'`, { details: { address: prefix, pointer: '/prefix' } });
    return this.#propose(encodeRouteProposeArgs({ op: 'delete', prefix, ...(reason === undefined ? {} : { reason }) }));
  }

  async #propose(args: Uint8Array): Promise<ChangeSubmitted> {
    const result = await this.#p.submitter.call('routes', 'propose', args);
    const { status } = result;
    if (status.status !== 'committed' || status.height === undefined) {
      throw new LoulanError('RPC_UNAVAILABLE', `route change ${result.hash} not committed in time`, { details: { txHash: result.hash } });
    }
    if (status.receipt?.status !== 'ok') {
      const code = status.receipt?.code ?? 'INTERNAL';
      throw new LoulanError('ROUTE_INVALID', `the routes contract refused the change: ${code}`, { details: { contractCode: code, txHash: result.hash } });
    }
    // The change id and whether it applied are in the block's events for this transaction.
    const block = await this.#p.client.getBlock(status.height);
    let changeId = '';
    let applied = false;
    for (let i = 0; i < (block?.header.eventCount ?? 0); i++) {
      const event = await this.#p.client.getEvent(status.height, i);
      if (event === null || event.contract !== 'routes' || event.tx !== status.index) continue;
      if (event.name === 'route-change-proposed') changeId = BigInt(`0x${event.data.slice(0, 16)}`).toString();
      if (event.name === 'route-set' || event.name === 'route-removed') applied = true;
    }
    await this.#caughtUp(status.height);
    return { changeId, applied, txHash: result.hash, height: status.height.toString() };
  }

  /** Waits (briefly) until the chain view has seen `height`, so a read after a change sees it. */
  async #caughtUp(height: bigint): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (this.#p.chain.height < height && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.#p.chain.settled();
  }

  deadLetters(after: number, limit: number): Promise<MessageRecord[]> {
    return this.#p.store.deadLetters(after, limit);
  }

  async replay(id: string, source?: string): Promise<MessageRecord> {
    const record = await this.message(id, source).catch((error: unknown) => {
      throw isLoulanError(error) && error.code === 'MESSAGE_NOT_FOUND' ? new LoulanError('DLQ_NOT_FOUND', `no dead-lettered message ${id}`, { details: { id } }) : error;
    });
    return this.#p.engine.replay({ source: record.source, id: record.id });
  }

  skipGap(source: string, to: string): Promise<bigint[]> {
    return this.#p.engine.skipGap(source, to);
  }

  async approvals(): Promise<MessageRecord[]> {
    const held: MessageRecord[] = [];
    for await (const r of this.#p.store.pendingMessages()) if (r.status === 'held') held.push(r);
    return held;
  }

  async decide(id: string, source: string | undefined, approve: boolean, operator: string): Promise<MessageRecord> {
    const record = await this.message(id, source);
    const ref = { source: record.source, id: record.id };
    return approve ? this.#p.engine.release(ref, `approved by ${operator}`) : this.#p.engine.reject(ref, `rejected by ${operator}`);
  }

  health(): SwitchHealth {
    const { engine, chain, store, routing, config } = this.#p;
    const links = engine.links().map((s) => this.#linkHealth({ id: s.link, target: routing.targets.get(s.link) ?? { kind: 'unknown', endpoint: '' } }));
    const down = links.some((l) => l.state === 'down');
    return {
      // Down when it cannot take messages (its store failed); degraded when the chain or a link is.
      status: store.failed ? 'down' : !chain.connected || down ? 'degraded' : 'up',
      switchId: config.switchId,
      core: { connected: chain.connected, height: chain.height.toString(), endpoint: config.core.endpoints[0] ?? null },
      store: { lastCursor: store.lastCursor },
      routes: routing.table.size,
      links,
      gaps: engine.gaps().map((g) => ({ source: g.source, to: g.to, expectedSeq: g.expectedSeq.toString(), waiting: g.waiting, since: g.since })),
      stuck: engine.stuck(),
      dlq: store.deadCount,
    };
  }

  async metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    const { engine, metrics } = this.#p;
    for (const l of engine.links()) metrics.queue(l.link, l.queueDepth, l.oldestAgeMs);
    return metrics.metrics();
  }

  #linkHealth(t: RouteTarget): LinkHealthView {
    const { routing, engine } = this.#p;
    const h = routing.health.link(t.id);
    const stats = engine.linkStats(t.id);
    return {
      link: t.id,
      target: t.target,
      state: h.state,
      queueDepth: stats?.queueDepth ?? 0,
      oldestAgeMs: stats?.oldestAgeMs ?? 0,
      successRate: h.successRate,
      latencyP50Ms: h.latencyP50Ms,
      latencyP99Ms: h.latencyP99Ms,
      lastError: h.lastError,
      breaker: engine.breakerState(t.id),
    };
  }
}

function routeView(e: RouteEntry): RouteView {
  return {
    prefix: e.prefix,
    link: JSON.parse(new TextDecoder().decode(e.link)) as Record<string, unknown>,
    version: e.version.toString(),
    changeId: e.changeId.toString(),
    height: e.height.toString(),
    time: e.time.toString(),
  };
}

function notFound(id: string, source?: string): LoulanError {
  return new LoulanError('MESSAGE_NOT_FOUND', `no message ${id}${source === undefined ? '' : ` from ${source}`}`, { details: { id, ...(source === undefined ? {} : { source }) } });
}
