/**
 * The core chain's public surface. Everything above the core chain (switch, adapters, relayers, the
 * CLI) imports from here and nowhere else in this folder.
 */
export * from './errors.ts';
export * from './codec/index.ts';
export * from './crypto/index.ts';
export { CoreClient, type CoreClientOptions, type SubmitOptions, type SubscribeOptions, type BatchResult } from './client.ts';
export * from './verify/index.ts';
export { proofFromJson, proofToJson, type SparseProofJson } from './smt/proof.ts';
