/**
 * The `evm` adapter: delivers certified core-chain decisions to a Loulan gateway contract, and
 * watches the gateway's events.
 *
 * A message for an EVM chain carries, in `data.decision`, everything the gateway needs to check the
 * decision itself (the relayer is an untrusted courier): the certified header, its commit
 * certificate, the validator keys of the set the header names, the decision event and its Merkle
 * path (`CertifiedDecisionJson`, shaped like the node's `GET /v1/events/<h>-<i>?proof=1` answer).
 * Delivery is one `execute` transaction through the submitter.
 *
 * Outcomes: mined is ok; a decision the gateway has already executed (DecisionConsumed, at estimation
 * or on chain) is ok too, since an earlier attempt delivered it and each decision runs exactly once;
 * a refusal by the gateway's checks (a bad certificate or proof, a wrong target, an expired
 * decision, a gas cap) is final, with the Loulan code the TypeScript verifier would give; trouble
 * with the node, a dropped transaction, or an attempt aborted while waiting is retried.
 */
import { Interface, type JsonRpcProvider } from 'ethers';
import { LoulanError, decodeCertificateJson, fromHex, isLoulanError } from '../../core-chain/index.ts';
import type { Adapter, AdapterFactory, AdapterHealth, AdapterTarget, DeliveryOutcome, DeliveryRequest, WatchedEvent } from '../adapter.ts';
import { loadArtifact } from './build.ts';
import { memoryCheckpointStore, stateToJson } from './checkpoint.ts';
import { evmProvider, type EvmSigner } from './client.ts';
import { eventProofArg, loulanErrorFromRevert, type CertifiedEvent } from './codec.ts';
import { createSubmitter, type EvmSubmitter, type EvmTxResult, type GasPolicy } from './submitter.ts';
import { createEvmWatcher, type EvmWatchEvent } from './watcher.ts';

/** `data.decision` of a message the evm adapter delivers. Bytes are lower-case hex without 0x. */
export interface CertifiedDecisionJson {
  /** The 253-byte encoded header. */
  readonly headerBytes: string;
  /** As the node serves it: `{height, view, blockHash, signatures: [{validator, signature}]}`. */
  readonly certificate: unknown;
  /** 33-byte compressed keys of the validator set the header names, in index order. */
  readonly validatorKeys: readonly string[];
  /** The encoded `xfer`/`decision` event. */
  readonly event: string;
  readonly eventIndex: number;
  readonly eventPath: readonly string[];
}

export interface EvmAdapterOptions {
  readonly signer: EvmSigner;
  /** Default: a provider on `target.endpoint`. */
  readonly provider?: JsonRpcProvider;
  readonly gas?: Partial<GasPolicy>;
  /** Between two looks at a pending transaction; default 500 ms. */
  readonly pollIntervalMs?: number;
  /** Between two watcher steps; default 2000 ms. */
  readonly watchIntervalMs?: number;
  /** Where `watch` starts without a checkpoint; default: from now (the first block not yet confirmed). */
  readonly watchFrom?: bigint;
  /** Contracts watched besides the gateway (its tokens, say). */
  readonly watchContracts?: readonly string[];
  readonly onWatchError?: (error: unknown) => void;
}

/** What `target` must hold for kind `evm` (the route.change schema's EvmAdapter). */
interface EvmTarget {
  readonly endpoint: string;
  readonly chainId: bigint;
  readonly contract: string;
  readonly confirmations: number;
}

const RETRYABLE = new Set(['EVM_SEND', 'EVM_DROPPED', 'DELIVER_FAILED']);

export function createEvmAdapter(target: AdapterTarget, options: EvmAdapterOptions): Adapter {
  const evm = evmTarget(target);
  const provider = options.provider ?? evmProvider(evm.endpoint, { chainId: evm.chainId });
  const submitter = createSubmitter({
    provider,
    signer: options.signer,
    chainId: evm.chainId,
    abis: ['LoulanGateway', 'LoulanPoints', 'LoulanReceivables'].map((name) => loadArtifact(name).abi as never),
    ...(options.gas === undefined ? {} : { gas: options.gas }),
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
  });
  const stops = new Set<AbortController>();
  let last: AdapterHealth = { state: 'up' };

  async function deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    let decision: CertifiedEvent;
    try {
      decision = certifiedDecisionFrom(request.envelope.data);
    } catch (error) {
      return refused(error);
    }
    try {
      const mined = await submitDecision(submitter, evm.contract, decision, request.signal);
      last = { state: 'up' };
      return {
        ok: true,
        evidence: {
          txHash: mined.txHash,
          blockNumber: mined.blockNumber.toString(),
          blockHash: mined.blockHash,
          gasUsed: mined.gasUsed.toString(),
          ...(mined.decisionId === undefined ? {} : { decisionId: mined.decisionId }),
        },
      };
    } catch (error) {
      if (!isLoulanError(error)) {
        last = { state: 'down', detail: error instanceof Error ? error.message : String(error) };
        return { ok: false, retryable: true, code: 'DELIVER_FAILED', message: error instanceof Error ? error.message : String(error) };
      }
      const contractError = loulanErrorFromRevert(typeof error.details['data'] === 'string' ? error.details['data'] : undefined);
      if (contractError?.code === 'DECISION_CONSUMED') {
        last = { state: 'up' };
        return { ok: true, evidence: { alreadyExecuted: true, decisionId: contractError.details['decisionId'], ...txOf(error) } };
      }
      if (contractError !== undefined) return { ok: false, retryable: false, code: contractError.code, message: `${contractError.message}${describeTx(error)}` };
      // Estimation that failed without revert data is the node failing, not the gateway refusing.
      if (RETRYABLE.has(error.code) || (error.code === 'EVM_ESTIMATE' && error.details['reason'] === undefined)) {
        last = { state: 'degraded', detail: `${error.code}: ${error.message}` };
        return { ok: false, retryable: true, code: error.code, message: error.message };
      }
      return { ok: false, retryable: false, code: error.code, message: error.message };
    }
  }

  function watch(checkpoint: string | undefined, onEvent: (event: WatchedEvent) => Promise<void>): () => void {
    const controller = new AbortController();
    stops.add(controller);
    const store = memoryCheckpointStore(checkpoint);
    const watcher = createEvmWatcher({
      provider,
      chainId: evm.chainId,
      contracts: [evm.contract, ...(options.watchContracts ?? [])],
      confirmations: evm.confirmations,
      store,
      ...(options.watchFrom === undefined ? {} : { startBlock: options.watchFrom }),
    });
    void watcher.run(
      (event, after) => onEvent({ checkpoint: stateToJson(after), type: `evm.${event.kind}`, data: watchedData(event) }),
      { signal: controller.signal, intervalMs: options.watchIntervalMs ?? 2000, ...(options.onWatchError === undefined ? {} : { onError: options.onWatchError }) },
    );
    return () => {
      controller.abort();
      stops.delete(controller);
    };
  }

  return {
    kind: 'evm',
    deliver,
    watch,
    async probe(signal) {
      try {
        if (signal.aborted) return false;
        return BigInt((await provider.send('eth_chainId', [])) as string) === evm.chainId;
      } catch {
        return false;
      }
    },
    health: () => last,
    async close() {
      for (const controller of stops) controller.abort();
      stops.clear();
      if (options.provider === undefined) provider.destroy();
    },
  };
}

/**
 * Submits one certified decision to the gateway at `gateway` (`execute`), through `submitter`: the
 * submitter's phase errors (EVM_ESTIMATE, EVM_SEND, EVM_REVERTED, EVM_DROPPED) with the revert's
 * custom error name in `details.reason` and its raw bytes in `details.data`
 * (`loulanErrorFromRevert(details.data)` gives the verifier's code). Resolves with the mined
 * transaction and the executed decision id (hex).
 *
 * @example
 * const mined = await submitDecision(submitter, deployed.gateway, { header, certificate, publicKeys, event, index, path });
 */
export async function submitDecision(
  submitter: EvmSubmitter,
  gateway: string,
  decision: CertifiedEvent,
  signal?: AbortSignal,
): Promise<EvmTxResult & { readonly decisionId?: string }> {
  const iface = gatewayInterface();
  const mined = await submitter.send({ to: gateway, data: iface.encodeFunctionData('execute', [eventProofArg(decision)]), ...(signal === undefined ? {} : { signal }) });
  const executed = mined.logs
    .filter((l) => l.address.toLowerCase() === gateway.toLowerCase())
    .map((l) => iface.parseLog(l))
    .find((l) => l?.name === 'DecisionExecuted');
  return executed === undefined || executed === null ? mined : { ...mined, decisionId: String(executed.args[0]).slice(2) };
}

let gatewayIface: Interface | undefined;

function gatewayInterface(): Interface {
  gatewayIface ??= new Interface(loadArtifact('LoulanGateway').abi as never);
  return gatewayIface;
}

/** An `AdapterFactory` for kind `evm`: every target is served from the same account. */
export function evmAdapterFactory(options: EvmAdapterOptions): AdapterFactory {
  return (target) => createEvmAdapter(target, options);
}

/** The decision a message carries (`data.decision`), checked for shape; throws DECISION_MALFORMED or VALIDATE_*. */
export function certifiedDecisionFrom(data: unknown): CertifiedEvent {
  const d = (data as { decision?: Partial<CertifiedDecisionJson> } | null)?.decision;
  if (d === undefined || d === null || typeof d !== 'object') throw malformed('decision', 'the message data carries no decision');
  const hex = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string') throw malformed(field, `${field} must be hex`);
    return fromHex(value);
  };
  if (!Array.isArray(d.validatorKeys) || d.validatorKeys.length === 0) throw malformed('validatorKeys', 'validatorKeys must be a non-empty list');
  if (!Array.isArray(d.eventPath)) throw malformed('eventPath', 'eventPath must be a list');
  if (!Number.isSafeInteger(d.eventIndex) || (d.eventIndex as number) < 0) throw malformed('eventIndex', 'eventIndex must be a non-negative integer');
  return {
    header: hex(d.headerBytes, 'headerBytes'),
    certificate: decodeCertificateJson(d.certificate, '/decision/certificate'),
    publicKeys: d.validatorKeys.map((k, i) => hex(k, `validatorKeys/${i}`)),
    event: hex(d.event, 'event'),
    index: d.eventIndex as number,
    path: d.eventPath.map((p, i) => hex(p, `eventPath/${i}`)),
  };
}

function evmTarget(target: AdapterTarget): EvmTarget {
  const chainId = target['chainId'];
  const contract = target['contract'];
  const confirmations = target['confirmations'];
  if (target.kind !== 'evm') throw invalidTarget('kind');
  if (typeof chainId !== 'string' || !/^(?:0|[1-9][0-9]{0,19})$/.test(chainId)) throw invalidTarget('chainId');
  if (typeof contract !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(contract)) throw invalidTarget('contract');
  if (typeof confirmations !== 'number' || !Number.isSafeInteger(confirmations) || confirmations < 0) throw invalidTarget('confirmations');
  return { endpoint: target.endpoint, chainId: BigInt(chainId), contract, confirmations };
}

function watchedData(event: EvmWatchEvent): Record<string, unknown> {
  return Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'kind').map(([key, value]) => [key, typeof value === 'bigint' ? value.toString() : value]));
}

function refused(error: unknown): DeliveryOutcome {
  const code = isLoulanError(error) ? error.code : 'DECISION_MALFORMED';
  return { ok: false, retryable: false, code, message: error instanceof Error ? error.message : String(error) };
}

function txOf(error: LoulanError): Record<string, unknown> {
  return typeof error.details['txHash'] === 'string' ? { txHash: error.details['txHash'] } : {};
}

function describeTx(error: LoulanError): string {
  return typeof error.details['txHash'] === 'string' ? ` (tx ${error.details['txHash']})` : '';
}

function malformed(field: string, message: string): LoulanError {
  return new LoulanError('DECISION_MALFORMED', message, { details: { field } });
}

function invalidTarget(field: string): LoulanError {
  return new LoulanError('ROUTE_INVALID', `an evm link needs a valid ${field}`, { details: { pointer: `/${field}`, kind: 'evm' } });
}
