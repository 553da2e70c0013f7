import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commitSigningBytes } from '../consensus/messages.ts';
import { quorum } from '../consensus/quorum.ts';
import { certificateValid } from '../consensus/signer.ts';
import type { Certificate } from '../consensus/types.ts';
import { sha256 } from '../crypto/hash.ts';
import { publicKeyFromPrivate } from '../crypto/keys.ts';
import { secp256k1SignDigest } from '../crypto/secp256k1.ts';
import { encodeHeader, type Header } from '../ledger/block.ts';
import { validatorSetHash } from '../ledger/genesis.ts';
import { errorOf } from '../ledger/testkit.ts';
import { MAX_VALIDATORS, verifyCommittedHeader, type TrustedValidatorSet } from './index.ts';

const te = new TextEncoder();
const chainId = sha256(te.encode('verify-unit'));
const privateKeys = Array.from({ length: 7 }, (_, i) => sha256(te.encode(`verify-unit/${i}`)));
const publicKeys = privateKeys.map((k) => publicKeyFromPrivate('ES256K', k));
const setOf = (n: number): TrustedValidatorSet => ({ chainId, publicKeys: publicKeys.slice(0, n) });
const hashOf = (n: number): Uint8Array => validatorSetHash(publicKeys.slice(0, n).map((publicKey) => ({ publicKey })));

function headerFor(n: number, height = 9n): Header {
  const h32 = (label: string) => sha256(te.encode(label));
  return {
    chainId,
    height,
    prevHash: h32('prev'),
    time: 1_800_000_000_000n,
    proposer: 0,
    txRoot: h32('tx'),
    txCount: 1,
    eventsRoot: h32('ev'),
    eventCount: 1,
    stateRoot: h32('state'),
    validatorSetHash: hashOf(n),
    nextValidatorSetHash: hashOf(n),
  };
}

function certFor(n: number, header: Header, signers: readonly number[], view = 0n): Certificate {
  const digest = sha256(encodeHeader(header));
  const message = sha256(commitSigningBytes({ chainId, validatorSetHash: hashOf(n) }, header.height, view, digest));
  return { height: header.height, view, digest, sigs: signers.map((from) => ({ from, sig: secp256k1SignDigest(privateKeys[from % 7] as Uint8Array, message) })) };
}

describe('verifyCommittedHeader', () => {
  it('returns the decoded header of a certified block', () => {
    const header = headerFor(4);
    expect(verifyCommittedHeader(setOf(4), encodeHeader(header), certFor(4, header, [0, 1, 2]))).toEqual(header);
  });

  it('agrees with the consensus core (certificateValid) on any signer list', () => {
    // Signer lists drawn from indexes 0..n (n itself is a non-member), any order, with repeats; the
    // verifier must accept exactly the certificates the replicas themselves accept.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.array(fc.nat({ max: 7 }), { maxLength: 8 }), (n, raw) => {
        const signers = raw.map((i) => Math.min(i, n));
        const header = headerFor(n);
        const cert = certFor(n, header, signers);
        const accepted = errorOf(() => verifyCommittedHeader(setOf(n), encodeHeader(header), cert)) === undefined;
        expect(accepted).toBe(certificateValid(cert, { chainId, validatorSetHash: hashOf(n) }, publicKeys.slice(0, n)));
        if (accepted) expect(new Set(signers).size).toBeGreaterThanOrEqual(quorum(n));
      }),
      { numRuns: 60 },
    );
  });

  it('does not alias the caller-provided set', () => {
    const keys = publicKeys.slice(0, 4).map((k) => k.slice());
    const set = { chainId: chainId.slice(), publicKeys: keys };
    const header = headerFor(4);
    const cert = certFor(4, header, [0, 1, 2]);
    expect(() => verifyCommittedHeader(set, encodeHeader(header), cert)).not.toThrow();
    (keys[0] as Uint8Array)[5] = (keys[0] as Uint8Array)[5]! ^ 1;
    expect(errorOf(() => verifyCommittedHeader(set, encodeHeader(header), cert))?.code).toBe('CERT_WRONG_VALIDATOR_SET');
  });

  it.each<[string, TrustedValidatorSet, string]>([
    ['an empty set', { chainId, publicKeys: [] }, 'publicKeys'],
    ['a 32-byte key', { chainId, publicKeys: [publicKeys[0]!.subarray(1)] }, 'publicKeys/0'],
    ['a key listed twice', { chainId, publicKeys: [publicKeys[0]!, publicKeys[1]!, publicKeys[0]!] }, 'publicKeys/2'],
    ['a 31-byte chain id', { chainId: chainId.subarray(1), publicKeys: publicKeys.slice(0, 4) }, 'chainId'],
    ['more than MAX_VALIDATORS keys', { chainId, publicKeys: new Array<Uint8Array>(MAX_VALIDATORS + 1).fill(publicKeys[0]!) }, 'publicKeys'],
  ])('refuses %s as the trusted set (VALSET_INVALID)', (_name, set, field) => {
    const header = headerFor(4);
    const error = errorOf(() => verifyCommittedHeader(set, encodeHeader(header), certFor(4, header, [0, 1, 2])));
    expect(error?.code).toBe('VALSET_INVALID');
    expect(error?.details.field).toBe(field);
  });

  it('refuses a view outside u64 before hashing the signing bytes', () => {
    const header = headerFor(4);
    const cert = { ...certFor(4, header, [0, 1, 2]), view: 1n << 64n };
    expect(errorOf(() => verifyCommittedHeader(setOf(4), encodeHeader(header), cert))?.details).toMatchObject({ field: 'certificate.view' });
  });

  it('a negative signer index is a non-member', () => {
    const header = headerFor(4);
    const cert = certFor(4, header, [0, 1, 2]);
    const bad = { ...cert, sigs: [{ from: -1, sig: cert.sigs[0]!.sig }, ...cert.sigs.slice(1)] };
    expect(errorOf(() => verifyCommittedHeader(setOf(4), encodeHeader(header), bad))?.code).toBe('CERT_NON_MEMBER');
  });
});
