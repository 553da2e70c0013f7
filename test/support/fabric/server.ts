/**
 * The peer emulator's gRPC shell: a real `gateway.Gateway` service (Evaluate, Endorse, Submit,
 * CommitStatus, ChaincodeEvents) on 127.0.0.1, answering the real @hyperledger/fabric-gateway client.
 * Everything Fabric-specific lives in network.ts; this file only moves protobufs and maps a
 * `Refusal` onto a gRPC status with `grpc-status-details-bin` holding a `gateway.ErrorDetail`, which
 * is where the client library looks for the failing peer's organisation and message.
 *
 * Each organisation's peer is its own server (Gateway + the legacy Endorser and Deliver services of
 * legacy.ts, signing as that organisation), and the orderer another (AtomicBroadcast), so a legacy
 * client's connection profile names real, distinct endpoints.
 *
 * The emulator keeps running while clients come and go, so "resume events from a checkpoint after a
 * restart" is tested by restarting the client against the same emulator.
 */
import * as grpc from '@grpc/grpc-js';
import { gateway, google, orderer, peer } from '@hyperledger/fabric-protos';
import { createFabricCa, type FabricCa, type FabricCredentials } from './ca.ts';
import { broadcastService, deliverService, endorserService } from './legacy.ts';
import { FabricNetwork, Refusal, type ChaincodeDefinition } from './network.ts';

export interface FabricEmulatorOptions {
  /** Default `loulan`. */
  readonly channel?: string;
  /** MSP ids of the organisations, one peer each. Default Org1MSP and Org2MSP. */
  readonly orgs?: readonly string[];
  readonly chaincodes: readonly ChaincodeDefinition[];
  readonly batchSize?: number;
}

export interface FabricEmulator {
  /** host:port of the first organisation's peer (Gateway, Endorser and Deliver; plaintext gRPC). */
  readonly endpoint: string;
  /** host:port of each organisation's peer. */
  readonly peers: Readonly<Record<string, string>>;
  /** host:port of the orderer (AtomicBroadcast), for legacy clients. */
  readonly ordererEndpoint: string;
  readonly channel: string;
  readonly network: FabricNetwork;
  readonly cas: ReadonlyMap<string, FabricCa>;
  /** Root certificates per MSP, as the evidence verifier takes them. */
  readonly mspRoots: Readonly<Record<string, readonly string[]>>;
  /** A new client identity issued by the organisation's CA. */
  newClient(mspId: string, name?: string): Promise<FabricCredentials>;
  stop(): Promise<void>;
}

function refusalToGrpc(error: unknown): Partial<grpc.StatusObject> {
  const refusal = error instanceof Refusal ? error : new Refusal(grpc.status.INTERNAL, error instanceof Error ? error.message : String(error));
  const detail = new gateway.ErrorDetail();
  detail.setAddress('peer0.emulator');
  detail.setMspId(refusal.mspId ?? '');
  detail.setMessage(refusal.message);
  const status = new google.rpc.Status();
  status.setCode(refusal.grpcCode);
  status.setMessage(refusal.message);
  // addDetails() with no argument appends a new google.protobuf.Any (no separate import needed).
  const any = status.addDetails();
  any.setTypeUrl('type.googleapis.com/gateway.ErrorDetail');
  any.setValue(detail.serializeBinary());
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(status.serializeBinary()));
  return { code: refusal.grpcCode, details: refusal.message, metadata };
}

function unary<Req, Res>(handle: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handle(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => callback(refusalToGrpc(error)),
    );
  };
}

function gatewayService(network: FabricNetwork, mspId: string): grpc.UntypedServiceImplementation {
  const events: grpc.handleServerStreamingCall<gateway.SignedChaincodeEventsRequest, gateway.ChaincodeEventsResponse> = (call) => {
    let request: gateway.ChaincodeEventsRequest;
    try {
      request = network.checkEventsRequest(call.request);
    } catch (error) {
      call.emit('error', refusalToGrpc(error));
      return;
    }
    const chaincode = request.getChaincodeId();
    const position = request.getStartPosition();
    const height = network.blocks.height;
    let next: number;
    switch (position?.getTypeCase()) {
      case orderer.SeekPosition.TypeCase.SPECIFIED:
        next = position.getSpecified()!.getNumber();
        break;
      case orderer.SeekPosition.TypeCase.OLDEST:
        next = 0;
        break;
      case orderer.SeekPosition.TypeCase.NEWEST:
        next = height - 1;
        break;
      default:
        next = height;
    }
    const startBlock = next;
    let skipUntil = request.getAfterTransactionId();
    const send = (number: number): void => {
      const stored = network.blocks.at(number)!;
      let txs = stored.txs;
      if (number === startBlock && skipUntil !== '') {
        const index = txs.findIndex((tx) => tx.txId === skipUntil);
        if (index >= 0) txs = txs.slice(index + 1);
        skipUntil = '';
      }
      const list = txs.flatMap((tx) => {
        if (tx.event === undefined || tx.event.chaincode !== chaincode) return [];
        const event = new peer.ChaincodeEvent();
        event.setChaincodeId(tx.event.chaincode);
        event.setTxId(tx.txId);
        event.setEventName(tx.event.name);
        event.setPayload(tx.event.payload);
        return [event];
      });
      if (list.length === 0) return;
      const response = new gateway.ChaincodeEventsResponse();
      response.setBlockNumber(number);
      response.setEventsList(list);
      call.write(response);
    };
    for (; next < network.blocks.height; next++) send(next);
    const stop = network.onBlock((block) => {
      const number = block.block.getHeader()!.getNumber();
      if (number >= next) {
        send(number);
        next = number + 1;
      }
    });
    call.on('cancelled', stop);
    call.on('close', stop);
  };
  return {
    evaluate: unary(async (request: gateway.EvaluateRequest) => {
      const response = new gateway.EvaluateResponse();
      const targets = request.getTargetOrganizationsList();
      response.setResult(await network.evaluate(request.getProposedTransaction(), targets.length > 0 ? targets : [mspId]));
      return response;
    }),
    endorse: unary(async (request: gateway.EndorseRequest) => {
      const response = new gateway.EndorseResponse();
      response.setPreparedTransaction(await network.endorse(request.getProposedTransaction(), request.getEndorsingOrganizationsList()));
      return response;
    }),
    submit: unary(async (request: gateway.SubmitRequest) => {
      network.submit(request.getTransactionId(), request.getPreparedTransaction());
      return new gateway.SubmitResponse();
    }),
    commitStatus: unary(async (request: gateway.SignedCommitStatusRequest) => {
      const { block, code } = await network.commitStatus(request);
      const response = new gateway.CommitStatusResponse();
      response.setResult(code as never);
      response.setBlockNumber(block);
      return response;
    }),
    chaincodeEvents: events,
  };
}

/**
 * Starts an emulated Fabric network with one CA and one peer per organisation, serving the Gateway
 * API on an ephemeral port of 127.0.0.1. Always `stop()` it in afterAll.
 *
 * @example
 * const fabric = await startFabricEmulator({ chaincodes: [{ name: 'basic', contracts: [AssetContract], policy: "AND('Org1MSP.peer','Org2MSP.peer')" }] });
 * const user = await fabric.newClient('Org1MSP');
 */
export async function startFabricEmulator(options: FabricEmulatorOptions): Promise<FabricEmulator> {
  const channel = options.channel ?? 'loulan';
  const mspIds = options.orgs ?? ['Org1MSP', 'Org2MSP'];
  const cas = new Map<string, FabricCa>();
  const orgs = [];
  for (const mspId of mspIds) {
    const ca = await createFabricCa(mspId);
    cas.set(mspId, ca);
    orgs.push({ mspId, rootCertificatePem: ca.rootCertificatePem, peer: await ca.issue(`peer0.${mspId.toLowerCase()}`, 'peer') });
  }
  const network = new FabricNetwork({ channel, orgs, chaincodes: options.chaincodes, ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }) });
  const servers: grpc.Server[] = [];
  const listen = async (server: grpc.Server): Promise<string> => {
    servers.push(server);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error)));
    });
    return `127.0.0.1:${port}`;
  };
  // One server per organisation's peer (every Fabric 2.4+ peer also hosts the Gateway), one orderer.
  const peers: Record<string, string> = {};
  for (const { mspId } of orgs) {
    const server = new grpc.Server();
    server.addService(gateway.GatewayService, gatewayService(network, mspId));
    server.addService(peer.EndorserService, endorserService(network, mspId));
    server.addService(peer.DeliverService, deliverService(network));
    peers[mspId] = await listen(server);
  }
  const ordererServer = new grpc.Server();
  ordererServer.addService(orderer.AtomicBroadcastService, broadcastService(network));
  const ordererEndpoint = await listen(ordererServer);
  let clients = 0;
  return {
    endpoint: peers[orgs[0]!.mspId]!,
    peers,
    ordererEndpoint,
    channel,
    network,
    cas,
    mspRoots: network.mspRoots(),
    async newClient(mspId, name) {
      const ca = cas.get(mspId);
      if (ca === undefined) throw new Error(`no organisation ${mspId}`);
      return ca.issue(name ?? `user${++clients}@${mspId.toLowerCase()}`, 'client');
    },
    // Open event streams would hold a graceful shutdown forever.
    stop: async () => {
      for (const server of servers) server.forceShutdown();
    },
  };
}
