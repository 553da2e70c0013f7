/**
 * The pre-Gateway services of the emulated network, for Fabric 1.4/2.2 clients (fabric-network):
 * each organisation's peer serves `protos.Endorser` (ProcessProposal, signed with that peer's key)
 * and `protos.Deliver` (full and filtered blocks from a seek position), and the orderer serves
 * `orderer.AtomicBroadcast` (Broadcast). They share the network core with the Gateway service, so a
 * transaction endorsed one way validates, commits and emits events exactly like one endorsed the other.
 *
 * Deliver follows the peer's rules: the request is a signed envelope whose payload holds a SeekInfo;
 * blocks from `start` to `stop` are streamed, then a SUCCESS status ends the stream; with
 * BLOCK_UNTIL_READY the stream waits for blocks not yet committed, with FAIL_IF_NOT_READY a start past
 * the tip answers NOT_FOUND.
 */
import * as grpc from '@grpc/grpc-js';
import { common, orderer, peer } from '@hyperledger/fabric-protos';
import type { StoredBlock } from './ledger.ts';
import { Refusal, type FabricNetwork } from './network.ts';

type DeliverKind = 'full' | 'filtered';

function filteredBlock(network: FabricNetwork, stored: StoredBlock): peer.FilteredBlock {
  const block = new peer.FilteredBlock();
  block.setChannelId(network.channel);
  block.setNumber(stored.block.getHeader()!.getNumber());
  block.setFilteredTransactionsList(
    stored.txs.map((tx) => {
      const filtered = new peer.FilteredTransaction();
      filtered.setTxid(tx.txId);
      filtered.setType(common.HeaderType.ENDORSER_TRANSACTION);
      filtered.setTxValidationCode(tx.code as never);
      const actions = new peer.FilteredTransactionActions();
      if (tx.event !== undefined) {
        const event = new peer.ChaincodeEvent();
        event.setChaincodeId(tx.event.chaincode);
        event.setTxId(tx.txId);
        event.setEventName(tx.event.name);
        const action = new peer.FilteredChaincodeAction();
        action.setChaincodeEvent(event);
        actions.setChaincodeActionsList([action]);
      }
      filtered.setTransactionActions(actions);
      return filtered;
    }),
  );
  return block;
}

function statusResponse(status: number): peer.DeliverResponse {
  const response = new peer.DeliverResponse();
  response.setStatus(status as never);
  return response;
}

/** The block number a seek position names, given the current height. */
function seekNumber(position: orderer.SeekPosition | undefined, height: number, fallback: number): number {
  switch (position?.getTypeCase()) {
    case orderer.SeekPosition.TypeCase.SPECIFIED:
      return position.getSpecified()!.getNumber();
    case orderer.SeekPosition.TypeCase.OLDEST:
      return 0;
    case orderer.SeekPosition.TypeCase.NEWEST:
      return height - 1;
    case orderer.SeekPosition.TypeCase.NEXT_COMMIT:
      return height;
    default:
      return fallback;
  }
}

function deliverHandler(network: FabricNetwork, kind: DeliverKind): grpc.handleBidiStreamingCall<common.Envelope, peer.DeliverResponse> {
  return (call) => {
    let stopListening: (() => void) | undefined;
    const end = (): void => {
      stopListening?.();
      stopListening = undefined;
    };
    call.on('cancelled', end);
    call.on('error', end);
    call.on('end', () => {
      end();
      call.end();
    });
    call.on('data', (envelope: common.Envelope) => {
      end();
      let seek: orderer.SeekInfo;
      try {
        seek = network.checkSeekEnvelope(envelope);
      } catch (error) {
        const refusal = error instanceof Refusal ? error : undefined;
        call.write(statusResponse(refusal?.grpcCode === grpc.status.NOT_FOUND ? common.Status.NOT_FOUND : common.Status.FORBIDDEN));
        return;
      }
      const height = network.blocks.height;
      let next = seekNumber(seek.getStart(), height, height);
      const stop = seekNumber(seek.getStop(), height, Number.MAX_SAFE_INTEGER);
      if (next > height - 1 && seek.getBehavior() === orderer.SeekInfo.SeekBehavior.FAIL_IF_NOT_READY) {
        call.write(statusResponse(common.Status.NOT_FOUND));
        return;
      }
      const send = (stored: StoredBlock): boolean => {
        const response = new peer.DeliverResponse();
        if (kind === 'full') response.setBlock(stored.block);
        else response.setFilteredBlock(filteredBlock(network, stored));
        call.write(response);
        next = stored.block.getHeader()!.getNumber() + 1;
        if (next > stop) {
          call.write(statusResponse(common.Status.SUCCESS));
          return false;
        }
        return true;
      };
      while (next < network.blocks.height) if (!send(network.blocks.at(next)!)) return;
      stopListening = network.onBlock((stored) => {
        if (stored.block.getHeader()!.getNumber() < next) return;
        if (!send(stored)) end();
      });
    });
  };
}

/** `protos.Deliver` for one peer. */
export function deliverService(network: FabricNetwork): grpc.UntypedServiceImplementation {
  return {
    deliver: deliverHandler(network, 'full'),
    deliverFiltered: deliverHandler(network, 'filtered'),
    deliverWithPrivateData: (call: grpc.ServerDuplexStream<common.Envelope, peer.DeliverResponse>) => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'private data is not supported by the emulator' });
    },
  };
}

/** `protos.Endorser` for the peer of `mspId`. */
export function endorserService(network: FabricNetwork, mspId: string): grpc.UntypedServiceImplementation {
  const processProposal: grpc.handleUnaryCall<peer.SignedProposal, peer.ProposalResponse> = (call, callback) => {
    network.processProposal(call.request, mspId).then(
      (response) => callback(null, response),
      (error: unknown) => {
        // A real peer answers a refused proposal with an error response, not a gRPC failure.
        const response = new peer.ProposalResponse();
        const inner = new peer.Response();
        inner.setStatus(500);
        inner.setMessage(error instanceof Error ? error.message : String(error));
        response.setResponse(inner);
        callback(null, response);
      },
    );
  };
  return { processProposal };
}

/** `orderer.AtomicBroadcast` (Broadcast only; peers serve Deliver). */
export function broadcastService(network: FabricNetwork): grpc.UntypedServiceImplementation {
  const broadcast: grpc.handleBidiStreamingCall<common.Envelope, orderer.BroadcastResponse> = (call) => {
    call.on('data', (envelope: common.Envelope) => {
      const response = new orderer.BroadcastResponse();
      try {
        const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
        const txId = common.ChannelHeader.deserializeBinary(payload.getHeader()!.getChannelHeader_asU8()).getTxId();
        network.submit(txId, envelope);
        response.setStatus(common.Status.SUCCESS);
      } catch (error) {
        const forbidden = error instanceof Refusal && error.grpcCode === grpc.status.PERMISSION_DENIED;
        response.setStatus(forbidden ? common.Status.FORBIDDEN : common.Status.BAD_REQUEST);
        response.setInfo(error instanceof Error ? error.message : String(error));
      }
      call.write(response);
    });
    call.on('end', () => call.end());
  };
  return {
    broadcast,
    deliver: (call: grpc.ServerDuplexStream<common.Envelope, orderer.DeliverResponse>) => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'deliver from the peers' });
    },
  };
}
