/**
 * Webhook signatures, Stripe-shaped so that a shop checks one in a few lines of any language:
 *
 *   Loulan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." ‖ raw body)>[,v1=...]
 *
 * An HMAC with a shared secret per endpoint, not the envelope's own signature, because the shop must
 * know the request came from its switch (the envelope's `sig` says who wrote the message, not who
 * delivered it) and because every language has HMAC in its standard library. The timestamp is inside
 * the MAC, so a captured request cannot be replayed outside the tolerance window; within the window the
 * message id (`source`, `id`, read from the signed body, never from unsigned headers) catches replays.
 *
 * During a rotation the switch signs with every secret it holds for the endpoint (one `v1` each) and
 * the shop accepts if any of its secrets matches any `v1`, so either side can change first. Unknown
 * schemes (`v0=`, a future `v2=`) are ignored, so the header can grow without breaking verifiers.
 *
 * The verifier returns a reason code rather than throwing: a shop turns each into an HTTP answer
 * (see docs/webhooks.md), and the codes are listed once, in WEBHOOK_REJECTIONS.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LoulanError } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';

/** Why `verifyWebhook` refused a request; stable, documented in docs/webhooks.md and the vectors. */
export const WEBHOOK_REJECTIONS = [
  /** No `Loulan-Signature` header (or an empty one). */
  'HEADER_MISSING',
  /** The header is not `t=<digits>,v1=<64 hex>...`: no or several `t`, no `v1`, a `v1` not 64 lower-case hex. */
  'HEADER_MALFORMED',
  /** No `v1` matches HMAC-SHA256 of `"<t>." ‖ body` under any of the secrets. */
  'SIGNATURE_MISMATCH',
  /** `t` is further than the tolerance from now, in either direction: a replay or a wrong clock. */
  'TIMESTAMP_OUT_OF_WINDOW',
  /** Correctly signed, but the body is not a JSON object with string `id` and `source`. */
  'BODY_MALFORMED',
  /** This (`source`, `id`) was seen before: answer 2xx without acting on it again. */
  'DUPLICATE',
] as const;

export type WebhookRejection = (typeof WEBHOOK_REJECTIONS)[number];

/** Default tolerance between the signature's timestamp and the verifier's clock, in seconds. */
export const DEFAULT_TOLERANCE_SEC = 300;

/** The longest header the verifier reads; a switch sends one `v1` (~70 characters) per secret. */
const MAX_HEADER_LENGTH = 4096;

const te = new TextEncoder();

function bytesOf(body: string | Uint8Array): Uint8Array {
  return typeof body === 'string' ? te.encode(body) : body;
}

function mac(secret: string, timestamp: number, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The hex `v1` value for one secret: HMAC-SHA256(UTF-8 secret, `"<t>."` ‖ body). */
export function webhookSignature(secret: string, timestamp: number, body: string | Uint8Array): string {
  return mac(secret, timestamp, bytesOf(body)).toString('hex');
}

/**
 * The `Loulan-Signature` header value: `t=<timestamp>` and one `v1=` per secret, in order.
 *
 * @example signWebhook({ secrets: ['whsec_a'], timestamp: 1767225600, body }) // 't=1767225600,v1=5f3c...'
 */
export function signWebhook(input: { readonly secrets: readonly string[]; readonly timestamp: number; readonly body: string | Uint8Array }): string {
  if (input.secrets.length === 0) throw new LoulanError('CONFIG_INVALID', 'a webhook needs at least one secret to be signed', { details: { field: 'secrets' } });
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new LoulanError('CONFIG_INVALID', 'a webhook timestamp is a whole number of Unix seconds', { details: { field: 'timestamp' } });
  }
  const body = bytesOf(input.body);
  return [`t=${input.timestamp}`, ...input.secrets.map((s) => `v1=${mac(s, input.timestamp, body).toString('hex')}`)].join(',');
}

export interface ParsedSignatureHeader {
  readonly timestamp: number;
  /** Every `v1` value, hex. */
  readonly signatures: readonly string[];
}

/** Reads a `Loulan-Signature` value; undefined when it is malformed (see HEADER_MALFORMED). */
export function parseSignatureHeader(header: string): ParsedSignatureHeader | undefined {
  if (header.length > MAX_HEADER_LENGTH) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return undefined;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
      signatures.push(value);
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

/** The deduplication key of a message: ids are unique per sender, so the key names both. */
export function webhookKey(source: string, id: string): string {
  return `${source}/${id}`;
}

export interface VerifyWebhookInput {
  /** The `Loulan-Signature` header as received (null or undefined when absent). */
  readonly header: string | null | undefined;
  /** The raw request body, exactly as received: parse JSON only after verifying. */
  readonly body: string | Uint8Array;
  /** The endpoint's secret, or every secret valid during a rotation. */
  readonly secrets: string | readonly string[];
  /** The verifier's clock, Unix ms. Default `Date.now()`. */
  readonly now?: number;
  readonly toleranceSec?: number;
  /**
   * Messages already processed, by `webhookKey(source, id)`, or a function answering whether one was.
   * Only read: record a key once the message took effect, so that a failed attempt is retried.
   */
  readonly seen?: ReadonlySet<string> | ((source: string, id: string) => boolean);
}

export type VerifyWebhookResult =
  | { readonly ok: true; readonly envelope: Envelope; readonly key: string; readonly timestamp: number }
  | { readonly ok: false; readonly reason: WebhookRejection; readonly message: string };

function reject(reason: WebhookRejection, message: string): VerifyWebhookResult {
  return { ok: false, reason, message };
}

/**
 * Checks a webhook the switch sent: header, signature (constant-time), timestamp window, body shape
 * and, given `seen`, that the message is new. Checks run in that order and the first failure answers.
 *
 * @example
 * const result = verifyWebhook({ header: req.headers['loulan-signature'], body: rawBody, secrets: process.env.LOULAN_SECRET!, seen });
 * if (!result.ok) return reply.code(result.reason === 'DUPLICATE' ? 200 : 400).send(result.reason);
 */
export function verifyWebhook(input: VerifyWebhookInput): VerifyWebhookResult {
  const secrets = typeof input.secrets === 'string' ? [input.secrets] : input.secrets;
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new LoulanError('CONFIG_INVALID', 'verifyWebhook needs at least one non-empty secret', { details: { field: 'secrets' } });
  }
  if (input.header === null || input.header === undefined || input.header.trim() === '') return reject('HEADER_MISSING', 'no Loulan-Signature header');
  const parsed = parseSignatureHeader(input.header);
  if (parsed === undefined) return reject('HEADER_MALFORMED', 'Loulan-Signature is not t=<unix seconds>,v1=<64 hex>');

  const body = bytesOf(input.body);
  const presented = parsed.signatures.map((hex) => Buffer.from(hex, 'hex'));
  // Every secret against every candidate, without stopping early: the time taken says nothing.
  let match = false;
  for (const secret of secrets) {
    const expected = mac(secret, parsed.timestamp, body);
    for (const candidate of presented) if (timingSafeEqual(expected, candidate)) match = true;
  }
  if (!match) return reject('SIGNATURE_MISMATCH', 'no v1 signature matches the body under the configured secrets');

  const tolerance = input.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const nowSec = Math.floor((input.now ?? Date.now()) / 1000);
  if (Math.abs(nowSec - parsed.timestamp) > tolerance) {
    return reject('TIMESTAMP_OUT_OF_WINDOW', `signed at ${parsed.timestamp}, ${nowSec - parsed.timestamp} s from now (tolerance ${tolerance} s)`);
  }

  let envelope: unknown;
  try {
    envelope = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return reject('BODY_MALFORMED', 'the body is not UTF-8 JSON');
  }
  const fields = envelope as { id?: unknown; source?: unknown } | null;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || typeof fields.id !== 'string' || typeof fields.source !== 'string' || fields.id === '' || fields.source === '') {
    return reject('BODY_MALFORMED', 'the body is not an envelope with a string id and source');
  }
  const { id, source } = fields;
  const key = webhookKey(source, id);
  const seen = input.seen;
  if (seen !== undefined && (typeof seen === 'function' ? seen(source, id) : seen.has(key))) return reject('DUPLICATE', `message ${key} was already received`);
  return { ok: true, envelope: envelope as Envelope, key, timestamp: parsed.timestamp };
}
