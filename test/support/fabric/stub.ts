/**
 * The chaincode stub of the emulated peer: the fabric-shim `ChaincodeStub` methods chaincode uses,
 * running against committed world state and recording a Fabric read/write set.
 *
 * Semantics follow a real peer's transaction simulator: reads see committed state only (never the
 * transaction's own writes), each read records the version it saw, range scans record the keys and
 * versions they returned (for the phantom-read check), writes and deletes are buffered, and only the
 * last `setEvent` of a transaction survives. Composite keys use Fabric's U+0000 separators, and an
 * empty range start skips them exactly as the shim does. The transaction time comes from the
 * proposal's channel header, so chaincode that reads it stays deterministic across endorsers.
 */
import { X509Certificate } from 'node:crypto';
import { ledger } from '@hyperledger/fabric-protos';
import type { Version, WorldState } from './ledger.ts';

const { kvrwset } = ledger.rwset;
const MIN_UNICODE = '\u0000';
const MAX_UNICODE = '\u{10FFFF}';
const EMPTY_KEY_SUBSTITUTE = '\u0001';

export interface ProposalContext {
  readonly channelId: string;
  readonly txId: string;
  readonly chaincode: string;
  readonly creator: { readonly mspId: string; readonly certificatePem: string; readonly serialized: Uint8Array };
  readonly args: readonly Uint8Array[];
  readonly transient: ReadonlyMap<string, Uint8Array>;
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly peerMspId: string;
}

export interface Simulation {
  readonly reads: Map<string, Version | undefined>;
  readonly ranges: { start: string; end: string; reads: { key: string; version: Version }[] }[];
  readonly writes: Map<string, Uint8Array | undefined>;
  event: { name: string; payload: Uint8Array } | undefined;
}

interface KV {
  readonly key: string;
  readonly value: Uint8Array;
  readonly namespace: string;
}

/** A Long-shaped seconds value (fabric-shim's Timestamp uses long.js); only what chaincode reads. */
function longOf(value: number): { low: number; high: number; unsigned: boolean; toNumber(): number; toString(): string } {
  return { low: value | 0, high: Math.floor(value / 2 ** 32) | 0, unsigned: false, toNumber: () => value, toString: () => String(value) };
}

function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new Error('key must not be an empty string');
}

function iterator(items: readonly KV[]) {
  let index = 0;
  const it = {
    async next(): Promise<{ value: KV; done: boolean }> {
      const value = items[index];
      if (value === undefined) return { value: undefined as unknown as KV, done: true };
      index++;
      return { value, done: false };
    },
    async close(): Promise<void> {
      index = items.length;
    },
  };
  return it;
}

/** Fabric's iterator results are awaitable (the iterator) and async-iterable (the KVs) at once. */
function queryResult(items: readonly KV[]): Promise<ReturnType<typeof iterator>> & AsyncIterable<KV> {
  const promise = Promise.resolve(iterator(items)) as Promise<ReturnType<typeof iterator>> & AsyncIterable<KV>;
  promise[Symbol.asyncIterator] = async function* () {
    yield* items;
  };
  return promise;
}

/** Fabric's distinguished-name form in client identity ids: `/OU=client/CN=user1`. */
function formatDn(dn: string): string {
  return dn
    .split('\n')
    .map((part) => `/${part}`)
    .join('');
}

export class EmulatedStub {
  readonly #state: WorldState;
  readonly #context: ProposalContext;
  readonly simulation: Simulation = { reads: new Map(), ranges: [], writes: new Map(), event: undefined };

  constructor(state: WorldState, context: ProposalContext) {
    this.#state = state;
    this.#context = context;
  }

  getArgs(): string[] {
    return this.#context.args.map((arg) => Buffer.from(arg).toString('utf8'));
  }
  getStringArgs(): string[] {
    return this.getArgs();
  }
  getBufferArgs(): Buffer[] {
    return this.#context.args.map((arg) => Buffer.from(arg));
  }
  getFunctionAndParameters(): { fcn: string; params: string[] } {
    const [fcn = '', ...params] = this.getArgs();
    return { fcn, params };
  }
  getTxID(): string {
    return this.#context.txId;
  }
  getChannelID(): string {
    return this.#context.channelId;
  }
  getCreator(): { mspid: string; idBytes: Uint8Array } {
    return { mspid: this.#context.creator.mspId, idBytes: new TextEncoder().encode(this.#context.creator.certificatePem) };
  }
  getMspID(): string {
    return this.#context.peerMspId;
  }
  getTransient(): Map<string, Uint8Array> {
    return new Map(this.#context.transient);
  }
  getTxTimestamp(): { seconds: ReturnType<typeof longOf>; nanos: number } {
    return { seconds: longOf(this.#context.timestamp.seconds), nanos: this.#context.timestamp.nanos };
  }
  getDateTimestamp(): Date {
    return new Date(this.#context.timestamp.seconds * 1000 + Math.floor(this.#context.timestamp.nanos / 1e6));
  }

  async getState(key: string): Promise<Uint8Array> {
    validateKey(key);
    const entry = this.#state.get(this.#context.chaincode, key);
    if (!this.simulation.reads.has(key)) this.simulation.reads.set(key, entry?.version);
    return entry === undefined ? new Uint8Array(0) : Uint8Array.from(entry.value);
  }
  async putState(key: string, value: Uint8Array): Promise<void> {
    validateKey(key);
    if (typeof value === 'string') value = new TextEncoder().encode(value);
    // An empty value is a delete on a real peer (the write set cannot tell them apart).
    this.simulation.writes.set(key, value.length === 0 ? undefined : Uint8Array.from(value));
  }
  async deleteState(key: string): Promise<void> {
    validateKey(key);
    this.simulation.writes.set(key, undefined);
  }

  getStateByRange(startKey: string, endKey: string): Promise<ReturnType<typeof iterator>> & AsyncIterable<KV> {
    return queryResult(this.#scan(startKey === '' ? EMPTY_KEY_SUBSTITUTE : startKey, endKey));
  }
  getStateByPartialCompositeKey(objectType: string, attributes: string[]): Promise<ReturnType<typeof iterator>> & AsyncIterable<KV> {
    const start = this.createCompositeKey(objectType, attributes);
    return queryResult(this.#scan(start, start + MAX_UNICODE));
  }
  #scan(start: string, end: string): KV[] {
    const rows = this.#state.range(this.#context.chaincode, start, end);
    this.simulation.ranges.push({ start, end, reads: rows.map((row) => ({ key: row.key, version: row.entry.version })) });
    return rows.map((row) => ({ key: row.key, value: Uint8Array.from(row.entry.value), namespace: this.#context.chaincode }));
  }

  createCompositeKey(objectType: string, attributes: string[]): string {
    const check = (part: string): void => {
      if (part.includes(MIN_UNICODE) || part.includes(MAX_UNICODE)) throw new Error('composite key parts must not contain U+0000 or U+10FFFF');
    };
    check(objectType);
    attributes.forEach(check);
    return MIN_UNICODE + objectType + MIN_UNICODE + attributes.map((attribute) => attribute + MIN_UNICODE).join('');
  }
  splitCompositeKey(compositeKey: string): { objectType: string | null; attributes: string[] } {
    if (!compositeKey.startsWith(MIN_UNICODE)) return { objectType: null, attributes: [] };
    const parts = compositeKey.slice(1).split(MIN_UNICODE);
    parts.pop();
    const [objectType = null, ...attributes] = parts;
    return { objectType, attributes };
  }

  setEvent(name: string, payload: Uint8Array): void {
    if (typeof name !== 'string' || name.length === 0) throw new Error('event name must not be empty');
    this.simulation.event = { name, payload: Uint8Array.from(payload) };
  }

  getSignedProposal(): never {
    throw new Error('getSignedProposal is not supported by the emulator');
  }
  getHistoryForKey(): never {
    throw new Error('getHistoryForKey is not supported by the emulator');
  }
  getQueryResult(): never {
    throw new Error('rich queries need CouchDB; the emulator models LevelDB');
  }
  invokeChaincode(): never {
    throw new Error('chaincode-to-chaincode calls are not supported by the emulator');
  }
  getPrivateData(): never {
    throw new Error('private data is not supported by the emulator');
  }
  putPrivateData(): never {
    throw new Error('private data is not supported by the emulator');
  }

  /** The client identity object fabric-contract-api puts on `ctx.clientIdentity`. */
  clientIdentity(): { getID(): string; getMSPID(): string; getIDBytes(): Uint8Array; getAttributeValue(name: string): string | null; assertAttributeValue(name: string, value: string): boolean } {
    const cert = new X509Certificate(this.#context.creator.certificatePem);
    const id = `x509::${formatDn(cert.subject)}::${formatDn(cert.issuer)}`;
    const idBytes = new TextEncoder().encode(this.#context.creator.certificatePem);
    return {
      getID: () => id,
      getMSPID: () => this.#context.creator.mspId,
      getIDBytes: () => idBytes,
      getAttributeValue: () => null,
      assertAttributeValue: () => false,
    };
  }
}

const versionProto = (version: Version): InstanceType<typeof kvrwset.Version> => {
  const proto = new kvrwset.Version();
  proto.setBlockNum(version.block);
  proto.setTxNum(version.tx);
  return proto;
};

/** The simulation as a `KVRWSet` (keys sorted, as a peer writes them). */
export function encodeKvRwSet(simulation: Simulation): Uint8Array {
  const set = new kvrwset.KVRWSet();
  const sorted = <T>(entries: Iterable<[string, T]>): [string, T][] => [...entries].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  set.setReadsList(
    sorted(simulation.reads.entries()).map(([key, version]) => {
      const read = new kvrwset.KVRead();
      read.setKey(key);
      if (version !== undefined) read.setVersion(versionProto(version));
      return read;
    }),
  );
  set.setRangeQueriesInfoList(
    simulation.ranges.map((range) => {
      const info = new kvrwset.RangeQueryInfo();
      info.setStartKey(range.start);
      info.setEndKey(range.end);
      info.setItrExhausted(true);
      const raw = new kvrwset.QueryReads();
      raw.setKvReadsList(
        range.reads.map((row) => {
          const read = new kvrwset.KVRead();
          read.setKey(row.key);
          read.setVersion(versionProto(row.version));
          return read;
        }),
      );
      info.setRawReads(raw);
      return info;
    }),
  );
  set.setWritesList(
    sorted(simulation.writes.entries()).map(([key, value]) => {
      const write = new kvrwset.KVWrite();
      write.setKey(key);
      if (value === undefined) write.setIsDelete(true);
      else write.setValue(value);
      return write;
    }),
  );
  return set.serializeBinary();
}
