/**
 * Checking one committed header against a validator set the caller already trusts.
 *
 * This is the rule every outside verifier repeats (this library, the Solidity contract, the Fabric
 * chaincode), so it is written as one flat sequence of checks with one error code each, in an order
 * fixed here and pinned by test/vectors/loulan/headers.json. A certificate with several defects
 * therefore reports the same code everywhere:
 *
 *   1. the header decodes strictly (253 bytes, version 1)               CODEC_*
 *   2. header.chainId = set.chainId                                    CERT_WRONG_CHAIN
 *   3. header.validatorSetHash = validatorSetHash(set)                 CERT_WRONG_VALIDATOR_SET
 *   4. certificate.height = header.height, then
 *      certificate.digest = SHA-256(header bytes)                       CERT_WRONG_BLOCK
 *   5. at least q = ceil((n+f+1)/2) signatures, f = floor((n-1)/3)      CERT_TOO_FEW_SIGNERS
 *   6. signer by signer, in the order given: an index that is not an integer >= 0 is
 *      CERT_NON_MEMBER; one not above the previous one is CERT_SIGNERS_UNSORTED; one >= n is
 *      CERT_NON_MEMBER. All indexes are checked before any signature.
 *   7. signature by signature, in the order given: 65 bytes r ‖ s ‖ v, 0 < r, s < order, s <= order/2,
 *      v in {0, 1} (CRYPTO_MALFORMED_SIGNATURE, `details.signer`); then the key it recovers over
 *      SHA-256(commitSigningBytes(chainId, setHash, height, view, digest)) is the member's key
 *      (CERT_BAD_SIGNATURE, `details.signer`; also when it recovers no key at all).
 *
 * Every listed signature must be valid, not just q of them: a certificate is one object and a bad
 * part makes the whole suspect (and keeps "which signatures count" out of the rule).
 *
 * The validator set is what the caller trusts (from the genesis, or carried forward by
 * `verifyHeaderChain`); nothing in the header or certificate is trusted before these checks pass.
 */
import { commitSigningBytes } from '../consensus/messages.ts';
import { quorum } from '../consensus/quorum.ts';
import type { Certificate } from '../consensus/types.ts';
import { equalBytes, sha256, toHex } from '../crypto/hash.ts';
import { secp256k1RecoverDigest } from '../crypto/secp256k1.ts';
import { isLoulanError, LoulanError } from '../errors.ts';
import { decodeHeader, type Header } from '../ledger/block.ts';
import { validatorSetHash } from '../ledger/genesis.ts';

/** The largest validator set a verifier accepts (the consensus wire format's bound). */
export const MAX_VALIDATORS = 1024;

const MAX_U64 = (1n << 64n) - 1n;

/**
 * A validator set as a verifier trusts it: the chain it runs and its 33-byte compressed secp256k1
 * keys in index order (the signer order of certificates). Its hash is `validatorSetHash(publicKeys)`.
 */
export interface TrustedValidatorSet {
  readonly chainId: Uint8Array;
  readonly publicKeys: readonly Uint8Array[];
}

/** A trusted set with what every check needs computed once. */
export interface PreparedSet {
  readonly chainId: Uint8Array;
  readonly publicKeys: readonly Uint8Array[];
  readonly hash: Uint8Array;
  readonly quorum: number;
}

/**
 * Checks the shape of a set (1..1024 distinct 33-byte keys, a 32-byte chainId) and computes its hash
 * and quorum. Throws VALSET_INVALID naming the field.
 */
export function prepareSet(set: TrustedValidatorSet): PreparedSet {
  if (!(set.chainId instanceof Uint8Array) || set.chainId.length !== 32) invalidSet('chainId', 'chainId must be 32 bytes');
  const keys = set.publicKeys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_VALIDATORS) {
    invalidSet('publicKeys', `a validator set has 1..${MAX_VALIDATORS} keys`);
  }
  const seen = new Set<string>();
  const publicKeys = keys.map((key, i) => {
    if (!(key instanceof Uint8Array) || key.length !== 33) invalidSet(`publicKeys/${i}`, 'a validator key is 33 bytes (compressed secp256k1)');
    const hex = toHex(key);
    // A key listed twice would count twice towards the quorum.
    if (seen.has(hex)) invalidSet(`publicKeys/${i}`, 'a validator key appears twice');
    seen.add(hex);
    return key.slice();
  });
  return {
    chainId: set.chainId.slice(),
    publicKeys,
    hash: validatorSetHash(publicKeys.map((publicKey) => ({ publicKey }))),
    quorum: quorum(publicKeys.length),
  };
}

/**
 * Verifies that `headerBytes` is a block of the chain certified by `set`, and returns the decoded
 * header. Throws a LoulanError whose code names the first failed check (see the module comment).
 *
 * Use it for any header whose validator set you hold. Skipping ahead from an older trusted header is
 * only safe while the set has not changed; to follow changes, verify the transition headers with
 * `verifyHeaderChain`.
 *
 * @example
 * const header = verifyCommittedHeader({ chainId, publicKeys }, fromHex(block.headerBytes), cert);
 * verifyEventProof(header, event, index, path);
 */
export function verifyCommittedHeader(set: TrustedValidatorSet, headerBytes: Uint8Array, certificate: Certificate): Header {
  const prepared = prepareSet(set);
  const header = decodeHeader(headerBytes);
  checkCertified(prepared, header, sha256(headerBytes), certificate);
  return header;
}

/** Checks 2..7 of the module comment for a header already decoded from bytes hashing to `hash`. */
export function checkCertified(set: PreparedSet, header: Header, hash: Uint8Array, cert: Certificate): void {
  if (!equalBytes(header.chainId, set.chainId)) {
    throw new LoulanError('CERT_WRONG_CHAIN', 'the header belongs to another chain', {
      details: { expected: toHex(set.chainId), actual: toHex(header.chainId) },
    });
  }
  if (!equalBytes(header.validatorSetHash, set.hash)) {
    throw new LoulanError('CERT_WRONG_VALIDATOR_SET', 'the header names another validator set than the one trusted', {
      details: { height: header.height, expected: toHex(set.hash), actual: toHex(header.validatorSetHash) },
    });
  }
  if (cert.height !== header.height) {
    throw new LoulanError('CERT_WRONG_BLOCK', `the certificate is for height ${cert.height}, the header is ${header.height}`, {
      details: { field: 'height', expected: header.height, actual: cert.height },
    });
  }
  if (!(cert.digest instanceof Uint8Array) || !equalBytes(cert.digest, hash)) {
    throw new LoulanError('CERT_WRONG_BLOCK', 'the certificate is for another block', {
      details: { field: 'digest', height: header.height, expected: toHex(hash) },
    });
  }
  if (typeof cert.view !== 'bigint' || cert.view < 0n || cert.view > MAX_U64) {
    throw new LoulanError('CODEC_RANGE', 'the certificate view is not a u64', { details: { field: 'certificate.view' } });
  }

  const n = set.publicKeys.length;
  const sigs = cert.sigs;
  if (sigs.length < set.quorum) {
    throw new LoulanError('CERT_TOO_FEW_SIGNERS', `${sigs.length} signatures, the quorum of ${n} is ${set.quorum}`, {
      details: { have: sigs.length, need: set.quorum },
    });
  }
  let previous = -1;
  for (const { from } of sigs) {
    if (!Number.isSafeInteger(from) || from < 0) nonMember(from);
    if (from <= previous) {
      throw new LoulanError('CERT_SIGNERS_UNSORTED', `signer ${from} follows signer ${previous}`, { details: { signer: from, previous } });
    }
    if (from >= n) nonMember(from);
    previous = from;
  }

  const digest = sha256(commitSigningBytes({ chainId: set.chainId, validatorSetHash: set.hash }, cert.height, cert.view, cert.digest));
  for (const { from, sig } of sigs) {
    let recovered: Uint8Array | null;
    try {
      recovered = secp256k1RecoverDigest(digest, sig);
    } catch (error) {
      if (!isLoulanError(error)) throw error;
      if (error.code === 'CRYPTO_MALFORMED_SIGNATURE') {
        throw new LoulanError('CRYPTO_MALFORMED_SIGNATURE', `signature of signer ${from} is malformed`, {
          details: { ...error.details, signer: from },
          cause: error,
        });
      }
      if (error.code !== 'CRYPTO_SIGNATURE_INVALID') throw error;
      recovered = null;
    }
    if (recovered === null || !equalBytes(recovered, set.publicKeys[from] as Uint8Array)) {
      throw new LoulanError('CERT_BAD_SIGNATURE', `signature in slot ${from} is not by validator ${from}`, {
        details: { signer: from, height: header.height },
      });
    }
  }
}

function nonMember(from: number): never {
  throw new LoulanError('CERT_NON_MEMBER', `signer ${String(from)} is not a member of the validator set`, { details: { signer: from } });
}

function invalidSet(field: string, message: string): never {
  throw new LoulanError('VALSET_INVALID', message, { details: { field } });
}
