/**
 * One pass over the shop's outbox: take the pending rows, sign, send to the switch, record the outcome.
 *
 * Exactly once rests on two facts, so this module keeps no state of its own between passes:
 * - the switch is idempotent by (source, id): a resend of a message it holds is answered with the
 *   original result and `duplicate: true`, so a row re-sent after a crash between the POST and its
 *   `sent_at` costs one duplicate answer and nothing else;
 * - a resend is the same message: rows that carry a `sig` are sent as stored, rows without one are
 *   signed at send time, deterministically (Ed25519, ES256K), and the switch compares messages by the
 *   digest of the signing input, which leaves the signature out anyway.
 *
 * A pass runs in one transaction that locks its rows (`FOR UPDATE SKIP LOCKED`), so two connectors on
 * one database never send the same row at once; the lock dies with a killed connector's session. Each
 * row ends one of three ways: accepted (`sent_at` set), refused for good (a 4xx other than 408/429:
 * `error_code` and `error_detail` set, never retried), or left pending after a failure that may pass
 * (network, timeout, 408, 429, 5xx): the pass reports it and the caller backs off.
 */
import { ERROR_CODES, LoulanError, signEnvelope, type Signer } from '../../core-chain/index.ts';
import type { Envelope } from '../../schemas/index.ts';
import type { DbNames, SqlSession } from './schema.ts';

/** Posts one signed envelope to the switch; resolves with its answer, throws its refusal as a LoulanError. */
export type SubmitEnvelope = (envelope: Envelope) => Promise<{ readonly duplicate: boolean }>;

export interface OutboxPassOptions {
  /** Rows taken (and locked) by this pass. */
  readonly batchSize: number;
  /** POSTs in flight at once. Default 1 (strictly in row order). */
  readonly concurrency?: number;
  /** Signs rows stored without a `sig`. */
  readonly signer: Signer;
  readonly submit: SubmitEnvelope;
}

export interface OutboxRefusal {
  readonly id: string;
  readonly code: string;
  readonly detail: string;
}

export interface OutboxPass {
  /** Rows this pass took; equal to `batchSize` when more may be waiting. */
  readonly taken: number;
  /** Rows the switch now holds (sent_at set), of which `duplicates` it already held. */
  readonly sent: number;
  readonly duplicates: number;
  /** Rows refused for good, recorded on the row. */
  readonly refused: readonly OutboxRefusal[];
  /** The first failure that may pass; its rows stay pending for the next pass. */
  readonly failure?: LoulanError;
}

/** Whether a refusal from the switch is final: 4xx other than 408 and 429, by the code's registry status. */
export function isFinalRefusal(error: LoulanError): boolean {
  const status: number = ERROR_CODES[error.code].status;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

type Outcome = { readonly kind: 'sent'; readonly duplicate: boolean } | { readonly kind: 'refused'; readonly error: LoulanError } | { readonly kind: 'failed'; readonly error: LoulanError };

async function sendRow(envelope: Record<string, unknown>, options: OutboxPassOptions): Promise<Outcome> {
  let signed: Envelope;
  try {
    signed = (envelope['sig'] === undefined ? await signEnvelope(envelope as never, options.signer) : envelope) as unknown as Envelope;
  } catch (error) {
    // A row the codec refuses (not canonical JSON) never will be signed; a signer that failed (an HSM
    // or remote signer away) may work next time.
    const e = error instanceof LoulanError ? error : new LoulanError('INTERNAL', `signing failed: ${String(error)}`, { cause: error });
    return { kind: e.code === 'INTERNAL' ? 'failed' : 'refused', error: e };
  }
  try {
    const answer = await options.submit(signed);
    return { kind: 'sent', duplicate: answer.duplicate };
  } catch (error) {
    const e = error instanceof LoulanError ? error : new LoulanError('INTERNAL', String(error), { cause: error });
    return { kind: isFinalRefusal(e) ? 'refused' : 'failed', error: e };
  }
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Takes up to `batchSize` pending rows in created order (the identity `id`) and sends them, in one
 * transaction on `session` (one connection, not a pool). Database errors propagate (the transaction
 * is rolled back, nothing is recorded, and every row stays pending); switch failures do not: they end
 * up in the result.
 *
 * @example
 * const pass = await sendOutboxPass(client, names, { batchSize: 100, signer, submit: (e) => shop.submit(e) });
 * if (pass.failure) await backoff();
 */
export async function sendOutboxPass(session: SqlSession, names: DbNames, options: OutboxPassOptions): Promise<OutboxPass> {
  const c = names.outboxColumns;
  const t = names.outbox.sql;
  await session.query('BEGIN');
  try {
    const { rows } = await session.query(
      `SELECT ${c.id}::text AS id, ${c.envelope} AS envelope FROM ${t}
       WHERE ${c.sentAt} IS NULL AND ${c.errorCode} IS NULL ORDER BY ${c.id} LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [options.batchSize],
    );
    const taken = rows as { id: string; envelope: unknown }[];
    const outcomes = await mapLimited(taken, options.concurrency ?? 1, (row) =>
      typeof row.envelope === 'object' && row.envelope !== null && !Array.isArray(row.envelope)
        ? sendRow(row.envelope as Record<string, unknown>, options)
        : Promise.resolve<Outcome>({ kind: 'refused', error: new LoulanError('VALIDATE_TYPE', 'the outbox envelope is not a JSON object', { details: { pointer: '' } }) }),
    );
    const sent: string[] = [];
    const refused: OutboxRefusal[] = [];
    let duplicates = 0;
    let failure: LoulanError | undefined;
    outcomes.forEach((o, i) => {
      const id = taken[i]!.id;
      if (o.kind === 'sent') {
        sent.push(id);
        if (o.duplicate) duplicates++;
      } else if (o.kind === 'refused') refused.push({ id, code: o.error.code, detail: o.error.message });
      else failure ??= o.error;
    });
    if (sent.length > 0) await session.query(`UPDATE ${t} SET ${c.sentAt} = now() WHERE ${c.id} = ANY($1::bigint[])`, [sent]);
    if (refused.length > 0) {
      await session.query(
        `UPDATE ${t} SET ${c.errorCode} = r.code, ${c.errorDetail} = r.detail
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, code, detail) WHERE ${t}.${c.id} = r.id`,
        [refused.map((r) => r.id), refused.map((r) => r.code), refused.map((r) => r.detail)],
      );
    }
    await session.query('COMMIT');
    return { taken: taken.length, sent: sent.length, duplicates, refused, ...(failure === undefined ? {} : { failure }) };
  } catch (error) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
