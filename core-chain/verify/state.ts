/**
 * State proofs: that a key held a value (or was absent) in the state a verified header commits to.
 *
 * A thin binding of the sparse-Merkle rule (core-chain/smt/proof.ts, the spec the Solidity and Go
 * verifiers follow) to the header's stateRoot, so a caller cannot check a proof against a root it did
 * not get from a certified header. The state root is the state AFTER the block executed.
 */
import type { Header } from '../ledger/block.ts';
import { hashStateKey, hashStateValue, verifySparseProof, type SparseProof } from '../smt/proof.ts';

/**
 * Throws unless `proof` shows `key` holding `value` (null: absent) in the state after block
 * `header`. `header` must come from `verifyCommittedHeader` or `verifyHeaderChain`. Errors are the
 * PROOF_* codes of smt/proof.ts (PROOF_ZERO_ROOT for an all-zero stateRoot) and CODEC_LENGTH for a
 * hash that is not 32 bytes.
 *
 * @example
 * verifyStateProof(header, 'asset/balance/0xAbC…', balanceBytes, proofFromJson(reply.proof));
 */
export function verifyStateProof(header: Header, key: string, value: Uint8Array | null, proof: SparseProof): void {
  verifySparseProof(header.stateRoot, hashStateKey(key), value === null ? null : hashStateValue(value), proof);
}
