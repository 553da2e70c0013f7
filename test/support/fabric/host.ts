/**
 * Hosts fabric-contract-api `Contract` subclasses in-process, the way the contract runtime dispatches
 * a transaction inside a Node chaincode container: `ContractName:method` or, for the first (default)
 * contract, plain `method`; a fresh context per call with the stub and client identity; the
 * before/around/after hooks; a thrown error becomes a 500 response with its message.
 *
 * Node's type stripping forbids decorators, so there is no @Transaction metadata to read: every
 * public method declared on the subclass chain (not the Contract base's own, not `_`-prefixed) is a
 * transaction. Return values are serialised as the runtime does without metadata: bytes as they are,
 * strings as UTF-8, anything else as JSON (bigints as decimal strings), undefined as empty. A call
 * must pass exactly as many arguments as the function declares after `ctx`, as the runtime enforces.
 */
import { Contract } from 'fabric-contract-api';
import type { EmulatedStub } from './stub.ts';

export type ContractClass = new () => Contract;

export interface ChaincodeResponse {
  readonly status: number;
  readonly message: string;
  readonly payload: Uint8Array;
}

const BASE_METHODS = new Set(Object.getOwnPropertyNames(Contract.prototype));

function transactionNames(contract: Contract): Set<string> {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(contract) as object | null; proto !== null && proto !== Contract.prototype && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name.startsWith('_') || BASE_METHODS.has(name) || typeof descriptor?.value !== 'function') continue;
      names.add(name);
    }
  }
  return names;
}

function serialize(result: unknown): Uint8Array {
  if (result === undefined || result === null) return new Uint8Array(0);
  if (result instanceof Uint8Array) return Uint8Array.from(result);
  if (typeof result === 'string') return new TextEncoder().encode(result);
  return new TextEncoder().encode(JSON.stringify(result, (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
}

export class ChaincodeHost {
  readonly #contracts = new Map<string, { contract: Contract; names: Set<string> }>();
  readonly #defaultName: string;

  constructor(classes: readonly ContractClass[]) {
    if (classes.length === 0) throw new Error('a chaincode needs at least one contract');
    for (const ContractType of classes) {
      const contract = new ContractType();
      this.#contracts.set(contract.getName(), { contract, names: transactionNames(contract) });
    }
    this.#defaultName = new classes[0]!().getName();
  }

  /** Runs `args[0]` (the transaction name) with the remaining args as strings. Never throws. */
  async invoke(stub: EmulatedStub): Promise<ChaincodeResponse> {
    const { fcn, params } = stub.getFunctionAndParameters();
    const colon = fcn.lastIndexOf(':');
    const contractName = colon < 0 ? this.#defaultName : fcn.slice(0, colon);
    const method = colon < 0 ? fcn : fcn.slice(colon + 1);
    const entry = this.#contracts.get(contractName);
    if (entry === undefined) return { status: 500, message: `Contract name is not known: ${contractName}`, payload: new Uint8Array(0) };
    const { contract, names } = entry;
    const ctx = contract.createContext() as unknown as { setChaincodeStub(stub: unknown): void; setClientIdentity(identity: unknown): void };
    ctx.setChaincodeStub(stub);
    ctx.setClientIdentity(stub.clientIdentity());
    try {
      if (!names.has(method)) {
        await contract.unknownTransaction(ctx as never);
        return { status: 500, message: `You've asked to invoke a function that does not exist: ${method}`, payload: new Uint8Array(0) };
      }
      // Without metadata the runtime counts a function's declared parameters (after ctx) and
      // refuses any other number of arguments.
      const declared = (contract as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.length - 1;
      if (params.length !== declared) return { status: 500, message: `Expected ${declared} parameters, but ${params.length} have been supplied`, payload: new Uint8Array(0) };
      await contract.beforeTransaction(ctx as never);
      const result: unknown = await contract.aroundTransaction(ctx as never, method as never, params);
      await contract.afterTransaction(ctx as never, result);
      return { status: 200, message: '', payload: serialize(result) };
    } catch (error) {
      return { status: 500, message: error instanceof Error ? error.message : String(error), payload: new Uint8Array(0) };
    }
  }
}
