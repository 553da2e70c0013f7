import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, test } from 'vitest';
import { CoreClient } from './client.ts';
import { sha256, toHex } from './crypto/hash.ts';
import { LoulanError } from './errors.ts';
import { encodeAssetArgs } from './ledger/contracts/asset.ts';
import { makeAccount, signedTx } from './ledger/testkit.ts';
import { decodeTx, txHash } from './ledger/tx.ts';
import type { BlockView, EventView, HeaderView, NodeApi, StateListView, StateProofView, NodeEvent, NodeStatus, SubmitResult, TxStatus } from './node/api.ts';
import { State } from './ledger/state.ts';
import { createNodeMetrics } from './node/metrics.ts';
import { createRpcServer } from './node/rpc.ts';

// -- a small in-memory node ------------------------------------------------------------------------

const CHAIN_ID = sha256(new TextEncoder().encode('loulan-client-test'));
const alice = makeAccount('ES256');
let nonce = 0n;
const tx = (): Uint8Array => signedTx(CHAIN_ID, alice, ++nonce, 'asset', 'transfer', encodeAssetArgs({ to: alice.address, amount: 1n }));
const hashOf = (bytes: Uint8Array): string => toHex(txHash(bytes));

class FakeNode implements NodeApi {
  readonly metrics = createNodeMetrics({ processMetrics: false }).registry;
  readonly txs = new Map<string, TxStatus>();
  readonly state = new Map<string, Uint8Array>();
  readonly blocks = new Map<bigint, BlockView>();
  readonly listeners = new Set<(event: NodeEvent) => void>();
  readonly #waiters = new Map<string, (status: TxStatus) => void>();
  height = 0n;
  fail: unknown = undefined;

  submitTx(bytes: Uint8Array): SubmitResult {
    if (this.fail !== undefined) throw this.fail;
    decodeTx(bytes);
    const hash = hashOf(bytes);
    const duplicate = this.txs.has(hash);
    if (!duplicate) this.txs.set(hash, { hash, status: 'pending' });
    return { hash, duplicate };
  }
  waitForCommit(hash: string, timeoutMs: number): Promise<TxStatus> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.txs.get(hash) ?? { hash, status: 'unknown' }), timeoutMs);
      this.#waiters.set(hash, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  }
  async getTx(hash: string): Promise<TxStatus> {
    return this.txs.get(hash) ?? { hash, status: 'unknown' };
  }
  async getBlock(height: bigint): Promise<BlockView | null> {
    return this.blocks.get(height) ?? null;
  }
  async getHeaders(): Promise<HeaderView[]> {
    return [];
  }
  readonly events = new Map<string, EventView>();
  async getEvent(height: bigint, index: number, proof: boolean): Promise<EventView | null> {
    const event = this.events.get(`${height}-${index}`);
    if (event === undefined) return null;
    if (proof) return event;
    const { proof: _, ...bare } = event;
    return bare;
  }
  listState(prefix: string, after: string, limit: number): StateListView {
    const { entries, more } = State.fromEntries(this.state).list(prefix, after, limit);
    return { height: this.height, entries: entries.map(([key, value]) => ({ key, value: toHex(value) })), ...(more ? { next: entries.at(-1)![0] } : {}) };
  }
  async proveState(): Promise<StateProofView> {
    throw new LoulanError('RPC_BLOCK_NOT_FOUND', 'no proofs in this fake');
  }
  getState(key: string): Uint8Array | undefined {
    return this.state.get(key);
  }
  status(): NodeStatus {
    if (this.fail !== undefined) throw this.fail;
    return {
      chainId: toHex(CHAIN_ID),
      self: 1,
      height: this.height,
      lastBlockHash: null,
      lastBlockTime: null,
      view: 12345678901234567890n,
      changingView: false,
      leader: 0,
      position: 1,
      validators: [{ index: 0, nodeId: 0, name: 'v0', address: '0x00', publicKey: '02' }],
      connectedPeers: [0],
      mempool: { size: this.txs.size, executable: 0 },
      syncing: false,
    };
  }
  subscribe(listener: (event: NodeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  block(height: bigint, hashes: readonly string[] = []): void {
    this.height = height;
    const hash = toHex(sha256(new TextEncoder().encode(`block ${height}`)));
    const zero = '00'.repeat(32);
    this.blocks.set(height, {
      height,
      hash,
      header: { chainId: toHex(CHAIN_ID), height, prevHash: zero, time: 1000n * height, proposer: 0, txRoot: zero, txCount: hashes.length, eventsRoot: zero, eventCount: 0, stateRoot: zero, validatorSetHash: zero, nextValidatorSetHash: zero },
      headerBytes: 'aa',
      txHashes: [...hashes],
      certificate: { height, view: 0n, blockHash: hash, signatures: [] },
    });
    hashes.forEach((txHash, index) => {
      const status: TxStatus = { hash: txHash, status: 'committed', height, index, receipt: { status: 'ok', code: null, sender: alice.address, nonce: 1n, eventCount: 0 } };
      this.txs.set(txHash, status);
      this.#waiters.get(txHash)?.(status);
    });
    for (const listener of this.listeners) listener({ type: 'block', height, hash, txCount: hashes.length, time: 1000n * height });
  }
  event(height: bigint, tx: number): void {
    for (const listener of this.listeners) listener({ type: 'event', height, tx, index: 0, contract: 'asset', name: 'transfer', data: '01' });
  }
}

// -- servers on real sockets -------------------------------------------------------------------------

const apps: FastifyInstance[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

interface Served {
  readonly node: FakeNode;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly requests: string[];
}

async function serve(node = new FakeNode()): Promise<Served> {
  const app = await createRpcServer(node, { maxWaitMs: 5_000 });
  const requests: string[] = [];
  app.addHook('onRequest', async (request) => void requests.push(`${request.method} ${request.url}`));
  await app.listen({ host: '127.0.0.1', port: 0 });
  apps.push(app);
  return { node, app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, requests };
}

/** An endpoint where nothing listens: a server that listened once and was closed. */
async function deadEndpoint(): Promise<string> {
  const { app, url } = await serve();
  await app.close();
  apps.splice(apps.indexOf(app), 1);
  return url;
}

async function rejection(promise: Promise<unknown>): Promise<LoulanError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// -- tests ---------------------------------------------------------------------------------------------

describe('CoreClient', () => {
  test('fails over from a dead endpoint, then sticks to the live one; replies come back typed', async () => {
    const dead = await deadEndpoint();
    const live = await serve();
    const fetched: string[] = [];
    const client = new CoreClient({
      endpoints: [dead, live.url],
      timeoutMs: 2_000,
      fetch: (input, init) => {
        fetched.push(String(input));
        return fetch(input, init);
      },
    });

    const status = await client.status();
    expect(status).toMatchObject({ height: 0n, view: 12345678901234567890n, self: 1, validators: [{ index: 0, name: 'v0' }] });
    expect(fetched).toEqual([`${dead}/v1/status`, `${live.url}/v1/status`]);

    const bytes = tx();
    expect(await client.submitTx(bytes)).toEqual({ hash: hashOf(bytes), duplicate: false });
    expect(await client.submitTx(bytes)).toEqual({ hash: hashOf(bytes), duplicate: true });
    expect(await client.getTx(hashOf(bytes))).toEqual({ hash: hashOf(bytes), status: 'pending' });
    live.node.block(1n, [hashOf(bytes)]);
    expect(await client.getTx(txHash(bytes))).toMatchObject({ status: 'committed', height: 1n, index: 0, receipt: { nonce: 1n } });

    const block = await client.getBlock(1n);
    expect(block).toMatchObject({ height: 1n, header: { height: 1n, time: 1000n }, certificate: { height: 1n, view: 0n }, txHashes: [hashOf(bytes)] });
    expect(await client.getBlock('latest')).toEqual(block);
    expect(await client.getBlock(99)).toBeNull();

    live.node.state.set('balance/x y', new Uint8Array([7, 8]));
    expect(await client.getState('balance/x y')).toEqual(new Uint8Array([7, 8]));
    expect(await client.getState('balance/none')).toBeUndefined();

    // Only the first call paid for the dead endpoint.
    expect(fetched.filter((url) => url.startsWith(dead))).toHaveLength(1);
  });

  test('a 4xx is the answer: thrown with the node’s code and details, not retried elsewhere', async () => {
    const first = await serve();
    const second = await serve();
    const client = new CoreClient({ endpoints: [first.url, second.url], timeoutMs: 2_000 });
    const truncated = await rejection(client.submitTx(tx().subarray(0, 20)));
    expect(truncated).toBeInstanceOf(LoulanError);
    expect(truncated.code).toBe('CODEC_TRUNCATED');
    const malformed = await rejection(client.getTx('abc'));
    expect(malformed.code).toBe('VALIDATE_FORMAT');
    expect(malformed.details).toMatchObject({ pointer: '/hash', in: 'path' });
    expect(first.requests).toHaveLength(2);
    expect(second.requests).toHaveLength(0);
  });

  test('a 5xx moves on to the next node; when every node fails, the last node’s answer is thrown', async () => {
    const full = await serve();
    const ok = await serve();
    full.node.fail = new LoulanError('MEMPOOL_FULL', 'mempool is full');
    const client = new CoreClient({ endpoints: [full.url, ok.url], timeoutMs: 2_000 });
    const bytes = tx();
    expect(await client.submitTx(bytes)).toEqual({ hash: hashOf(bytes), duplicate: false });
    expect(full.requests).toHaveLength(1);
    expect(ok.requests).toHaveLength(1);

    ok.node.fail = new Error('disk on fire');
    const error = await rejection(client.status());
    expect(['MEMPOOL_FULL', 'INTERNAL']).toContain(error.code);
    expect(JSON.stringify(error.details)).not.toContain('fire');
  });

  test('no endpoint reachable: RPC_UNAVAILABLE listing every endpoint tried', async () => {
    const a = await deadEndpoint();
    const b = await deadEndpoint();
    const client = new CoreClient({ endpoints: [a, b], timeoutMs: 1_000 });
    const error = await rejection(client.status());
    expect(error.code).toBe('RPC_UNAVAILABLE');
    expect(error.details['endpoints']).toEqual([a, b]);
    expect(error.details['attempts']).toEqual([
      { endpoint: a, reason: 'ECONNREFUSED' },
      { endpoint: b, reason: 'ECONNREFUSED' },
    ]);
  });

  test('submitTx with wait: commit resolves with the committed status', async () => {
    const { node, url } = await serve();
    const client = new CoreClient({ endpoints: [url], timeoutMs: 2_000 });
    const bytes = tx();
    const pending = client.submitTx(bytes, { wait: 'commit', timeoutMs: 3_000 });
    await until(() => node.txs.has(hashOf(bytes)), 'admission');
    node.block(1n, [hashOf(bytes)]);
    expect(await pending).toEqual({ hash: hashOf(bytes), status: 'committed', height: 1n, index: 0, receipt: { status: 'ok', code: null, sender: alice.address, nonce: 1n, eventCount: 0 } });
    const late = tx();
    expect(await client.submitTx(late, { wait: 'commit', timeoutMs: 10 })).toEqual({ hash: hashOf(late), status: 'pending' });
  });

  test('submitTxs splits the list into batches and keeps per-transaction errors in order', async () => {
    const { url, requests } = await serve();
    const client = new CoreClient({ endpoints: [url], timeoutMs: 2_000, batchSize: 2 });
    const a = tx();
    const b = tx();
    const results = await client.submitTxs([a, b.subarray(0, 5), b]);
    expect(requests).toEqual(['POST /v1/txs', 'POST /v1/txs']);
    expect(results[0]).toEqual({ hash: hashOf(a), duplicate: false });
    const bad = results[1] as { error: LoulanError };
    expect(bad.error).toBeInstanceOf(LoulanError);
    expect(bad.error.code).toBe('CODEC_TRUNCATED');
    expect(results[2]).toEqual({ hash: hashOf(b), duplicate: false });
  });

  test('subscribe reconnects to another node, skips what it already delivered and reports gaps', async () => {
    const a = await serve();
    const b = await serve(); // a node that is one block behind a
    const client = new CoreClient({ endpoints: [a.url, b.url], timeoutMs: 2_000 });
    const got: string[] = [];
    const opened: string[] = [];
    const gaps: [bigint, bigint][] = [];
    const close = client.subscribe((event) => got.push(`${event.type}@${event.height}${event.type === 'event' ? `/${event.tx}` : ''}`), {
      reconnectDelayMs: 10,
      onOpen: (endpoint) => opened.push(endpoint),
      onGap: (from, to) => gaps.push([from, to]),
    });
    closers.push(close);
    await until(() => opened.length === 1 && a.node.listeners.size === 1, 'the first subscription');
    a.node.block(1n);
    a.node.event(2n, 0);
    a.node.block(2n);
    await until(() => got.length === 3, 'events from a');

    await a.app.close();
    apps.splice(apps.indexOf(a.app), 1);
    await until(() => opened.length === 2 && b.node.listeners.size === 1, 'the reconnection');
    expect(opened).toEqual([a.url, b.url]);
    b.node.event(2n, 0); // already delivered by a
    b.node.block(2n); // likewise
    b.node.event(3n, 0);
    b.node.block(3n);
    b.node.block(5n);
    await until(() => got.length === 6, 'events from b');
    expect(got).toEqual(['block@1', 'event@2/0', 'block@2', 'event@3/0', 'block@3', 'block@5']);
    expect(gaps).toEqual([[4n, 4n]]);

    close();
    await until(() => b.node.listeners.size === 0, 'the subscription to end');
  });

  test('listState pages through a prefix; walkState yields every page once, across a failover', async () => {
    const first = await serve();
    const second = await serve();
    const keys = ['k/a b', 'k/a&b=c', 'k/z', 'k/zz', 'k/€']; // key order: UTF-16 code units
    for (const node of [first.node, second.node]) {
      keys.forEach((key, i) => node.state.set(key, Uint8Array.of(i)));
      node.state.set('other', Uint8Array.of(9));
      node.height = 4n;
    }
    const client = new CoreClient({ endpoints: [first.url, second.url], timeoutMs: 2_000 });
    const page = await client.listState('k/', { limit: 2 });
    expect(page).toEqual({ height: 4n, entries: [{ key: 'k/a b', value: Uint8Array.of(0) }, { key: 'k/a&b=c', value: Uint8Array.of(1) }], next: 'k/a&b=c' });
    expect(await client.listState('k/', { after: 'k/zz' })).toEqual({ height: 4n, entries: [{ key: 'k/€', value: Uint8Array.of(4) }] });
    expect(await client.listState('none/')).toEqual({ height: 4n, entries: [] });

    const pages: string[][] = [];
    for await (const p of client.walkState('k/', { limit: 2 })) {
      pages.push(p.entries.map((e) => e.key));
      // The first node goes away mid-walk: the next page comes from the other one.
      if (pages.length === 1) await first.app.close();
    }
    expect(pages).toEqual([keys.slice(0, 2), keys.slice(2, 4), keys.slice(4)]);
    expect(second.requests.some((r) => r.startsWith('GET /v1/state?'))).toBe(true);
    apps.splice(apps.indexOf(first.app), 1);

    expect((await rejection(client.listState('k/', { limit: 1001 }))).details).toMatchObject({ pointer: '/limit' });
    expect((await rejection(client.listState('k/', { limit: 0 }))).code).toBe('CONFIG_INVALID');
  });

  test('a node whose pages are out of order or repeat the cursor is a bad response', async () => {
    const reply = (body: unknown) => async () => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    const client = (body: unknown) => new CoreClient({ endpoints: ['http://127.0.0.1:1'], fetch: reply(body) });
    const entry = (key: string) => ({ key, value: '00' });
    expect((await rejection(client({ height: '1', entries: [entry('b'), entry('a')] }).listState(''))).details).toMatchObject({ field: '/entries/1/key' });
    expect((await rejection(client({ height: '1', entries: [entry('a')] }).listState('', { after: 'a' }))).details).toMatchObject({ field: '/entries/0/key' });
    expect((await rejection(client({ height: '1', entries: [entry('a')], next: '0' }).listState(''))).details).toMatchObject({ field: '/next' });
    expect((await rejection(client({ height: '1', entries: [], next: 'a' }).listState(''))).details).toMatchObject({ field: '/next' });
    expect((await rejection(client({ height: '1', entries: [{ key: 'a', value: 'XY' }] }).listState(''))).details).toMatchObject({ field: '/entries/0/value' });
    const walk = client({ height: '1', entries: [entry('a')], next: 'a' }).walkState('');
    expect((await walk.next()).value).toMatchObject({ next: 'a' });
    // The same page again would loop for ever: the second answer is refused, its entry not after the cursor.
    expect((await rejection(walk.next())).code).toBe('RPC_BAD_RESPONSE');
  });

  test('getEvent returns the event, with its proof when asked, or null', async () => {
    const live = await serve();
    live.node.block(3n);
    const { txHashes: _txHashes, ...header } = live.node.blocks.get(3n)!;
    const event: EventView = { id: '3-1', height: 3n, index: 1, tx: 0, contract: 'xmsg', name: 'anchored', data: 'ab', encoded: 'cd', proof: { path: ['ee'.repeat(32)], header } };
    live.node.events.set('3-1', event);
    const client = new CoreClient({ endpoints: [live.url] });
    expect(await client.getEvent(3n, 1, { proof: true })).toEqual(event);
    const { proof: _, ...bare } = event;
    expect(await client.getEvent(3, 1)).toEqual(bare);
    expect(await client.getEvent(3n, 2)).toBeNull();
  });

  test('options are checked once, at construction', () => {
    expect(() => new CoreClient({ endpoints: [] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => new CoreClient({ endpoints: ['ftp://x'] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => new CoreClient({ endpoints: ['http://x'], timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(new CoreClient({ endpoints: ['http://127.0.0.1:1/'] }).endpoints).toEqual(['http://127.0.0.1:1']);
  });
});
