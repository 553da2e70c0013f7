/**
 * Block headers and blocks.
 *
 * The header is a fixed 253-byte layout (no variable fields), so that Solidity and chaincode can read
 * any field at a constant offset and rebuild the block hash from the header alone:
 *
 *   off  size  field
 *     0     1  version = 1
 *     1    32  chainId
 *    33     8  height                u64
 *    41    32  prevHash              block hash of height - 1 (the genesis hash for height 1)
 *    73     8  time                  u64, ms since the epoch, from the proposer's clock (bounded by validators)
 *    81     4  proposer              u32, index in the validator set of the validator that built the block
 *    85    32  txRoot                RFC 6962 Merkle root, leaf data = the 32-byte tx hashes (see below)
 *   117     4  txCount               u32, the tx tree's size (an inclusion proof needs it)
 *   121    32  eventsRoot            RFC 6962 Merkle root, leaf data = the encoded events (events.ts)
 *   153     4  eventCount            u32
 *   157    32  stateRoot             state root AFTER executing this block (state.ts)
 *   189    32  validatorSetHash      the validator set that certifies this block
 *   221    32  nextValidatorSetHash  the validator set that certifies block height + 1
 *
 * Block hash = SHA-256(header bytes); it is the digest the consensus certifies.
 *
 * nextValidatorSetHash (as in CometBFT) lets a light verifier follow validator-set changes without
 * trusting anyone: the block before a change is certified by the outgoing set and names the incoming
 * set's hash, so each hand-over is signed by the validators being replaced (core-chain/verify). It
 * equals validatorSetHash in every block that is not the last one before a change.
 *
 * A block (the consensus payload) is `u32 headerLength ‖ header ‖ txCount × (u32 length ‖ tx bytes)`,
 * with the count taken from the header. Putting the header first behind its length makes the digest a
 * slice and a hash (`blockDigestFromPayload`): the consensus core computes it for every proposal and
 * vote before anything is decoded.
 *
 * txRoot choice: the leaves are the transaction hashes (leaf hash = SHA-256(0x00 ‖ txHash)), not the
 * raw transactions. A client knows its transaction by hash, so it proves inclusion with
 * `verifyInclusionOfData(txHash, index, txCount, path, txRoot)` without the transaction bytes, and
 * building the tree hashes 33 bytes per transaction instead of the whole transaction a second time.
 */
import { Reader, Writer } from '../codec/binary.ts';
import { equalBytes, sha256 } from '../crypto/hash.ts';
import { leafHash, merkleRootFromLeafHashes } from '../crypto/merkle.ts';
import { LoulanError } from '../errors.ts';
import { MAX_TX_BYTES } from './tx.ts';

export const HEADER_VERSION = 1;
export const HEADER_LENGTH = 253;
/** Decoder bound on the transactions of one block, whatever the header claims. */
export const MAX_BLOCK_TXS = 1 << 20;

export interface Header {
  readonly chainId: Uint8Array;
  readonly height: bigint;
  readonly prevHash: Uint8Array;
  readonly time: bigint;
  readonly proposer: number;
  readonly txRoot: Uint8Array;
  readonly txCount: number;
  readonly eventsRoot: Uint8Array;
  readonly eventCount: number;
  readonly stateRoot: Uint8Array;
  readonly validatorSetHash: Uint8Array;
  /** The validator set that certifies block height + 1 (equal to validatorSetHash unless it changes). */
  readonly nextValidatorSetHash: Uint8Array;
}

/** The header fields a proposer fixes before executing; the roots and counts come from execution. */
export type BlockContext = Pick<Header, 'chainId' | 'height' | 'prevHash' | 'time' | 'proposer' | 'validatorSetHash' | 'nextValidatorSetHash'>;

export interface Block {
  readonly header: Header;
  /** Encoded transactions, in execution order; `header.txCount` of them. */
  readonly txs: readonly Uint8Array[];
}

const headerWriter = new Writer(HEADER_LENGTH);

export function encodeHeader(h: Header): Uint8Array {
  return headerWriter
    .reset()
    .u8(HEADER_VERSION)
    .bytes(h.chainId, 32, 'chainId')
    .u64(h.height, 'height')
    .bytes(h.prevHash, 32, 'prevHash')
    .u64(h.time, 'time')
    .u32(h.proposer, 'proposer')
    .bytes(h.txRoot, 32, 'txRoot')
    .u32(h.txCount, 'txCount')
    .bytes(h.eventsRoot, 32, 'eventsRoot')
    .u32(h.eventCount, 'eventCount')
    .bytes(h.stateRoot, 32, 'stateRoot')
    .bytes(h.validatorSetHash, 32, 'validatorSetHash')
    .bytes(h.nextValidatorSetHash, 32, 'nextValidatorSetHash')
    .finish();
}

/** Strict: exactly HEADER_LENGTH bytes of version 1. */
export function decodeHeader(bytes: Uint8Array): Header {
  const r = new Reader(bytes);
  const header = readHeader(r);
  r.finish();
  return header;
}

function readHeader(r: Reader): Header {
  const version = r.u8('header.version');
  if (version !== HEADER_VERSION) {
    throw new LoulanError('CODEC_TAG', `unknown header version ${version}`, { details: { field: 'header.version', actual: version } });
  }
  return {
    chainId: r.bytes(32, 'chainId'),
    height: r.u64('height'),
    prevHash: r.bytes(32, 'prevHash'),
    time: r.u64('time'),
    proposer: r.u32('proposer'),
    txRoot: r.bytes(32, 'txRoot'),
    txCount: r.u32('txCount'),
    eventsRoot: r.bytes(32, 'eventsRoot'),
    eventCount: r.u32('eventCount'),
    stateRoot: r.bytes(32, 'stateRoot'),
    validatorSetHash: r.bytes(32, 'validatorSetHash'),
    nextValidatorSetHash: r.bytes(32, 'nextValidatorSetHash'),
  };
}

/** SHA-256 of the encoded header: the digest the commit certificate signs. */
export function blockHash(header: Header): Uint8Array {
  return sha256(encodeHeader(header));
}

/** The consensus payload for a block. */
export function encodeBlock(block: Block): Uint8Array {
  const { header, txs } = block;
  if (txs.length !== header.txCount) {
    throw new LoulanError('CODEC_LENGTH', `header says ${header.txCount} transactions, block has ${txs.length}`, {
      details: { field: 'txs', expected: header.txCount, actual: txs.length },
    });
  }
  let size = 4 + HEADER_LENGTH;
  for (const tx of txs) size += 4 + tx.length;
  const w = new Writer(size);
  w.u32(HEADER_LENGTH).bytes(encodeHeader(header), HEADER_LENGTH, 'header');
  for (const tx of txs) w.varBytes(tx, MAX_TX_BYTES, 'tx');
  return w.finish();
}

/**
 * Strict decoder for a consensus payload. The transactions are views into one private copy of the
 * payload (one allocation per block instead of one per transaction); they never alias `payload`.
 */
export function decodeBlock(payload: Uint8Array): Block {
  const own = payload.slice();
  const r = new Reader(own);
  const headerLength = r.u32('headerLength');
  if (headerLength !== HEADER_LENGTH) {
    throw new LoulanError('CODEC_LENGTH', `header length must be ${HEADER_LENGTH}, got ${headerLength}`, {
      details: { field: 'headerLength', expected: HEADER_LENGTH, actual: headerLength },
    });
  }
  const header = readHeader(r);
  if (header.txCount > MAX_BLOCK_TXS) {
    throw new LoulanError('CODEC_LENGTH', `${header.txCount} transactions exceeds the limit of ${MAX_BLOCK_TXS}`, {
      details: { field: 'txCount', max: MAX_BLOCK_TXS, actual: header.txCount },
    });
  }
  const view = new DataView(own.buffer, own.byteOffset, own.byteLength);
  const txs: Uint8Array[] = [];
  let pos = r.offset;
  for (let i = 0; i < header.txCount; i++) {
    if (own.length - pos < 4) truncated(i, pos, 4, own.length - pos);
    const length = view.getUint32(pos);
    if (length > MAX_TX_BYTES) {
      throw new LoulanError('CODEC_LENGTH', `transaction ${i} is ${length} bytes, over the limit of ${MAX_TX_BYTES}`, {
        details: { field: 'tx', index: i, offset: pos, max: MAX_TX_BYTES, actual: length },
      });
    }
    if (own.length - pos - 4 < length) truncated(i, pos, 4 + length, own.length - pos);
    txs.push(own.subarray(pos + 4, pos + 4 + length));
    pos += 4 + length;
  }
  if (pos !== own.length) {
    throw new LoulanError('CODEC_TRAILING_BYTES', `${own.length - pos} bytes left after the last transaction`, {
      details: { offset: pos, trailing: own.length - pos },
    });
  }
  return { header, txs };
}

function truncated(index: number, offset: number, need: number, have: number): never {
  throw new LoulanError('CODEC_TRUNCATED', `transaction ${index} is cut short`, { details: { field: 'tx', index, offset, need, have } });
}

const MALFORMED_TAG = new TextEncoder().encode('LOULAN/MALFORMED-BLOCK/V1');

/**
 * The block hash of an encoded block, from its header slice alone (no transaction is decoded).
 *
 * Never throws: the consensus core digests whatever a peer sends. A payload without a well-framed
 * header gets `malformedBlockDigest(payload)`, which no header hashes to.
 *
 * Two payloads with one header but different transactions share this digest. The ledger's
 * `ConsensusApp.digest` is therefore stricter (it also checks the transactions against txRoot, see
 * ledger.ts); use this cheap form where the payload is already known to be the block (storage).
 */
export function blockDigestFromPayload(payload: Uint8Array): Uint8Array {
  if (payload.length >= 4 + HEADER_LENGTH) {
    const length = ((payload[0] as number) << 24) | ((payload[1] as number) << 16) | ((payload[2] as number) << 8) | (payload[3] as number);
    if (length === HEADER_LENGTH) return sha256(payload.subarray(4, 4 + HEADER_LENGTH));
  }
  return malformedBlockDigest(payload);
}

/**
 * SHA-256("LOULAN/MALFORMED-BLOCK/V1" ‖ payload): the digest of a payload that is not a well-formed
 * block. Distinct from every block hash (a header is never prefixed by the tag, barring a SHA-256
 * collision), so a malformed payload can never pass for a certified block.
 */
export function malformedBlockDigest(payload: Uint8Array): Uint8Array {
  const input = new Uint8Array(MALFORMED_TAG.length + payload.length);
  input.set(MALFORMED_TAG, 0);
  input.set(payload, MALFORMED_TAG.length);
  return sha256(input);
}

/** txRoot over transaction hashes (leaf data = the 32-byte hash; see the module comment). */
export function txRootFromHashes(txHashes: readonly Uint8Array[]): Uint8Array {
  const leaves = new Array<Uint8Array>(txHashes.length);
  for (let i = 0; i < txHashes.length; i++) leaves[i] = leafHash(txHashes[i] as Uint8Array);
  return merkleRootFromLeafHashes(leaves);
}

/** Field-by-field header equality; names the first field that differs, or null. */
export function headerMismatch(a: Header, b: Header): keyof Header | null {
  if (!equalBytes(a.chainId, b.chainId)) return 'chainId';
  if (a.height !== b.height) return 'height';
  if (!equalBytes(a.prevHash, b.prevHash)) return 'prevHash';
  if (a.time !== b.time) return 'time';
  if (a.proposer !== b.proposer) return 'proposer';
  if (!equalBytes(a.txRoot, b.txRoot)) return 'txRoot';
  if (a.txCount !== b.txCount) return 'txCount';
  if (!equalBytes(a.eventsRoot, b.eventsRoot)) return 'eventsRoot';
  if (a.eventCount !== b.eventCount) return 'eventCount';
  if (!equalBytes(a.stateRoot, b.stateRoot)) return 'stateRoot';
  if (!equalBytes(a.validatorSetHash, b.validatorSetHash)) return 'validatorSetHash';
  if (!equalBytes(a.nextValidatorSetHash, b.nextValidatorSetHash)) return 'nextValidatorSetHash';
  return null;
}
