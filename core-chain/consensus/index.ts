/** The PBFT core, its wire encoding and the validator signing capability. */
export { Replica, INITIAL_SAFETY, selectFromViewChanges, type ReplicaConfig, type ReplicaInit } from './replica.ts';
export { faultBound, quorum, leaderOf } from './quorum.ts';
export { commitSigningBytes, signingBytes, type ChainBinding, type SigningInput } from './messages.ts';
export { validatorCrypto, certificateValid } from './signer.ts';
export * from './wire.ts';
export type * from './types.ts';
