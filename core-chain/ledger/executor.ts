/**
 * Block execution: the deterministic state transition PBFT replicates.
 *
 * `executeBlock(state, context, txs, options)` runs the transactions in order on an overlay over the
 * committed state and returns everything the header commits to (txRoot, eventsRoot, stateRoot and the
 * counts) plus what storage and the RPC need (receipts, events, the state diff). It never mutates the
 * state; `State.apply(result.change)` does, at commit.
 *
 * Two kinds of failure, deliberately different:
 *
 * - Block-invalid: a transaction that does not decode, is signed for another chain, carries a bad
 *   signature, or whose nonce is not exactly the sender's nonce + 1. Such a transaction is not on the
 *   chain at all; a leader must not propose it, so a block containing one is rejected whole
 *   (LEDGER_BLOCK_INVALID, `details.reason` 'tx', `details.index`, `details.txCode`). In 'propose' mode
 *   the executor leaves such a transaction out instead and reports it in `skipped`.
 * - Transaction-failed: the call itself fails (unknown contract or method, a sender the registry does
 *   not entitle to the method (CONTRACT_FORBIDDEN, checked before the call with one state read), bad
 *   arguments, a business rule). The transaction is on the chain: its nonce is consumed, its writes
 *   and events are rolled back (per-transaction overlay), and its receipt says `failed` with the code.
 *
 * Signatures are verified at most once per process: a hash found in the `VerifiedTxCache` (filled by
 * mempool admission) is not verified again, and one verified here is added to it.
 *
 * Nonces live in the state under `nonce/<address>` as u64 big-endian; absent means 0, so a sender's
 * first transaction has nonce 1.
 */
import { equalBytes } from '../crypto/hash.ts';
import { merkleRoot } from '../crypto/merkle.ts';
import { LoulanError, type ErrorCode } from '../errors.ts';
import { txRootFromHashes, type BlockContext, type Header } from './block.ts';
import { BLOCK_HOOK_TX, CallContext, type ContractRegistry } from './contracts.ts';
import { accessCode } from './contracts/registry/access.ts';
import type { LedgerEvent } from './events.ts';
import { StateOverlay, type State, type StateChange, type StateReader } from './state.ts';
import { decodeTx, senderAddress, txHash, verifyEncodedTxSignature, type Tx } from './tx.ts';
import { txKey, type VerifiedTxCache } from './verified.ts';

export const NONCE_PREFIX = 'nonce/';

/** The state key of a sender's last used nonce. */
export function nonceKey(address: string): string {
  return NONCE_PREFIX + address;
}

/** The sender's last used nonce in `state` (0 when it never sent a transaction). */
export function committedNonce(state: StateReader, address: string): bigint {
  const value = state.get(NONCE_PREFIX + address);
  if (value === undefined) return 0n;
  if (value.length !== 8) throw new LoulanError('INTERNAL', 'corrupt nonce entry', { details: { address } });
  return new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0);
}

function encodeNonce(nonce: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, nonce);
  return out;
}

export interface Receipt {
  readonly hash: Uint8Array;
  /** Position in the block. */
  readonly index: number;
  readonly sender: string;
  readonly nonce: bigint;
  readonly status: 'ok' | 'failed';
  /** The error code of a failed call; null when it succeeded. */
  readonly code: ErrorCode | null;
  /** Events the transaction emitted (0 when it failed). */
  readonly eventCount: number;
}

export interface SkippedTx {
  readonly hash: Uint8Array;
  /** Position in the input list. */
  readonly index: number;
  readonly error: LoulanError;
}

export interface ExecuteOptions {
  readonly contracts: ContractRegistry;
  readonly verified?: VerifiedTxCache;
  /** 'validate' (default) rejects the block for a block-invalid tx; 'propose' leaves the tx out. */
  readonly mode?: 'validate' | 'propose';
  /**
   * Hashes of `txs` (same order) and their txRoot, when the caller already computed them (the ledger
   * does, to bind the block digest to the transactions). Trusted as given: they must be `txHash` of
   * exactly these bytes. The root is used only when every transaction is included.
   */
  readonly known?: { readonly txHashes: readonly Uint8Array[]; readonly txRoot: Uint8Array };
}

export interface ExecutionResult {
  /** The complete header: the context plus roots and counts. */
  readonly header: Header;
  /** Transactions executed (all of the input in 'validate' mode). */
  readonly txs: readonly Uint8Array[];
  readonly txHashes: readonly Uint8Array[];
  readonly receipts: readonly Receipt[];
  readonly events: readonly LedgerEvent[];
  /** `encodeEvent` of each event: the eventsRoot leaves, and what storage keeps for proofs. */
  readonly encodedEvents: readonly Uint8Array[];
  readonly txRoot: Uint8Array;
  readonly eventsRoot: Uint8Array;
  readonly stateRoot: Uint8Array;
  /** The block's writes over the committed state. */
  readonly overlay: StateOverlay;
  /** The same writes as a diff, with the root, ready for `state.apply`. */
  readonly change: StateChange;
  readonly skipped: readonly SkippedTx[];
}

/**
 * Executes `txs` (encoded) on top of `state` for the block described by `context`.
 *
 * @example
 * const result = executeBlock(state, { chainId, height, prevHash, time, proposer, validatorSetHash, nextValidatorSetHash }, txs, { contracts });
 * // at commit: state.apply(result.change)
 */
export function executeBlock(state: State, context: BlockContext, txs: readonly Uint8Array[], options: ExecuteOptions): ExecutionResult {
  const { contracts, verified, known } = options;
  if (known !== undefined && known.txHashes.length !== txs.length) throw new LoulanError('INTERNAL', 'known tx hashes do not match the transactions');
  const propose = options.mode === 'propose';
  const blockOverlay = new StateOverlay(state);
  const txOverlay = new StateOverlay(blockOverlay);
  const call = new CallContext(txOverlay);
  call.height = context.height;
  call.time = context.time;

  const included: Uint8Array[] = [];
  const txHashes: Uint8Array[] = [];
  const receipts: Receipt[] = [];
  const events: LedgerEvent[] = [];
  const encodedEvents: Uint8Array[] = [];
  const skipped: SkippedTx[] = [];

  // Begin-block hooks, before the first transaction (scheduled changes, expiries). Their events come
  // first in the block, with tx = BLOCK_HOOK_TX; a throw is a bug every replica hits alike.
  for (const contract of contracts.values()) {
    if (contract.beginBlock === undefined) continue;
    call.begin(contract.name, '', BLOCK_HOOK_TX);
    contract.beginBlock(call);
    txOverlay.mergeInto(blockOverlay);
    events.push(...call.events);
    encodedEvents.push(...call.encodedEvents);
  }

  for (let i = 0; i < txs.length; i++) {
    const bytes = txs[i] as Uint8Array;
    const hash = known === undefined ? txHash(bytes) : (known.txHashes[i] as Uint8Array);
    let tx: Tx;
    let sender: string;
    try {
      tx = decodeTx(bytes);
      if (!equalBytes(tx.chainId, context.chainId)) {
        throw new LoulanError('LEDGER_WRONG_CHAIN', 'transaction is for another chain', { details: { field: 'chainId' } });
      }
      sender = senderAddress(tx.sender.alg, tx.sender.publicKey);
      // The nonce check is cheap; do it before the signature so a bad block fails fast.
      const last = committedNonce(blockOverlay, sender);
      if (tx.nonce !== last + 1n) {
        throw new LoulanError(tx.nonce <= last ? 'LEDGER_NONCE_STALE' : 'LEDGER_NONCE_GAP', `nonce ${tx.nonce} is not ${last + 1n}`, {
          details: { nonce: tx.nonce, committed: last, sender },
        });
      }
      const key = txKey(hash);
      if (verified === undefined || !verified.has(key)) {
        if (!verifyEncodedTxSignature(tx, bytes)) {
          throw new LoulanError('CRYPTO_SIGNATURE_INVALID', 'transaction signature does not verify', { details: { alg: tx.sender.alg } });
        }
        verified?.add(key);
      }
    } catch (error) {
      const cause = error instanceof LoulanError ? error : new LoulanError('INTERNAL', String(error), { cause: error });
      if (!propose) {
        throw new LoulanError('LEDGER_BLOCK_INVALID', `transaction ${i} is invalid: ${cause.message}`, {
          details: { reason: 'tx', index: i, txCode: cause.code, hash },
          cause,
        });
      }
      skipped.push({ hash, index: i, error: cause });
      continue;
    }

    // From here on the transaction is on the chain: its nonce is consumed whatever the call does.
    const index = included.length;
    included.push(bytes);
    txHashes.push(hash);
    blockOverlay.put(NONCE_PREFIX + sender, encodeNonce(tx.nonce));

    let code: ErrorCode | null = null;
    const contract = contracts.get(tx.contract);
    if (contract === undefined) {
      code = 'LEDGER_UNKNOWN_CONTRACT';
    } else if ((code = accessCode(blockOverlay, contract, tx.method, sender)) === null) {
      call.begin(tx.contract, sender, index);
      try {
        contract.execute(call, tx.method, tx.args);
      } catch (error) {
        code = error instanceof LoulanError ? error.code : 'INTERNAL';
      }
    }
    let eventCount = 0;
    if (code === null) {
      txOverlay.mergeInto(blockOverlay);
      eventCount = call.events.length;
      for (let e = 0; e < eventCount; e++) {
        events.push(call.events[e] as LedgerEvent);
        encodedEvents.push(call.encodedEvents[e] as Uint8Array);
      }
    } else {
      txOverlay.clear();
    }
    receipts.push({ hash, index, sender, nonce: tx.nonce, status: code === null ? 'ok' : 'failed', code, eventCount });
  }

  const txRoot = known !== undefined && included.length === txs.length ? known.txRoot : txRootFromHashes(txHashes);
  const eventsRoot = merkleRoot(encodedEvents);
  const change = state.preview(blockOverlay);
  const header: Header = {
    chainId: context.chainId,
    height: context.height,
    prevHash: context.prevHash,
    time: context.time,
    proposer: context.proposer,
    txRoot,
    txCount: included.length,
    eventsRoot,
    eventCount: encodedEvents.length,
    stateRoot: change.root,
    validatorSetHash: context.validatorSetHash,
    nextValidatorSetHash: context.nextValidatorSetHash,
  };
  return {
    header,
    txs: included,
    txHashes,
    receipts,
    events,
    encodedEvents,
    txRoot,
    eventsRoot,
    stateRoot: change.root,
    overlay: blockOverlay,
    change,
    skipped,
  };
}
