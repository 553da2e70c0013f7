/** Fabric evidence: endorsement policies, MSP identity checks, and the evidence verifier. */
export { parsePolicy, formatPolicy, policyMsps, policySatisfied, type EndorsementPolicy, type FabricRole, type PolicySigner } from './policy.ts';
export { mspVerifier, parseIdentity, serializeIdentity, signFabric, verifyFabricSignature, type MspRoots, type VerifiedIdentity } from './msp.ts';
export {
  FABRIC_EVIDENCE_VERSION,
  evidenceFromEnvelope,
  evidenceFromJson,
  evidenceToJson,
  fabricEvidenceVerifier,
  verifyFabricEvidence,
  type FabricEndorsement,
  type FabricEventExpectation,
  type FabricEvidence,
  type FabricEvidenceJson,
  type VerifiedFabricEvent,
  type VerifyFabricEvidenceOptions,
} from './evidence.ts';
export {
  fabricConfirmationVerifier,
  verifyFabricConfirmation,
  type FabricConfirmationExpectation,
  type FabricRead,
  type VerifiedFabricConfirmation,
  type VerifyFabricConfirmationOptions,
} from './confirmation.ts';
