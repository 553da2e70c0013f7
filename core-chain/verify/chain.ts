/**
 * Following the chain across validator-set changes, trusting nothing but a starting set.
 *
 * Each header names the set that certifies the NEXT height (`nextValidatorSetHash`). When that differs
 * from its own set, the header is the last one certified by the outgoing set, and the item carrying
 * it must also carry the incoming set's keys, which must hash to that value: the hand-over is signed
 * by the validators being replaced, so a verifier never has to trust a set nobody it trusts vouched
 * for (the CometBFT light-client rule, without its skipping). From the following height on the
 * incoming set is the trusted one.
 *
 * Per item, in this order (pinned by test/vectors/loulan/header-chains.json):
 *
 *   1. the header decodes strictly                                         CODEC_*
 *   2. height = previous height + 1                                        HEADER_CHAIN_GAP
 *   3. prevHash = block hash of the previous header                        HEADER_CHAIN_BROKEN
 *   4. the certificate checks against the set trusted for this height      CERT_* (certificate.ts)
 *   5. if nextValidatorSetHash ≠ validatorSetHash, or the item carries a next set: the carried keys
 *      are present and hash to nextValidatorSetHash                        VALSET_MISMATCH
 *
 * The result is a checkpoint ({ set, header }): the last header and the set trusted for the height
 * after it. Feed it back as the start of the next call to resume where the last one stopped.
 */
import type { Certificate } from '../consensus/types.ts';
import { equalBytes, sha256, toHex } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import { blockHash, decodeHeader, type Header } from '../ledger/block.ts';
import { checkCertified, prepareSet, type PreparedSet, type TrustedValidatorSet } from './certificate.ts';

export interface HeaderChainItem {
  /** The encoded header (253 bytes). */
  readonly header: Uint8Array;
  readonly certificate: Certificate;
  /** The incoming set's keys, in index order; required when the header announces a change. */
  readonly nextValidatorSet?: readonly Uint8Array[];
}

/** A verified header and the set trusted for the height after it. */
export interface LightCheckpoint {
  readonly header: Header;
  readonly set: TrustedValidatorSet;
}

/**
 * Verifies consecutive headers starting from a trusted set (for the first item's height) or from a
 * checkpoint (the first item must then extend its header). Returns the checkpoint after the last one.
 *
 * @example
 * let checkpoint = verifyHeaderChain(genesisSet, items);         // blocks 1..k
 * checkpoint = verifyHeaderChain(checkpoint, moreItems);         // blocks k+1..m
 */
export function verifyHeaderChain(start: TrustedValidatorSet | LightCheckpoint, items: readonly HeaderChainItem[]): LightCheckpoint {
  const fromCheckpoint = 'header' in start;
  let set: PreparedSet = prepareSet(fromCheckpoint ? start.set : start);
  let previous: { readonly header: Header; readonly hash: Uint8Array } | null = fromCheckpoint
    ? { header: start.header, hash: blockHash(start.header) }
    : null;
  if (items.length === 0) {
    if (previous !== null) return { header: previous.header, set: { chainId: set.chainId, publicKeys: set.publicKeys } };
    throw new LoulanError('HEADER_CHAIN_GAP', 'an empty chain proves nothing', { details: { expected: 'at least one header', actual: 0 } });
  }

  for (const item of items) {
    const header = decodeHeader(item.header);
    const hash = sha256(item.header);
    if (previous !== null) {
      const expected = previous.header.height + 1n;
      if (header.height !== expected) {
        throw new LoulanError('HEADER_CHAIN_GAP', `header ${header.height} does not follow header ${previous.header.height}`, {
          details: { expected, actual: header.height },
        });
      }
      if (!equalBytes(header.prevHash, previous.hash)) {
        throw new LoulanError('HEADER_CHAIN_BROKEN', `header ${header.height} does not link to the header before it`, {
          details: { height: header.height, expected: toHex(previous.hash), actual: toHex(header.prevHash) },
        });
      }
    }
    checkCertified(set, header, hash, item.certificate);
    const changes = !equalBytes(header.nextValidatorSetHash, header.validatorSetHash);
    if (changes || item.nextValidatorSet !== undefined) set = nextSet(set, header, item.nextValidatorSet);
    previous = { header, hash };
  }
  const last = previous as { readonly header: Header };
  return { header: last.header, set: { chainId: set.chainId, publicKeys: set.publicKeys } };
}

function nextSet(current: PreparedSet, header: Header, keys: readonly Uint8Array[] | undefined): PreparedSet {
  if (keys === undefined) {
    throw new LoulanError('VALSET_MISMATCH', `header ${header.height} announces a new validator set but does not carry it`, {
      details: { height: header.height, expected: toHex(header.nextValidatorSetHash), actual: null },
    });
  }
  let next: PreparedSet;
  try {
    next = prepareSet({ chainId: current.chainId, publicKeys: keys });
  } catch (cause) {
    // A malformed list hashes to no set a quorum could have certified.
    const field = cause instanceof LoulanError ? cause.details.field : undefined;
    throw new LoulanError('VALSET_MISMATCH', `the set carried with header ${header.height} is malformed`, {
      details: { height: header.height, expected: toHex(header.nextValidatorSetHash), actual: null, field },
      cause,
    });
  }
  if (!equalBytes(next.hash, header.nextValidatorSetHash)) {
    throw new LoulanError('VALSET_MISMATCH', `the set carried with header ${header.height} is not the one it announces`, {
      details: { height: header.height, expected: toHex(header.nextValidatorSetHash), actual: toHex(next.hash) },
    });
  }
  return next;
}
