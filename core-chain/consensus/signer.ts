/**
 * The real signing capability of a validator: secp256k1 over SHA-256 of the layouts in messages.ts.
 *
 * Commit votes are what certificates are made of, and certificates are checked with `ecrecover` on
 * EVM chains: they carry a recovery id, are signed deterministically (RFC 6979, @noble/curves) and are
 * verified by recovering the signer's key, which also pins the recovery id (OpenSSL's plain verify
 * would accept a wrong v, and a certificate with a wrong v fails on an EVM).
 *
 * Every other consensus message (proposals, prepares, view changes, status) only needs to prove its
 * sender to the other validators, so it is signed and checked with OpenSSL, several times faster
 * than recovery in JavaScript: these checks sit on the critical path of every height. Such a
 * signature is r || s (low s) || 0: the same 65-byte shape, with no meaningful recovery id.
 */
import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { sha256, secp256k1RecoverDigest, secp256k1SignDigest, equalBytes } from '../crypto/index.ts';
import { privateKeyObject, publicKeyObject } from '../crypto/keys.ts';
import { isLoulanError } from '../errors.ts';
import { commitSigningBytes, type ChainBinding } from './messages.ts';
import { quorum } from './quorum.ts';
import type { Certificate, ConsensusCrypto } from './types.ts';

const COMMIT_TAG = new TextEncoder().encode('LOULAN/COMMIT/V1');
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

function isCommitLayout(message: Uint8Array): boolean {
  if (message.length < COMMIT_TAG.length) return false;
  for (let i = 0; i < COMMIT_TAG.length; i++) if (message[i] !== COMMIT_TAG[i]) return false;
  return true;
}

function scalar(bytes: Uint8Array): bigint {
  let out = 0n;
  for (const b of bytes) out = (out << 8n) | BigInt(b);
  return out;
}

/** Consensus crypto for validator `privateKey` among `publicKeys` (33-byte compressed, by index). */
export function validatorCrypto(publicKeys: readonly Uint8Array[], privateKey: Uint8Array | null): ConsensusCrypto {
  const keyObjects: Array<KeyObject | undefined> = [];
  let signingKey: KeyObject | undefined;
  return {
    sign(message) {
      if (privateKey === null) throw new Error('this node holds no validator key');
      if (isCommitLayout(message)) return secp256k1SignDigest(privateKey, sha256(message));
      signingKey ??= privateKeyObject('ES256K', privateKey);
      const rs = nodeSign('sha256', message, { key: signingKey, dsaEncoding: 'ieee-p1363' });
      const out = new Uint8Array(65);
      out.set(rs);
      const s = scalar(rs.subarray(32, 64));
      if (s > HALF_N) {
        let low = N - s;
        for (let i = 63; i >= 32; i--, low >>= 8n) out[i] = Number(low & 0xffn);
      }
      return out;
    },
    verify(from, message, sig) {
      const expected = publicKeys[from];
      if (expected === undefined || sig.length !== 65) return false;
      try {
        if (isCommitLayout(message)) return equalBytes(secp256k1RecoverDigest(sha256(message), sig), expected);
        if (sig[64] !== 0) return false;
        const s = scalar(sig.subarray(32, 64));
        if (s === 0n || s > HALF_N) return false;
        const key = (keyObjects[from] ??= publicKeyObject('ES256K', expected));
        return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, sig.subarray(0, 64));
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
