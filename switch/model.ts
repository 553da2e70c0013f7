/**
 * The switch's vocabulary: a message's life as the store records it, and the events the stream
 * pushes. Kept in one small module so that intake, delivery, the store, the HTTP API and the CLI all
 * speak of the same states with the same names.
 *
 * A message is identified by (`source`, `id`): ids are chosen by senders, so two senders may pick
 * the same one. Its life:
 *
 *   accepted ──► queued ──► delivered                       (terminal)
 *       │          │  ▲
 *       │          ▼  │ retry (backoff, Retry-After, breaker)
 *       │        retrying ──► dead  (DLQ: rejected, attempts exhausted, no route)  ──replay──► queued
 *       │          │
 *       ▼          ▼
 *     held       waiting (ordered channel: an earlier seq is missing)
 *   (approval     │
 *    or delay)    └──────────► expired (deadline passed; the sender is told)      (terminal)
 *
 * `accepted` is what intake writes; it becomes `queued` once the delivery engine has routed it (or
 * `held` when a value rule asks for an operator's approval). Every change is written before it is
 * acted on and appended to the event log that `/v1/stream` replays from a cursor.
 */
import type { Envelope } from '../schemas/index.ts';

export type MessageStatus = 'accepted' | 'held' | 'queued' | 'waiting' | 'retrying' | 'delivered' | 'dead' | 'expired';

export const TERMINAL_STATUSES: ReadonlySet<MessageStatus> = new Set(['delivered', 'dead', 'expired']);

/** Evidence that a message is covered by a batch signature instead of its own `sig`. */
export interface BatchSignature {
  /** The batch's RFC 6962 root over the messages' signing-input hashes (hex). */
  readonly root: string;
  readonly index: number;
  readonly size: number;
  /** Inclusion path from this message's leaf to `root` (hex). */
  readonly path: readonly string[];
  /** The signature over the batch root, as the envelope `sig` would be. */
  readonly sig: { readonly alg: string; readonly kid: string; readonly value: string };
}

/** One line of a message's history. */
export interface HistoryEntry {
  /** Unix ms, from the switch's clock. */
  readonly at: number;
  readonly status: MessageStatus;
  /** Delivery attempt number this entry concerns, if any. */
  readonly attempt?: number;
  /** The link (adapter target id) the entry concerns, if any. */
  readonly link?: string;
  /** Error or reason code (an ERROR_CODES key) when the change is a failure, hold or expiry. */
  readonly code?: string;
  readonly detail?: string;
}

/** The delivery receipt an adapter returns for a successful delivery. */
export interface DeliveryReceipt {
  readonly link: string;
  readonly at: number;
  /** Adapter-specific evidence (HTTP status, transaction hash, block height...), JSON-ready. */
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/** What the store keeps per message. JSON-ready (numbers are ms or counts, never money). */
export interface MessageRecord {
  readonly source: string;
  readonly id: string;
  /** The envelope as received (with `sig`, or without it when batch-signed). */
  readonly envelope: Envelope;
  /** SHA-256 (hex) of the envelope's signing input: what the sender signed, what anchoring commits. */
  readonly digest: string;
  readonly batch?: BatchSignature;
  readonly acceptedAt: number;
  /** `expiresAt` as Unix ms. */
  readonly deadline: number;
  /** Position in the switch's acceptance order; drives FIFO delivery and the anchoring leaf order. */
  readonly order: number;
  status: MessageStatus;
  attempts: number;
  /** When the next attempt is due (Unix ms), while `retrying`. */
  nextAttemptAt?: number;
  /** The routing entry and link the message was last routed through. */
  route?: { readonly prefix: string; readonly link: string };
  lastError?: { readonly code: string; readonly message: string };
  receipt?: DeliveryReceipt;
  /** Anchoring leaf numbers, once assigned: acceptance and delivery. */
  anchors?: { accepted?: number; delivered?: number };
  /** Why the message was held for approval and until when (a configured delay), if held. */
  hold?: { readonly reason: string; readonly until?: number };
  /** The most recent history entries (oldest first, at most `HISTORY_LIMIT`); `historyCount` counts all. */
  history: HistoryEntry[];
  historyCount: number;
}

export const HISTORY_LIMIT = 64;

/** What `/v1/stream` pushes and the event log stores: one status change of one message. */
export interface StatusEvent {
  /** Position in the switch's event log: strictly increasing, never reused; resume with `?cursor=`. */
  readonly cursor: number;
  readonly source: string;
  readonly id: string;
  readonly to: string;
  readonly status: MessageStatus;
  readonly at: number;
  readonly attempt?: number;
  readonly link?: string;
  readonly code?: string;
  readonly detail?: string;
}

/** The answer intake gives for one message; the same again for a resend of the same message. */
export interface IntakeResult {
  readonly id: string;
  readonly source: string;
  readonly status: 'accepted';
  readonly acceptedAt: string;
  readonly digest: string;
  /** True when this is a resend of a message accepted before; the rest is the original answer. */
  readonly duplicate: boolean;
}

/** Key that names a message in maps and store keys: `source` and `id` cannot contain a NUL. */
export function messageKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}

/** The channel a message travels on: (`source`, `to`). */
export function channelKey(source: string, to: string): string {
  return `${source}\u0000${to}`;
}
