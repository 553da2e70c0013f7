/**
 * The core chain's ledger: transactions, blocks, state, native contracts, execution, the mempool, and
 * the `Ledger` that the PBFT core replicates. Pure: storage and networking live in the node shell.
 */
export {
  TX_VERSION,
  TX_DOMAIN,
  ALG_CODE,
  MAX_TX_BYTES,
  MAX_ARGS_BYTES,
  MAX_NAME_BYTES,
  encodeTx,
  decodeTx,
  txHash,
  txSigningBytes,
  signTx,
  verifyTxSignature,
  senderAddress,
  isAddress,
  type Tx,
  type UnsignedTx,
  type TxSender,
} from './tx.ts';
export {
  HEADER_LENGTH,
  encodeHeader,
  decodeHeader,
  encodeBlock,
  decodeBlock,
  blockHash,
  blockDigestFromPayload,
  malformedBlockDigest,
  txRootFromHashes,
  type Header,
  type Block,
  type BlockContext,
} from './block.ts';
export { encodeEvent, decodeEvent, type LedgerEvent } from './events.ts';
export { State, StateOverlay, StateChange, type StateReader, type StateDiff } from './state.ts';
export { contractRegistry, encodeU128, decodeU128, type Contract, type ContractContext, type ContractRegistry } from './contracts.ts';
export {
  ASSET_CONTRACT,
  createAssetContract,
  encodeAssetArgs,
  encodeTransferArgs,
  encodeMintArgs,
  assetBalance,
  assetBalanceKey,
  assetGenesisEntries,
  type AssetTransferArgs,
  type AssetMintArgs,
} from './contracts/asset.ts';
export { standardContracts } from './contracts/standard.ts';
export { executeBlock, committedNonce, nonceKey, type ExecuteOptions, type ExecutionResult, type Receipt, type SkippedTx } from './executor.ts';
export { VerifiedTxCache, txKey } from './verified.ts';
export { Mempool, type MempoolOptions, type AddResult, type MempoolEntry } from './mempool.ts';
export { Ledger, type LedgerOptions, type LedgerTip, type CommitBatch, type ValidatorSetView } from './ledger.ts';
export {
  REGISTRY_CONTRACT,
  REGISTRY_ACCESS,
  ROLES,
  BUSINESS_ROLES,
  createRegistryContract,
  currentValidators,
  pendingValidatorChange,
  registryParticipant,
  registrySystem,
  registryProposal,
  registryParams,
  encodeAddParticipantArgs,
  encodeSetRolesArgs,
  encodeSetStatusArgs,
  encodeAddKeyArgs,
  encodeRevokeKeyArgs,
  encodeSystemArgs,
  encodeProposeArgs,
  encodeApproveArgs,
  type PendingValidatorChange,
  type RegistryGenesisConfig,
} from './contracts/registry.ts';
export {
  createGenesis,
  genesisFromJson,
  genesisToJson,
  parseGenesis,
  stringifyGenesis,
  genesisHash,
  genesisState,
  genesisTip,
  chainIdOf,
  validatorSetHash,
  type Genesis,
  type GenesisJson,
  type GenesisInput,
  type GenesisValidator,
} from './genesis.ts';
