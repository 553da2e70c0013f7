/**
 * The switch's durability promise under the worst it should survive: kill -9 during load, again and
 * again, with a destination that fails a fifth of deliveries at random and now and then asks it to
 * back off (429 + Retry-After). Senders resend whatever got no answer (the same envelope, so a resend
 * of something already accepted is a duplicate), as a real sender would.
 *
 * Afterwards, with the destination healthy: every message the switch acknowledged (any 2xx) took effect
 * at the sink, each exactly once in its durable effects file, and the switch reports each as
 * `delivered`. The sink runs in its own process and is never killed, so its file is the ground truth.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Envelope } from '../../schemas/index.ts';
import type { MessageRecord } from '../../switch/model.ts';
import { startConsortium, type TestConsortium } from '../support/consortium.ts';
import { until } from '../support/ports.ts';

const MESSAGES = 300;
const SENDERS = 8;
const KILLS = 5;
const FAIL_RATE = 0.2;
const TO = 'cn.loulan.partner.crash';

let c: TestConsortium;

beforeAll(async () => {
  c = await startConsortium();
}, 90_000);

afterAll(async () => {
  await c?.stop();
});

interface Load {
  /** `source/id` of every message that got a 2xx from intake. */
  readonly acknowledged: Set<string>;
  /** Answers that are neither a 2xx nor the switch being away (a 4xx here is a bug). */
  readonly refused: string[];
  readonly done: Promise<void>;
}

/** Restarting when the switch is being killed and started again; senders wait on it instead of polling. */
let restarting: Promise<void> = Promise.resolve();

function load(envelopes: readonly Envelope[]): Load {
  const acknowledged = new Set<string>();
  const refused: string[] = [];
  let next = 0;
  const sender = async (): Promise<void> => {
    for (let i = next++; i < envelopes.length; i = next++) {
      const envelope = envelopes[i]!;
      for (;;) {
        let status = 0;
        let body: Record<string, unknown> = {};
        try {
          ({ status, body } = await c.submit(envelope));
        } catch {
          // The switch died mid-request (or is not listening yet): resend once it is back.
        }
        if (status >= 200 && status < 300) {
          acknowledged.add(`${envelope.source}/${envelope.id}`);
          break;
        }
        if (status >= 400 && status < 500) {
          refused.push(`${envelope.id}: ${status} ${String(body['code'])}`);
          break;
        }
        await restarting;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  return { acknowledged, refused, done: Promise.all(Array.from({ length: SENDERS }, sender)).then(() => undefined) };
}

describe('switch crash safety', () => {
  test(`kill -9 ${KILLS} times under load with a flaky destination: every acknowledged message is delivered, none twice in effect`, async () => {
    const started = Date.now();
    const envelopes = await Promise.all(Array.from({ length: MESSAGES }, (_, i) => c.request({ id: `crash-${i}`, to: TO, seq: i + 1 })));
    await c.sink.control({ failRate: FAIL_RATE });

    const run = load(envelopes);
    const restarts: number[] = [];
    /** Acknowledged messages not yet in effect when each kill came: the kills must hit work in flight. */
    const backlogs: number[] = [];
    for (let k = 1; k <= KILLS; k++) {
      // Spread the kills over the run (after each sixth of the messages is acknowledged), each while
      // acknowledged messages are still on their way.
      const threshold = (k * MESSAGES) / (KILLS + 1);
      const backlog = await until(`${threshold} acknowledged, some not yet in effect`, 30_000, async () => {
        if (run.acknowledged.size < threshold) return undefined;
        const n = run.acknowledged.size - (await c.sink.effects()).size;
        return n > 0 ? n : undefined;
      });
      backlogs.push(backlog);
      await c.sink.control({ retryAfterNext: 3, retryAfter: '1' });
      const t0 = Date.now();
      restarting = (async () => {
        await c.switchProcess.kill();
        await c.startSwitch();
      })();
      await restarting;
      restarts.push(Date.now() - t0);
    }
    await run.done;
    expect(run.refused).toEqual([]);
    expect(run.acknowledged.size).toBe(MESSAGES);

    await c.sink.control({ reset: true });
    const effects = await until('every acknowledged message to take effect', 60_000, async () => {
      const e = await c.sink.effects();
      return [...run.acknowledged].every((key) => e.has(key)) ? e : undefined;
    });
    const lines = c.sink.effectLines();
    for (const key of run.acknowledged) expect(lines.get(key), key).toBe(1);
    const sent = new Set(envelopes.map((e) => `${e.source}/${e.id}`));
    for (const key of effects.keys()) expect(sent.has(key), key).toBe(true);
    expect([...lines.values()].every((n) => n === 1)).toBe(true);

    // The switch agrees: each is delivered (its last state write may trail the sink's answer briefly).
    for (const envelope of envelopes) {
      const r = await until(`${envelope.id} delivered`, 15_000, async () => {
        const res = await fetch(`${c.switchUrl}/v1/messages/${envelope.id}`);
        const record = (await res.json()) as MessageRecord;
        return record.status === 'delivered' ? record : undefined;
      });
      expect(r.history.filter((h) => h.status === 'delivered')).toHaveLength(1);
    }
    const received = [...effects.values()].reduce((n, e) => n + e.received, 0);
    console.info(
      `crash: ${MESSAGES} messages, ${KILLS} kills (backlog at each: ${backlogs.join(', ')}; restart ms: ${restarts.join(', ')}), ` +
        `${received} deliveries received for ${effects.size} effects, ${Date.now() - started} ms`,
    );
  }, 120_000);
});
