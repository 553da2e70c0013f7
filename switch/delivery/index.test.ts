import { describe, expect, it } from 'vitest';
import * as delivery from './index.ts';

describe('switch/delivery public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(delivery).sort()).toEqual(['DEFAULT_BREAKER', 'REAL_TIMER', 'backoffDelay', 'createDeliveryEngine', 'linkId', 'resolvedRoute']);
  });

  it('names a target by the first 16 hex digits of SHA-256 over its canonical JSON, whatever the key order', () => {
    const a = delivery.linkId({ kind: 'loopback', endpoint: 'memory://a' });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(delivery.linkId({ endpoint: 'memory://a', kind: 'loopback' })).toBe(a);
    expect(delivery.linkId({ kind: 'loopback', endpoint: 'memory://b' })).not.toBe(a);
    const route = delivery.resolvedRoute('cn.x', {
      adapter: { kind: 'loopback', endpoint: 'memory://a' },
      ordered: false,
      retry: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1 },
      alternates: [{ kind: 'loopback', endpoint: 'memory://b' }],
    });
    expect(route.primary.id).toBe(a);
    expect(route.alternates.map((t) => t.target.endpoint)).toEqual(['memory://b']);
  });

  it('refuses option values that make no sense, naming the field', () => {
    try {
      delivery.createDeliveryEngine({ store: {} as never, resolve: () => undefined, adapterFor: () => ({}) as never, stuckAfterMs: 0 });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'stuckAfterMs' } });
    }
  });
});
