/**
 * Intake: the checks every message passes before the switch accepts it, and the durable write that
 * accepting means.
 *
 * Checks run in a fixed order, cheapest and least trusting first, and the first failure is the
 * answer: (1) size and depth limits, (2) envelope and payload schema, in a version registered on the
 * core chain, (3) the signature, by a key registered to `source`, (4) the source's role for this
 * `type`, (5) the channel sequence (replay window), (6) the deadline, (7) value limits. Nothing is
 * written for a refused message: all state a check needs is read first, then everything a message
 * changes (record, channel window, limit window, event) goes into one group-committed batch.
 *
 * Idempotency: once the signature proves who sent it, a message whose (`source`, `id`) is already
 * known gets the original answer if its content (digest) is the same, and `INTAKE_ID_CONFLICT` if
 * not. A resend is answered only once the original is durable, so no answer ever acknowledges
 * something a crash could lose.
 *
 * Batches: `{messages: [...], sig?}`. With a batch `sig`, the sender signed the RFC 6962 root over
 * SHA-256(signing input) of every message, in order (`batchSigningInput`), so one signature covers
 * many messages; each message then carries no `sig` of its own, all must share one `source`, and
 * each stored message keeps its inclusion path as evidence. A bad batch signature refuses the whole
 * batch; any other failure refuses only its message. A batch is accepted in one write.
 */
import {
  envelopeSigningInput,
  fromBase64url,
  isLoulanError,
  LoulanError,
  sha256,
  toHex,
  verifyEnvelopeWithKey,
  verify,
  isAlg,
  asLoulanError,
  type Alg,
  type ResolvedKey,
  type Role,
} from '../core-chain/index.ts';
import { inclusionProofsFromLeafHashes, leafHash, merkleRootFromLeafHashes } from '../core-chain/crypto/merkle.ts';
import { checkLimits, DEFAULT_LIMITS, listSchemas, validateEnvelope, type Limits, type TypedEnvelope } from '../schemas/index.ts';
import type { BatchItemResult } from './api.ts';
import { ReplayWindow } from './channel.ts';
import { channelKey, messageKey, type BatchSignature, type IntakeResult, type MessageRecord } from './model.ts';
import type { SwitchStore } from './store.ts';
import { INLINE_VERIFIER, type SignatureVerifier } from './verify-pool.ts';

/** What intake needs to know about a participant, as the registry on the core chain says. */
export interface ParticipantView {
  readonly id: string;
  readonly active: boolean;
  readonly roles: readonly Role[];
  /** Active keys by key id (`<participant>#<address hex>`, see `keyIdOf`). */
  readonly keys: ReadonlyMap<string, ResolvedKey>;
}

/** The core chain's registry as the switch follows it. */
export interface Directory {
  participant(id: string): ParticipantView | undefined;
  /** True when the schema `$id` is registered on the core chain with this SHA-256 (hex). */
  schemaRegistered(schemaId: string, sha256: string): boolean;
}

/** What the value-limit rules say about a message that passed every other check. */
export type LimitDecision =
  | { readonly kind: 'accept' }
  | { readonly kind: 'hold'; readonly reason: string; readonly until?: number }
  /** Throws nothing itself: intake throws the error so that nothing is written. */
  | { readonly kind: 'refuse'; readonly error: LoulanError };

export interface ValueLimiter {
  /** Decides for one message; `commit` records its value in the windows (called only if it is written). */
  check(envelope: TypedEnvelope, now: number): { decision: LimitDecision; commit(): Array<{ name: string; value: unknown }> };
}

export interface IntakeOptions {
  readonly store: SwitchStore;
  readonly directory: Directory;
  readonly now?: () => number;
  readonly limits?: Limits;
  /** How far `time` may be ahead of the switch's clock, in ms. Default 5 minutes. */
  readonly maxClockSkewMs?: number;
  /** Largest batch, in messages. Default 10,000. */
  readonly maxBatch?: number;
  readonly limiter?: ValueLimiter;
  /**
   * Most messages being checked or written at once; beyond it intake answers INTAKE_OVERLOADED (503,
   * Retry-After) instead of queueing without bound. Default 20,000.
   */
  readonly maxInFlight?: number;
  /** Where message signatures are checked (a worker pool); inline by default. */
  readonly verifier?: SignatureVerifier;
  /** Called after messages are durable (the delivery engine takes them from here). */
  readonly onAccepted?: (records: readonly MessageRecord[]) => void;
  readonly onRejected?: (code: string) => void;
}

/** Which roles may send which message type (any one suffices). */
export const SENDER_ROLES: Readonly<Record<string, readonly Role[]>> = Object.freeze({
  'points.exchange.quote.request': ['program', 'shop'],
  'points.exchange.request': ['program', 'shop'],
  'points.accrual': ['shop'],
  'decision.execute': ['relayer'],
  'points.exchange.result': ['program'],
  'asset.transfer.request': ['shop', 'program', 'financier'],
  'receivable.lock.request': ['financier'],
  'receivable.lock.release': ['financier'],
  'route.change': ['operator'],
  'proof.bundle': ['relayer', 'notary'],
});

const RECENT_LIMIT = 65_536;

export const BATCH_DOMAIN = 'loulan-batch-v1\n';

/** The bytes a batch signature covers: the domain tag, then the 32-byte root. */
export function batchSigningInput(root: Uint8Array): Uint8Array {
  const tag = new TextEncoder().encode(BATCH_DOMAIN);
  const out = new Uint8Array(tag.length + root.length);
  out.set(tag);
  out.set(root, tag.length);
  return out;
}

/** The batch root over envelopes (each without `sig`): what a batch signer signs, via `batchSigningInput`. */
export function batchRoot(envelopes: readonly object[]): Uint8Array {
  return merkleRootFromLeafHashes(envelopes.map((e) => leafHash(sha256(envelopeSigningInput(e as Record<string, unknown>)))));
}

interface Checked {
  readonly envelope: TypedEnvelope;
  readonly digest: string;
  readonly batch?: BatchSignature;
}

interface Prepared extends Checked {
  readonly seq: bigint;
  readonly window: ReplayWindow;
  readonly deadline: number;
  readonly limit: { decision: LimitDecision; commit(): Array<{ name: string; value: unknown }> } | undefined;
}

const schemaByType = new Map<string, { id: string; sha256: string }>();

function schemaFor(type: string): { id: string; sha256: string } | undefined {
  if (schemaByType.size === 0) for (const doc of listSchemas()) if (doc.role === 'payload') schemaByType.set(doc.name, { id: doc.id, sha256: doc.sha256 });
  return schemaByType.get(type);
}

export class Intake {
  readonly #o: IntakeOptions;
  readonly #now: () => number;
  readonly #limits: Limits;
  readonly #skew: number;
  /** Channel windows in memory, loaded from the store on first use. */
  readonly #channels = new Map<string, ReplayWindow>();
  /** Messages reserved but not yet durable: a resend waits for the original's write. */
  readonly #inflight = new Map<string, { digest: string; durable: Promise<IntakeResult> }>();
  /**
   * Digests of the most recently accepted messages. A resend whose store lookup started before the
   * original was reserved and ended after it became durable finds it here.
   */
  readonly #recent = new Map<string, string>();

  readonly #verifier: SignatureVerifier;
  /** Messages being checked or written (see `maxInFlight`). */
  #load = 0;

  constructor(options: IntakeOptions) {
    this.#o = options;
    this.#verifier = options.verifier ?? INLINE_VERIFIER;
    this.#now = options.now ?? Date.now;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#skew = options.maxClockSkewMs ?? 5 * 60_000;
  }

  /** One envelope. Throws the first failed check as a `LoulanError`. */
  async submit(value: unknown): Promise<IntakeResult> {
    try {
      this.#admitLoad(1);
      try {
        const checked = await this.#checkSigned(value);
        const [result] = await this.#admit([checked]);
        if (result instanceof LoulanError) throw result;
        return result!;
      } finally {
        this.#load -= 1;
      }
    } catch (error) {
      const e = asLoulanError(error);
      this.#o.onRejected?.(e.code);
      throw e;
    }
  }

  /** Messages being checked or written now. */
  get inFlight(): number {
    return this.#load;
  }

  #admitLoad(n: number): void {
    const max = this.#o.maxInFlight ?? 20_000;
    if (this.#load + n > max && this.#load > 0) {
      throw new LoulanError('INTAKE_OVERLOADED', `the switch is checking and writing ${this.#load} messages; retry shortly`, { details: { inFlight: this.#load, max, retryAfterMs: 1000 } });
    }
    this.#load += n;
  }

  /** A batch: per-message results in order; throws only when the batch as a whole is refused. */
  async submitBatch(value: unknown): Promise<BatchItemResult[]> {
    const batch = readBatch(value, this.#o.maxBatch ?? 10_000);
    try {
      this.#admitLoad(batch.messages.length);
    } catch (error) {
      this.#o.onRejected?.((error as LoulanError).code);
      throw error;
    }
    try {
      return await this.#submitBatch(batch);
    } finally {
      this.#load -= batch.messages.length;
    }
  }

  async #submitBatch(batch: BatchBody): Promise<BatchItemResult[]> {
    const results: Array<BatchItemResult | undefined> = new Array(batch.messages.length);
    const fail = (index: number, error: unknown, message: unknown) => {
      const e = asLoulanError(error);
      this.#o.onRejected?.(e.code);
      const id = typeof (message as { id?: unknown })?.id === 'string' ? ((message as { id: string }).id) : null;
      results[index] = { id, index, problem: e.toProblem() };
    };
    const checked: Array<{ index: number; item: Checked }> = [];
    if (batch.sig === undefined) {
      const settled = await Promise.allSettled(batch.messages.map((m) => this.#checkSigned(m)));
      settled.forEach((r, index) => {
        if (r.status === 'fulfilled') checked.push({ index, item: r.value });
        else fail(index, r.reason, batch.messages[index]);
      });
    } else {
      const valid: Array<{ index: number; envelope: TypedEnvelope }> = [];
      batch.messages.forEach((m, index) => {
        try {
          if (typeof m === 'object' && m !== null && 'sig' in m) {
            throw new LoulanError('INTAKE_MALFORMED', 'a message in a batch-signed batch carries its own sig', { details: { pointer: `/messages/${index}/sig` } });
          }
          valid.push({ index, envelope: this.#checkShape(m) });
        } catch (error) {
          fail(index, error, m);
        }
      });
      // The root covers every message as sent, valid or not: the signer signed them all.
      const inputs = batch.messages.map((m, index) => {
        try {
          return sha256(envelopeSigningInput(m as Record<string, unknown>));
        } catch (cause) {
          throw new LoulanError('INTAKE_MALFORMED', 'a message in the batch has no canonical form', { details: { pointer: `/messages/${index}` }, cause });
        }
      });
      const leaves = inputs.map(leafHash);
      const root = merkleRootFromLeafHashes(leaves);
      const sources = new Set(valid.map((v) => v.envelope.source));
      if (sources.size > 1) throw new LoulanError('INTAKE_MALFORMED', 'a batch-signed batch must come from one source', { details: { pointer: '/messages' } });
      const source = [...sources][0] ?? readKid(batch.sig.kid)?.participant ?? '';
      const key = this.#resolveKey(source, batch.sig.kid, batch.sig.alg, '/sig');
      if (key.alg !== batch.sig.alg) throw new LoulanError('CRYPTO_BAD_KEY', `key ${batch.sig.kid} is ${key.alg}, signature says ${batch.sig.alg}`, { details: { pointer: '/sig/alg' } });
      let sigBytes: Uint8Array;
      try {
        sigBytes = fromBase64url(batch.sig.value);
      } catch (cause) {
        throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'sig.value is not base64url', { details: { pointer: '/sig/value' }, cause });
      }
      if (!verify(key.alg, key.publicKey, batchSigningInput(root), sigBytes)) {
        throw new LoulanError('CRYPTO_SIGNATURE_INVALID', 'the batch signature does not verify over the batch root', { details: { pointer: '/sig', root: toHex(root) } });
      }
      const rootHex = toHex(root);
      const paths = inclusionProofsFromLeafHashes(leaves);
      for (const { index, envelope } of valid) {
        try {
          this.#checkRole(envelope, this.#o.directory.participant(envelope.source)!);
          checked.push({
            index,
            item: {
              envelope,
              digest: toHex(inputs[index]!),
              batch: { root: rootHex, index, size: leaves.length, path: paths[index]!.map(toHex), sig: batch.sig },
            },
          });
        } catch (error) {
          fail(index, error, envelope);
        }
      }
    }
    const admitted = await this.#admit(checked.map((c) => c.item));
    admitted.forEach((r, k) => {
      const index = checked[k]!.index;
      if (r instanceof LoulanError) fail(index, r, checked[k]!.item.envelope);
      else results[index] = r;
    });
    return results as BatchItemResult[];
  }

  // -- checks 1-4 -------------------------------------------------------------------------------------

  /** Limits and schema (checks 1 and 2). */
  #checkShape(value: unknown): TypedEnvelope {
    checkLimits(value, this.#limits);
    const envelope = validateEnvelope(value);
    const schema = schemaFor(envelope.type);
    if (schema === undefined || !this.#o.directory.schemaRegistered(schema.id, schema.sha256)) {
      throw new LoulanError('INTAKE_SCHEMA_NOT_REGISTERED', `schema ${schema?.id ?? envelope.type} is not registered on the core chain`, {
        details: { pointer: '/type', schemaId: schema?.id ?? null, sha256: schema?.sha256 ?? null },
      });
    }
    return envelope;
  }

  /**
   * Checks 1-4 for a message with its own signature. The signature is checked by the verifier (worker
   * threads); a signature it does not accept is checked again inline, which throws the precise error.
   */
  async #checkSigned(value: unknown): Promise<Checked> {
    const envelope = this.#checkShape(value);
    const sig = envelope.sig;
    if (sig === undefined) throw new LoulanError('VALIDATE_REQUIRED', 'intake requires a signed envelope', { details: { pointer: '/sig', id: envelope.id } });
    const key = this.#resolveKey(envelope.source, sig.kid, sig.alg, '/sig/kid');
    const input = envelopeSigningInput(envelope);
    let signature: Uint8Array | undefined;
    try {
      signature = key.alg === sig.alg ? fromBase64url(sig.value) : undefined;
    } catch {
      signature = undefined;
    }
    const ok = signature !== undefined && (await this.#verifier.verify({ alg: key.alg, publicKey: key.publicKey, message: input, signature }).catch(() => false));
    if (!ok) verifyEnvelopeWithKey(envelope, key, input); // throws why
    this.#checkRole(envelope, this.#o.directory.participant(envelope.source)!);
    return { envelope, digest: toHex(sha256(input)) };
  }

  #resolveKey(source: string, kid: string, alg: string, pointer: string): ResolvedKey {
    const participant = this.#o.directory.participant(source);
    if (participant === undefined || !participant.active) {
      throw new LoulanError('INTAKE_UNKNOWN_SOURCE', `${source} is not an active participant`, { details: { pointer: '/source', source } });
    }
    const key = readKid(kid)?.participant === source ? participant.keys.get(kid) : undefined;
    if (key === undefined) {
      throw new LoulanError('INTAKE_KEY_NOT_OF_SOURCE', `${kid} is not an active key of ${source}`, { details: { pointer, kid, source } });
    }
    if (!isAlg(alg)) throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown signature algorithm: ${alg}`, { details: { pointer: '/sig/alg' } });
    return key;
  }

  #checkRole(envelope: TypedEnvelope, participant: ParticipantView): void {
    const allowed = SENDER_ROLES[envelope.type] ?? [];
    if (!participant.roles.some((r) => allowed.includes(r))) {
      throw new LoulanError('INTAKE_FORBIDDEN', `${envelope.source} may not send ${envelope.type}`, {
        details: { pointer: '/type', source: envelope.source, type: envelope.type, required: allowed, roles: participant.roles },
      });
    }
  }

  // -- checks 5-7 and the write -----------------------------------------------------------------------

  /**
   * Admits checked messages: duplicates get their original answer; the rest pass checks 5-7 and are
   * written together. Returns per message a result or the error that refused it.
   */
  async #admit(items: readonly Checked[]): Promise<Array<IntakeResult | LoulanError>> {
    const { store } = this.#o;
    // Everything asynchronous first: earlier copies of each id, and each channel's window.
    const earlier = await Promise.all(items.map((c) => (this.#inflight.has(messageKey(c.envelope.source, c.envelope.id)) ? undefined : store.getMessage(c.envelope.source, c.envelope.id))));
    await Promise.all(items.map((c) => this.#window(c.envelope.source, c.envelope.to)));

    // From here to the write, nothing awaits: no other request can interleave.
    const now = this.#now();
    const out: Array<IntakeResult | LoulanError | Promise<IntakeResult>> = [];
    const fresh: Prepared[] = [];
    const touched = new Map<string, ReplayWindow>();
    const seenHere = new Map<string, string>();
    items.forEach((c, k) => {
      try {
        const key = messageKey(c.envelope.source, c.envelope.id);
        const before = this.#inflight.get(key) ?? seenHere.get(key) ?? earlier[k] ?? this.#recent.get(key);
        if (before !== undefined) {
          out.push(this.#duplicate(c, before));
          return;
        }
        const seq = BigInt(c.envelope.seq);
        const chKey = channelKey(c.envelope.source, c.envelope.to);
        const window = touched.get(chKey) ?? this.#channels.get(chKey)!;
        window.check(seq);
        const deadline = Date.parse(c.envelope.expiresAt);
        if (!(deadline > now)) throw new LoulanError('INTAKE_EXPIRED', `the message expired at ${c.envelope.expiresAt}`, { details: { pointer: '/expiresAt', id: c.envelope.id } });
        const time = Date.parse(c.envelope.time);
        if (time > now + this.#skew || time > deadline) {
          throw new LoulanError('INTAKE_CLOCK_SKEW', 'the message time is too far ahead of the switch clock, or after its deadline', { details: { pointer: '/time', id: c.envelope.id } });
        }
        const limit = this.#o.limiter?.check(c.envelope, now);
        if (limit?.decision.kind === 'refuse') throw limit.decision.error;
        // Reserve: the window copy is installed only if the write succeeds.
        const copy = new ReplayWindow(window.toJSON());
        copy.accept(seq);
        touched.set(chKey, copy);
        seenHere.set(key, c.digest);
        fresh.push({ ...c, seq, window: copy, deadline, limit });
        out.push(undefined as never);
      } catch (error) {
        out.push(isLoulanError(error) ? error : asLoulanError(error));
      }
    });
    if (fresh.length > 0) {
      const records = fresh.map((p) => this.#record(p, now));
      const extra: Array<{ name: string; value: unknown }> = [];
      for (const [chKey, w] of touched) extra.push({ name: `chan/${chKey}`, value: w.toJSON() });
      for (const p of fresh) if (p.limit !== undefined) extra.push(...p.limit.commit());
      const written = store.accept(records, extra);
      const results = records.map((r) => resultOf(r, false));
      const durable = written.then(() => {
        for (const [chKey, w] of touched) this.#channels.set(chKey, w);
        return undefined;
      });
      records.forEach((r, i) => {
        const key = messageKey(r.source, r.id);
        this.#inflight.set(key, { digest: r.digest, durable: durable.then(() => results[i]!) });
      });
      try {
        await durable;
      } finally {
        for (const r of records) {
          const key = messageKey(r.source, r.id);
          this.#inflight.delete(key);
          this.#recent.set(key, r.digest);
        }
        for (const key of this.#recent.keys()) {
          if (this.#recent.size <= RECENT_LIMIT) break;
          this.#recent.delete(key);
        }
      }
      this.#o.onAccepted?.(records);
      let i = 0;
      for (let k = 0; k < out.length; k++) if (out[k] === undefined) out[k] = results[i++]!;
    }
    return Promise.all(out.map((o) => (o instanceof Promise ? o.catch((e: unknown) => asLoulanError(e)) : o)));
  }

  /** A resend: the original answer once the original is durable, or a conflict if the content differs. */
  #duplicate(c: Checked, before: string | MessageRecord | { digest: string; durable: Promise<IntakeResult> }): Promise<IntakeResult> | LoulanError {
    const digest = typeof before === 'string' ? before : before.digest;
    if (digest !== c.digest) {
      return new LoulanError('INTAKE_ID_CONFLICT', `${c.envelope.source} already sent another message with id ${c.envelope.id}`, {
        details: { pointer: '/id', id: c.envelope.id, source: c.envelope.source },
      });
    }
    if (typeof before === 'object' && 'durable' in before) return before.durable.then((r) => ({ ...r, duplicate: true }));
    if (typeof before === 'object') return this.#o.store.flushed().then(() => resultOf(before, true));
    // Same id twice in one batch: answered once the batch is durable.
    return this.#o.store.flushed().then(async () => resultOf((await this.#o.store.getMessage(c.envelope.source, c.envelope.id))!, true));
  }

  async #window(source: string, to: string): Promise<void> {
    const key = channelKey(source, to);
    if (this.#channels.has(key)) return;
    const stored = await this.#o.store.getNamed<{ highest: string; bits: string }>(`chan/${key}`);
    if (!this.#channels.has(key)) this.#channels.set(key, new ReplayWindow(stored));
  }

  #record(p: Prepared, now: number): MessageRecord {
    const hold = p.limit?.decision.kind === 'hold' ? p.limit.decision : undefined;
    const status = hold === undefined ? 'accepted' : 'held';
    return {
      source: p.envelope.source,
      id: p.envelope.id,
      envelope: p.envelope as unknown as MessageRecord['envelope'],
      digest: p.digest,
      ...(p.batch === undefined ? {} : { batch: p.batch }),
      acceptedAt: now,
      deadline: p.deadline,
      order: this.#o.store.takeOrder(),
      status,
      attempts: 0,
      ...(hold === undefined ? {} : { hold: { reason: hold.reason, ...(hold.until === undefined ? {} : { until: hold.until }) } }),
      history: [{ at: now, status, ...(hold === undefined ? {} : { code: 'INTAKE_VALUE_CAP', detail: hold.reason }) }],
      historyCount: 1,
    };
  }
}

function resultOf(record: MessageRecord, duplicate: boolean): IntakeResult {
  return { id: record.id, source: record.source, status: 'accepted', acceptedAt: new Date(record.acceptedAt).toISOString(), digest: record.digest, duplicate };
}

/** Key ids are `<participant id>#<address hex>`; the part before `#` must be the envelope `source`. */
export function readKid(kid: string): { participant: string; address: string } | undefined {
  const at = kid.lastIndexOf('#');
  if (at <= 0) return undefined;
  return { participant: kid.slice(0, at), address: kid.slice(at + 1) };
}

interface BatchBody {
  readonly messages: readonly unknown[];
  readonly sig?: { readonly alg: Alg; readonly kid: string; readonly value: string };
}

function readBatch(value: unknown, max: number): BatchBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoulanError('INTAKE_MALFORMED', 'a batch is an object {messages, sig?}', { details: { pointer: '' } });
  }
  const { messages, sig, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new LoulanError('INTAKE_MALFORMED', `unknown batch field ${extra}`, { details: { pointer: `/${extra}` } });
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > max) {
    throw new LoulanError('INTAKE_MALFORMED', `messages must be a list of 1 to ${max} envelopes`, { details: { pointer: '/messages', max } });
  }
  if (sig === undefined) return { messages };
  if (typeof sig !== 'object' || sig === null || Array.isArray(sig)) throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'the batch sig must be {alg, kid, value}', { details: { pointer: '/sig' } });
  const { alg, kid, value: v } = sig as Record<string, unknown>;
  if (!isAlg(alg)) throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown signature algorithm: ${String(alg)}`, { details: { pointer: '/sig/alg' } });
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 200) throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'sig.kid must be a key id', { details: { pointer: '/sig/kid' } });
  if (typeof v !== 'string' || v.length > 200) throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', 'sig.value must be base64url', { details: { pointer: '/sig/value' } });
  return { messages, sig: { alg, kid, value: v } };
}
