/**
 * Points: balances per account, holder-initiated transfers and holds, and everything that creates,
 * destroys or pays out points only on a certified core-chain decision.
 *
 * The exchange flow (DOMAIN.md, points): the member holds points on the source program (`hold`, the
 * SOURCE_HELD step the relayer proves to the core chain); the core chain decides; the decision comes
 * back here: BURN the hold once the target credited (COMPLETED), REFUND it on abort, RELEASE it to a
 * payee where the points are a payment, and MINT credits an incoming exchange. A hold's `deadline`
 * (core-chain milliseconds) is the holder's bound for the core chain's abort decision; the chaincode
 * records it and never acts on time itself: a refund needs the abort decision, and a burn after the
 * deadline is still owed (never refund after credit).
 *
 * Closed holds stay in state with their final status, so a hold id is never reused and the record
 * shows which decision closed it. Balances that reach zero are deleted.
 */
import { Contract, type Context } from 'fabric-contract-api';
import { LoulanError } from '../../../core-chain/index.ts';
import { DecisionAction, type DecisionActionCode } from '../../../relayers/index.ts';
import { decodeHoldArgs, decodeMintArgs, decodeReleaseArgs } from './decision-args.ts';
import { balanceKey, callerAccount, emit, holdKey, readJson, writeJson, type Stub } from './state.ts';
import { acceptDecision, executeMessage, finishDecision, type AcceptedDecision } from './trust.ts';
import { badArgs, decimalArg, guard, idArg, MAX_AMOUNT, result } from './wire.ts';

export const POINTS_CONTRACT = 'points';

export type HoldStatus = 'HELD' | 'RELEASED' | 'REFUNDED' | 'BURNED';

/** A hold as stored and returned (amounts and deadlines as decimal strings). */
export interface HoldRecord {
  readonly holdId: string;
  readonly holder: string;
  readonly amount: string;
  readonly deadline: string;
  readonly status: HoldStatus;
  /** The decision that closed the hold, once closed. */
  readonly decisionId?: string;
  /** The payee of a RELEASE. */
  readonly to?: string;
}

const ACTIONS: ReadonlySet<DecisionActionCode> = new Set([DecisionAction.MINT, DecisionAction.BURN, DecisionAction.RELEASE, DecisionAction.REFUND]);
const MAX_U64 = (1n << 64n) - 1n;

/**
 * Transactions (all arguments strings; results canonical JSON):
 *   whoami()                         the caller's account id
 *   balanceOf(account)               {account, balance}
 *   transfer(to, amount)             caller → to
 *   hold(holdId, amount, deadline)   moves the caller's points into a hold
 *   getHold(holdId)                  the hold record, or null
 *   receiveMessage(envelopeJson, digest)   the same, for a decision.execute message the switch delivers
 *   executeDecision(headerHex, certificateJson, eventHex, index, pathJson)   MINT, BURN, RELEASE, REFUND
 */
export class PointsContract extends Contract {
  constructor() {
    super(POINTS_CONTRACT);
  }

  async whoami(ctx: Context): Promise<string> {
    return guard(async () => result({ account: callerAccount(ctx), mspId: ctx.clientIdentity.getMSPID() }));
  }

  async balanceOf(ctx: Context, account: string): Promise<string> {
    return guard(async () => {
      const id = idArg(account, 'account');
      return result({ account: id, balance: await readBalance(ctx.stub, id) });
    });
  }

  async transfer(ctx: Context, to: string, amount: string): Promise<string> {
    return guard(async () => {
      const from = callerAccount(ctx);
      const payee = idArg(to, 'to');
      const value = decimalArg(amount, 'amount', { positive: true });
      // Fabric reads committed state: a self-transfer would read one balance twice and mint.
      if (payee === from) throw badArgs('to', 'a transfer to oneself');
      const balance = await readBalance(ctx.stub, from);
      if (balance < value) throw insufficient(from, balance, value);
      const credited = await readBalance(ctx.stub, payee);
      await writeBalance(ctx.stub, from, balance - value);
      await writeBalance(ctx.stub, payee, credit(credited, value, payee));
      const out = { from, to: payee, amount: value };
      emit(ctx.stub, 'points.transfer', out);
      return result(out);
    });
  }

  async hold(ctx: Context, holdId: string, amount: string, deadline: string): Promise<string> {
    return guard(async () => {
      const holder = callerAccount(ctx);
      const id = idArg(holdId, 'holdId');
      const value = decimalArg(amount, 'amount', { positive: true });
      const until = decimalArg(deadline, 'deadline', { max: MAX_U64 });
      if ((await readJson(ctx.stub, holdKey(ctx.stub, id))) !== undefined) {
        throw new LoulanError('CONTRACT_ALREADY_EXISTS', `hold ${id} exists`, { details: { kind: 'hold', id } });
      }
      const balance = await readBalance(ctx.stub, holder);
      if (balance < value) throw insufficient(holder, balance, value);
      const record: HoldRecord = { holdId: id, holder, amount: value.toString(), deadline: until.toString(), status: 'HELD' };
      await writeBalance(ctx.stub, holder, balance - value);
      await writeJson(ctx.stub, holdKey(ctx.stub, id), record);
      emit(ctx.stub, 'points.hold', record);
      return result(record);
    });
  }

  async getHold(ctx: Context, holdId: string): Promise<string> {
    return guard(async () => result((await readJson<HoldRecord>(ctx.stub, holdKey(ctx.stub, idArg(holdId, 'holdId')))) ?? null));
  }

  async executeDecision(ctx: Context, headerHex: string, certificateJson: string, eventHex: string, index: string, pathJson: string): Promise<string> {
    return guard(async () => {
      const accepted = await acceptDecision(ctx, ACTIONS, POINTS_CONTRACT, { headerHex, certificateJson, eventHex, index, pathJson });
      return finishDecision(ctx, POINTS_CONTRACT, accepted, await apply(ctx.stub, accepted));
    });
  }

  /** A switch delivery of a `decision.execute` message (envelope JSON and digest): the decision once; a repeat is done without effect. */
  async receiveMessage(ctx: Context, envelopeJson: string, _digest: string): Promise<string> {
    return guard(() => executeMessage(ctx, ACTIONS, POINTS_CONTRACT, envelopeJson, apply));
  }
}

async function apply(stub: Stub, accepted: AcceptedDecision): Promise<Record<string, unknown>> {
  const { decision, decisionId } = accepted;
  switch (decision.action) {
    case DecisionAction.MINT: {
      const { account, amount } = decodeMintArgs(decision.args);
      await writeBalance(stub, account, credit(await readBalance(stub, account), amount, account));
      return { account, amount };
    }
    case DecisionAction.BURN:
    case DecisionAction.REFUND: {
      const { holdId } = decodeHoldArgs(decision.action, decision.args);
      const hold = await openHold(stub, holdId);
      if (decision.action === DecisionAction.REFUND) {
        await writeBalance(stub, hold.holder, credit(await readBalance(stub, hold.holder), BigInt(hold.amount), hold.holder));
      }
      const status = decision.action === DecisionAction.BURN ? 'BURNED' : 'REFUNDED';
      await writeJson(stub, holdKey(stub, holdId), { ...hold, status, decisionId } satisfies HoldRecord);
      return { holdId, holder: hold.holder, amount: hold.amount, status };
    }
    case DecisionAction.RELEASE: {
      const { holdId, to } = decodeReleaseArgs(decision.args);
      const hold = await openHold(stub, holdId);
      await writeBalance(stub, to, credit(await readBalance(stub, to), BigInt(hold.amount), to));
      await writeJson(stub, holdKey(stub, holdId), { ...hold, status: 'RELEASED', decisionId, to } satisfies HoldRecord);
      return { holdId, holder: hold.holder, amount: hold.amount, status: 'RELEASED', to };
    }
    default:
      // acceptDecision admits only ACTIONS.
      throw new LoulanError('DECISION_ARGS', `points does not execute action ${decision.action}`, { details: { field: 'action' } });
  }
}

async function openHold(stub: Stub, holdId: string): Promise<HoldRecord> {
  const hold = await readJson<HoldRecord>(stub, holdKey(stub, holdId));
  if (hold === undefined) throw new LoulanError('DECISION_ARGS', `no hold ${holdId}`, { details: { field: 'holdId', id: holdId, reason: 'not-found' } });
  if (hold.status !== 'HELD') {
    throw new LoulanError('DECISION_ARGS', `hold ${holdId} is ${hold.status}`, { details: { field: 'holdId', id: holdId, status: hold.status } });
  }
  return hold;
}

async function readBalance(stub: Stub, account: string): Promise<bigint> {
  const record = await readJson<{ amount: string }>(stub, balanceKey(stub, account));
  return record === undefined ? 0n : BigInt(record.amount);
}

async function writeBalance(stub: Stub, account: string, amount: bigint): Promise<void> {
  if (amount === 0n) await stub.deleteState(balanceKey(stub, account));
  else await writeJson(stub, balanceKey(stub, account), { amount: amount.toString() });
}

function credit(balance: bigint, amount: bigint, account: string): bigint {
  const total = balance + amount;
  if (total > MAX_AMOUNT) throw new LoulanError('CONTRACT_STATE_LIMIT', `balance of ${account} would exceed 2^128-1`, { details: { account, field: 'balance' } });
  return total;
}

function insufficient(account: string, balance: bigint, amount: bigint): LoulanError {
  return new LoulanError('CONTRACT_INSUFFICIENT_FUNDS', `balance ${balance} of ${account} is below ${amount}`, { details: { account, balance, amount } });
}
