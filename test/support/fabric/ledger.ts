/**
 * The emulated peer's ledger: a versioned world state and a hash-chained block store, with Fabric's
 * commit-time validation rules kept in the network (network.ts) and only storage here.
 *
 * Every key carries the version (block number, transaction index) of the transaction that last wrote
 * it, as in Fabric's state database; MVCC validation compares the versions a transaction read at
 * endorsement with the ones committed now. Keys sort by their UTF-8 bytes, as LevelDB sorts them, so
 * range scans return what a real peer would return.
 *
 * Blocks are real `common.Block` protos: data_hash = SHA-256 of the concatenated envelopes, the header
 * hash is SHA-256 of the ASN.1 DER sequence (number, previous_hash, data_hash) as Fabric computes it,
 * and metadata[TRANSACTIONS_FILTER] holds each transaction's validation code.
 */
import { createHash } from 'node:crypto';
import { common } from '@hyperledger/fabric-protos';

export interface Version {
  readonly block: number;
  readonly tx: number;
}

interface Entry {
  readonly value: Uint8Array;
  readonly version: Version;
}

export interface StoredBlock {
  readonly block: common.Block;
  readonly hash: Uint8Array;
  readonly txs: readonly TxRecord[];
}

/** One transaction of a block: id, validation code, envelope bytes, and its chaincode event if valid. */
export interface TxRecord {
  readonly txId: string;
  readonly code: number;
  readonly envelope: Uint8Array;
  readonly event?: { readonly chaincode: string; readonly name: string; readonly payload: Uint8Array };
}

export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class WorldState {
  readonly #namespaces = new Map<string, Map<string, Entry>>();

  get(ns: string, key: string): Entry | undefined {
    return this.#namespaces.get(ns)?.get(key);
  }

  /** Keys in [start, end) in byte order; an empty `end` means no upper bound. */
  range(ns: string, start: string, end: string): { key: string; entry: Entry }[] {
    const space = this.#namespaces.get(ns);
    if (space === undefined) return [];
    return [...space.entries()]
      .filter(([key]) => compareKeys(key, start) >= 0 && (end === '' || compareKeys(key, end) < 0))
      .sort(([a], [b]) => compareKeys(a, b))
      .map(([key, entry]) => ({ key, entry }));
  }

  apply(ns: string, writes: readonly { key: string; value: Uint8Array | undefined }[], version: Version): void {
    let space = this.#namespaces.get(ns);
    if (space === undefined) {
      space = new Map();
      this.#namespaces.set(ns, space);
    }
    for (const write of writes) {
      if (write.value === undefined) space.delete(write.key);
      else space.set(write.key, { value: write.value, version });
    }
  }
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derTlv(tag: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(tag), derLength(body.length), body]);
}

function derUint(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return derTlv(0x02, bytes);
}

/** Fabric's block header hash: SHA-256 over DER SEQUENCE { INTEGER number, OCTET STRING previousHash, OCTET STRING dataHash }. */
export function blockHeaderHash(header: common.BlockHeader): Uint8Array {
  const body = Buffer.concat([derUint(header.getNumber()), derTlv(0x04, header.getPreviousHash_asU8()), derTlv(0x04, header.getDataHash_asU8())]);
  return new Uint8Array(createHash('sha256').update(derTlv(0x30, body)).digest());
}

export class BlockStore {
  readonly #blocks: StoredBlock[] = [];
  readonly #txIndex = new Map<string, { block: number; tx: number }>();

  get height(): number {
    return this.#blocks.length;
  }

  at(number: number): StoredBlock | undefined {
    return this.#blocks[number];
  }

  findTx(txId: string): { block: number; tx: number } | undefined {
    return this.#txIndex.get(txId);
  }

  /** Cuts the next block from envelopes already validated (codes in the same order). */
  append(txs: readonly TxRecord[]): StoredBlock {
    const number = this.#blocks.length;
    const previous = this.#blocks[number - 1];
    const header = new common.BlockHeader();
    header.setNumber(number);
    header.setPreviousHash(previous?.hash ?? new Uint8Array(0));
    const dataHash = createHash('sha256');
    for (const tx of txs) dataHash.update(tx.envelope);
    header.setDataHash(new Uint8Array(dataHash.digest()));
    const data = new common.BlockData();
    data.setDataList(txs.map((tx) => tx.envelope));
    const metadata = new common.BlockMetadata();
    const filter = Uint8Array.from(txs.map((tx) => tx.code));
    metadata.setMetadataList([new Uint8Array(0), new Uint8Array(0), filter, new Uint8Array(0), new Uint8Array(0)]);
    const block = new common.Block();
    block.setHeader(header);
    block.setData(data);
    block.setMetadata(metadata);
    const stored: StoredBlock = { block, hash: blockHeaderHash(header), txs };
    this.#blocks.push(stored);
    txs.forEach((tx, index) => {
      if (!this.#txIndex.has(tx.txId)) this.#txIndex.set(tx.txId, { block: number, tx: index });
    });
    return stored;
  }
}
