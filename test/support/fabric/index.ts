/** The Fabric peer emulator for tests: start a network, issue identities, look at its ledger. */
export { startFabricEmulator, type FabricEmulator, type FabricEmulatorOptions } from './server.ts';
export { createFabricCa, type FabricCa, type FabricCredentials } from './ca.ts';
export { FabricNetwork, Refusal, computeTxId, type ChaincodeDefinition, type NetworkOrg } from './network.ts';
export { ChaincodeHost, type ContractClass } from './host.ts';
export { gatewayContract, type GatewayContract } from './gateway.ts';
