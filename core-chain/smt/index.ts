/** The state tree (a compressed sparse Merkle tree), its proofs and their encodings. */
export {
  ZERO,
  MAX_DEPTH,
  hashStateKey,
  hashStateValue,
  verifySparseProof,
  rootFromProof,
  proofToJson,
  proofFromJson,
  encodeProof,
  decodeProof,
  encodeProofCompact,
  decodeProofCompact,
  type SparseProof,
  type SparseProofJson,
} from './proof.ts';
export { SparseMerkleTree, TreeUpdate, type NodeWrite, type TreeChange } from './tree.ts';
