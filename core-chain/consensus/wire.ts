/**
 * The wire encoding of consensus messages, certificates and the safety record.
 *
 * Every top-level structure starts with a version byte and a kind tag, then its fields in the order
 * `types.ts` declares them, in the fixed binary layout of `codec/binary.ts`: u64 for views and heights,
 * 32 raw bytes for digests, u16 for validator indexes, u32-length-prefixed bytes for signatures and
 * payloads, a 0/1 byte before an optional (`null`able) field, a u32 count before a list. Nested
 * structures (a certificate inside a view change, view changes and a proposal inside a new view) are
 * written inline without their own version and tag, and only where the types put them, so there is
 * one encoding per value and decode-then-encode is the identity.
 *
 * This is not what signatures cover (that is `messages.ts`): it is how a message travels and how
 * certificates and the safety record are stored. Decoding is strict and bounded because its input
 * comes off a socket: every count and length is checked against its limit before anything is
 * allocated, and a decoder never allocates more than the input it was given (every byte field must be
 * present in full before it is copied). The transport still bounds the frame size: a NEW-VIEW can
 * legitimately carry one prepared payload per view change.
 *
 * Only the encoding is checked here. Whether signers are sorted and distinct, whether a certificate
 * holds a quorum, whether a digest matches its payload: those are the replica's checks.
 */
import { Reader, Writer } from '../codec/binary.ts';
import { LoulanError } from '../errors.ts';
import type {
  Certificate,
  ConsensusMessage,
  NewView,
  PreparedCert,
  Propose,
  SafetyState,
  SignedMark,
  SignerSig,
  Status,
  ViewChange,
  Vote,
} from './types.ts';

export const WIRE_VERSION = 1;
/** Validator indexes are below this (the validator set never grows past it). */
export const MAX_VALIDATORS = 1024;
/** Signatures per certificate or prepared certificate. */
export const MAX_SIGNATURES = 1024;
/** A DER ECDSA signature is at most 72 bytes; a recoverable secp256k1 one is 65. */
export const MAX_SIGNATURE_BYTES = 72;
/** View changes carried by one NEW-VIEW. */
export const MAX_VIEW_CHANGES = 1024;
export const DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
/** Digests are SHA-256 block hashes, as the signing layouts require. */
export const DIGEST_BYTES = 32;

/** The tag after the version byte. Messages, certificates and safety records never share a tag. */
export const WIRE_TAGS = {
  propose: 0x01,
  prepare: 0x02,
  commit: 0x03,
  'view-change': 0x04,
  'new-view': 0x05,
  status: 0x06,
  certificate: 0x10,
  safety: 0x11,
} as const;

export interface WireLimits {
  /** Largest block payload accepted, in bytes (default 8 MiB). Applies to every payload in a structure. */
  readonly maxPayloadBytes?: number;
}

interface Limits {
  readonly maxPayloadBytes: number;
}

function limitsOf(limits: WireLimits | undefined): Limits {
  const maxPayloadBytes = limits?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 0 || maxPayloadBytes > 0xffff_ffff) {
    throw new LoulanError('CONFIG_INVALID', `maxPayloadBytes must be an integer in [0, 2^32), got ${String(maxPayloadBytes)}`, {
      details: { field: 'maxPayloadBytes' },
    });
  }
  return { maxPayloadBytes };
}

// -- top level -----------------------------------------------------------------------------------------

/**
 * Encodes any consensus message: version ‖ tag ‖ fields. Throws `CODEC_*` for a value that could not
 * be decoded again (wrong digest length, oversized signature or payload, validator index ≥ 1024).
 */
export function encodeMessage(msg: ConsensusMessage, limits?: WireLimits): Uint8Array {
  const l = limitsOf(limits);
  const w = new Writer(msg.kind === 'propose' ? 128 + msg.payload.length : 256);
  w.u8(WIRE_VERSION, 'version').u8(WIRE_TAGS[msg.kind], 'kind');
  switch (msg.kind) {
    case 'propose':
      writePropose(w, msg, l);
      break;
    case 'prepare':
    case 'commit':
      writeVote(w, msg);
      break;
    case 'view-change':
      writeViewChange(w, msg, l);
      break;
    case 'new-view':
      writeNewView(w, msg, l);
      break;
    case 'status':
      writeStatus(w, msg);
      break;
  }
  return w.finish();
}

/**
 * Decodes one consensus message, all of `bytes` and nothing else.
 *
 * @example
 * const msg = decodeMessage(frame, { maxPayloadBytes: 4 << 20 }); // then verify msg.sig
 */
export function decodeMessage(bytes: Uint8Array, limits?: WireLimits): ConsensusMessage {
  const l = limitsOf(limits);
  const r = reader(bytes);
  const tag = readHeader(r);
  let msg: ConsensusMessage;
  switch (tag) {
    case WIRE_TAGS.propose:
      msg = readPropose(r, l);
      break;
    case WIRE_TAGS.prepare:
      msg = readVote(r, 'prepare');
      break;
    case WIRE_TAGS.commit:
      msg = readVote(r, 'commit');
      break;
    case WIRE_TAGS['view-change']:
      msg = readViewChange(r, l);
      break;
    case WIRE_TAGS['new-view']:
      msg = readNewView(r, l);
      break;
    case WIRE_TAGS.status:
      msg = readStatus(r);
      break;
    default:
      throw unknownTag(tag, r.offset - 1, 'message');
  }
  r.finish();
  return msg;
}

/** Encodes a commit certificate as stored with its block: version ‖ tag ‖ height ‖ view ‖ digest ‖ sigs. */
export function encodeCertificate(cert: Certificate): Uint8Array {
  const w = new Writer(64 + cert.sigs.length * 80);
  w.u8(WIRE_VERSION, 'version').u8(WIRE_TAGS.certificate, 'kind');
  writeCertificate(w, cert);
  return w.finish();
}

export function decodeCertificate(bytes: Uint8Array): Certificate {
  const r = reader(bytes);
  const tag = readHeader(r);
  if (tag !== WIRE_TAGS.certificate) throw unknownTag(tag, r.offset - 1, 'certificate');
  const cert = readCertificate(r);
  r.finish();
  return cert;
}

/** Encodes the safety record body (the SafetyFile frames it with a magic, length and checksum). */
export function encodeSafety(state: SafetyState, limits?: WireLimits): Uint8Array {
  const l = limitsOf(limits);
  const w = new Writer(128 + (state.prepared?.payload.length ?? 0));
  w.u8(WIRE_VERSION, 'version').u8(WIRE_TAGS.safety, 'kind');
  w.u64(state.view, 'view').bool(state.changing, 'changing');
  writeOptional(w, state.lastProposal, writeMark);
  writeOptional(w, state.lastPrepare, writeMark);
  writeOptional(w, state.lastCommit, writeMark);
  writeOptional(w, state.prepared, (w2, p) => writePrepared(w2, p, l));
  w.u64(state.signFloor, 'signFloor');
  return w.finish();
}

export function decodeSafety(bytes: Uint8Array, limits?: WireLimits): SafetyState {
  const l = limitsOf(limits);
  const r = reader(bytes);
  const tag = readHeader(r);
  if (tag !== WIRE_TAGS.safety) throw unknownTag(tag, r.offset - 1, 'safety');
  const state: SafetyState = {
    view: r.u64('view'),
    changing: r.bool('changing'),
    lastProposal: readOptional(r, 'lastProposal', readMark),
    lastPrepare: readOptional(r, 'lastPrepare', readMark),
    lastCommit: readOptional(r, 'lastCommit', readMark),
    prepared: readOptional(r, 'prepared', (r2) => readPrepared(r2, l)),
    signFloor: r.u64('signFloor'),
  };
  r.finish();
  return state;
}

// -- writers ---------------------------------------------------------------------------------------------

function writePropose(w: Writer, p: Omit<Propose, 'kind'>, l: Limits): void {
  w.u64(p.view, 'view').u64(p.height, 'height').bytes(p.digest, DIGEST_BYTES, 'digest');
  w.varBytes(p.payload, l.maxPayloadBytes, 'payload');
  writeFrom(w, p.from, 'from');
  w.varBytes(p.sig, MAX_SIGNATURE_BYTES, 'sig');
}

function writeVote(w: Writer, v: Vote): void {
  w.u64(v.view, 'view').u64(v.height, 'height').bytes(v.digest, DIGEST_BYTES, 'digest');
  writeFrom(w, v.from, 'from');
  w.varBytes(v.sig, MAX_SIGNATURE_BYTES, 'sig');
}

function writeViewChange(w: Writer, vc: ViewChange, l: Limits): void {
  w.u64(vc.view, 'view').u64(vc.height, 'height');
  writeOptional(w, vc.lastCert, writeCertificate);
  writeOptional(w, vc.prepared, (w2, p) => writePrepared(w2, p, l));
  writeFrom(w, vc.from, 'from');
  w.varBytes(vc.sig, MAX_SIGNATURE_BYTES, 'sig');
}

function writeNewView(w: Writer, nv: NewView, l: Limits): void {
  w.u64(nv.view, 'view');
  writeCount(w, nv.viewChanges.length, MAX_VIEW_CHANGES, 'viewChanges');
  for (const vc of nv.viewChanges) writeViewChange(w, vc, l);
  writeOptional(w, nv.proposal, (w2, p) => writePropose(w2, p, l));
  writeFrom(w, nv.from, 'from');
  w.varBytes(nv.sig, MAX_SIGNATURE_BYTES, 'sig');
}

function writeStatus(w: Writer, s: Status): void {
  w.u64(s.view, 'view').u64(s.height, 'height');
  writeFrom(w, s.from, 'from');
  w.varBytes(s.sig, MAX_SIGNATURE_BYTES, 'sig');
}

function writeCertificate(w: Writer, c: Certificate): void {
  w.u64(c.height, 'height').u64(c.view, 'view').bytes(c.digest, DIGEST_BYTES, 'digest');
  writeSigs(w, c.sigs, 'sigs');
}

function writePrepared(w: Writer, p: PreparedCert, l: Limits): void {
  w.u64(p.view, 'view').u64(p.height, 'height').bytes(p.digest, DIGEST_BYTES, 'digest');
  w.varBytes(p.payload, l.maxPayloadBytes, 'payload');
  writeSigs(w, p.prepares, 'prepares');
}

function writeMark(w: Writer, m: SignedMark): void {
  w.u64(m.height, 'height').u64(m.view, 'view').bytes(m.digest, DIGEST_BYTES, 'digest');
}

function writeSigs(w: Writer, sigs: readonly SignerSig[], field: string): void {
  writeCount(w, sigs.length, MAX_SIGNATURES, field);
  for (const s of sigs) {
    writeFrom(w, s.from, `${field}.from`);
    w.varBytes(s.sig, MAX_SIGNATURE_BYTES, `${field}.sig`);
  }
}

function writeFrom(w: Writer, from: number, field: string): void {
  if (!Number.isInteger(from) || from < 0 || from >= MAX_VALIDATORS) {
    throw new LoulanError('CODEC_RANGE', `validator index must be in [0, ${MAX_VALIDATORS}), got ${String(from)}`, {
      details: { field, actual: from },
    });
  }
  w.u16(from, field);
}

function writeCount(w: Writer, count: number, max: number, field: string): void {
  if (count > max) {
    throw new LoulanError('CODEC_LENGTH', `${count} items exceeds the limit of ${max}`, { details: { field, max, actual: count } });
  }
  w.u32(count, field);
}

function writeOptional<T>(w: Writer, value: T | null, write: (w: Writer, value: T) => void): void {
  w.bool(value !== null);
  if (value !== null) write(w, value);
}

// -- readers ---------------------------------------------------------------------------------------------

/**
 * A Reader over a plain Uint8Array view of `bytes`. Frames from `ws` and values from LevelDB are
 * Buffers, whose `slice` shares memory; over a plain view the Reader's byte fields are real copies
 * (and plain Uint8Arrays), so a decoded message never aliases a network or database buffer.
 */
function reader(bytes: Uint8Array): Reader {
  return new Reader(bytes);
}

function readHeader(r: Reader): number {
  const version = r.u8('version');
  if (version !== WIRE_VERSION) {
    throw new LoulanError('CODEC_TAG', `unknown wire version ${version}`, { details: { field: 'version', offset: 0, actual: version } });
  }
  return r.u8('kind');
}

function unknownTag(tag: number, offset: number, expected: string): LoulanError {
  return new LoulanError('CODEC_TAG', `unknown ${expected} tag 0x${tag.toString(16).padStart(2, '0')}`, {
    details: { field: 'kind', offset, actual: tag, expected },
  });
}

function readPropose(r: Reader, l: Limits): Propose {
  return {
    kind: 'propose',
    view: r.u64('view'),
    height: r.u64('height'),
    digest: r.bytes(DIGEST_BYTES, 'digest'),
    payload: r.varBytes(l.maxPayloadBytes, 'payload'),
    from: readFrom(r, 'from'),
    sig: r.varBytes(MAX_SIGNATURE_BYTES, 'sig'),
  };
}

function readVote(r: Reader, kind: Vote['kind']): Vote {
  return {
    kind,
    view: r.u64('view'),
    height: r.u64('height'),
    digest: r.bytes(DIGEST_BYTES, 'digest'),
    from: readFrom(r, 'from'),
    sig: r.varBytes(MAX_SIGNATURE_BYTES, 'sig'),
  };
}

function readViewChange(r: Reader, l: Limits): ViewChange {
  return {
    kind: 'view-change',
    view: r.u64('view'),
    height: r.u64('height'),
    lastCert: readOptional(r, 'lastCert', readCertificate),
    prepared: readOptional(r, 'prepared', (r2) => readPrepared(r2, l)),
    from: readFrom(r, 'from'),
    sig: r.varBytes(MAX_SIGNATURE_BYTES, 'sig'),
  };
}

function readNewView(r: Reader, l: Limits): NewView {
  const view = r.u64('view');
  const count = readCount(r, MAX_VIEW_CHANGES, 'viewChanges');
  const viewChanges: ViewChange[] = [];
  for (let i = 0; i < count; i++) viewChanges.push(readViewChange(r, l));
  return {
    kind: 'new-view',
    view,
    viewChanges,
    proposal: readOptional(r, 'proposal', (r2) => readPropose(r2, l)),
    from: readFrom(r, 'from'),
    sig: r.varBytes(MAX_SIGNATURE_BYTES, 'sig'),
  };
}

function readStatus(r: Reader): Status {
  return {
    kind: 'status',
    view: r.u64('view'),
    height: r.u64('height'),
    from: readFrom(r, 'from'),
    sig: r.varBytes(MAX_SIGNATURE_BYTES, 'sig'),
  };
}

function readCertificate(r: Reader): Certificate {
  return {
    height: r.u64('height'),
    view: r.u64('view'),
    digest: r.bytes(DIGEST_BYTES, 'digest'),
    sigs: readSigs(r, 'sigs'),
  };
}

function readPrepared(r: Reader, l: Limits): PreparedCert {
  return {
    view: r.u64('view'),
    height: r.u64('height'),
    digest: r.bytes(DIGEST_BYTES, 'digest'),
    payload: r.varBytes(l.maxPayloadBytes, 'payload'),
    prepares: readSigs(r, 'prepares'),
  };
}

function readMark(r: Reader): SignedMark {
  return { height: r.u64('height'), view: r.u64('view'), digest: r.bytes(DIGEST_BYTES, 'digest') };
}

function readSigs(r: Reader, field: string): SignerSig[] {
  const count = readCount(r, MAX_SIGNATURES, field);
  const sigs: SignerSig[] = [];
  for (let i = 0; i < count; i++) {
    sigs.push({ from: readFrom(r, `${field}.from`), sig: r.varBytes(MAX_SIGNATURE_BYTES, `${field}.sig`) });
  }
  return sigs;
}

function readFrom(r: Reader, field: string): number {
  const offset = r.offset;
  const from = r.u16(field);
  if (from >= MAX_VALIDATORS) {
    throw new LoulanError('CODEC_RANGE', `validator index must be below ${MAX_VALIDATORS}, got ${from}`, {
      details: { field, offset, actual: from },
    });
  }
  return from;
}

// The count is checked before any item is read, so a forged count allocates nothing.
function readCount(r: Reader, max: number, field: string): number {
  const offset = r.offset;
  const count = r.u32(field);
  if (count > max) {
    throw new LoulanError('CODEC_LENGTH', `${count} items exceeds the limit of ${max}`, { details: { field, offset, max, actual: count } });
  }
  return count;
}

function readOptional<T>(r: Reader, field: string, read: (r: Reader) => T): T | null {
  return r.bool(field) ? read(r) : null;
}
