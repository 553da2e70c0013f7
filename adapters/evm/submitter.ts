/**
 * Sending transactions from one account and following each to its outcome, with errors named after
 * the phase that failed so a caller can tell a safe resend from one that may already be on chain:
 *
 *   EVM_ESTIMATE  nothing was sent: the call would revert (reason decoded), or estimate × margin is
 *                 above the configured gas cap
 *   EVM_SEND      the node did not take the signed transaction (details.txHash, details.nonce)
 *   EVM_REVERTED  mined, and reverted (details.txHash, details.blockNumber, decoded reason)
 *   EVM_DROPPED   gone from the mempool after the allowed rebroadcasts, or its nonce was taken by
 *                 another transaction (replaced)
 *
 * The transaction hash is known before the broadcast (it is the hash of the signed bytes), so every
 * error after signing carries it. A transaction the node forgets is rebroadcast as the same signed
 * bytes (same hash, same nonce: it can never run twice); a replaced one is reported, not retried,
 * because whatever replaced it was someone's deliberate act with this account's key.
 *
 * Waiting polls the node (receipt, then the transaction, then the account's mined nonce) at a
 * configured interval through an injected `sleep`, so tests and callers control time.
 */
import { Interface, Transaction, type InterfaceAbi, type JsonRpcProvider, type Log } from 'ethers';
import { LoulanError, isLoulanError } from '../../core-chain/index.ts';
import type { EvmSigner } from './client.ts';
import { decodeRevert, revertData, shortMessage } from './errors.ts';
import { createNonceManager, type NonceManager } from './nonce.ts';

export interface GasPolicy {
  /** The gas limit is the estimate plus this many percent. */
  readonly marginPercent: number;
  /** Never send with a gas limit above this; refuse with EVM_ESTIMATE instead. */
  readonly cap: bigint;
}

export const DEFAULT_GAS_POLICY: GasPolicy = Object.freeze({ marginPercent: 20, cap: 8_000_000n });

export interface SubmitterOptions {
  readonly provider: JsonRpcProvider;
  readonly signer: EvmSigner;
  /** EIP-155 chain id the transactions are signed for. */
  readonly chainId: bigint;
  readonly gas?: Partial<GasPolicy>;
  /** ABIs whose custom errors a revert is decoded against (the gateway's, the tokens'). */
  readonly abis?: readonly InterfaceAbi[];
  /** Between two looks at a pending transaction (ms); default 500. */
  readonly pollIntervalMs?: number;
  /** How often a transaction the node forgot is broadcast again before EVM_DROPPED; default 3. */
  readonly maxRebroadcasts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of every broadcast (attempt 1, then rebroadcasts): for logs, and for tests that shape the chain. */
  readonly onBroadcast?: (tx: { readonly txHash: string; readonly nonce: number; readonly attempt: number }) => void;
}

export interface EvmCall {
  /** Omitted for a contract creation. */
  readonly to?: string;
  /** Calldata (or creation code), 0x hex. */
  readonly data: string;
  readonly value?: bigint;
  /** Stops waiting for the receipt (the transaction may still be mined): DELIVER_FAILED. */
  readonly signal?: AbortSignal;
}

export interface EvmTxResult {
  readonly txHash: string;
  readonly nonce: number;
  readonly blockNumber: bigint;
  readonly blockHash: string;
  readonly gasUsed: bigint;
  readonly gasLimit: bigint;
  /** Set for a contract creation. */
  readonly contractAddress?: string;
  readonly logs: readonly Log[];
}

export interface EvmSubmitter {
  readonly address: string;
  readonly nonces: NonceManager;
  /** Estimates, signs with the next nonce, broadcasts and waits until mined; see the module comment. */
  send(call: EvmCall): Promise<EvmTxResult>;
}

const NONCE_ERROR = /nonce too low|nonce.*(?:already|used)|replacement transaction underpriced|already known/i;

export function createSubmitter(options: SubmitterOptions): EvmSubmitter {
  const { provider, signer, chainId } = options;
  const gas: GasPolicy = { ...DEFAULT_GAS_POLICY, ...options.gas };
  if (!Number.isSafeInteger(gas.marginPercent) || gas.marginPercent < 0) throw config('gas.marginPercent');
  if (gas.cap <= 0n) throw config('gas.cap');
  const interfaces = (options.abis ?? []).map((abi) => new Interface(abi));
  const pollMs = options.pollIntervalMs ?? 500;
  const maxRebroadcasts = options.maxRebroadcasts ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const nonces = createNonceManager(() => provider.getTransactionCount(signer.address, 'pending'));

  async function estimate(call: EvmCall): Promise<bigint> {
    let estimated: bigint;
    try {
      estimated = await provider.estimateGas({ from: signer.address, ...(call.to === undefined ? {} : { to: call.to }), data: call.data, value: call.value ?? 0n });
    } catch (cause) {
      const revert = decodeRevert(revertData(cause), interfaces);
      throw new LoulanError('EVM_ESTIMATE', `gas estimation failed: ${revert.reason ?? shortMessage(cause)}`, {
        details: { ...revert, ...(call.to === undefined ? {} : { to: call.to }), message: shortMessage(cause) },
        cause,
      });
    }
    const limit = (estimated * BigInt(100 + gas.marginPercent) + 99n) / 100n;
    if (limit > gas.cap) {
      throw new LoulanError('EVM_ESTIMATE', `gas limit ${limit} (estimate ${estimated} + ${gas.marginPercent}%) is above the cap ${gas.cap}`, {
        details: { reason: 'gas-cap', estimate: estimated, gasLimit: limit, cap: gas.cap },
      });
    }
    return limit;
  }

  async function broadcast(signed: string, txHash: string, nonce: number, attempt: number): Promise<void> {
    try {
      await provider.send('eth_sendRawTransaction', [signed]);
    } catch (cause) {
      throw new LoulanError('EVM_SEND', `the node did not take transaction ${txHash}: ${shortMessage(cause)}`, {
        details: { txHash, nonce, message: shortMessage(cause), nonceError: NONCE_ERROR.test(shortMessage(cause)) },
        cause,
      });
    }
    options.onBroadcast?.({ txHash, nonce, attempt });
  }

  async function signAndBroadcast(call: EvmCall, gasLimit: bigint): Promise<{ signed: string; txHash: string; nonce: number }> {
    const fees = await provider.getFeeData();
    return nonces.withNonce(async (nonce) => {
      const signed = await signer.signTransaction({
        chainId,
        nonce,
        gasLimit,
        data: call.data,
        value: call.value ?? 0n,
        ...(call.to === undefined ? {} : { to: call.to }),
        ...(fees.maxFeePerGas !== null && fees.maxPriorityFeePerGas !== null
          ? { type: 2, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
          : { type: 0, gasPrice: fees.gasPrice ?? 0n }),
      });
      const txHash = Transaction.from(signed).hash as string;
      await broadcast(signed, txHash, nonce, 1);
      return { signed, txHash, nonce };
    });
  }

  async function revertReason(txHash: string, blockNumber: number, call: EvmCall): Promise<Record<string, unknown>> {
    // The trace has the exact revert output; a node without debug_* gets a replay at the block instead.
    try {
      const trace = (await provider.send('debug_traceTransaction', [txHash, { tracer: 'callTracer' }])) as { output?: string };
      if (typeof trace.output === 'string') return { ...decodeRevert(trace.output, interfaces) };
    } catch {
      // fall through
    }
    try {
      await provider.call({ from: signer.address, ...(call.to === undefined ? {} : { to: call.to }), data: call.data, value: call.value ?? 0n, blockTag: blockNumber });
      return {};
    } catch (cause) {
      return { ...decodeRevert(revertData(cause), interfaces) };
    }
  }

  async function wait(call: EvmCall, sent: { signed: string; txHash: string; nonce: number }, gasLimit: bigint): Promise<EvmTxResult> {
    const { signed, txHash, nonce } = sent;
    let rebroadcasts = 0;
    for (;;) {
      if (call.signal?.aborted) {
        throw new LoulanError('DELIVER_FAILED', `stopped waiting for transaction ${txHash}; it may still be mined`, { details: { txHash, nonce, reason: 'aborted' } });
      }
      // Read the mined nonce before the receipt: if it is past ours and there is still no receipt,
      // another transaction took the nonce (not ours, mined between the two reads).
      const minedNonce = await provider.getTransactionCount(signer.address, 'latest');
      const receipt = await provider.getTransactionReceipt(txHash);
      if (receipt !== null) {
        if (receipt.status !== 1) {
          const reason = await revertReason(txHash, receipt.blockNumber, call);
          throw new LoulanError('EVM_REVERTED', `transaction ${txHash} reverted in block ${receipt.blockNumber}${typeof reason['reason'] === 'string' ? `: ${reason['reason']}` : ''}`, {
            details: { txHash, nonce, blockNumber: BigInt(receipt.blockNumber), gasUsed: receipt.gasUsed, ...reason },
          });
        }
        return {
          txHash,
          nonce,
          blockNumber: BigInt(receipt.blockNumber),
          blockHash: receipt.blockHash,
          gasUsed: receipt.gasUsed,
          gasLimit,
          ...(receipt.contractAddress === null ? {} : { contractAddress: receipt.contractAddress }),
          logs: receipt.logs,
        };
      }
      if (minedNonce > nonce) {
        nonces.reset();
        throw new LoulanError('EVM_DROPPED', `transaction ${txHash} was replaced: nonce ${nonce} is taken by another transaction`, { details: { txHash, nonce, reason: 'replaced' } });
      }
      if ((await provider.getTransaction(txHash)) === null) {
        if (rebroadcasts >= maxRebroadcasts) {
          nonces.reset();
          throw new LoulanError('EVM_DROPPED', `transaction ${txHash} left the mempool ${rebroadcasts + 1} times`, { details: { txHash, nonce, reason: 'dropped', rebroadcasts } });
        }
        rebroadcasts++;
        try {
          await broadcast(signed, txHash, nonce, rebroadcasts + 1);
        } catch (error) {
          // A nonce error means the nonce got used meanwhile; the next round tells by whom.
          if (!(isLoulanError(error) && error.details['nonceError'] === true)) throw error;
        }
        continue;
      }
      await sleep(pollMs);
    }
  }

  return {
    address: signer.address,
    nonces,
    async send(call: EvmCall): Promise<EvmTxResult> {
      const gasLimit = await estimate(call);
      let sent: { signed: string; txHash: string; nonce: number };
      try {
        sent = await signAndBroadcast(call, gasLimit);
      } catch (error) {
        // The local counter was stale (another process used the account): it has been reset; one retry.
        if (!(isLoulanError(error) && error.details['nonceError'] === true)) throw error;
        sent = await signAndBroadcast(call, gasLimit);
      }
      return wait(call, sent, gasLimit);
    },
  };
}

function config(field: string): LoulanError {
  return new LoulanError('CONFIG_INVALID', `invalid submitter option ${field}`, { details: { field } });
}
