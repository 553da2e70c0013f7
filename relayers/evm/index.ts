/** Verifying evidence out of EVM chains: receipt proofs under the receipts root, and notary attestations. */
export {
  verifyEvmEvidence,
  receiptLog,
  evmEvidenceFromJson,
  evmEvidenceToJson,
  type EvmEvidence,
  type EvmEvidenceOptions,
  type EvmLog,
  type VerifiedEvmLog,
} from './evidence.ts';
export { NOTARY_DOMAIN, evmNotaryDigest, verifyNotaryAttestations, type EvmNotary, type IgnoredAttestation } from './notary.ts';
export { mptProvenValue, type ProofFailure } from './mpt.ts';
