import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, outcomeOfError, outcomeOfStatus, parseRetryAfter } from './http.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3)', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Sunday, 01-Jun-25 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', NOW)).toBe(0);
  });

  it('ignores what is absent or unreadable, and caps what is absurd', () => {
    for (const bad of [undefined, null, '', '-5', '1.5', 'soon', '2025-06-01T12:00:30Z', 'Sun, 99 Foo 2025 12:00:30 GMT']) {
      expect(parseRetryAfter(bad, NOW), String(bad)).toBeUndefined();
    }
    expect(parseRetryAfter('99999999999', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('outcomeOfStatus', () => {
  it('classifies 2xx as delivered, 408/429/5xx as retryable, any other status as refused', () => {
    expect(outcomeOfStatus(204, null, NOW)).toEqual({ ok: true, evidence: { status: 204 } });
    for (const status of [408, 429, 500, 502, 503, 599]) {
      expect(outcomeOfStatus(status, null, NOW), String(status)).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED' });
    }
    for (const status of [301, 302, 400, 401, 403, 404, 409, 410, 422]) {
      expect(outcomeOfStatus(status, '5', NOW), String(status)).toEqual({ ok: false, retryable: false, code: 'DELIVER_REJECTED', message: expect.any(String) });
    }
  });

  it('carries Retry-After on retryable answers', () => {
    expect(outcomeOfStatus(429, '7', NOW)).toMatchObject({ retryable: true, retryAfterMs: 7000 });
    expect(outcomeOfStatus(503, 'Sun, 01 Jun 2025 12:00:02 GMT', NOW)).toMatchObject({ retryAfterMs: 2000 });
    expect(outcomeOfStatus(503, null, NOW)).not.toHaveProperty('retryAfterMs');
  });
});

describe('outcomeOfError', () => {
  it('makes every unanswered attempt retryable, naming the network error', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(outcomeOfError(refused, false)).toMatchObject({ ok: false, retryable: true, code: 'DELIVER_FAILED', message: expect.stringContaining('ECONNREFUSED') });
    expect(outcomeOfError(new DOMException('t', 'TimeoutError'), false)).toMatchObject({ retryable: true, message: expect.stringContaining('in time') });
    expect(outcomeOfError(new Error('x'), true)).toMatchObject({ retryable: true, message: expect.stringContaining('aborted') });
  });
});
