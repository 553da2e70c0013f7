/**
 * Events: what a block exports to the outside world (cross-system decisions, transfers, receipts a
 * contract chooses to publish). Each committed event is a leaf of the block's eventsRoot, so anyone
 * holding the header, its certificate and a Merkle path can check it without trusting a node:
 *
 *   verifyInclusionOfData(encodeEvent(event), index, header.eventCount, path, header.eventsRoot)
 *
 * Layout (version 1): u8 version ‖ str contract (<= 32 bytes) ‖ str type (<= 32 bytes) ‖ u32 tx (the
 * index in the block of the transaction that emitted it) ‖ bytes data (<= 64 KiB, contract-defined).
 * `contract` is filled in by the executor, never by the contract, so a verifier can trust which
 * contract spoke; `tx` ties the event to its transaction (and so to the tx tree).
 */
import { Reader, Writer } from '../codec/binary.ts';
import { LoulanError } from '../errors.ts';

export const EVENT_VERSION = 1;
export const MAX_EVENT_TYPE_BYTES = 32;
export const MAX_EVENT_DATA_BYTES = 64 * 1024;

export interface LedgerEvent {
  readonly contract: string;
  readonly type: string;
  /** Index in its block of the transaction that emitted the event. */
  readonly tx: number;
  readonly data: Uint8Array;
}

const writer = new Writer(256);

export function encodeEvent(event: LedgerEvent): Uint8Array {
  return writer
    .reset()
    .u8(EVENT_VERSION)
    .string(event.contract, 32, 'contract')
    .string(event.type, MAX_EVENT_TYPE_BYTES, 'type')
    .u32(event.tx, 'tx')
    .varBytes(event.data, MAX_EVENT_DATA_BYTES, 'data')
    .finish();
}

export function decodeEvent(bytes: Uint8Array): LedgerEvent {
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== EVENT_VERSION) {
    throw new LoulanError('CODEC_TAG', `unknown event version ${version}`, { details: { field: 'version', actual: version } });
  }
  const event: LedgerEvent = {
    contract: r.string(32, 'contract'),
    type: r.string(MAX_EVENT_TYPE_BYTES, 'type'),
    tx: r.u32('tx'),
    data: r.varBytes(MAX_EVENT_DATA_BYTES, 'data'),
  };
  r.finish();
  return event;
}
