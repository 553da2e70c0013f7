import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { sha256, toHex } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import { encodeAssetArgs } from '../ledger/contracts/asset.ts';
import { makeAccount, signedTx } from '../ledger/testkit.ts';
import { decodeTx, senderAddress, txHash } from '../ledger/tx.ts';
import type { BlockView, EventView, HeaderView, NodeApi, StateListView, StateProofView, NodeEvent, NodeStatus, SubmitResult, TxStatus } from './api.ts';
import { MAX_KEY_LENGTH, State } from '../ledger/state.ts';
import { createNodeMetrics } from './metrics.ts';
import { CLOSE_TRY_AGAIN_LATER, createRpcServer, type RpcServerOptions } from './rpc.ts';

// -- a fake node: in-memory, committing only when the test says so ------------------------------------

const CHAIN_ID = sha256(new TextEncoder().encode('loulan-rpc-test'));
const alice = makeAccount('ES256');
const bob = makeAccount('ES256');
let nonce = 0n;
function tx(): Uint8Array {
  return signedTx(CHAIN_ID, alice, ++nonce, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 5n }));
}
const hashOf = (bytes: Uint8Array): string => toHex(txHash(bytes));

class FakeNode implements NodeApi {
  readonly handles = createNodeMetrics({ processMetrics: false });
  readonly metrics = this.handles.registry;
  readonly txs = new Map<string, TxStatus>();
  readonly blocks = new Map<bigint, BlockView>();
  readonly state = new Map<string, Uint8Array>();
  readonly listeners = new Set<(event: NodeEvent) => void>();
  readonly waits: number[] = [];
  height = 0n;
  fail: unknown = undefined;
  readonly #waiters = new Map<string, Set<(status: TxStatus) => void>>();

  submitTx(bytes: Uint8Array): SubmitResult {
    if (this.fail !== undefined) throw this.fail;
    decodeTx(bytes); // CODEC_* / LEDGER_TX_INVALID for bad bytes, as the real node
    const hash = hashOf(bytes);
    const duplicate = this.txs.has(hash);
    if (!duplicate) {
      this.txs.set(hash, { hash, status: 'pending' });
      this.handles.txsAdmitted.inc();
    }
    return { hash, duplicate };
  }

  waitForCommit(hash: string, timeoutMs: number): Promise<TxStatus> {
    this.waits.push(timeoutMs);
    const now = this.txs.get(hash);
    if (now?.status === 'committed') return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(hash) ?? new Set();
      this.#waiters.set(hash, waiters);
      const done = (status: TxStatus): void => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve(status);
      };
      const timer = setTimeout(() => done(this.txs.get(hash) ?? { hash, status: 'unknown' }), timeoutMs);
      waiters.add(done);
    });
  }

  async getTx(hash: string): Promise<TxStatus> {
    return this.txs.get(hash) ?? { hash, status: 'unknown' };
  }

  async getBlock(height: bigint): Promise<BlockView | null> {
    return this.blocks.get(height) ?? null;
  }

  readonly events = new Map<string, EventView>();

  async getHeaders(from: bigint, to: bigint): Promise<HeaderView[]> {
    const out: HeaderView[] = [];
    for (let height = from; height <= to; height++) {
      const block = this.blocks.get(height);
      if (block === undefined) break;
      const { txHashes: _, ...header } = block;
      out.push(header);
    }
    return out;
  }

  async getEvent(height: bigint, index: number, proof: boolean): Promise<EventView | null> {
    const event = this.events.get(`${height}-${index}`);
    if (event === undefined) return null;
    if (proof) return event;
    const { proof: _, ...bare } = event;
    return bare;
  }

  getState(key: string): Uint8Array | undefined {
    return this.state.get(key);
  }

  readonly listCalls: [string, string, number][] = [];

  /** The real paging (State.list) over this fake's map. */
  listState(prefix: string, after: string, limit: number): StateListView {
    this.listCalls.push([prefix, after, limit]);
    const { entries, more } = State.fromEntries(this.state).list(prefix, after, limit);
    return { height: this.height, entries: entries.map(([key, value]) => ({ key, value: toHex(value) })), ...(more ? { next: entries.at(-1)![0] } : {}) };
  }

  async proveState(key: string): Promise<StateProofView> {
    const value = this.state.get(key);
    const { txHashes: _, ...header } = this.blocks.get(this.height)!;
    return { key, value: value === undefined ? null : toHex(value), height: this.height, proof: { leaf: null, siblings: ['ee'.repeat(32)] }, header };
  }

  status(): NodeStatus {
    if (this.fail !== undefined) throw this.fail;
    return {
      chainId: toHex(CHAIN_ID),
      self: 0,
      position: 0,
      height: this.height,
      lastBlockHash: this.blocks.get(this.height)?.hash ?? null,
      lastBlockTime: null,
      view: 7n,
      changingView: false,
      leader: 3,
      validators: [],
      connectedPeers: [1, 2],
      mempool: { size: this.txs.size, executable: 0 },
      syncing: false,
    };
  }

  subscribe(listener: (event: NodeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: NodeEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Commits the given pending transactions as the next block and tells subscribers. */
  commit(hashes: readonly string[]): BlockView {
    const height = ++this.height;
    const hash = toHex(sha256(new TextEncoder().encode(`block ${height}`)));
    const block = fakeBlock(height, hash, hashes);
    this.blocks.set(height, block);
    hashes.forEach((txHash, index) => {
      const status: TxStatus = {
        hash: txHash,
        status: 'committed',
        height,
        index,
        receipt: { status: 'ok', code: null, sender: senderAddress(alice.alg, alice.publicKey), nonce: BigInt(index + 1), eventCount: 1 },
      };
      this.txs.set(txHash, status);
      for (const waiter of this.#waiters.get(txHash) ?? []) waiter(status);
    });
    this.emit({ type: 'block', height, hash, txCount: hashes.length, time: 1_700_000_000_000n + height });
    hashes.forEach((_, index) => this.emit({ type: 'event', height, tx: index, index: 0, contract: 'asset', name: 'transfer', data: 'ab' }));
    return block;
  }
}

function fakeBlock(height: bigint, hash: string, txHashes: readonly string[]): BlockView {
  const zero = '00'.repeat(32);
  return {
    height,
    hash,
    header: {
      chainId: toHex(CHAIN_ID),
      height,
      prevHash: zero,
      time: 1_700_000_000_000n + height,
      proposer: 1,
      txRoot: zero,
      txCount: txHashes.length,
      eventsRoot: zero,
      eventCount: txHashes.length,
      stateRoot: zero,
      validatorSetHash: zero,
      nextValidatorSetHash: zero,
    },
    headerBytes: 'aa',
    txHashes: [...txHashes],
    certificate: { height, view: 0n, blockHash: hash, signatures: [{ validator: 0, signature: 'bb'.repeat(65) }] },
  };
}

// -- harness ---------------------------------------------------------------------------------------

const apps: FastifyInstance[] = [];
const sockets: WebSocket[] = [];
const problemBodies: string[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) if (socket.readyState !== socket.CONNECTING) socket.terminate();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function server(options: RpcServerOptions = {}): Promise<{ node: FakeNode; app: FastifyInstance }> {
  const node = new FakeNode();
  const app = await createRpcServer(node, options);
  apps.push(app);
  return { node, app };
}

interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: Record<string, unknown>;
}

async function call(app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown, contentType?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['content-type'] = contentType;
  const response = await app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload instanceof Uint8Array ? Buffer.from(payload) : (payload as string | object) }),
  });
  const type = String(response.headers['content-type'] ?? '');
  if (type.startsWith('application/problem+json')) problemBodies.push(response.body);
  return { status: response.statusCode, type, body: type.includes('json') ? (JSON.parse(response.body) as Record<string, unknown>) : { text: response.body } };
}

function expectProblem(reply: Reply, status: number, code: string, fields: Record<string, unknown> = {}): void {
  expect(reply.type).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({ status, code, type: `urn:loulan:error:${code}`, ...fields });
  expect(reply.status).toBe(status);
}

// -- routes ------------------------------------------------------------------------------------------

describe('POST /v1/tx', () => {
  test('accepts raw bytes and hex JSON, and says when a transaction is a duplicate', async () => {
    const { app, node } = await server();
    const bytes = tx();
    const raw = await call(app, 'POST', '/v1/tx', bytes, 'application/octet-stream');
    expect(raw).toMatchObject({ status: 202, body: { hash: hashOf(bytes), duplicate: false } });
    const json = await call(app, 'POST', '/v1/tx', JSON.stringify({ tx: toHex(bytes) }), 'application/json; charset=utf-8');
    expect(json).toMatchObject({ status: 202, body: { hash: hashOf(bytes), duplicate: true } });
    expect(node.txs.get(hashOf(bytes))?.status).toBe('pending');
  });

  test('refuses bad input with a VALIDATE_* problem naming the field', async () => {
    const { app } = await server();
    expectProblem(await call(app, 'POST', '/v1/tx', { tx: 'zz11' }), 400, 'VALIDATE_FORMAT', { pointer: '/tx', in: 'body' });
    expectProblem(await call(app, 'POST', '/v1/tx', { tx: 'abc' }), 400, 'VALIDATE_FORMAT', { pointer: '/tx' });
    expectProblem(await call(app, 'POST', '/v1/tx', {}), 400, 'VALIDATE_REQUIRED', { pointer: '/tx' });
    expectProblem(await call(app, 'POST', '/v1/tx', { tx: 5 }), 400, 'VALIDATE_TYPE', { pointer: '/tx' });
    expectProblem(await call(app, 'POST', '/v1/tx', { tx: 'ab', fee: 1 }), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/fee' });
    expectProblem(await call(app, 'POST', '/v1/tx', [1]), 400, 'VALIDATE_TYPE', { pointer: '' });
    expectProblem(await call(app, 'POST', '/v1/tx?wait=later', { tx: 'ab' }), 400, 'VALIDATE_ENUM', { pointer: '/wait', in: 'query' });
    expectProblem(await call(app, 'POST', '/v1/tx?wait=commit&timeoutMs=-1', { tx: 'ab' }), 400, 'VALIDATE_FORMAT', { pointer: '/timeoutMs' });
  });

  test('the node’s own LoulanError reaches the caller with its code and details', async () => {
    const { app } = await server();
    const bytes = tx();
    const reply = await call(app, 'POST', '/v1/tx', bytes.subarray(0, 40), 'application/octet-stream');
    expectProblem(reply, 400, 'CODEC_TRUNCATED', { instance: '/v1/tx' });
    expectProblem(await call(app, 'POST', '/v1/tx', undefined, 'application/octet-stream'), 400, 'CODEC_TRUNCATED');
  });

  test('resending a committed transaction the node no longer remembers is a duplicate, not a stale nonce', async () => {
    const { app, node } = await server();
    const committed = tx();
    const pending = tx();
    node.txs.set(hashOf(committed), { hash: hashOf(committed), status: 'committed', height: 1n, index: 0 });
    node.fail = new LoulanError('LEDGER_NONCE_STALE', 'nonce already used', { details: { nonce: 1n, committed: 2n } });
    expect(await call(app, 'POST', '/v1/tx', committed, 'application/octet-stream')).toMatchObject({ status: 202, body: { hash: hashOf(committed), duplicate: true } });
    expect(await call(app, 'POST', '/v1/tx?wait=commit', committed, 'application/octet-stream')).toMatchObject({ status: 200, body: { status: 'committed', height: '1' } });
    expectProblem(await call(app, 'POST', '/v1/tx', pending, 'application/octet-stream'), 409, 'LEDGER_NONCE_STALE');
    const batch = await call(app, 'POST', '/v1/txs', { txs: [toHex(committed), toHex(pending)] });
    expect(batch.body['results']).toMatchObject([{ hash: hashOf(committed), duplicate: true }, { error: { code: 'LEDGER_NONCE_STALE', status: 409 } }]);
  });

  test('a body over the limit is refused with 413 VALIDATE_TOO_LARGE', async () => {
    const { app } = await server({ bodyLimit: 1024 });
    expectProblem(await call(app, 'POST', '/v1/tx', new Uint8Array(2048), 'application/octet-stream'), 413, 'VALIDATE_TOO_LARGE', { pointer: '', in: 'body' });
    expectProblem(await call(app, 'POST', '/v1/tx', { tx: 'ab'.repeat(1024) }), 413, 'VALIDATE_TOO_LARGE');
    expectProblem(await call(app, 'POST', '/v1/txs', { txs: ['ab'.repeat(1024)] }), 413, 'VALIDATE_TOO_LARGE');
    // Without a configured limit, one transaction's route is still capped at what the largest transaction needs.
    const { app: defaults } = await server();
    expectProblem(await call(defaults, 'POST', '/v1/tx', new Uint8Array(200 * 1024), 'application/octet-stream'), 413, 'VALIDATE_TOO_LARGE');
  });

  test('unparseable, empty or foreign bodies are refused with a code', async () => {
    const { app } = await server();
    expectProblem(await call(app, 'POST', '/v1/tx', '{"tx":', 'application/json'), 400, 'RPC_MALFORMED_REQUEST');
    expectProblem(await call(app, 'POST', '/v1/tx', '', 'application/json'), 400, 'RPC_MALFORMED_REQUEST');
    expectProblem(await call(app, 'POST', '/v1/tx', 'hello', 'text/plain'), 415, 'RPC_UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await call(app, 'POST', '/v1/txs', new Uint8Array(4), 'application/octet-stream'), 415, 'RPC_UNSUPPORTED_MEDIA_TYPE');
  });

  test('?wait=commit answers 200 with the receipt once the node commits', async () => {
    const { app, node } = await server();
    const bytes = tx();
    const pending = call(app, 'POST', '/v1/tx?wait=commit&timeoutMs=5000', { tx: toHex(bytes) });
    while (!node.txs.has(hashOf(bytes))) await tick();
    node.commit([hashOf(bytes)]);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      hash: hashOf(bytes),
      status: 'committed',
      height: '1',
      index: 0,
      receipt: { status: 'ok', code: null, sender: senderAddress(alice.alg, alice.publicKey), nonce: '1', eventCount: 1 },
    });
    expect(node.waits).toEqual([5000]);
  });

  test('?wait=commit is capped by maxWaitMs and answers 202 pending when time runs out', async () => {
    const { app, node } = await server({ maxWaitMs: 20 });
    const bytes = tx();
    const reply = await call(app, 'POST', '/v1/tx?wait=commit&timeoutMs=600000', bytes, 'application/octet-stream');
    expect(reply).toMatchObject({ status: 202, body: { hash: hashOf(bytes), status: 'pending' } });
    expect(node.waits).toEqual([20]);
    await call(app, 'POST', '/v1/tx?wait=commit', tx(), 'application/octet-stream');
    expect(node.waits).toEqual([20, 20]);
  });
});

describe('POST /v1/txs', () => {
  test('answers one result per transaction, in order; a bad one fails alone', async () => {
    const { app } = await server();
    const a = tx();
    const b = tx();
    const reply = await call(app, 'POST', '/v1/txs', { txs: [toHex(a), 'not hex', toHex(b), toHex(a), toHex(b.subarray(0, 10))] });
    expect(reply.status).toBe(200);
    const results = reply.body['results'] as Record<string, unknown>[];
    expect(results).toHaveLength(5);
    expect(results[0]).toEqual({ hash: hashOf(a), duplicate: false });
    expect(results[1]).toMatchObject({ error: { code: 'VALIDATE_FORMAT', pointer: '/txs/1', status: 400 } });
    expect(results[2]).toEqual({ hash: hashOf(b), duplicate: false });
    expect(results[3]).toEqual({ hash: hashOf(a), duplicate: true });
    expect(results[4]).toMatchObject({ error: { code: 'CODEC_TRUNCATED' } });
    for (const result of results) if ('error' in result) problemBodies.push(JSON.stringify(result['error']));
  });

  test('the batch size is bounded', async () => {
    const { app } = await server({ maxBatch: 3 });
    expectProblem(await call(app, 'POST', '/v1/txs', { txs: ['ab', 'ab', 'ab', 'ab'] }), 400, 'VALIDATE_RANGE', { pointer: '/txs' });
    expectProblem(await call(app, 'POST', '/v1/txs', { txs: 'ab' }), 400, 'VALIDATE_TYPE', { pointer: '/txs' });
    expect(await call(app, 'POST', '/v1/txs', { txs: [] })).toMatchObject({ status: 200, body: { results: [] } });
  });
});

describe('queries', () => {
  test('GET /v1/tx/:hash: pending, committed, unknown, and a malformed hash', async () => {
    const { app, node } = await server();
    const bytes = tx();
    node.submitTx(bytes);
    const hash = hashOf(bytes);
    expect(await call(app, 'GET', `/v1/tx/${hash}`)).toMatchObject({ status: 200, body: { hash, status: 'pending' } });
    node.commit([hash]);
    expect(await call(app, 'GET', `/v1/tx/${hash.toUpperCase()}`)).toMatchObject({ status: 200, body: { hash, status: 'committed', height: '1' } });
    const unknown = 'ee'.repeat(32);
    expect(await call(app, 'GET', `/v1/tx/${unknown}`)).toEqual({ status: 200, type: expect.stringMatching(/^application\/json/), body: { hash: unknown, status: 'unknown' } });
    expectProblem(await call(app, 'GET', '/v1/tx/abc'), 400, 'VALIDATE_FORMAT', { pointer: '/hash', in: 'path' });
  });

  test('GET /v1/blocks/:height and /latest, with bigints as decimal strings; 404 when absent', async () => {
    const { app, node } = await server();
    node.commit([]);
    const block = node.commit(['cc'.repeat(32)]);
    const reply = await call(app, 'GET', '/v1/blocks/2');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ height: '2', hash: block.hash, header: { height: '2', time: String(1_700_000_000_002n), txCount: 1 }, txHashes: ['cc'.repeat(32)] });
    expect(reply.body['certificate']).toMatchObject({ height: '2', view: '0', blockHash: block.hash });
    expect((await call(app, 'GET', '/v1/blocks/latest')).body).toEqual(reply.body);
    expectProblem(await call(app, 'GET', '/v1/blocks/99'), 404, 'RPC_BLOCK_NOT_FOUND', { height: '99', instance: '/v1/blocks/99' });
    expectProblem(await call(app, 'GET', '/v1/blocks/abc'), 400, 'VALIDATE_FORMAT', { pointer: '/height' });
    expectProblem(await call(app, 'GET', '/v1/blocks/01'), 400, 'VALIDATE_FORMAT', { pointer: '/height' });
    expectProblem(await call(app, 'GET', '/v1/blocks/18446744073709551616'), 400, 'VALIDATE_RANGE', { pointer: '/height' });
    expect((await call(app, 'GET', '/v1/blocks/18446744073709551615')).status).toBe(404);
  });

  test('GET /v1/headers: a bounded range with certificates, cut at the tip; bad ranges name the field', async () => {
    const { app, node } = await server();
    const blocks = [node.commit([]), node.commit(['cc'.repeat(32)]), node.commit([])];
    const heights = (reply: Reply): unknown[] => (reply.body['headers'] as Array<Record<string, unknown>>).map((h) => h['height']);
    const two = await call(app, 'GET', '/v1/headers?from=2');
    expect(two.status).toBe(200);
    expect(heights(two)).toEqual(['2', '3']);
    const first = (two.body['headers'] as Array<Record<string, unknown>>)[0]!;
    expect(first).toMatchObject({ hash: blocks[1]!.hash, headerBytes: 'aa', certificate: { height: '2', blockHash: blocks[1]!.hash } });
    expect(first).not.toHaveProperty('txHashes');
    expect(heights(await call(app, 'GET', '/v1/headers?from=1&to=2'))).toEqual(['1', '2']);
    expect(heights(await call(app, 'GET', '/v1/headers?from=2&to=50'))).toEqual(['2', '3']);
    expect(heights(await call(app, 'GET', '/v1/headers?from=9'))).toEqual([]);
    expectProblem(await call(app, 'GET', '/v1/headers'), 400, 'VALIDATE_REQUIRED', { pointer: '/from' });
    expectProblem(await call(app, 'GET', '/v1/headers?from=0'), 400, 'VALIDATE_RANGE', { pointer: '/from' });
    expectProblem(await call(app, 'GET', '/v1/headers?from=3&to=2'), 400, 'VALIDATE_RANGE', { pointer: '/to' });
    expectProblem(await call(app, 'GET', '/v1/headers?from=1&to=1001'), 400, 'VALIDATE_RANGE', { pointer: '/to', limit: 1000 });
    expect(heights(await call(app, 'GET', '/v1/headers?from=1&to=1000'))).toEqual(['1', '2', '3']);
    expectProblem(await call(app, 'GET', '/v1/headers?from=x1'), 400, 'VALIDATE_FORMAT', { pointer: '/from' });
    expectProblem(await call(app, 'GET', '/v1/headers?from=1&limit=3'), 400, 'VALIDATE_UNKNOWN_FIELD');
  });

  test('GET /v1/events/:id: the event, its proof only when asked, 404 when absent', async () => {
    const { app, node } = await server();
    const block = node.commit(['cc'.repeat(32)]);
    const { txHashes: _, ...header } = block;
    node.events.set('1-0', { id: '1-0', height: 1n, index: 0, tx: 0, contract: 'asset', name: 'transfer', data: 'ab', encoded: '01ab', proof: { path: ['dd'.repeat(32)], header } });
    const bare = await call(app, 'GET', '/v1/events/1-0');
    expect(bare).toMatchObject({ status: 200, body: { id: '1-0', height: '1', index: 0, contract: 'asset', name: 'transfer', data: 'ab', encoded: '01ab' } });
    expect(bare.body).not.toHaveProperty('proof');
    const proven = await call(app, 'GET', '/v1/events/1-0?proof=1');
    expect(proven.body['proof']).toMatchObject({ path: ['dd'.repeat(32)], header: { height: '1', hash: block.hash, certificate: { blockHash: block.hash } } });
    expect((await call(app, 'GET', '/v1/events/1-0?proof=0')).body).not.toHaveProperty('proof');
    expectProblem(await call(app, 'GET', '/v1/events/1-1'), 404, 'RPC_EVENT_NOT_FOUND', { id: '1-1' });
    expectProblem(await call(app, 'GET', '/v1/events/1_0'), 400, 'VALIDATE_FORMAT', { pointer: '/id' });
    expectProblem(await call(app, 'GET', '/v1/events/01-0'), 400, 'VALIDATE_FORMAT', { pointer: '/id' });
    expectProblem(await call(app, 'GET', '/v1/events/1-0?proof=yes'), 400, 'VALIDATE_ENUM', { pointer: '/proof' });
    expectProblem(await call(app, 'GET', '/v1/events/18446744073709551616-0'), 400, 'VALIDATE_RANGE', { pointer: '/id' });
    expectProblem(await call(app, 'GET', '/v1/events/1-4294967296'), 400, 'VALIDATE_RANGE', { pointer: '/id' });
  });

  test('GET /v1/state/:key: URL-encoded keys, hex values, 404 when absent', async () => {
    const { app, node } = await server();
    const key = `balance/${bob.address}`;
    node.state.set(key, new Uint8Array([1, 2, 255]));
    expect(await call(app, 'GET', `/v1/state/${encodeURIComponent(key)}`)).toMatchObject({ status: 200, body: { key, value: '0102ff' } });
    expectProblem(await call(app, 'GET', '/v1/state/balance%2Fnobody'), 404, 'RPC_STATE_NOT_FOUND', { key: 'balance/nobody' });
    expectProblem(await call(app, 'GET', `/v1/state/${'k'.repeat(MAX_KEY_LENGTH + 1)}`), 400, 'VALIDATE_RANGE', { pointer: '/key' });
    // ?proof=1: the value (or null for an absent key: a non-inclusion proof) with its proof and header.
    node.commit([]);
    const proven = await call(app, 'GET', `/v1/state/${encodeURIComponent(key)}?proof=1`);
    expect(proven).toMatchObject({ status: 200, body: { key, value: '0102ff', height: '1', proof: { leaf: null, siblings: ['ee'.repeat(32)] }, header: { height: '1' } } });
    expect(await call(app, 'GET', '/v1/state/balance%2Fnobody?proof=1')).toMatchObject({ status: 200, body: { key: 'balance/nobody', value: null } });
    expectProblem(await call(app, 'GET', '/v1/state/balance%2Fnobody?proof=2'), 400, 'VALIDATE_ENUM', { pointer: '/proof' });
    const longest = '€'.repeat(MAX_KEY_LENGTH); // 4,608 characters once percent-encoded: still routed
    node.state.set(longest, new Uint8Array([9]));
    expect(await call(app, 'GET', `/v1/state/${encodeURIComponent(longest)}`)).toMatchObject({ status: 200, body: { key: longest, value: '09' } });
  });

  test('GET /v1/state?prefix=: pages of entries under a prefix, in key order, with the height and a cursor', async () => {
    const { app, node } = await server();
    node.commit([]);
    for (let i = 0; i < 5; i++) node.state.set(`routes/entry/cn.p${i}`, Uint8Array.of(i));
    node.state.set('routes/params', Uint8Array.of(9));
    node.state.set('routes/entry/', Uint8Array.of(0xdd));
    node.state.set('xmsg/batch/a', Uint8Array.of(8));
    const first = await call(app, 'GET', '/v1/state?prefix=routes%2Fentry%2F&limit=4');
    expect(first).toMatchObject({
      status: 200,
      body: {
        height: '1',
        entries: [
          { key: 'routes/entry/', value: 'dd' },
          { key: 'routes/entry/cn.p0', value: '00' },
          { key: 'routes/entry/cn.p1', value: '01' },
          { key: 'routes/entry/cn.p2', value: '02' },
        ],
        next: 'routes/entry/cn.p2',
      },
    });
    const second = await call(app, 'GET', `/v1/state?prefix=routes%2Fentry%2F&limit=4&after=${encodeURIComponent('routes/entry/cn.p2')}`);
    expect(second.body).toEqual({ height: '1', entries: [{ key: 'routes/entry/cn.p3', value: '03' }, { key: 'routes/entry/cn.p4', value: '04' }] });
    // Default page size 100; an empty prefix lists everything; nothing under a prefix is an empty page.
    expect((await call(app, 'GET', '/v1/state?prefix=')).body).toMatchObject({ entries: { length: 8 } });
    expect(node.listCalls.at(-1)).toEqual(['', '', 100]);
    expect((await call(app, 'GET', '/v1/state?prefix=nothing%2F&limit=1000')).body).toEqual({ height: '1', entries: [] });
  });

  test('GET /v1/state?prefix=: bad queries name the field', async () => {
    const { app } = await server();
    expectProblem(await call(app, 'GET', '/v1/state'), 400, 'VALIDATE_REQUIRED', { pointer: '/prefix', in: 'query' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&limit=1001'), 400, 'VALIDATE_RANGE', { pointer: '/limit', in: 'query' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&limit=0'), 400, 'VALIDATE_FORMAT', { pointer: '/limit' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&limit=-1'), 400, 'VALIDATE_FORMAT', { pointer: '/limit' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&limit=12345'), 400, 'VALIDATE_FORMAT', { pointer: '/limit' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&prefix=b'), 400, 'VALIDATE_TYPE', { pointer: '/prefix' });
    expectProblem(await call(app, 'GET', `/v1/state?prefix=${'k'.repeat(MAX_KEY_LENGTH + 1)}`), 400, 'VALIDATE_RANGE', { pointer: '/prefix' });
    expectProblem(await call(app, 'GET', `/v1/state?prefix=a&after=${'k'.repeat(MAX_KEY_LENGTH + 1)}`), 400, 'VALIDATE_RANGE', { pointer: '/after' });
    expectProblem(await call(app, 'GET', '/v1/state?prefix=a&proof=1'), 400, 'VALIDATE_UNKNOWN_FIELD', { pointer: '/proof' });
  });

  test('GET /v1/status', async () => {
    const { app, node } = await server();
    node.commit([]);
    const reply = await call(app, 'GET', '/v1/status');
    expect(reply).toMatchObject({ status: 200, body: { height: '1', view: '7', leader: 3, connectedPeers: [1, 2], syncing: false } });
  });

  test('GET /metrics serves the node registry in Prometheus text format', async () => {
    const { app } = await server();
    await call(app, 'POST', '/v1/tx', tx(), 'application/octet-stream');
    await call(app, 'GET', '/v1/status');
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.body).toContain('# TYPE loulan_txs_admitted_total counter');
    expect(response.body).toMatch(/^loulan_txs_admitted_total 1$/m);
    expect(response.body).toMatch(/^loulan_rpc_requests_total\{route="\/v1\/tx",method="POST",status="202"\} 1$/m);
  });

  test('unknown routes and plain GETs of the WebSocket route are problems too', async () => {
    const { app } = await server();
    expectProblem(await call(app, 'GET', '/v1/nope'), 404, 'RPC_ROUTE_NOT_FOUND');
    expectProblem(await call(app, 'DELETE' as 'GET', '/v1/status'), 404, 'RPC_ROUTE_NOT_FOUND');
    const upgrade = await call(app, 'GET', '/v1/subscribe');
    expectProblem(upgrade, 426, 'RPC_UPGRADE_REQUIRED');
  });
});

describe('errors never leak internals', () => {
  test('a non-Loulan error becomes a bare INTERNAL problem; the real error is logged', async () => {
    const { app, node } = await server();
    const secret = new TypeError('db handle /var/lib/loulan/secret closed');
    node.fail = secret;
    const logged: unknown[] = [];
    app.log.error = ((obj: unknown) => void logged.push(obj)) as typeof app.log.error;
    for (const reply of [await call(app, 'GET', '/v1/status'), await call(app, 'POST', '/v1/tx', tx(), 'application/octet-stream')]) {
      expectProblem(reply, 500, 'INTERNAL', { detail: 'internal error' });
      expect(JSON.stringify(reply.body)).not.toContain('secret');
    }
    const batch = await call(app, 'POST', '/v1/txs', { txs: [toHex(tx())] });
    expect(batch.body).toEqual({ results: [{ error: expect.objectContaining({ code: 'INTERNAL', detail: 'internal error' }) }] });
    expect(JSON.stringify(batch.body)).not.toContain('secret');
    expect(logged).toHaveLength(3);
    expect(logged).toContainEqual(expect.objectContaining({ err: secret }));
    node.fail = new LoulanError('MEMPOOL_FULL', 'mempool is full', { details: { size: 10n } });
    expectProblem(await call(app, 'POST', '/v1/tx', tx(), 'application/octet-stream'), 503, 'MEMPOOL_FULL', { size: '10' });
  });

  test('no problem body in this file carried a stack trace', () => {
    expect(problemBodies.length).toBeGreaterThan(20);
    for (const body of problemBodies) {
      expect(body).not.toMatch(/\bat .*:\d+:\d+/);
      expect(body).not.toContain('stack');
      expect(body).not.toContain('node_modules');
    }
  });
});

// -- WebSocket, on a real socket -----------------------------------------------------------------

async function listening(options: RpcServerOptions = {}): Promise<{ node: FakeNode; app: FastifyInstance; url: string }> {
  const { node, app } = await server(options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { node, app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function connect(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  await once(socket, 'open');
  return socket;
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('GET /v1/subscribe', () => {
  test('pushes events in commit order, filtered by ?events=', async () => {
    const { node, url } = await listening();
    const all = await connect(`${url}/v1/subscribe`);
    const blocks = await connect(`${url}/v1/subscribe?events=block`);
    const gotAll: Record<string, unknown>[] = [];
    const gotBlocks: Record<string, unknown>[] = [];
    all.on('message', (data) => gotAll.push(JSON.parse(String(data)) as Record<string, unknown>));
    blocks.on('message', (data) => gotBlocks.push(JSON.parse(String(data)) as Record<string, unknown>));
    expect(node.listeners.size).toBe(1); // one node subscription, fanned out
    node.commit(['aa'.repeat(32), 'bb'.repeat(32)]);
    node.commit([]);
    node.commit(['cc'.repeat(32)]);
    await until(() => gotAll.length === 6 && gotBlocks.length === 3, 'events');
    expect(gotBlocks.map((e) => [e['type'], e['height']])).toEqual([
      ['block', '1'],
      ['block', '2'],
      ['block', '3'],
    ]);
    expect(gotAll.map((e) => `${String(e['type'])}@${String(e['height'])}`)).toEqual(['block@1', 'event@1', 'event@1', 'block@2', 'block@3', 'event@3']);
    expect(gotAll[0]).toEqual({ type: 'block', height: '1', hash: expect.any(String), txCount: 2, time: '1700000000001' });
    all.close();
    blocks.close();
    await until(() => node.listeners.size === 0, 'the node subscription to end');
  });

  test('a bad filter is refused before the upgrade with a problem document', async () => {
    const { url } = await listening();
    const socket = new WebSocket(`${url}/v1/subscribe?events=block,txs`);
    sockets.push(socket);
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    let body = '';
    for await (const chunk of response) body += String(chunk);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(body)).toMatchObject({ code: 'VALIDATE_FORMAT', pointer: '/events', in: 'query' });
  });

  test('a client that stops reading is closed with 1013 instead of buffering without bound', async () => {
    const { node, app, url } = await listening({ maxSubscriberBufferBytes: 64 * 1024 });
    const slow = await connect(`${url}/v1/subscribe`);
    const received: number[] = [];
    slow.on('message', (data) => received.push(Number((JSON.parse(String(data)) as { height: string }).height)));
    const closed = once(slow, 'close') as Promise<[number, Buffer]>;
    slow.pause();
    const data = 'ab'.repeat(16 * 1024);
    const [serverSide] = app.websocketServer.clients;
    const dropped = (): boolean => serverSide?.readyState !== serverSide?.OPEN;
    let height = 0n;
    // Kernel buffers absorb a few MB first; the cap only matters once the socket queues in user space.
    while (!dropped()) {
      expect(height).toBeLessThan(20_000n);
      for (let i = 0; i < 16; i++) node.emit({ type: 'event', height: ++height, tx: 0, index: 0, contract: 'asset', name: 'transfer', data });
      await tick();
    }
    expect(node.listeners.size).toBe(0);
    const sentBefore = height;
    node.emit({ type: 'event', height: ++height, tx: 0, index: 0, contract: 'asset', name: 'transfer', data }); // not queued for it
    slow.resume();
    const [code] = await closed;
    expect(code).toBe(CLOSE_TRY_AGAIN_LATER);
    // What it did get is an in-order prefix of what was published.
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(Number(sentBefore));
    expect(received).toEqual(received.map((_, i) => i + 1));
    const metrics = await node.metrics.metrics();
    expect(metrics).toMatch(/^loulan_rpc_subscribers_closed_total\{reason="slow"\} 1$/m);
    // The server is unharmed: a new subscriber is served.
    const next = await connect(`${url}/v1/subscribe?events=block`);
    const got: unknown[] = [];
    next.on('message', (message) => got.push(JSON.parse(String(message))));
    node.commit([]);
    await until(() => got.length === 1, 'an event on the new subscription');
  });

  test('closing the server closes its subscribers (1001)', async () => {
    const { app, url } = await listening();
    const socket = await connect(`${url}/v1/subscribe`);
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect((await closed)[0]).toBe(1001);
  });
});
