/**
 * The interface native contracts plug into.
 *
 * A contract is a deterministic function of (its own state, the call, the block context): it reads
 * and writes keys under its own prefix (`<name>/...`), emits events, and fails by throwing a
 * `LoulanError` with a CONTRACT_* (or LEDGER_*) code. It never sees the clock (only the block time),
 * randomness, the network or another contract's keys. The executor runs every call on a per-transaction
 * overlay: a throw discards the call's writes and events, the nonce is still consumed, and the
 * receipt records the code.
 *
 * Contracts are trusted code compiled into the node (no gas): they must bound their own work by the
 * size of their arguments.
 */
import { LoulanError } from '../errors.ts';
import { encodeEvent, type LedgerEvent } from './events.ts';
import { checkEntry, type StateOverlay } from './state.ts';
import { ADDR_PREFIX, decodeAddrRecord, type AddrRecord, type Role } from './contracts/registry/access.ts';

/** What a contract sees of the world during one call. */
export interface ContractContext {
  /** The sender's address (see `senderAddress`). */
  readonly sender: string;
  readonly height: bigint;
  /** The block time in ms (the proposer's clock, bounded by the validators); never the local clock. */
  readonly time: bigint;
  /** Index of the transaction in its block. */
  readonly txIndex: number;
  /** Reads `<contract>/<key>`. */
  get(key: string): Uint8Array | undefined;
  /**
   * Writes `<contract>/<key>`. The state takes `value` as it is (no copy): never modify an array after
   * putting it. Throws CONTRACT_STATE_LIMIT beyond the size limits.
   */
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Exports an event (taking `data` as it is, like `put`); `contract` and `tx` are filled in here. */
  emit(type: string, data: Uint8Array): void;
  /**
   * The sender's registry access record (`registry/addr/<sender>`: status, roles, participant id),
   * read-only; undefined in a begin-block hook. The one read a contract has outside its own prefix:
   * what lets it count approvals per participant rather than per key, or bind a name to its owner.
   */
  senderRecord(): AddrRecord | undefined;
}

export interface Contract {
  /** Also the state key prefix. [a-z][a-z0-9_-]*, at most 32 bytes, not a reserved prefix. */
  readonly name: string;
  /**
   * Method → the roles that may call it (any one suffices). The executor checks the sender's registry
   * record against this before `execute` (CONTRACT_FORBIDDEN), and refuses a method not listed here
   * (CONTRACT_UNKNOWN_METHOD), so `execute` only sees declared methods from entitled senders. Finer
   * rules (the asset issuer, a participant managing its own keys) stay inside the contract.
   */
  readonly access: Readonly<Record<string, readonly Role[]>>;
  execute(ctx: ContractContext, method: string, args: Uint8Array): void;
  /**
   * Optional hook the executor runs at the start of every block, before its first transaction, in
   * registry order: deterministic housekeeping driven by height and block time (scheduled changes,
   * expiries). `ctx.sender` is '' and events carry `tx` = BLOCK_HOOK_TX. A throw makes the block
   * unexecutable, so a hook must not fail on any state its own contract can produce.
   */
  beginBlock?(ctx: ContractContext): void;
}

/** The `tx` index of events emitted by a begin-block hook (they precede the block's transactions). */
export const BLOCK_HOOK_TX = 0xffff_ffff;

/** Name → contract, as the executor and mempool consult it. */
export type ContractRegistry = ReadonlyMap<string, Contract>;

/** State prefixes the ledger itself uses (`nonce/<address>`) or keeps for later system records. */
export const RESERVED_PREFIXES: readonly string[] = Object.freeze(['nonce', 'sys', 'receipt', 'block']);

const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/** Builds the registry, refusing bad, reserved or duplicate names. */
export function contractRegistry(contracts: Iterable<Contract>): ContractRegistry {
  const map = new Map<string, Contract>();
  for (const contract of contracts) {
    const name = contract.name;
    if (typeof name !== 'string' || !NAME_RE.test(name) || RESERVED_PREFIXES.includes(name)) {
      throw new LoulanError('CONFIG_INVALID', `invalid or reserved contract name: ${String(name)}`, { details: { field: 'contracts', name } });
    }
    if (map.has(name)) throw new LoulanError('CONFIG_INVALID', `contract ${name} registered twice`, { details: { field: 'contracts', name } });
    map.set(name, contract);
  }
  return map;
}

/**
 * The context handed to contracts. One instance per block, re-pointed at each transaction, so a call
 * costs no allocation beyond what the contract itself does.
 * @internal used by the executor
 */
export class CallContext implements ContractContext {
  sender = '';
  height = 0n;
  time = 0n;
  txIndex = 0;
  /** Events of the current call and their encodings (encoded at emit, so a bad event fails the call). */
  readonly events: LedgerEvent[] = [];
  readonly encodedEvents: Uint8Array[] = [];
  #contract = '';
  #prefix = '';
  readonly #overlay: StateOverlay;

  constructor(overlay: StateOverlay) {
    this.#overlay = overlay;
  }

  /** Points the context at the next call; clears pending events. */
  begin(contract: string, sender: string, txIndex: number): void {
    this.#contract = contract;
    this.#prefix = contract + '/';
    this.sender = sender;
    this.txIndex = txIndex;
    this.events.length = 0;
    this.encodedEvents.length = 0;
  }

  get(key: string): Uint8Array | undefined {
    return this.#overlay.get(this.#prefix + key);
  }

  put(key: string, value: Uint8Array): void {
    const full = this.#prefix + key;
    checkEntry(full, value);
    this.#overlay.put(full, value);
  }

  delete(key: string): void {
    this.#overlay.delete(this.#prefix + key);
  }

  emit(type: string, data: Uint8Array): void {
    const event: LedgerEvent = { contract: this.#contract, type, tx: this.txIndex, data };
    this.encodedEvents.push(encodeEvent(event));
    this.events.push(event);
  }

  senderRecord(): AddrRecord | undefined {
    if (this.sender === '') return undefined;
    const bytes = this.#overlay.get(ADDR_PREFIX + this.sender);
    return bytes === undefined ? undefined : decodeAddrRecord(bytes);
  }
}

// -- fixed-width amounts ----------------------------------------------------------------------------

export const U128_BYTES = 16;
export const MAX_U128 = (1n << 128n) - 1n;

/** 16 bytes big-endian. Throws CONTRACT_STATE_LIMIT outside 0..2^128-1. */
export function encodeU128(value: bigint, field = 'amount'): Uint8Array {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_U128) {
    throw new LoulanError('CONTRACT_STATE_LIMIT', `${field} does not fit 128 bits`, { details: { field } });
  }
  const out = new Uint8Array(U128_BYTES);
  // Balances are hot: most fit a double exactly, which avoids four bigint shifts and masks.
  if (value <= MAX_SAFE) {
    const n = Number(value);
    writeU32(out, 8, Math.floor(n / 0x1_0000_0000));
    writeU32(out, 12, n >>> 0);
    return out;
  }
  writeU32(out, 0, Number((value >> 96n) & 0xffff_ffffn));
  writeU32(out, 4, Number((value >> 64n) & 0xffff_ffffn));
  writeU32(out, 8, Number((value >> 32n) & 0xffff_ffffn));
  writeU32(out, 12, Number(value & 0xffff_ffffn));
  return out;
}

/** Reads 16 bytes big-endian at `offset` (the caller checks the length). */
export function decodeU128(bytes: Uint8Array, offset = 0): bigint {
  const a = readU32(bytes, offset);
  const b = readU32(bytes, offset + 4);
  const c = readU32(bytes, offset + 8);
  const d = readU32(bytes, offset + 12);
  if (a === 0 && b === 0 && c < 0x20_0000) return BigInt(c * 0x1_0000_0000 + d);
  return (BigInt(a) << 96n) | (BigInt(b) << 64n) | (BigInt(c) << 32n) | BigInt(d);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] as number) << 24) | ((bytes[offset + 1] as number) << 16) | ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number)) >>>
    0
  );
}

function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
