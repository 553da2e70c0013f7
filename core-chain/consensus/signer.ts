/**
 * The real signing capability of a validator: secp256k1 with recovery id over SHA-256 of the layouts
 * in messages.ts, so any commit signature is checkable with `ecrecover`. Verification recovers the
 * signer's key and compares it with the registered one, which also pins the recovery id (OpenSSL's
 * plain verify would accept a wrong v, and a certificate with a wrong v fails on an EVM).
 */
import { sha256, secp256k1RecoverDigest, secp256k1SignDigest, equalBytes } from '../crypto/index.ts';
import { isLoulanError } from '../errors.ts';
import { commitSigningBytes, type ChainBinding } from './messages.ts';
import { quorum } from './quorum.ts';
import type { Certificate, ConsensusCrypto } from './types.ts';

/** Consensus crypto for validator `privateKey` among `publicKeys` (33-byte compressed, by index). */
export function validatorCrypto(publicKeys: readonly Uint8Array[], privateKey: Uint8Array | null): ConsensusCrypto {
  return {
    sign(message) {
      if (privateKey === null) throw new Error('this node holds no validator key');
      return secp256k1SignDigest(privateKey, sha256(message));
    },
    verify(from, message, sig) {
      const expected = publicKeys[from];
      if (expected === undefined || sig.length !== 65) return false;
      try {
        return equalBytes(secp256k1RecoverDigest(sha256(message), sig), expected);
      } catch (error) {
        if (isLoulanError(error)) return false;
        throw error;
      }
    },
  };
}

/**
 * Checks a commit certificate without trusting anyone: at least q signatures, signers strictly
 * increasing and members of the set, each one valid over the commit layout.
 */
export function certificateValid(cert: Certificate, chain: ChainBinding, publicKeys: readonly Uint8Array[]): boolean {
  if (cert.sigs.length < quorum(publicKeys.length)) return false;
  const crypto = validatorCrypto(publicKeys, null);
  const bytes = commitSigningBytes(chain, cert.height, cert.view, cert.digest);
  let previous = -1;
  for (const { from, sig } of cert.sigs) {
    if (!Number.isInteger(from) || from <= previous || from >= publicKeys.length) return false;
    previous = from;
    if (!crypto.verify(from, bytes, sig)) return false;
  }
  return true;
}
