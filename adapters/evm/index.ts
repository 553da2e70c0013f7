/** The EVM adapter: deploy the gateway, deliver certified decisions, watch events, build receipt evidence. */
export { createEvmAdapter, evmAdapterFactory, submitDecision, certifiedDecisionFrom, type CertifiedDecisionJson, type EvmAdapterOptions } from './adapter.ts';
export { deployGateway, deploymentToJson, DEFAULT_TOKENS, type DeployGatewayOptions, type GatewayDeployment, type TokenConfig } from './deploy.ts';
export { evmProvider, signerFromKey, type EvmSigner, type EvmProviderOptions } from './client.ts';
export { createSubmitter, DEFAULT_GAS_POLICY, type EvmCall, type EvmSubmitter, type EvmTxResult, type GasPolicy, type SubmitterOptions } from './submitter.ts';
export { createNonceManager, type NonceManager } from './nonce.ts';
export { decodeRevert, revertData, type DecodedRevert } from './errors.ts';
export { createEvmWatcher, type EvmLogEvent, type EvmRetraction, type EvmWatchEvent, type EvmWatcher, type EvmWatcherOptions, type EventHandler } from './watcher.ts';
export { fileCheckpointStore, memoryCheckpointStore, type CheckpointStore, type WatcherState } from './checkpoint.ts';
export { buildReceiptEvidence, encodeBlockHeader, encodeReceipt } from './evidence.ts';
export { createEvmNotary, notarySignerFromKey, type EvmNotaryOptions, type EvmNotaryService } from './notary.ts';
export { eventProofArg, mintArgs, holdArgs, releaseArgs, tokenIdArgs, loulanErrorFromRevert } from './codec.ts';
