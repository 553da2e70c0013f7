/**
 * The legacy Fabric driver, for networks without the Gateway service (Fabric 1.4 and 2.2): the same
 * `FabricClient` interface as client.ts, built on `fabric-network` 2.2, which talks to each peer's
 * Endorser and Deliver services and the orderer's Broadcast itself. The adapter takes either driver
 * through its `connect` option, so nothing above this file knows which one a member runs.
 *
 * Discovery is off: the caller names every organisation's peers and the orderers, and this file turns
 * them into the connection profile fabric-network wants (every peer endorses, answers queries and is
 * an event source). fabric-network reports failures as plain errors; they are mapped onto the same
 * phase codes as the Gateway driver: TransactionError (a commit event with a bad validation code) is
 * FABRIC_COMMIT, TimeoutError (no commit event in time) FABRIC_COMMIT_STATUS, an orderer refusal
 * FABRIC_SUBMIT, anything before it FABRIC_ENDORSE.
 *
 * fabric-network returns neither the block number nor the ordered envelope of a submit, so both are
 * read back from the ledger through qscc `GetBlockByTxID`, which every Fabric peer serves. It has no
 * endorse-only call either, so `confirm` drives fabric-common's Endorsement (the layer under
 * fabric-network) and builds the envelope with its Commit builder without ever sending it.
 */
import type { BlockEvent, BlockListener, ContractEvent, ContractListener, X509Identity } from 'fabric-network';
import { common, peer } from '@hyperledger/fabric-protos';
import { LoulanError } from '../../core-chain/index.ts';
import type { CommittedTransaction, FabricClient, FabricEvent, TransactionOptions } from './client.ts';
import { commitError, fabricError } from './errors.ts';
import { fabricIdentity, type FabricIdentityConfig } from './identity.ts';

export interface LegacyFabricClientOptions {
  /** `host:port` of each organisation's peers, by MSP id. */
  readonly peers: Readonly<Record<string, readonly string[]>>;
  /** `host:port` of the orderers. */
  readonly orderers: readonly string[];
  /** PEM of the TLS root for peers and orderers; plaintext when absent (tests only). */
  readonly tlsRootCertificatePem?: string;
  readonly identity: FabricIdentityConfig;
  readonly channel: string;
  readonly chaincode: string;
  /** Seconds fabric-network waits for endorsements and for the commit event (default 30 and 60). */
  readonly timeouts?: { readonly endorseSeconds?: number; readonly commitSeconds?: number };
}

function connectionProfile(options: LegacyFabricClientOptions): Record<string, unknown> {
  const scheme = options.tlsRootCertificatePem === undefined ? 'grpc' : 'grpcs';
  const tls = options.tlsRootCertificatePem === undefined ? {} : { tlsCACerts: { pem: options.tlsRootCertificatePem } };
  const peerNames = Object.entries(options.peers).flatMap(([mspId, endpoints]) => endpoints.map((endpoint, i) => ({ mspId, endpoint, name: `peer${i}.${mspId}` })));
  return {
    name: 'loulan-legacy',
    version: '1.0.0',
    client: { organization: options.identity.mspId },
    organizations: Object.fromEntries(Object.keys(options.peers).map((mspId) => [mspId, { mspid: mspId, peers: peerNames.filter((p) => p.mspId === mspId).map((p) => p.name) }])),
    peers: Object.fromEntries(peerNames.map((p) => [p.name, { url: `${scheme}://${p.endpoint}`, ...tls }])),
    orderers: Object.fromEntries(options.orderers.map((endpoint, i) => [`orderer${i}`, { url: `${scheme}://${endpoint}`, ...tls }])),
    channels: {
      [options.channel]: {
        orderers: options.orderers.map((_, i) => `orderer${i}`),
        peers: Object.fromEntries(peerNames.map((p) => [p.name, { endorsingPeer: true, chaincodeQuery: true, ledgerQuery: true, eventSource: true }])),
      },
    },
  };
}

/** The phase code of a fabric-network failure (see the module comment). */
function legacyError(error: unknown, operation: 'evaluate' | 'submit', txId: string): LoulanError {
  if (error instanceof LoulanError) return error;
  const shape = (error ?? {}) as { name?: string; message?: string; transactionCode?: string };
  if (shape.name === 'TransactionError' && typeof shape.transactionCode === 'string') {
    const code = (peer.TxValidationCode as unknown as Record<string, number>)[shape.transactionCode] ?? 255;
    return commitError(txId, -1n, code);
  }
  if (shape.name === 'TimeoutError') return fabricError(error, 'commitStatus', txId);
  if (operation === 'submit' && /Failed to commit transaction|orderer|committer/i.test(shape.message ?? '')) return fabricError(error, 'submit', txId);
  return fabricError(error, operation === 'evaluate' ? 'evaluate' : 'endorse', txId);
}

/**
 * Connects through fabric-network 2.2 (no Gateway service needed on the peers).
 *
 * @example
 * const client = await connectLegacyFabric({ peers: { Org1MSP: ['peer0.org1:7051'], Org2MSP: ['peer0.org2:9051'] },
 *   orderers: ['orderer:7050'], identity, channel: 'loulan', chaincode: 'points' });
 */
export async function connectLegacyFabric(options: LegacyFabricClientOptions): Promise<FabricClient> {
  const { certificate } = fabricIdentity(options.identity);
  if (options.identity.privateKeyPem === undefined) throw new LoulanError('CONFIG_INVALID', 'the legacy Fabric driver needs the private key PEM', { details: { field: 'privateKeyPem' } });
  // fabric-network (with fabric-common and its logger) costs ~0.3 s to load: only members on old networks pay it.
  const { DefaultEventHandlerStrategies, DefaultQueryHandlerStrategies, Gateway, Wallets } = await import('fabric-network');
  const wallet = await Wallets.newInMemoryWallet();
  const walletIdentity: X509Identity = { credentials: { certificate: certificate.toString(), privateKey: options.identity.privateKeyPem }, mspId: options.identity.mspId, type: 'X.509' };
  await wallet.put('loulan', walletIdentity);
  const gateway = new Gateway();
  await gateway.connect(connectionProfile(options), {
    wallet,
    identity: 'loulan',
    discovery: { enabled: false, asLocalhost: false },
    eventHandlerOptions: { strategy: DefaultEventHandlerStrategies.MSPID_SCOPE_ANYFORTX, commitTimeout: options.timeouts?.commitSeconds ?? 60, endorseTimeout: options.timeouts?.endorseSeconds ?? 30 },
    queryHandlerOptions: { strategy: DefaultQueryHandlerStrategies.MSPID_SCOPE_ROUND_ROBIN },
  });
  const network = await gateway.getNetwork(options.channel);
  const contract = network.getContract(options.chaincode);
  const qscc = network.getContract('qscc');

  const prepare = (name: string, txOptions: TransactionOptions | undefined) => {
    const transaction = contract.createTransaction(name);
    if (txOptions?.endorsingOrganizations !== undefined) transaction.setEndorsingOrganizations(...txOptions.endorsingOrganizations);
    if (txOptions?.transient !== undefined) {
      transaction.setTransient(Object.fromEntries(Object.entries(txOptions.transient).map(([key, value]) => [key, Buffer.from(value)])));
    }
    return transaction;
  };
  const stringArgs = (args: readonly (string | Uint8Array)[]): string[] => args.map((arg) => (typeof arg === 'string' ? arg : Buffer.from(arg).toString('utf8')));
  const query = async (fn: string, ...args: string[]): Promise<Uint8Array> => {
    try {
      return new Uint8Array(await qscc.evaluateTransaction(fn, options.channel, ...args));
    } catch (error) {
      throw fabricError(error, 'evaluate');
    }
  };

  return {
    channel: options.channel,
    chaincode: options.chaincode,

    async evaluate(name, args = [], txOptions) {
      const transaction = prepare(name, txOptions);
      try {
        return new Uint8Array(await transaction.evaluate(...stringArgs(args)));
      } catch (error) {
        throw legacyError(error, 'evaluate', transaction.getTransactionId());
      }
    },

    async submit(name, args = [], txOptions) {
      const transaction = prepare(name, txOptions);
      let result: Uint8Array;
      try {
        result = new Uint8Array(await transaction.submit(...stringArgs(args)));
      } catch (error) {
        const mapped = legacyError(error, 'submit', transaction.getTransactionId());
        if (mapped.code !== 'FABRIC_COMMIT') throw mapped;
        // Name the block the invalid transaction landed in, as the Gateway driver does.
        const block = common.Block.deserializeBinary(await query('GetBlockByTxID', transaction.getTransactionId()).catch(() => new common.Block().serializeBinary()));
        throw commitError(transaction.getTransactionId(), BigInt(block.getHeader()?.getNumber() ?? -1), Number(mapped.details['code']));
      }
      const txId = transaction.getTransactionId();
      const block = common.Block.deserializeBinary(await query('GetBlockByTxID', txId));
      const envelope = block
        .getData()!
        .getDataList_asU8()
        .find((bytes) => {
          const payload = common.Payload.deserializeBinary(common.Envelope.deserializeBinary(bytes).getPayload_asU8());
          return common.ChannelHeader.deserializeBinary(payload.getHeader()!.getChannelHeader_asU8()).getTxId() === txId;
        });
      if (envelope === undefined) throw new LoulanError('FABRIC_COMMIT_STATUS', `transaction ${txId} is not in the block qscc returned`, { details: { txId, operation: 'commitStatus' } });
      return { txId, blockNumber: BigInt(block.getHeader()!.getNumber()), result, envelope };
    },

    async confirm(name, args = [], txOptions) {
      // fabric-network has no endorse-only call: drive fabric-common's Endorsement directly and cut the
      // envelope with its Commit builder, which is never sent.
      const identityContext = gateway.identityContext!;
      const channel = network.getChannel();
      const endorsement = channel.newEndorsement(options.chaincode);
      endorsement.build(identityContext, {
        fcn: name,
        args: stringArgs(args),
        ...(txOptions?.transient === undefined ? {} : { transientMap: Object.fromEntries(Object.entries(txOptions.transient).map(([key, value]) => [key, Buffer.from(value)])) }),
      });
      endorsement.sign(identityContext);
      const txId = endorsement.getTransactionId();
      const targets = (txOptions?.endorsingOrganizations ?? Object.keys(options.peers)).flatMap((mspId) => channel.getEndorsers(mspId));
      let answer;
      try {
        answer = await endorsement.send({ targets, requestTimeout: (options.timeouts?.endorseSeconds ?? 30) * 1000 });
      } catch (error) {
        throw fabricError(error, 'endorse', txId);
      }
      const refused = answer.responses.filter((r) => r.response.status !== 200 || r.endorsement === undefined);
      const peers = [
        ...answer.errors.map((error) => ({ address: error.connection?.url ?? '', message: error.message })),
        ...refused.map((r) => ({ address: r.connection.url, message: `status ${r.response.status}: ${r.response.message}` })),
      ];
      const first = answer.responses[0];
      if (peers.length > 0 || first === undefined) throw new LoulanError('FABRIC_ENDORSE', `query ${name} was not endorsed`, { details: { txId, operation: 'endorse', peers } });
      if (answer.responses.some((r) => !Buffer.from(r.payload).equals(Buffer.from(first.payload)))) {
        throw new LoulanError('FABRIC_ENDORSE', `the endorsers of query ${name} disagree`, { details: { txId, operation: 'endorse', peers: answer.responses.map((r) => ({ address: r.connection.url, message: 'differing payload' })) } });
      }
      const commit = endorsement.newCommit();
      commit.build(identityContext);
      commit.sign(identityContext);
      const signed = commit.getSignedEnvelope() as { payload: Uint8Array; signature: Uint8Array };
      const envelope = new common.Envelope();
      envelope.setPayload(signed.payload);
      envelope.setSignature(signed.signature);
      return { txId, result: new Uint8Array(first.response.payload), envelope: envelope.serializeBinary() };
    },

    async transaction(txId): Promise<CommittedTransaction> {
      const processed = peer.ProcessedTransaction.deserializeBinary(await query('GetTransactionByID', txId));
      return { envelope: (processed.getTransactionenvelope() ?? new common.Envelope()).serializeBinary(), validationCode: processed.getValidationcode() };
    },

    async height() {
      return BigInt(common.BlockchainInfo.deserializeBinary(await query('GetChainInfo')).getHeight());
    },

    watchEvents(checkpoint, onEvent, watchOptions = {}) {
      const resumeBlock = checkpoint.getBlockNumber();
      let skipUntil = checkpoint.getTransactionId();
      const startBlock = resumeBlock ?? watchOptions.startBlock;
      const life = listenerLife(() => contract.removeContractListener(listener));
      // fabric-network awaits each listener call before the next event, so events stay in order.
      const listener: ContractListener = async (event: ContractEvent) => {
        if (life.stopped) return;
        const tx = event.getTransactionEvent();
        const blockNumber = BigInt(tx.getBlockEvent().blockNumber.toString());
        if (skipUntil !== undefined) {
          if (blockNumber === resumeBlock) {
            if (tx.transactionId === skipUntil) skipUntil = undefined;
            return;
          }
          skipUntil = undefined;
        }
        const fabricEvent: FabricEvent = { blockNumber, txId: tx.transactionId, chaincode: event.chaincodeId, eventName: event.eventName, payload: new Uint8Array(event.payload ?? Buffer.alloc(0)) };
        await life.handle(async () => {
          await onEvent(fabricEvent);
          await checkpoint.checkpointChaincodeEvent({ blockNumber, transactionId: fabricEvent.txId, chaincodeName: fabricEvent.chaincode, eventName: fabricEvent.eventName, payload: fabricEvent.payload });
        });
      };
      contract.addContractListener(listener, { type: 'full', ...(startBlock === undefined ? {} : { startBlock: startBlock.toString() }) }).catch((error: unknown) => life.fail(fabricError(error, 'events')));
      return life.watch;
    },

    watchBlocks(checkpoint, onBlock, watchOptions = {}) {
      // fabric-network hands out decoded blocks; the raw bytes come from qscc, one query per block.
      const startBlock = checkpoint.getBlockNumber() ?? watchOptions.startBlock;
      const life = listenerLife(() => network.removeBlockListener(listener));
      const listener: BlockListener = async (event: BlockEvent) => {
        if (life.stopped) return;
        const number = BigInt(event.blockNumber.toString());
        await life.handle(async () => {
          await onBlock({ number, block: await query('GetBlockByNumber', number.toString()) });
          await checkpoint.checkpointBlock(number);
        });
      };
      network.addBlockListener(listener, { type: 'filtered', ...(startBlock === undefined ? {} : { startBlock: startBlock.toString() }) }).catch((error: unknown) => life.fail(fabricError(error, 'events')));
      return life.watch;
    },

    close() {
      gateway.disconnect();
    },
  };
}

/**
 * One fabric-network listener's life: events are handled one at a time, each handled and
 * checkpointed before the next; a failure stops the listener there, so a later event never moves the
 * checkpoint past one that was not handled; `stop()` lets the event in hand finish, then `done` settles.
 */
function listenerLife(remove: () => void) {
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  let settle!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  return {
    get stopped() {
      return stopped;
    },
    async handle(work: () => Promise<void>): Promise<void> {
      const handling = work();
      inFlight = handling;
      try {
        await handling;
      } catch (error) {
        stopped = true;
        remove();
        settle(error);
      } finally {
        inFlight = undefined;
      }
    },
    fail(error: unknown): void {
      stopped = true;
      settle(error);
    },
    watch: {
      stop() {
        if (stopped) return;
        stopped = true;
        remove();
        void (inFlight ?? Promise.resolve()).then(
          () => settle(),
          () => undefined,
        );
      },
      done,
    },
  };
}
