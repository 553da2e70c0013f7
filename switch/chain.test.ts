import { beforeEach, describe, expect, it } from 'vitest';
import {
  fromHex,
  generateKeyPair,
  LoulanError,
  registryParticipantKey,
  registrySchemaKey,
  routeEntryKey,
  senderAddress,
  sha256,
  toHex,
  Writer,
  type Alg,
  type CoreClient,
  type ListStateOptions,
  type NodeEvent,
  type Role,
  type StatePage,
  type SubscribeOptions,
} from '../core-chain/index.ts';
import { encodeParticipant, encodeSchemaRecord, type ParticipantKey } from '../core-chain/ledger/contracts/registry/records.ts';
import { encodeRouteEntry } from '../core-chain/ledger/contracts/routes.ts';
import { ChainView, keyIdOf, type RouteUpdate } from './chain.ts';

/**
 * The core chain as the view reads it: committed state under keys, walked in pages of `limit`, read
 * one key at a time, and a subscription the test drives by hand. `beforeWalk` runs when a walk
 * starts, after the walk has taken its snapshot: what it changes is news to the walk, as when a
 * block commits while a page is in flight.
 */
class FakeCore {
  readonly state = new Map<string, Uint8Array>();
  height = 7n;
  readonly reads: string[] = [];
  beforeWalk: ((prefix: string) => void) | undefined;
  failReads = 0;
  subscriber: { onEvent: (event: NodeEvent) => void; options: SubscribeOptions } | undefined;
  unsubscribed = false;
  #index = 0;

  readonly client: CoreClient;

  constructor() {
    const core = this;
    this.client = {
      subscribe(onEvent: (event: NodeEvent) => void, options: SubscribeOptions = {}) {
        core.subscriber = { onEvent, options };
        return () => {
          core.unsubscribed = true;
        };
      },
      async *walkState(prefix: string, options: ListStateOptions = {}): AsyncGenerator<StatePage> {
        const limit = options.limit ?? 100;
        const entries = [...core.state].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
        const height = core.height;
        core.beforeWalk?.(prefix);
        for (let at = 0; ; at += limit) {
          const page = entries.slice(at, at + limit).map(([key, value]) => ({ key, value }));
          const more = at + limit < entries.length;
          yield more ? { height, entries: page, next: page[page.length - 1]!.key } : { height, entries: page };
          if (!more) return;
        }
      },
      async getState(key: string) {
        core.reads.push(key);
        if (core.failReads > 0) {
          core.failReads--;
          throw new LoulanError('RPC_UNAVAILABLE', 'no endpoint answered');
        }
        return core.state.get(key);
      },
    } as unknown as CoreClient;
  }

  emit(contract: string, name: string, data: Uint8Array): void {
    this.subscriber!.onEvent({ type: 'event', height: this.height, tx: 0, index: this.#index++, contract, name, data: toHex(data) });
  }
}

interface Party {
  readonly id: string;
  readonly roles: Role[];
  readonly status: 'active' | 'suspended';
  keys: ParticipantKey[];
}

const LINK = new TextEncoder().encode('{"adapter":"loopback","target":"sink"}');

function putParticipant(core: FakeCore, p: Party): void {
  core.state.set(registryParticipantKey(p.id), encodeParticipant({ id: p.id, organisation: 'org', status: p.status, roles: p.roles, keys: p.keys }));
}

function putRoute(core: FakeCore, prefix: string, version: bigint): void {
  core.state.set(routeEntryKey(prefix), encodeRouteEntry({ version, changeId: version, height: 3n, time: 1_000n, link: LINK }));
}

function putSchema(core: FakeCore, id: string, hash: Uint8Array): void {
  core.state.set(registrySchemaKey(id), encodeSchemaRecord({ hash, height: 2n }));
}

function key(alg: Alg): ParticipantKey {
  return { alg, publicKey: generateKeyPair(alg).publicKey };
}

/** Event data as the contracts write it. */
const routeSetData = (prefix: string, version: bigint) => new Writer(128).string(prefix, 253).u64(version).u64(version).varBytes(LINK, 16 * 1024).finish();
const routeRemovedData = (prefix: string, version: bigint) => new Writer(128).string(prefix, 253).u64(version).u64(version).finish();
const keyRevokedData = (id: string, k: ParticipantKey) => new Writer(96).string(id, 64).bytes(fromHex(senderAddress(k.alg, k.publicKey)), 20).finish();
const idData = (id: string) => new Writer(96).string(id, 64).finish();
const schemaData = (id: string, hash: Uint8Array) => new Writer(180).string(id, 128).bytes(hash, 32).finish();

const HASH_V1 = sha256(new TextEncoder().encode('points.exchange.request v1'));
const HASH_V2 = sha256(new TextEncoder().encode('points.exchange.request v2'));

let core: FakeCore;
let acme: Party;
let routes: Array<{ updates: readonly RouteUpdate[]; reset: boolean }>;
let view: ChainView;
let logs: string[];

beforeEach(() => {
  core = new FakeCore();
  acme = { id: 'cn.loulan.shop.acme', roles: ['shop'], status: 'active', keys: [key('Ed25519'), key('ES256')] };
  putParticipant(core, acme);
  putParticipant(core, { id: 'cn.loulan.partner.skyair', roles: ['program', 'relayer'], status: 'suspended', keys: [key('ES256K')] });
  putSchema(core, 'points.exchange.request@1', HASH_V1);
  putRoute(core, 'cn.loulan.partner', 1n);
  putRoute(core, 'cn.loulan.partner.skyair', 2n);
  routes = [];
  logs = [];
  view = new ChainView({ client: core.client, onRoutes: (updates, reset) => routes.push({ updates, reset }), log: (level) => logs.push(level) });
});

function routeSummary(updates: readonly RouteUpdate[]): Array<[string, string | undefined]> {
  return updates.map((u) => [u.prefix, u.entry?.version.toString()]);
}

describe('initial load', () => {
  it('builds participants with key ids <id>#<address>, schemas and the route table', async () => {
    await view.start();
    const p = view.participant(acme.id)!;
    expect(p).toMatchObject({ id: acme.id, active: true, roles: ['shop'] });
    expect([...p.keys.keys()].sort()).toEqual(acme.keys.map((k) => `${acme.id}#${senderAddress(k.alg, k.publicKey)}`).sort());
    for (const k of acme.keys) expect(p.keys.get(keyIdOf(acme.id, k))).toEqual({ alg: k.alg, publicKey: k.publicKey });
    expect(view.participant('cn.loulan.partner.skyair')).toMatchObject({ active: false, roles: ['program', 'relayer'] });
    expect(view.participant('cn.loulan.nobody')).toBeUndefined();
    expect(view.participantCount).toBe(2);

    expect(view.schemaRegistered('points.exchange.request@1', toHex(HASH_V1))).toBe(true);
    expect(view.schemaRegistered('points.exchange.request@1', toHex(HASH_V2))).toBe(false);
    expect(view.schemaRegistered('points.exchange.request@2', toHex(HASH_V1))).toBe(false);

    expect(routes.length).toBe(1);
    expect(routes[0]!.reset).toBe(true);
    expect(routes[0]!.updates).toEqual([
      { prefix: 'cn.loulan.partner', entry: { prefix: 'cn.loulan.partner', version: 1n, changeId: 1n, height: 3n, time: 1_000n, link: LINK } },
      { prefix: 'cn.loulan.partner.skyair', entry: { prefix: 'cn.loulan.partner.skyair', version: 2n, changeId: 2n, height: 3n, time: 1_000n, link: LINK } },
    ]);
    expect(view.height).toBe(7n);
  });

  it('reads every page of a prefix', async () => {
    for (let i = 0; i < 2_345; i++) putParticipant(core, { id: `cn.loulan.shop.s${i}`, roles: ['shop'], status: 'active', keys: [] });
    await view.start();
    expect(view.participantCount).toBe(2_347);
    expect(view.participant('cn.loulan.shop.s2344')?.active).toBe(true);
  });
});

describe('following contract events', () => {
  beforeEach(async () => {
    await view.start();
    routes.length = 0;
  });

  it('route-set and route-removed re-read the entry and report it', async () => {
    putRoute(core, 'cn.loulan.shop', 3n);
    core.emit('routes', 'route-set', routeSetData('cn.loulan.shop', 3n));
    core.state.delete(routeEntryKey('cn.loulan.partner'));
    core.emit('routes', 'route-removed', routeRemovedData('cn.loulan.partner', 4n));
    await view.settled();
    expect(routes.map((r) => [r.reset, routeSummary(r.updates)])).toEqual([
      [false, [['cn.loulan.shop', '3']]],
      [false, [['cn.loulan.partner', undefined]]],
    ]);
    expect(routes[0]!.updates[0]!.entry?.link).toEqual(LINK);
  });

  it('an event names what changed; the committed value decides (a stale event converges)', async () => {
    // The route was set and removed again before the event is applied: the view reports it gone.
    core.emit('routes', 'route-set', routeSetData('cn.loulan.gone', 3n));
    await view.settled();
    expect(routes.map((r) => routeSummary(r.updates))).toEqual([[['cn.loulan.gone', undefined]]]);
  });

  it('key-revoked re-reads the participant: the key is gone', async () => {
    const [kept, revoked] = acme.keys as [ParticipantKey, ParticipantKey];
    acme.keys = [kept];
    putParticipant(core, acme);
    core.emit('registry', 'key-revoked', keyRevokedData(acme.id, revoked));
    await view.settled();
    const keys = view.participant(acme.id)!.keys;
    expect(keys.has(keyIdOf(acme.id, kept))).toBe(true);
    expect(keys.has(keyIdOf(acme.id, revoked))).toBe(false);
    expect(routes).toEqual([]);
  });

  it('participant-added, roles-set and participant-status re-read the participant', async () => {
    const bolt: Party = { id: 'cn.loulan.shop.bolt', roles: ['shop'], status: 'active', keys: [key('Ed25519')] };
    putParticipant(core, bolt);
    core.emit('registry', 'participant-added', idData(bolt.id));
    putParticipant(core, { ...acme, roles: ['shop', 'financier'], status: 'suspended' });
    core.emit('registry', 'roles-set', new Writer(80).string(acme.id, 64).u32(0).finish());
    await view.settled();
    expect(view.participant(bolt.id)?.keys.has(keyIdOf(bolt.id, bolt.keys[0]!))).toBe(true);
    expect(view.participant(acme.id)).toMatchObject({ active: false, roles: ['shop', 'financier'] });
  });

  it('schema-registered re-reads the schema', async () => {
    putSchema(core, 'points.exchange.request@2', HASH_V2);
    core.emit('registry', 'schema-registered', schemaData('points.exchange.request@2', HASH_V2));
    await view.settled();
    expect(view.schemaRegistered('points.exchange.request@2', toHex(HASH_V2))).toBe(true);
    expect(view.schemaRegistered('points.exchange.request@1', toHex(HASH_V1))).toBe(true);
  });

  it('ignores other contracts and events that change nothing it keeps; block events move the height', async () => {
    core.emit('xmsg', 'anchored', new Uint8Array([1, 2, 3]));
    core.emit('routes', 'route-change-proposed', new Uint8Array([1, 2, 3]));
    core.emit('registry', 'system-registered', new Uint8Array([1, 2, 3]));
    core.subscriber!.onEvent({ type: 'block', height: 42n, hash: '00'.repeat(32), txCount: 0, time: 1n });
    core.subscriber!.onEvent({ type: 'block', height: 41n, hash: '00'.repeat(32), txCount: 0, time: 1n });
    await view.settled();
    expect(core.reads).toEqual([]);
    expect(routes).toEqual([]);
    expect(view.height).toBe(42n);
  });

  it('a change that cannot be read is retried by reloading everything', async () => {
    putRoute(core, 'cn.loulan.shop', 3n);
    core.failReads = 1;
    core.emit('routes', 'route-set', routeSetData('cn.loulan.shop', 3n));
    await view.settled(); // the failed apply; it queues the reload
    await view.settled(); // the reload
    expect(logs).toContain('error');
    expect(routes.map((r) => [r.reset, routeSummary(r.updates)])).toEqual([
      [true, [['cn.loulan.partner', '1'], ['cn.loulan.partner.skyair', '2'], ['cn.loulan.shop', '3']]],
    ]);
  });

  it('tracks the connection and unsubscribes on stop', () => {
    const { options } = core.subscriber!;
    options.onOpen?.('http://127.0.0.1:8545');
    expect(view.connected).toBe(true);
    options.onError?.(new LoulanError('RPC_UNAVAILABLE', 'down'));
    expect(view.connected).toBe(false);
    view.stop();
    expect(core.unsubscribed).toBe(true);
  });
});

describe('events and loads together', () => {
  it('events arriving during the initial load are applied after it', async () => {
    const [kept, revoked] = acme.keys as [ParticipantKey, ParticipantKey];
    core.beforeWalk = (prefix) => {
      // Each walk has its snapshot; the change commits meanwhile and its event arrives mid-load.
      if (prefix === 'registry/participant/') {
        acme.keys = [kept];
        putParticipant(core, acme);
        core.emit('registry', 'key-revoked', keyRevokedData(acme.id, revoked));
      }
      if (prefix === 'routes/entry/') {
        putRoute(core, 'cn.loulan.shop', 3n);
        core.emit('routes', 'route-set', routeSetData('cn.loulan.shop', 3n));
      }
    };
    await view.start();
    expect(view.participant(acme.id)!.keys.has(keyIdOf(acme.id, revoked))).toBe(false);
    expect(view.participant(acme.id)!.keys.has(keyIdOf(acme.id, kept))).toBe(true);
    expect(routes.map((r) => [r.reset, routeSummary(r.updates)])).toEqual([
      [true, [['cn.loulan.partner', '1'], ['cn.loulan.partner.skyair', '2']]],
      [false, [['cn.loulan.shop', '3']]],
    ]);
  });

  it('a gap in the subscription reloads everything', async () => {
    await view.start();
    routes.length = 0;
    // Blocks committed while the subscription was down: their events are not replayed.
    putRoute(core, 'cn.loulan.shop', 3n);
    core.state.delete(routeEntryKey('cn.loulan.partner'));
    core.state.delete(registryParticipantKey('cn.loulan.partner.skyair'));
    putSchema(core, 'points.exchange.request@2', HASH_V2);
    core.height = 12n;
    core.subscriber!.options.onGap?.(8n, 11n);
    await view.settled();
    expect(routes.map((r) => [r.reset, routeSummary(r.updates)])).toEqual([
      [true, [['cn.loulan.partner.skyair', '2'], ['cn.loulan.shop', '3']]],
    ]);
    expect(view.participant('cn.loulan.partner.skyair')).toBeUndefined();
    expect(view.participantCount).toBe(1);
    expect(view.schemaRegistered('points.exchange.request@2', toHex(HASH_V2))).toBe(true);
    expect(view.height).toBe(12n);
  });
});
