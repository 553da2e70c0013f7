/**
 * `asset`: a test asset with integer balances, the first native contract and the one the throughput
 * benchmarks drive.
 *
 * State (under the contract's prefix, `asset/` by default):
 *   issuer             20 bytes: the only address that may mint (set in genesis)
 *   supply             u128: total minted
 *   balance/<address>  u128 (16 bytes big-endian); absent means zero, and a balance that reaches zero
 *                      is deleted, so the state holds only live accounts
 *
 * Methods (arguments in the fixed binary layout, never JSON; roles checked by the executor):
 *   transfer  to (20 bytes) ‖ amount (u128)   business roles; amount > 0 and at most the sender's balance
 *   mint      to (20 bytes) ‖ amount (u128)   any role; sender must be the issuer; the supply must fit u128
 *
 * Events: `transfer` from ‖ to ‖ amount (56 bytes); `mint` to ‖ amount (36 bytes).
 */
import { Reader, Writer } from '../../codec/binary.ts';
import { fromHex, toHex } from '../../crypto/hash.ts';
import { LoulanError } from '../../errors.ts';
import { decodeU128, encodeU128, MAX_U128, U128_BYTES, type Contract, type ContractContext } from '../contracts.ts';
import type { StateReader } from '../state.ts';
import { isAddress } from '../tx.ts';
import { ALL_ROLES, BUSINESS_ROLES, type Role } from './registry/access.ts';

export const ASSET_CONTRACT = 'asset';

/** transfer: any business role; mint: any active participant, and then only the issuer. */
export const ASSET_ACCESS: Readonly<Record<string, readonly Role[]>> = Object.freeze({ transfer: BUSINESS_ROLES, mint: ALL_ROLES });

export interface AssetTransferArgs {
  /** Recipient address (40 lowercase hex). */
  readonly to: string;
  readonly amount: bigint;
}

export type AssetMintArgs = AssetTransferArgs;

/** The asset contract under `name` (one instance per asset; the name is also the state prefix). */
export function createAssetContract(name = ASSET_CONTRACT): Contract {
  return Object.freeze({
    name,
    access: ASSET_ACCESS,
    execute(ctx: ContractContext, method: string, args: Uint8Array): void {
      switch (method) {
        case 'transfer':
          return transfer(ctx, decodeAssetArgs(args));
        case 'mint':
          return mint(ctx, decodeAssetArgs(args));
        default:
          throw new LoulanError('CONTRACT_UNKNOWN_METHOD', `${name} has no method ${method}`, { details: { contract: name, method } });
      }
    },
  });
}

function transfer(ctx: ContractContext, args: DecodedArgs): void {
  const from = ctx.sender;
  const fromKey = 'balance/' + from;
  const balance = readAmount(ctx.get(fromKey));
  if (balance < args.amount) {
    throw new LoulanError('CONTRACT_INSUFFICIENT_FUNDS', 'balance is below the amount', {
      details: { address: from, balance, amount: args.amount },
    });
  }
  writeAmount(ctx, fromKey, balance - args.amount);
  const toKey = 'balance/' + args.to;
  // Read after the debit so a transfer to oneself nets to zero.
  writeAmount(ctx, toKey, readAmount(ctx.get(toKey)) + args.amount);
  const data = new Uint8Array(20 + 20 + U128_BYTES);
  Buffer.from(data.buffer, data.byteOffset, 20).write(from, 'hex');
  data.set(args.toBytes, 20);
  data.set(args.amountBytes, 40);
  ctx.emit('transfer', data);
}

function mint(ctx: ContractContext, args: DecodedArgs): void {
  const issuer = ctx.get('issuer');
  if (issuer === undefined || toHex(issuer) !== ctx.sender) {
    throw new LoulanError('CONTRACT_UNAUTHORIZED', 'only the issuer may mint', { details: { sender: ctx.sender } });
  }
  const supply = readAmount(ctx.get('supply')) + args.amount;
  if (supply > MAX_U128) throw new LoulanError('CONTRACT_STATE_LIMIT', 'supply would exceed 128 bits', { details: { field: 'supply' } });
  ctx.put('supply', encodeU128(supply, 'supply'));
  const toKey = 'balance/' + args.to;
  writeAmount(ctx, toKey, readAmount(ctx.get(toKey)) + args.amount);
  const data = new Uint8Array(20 + U128_BYTES);
  data.set(args.toBytes, 0);
  data.set(args.amountBytes, 20);
  ctx.emit('mint', data);
}

function readAmount(value: Uint8Array | undefined): bigint {
  if (value === undefined) return 0n;
  if (value.length !== U128_BYTES) throw new LoulanError('INTERNAL', 'corrupt balance entry');
  return decodeU128(value);
}

function writeAmount(ctx: ContractContext, key: string, amount: bigint): void {
  if (amount === 0n) ctx.delete(key);
  else ctx.put(key, encodeU128(amount, 'balance'));
}

// -- arguments --------------------------------------------------------------------------------------

interface DecodedArgs {
  readonly to: string;
  readonly toBytes: Uint8Array;
  readonly amount: bigint;
  readonly amountBytes: Uint8Array;
}

/** `to (20 bytes) ‖ amount (u128)`: the arguments of both `transfer` and `mint`. */
export function encodeAssetArgs(args: AssetTransferArgs): Uint8Array {
  if (!isAddress(args.to)) throw new LoulanError('CONTRACT_BAD_ARGS', 'to must be a 40-hex address', { details: { field: 'to' } });
  if (typeof args.amount !== 'bigint' || args.amount <= 0n || args.amount > MAX_U128) {
    throw new LoulanError('CONTRACT_BAD_ARGS', 'amount must be in 1..2^128-1', { details: { field: 'amount' } });
  }
  return new Writer(36).bytes(fromHex(args.to, 20), 20, 'to').bytes(encodeU128(args.amount), U128_BYTES, 'amount').finish();
}

export const encodeTransferArgs = encodeAssetArgs;
export const encodeMintArgs = encodeAssetArgs;

function decodeAssetArgs(args: Uint8Array): DecodedArgs {
  let toBytes: Uint8Array;
  let amountBytes: Uint8Array;
  try {
    const r = new Reader(args);
    toBytes = r.bytes(20, 'to');
    amountBytes = r.bytes(U128_BYTES, 'amount');
    r.finish();
  } catch (cause) {
    const field = cause instanceof LoulanError && typeof cause.details.field === 'string' ? cause.details.field : 'args';
    throw new LoulanError('CONTRACT_BAD_ARGS', 'arguments are not to (20 bytes) ‖ amount (16 bytes)', { details: { field }, cause });
  }
  const amount = decodeU128(amountBytes);
  if (amount === 0n) throw new LoulanError('CONTRACT_BAD_ARGS', 'amount must be positive', { details: { field: 'amount' } });
  return { to: toHex(toBytes), toBytes, amount, amountBytes };
}

// -- state helpers for genesis, queries and tests ----------------------------------------------------

/** The full state key of an address's balance. */
export function assetBalanceKey(address: string, name = ASSET_CONTRACT): string {
  return `${name}/balance/${address}`;
}

/** An address's balance as committed in `state` (0 when absent). */
export function assetBalance(state: StateReader, address: string, name = ASSET_CONTRACT): bigint {
  return readAmount(state.get(assetBalanceKey(address, name)));
}

/** Genesis entries: the issuer, the initial balances, and the matching supply. */
export function assetGenesisEntries(
  config: { readonly issuer: string; readonly balances?: Readonly<Record<string, bigint>> },
  name = ASSET_CONTRACT,
): [string, Uint8Array][] {
  if (!isAddress(config.issuer)) throw new LoulanError('CONFIG_INVALID', 'issuer must be a 40-hex address', { details: { field: 'issuer' } });
  const entries: [string, Uint8Array][] = [[`${name}/issuer`, fromHex(config.issuer, 20)]];
  let supply = 0n;
  for (const [address, amount] of Object.entries(config.balances ?? {})) {
    if (!isAddress(address)) throw new LoulanError('CONFIG_INVALID', 'balance holder must be a 40-hex address', { details: { field: `balances/${address}` } });
    if (amount <= 0n) continue;
    supply += amount;
    entries.push([assetBalanceKey(address, name), encodeU128(amount, `balances/${address}`)]);
  }
  if (supply > 0n) entries.push([`${name}/supply`, encodeU128(supply, 'supply')]);
  return entries;
}
