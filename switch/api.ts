/**
 * What the switch's HTTP and WebSocket server needs from the running switch. The server (http.ts) is
 * a thin shell over this interface, so it can be tested in-process with `inject()` against a fake,
 * and the switch can be driven without HTTP in tests and benchmarks.
 *
 * Every method throws `LoulanError` for anything the caller did wrong or cannot have; the server turns
 * it into an RFC 9457 problem document.
 */
import type { IntakeResult, MessageRecord, StatusEvent } from './model.ts';

/** One item of a batch answer: accepted (possibly as a duplicate) or refused with a problem. */
export type BatchItemResult = IntakeResult | { readonly id: string | null; readonly index: number; readonly problem: Readonly<Record<string, unknown>> };

export interface RouteView {
  readonly prefix: string;
  /** The link as the routing table holds it (route.change `$defs/link`). */
  readonly link: Readonly<Record<string, unknown>>;
  /** Version, change id, height and block time of the change that set it (who/when/approvals are on chain). */
  readonly version: string;
  readonly changeId: string;
  readonly height: string;
  readonly time: string;
  /** Live health: the link in use now (the primary, or an alternate after fail-over) and each link's state. */
  readonly health?: {
    readonly active: string;
    readonly links: ReadonlyArray<{ readonly link: string; readonly role: 'primary' | 'alternate'; readonly state: 'up' | 'degraded' | 'down' }>;
  };
}

export interface LinkHealthView {
  readonly link: string;
  readonly target: Readonly<Record<string, unknown>>;
  readonly state: 'up' | 'degraded' | 'down';
  readonly queueDepth: number;
  readonly oldestAgeMs: number;
  readonly successRate: number | null;
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | null;
  readonly breaker: 'closed' | 'open' | 'half-open';
}

export interface RouteExplanation {
  readonly address: string;
  /** The entry that matched, or null (then `ROUTE_NOT_FOUND` would be the delivery outcome). */
  readonly matched: RouteView | null;
  /** Every prefix of the address from longest to shortest, and whether the table has an entry for it. */
  readonly candidates: ReadonlyArray<{ readonly prefix: string; readonly hasEntry: boolean }>;
  readonly why: string;
  /** The link in use now (primary or an alternate after fail-over) and why. */
  readonly active: { readonly link: string; readonly reason: string; readonly since: number } | null;
  readonly primary: LinkHealthView | null;
  readonly alternates: readonly LinkHealthView[];
}

export interface ChangeSubmitted {
  /** The governed change on the core chain, and whether it already took effect (enough approvals). */
  readonly changeId: string;
  readonly applied: boolean;
  readonly txHash: string;
  readonly height: string;
}

/** An ordered channel held because the `seq` it needs next has not arrived. */
export interface ChannelGapView {
  readonly source: string;
  readonly to: string;
  /** The missing `seq` (decimal string). */
  readonly expectedSeq: string;
  /** Messages on the channel waiting behind the gap. */
  readonly waiting: number;
  /** When the channel started waiting for `expectedSeq` (Unix ms). */
  readonly since: number;
}

export interface SwitchHealth {
  readonly status: 'up' | 'degraded' | 'down';
  readonly switchId: string;
  readonly core: { readonly connected: boolean; readonly height: string | null; readonly endpoint: string | null };
  readonly store: { readonly lastCursor: number };
  readonly routes: number;
  readonly links: readonly LinkHealthView[];
  /** Ordered channels held by a missing `seq`. */
  readonly gaps: readonly ChannelGapView[];
  readonly stuck: number;
  readonly dlq: number;
}

export interface SwitchApi {
  /** `POST /v1/messages` with one envelope: throws the first failed check, in the documented order. */
  submit(envelope: unknown): Promise<IntakeResult>;
  /** `POST /v1/messages` with `{messages, sig?}`: the batch as a whole may throw (malformed, bad batch sig). */
  submitBatch(batch: unknown): Promise<BatchItemResult[]>;
  /** `GET /v1/messages/:id` (`source` narrows when two senders used one id; else MESSAGE_NOT_FOUND or the only match). */
  message(id: string, source?: string): Promise<MessageRecord>;
  /** `GET /v1/messages/:id/proof`: the anchoring proof (`AnchorProofJson`s for acceptance and delivery). */
  proof(id: string, source?: string): Promise<Readonly<Record<string, unknown>>>;
  /** Events with cursor > `after`, for `/v1/stream` replay. */
  eventsAfter(after: number, limit: number): Promise<StatusEvent[]>;
  /** Live events once durable; returns an unsubscribe function. */
  onEvents(listener: (events: readonly StatusEvent[]) => void): () => void;
  readonly lastCursor: number;

  routes(): RouteView[];
  explain(address: string): RouteExplanation;
  /** `PUT /v1/routes/:prefix`: validates the link and submits the governed change. */
  setRoute(prefix: string, link: unknown, reason: string | undefined): Promise<ChangeSubmitted>;
  removeRoute(prefix: string, reason: string | undefined): Promise<ChangeSubmitted>;

  deadLetters(after: number, limit: number): Promise<MessageRecord[]>;
  /** `POST /v1/dlq/:id/replay`: back to the queue with a fresh attempt budget. */
  replay(id: string, source?: string): Promise<MessageRecord>;

  /** `POST /v1/gaps/skip`: gives up on the missing `seq`s holding an ordered channel; returns them. */
  skipGap(source: string, to: string): Promise<bigint[]>;

  /** Messages waiting for an operator's decision. */
  approvals(): Promise<MessageRecord[]>;
  decide(id: string, source: string | undefined, approve: boolean, operator: string): Promise<MessageRecord>;

  health(): SwitchHealth;
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
}
