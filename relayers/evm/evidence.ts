/**
 * Evidence that an EVM chain emitted a log, checked without trusting the relayer that brings it or
 * any RPC node: the verifier the core chain calls (DESIGN §7, "EVM event").
 *
 * The evidence is the schemas' `EvmProof` (proof.bundle, kind `evm`): the RLP block header, the
 * typed-encoded receipt (EIP-2718), the receipts-trie nodes from the header's receiptsRoot to the
 * receipt at key rlp(txIndex), the log's index inside the receipt, and notary attestations of
 * (chainId, blockNumber, blockHash). Checks, cheapest first, each with its own code:
 *
 *   1. chain id is the expected chain; keccak-256(header) is blockHash; the header is an RLP list
 *      whose number is blockNumber                                          EVM_HEADER_MISMATCH, field
 *   2. the receipt is the trie value under receiptsRoot at rlp(txIndex)     EVM_PROOF_INVALID, reason
 *   3. the receipt decodes and has log `logIndex`; the log's address,
 *      topics and data are the expected ones, when the caller gives them   EVM_LOG_MISMATCH, field
 *   4. k distinct registered notaries attest the block                      EVM_NOTARY_THRESHOLD
 *
 * Malformed hex or base64url in the JSON form is CODEC_ENCODING (the switch validates the schema at
 * intake; this only refuses to guess). The verifier decides inclusion and finality, not meaning:
 * decoding the log's data is the caller's business.
 */
import { RLP } from '@ethereumjs/rlp';
import { LoulanError, equalBytes, fromHex, keccak256, toHex } from '../../core-chain/index.ts';
import type { EvmProof, Sig } from '../../schemas/index.ts';
import { mptProvenValue } from './mpt.ts';
import { verifyNotaryAttestations, type EvmNotary } from './notary.ts';

type Rlp = Uint8Array | Rlp[];

/** `EvmProof` with bytes as bytes and integers as bigints. */
export interface EvmEvidence {
  readonly chainId: bigint;
  readonly blockNumber: bigint;
  readonly blockHash: Uint8Array;
  /** RLP block header. */
  readonly header: Uint8Array;
  readonly txIndex: number;
  /** Index of the log inside the receipt (not the block-wide log index the RPC reports). */
  readonly logIndex: number;
  /** EIP-2718 receipt: `type ‖ rlp(...)`, or bare `rlp(...)` for a legacy transaction. */
  readonly receipt: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly attestations: readonly Sig[];
}

/** A log as proven. */
export interface EvmLog {
  readonly address: Uint8Array;
  readonly topics: readonly Uint8Array[];
  readonly data: Uint8Array;
}

export interface EvmEvidenceOptions {
  /** The EIP-155 chain id the log must come from. */
  readonly chainId: bigint;
  readonly notaries: readonly EvmNotary[];
  /** k: how many distinct notaries must attest the block. */
  readonly threshold: number;
  /** Each given field must equal the proven log's (addresses compared as bytes, case-free in hex). */
  readonly address?: Uint8Array | string;
  /** The expected topics, in order; the log must have exactly these. */
  readonly topics?: readonly (Uint8Array | string)[];
  readonly data?: Uint8Array | string;
}

export interface VerifiedEvmLog extends EvmLog {
  readonly chainId: bigint;
  readonly blockNumber: bigint;
  readonly blockHash: Uint8Array;
  readonly txIndex: number;
  readonly logIndex: number;
  /** The notaries (kids) whose attestations counted, up to the threshold. */
  readonly attestedBy: readonly string[];
}

/** Header fields by position (Yellow Paper §4.3; later forks only append). */
const HEADER_RECEIPTS_ROOT = 5;
const HEADER_NUMBER = 8;
const HEADER_MIN_FIELDS = 15;

/**
 * Returns the proven log, or throws (see the module comment for the order and codes).
 *
 * @example
 * const log = verifyEvmEvidence(evmEvidenceFromJson(bundle), {
 *   chainId: 31337n, notaries, threshold: 2, address: gateway, topics: [transferTopic],
 * });
 */
export function verifyEvmEvidence(evidence: EvmEvidence, options: EvmEvidenceOptions): VerifiedEvmLog {
  const { chainId, blockNumber, blockHash, header } = evidence;
  if (chainId !== options.chainId) headerMismatch('chainId', `evidence is for chain ${chainId}, expected ${options.chainId}`, { expected: options.chainId, actual: chainId });
  if (blockHash.length !== 32 || !equalBytes(keccak256(header), blockHash)) headerMismatch('blockHash', 'the header does not hash to blockHash', {});
  const fields = decodeRlp(header, () => headerMismatch('header', 'the header is not RLP', {}));
  if (!Array.isArray(fields) || fields.length < HEADER_MIN_FIELDS) headerMismatch('header', 'the header is not an RLP list of header fields', {});
  const receiptsRoot = fields[HEADER_RECEIPTS_ROOT];
  const number = fields[HEADER_NUMBER];
  if (!(receiptsRoot instanceof Uint8Array) || receiptsRoot.length !== 32) headerMismatch('header', 'the header has no 32-byte receiptsRoot', {});
  if (!(number instanceof Uint8Array) || number.length > 8 || uint(number) !== blockNumber) {
    headerMismatch('blockNumber', `the header is not block ${blockNumber}`, { expected: blockNumber });
  }

  if (!Number.isSafeInteger(evidence.txIndex) || evidence.txIndex < 0) {
    throw new LoulanError('EVM_PROOF_INVALID', 'txIndex must be a non-negative integer', { details: { reason: 'path', node: 0 } });
  }
  const value = mptProvenValue(receiptsRoot, RLP.encode(evidence.txIndex), evidence.proof);
  if (!equalBytes(value, evidence.receipt)) {
    throw new LoulanError('EVM_PROOF_INVALID', `the trie holds another receipt at txIndex ${evidence.txIndex}`, { details: { reason: 'value', node: evidence.proof.length } });
  }

  const log = receiptLog(evidence.receipt, evidence.logIndex);
  if (options.address !== undefined && !equalBytes(log.address, bytesOf(options.address))) {
    logMismatch('address', 'the log was emitted by another contract', { expected: hexOf(options.address), actual: toHex(log.address) });
  }
  if (options.topics !== undefined) {
    const expected = options.topics.map(bytesOf);
    if (expected.length !== log.topics.length || expected.some((t, i) => !equalBytes(t, log.topics[i] as Uint8Array))) {
      logMismatch('topics', 'the log has other topics', { expected: expected.map(toHex), actual: log.topics.map(toHex) });
    }
  }
  if (options.data !== undefined && !equalBytes(log.data, bytesOf(options.data))) logMismatch('data', 'the log carries other data', {});

  const attestedBy = verifyNotaryAttestations({ chainId, blockNumber, blockHash }, evidence.attestations, options.notaries, options.threshold);
  return { ...log, chainId, blockNumber, blockHash, txIndex: evidence.txIndex, logIndex: evidence.logIndex, attestedBy };
}

/**
 * Log `index` of an EIP-2718 receipt (`[status, cumulativeGasUsed, logsBloom, logs]`, after a type
 * byte for typed transactions). Throws EVM_LOG_MISMATCH (`field` receipt or logIndex).
 */
export function receiptLog(receipt: Uint8Array, index: number): EvmLog {
  const first = receipt[0];
  if (first === undefined) logMismatch('receipt', 'the receipt is empty', {});
  // A typed receipt starts with its type (0x00..0x7f); a legacy one with its RLP list (>= 0xc0).
  const body = first >= 0xc0 ? receipt : first <= 0x7f ? receipt.subarray(1) : logMismatch('receipt', 'unknown receipt envelope', {});
  const fields = decodeRlp(body, () => logMismatch('receipt', 'the receipt is not RLP', {}));
  if (!Array.isArray(fields) || fields.length !== 4 || !Array.isArray(fields[3])) logMismatch('receipt', 'the receipt is not [status, gas, bloom, logs]', {});
  const logs = fields[3] as Rlp[];
  if (!Number.isSafeInteger(index) || index < 0 || index >= logs.length) {
    logMismatch('logIndex', `the receipt has ${logs.length} log(s), no log ${index}`, { logs: logs.length, logIndex: index });
  }
  const log = logs[index] as Rlp;
  if (!Array.isArray(log) || log.length !== 3) logMismatch('receipt', 'a log is not [address, topics, data]', {});
  const [address, topics, data] = log as [Rlp, Rlp, Rlp];
  if (!(address instanceof Uint8Array) || address.length !== 20 || !Array.isArray(topics) || !(data instanceof Uint8Array)) {
    logMismatch('receipt', 'a log field has the wrong shape', {});
  }
  if (topics.length > 4 || topics.some((t) => !(t instanceof Uint8Array) || t.length !== 32)) logMismatch('receipt', 'a log topic is not 32 bytes', {});
  return { address, topics: topics as Uint8Array[], data };
}

// -- JSON (the schemas' EvmProof) -------------------------------------------------------------------

export function evmEvidenceToJson(evidence: EvmEvidence): EvmProof {
  return {
    kind: 'evm',
    chainId: evidence.chainId.toString(),
    blockNumber: evidence.blockNumber.toString(),
    blockHash: toHex(evidence.blockHash),
    header: toHex(evidence.header),
    txIndex: evidence.txIndex,
    logIndex: evidence.logIndex,
    receipt: toHex(evidence.receipt),
    proof: evidence.proof.map(toHex),
    attestations: evidence.attestations.map((a) => ({ alg: a.alg, kid: a.kid, value: a.value })),
  };
}

/** From a schema-validated `EvmProof`; bad hex is CODEC_ENCODING, bad integers CODEC_RANGE. */
export function evmEvidenceFromJson(json: EvmProof): EvmEvidence {
  return {
    chainId: decimal(json.chainId, 'chainId'),
    blockNumber: decimal(json.blockNumber, 'blockNumber'),
    blockHash: fromHex(json.blockHash, 32),
    header: fromHex(json.header),
    txIndex: json.txIndex,
    logIndex: json.logIndex,
    receipt: fromHex(json.receipt),
    proof: json.proof.map((node) => fromHex(node)),
    attestations: json.attestations,
  };
}

// -- helpers ---------------------------------------------------------------------------------------

function decodeRlp(bytes: Uint8Array, onError: () => never): Rlp {
  try {
    return RLP.decode(bytes) as Rlp;
  } catch {
    return onError();
  }
}

/** A canonical RLP integer (no leading zero byte) as a bigint. */
function uint(bytes: Uint8Array): bigint | undefined {
  if (bytes.length > 0 && bytes[0] === 0) return undefined;
  return bytes.length === 0 ? 0n : BigInt('0x' + toHex(bytes));
}

function decimal(text: string, field: string): bigint {
  if (!/^(?:0|[1-9][0-9]{0,19})$/.test(text) || BigInt(text) >= 1n << 64n) {
    throw new LoulanError('CODEC_RANGE', `${field} must be a u64 decimal string`, { details: { field } });
  }
  return BigInt(text);
}

function bytesOf(value: Uint8Array | string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return fromHex(value.replace(/^0x/, '').toLowerCase());
}

function hexOf(value: Uint8Array | string): string {
  return toHex(bytesOf(value));
}

function headerMismatch(field: string, message: string, extra: Record<string, unknown>): never {
  throw new LoulanError('EVM_HEADER_MISMATCH', message, { details: { field, ...extra } });
}

function logMismatch(field: string, message: string, extra: Record<string, unknown>): never {
  throw new LoulanError('EVM_LOG_MISMATCH', message, { details: { field, ...extra } });
}
