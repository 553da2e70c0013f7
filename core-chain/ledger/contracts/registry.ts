/**
 * `registry`: who is who in the consortium (participants, organisations, roles, keys), which outside
 * systems exist and how their evidence is verified, who the validators are, and the votes that change
 * them. Every other contract leans on it: the executor checks each call's sender against the compact
 * `addr/<address>` record before the call runs (registry/access.ts), so role gating costs one state
 * read per transaction.
 *
 * Layouts use codec/binary.ts fields: integers big-endian, `str` = u32 byte length ‖ UTF-8,
 * `bytes` = u32 length ‖ raw, `key` = u8 alg (1 Ed25519, 2 ES256, 3 ES256K) ‖ raw public key (32 or
 * 33 bytes), `address` = 20 raw bytes of tx.ts `senderAddress` (hex in state keys), roles = u32 mask
 * with bit i = ROLES[i] (admin, validator, operator, shop, program, financier, relayer, notary).
 * Ids (participant, organisation, system): 1-64 chars of [A-Za-z0-9._:-]; names 1-64 bytes.
 *
 * State (under `registry/`):
 *   params                u64 activationDelay (blocks) ‖ u64 proposalTtlMs            (genesis)
 *   addr/<address hex>    u8 status (0 active, 1 suspended, 2 revoked) ‖ u32 roles ‖ str participantId
 *   participant/<id>      u8 status (0 active, 1 suspended) ‖ u32 roles ‖ str organisation ‖
 *                         u8 n ‖ n × key                                   (active keys only)
 *   system/<id>           u8 kind (1 fabric, 2 evm, 3 rest, 4 db) ‖ str network ‖ body
 *                           fabric: u8 n ‖ n × bytes mspRootCert ‖ str endorsementPolicy
 *                           evm:    u64 chainId ‖ u32 finalityDepth ‖ u8 n ‖ n × 20-byte notary
 *                                   Ethereum address ‖ u8 threshold k
 *                           rest/db: str participantId (whose signature is the evidence)
 *   validators            u16 n ‖ n × 33-byte compressed secp256k1 key, ascending Ethereum address
 *   validator/<key hex>   str name ‖ str organisation
 *   pending               u64 activationHeight ‖ u64 proposalId ‖ u8 change (1 join, 2 remove) ‖
 *                         33-byte key ‖ str name ‖ str organisation       (absent: nothing pending)
 *   proposal/next         u64 last proposal id (ids start at 1)
 *   proposal/<id decimal> action ‖ u8 status (0 open, 1 passed, 2 expired) ‖ 20-byte proposer ‖
 *                         u64 createdHeight ‖ u64 expiresAt (ms) ‖ u64 decidedHeight ‖ u16 m ‖
 *                         m × 33-byte approving validator key
 *   proposals/open        u16 n ‖ n × (u64 id ‖ u64 expiresAt)
 *   schema/<schemaId>     32-byte SHA-256 of the canonical (RFC 8785) schema document ‖ u64 height
 *                         (0: genesis); schemaId = `urn:loulan:schema:<name>:<major.minor.patch>`
 *   where action = u8 kind ‖ payload: 1 validator-join 33-byte key ‖ str name ‖ str organisation;
 *                  2 validator-remove 33-byte key; 3 set-roles str participantId ‖ u32 roles
 *
 * Methods (roles the executor requires; arguments):
 *   addParticipant  admin       str id ‖ str organisation ‖ u32 roles ‖ u8 n (1..16) ‖ n × key
 *   setRoles        admin       str id ‖ u32 roles
 *   setStatus       admin       str id ‖ u8 status (0 active, 1 suspended); not oneself
 *   addKey          any role    str id ‖ key           the participant itself, or an admin of its organisation
 *   revokeKey       any role    str id ‖ address       same; never the last key
 *   registerSystem  admin       str id ‖ system record (as stored)
 *   updateSystem    admin       str id ‖ system record
 *   propose         admin, validator   action
 *   approve         validator   u64 proposalId         only current validator keys (governance.ts)
 *   registerSchema  admin       str schemaId ‖ 32-byte SHA-256   a version is immutable: the same hash
 *                               again is a no-op, another hash CONTRACT_CONFLICT (publish a new version)
 *
 * Events (data layouts):
 *   participant-added        str id ‖ str organisation ‖ u32 roles ‖ u8 n ‖ n × address
 *   roles-set                str id ‖ u32 roles
 *   participant-status       str id ‖ u8 status
 *   key-added                str id ‖ address ‖ key
 *   key-revoked              str id ‖ address
 *   system-registered/-updated  str id ‖ u8 kind ‖ 32-byte SHA-256 of the stored record
 *   proposal-created         u64 id ‖ u64 expiresAt ‖ action
 *   proposal-approved        u64 id ‖ 33-byte validator key ‖ u16 counted approvals ‖ u16 quorum
 *   proposal-passed          u64 id ‖ u8 kind
 *   proposal-expired         u64 id                                  (begin-block)
 *   validator-set-scheduled  u64 activationHeight ‖ u64 proposalId ‖ u8 change ‖ 33-byte key
 *   validator-set-activated  u64 proposalId ‖ u16 n ‖ n × 33-byte key (the new set) (begin-block)
 *   schema-registered        str schemaId ‖ 32-byte SHA-256
 */
import { Reader, Writer } from '../../codec/binary.ts';
import { fromHex, sha256, toHex } from '../../crypto/hash.ts';
import { LoulanError } from '../../errors.ts';
import type { Contract, ContractContext } from '../contracts.ts';
import type { StateReader } from '../state.ts';
import { isAddress, senderAddress } from '../tx.ts';
import {
  ADDR_ACTIVE,
  ADDR_REVOKED,
  ADDR_SUSPENDED,
  ALL_ROLES,
  decodeAddrRecord,
  encodeAddrRecord,
  REGISTRY_CONTRACT,
  roleMask,
  rolesOf,
  type AddrRecord,
  type Role,
} from './registry/access.ts';
import { applyChange, approve, beginBlock, KEY, propose, sortValidatorKeys } from './registry/governance.ts';
import {
  badArgs,
  checkEndpoint,
  checkId,
  checkKey,
  checkMask,
  checkSchemaId,
  decodeArgs,
  decodeParams,
  decodeParticipant,
  decodePending,
  decodeProposal,
  decodeSchemaRecord,
  decodeValidatorKeys,
  decodeValidatorMeta,
  encodeParams,
  encodeParticipant,
  encodeSchemaRecord,
  encodeU64,
  encodeSystem,
  encodeValidatorKeys,
  encodeValidatorMeta,
  MAX_ID_BYTES,
  MAX_KEYS,
  MAX_SCHEMA_ID_BYTES,
  readKey,
  readSystemRecord,
  writeAction,
  writeKey,
  DEFAULT_ACTIVATION_DELAY,
  DEFAULT_PROPOSAL_TTL_MS,
  type OutsideSystem,
  type Participant,
  type ParticipantKey,
  type Proposal,
  type ProposalAction,
  type RegistryParams,
  type SchemaRecord,
  type ValidatorEntry,
} from './registry/records.ts';

export { REGISTRY_CONTRACT };

/** Roles per method; see the module comment. */
export const REGISTRY_ACCESS: Readonly<Record<string, readonly Role[]>> = Object.freeze({
  addParticipant: ['admin'],
  setRoles: ['admin'],
  setStatus: ['admin'],
  addKey: ALL_ROLES,
  revokeKey: ALL_ROLES,
  registerSystem: ['admin'],
  updateSystem: ['admin'],
  propose: ['admin', 'validator'],
  approve: ['validator'],
  registerSchema: ['admin'],
});

/** The registry contract (one per chain; its name is fixed because the executor reads its records). */
export function createRegistryContract(): Contract {
  return Object.freeze({
    name: REGISTRY_CONTRACT,
    access: REGISTRY_ACCESS,
    execute(ctx: ContractContext, method: string, args: Uint8Array): void {
      switch (method) {
        case 'addParticipant':
          return addParticipant(ctx, args);
        case 'setRoles': {
          const { id, mask } = decodeArgs(args, (r) => ({ id: checkId(r.string(MAX_ID_BYTES, 'id'), 'id'), mask: checkMask(r.u32('roles'), 'roles') }));
          return setRoles(ctx, id, mask);
        }
        case 'setStatus':
          return setStatus(ctx, args);
        case 'addKey':
          return addKey(ctx, args);
        case 'revokeKey':
          return revokeKey(ctx, args);
        case 'registerSystem':
          return putSystem(ctx, args, false);
        case 'updateSystem':
          return putSystem(ctx, args, true);
        case 'propose':
          return propose(ctx, args);
        case 'approve':
          return approve(ctx, args, setRoles);
        case 'registerSchema':
          return registerSchema(ctx, args);
        default:
          throw new LoulanError('CONTRACT_UNKNOWN_METHOD', `registry has no method ${method}`, { details: { contract: REGISTRY_CONTRACT, method } });
      }
    },
    beginBlock,
  });
}

// -- participants and keys -------------------------------------------------------------------------

function loadParticipant(ctx: ContractContext, id: string): Participant {
  const bytes = ctx.get(KEY.participant(id));
  if (bytes === undefined) throw new LoulanError('CONTRACT_NOT_FOUND', `no participant ${id}`, { details: { kind: 'participant', id } });
  return decodeParticipant(id, bytes);
}

/** Writes the participant and re-stamps every active key's address record with its status and roles. */
function storeParticipant(ctx: ContractContext, p: Participant): void {
  ctx.put(KEY.participant(p.id), encodeParticipant(p));
  const record: AddrRecord = { status: p.status === 'active' ? ADDR_ACTIVE : ADDR_SUSPENDED, roles: roleMask(p.roles), participant: p.id };
  const encoded = encodeAddrRecord(record);
  for (const k of p.keys) ctx.put(KEY.addr(senderAddress(k.alg, k.publicKey)), encoded);
}

function addressBytes(address: string): Uint8Array {
  return fromHex(address, 20);
}

function addParticipant(ctx: ContractContext, args: Uint8Array): void {
  const p = decodeArgs(args, (r): Participant => {
    const id = checkId(r.string(MAX_ID_BYTES, 'id'), 'id');
    const organisation = checkId(r.string(MAX_ID_BYTES, 'organisation'), 'organisation');
    const roles = rolesOf(checkMask(r.u32('roles'), 'roles'));
    const count = r.u8('keys');
    if (count === 0 || count > MAX_KEYS) badArgs('keys', `1..${MAX_KEYS} keys`);
    const keys: ParticipantKey[] = [];
    for (let i = 0; i < count; i++) {
      const key = readKey(r, `keys.${i}`);
      checkKey(key.alg, key.publicKey, `keys.${i}.publicKey`);
      keys.push(key);
    }
    return { id, organisation, status: 'active', roles, keys };
  });
  if (ctx.get(KEY.participant(p.id)) !== undefined) {
    throw new LoulanError('CONTRACT_ALREADY_EXISTS', `participant ${p.id} exists`, { details: { kind: 'participant', id: p.id } });
  }
  const addresses = p.keys.map((k) => senderAddress(k.alg, k.publicKey));
  addresses.forEach((address, i) => {
    if (addresses.indexOf(address) !== i || ctx.get(KEY.addr(address)) !== undefined) {
      throw new LoulanError('CONTRACT_ALREADY_EXISTS', `key ${address} is already registered`, { details: { kind: 'key', id: address } });
    }
  });
  storeParticipant(ctx, p);
  const event = new Writer(64 + 20 * addresses.length).string(p.id, MAX_ID_BYTES).string(p.organisation, MAX_ID_BYTES).u32(roleMask(p.roles)).u8(addresses.length);
  for (const address of addresses) event.bytes(addressBytes(address), 20);
  ctx.emit('participant-added', event.finish());
}

/** Sets a participant's roles (the `setRoles` method and a passed set-roles proposal). */
function setRoles(ctx: ContractContext, id: string, mask: number): void {
  const p = loadParticipant(ctx, id);
  storeParticipant(ctx, { ...p, roles: rolesOf(mask) });
  ctx.emit('roles-set', new Writer(80).string(id, MAX_ID_BYTES).u32(mask).finish());
}

function setStatus(ctx: ContractContext, args: Uint8Array): void {
  const { id, status } = decodeArgs(args, (r) => {
    const id = checkId(r.string(MAX_ID_BYTES, 'id'), 'id');
    const status = r.u8('status');
    if (status > 1) badArgs('status', 'status must be 0 active or 1 suspended');
    return { id, status };
  });
  const p = loadParticipant(ctx, id);
  if (status === 1 && senderParticipant(ctx).participant === id) badArgs('id', 'a participant cannot suspend itself');
  storeParticipant(ctx, { ...p, status: status === 0 ? 'active' : 'suspended' });
  ctx.emit('participant-status', new Writer(80).string(id, MAX_ID_BYTES).u8(status).finish());
}

function senderParticipant(ctx: ContractContext): AddrRecord {
  const bytes = ctx.get(KEY.addr(ctx.sender));
  // The executor let the call through, so the sender is registered and active.
  if (bytes === undefined) throw new LoulanError('INTERNAL', 'sender has no registry record');
  return decodeAddrRecord(bytes);
}

/** The participant itself, or an admin of the same organisation, may manage its keys. */
function checkKeyManager(ctx: ContractContext, p: Participant, method: string): void {
  const sender = senderParticipant(ctx);
  if (sender.participant === p.id) return;
  if ((sender.roles & roleMask(['admin'])) !== 0) {
    const own = loadParticipant(ctx, sender.participant);
    if (own.organisation === p.organisation) return;
  }
  throw new LoulanError('CONTRACT_FORBIDDEN', `${ctx.sender} may not manage the keys of ${p.id}`, {
    details: { sender: ctx.sender, contract: REGISTRY_CONTRACT, method, required: ['self', 'admin of the same organisation'], reason: 'not-owner' },
  });
}

function addKey(ctx: ContractContext, args: Uint8Array): void {
  const { id, key } = decodeArgs(args, (r) => {
    const id = checkId(r.string(MAX_ID_BYTES, 'id'), 'id');
    const key = readKey(r, 'key');
    checkKey(key.alg, key.publicKey, 'key.publicKey');
    return { id, key };
  });
  const p = loadParticipant(ctx, id);
  checkKeyManager(ctx, p, 'addKey');
  const address = senderAddress(key.alg, key.publicKey);
  if (ctx.get(KEY.addr(address)) !== undefined) {
    throw new LoulanError('CONTRACT_ALREADY_EXISTS', `key ${address} is already registered`, { details: { kind: 'key', id: address } });
  }
  if (p.keys.length >= MAX_KEYS) throw new LoulanError('CONTRACT_STATE_LIMIT', `a participant has at most ${MAX_KEYS} keys`, { details: { field: 'keys' } });
  storeParticipant(ctx, { ...p, keys: [...p.keys, key] });
  ctx.emit('key-added', writeKey(new Writer(96).string(id, MAX_ID_BYTES).bytes(addressBytes(address), 20), key, 'key').finish());
}

function revokeKey(ctx: ContractContext, args: Uint8Array): void {
  const { id, address } = decodeArgs(args, (r) => ({ id: checkId(r.string(MAX_ID_BYTES, 'id'), 'id'), address: toHex(r.bytes(20, 'address')) }));
  const p = loadParticipant(ctx, id);
  checkKeyManager(ctx, p, 'revokeKey');
  const remaining = p.keys.filter((k) => senderAddress(k.alg, k.publicKey) !== address);
  if (remaining.length === p.keys.length) throw new LoulanError('CONTRACT_NOT_FOUND', `${id} has no active key ${address}`, { details: { kind: 'key', id: address } });
  if (remaining.length === 0) throw new LoulanError('REGISTRY_LAST_KEY', `${address} is the last key of ${id}`, { details: { participant: id, address } });
  storeParticipant(ctx, { ...p, keys: remaining });
  ctx.put(KEY.addr(address), encodeAddrRecord({ status: ADDR_REVOKED, roles: roleMask(p.roles), participant: id }));
  ctx.emit('key-revoked', new Writer(96).string(id, MAX_ID_BYTES).bytes(addressBytes(address), 20).finish());
}

// -- outside systems -------------------------------------------------------------------------------

function putSystem(ctx: ContractContext, args: Uint8Array, update: boolean): void {
  const { id, system } = decodeArgs(args, (r) => ({ id: checkId(r.string(MAX_ID_BYTES, 'id'), 'id'), system: readSystemRecord(r) }));
  const exists = ctx.get(KEY.system(id)) !== undefined;
  if (exists && !update) throw new LoulanError('CONTRACT_ALREADY_EXISTS', `system ${id} exists`, { details: { kind: 'system', id } });
  if (!exists && update) throw new LoulanError('CONTRACT_NOT_FOUND', `no system ${id}`, { details: { kind: 'system', id } });
  if ((system.kind === 'rest' || system.kind === 'db') && ctx.get(KEY.participant(system.participant)) === undefined) {
    throw new LoulanError('CONTRACT_NOT_FOUND', `no participant ${system.participant}`, { details: { kind: 'participant', id: system.participant } });
  }
  const record = encodeSystem(system);
  ctx.put(KEY.system(id), record);
  const kind = record[0] as number;
  ctx.emit(update ? 'system-updated' : 'system-registered', new Writer(112).string(id, MAX_ID_BYTES).u8(kind).bytes(sha256(record), 32).finish());
}

// -- payload schemas -------------------------------------------------------------------------------

const schemaKey = (id: string): string => `schema/${id}`;

function registerSchema(ctx: ContractContext, args: Uint8Array): void {
  const { id, hash } = decodeArgs(args, (r) => ({ id: checkSchemaId(r.string(MAX_SCHEMA_ID_BYTES, 'schemaId'), 'schemaId'), hash: r.bytes(32, 'hash') }));
  const stored = ctx.get(schemaKey(id));
  if (stored !== undefined) {
    const registered = decodeSchemaRecord(stored).hash;
    // Registering the same version again (a re-run of a publishing script) changes nothing.
    if (toHex(registered) === toHex(hash)) return;
    throw new LoulanError('CONTRACT_CONFLICT', `schema ${id} is registered with another hash; publish a new version`, {
      details: { kind: 'schema', id, registered: toHex(registered) },
    });
  }
  ctx.put(schemaKey(id), encodeSchemaRecord({ hash, height: ctx.height }));
  ctx.emit('schema-registered', new Writer(180).string(id, MAX_SCHEMA_ID_BYTES).bytes(hash, 32).finish());
}

// -- arguments -------------------------------------------------------------------------------------

export interface ParticipantInput {
  readonly id: string;
  readonly organisation: string;
  readonly roles: readonly Role[];
  readonly keys: readonly ParticipantKey[];
}

function idWriter(id: string): Writer {
  return new Writer(128).string(id, MAX_ID_BYTES, 'id');
}

export function encodeAddParticipantArgs(p: ParticipantInput): Uint8Array {
  const w = idWriter(p.id).string(p.organisation, MAX_ID_BYTES, 'organisation').u32(roleMask(p.roles), 'roles').u8(p.keys.length, 'keys');
  p.keys.forEach((k, i) => writeKey(w, k, `keys.${i}`));
  return w.finish();
}

export function encodeSetRolesArgs(participant: string, roles: readonly Role[]): Uint8Array {
  return idWriter(participant).u32(roleMask(roles), 'roles').finish();
}

export function encodeSetStatusArgs(participant: string, status: 'active' | 'suspended'): Uint8Array {
  return idWriter(participant).u8(status === 'active' ? 0 : 1, 'status').finish();
}

export function encodeAddKeyArgs(participant: string, key: ParticipantKey): Uint8Array {
  return writeKey(idWriter(participant), key, 'key').finish();
}

export function encodeRevokeKeyArgs(participant: string, address: string): Uint8Array {
  if (!isAddress(address)) badArgs('address', 'address must be 40 lowercase hex');
  return idWriter(participant).bytes(fromHex(address, 20), 20, 'address').finish();
}

/** Arguments of `registerSystem` and `updateSystem`. */
export function encodeSystemArgs(id: string, system: OutsideSystem): Uint8Array {
  const record = encodeSystem(system);
  return idWriter(id).bytes(record, record.length).finish();
}

export function encodeProposeArgs(action: ProposalAction): Uint8Array {
  return writeAction(new Writer(128), action).finish();
}

export function encodeApproveArgs(proposal: bigint): Uint8Array {
  return new Writer(8).u64(proposal, 'proposal').finish();
}

/** `registerSchema`: `str schemaId ‖ 32-byte SHA-256` of the canonical (RFC 8785) schema document. */
export function encodeRegisterSchemaArgs(schemaId: string, hash: Uint8Array): Uint8Array {
  return new Writer(180).string(checkSchemaId(schemaId, 'schemaId'), MAX_SCHEMA_ID_BYTES, 'schemaId').bytes(hash, 32, 'hash').finish();
}

// -- pure readers over committed state -------------------------------------------------------------

const P = REGISTRY_CONTRACT + '/';

/** The current validator set in set order (ascending Ethereum address), with names and organisations. */
export function currentValidators(state: StateReader): ValidatorEntry[] {
  const bytes = state.get(P + KEY.validators);
  if (bytes === undefined) return [];
  return decodeValidatorKeys(bytes).map((publicKey) => {
    const meta = state.get(P + KEY.validator(publicKey));
    if (meta === undefined) throw new LoulanError('INTERNAL', 'validator without its name record', { details: { key: toHex(publicKey) } });
    return { publicKey, ...decodeValidatorMeta(meta) };
  });
}

export interface PendingValidatorChange {
  /** The first height whose begin-block hook installs `validators`. */
  readonly activationHeight: bigint;
  /** The set that will be current from `activationHeight` on, in set order. */
  readonly validators: ValidatorEntry[];
  readonly proposal: bigint;
  readonly change: 'join' | 'remove';
  readonly publicKey: Uint8Array;
}

/** The scheduled validator change, or null when none is pending. */
export function pendingValidatorChange(state: StateReader): PendingValidatorChange | null {
  const bytes = state.get(P + KEY.pending);
  if (bytes === undefined) return null;
  const pending = decodePending(bytes);
  const current = currentValidators(state);
  const meta = new Map(current.map((v) => [toHex(v.publicKey), v]));
  if (pending.change === 'join') {
    const { publicKey, name, organisation, nodeId, endpoint } = pending;
    meta.set(toHex(publicKey), { publicKey, name, organisation, nodeId, endpoint });
  }
  const keys = applyChange(
    current.map((v) => v.publicKey),
    pending,
  );
  return {
    activationHeight: pending.activationHeight,
    validators: keys.map((k) => meta.get(toHex(k)) as ValidatorEntry),
    proposal: pending.proposal,
    change: pending.change,
    publicKey: pending.publicKey,
  };
}

export function registryParticipant(state: StateReader, id: string): Participant | undefined {
  const bytes = state.get(P + KEY.participant(id));
  return bytes === undefined ? undefined : decodeParticipant(id, bytes);
}

export function registrySystem(state: StateReader, id: string): OutsideSystem | undefined {
  const bytes = state.get(P + KEY.system(id));
  if (bytes === undefined) return undefined;
  const r = new Reader(bytes);
  const system = readSystemRecord(r);
  r.finish();
  return system;
}

export function registryProposal(state: StateReader, id: bigint): Proposal | undefined {
  const bytes = state.get(P + KEY.proposal(id));
  return bytes === undefined ? undefined : decodeProposal(id, bytes);
}

/** The registered version `schemaId` (hash and height), or undefined. */
export function registrySchema(state: StateReader, schemaId: string): SchemaRecord | undefined {
  const bytes = state.get(P + schemaKey(schemaId));
  return bytes === undefined ? undefined : decodeSchemaRecord(bytes);
}

/** The full state key of a participant's record (`registry/participant/<id>`; decode with `decodeParticipant`). */
export function registryParticipantKey(id: string): string {
  return P + KEY.participant(id);
}

/** The full state key of an address's access record (`registry/addr/<address>`; decode with `decodeAddrRecord`). */
export function registryAddrKey(address: string): string {
  return P + KEY.addr(address);
}

/** The full state key of a schema version's record (`registry/schema/<schemaId>`). */
export function registrySchemaKey(schemaId: string): string {
  return P + schemaKey(schemaId);
}

export function registryParams(state: StateReader): RegistryParams {
  return decodeParams(state.get(P + KEY.params));
}

/** The current validator keys as stored (no name lookups): what the genesis check compares. */
export function validatorKeysIn(state: StateReader): Uint8Array[] | undefined {
  const bytes = state.get(P + KEY.validators);
  return bytes === undefined ? undefined : decodeValidatorKeys(bytes);
}

// -- genesis ---------------------------------------------------------------------------------------

export interface RegistryGenesisConfig {
  /** The genesis validators (sorted here into set order; node ids are set positions). */
  readonly validators: ReadonlyArray<Omit<ValidatorEntry, 'nodeId' | 'endpoint'> & { readonly endpoint?: string }>;
  /**
   * Participants to register. A validator key not listed under any participant is registered as its
   * own participant (id = validator name, organisation as given, role validator).
   */
  readonly participants?: readonly ParticipantInput[];
  readonly params?: Partial<RegistryParams>;
  /** Payload schema versions in force from genesis: `$id` and SHA-256 of the canonical document. */
  readonly schemas?: readonly SchemaInput[];
}

export interface SchemaInput {
  readonly id: string;
  readonly hash: Uint8Array;
}

/**
 * The registry's genesis entries (full state keys). Throws CONTRACT_BAD_ARGS / CONTRACT_ALREADY_EXISTS
 * naming the field for a bad or duplicate participant, id or key.
 */
export function registryGenesisEntries(config: RegistryGenesisConfig): [string, Uint8Array][] {
  const params: RegistryParams = {
    activationDelay: config.params?.activationDelay ?? DEFAULT_ACTIVATION_DELAY,
    proposalTtlMs: config.params?.proposalTtlMs ?? DEFAULT_PROPOSAL_TTL_MS,
  };
  // Two blocks at least: the block before activation must name the incoming set in its header
  // (nextValidatorSetHash), and its context is fixed from the state before it executes.
  if (params.activationDelay < 2n) badArgs('activationDelay', 'activationDelay must be at least 2 blocks');
  if (params.proposalTtlMs < 1n) badArgs('proposalTtlMs', 'proposalTtlMs must be positive');
  const out = new Map<string, Uint8Array>();
  out.set(P + KEY.params, encodeParams(params));

  const participants: ParticipantInput[] = [...(config.participants ?? [])];
  const claimed = new Set(participants.flatMap((p) => p.keys.map((k) => senderAddress(k.alg, k.publicKey))));
  config.validators.forEach((v, i) => {
    checkKey('ES256K', v.publicKey, `validators.${i}.publicKey`);
    if (!claimed.has(senderAddress('ES256K', v.publicKey))) {
      participants.push({ id: v.name, organisation: v.organisation, roles: ['validator'], keys: [{ alg: 'ES256K', publicKey: v.publicKey }] });
    }
  });
  const addresses = new Set<string>();
  participants.forEach((p, i) => {
    const field = `participants.${i}`;
    checkId(p.id, `${field}.id`);
    checkId(p.organisation, `${field}.organisation`);
    if (p.keys.length === 0 || p.keys.length > MAX_KEYS) badArgs(`${field}.keys`, `1..${MAX_KEYS} keys`);
    const key = P + KEY.participant(p.id);
    if (out.has(key)) throw new LoulanError('CONTRACT_ALREADY_EXISTS', `participant ${p.id} twice`, { details: { kind: 'participant', id: p.id, field } });
    const participant: Participant = { id: p.id, organisation: p.organisation, status: 'active', roles: rolesOf(roleMask(p.roles, `${field}.roles`)), keys: p.keys };
    out.set(key, encodeParticipant(participant));
    const record = encodeAddrRecord({ status: ADDR_ACTIVE, roles: roleMask(p.roles), participant: p.id });
    p.keys.forEach((k, j) => {
      checkKey(k.alg, k.publicKey, `${field}.keys.${j}`);
      const address = senderAddress(k.alg, k.publicKey);
      if (addresses.has(address)) throw new LoulanError('CONTRACT_ALREADY_EXISTS', `key ${address} twice`, { details: { kind: 'key', id: address, field } });
      addresses.add(address);
      out.set(P + KEY.addr(address), record);
    });
  });

  const keys = sortValidatorKeys(config.validators.map((v) => v.publicKey));
  out.set(P + KEY.validators, encodeValidatorKeys(keys));
  const byKey = new Map(config.validators.map((v) => [toHex(v.publicKey), v]));
  // Genesis validators' node ids are their positions in the set (as the genesis file orders them).
  keys.forEach((key, nodeId) => {
    const v = byKey.get(toHex(key))!;
    checkId(v.organisation, 'validators.organisation');
    out.set(P + KEY.validator(key), encodeValidatorMeta({ name: v.name, organisation: v.organisation, nodeId, endpoint: checkEndpoint(v.endpoint ?? '', 'validators.endpoint') }));
  });
  out.set(P + KEY.nextNodeId, encodeU64(BigInt(keys.length)));
  (config.schemas ?? []).forEach((schema, i) => {
    const field = `schemas.${i}`;
    checkSchemaId(schema.id, `${field}.id`);
    if (!(schema.hash instanceof Uint8Array) || schema.hash.length !== 32) badArgs(`${field}.hash`, 'a schema hash is 32 bytes (SHA-256)');
    const key = P + schemaKey(schema.id);
    if (out.has(key)) throw new LoulanError('CONTRACT_ALREADY_EXISTS', `schema ${schema.id} twice`, { details: { kind: 'schema', id: schema.id, field } });
    out.set(key, encodeSchemaRecord({ hash: schema.hash, height: 0n }));
  });
  return [...out];
}

export {
  ADDR_ACTIVE,
  ADDR_REVOKED,
  ADDR_SUSPENDED,
  ALL_ROLES,
  BUSINESS_ROLES,
  ROLES,
  roleMask,
  rolesOf,
  addrRecord,
  accessCode,
  checkAccess,
  decodeAddrRecord,
  ADDR_PREFIX,
  type Role,
  type AddrRecord,
} from './registry/access.ts';
export { MIN_VALIDATORS } from './registry/governance.ts';
export {
  DEFAULT_ACTIVATION_DELAY,
  DEFAULT_PROPOSAL_TTL_MS,
  MAX_SCHEMA_ID_BYTES,
  decodeParticipant,
  decodeSchemaRecord,
  type OutsideSystem,
  type Participant,
  type ParticipantKey,
  type Proposal,
  type ProposalAction,
  type RegistryParams,
  type SchemaRecord,
  type ValidatorEntry,
} from './registry/records.ts';
