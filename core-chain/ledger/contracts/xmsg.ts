/**
 * `xmsg`: what the switch commits to the core chain about the messages it carries.
 *
 * Anchoring: a switch collects the digests of the messages it accepted (and of their delivery
 * receipts) into batches and commits each batch's RFC 6962 Merkle root (crypto/merkle.ts `merkleRoot`
 * over the 32-byte digests as leaf data). The `anchored` event is then in a certified block, so a
 * sender holding the header, its certificate, the event's audit path and the digest's path in the
 * batch can prove when its message was accepted without trusting the switch or any node
 * (verify/anchor.ts). A switch id belongs to the participant whose key anchors for it first: nobody
 * else can take its batch numbers.
 *
 * Delivery: the switch's core-chain adapter hands a message to the chain with `deliver`. Exactly once
 * in effect, keyed by (source, messageId): the first call records the envelope digest and emits
 * `message-delivered`; a retry with the same digest succeeds and does nothing (no write, no event),
 * so the adapter may resend after any failure; a different digest under the same key is refused
 * (CONTRACT_CONFLICT) and the first stays.
 *
 * State (under `xmsg/`; `str` = u32 length ‖ UTF-8):
 *   batch/<switchId>/<batchSeq>   batchSeq as 20 zero-padded decimal digits, so a listing is in order:
 *                                 32-byte root ‖ u32 count ‖ u64 height ‖ u64 time
 *   switch/<switchId>             str participant: the owner, bound by the switch id's first anchor
 *   inbox/<source>/<messageId>    32-byte envelope digest ‖ u64 height
 *
 * Ids: switchId and messageId 1-128 characters of [A-Za-z0-9._:-]; source and to hierarchical
 * addresses (lower-case dot-separated segments, at most 253 bytes); type a payload type name
 * (`points.exchange.request`, at most 64 bytes).
 *
 * Methods (roles the executor requires; arguments):
 *   anchor   operator, relayer   str switchId ‖ u64 batchSeq ‖ 32-byte root ‖ u32 count (>= 1)
 *   deliver  operator, relayer   str messageId ‖ str source ‖ str to ‖ str type ‖ 32-byte digest ‖
 *                                bytes data (<= 32 KiB)
 *
 * Events (data = the call's arguments, as encoded above):
 *   anchored            str switchId ‖ u64 batchSeq ‖ 32-byte root ‖ u32 count
 *   message-delivered   str messageId ‖ str source ‖ str to ‖ str type ‖ 32-byte digest ‖ bytes data
 */
import { Reader, Writer } from '../../codec/binary.ts';
import { equalBytes, toHex } from '../../crypto/hash.ts';
import { LoulanError } from '../../errors.ts';
import type { Contract, ContractContext } from '../contracts.ts';
import type { StateReader } from '../state.ts';
import type { Role } from './registry/access.ts';
import { badArgs, decodeArgs, MAX_ID_BYTES } from './registry/records.ts';

export const XMSG_CONTRACT = 'xmsg';

export const XMSG_ACCESS: Readonly<Record<string, readonly Role[]>> = Object.freeze({
  anchor: ['operator', 'relayer'],
  deliver: ['operator', 'relayer'],
});

export const MAX_XMSG_ID_BYTES = 128;
export const MAX_ADDRESS_BYTES = 253;
export const MAX_TYPE_BYTES = 64;
export const MAX_DELIVER_DATA_BYTES = 32 * 1024;

/** Full state key prefixes, for listing over RPC (`listState`). */
export const XMSG_BATCH_PREFIX = `${XMSG_CONTRACT}/batch/`;
export const XMSG_INBOX_PREFIX = `${XMSG_CONTRACT}/inbox/`;

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const ADDRESS_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const TYPE_RE = /^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+$/;

const KEY = {
  batch: (switchId: string, seq: bigint) => `batch/${switchId}/${seqText(seq)}`,
  owner: (switchId: string) => `switch/${switchId}`,
  inbox: (source: string, messageId: string) => `inbox/${source}/${messageId}`,
} as const;

function seqText(seq: bigint): string {
  return seq.toString().padStart(20, '0');
}

function checkXmsgId(value: string, field: string): string {
  if (!ID_RE.test(value)) badArgs(field, `${field} must be 1-128 characters of [A-Za-z0-9._:-]`);
  return value;
}

function checkAddress(value: string, field: string): string {
  if (value.length > MAX_ADDRESS_BYTES || !ADDRESS_RE.test(value)) badArgs(field, `${field} must be a hierarchical address (lower-case dot-separated segments)`);
  return value;
}

function checkType(value: string, field: string): string {
  if (value.length > MAX_TYPE_BYTES || !TYPE_RE.test(value)) badArgs(field, `${field} must be a payload type name such as points.exchange.request`);
  return value;
}

// -- arguments (also the event data) ---------------------------------------------------------------

export interface AnchorArgs {
  readonly switchId: string;
  readonly batchSeq: bigint;
  /** RFC 6962 root over the batch's 32-byte message digests. */
  readonly root: Uint8Array;
  /** Number of digests in the batch (>= 1). */
  readonly count: number;
}

export interface DeliverArgs {
  readonly messageId: string;
  readonly source: string;
  readonly to: string;
  readonly type: string;
  /** SHA-256 of the envelope's canonical bytes, as the switch computes it. */
  readonly digest: Uint8Array;
  /** The payload as carried (normally the RFC 8785 bytes of the envelope's `data`). */
  readonly data: Uint8Array;
}

function writeAnchor(w: Writer, a: AnchorArgs): Writer {
  return w.string(a.switchId, MAX_XMSG_ID_BYTES, 'switchId').u64(a.batchSeq, 'batchSeq').bytes(a.root, 32, 'root').u32(a.count, 'count');
}

function readAnchor(r: Reader): AnchorArgs {
  const switchId = checkXmsgId(r.string(MAX_XMSG_ID_BYTES, 'switchId'), 'switchId');
  const batchSeq = r.u64('batchSeq');
  const root = r.bytes(32, 'root');
  const count = r.u32('count');
  if (count === 0) badArgs('count', 'a batch holds at least one message');
  return { switchId, batchSeq, root, count };
}

function writeDeliver(w: Writer, d: DeliverArgs): Writer {
  return w
    .string(d.messageId, MAX_XMSG_ID_BYTES, 'messageId')
    .string(d.source, MAX_ADDRESS_BYTES, 'source')
    .string(d.to, MAX_ADDRESS_BYTES, 'to')
    .string(d.type, MAX_TYPE_BYTES, 'type')
    .bytes(d.digest, 32, 'digest')
    .varBytes(d.data, MAX_DELIVER_DATA_BYTES, 'data');
}

function readDeliver(r: Reader): DeliverArgs {
  return {
    messageId: checkXmsgId(r.string(MAX_XMSG_ID_BYTES, 'messageId'), 'messageId'),
    source: checkAddress(r.string(MAX_ADDRESS_BYTES, 'source'), 'source'),
    to: checkAddress(r.string(MAX_ADDRESS_BYTES, 'to'), 'to'),
    type: checkType(r.string(MAX_TYPE_BYTES, 'type'), 'type'),
    digest: r.bytes(32, 'digest'),
    data: r.varBytes(MAX_DELIVER_DATA_BYTES, 'data'),
  };
}

/** `anchor`: `str switchId ‖ u64 batchSeq ‖ 32-byte root ‖ u32 count`; checked as the contract checks it. */
export function encodeAnchorArgs(a: AnchorArgs): Uint8Array {
  checkXmsgId(a.switchId, 'switchId');
  if (a.count === 0) badArgs('count', 'a batch holds at least one message');
  return writeAnchor(new Writer(64 + a.switchId.length), a).finish();
}

/** `deliver`: `str messageId ‖ str source ‖ str to ‖ str type ‖ 32-byte digest ‖ bytes data`; checked as the contract checks it. */
export function encodeDeliverArgs(d: DeliverArgs): Uint8Array {
  checkXmsgId(d.messageId, 'messageId');
  checkAddress(d.source, 'source');
  checkAddress(d.to, 'to');
  checkType(d.type, 'type');
  return writeDeliver(new Writer(640 + d.data.length), d).finish();
}

// -- records ---------------------------------------------------------------------------------------

export interface AnchoredBatch {
  readonly root: Uint8Array;
  readonly count: number;
  readonly height: bigint;
  /** Block time (ms) of the anchoring block. */
  readonly time: bigint;
}

export interface InboxRecord {
  readonly digest: Uint8Array;
  /** Height of the block that delivered it. */
  readonly height: bigint;
}

/** `32-byte root ‖ u32 count ‖ u64 height ‖ u64 time` */
export function encodeBatchRecord(b: AnchoredBatch): Uint8Array {
  return new Writer(52).bytes(b.root, 32, 'root').u32(b.count, 'count').u64(b.height, 'height').u64(b.time, 'time').finish();
}

export function decodeBatchRecord(bytes: Uint8Array): AnchoredBatch {
  const r = new Reader(bytes);
  const batch = { root: r.bytes(32, 'root'), count: r.u32('count'), height: r.u64('height'), time: r.u64('time') };
  r.finish();
  return batch;
}

/** `32-byte digest ‖ u64 height` */
export function encodeInboxRecord(i: InboxRecord): Uint8Array {
  return new Writer(40).bytes(i.digest, 32, 'digest').u64(i.height, 'height').finish();
}

export function decodeInboxRecord(bytes: Uint8Array): InboxRecord {
  const r = new Reader(bytes);
  const record = { digest: r.bytes(32, 'digest'), height: r.u64('height') };
  r.finish();
  return record;
}

// -- the contract ----------------------------------------------------------------------------------

export function createXmsgContract(): Contract {
  return Object.freeze({
    name: XMSG_CONTRACT,
    access: XMSG_ACCESS,
    execute(ctx: ContractContext, method: string, args: Uint8Array): void {
      switch (method) {
        case 'anchor':
          return anchor(ctx, args);
        case 'deliver':
          return deliver(ctx, args);
        default:
          throw new LoulanError('CONTRACT_UNKNOWN_METHOD', `xmsg has no method ${method}`, { details: { contract: XMSG_CONTRACT, method } });
      }
    },
  });
}

const ownerWriter = new Writer(80);

function anchor(ctx: ContractContext, args: Uint8Array): void {
  const a = decodeArgs(args, readAnchor);
  const record = ctx.senderRecord();
  if (record === undefined) throw new LoulanError('INTERNAL', 'sender has no registry record');
  const owner = ctx.get(KEY.owner(a.switchId));
  if (owner === undefined) {
    ctx.put(KEY.owner(a.switchId), ownerWriter.reset().string(record.participant, MAX_ID_BYTES).finish());
  } else {
    const r = new Reader(owner);
    const participant = r.string(MAX_ID_BYTES);
    if (participant !== record.participant) {
      throw new LoulanError('CONTRACT_FORBIDDEN', `switch ${a.switchId} anchors under participant ${participant}`, {
        details: { sender: ctx.sender, contract: XMSG_CONTRACT, method: 'anchor', required: ['switch-owner'], reason: 'switch-owner', owner: participant },
      });
    }
  }
  const key = KEY.batch(a.switchId, a.batchSeq);
  const stored = ctx.get(key);
  if (stored !== undefined) {
    const batch = decodeBatchRecord(stored);
    throw new LoulanError('CONTRACT_ALREADY_EXISTS', `batch ${a.batchSeq} of switch ${a.switchId} is already anchored`, {
      // `matches`: the same root and count, so a retrying switch may take the first anchor as its own.
      details: { kind: 'batch', id: `${a.switchId}/${a.batchSeq}`, matches: equalBytes(batch.root, a.root) && batch.count === a.count, height: batch.height },
    });
  }
  ctx.put(key, encodeBatchRecord({ root: a.root, count: a.count, height: ctx.height, time: ctx.time }));
  ctx.emit('anchored', writeAnchor(new Writer(64 + a.switchId.length), a).finish());
}

function deliver(ctx: ContractContext, args: Uint8Array): void {
  const d = decodeArgs(args, readDeliver);
  const key = KEY.inbox(d.source, d.messageId);
  const stored = ctx.get(key);
  if (stored !== undefined) {
    const first = decodeInboxRecord(stored);
    if (equalBytes(first.digest, d.digest)) return; // delivered already: exactly once in effect
    throw new LoulanError('CONTRACT_CONFLICT', `message ${d.messageId} from ${d.source} was delivered with another digest`, {
      details: { kind: 'message', id: `${d.source}/${d.messageId}`, digest: toHex(first.digest), height: first.height },
    });
  }
  ctx.put(key, encodeInboxRecord({ digest: d.digest, height: ctx.height }));
  // The arguments decoded strictly, so they are their own canonical encoding.
  ctx.emit('message-delivered', args.slice());
}

// -- events ----------------------------------------------------------------------------------------

export type XmsgEvent = ({ readonly type: 'anchored' } & AnchorArgs) | { readonly type: 'message-delivered'; readonly message: DeliverArgs };

/**
 * Decodes the data of an `xmsg` event (check `contract === 'xmsg'` first). Throws CODEC_TAG for a
 * type this contract does not emit, CODEC_* / CONTRACT_BAD_ARGS for data that does not decode.
 */
export function decodeXmsgEvent(type: string, data: Uint8Array): XmsgEvent {
  switch (type) {
    case 'anchored':
      return { type, ...decodeArgs(data, readAnchor) };
    case 'message-delivered':
      return { type, message: decodeArgs(data, readDeliver) };
    default:
      throw new LoulanError('CODEC_TAG', `xmsg emits no event ${type}`, { details: { field: 'type', actual: type } });
  }
}

// -- readers over committed state ------------------------------------------------------------------

/** `xmsg/batch/<switchId>/<20-digit batchSeq>` */
export function xmsgBatchKey(switchId: string, batchSeq: bigint): string {
  return `${XMSG_CONTRACT}/${KEY.batch(switchId, batchSeq)}`;
}

/** `xmsg/inbox/<source>/<messageId>` */
export function xmsgInboxKey(source: string, messageId: string): string {
  return `${XMSG_CONTRACT}/${KEY.inbox(source, messageId)}`;
}

export function xmsgBatch(state: StateReader, switchId: string, batchSeq: bigint): AnchoredBatch | undefined {
  const bytes = state.get(xmsgBatchKey(switchId, batchSeq));
  return bytes === undefined ? undefined : decodeBatchRecord(bytes);
}

export function xmsgInbox(state: StateReader, source: string, messageId: string): InboxRecord | undefined {
  const bytes = state.get(xmsgInboxKey(source, messageId));
  return bytes === undefined ? undefined : decodeInboxRecord(bytes);
}

/** The participant that owns `switchId` (bound by its first anchor), or undefined. */
export function xmsgSwitchOwner(state: StateReader, switchId: string): string | undefined {
  const bytes = state.get(`${XMSG_CONTRACT}/${KEY.owner(switchId)}`);
  if (bytes === undefined) return undefined;
  const r = new Reader(bytes);
  const participant = r.string(MAX_ID_BYTES, 'participant');
  r.finish();
  return participant;
}
