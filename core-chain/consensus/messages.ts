/**
 * The exact bytes each consensus signature covers.
 *
 * Every layout starts with a 16-byte ASCII domain tag naming the message kind and version, then the
 * chain binding (chain id and validator-set hash, 32 bytes each), then fixed-width big-endian fields.
 * Fixed widths keep the layouts trivially checkable from Solidity and chaincode: the commit layout is
 * the one an EVM contract rebuilds with `abi.encodePacked` before `ecrecover`.
 */
import { createHash } from 'node:crypto';
import type { NewView, ViewChange } from './types.ts';

export interface ChainBinding {
  /** 32 bytes: SHA-256 of the chain's name. */
  readonly chainId: Uint8Array;
  /** 32 bytes: hash of the validator set in force. */
  readonly validatorSetHash: Uint8Array;
}

const TAGS = {
  commit: 'LOULAN/COMMIT/V1',
  propose: 'LOULAN/PROPOSE/1',
  prepare: 'LOULAN/PREPARE/1',
  'view-change': 'LOULAN/VIEWCHG/1',
  'new-view': 'LOULAN/NEWVIEW/1',
  status: 'LOULAN/STATUS/V1',
} as const;

const ZERO32 = new Uint8Array(32);

/**
 * The certificate layout (128 bytes): tag ‖ chainId ‖ validatorSetHash ‖ height u64 ‖ view u64 ‖
 * blockHash. Validators sign SHA-256 of these bytes with secp256k1.
 */
export function commitSigningBytes(chain: ChainBinding, height: bigint, view: bigint, digest: Uint8Array): Uint8Array {
  return layout(TAGS.commit, chain, [u64(height), u64(view), fixed32(digest)]);
}

/** What a signature covers: the message without its signature (and a proposal without its payload). */
export type SigningInput =
  | { readonly kind: 'propose' | 'prepare' | 'commit'; readonly view: bigint; readonly height: bigint; readonly digest: Uint8Array }
  | { readonly kind: 'status'; readonly view: bigint; readonly height: bigint; readonly from: number }
  | Omit<ViewChange, 'sig'>
  | Omit<NewView, 'sig'>;

/** Signing bytes of any consensus message; a commit vote signs the certificate layout. */
export function signingBytes(chain: ChainBinding, msg: SigningInput): Uint8Array {
  switch (msg.kind) {
    case 'propose':
    case 'prepare':
      return layout(TAGS[msg.kind], chain, [u64(msg.view), u64(msg.height), fixed32(msg.digest)]);
    case 'commit':
      return commitSigningBytes(chain, msg.height, msg.view, msg.digest);
    case 'status':
      return layout(TAGS.status, chain, [u64(msg.view), u64(msg.height), u32(msg.from)]);
    case 'view-change':
      return viewChangeBytes(chain, msg);
    case 'new-view': {
      const parts: Uint8Array[] = [u64(msg.view), u32(msg.viewChanges.length)];
      for (const vc of msg.viewChanges) parts.push(sha256(viewChangeBytes(chain, vc)));
      parts.push(msg.proposal === null ? ZERO32 : fixed32(msg.proposal.digest));
      return layout(TAGS['new-view'], chain, parts);
    }
  }
}

function viewChangeBytes(chain: ChainBinding, vc: Omit<ViewChange, 'sig'>): Uint8Array {
  const c = vc.lastCert;
  const p = vc.prepared;
  return layout(TAGS['view-change'], chain, [
    u64(vc.view),
    u64(vc.height),
    u32(vc.from),
    u64(c === null ? 0n : c.height),
    u64(c === null ? 0n : c.view),
    c === null ? ZERO32 : fixed32(c.digest),
    u64(p === null ? 0n : p.view),
    p === null ? ZERO32 : fixed32(p.digest),
  ]);
}

function layout(tag: string, chain: ChainBinding, fields: Uint8Array[]): Uint8Array {
  return Buffer.concat([Buffer.from(tag, 'ascii'), fixed32(chain.chainId), fixed32(chain.validatorSetHash), ...fields]);
}

function u64(value: bigint): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}

function u32(value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function fixed32(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 32) throw new RangeError(`expected 32 bytes, got ${bytes.length}`);
  return bytes;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}
