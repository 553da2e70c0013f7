import { describe, expect, it } from 'vitest';
import { OTHER_LABEL, SwitchMetrics } from './metrics.ts';

async function text(metrics: SwitchMetrics): Promise<string> {
  return (await metrics.metrics()).body;
}

function line(name: string, labels: Record<string, string>, value: number): RegExp {
  const inner = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`)
    .join(',');
  return new RegExp(`^${name}${inner === '' ? '' : `\\{${inner}\\}`} ${value}$`, 'm');
}

describe('SwitchMetrics', () => {
  it('counts what intake and delivery report, with bounded labels', async () => {
    const metrics = new SwitchMetrics();
    metrics.accepted('points.exchange.request');
    metrics.accepted('points.exchange.request', 4);
    metrics.rejected('INTAKE_SEQ_REPLAY');
    metrics.rejected('not a registry code');
    metrics.delivered('cn.loulan.partner', 'airline-rest', 42);
    metrics.delivered('', 'fallback', 5000);
    metrics.failed('cn.loulan.partner', 'airline-rest', 'DELIVER_FAILED');
    metrics.dead('DELIVER_ATTEMPTS_EXHAUSTED');
    metrics.expired();
    metrics.stuck();
    metrics.stuck();
    metrics.intake(3);
    metrics.storeBatch(120, 2);
    metrics.queue('airline-rest', 17, 2500);
    const body = await text(metrics);
    expect(body).toMatch(line('loulan_switch_accepted_total', { type: 'points.exchange.request' }, 5));
    expect(body).toMatch(line('loulan_switch_rejected_total', { code: 'INTAKE_SEQ_REPLAY' }, 1));
    expect(body).toMatch(line('loulan_switch_rejected_total', { code: 'OTHER' }, 1));
    expect(body).toMatch(line('loulan_switch_delivered_total', { route: 'cn.loulan.partner', link: 'airline-rest' }, 1));
    expect(body).toMatch(line('loulan_switch_delivered_total', { route: '_', link: 'fallback' }, 1));
    expect(body).toMatch(line('loulan_switch_delivery_seconds_bucket', { le: '0.05', route: 'cn.loulan.partner', link: 'airline-rest' }, 1));
    expect(body).toMatch(line('loulan_switch_delivery_seconds_bucket', { le: '2.5', route: '_', link: 'fallback' }, 0));
    expect(body).toMatch(line('loulan_switch_delivery_seconds_bucket', { le: '5', route: '_', link: 'fallback' }, 1));
    expect(body).toMatch(line('loulan_switch_delivery_failures_total', { route: 'cn.loulan.partner', link: 'airline-rest', code: 'DELIVER_FAILED' }, 1));
    expect(body).toMatch(line('loulan_switch_dead_total', { code: 'DELIVER_ATTEMPTS_EXHAUSTED' }, 1));
    expect(body).toMatch(line('loulan_switch_expired_total', {}, 1));
    expect(body).toMatch(line('loulan_switch_stuck_total', {}, 2));
    expect(body).toMatch(line('loulan_switch_intake_seconds_bucket', { le: '0.005' }, 1));
    expect(body).toMatch(line('loulan_switch_intake_seconds_bucket', { le: '0.002' }, 0));
    expect(body).toMatch(line('loulan_switch_store_batch_writes_bucket', { le: '200' }, 1));
    expect(body).toMatch(line('loulan_switch_store_batch_writes_bucket', { le: '100' }, 0));
    expect(body).toMatch(line('loulan_switch_store_batch_seconds_count', {}, 1));
    expect(body).toMatch(line('loulan_switch_queue_depth', { link: 'airline-rest' }, 17));
    expect(body).toMatch(line('loulan_switch_queue_oldest_seconds', { link: 'airline-rest' }, 2.5));
    expect((await metrics.metrics()).contentType).toBe(metrics.registry.contentType);
  });

  it('folds label values past the cap into _other', async () => {
    const metrics = new SwitchMetrics({ maxLabelValues: 2 });
    for (const route of ['cn.a', 'cn.b', 'cn.c', 'cn.d', 'cn.a']) metrics.delivered(route, 'l1', 1);
    for (const type of ['t.a', 't.b', 't.c']) metrics.accepted(type);
    const body = await text(metrics);
    expect(body).toMatch(line('loulan_switch_delivered_total', { route: 'cn.a', link: 'l1' }, 2));
    expect(body).toMatch(line('loulan_switch_delivered_total', { route: 'cn.b', link: 'l1' }, 1));
    expect(body).toMatch(line('loulan_switch_delivered_total', { route: OTHER_LABEL, link: 'l1' }, 2));
    expect(body).not.toContain('cn.c');
    expect(body).toMatch(line('loulan_switch_accepted_total', { type: OTHER_LABEL }, 1));
  });

  it('drops the queue series of a forgotten link', async () => {
    const metrics = new SwitchMetrics();
    metrics.queue('old-link', 3, 100);
    metrics.queue('new-link', 1, 10);
    metrics.forgetLink('old-link');
    const body = await text(metrics);
    expect(body).not.toContain('old-link');
    expect(body).toMatch(line('loulan_switch_queue_depth', { link: 'new-link' }, 1));
  });

  it('keeps one registry per switch, with its default labels', async () => {
    const one = new SwitchMetrics({ labels: { switch: 'sw1' } });
    const two = new SwitchMetrics({ labels: { switch: 'sw2' } });
    one.expired();
    expect(await text(one)).toMatch(line('loulan_switch_expired_total', { switch: 'sw1' }, 1));
    expect(await text(two)).toMatch(line('loulan_switch_expired_total', { switch: 'sw2' }, 0));
    expect(await text(one)).not.toContain('process_cpu');
    expect(() => new SwitchMetrics({ maxLabelValues: 0 })).toThrow(RangeError);
  });
});
