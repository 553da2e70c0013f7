/**
 * The emulated Fabric network behind the Gateway service: one channel, several organisations each
 * with one peer, chaincodes hosted in-process, an orderer that cuts blocks, and a committer that
 * validates every transaction with Fabric's rules. It speaks protobuf objects, never gRPC: server.ts
 * is the thin shell that maps these calls and their `Refusal`s onto the wire.
 *
 * All peers share one ledger (they commit the same blocks in the same order, so a real network's
 * peers would hold the same state); each chosen peer simulates the proposal itself and signs, and
 * the gateway refuses the endorsement when their results differ, as Fabric's does.
 * Validation of each transaction, in block order, as a committing peer does it:
 *   creator known and envelope signed by it ........ BAD_CREATOR_SIGNATURE
 *   tx id = hex(SHA-256(nonce ‖ creator)) .......... BAD_PROPOSAL_TXID
 *   tx id not already on the ledger or in the block  DUPLICATE_TXID
 *   endorsements valid and satisfying the policy .... ENDORSEMENT_POLICY_FAILURE
 *   every read version still current ............... MVCC_READ_CONFLICT
 *   every range scan returns the same keys/versions . PHANTOM_READ_CONFLICT
 * Only valid transactions write state and emit their chaincode event; invalid ones stay in the block
 * with their code, as in Fabric.
 */
import { createHash } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { common, gateway, ledger, orderer, peer } from '@hyperledger/fabric-protos';
import { mspVerifier, signFabric, verifyFabricSignature, type MspRoots, type VerifiedIdentity } from '../../../relayers/fabric/msp.ts';
import { parsePolicy, policyMsps, policySatisfied, type EndorsementPolicy } from '../../../relayers/fabric/policy.ts';
import type { FabricCredentials } from './ca.ts';
import { ChaincodeHost, type ContractClass } from './host.ts';
import { BlockStore, WorldState, type StoredBlock, type TxRecord } from './ledger.ts';
import { EmulatedStub, encodeKvRwSet, type ProposalContext } from './stub.ts';

const { kvrwset } = ledger.rwset;
const Code = peer.TxValidationCode;

export interface ChaincodeDefinition {
  readonly name: string;
  readonly contracts: readonly ContractClass[];
  /** Signature policy, e.g. `AND('Org1MSP.peer','Org2MSP.peer')`. */
  readonly policy: string;
}

export interface NetworkOrg {
  readonly mspId: string;
  readonly rootCertificatePem: string;
  readonly peer: FabricCredentials;
}

export interface NetworkOptions {
  readonly channel: string;
  readonly orgs: readonly NetworkOrg[];
  readonly chaincodes: readonly ChaincodeDefinition[];
  /** Most transactions per block (default 10). */
  readonly batchSize?: number;
}

/** A request the gateway refuses: a gRPC status code, a message, and the org whose peer said so. */
export class Refusal extends Error {
  readonly grpcCode: number;
  readonly mspId: string | undefined;
  constructor(grpcCode: number, message: string, mspId?: string) {
    super(message);
    this.grpcCode = grpcCode;
    this.mspId = mspId;
  }
}

interface CheckedProposal {
  readonly context: ProposalContext;
  readonly header: common.Header;
  readonly signatureHeader: Uint8Array;
  /** ChaincodeProposalPayload without its transient map: what goes into the transaction. */
  readonly payloadForTx: Uint8Array;
  readonly proposalHash: Uint8Array;
}

export function computeTxId(nonce: Uint8Array, creator: Uint8Array): string {
  return createHash('sha256').update(nonce).update(creator).digest('hex');
}

export class FabricNetwork {
  readonly channel: string;
  readonly blocks = new BlockStore();
  readonly state = new WorldState();
  readonly #orgs: Map<string, NetworkOrg>;
  readonly #chaincodes = new Map<string, { host: ChaincodeHost; policy: EndorsementPolicy }>();
  readonly #identify: (serialized: Uint8Array) => VerifiedIdentity;
  readonly #batchSize: number;
  readonly #queue: { txId: string; envelope: Uint8Array }[] = [];
  #cutScheduled = false;
  #ordering = true;
  readonly #listeners = new Set<(block: StoredBlock) => void>();
  readonly #waiters = new Map<string, ((record: { block: number; code: number }) => void)[]>();

  constructor(options: NetworkOptions) {
    this.channel = options.channel;
    this.#orgs = new Map(options.orgs.map((org) => [org.mspId, org]));
    for (const definition of options.chaincodes) {
      this.#chaincodes.set(definition.name, { host: new ChaincodeHost(definition.contracts), policy: parsePolicy(definition.policy) });
    }
    this.#identify = mspVerifier(this.mspRoots());
    this.#batchSize = options.batchSize ?? 10;
    this.blocks.append([]);
  }

  mspRoots(): MspRoots {
    return Object.fromEntries([...this.#orgs.values()].map((org) => [org.mspId, [org.rootCertificatePem]]));
  }

  #identity(serialized: Uint8Array): VerifiedIdentity {
    try {
      return this.#identify(serialized);
    } catch (error) {
      throw new Refusal(GrpcStatus.PERMISSION_DENIED, `access denied: creator identity refused (${(error as Error).message})`);
    }
  }

  /** Checks a signed proposal as an endorsing peer does before simulating it. */
  #checkProposal(signed: peer.SignedProposal | undefined): CheckedProposal {
    if (signed === undefined) throw new Refusal(GrpcStatus.INVALID_ARGUMENT, 'a signed proposal is required');
    let proposal: peer.Proposal, header: common.Header, channelHeader: common.ChannelHeader, signatureHeader: common.SignatureHeader;
    let payload: peer.ChaincodeProposalPayload, spec: peer.ChaincodeSpec | undefined, chaincode: string;
    try {
      proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
      header = common.Header.deserializeBinary(proposal.getHeader_asU8());
      channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
      signatureHeader = common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8());
      payload = peer.ChaincodeProposalPayload.deserializeBinary(proposal.getPayload_asU8());
      spec = peer.ChaincodeInvocationSpec.deserializeBinary(payload.getInput_asU8()).getChaincodeSpec();
      chaincode = peer.ChaincodeHeaderExtension.deserializeBinary(channelHeader.getExtension_asU8()).getChaincodeId()?.getName() ?? '';
    } catch (cause) {
      throw new Refusal(GrpcStatus.INVALID_ARGUMENT, `malformed proposal: ${(cause as Error).message}`);
    }
    if (channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) throw new Refusal(GrpcStatus.INVALID_ARGUMENT, `unsupported header type ${channelHeader.getType()}`);
    if (channelHeader.getChannelId() !== this.channel) throw new Refusal(GrpcStatus.NOT_FOUND, `channel ${channelHeader.getChannelId()} not found`);
    const creator = this.#identity(signatureHeader.getCreator_asU8());
    if (!verifyFabricSignature(creator.certificate, signed.getProposalBytes_asU8(), signed.getSignature_asU8())) {
      throw new Refusal(GrpcStatus.PERMISSION_DENIED, 'access denied: the proposal signature does not verify under the creator certificate');
    }
    const txId = channelHeader.getTxId();
    if (txId !== computeTxId(signatureHeader.getNonce_asU8(), signatureHeader.getCreator_asU8())) throw new Refusal(GrpcStatus.INVALID_ARGUMENT, `tx id ${txId} is not hash(nonce ‖ creator)`);
    if (this.blocks.findTx(txId) !== undefined) throw new Refusal(GrpcStatus.ALREADY_EXISTS, `duplicate transaction found [${txId}]`);
    if (chaincode !== 'qscc' && !this.#chaincodes.has(chaincode)) throw new Refusal(GrpcStatus.NOT_FOUND, `chaincode ${chaincode} is not defined on channel ${this.channel}`);
    const forTx = new peer.ChaincodeProposalPayload();
    forTx.setInput(payload.getInput_asU8());
    const payloadForTx = forTx.serializeBinary();
    const timestamp = channelHeader.getTimestamp();
    const context: ProposalContext = {
      channelId: this.channel,
      txId,
      chaincode,
      creator: { mspId: creator.mspId, certificatePem: creator.certificate.toString(), serialized: creator.serialized },
      args: spec?.getInput()?.getArgsList_asU8() ?? [],
      transient: new Map(payload.getTransientmapMap().toArray().map(([key, value]: [string, Uint8Array | string]) => [key, typeof value === 'string' ? Buffer.from(value, 'base64') : value])),
      timestamp: { seconds: timestamp?.getSeconds() ?? 0, nanos: timestamp?.getNanos() ?? 0 },
      peerMspId: '',
    };
    const proposalHash = createHash('sha256').update(header.getChannelHeader_asU8()).update(header.getSignatureHeader_asU8()).update(payloadForTx).digest();
    return { context, header, signatureHeader: header.getSignatureHeader_asU8(), payloadForTx, proposalHash: new Uint8Array(proposalHash) };
  }

  async #simulate(checked: CheckedProposal, peerMspId: string): Promise<{ response: peer.Response; stub: EmulatedStub | undefined }> {
    const response = new peer.Response();
    if (checked.context.chaincode === 'qscc') {
      const result = this.#qscc(checked.context.args.map((arg) => Buffer.from(arg).toString('utf8')));
      response.setStatus(result.status);
      response.setMessage(result.message);
      response.setPayload(result.payload);
      return { response, stub: undefined };
    }
    const stub = new EmulatedStub(this.state, { ...checked.context, peerMspId });
    const result = await this.#chaincodes.get(checked.context.chaincode)!.host.invoke(stub);
    response.setStatus(result.status);
    response.setMessage(result.message);
    response.setPayload(result.payload);
    return { response, stub };
  }

  /** The query system chaincode: the transactions and blocks a client may fetch as evidence. */
  #qscc(args: readonly string[]): { status: number; message: string; payload: Uint8Array } {
    const [fcn, channel, arg] = args;
    const fail = (message: string) => ({ status: 500, message, payload: new Uint8Array(0) });
    if (channel !== this.channel) return fail(`channel ${channel ?? ''} not found`);
    if (fcn === 'GetTransactionByID') {
      const at = this.blocks.findTx(arg ?? '');
      if (at === undefined) return fail(`no such transaction ID [${arg ?? ''}] in index`);
      const record = this.blocks.at(at.block)!.txs[at.tx]!;
      const processed = new peer.ProcessedTransaction();
      processed.setTransactionenvelope(common.Envelope.deserializeBinary(record.envelope));
      processed.setValidationcode(record.code);
      return { status: 200, message: '', payload: processed.serializeBinary() };
    }
    if (fcn === 'GetBlockByTxID') {
      const at = this.blocks.findTx(arg ?? '');
      if (at === undefined) return fail(`no such transaction ID [${arg ?? ''}] in index`);
      return { status: 200, message: '', payload: this.blocks.at(at.block)!.block.serializeBinary() };
    }
    if (fcn === 'GetBlockByNumber') {
      const block = this.blocks.at(Number(arg));
      if (block === undefined) return fail(`block [${arg ?? ''}] not found`);
      return { status: 200, message: '', payload: block.block.serializeBinary() };
    }
    if (fcn === 'GetChainInfo') {
      const info = new common.BlockchainInfo();
      info.setHeight(this.blocks.height);
      info.setCurrentblockhash(this.blocks.at(this.blocks.height - 1)!.hash);
      info.setPreviousblockhash(this.blocks.at(this.blocks.height - 2)?.hash ?? new Uint8Array(0));
      return { status: 200, message: '', payload: info.serializeBinary() };
    }
    return fail(`unknown qscc function ${fcn ?? ''}`);
  }

  /** Gateway Evaluate: simulate on one peer, return the chaincode response; nothing is ordered. */
  async evaluate(signed: peer.SignedProposal | undefined, targetOrgs: readonly string[]): Promise<peer.Response> {
    const checked = this.#checkProposal(signed);
    const mspId = targetOrgs[0] ?? [...this.#orgs.keys()][0]!;
    if (!this.#orgs.has(mspId)) throw new Refusal(GrpcStatus.UNAVAILABLE, `no peers available in organization ${mspId}`);
    const { response } = await this.#simulate(checked, mspId);
    if (response.getStatus() >= 400) throw new Refusal(GrpcStatus.UNKNOWN, `evaluate call to endorser returned error: chaincode response ${response.getStatus()}, ${response.getMessage()}`, mspId);
    return response;
  }

  /** Simulates a checked proposal and builds the ProposalResponsePayload a peer would sign. */
  async #simulateForEndorsement(checked: CheckedProposal, mspId: string): Promise<{ response: peer.Response; payloadBytes: Uint8Array }> {
    const { response, stub } = await this.#simulate(checked, mspId);
    if (response.getStatus() >= 400) return { response, payloadBytes: new Uint8Array(0) };
    const rwSet = new ledger.rwset.TxReadWriteSet();
    rwSet.setDataModel(ledger.rwset.TxReadWriteSet.DataModel.KV);
    // qscc reads the block store, not world state: its responses carry an empty read/write set.
    if (stub !== undefined) {
      const nsRwSet = new ledger.rwset.NsReadWriteSet();
      nsRwSet.setNamespace(checked.context.chaincode);
      nsRwSet.setRwset(encodeKvRwSet(stub.simulation));
      rwSet.setNsRwsetList([nsRwSet]);
    }
    const chaincodeId = new peer.ChaincodeID();
    chaincodeId.setName(checked.context.chaincode);
    chaincodeId.setVersion('1.0');
    const action = new peer.ChaincodeAction();
    action.setResults(rwSet.serializeBinary());
    action.setResponse(response);
    action.setChaincodeId(chaincodeId);
    const event = stub?.simulation.event;
    if (event !== undefined) {
      const proto = new peer.ChaincodeEvent();
      proto.setChaincodeId(checked.context.chaincode);
      proto.setTxId(checked.context.txId);
      proto.setEventName(event.name);
      proto.setPayload(event.payload);
      action.setEvents(proto.serializeBinary());
    }
    const responsePayload = new peer.ProposalResponsePayload();
    responsePayload.setProposalHash(checked.proposalHash);
    responsePayload.setExtension$(action.serializeBinary());
    return { response, payloadBytes: responsePayload.serializeBinary() };
  }

  /** One organisation's peer signs payload ‖ endorser. */
  #endorsement(mspId: string, payloadBytes: Uint8Array): peer.Endorsement {
    const endorser = this.#orgs.get(mspId)!.peer;
    const endorsement = new peer.Endorsement();
    endorsement.setEndorser(endorser.serialized);
    endorsement.setSignature(signFabric(endorser.privateKey, Buffer.concat([payloadBytes, endorser.serialized])));
    return endorsement;
  }

  /**
   * The legacy Endorser service (ProcessProposal), as one organisation's peer: simulate and sign.
   * A chaincode error is a 500 response with no endorsement, as a real peer answers.
   */
  async processProposal(signed: peer.SignedProposal, mspId: string): Promise<peer.ProposalResponse> {
    const checked = this.#checkProposal(signed);
    const proposalResponse = new peer.ProposalResponse();
    proposalResponse.setVersion(1);
    const { response, payloadBytes } = await this.#simulateForEndorsement(checked, mspId);
    proposalResponse.setResponse(response);
    if (response.getStatus() >= 400) return proposalResponse;
    proposalResponse.setPayload(payloadBytes);
    proposalResponse.setEndorsement(this.#endorsement(mspId, payloadBytes));
    return proposalResponse;
  }

  /** Checks a signed envelope of a Deliver request (creator known, signature valid) and returns its SeekInfo. */
  checkSeekEnvelope(envelope: common.Envelope): orderer.SeekInfo {
    let payload: common.Payload, channelHeader: common.ChannelHeader, signatureHeader: common.SignatureHeader;
    try {
      payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
      channelHeader = common.ChannelHeader.deserializeBinary(payload.getHeader()!.getChannelHeader_asU8());
      signatureHeader = common.SignatureHeader.deserializeBinary(payload.getHeader()!.getSignatureHeader_asU8());
    } catch (cause) {
      throw new Refusal(GrpcStatus.INVALID_ARGUMENT, `malformed deliver request: ${(cause as Error).message}`);
    }
    if (channelHeader.getChannelId() !== this.channel) throw new Refusal(GrpcStatus.NOT_FOUND, `channel ${channelHeader.getChannelId()} not found`);
    const creator = this.#identity(signatureHeader.getCreator_asU8());
    if (!verifyFabricSignature(creator.certificate, envelope.getPayload_asU8(), envelope.getSignature_asU8())) {
      throw new Refusal(GrpcStatus.PERMISSION_DENIED, 'access denied: the deliver request signature does not verify');
    }
    return orderer.SeekInfo.deserializeBinary(payload.getData_asU8());
  }

  /**
   * Gateway Endorse: simulate once, have each chosen organisation's peer sign the proposal response,
   * and return the unsigned transaction envelope. Without `endorsingOrgs` the gateway asks every
   * organisation the chaincode's policy names, as discovery would plan it.
   */
  async endorse(signed: peer.SignedProposal | undefined, endorsingOrgs: readonly string[]): Promise<common.Envelope> {
    const checked = this.#checkProposal(signed);
    if (checked.context.chaincode === 'qscc') throw new Refusal(GrpcStatus.FAILED_PRECONDITION, 'qscc transactions are evaluated, not endorsed');
    const orgs = endorsingOrgs.length > 0 ? endorsingOrgs : policyMsps(this.#chaincodes.get(checked.context.chaincode)!.policy);
    for (const mspId of orgs) if (!this.#orgs.has(mspId)) throw new Refusal(GrpcStatus.UNAVAILABLE, `no peers available in organization ${mspId}`);
    // Every endorsing peer runs the chaincode itself; like the real gateway, refuse when their
    // responses differ (non-deterministic chaincode: clocks, randomness, map iteration order).
    const { response, payloadBytes } = await this.#simulateForEndorsement(checked, orgs[0]!);
    if (response.getStatus() >= 400) throw new Refusal(GrpcStatus.ABORTED, `chaincode response ${response.getStatus()}, ${response.getMessage()}`, orgs[0]);
    for (const mspId of orgs.slice(1)) {
      const other = await this.#simulateForEndorsement(checked, mspId);
      if (Buffer.compare(other.payloadBytes, payloadBytes) !== 0) {
        throw new Refusal(GrpcStatus.ABORTED, `ProposalResponsePayloads do not match: ${orgs[0]!} and ${mspId} simulated different results (non-deterministic chaincode)`, mspId);
      }
    }
    const endorsements = orgs.map((mspId) => this.#endorsement(mspId, payloadBytes));
    const endorsed = new peer.ChaincodeEndorsedAction();
    endorsed.setProposalResponsePayload(payloadBytes);
    endorsed.setEndorsementsList(endorsements);
    const actionPayload = new peer.ChaincodeActionPayload();
    actionPayload.setChaincodeProposalPayload(checked.payloadForTx);
    actionPayload.setAction(endorsed);
    const txAction = new peer.TransactionAction();
    txAction.setHeader(checked.signatureHeader);
    txAction.setPayload(actionPayload.serializeBinary());
    const transaction = new peer.Transaction();
    transaction.setActionsList([txAction]);
    const txPayload = new common.Payload();
    txPayload.setHeader(checked.header);
    txPayload.setData(transaction.serializeBinary());
    const envelope = new common.Envelope();
    envelope.setPayload(txPayload.serializeBinary());
    return envelope;
  }

  /**
   * Gateway Submit (the orderer's Broadcast): accepts an envelope signed by its creator into the
   * ordering queue; the block is cut on the next turn of the event loop or when the batch is full.
   */
  submit(txId: string, envelope: common.Envelope | undefined): void {
    if (envelope === undefined) throw new Refusal(GrpcStatus.INVALID_ARGUMENT, 'a prepared transaction is required');
    let creator: VerifiedIdentity;
    try {
      const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
      const signatureHeader = common.SignatureHeader.deserializeBinary(payload.getHeader()!.getSignatureHeader_asU8());
      creator = this.#identity(signatureHeader.getCreator_asU8());
    } catch (error) {
      if (error instanceof Refusal) throw error;
      throw new Refusal(GrpcStatus.INVALID_ARGUMENT, `malformed transaction envelope: ${(error as Error).message}`);
    }
    if (!verifyFabricSignature(creator.certificate, envelope.getPayload_asU8(), envelope.getSignature_asU8())) {
      throw new Refusal(GrpcStatus.PERMISSION_DENIED, 'the orderer refused the envelope: its signature does not verify under the creator certificate');
    }
    this.#queue.push({ txId, envelope: envelope.serializeBinary() });
    if (!this.#ordering) return;
    if (this.#queue.length >= this.#batchSize) this.cutBlock();
    else if (!this.#cutScheduled) {
      this.#cutScheduled = true;
      setImmediate(() => {
        this.#cutScheduled = false;
        this.cutBlock();
      });
    }
  }

  /**
   * Stops (false) or restarts (true) cutting blocks: submitted transactions wait in the orderer's
   * queue, as behind a stalled orderer. Restarting cuts what waited. For fault tests.
   */
  setOrdering(running: boolean): void {
    this.#ordering = running;
    if (running) while (this.cutBlock() !== undefined);
  }

  /** Orders the queued transactions into the next block, validates and commits it. */
  cutBlock(): StoredBlock | undefined {
    if (this.#queue.length === 0) return undefined;
    const batch = this.#queue.splice(0, this.#batchSize);
    const number = this.blocks.height;
    const seen = new Set<string>();
    const records = batch.map((item, index) => this.#validate(item.envelope, number, index, seen));
    const stored = this.blocks.append(records);
    for (const listener of this.#listeners) listener(stored);
    for (const record of records) {
      const waiters = this.#waiters.get(record.txId);
      if (waiters === undefined) continue;
      this.#waiters.delete(record.txId);
      const first = this.blocks.findTx(record.txId)!;
      const committed = this.blocks.at(first.block)!.txs[first.tx]!;
      for (const resolve of waiters) resolve({ block: first.block, code: committed.code });
    }
    if (this.#queue.length > 0) this.cutBlock();
    return stored;
  }

  #validate(envelopeBytes: Uint8Array, blockNumber: number, txIndex: number, seen: Set<string>): TxRecord {
    let txId = '';
    const invalid = (code: number): TxRecord => ({ txId, code, envelope: envelopeBytes });
    let payload: common.Payload, channelHeader: common.ChannelHeader, signatureHeader: common.SignatureHeader;
    let actionPayload: peer.ChaincodeActionPayload, responsePayloadBytes: Uint8Array, action: peer.ChaincodeAction;
    const envelope = common.Envelope.deserializeBinary(envelopeBytes);
    try {
      payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
      channelHeader = common.ChannelHeader.deserializeBinary(payload.getHeader()!.getChannelHeader_asU8());
      signatureHeader = common.SignatureHeader.deserializeBinary(payload.getHeader()!.getSignatureHeader_asU8());
      txId = channelHeader.getTxId();
      const transaction = peer.Transaction.deserializeBinary(payload.getData_asU8());
      const txAction = transaction.getActionsList()[0]!;
      actionPayload = peer.ChaincodeActionPayload.deserializeBinary(txAction.getPayload_asU8());
      responsePayloadBytes = actionPayload.getAction()!.getProposalResponsePayload_asU8();
      action = peer.ChaincodeAction.deserializeBinary(peer.ProposalResponsePayload.deserializeBinary(responsePayloadBytes).getExtension_asU8());
    } catch {
      return invalid(Code.BAD_PAYLOAD);
    }
    if (channelHeader.getChannelId() !== this.channel || channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) return invalid(Code.BAD_COMMON_HEADER);
    let creator: VerifiedIdentity;
    try {
      creator = this.#identify(signatureHeader.getCreator_asU8());
    } catch {
      return invalid(Code.BAD_CREATOR_SIGNATURE);
    }
    if (!verifyFabricSignature(creator.certificate, envelope.getPayload_asU8(), envelope.getSignature_asU8())) return invalid(Code.BAD_CREATOR_SIGNATURE);
    if (txId !== computeTxId(signatureHeader.getNonce_asU8(), signatureHeader.getCreator_asU8())) return invalid(Code.BAD_PROPOSAL_TXID);
    if (seen.has(txId) || this.blocks.findTx(txId) !== undefined) return invalid(Code.DUPLICATE_TXID);
    seen.add(txId);

    const chaincode = action.getChaincodeId()?.getName() ?? '';
    const definition = this.#chaincodes.get(chaincode);
    if (definition === undefined) return invalid(Code.INVALID_CHAINCODE);
    const signers = new Map<string, VerifiedIdentity>();
    for (const endorsement of actionPayload.getAction()!.getEndorsementsList()) {
      try {
        const endorser = this.#identify(endorsement.getEndorser_asU8());
        if (!verifyFabricSignature(endorser.certificate, Buffer.concat([responsePayloadBytes, endorsement.getEndorser_asU8()]), endorsement.getSignature_asU8())) continue;
        signers.set(Buffer.from(endorsement.getEndorser_asU8()).toString('base64'), endorser);
      } catch {
        continue;
      }
    }
    if (!policySatisfied(definition.policy, [...signers.values()])) return invalid(Code.ENDORSEMENT_POLICY_FAILURE);

    const rwSet = ledger.rwset.TxReadWriteSet.deserializeBinary(action.getResults_asU8());
    const writes: { ns: string; list: { key: string; value: Uint8Array | undefined }[] }[] = [];
    for (const ns of rwSet.getNsRwsetList()) {
      const set = kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8());
      const namespace = ns.getNamespace();
      for (const read of set.getReadsList()) {
        const current = this.state.get(namespace, read.getKey())?.version;
        const readVersion = read.getVersion();
        const same = current === undefined ? readVersion === undefined : readVersion !== undefined && readVersion.getBlockNum() === current.block && readVersion.getTxNum() === current.tx;
        if (!same) return invalid(Code.MVCC_READ_CONFLICT);
      }
      for (const range of set.getRangeQueriesInfoList()) {
        const now = this.state.range(namespace, range.getStartKey(), range.getEndKey());
        const then = range.getRawReads()?.getKvReadsList() ?? [];
        const same =
          now.length === then.length &&
          now.every((row, i) => {
            const read = then[i]!;
            return read.getKey() === row.key && read.getVersion()?.getBlockNum() === row.entry.version.block && read.getVersion()?.getTxNum() === row.entry.version.tx;
          });
        if (!same) return invalid(Code.PHANTOM_READ_CONFLICT);
      }
      writes.push({ ns: namespace, list: set.getWritesList().map((write) => ({ key: write.getKey(), value: write.getIsDelete() ? undefined : write.getValue_asU8() })) });
    }
    for (const write of writes) this.state.apply(write.ns, write.list, { block: blockNumber, tx: txIndex });
    const eventBytes = action.getEvents_asU8();
    if (eventBytes.length === 0) return { txId, code: Code.VALID, envelope: envelopeBytes };
    const event = peer.ChaincodeEvent.deserializeBinary(eventBytes);
    return { txId, code: Code.VALID, envelope: envelopeBytes, event: { chaincode: event.getChaincodeId(), name: event.getEventName(), payload: event.getPayload_asU8() } };
  }

  /** Gateway CommitStatus: waits until the transaction is in a block; checks the request's signature. */
  commitStatus(signed: gateway.SignedCommitStatusRequest): Promise<{ block: number; code: number }> {
    const request = gateway.CommitStatusRequest.deserializeBinary(signed.getRequest_asU8());
    this.#checkSignedRequest(request.getIdentity_asU8(), signed.getRequest_asU8(), signed.getSignature_asU8());
    if (request.getChannelId() !== this.channel) throw new Refusal(GrpcStatus.NOT_FOUND, `channel ${request.getChannelId()} not found`);
    const txId = request.getTransactionId();
    const at = this.blocks.findTx(txId);
    if (at !== undefined) return Promise.resolve({ block: at.block, code: this.blocks.at(at.block)!.txs[at.tx]!.code });
    return new Promise((resolve) => {
      const list = this.#waiters.get(txId) ?? [];
      list.push(resolve);
      this.#waiters.set(txId, list);
    });
  }

  #checkSignedRequest(identity: Uint8Array, request: Uint8Array, signature: Uint8Array): void {
    const signer = this.#identity(identity);
    if (!verifyFabricSignature(signer.certificate, request, signature)) throw new Refusal(GrpcStatus.PERMISSION_DENIED, 'access denied: the request signature does not verify');
  }

  /** Checks a signed chaincode-events request and returns it decoded. */
  checkEventsRequest(signed: gateway.SignedChaincodeEventsRequest): gateway.ChaincodeEventsRequest {
    const request = gateway.ChaincodeEventsRequest.deserializeBinary(signed.getRequest_asU8());
    this.#checkSignedRequest(request.getIdentity_asU8(), signed.getRequest_asU8(), signed.getSignature_asU8());
    if (request.getChannelId() !== this.channel) throw new Refusal(GrpcStatus.NOT_FOUND, `channel ${request.getChannelId()} not found`);
    return request;
  }

  /** Calls `listener` with every block committed from now on, until the returned function is called. */
  onBlock(listener: (block: StoredBlock) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
