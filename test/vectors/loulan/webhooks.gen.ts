/**
 * Generator of `webhooks.json`: webhook signature vectors for shops writing their own verifier in any
 * language (docs/webhooks.md). Fixed secrets, bodies and times make the output byte-for-byte
 * reproducible; `webhooks.test.ts` fails when the committed file is stale. Each case states the reason
 * it was built to be refused with, and generation stops if our own verifier disagrees (a vector never
 * records a bug as expected behaviour). Every refused case has exactly one defect, except the ones
 * named "order", which pin which check answers first.
 */
import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhook, webhookKey, webhookSignature, type WebhookRejection } from '../../../adapters/rest/signature.ts';

export const FILE = 'test/vectors/loulan/webhooks.json';

export interface WebhookCase {
  readonly name: string;
  readonly input: {
    /** The Loulan-Signature header; null when absent. */
    readonly header: string | null;
    /** The raw body (UTF-8). */
    readonly body: string;
    readonly secrets: readonly string[];
    /** The verifier's clock, Unix seconds. */
    readonly now: number;
    readonly toleranceSec: number;
    /** Keys `<source>/<id>` already processed. */
    readonly seen?: readonly string[];
  };
  readonly expect: 'ok' | { readonly reason: WebhookRejection };
  readonly output?: { readonly key: string };
}

export interface WebhookVectors {
  readonly description: string;
  readonly spec: Readonly<Record<string, string>>;
  readonly cases: readonly WebhookCase[];
}

const SECRET = 'whsec_loulan_vectors_current_5b0c1f';
const OLD = 'whsec_loulan_vectors_previous_8e2a7d';
const OTHER = 'whsec_loulan_vectors_someone_else_41';
const T = 1_767_225_600;

const ENVELOPE = {
  id: 'order-2026-0001',
  type: 'points.order',
  source: 'cn.loulan.partner.airline',
  to: 'cn.loulan.shop.acme',
  seq: '1',
  time: '2026-01-01T00:00:00.000Z',
  data: { member: 'M-0042', points: '1200', note: 'café ☕' },
};
const BODY = JSON.stringify(ENVELOPE);
const KEY = webhookKey(ENVELOPE.source, ENVELOPE.id);

const SPEC = {
  header: 'Loulan-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]. Items are separated by "," and split at the first "="; whitespace around keys and values is ignored. Exactly one t (1-12 decimal digits); at least one v1, each exactly 64 lower-case hex digits; other keys (v0, v2, ...) are ignored. Otherwise HEADER_MALFORMED; absent or blank: HEADER_MISSING.',
  signature: 'v1 = lower-case hex of HMAC-SHA256(key = UTF-8 bytes of the secret, message = ASCII "<t>." followed by the raw body bytes exactly as received). The request is authentic when any v1 equals the HMAC under any of the verifier\'s secrets (compare in constant time); otherwise SIGNATURE_MISMATCH.',
  window: '|floor(now) - t| <= toleranceSec (300 by default), in seconds, checked after the signature; otherwise TIMESTAMP_OUT_OF_WINDOW.',
  body: 'After the signature and window: the body must be a UTF-8 JSON object with non-empty string "id" and "source"; otherwise BODY_MALFORMED. Its key is "<source>/<id>".',
  seen: 'Given the keys already processed, a key among them is DUPLICATE (a receiver answers 2xx and does nothing).',
  order: 'Checks run in the order header, signature, window, body, seen; the first failure is the reason.',
};

export function generate(): string {
  const cases: WebhookCase[] = [];
  const sign = (secrets: readonly string[], t = T, body = BODY): string => signWebhook({ secrets, timestamp: t, body });
  const add = (name: string, input: Partial<WebhookCase['input']>, expect: WebhookCase['expect']): void => {
    const full: WebhookCase['input'] = { header: sign([SECRET]), body: BODY, secrets: [SECRET], now: T, toleranceSec: 300, ...input };
    const c: WebhookCase = { name, input: full, expect, ...(expect === 'ok' ? { output: { key: keyOf(full.body) } } : {}) };
    check(c);
    cases.push(c);
  };
  const v1 = (secret: string, t = T, body = BODY): string => `v1=${webhookSignature(secret, t, body)}`;

  add('valid', {}, 'ok');
  add('valid: verifier clock 300 s ahead (edge of the window)', { now: T + 300 }, 'ok');
  add('valid: verifier clock 300 s behind (edge of the window)', { now: T - 300 }, 'ok');
  add('valid: rotation, signed with new and old, verifier knows only the old', { header: sign([SECRET, OLD]), secrets: [OLD] }, 'ok');
  add('valid: rotation, signed with the old only, verifier knows new and old', { header: sign([OLD]), secrets: [SECRET, OLD] }, 'ok');
  add('valid: unknown schemes are ignored', { header: `t=${T},v0=legacy,${v1(SECRET)},v2=future` }, 'ok');
  add('valid: items in another order with spaces', { header: `${v1(OTHER)}, ${v1(SECRET)} , t=${T}` }, 'ok');
  add('valid: not yet seen', { seen: ['cn.loulan.partner.airline/order-2026-0002'] }, 'ok');
  add('valid: tolerance 10 s, 10 s late', { now: T + 10, toleranceSec: 10 }, 'ok');

  add('header missing', { header: null }, { reason: 'HEADER_MISSING' });
  add('header empty', { header: '' }, { reason: 'HEADER_MISSING' });
  add('header without t', { header: v1(SECRET) }, { reason: 'HEADER_MALFORMED' });
  add('header without v1', { header: `t=${T}` }, { reason: 'HEADER_MALFORMED' });
  add('t not a number', { header: `t=${T}s,${v1(SECRET)}` }, { reason: 'HEADER_MALFORMED' });
  add('t negative', { header: `t=-${T},${v1(SECRET)}` }, { reason: 'HEADER_MALFORMED' });
  add('t twice', { header: `t=${T},t=${T},${v1(SECRET)}` }, { reason: 'HEADER_MALFORMED' });
  add('v1 upper-case hex', { header: `t=${T},v1=${webhookSignature(SECRET, T, BODY).toUpperCase()}` }, { reason: 'HEADER_MALFORMED' });
  add('v1 one digit short', { header: `t=${T},${v1(SECRET).slice(0, -1)}` }, { reason: 'HEADER_MALFORMED' });
  add('v1 base64 instead of hex', { header: `t=${T},v1=${Buffer.from(webhookSignature(SECRET, T, BODY), 'hex').toString('base64')}` }, { reason: 'HEADER_MALFORMED' });
  add('an item without =', { header: `t=${T},${v1(SECRET)},garbage` }, { reason: 'HEADER_MALFORMED' });
  add('a trailing comma', { header: `t=${T},${v1(SECRET)},` }, { reason: 'HEADER_MALFORMED' });

  add('wrong secret', { secrets: [OTHER] }, { reason: 'SIGNATURE_MISMATCH' });
  add('body changed (one character)', { body: BODY.replace('1200', '1201') }, { reason: 'SIGNATURE_MISMATCH' });
  add('body re-serialized with spaces', { body: JSON.stringify(ENVELOPE, null, 1) }, { reason: 'SIGNATURE_MISMATCH' });
  add('body with a trailing newline', { body: `${BODY}\n` }, { reason: 'SIGNATURE_MISMATCH' });
  add('t changed, v1 kept', { header: `t=${T + 1},${v1(SECRET)}` }, { reason: 'SIGNATURE_MISMATCH' });
  add('signature of another body', { header: `t=${T},${v1(SECRET, T, BODY.replace('order-2026-0001', 'order-2026-0002'))}` }, { reason: 'SIGNATURE_MISMATCH' });
  const noDot = createHmac('sha256', SECRET).update(`${T}${BODY}`).digest('hex');
  add('HMAC without the "." separator', { header: `t=${T},v1=${noDot}` }, { reason: 'SIGNATURE_MISMATCH' });

  add('signed 301 s ago (replay)', { now: T + 301 }, { reason: 'TIMESTAMP_OUT_OF_WINDOW' });
  add('signed 301 s in the future', { now: T - 301 }, { reason: 'TIMESTAMP_OUT_OF_WINDOW' });
  add('tolerance 10 s, 11 s late', { now: T + 11, toleranceSec: 10 }, { reason: 'TIMESTAMP_OUT_OF_WINDOW' });

  const notJson = 'id=order-2026-0001';
  add('signed body not JSON', { header: sign([SECRET], T, notJson), body: notJson }, { reason: 'BODY_MALFORMED' });
  const noSource = JSON.stringify({ id: ENVELOPE.id, type: ENVELOPE.type });
  add('signed body without source', { header: sign([SECRET], T, noSource), body: noSource }, { reason: 'BODY_MALFORMED' });

  add('already seen', { seen: [KEY] }, { reason: 'DUPLICATE' });

  add('order: bad signature and stale timestamp is SIGNATURE_MISMATCH', { secrets: [OTHER], now: T + 3600 }, { reason: 'SIGNATURE_MISMATCH' });
  add('order: stale timestamp and seen is TIMESTAMP_OUT_OF_WINDOW', { now: T + 3600, seen: [KEY] }, { reason: 'TIMESTAMP_OUT_OF_WINDOW' });

  const doc: WebhookVectors = {
    description:
      'Loulan webhook signatures (Loulan-Signature header): valid requests and refused ones with the reason code a verifier returns. Generated by webhooks.gen.ts; regenerate with `npx node test/vectors/loulan/webhooks.write.ts`.',
    spec: SPEC,
    cases,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

function keyOf(body: string): string {
  const { id, source } = JSON.parse(body) as { id: string; source: string };
  return webhookKey(source, id);
}

function check(c: WebhookCase): void {
  const { header, body, secrets, now, toleranceSec, seen } = c.input;
  const result = verifyWebhook({ header, body, secrets, now: now * 1000, toleranceSec, ...(seen === undefined ? {} : { seen: new Set(seen) }) });
  const got = result.ok ? 'ok' : { reason: result.reason };
  if (JSON.stringify(got) !== JSON.stringify(c.expect)) throw new Error(`vector "${c.name}": built to be ${JSON.stringify(c.expect)}, the verifier says ${JSON.stringify(got)}`);
}
