/**
 * Writing a delivered message into a shop's inbox so that it takes effect exactly once (DESIGN §5, §6).
 *
 * The switch may deliver a message again after a crash between an attempt and its recorded outcome,
 * and the connector itself may die anywhere. So one transaction inserts the marker row
 * (source, id) → digest and the inbox row: either both are there or neither. The marker is inserted
 * first with `ON CONFLICT DO NOTHING`; concurrent writers of the same message wait on its primary key,
 * and all but one find it taken. A taken marker with the same digest is a duplicate (a no-op, success);
 * with another digest it is a different message reusing the id, refused for good with
 * `DELIVER_ID_CONFLICT`. The digest is SHA-256 of the envelope's signing input, the same digest the
 * switch keeps, so a message re-signed without change is still the same message.
 *
 * Database failures (connection lost, permissions) propagate as `pg` errors: the caller classifies them
 * as retryable; the transaction has been rolled back or died with its connection.
 */
import { LoulanError, envelopeSigningInput, sha256, toHex, type SignableEnvelope } from '../../core-chain/index.ts';
import type { DbNames, SqlSession } from './schema.ts';

/** What writeInbox needs of an envelope; the switch validated the rest. */
export interface InboxEnvelope extends SignableEnvelope {
  readonly id: string;
  readonly source: string;
}

export interface InboxWrite {
  /** True when this message was already in the inbox: nothing was written. */
  readonly duplicate: boolean;
  /** SHA-256 (hex) of the envelope's signing input. */
  readonly digest: string;
}

/** SHA-256 (hex) of the envelope's signing input: what identifies a message's content. */
export function envelopeDigest(envelope: SignableEnvelope): string {
  return toHex(sha256(envelopeSigningInput(envelope)));
}

/**
 * Inserts `envelope` into the inbox with its marker in one transaction on `session` (one connection:
 * a `pg.Client` or a pool's client, not a pool). Idempotent by (source, id).
 *
 * @example
 * const client = await pool.connect();
 * try { await writeInbox(client, names, envelope); } finally { client.release(); }
 */
export async function writeInbox(session: SqlSession, names: DbNames, envelope: InboxEnvelope): Promise<InboxWrite> {
  const digest = envelopeDigest(envelope);
  const c = names.inboxColumns;
  let existing: unknown;
  await session.query('BEGIN');
  try {
    const marked = await session.query(
      `INSERT INTO ${names.marker.sql} ("source", "message_id", "digest") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [envelope.source, envelope.id, digest],
    );
    if (marked.rowCount === 1) {
      await session.query(
        `INSERT INTO ${names.inbox.sql} (${c.source}, ${c.messageId}, ${c.envelope}) VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING`,
        [envelope.source, envelope.id, JSON.stringify(envelope)],
      );
    } else {
      const { rows } = await session.query(`SELECT "digest" FROM ${names.marker.sql} WHERE "source" = $1 AND "message_id" = $2`, [
        envelope.source,
        envelope.id,
      ]);
      existing = rows[0]?.digest ?? null;
    }
    await session.query('COMMIT');
  } catch (error) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  if (existing === undefined) return { duplicate: false, digest };
  if (existing === digest) return { duplicate: true, digest };
  throw new LoulanError('DELIVER_ID_CONFLICT', `the inbox already holds another message from ${envelope.source} with id ${envelope.id}`, {
    details: { source: envelope.source, id: envelope.id, digest, existing },
  });
}
