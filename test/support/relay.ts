/** Sends a `decision.execute` message as the consortium's relayer (the switch's participant) and waits for its final state. */
import { expect } from 'vitest';
import type { Envelope } from '../../schemas/index.ts';
import type { MessageRecord } from '../../switch/model.ts';
import type { TestConsortium } from './consortium.ts';
import { until } from './ports.ts';

export async function relayDecision(net: TestConsortium, message: { readonly id: string; readonly to: string; readonly seq: number; readonly data: unknown }): Promise<MessageRecord> {
  const now = Date.now();
  const relayer = net.layout.switchParticipant; // roles operator and relayer
  const envelope = await net.sign(relayer, {
    id: message.id,
    type: 'decision.execute',
    source: relayer.id,
    to: message.to,
    seq: String(message.seq),
    time: new Date(now).toISOString(),
    expiresAt: new Date(now + 600_000).toISOString(),
    data: message.data,
  } as unknown as Envelope);
  const accepted = await net.submit(envelope);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return until(`${message.id} to be delivered or dead`, 60_000, async () => {
    const record = (await (await fetch(`${net.switchUrl}/v1/messages/${message.id}?source=${relayer.id}`)).json()) as MessageRecord;
    return record.status === 'delivered' || record.status === 'dead' ? record : undefined;
  });
}
