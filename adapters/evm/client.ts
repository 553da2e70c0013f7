/**
 * The connection to an EVM node: an ethers v6 JsonRpcProvider and the signer capability.
 *
 * The provider is built with the chain id pinned when it is known (no network detection round trip,
 * and a node on another chain is refused instead of silently followed) and with ethers' response
 * cache off: the watcher and the submitter decide from the node's current answer, and a block number
 * cached for 250 ms would make a reorg or a freshly mined block invisible to them.
 *
 * The signer is a capability, not a wallet class: anything that has an address and signs a
 * transaction request (an ethers Wallet, a KMS or HSM wrapper) will do.
 */
import { JsonRpcProvider, Network, Wallet, type TransactionRequest } from 'ethers';

export interface EvmSigner {
  /** The 0x-prefixed account address. */
  readonly address: string;
  /** The signed, serialized transaction (0x hex) for a fully populated request. */
  signTransaction(tx: TransactionRequest): Promise<string>;
}

export interface EvmProviderOptions {
  /** EIP-155 chain id; when given, the node must be on this chain. */
  readonly chainId?: bigint;
  /** How often ethers polls for its own subscriptions (ms). */
  readonly pollingIntervalMs?: number;
}

export function evmProvider(rpcUrl: string, options: EvmProviderOptions = {}): JsonRpcProvider {
  const network = options.chainId === undefined ? undefined : Network.from(options.chainId);
  return new JsonRpcProvider(rpcUrl, network, {
    ...(network === undefined ? {} : { staticNetwork: network }),
    cacheTimeout: -1,
    pollingInterval: options.pollingIntervalMs ?? 1000,
  });
}

/** A signer from a 32-byte hex private key (0x optional). */
export function signerFromKey(privateKey: string): EvmSigner {
  return new Wallet(privateKey.startsWith('0x') ? privateKey : '0x' + privateKey);
}
