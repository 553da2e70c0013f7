/** The adapters' public surface: the one interface every kind implements, and each kind's factory. */
export type { Adapter, AdapterFactory, AdapterHealth, AdapterTarget, DeliveryOutcome, DeliveryRequest, WatchedEvent } from './adapter.ts';
export * from './loopback/index.ts';
export * from './rest/index.ts';
export { createEvmAdapter, evmAdapterFactory, deployGateway, type CertifiedDecisionJson, type EvmAdapterOptions, type GatewayDeployment } from './evm/index.ts';
export { createFabricAdapter, fabricAdapterFactory, type FabricAdapterOptions } from './fabric/index.ts';
export { createCoreAdapter, type CoreAdapterOptions } from './core/adapter.ts';
