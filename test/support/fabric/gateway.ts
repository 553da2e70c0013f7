/** A raw fabric-gateway connection for one identity of the emulator, for tests that drive the client API directly. */
import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type Contract } from '@hyperledger/fabric-gateway';
import type { FabricCredentials } from './ca.ts';

export interface GatewayContract {
  readonly contract: Contract;
  /** Closes the gateway and its gRPC connection. */
  close(): void;
}

/** Connects `credentials` to the peer at `endpoint` and returns `chaincode` on `channel`. */
export function gatewayContract(endpoint: string, channel: string, credentials: FabricCredentials, chaincode: string): GatewayContract {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  const gateway = connect({
    client,
    identity: { mspId: credentials.mspId, credentials: new TextEncoder().encode(credentials.certificatePem) },
    signer: signers.newPrivateKeySigner(credentials.privateKey),
    hash: hash.sha256,
  });
  return {
    contract: gateway.getNetwork(channel).getContract(chaincode),
    close() {
      gateway.close();
      client.close();
    },
  };
}
