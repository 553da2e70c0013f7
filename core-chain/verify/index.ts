/** Checking what the core chain decided without trusting any of its nodes. */
export { MAX_VALIDATORS, verifyCommittedHeader, type TrustedValidatorSet } from './certificate.ts';
export { verifyHeaderChain, type HeaderChainItem, type LightCheckpoint } from './chain.ts';
export { verifyEventProof } from './events.ts';
export { verifyStateProof } from './state.ts';
export {
  ANCHORED_EVENT,
  verifyAnchorProof,
  anchorLeaf,
  anchorProofFromJson,
  anchorProofToJson,
  decodeCertificateJson,
  type AnchorProof,
  type AnchorProofJson,
  type AnchoredLeaf,
  type AnchorExpectation,
} from './anchor.ts';
export type { SparseProof } from '../smt/proof.ts';
