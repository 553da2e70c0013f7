/**
 * The switch's view of the core chain: participants and their keys and roles, registered schema
 * versions, and the global routing table. Intake checks messages against it; routing reads the table
 * from it; nothing here is configured locally, so every switch decides the same way.
 *
 * Following: the view subscribes to the chain's contract events first, then loads the three state
 * prefixes page by page, then applies the events that arrived meanwhile. An event names what changed
 * (a participant id, a schema id, a route prefix) and the view re-reads that key's committed value,
 * so applying an event twice, or out of order with the load, converges on the chain's state. After a
 * gap (the subscription was down while blocks were committed) the view reloads everything. Changes
 * reach every switch within one block plus one round trip.
 */
import {
  decodeParticipant,
  decodeRouteEntry,
  decodeSchemaRecord,
  LoulanError,
  Reader,
  ROUTE_ENTRY_PREFIX,
  routePrefixOf,
  senderAddress,
  toHex,
  type CoreClient,
  type NodeEvent,
  type ResolvedKey,
  type RouteEntry,
} from '../core-chain/index.ts';
import type { Directory, ParticipantView } from './intake.ts';

const PARTICIPANT_PREFIX = 'registry/participant/';
const SCHEMA_PREFIX = 'registry/schema/';
const PAGE = 1000;

/** The key id intake resolves: `<participant>#<address hex>` (address from tx.ts `senderAddress`). */
export function keyIdOf(participant: string, key: { readonly alg: ResolvedKey['alg']; readonly publicKey: Uint8Array }): string {
  return `${participant}#${senderAddress(key.alg, key.publicKey)}`;
}

export interface RouteUpdate {
  readonly prefix: string;
  /** The entry now in force, or undefined when the prefix was removed. */
  readonly entry: RouteEntry | undefined;
}

export interface ChainViewOptions {
  readonly client: CoreClient;
  /** Called with route changes in the order they were read; `reset` when the whole table was reloaded. */
  readonly onRoutes: (updates: readonly RouteUpdate[], reset: boolean) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export class ChainView implements Directory {
  readonly #o: ChainViewOptions;
  #participants = new Map<string, ParticipantView>();
  #schemas = new Map<string, string>();
  #unsubscribe: (() => void) | undefined;
  /** Events that arrived while a full load was running. */
  #buffered: NodeEvent[] | undefined;
  #queue: Promise<void> = Promise.resolve();
  #height = 0n;
  #connected = false;
  #stopped = false;

  constructor(options: ChainViewOptions) {
    this.#o = options;
  }

  get height(): bigint {
    return this.#height;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Loads the view; resolves once participants, schemas and routes are in. */
  async start(): Promise<void> {
    this.#buffered = [];
    this.#unsubscribe = this.#o.client.subscribe((event) => this.#onEvent(event), {
      onOpen: () => {
        this.#connected = true;
      },
      onError: (error) => {
        this.#connected = false;
        this.#o.log?.('warn', 'core chain subscription', { code: error.code, error: error.message });
      },
      onGap: (from, to) => {
        this.#o.log?.('info', 'missed blocks while disconnected; reloading the chain view', { from: from.toString(), to: to.toString() });
        this.#enqueue(() => this.#loadAll());
      },
    });
    await this.#loadAll();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
  }

  /** Resolves when every event received so far has been applied. */
  settled(): Promise<void> {
    return this.#queue;
  }

  participant(id: string): ParticipantView | undefined {
    return this.#participants.get(id);
  }

  schemaRegistered(schemaId: string, sha256: string): boolean {
    return this.#schemas.get(schemaId) === sha256;
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => {
      this.#o.log?.('error', 'applying a chain change failed; reloading', { error: error instanceof Error ? error.message : String(error) });
      if (!this.#stopped) this.#enqueue(() => this.#loadAll());
    });
  }

  #onEvent(event: NodeEvent): void {
    if (event.type === 'block') {
      if (event.height > this.#height) this.#height = event.height;
      return;
    }
    if (event.contract !== 'registry' && event.contract !== 'routes') return;
    if (this.#buffered !== undefined) {
      this.#buffered.push(event);
      return;
    }
    this.#enqueue(() => this.#apply([event]));
  }

  async #loadAll(): Promise<void> {
    const participants = new Map<string, ParticipantView>();
    for await (const page of this.#o.client.walkState(PARTICIPANT_PREFIX, { limit: PAGE })) {
      if (page.height > this.#height) this.#height = page.height;
      for (const { key, value } of page.entries) {
        const view = participantView(key.slice(PARTICIPANT_PREFIX.length), value);
        participants.set(view.id, view);
      }
    }
    const schemas = new Map<string, string>();
    for await (const page of this.#o.client.walkState(SCHEMA_PREFIX, { limit: PAGE })) {
      for (const { key, value } of page.entries) schemas.set(key.slice(SCHEMA_PREFIX.length), toHex(decodeSchemaRecord(value).hash));
    }
    const routes: RouteUpdate[] = [];
    for await (const page of this.#o.client.walkState(ROUTE_ENTRY_PREFIX, { limit: PAGE })) {
      for (const { key, value } of page.entries) {
        const prefix = routePrefixOf(key);
        routes.push({ prefix, entry: decodeRouteEntry(prefix, value) });
      }
    }
    this.#participants = participants;
    this.#schemas = schemas;
    this.#o.onRoutes(routes, true);
    this.#o.log?.('info', 'chain view loaded', { participants: participants.size, schemas: schemas.size, routes: routes.length, height: this.#height.toString() });
    const buffered = this.#buffered ?? [];
    this.#buffered = undefined;
    if (buffered.length > 0) await this.#apply(buffered);
  }

  /** Re-reads what each event names. */
  async #apply(events: readonly NodeEvent[]): Promise<void> {
    const routeUpdates: RouteUpdate[] = [];
    for (const event of events) {
      if (event.type !== 'event') continue;
      const data = Uint8Array.from(Buffer.from(event.data, 'hex'));
      if (event.contract === 'routes' && (event.name === 'route-set' || event.name === 'route-removed')) {
        const prefix = new Reader(data).string(253, 'prefix');
        const value = await this.#o.client.getState(`${ROUTE_ENTRY_PREFIX}${prefix}`);
        routeUpdates.push({ prefix, entry: value === undefined ? undefined : decodeRouteEntry(prefix, value) });
      } else if (event.contract === 'registry' && event.name === 'schema-registered') {
        const id = new Reader(data).string(256, 'schemaId');
        const value = await this.#o.client.getState(`${SCHEMA_PREFIX}${id}`);
        if (value === undefined) this.#schemas.delete(id);
        else this.#schemas.set(id, toHex(decodeSchemaRecord(value).hash));
      } else if (event.contract === 'registry' && PARTICIPANT_EVENTS.has(event.name)) {
        const id = new Reader(data).string(64, 'id');
        const value = await this.#o.client.getState(`${PARTICIPANT_PREFIX}${id}`);
        if (value === undefined) this.#participants.delete(id);
        else this.#participants.set(id, participantView(id, value));
      }
    }
    if (routeUpdates.length > 0) this.#o.onRoutes(routeUpdates, false);
  }
}

const PARTICIPANT_EVENTS = new Set(['participant-added', 'roles-set', 'participant-status', 'key-added', 'key-revoked']);

function participantView(id: string, value: Uint8Array): ParticipantView {
  let p;
  try {
    p = decodeParticipant(id, value);
  } catch (cause) {
    throw new LoulanError('RPC_BAD_RESPONSE', `participant record ${id} does not decode`, { cause, details: { id } });
  }
  const keys = new Map<string, ResolvedKey>();
  for (const k of p.keys) keys.set(keyIdOf(id, k), { alg: k.alg, publicKey: k.publicKey });
  return { id, active: p.status === 'active', roles: p.roles, keys };
}
