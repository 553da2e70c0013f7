/**
 * The `args` of certified decisions addressed to the Fabric chaincode, one ABI tuple per action.
 *
 * ABI, like the envelope (relayers/decision.ts), so the core chain's xfer contract and the relayers
 * build every target kind's arguments with one encoder. Decoding is strict: the bytes must be the
 * canonical encoding of the tuple (re-encoding gives them back), ids must be usable as state-key
 * attributes, amounts fit u128, and enumerations are closed lists; anything else is DECISION_ARGS
 * with `details.field`.
 *
 *   MINT     (string account, uint256 amount)                               points
 *   BURN     (string holdId)                                                points
 *   RELEASE  (string holdId, string to)                                     points
 *   REFUND   (string holdId)                                                points
 *   LOCK     (string pieceId, bytes32 lockId, uint256 amount, string purpose)  receivables
 *   UNLOCK   (string pieceId, bytes32 lockId, string reason)                receivables
 *   POOL     (string pieceId, bytes32 lockId, string poolId, string vehicle)   receivables
 */
import { AbiCoder, getBytes, hexlify } from 'ethers';
import { LoulanError } from '../../../core-chain/index.ts';
import { DecisionAction, type DecisionActionCode } from '../../../relayers/index.ts';
import { idArg, MAX_AMOUNT } from './wire.ts';

const coder = AbiCoder.defaultAbiCoder();

/** Why a financing lock exists (DOMAIN.md, lock record). */
export const LOCK_PURPOSES = ['FACTORING', 'REVERSE_FACTORING', 'DISCOUNT', 'PLEDGE', 'ABS_REFINANCE'] as const;
/** Why a lock is released (DOMAIN.md, release reasons). */
export const RELEASE_REASONS = ['OBSA', 'WITH', 'EXND', 'NTFD', 'RJCT', 'LG1F', 'EXNB', 'EBNA'] as const;
export type LockPurpose = (typeof LOCK_PURPOSES)[number];
export type ReleaseReason = (typeof RELEASE_REASONS)[number];

export interface MintArgs { readonly account: string; readonly amount: bigint }
export interface HoldArgs { readonly holdId: string }
export interface ReleaseArgs { readonly holdId: string; readonly to: string }
export interface LockArgs { readonly pieceId: string; readonly lockId: Uint8Array; readonly amount: bigint; readonly purpose: LockPurpose }
export interface UnlockArgs { readonly pieceId: string; readonly lockId: Uint8Array; readonly reason: ReleaseReason }
export interface PoolArgs { readonly pieceId: string; readonly lockId: Uint8Array; readonly poolId: string; readonly vehicle: string }

const TYPES = {
  [DecisionAction.MINT]: ['string', 'uint256'],
  [DecisionAction.BURN]: ['string'],
  [DecisionAction.RELEASE]: ['string', 'string'],
  [DecisionAction.REFUND]: ['string'],
  [DecisionAction.LOCK]: ['string', 'bytes32', 'uint256', 'string'],
  [DecisionAction.UNLOCK]: ['string', 'bytes32', 'string'],
  [DecisionAction.POOL]: ['string', 'bytes32', 'string', 'string'],
} as const satisfies Record<DecisionActionCode, readonly string[]>;

export function encodeMintArgs(args: MintArgs): Uint8Array {
  return encode(DecisionAction.MINT, [args.account, args.amount]);
}
export function encodeBurnArgs(args: HoldArgs): Uint8Array {
  return encode(DecisionAction.BURN, [args.holdId]);
}
export function encodeReleaseArgs(args: ReleaseArgs): Uint8Array {
  return encode(DecisionAction.RELEASE, [args.holdId, args.to]);
}
export function encodeRefundArgs(args: HoldArgs): Uint8Array {
  return encode(DecisionAction.REFUND, [args.holdId]);
}
export function encodeLockArgs(args: LockArgs): Uint8Array {
  return encode(DecisionAction.LOCK, [args.pieceId, args.lockId, args.amount, args.purpose]);
}
export function encodeUnlockArgs(args: UnlockArgs): Uint8Array {
  return encode(DecisionAction.UNLOCK, [args.pieceId, args.lockId, args.reason]);
}
export function encodePoolArgs(args: PoolArgs): Uint8Array {
  return encode(DecisionAction.POOL, [args.pieceId, args.lockId, args.poolId, args.vehicle]);
}

export function decodeMintArgs(data: Uint8Array): MintArgs {
  const [account, amount] = decode(DecisionAction.MINT, data);
  return { account: id(account, 'account'), amount: amountOf(amount, 'amount') };
}
export function decodeHoldArgs(action: typeof DecisionAction.BURN | typeof DecisionAction.REFUND, data: Uint8Array): HoldArgs {
  const [holdId] = decode(action, data);
  return { holdId: id(holdId, 'holdId') };
}
export function decodeReleaseArgs(data: Uint8Array): ReleaseArgs {
  const [holdId, to] = decode(DecisionAction.RELEASE, data);
  return { holdId: id(holdId, 'holdId'), to: id(to, 'to') };
}
export function decodeLockArgs(data: Uint8Array): LockArgs {
  const [pieceId, lockId, amount, purpose] = decode(DecisionAction.LOCK, data);
  return { pieceId: id(pieceId, 'pieceId'), lockId: getBytes(lockId as string), amount: amountOf(amount, 'amount'), purpose: oneOf(purpose, LOCK_PURPOSES, 'purpose') };
}
export function decodeUnlockArgs(data: Uint8Array): UnlockArgs {
  const [pieceId, lockId, reason] = decode(DecisionAction.UNLOCK, data);
  return { pieceId: id(pieceId, 'pieceId'), lockId: getBytes(lockId as string), reason: oneOf(reason, RELEASE_REASONS, 'reason') };
}
export function decodePoolArgs(data: Uint8Array): PoolArgs {
  const [pieceId, lockId, poolId, vehicle] = decode(DecisionAction.POOL, data);
  return { pieceId: id(pieceId, 'pieceId'), lockId: getBytes(lockId as string), poolId: id(poolId, 'poolId'), vehicle: id(vehicle, 'vehicle') };
}

function encode(action: DecisionActionCode, values: readonly unknown[]): Uint8Array {
  return getBytes(coder.encode(TYPES[action], values));
}

function decode(action: DecisionActionCode, data: Uint8Array): unknown[] {
  let values: unknown[];
  try {
    values = [...coder.decode(TYPES[action], data)];
  } catch (cause) {
    throw argsError('args', `not the ABI tuple (${TYPES[action].join(', ')})`, cause);
  }
  // ABI decoding tolerates trailing bytes and non-minimal offsets; one decision, one encoding.
  if (hexlify(encode(action, values)) !== hexlify(data)) throw argsError('args', 'not the canonical encoding');
  return values;
}

function id(value: unknown, field: string): string {
  try {
    return idArg(value, field);
  } catch (cause) {
    throw argsError(field, 'not a usable id', cause);
  }
}

function amountOf(value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value <= 0n || value > MAX_AMOUNT) throw argsError(field, 'must be in 1..2^128-1');
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw argsError(field, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

function argsError(field: string, message: string, cause?: unknown): LoulanError {
  return new LoulanError('DECISION_ARGS', `decision args ${field}: ${message}`, { details: { field }, ...(cause === undefined ? {} : { cause }) });
}
