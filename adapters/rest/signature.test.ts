import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoulanError } from '../../core-chain/index.ts';
import { parseSignatureHeader, signWebhook, verifyWebhook, webhookKey, webhookSignature } from './signature.ts';

const SECRET = 'whsec_test_0123456789abcdef';
const NOW = 1_767_225_600_000;
const T = NOW / 1000;
const body = JSON.stringify({ id: 'm-1', source: 'cn.loulan.switch', type: 'points.order', data: { note: 'café' } });

describe('signWebhook', () => {
  it('is t=<seconds> and one v1 per secret, the HMAC of "<t>." and the body bytes', () => {
    const header = signWebhook({ secrets: [SECRET, 'whsec_old_0123456789abcdef'], timestamp: T, body });
    const [t, v1, v1old] = header.split(',');
    expect(t).toBe(`t=${T}`);
    expect(v1).toBe(`v1=${webhookSignature(SECRET, T, body)}`);
    expect(v1old).toBe(`v1=${webhookSignature('whsec_old_0123456789abcdef', T, new TextEncoder().encode(body))}`);
    expect(parseSignatureHeader(header)?.signatures).toHaveLength(2);
  });

  it('refuses to sign without a secret', () => {
    expect(() => signWebhook({ secrets: [], timestamp: T, body })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as unknown as Error);
  });
});

describe('verifyWebhook', () => {
  const header = signWebhook({ secrets: [SECRET], timestamp: T, body });

  it('accepts a signed body and hands back the envelope and its key', () => {
    const result = verifyWebhook({ header, body, secrets: SECRET, now: NOW });
    expect(result).toMatchObject({ ok: true, key: webhookKey('cn.loulan.switch', 'm-1'), timestamp: T, envelope: { id: 'm-1' } });
  });

  it.each([
    ['HEADER_MISSING', { header: undefined }],
    ['HEADER_MISSING', { header: '  ' }],
    ['HEADER_MALFORMED', { header: header.replace(`t=${T}`, 't=soon') }],
    ['HEADER_MALFORMED', { header: `${header},t=${T}` }],
    ['HEADER_MALFORMED', { header: header.toUpperCase().replace('T=', 't=').replace('V1=', 'v1=') }],
    ['HEADER_MALFORMED', { header: `t=${T}` }],
    ['HEADER_MALFORMED', { header: `${header},` }],
    ['HEADER_MALFORMED', { header: `${header},v1=${'0'.repeat(4096)}` }],
    ['SIGNATURE_MISMATCH', { secrets: 'whsec_other_0123456789abcdef' }],
    ['SIGNATURE_MISMATCH', { body: body.replace('m-1', 'm-2') }],
    ['SIGNATURE_MISMATCH', { header: header.replace(`t=${T}`, `t=${T + 1}`) }],
    ['TIMESTAMP_OUT_OF_WINDOW', { now: NOW + 301_000 }],
    ['TIMESTAMP_OUT_OF_WINDOW', { now: NOW - 301_000 }],
    ['TIMESTAMP_OUT_OF_WINDOW', { now: NOW + 11_000, toleranceSec: 10 }],
    ['DUPLICATE', { seen: new Set([webhookKey('cn.loulan.switch', 'm-1')]) }],
    ['DUPLICATE', { seen: (source: string, id: string) => source === 'cn.loulan.switch' && id === 'm-1' }],
  ] as const)('%s: %j', (reason, change) => {
    const result = verifyWebhook({ header, body, secrets: SECRET, now: NOW, ...change });
    expect(result).toMatchObject({ ok: false, reason });
  });

  it('a body signed correctly but not an envelope is BODY_MALFORMED', () => {
    for (const text of ['not json', '[1,2]', '{"id":"m-1"}', '{"id":"","source":"a"}', '{"id":1,"source":"a"}']) {
      const signed = signWebhook({ secrets: [SECRET], timestamp: T, body: text });
      expect(verifyWebhook({ header: signed, body: text, secrets: SECRET, now: NOW })).toMatchObject({ ok: false, reason: 'BODY_MALFORMED' });
    }
    const notUtf8 = Uint8Array.of(0x7b, 0xff, 0x7d);
    expect(verifyWebhook({ header: signWebhook({ secrets: [SECRET], timestamp: T, body: notUtf8 }), body: notUtf8, secrets: SECRET, now: NOW })).toMatchObject({ reason: 'BODY_MALFORMED' });
  });

  it('a seen set of other messages lets this one through; the window edge is inside', () => {
    expect(verifyWebhook({ header, body, secrets: SECRET, now: NOW + 300_999, seen: new Set(['cn.loulan.switch/m-2']) }).ok).toBe(true);
    expect(verifyWebhook({ header, body, secrets: SECRET, now: NOW - 300_000 }).ok).toBe(true);
  });

  it('during a rotation either side may change first', () => {
    const both = signWebhook({ secrets: ['whsec_new_0123456789abcdef', SECRET], timestamp: T, body });
    expect(verifyWebhook({ header: both, body, secrets: SECRET, now: NOW }).ok).toBe(true);
    expect(verifyWebhook({ header: both, body, secrets: 'whsec_new_0123456789abcdef', now: NOW }).ok).toBe(true);
    expect(verifyWebhook({ header, body, secrets: ['whsec_new_0123456789abcdef', SECRET], now: NOW }).ok).toBe(true);
  });

  it('ignores schemes it does not know, but needs a v1', () => {
    expect(verifyWebhook({ header: `v0=abc,${header},v2=zz`, body, secrets: SECRET, now: NOW }).ok).toBe(true);
    expect(verifyWebhook({ header: `t=${T},v2=${'a'.repeat(64)}`, body, secrets: SECRET, now: NOW })).toMatchObject({ reason: 'HEADER_MALFORMED' });
  });

  it('a verifier without a secret is a configuration error, not a rejection', () => {
    for (const secrets of [[], '', ['']]) {
      let error: LoulanError | undefined;
      try {
        verifyWebhook({ header, body, secrets, now: NOW });
      } catch (e) {
        error = e as LoulanError;
      }
      expect(error?.code).toBe('CONFIG_INVALID');
    }
  });

  it('property: what is signed verifies, and any changed byte of the body does not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.string({ minLength: 1 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, secret, at, bit) => {
        const envelope = new TextEncoder().encode(JSON.stringify({ id: 'x', source: 'y', data: Buffer.from(bytes).toString('base64') }));
        const signed = signWebhook({ secrets: [secret], timestamp: T, body: envelope });
        expect(verifyWebhook({ header: signed, body: envelope, secrets: secret, now: NOW }).ok).toBe(true);
        const tampered = envelope.slice();
        const i = at % tampered.length;
        tampered[i] = (tampered[i] as number) ^ (1 << bit);
        expect(verifyWebhook({ header: signed, body: tampered, secrets: secret, now: NOW })).toMatchObject({ ok: false, reason: 'SIGNATURE_MISMATCH' });
      }),
    );
  });
});
