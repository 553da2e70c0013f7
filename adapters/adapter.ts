/**
 * The one small interface every adapter kind implements (DESIGN §6): deliver a message, watch the
 * outside system from a checkpoint, report health. The switch owns retries, ordering, deadlines and
 * the dead-letter queue; an adapter makes one attempt and classifies its outcome, so every kind gets
 * the same delivery guarantees without reimplementing them.
 *
 * Exactly-once in effect rests on the destination: the switch may deliver a message again after a
 * crash between an attempt and its recorded outcome, so an adapter passes the message `id` (and
 * `source`) to the destination as its idempotency key, and a destination counts each id once.
 */
import type { Envelope } from '../schemas/index.ts';

/** A link's target as the routing table names it: `kind` plus that kind's settings (route.change `$defs/adapterTarget`). */
export interface AdapterTarget {
  readonly kind: string;
  readonly endpoint: string;
  readonly [setting: string]: unknown;
}

export interface DeliveryRequest {
  readonly envelope: Envelope;
  /** SHA-256 (hex) of the envelope's signing input. */
  readonly digest: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The message deadline (Unix ms): an attempt must not outlive it. */
  readonly deadline: number;
  /** Aborted when the switch gives up on the attempt (deadline, shutdown). */
  readonly signal: AbortSignal;
}

export type DeliveryOutcome =
  | {
      readonly ok: true;
      /** Adapter-specific evidence kept as the delivery receipt (HTTP status, tx hash, height...). */
      readonly evidence?: Readonly<Record<string, unknown>>;
    }
  | {
      readonly ok: false;
      /** False when the destination refused the message for good: no retry, straight to the DLQ. */
      readonly retryable: boolean;
      /** An ERROR_CODES key: DELIVER_FAILED, DELIVER_REJECTED, or a more precise one. */
      readonly code: string;
      readonly message: string;
      /** The destination asked to wait this long before the next attempt (HTTP Retry-After). */
      readonly retryAfterMs?: number;
    };

/** Something an outside system did, as a watcher reports it. */
export interface WatchedEvent {
  /** Where the watcher is after this event; persisted by the caller and handed back to resume. */
  readonly checkpoint: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface AdapterHealth {
  readonly state: 'up' | 'degraded' | 'down';
  readonly detail?: string;
}

export interface Adapter {
  readonly kind: string;
  /** One delivery attempt. Never throws: every failure is an outcome with a code. */
  deliver(request: DeliveryRequest): Promise<DeliveryOutcome>;
  /**
   * Reports the outside system's events after `checkpoint` (undefined: from now), in order, until the
   * returned function is called. Kinds that have nothing to watch omit it.
   */
  watch?(checkpoint: string | undefined, onEvent: (event: WatchedEvent) => Promise<void>): () => void;
  /**
   * Whether the destination answers at all, without delivering anything. The switch probes links it
   * sees down, so that a route that failed over learns when its primary is back even though no
   * traffic goes there. Kinds that cannot probe omit it (their links recover on the next attempt).
   */
  probe?(signal: AbortSignal): Promise<boolean>;
  /** The adapter's own view of its destination (the switch also measures every attempt). */
  health(): AdapterHealth;
  close(): Promise<void>;
}

/** Builds an adapter for one target; the switch keeps one instance per distinct target. */
export type AdapterFactory = (target: AdapterTarget) => Adapter;
