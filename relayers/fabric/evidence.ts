/**
 * Evidence that a Fabric network endorsed a chaincode event, and its verifier (DESIGN §7: "endorsements
 * on the transaction satisfy the network's endorsement policy; signer certificates chain to the
 * network's registered MSP roots"; who must be honest: the endorsing organisations named in the policy).
 *
 * The evidence is cut from the transaction envelope as it sits on the ledger: the proposal header and
 * proposal payload (they bind the channel and the transaction id, through proposal_hash), the
 * proposal response payload (proposal_hash + the ChaincodeAction: read/write set, event, response,
 * chaincode id), and the endorsements over it. Nothing the relayer could choose is trusted: the
 * channel, tx id and chaincode ids it states are compared against the signed bytes.
 *
 * Checks, in order, each with its code:
 *   1. every endorsement parses, and its signature verifies over payload ‖ endorser . FABRIC_BAD_ENDORSEMENT
 *   2. every endorser's certificate chains to a registered root of its MSP .......... FABRIC_UNKNOWN_CA
 *   3. the distinct endorsers satisfy the endorsement policy .......................... FABRIC_POLICY_UNMET
 *   4. the payload binds the header (proposal hash, tx id = H(nonce ‖ creator)), and
 *      its ChaincodeAction holds the expected chaincode, a success response and the
 *      expected event ........................................................... FABRIC_EVENT_MISMATCH
 *
 * What this does NOT prove: that the transaction was committed VALID. Fabric's validation result
 * (MVCC, policy) lives in unsigned block metadata; an endorsed transaction that lost an MVCC race
 * carries the same valid endorsements. Confirmation evidence (confirmation.ts: an endorsed read-only
 * query of the committed state) closes that gap; docs/fabric.md says which to use when.
 */
import { createHash } from 'node:crypto';
import { common, peer } from '@hyperledger/fabric-protos';
import { equalBytes, fromBase64url, LoulanError, toBase64url, type ErrorCode } from '../../core-chain/index.ts';
import { mspVerifier, parseIdentity, verifyFabricSignature, type MspRoots, type VerifiedIdentity } from './msp.ts';
import { formatPolicy, parsePolicy, policySatisfied, type EndorsementPolicy } from './policy.ts';

export const FABRIC_EVIDENCE_VERSION = 1;

export interface FabricEndorsement {
  /** msp.SerializedIdentity bytes of the endorsing peer. */
  readonly endorser: Uint8Array;
  /** DER ECDSA signature over proposalResponsePayload ‖ endorser. */
  readonly signature: Uint8Array;
}

export interface FabricEvidence {
  readonly channelId: string;
  readonly txId: string;
  readonly chaincodeId: string;
  /** common.Header of the proposal (channel header + signature header). */
  readonly header: Uint8Array;
  /** peer.ChaincodeProposalPayload without transient data, as it appears in the transaction. */
  readonly proposalPayload: Uint8Array;
  readonly proposalResponsePayload: Uint8Array;
  readonly endorsements: readonly FabricEndorsement[];
}

/** JSON form: byte fields as base64url, plus a version. */
export interface FabricEvidenceJson {
  readonly version: number;
  readonly channelId: string;
  readonly txId: string;
  readonly chaincodeId: string;
  readonly header: string;
  readonly proposalPayload: string;
  readonly proposalResponsePayload: string;
  readonly endorsements: readonly { readonly endorser: string; readonly signature: string }[];
}

export interface FabricEventExpectation {
  readonly chaincode: string;
  readonly eventName: string;
  /** When given, the event payload must equal it byte for byte. */
  readonly payload?: Uint8Array;
  readonly channelId?: string;
  readonly txId?: string;
}

export interface VerifyFabricEvidenceOptions {
  /** The network's registered MSP root certificates (PEM) per MSP id. */
  readonly mspRoots: MspRoots;
  /** The chaincode's endorsement policy, as text or parsed. */
  readonly policy: string | EndorsementPolicy;
  readonly expected: FabricEventExpectation;
}

export interface VerifiedFabricEvent {
  readonly channelId: string;
  readonly txId: string;
  readonly chaincodeId: string;
  readonly eventName: string;
  readonly payload: Uint8Array;
  /** The chaincode's return value. */
  readonly result: Uint8Array;
  readonly endorsers: readonly { readonly mspId: string; readonly role: string; readonly subject: string }[];
}

function fail(code: ErrorCode, message: string, details: Record<string, unknown>, cause?: unknown): LoulanError {
  return new LoulanError(code, message, { details, ...(cause === undefined ? {} : { cause }) });
}

const mismatch = (field: string, expected?: unknown, actual?: unknown): LoulanError =>
  fail('FABRIC_EVENT_MISMATCH', `the endorsed transaction does not match the claim: ${field}`, { field, ...(expected === undefined ? {} : { expected, actual }) });

/**
 * Cuts the evidence out of a transaction envelope (`common.Envelope` bytes, as `FabricClient.submit`
 * returns it or qscc `GetTransactionByID` serves it).
 */
export function evidenceFromEnvelope(envelope: Uint8Array): FabricEvidence {
  try {
    const payload = common.Payload.deserializeBinary(common.Envelope.deserializeBinary(envelope).getPayload_asU8());
    const header = payload.getHeader()!;
    const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    const action = peer.Transaction.deserializeBinary(payload.getData_asU8()).getActionsList()[0]!;
    const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
    const endorsed = actionPayload.getAction()!;
    const chaincodeId = peer.ChaincodeHeaderExtension.deserializeBinary(channelHeader.getExtension_asU8()).getChaincodeId()?.getName() ?? '';
    return {
      channelId: channelHeader.getChannelId(),
      txId: channelHeader.getTxId(),
      chaincodeId,
      header: header.serializeBinary(),
      proposalPayload: actionPayload.getChaincodeProposalPayload_asU8(),
      proposalResponsePayload: endorsed.getProposalResponsePayload_asU8(),
      endorsements: endorsed.getEndorsementsList().map((e) => ({ endorser: e.getEndorser_asU8(), signature: e.getSignature_asU8() })),
    };
  } catch (cause) {
    throw fail('FABRIC_BAD_ENDORSEMENT', 'not an endorsed Fabric transaction envelope', { field: 'envelope' }, cause);
  }
}

export function evidenceToJson(evidence: FabricEvidence): FabricEvidenceJson {
  return {
    version: FABRIC_EVIDENCE_VERSION,
    channelId: evidence.channelId,
    txId: evidence.txId,
    chaincodeId: evidence.chaincodeId,
    header: toBase64url(evidence.header),
    proposalPayload: toBase64url(evidence.proposalPayload),
    proposalResponsePayload: toBase64url(evidence.proposalResponsePayload),
    endorsements: evidence.endorsements.map((e) => ({ endorser: toBase64url(e.endorser), signature: toBase64url(e.signature) })),
  };
}

/** Parses the JSON form; throws FABRIC_BAD_ENDORSEMENT (`details.field`) on any malformed field. */
export function evidenceFromJson(json: unknown): FabricEvidence {
  const bad = (field: string, cause?: unknown): LoulanError => fail('FABRIC_BAD_ENDORSEMENT', `malformed Fabric evidence: ${field}`, { field }, cause);
  if (typeof json !== 'object' || json === null) throw bad('evidence');
  const record = json as Record<string, unknown>;
  if (record['version'] !== FABRIC_EVIDENCE_VERSION) throw bad('version');
  const text = (field: string): string => {
    const value = record[field];
    if (typeof value !== 'string') throw bad(field);
    return value;
  };
  const bytes = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string') throw bad(field);
    try {
      return fromBase64url(value);
    } catch (cause) {
      throw bad(field, cause);
    }
  };
  const endorsements = record['endorsements'];
  if (!Array.isArray(endorsements) || endorsements.length > 64) throw bad('endorsements');
  return {
    channelId: text('channelId'),
    txId: text('txId'),
    chaincodeId: text('chaincodeId'),
    header: bytes(record['header'], 'header'),
    proposalPayload: bytes(record['proposalPayload'], 'proposalPayload'),
    proposalResponsePayload: bytes(record['proposalResponsePayload'], 'proposalResponsePayload'),
    endorsements: endorsements.map((entry: unknown, index) => {
      const e = (entry ?? {}) as Record<string, unknown>;
      return { endorser: bytes(e['endorser'], `endorsements/${index}/endorser`), signature: bytes(e['signature'], `endorsements/${index}/signature`) };
    }),
  };
}

/**
 * Verifies Fabric evidence for one chaincode event; returns the event and who endorsed it, or throws
 * a LoulanError with one of the four FABRIC_* evidence codes (see the module comment).
 *
 * @example
 * const event = verifyFabricEvidence(evidence, {
 *   mspRoots: { Org1MSP: [org1Root], Org2MSP: [org2Root] },
 *   policy: "AND('Org1MSP.peer','Org2MSP.peer')",
 *   expected: { chaincode: 'points', eventName: 'locked' },
 * });
 */
export function verifyFabricEvidence(evidence: FabricEvidence, options: VerifyFabricEvidenceOptions): VerifiedFabricEvent {
  return fabricEvidenceVerifier(options)(evidence, options.expected);
}

/**
 * The same checks with the roots and the policy parsed once, for a relayer that verifies many
 * pieces of evidence from one network.
 */
export function fabricEvidenceVerifier(options: Omit<VerifyFabricEvidenceOptions, 'expected'>): (evidence: FabricEvidence, expected: FabricEventExpectation) => VerifiedFabricEvent {
  const policy = typeof options.policy === 'string' ? parsePolicy(options.policy) : options.policy;
  const identify = mspVerifier(options.mspRoots);
  return (evidence, expected) => verify(evidence, policy, identify, expected);
}

/** What the shared checks bind: the chaincode, and optionally the channel and transaction id. */
export interface EndorsedActionExpectation {
  readonly chaincode: string;
  readonly channelId?: string;
  readonly txId?: string;
}

/** A ChaincodeAction whose endorsements, CA chains, policy and header binding have been checked. */
export interface EndorsedAction {
  readonly action: peer.ChaincodeAction;
  /** The proposal payload the endorsers' proposal hash covers (function and arguments). */
  readonly proposalPayload: peer.ChaincodeProposalPayload;
  readonly endorsers: VerifiedFabricEvent['endorsers'];
}

/**
 * Checks 1 to 3 and the binding part of 4, shared by event evidence and confirmation evidence
 * (confirmation.ts): signatures, CA chains, policy, then that the signed payload binds the stated
 * header, channel, tx id and chaincode. Internal to relayers/fabric (not exported by index.ts).
 */
export function endorsedAction(evidence: FabricEvidence, policy: EndorsementPolicy, identify: (serialized: Uint8Array) => VerifiedIdentity, expected: EndorsedActionExpectation): EndorsedAction {
  if (evidence.endorsements.length === 0) throw fail('FABRIC_POLICY_UNMET', 'the transaction carries no endorsement', { policy: formatPolicy(policy), endorsers: [] });

  // 1 and 2: signatures first (a tampered payload fails here whatever the CA), then the chain.
  const signers = new Map<string, VerifiedIdentity>();
  evidence.endorsements.forEach((endorsement, index) => {
    let certificate;
    try {
      certificate = parseIdentity(endorsement.endorser).certificate;
    } catch (cause) {
      throw fail('FABRIC_BAD_ENDORSEMENT', 'an endorser is not a serialized identity', { index, field: 'endorser' }, cause);
    }
    const signed = new Uint8Array(evidence.proposalResponsePayload.length + endorsement.endorser.length);
    signed.set(evidence.proposalResponsePayload);
    signed.set(endorsement.endorser, evidence.proposalResponsePayload.length);
    if (!verifyFabricSignature(certificate, signed, endorsement.signature)) {
      throw fail('FABRIC_BAD_ENDORSEMENT', `endorsement ${index} does not verify over the proposal response payload`, { index, field: 'signature' });
    }
    let identity: VerifiedIdentity;
    try {
      identity = identify(endorsement.endorser);
    } catch (error) {
      if (error instanceof LoulanError) throw fail(error.code, error.message, { ...error.details, index }, error);
      throw error;
    }
    signers.set(toBase64url(endorsement.endorser), identity);
  });

  // 3: each distinct identity counts once.
  const distinct = [...signers.values()];
  if (!policySatisfied(policy, distinct)) {
    throw fail('FABRIC_POLICY_UNMET', 'the endorsements do not satisfy the endorsement policy', { policy: formatPolicy(policy), endorsers: distinct.map((s) => `${s.mspId}.${s.role}`) });
  }

  // 4 (binding): the signed payload binds the stated header, channel, tx id and chaincode.
  let header: common.Header, channelHeader: common.ChannelHeader, signatureHeader: common.SignatureHeader;
  let responsePayload: peer.ProposalResponsePayload, action: peer.ChaincodeAction, proposalPayload: peer.ChaincodeProposalPayload;
  try {
    header = common.Header.deserializeBinary(evidence.header);
    channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    signatureHeader = common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8());
    responsePayload = peer.ProposalResponsePayload.deserializeBinary(evidence.proposalResponsePayload);
    action = peer.ChaincodeAction.deserializeBinary(responsePayload.getExtension_asU8());
    proposalPayload = peer.ChaincodeProposalPayload.deserializeBinary(evidence.proposalPayload);
  } catch (cause) {
    throw fail('FABRIC_EVENT_MISMATCH', 'the header or the endorsed payload does not decode', { field: 'payload' }, cause);
  }
  const proposalHash = createHash('sha256').update(header.getChannelHeader_asU8()).update(header.getSignatureHeader_asU8()).update(evidence.proposalPayload).digest();
  if (!equalBytes(new Uint8Array(proposalHash), responsePayload.getProposalHash_asU8())) throw mismatch('proposalHash');
  if (channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) throw mismatch('headerType');
  const computedTxId = createHash('sha256').update(signatureHeader.getNonce_asU8()).update(signatureHeader.getCreator_asU8()).digest('hex');
  if (channelHeader.getTxId() !== evidence.txId || computedTxId !== evidence.txId) throw mismatch('txId', evidence.txId, channelHeader.getTxId());
  if (expected.txId !== undefined && expected.txId !== evidence.txId) throw mismatch('txId', expected.txId, evidence.txId);
  if (channelHeader.getChannelId() !== evidence.channelId) throw mismatch('channelId', evidence.channelId, channelHeader.getChannelId());
  if (expected.channelId !== undefined && expected.channelId !== evidence.channelId) throw mismatch('channelId', expected.channelId, evidence.channelId);
  const actionChaincode = action.getChaincodeId()?.getName() ?? '';
  if (actionChaincode !== evidence.chaincodeId) throw mismatch('chaincodeId', evidence.chaincodeId, actionChaincode);
  if (actionChaincode !== expected.chaincode) throw mismatch('chaincode', expected.chaincode, actionChaincode);
  return {
    action,
    proposalPayload,
    endorsers: distinct.map((s) => ({ mspId: s.mspId, role: s.role, subject: s.certificate.subject.replaceAll('\n', ',') })),
  };
}

function verify(evidence: FabricEvidence, policy: EndorsementPolicy, identify: (serialized: Uint8Array) => VerifiedIdentity, expected: FabricEventExpectation): VerifiedFabricEvent {
  const { action, endorsers } = endorsedAction(evidence, policy, identify, expected);
  const actionChaincode = evidence.chaincodeId;
  const response = action.getResponse();
  if (response === undefined || response.getStatus() < 200 || response.getStatus() >= 400) throw mismatch('response', 200, response?.getStatus());
  if (action.getEvents_asU8().length === 0) throw mismatch('event');
  let event: peer.ChaincodeEvent;
  try {
    event = peer.ChaincodeEvent.deserializeBinary(action.getEvents_asU8());
  } catch (cause) {
    throw fail('FABRIC_EVENT_MISMATCH', 'the chaincode event does not decode', { field: 'event' }, cause);
  }
  if (event.getChaincodeId() !== actionChaincode) throw mismatch('eventChaincode', actionChaincode, event.getChaincodeId());
  if (event.getTxId() !== evidence.txId) throw mismatch('eventTxId', evidence.txId, event.getTxId());
  if (event.getEventName() !== expected.eventName) throw mismatch('eventName', expected.eventName, event.getEventName());
  const payload = event.getPayload_asU8();
  if (expected.payload !== undefined && !equalBytes(payload, expected.payload)) throw mismatch('payload');

  return {
    channelId: evidence.channelId,
    txId: evidence.txId,
    chaincodeId: actionChaincode,
    eventName: event.getEventName(),
    payload: Uint8Array.from(payload),
    result: Uint8Array.from(response.getPayload_asU8()),
    endorsers,
  };
}
