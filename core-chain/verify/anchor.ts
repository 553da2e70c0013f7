/**
 * Anchor proofs: that a 32-byte message digest is in a batch a switch anchored on the core chain, and
 * so when (block height and time) the switch had committed to it, without trusting the switch or any
 * node.
 *
 * Three links, each checked with the rule already used elsewhere, from the trusted end outwards; the
 * order is fixed so every implementation reports the same code for the same defect:
 *
 *   1. header + certificate against a trusted validator set        verifyCommittedHeader: CODEC_*, CERT_*
 *   2. the encoded event is leaf `eventIndex` of the eventsRoot     verifyEventProof: PROOF_ZERO_ROOT, MERKLE_*
 *   3. the event is the `xmsg` contract's `anchored` event          ANCHOR_WRONG_EVENT (CODEC_* if it does not decode)
 *      naming the expected switch and batch, when the caller        ANCHOR_WRONG_BATCH, `details.field`
 *      gives them
 *   4. the digest is leaf `leafIndex` of the batch's `count` leaves  ANCHOR_LEAF_NOT_IN_BATCH, `details.reason`:
 *      under the anchored root (RFC 6962, the digest as leaf data)   leaf-length | index | hash-length | length | root
 *
 * The event's contract name is filled in by the executor, never by a contract, so step 3 is what keeps
 * another contract from passing off a look-alike `anchored` event.
 *
 * The JSON form (`AnchorProofJson`) carries bytes as lower-case hex, heights as decimal strings, and the
 * event part as the node's RPC serves it: from `GET /v1/events/<height>-<index>?proof=1`, `encoded` is
 * `event`, `index` is `eventIndex`, `proof.path` is `eventPath`, and `proof.header.headerBytes` and
 * `proof.header.certificate` are `headerBytes` and `certificate`. The switch adds the leaf, its index
 * and its path in the batch.
 */
import { fromHex, sha256, toHex } from '../crypto/hash.ts';
import { HASH_LENGTH, inclusionPathLength, verifyInclusionOfData } from '../crypto/merkle.ts';
import type { Certificate } from '../consensus/types.ts';
import { LoulanError } from '../errors.ts';
import type { Header } from '../ledger/block.ts';
import { XMSG_CONTRACT, decodeXmsgEvent } from '../ledger/contracts/xmsg.ts';
import { decodeEvent, MAX_EVENT_DATA_BYTES } from '../ledger/events.ts';
import { MAX_VALIDATORS, verifyCommittedHeader, type TrustedValidatorSet } from './certificate.ts';
import { verifyEventProof } from './events.ts';

/** The event type `xmsg.anchor` emits. */
export const ANCHORED_EVENT = 'anchored';

export interface AnchorProof {
  /** The 32-byte message digest: leaf data of the batch tree. */
  readonly leaf: Uint8Array;
  /** Its position in the batch. */
  readonly leafIndex: number;
  /** RFC 6962 audit path of the leaf in the batch tree. */
  readonly batchPath: readonly Uint8Array[];
  /** The encoded `anchored` event (ledger/events.ts layout). */
  readonly event: Uint8Array;
  /** Its position among the block's events. */
  readonly eventIndex: number;
  /** RFC 6962 audit path of the event under the header's eventsRoot. */
  readonly eventPath: readonly Uint8Array[];
  /** The encoded header of the anchoring block. */
  readonly headerBytes: Uint8Array;
  readonly certificate: Certificate;
}

/** What an anchor proof establishes once it verifies. */
export interface AnchoredLeaf {
  readonly switchId: string;
  readonly batchSeq: bigint;
  readonly root: Uint8Array;
  readonly count: number;
  readonly leafIndex: number;
  /** The certified header of the anchoring block: `height` and `time` (ms) say when. */
  readonly header: Header;
}

/** What the caller expects the anchor to name; each given field must match (ANCHOR_WRONG_BATCH). */
export interface AnchorExpectation {
  readonly switchId?: string;
  readonly batchSeq?: bigint;
}

/**
 * Throws unless `proof` shows `proof.leaf` in a batch anchored in a block certified by `set` (see the
 * module comment for the checks and their codes); returns the batch and the certified header.
 *
 * @example
 * const anchored = verifyAnchorProof({ chainId, publicKeys }, anchorProofFromJson(body), { switchId: 'switch-a' });
 * console.log(`accepted by block ${anchored.header.height} at ${new Date(Number(anchored.header.time)).toISOString()}`);
 */
export function verifyAnchorProof(set: TrustedValidatorSet, proof: AnchorProof, expected: AnchorExpectation = {}): AnchoredLeaf {
  const header = verifyCommittedHeader(set, proof.headerBytes, proof.certificate);
  verifyEventProof(header, proof.event, proof.eventIndex, proof.eventPath);

  const event = decodeEvent(proof.event);
  if (event.contract !== XMSG_CONTRACT || event.type !== ANCHORED_EVENT) {
    throw new LoulanError('ANCHOR_WRONG_EVENT', `event ${proof.eventIndex} of block ${header.height} is ${event.contract}/${event.type}, not ${XMSG_CONTRACT}/${ANCHORED_EVENT}`, {
      details: { height: header.height, index: proof.eventIndex, contract: event.contract, type: event.type },
    });
  }
  const anchored = decodeXmsgEvent(ANCHORED_EVENT, event.data);
  if (anchored.type !== ANCHORED_EVENT) throw new LoulanError('INTERNAL', 'decoded an anchored event as another type');
  if (expected.switchId !== undefined && expected.switchId !== anchored.switchId) {
    wrongBatch('switchId', expected.switchId, anchored.switchId);
  }
  if (expected.batchSeq !== undefined && expected.batchSeq !== anchored.batchSeq) {
    wrongBatch('batchSeq', expected.batchSeq, anchored.batchSeq);
  }

  const { root, count } = anchored;
  const { leaf, leafIndex, batchPath } = proof;
  if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_LENGTH) notInBatch('leaf-length', leafIndex, count, { actual: leaf instanceof Uint8Array ? leaf.length : typeof leaf });
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= count) notInBatch('index', leafIndex, count, {});
  batchPath.forEach((hash, i) => {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_LENGTH) notInBatch('hash-length', leafIndex, count, { element: i });
  });
  const length = inclusionPathLength(leafIndex, count);
  if (batchPath.length !== length) notInBatch('length', leafIndex, count, { expected: length, actual: batchPath.length });
  if (!verifyInclusionOfData(leaf, leafIndex, count, batchPath, root)) notInBatch('root', leafIndex, count, { root: toHex(root) });
  return { switchId: anchored.switchId, batchSeq: anchored.batchSeq, root, count, leafIndex, header };
}

function wrongBatch(field: 'switchId' | 'batchSeq', expected: unknown, actual: unknown): never {
  throw new LoulanError('ANCHOR_WRONG_BATCH', `the anchor names ${field} ${String(actual)}, expected ${String(expected)}`, { details: { field, expected, actual } });
}

function notInBatch(reason: 'leaf-length' | 'index' | 'hash-length' | 'length' | 'root', index: number, count: number, extra: Record<string, unknown>): never {
  throw new LoulanError('ANCHOR_LEAF_NOT_IN_BATCH', `the message leaf is not leaf ${String(index)} of the anchored batch of ${count} (${reason})`, {
    details: { reason, index, count, ...extra },
  });
}

// -- JSON ------------------------------------------------------------------------------------------

export interface AnchorProofJson {
  /** 64 hex. */
  readonly leaf: string;
  readonly leafIndex: number;
  readonly batchPath: readonly string[];
  /** The encoded event, hex. */
  readonly event: string;
  readonly eventIndex: number;
  readonly eventPath: readonly string[];
  /** The encoded header, hex. */
  readonly headerBytes: string;
  /** As in the node's HeaderView: decimal height and view, hex block hash and signatures. */
  readonly certificate: {
    readonly height: string;
    readonly view: string;
    readonly blockHash: string;
    readonly signatures: ReadonlyArray<{ readonly validator: number; readonly signature: string }>;
  };
}

/** Longest audit path: a tree of up to 2^32 leaves. */
const MAX_PATH = 32;
const MAX_EVENT_HEX = 2 * (MAX_EVENT_DATA_BYTES + 256);
const MAX_HEADER_HEX = 2 * 1024;
const DECIMAL = /^(?:0|[1-9][0-9]{0,19})$/;
const HEX = /^(?:[0-9a-f]{2})*$/;

export function anchorProofToJson(proof: AnchorProof): AnchorProofJson {
  return {
    leaf: toHex(proof.leaf),
    leafIndex: proof.leafIndex,
    batchPath: proof.batchPath.map(toHex),
    event: toHex(proof.event),
    eventIndex: proof.eventIndex,
    eventPath: proof.eventPath.map(toHex),
    headerBytes: toHex(proof.headerBytes),
    certificate: {
      height: proof.certificate.height.toString(),
      view: proof.certificate.view.toString(),
      blockHash: toHex(proof.certificate.digest),
      signatures: proof.certificate.sigs.map((s) => ({ validator: s.from, signature: toHex(s.sig) })),
    },
  };
}

/**
 * Parses the JSON form strictly (no unknown or missing fields; VALIDATE_TYPE / VALIDATE_UNKNOWN_FIELD /
 * VALIDATE_REQUIRED / VALIDATE_FORMAT / VALIDATE_RANGE with `details.pointer`). Checks shape only:
 * whether the proof holds is `verifyAnchorProof`'s business.
 */
export function anchorProofFromJson(value: unknown): AnchorProof {
  const o = object(value, '', ['leaf', 'leafIndex', 'batchPath', 'event', 'eventIndex', 'eventPath', 'headerBytes', 'certificate']);
  return {
    leaf: hex(o.leaf, '/leaf', 2 * HASH_LENGTH),
    leafIndex: index(o.leafIndex, '/leafIndex'),
    batchPath: path(o.batchPath, '/batchPath'),
    event: hex(o.event, '/event', MAX_EVENT_HEX),
    eventIndex: index(o.eventIndex, '/eventIndex'),
    eventPath: path(o.eventPath, '/eventPath'),
    headerBytes: hex(o.headerBytes, '/headerBytes', MAX_HEADER_HEX),
    certificate: decodeCertificateJson(o.certificate, '/certificate'),
  };
}

/**
 * A commit certificate from the node's JSON form (`CertificateView`: `{height, view, blockHash,
 * signatures: [{validator, signature}]}`, heights and views as decimal strings or, from CoreClient,
 * bigints; bytes as hex). Strict, with the same VALIDATE_* codes as `anchorProofFromJson`; `pointer`
 * prefixes the reported JSON pointers.
 */
export function decodeCertificateJson(value: unknown, pointer = ''): Certificate {
  const c = object(value, pointer, ['height', 'view', 'blockHash', 'signatures']);
  if (!Array.isArray(c.signatures)) shape('VALIDATE_TYPE', `${pointer}/signatures`, 'expected an array');
  if (c.signatures.length > MAX_VALIDATORS) shape('VALIDATE_RANGE', `${pointer}/signatures`, `at most ${MAX_VALIDATORS} signatures`);
  return {
    height: decimal(c.height, `${pointer}/height`),
    view: decimal(c.view, `${pointer}/view`),
    digest: hex(c.blockHash, `${pointer}/blockHash`, 2 * HASH_LENGTH),
    sigs: (c.signatures as unknown[]).map((s, i) => {
      const at = `${pointer}/signatures/${i}`;
      const sig = object(s, at, ['validator', 'signature']);
      return { from: index(sig.validator, `${at}/validator`), sig: hex(sig.signature, `${at}/signature`, 130) };
    }),
  };
}

function shape(code: 'VALIDATE_TYPE' | 'VALIDATE_UNKNOWN_FIELD' | 'VALIDATE_REQUIRED' | 'VALIDATE_FORMAT' | 'VALIDATE_RANGE', pointer: string, message: string): never {
  throw new LoulanError(code, `anchor proof ${pointer || '/'}: ${message}`, { details: { pointer } });
}

function object(value: unknown, pointer: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) shape('VALIDATE_TYPE', pointer, 'expected an object');
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!fields.includes(key)) shape('VALIDATE_UNKNOWN_FIELD', `${pointer}/${key}`, `unknown field ${key}`);
  for (const field of fields) if (!Object.hasOwn(record, field)) shape('VALIDATE_REQUIRED', `${pointer}/${field}`, `missing field ${field}`);
  return record;
}

function hex(value: unknown, pointer: string, maxChars: number): Uint8Array {
  if (typeof value !== 'string') shape('VALIDATE_TYPE', pointer, 'expected a hex string');
  if (value.length > maxChars) shape('VALIDATE_RANGE', pointer, `at most ${maxChars / 2} bytes`);
  if (!HEX.test(value)) shape('VALIDATE_FORMAT', pointer, 'expected lower-case hex');
  return fromHex(value);
}

function index(value: unknown, pointer: string): number {
  if (typeof value !== 'number') shape('VALIDATE_TYPE', pointer, 'expected an integer');
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffff_ffff) shape('VALIDATE_RANGE', pointer, 'expected an integer in 0..2^32-1');
  return value;
}

function decimal(value: unknown, pointer: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 1n << 64n) shape('VALIDATE_RANGE', pointer, 'expected a u64');
    return value;
  }
  if (typeof value !== 'string') shape('VALIDATE_TYPE', pointer, 'expected a decimal string');
  if (!DECIMAL.test(value) || BigInt(value) >= 1n << 64n) shape('VALIDATE_FORMAT', pointer, 'expected a decimal u64 string');
  return BigInt(value);
}

function path(value: unknown, pointer: string): Uint8Array[] {
  if (!Array.isArray(value)) shape('VALIDATE_TYPE', pointer, 'expected an array');
  if (value.length > MAX_PATH) shape('VALIDATE_RANGE', pointer, `at most ${MAX_PATH} hashes`);
  return value.map((h: unknown, i: number) => hex(h, `${pointer}/${i}`, 2 * HASH_LENGTH));
}

/**
 * The 32-byte leaf a switch anchors for a message event (accepted or delivered): SHA-256 over a domain tag, the kind, the
 * message digest and the time (ms, u64 big-endian). A sender recomputes it from the proof's `kind`,
 * `digest` and `at` and its own copy of the message.
 */
export function anchorLeaf(kind: 'accepted' | 'delivered', digest: string, at: number): Uint8Array {
  const tag = new TextEncoder().encode(`loulan-anchor-v1\n${kind}\n`);
  const out = new Uint8Array(tag.length + 32 + 8);
  out.set(tag);
  out.set(fromHex(digest), tag.length);
  new DataView(out.buffer).setBigUint64(tag.length + 32, BigInt(at));
  return sha256(out);
}
