/**
 * Event inclusion: that an event is leaf `index` of a verified header's eventsRoot.
 *
 * The leaf data is the event's encoding (ledger/events.ts) and the tree size is the header's
 * eventCount, so both come from certified bytes; the RFC 6962 leaf prefix keeps an inner node's
 * children from passing as an event. Raw bytes are hashed as given, not decoded first: the
 * verifier decides inclusion, not meaning, and Solidity and chaincode checks do the same.
 *
 * Order (pinned by test/vectors/loulan/event-proofs.json): an all-zero eventsRoot (no tree has it; a
 * header that carries it commits to nothing) is PROOF_ZERO_ROOT; an index outside the tree is
 * MERKLE_INDEX_RANGE; then MERKLE_BAD_PROOF with `details.reason` 'hash-length' (a path hash not 32
 * bytes), 'length' (not the RFC 9162 path length for index and size) or 'root' (leads elsewhere).
 * The first two reasons are checked here rather than left to merkle.ts so that they carry a reason
 * other implementations can match.
 */
import { HASH_LENGTH, inclusionPathLength, verifyInclusionOfData } from '../crypto/merkle.ts';
import { LoulanError } from '../errors.ts';
import type { Header } from '../ledger/block.ts';
import { encodeEvent, type LedgerEvent } from '../ledger/events.ts';

/**
 * Throws unless `event` (decoded, or its encoding) is event `index` of the block `header` commits
 * to. `header` must come from `verifyCommittedHeader` or `verifyHeaderChain`.
 *
 * @example
 * const header = verifyCommittedHeader(set, headerBytes, cert);
 * verifyEventProof(header, fromHex(proof.event), proof.index, proof.path.map((h) => fromHex(h)));
 */
export function verifyEventProof(header: Header, event: LedgerEvent | Uint8Array, index: number, path: readonly Uint8Array[]): void {
  if (isZero(header.eventsRoot)) {
    throw new LoulanError('PROOF_ZERO_ROOT', `block ${header.height} has an all-zero eventsRoot`, { details: { height: header.height, root: 'eventsRoot' } });
  }
  const treeSize = header.eventCount;
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new LoulanError('MERKLE_INDEX_RANGE', `event ${String(index)} is outside block ${header.height}'s ${treeSize} events`, {
      details: { height: header.height, index, treeSize },
    });
  }
  path.forEach((hash, i) => {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_LENGTH) badProof(header, index, 'hash-length', { element: i });
  });
  const expected = inclusionPathLength(index, treeSize);
  if (path.length !== expected) badProof(header, index, 'length', { expected, actual: path.length });
  const data = event instanceof Uint8Array ? event : encodeEvent(event);
  if (!verifyInclusionOfData(data, index, header.eventCount, path, header.eventsRoot)) {
    badProof(header, index, 'root', {});
  }
}

function badProof(header: Header, index: number, reason: 'hash-length' | 'length' | 'root', extra: Record<string, unknown>): never {
  throw new LoulanError('MERKLE_BAD_PROOF', `event ${index}'s path does not fit block ${header.height}'s eventsRoot (${reason})`, {
    details: { height: header.height, index, treeSize: header.eventCount, reason, ...extra },
  });
}

function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
