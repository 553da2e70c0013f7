/**
 * Shared pieces of the Loulan vector generators (headers, header chains, event proofs) and of the
 * test that runs the vectors.
 *
 * Everything is deterministic: private keys are SHA-256 of a label, secp256k1 signing is RFC 6979,
 * and JSON is written with a fixed key order, so regenerating reproduces the committed files byte for
 * byte. Certificates travel as JSON (not our binary wire codec) so that the Solidity and Go test
 * suites can read them directly.
 */
import { commitSigningBytes } from '../../../core-chain/consensus/messages.ts';
import type { Certificate } from '../../../core-chain/consensus/types.ts';
import { fromHex, sha256, toHex } from '../../../core-chain/crypto/hash.ts';
import { publicKeyFromPrivate } from '../../../core-chain/crypto/keys.ts';
import { ethAddress, secp256k1SignDigest } from '../../../core-chain/crypto/secp256k1.ts';
import { encodeHeader, type Header } from '../../../core-chain/ledger/block.ts';
import { chainIdOf, validatorSetHash } from '../../../core-chain/ledger/genesis.ts';

export const CHAIN_NAME = 'loulan-vectors';
export const CHAIN_ID = chainIdOf(CHAIN_NAME);
export const OTHER_CHAIN_ID = chainIdOf('loulan-vectors-other');
export const KEY_LABEL_PREFIX = 'loulan-vectors/key/';

export interface Validator {
  readonly label: string;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly address: Uint8Array;
}

export interface VectorSet {
  readonly validators: readonly Validator[];
  readonly publicKeys: readonly Uint8Array[];
  readonly hash: Uint8Array;
}

const te = new TextEncoder();

/** Private key = SHA-256("loulan-vectors/key/" ‖ label); every label used gives a valid scalar. */
export function validator(label: string): Validator {
  const privateKey = sha256(te.encode(KEY_LABEL_PREFIX + label));
  const publicKey = publicKeyFromPrivate('ES256K', privateKey);
  return { label, privateKey, publicKey, address: ethAddress(publicKey) };
}

/** A set in index order: sorted by Ethereum address, as genesis.ts orders validators. */
export function vectorSet(labels: readonly string[]): VectorSet {
  const validators = labels.map(validator).sort((a, b) => Buffer.compare(a.address, b.address));
  const publicKeys = validators.map((v) => v.publicKey);
  return { validators, publicKeys, hash: validatorSetHash(validators) };
}

export function setJson(set: VectorSet): { publicKeys: string[]; addresses: string[]; labels: string[]; hash: string } {
  return {
    publicKeys: set.publicKeys.map(toHex),
    addresses: set.validators.map((v) => toHex(v.address)),
    labels: set.validators.map((v) => v.label),
    hash: toHex(set.hash),
  };
}

export interface Binding {
  readonly chainId: Uint8Array;
  readonly validatorSetHash: Uint8Array;
}

/** A commit signature (r ‖ s ‖ v, v in {0,1}) over SHA-256(commitSigningBytes(...)). */
export function signCommit(signer: Validator, binding: Binding, height: bigint, view: bigint, digest: Uint8Array): Uint8Array {
  return secp256k1SignDigest(signer.privateKey, sha256(commitSigningBytes(binding, height, view, digest)));
}

/** A certificate for `header` by `signers` (indexes into `set`), each signing the honest layout. */
export function certify(set: VectorSet, header: Header, signers: readonly number[], view = 0n): Certificate {
  const digest = sha256(encodeHeader(header));
  const binding = { chainId: header.chainId, validatorSetHash: header.validatorSetHash };
  return {
    height: header.height,
    view,
    digest,
    sigs: signers.map((from) => ({ from, sig: signCommit(set.validators[from] as Validator, binding, header.height, view, digest) })),
  };
}

/** Rewrites one signature of a certificate. */
export function withSig(cert: Certificate, position: number, sig: Uint8Array): Certificate {
  return { ...cert, sigs: cert.sigs.map((s, i) => (i === position ? { from: s.from, sig } : s)) };
}

export interface CertificateJson {
  height: string;
  view: string;
  digest: string;
  sigs: { from: number; sig: string }[];
}

export function certToJson(cert: Certificate): CertificateJson {
  return {
    height: cert.height.toString(),
    view: cert.view.toString(),
    digest: toHex(cert.digest),
    sigs: cert.sigs.map((s) => ({ from: s.from, sig: toHex(s.sig) })),
  };
}

export function certFromJson(json: CertificateJson): Certificate {
  return {
    height: BigInt(json.height),
    view: BigInt(json.view),
    digest: fromHex(json.digest),
    sigs: json.sigs.map((s) => ({ from: s.from, sig: fromHex(s.sig) })),
  };
}

/** A label's SHA-256: stands in for roots and hashes that the vectors do not recompute. */
export function filler(label: string): Uint8Array {
  return sha256(te.encode('loulan-vectors/' + label));
}

/** A header of the vector chain with every field set; `fields` overrides. */
export function header(height: bigint, set: VectorSet, fields: Partial<Header> = {}): Header {
  return {
    chainId: CHAIN_ID,
    height,
    prevHash: filler(`prev/${height}`),
    time: 1_767_225_600_000n + 1_000n * height,
    proposer: Number(height % BigInt(set.publicKeys.length)),
    txRoot: filler(`txRoot/${height}`),
    txCount: 3,
    eventsRoot: filler(`eventsRoot/${height}`),
    eventCount: 2,
    stateRoot: filler(`stateRoot/${height}`),
    validatorSetHash: set.hash,
    nextValidatorSetHash: set.hash,
    ...fields,
  };
}

export type Expect = 'ok' | { code: string; details?: Record<string, unknown> };

/** The committed text of a vector file: two-space JSON with a trailing newline. */
export function stringify(doc: unknown): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

export const SPEC_COMMON = {
  encoding: 'All byte strings are lowercase hex without 0x. Integers that may exceed 2^53 (heights, views) are decimal strings.',
  header:
    'The block header is 253 bytes: version u8 (=1) @0, chainId 32 @1, height u64 @33, prevHash 32 @41, time u64 @73, proposer u32 @81, txRoot 32 @85, txCount u32 @117, eventsRoot 32 @121, eventCount u32 @153, stateRoot 32 @157, validatorSetHash 32 @189, nextValidatorSetHash 32 @221. Integers big-endian. blockHash = SHA-256(header bytes).',
  validatorSetHash:
    'SHA-256("LOULAN/VALSET/V1" ‖ u32 count ‖ publicKey_0 ‖ … ‖ publicKey_{n-1}) over the 33-byte compressed secp256k1 keys in index order (ASCII tag, u32 big-endian).',
  certificate:
    'JSON {height, view, digest, sigs: [{from, sig}]}: `from` is the signer index into the set, `sig` is 65 bytes r ‖ s ‖ v with v in {0,1} (add 27 for ecrecover). Each signs SHA-256(commitBytes), commitBytes = "LOULAN/COMMIT/V1" (16 ASCII bytes) ‖ chainId 32 ‖ validatorSetHash 32 ‖ height u64 ‖ view u64 ‖ blockHash 32 (128 bytes); chainId and validatorSetHash are the verifier\'s trusted values.',
  quorum: 'q = ceil((n + f + 1) / 2) with f = floor((n - 1) / 3): 3 of 4, 4 of 5, 5 of 7.',
  keys: 'Private keys are SHA-256("loulan-vectors/key/" ‖ label); the sets list each key\'s label. Sets are sorted by Ethereum address, as the genesis orders validators.',
  expect: '"ok", or {code, details?}: the first failing check\'s error code (core-chain/errors.ts) and, where given, details an implementation may compare (bigints as decimal strings).',
} as const;
