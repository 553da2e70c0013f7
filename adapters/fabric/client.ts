/**
 * The Fabric client: one connection to a Fabric 2.4+ peer's Gateway service through
 * @hyperledger/fabric-gateway, bound to one channel and chaincode.
 *
 * `submit` runs the three phases explicitly (endorse, submit, commit status) instead of
 * `contract.submitTransaction`, so each failure is tagged with its phase and the transaction id (see
 * errors.ts), and so the signed envelope that was ordered can be returned: it is the raw material of
 * Fabric evidence (relayers/fabric `evidenceFromEnvelope`). `transaction(txId)` fetches the same
 * envelope later from the ledger through the query system chaincode (qscc `GetTransactionByID`), which
 * is how a relayer that only saw an event gets the endorsements behind it. `confirm` stops after the
 * endorse phase: an endorsed read-only query is evidence of committed state (relayers/fabric
 * confirmation.ts), and it must never reach the orderer.
 *
 * Events resume from a checkpoint (block number + last handled transaction id); `watchEvents` moves
 * the checkpoint only after the handler has finished with an event, so a crash replays the event in
 * hand rather than losing it. Every capability comes in through options (identity, timeouts, the
 * gRPC client if the caller wants its own), and nothing starts until `connectFabric` is called.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, hash, type ChaincodeEvent, type Checkpointer, type CloseableAsyncIterable, type Contract, type Gateway, type Network, type Signer } from '@hyperledger/fabric-gateway';
import { common, gateway as gatewayProtos, peer } from '@hyperledger/fabric-protos';
import { LoulanError } from '../../core-chain/index.ts';
import { fabricIdentity, type FabricIdentityConfig } from './identity.ts';
import { commitError, fabricError } from './errors.ts';

export interface FabricClientOptions {
  /** The peer's Gateway endpoint, `host:port`. */
  readonly endpoint: string;
  /** PEM of the TLS root that signed the peer's TLS certificate; plaintext when absent (tests only). */
  readonly tlsRootCertificatePem?: string;
  /** TLS host name to expect when it differs from the endpoint's host. */
  readonly tlsHostOverride?: string;
  readonly identity: FabricIdentityConfig;
  /** Signs SHA-256 digests in place of the identity's private key (an HSM, a remote signer). */
  readonly signer?: Signer;
  readonly channel: string;
  readonly chaincode: string;
  /** Per-call deadlines in ms (defaults: evaluate 5 s, endorse 15 s, submit 5 s, commit status 60 s). */
  readonly timeouts?: Partial<Record<'evaluate' | 'endorse' | 'submit' | 'commitStatus', number>>;
}

export interface TransactionOptions {
  /** Ask exactly these organisations to endorse (default: the gateway plans it from the policy). */
  readonly endorsingOrganizations?: readonly string[];
  /** Private inputs that stay out of the transaction (Fabric transient data). */
  readonly transient?: Readonly<Record<string, Uint8Array | string>>;
}

export interface SubmitResult {
  readonly txId: string;
  readonly blockNumber: bigint;
  /** The chaincode's return value. */
  readonly result: Uint8Array;
  /** The signed `common.Envelope` that was ordered (input to `evidenceFromEnvelope`). */
  readonly envelope: Uint8Array;
}

/** A read-only query endorsed by the peers and never submitted: confirmation evidence of committed state. */
export interface ConfirmResult {
  /** The query's transaction id; it is never ordered, so it never appears on the ledger. */
  readonly txId: string;
  /** The chaincode's answer, as the endorsers computed it from their committed state. */
  readonly result: Uint8Array;
  /**
   * The `common.Envelope` holding the endorsements (input to `evidenceFromEnvelope`, then
   * `verifyFabricConfirmation`). Never ordered, so the client's own envelope signature may be empty.
   */
  readonly envelope: Uint8Array;
}

export interface CommittedTransaction {
  readonly envelope: Uint8Array;
  /** Fabric's TxValidationCode (0 = VALID). */
  readonly validationCode: number;
}

export interface FabricEvent {
  readonly blockNumber: bigint;
  readonly txId: string;
  readonly chaincode: string;
  readonly eventName: string;
  readonly payload: Uint8Array;
}

export interface FabricBlock {
  readonly number: bigint;
  /** The serialized `common.Block`. */
  readonly block: Uint8Array;
}

export interface FabricClient {
  readonly channel: string;
  readonly chaincode: string;
  /** Runs a transaction function on one peer without ordering it; returns its result. */
  evaluate(name: string, args?: readonly (string | Uint8Array)[], options?: TransactionOptions): Promise<Uint8Array>;
  /** Endorses, submits and waits for the commit; throws FABRIC_* naming the failed phase. */
  submit(name: string, args?: readonly (string | Uint8Array)[], options?: TransactionOptions): Promise<SubmitResult>;
  /**
   * Endorses a read-only query on the peers of every organisation the policy names (or
   * `endorsingOrganizations`) and returns the endorsed envelope WITHOUT submitting it: evidence that
   * those organisations' committed state answers the query with `result`. Throws FABRIC_ENDORSE.
   */
  confirm(name: string, args?: readonly (string | Uint8Array)[], options?: TransactionOptions): Promise<ConfirmResult>;
  /** A committed transaction's envelope and validation code, from the ledger (qscc). */
  transaction(txId: string): Promise<CommittedTransaction>;
  /** The channel's block height (qscc GetChainInfo): a cheap liveness probe that writes nothing. */
  height(): Promise<bigint>;
  /**
   * Delivers this chaincode's events after the checkpoint (or from `startBlock`, or from the next
   * commit) to `onEvent`, one at a time, checkpointing each after `onEvent` resolves. Returns a stop
   * function; `done` settles when the stream ends (rejects on a stream error).
   */
  watchEvents(checkpoint: Checkpointer, onEvent: (event: FabricEvent) => Promise<void>, options?: { readonly startBlock?: bigint }): { stop(): void; readonly done: Promise<void> };
  /** Every block (serialized `common.Block`) after the checkpoint, checkpointing each block after `onBlock`. */
  watchBlocks(checkpoint: Checkpointer, onBlock: (block: FabricBlock) => Promise<void>, options?: { readonly startBlock?: bigint }): { stop(): void; readonly done: Promise<void> };
  close(): void;
}

const DEFAULT_TIMEOUTS = { evaluate: 5_000, endorse: 15_000, submit: 5_000, commitStatus: 60_000 } as const;

function deadline(ms: number): () => grpc.CallOptions {
  return () => ({ deadline: Date.now() + ms });
}

/**
 * Runs one fabric-gateway event stream: each item is handled (and checkpointed by `handle`) before
 * the next is read; `stop()` closes the stream, and `done` settles after the item in hand.
 */
function consume<T>(open: () => Promise<CloseableAsyncIterable<T>>, handle: (item: T) => Promise<void>): { stop(): void; readonly done: Promise<void> } {
  let stopped = false;
  let close: (() => void) | undefined;
  const done = (async () => {
    const stream = await open();
    close = () => stream.close();
    if (stopped) stream.close();
    try {
      for await (const item of stream) {
        if (stopped) break;
        await handle(item);
      }
    } catch (error) {
      // Closing the stream on purpose cancels the call; that is the normal end.
      if (stopped && (error as { code?: number }).code === grpc.status.CANCELLED) return;
      throw stopped ? error : fabricError(error, 'events');
    } finally {
      stream.close();
    }
  })();
  return {
    stop() {
      stopped = true;
      close?.();
    },
    done,
  };
}

/**
 * Connects to a Gateway peer. The gRPC channel connects lazily; the first call reports an unreachable
 * peer as FABRIC_ENDORSE.
 *
 * @example
 * const client = await connectFabric({ endpoint: 'peer0.org1:7051', identity, channel: 'loulan', chaincode: 'points' });
 * const { txId } = await client.submit('mint', ['alice', '100']);
 */
export async function connectFabric(options: FabricClientOptions): Promise<FabricClient> {
  const own = fabricIdentity(options.identity);
  const identity = own.identity;
  const signer = options.signer ?? own.signer;
  if (signer === undefined) throw new LoulanError('CONFIG_INVALID', 'a Fabric client needs a private key or a signer', { details: { field: 'privateKeyPem' } });
  const credentials =
    options.tlsRootCertificatePem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(options.tlsRootCertificatePem));
  const grpcClient = new grpc.Client(options.endpoint, credentials, options.tlsHostOverride === undefined ? {} : { 'grpc.ssl_target_name_override': options.tlsHostOverride });
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const gateway: Gateway = connect({
    client: grpcClient,
    identity,
    signer,
    hash: hash.sha256,
    evaluateOptions: deadline(timeouts.evaluate),
    endorseOptions: deadline(timeouts.endorse),
    submitOptions: deadline(timeouts.submit),
    commitStatusOptions: deadline(timeouts.commitStatus),
  });
  const network: Network = gateway.getNetwork(options.channel);
  const contract: Contract = network.getContract(options.chaincode);
  const qscc: Contract = network.getContract('qscc');
  const proposalOptions = (args: readonly (string | Uint8Array)[], txOptions: TransactionOptions | undefined) => ({
    arguments: [...args],
    ...(txOptions?.endorsingOrganizations === undefined ? {} : { endorsingOrganizations: [...txOptions.endorsingOrganizations] }),
    ...(txOptions?.transient === undefined ? {} : { transientData: { ...txOptions.transient } }),
  });
  /** Endorsement by the policy's peers, without ordering: the first step of `submit`, and all of `confirm`. */
  const endorse = async (name: string, args: readonly (string | Uint8Array)[], txOptions: TransactionOptions | undefined) => {
    const proposal = contract.newProposal(name, proposalOptions(args, txOptions));
    const txId = proposal.getTransactionId();
    try {
      return { txId, transaction: await proposal.endorse() };
    } catch (error) {
      throw fabricError(error, 'endorse', txId);
    }
  };

  return {
    channel: options.channel,
    chaincode: options.chaincode,

    async evaluate(name, args = [], txOptions) {
      const proposal = contract.newProposal(name, proposalOptions(args, txOptions));
      try {
        return await proposal.evaluate();
      } catch (error) {
        throw fabricError(error, 'evaluate', proposal.getTransactionId());
      }
    },

    async submit(name, args = [], txOptions) {
      const { txId, transaction } = await endorse(name, args, txOptions);
      let submitted;
      try {
        submitted = await transaction.submit();
      } catch (error) {
        throw fabricError(error, 'submit', txId);
      }
      let status;
      try {
        status = await submitted.getStatus();
      } catch (error) {
        throw fabricError(error, 'commitStatus', txId);
      }
      if (!status.successful) throw commitError(txId, status.blockNumber, status.code);
      const envelope = gatewayProtos.PreparedTransaction.deserializeBinary(transaction.getBytes()).getEnvelope()!;
      return { txId, blockNumber: status.blockNumber, result: transaction.getResult(), envelope: envelope.serializeBinary() };
    },

    async confirm(name, args = [], txOptions) {
      const { txId, transaction } = await endorse(name, args, txOptions);
      const envelope = gatewayProtos.PreparedTransaction.deserializeBinary(transaction.getBytes()).getEnvelope()!;
      return { txId, result: transaction.getResult(), envelope: envelope.serializeBinary() };
    },

    async transaction(txId) {
      let bytes: Uint8Array;
      try {
        bytes = await qscc.evaluateTransaction('GetTransactionByID', options.channel, txId);
      } catch (error) {
        throw fabricError(error, 'evaluate');
      }
      const processed = peer.ProcessedTransaction.deserializeBinary(bytes);
      const envelope = processed.getTransactionenvelope() ?? new common.Envelope();
      return { envelope: envelope.serializeBinary(), validationCode: processed.getValidationcode() };
    },

    async height() {
      let bytes: Uint8Array;
      try {
        bytes = await qscc.evaluateTransaction('GetChainInfo', options.channel);
      } catch (error) {
        throw fabricError(error, 'evaluate');
      }
      return BigInt(common.BlockchainInfo.deserializeBinary(bytes).getHeight());
    },

    watchEvents(checkpoint, onEvent, watchOptions = {}) {
      const hasCheckpoint = checkpoint.getBlockNumber() !== undefined;
      const start = hasCheckpoint ? { checkpoint } : watchOptions.startBlock === undefined ? {} : { startBlock: watchOptions.startBlock };
      return consume(
        () => network.getChaincodeEvents(options.chaincode, start),
        async (event: ChaincodeEvent) => {
          await onEvent({ blockNumber: event.blockNumber, txId: event.transactionId, chaincode: event.chaincodeName, eventName: event.eventName, payload: event.payload });
          await checkpoint.checkpointChaincodeEvent(event);
        },
      );
    },

    watchBlocks(checkpoint, onBlock, watchOptions = {}) {
      const hasCheckpoint = checkpoint.getBlockNumber() !== undefined;
      const start = hasCheckpoint ? { checkpoint } : watchOptions.startBlock === undefined ? {} : { startBlock: watchOptions.startBlock };
      return consume(
        () => network.getBlockEvents(start),
        async (block: common.Block) => {
          const number = BigInt(block.getHeader()!.getNumber());
          await onBlock({ number, block: block.serializeBinary() });
          await checkpoint.checkpointBlock(number);
        },
      );
    },

    close() {
      gateway.close();
      grpcClient.close();
    },
  };
}
