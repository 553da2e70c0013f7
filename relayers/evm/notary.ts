/**
 * Notary attestations of EVM blocks: k of n registered notaries each sign that a block is final.
 *
 * A receipt proof only shows that a log is under *some* header; whether that header is on the
 * chain's canonical, final history is what the notaries vouch for (DESIGN §7: k of n must be honest).
 * Each signs, once the block is `depth` blocks deep, a domain-separated digest
 *
 *   digest = SHA-256("LOULAN/EVM-NOTARY/V1" ‖ chainId u64 ‖ blockNumber u64 ‖ blockHash 32)
 *
 * with secp256k1 (65 bytes r ‖ s ‖ v, low-S; the `Sig` of the schemas with alg ES256K). Not EIP-191:
 * the ASCII tag already keeps these signatures from being valid anything else (a transaction, a
 * personal_sign message, a core-chain vote), and a notary's key need not be an Ethereum account.
 * SHA-256 and the fixed binary layout are the project's convention for signed bytes.
 *
 * Counting is by distinct registered public key: an attestation with an unknown kid, another
 * algorithm, a malformed or non-verifying signature, or a second one by the same notary (even
 * under another kid of the same key) does not count; which ones were ignored, and why, is reported.
 * Checking stops once k have counted.
 */
import { LoulanError, Writer, fromBase64url, secp256k1VerifyDigest, sha256, toHex } from '../../core-chain/index.ts';
import type { Sig } from '../../schemas/index.ts';

export const NOTARY_DOMAIN = 'LOULAN/EVM-NOTARY/V1';

/** A registered notary: the key id its attestations carry, and its 33-byte compressed secp256k1 key. */
export interface EvmNotary {
  readonly kid: string;
  readonly publicKey: Uint8Array;
}

/** An attestation that did not count, and why. */
export interface IgnoredAttestation {
  readonly kid: string;
  readonly reason: 'alg' | 'unknown' | 'malformed' | 'bad-signature' | 'duplicate';
}

/** The digest a notary signs for block (chainId, blockNumber, blockHash). */
export function evmNotaryDigest(chainId: bigint, blockNumber: bigint, blockHash: Uint8Array): Uint8Array {
  const w = new Writer(64);
  w.bytes(new TextEncoder().encode(NOTARY_DOMAIN), NOTARY_DOMAIN.length, 'domain');
  w.u64(chainId, 'chainId');
  w.u64(blockNumber, 'blockNumber');
  w.bytes(blockHash, 32, 'blockHash');
  return sha256(w.finish());
}

/**
 * Throws EVM_NOTARY_THRESHOLD unless at least `threshold` distinct notaries of `notaries` attest
 * the block; returns the kids that counted.
 */
export function verifyNotaryAttestations(
  block: { readonly chainId: bigint; readonly blockNumber: bigint; readonly blockHash: Uint8Array },
  attestations: readonly Sig[],
  notaries: readonly EvmNotary[],
  threshold: number,
): string[] {
  checkNotaries(notaries, threshold);
  const digest = evmNotaryDigest(block.chainId, block.blockNumber, block.blockHash);
  const byKid = new Map(notaries.map((n) => [n.kid, n.publicKey]));
  const counted = new Set<string>();
  const kids: string[] = [];
  const ignored: IgnoredAttestation[] = [];
  for (const a of attestations) {
    // Enough: the rest need not cost a signature recovery each.
    if (counted.size >= threshold) break;
    const publicKey = byKid.get(a.kid);
    if (a.alg !== 'ES256K') ignored.push({ kid: a.kid, reason: 'alg' });
    else if (publicKey === undefined) ignored.push({ kid: a.kid, reason: 'unknown' });
    else {
      const reason = check(publicKey, digest, a.value);
      const keyHex = toHex(publicKey);
      if (reason !== undefined) ignored.push({ kid: a.kid, reason });
      else if (counted.has(keyHex)) ignored.push({ kid: a.kid, reason: 'duplicate' });
      else {
        counted.add(keyHex);
        kids.push(a.kid);
      }
    }
  }
  if (counted.size < threshold) {
    throw new LoulanError('EVM_NOTARY_THRESHOLD', `${counted.size} of the ${threshold} notary attestations needed for block ${block.blockNumber}`, {
      details: { have: counted.size, need: threshold, blockNumber: block.blockNumber, ignored },
    });
  }
  return kids;
}

function check(publicKey: Uint8Array, digest: Uint8Array, value: string): IgnoredAttestation['reason'] | undefined {
  try {
    return secp256k1VerifyDigest(publicKey, digest, fromBase64url(value, 65)) ? undefined : 'bad-signature';
  } catch {
    return 'malformed';
  }
}

/** The registry and threshold are configuration: a bad one is the caller's mistake, not the evidence's. */
function checkNotaries(notaries: readonly EvmNotary[], threshold: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > notaries.length) {
    throw new LoulanError('CONFIG_INVALID', `notary threshold must be in 1..${notaries.length}`, { details: { field: 'threshold' } });
  }
  const kids = new Set<string>();
  for (const n of notaries) {
    if (kids.has(n.kid)) throw new LoulanError('CONFIG_INVALID', `notary ${n.kid} is registered twice`, { details: { field: 'notaries', kid: n.kid } });
    if (!(n.publicKey instanceof Uint8Array) || n.publicKey.length !== 33) {
      throw new LoulanError('CONFIG_INVALID', `notary ${n.kid} needs a 33-byte compressed secp256k1 key`, { details: { field: 'notaries', kid: n.kid } });
    }
    kids.add(n.kid);
  }
}
