/** Relayers: certified decisions for outside systems, and the evidence verifiers per source kind. */
export * from './decision.ts';
export * from './evm/index.ts';
export * from './fabric/index.ts';
