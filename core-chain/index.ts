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
export type {
  BlockView,
  CertificateView,
  EventView,
  HeaderView,
  ListStateOptions,
  NodeEvent,
  NodeStatus,
  StatePage,
  SubmitResult,
  TxReceiptView,
  TxStatus,
} from './client.ts';

// Building and signing transactions, and reading what contracts write and emit (decodeEvent turns an
// EventView's `encoded` back into contract, type and data for the contract's own event decoder).
export { txSigningBytes, MAX_TX_BYTES } from './ledger/tx.ts';
export { decodeEvent, encodeEvent, type LedgerEvent } from './ledger/events.ts';
export { decodeHeader, encodeHeader, type Header } from './ledger/block.ts';
export {
  REGISTRY_CONTRACT,
  decodeAddrRecord,
  decodeParticipant,
  decodeSchemaRecord,
  encodeAddParticipantArgs,
  encodeAddKeyArgs,
  encodeRevokeKeyArgs,
  encodeRegisterSchemaArgs,
  registryAddrKey,
  registryParticipantKey,
  registrySchemaKey,
  type AddrRecord,
  type Participant,
  type ParticipantKey,
  type SchemaRecord,
} from './ledger/contracts/registry.ts';
export {
  ROUTES_CONTRACT,
  ROUTE_ENTRY_PREFIX,
  ROUTE_CHANGE_PREFIX,
  ROUTES_PARAMS_KEY,
  ROUTE_TABLE_VERSION_KEY,
  MAX_LINK_BYTES,
  isRoutePrefix,
  encodeRouteProposeArgs,
  encodeRouteApproveArgs,
  decodeRouteEntry,
  decodeRouteChange,
  decodeRoutesParams,
  decodeRouteTableVersion,
  decodeRoutesEvent,
  routeEntryKey,
  routePrefixOf,
  routeChangeKey,
  type RouteOp,
  type RouteEntry,
  type RouteChange,
  type RouteChangeInput,
  type RouteChangeStatus,
  type RouteApproval,
  type RoutesEvent,
  type RoutesParams,
} from './ledger/contracts/routes.ts';
export {
  XMSG_CONTRACT,
  XMSG_BATCH_PREFIX,
  XMSG_INBOX_PREFIX,
  MAX_DELIVER_DATA_BYTES,
  encodeAnchorArgs,
  encodeDeliverArgs,
  decodeXmsgEvent,
  decodeBatchRecord,
  decodeInboxRecord,
  xmsgBatchKey,
  xmsgInboxKey,
  type AnchorArgs,
  type DeliverArgs,
  type AnchoredBatch,
  type InboxRecord,
  type XmsgEvent,
} from './ledger/contracts/xmsg.ts';
export { encodeTx, decodeTx, signTx, txHash, senderAddress, isAddress, type Tx, type UnsignedTx, type TxSender } from './ledger/tx.ts';
export { ROLES, rolesOf, roleMask, isRole, type Role } from './ledger/contracts/registry/access.ts';
export { TxSubmitter, type TxSubmitterOptions, type CallResult } from './submitter.ts';
export { httpErrorToLoulan } from './node/http-errors.ts';
