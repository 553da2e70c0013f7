/**
 * Receivables on a supply-chain ledger: a creditor issues a claim on a debtor, the debtor confirms
 * it, holders split it and transfer pieces; financing locks, their release and the move into an ABS
 * pool happen only on certified core-chain decisions, because the core chain's lock registry is where
 * "financed once" is decided (DOMAIN.md, receivables). Here the piece is frozen while locked or pooled:
 * no transfer, no split, no second lock.
 *
 * States of a piece: ISSUED → CONFIRMED (by the debtor) → LOCKED (LOCK) → POOLED (POOL: the holder
 * becomes the ABS vehicle in the same step, so the piece is never unencumbered in between);
 * LOCKED or POOLED → CONFIRMED (UNLOCK, with a release reason). A split retires the piece (SPLIT)
 * and creates CONFIRMED children that sum to it and keep its root, debtor, currency and maturity.
 * Locks are on whole pieces: financing a part means splitting first, so "locked amount ≤ face
 * amount" holds by construction, and LOCK carries the amount the core chain registered, which must
 * equal the piece's.
 *
 * A holder index (holder, pieceId) lets `piecesOf` list a holder's pieces in key order.
 */
import { Contract, type Context } from 'fabric-contract-api';
import { LoulanError, toHex } from '../../../core-chain/index.ts';
import { DecisionAction, type DecisionActionCode } from '../../../relayers/index.ts';
import { decodeLockArgs, decodePoolArgs, decodeUnlockArgs, type LockPurpose, type ReleaseReason } from './decision-args.ts';
import { callerAccount, emit, holderKey, INDEX_VALUE, KEY_TYPES, pieceKey, readJson, writeJson, type Stub } from './state.ts';
import { acceptDecision, executeMessage, finishDecision, type AcceptedDecision } from './trust.ts';
import { arrayArg, badArgs, decimalArg, guard, hexArg, idArg, jsonArg, objectArg, result } from './wire.ts';

export const RECEIVABLES_CONTRACT = 'receivables';

export type PieceStatus = 'ISSUED' | 'CONFIRMED' | 'LOCKED' | 'POOLED' | 'SPLIT';

export interface PieceRecord {
  readonly pieceId: string;
  /** The piece this one was split from, and the original claim. */
  readonly parentId: string | null;
  readonly rootId: string;
  readonly issuer: string;
  readonly debtor: string;
  readonly holder: string;
  /** Face amount in minor units (decimal). */
  readonly amount: string;
  /** ISO 4217. */
  readonly currency: string;
  /** YYYY-MM-DD. */
  readonly maturity: string;
  /** The claim's keyed fingerprint (fp_strong, hex) when the issuer registered one, else null. */
  readonly fingerprint: string | null;
  readonly status: PieceStatus;
  readonly lock: { readonly lockId: string; readonly purpose: LockPurpose; readonly decisionId: string } | null;
  readonly pool: { readonly poolId: string; readonly vehicle: string; readonly decisionId: string } | null;
  readonly released: { readonly lockId: string; readonly reason: ReleaseReason; readonly decisionId: string } | null;
  /** Set when SPLIT. */
  readonly children: readonly string[] | null;
}

const ACTIONS: ReadonlySet<DecisionActionCode> = new Set([DecisionAction.LOCK, DecisionAction.UNLOCK, DecisionAction.POOL]);
const MAX_PARTS = 64;
const CURRENCY = /^[A-Z]{3}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Transactions (all arguments strings; results canonical JSON):
 *   issue(pieceId, debtor, amount, currency, maturity, fingerprint)   caller is creditor and holder
 *   confirm(pieceId)                  by the debtor
 *   split(pieceId, partsJson)         by the holder; parts [{pieceId, amount}] summing to the piece
 *   transfer(pieceId, to)             by the holder
 *   getPiece(pieceId)                 the record, or null
 *   piecesOf(holder)                  the holder's pieces, in key order
 *   receiveMessage(envelopeJson, digest)   the same, for a decision.execute message the switch delivers
 *   executeDecision(headerHex, certificateJson, eventHex, index, pathJson)   LOCK, UNLOCK, POOL
 */
export class ReceivablesContract extends Contract {
  constructor() {
    super(RECEIVABLES_CONTRACT);
  }

  async issue(ctx: Context, pieceId: string, debtor: string, amount: string, currency: string, maturity: string, fingerprint: string): Promise<string> {
    return guard(async () => {
      const issuer = callerAccount(ctx);
      const id = idArg(pieceId, 'pieceId');
      const obligor = idArg(debtor, 'debtor');
      if (obligor === issuer) throw badArgs('debtor', 'a claim on oneself');
      const face = decimalArg(amount, 'amount', { positive: true });
      if (typeof currency !== 'string' || !CURRENCY.test(currency)) throw badArgs('currency', 'expected an ISO 4217 code');
      const fp = fingerprint === '' ? null : toHex(hexArg(fingerprint, 'fingerprint', 32, 32));
      await mustBeNew(ctx.stub, id);
      const piece: PieceRecord = {
        pieceId: id,
        parentId: null,
        rootId: id,
        issuer,
        debtor: obligor,
        holder: issuer,
        amount: face.toString(),
        currency,
        maturity: dateArg(maturity, 'maturity'),
        fingerprint: fp,
        status: 'ISSUED',
        lock: null,
        pool: null,
        released: null,
        children: null,
      };
      await writeJson(ctx.stub, pieceKey(ctx.stub, id), piece);
      await ctx.stub.putState(holderKey(ctx.stub, issuer, id), INDEX_VALUE);
      emit(ctx.stub, 'receivables.issue', piece);
      return result(piece);
    });
  }

  async confirm(ctx: Context, pieceId: string): Promise<string> {
    return guard(async () => {
      const piece = await existing(ctx.stub, idArg(pieceId, 'pieceId'));
      const caller = callerAccount(ctx);
      if (caller !== piece.debtor) throw unauthorized('confirm', piece, caller);
      if (piece.status !== 'ISSUED') throw wrongState(piece);
      const confirmed: PieceRecord = { ...piece, status: 'CONFIRMED' };
      await writeJson(ctx.stub, pieceKey(ctx.stub, piece.pieceId), confirmed);
      emit(ctx.stub, 'receivables.confirm', confirmed);
      return result(confirmed);
    });
  }

  async split(ctx: Context, pieceId: string, partsJson: string): Promise<string> {
    return guard(async () => {
      const piece = await existing(ctx.stub, idArg(pieceId, 'pieceId'));
      const caller = callerAccount(ctx);
      if (caller !== piece.holder) throw unauthorized('split', piece, caller);
      if (piece.status !== 'CONFIRMED') throw wrongState(piece);
      const parts = arrayArg(jsonArg(partsJson, 'parts', 64 * 1024), 'parts', MAX_PARTS).map((p, i) => {
        const o = objectArg(p, `parts/${i}`, ['pieceId', 'amount']);
        return { pieceId: idArg(o.pieceId, `parts/${i}/pieceId`), amount: decimalArg(o.amount, `parts/${i}/amount`, { positive: true }) };
      });
      if (parts.length < 2) throw badArgs('parts', 'a split makes at least two pieces');
      const ids = new Set(parts.map((p) => p.pieceId));
      if (ids.size !== parts.length || ids.has(piece.pieceId)) throw badArgs('parts', 'piece ids must be new and distinct');
      const total = parts.reduce((sum, p) => sum + p.amount, 0n);
      if (total !== BigInt(piece.amount)) throw badArgs('parts', 'the parts must sum to the piece amount', { expected: piece.amount, actual: total.toString() });
      for (const part of parts) await mustBeNew(ctx.stub, part.pieceId);

      const children = parts.map(
        (part): PieceRecord => ({ ...piece, pieceId: part.pieceId, parentId: piece.pieceId, amount: part.amount.toString(), released: null, children: null }),
      );
      const retired: PieceRecord = { ...piece, status: 'SPLIT', children: parts.map((p) => p.pieceId) };
      await writeJson(ctx.stub, pieceKey(ctx.stub, piece.pieceId), retired);
      await ctx.stub.deleteState(holderKey(ctx.stub, piece.holder, piece.pieceId));
      for (const child of children) {
        await writeJson(ctx.stub, pieceKey(ctx.stub, child.pieceId), child);
        await ctx.stub.putState(holderKey(ctx.stub, child.holder, child.pieceId), INDEX_VALUE);
      }
      const out = { pieceId: piece.pieceId, children };
      emit(ctx.stub, 'receivables.split', out);
      return result(out);
    });
  }

  async transfer(ctx: Context, pieceId: string, to: string): Promise<string> {
    return guard(async () => {
      const piece = await existing(ctx.stub, idArg(pieceId, 'pieceId'));
      const recipient = idArg(to, 'to');
      const caller = callerAccount(ctx);
      if (caller !== piece.holder) throw unauthorized('transfer', piece, caller);
      if (piece.status !== 'CONFIRMED') throw wrongState(piece);
      if (recipient === piece.holder) throw badArgs('to', 'a transfer to oneself');
      const moved: PieceRecord = { ...piece, holder: recipient };
      await writeJson(ctx.stub, pieceKey(ctx.stub, piece.pieceId), moved);
      await ctx.stub.deleteState(holderKey(ctx.stub, piece.holder, piece.pieceId));
      await ctx.stub.putState(holderKey(ctx.stub, recipient, piece.pieceId), INDEX_VALUE);
      const out = { pieceId: piece.pieceId, from: piece.holder, to: recipient, amount: piece.amount };
      emit(ctx.stub, 'receivables.transfer', out);
      return result(out);
    });
  }

  async getPiece(ctx: Context, pieceId: string): Promise<string> {
    return guard(async () => result((await readJson<PieceRecord>(ctx.stub, pieceKey(ctx.stub, idArg(pieceId, 'pieceId')))) ?? null));
  }

  async piecesOf(ctx: Context, holder: string): Promise<string> {
    return guard(async () => {
      const account = idArg(holder, 'holder');
      const pieces: PieceRecord[] = [];
      for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.holder, [account])) {
        const [, id] = ctx.stub.splitCompositeKey(kv.key).attributes;
        const piece = id === undefined ? undefined : await readJson<PieceRecord>(ctx.stub, pieceKey(ctx.stub, id));
        if (piece !== undefined) pieces.push(piece);
      }
      return result({ holder: account, pieces });
    });
  }

  async executeDecision(ctx: Context, headerHex: string, certificateJson: string, eventHex: string, index: string, pathJson: string): Promise<string> {
    return guard(async () => {
      const accepted = await acceptDecision(ctx, ACTIONS, RECEIVABLES_CONTRACT, { headerHex, certificateJson, eventHex, index, pathJson });
      return finishDecision(ctx, RECEIVABLES_CONTRACT, accepted, await apply(ctx.stub, accepted));
    });
  }

  /** A switch delivery of a `decision.execute` message (envelope JSON and digest): the decision once; a repeat is done without effect. */
  async receiveMessage(ctx: Context, envelopeJson: string, _digest: string): Promise<string> {
    return guard(() => executeMessage(ctx, ACTIONS, RECEIVABLES_CONTRACT, envelopeJson, apply));
  }
}

async function apply(stub: Stub, accepted: AcceptedDecision): Promise<Record<string, unknown>> {
  const { decision, decisionId } = accepted;
  switch (decision.action) {
    case DecisionAction.LOCK: {
      const args = decodeLockArgs(decision.args);
      const piece = await decided(stub, args.pieceId);
      if (piece.status !== 'CONFIRMED') throw decisionState(piece);
      if (BigInt(piece.amount) !== args.amount) {
        throw new LoulanError('DECISION_ARGS', `piece ${piece.pieceId} is ${piece.amount}, the lock is for ${args.amount}`, {
          details: { field: 'amount', expected: piece.amount, actual: args.amount },
        });
      }
      const lock = { lockId: toHex(args.lockId), purpose: args.purpose, decisionId };
      await writeJson(stub, pieceKey(stub, piece.pieceId), { ...piece, status: 'LOCKED', lock } satisfies PieceRecord);
      return { pieceId: piece.pieceId, status: 'LOCKED', lock };
    }
    case DecisionAction.UNLOCK: {
      const args = decodeUnlockArgs(decision.args);
      const piece = await decided(stub, args.pieceId);
      if (piece.status !== 'LOCKED' && piece.status !== 'POOLED') throw decisionState(piece);
      const lockId = sameLock(piece, args.lockId);
      const released = { lockId, reason: args.reason, decisionId };
      await writeJson(stub, pieceKey(stub, piece.pieceId), { ...piece, status: 'CONFIRMED', lock: null, pool: null, released } satisfies PieceRecord);
      return { pieceId: piece.pieceId, status: 'CONFIRMED', released };
    }
    case DecisionAction.POOL: {
      const args = decodePoolArgs(decision.args);
      const piece = await decided(stub, args.pieceId);
      if (piece.status !== 'LOCKED') throw decisionState(piece);
      sameLock(piece, args.lockId);
      const pool = { poolId: args.poolId, vehicle: args.vehicle, decisionId };
      await writeJson(stub, pieceKey(stub, piece.pieceId), { ...piece, status: 'POOLED', holder: args.vehicle, pool } satisfies PieceRecord);
      if (args.vehicle !== piece.holder) {
        await stub.deleteState(holderKey(stub, piece.holder, piece.pieceId));
        await stub.putState(holderKey(stub, args.vehicle, piece.pieceId), INDEX_VALUE);
      }
      return { pieceId: piece.pieceId, status: 'POOLED', from: piece.holder, pool };
    }
    default:
      throw new LoulanError('DECISION_ARGS', `receivables does not execute action ${decision.action}`, { details: { field: 'action' } });
  }
}

function sameLock(piece: PieceRecord, lockId: Uint8Array): string {
  const id = toHex(lockId);
  if (piece.lock?.lockId !== id) {
    throw new LoulanError('DECISION_ARGS', `piece ${piece.pieceId} is not locked under ${id}`, { details: { field: 'lockId', expected: piece.lock?.lockId ?? null, actual: id } });
  }
  return id;
}

async function existing(stub: Stub, pieceId: string): Promise<PieceRecord> {
  const piece = await readJson<PieceRecord>(stub, pieceKey(stub, pieceId));
  if (piece === undefined) throw new LoulanError('CONTRACT_NOT_FOUND', `no piece ${pieceId}`, { details: { kind: 'piece', id: pieceId } });
  return piece;
}

async function decided(stub: Stub, pieceId: string): Promise<PieceRecord> {
  const piece = await readJson<PieceRecord>(stub, pieceKey(stub, pieceId));
  if (piece === undefined) throw new LoulanError('DECISION_ARGS', `no piece ${pieceId}`, { details: { field: 'pieceId', id: pieceId, reason: 'not-found' } });
  return piece;
}

async function mustBeNew(stub: Stub, pieceId: string): Promise<void> {
  if ((await readJson(stub, pieceKey(stub, pieceId))) !== undefined) {
    throw new LoulanError('CONTRACT_ALREADY_EXISTS', `piece ${pieceId} exists`, { details: { kind: 'piece', id: pieceId } });
  }
}

function wrongState(piece: PieceRecord): LoulanError {
  return new LoulanError('CONTRACT_WRONG_STATE', `piece ${piece.pieceId} is ${piece.status}`, { details: { kind: 'piece', id: piece.pieceId, status: piece.status } });
}

function decisionState(piece: PieceRecord): LoulanError {
  return new LoulanError('DECISION_ARGS', `piece ${piece.pieceId} is ${piece.status}`, { details: { field: 'pieceId', id: piece.pieceId, status: piece.status } });
}

function unauthorized(action: string, piece: PieceRecord, caller: string): LoulanError {
  return new LoulanError('CONTRACT_UNAUTHORIZED', `only the ${action === 'confirm' ? 'debtor' : 'holder'} may ${action} piece ${piece.pieceId}`, {
    details: { action, id: piece.pieceId, caller },
  });
}

/** A calendar date YYYY-MM-DD (checked without any clock: the fields must round-trip). */
function dateArg(value: unknown, field: string): string {
  const m = typeof value === 'string' ? DATE.exec(value) : null;
  if (m === null) throw badArgs(field, 'expected YYYY-MM-DD');
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) throw badArgs(field, 'not a calendar date');
  return value as string;
}
