/**
 * The Fabric adapter (kind `fabric`): delivers a switch message by submitting one chaincode
 * transaction through a Gateway peer, watches the chaincode's events from a checkpoint, and probes the
 * peer with a read-only qscc query.
 *
 * Target settings (routing table, route.change `$defs/fabricAdapter`): `endpoint` (`host:port` of the
 * Gateway peer, or `grpc://` / `grpcs://host:port`), `channel`, `chaincode`, `mspId` (the MSP the
 * switch's identity must belong to, checked against it), and optionally `transaction`, the function
 * that takes a message (default `receiveMessage`, e.g. `points:receiveMessage` names a contract). It
 * is called with two arguments, the envelope as JSON and its digest; the chaincode must count each
 * (source, id) once, since the switch may deliver again after a crash. The client identity and TLS
 * root are secrets and come through options, never the table.
 *
 * Outcomes: a chaincode refusal (the endorsement failed with a chaincode error) and a commit marked
 * invalid for any reason other than a read conflict go to the dead-letter queue; an unreachable peer,
 * a failed submit, an unknown commit status and an MVCC/phantom read conflict are retried (a retry
 * endorses afresh against the new state).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { LoulanError } from '../../core-chain/index.ts';
import type { Adapter, AdapterFactory, AdapterTarget, DeliveryOutcome, WatchedEvent } from '../adapter.ts';
import { failureStreak } from '../http.ts';
import { chaincodeErrorFromMessage } from './chaincode/wire.ts';
import { formatPosition, MemoryCheckpointer, parsePosition } from './checkpoint.ts';
import { connectFabric, type FabricClient, type FabricClientOptions } from './client.ts';
import type { FabricIdentityConfig } from './identity.ts';

export interface FabricAdapterOptions {
  readonly identity: FabricIdentityConfig;
  /** PEM of the peer's TLS root; required for `grpcs://` endpoints. */
  readonly tlsRootCertificatePem?: string;
  readonly timeouts?: FabricClientOptions['timeouts'];
  /** Replaces `connectFabric`: the legacy driver (`() => connectLegacyFabric(...)`), or a test double. */
  readonly connect?: (options: FabricClientOptions) => Promise<FabricClient>;
  /** Told about every failure of the watch stream before it is reopened (default: nothing). */
  readonly onWatchError?: (error: unknown) => void;
  readonly now?: () => number;
}

const RETRYABLE_COMMIT = new Set(['MVCC_READ_CONFLICT', 'PHANTOM_READ_CONFLICT']);
const UNREACHABLE = new Set([grpcStatus.UNAVAILABLE, grpcStatus.DEADLINE_EXCEEDED, grpcStatus.CANCELLED, grpcStatus.RESOURCE_EXHAUSTED, grpcStatus.INTERNAL, grpcStatus.UNKNOWN]);

/** The chaincode function a message goes to when the route names none. */
export const DEFAULT_TRANSACTION = 'receiveMessage';

function setting(target: AdapterTarget, name: string): string {
  const value = target[name];
  if (typeof value !== 'string' || value.length === 0) throw new LoulanError('ROUTE_INVALID', `a fabric target needs a ${name}`, { details: { pointer: `/adapter/${name}` } });
  return value;
}

/** The outcome a Fabric failure stands for (see the module comment). */
export function outcomeOfFabricError(error: unknown): DeliveryOutcome {
  if (!(error instanceof LoulanError)) return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: error instanceof Error ? error.message : String(error) };
  const message = error.message;
  switch (error.code) {
    case 'FABRIC_ENDORSE': {
      const grpcCode = error.details['grpcCode'];
      const retryable = typeof grpcCode !== 'number' || UNREACHABLE.has(grpcCode);
      // A refusal by Loulan's own chaincode names its code (DECISION_CONSUMED, CERT_TOO_FEW_SIGNERS...):
      // the dead-letter queue shows that, as it shows the EVM gateway's.
      const refusal = retryable ? undefined : chaincodeErrorFromMessage(message);
      return { ok: false, retryable, code: refusal?.code ?? error.code, message };
    }
    case 'FABRIC_COMMIT':
      return { ok: false, retryable: RETRYABLE_COMMIT.has(String(error.details['validationCode'])), code: error.code, message };
    case 'FABRIC_SUBMIT':
    case 'FABRIC_COMMIT_STATUS':
      return { ok: false, retryable: true, code: error.code, message };
    default:
      return { ok: false, retryable: false, code: error.code, message };
  }
}

export function createFabricAdapter(target: AdapterTarget, options: FabricAdapterOptions): Adapter {
  if (target.kind !== 'fabric') throw new LoulanError('ROUTE_ADAPTER_UNAVAILABLE', `the fabric adapter cannot serve kind ${target.kind}`, { details: { kind: target.kind } });
  const match = /^(?:(grpcs?):\/\/)?([^/\s]+:\d{1,5})$/.exec(target.endpoint);
  if (match === null) throw new LoulanError('ROUTE_INVALID', `a fabric endpoint is host:port or grpc(s)://host:port, not ${target.endpoint}`, { details: { pointer: '/adapter/endpoint' } });
  const tls = match[1] === 'grpcs';
  if (tls && options.tlsRootCertificatePem === undefined) throw new LoulanError('CONFIG_INVALID', `${target.endpoint} needs a TLS root certificate`, { details: { field: 'tlsRootCertificatePem' } });
  const clientOptions: FabricClientOptions = {
    endpoint: match[2]!,
    identity: options.identity,
    channel: setting(target, 'channel'),
    chaincode: setting(target, 'chaincode'),
    ...(tls ? { tlsRootCertificatePem: options.tlsRootCertificatePem! } : {}),
    ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
  };
  const transaction = target['transaction'] === undefined ? DEFAULT_TRANSACTION : setting(target, 'transaction');
  if (target['mspId'] !== undefined && target['mspId'] !== options.identity.mspId) {
    throw new LoulanError('CONFIG_INVALID', `the route names MSP ${String(target['mspId'])}, but the switch's Fabric identity is of ${options.identity.mspId}`, {
      details: { field: 'identity.mspId', expected: target['mspId'], actual: options.identity.mspId },
    });
  }
  // Connecting opens nothing until the first call; it is deferred so that building an adapter has no side effects.
  let client: Promise<FabricClient> | undefined;
  const connected = (): Promise<FabricClient> => (client ??= (options.connect ?? connectFabric)(clientOptions));
  const streak = failureStreak();
  const now = options.now ?? Date.now;

  return {
    kind: 'fabric',
    async deliver(request) {
      const aborted: DeliveryOutcome = { ok: false, retryable: true, code: 'DELIVER_FAILED', message: 'the attempt was aborted or reached the message deadline' };
      // The message deadline bounds the attempt. A transaction still in flight when it passes may yet
      // commit; that is safe because the chaincode counts each (source, id) once.
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(Math.max(1, request.deadline - now()))]);
      if (signal.aborted) return streak.record(aborted);
      let onAbort: (() => void) | undefined;
      const abortion = new Promise<DeliveryOutcome>((resolve) => {
        onAbort = () => resolve(aborted);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const attempt = (async (): Promise<DeliveryOutcome> => {
        try {
          const fabric = await connected();
          const result = await fabric.submit(transaction, [JSON.stringify(request.envelope), request.digest]);
          return { ok: true, evidence: { txId: result.txId, blockNumber: result.blockNumber.toString() } };
        } catch (error) {
          return outcomeOfFabricError(error);
        }
      })();
      try {
        return streak.record(await Promise.race([attempt, abortion]));
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
    },
    watch(checkpoint, onEvent) {
      // The checkpointer moves only after onEvent resolves, so a restarted stream resumes exactly
      // after the last handled event. A broken stream is reopened with capped exponential backoff.
      const checkpointer = new MemoryCheckpointer(checkpoint === undefined ? undefined : parsePosition(checkpoint));
      let stopped = false;
      let current: { stop(): void } | undefined;
      let wake: (() => void) | undefined;
      void (async () => {
        for (let failures = 0; !stopped; ) {
          try {
            const fabric = await connected();
            if (stopped) break;
            const running = fabric.watchEvents(checkpointer, async (event) => {
              failures = 0;
              await onEvent({
                checkpoint: formatPosition({ blockNumber: event.blockNumber, transactionId: event.txId }),
                type: event.eventName,
                data: { txId: event.txId, blockNumber: event.blockNumber.toString(), chaincode: event.chaincode, payload: Buffer.from(event.payload).toString('base64url') },
              } satisfies WatchedEvent);
            });
            current = running;
            await running.done;
          } catch (error) {
            failures++;
            options.onWatchError?.(error);
          }
          if (stopped) break;
          const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, delay).unref();
          });
        }
      })();
      return () => {
        stopped = true;
        current?.stop();
        wake?.();
      };
    },
    async probe(signal) {
      if (signal.aborted) return false;
      try {
        await (await connected()).height();
        return true;
      } catch {
        return false;
      }
    },
    health() {
      return streak.health();
    },
    async close() {
      if (client !== undefined) (await client.catch(() => undefined))?.close();
    },
  };
}

/** An `AdapterFactory` for kind `fabric`, every target using the same identity options. */
export function fabricAdapterFactory(options: FabricAdapterOptions): AdapterFactory {
  return (target) => createFabricAdapter(target, options);
}
