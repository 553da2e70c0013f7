/**
 * fabric-gateway's errors as LoulanErrors, one code per phase that failed, so a caller can tell a
 * safe resend from a transaction that may already be on the ledger:
 *
 * | fabric-gateway error            | code                  | on the ledger?                          |
 * | ------------------------------- | --------------------- | --------------------------------------- |
 * | GatewayError from evaluate      | FABRIC_ENDORSE        | never (evaluation is not ordered)       |
 * | an event or block stream failed | FABRIC_ENDORSE        | n/a (`details.operation` is `events`)   |
 * | EndorseError                    | FABRIC_ENDORSE        | no: resend freely                       |
 * | SubmitError                     | FABRIC_SUBMIT         | probably not: resend the same signed tx |
 * | CommitStatusError               | FABRIC_COMMIT_STATUS  | maybe: ask for the status again         |
 * | CommitError / unsuccessful code | FABRIC_COMMIT         | yes, marked invalid                     |
 *
 * Every error carries `details.txId` (when one was assigned) and the gRPC status code; a commit error
 * carries the validation code by name and number.
 */
import { peer } from '@hyperledger/fabric-protos';
import { LoulanError } from '../../core-chain/index.ts';

const VALIDATION_NAMES = new Map<number, string>(Object.entries(peer.TxValidationCode).map(([name, code]) => [code as number, name]));

/** `MVCC_READ_CONFLICT` for 11, and so on; `UNKNOWN_<n>` for a code Fabric does not name. */
export function validationCodeName(code: number): string {
  return VALIDATION_NAMES.get(code) ?? `UNKNOWN_${code}`;
}

interface GatewayErrorShape {
  readonly name?: string;
  readonly message?: string;
  readonly code?: number;
  readonly transactionId?: string;
  readonly details?: readonly { readonly address: string; readonly mspId: string; readonly message: string }[];
}

/** The LoulanError for a failure of `operation`; `txId` when the caller knows it better than the error. */
export function fabricError(error: unknown, operation: 'evaluate' | 'endorse' | 'submit' | 'commitStatus' | 'events', txId?: string): LoulanError {
  if (error instanceof LoulanError) return error;
  const shape = (error ?? {}) as GatewayErrorShape;
  const id = shape.transactionId ?? txId;
  const peers = (shape.details ?? []).map((detail) => ({ mspId: detail.mspId, address: detail.address, message: detail.message }));
  const details = { ...(id === undefined ? {} : { txId: id }), operation, ...(typeof shape.code === 'number' ? { grpcCode: shape.code } : {}), ...(peers.length > 0 ? { peers } : {}) };
  const message = shape.message ?? String(error);
  if (shape.name === 'SubmitError' || operation === 'submit') return new LoulanError('FABRIC_SUBMIT', message, { details, cause: error });
  if (shape.name === 'CommitStatusError' || operation === 'commitStatus') return new LoulanError('FABRIC_COMMIT_STATUS', message, { details, cause: error });
  return new LoulanError('FABRIC_ENDORSE', message, { details, cause: error });
}

/** FABRIC_COMMIT for a transaction committed with a validation code other than VALID. */
export function commitError(txId: string, blockNumber: bigint, code: number): LoulanError {
  const name = validationCodeName(code);
  return new LoulanError('FABRIC_COMMIT', `transaction ${txId} was committed invalid: ${name}`, { details: { txId, blockNumber: blockNumber.toString(), validationCode: name, code } });
}
