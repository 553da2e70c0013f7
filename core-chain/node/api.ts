/**
 * What a running validator offers its RPC server (and in-process callers): the node implements
 * `NodeApi`; `rpc.ts` turns it into HTTP and WebSocket routes. Keeping this seam small lets the RPC
 * layer be tested against a fake node with fastify's `inject()`.
 *
 * JSON conventions on the wire: byte strings are lower-case hex without 0x, heights, views, nonces
 * and amounts are decimal strings (bigint in code).
 */
import type { Registry } from 'prom-client';
import type { SparseProofJson } from '../smt/proof.ts';

export interface ValidatorInfo {
  /** Consensus position in the set in force (certificate signer index). */
  readonly index: number;
  /** Stable peer id on the validator network (never reused). */
  readonly nodeId: number;
  readonly name: string;
  /** EVM-style address of the validator's secp256k1 key (0x-prefixed, checksummed). */
  readonly address: string;
  /** Compressed secp256k1 public key, hex. */
  readonly publicKey: string;
}

export interface NodeStatus {
  readonly chainId: string;
  /** This node's peer id. */
  readonly self: number;
  /** This node's position in the set in force, or -1 while it only follows (joining, or removed). */
  readonly position: number;
  readonly height: bigint; // last committed height
  readonly lastBlockHash: string | null;
  readonly lastBlockTime: number | null;
  readonly view: bigint;
  readonly changingView: boolean;
  readonly leader: number;
  readonly validators: readonly ValidatorInfo[];
  readonly connectedPeers: readonly number[];
  readonly mempool: { readonly size: number; readonly executable: number };
  /** True while catching up from peers. */
  readonly syncing: boolean;
}

export interface TxReceiptView {
  readonly status: 'ok' | 'failed';
  readonly code: string | null;
  readonly sender: string;
  readonly nonce: bigint;
  readonly eventCount: number;
}

export interface TxStatus {
  readonly hash: string;
  /** pending: in this node's mempool; committed: in a block; unknown: neither. */
  readonly status: 'pending' | 'committed' | 'unknown';
  readonly height?: bigint;
  readonly index?: number;
  readonly receipt?: TxReceiptView;
}

export interface CertificateView {
  readonly height: bigint;
  readonly view: bigint;
  readonly blockHash: string;
  readonly signatures: ReadonlyArray<{ readonly validator: number; readonly signature: string }>;
}

export interface BlockView {
  readonly height: bigint;
  readonly hash: string;
  readonly header: {
    readonly chainId: string;
    readonly height: bigint;
    readonly prevHash: string;
    readonly time: bigint;
    readonly proposer: number;
    readonly txRoot: string;
    readonly txCount: number;
    readonly eventsRoot: string;
    readonly eventCount: number;
    readonly stateRoot: string;
    readonly validatorSetHash: string;
    /** The set that certifies the next block (differs from validatorSetHash at a hand-over). */
    readonly nextValidatorSetHash: string;
  };
  /** Encoded header, hex: what the block hash is computed over. */
  readonly headerBytes: string;
  /** Transaction hashes in block order (bodies may be pruned). */
  readonly txHashes: readonly string[];
  readonly certificate: CertificateView;
}

/** A header with its commit certificate: what a light client or relayer checks (see core-chain/verify). */
export type HeaderView = Omit<BlockView, 'txHashes'>;

/** Most headers one `getHeaders` call returns. */
export const MAX_HEADERS_PER_CALL = 1000;

/**
 * One exported event, named `<height>-<index>` (its position among the block's events). With a proof:
 * the RFC 6962 audit path of `encoded` under the header's eventsRoot, and the certified header, so that
 * `verifyInclusionOfData(encoded, index, header.eventCount, path, header.eventsRoot)` plus a certificate
 * check proves the event without trusting this node.
 */
export interface EventView {
  readonly id: string;
  readonly height: bigint;
  readonly index: number;
  readonly tx: number;
  readonly contract: string;
  readonly name: string;
  /** Event data, hex. */
  readonly data: string;
  /** The event's leaf bytes (events.ts layout), hex. */
  readonly encoded: string;
  readonly proof?: { readonly path: readonly string[]; readonly header: HeaderView };
}

/**
 * A key's committed value (or its absence) with a sparse Merkle proof against the state root of the
 * certified header at `height`: `verifyStateProof(header, key, value, proof)` checks it without
 * trusting the node.
 */
export interface StateProofView {
  readonly key: string;
  /** Hex, or null when the key is absent (the proof is then a non-inclusion proof). */
  readonly value: string | null;
  readonly height: bigint;
  readonly proof: SparseProofJson;
  readonly header: HeaderView;
}

/** Most entries one `listState` call returns. */
export const MAX_STATE_PAGE = 1000;

/**
 * A page of committed state entries under a key prefix, in key order (UTF-16 code units), all read
 * at `height`. `next` is present when more entries follow: pass it as `after` for the next page.
 * Pages read at different heights may straddle a change; follow the contract's events (or compare
 * heights) when that matters.
 */
export interface StateListView {
  readonly height: bigint;
  readonly entries: ReadonlyArray<{ readonly key: string; /** hex */ readonly value: string }>;
  readonly next?: string;
}

export type NodeEvent =
  | { readonly type: 'block'; readonly height: bigint; readonly hash: string; readonly txCount: number; readonly time: bigint }
  | {
      readonly type: 'event';
      readonly height: bigint;
      readonly tx: number;
      readonly index: number;
      readonly contract: string;
      readonly name: string;
      /** Event data, hex. */
      readonly data: string;
    };

export interface SubmitResult {
  readonly hash: string;
  /** True when the transaction was already known (idempotent resubmission). */
  readonly duplicate: boolean;
}

export interface NodeApi {
  /** Admits an encoded transaction to the mempool and gossips it. Throws LoulanError on bad input. */
  submitTx(bytes: Uint8Array): SubmitResult;
  /** Optional: checks a batch's signatures off the main thread before `submitTx` is called on each. */
  prepareTxs?(txs: readonly Uint8Array[]): Promise<void>;
  /** Resolves when the transaction commits, or with its current status after `timeoutMs`. */
  waitForCommit(hash: string, timeoutMs: number): Promise<TxStatus>;
  getTx(hash: string): Promise<TxStatus>;
  getBlock(height: bigint): Promise<BlockView | null>;
  /** Headers with certificates for heights from..to (inclusive; the caller bounds the span). */
  getHeaders(from: bigint, to: bigint): Promise<HeaderView[]>;
  /** The `index`-th event of the block at `height`, with its inclusion proof when `proof` is set; null if none. */
  getEvent(height: bigint, index: number, proof: boolean): Promise<EventView | null>;
  /** The committed value of `key` (or its absence) with a proof against a certified header. */
  proveState(key: string): Promise<StateProofView>;
  /** Committed value of a state key, or undefined. */
  getState(key: string): Uint8Array | undefined;
  /** At most `limit` (1..MAX_STATE_PAGE) committed entries whose keys start with `prefix` and sort after `after`. */
  listState(prefix: string, after: string, limit: number): StateListView;
  status(): NodeStatus;
  /** New blocks and exported events, in commit order. Returns the unsubscribe function. */
  subscribe(listener: (event: NodeEvent) => void): () => void;
  readonly metrics: Registry;
}
