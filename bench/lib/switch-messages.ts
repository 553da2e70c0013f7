/**
 * The messages the switch benchmark sends, built (and signed) before any clock starts: signing is
 * the sender's cost, not the switch's.
 *
 * Every message is a `points.exchange.request` from one sender, spread round-robin over `channels`
 * destinations below `to` (`<to>.c0`, `<to>.c1`, ...), each channel with its own `seq` counting up
 * from 1. Messages are sent in the order built, so with many connections in flight a channel sees
 * its sequence numbers only slightly out of order, well inside the switch's replay window. Each
 * load phase names its own `to` and id prefix: channels and ids never repeat across phases, so no
 * phase is answered from an earlier one's replay or idempotency state.
 *
 * Batches carry one signature over the Merkle root of their messages (`batchRoot`, the same rule
 * intake checks) and no per-message `sig`.
 */
import { createSigner, sign, signEnvelope, toBase64url, type Alg, type Signer } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import { batchRoot, batchSigningInput } from '../../switch/intake.ts';
import { pointsOrder } from '../../switch/testkit.ts';

/** A sender as a consortium's participant key file describes it. */
export interface BenchSender {
  readonly id: string;
  readonly alg: Alg;
  readonly kid: string;
  /** Hex. */
  readonly privateKey: string;
}

export interface MessagePlan {
  readonly sender: BenchSender;
  /** Destination prefix; channel `k` is `<to>.c<k>`. */
  readonly to: string;
  readonly channels: number;
  /** Message ids are `<idPrefix>-<n>`. */
  readonly idPrefix: string;
  /** `time` of every message; `expiresAt` is an hour later. Default now. */
  readonly now?: number;
}

/** The unsigned envelope number `n` (from 0) of `plan`. */
export function benchEnvelope(plan: MessagePlan, n: number, now: number): Envelope {
  const channel = n % plan.channels;
  const seq = Math.floor(n / plan.channels) + 1;
  return pointsOrder(plan.sender.id, `${plan.to}.c${channel}`, seq, { id: `${plan.idPrefix}-${n}` }, now);
}

function signerOf(sender: BenchSender): Signer {
  return createSigner(sender.alg, Uint8Array.from(Buffer.from(sender.privateKey, 'hex')), { kid: sender.kid });
}

/** `count` JSON bodies, each one envelope signed by the sender, for `POST /v1/messages`. */
export async function singleBodies(plan: MessagePlan, count: number): Promise<string[]> {
  const signer = signerOf(plan.sender);
  const now = plan.now ?? Date.now();
  const out: string[] = new Array(count);
  for (let n = 0; n < count; n++) out[n] = JSON.stringify(await signEnvelope(benchEnvelope(plan, n, now) as never, signer));
  return out;
}

/**
 * `Math.ceil(total / size)` JSON bodies `{messages, sig}`, each a batch of up to `size` unsigned
 * envelopes under one signature over their batch root.
 */
export function batchBodies(plan: MessagePlan, total: number, size: number): string[] {
  const key = Uint8Array.from(Buffer.from(plan.sender.privateKey, 'hex'));
  const now = plan.now ?? Date.now();
  const out: string[] = [];
  for (let first = 0; first < total; first += size) {
    const messages: Envelope[] = [];
    for (let n = first; n < Math.min(total, first + size); n++) messages.push(benchEnvelope(plan, n, now));
    const value = toBase64url(sign(plan.sender.alg, key, batchSigningInput(batchRoot(messages))));
    out.push(JSON.stringify({ messages, sig: { alg: plan.sender.alg, kid: plan.sender.kid, value } }));
  }
  return out;
}
