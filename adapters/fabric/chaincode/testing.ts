/**
 * An in-memory Fabric world state, chaincode stub and client identity for testing chaincode without
 * a peer, with the Fabric semantics that change what chaincode may do:
 *
 *   - a transaction is simulated against committed state: `getState` never sees the same
 *     transaction's `putState` or `deleteState` (the write set is applied only at commit);
 *   - an empty value written is a delete;
 *   - `getStateByRange` covers simple keys only (never the composite-key space, which starts with
 *     U+0000), `getStateByPartialCompositeKey` one object type and attribute prefix; both return keys
 *     in the byte order of their UTF-8 encoding, as the peer's LevelDB does;
 *   - commit validates transactions in block order: a transaction whose read keys (or range query
 *     results) changed since it was simulated is invalid (MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT)
 *     and its writes are dropped;
 *   - only one chaincode event per transaction survives (the last `setEvent`);
 *   - a contract's transactions are the functions declared on its own class, called with exactly as
 *     many string arguments as they declare (fabric-shim's rule without decorators).
 *
 * The transaction timestamp is deliberately not available: Loulan chaincode takes time only from
 * certified core-chain headers.
 */
import { createHash } from 'node:crypto';
import { Contract, type Context } from 'fabric-contract-api';
import type { ChaincodeStub, ClientIdentity, Iterators, SerializedIdentity } from 'fabric-shim-api';

const MIN_RUNE = '\u0000';
const MAX_RUNE = '\u{10ffff}';

interface Versioned {
  readonly value: Uint8Array;
  readonly version: number;
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Committed state: values with a version bumped by every committed write. */
export class MemoryWorldState {
  readonly #values = new Map<string, Versioned>();
  #version = 0;

  get(key: string): Versioned | undefined {
    return this.#values.get(key);
  }

  /** Keys in [start, end) (end '' = unbounded) in UTF-8 byte order, with their versions. */
  range(start: string, end: string): [string, Versioned][] {
    return [...this.#values.entries()]
      .filter(([key]) => utf8Compare(key, start) >= 0 && (end === '' || utf8Compare(key, end) < 0))
      .sort(([a], [b]) => utf8Compare(a, b));
  }

  /** Validates `txs` in order against the state as it changes and applies the valid ones. */
  commit(txs: readonly MemoryStub[]): TxValidation[] {
    return txs.map((tx) => {
      const status = this.#validate(tx);
      if (status === 'VALID') {
        this.#version++;
        for (const [key, value] of tx.writes) {
          if (value === null) this.#values.delete(key);
          else this.#values.set(key, { value, version: this.#version });
        }
      }
      return { txId: tx.getTxID(), status };
    });
  }

  /** Every committed key and value (for invariant checks in tests), in key order. */
  entries(): [string, Uint8Array][] {
    return this.range('', '').map(([key, v]) => [key, v.value]);
  }

  #validate(tx: MemoryStub): TxValidation['status'] {
    for (const [key, version] of tx.reads) if (this.#values.get(key)?.version !== version) return 'MVCC_READ_CONFLICT';
    for (const query of tx.rangeReads) {
      const now = this.range(query.start, query.end).map(([key, v]) => `${key}@${v.version}`);
      if (now.join('\n') !== query.seen.join('\n')) return 'PHANTOM_READ_CONFLICT';
    }
    return 'VALID';
  }
}

export interface TxValidation {
  readonly txId: string;
  readonly status: 'VALID' | 'MVCC_READ_CONFLICT' | 'PHANTOM_READ_CONFLICT';
}

/** A client identity as fabric-shim presents it (`getID()` is `x509::<subject>::<issuer>`). */
export class MemoryIdentity implements ClientIdentity {
  readonly mspId: string;
  readonly name: string;

  constructor(mspId: string, name: string) {
    this.mspId = mspId;
    this.name = name;
  }

  getID(): string {
    return `x509::/OU=client/CN=${this.name}::/O=${this.mspId}/CN=ca.${this.mspId}`;
  }
  getIDBytes(): Uint8Array {
    return Buffer.from(`-----BEGIN CERTIFICATE-----\n${this.name}@${this.mspId}\n-----END CERTIFICATE-----\n`);
  }
  getMSPID(): string {
    return this.mspId;
  }
  getAttributeValue(): string | null {
    return null;
  }
  assertAttributeValue(): boolean {
    return false;
  }
}

export interface StubOptions {
  readonly txId: string;
  readonly channelId?: string;
  readonly identity: MemoryIdentity;
  readonly fcn: string;
  readonly params: readonly string[];
}

type QueryResult = Promise<Iterators.StateQueryIterator> & AsyncIterable<Iterators.KV>;

/** One transaction's simulation: reads committed state, collects its read and write sets. */
export class MemoryStub implements ChaincodeStub {
  /** Key → version read (undefined: read as absent). */
  readonly reads = new Map<string, number | undefined>();
  readonly rangeReads: { start: string; end: string; seen: string[] }[] = [];
  /** Key → value written (null: deleted). */
  readonly writes = new Map<string, Uint8Array | null>();
  event: { readonly name: string; readonly payload: Uint8Array } | undefined;
  readonly #world: MemoryWorldState;
  readonly #options: StubOptions;

  constructor(world: MemoryWorldState, options: StubOptions) {
    this.#world = world;
    this.#options = options;
  }

  getArgs(): string[] {
    return [this.#options.fcn, ...this.#options.params];
  }
  getStringArgs(): string[] {
    return this.getArgs();
  }
  getFunctionAndParameters(): { params: string[]; fcn: string } {
    return { fcn: this.#options.fcn, params: [...this.#options.params] };
  }
  getTxID(): string {
    return this.#options.txId;
  }
  getChannelID(): string {
    return this.#options.channelId ?? 'loulan';
  }
  getCreator(): SerializedIdentity {
    return { mspid: this.#options.identity.getMSPID(), idBytes: this.#options.identity.getIDBytes() };
  }
  getMspID(): string {
    return this.#options.identity.getMSPID();
  }
  getTransient(): Map<string, Uint8Array> {
    return new Map();
  }
  getSignedProposal(): never {
    throw unsupported('getSignedProposal');
  }
  getTxTimestamp(): never {
    throw unsupported('getTxTimestamp (chaincode takes time from certified headers only)');
  }
  getDateTimestamp(): never {
    throw unsupported('getDateTimestamp (chaincode takes time from certified headers only)');
  }
  getBinding(): never {
    throw unsupported('getBinding');
  }

  async getState(key: string): Promise<Uint8Array> {
    checkKey(key);
    const found = this.#world.get(key);
    this.reads.set(key, found?.version);
    return found === undefined ? new Uint8Array(0) : found.value.slice();
  }
  async putState(key: string, value: Uint8Array): Promise<void> {
    checkKey(key);
    this.writes.set(key, value.length === 0 ? null : Uint8Array.from(value));
  }
  async deleteState(key: string): Promise<void> {
    checkKey(key);
    this.writes.set(key, null);
  }
  async setStateValidationParameter(): Promise<never> {
    throw unsupported('setStateValidationParameter');
  }
  async getStateValidationParameter(): Promise<never> {
    throw unsupported('getStateValidationParameter');
  }

  getStateByRange(startKey: string, endKey: string): QueryResult {
    if (startKey.startsWith(MIN_RUNE) || endKey.startsWith(MIN_RUNE)) {
      return rejected(new Error('getStateByRange covers simple keys only; use getStateByPartialCompositeKey'));
    }
    return this.#query(startKey === '' ? '\u0001' : startKey, endKey);
  }
  getStateByPartialCompositeKey(objectType: string, attributes: string[]): QueryResult {
    let start: string;
    try {
      start = this.createCompositeKey(objectType, attributes);
    } catch (error) {
      return rejected(error);
    }
    return this.#query(start, start + MAX_RUNE);
  }
  getStateByRangeWithPagination(): never {
    throw unsupported('getStateByRangeWithPagination');
  }
  getStateByPartialCompositeKeyWithPagination(): never {
    throw unsupported('getStateByPartialCompositeKeyWithPagination');
  }
  getQueryResult(): never {
    throw unsupported('getQueryResult (rich queries need CouchDB and are not re-checked at commit)');
  }
  getQueryResultWithPagination(): never {
    throw unsupported('getQueryResultWithPagination');
  }
  getHistoryForKey(): never {
    throw unsupported('getHistoryForKey');
  }
  async invokeChaincode(): Promise<never> {
    throw unsupported('invokeChaincode');
  }

  setEvent(name: string, payload: Uint8Array): void {
    if (typeof name !== 'string' || name.length === 0) throw new Error('event name must be a non-empty string');
    this.event = { name, payload: Uint8Array.from(payload) };
  }

  createCompositeKey(objectType: string, attributes: string[]): string {
    checkAttribute(objectType);
    attributes.forEach(checkAttribute);
    return MIN_RUNE + objectType + MIN_RUNE + attributes.map((a) => a + MIN_RUNE).join('');
  }
  splitCompositeKey(compositeKey: string): { objectType: string; attributes: string[] } {
    if (!compositeKey.startsWith(MIN_RUNE)) return { objectType: '', attributes: [] };
    const parts = compositeKey.slice(1).split(MIN_RUNE);
    parts.pop();
    const [objectType = '', ...attributes] = parts;
    return { objectType, attributes };
  }

  getPrivateData(): never {
    throw unsupported('private data');
  }
  getPrivateDataHash(): never {
    throw unsupported('private data');
  }
  putPrivateData(): never {
    throw unsupported('private data');
  }
  deletePrivateData(): never {
    throw unsupported('private data');
  }
  purgePrivateData(): never {
    throw unsupported('private data');
  }
  setPrivateDataValidationParameter(): never {
    throw unsupported('private data');
  }
  getPrivateDataValidationParameter(): never {
    throw unsupported('private data');
  }
  getPrivateDataByRange(): never {
    throw unsupported('private data');
  }
  getPrivateDataByPartialCompositeKey(): never {
    throw unsupported('private data');
  }
  getPrivateDataQueryResult(): never {
    throw unsupported('private data');
  }

  #query(start: string, end: string): QueryResult {
    const rows = this.#world.range(start, end);
    this.rangeReads.push({ start, end, seen: rows.map(([key, v]) => `${key}@${v.version}`) });
    const kvs: Iterators.KV[] = rows.map(([key, v]) => ({ namespace: '', key, value: v.value.slice() }));
    let at = 0;
    const iterator: Iterators.StateQueryIterator = {
      async next() {
        const value = kvs[at++];
        return value === undefined ? { value: undefined as unknown as Iterators.KV, done: true } : { value, done: false };
      },
      async close() {},
    };
    const promise = Promise.resolve(iterator) as QueryResult;
    promise[Symbol.asyncIterator] = async function* () {
      yield* kvs;
    };
    return promise;
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new Error('key must be a non-empty string');
  if (!key.isWellFormed()) throw new Error('key must be valid UTF-8');
}

function checkAttribute(value: string): void {
  if (typeof value !== 'string' || !value.isWellFormed()) throw new Error('composite key parts must be valid UTF-8 strings');
  if (value.includes(MIN_RUNE) || value.includes(MAX_RUNE)) throw new Error('composite key parts must not contain U+0000 or U+10FFFF');
}

function unsupported(what: string): Error {
  return new Error(`MemoryStub does not support ${what}`);
}

function rejected(error: unknown): QueryResult {
  const promise = Promise.reject(error) as QueryResult;
  promise.catch(() => {});
  promise[Symbol.asyncIterator] = async function* () {
    throw error;
  };
  return promise;
}

type ContractClass = new () => Contract;

/** What one simulated transaction did. */
export interface Simulation {
  readonly stub: MemoryStub;
  readonly ok: boolean;
  /** The returned string, when ok. */
  readonly result?: string;
  /** The thrown error, when not ok. */
  readonly error?: Error;
}

/**
 * Hosts contracts over a MemoryWorldState: `evaluate` simulates and returns, `submit` simulates and
 * commits (throwing the chaincode's error, or an error naming the validation code), `simulate` and
 * `commit` expose the two phases to test concurrency.
 *
 * @example
 * const h = new ChaincodeHarness(contracts);
 * await h.submit(admin, 'core:init', initJson);
 * const balance = await h.evaluate(alice, 'points:balanceOf', account);
 */
export class ChaincodeHarness {
  readonly world = new MemoryWorldState();
  readonly #contracts = new Map<string, Contract>();
  readonly #default: string;
  #txCount = 0;

  constructor(classes: readonly ContractClass[]) {
    for (const C of classes) {
      const contract = new C();
      this.#contracts.set(contract.getName(), contract);
    }
    const first = classes[0];
    if (first === undefined) throw new Error('no contracts');
    this.#default = new first().getName();
  }

  async simulate(identity: MemoryIdentity, fcn: string, args: readonly string[]): Promise<Simulation> {
    const txId = createHash('sha256').update(`tx/${++this.#txCount}`).digest('hex');
    const stub = new MemoryStub(this.world, { txId, identity, fcn, params: args });
    try {
      const [contractName, name] = fcn.includes(':') ? [fcn.slice(0, fcn.lastIndexOf(':')), fcn.slice(fcn.lastIndexOf(':') + 1)] : [this.#default, fcn];
      const contract = this.#contracts.get(contractName);
      if (contract === undefined) throw new Error(`Contract name is not known: ${contractName}`);
      const method = transactionOf(contract, name);
      if (args.length !== method.length - 1) throw new Error(`Expected ${method.length - 1} parameters, but ${args.length} have been supplied`);
      const ctx = contract.createContext() as Context;
      ctx.stub = stub;
      ctx.clientIdentity = identity;
      await contract.beforeTransaction(ctx);
      const value: unknown = await method.call(contract, ctx, ...args);
      await contract.afterTransaction(ctx, value);
      return { stub, ok: true, result: value === undefined ? '' : String(value) };
    } catch (error) {
      return { stub, ok: false, error: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  commit(simulations: readonly Simulation[]): TxValidation[] {
    return this.world.commit(simulations.filter((s) => s.ok).map((s) => s.stub));
  }

  async evaluate(identity: MemoryIdentity, fcn: string, ...args: string[]): Promise<string> {
    const sim = await this.simulate(identity, fcn, args);
    if (!sim.ok) throw sim.error;
    return sim.result ?? '';
  }

  async submit(identity: MemoryIdentity, fcn: string, ...args: string[]): Promise<{ result: string; event: MemoryStub['event'] }> {
    const sim = await this.simulate(identity, fcn, args);
    if (!sim.ok) throw sim.error;
    const [validation] = this.commit([sim]);
    if (validation?.status !== 'VALID') throw new Error(`transaction ${sim.stub.getTxID()} invalid: ${validation?.status}`);
    return { result: sim.result ?? '', event: sim.stub.event };
  }
}

/** A transaction function: declared on the contract's own class, not `_`-prefixed, not a hook. */
function transactionOf(contract: Contract, name: string): (...args: unknown[]) => unknown {
  const own = Object.getOwnPropertyNames(Object.getPrototypeOf(contract));
  const hooks = Object.getOwnPropertyNames(Contract.prototype);
  const method = (contract as unknown as Record<string, unknown>)[name];
  if (!own.includes(name) || name === 'constructor' || name.startsWith('_') || hooks.includes(name) || typeof method !== 'function') {
    throw new Error(`You've asked to invoke a function that does not exist: ${name}`);
  }
  return method as (...args: unknown[]) => unknown;
}
