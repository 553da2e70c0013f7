/**
 * `CoreClient`: how the switch, relayers, the CLI and benchmarks talk to the core chain's validators.
 *
 * A consortium runs n = 3f+1 validators and up to f of them may be down, so the client holds every
 * endpoint and moves on when one fails. Only failures that say nothing about the request move it on:
 * a connection error, a timeout, a 5xx, or a reply that is not what the API documents. A 4xx is the
 * chain's answer about the request itself and is thrown at once, as the `LoulanError` the node raised
 * (same code and details). Retrying a submission on another node is safe because admission is
 * idempotent by transaction hash (the second node answers `duplicate: true` or admits the same bytes).
 * The client sticks to the endpoint that last worked, so a dead node costs one timeout, not one per
 * call.
 *
 * Answers are taken from one node and not verified here: a Byzantine node can lie about a block or a
 * key. Callers that must not trust the node check the block's commit certificate (a later module).
 *
 * Decimal strings on the wire (heights, views, nonces, times) come back as `bigint`; byte strings stay
 * hex, except state values, which come back as bytes.
 */
import { WebSocket, type RawData } from 'ws';
import { fromHex, toHex } from './crypto/hash.ts';
import { ERROR_CODES, LoulanError, asLoulanError, type ErrorCode } from './errors.ts';
import type { BlockView, CertificateView, EventView, HeaderView, NodeEvent, NodeStatus, SubmitResult, TxReceiptView, TxStatus, ValidatorInfo } from './node/api.ts';

export type { BlockView, CertificateView, EventView, HeaderView, NodeEvent, NodeStatus, SubmitResult, TxReceiptView, TxStatus, ValidatorInfo };

export interface CoreClientOptions {
  /** Validator RPC base URLs, e.g. `http://10.0.0.1:8545`; tried in order, starting with the first. */
  readonly endpoints: readonly string[];
  /** Deadline for one attempt on one endpoint, in ms (a `wait: 'commit'` adds its own wait). Default 10 s. */
  readonly timeoutMs?: number;
  /** Most transactions per `POST /v1/txs` when `submitTxs` splits a list. Default 1,000. */
  readonly batchSize?: number;
  /** The fetch to use; global `fetch` by default. */
  readonly fetch?: typeof globalThis.fetch;
}

export interface SubmitOptions {
  /** Wait until the transaction is committed (or `timeoutMs` passes; then the status is `pending`). */
  readonly wait: 'commit';
  /** How long the node should wait, in ms; the node may cap it. Default 30 s. */
  readonly timeoutMs?: number;
}

/** One entry of `submitTxs`: admitted (possibly as a duplicate), or refused with the node's error. */
export type BatchResult = SubmitResult | { readonly error: LoulanError };

export interface ListStateOptions {
  /** Start after this key (exclusive); the `next` of the previous page. Default: from the first key. */
  readonly after?: string;
  /** Entries per page, 1..1,000 (the node refuses more with VALIDATE_RANGE). Default 100 (the node's). */
  readonly limit?: number;
}

/** One page of `listState`: entries under the prefix in key order, all read at `height`. */
export interface StatePage {
  readonly height: bigint;
  readonly entries: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array }>;
  /** Present when more entries follow: the `after` of the next page. */
  readonly next?: string;
}

export interface SubscribeOptions {
  /** Which event types to deliver; default both. */
  readonly events?: readonly NodeEvent['type'][];
  /** Connection failures (`RPC_UNAVAILABLE`), bad messages, a refused subscription, errors thrown by `onEvent`. */
  readonly onError?: (error: LoulanError) => void;
  /** Called each time a connection opens, with the endpoint. */
  readonly onOpen?: (endpoint: string) => void;
  /**
   * Called when blocks `from..to` were committed while no connection was open (found from the next
   * block's height). Their block events can be read with `getBlock`; their other events are not replayed.
   */
  readonly onGap?: (from: bigint, to: bigint) => void;
  /** First reconnect delay in ms, doubled per consecutive failure up to 5 s. Default 250. */
  readonly reconnectDelayMs?: number;
  /** Ping period; a connection that missed the previous pong is dropped and replaced. Default 30 s. */
  readonly heartbeatMs?: number;
}

const DEFAULT_WAIT_MS = 30_000;
const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * @example
 * const client = new CoreClient({ endpoints: ['http://127.0.0.1:8545', 'http://127.0.0.1:8546'], timeoutMs: 5_000 });
 * const { hash } = await client.submitTx(encodeTx(signTx(unsigned, privateKey)));
 * const status = await client.submitTx(bytes, { wait: 'commit' }); // TxStatus, with the receipt once committed
 * const close = client.subscribe((event) => console.log(event.type, event.height), { events: ['block'] });
 */
export class CoreClient {
  readonly #endpoints: readonly string[];
  readonly #timeoutMs: number;
  readonly #batchSize: number;
  readonly #fetch: typeof globalThis.fetch;
  /** Index of the endpoint to try first: the last one that answered. */
  #preferred = 0;

  constructor(options: CoreClientOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new LoulanError('CONFIG_INVALID', 'CoreClient needs at least one endpoint', { details: { field: 'endpoints' } });
    }
    this.#endpoints = Object.freeze(options.endpoints.map((endpoint, i) => normalizeEndpoint(endpoint, i)));
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, 10_000);
    this.#batchSize = positive('batchSize', options.batchSize, 1_000);
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  get endpoints(): readonly string[] {
    return this.#endpoints;
  }

  /** Submits an encoded, signed transaction; with `{ wait: 'commit' }`, resolves to its status once committed. */
  submitTx(bytes: Uint8Array): Promise<SubmitResult>;
  submitTx(bytes: Uint8Array, options: SubmitOptions): Promise<TxStatus>;
  submitTx(bytes: Uint8Array, options?: SubmitOptions): Promise<SubmitResult | TxStatus>;
  async submitTx(bytes: Uint8Array, options?: SubmitOptions): Promise<SubmitResult | TxStatus> {
    const body = { body: bytes, contentType: 'application/octet-stream' };
    if (options?.wait !== 'commit') return this.#call('POST', '/v1/tx', body, parseSubmitResult);
    const waitMs = positive('timeoutMs', options.timeoutMs, DEFAULT_WAIT_MS);
    return this.#call('POST', `/v1/tx?wait=commit&timeoutMs=${waitMs}`, { ...body, extraMs: waitMs }, parseTxStatus);
  }

  /**
   * Submits many transactions, in order, `batchSize` per request. One refused transaction does not
   * stop the others; it comes back as `{ error }`. If a whole request fails the call throws, and the
   * list can be submitted again as is (admission is idempotent).
   */
  async submitTxs(list: readonly Uint8Array[]): Promise<BatchResult[]> {
    const results: BatchResult[] = [];
    for (let start = 0; start < list.length; start += this.#batchSize) {
      const txs = list.slice(start, start + this.#batchSize).map(toHex);
      const body = { body: JSON.stringify({ txs }), contentType: 'application/json' };
      const batch = await this.#call('POST', '/v1/txs', body, (value) => parseBatch(value, txs.length));
      results.push(...batch);
    }
    return results;
  }

  async getTx(hash: string | Uint8Array): Promise<TxStatus> {
    const hex = typeof hash === 'string' ? hash : toHex(hash);
    return this.#call('GET', `/v1/tx/${encodeURIComponent(hex)}`, {}, parseTxStatus);
  }

  /** The block with its commit certificate, or null when this node has none at that height. */
  async getBlock(height: bigint | number | 'latest'): Promise<BlockView | null> {
    try {
      return await this.#call('GET', `/v1/blocks/${String(height)}`, {}, parseBlock);
    } catch (error) {
      if (error instanceof LoulanError && error.code === 'RPC_BLOCK_NOT_FOUND') return null;
      throw error;
    }
  }

  /** The committed value under a state key, or undefined. */
  async getState(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.#call('GET', `/v1/state/${encodeURIComponent(key)}`, {}, (value) => fromHex(str(obj(value, '')['value'], '/value')));
    } catch (error) {
      if (error instanceof LoulanError && error.code === 'RPC_STATE_NOT_FOUND') return undefined;
      throw error;
    }
  }

  /**
   * One page of the committed entries whose keys start with `prefix`, in key order.
   *
   * @example
   * const page = await client.listState('routes/entry/', { limit: 1000 });
   * const more = page.next === undefined ? null : await client.listState('routes/entry/', { after: page.next, limit: 1000 });
   */
  async listState(prefix: string, options: ListStateOptions = {}): Promise<StatePage> {
    const query = new URLSearchParams({ prefix });
    if (options.after !== undefined) query.set('after', options.after);
    if (options.limit !== undefined) query.set('limit', String(positive('limit', options.limit, 100)));
    return this.#call('GET', `/v1/state?${query}`, {}, (value) => parseStatePage(value, options.after ?? ''));
  }

  /**
   * Every page under `prefix`, one request per page, until the last. Each page is read at its own
   * height: a walk that spans blocks may see a change in one page and not in another, so a caller that
   * needs one consistent table follows the contract's events from the first page's height on.
   *
   * @example
   * for await (const page of client.walkState('routes/entry/', { limit: 1000 })) for (const { key, value } of page.entries) load(key, value);
   */
  async *walkState(prefix: string, options: ListStateOptions = {}): AsyncGenerator<StatePage, void, undefined> {
    let after = options.after;
    for (;;) {
      const page = await this.listState(prefix, { ...options, ...(after === undefined ? {} : { after }) });
      yield page;
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  /**
   * The `index`-th event of the block at `height`, or null when the node has none there. With
   * `proof`, the event carries its RFC 6962 audit path and the certified header (`verifyEventProof`,
   * or an anchor proof, checks them without trusting the node).
   */
  async getEvent(height: bigint | number, index: number, options: { readonly proof?: boolean } = {}): Promise<EventView | null> {
    try {
      return await this.#call('GET', `/v1/events/${String(height)}-${index}${options.proof === true ? '?proof=1' : ''}`, {}, parseEventView);
    } catch (error) {
      if (error instanceof LoulanError && error.code === 'RPC_EVENT_NOT_FOUND') return null;
      throw error;
    }
  }

  async status(): Promise<NodeStatus> {
    return this.#call('GET', '/v1/status', {}, parseStatus);
  }

  /**
   * Delivers new blocks and events, in commit order, until the returned function is called. When the
   * connection drops it reconnects to the next endpoint; events already delivered are not delivered
   * again (a node that is behind repeats them), and missed blocks are reported to `onGap`.
   */
  subscribe(onEvent: (event: NodeEvent) => void, options: SubscribeOptions = {}): () => void {
    const wanted = new Set(options.events ?? ['block', 'event']);
    const baseDelay = positive('reconnectDelayMs', options.reconnectDelayMs, 250);
    const heartbeatMs = positive('heartbeatMs', options.heartbeatMs, 30_000);
    const report = (error: unknown): void => options.onError?.(asLoulanError(error));
    let closed = false;
    let current: WebSocket | undefined;
    let retry: NodeJS.Timeout | undefined;
    let index = this.#preferred;
    let failures = 0;
    // Delivery cursor: the last block height and the last (height, tx, index) of an event delivered.
    let lastBlock: bigint | undefined;
    let lastEvent: readonly [bigint, number, number] | undefined;

    const deliver = (event: NodeEvent): void => {
      if (event.type === 'block') {
        if (lastBlock !== undefined && event.height <= lastBlock) return;
        if (lastBlock !== undefined && event.height > lastBlock + 1n) options.onGap?.(lastBlock + 1n, event.height - 1n);
        lastBlock = event.height;
      } else {
        const key = [event.height, event.tx, event.index] as const;
        if (lastEvent !== undefined && compareEventKeys(key, lastEvent) <= 0) return;
        lastEvent = key;
      }
      if (!wanted.has(event.type)) return;
      try {
        onEvent(event);
      } catch (error) {
        report(error);
      }
    };

    const reconnect = (socket: WebSocket): void => {
      if (closed || socket !== current) return;
      current = undefined;
      index++;
      const delay = Math.min(baseDelay * 2 ** Math.min(failures, 10), MAX_RECONNECT_DELAY_MS);
      failures++;
      retry = setTimeout(connect, delay);
    };

    const connect = (): void => {
      if (closed) return;
      const endpoint = this.#endpoints[index % this.#endpoints.length] as string;
      const socket = new WebSocket(`${endpoint.replace(/^http/, 'ws')}/v1/subscribe?events=block,event`, {
        handshakeTimeout: this.#timeoutMs,
      });
      current = socket;
      let alive = true;
      let heartbeat: NodeJS.Timeout | undefined;
      let lastError: unknown;

      socket.on('open', () => {
        failures = 0;
        this.#preferred = index % this.#endpoints.length;
        options.onOpen?.(endpoint);
        heartbeat = setInterval(() => {
          if (!alive) return socket.terminate();
          alive = false;
          socket.ping();
        }, heartbeatMs).unref();
      });
      socket.on('pong', () => {
        alive = true;
      });
      socket.on('message', (data: RawData, isBinary: boolean) => {
        if (socket !== current) return;
        let event: NodeEvent;
        try {
          if (isBinary) throw new Error('binary frame');
          event = parseEvent(JSON.parse(rawText(data)));
        } catch (error) {
          report(badResponse(endpoint, 'subscription message is not a NodeEvent', error));
          socket.terminate(); // a node that sends garbage is replaced
          return;
        }
        deliver(event);
      });
      socket.on('unexpected-response', (request, response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (text.length < 65_536) text += chunk;
        });
        response.on('end', () => {
          request.destroy();
          const status = response.statusCode ?? 0;
          const error = problemError(status, text, endpoint);
          if (status >= 400 && status < 500) {
            // The node refused the subscription itself: retrying elsewhere would be refused too.
            closed = true;
            current = undefined;
            report(error);
            return;
          }
          report(error);
          reconnect(socket);
        });
        response.on('error', () => reconnect(socket));
      });
      socket.on('error', (error) => {
        lastError = error;
      });
      socket.on('close', () => {
        clearInterval(heartbeat);
        if (closed || socket !== current) return;
        if (lastError !== undefined) {
          report(unavailable([{ endpoint, reason: reasonOf(lastError) }]));
        }
        reconnect(socket);
      });
    };

    connect();
    return () => {
      closed = true;
      clearTimeout(retry);
      const socket = current;
      current = undefined;
      if (socket === undefined) return;
      if (socket.readyState === socket.CONNECTING) socket.terminate();
      else socket.close(1000);
    };
  }

  /**
   * One request, tried on each endpoint in turn from the preferred one. Moves on after a connection
   * error, a timeout, a 5xx or an undecodable 2xx; throws a 4xx at once.
   */
  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    request: { readonly body?: Uint8Array | string; readonly contentType?: string; readonly extraMs?: number },
    decode: (value: unknown) => T,
  ): Promise<T> {
    const attempts: { endpoint: string; reason: string }[] = [];
    let answered: LoulanError | undefined;
    const first = this.#preferred;
    for (let i = 0; i < this.#endpoints.length; i++) {
      const at = (first + i) % this.#endpoints.length;
      const endpoint = this.#endpoints[at] as string;
      let status: number;
      let text: string;
      try {
        const response = await this.#fetch(endpoint + path, {
          method,
          headers: { accept: 'application/json', ...(request.contentType === undefined ? {} : { 'content-type': request.contentType }) },
          ...(request.body === undefined ? {} : { body: request.body }),
          signal: AbortSignal.timeout(this.#timeoutMs + (request.extraMs ?? 0)),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        attempts.push({ endpoint, reason: reasonOf(error) });
        this.#moveOn(at);
        continue;
      }
      if (status >= 400 && status < 500) {
        this.#preferred = at;
        throw problemError(status, text, endpoint);
      }
      if (status >= 500) {
        answered = problemError(status, text, endpoint);
        attempts.push({ endpoint, reason: `HTTP ${status} ${answered.code}` });
        this.#moveOn(at);
        continue;
      }
      try {
        const value = decode(JSON.parse(text));
        this.#preferred = at;
        return value;
      } catch (error) {
        answered = badResponse(endpoint, `${method} ${path.split('?')[0]} answered with an undocumented body`, error);
        attempts.push({ endpoint, reason: 'bad response' });
        this.#moveOn(at);
      }
    }
    // A node's own answer (MEMPOOL_FULL, INTERNAL, ...) says more than "unavailable".
    throw answered ?? unavailable(attempts);
  }

  #moveOn(failed: number): void {
    if (this.#preferred === failed) this.#preferred = (failed + 1) % this.#endpoints.length;
  }
}

// -- errors ----------------------------------------------------------------------------------------

function unavailable(attempts: readonly { endpoint: string; reason: string }[]): LoulanError {
  return new LoulanError('RPC_UNAVAILABLE', `no endpoint answered (${attempts.map((a) => `${a.endpoint}: ${a.reason}`).join('; ')})`, {
    details: { endpoints: attempts.map((a) => a.endpoint), attempts },
  });
}

function badResponse(endpoint: string, message: string, cause: unknown): LoulanError {
  const field = cause instanceof LoulanError && cause.code === 'RPC_BAD_RESPONSE' ? cause.details['field'] : undefined;
  return new LoulanError('RPC_BAD_RESPONSE', message, { details: { endpoint, ...(field === undefined ? {} : { field }) }, cause });
}

/** An RFC 9457 body as the LoulanError it was made from; RPC_BAD_RESPONSE when it is not one. */
function problemError(status: number, text: string, endpoint: string): LoulanError {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    document = undefined;
  }
  const error = fromProblem(document);
  return (
    error ??
    new LoulanError('RPC_BAD_RESPONSE', `HTTP ${status} without a problem document`, {
      details: { endpoint, status, code: isRecord(document) && typeof document['code'] === 'string' ? document['code'] : null },
    })
  );
}

function fromProblem(document: unknown): LoulanError | undefined {
  if (!isRecord(document)) return undefined;
  const { type: _type, title: _title, status: _status, code, detail, instance: _instance, ...details } = document;
  if (typeof code !== 'string' || !Object.hasOwn(ERROR_CODES, code)) return undefined;
  return new LoulanError(code as ErrorCode, typeof detail === 'string' ? detail : code, { details });
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timeout';
    const cause = (error as Error & { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code ?? (error as Error & { code?: unknown }).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

// -- decoding replies --------------------------------------------------------------------------------

function fail(field: string, expected: string): never {
  throw new LoulanError('RPC_BAD_RESPONSE', `${field || '(root)'} is not ${expected}`, { details: { field } });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: unknown, field: string): Record<string, unknown> {
  return isRecord(value) ? value : fail(field, 'an object');
}

function str(value: unknown, field: string): string {
  return typeof value === 'string' ? value : fail(field, 'a string');
}

function int(value: unknown, field: string): number {
  return Number.isSafeInteger(value) ? (value as number) : fail(field, 'an integer');
}

function bool(value: unknown, field: string): boolean {
  return typeof value === 'boolean' ? value : fail(field, 'a boolean');
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function big(value: unknown, field: string): bigint {
  return typeof value === 'string' && DECIMAL.test(value) ? BigInt(value) : fail(field, 'a decimal string');
}

function list<T>(value: unknown, field: string, item: (v: unknown, field: string) => T): T[] {
  return Array.isArray(value) ? value.map((v, i) => item(v, `${field}/${i}`)) : fail(field, 'an array');
}

function parseSubmitResult(value: unknown): SubmitResult {
  const o = obj(value, '');
  return { hash: str(o['hash'], '/hash'), duplicate: bool(o['duplicate'], '/duplicate') };
}

function parseBatch(value: unknown, count: number): BatchResult[] {
  const results = list(obj(value, '')['results'], '/results', (item, field): BatchResult => {
    const o = obj(item, field);
    if (!('error' in o)) return parseSubmitResult(o);
    return { error: fromProblem(o['error']) ?? fail(`${field}/error`, 'a problem document') };
  });
  if (results.length !== count) fail('/results', `${count} results`);
  return results;
}

const TX_STATES = new Set(['pending', 'committed', 'unknown']);

function parseTxStatus(value: unknown): TxStatus {
  const o = obj(value, '');
  const status = str(o['status'], '/status');
  if (!TX_STATES.has(status)) fail('/status', 'pending, committed or unknown');
  let receipt: TxReceiptView | undefined;
  if (o['receipt'] !== undefined) {
    const r = obj(o['receipt'], '/receipt');
    const receiptStatus = str(r['status'], '/receipt/status');
    if (receiptStatus !== 'ok' && receiptStatus !== 'failed') fail('/receipt/status', 'ok or failed');
    receipt = {
      status: receiptStatus,
      code: r['code'] === null ? null : str(r['code'], '/receipt/code'),
      sender: str(r['sender'], '/receipt/sender'),
      nonce: big(r['nonce'], '/receipt/nonce'),
      eventCount: int(r['eventCount'], '/receipt/eventCount'),
    };
  }
  return {
    hash: str(o['hash'], '/hash'),
    status: status as TxStatus['status'],
    ...(o['height'] === undefined ? {} : { height: big(o['height'], '/height') }),
    ...(o['index'] === undefined ? {} : { index: int(o['index'], '/index') }),
    ...(receipt === undefined ? {} : { receipt }),
  };
}

function parseBlock(value: unknown): BlockView {
  return { ...parseHeaderView(value, ''), txHashes: list(obj(value, '')['txHashes'], '/txHashes', str) };
}

function parseHeaderView(value: unknown, at: string): HeaderView {
  const o = obj(value, at);
  const h = obj(o['header'], `${at}/header`);
  const c = obj(o['certificate'], `${at}/certificate`);
  return {
    height: big(o['height'], `${at}/height`),
    hash: str(o['hash'], `${at}/hash`),
    header: {
      chainId: str(h['chainId'], `${at}/header/chainId`),
      height: big(h['height'], `${at}/header/height`),
      prevHash: str(h['prevHash'], `${at}/header/prevHash`),
      time: big(h['time'], `${at}/header/time`),
      proposer: int(h['proposer'], `${at}/header/proposer`),
      txRoot: str(h['txRoot'], `${at}/header/txRoot`),
      txCount: int(h['txCount'], `${at}/header/txCount`),
      eventsRoot: str(h['eventsRoot'], `${at}/header/eventsRoot`),
      eventCount: int(h['eventCount'], `${at}/header/eventCount`),
      stateRoot: str(h['stateRoot'], `${at}/header/stateRoot`),
      validatorSetHash: str(h['validatorSetHash'], `${at}/header/validatorSetHash`),
      nextValidatorSetHash: str(h['nextValidatorSetHash'], `${at}/header/nextValidatorSetHash`),
    },
    headerBytes: str(o['headerBytes'], `${at}/headerBytes`),
    certificate: {
      height: big(c['height'], `${at}/certificate/height`),
      view: big(c['view'], `${at}/certificate/view`),
      blockHash: str(c['blockHash'], `${at}/certificate/blockHash`),
      signatures: list(c['signatures'], `${at}/certificate/signatures`, (s, field) => {
        const sig = obj(s, field);
        return { validator: int(sig['validator'], `${field}/validator`), signature: str(sig['signature'], `${field}/signature`) };
      }),
    },
  };
}

function parseEventView(value: unknown): EventView {
  const o = obj(value, '');
  const view: EventView = {
    id: str(o['id'], '/id'),
    height: big(o['height'], '/height'),
    index: int(o['index'], '/index'),
    tx: int(o['tx'], '/tx'),
    contract: str(o['contract'], '/contract'),
    name: str(o['name'], '/name'),
    data: str(o['data'], '/data'),
    encoded: str(o['encoded'], '/encoded'),
  };
  if (o['proof'] === undefined) return view;
  const p = obj(o['proof'], '/proof');
  return { ...view, proof: { path: list(p['path'], '/proof/path', str), header: parseHeaderView(p['header'], '/proof/header') } };
}

function parseStatePage(value: unknown, after: string): StatePage {
  const o = obj(value, '');
  let previous = after;
  const entries = list(o['entries'], '/entries', (item, field) => {
    const e = obj(item, field);
    const key = str(e['key'], `${field}/key`);
    // A page is in key order after `after`; anything else would make a walk repeat or skip entries.
    if (key <= previous) fail(`${field}/key`, 'a key after the previous one');
    previous = key;
    const hex = str(e['value'], `${field}/value`);
    return { key, value: HEX.test(hex) ? fromHex(hex) : fail(`${field}/value`, 'hex') };
  });
  const page: StatePage = { height: big(o['height'], '/height'), entries };
  if (o['next'] === undefined) return page;
  const next = str(o['next'], '/next');
  if (entries.length === 0 || next < previous) fail('/next', 'a key at or after the last entry');
  return { ...page, next };
}

const HEX = /^(?:[0-9a-f]{2})*$/;

function parseStatus(value: unknown): NodeStatus {
  const o = obj(value, '');
  const mempool = obj(o['mempool'], '/mempool');
  return {
    chainId: str(o['chainId'], '/chainId'),
    self: int(o['self'], '/self'),
    position: int(o['position'], '/position'),
    height: big(o['height'], '/height'),
    lastBlockHash: o['lastBlockHash'] === null ? null : str(o['lastBlockHash'], '/lastBlockHash'),
    lastBlockTime: o['lastBlockTime'] === null ? null : int(o['lastBlockTime'], '/lastBlockTime'),
    view: big(o['view'], '/view'),
    changingView: bool(o['changingView'], '/changingView'),
    leader: int(o['leader'], '/leader'),
    validators: list(o['validators'], '/validators', (v, field): ValidatorInfo => {
      const x = obj(v, field);
      return {
        index: int(x['index'], `${field}/index`),
        nodeId: int(x['nodeId'], `${field}/nodeId`),
        name: str(x['name'], `${field}/name`),
        address: str(x['address'], `${field}/address`),
        publicKey: str(x['publicKey'], `${field}/publicKey`),
      };
    }),
    connectedPeers: list(o['connectedPeers'], '/connectedPeers', int),
    mempool: { size: int(mempool['size'], '/mempool/size'), executable: int(mempool['executable'], '/mempool/executable') },
    syncing: bool(o['syncing'], '/syncing'),
  };
}

function parseEvent(value: unknown): NodeEvent {
  const o = obj(value, '');
  const type = o['type'];
  if (type === 'block') {
    return { type, height: big(o['height'], '/height'), hash: str(o['hash'], '/hash'), txCount: int(o['txCount'], '/txCount'), time: big(o['time'], '/time') };
  }
  if (type === 'event') {
    return {
      type,
      height: big(o['height'], '/height'),
      tx: int(o['tx'], '/tx'),
      index: int(o['index'], '/index'),
      contract: str(o['contract'], '/contract'),
      name: str(o['name'], '/name'),
      data: str(o['data'], '/data'),
    };
  }
  return fail('/type', 'block or event');
}

function compareEventKeys(a: readonly [bigint, number, number], b: readonly [bigint, number, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] - b[1];
  return a[2] - b[2];
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

// -- options -----------------------------------------------------------------------------------------

function normalizeEndpoint(endpoint: unknown, index: number): string {
  let url: URL;
  try {
    url = new URL(String(endpoint));
  } catch {
    throw new LoulanError('CONFIG_INVALID', `endpoint ${index} is not a URL`, { details: { field: `endpoints/${index}` } });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LoulanError('CONFIG_INVALID', `endpoint ${index} must be http or https`, { details: { field: `endpoints/${index}` } });
  }
  return url.href.replace(/\/+$/, '');
}

function positive(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new LoulanError('CONFIG_INVALID', `${field} must be a positive integer`, { details: { field, value } });
  }
  return value;
}
