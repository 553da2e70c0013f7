/**
 * Confirmation evidence: proof that a Fabric transaction's effect is in the committed world state,
 * not only that the transaction was endorsed.
 *
 * Event evidence (evidence.ts) cannot tell a valid transaction from one invalidated by an MVCC
 * conflict: Fabric writes the validation result into block metadata nobody signs. So, as Hyperledger
 * Cacti/Weaver does for data transfer, the relayer asks the peers of the policy's organisations to
 * ENDORSE (never submit) a read-only query after the commit, e.g. `points:getHold(holdId)`. Endorsers
 * simulate against their committed state and sign the ProposalResponsePayload, which holds the
 * chaincode response; endorsements that satisfy the policy therefore attest that the committed state
 * of those organisations answered this query with this result.
 *
 * On top of the shared checks (signatures, CA chains, policy, header binding: evidence.ts), a
 * confirmation must show:
 *   - the query it claims: function and arguments from the proposal payload the proposal hash binds
 *     (so `getHold(A)` cannot stand in for `getHold(B)`) ............. FABRIC_EVENT_MISMATCH function/args
 *   - a 200 response ......................................................... FABRIC_EVENT_MISMATCH response
 *   - no writes in any namespace or collection: the simulated result of a write is what the state
 *     WOULD hold if that write committed, which is exactly the claim to be proved ... FABRIC_EVENT_MISMATCH writes
 *   - the expected result (bytes, or a predicate over them) ...................... FABRIC_RESULT_MISMATCH
 * The result check comes last, so FABRIC_RESULT_MISMATCH means "genuine, but the state does not show
 * the effect": the transaction lost an MVCC race, was not committed yet, or was undone since.
 *
 * The keys the query read come back with their committed versions (block, tx): the version of a key
 * the effect wrote names the valid transaction that last wrote it, which binds the state to a commit.
 * What it does not prove: that the state still holds now. A confirmation speaks for the moment the
 * endorsers simulated it; a consumer that needs "not yet released" must ask for a newer one.
 */
import { ledger, peer } from '@hyperledger/fabric-protos';
import { equalBytes, LoulanError, toBase64url } from '../../core-chain/index.ts';
import { endorsedAction, type FabricEvidence, type VerifiedFabricEvent, type VerifyFabricEvidenceOptions } from './evidence.ts';
import { mspVerifier, type VerifiedIdentity } from './msp.ts';
import { parsePolicy, type EndorsementPolicy } from './policy.ts';

export interface FabricConfirmationExpectation {
  readonly chaincode: string;
  /** The query function as the client named it, e.g. `points:getHold`. */
  readonly fcn: string;
  /** Its arguments, compared byte for byte (strings as UTF-8). */
  readonly args: readonly (string | Uint8Array)[];
  /** The response payload the effect implies, or a predicate that accepts it. */
  readonly result: Uint8Array | ((result: Uint8Array) => boolean);
  readonly channelId?: string;
  readonly txId?: string;
}

export interface VerifyFabricConfirmationOptions extends Omit<VerifyFabricEvidenceOptions, 'expected'> {
  readonly expected: FabricConfirmationExpectation;
}

/** A key the query read by key (range scans are not listed), with the version (block, tx in block) that last wrote it; an absent key has none. */
export interface FabricRead {
  readonly namespace: string;
  readonly key: string;
  readonly version?: { readonly blockNum: bigint; readonly txNum: bigint };
}

export interface VerifiedFabricConfirmation {
  readonly channelId: string;
  /** The query's own transaction id (never ordered). */
  readonly txId: string;
  readonly chaincodeId: string;
  readonly fcn: string;
  readonly args: readonly Uint8Array[];
  /** The chaincode response payload: what the committed state answered. */
  readonly result: Uint8Array;
  readonly reads: readonly FabricRead[];
  readonly endorsers: VerifiedFabricEvent['endorsers'];
}

const MAX_DETAIL_BYTES = 1024;
const utf8 = new TextEncoder();

function mismatch(field: string, extra: Record<string, unknown> = {}, cause?: unknown): LoulanError {
  return new LoulanError('FABRIC_EVENT_MISMATCH', `the endorsed query does not match the claim: ${field}`, { details: { field, ...extra }, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Verifies confirmation evidence (an endorsed, never submitted read-only query: `FabricClient.confirm`
 * → `evidenceFromEnvelope`); returns the query, its result and the versions it read, or throws
 * FABRIC_BAD_ENDORSEMENT, FABRIC_UNKNOWN_CA, FABRIC_POLICY_UNMET, FABRIC_EVENT_MISMATCH or
 * FABRIC_RESULT_MISMATCH (see the module comment).
 *
 * @example
 * const confirmed = verifyFabricConfirmation(evidenceFromEnvelope(confirmation.envelope), {
 *   mspRoots, policy: "AND('Org1MSP.peer','Org2MSP.peer')",
 *   expected: { chaincode: 'loulan', fcn: 'points:getHold', args: [holdId], result: hold.result },
 * });
 */
export function verifyFabricConfirmation(evidence: FabricEvidence, options: VerifyFabricConfirmationOptions): VerifiedFabricConfirmation {
  return fabricConfirmationVerifier(options)(evidence, options.expected);
}

/** The same checks with the roots and the policy parsed once. */
export function fabricConfirmationVerifier(
  options: Omit<VerifyFabricConfirmationOptions, 'expected'>,
): (evidence: FabricEvidence, expected: FabricConfirmationExpectation) => VerifiedFabricConfirmation {
  const policy = typeof options.policy === 'string' ? parsePolicy(options.policy) : options.policy;
  const identify = mspVerifier(options.mspRoots);
  return (evidence, expected) => verify(evidence, policy, identify, expected);
}

function verify(evidence: FabricEvidence, policy: EndorsementPolicy, identify: (serialized: Uint8Array) => VerifiedIdentity, expected: FabricConfirmationExpectation): VerifiedFabricConfirmation {
  const { action, proposalPayload, endorsers } = endorsedAction(evidence, policy, identify, expected);

  // The query: ChaincodeInvocationSpec.chaincode_spec.input.args = [fcn, ...args].
  let invoked: Uint8Array[];
  try {
    invoked = peer.ChaincodeInvocationSpec.deserializeBinary(proposalPayload.getInput_asU8()).getChaincodeSpec()?.getInput()?.getArgsList_asU8() ?? [];
  } catch (cause) {
    throw mismatch('function', {}, cause);
  }
  const [fcnBytes, ...args] = invoked;
  const fcn = fcnBytes === undefined ? '' : new TextDecoder().decode(fcnBytes);
  if (fcnBytes === undefined || !equalBytes(fcnBytes, utf8.encode(expected.fcn))) throw mismatch('function', { expected: expected.fcn, actual: fcn });
  const wanted = expected.args.map((arg) => (typeof arg === 'string' ? utf8.encode(arg) : arg));
  if (args.length !== wanted.length) throw mismatch('args', { expected: wanted.length, actual: args.length });
  const differs = args.findIndex((arg, index) => !equalBytes(arg, wanted[index]!));
  if (differs >= 0) throw mismatch('args', { index: differs });

  const response = action.getResponse();
  if (response === undefined || response.getStatus() !== 200) throw mismatch('response', { expected: 200, actual: response?.getStatus() });

  const reads = readsOf(action);

  const result = Uint8Array.from(response.getPayload_asU8());
  const accepted = typeof expected.result === 'function' ? expected.result(result) : equalBytes(result, expected.result);
  if (!accepted) {
    const actual = result.length <= MAX_DETAIL_BYTES ? { actual: toBase64url(result) } : { actualLength: result.length };
    throw new LoulanError('FABRIC_RESULT_MISMATCH', 'the committed state the endorsers read does not show the expected result', { details: { field: 'result', ...actual } });
  }
  return { channelId: evidence.channelId, txId: evidence.txId, chaincodeId: evidence.chaincodeId, fcn, args, result, reads, endorsers };
}

/** The point reads of every namespace; throws FABRIC_EVENT_MISMATCH 'writes' if the simulation wrote anything. */
function readsOf(action: peer.ChaincodeAction): FabricRead[] {
  let sets: { namespace: string; kv: ledger.rwset.kvrwset.KVRWSet; hashed: ledger.rwset.kvrwset.HashedRWSet[] }[];
  try {
    sets = ledger.rwset.TxReadWriteSet.deserializeBinary(action.getResults_asU8())
      .getNsRwsetList()
      .map((ns) => ({
        namespace: ns.getNamespace(),
        kv: ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8()),
        hashed: ns.getCollectionHashedRwsetList().map((collection) => ledger.rwset.kvrwset.HashedRWSet.deserializeBinary(collection.getHashedRwset_asU8())),
      }));
  } catch (cause) {
    throw mismatch('writes', {}, cause);
  }
  const reads: FabricRead[] = [];
  for (const { namespace, kv, hashed } of sets) {
    const written = kv.getWritesList().length + kv.getMetadataWritesList().length + hashed.reduce((n, h) => n + h.getHashedWritesList().length + h.getMetadataWritesList().length, 0);
    if (written > 0) throw mismatch('writes', { namespace, count: written });
    for (const read of kv.getReadsList()) {
      const version = read.getVersion();
      reads.push({ namespace, key: read.getKey(), ...(version === undefined ? {} : { version: { blockNum: BigInt(version.getBlockNum()), txNum: BigInt(version.getTxNum()) } }) });
    }
  }
  return reads;
}
