/**
 * Building the evidence that an EVM log happened (verified by relayers/evm `verifyEvmEvidence`):
 * the RLP block header, the EIP-2718 receipt, and its Merkle-Patricia proof under the header's
 * receiptsRoot.
 *
 * Nothing the node says is taken on trust here either: the header is re-encoded from the block's
 * fields and must hash to the block hash, and the receipts trie is rebuilt from every receipt of the
 * block (`eth_getBlockReceipts`) and must have the header's receiptsRoot, before a proof is cut from
 * it. A node that lies, or a fork whose header layout we do not know, fails here rather than
 * producing evidence the verifier will refuse.
 *
 * Header fields are taken in the Yellow Paper order, with each fork's additions (baseFeePerGas,
 * withdrawalsRoot, blobGasUsed, excessBlobGas, parentBeaconBlockRoot, requestsHash) included when the
 * node reports them; later forks only append, so presence decides the layout.
 */
import { createMPT, createMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import type { JsonRpcProvider } from 'ethers';
import { LoulanError, equalBytes, fromHex, keccak256 } from '../../core-chain/index.ts';
import type { EvmEvidence } from '../../relayers/evm/index.ts';

/** A block as `eth_getBlockByNumber` returns it (hex strings). */
export type RpcBlock = Readonly<Record<string, unknown>> & { readonly hash: string; readonly number: string; readonly receiptsRoot: string };

/** A receipt as `eth_getBlockReceipts` / `eth_getTransactionReceipt` return it. */
export interface RpcReceipt {
  readonly type?: string;
  readonly status?: string;
  readonly cumulativeGasUsed: string;
  readonly logsBloom: string;
  readonly logs: readonly { readonly address: string; readonly topics: readonly string[]; readonly data: string; readonly logIndex?: string }[];
  readonly transactionIndex: string;
  readonly transactionHash: string;
  readonly blockHash: string;
  readonly blockNumber: string;
}

const HEADER_FIELDS: readonly (readonly [string, 'bytes' | 'quantity'])[] = [
  ['parentHash', 'bytes'],
  ['sha3Uncles', 'bytes'],
  ['miner', 'bytes'],
  ['stateRoot', 'bytes'],
  ['transactionsRoot', 'bytes'],
  ['receiptsRoot', 'bytes'],
  ['logsBloom', 'bytes'],
  ['difficulty', 'quantity'],
  ['number', 'quantity'],
  ['gasLimit', 'quantity'],
  ['gasUsed', 'quantity'],
  ['timestamp', 'quantity'],
  ['extraData', 'bytes'],
  ['mixHash', 'bytes'],
  ['nonce', 'bytes'],
  ['baseFeePerGas', 'quantity'],
  ['withdrawalsRoot', 'bytes'],
  ['blobGasUsed', 'quantity'],
  ['excessBlobGas', 'quantity'],
  ['parentBeaconBlockRoot', 'bytes'],
  ['requestsHash', 'bytes'],
];
const REQUIRED_HEADER_FIELDS = 15;

/** The RLP header of `block`; throws EVM_HEADER_MISMATCH unless its keccak-256 is the block's hash. */
export function encodeBlockHeader(block: RpcBlock): Uint8Array {
  const items: Uint8Array[] = [];
  for (const [i, [name, kind]] of HEADER_FIELDS.entries()) {
    const value = block[name];
    if (value === undefined || value === null) {
      if (i < REQUIRED_HEADER_FIELDS) throw new LoulanError('EVM_HEADER_MISMATCH', `the node's block lacks ${name}`, { details: { field: name } });
      break;
    }
    items.push(kind === 'bytes' ? bytes(String(value)) : quantity(String(value)));
  }
  const header = RLP.encode(items);
  if (!equalBytes(keccak256(header), bytes(block.hash))) {
    throw new LoulanError('EVM_HEADER_MISMATCH', `block ${BigInt(block.number)} re-encodes to another hash: unknown header layout or a lying node`, {
      details: { field: 'blockHash', blockNumber: BigInt(block.number) },
    });
  }
  return header;
}

/** The consensus encoding of a receipt: `type ‖ rlp([status, cumulativeGasUsed, logsBloom, logs])` (no type byte for legacy). */
export function encodeReceipt(receipt: RpcReceipt): Uint8Array {
  if (receipt.status === undefined) {
    throw new LoulanError('EVM_PROOF_INVALID', 'pre-Byzantium receipts (state root instead of status) are not supported', { details: { reason: 'receipt' } });
  }
  const body = RLP.encode([
    quantity(receipt.status),
    quantity(receipt.cumulativeGasUsed),
    bytes(receipt.logsBloom),
    receipt.logs.map((log) => [bytes(log.address), log.topics.map(bytes), bytes(log.data)]),
  ]);
  const type = Number(BigInt(receipt.type ?? '0x0'));
  if (type === 0) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

/**
 * The receipt evidence for one log, without attestations: `logIndex` is the block-wide log index the
 * RPC reports (ethers' `Log.index`); the evidence carries the index inside the receipt.
 *
 * @example
 * const evidence = { ...(await buildReceiptEvidence(provider, log.transactionHash, log.index)), attestations };
 */
export async function buildReceiptEvidence(provider: JsonRpcProvider, txHash: string, logIndex: number): Promise<Omit<EvmEvidence, 'attestations'>> {
  const receipt = (await provider.send('eth_getTransactionReceipt', [txHash])) as RpcReceipt | null;
  if (receipt === null) throw new LoulanError('EVM_PROOF_INVALID', `no receipt for ${txHash}`, { details: { reason: 'receipt', txHash } });
  const block = (await provider.send('eth_getBlockByHash', [receipt.blockHash, false])) as RpcBlock | null;
  const receipts = (await provider.send('eth_getBlockReceipts', [receipt.blockHash])) as RpcReceipt[] | null;
  if (block === null || receipts === null) {
    throw new LoulanError('EVM_PROOF_INVALID', `block ${receipt.blockHash} is gone (reorganised away?)`, { details: { reason: 'block', blockHash: receipt.blockHash } });
  }
  const header = encodeBlockHeader(block);
  const trie = await createMPT();
  const encoded = receipts.map(encodeReceipt);
  for (const [i, value] of encoded.entries()) await trie.put(RLP.encode(i), value);
  if (!equalBytes(trie.root(), bytes(block.receiptsRoot))) {
    throw new LoulanError('EVM_PROOF_INVALID', `the node's receipts for block ${BigInt(block.number)} do not rebuild its receiptsRoot`, { details: { reason: 'receipts-root' } });
  }
  const txIndex = Number(BigInt(receipt.transactionIndex));
  const inReceipt = receipt.logs.findIndex((log) => log.logIndex !== undefined && Number(BigInt(log.logIndex)) === logIndex);
  if (inReceipt < 0) {
    throw new LoulanError('EVM_LOG_MISMATCH', `transaction ${txHash} has no log with block index ${logIndex}`, { details: { field: 'logIndex', logIndex } });
  }
  return {
    chainId: BigInt((await provider.send('eth_chainId', [])) as string),
    blockNumber: BigInt(block.number),
    blockHash: bytes(block.hash),
    header,
    txIndex,
    logIndex: inReceipt,
    receipt: encoded[txIndex] as Uint8Array,
    proof: await createMerkleProof(trie, RLP.encode(txIndex)),
  };
}

function bytes(hex: string): Uint8Array {
  return fromHex(hex.replace(/^0x/, '').toLowerCase());
}

/** A JSON-RPC quantity as a minimal big-endian byte string (zero is empty), as RLP integers are. */
function quantity(hex: string): Uint8Array {
  const value = BigInt(hex);
  if (value === 0n) return new Uint8Array(0);
  const digits = value.toString(16);
  return fromHex(digits.length % 2 === 0 ? digits : '0' + digits);
}
