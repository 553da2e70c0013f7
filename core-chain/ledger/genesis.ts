/**
 * Genesis: the document every validator starts from. It fixes the chain's identity (name and id),
 * the first validator set, the time before the first block, and the initial state.
 *
 * JSON form (all byte strings lowercase hex; integers that may exceed 2^53 as decimal strings):
 *
 *   { "chainName": "loulan-dev",
 *     "chainId": "<64 hex: SHA-256 of the UTF-8 chain name>",
 *     "time": "1767225600000",
 *     "validators": [ { "name": "v0", "publicKey": "<66 hex: compressed secp256k1>", "address": "0xAbC…" } ],
 *     "validatorSetHash": "<64 hex>",
 *     "state": [ { "key": "asset/issuer", "value": "<hex>" } ] }
 *
 * Validators are sorted by Ethereum address (ascending, as bytes): a validator's index in this list
 * is its index in the consensus (and the signer order of certificates), and the address is what an
 * EVM contract recovers with `ecrecover`. `address` is the EIP-55 checksum form of the key's address
 * and must match the key.
 *
 *   validatorSetHash = SHA-256("LOULAN/VALSET/V1" ‖ u32 count ‖ publicKey_0 ‖ … ‖ publicKey_{n-1})
 *
 * over the 33-byte compressed keys in that order (names are labels and are not hashed).
 *
 * State entries are sorted strictly by key (no duplicates), so the document has one canonical form.
 * `createGenesis` always seeds the registry contract's state (contracts/registry.ts): the validator
 * set, one participant per validator key (role validator) unless a given participant holds that key,
 * the given participants, the registry parameters and any schema versions given; with `routes`, the
 * routing table's parameters and initial entries; a loaded document whose registry validator set
 * differs from `validators` is refused.
 * The genesis hash, SHA-256("LOULAN/GENESIS/V1" ‖ JCS(document)), is the prevHash of block 1: the
 * chain is bound to its whole genesis, initial state included.
 *
 * Loading validates everything and names the failing field as a JSON pointer
 * (LEDGER_GENESIS_INVALID, `details.field`).
 */
import { canonicalBytes } from '../codec/jcs.ts';
import { Writer } from '../codec/binary.ts';
import { fromHex, sha256, toHex } from '../crypto/hash.ts';
import { assertPublicKey } from '../crypto/keys.ts';
import { ethAddress, toChecksumAddress } from '../crypto/secp256k1.ts';
import { LoulanError } from '../errors.ts';
import { checkEntry, State } from './state.ts';
import { registryGenesisEntries, validatorKeysIn, type ParticipantInput, type RegistryParams, type SchemaInput } from './contracts/registry.ts';
import { routesGenesisEntries, type RoutesGenesisConfig } from './contracts/routes.ts';

export const VALSET_DOMAIN = 'LOULAN/VALSET/V1';
export const GENESIS_DOMAIN = 'LOULAN/GENESIS/V1';

export interface GenesisValidator {
  readonly name: string;
  /** 33-byte compressed secp256k1 key: signs votes and certificates. */
  readonly publicKey: Uint8Array;
  /** EIP-55 checksummed Ethereum address of the key (`0x…`). */
  readonly address: string;
}

export interface Genesis {
  readonly chainName: string;
  readonly chainId: Uint8Array;
  /** ms since the epoch; block 1's time must be later. */
  readonly time: bigint;
  readonly validators: readonly GenesisValidator[];
  readonly validatorSetHash: Uint8Array;
  readonly state: readonly (readonly [key: string, value: Uint8Array])[];
}

export interface GenesisJson {
  chainName: string;
  chainId: string;
  time: string;
  validators: { name: string; publicKey: string; address: string }[];
  validatorSetHash: string;
  state: { key: string; value: string }[];
}

export interface GenesisInput {
  readonly chainName: string;
  readonly time: bigint;
  /** `organisation` (default: the name) is recorded in the registry, not in the genesis validator list. */
  readonly validators: readonly { readonly name: string; readonly publicKey: Uint8Array; readonly organisation?: string }[];
  /** Registered in the registry besides the validators (which are registered with the validator role). */
  readonly participants?: readonly ParticipantInput[];
  /** Registry parameters (activation delay, proposal lifetime); defaults in registry/records.ts. */
  readonly registry?: Partial<RegistryParams>;
  /**
   * Payload schema versions registered from genesis (`registry/schema/<id>`): each `$id` with the
   * SHA-256 of its canonical document. The caller loads them (schemas/ is above the core chain).
   */
  readonly schemas?: readonly SchemaInput[];
  /** The routes contract's parameters and initial entries; without it, defaults and an empty table. */
  readonly routes?: RoutesGenesisConfig;
  readonly state?: Iterable<readonly [string, Uint8Array]>;
}

const CHAIN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_VALIDATORS = 1024;
const MAX_U64 = (1n << 64n) - 1n;

/** The chain id: SHA-256 of the UTF-8 chain name. */
export function chainIdOf(chainName: string): Uint8Array {
  return sha256(new TextEncoder().encode(chainName));
}

/** See the module comment; `validators` must already be in set order. */
export function validatorSetHash(validators: readonly { readonly publicKey: Uint8Array }[]): Uint8Array {
  const w = new Writer(20 + 33 * validators.length);
  w.bytes(new TextEncoder().encode(VALSET_DOMAIN), VALSET_DOMAIN.length).u32(validators.length, 'validators');
  for (const v of validators) w.bytes(v.publicKey, 33, 'validators.publicKey');
  return sha256(w.finish());
}

/** Builds a genesis: derives ids and addresses, sorts validators and state, computes the set hash. */
export function createGenesis(input: GenesisInput): Genesis {
  const validators = input.validators.map((v, i) => {
    checkValidatorKey(v.publicKey, `/validators/${i}/publicKey`);
    return { name: v.name, publicKey: v.publicKey.slice(), address: toChecksumAddress(ethAddress(v.publicKey)) };
  });
  validators.sort((a, b) => compareAddress(a.address, b.address));
  const organisations = new Map(input.validators.map((v) => [toHex(v.publicKey), v.organisation ?? v.name]));
  let registry: [string, Uint8Array][];
  try {
    registry = registryGenesisEntries({
      validators: validators.map((v) => ({ publicKey: v.publicKey, name: v.name, organisation: organisations.get(toHex(v.publicKey)) as string })),
      participants: input.participants ?? [],
      params: input.registry ?? {},
      schemas: input.schemas ?? [],
    });
  } catch (cause) {
    const field = cause instanceof LoulanError && typeof cause.details.field === 'string' ? cause.details.field : '';
    fail(`/registry/${field.replaceAll('.', '/')}`, 'the registry seed is invalid', cause);
  }
  let routes: [string, Uint8Array][] = [];
  try {
    if (input.routes !== undefined) routes = routesGenesisEntries(input.routes, input.time);
  } catch (cause) {
    const field = cause instanceof LoulanError && typeof cause.details.field === 'string' ? cause.details.field : '';
    fail(`/routes/${field.replaceAll('.', '/')}`, 'the routes seed is invalid', cause);
  }
  const state = [...(input.state ?? []), ...registry, ...routes].map(([key, value]) => [key, value.slice()] as const);
  state.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const genesis: Genesis = {
    chainName: input.chainName,
    chainId: chainIdOf(input.chainName),
    time: input.time,
    validators,
    validatorSetHash: validatorSetHash(validators),
    state,
  };
  // One validation path for built and loaded documents.
  return genesisFromJson(genesisToJson(genesis));
}

export function genesisToJson(g: Genesis): GenesisJson {
  return {
    chainName: g.chainName,
    chainId: toHex(g.chainId),
    time: g.time.toString(),
    validators: g.validators.map((v) => ({ name: v.name, publicKey: toHex(v.publicKey), address: v.address })),
    validatorSetHash: toHex(g.validatorSetHash),
    state: g.state.map(([key, value]) => ({ key, value: toHex(value) })),
  };
}

/** Validates a parsed JSON document; throws LEDGER_GENESIS_INVALID naming the field. */
export function genesisFromJson(value: unknown): Genesis {
  const doc = object(value, '', ['chainName', 'chainId', 'time', 'validators', 'validatorSetHash', 'state']);
  const chainName = string(doc.chainName, '/chainName');
  if (!CHAIN_NAME_RE.test(chainName)) fail('/chainName', 'chain name must be 1-64 characters of [A-Za-z0-9._-], starting alphanumeric');
  const chainId = hex(doc.chainId, '/chainId', 32);
  if (toHex(chainId) !== toHex(chainIdOf(chainName))) fail('/chainId', 'chainId must be SHA-256 of the chain name');
  const timeText = string(doc.time, '/time');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(timeText) || BigInt(timeText) > MAX_U64) fail('/time', 'time must be a decimal u64 string (ms)');
  const time = BigInt(timeText);

  const list = array(doc.validators, '/validators');
  if (list.length === 0 || list.length > MAX_VALIDATORS) fail('/validators', `there must be 1..${MAX_VALIDATORS} validators`);
  const validators: GenesisValidator[] = list.map((item, i) => {
    const at = `/validators/${i}`;
    const v = object(item, at, ['name', 'publicKey', 'address']);
    const name = string(v.name, `${at}/name`);
    if (name.length === 0 || name.length > 64) fail(`${at}/name`, 'name must be 1-64 characters');
    const publicKey = hex(v.publicKey, `${at}/publicKey`, 33);
    checkValidatorKey(publicKey, `${at}/publicKey`);
    const address = string(v.address, `${at}/address`);
    if (address !== toChecksumAddress(ethAddress(publicKey))) fail(`${at}/address`, 'address must be the EIP-55 address of publicKey');
    if (i > 0 && compareAddress((list[i - 1] as { address: string }).address, address) >= 0) {
      fail(`${at}/address`, 'validators must be sorted by address, without duplicates');
    }
    return { name, publicKey, address };
  });
  const setHash = hex(doc.validatorSetHash, '/validatorSetHash', 32);
  if (toHex(setHash) !== toHex(validatorSetHash(validators))) fail('/validatorSetHash', 'validatorSetHash does not match the validators');

  const entries = array(doc.state, '/state');
  let previous: string | null = null;
  const state = entries.map((item, i) => {
    const at = `/state/${i}`;
    const e = object(item, at, ['key', 'value']);
    const key = string(e.key, `${at}/key`);
    const entryValue = hex(e.value, `${at}/value`);
    try {
      checkEntry(key, entryValue);
    } catch (cause) {
      fail(`${at}/key`, 'state entry exceeds the key or value limits', cause);
    }
    if (previous !== null && previous >= key) fail(`${at}/key`, 'state entries must be sorted by key, without duplicates');
    previous = key;
    return [key, entryValue] as const;
  });
  // A registry seeded in the state must name exactly the genesis validators, in the same order.
  const seeded = validatorKeysIn(new Map(state));
  if (seeded !== undefined && (seeded.length !== validators.length || seeded.some((k, i) => toHex(k) !== toHex((validators[i] as GenesisValidator).publicKey)))) {
    fail('/state', 'the registry validator set does not match the genesis validators');
  }
  return { chainName, chainId, time, validators, validatorSetHash: setHash, state };
}

/** Parses and validates genesis JSON text. */
export function parseGenesis(text: string): Genesis {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    fail('', 'genesis is not valid JSON', cause);
  }
  return genesisFromJson(value);
}

/** Pretty JSON text for a genesis file (two-space indent, trailing newline). */
export function stringifyGenesis(g: Genesis): string {
  return JSON.stringify(genesisToJson(g), null, 2) + '\n';
}

/** The hash block 1 links to. */
export function genesisHash(g: Genesis): Uint8Array {
  const doc = canonicalBytes(genesisToJson(g));
  const tag = new TextEncoder().encode(GENESIS_DOMAIN);
  const input = new Uint8Array(tag.length + doc.length);
  input.set(tag, 0);
  input.set(doc, tag.length);
  return sha256(input);
}

/** The initial state, root computed. */
export function genesisState(g: Genesis): State {
  return State.fromEntries(g.state);
}

/** The ledger's tip before block 1: height 0, the genesis hash, the genesis time. */
export function genesisTip(g: Genesis): { readonly height: bigint; readonly hash: Uint8Array; readonly time: bigint } {
  return { height: 0n, hash: genesisHash(g), time: g.time };
}

// -- validation helpers -----------------------------------------------------------------------------

function fail(field: string, message: string, cause?: unknown): never {
  throw new LoulanError('LEDGER_GENESIS_INVALID', `genesis ${field || '(document)'}: ${message}`, cause === undefined ? { details: { field } } : { details: { field }, cause });
}

function object(value: unknown, at: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be an object');
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!allowed.includes(key)) fail(`${at}/${key}`, 'unknown field');
  for (const key of allowed) if (!Object.hasOwn(record, key)) fail(`${at}/${key}`, 'required field is missing');
  return record;
}

function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) fail(at, 'must be an array');
  return value;
}

function string(value: unknown, at: string): string {
  if (typeof value !== 'string') fail(at, 'must be a string');
  return value;
}

function hex(value: unknown, at: string, length?: number): Uint8Array {
  const text = string(value, at);
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) fail(at, 'must be lowercase hex');
  if (length !== undefined && text.length !== 2 * length) fail(at, `must be ${length} bytes of hex`);
  return fromHex(text);
}

function checkValidatorKey(publicKey: Uint8Array, at: string): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33) fail(at, 'must be a 33-byte compressed secp256k1 key');
  try {
    assertPublicKey('ES256K', publicKey);
  } catch (cause) {
    fail(at, 'not a secp256k1 public key', cause);
  }
}

function compareAddress(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}
