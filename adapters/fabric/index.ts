/** The Fabric adapter: Gateway and legacy (fabric-network) drivers, identities, checkpoints, phase errors, and the `fabric` adapter kind. The chaincode is its own module (./chaincode). */
export { connectFabric, type CommittedTransaction, type ConfirmResult, type FabricBlock, type FabricClient, type FabricClientOptions, type FabricEvent, type SubmitResult, type TransactionOptions } from './client.ts';
export { connectLegacyFabric, type LegacyFabricClientOptions } from './legacy.ts';
export { fabricIdentity, type FabricIdentityConfig, type FabricSigningIdentity } from './identity.ts';
export { FileCheckpointer, MemoryCheckpointer, formatPosition, parsePosition, type FabricPosition } from './checkpoint.ts';
export { commitError, fabricError, validationCodeName } from './errors.ts';
export { createFabricAdapter, fabricAdapterFactory, outcomeOfFabricError, type FabricAdapterOptions } from './adapter.ts';
