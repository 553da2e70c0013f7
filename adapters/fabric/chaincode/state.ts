/**
 * World-state layout shared by the chaincode's contracts.
 *
 * Every key is a composite key (object type + attributes), so each record kind is its own key range
 * and a partial-key query lists one kind in key order, the only order Fabric guarantees to be the
 * same on every endorser. Values are RFC 8785 canonical JSON with amounts as decimal strings: two
 * endorsers executing the same transaction write byte-identical values, or their endorsements would
 * not match.
 *
 * There is deliberately no running total (supply, pool size): a key every mint or burn writes would
 * make concurrent transactions in one block fail Fabric's MVCC check against each other.
 *
 * Fabric reads committed state only: `getState` does not see this transaction's own `putState`. Each
 * transaction here therefore reads every key once, before it writes, and refuses inputs that would
 * make it read-modify-write one key twice (a transfer to oneself).
 */
import type { Context } from 'fabric-contract-api';
import { canonicalBytes } from '../../../core-chain/index.ts';
import { idArg, jsonSafe, result } from './wire.ts';

export type Stub = Context['stub'];

/** Object types of the composite keys. */
export const KEY_TYPES = {
  trust: 'loulan.trust',
  decision: 'loulan.decision',
  balance: 'points.balance',
  hold: 'points.hold',
  piece: 'receivables.piece',
  holder: 'receivables.holder',
} as const;

export const trustKey = (stub: Stub): string => stub.createCompositeKey(KEY_TYPES.trust, ['config']);
export const decisionKey = (stub: Stub, decisionIdHex: string): string => stub.createCompositeKey(KEY_TYPES.decision, [decisionIdHex]);
export const balanceKey = (stub: Stub, account: string): string => stub.createCompositeKey(KEY_TYPES.balance, [account]);
export const holdKey = (stub: Stub, holdId: string): string => stub.createCompositeKey(KEY_TYPES.hold, [holdId]);
export const pieceKey = (stub: Stub, pieceId: string): string => stub.createCompositeKey(KEY_TYPES.piece, [pieceId]);
export const holderKey = (stub: Stub, holder: string, pieceId: string): string => stub.createCompositeKey(KEY_TYPES.holder, [holder, pieceId]);

/** The value of an index entry: Fabric treats an empty value as a delete, so one byte. */
export const INDEX_VALUE = new Uint8Array([0]);

export async function readJson<T>(stub: Stub, key: string): Promise<T | undefined> {
  const bytes = await stub.getState(key);
  if (bytes === undefined || bytes === null || bytes.length === 0) return undefined;
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
}

/** Writes `value` as canonical JSON (bigints as decimal strings, bytes as hex). */
export async function writeJson(stub: Stub, key: string, value: unknown): Promise<void> {
  await stub.putState(key, canonicalBytes(jsonSafe(value)));
}

/** Sets the transaction's chaincode event (Fabric keeps one per transaction: the last set). */
export function emit(stub: Stub, name: string, payload: unknown): void {
  stub.setEvent(name, Buffer.from(result(payload), 'utf8'));
}

/**
 * The account of the calling identity: its Fabric identity id (`x509::<subject>::<issuer>`, as
 * `ClientIdentity.getID()` gives it), unique per certificate subject and issuing CA.
 */
export function callerAccount(ctx: Context): string {
  return idArg(ctx.clientIdentity.getID(), 'caller');
}
