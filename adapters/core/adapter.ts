/**
 * The core-chain adapter: delivers a message into the core chain by submitting it to the `xmsg`
 * contract's `deliver` method, signed with the switch's own key (operator/relayer role).
 *
 * Exactly-once in effect is the contract's: it records (`source`, `id`) with the message digest and
 * treats a second delivery of the same digest as a no-op, so the switch may resend after a crash.
 * A delivery the contract refuses (a different digest under the same id, a payload over its limit,
 * a role the key lacks) is final; network trouble and a transaction that did not commit in time are
 * retried.
 */
import { canonicalBytes, encodeDeliverArgs, fromHex, isLoulanError, type CoreClient, type TxSubmitter } from '../../core-chain/index.ts';
import type { Adapter, AdapterHealth, AdapterTarget, DeliveryOutcome, DeliveryRequest } from '../adapter.ts';

export interface CoreAdapterOptions {
  /** The switch's transaction submitter (its key and nonces). */
  readonly submitter: TxSubmitter;
  /** The client probes use (any validator answering its status counts). */
  readonly client?: CoreClient;
}

/** Node errors that say nothing about the message: try again later. */
const RETRYABLE = new Set(['RPC_UNAVAILABLE', 'RPC_BAD_RESPONSE', 'NODE_NOT_CONNECTED', 'NODE_SYNCING', 'MEMPOOL_FULL', 'MEMPOOL_SENDER_LIMIT', 'LEDGER_NONCE_STALE', 'LEDGER_NONCE_GAP', 'MEMPOOL_NONCE_TAKEN']);

export function createCoreAdapter(target: AdapterTarget, options: CoreAdapterOptions): Adapter {
  let last: AdapterHealth = { state: 'up' };
  return {
    kind: 'core',
    async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
      const { envelope } = request;
      try {
        const args = encodeDeliverArgs({
          messageId: envelope.id,
          source: envelope.source,
          to: envelope.to,
          type: envelope.type,
          digest: fromHex(request.digest),
          data: canonicalBytes(envelope.data),
        });
        const result = await options.submitter.call('xmsg', 'deliver', args);
        if (result.status.status !== 'committed') {
          last = { state: 'degraded', detail: 'a delivery did not commit in time' };
          return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: `transaction ${result.hash} not committed yet (${result.status.status})` };
        }
        last = { state: 'up' };
        const receipt = result.status.receipt;
        if (receipt?.status !== 'ok') {
          return { ok: false, retryable: false, code: 'DELIVER_REJECTED', message: `xmsg.deliver failed on chain: ${receipt?.code ?? 'unknown'} (tx ${result.hash})` };
        }
        return { ok: true, evidence: { endpoint: target.endpoint, txHash: result.hash, height: result.status.height?.toString() ?? null } };
      } catch (error) {
        if (isLoulanError(error) && !RETRYABLE.has(error.code) && error.status < 500) {
          return { ok: false, retryable: false, code: 'DELIVER_REJECTED', message: `${error.code}: ${error.message}` };
        }
        last = { state: 'down', detail: error instanceof Error ? error.message : String(error) };
        return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: error instanceof Error ? error.message : String(error) };
      }
    },
    ...(options.client === undefined
      ? {}
      : {
          probe: (_signal: AbortSignal) =>
            options.client!.status().then(
              () => true,
              () => false,
            ),
        }),
    health: () => last,
    close: async () => undefined,
  };
}
