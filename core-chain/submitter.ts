/**
 * `TxSubmitter`: one participant key sending contract calls to the core chain from a long-running
 * process (the switch, a relayer), many at a time, without nonce trouble.
 *
 * Nonces are per sender and must be used in order (1, 2, 3, ...), so the submitter is the only place
 * the process signs with its key: calls are signed and admitted one after another (admission is fast;
 * only waiting for the commit is slow, and those waits run concurrently). The next nonce starts from
 * the committed one in state (`nonce/<address>`) and counts up locally.
 *
 * When the chain disagrees (`LEDGER_NONCE_STALE`, `LEDGER_NONCE_GAP`, `MEMPOOL_NONCE_TAKEN`: another
 * process used the key, or a transaction was dropped), the submitter re-reads the committed nonce and
 * signs the call again with a fresh nonce. A call whose admission failed for the network
 * (`RPC_UNAVAILABLE`) is resent with the same bytes, which is safe because admission is idempotent
 * by transaction hash.
 */
import type { CoreClient } from './client.ts';
import type { TxStatus } from './node/api.ts';
import { LoulanError, isLoulanError } from './errors.ts';
import { encodeTx, senderAddress, signTx, txHash } from './ledger/tx.ts';
import { toHex } from './crypto/hash.ts';
import type { Alg } from './crypto/keys.ts';

export interface TxSubmitterOptions {
  readonly client: CoreClient;
  /** The chain's id (32 bytes), e.g. from `fromHex((await client.status()).chainId)`. */
  readonly chainId: Uint8Array;
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
  /** How long to wait for a commit, in ms. Default 30 s. */
  readonly commitTimeoutMs?: number;
}

export interface CallResult {
  readonly hash: string;
  readonly nonce: bigint;
  /** The committed status (with its receipt); `pending` if the commit wait timed out. */
  readonly status: TxStatus;
}

const NONCE_CODES = new Set(['LEDGER_NONCE_STALE', 'LEDGER_NONCE_GAP', 'MEMPOOL_NONCE_TAKEN']);
const ADMIT_ATTEMPTS = 5;

export class TxSubmitter {
  readonly #o: TxSubmitterOptions;
  readonly address: string;
  #next: bigint | undefined;
  /** Admissions run one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: TxSubmitterOptions) {
    this.#o = options;
    this.address = senderAddress(options.alg, options.publicKey);
  }

  /**
   * Signs and submits `contract.method(args)`, then waits for its commit. Throws the node's
   * `LoulanError` when the call is refused at admission; a call that fails in execution comes back
   * committed with `receipt.status` 'failed' and the contract's code.
   */
  async call(contract: string, method: string, args: Uint8Array): Promise<CallResult> {
    const admitted = this.#queue.then(() => this.#admit(contract, method, args));
    this.#queue = admitted.catch(() => undefined);
    const { hash, nonce, bytes } = await admitted;
    const status = await this.#o.client.submitTx(bytes, { wait: 'commit', timeoutMs: this.#o.commitTimeoutMs ?? 30_000 });
    return { hash, nonce, status };
  }

  async #committedNonce(): Promise<bigint> {
    const value = await this.#o.client.getState(`nonce/${this.address}`);
    if (value === undefined) return 0n;
    let n = 0n;
    for (const b of value) n = (n << 8n) | BigInt(b);
    return n;
  }

  async #admit(contract: string, method: string, args: Uint8Array): Promise<{ hash: string; nonce: bigint; bytes: Uint8Array }> {
    let lastError: unknown;
    for (let attempt = 0; attempt < ADMIT_ATTEMPTS; attempt++) {
      if (this.#next === undefined) this.#next = (await this.#committedNonce()) + 1n;
      const nonce = this.#next;
      const tx = signTx({ chainId: this.#o.chainId, sender: { alg: this.#o.alg, publicKey: this.#o.publicKey }, nonce, contract, method, args }, this.#o.privateKey);
      const bytes = encodeTx(tx);
      try {
        await this.#o.client.submitTx(bytes);
        this.#next = nonce + 1n;
        return { hash: toHex(txHash(bytes)), nonce, bytes };
      } catch (error) {
        lastError = error;
        if (isLoulanError(error) && NONCE_CODES.has(error.code)) {
          this.#next = undefined; // re-read from the chain and sign again
          continue;
        }
        if (isLoulanError(error) && (error.code === 'RPC_UNAVAILABLE' || error.code === 'RPC_BAD_RESPONSE' || error.code === 'NODE_NOT_CONNECTED' || error.code === 'NODE_SYNCING')) {
          // The node may or may not have admitted it: the same bytes again are safe.
          try {
            await this.#o.client.submitTx(bytes);
            this.#next = nonce + 1n;
            return { hash: toHex(txHash(bytes)), nonce, bytes };
          } catch (again) {
            lastError = again;
            this.#next = undefined;
            continue;
          }
        }
        throw error;
      }
    }
    throw isLoulanError(lastError) ? lastError : new LoulanError('RPC_UNAVAILABLE', `could not submit ${contract}.${method}`, { cause: lastError });
  }
}
