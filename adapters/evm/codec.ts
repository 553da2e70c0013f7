/**
 * Core-chain objects as the gateway contracts' calldata, and the contracts' custom errors as Loulan
 * error codes.
 *
 * The contracts take headers, events and Merkle paths as raw bytes (the certified bytes, hashed as
 * given, never re-encoded) and validator keys uncompressed (x ‖ y, 64 bytes): the contract checks
 * each is on the curve and derives the compressed form for the set hash, which spares it EC point
 * decompression. Paths are packed 32-byte hashes; a path element of another length therefore shows
 * on chain as a packed length that is not a multiple of 32 (MERKLE_BAD_PROOF, "hash-length").
 *
 * Every custom error the contracts raise maps to exactly one Loulan code (EVM_ERROR_CODES), so a
 * relayer reports the same code the TypeScript verifier would have.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { AbiCoder, Interface, getAddress, getBytes, hexlify, type InterfaceAbi } from 'ethers';
import {
  LoulanError,
  concatBytes,
  ethAddress,
  type ErrorCode,
  type HeaderChainItem,
} from '../../core-chain/index.ts';
import { loadArtifact } from './build.ts';

/** A commit certificate as the core chain hands it out (core-chain/consensus Certificate). */
export type CoreCertificate = HeaderChainItem['certificate'];

/** ABI form of `Certificate` in LoulanVerify.sol. */
export interface CertificateArg {
  height: bigint;
  viewNumber: bigint;
  digest: string;
  sigs: { from: bigint; sig: string }[];
}

/** ABI form of `EventProof` in LoulanGateway.sol. */
export interface EventProofArg {
  header: string;
  certificate: CertificateArg;
  members: string[];
  eventData: string;
  index: bigint;
  path: string;
}

/** ABI form of `ChainItem` in LoulanVerify.sol. */
export interface ChainItemArg {
  header: string;
  certificate: CertificateArg;
  nextSetKeys: string;
}

/** What `eventProofArg` needs: a certified header and one of its events with its audit path. */
export interface CertifiedEvent {
  /** The 253 header bytes. */
  readonly header: Uint8Array;
  readonly certificate: CoreCertificate;
  /** 33-byte compressed keys of the set the header names, index order. */
  readonly publicKeys: readonly Uint8Array[];
  /** The encoded event (core-chain/ledger/events.ts). */
  readonly event: Uint8Array;
  readonly index: number;
  readonly path: readonly Uint8Array[];
}

/** x ‖ y (64 bytes) of a 33-byte compressed (or 65-byte uncompressed) secp256k1 key. */
export function uncompressedKey(publicKey: Uint8Array): Uint8Array {
  try {
    return secp256k1.Point.fromBytes(publicKey).toBytes(false).subarray(1);
  } catch (cause) {
    throw new LoulanError('CRYPTO_BAD_KEY', 'not a secp256k1 public key', { details: { alg: 'ES256K' }, cause });
  }
}

/** A validator set's keys as the contracts take them: 64-byte x ‖ y keys packed in index order. */
export function packSetKeys(publicKeys: readonly Uint8Array[]): string {
  return hexlify(concatBytes(...publicKeys.map(uncompressedKey)));
}

/** The members' EVM addresses (checksummed), index order: the `members` argument of the gateway. */
export function memberAddresses(publicKeys: readonly Uint8Array[]): string[] {
  return publicKeys.map((key) => getAddress(hexlify(ethAddress(key))));
}

/** An audit path packed as the contracts take it. */
export function packPath(path: readonly Uint8Array[]): string {
  return hexlify(concatBytes(...path));
}

export function certificateArg(cert: CoreCertificate): CertificateArg {
  return {
    height: cert.height,
    viewNumber: cert.view,
    digest: hexlify(cert.digest),
    sigs: cert.sigs.map((s) => ({ from: BigInt(s.from), sig: hexlify(s.sig) })),
  };
}

export function eventProofArg(e: CertifiedEvent): EventProofArg {
  return {
    header: hexlify(e.header),
    certificate: certificateArg(e.certificate),
    members: memberAddresses(e.publicKeys),
    eventData: hexlify(e.event),
    index: BigInt(e.index),
    path: packPath(e.path),
  };
}

/** A header-chain item; a carried next set becomes its packed keys, none becomes empty bytes. */
export function chainItemArg(item: HeaderChainItem): ChainItemArg {
  return {
    header: hexlify(item.header),
    certificate: certificateArg(item.certificate),
    nextSetKeys: item.nextValidatorSet === undefined ? '0x' : packSetKeys(item.nextValidatorSet),
  };
}

// ------------------------------------------------------------ decision args (docs/decisions.md)

const coder = AbiCoder.defaultAbiCoder();

/** MINT args: `token` is the gateway's points or receivables contract; `value` an amount or token id. */
export function mintArgs(token: string, to: string, value: bigint): Uint8Array {
  return bytes(coder.encode(['address', 'address', 'uint256'], [token, to, value]));
}

/** BURN and REFUND args: the hold id (LoulanPoints.holdIdOf(holder, ref)). */
export function holdArgs(holdId: string | Uint8Array): Uint8Array {
  return bytes(coder.encode(['bytes32'], [holdId]));
}

/** RELEASE args: the hold id and who receives the held points. */
export function releaseArgs(holdId: string | Uint8Array, to: string): Uint8Array {
  return bytes(coder.encode(['bytes32', 'address'], [holdId, to]));
}

/** LOCK, UNLOCK and POOL args: the receivable's token id. */
export function tokenIdArgs(tokenId: bigint): Uint8Array {
  return bytes(coder.encode(['uint256'], [tokenId]));
}

function bytes(hex: string): Uint8Array {
  return getBytes(hex);
}

// ------------------------------------------------------------------------- errors

/** Each custom error of the gateway contracts and the Loulan code it stands for. */
export const EVM_ERROR_CODES = {
  CodecTruncated: 'CODEC_TRUNCATED',
  CodecTrailingBytes: 'CODEC_TRAILING_BYTES',
  CodecTag: 'CODEC_TAG',
  CertWrongChain: 'CERT_WRONG_CHAIN',
  CertWrongValidatorSet: 'CERT_WRONG_VALIDATOR_SET',
  CertWrongBlock: 'CERT_WRONG_BLOCK',
  CertTooFewSigners: 'CERT_TOO_FEW_SIGNERS',
  CertSignersUnsorted: 'CERT_SIGNERS_UNSORTED',
  CertNonMember: 'CERT_NON_MEMBER',
  CryptoMalformedSignature: 'CRYPTO_MALFORMED_SIGNATURE',
  CertBadSignature: 'CERT_BAD_SIGNATURE',
  HeaderChainGap: 'HEADER_CHAIN_GAP',
  HeaderChainBroken: 'HEADER_CHAIN_BROKEN',
  ValsetMismatch: 'VALSET_MISMATCH',
  // The member addresses passed with a header are not those of the set it names, or a set change
  // older than the current set: both are a relayer handing the wrong set.
  ValsetMembersMismatch: 'VALSET_MISMATCH',
  ValsetStale: 'VALSET_MISMATCH',
  ValsetInvalid: 'VALSET_INVALID',
  ProofZeroRoot: 'PROOF_ZERO_ROOT',
  MerkleIndexRange: 'MERKLE_INDEX_RANGE',
  MerkleBadProof: 'MERKLE_BAD_PROOF',
  DecisionMalformed: 'DECISION_MALFORMED',
  DecisionWrongEvent: 'DECISION_WRONG_EVENT',
  DecisionWrongTarget: 'DECISION_WRONG_TARGET',
  DecisionConsumed: 'DECISION_CONSUMED',
  DecisionExpired: 'DECISION_EXPIRED',
  DecisionArgs: 'DECISION_ARGS',
  // Token errors a decision's action can run into: its args name a hold or token that does not
  // exist or is in the wrong state.
  HoldUnknown: 'DECISION_ARGS',
  HoldSettled: 'DECISION_ARGS',
  TokenUnknown: 'DECISION_ARGS',
  TokenExists: 'DECISION_ARGS',
  BadLockTransition: 'DECISION_ARGS',
  InvalidReceiver: 'DECISION_ARGS',
} as const satisfies Record<string, ErrorCode>;

export type EvmErrorName = keyof typeof EVM_ERROR_CODES;

/** The ABI names of the contracts whose errors `loulanErrorFromRevert` understands. */
export const CONTRACT_NAMES = ['LoulanGateway', 'LoulanVerifier', 'LoulanPoints', 'LoulanReceivables'] as const;

let errorInterface: Interface | undefined;

/** One Interface with the error fragments of every gateway contract (from the committed ABIs). */
export function gatewayErrors(): Interface {
  if (errorInterface === undefined) {
    const seen = new Set<string>();
    const fragments: InterfaceAbi = [];
    for (const name of CONTRACT_NAMES) {
      for (const item of loadArtifact(name).abi as { type: string; name?: string }[]) {
        if (item.type !== 'error' || item.name === undefined || seen.has(item.name)) continue;
        seen.add(item.name);
        (fragments as unknown[]).push(item);
      }
    }
    errorInterface = new Interface(fragments);
  }
  return errorInterface;
}

// Arguments that are small counts or indexes come out as numbers, as the TypeScript verifier gives them.
const NUMERIC = new Set(['signer', 'previous', 'have', 'need', 'index', 'treeSize']);

/**
 * The LoulanError a contract revert stands for, or undefined when the data is not one of the
 * contracts' mapped custom errors. `details.error` is the Solidity error name; its arguments follow,
 * bytes32 as hex without 0x, small indexes as numbers, other integers as bigint.
 *
 * @example
 * try { await gateway.execute.staticCall(arg) } catch (e) { throw loulanErrorFromRevert(revertData(e)) ?? e }
 */
export function loulanErrorFromRevert(data: string | undefined): LoulanError | undefined {
  if (data === undefined || data.length < 10) return undefined;
  let parsed;
  try {
    parsed = gatewayErrors().parseError(data);
  } catch {
    return undefined;
  }
  if (parsed === null || !(parsed.name in EVM_ERROR_CODES)) return undefined;
  const details: Record<string, unknown> = { error: parsed.name };
  parsed.fragment.inputs.forEach((input, i) => {
    const value: unknown = parsed.args[i];
    if (typeof value === 'bigint') details[input.name] = NUMERIC.has(input.name) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
    else if (typeof value === 'string' && input.type === 'bytes32') details[input.name] = value.slice(2);
    else details[input.name] = value;
  });
  const code = EVM_ERROR_CODES[parsed.name as EvmErrorName];
  return new LoulanError(code, `the gateway contract reverted with ${parsed.name}`, { details });
}
