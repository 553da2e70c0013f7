/**
 * The shop client: what a shop's own platform needs to talk to the switch (send, ask, listen, check).
 *
 * It holds no rules of the switch's. The switch validates every message and answers refusals as RFC
 * 9457 problem documents; the client turns those back into `LoulanError`s with the same code and
 * details, so a shop's code branches on the codes docs/errors.md lists.
 *
 * A message is signed ONCE, then the same bytes are resent until the switch answers: a lost answer or
 * a retryable status (network error, 429, 5xx) is met by posting the identical envelope again, which
 * the switch answers with the original result and `duplicate: true`. Re-signing on retry would be
 * wrong: with a new `time` the same id would carry other content and be refused (`INTAKE_ID_CONFLICT`).
 *
 * Proofs are checked against a validator set the shop trusts, never against what the switch says: the
 * leaf is recomputed from the shop's own copy of the envelope, so a proof for any other message, time
 * or kind fails (`ANCHOR_LEAF_NOT_IN_BATCH`).
 *
 * Capabilities come in as functions (signer, fetch, WebSocket, random) so tests and other runtimes can
 * swap them; the defaults are the platform's own.
 */
import {
  ERROR_CODES,
  LoulanError,
  anchorProofFromJson,
  envelopeSigningInput,
  sha256,
  signEnvelope,
  toHex,
  verifyAnchorProof,
  type AnchoredLeaf,
  type ErrorCode,
  type Signer,
  type TrustedValidatorSet,
} from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import type { IntakeResult, MessageEventProof, MessageRecord, StatusEvent } from '../../switch/index.ts';
// From the store module, not the switch's index: the index loads the whole switch, which itself loads
// the adapters (this file included), and a shop's process needs only this one rule.
import { anchorLeaf } from '../../core-chain/index.ts';
import { parseRetryAfter } from '../http.ts';

export { verifyWebhook } from './signature.ts';

/** A message as the shop writes it; the client fills in `source`, `time`, `id` (when absent) and `sig`. */
export interface OutgoingMessage {
  /** Idempotency key; a random UUID when left out. Keep it to resend the same message later. */
  readonly id?: string;
  readonly type: string;
  readonly to: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** Sequence number on the (participant, `to`) channel. */
  readonly seq: bigint | number | string;
  /** Deadline as an RFC 3339 time; or give `ttlMs`. Default: `DEFAULT_TTL_MS` from now. */
  readonly expiresAt?: string;
  readonly ttlMs?: number;
}

export interface ShopClientOptions {
  /** Base URL of the switch, e.g. `https://switch.example`. */
  readonly switchUrl: string;
  /** The shop's participant address, e.g. `cn.loulan.shop.acme`. */
  readonly participant: string;
  /** Signs as the shop; its kid must be `keyIdOf(participant, key)`. Give this or `apiKey`. */
  readonly signer?: Signer;
  /**
   * The shop's API key (`lk_...`) when the switch holds its key (custody): the switch signs each
   * message and keeps a log of every signature. Give this or `signer`.
   */
  readonly apiKey?: string;
  readonly fetch?: typeof fetch;
  /** Further attempts after the first on a network error, 429 or 5xx. Default 5. */
  readonly retries?: number;
  /** First backoff delay (full jitter, doubling); default 200 ms. The cap is `maxBackoffMs`, default 10 s. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Per-request time limit; a request that outlives it counts as a network error. Default 30 s. */
  readonly timeoutMs?: number;
  /** WebSocket constructor for `subscribe`; default the global one (Node 22+, browsers). */
  readonly WebSocket?: typeof WebSocket;
  readonly now?: () => number;
  /** Uniform in [0, 1), for backoff jitter. */
  readonly random?: () => number;
}

/** `send`'s answer: the switch's intake result, and the exact envelope it holds (for `verifyProof`). */
export interface SendResult extends IntakeResult {
  readonly envelope: Envelope;
}

/** `GET /v1/messages/:id/proof`: the acceptance proof and, once delivered, the delivery proof. */
export interface ProofResponse {
  readonly id: string;
  readonly source: string;
  readonly accepted: MessageEventProof;
  readonly delivered?: MessageEventProof;
}

/** What a verified proof establishes: that the switch committed to the event at `at`, in a certified block. */
export interface VerifiedEvent extends AnchoredLeaf {
  readonly kind: 'accepted' | 'delivered';
  /** Unix ms the switch's leaf commits to. */
  readonly at: number;
}

export interface ProofExpectation {
  readonly switchId?: string;
}

export interface VerifiedProof {
  readonly accepted: VerifiedEvent;
  readonly delivered?: VerifiedEvent;
}

export interface SubscribeOptions {
  /** Replay every event after this cursor, then go live; without it the stream starts now. */
  readonly cursor?: number;
  /** Told of each connection failure; the client reconnects from the last cursor either way. */
  readonly onError?: (error: LoulanError) => void;
}

export interface ShopClient {
  /** Signs a message without sending it (the envelope `submit` and `verifyProof` take). */
  prepare(message: OutgoingMessage): Promise<Envelope>;
  /** Posts a signed envelope, resending the same bytes on retryable failures. */
  submit(envelope: Envelope): Promise<SendResult>;
  /**
   * `prepare` then `submit`.
   *
   * @example
   * const sent = await client.send({ type: 'points.exchange.request', to: 'cn.loulan.partner.air', seq: 7n, data });
   * if (sent.duplicate) console.log('the switch already had', sent.id);
   */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Where a message of this shop's is now, with its history. */
  status(id: string): Promise<MessageRecord>;
  /** The anchoring proofs; `MESSAGE_NOT_ANCHORED` (409) until the switch's batch is on the core chain. */
  proof(id: string): Promise<ProofResponse>;
  /**
   * Checks each proof in `response` against `trusted` for the leaf recomputed from `envelope`; throws
   * the first failure (`CERT_*`, `MERKLE_*`, `ANCHOR_*`, `VALIDATE_*` for a malformed answer). With
   * `expected.switchId`, the anchor must be that switch's (`ANCHOR_WRONG_BATCH` otherwise).
   */
  verifyProof(response: unknown, trusted: TrustedValidatorSet, envelope: Envelope, expected?: ProofExpectation): VerifiedProof;
  /** Status events of this shop's messages; returns a function that closes the stream for good. */
  subscribe(onEvent: (event: StatusEvent) => void, options?: SubscribeOptions): () => void;
}

export const DEFAULT_TTL_MS = 600_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_TIMEOUT_MS = 30_000;
/** The longest a `Retry-After` makes `send` wait; a switch asking for more is treated as down. */
const MAX_RETRY_WAIT_MS = 60_000;
const PROBLEM_MEMBERS = new Set(['type', 'title', 'status', 'code', 'detail', 'instance']);

export function createShopClient(options: ShopClientOptions): ShopClient {
  const base = baseUrl(options.switchUrl);
  const participant = options.participant;
  const { signer, apiKey } = options;
  if (typeof participant !== 'string' || participant === '') throw new LoulanError('CONFIG_INVALID', 'participant must be the shop\'s address', { details: { field: 'participant' } });
  if ((signer === undefined) === (apiKey === undefined)) {
    throw new LoulanError('CONFIG_INVALID', 'give exactly one of signer (the shop holds its key) and apiKey (the switch holds it)', { details: { field: 'signer' } });
  }
  if (signer !== undefined && !signer.kid.startsWith(`${participant}#`)) {
    throw new LoulanError('CONFIG_INVALID', `signer kid ${signer.kid} is not a key of ${participant} (keyIdOf(participant, key))`, { details: { field: 'signer', kid: signer.kid } });
  }
  if (apiKey !== undefined && !/^lk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(apiKey)) {
    throw new LoulanError('CONFIG_INVALID', 'apiKey must be an API key as the switch issued it (lk_<id>_<secret>)', { details: { field: 'apiKey' } });
  }
  const authorization: Record<string, string> = apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` };
  const doFetch = options.fetch ?? globalThis.fetch;
  const retries = nonNegative('retries', options.retries, DEFAULT_RETRIES);
  const initialBackoffMs = nonNegative('initialBackoffMs', options.initialBackoffMs, 200);
  const maxBackoffMs = nonNegative('maxBackoffMs', options.maxBackoffMs, 10_000);
  const timeoutMs = nonNegative('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const backoff = (attempt: number) => Math.floor(random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt));

  /** One HTTP exchange with retries; answers the decoded 2xx body or throws the problem as a LoulanError. */
  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = base + path;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let failure: LoulanError;
      let wait: number | undefined;
      try {
        const response = await doFetch(url, {
          method,
          headers: { accept: 'application/json, application/problem+json', ...authorization, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(payload === undefined ? {} : { body: payload }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        const json = parseJson(text);
        if (response.ok) {
          if (json === undefined) throw badResponse(url, response.status, 'the answer is not JSON');
          return json as T;
        }
        failure = problemError(url, response.status, json);
        if (!(response.status === 429 || response.status >= 500)) throw failure;
        wait = parseRetryAfter(response.headers.get('retry-after'), now());
        if (wait !== undefined && wait > MAX_RETRY_WAIT_MS) throw failure;
      } catch (error) {
        if (error instanceof LoulanError) throw error;
        failure = new LoulanError('RPC_UNAVAILABLE', `cannot reach the switch at ${base}: ${reasonOf(error)}`, {
          details: { endpoints: [base], attempts: [{ endpoint: base, reason: reasonOf(error) }] },
          cause: error,
        });
      }
      if (attempt >= retries) throw failure;
      await delay(wait ?? backoff(attempt));
    }
  }

  const prepare = async (message: OutgoingMessage): Promise<Envelope> => {
    const time = now();
    const expiresAt = message.expiresAt ?? new Date(time + (message.ttlMs ?? DEFAULT_TTL_MS)).toISOString();
    const unsigned = {
      id: message.id ?? globalThis.crypto.randomUUID(),
      type: message.type,
      source: participant,
      to: message.to,
      seq: String(message.seq),
      time: new Date(time).toISOString(),
      expiresAt,
      data: message.data,
    };
    if (signer !== undefined) return (await signEnvelope(unsigned, signer)) as unknown as Envelope;
    // Custody: the switch signs (deterministically, so a retried request gets the same signature).
    return call<Envelope>('POST', '/v1/custody/sign', unsigned);
  };

  const submit = async (envelope: Envelope): Promise<SendResult> => ({ ...(await call<IntakeResult>('POST', '/v1/messages', envelope)), envelope });

  const query = `source=${encodeURIComponent(participant)}`;

  return Object.freeze({
    prepare,
    submit,
    send: async (message: OutgoingMessage) => submit(await prepare(message)),
    status: (id: string) => call<MessageRecord>('GET', `/v1/messages/${encodeURIComponent(id)}?${query}`),
    proof: (id: string) => call<ProofResponse>('GET', `/v1/messages/${encodeURIComponent(id)}/proof?${query}`),
    verifyProof: verifyMessageProof,
    subscribe: (onEvent: (event: StatusEvent) => void, subscribeOptions: SubscribeOptions = {}) =>
      openStream(base, query, options.WebSocket ?? globalThis.WebSocket, onEvent, subscribeOptions, backoff),
  });
}

/**
 * The check behind `ShopClient.verifyProof`, usable without a client (an auditor holding only the
 * envelope and the proof). `switchId`, when given, must be the switch that anchored.
 */
export function verifyMessageProof(response: unknown, trusted: TrustedValidatorSet, envelope: Envelope, expected: ProofExpectation = {}): VerifiedProof {
  if (response === null || typeof response !== 'object' || Array.isArray(response)) {
    throw new LoulanError('VALIDATE_TYPE', 'a proof response must be an object', { details: { pointer: '' } });
  }
  const r = response as Record<string, unknown>;
  const digest = toHex(sha256(envelopeSigningInput(envelope as unknown as Record<string, unknown>)));
  const one = (kind: 'accepted' | 'delivered'): VerifiedEvent => {
    const part = r[kind];
    if (part === null || typeof part !== 'object') throw new LoulanError('VALIDATE_REQUIRED', `the proof response has no ${kind} proof`, { details: { pointer: `/${kind}` } });
    const p = part as Record<string, unknown>;
    const at = p['at'];
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) throw new LoulanError('VALIDATE_TYPE', `/${kind}/at must be Unix ms`, { details: { pointer: `/${kind}/at` } });
    const batchSeq = p['batchSeq'];
    if (typeof batchSeq !== 'number' || !Number.isSafeInteger(batchSeq) || batchSeq < 0) {
      throw new LoulanError('VALIDATE_TYPE', `/${kind}/batchSeq must be a non-negative integer`, { details: { pointer: `/${kind}/batchSeq` } });
    }
    // The leaf comes from our envelope, never from the answer: a proof of anything else fails the root check.
    const proof = { ...anchorProofFromJson(p['proof']), leaf: anchorLeaf(kind, digest, at) };
    const anchored = verifyAnchorProof(trusted, proof, { ...expected, batchSeq: BigInt(batchSeq) });
    return { ...anchored, kind, at };
  };
  const accepted = one('accepted');
  return r['delivered'] === undefined ? { accepted } : { accepted, delivered: one('delivered') };
}

// -- the stream -----------------------------------------------------------------------------------

function openStream(
  base: string,
  query: string,
  Socket: typeof WebSocket | undefined,
  onEvent: (event: StatusEvent) => void,
  options: SubscribeOptions,
  backoff: (attempt: number) => number,
): () => void {
  if (Socket === undefined) throw new LoulanError('CONFIG_INVALID', 'no WebSocket in this runtime: pass options.WebSocket', { details: { field: 'WebSocket' } });
  let cursor = options.cursor;
  let closed = false;
  let failures = 0;
  let socket: WebSocket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wsBase = base.replace(/^http/, 'ws');

  const connect = () => {
    if (closed) return;
    const url = `${wsBase}/v1/stream?${query}${cursor === undefined ? '' : `&cursor=${cursor}`}`;
    const ws = new Socket(url);
    socket = ws;
    ws.onopen = () => {
      failures = 0;
    };
    ws.onmessage = (message: MessageEvent) => {
      const event = parseJson(typeof message.data === 'string' ? message.data : '') as StatusEvent | undefined;
      if (event === undefined || typeof event.cursor !== 'number') return;
      // A reconnect may replay what was already seen; the cursor says so.
      if (cursor !== undefined && event.cursor <= cursor) return;
      cursor = event.cursor;
      onEvent(event);
    };
    ws.onclose = (close: CloseEvent) => {
      if (closed) return;
      options.onError?.(
        new LoulanError('RPC_UNAVAILABLE', `the switch's stream closed (${close.code}${close.reason === '' ? '' : `: ${close.reason}`}); resuming from cursor ${cursor ?? 'now'}`, {
          details: { endpoints: [base], code: close.code, ...(cursor === undefined ? {} : { cursor }) },
        }),
      );
      timer = setTimeout(connect, backoff(Math.min(failures++, 16)));
    };
  };
  connect();
  return () => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    socket?.close(1000);
  };
}

// -- helpers --------------------------------------------------------------------------------------

function baseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoulanError('CONFIG_INVALID', `switchUrl ${text} is not a URL`, { details: { field: 'switchUrl' } });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LoulanError('CONFIG_INVALID', 'switchUrl must be http or https', { details: { field: 'switchUrl' } });
  return url.href.replace(/\/+$/, '');
}

function nonNegative(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new LoulanError('CONFIG_INVALID', `${field} must be a non-negative integer`, { details: { field } });
  return value;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function reasonOf(cause: unknown): string {
  if (cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) return 'no answer in time';
  const inner = cause instanceof Error ? (cause.cause as { code?: unknown } | undefined) : undefined;
  if (typeof inner?.code === 'string') return inner.code;
  return cause instanceof Error ? cause.message : String(cause);
}

function badResponse(url: string, status: number, why: string): LoulanError {
  return new LoulanError('RPC_BAD_RESPONSE', `${url} answered HTTP ${status}, but ${why}`, { details: { endpoint: url, status } });
}

/** A problem document as the LoulanError it names, its extension members as `details`. */
function problemError(url: string, status: number, body: unknown): LoulanError {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return badResponse(url, status, 'the answer is not a problem document');
  const problem = body as Record<string, unknown>;
  const code = problem['code'];
  if (typeof code !== 'string') return badResponse(url, status, 'the answer is not a problem document');
  const detail = typeof problem['detail'] === 'string' ? problem['detail'] : `HTTP ${status}`;
  if (!Object.hasOwn(ERROR_CODES, code)) {
    return new LoulanError('RPC_BAD_RESPONSE', `${url} answered with an unknown code ${code}: ${detail}`, { details: { endpoint: url, status, problemCode: code } });
  }
  const details: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(problem)) if (!PROBLEM_MEMBERS.has(name)) details[name] = value;
  return new LoulanError(code as ErrorCode, detail, { details });
}
