/**
 * Loulan chaincode for Fabric (fabric-contract-api, no decorators: the runtime dispatches a
 * contract's own methods by name). Host `contracts` in a peer or the emulator, then submit
 * `core:init` once (`initTransaction`). Failures carry their LoulanError code: see
 * `chaincodeErrorFromMessage`. docs/fabric-chaincode.md describes the transactions.
 */
import { CoreTrustContract } from './core.ts';
import { PointsContract } from './points.ts';
import { ReceivablesContract } from './receivables.ts';

export { CoreTrustContract, CORE_CONTRACT, initTransaction } from './core.ts';
export { PointsContract, POINTS_CONTRACT, type HoldRecord, type HoldStatus } from './points.ts';
export { ReceivablesContract, RECEIVABLES_CONTRACT, type PieceRecord, type PieceStatus } from './receivables.ts';
export type { TrustInit, TrustRecord } from './trust.ts';
export { chaincodeErrorFromMessage, ERROR_MARKER } from './wire.ts';
export {
  LOCK_PURPOSES,
  RELEASE_REASONS,
  encodeBurnArgs,
  encodeLockArgs,
  encodeMintArgs,
  encodePoolArgs,
  encodeRefundArgs,
  encodeReleaseArgs,
  encodeUnlockArgs,
  type HoldArgs,
  type LockArgs,
  type LockPurpose,
  type MintArgs,
  type PoolArgs,
  type ReleaseArgs,
  type ReleaseReason,
  type UnlockArgs,
} from './decision-args.ts';

/** Every contract of the chaincode; the first (points) is the default for unqualified names. */
export const contracts = [PointsContract, ReceivablesContract, CoreTrustContract] as const;
