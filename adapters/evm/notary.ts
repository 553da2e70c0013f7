/**
 * A notary: attests that an EVM block is final, for the evidence verifier in relayers/evm.
 *
 * It signs (chainId, blockNumber, blockHash) only once the block is `depth` blocks below the head it
 * sees, and only for the hash that is canonical at that number: asked about a hash that is not (a
 * relayer offering a block from a dropped fork), it refuses with EVM_NOT_FINAL. What is signed and
 * how is relayers/evm `evmNotaryDigest`; the key is a capability (`sign`), so it may live in an HSM.
 */
import type { JsonRpcProvider } from 'ethers';
import { LoulanError, fromHex, secp256k1SignDigest, toBase64url, toHex } from '../../core-chain/index.ts';
import { evmNotaryDigest } from '../../relayers/evm/index.ts';
import type { Sig } from '../../schemas/index.ts';

export interface EvmNotaryOptions {
  readonly provider: JsonRpcProvider;
  /** EIP-155 chain id of the chain this notary watches. */
  readonly chainId: bigint;
  /** Key id registered for this notary, e.g. `cn.loulan.notary.n1#k1`. */
  readonly kid: string;
  /** Signs a 32-byte digest: 65 bytes r ‖ s ‖ v (v in {0,1}, low-S). */
  readonly sign: (digest: Uint8Array) => Promise<Uint8Array>;
  /** Blocks that must be on top of a block before it is attested. */
  readonly depth: number;
}

export interface EvmNotaryService {
  readonly kid: string;
  /** The attestation of block `blockNumber`; with `blockHash`, only if that is the canonical block there. */
  attest(blockNumber: bigint, blockHash?: Uint8Array): Promise<Sig>;
}

export function createEvmNotary(options: EvmNotaryOptions): EvmNotaryService {
  const { provider, chainId, kid, depth } = options;
  if (!Number.isSafeInteger(depth) || depth < 0) throw new LoulanError('CONFIG_INVALID', 'notary depth must be a non-negative integer', { details: { field: 'depth' } });
  return {
    kid,
    async attest(blockNumber, blockHash) {
      const head = BigInt((await provider.send('eth_blockNumber', [])) as string);
      if (head - blockNumber < BigInt(depth)) {
        throw new LoulanError('EVM_NOT_FINAL', `block ${blockNumber} has ${head - blockNumber} of the ${depth} blocks on top it needs`, {
          details: { blockNumber, head, depth, reason: 'depth' },
        });
      }
      const block = (await provider.send('eth_getBlockByNumber', ['0x' + blockNumber.toString(16), false])) as { hash: string } | null;
      if (block === null) throw new LoulanError('EVM_NOT_FINAL', `no block ${blockNumber}`, { details: { blockNumber, reason: 'missing' } });
      const canonical = fromHex(block.hash.slice(2).toLowerCase(), 32);
      if (blockHash !== undefined && toHex(blockHash) !== toHex(canonical)) {
        throw new LoulanError('EVM_NOT_FINAL', `block ${blockNumber} is not ${toHex(blockHash)} on the canonical chain`, {
          details: { blockNumber, reason: 'not-canonical', canonical: toHex(canonical) },
        });
      }
      const signature = await options.sign(evmNotaryDigest(chainId, blockNumber, canonical));
      return { alg: 'ES256K', kid, value: toBase64url(signature) };
    },
  };
}

/** A `sign` capability from a raw 32-byte secp256k1 private key. */
export function notarySignerFromKey(privateKey: Uint8Array): (digest: Uint8Array) => Promise<Uint8Array> {
  return async (digest) => secp256k1SignDigest(privateKey, digest);
}
