/**
 * The mempool: signed transactions waiting for a block.
 *
 * Admission does all the per-transaction checking a block will need, once: decode, chain id, nonce
 * not already used, and the signature, whose success is recorded in the shared `VerifiedTxCache` so
 * that block validation does not verify it again. Cheap checks (size, duplicate, bounds, nonce) run
 * before the signature, so junk costs little.
 *
 * Transactions wait in per-sender queues keyed by nonce. A sender's transactions are *executable*
 * while their nonces continue contiguously from the sender's committed nonce; a gap holds back the
 * rest until it is filled. `take` serves senders round-robin (one transaction each per round, in
 * nonce order per sender) and sends the senders it served to the back of the line, so one busy sender
 * cannot crowd out the others across blocks.
 *
 * `take` does not remove anything: a proposal may fail (view change) and the next leader takes the
 * same transactions again. `onCommit` removes what a block included and anything its nonces made
 * stale. Nothing is ever replaced: there are no fees to bid with, so a second transaction with a
 * pending (sender, nonce) is refused (MEMPOOL_NONCE_TAKEN).
 *
 * Bounds: total count, total bytes, pending transactions per sender, and how far ahead of its
 * committed nonce a sender may queue.
 */
import { equalBytes } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';
import type { ContractRegistry } from './contracts.ts';
import { checkAccess } from './contracts/registry/access.ts';
import type { StateReader } from './state.ts';
import { decodeTx, MAX_TX_BYTES, senderAddress, txHash, verifyEncodedTxSignature, type Tx } from './tx.ts';
import { txKey, VerifiedTxCache } from './verified.ts';

export interface MempoolOptions {
  readonly chainId: Uint8Array;
  /** The sender's committed nonce (0 when none); usually `(a) => committedNonce(state, a)`. */
  readonly nonceOf: (address: string) => bigint;
  readonly maxTxs?: number;
  readonly maxBytes?: number;
  readonly maxPerSender?: number;
  /** How far past the committed nonce a sender may queue (bounds transactions held back by a gap). */
  readonly maxNonceAhead?: number;
  /** Shared with the ledger so block validation skips transactions verified here. */
  readonly verified?: VerifiedTxCache;
  /** When given, a transaction naming a contract not installed is refused (LEDGER_UNKNOWN_CONTRACT). */
  readonly contracts?: ContractRegistry;
  /**
   * The committed state, read live. With `contracts`, a sender the registry does not entitle to the
   * method is refused early with the code the block would record (CONTRACT_UNKNOWN_METHOD,
   * CONTRACT_FORBIDDEN), before the signature is checked. Only advisory: the executor checks again.
   */
  readonly state?: StateReader;
}

export interface AddResult {
  readonly hash: Uint8Array;
  /** True when the transaction was already pending (nothing was changed). */
  readonly duplicate: boolean;
}

export interface MempoolEntry {
  readonly hash: Uint8Array;
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly tx: Tx;
  readonly sender: string;
  readonly nonce: bigint;
}

interface SenderQueue {
  readonly address: string;
  /**
   * The committed nonce as last seen; entries at or below it are stale. Numbers, not bigints, inside
   * the pool (Map lookups by bigint are slow): a committed nonce counts transactions actually executed,
   * and admission bounds a pending one to committed + maxNonceAhead, so both stay far below 2^53.
   */
  committed: number;
  readonly byNonce: Map<number, MempoolEntry>;
  /** Length of the contiguous run committed + 1, committed + 2, ... present in byNonce. */
  ready: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DEFAULTS = { maxTxs: 100_000, maxBytes: 256 * 1024 * 1024, maxPerSender: 256, maxNonceAhead: 1024 } as const;

export class Mempool {
  readonly verified: VerifiedTxCache;
  readonly #chainId: Uint8Array;
  readonly #nonceOf: (address: string) => bigint;
  readonly #contracts: ContractRegistry | undefined;
  readonly #state: StateReader | undefined;
  readonly #maxTxs: number;
  readonly #maxBytes: number;
  readonly #maxPerSender: number;
  readonly #maxNonceAhead: bigint;
  readonly #entries = new Map<string, MempoolEntry>();
  readonly #senders = new Map<string, SenderQueue>();
  /** Senders with ready > 0, in service order (least recently served first). */
  readonly #ready = new Map<string, SenderQueue>();
  #bytes = 0;
  #readyCount = 0;

  constructor(options: MempoolOptions) {
    if (!(options.chainId instanceof Uint8Array) || options.chainId.length !== 32) {
      throw new LoulanError('CONFIG_INVALID', 'chainId must be 32 bytes', { details: { field: 'chainId' } });
    }
    this.#chainId = options.chainId.slice();
    this.#nonceOf = options.nonceOf;
    this.#contracts = options.contracts;
    this.#state = options.state;
    this.#maxTxs = positive(options.maxTxs ?? DEFAULTS.maxTxs, 'maxTxs');
    this.#maxBytes = positive(options.maxBytes ?? DEFAULTS.maxBytes, 'maxBytes');
    this.#maxPerSender = positive(options.maxPerSender ?? DEFAULTS.maxPerSender, 'maxPerSender');
    this.#maxNonceAhead = BigInt(positive(options.maxNonceAhead ?? DEFAULTS.maxNonceAhead, 'maxNonceAhead'));
    this.verified = options.verified ?? new VerifiedTxCache();
  }

  /** Pending transactions. */
  get size(): number {
    return this.#entries.size;
  }

  /** Total encoded bytes pending. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Transactions a block could include now (contiguous nonces from each sender's committed one). */
  executableCount(): number {
    return this.#readyCount;
  }

  has(hash: Uint8Array): boolean {
    return this.#entries.has(txKey(hash));
  }

  /** Every pending transaction's encoding, in admission order (to carry them into a fresh pool). */
  all(): Uint8Array[] {
    return [...this.#entries.values()].map((e) => e.bytes);
  }

  get(hash: Uint8Array): MempoolEntry | undefined {
    return this.#entries.get(txKey(hash));
  }

  /**
   * Admits an encoded transaction. Idempotent: re-adding a pending transaction returns its hash with
   * `duplicate: true`. Throws CODEC_* (malformed), LEDGER_TX_INVALID, LEDGER_WRONG_CHAIN,
   * LEDGER_UNKNOWN_CONTRACT, CONTRACT_UNKNOWN_METHOD and CONTRACT_FORBIDDEN (with `state`),
   * LEDGER_NONCE_STALE, LEDGER_NONCE_GAP (beyond maxNonceAhead), MEMPOOL_NONCE_TAKEN,
   * MEMPOOL_SENDER_LIMIT, MEMPOOL_FULL, CRYPTO_* (bad key or signature).
   */
  add(bytes: Uint8Array): AddResult {
    if (bytes.length > MAX_TX_BYTES) {
      throw new LoulanError('CODEC_LENGTH', `transaction of ${bytes.length} bytes exceeds ${MAX_TX_BYTES}`, {
        details: { field: 'tx', max: MAX_TX_BYTES, actual: bytes.length },
      });
    }
    const hash = txHash(bytes);
    const key = txKey(hash);
    if (this.#entries.has(key)) return { hash, duplicate: true };

    const tx = decodeTx(bytes);
    if (!equalBytes(tx.chainId, this.#chainId)) {
      throw new LoulanError('LEDGER_WRONG_CHAIN', 'transaction is for another chain', { details: { field: 'chainId', hash } });
    }
    const contract = this.#contracts?.get(tx.contract);
    if (this.#contracts !== undefined && contract === undefined) {
      throw new LoulanError('LEDGER_UNKNOWN_CONTRACT', `no contract named ${tx.contract}`, { details: { contract: tx.contract, hash } });
    }
    const sender = senderAddress(tx.sender.alg, tx.sender.publicKey);
    if (contract !== undefined && this.#state !== undefined) checkAccess(this.#state, contract, tx.method, sender);
    const queue = this.#senders.get(sender);
    const committed = this.#nonceOf(sender);
    if (committed > MAX_SAFE) throw new LoulanError('INTERNAL', 'committed nonce beyond 2^53', { details: { sender } });
    if (queue !== undefined && queue.committed !== Number(committed)) this.#resync(queue, Number(committed));
    if (tx.nonce <= committed) {
      throw new LoulanError('LEDGER_NONCE_STALE', `nonce ${tx.nonce} is already used (committed ${committed})`, {
        details: { nonce: tx.nonce, committed, sender, hash },
      });
    }
    if (tx.nonce > committed + this.#maxNonceAhead) {
      throw new LoulanError('LEDGER_NONCE_GAP', `nonce ${tx.nonce} is too far ahead of the committed ${committed}`, {
        details: { nonce: tx.nonce, committed, max: committed + this.#maxNonceAhead, sender, hash },
      });
    }
    const nonce = Number(tx.nonce);
    const live = this.#senders.get(sender);
    if (live !== undefined) {
      const existing = live.byNonce.get(nonce);
      if (existing !== undefined) {
        throw new LoulanError('MEMPOOL_NONCE_TAKEN', `sender already has a pending transaction with nonce ${tx.nonce}`, {
          details: { nonce: tx.nonce, sender, pending: existing.hash, hash },
        });
      }
      if (live.byNonce.size >= this.#maxPerSender) {
        throw new LoulanError('MEMPOOL_SENDER_LIMIT', `sender has ${live.byNonce.size} pending transactions`, {
          details: { sender, max: this.#maxPerSender, hash },
        });
      }
    }
    if (this.#entries.size >= this.#maxTxs || this.#bytes + bytes.length > this.#maxBytes) {
      throw new LoulanError('MEMPOOL_FULL', 'mempool is full', {
        details: { size: this.#entries.size, bytes: this.#bytes, maxTxs: this.#maxTxs, maxBytes: this.#maxBytes, hash },
      });
    }
    if (!this.verified.has(key)) {
      if (!verifyEncodedTxSignature(tx, bytes)) {
        throw new LoulanError('CRYPTO_SIGNATURE_INVALID', 'transaction signature does not verify', { details: { alg: tx.sender.alg, hash } });
      }
      this.verified.add(key);
    }

    const entry: MempoolEntry = { hash, key, bytes: bytes.slice(), tx, sender, nonce: tx.nonce };
    let q = live;
    if (q === undefined) {
      q = { address: sender, committed: Number(committed), byNonce: new Map(), ready: 0 };
      this.#senders.set(sender, q);
    }
    q.byNonce.set(nonce, entry);
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes.length;
    if (nonce === q.committed + q.ready + 1) this.#recountReady(q, q.ready);
    return { hash, duplicate: false };
  }

  /**
   * Up to `maxTxs` executable transactions totalling at most `maxBytes` encoded bytes: round-robin
   * across senders, nonce order within each sender. Leaves the pool unchanged except for the service
   * order (senders served go to the back).
   */
  take(maxTxs: number, maxBytes: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (maxTxs <= 0 || this.#readyCount === 0) return out;
    let budget = maxBytes;
    let active: SenderQueue[] = [...this.#ready.values()];
    const served: SenderQueue[] = [];
    for (let round = 0; active.length > 0 && out.length < maxTxs; round++) {
      const next: SenderQueue[] = [];
      for (const q of active) {
        if (out.length >= maxTxs) break;
        const entry = q.byNonce.get(q.committed + round + 1) as MempoolEntry;
        // A sender whose next transaction does not fit is done for this block: later nonces need it.
        if (entry.bytes.length > budget) continue;
        budget -= entry.bytes.length;
        out.push(entry.bytes);
        if (round === 0) served.push(q);
        if (round + 1 < q.ready) next.push(q);
      }
      active = next;
    }
    for (const q of served) {
      this.#ready.delete(q.address);
      this.#ready.set(q.address, q);
    }
    return out;
  }

  /** Drops one transaction (a proposal found it invalid after admission). */
  remove(hash: Uint8Array): boolean {
    const entry = this.#entries.get(txKey(hash));
    if (entry === undefined) return false;
    const q = this.#senders.get(entry.sender) as SenderQueue;
    this.#drop(entry, q);
    this.#recountReady(q);
    return true;
  }

  /**
   * After a block commits: drops the included transactions, then re-reads the committed nonce of every
   * sender concerned (`senders`, usually the receipts' senders, plus those of the dropped entries) and
   * drops what became stale; a transaction of ours may be stale because a different transaction with
   * the same nonce was included.
   */
  onCommit(committed: Iterable<Uint8Array>, nonceOf: (address: string) => bigint = this.#nonceOf, senders: Iterable<string> = []): void {
    const touched = new Set<string>(senders);
    for (const hash of committed) {
      const entry = this.#entries.get(txKey(hash));
      if (entry === undefined) continue;
      touched.add(entry.sender);
      this.#drop(entry, this.#senders.get(entry.sender) as SenderQueue);
    }
    for (const address of touched) {
      const q = this.#senders.get(address);
      if (q !== undefined) this.#resync(q, Number(nonceOf(address)));
    }
  }

  #resync(q: SenderQueue, committed: number): void {
    q.committed = committed;
    for (const [nonce, entry] of q.byNonce) if (nonce <= committed) this.#drop(entry, q);
    this.#recountReady(q);
  }

  #drop(entry: MempoolEntry, q: SenderQueue): void {
    this.#entries.delete(entry.key);
    this.#bytes -= entry.bytes.length;
    q.byNonce.delete(Number(entry.nonce));
  }

  /**
   * Recomputes a sender's ready run (from `from`, when the first `from` are known present) and its place
   * in the ready line; forgets an empty sender.
   */
  #recountReady(q: SenderQueue, from = 0): void {
    let ready = from;
    while (q.byNonce.has(q.committed + ready + 1)) ready++;
    this.#readyCount += ready - q.ready;
    if (ready > 0 && q.ready === 0) this.#ready.set(q.address, q);
    if (ready === 0 && q.ready > 0) this.#ready.delete(q.address);
    q.ready = ready;
    if (q.byNonce.size === 0) {
      this.#senders.delete(q.address);
      this.#ready.delete(q.address);
    }
  }
}

function positive(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LoulanError('CONFIG_INVALID', `${field} must be a positive integer`, { details: { field } });
  }
  return value;
}
