/**
 * The registry's records and their binary layouts (see registry.ts for the full state map).
 *
 * Every layout is a fixed sequence of codec/binary.ts fields (big-endian integers, `str` = u32 byte
 * length ‖ UTF-8, `bytes` = u32 length ‖ raw), so the same record can be parsed by Solidity or
 * chaincode without a schema language. One encoder and one strict decoder per record; a method's
 * arguments reuse the record layouts wherever the record is what the call carries.
 */
import { Reader, Writer } from '../../../codec/binary.ts';
import { toHex } from '../../../crypto/hash.ts';
import { assertPublicKey, PUBLIC_KEY_LENGTH, type Alg } from '../../../crypto/keys.ts';
import { LoulanError } from '../../../errors.ts';
import { ALG_CODE } from '../../tx.ts';
import { ROLE_BITS, roleMask, rolesOf, type Role } from './access.ts';

export const MAX_ID_BYTES = 64;
export const MAX_NAME_BYTES = 64;
export const MAX_KEYS = 16;
export const MAX_MSP_ROOTS = 8;
export const MAX_CERT_BYTES = 4096;
export const MAX_POLICY_BYTES = 4096;
export const MAX_NOTARIES = 64;
export const MAX_OPEN_PROPOSALS = 64;
export const MAX_REGISTRY_VALIDATORS = 1024;
export const VALIDATOR_KEY_BYTES = 33;

export const DEFAULT_ACTIVATION_DELAY = 8n;
/** Seven days of block time. */
export const DEFAULT_PROPOSAL_TTL_MS = 7n * 24n * 3600n * 1000n;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const ALG_BY_CODE: readonly (Alg | undefined)[] = [undefined, 'Ed25519', 'ES256', 'ES256K'];

// -- field checks: CONTRACT_BAD_ARGS naming the field ----------------------------------------------

export function badArgs(field: string, message: string, cause?: unknown): never {
  throw new LoulanError('CONTRACT_BAD_ARGS', message, cause === undefined ? { details: { field } } : { details: { field }, cause });
}

/** Participant, organisation and system ids: 1-64 characters of [A-Za-z0-9._:-], alphanumeric first. */
export function checkId(value: string, field: string): string {
  if (typeof value !== 'string' || !ID_RE.test(value)) badArgs(field, `${field} must be 1-64 characters of [A-Za-z0-9._:-], starting alphanumeric`);
  return value;
}

function checkName(value: string, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || new TextEncoder().encode(value).length > MAX_NAME_BYTES) badArgs(field, `${field} must be 1-64 bytes`);
  return value;
}

export function checkMask(mask: number, field: string): number {
  if ((mask & ~ROLE_BITS) !== 0) badArgs(field, `${field} sets bits that name no role`);
  return mask;
}

export function checkKey(alg: Alg, publicKey: Uint8Array, field: string): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH[alg]) badArgs(field, `${alg} key must be ${PUBLIC_KEY_LENGTH[alg]} bytes`);
  try {
    assertPublicKey(alg, publicKey);
  } catch (cause) {
    badArgs(field, `not a valid ${alg} public key`, cause);
  }
}

/** Runs a decoder over `bytes`, turning codec failures into CONTRACT_BAD_ARGS with the field. */
export function decodeArgs<T>(bytes: Uint8Array, read: (r: Reader) => T): T {
  try {
    const r = new Reader(bytes);
    const value = read(r);
    r.finish();
    return value;
  } catch (cause) {
    if (cause instanceof LoulanError && cause.code === 'CONTRACT_BAD_ARGS') throw cause;
    const field = cause instanceof LoulanError && typeof cause.details.field === 'string' ? cause.details.field : 'args';
    return badArgs(field, 'arguments do not decode', cause);
  }
}

// -- participants ----------------------------------------------------------------------------------

export interface ParticipantKey {
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
}

export interface Participant {
  readonly id: string;
  readonly organisation: string;
  readonly status: 'active' | 'suspended';
  readonly roles: readonly Role[];
  /** Active keys only; revoked keys are gone from here (their address records stay, status revoked). */
  readonly keys: readonly ParticipantKey[];
}

export function writeKey(w: Writer, key: ParticipantKey, field: string): Writer {
  const code = ALG_CODE[key.alg];
  if (code === undefined) badArgs(`${field}.alg`, 'unknown key algorithm');
  return w.u8(code, `${field}.alg`).bytes(key.publicKey, PUBLIC_KEY_LENGTH[key.alg], `${field}.publicKey`);
}

export function readKey(r: Reader, field: string): ParticipantKey {
  const code = r.u8(`${field}.alg`);
  const alg = ALG_BY_CODE[code];
  if (alg === undefined) badArgs(`${field}.alg`, `unknown key algorithm code ${code}`);
  return { alg, publicKey: r.bytes(PUBLIC_KEY_LENGTH[alg], `${field}.publicKey`) };
}

/** `u8 status ‖ u32 roles ‖ str organisation ‖ u8 keyCount ‖ keyCount × (u8 alg ‖ raw key)` */
export function encodeParticipant(p: Participant): Uint8Array {
  const w = new Writer(64 + 34 * p.keys.length)
    .u8(p.status === 'active' ? 0 : 1, 'status')
    .u32(roleMask(p.roles), 'roles')
    .string(p.organisation, MAX_ID_BYTES, 'organisation')
    .u8(p.keys.length, 'keys');
  p.keys.forEach((k, i) => writeKey(w, k, `keys.${i}`));
  return w.finish();
}

export function decodeParticipant(id: string, bytes: Uint8Array): Participant {
  const r = new Reader(bytes);
  const status = r.u8('status') === 0 ? 'active' : 'suspended';
  const roles = rolesOf(r.u32('roles'));
  const organisation = r.string(MAX_ID_BYTES, 'organisation');
  const keys: ParticipantKey[] = [];
  for (let i = r.u8('keys'); i > 0; i--) keys.push(readKey(r, 'keys'));
  r.finish();
  return { id, organisation, status, roles, keys };
}

// -- outside systems -------------------------------------------------------------------------------

export const SYSTEM_KINDS = Object.freeze(['fabric', 'evm', 'rest', 'db'] as const);
export type SystemKind = (typeof SYSTEM_KINDS)[number];

/** How evidence from an outside system is verified (DESIGN.md §7). */
export type OutsideSystem =
  | {
      readonly kind: 'fabric';
      readonly network: string;
      /** DER (or PEM bytes) of each MSP root certificate whose chains count. */
      readonly mspRoots: readonly Uint8Array[];
      /** Endorsement policy text, e.g. "AND('Org1MSP.peer','Org2MSP.peer')". */
      readonly endorsementPolicy: string;
    }
  | {
      readonly kind: 'evm';
      readonly network: string;
      readonly chainId: bigint;
      /** Confirmations before a block hash is attested. */
      readonly finalityDepth: number;
      /** Ethereum addresses (40 lowercase hex, no 0x) of the notaries attesting block hashes. */
      readonly notaries: readonly string[];
      /** k of the notaries must attest. */
      readonly threshold: number;
    }
  | {
      readonly kind: 'rest' | 'db';
      readonly network: string;
      /** The participant whose signature on a message is the evidence. */
      readonly participant: string;
    };

const NOTARY_RE = /^[0-9a-f]{40}$/;

/**
 * `u8 kind (1 fabric, 2 evm, 3 rest, 4 db) ‖ str network ‖ body`, body:
 *   fabric  u8 n ‖ n × bytes mspRoot ‖ str endorsementPolicy
 *   evm     u64 chainId ‖ u32 finalityDepth ‖ u8 n ‖ n × 20-byte notary ‖ u8 threshold
 *   rest/db str participant
 */
export function encodeSystem(s: OutsideSystem): Uint8Array {
  const kind = SYSTEM_KINDS.indexOf(s.kind);
  if (kind < 0) badArgs('kind', 'kind must be fabric, evm, rest or db');
  const w = new Writer(128).u8(kind + 1, 'kind').string(checkName(s.network, 'network'), MAX_NAME_BYTES, 'network');
  switch (s.kind) {
    case 'fabric':
      if (s.mspRoots.length === 0 || s.mspRoots.length > MAX_MSP_ROOTS) badArgs('mspRoots', `1..${MAX_MSP_ROOTS} MSP root certificates`);
      w.u8(s.mspRoots.length, 'mspRoots');
      for (const cert of s.mspRoots) w.varBytes(cert, MAX_CERT_BYTES, 'mspRoots');
      return w.string(s.endorsementPolicy, MAX_POLICY_BYTES, 'endorsementPolicy').finish();
    case 'evm':
      if (s.notaries.length === 0 || s.notaries.length > MAX_NOTARIES) badArgs('notaries', `1..${MAX_NOTARIES} notaries`);
      w.u64(s.chainId, 'chainId').u32(s.finalityDepth, 'finalityDepth').u8(s.notaries.length, 'notaries');
      for (const n of s.notaries) {
        if (!NOTARY_RE.test(n)) badArgs('notaries', 'a notary must be a 40-hex address');
        w.bytes(Buffer.from(n, 'hex'), 20, 'notaries');
      }
      return w.u8(s.threshold, 'threshold').finish();
    default:
      return w.string(s.participant, MAX_ID_BYTES, 'participant').finish();
  }
}

/** Strict decoder; also checks the rules a registration must satisfy (CONTRACT_BAD_ARGS). */
export function readSystemRecord(r: Reader): OutsideSystem {
  const kind = SYSTEM_KINDS[r.u8('kind') - 1];
  if (kind === undefined) badArgs('kind', 'kind must be 1 fabric, 2 evm, 3 rest or 4 db');
  const network = checkName(r.string(MAX_NAME_BYTES, 'network'), 'network');
  switch (kind) {
    case 'fabric': {
      const count = r.u8('mspRoots');
      if (count === 0 || count > MAX_MSP_ROOTS) badArgs('mspRoots', `1..${MAX_MSP_ROOTS} MSP root certificates`);
      const mspRoots: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const cert = r.varBytes(MAX_CERT_BYTES, 'mspRoots');
        if (cert.length === 0) badArgs('mspRoots', 'an MSP root certificate is empty');
        mspRoots.push(cert);
      }
      const endorsementPolicy = r.string(MAX_POLICY_BYTES, 'endorsementPolicy');
      if (endorsementPolicy.length === 0) badArgs('endorsementPolicy', 'endorsement policy is empty');
      return { kind, network, mspRoots, endorsementPolicy };
    }
    case 'evm': {
      const chainId = r.u64('chainId');
      const finalityDepth = r.u32('finalityDepth');
      const count = r.u8('notaries');
      if (count === 0 || count > MAX_NOTARIES) badArgs('notaries', `1..${MAX_NOTARIES} notaries`);
      const notaries: string[] = [];
      for (let i = 0; i < count; i++) {
        const address = toHex(r.bytes(20, 'notaries'));
        if (notaries.includes(address)) badArgs('notaries', 'duplicate notary');
        notaries.push(address);
      }
      const threshold = r.u8('threshold');
      if (threshold < 1 || threshold > count) badArgs('threshold', 'threshold must be in 1..number of notaries');
      return { kind, network, chainId, finalityDepth, notaries, threshold };
    }
    default:
      return { kind, network, participant: checkId(r.string(MAX_ID_BYTES, 'participant'), 'participant') };
  }
}

// -- validators ------------------------------------------------------------------------------------

export interface ValidatorEntry {
  /** 33-byte compressed secp256k1 key. */
  readonly publicKey: Uint8Array;
  readonly name: string;
  readonly organisation: string;
  /**
   * Stable peer id on the validator network (the transport's index): genesis validators get their
   * genesis positions, each admitted validator the next unused id. Never reused, unlike the position in
   * the set, which shifts as keys join and leave (the set is sorted by address).
   */
  readonly nodeId: number;
  /** Where peers dial it (`ws://` or `wss://` URL); empty when every peer has it in its configuration. */
  readonly endpoint: string;
}

/** Longest validator endpoint URL. */
export const MAX_ENDPOINT_BYTES = 256;

/** Empty, or a ws:// or wss:// URL of at most MAX_ENDPOINT_BYTES. */
export function checkEndpoint(value: string, field: string): string {
  if (value === '') return value;
  let protocol = '';
  try {
    protocol = new URL(value).protocol;
  } catch {
    badArgs(field, 'endpoint must be a ws:// or wss:// URL');
  }
  if (protocol !== 'ws:' && protocol !== 'wss:') badArgs(field, 'endpoint must be a ws:// or wss:// URL');
  return value;
}

/** `u16 n ‖ n × 33-byte key`, in set order (ascending Ethereum address). */
export function encodeValidatorKeys(keys: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(2 + VALIDATOR_KEY_BYTES * keys.length).u16(keys.length, 'validators');
  for (const k of keys) w.bytes(k, VALIDATOR_KEY_BYTES, 'validators');
  return w.finish();
}

export function decodeValidatorKeys(bytes: Uint8Array): Uint8Array[] {
  const r = new Reader(bytes);
  const keys: Uint8Array[] = [];
  for (let n = r.u16('validators'); n > 0; n--) keys.push(r.bytes(VALIDATOR_KEY_BYTES, 'validators'));
  r.finish();
  return keys;
}

export type ValidatorMeta = Omit<ValidatorEntry, 'publicKey'>;

/** `str name ‖ str organisation ‖ u16 nodeId ‖ str endpoint` */
export function encodeValidatorMeta(v: ValidatorMeta): Uint8Array {
  return new Writer(96)
    .string(v.name, MAX_NAME_BYTES, 'name')
    .string(v.organisation, MAX_ID_BYTES, 'organisation')
    .u16(v.nodeId, 'nodeId')
    .string(v.endpoint, MAX_ENDPOINT_BYTES, 'endpoint')
    .finish();
}

export function decodeValidatorMeta(bytes: Uint8Array): ValidatorMeta {
  const r = new Reader(bytes);
  const meta = { name: r.string(MAX_NAME_BYTES, 'name'), organisation: r.string(MAX_ID_BYTES, 'organisation'), nodeId: r.u16('nodeId'), endpoint: r.string(MAX_ENDPOINT_BYTES, 'endpoint') };
  r.finish();
  return meta;
}

// -- proposals -------------------------------------------------------------------------------------

export const PROPOSAL_KINDS = Object.freeze(['validator-join', 'validator-remove', 'set-roles'] as const);
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];

export type ProposalAction =
  | { readonly kind: 'validator-join'; readonly publicKey: Uint8Array; readonly name: string; readonly organisation: string; readonly endpoint: string }
  | { readonly kind: 'validator-remove'; readonly publicKey: Uint8Array }
  | { readonly kind: 'set-roles'; readonly participant: string; readonly roles: readonly Role[] };

export const PROPOSAL_STATUSES = Object.freeze(['open', 'passed', 'expired'] as const);
export type ProposalStatus = (typeof PROPOSAL_STATUSES)[number];

export interface Proposal {
  readonly id: bigint;
  readonly action: ProposalAction;
  readonly status: ProposalStatus;
  /** Sender address of the proposer (40 hex). */
  readonly proposer: string;
  readonly createdHeight: bigint;
  /** Block time (ms) from which the proposal is expired. */
  readonly expiresAt: bigint;
  /** Height at which it passed or expired; 0 while open. */
  readonly decidedHeight: bigint;
  /** Validator keys that approved, in vote order (a removed validator's approval stays but no longer counts). */
  readonly approvals: readonly Uint8Array[];
}

/**
 * `u8 kind (1 validator-join, 2 validator-remove, 3 set-roles) ‖ payload`, payload:
 *   validator-join    33-byte key ‖ str name ‖ str organisation ‖ str endpoint
 *   validator-remove  33-byte key
 *   set-roles         str participant ‖ u32 roles
 */
export function writeAction(w: Writer, a: ProposalAction): Writer {
  switch (a.kind) {
    case 'validator-join':
      return w
        .u8(1)
        .bytes(a.publicKey, VALIDATOR_KEY_BYTES, 'publicKey')
        .string(a.name, MAX_NAME_BYTES, 'name')
        .string(a.organisation, MAX_ID_BYTES, 'organisation')
        .string(a.endpoint, MAX_ENDPOINT_BYTES, 'endpoint');
    case 'validator-remove':
      return w.u8(2).bytes(a.publicKey, VALIDATOR_KEY_BYTES, 'publicKey');
    case 'set-roles':
      return w.u8(3).string(a.participant, MAX_ID_BYTES, 'participant').u32(roleMask(a.roles), 'roles');
    default:
      return badArgs('kind', 'unknown proposal kind');
  }
}

export function readAction(r: Reader): ProposalAction {
  const kind = PROPOSAL_KINDS[r.u8('kind') - 1];
  switch (kind) {
    case 'validator-join': {
      const publicKey = r.bytes(VALIDATOR_KEY_BYTES, 'publicKey');
      checkKey('ES256K', publicKey, 'publicKey');
      const name = checkName(r.string(MAX_NAME_BYTES, 'name'), 'name');
      const organisation = checkId(r.string(MAX_ID_BYTES, 'organisation'), 'organisation');
      return { kind, publicKey, name, organisation, endpoint: checkEndpoint(r.string(MAX_ENDPOINT_BYTES, 'endpoint'), 'endpoint') };
    }
    case 'validator-remove':
      return { kind, publicKey: r.bytes(VALIDATOR_KEY_BYTES, 'publicKey') };
    case 'set-roles': {
      const participant = checkId(r.string(MAX_ID_BYTES, 'participant'), 'participant');
      return { kind, participant, roles: rolesOf(checkMask(r.u32('roles'), 'roles')) };
    }
    default:
      return badArgs('kind', 'kind must be 1 validator-join, 2 validator-remove or 3 set-roles');
  }
}

/**
 * `action ‖ u8 status (0 open, 1 passed, 2 expired) ‖ 20-byte proposer ‖ u64 createdHeight ‖
 * u64 expiresAt ‖ u64 decidedHeight ‖ u16 m ‖ m × 33-byte approving validator key`
 */
export function encodeProposal(p: Proposal): Uint8Array {
  const w = writeAction(new Writer(128 + VALIDATOR_KEY_BYTES * p.approvals.length), p.action)
    .u8(PROPOSAL_STATUSES.indexOf(p.status), 'status')
    .bytes(Buffer.from(p.proposer, 'hex'), 20, 'proposer')
    .u64(p.createdHeight, 'createdHeight')
    .u64(p.expiresAt, 'expiresAt')
    .u64(p.decidedHeight, 'decidedHeight')
    .u16(p.approvals.length, 'approvals');
  for (const k of p.approvals) w.bytes(k, VALIDATOR_KEY_BYTES, 'approvals');
  return w.finish();
}

export function decodeProposal(id: bigint, bytes: Uint8Array): Proposal {
  const r = new Reader(bytes);
  const action = readAction(r);
  const status = PROPOSAL_STATUSES[r.u8('status')];
  if (status === undefined) throw new LoulanError('INTERNAL', 'corrupt proposal status');
  const proposer = toHex(r.bytes(20, 'proposer'));
  const createdHeight = r.u64('createdHeight');
  const expiresAt = r.u64('expiresAt');
  const decidedHeight = r.u64('decidedHeight');
  const approvals: Uint8Array[] = [];
  for (let m = r.u16('approvals'); m > 0; m--) approvals.push(r.bytes(VALIDATOR_KEY_BYTES, 'approvals'));
  r.finish();
  return { id, action, status, proposer, createdHeight, expiresAt, decidedHeight, approvals };
}

/** Open proposals: `u16 n ‖ n × (u64 id ‖ u64 expiresAt)`, ascending id. */
export interface OpenProposal {
  readonly id: bigint;
  readonly expiresAt: bigint;
}

export function encodeOpenList(list: readonly OpenProposal[]): Uint8Array {
  const w = new Writer(2 + 16 * list.length).u16(list.length, 'open');
  for (const p of list) w.u64(p.id).u64(p.expiresAt);
  return w.finish();
}

export function decodeOpenList(bytes: Uint8Array | undefined): OpenProposal[] {
  if (bytes === undefined) return [];
  const r = new Reader(bytes);
  const list: OpenProposal[] = [];
  for (let n = r.u16('open'); n > 0; n--) list.push({ id: r.u64('id'), expiresAt: r.u64('expiresAt') });
  r.finish();
  return list;
}

// -- the scheduled validator change ----------------------------------------------------------------

export interface PendingChange {
  readonly activationHeight: bigint;
  readonly proposal: bigint;
  readonly change: 'join' | 'remove';
  readonly publicKey: Uint8Array;
  /** Empty (0) for a remove. */
  readonly name: string;
  readonly organisation: string;
  readonly nodeId: number;
  readonly endpoint: string;
}

/**
 * `u64 activationHeight ‖ u64 proposalId ‖ u8 change (1 join, 2 remove) ‖ 33-byte key ‖ str name ‖
 * str organisation ‖ u16 nodeId ‖ str endpoint`
 */
export function encodePending(p: PendingChange): Uint8Array {
  return new Writer(96)
    .u64(p.activationHeight, 'activationHeight')
    .u64(p.proposal, 'proposal')
    .u8(p.change === 'join' ? 1 : 2, 'change')
    .bytes(p.publicKey, VALIDATOR_KEY_BYTES, 'publicKey')
    .string(p.name, MAX_NAME_BYTES, 'name')
    .string(p.organisation, MAX_ID_BYTES, 'organisation')
    .u16(p.nodeId, 'nodeId')
    .string(p.endpoint, MAX_ENDPOINT_BYTES, 'endpoint')
    .finish();
}

export function decodePending(bytes: Uint8Array): PendingChange {
  const r = new Reader(bytes);
  const activationHeight = r.u64('activationHeight');
  const proposal = r.u64('proposal');
  const change = r.u8('change') === 1 ? 'join' : 'remove';
  const publicKey = r.bytes(VALIDATOR_KEY_BYTES, 'publicKey');
  const name = r.string(MAX_NAME_BYTES, 'name');
  const organisation = r.string(MAX_ID_BYTES, 'organisation');
  const nodeId = r.u16('nodeId');
  const endpoint = r.string(MAX_ENDPOINT_BYTES, 'endpoint');
  r.finish();
  return { activationHeight, proposal, change, publicKey, name, organisation, nodeId, endpoint };
}

// -- parameters ------------------------------------------------------------------------------------

export interface RegistryParams {
  /** Blocks between a validator change passing and taking effect. */
  readonly activationDelay: bigint;
  /** Block-time lifetime of a proposal. */
  readonly proposalTtlMs: bigint;
}

/** `u64 activationDelay ‖ u64 proposalTtlMs` */
export function encodeParams(p: RegistryParams): Uint8Array {
  return new Writer(16).u64(p.activationDelay, 'activationDelay').u64(p.proposalTtlMs, 'proposalTtlMs').finish();
}

export function decodeParams(bytes: Uint8Array | undefined): RegistryParams {
  if (bytes === undefined) return { activationDelay: DEFAULT_ACTIVATION_DELAY, proposalTtlMs: DEFAULT_PROPOSAL_TTL_MS };
  const r = new Reader(bytes);
  const params = { activationDelay: r.u64('activationDelay'), proposalTtlMs: r.u64('proposalTtlMs') };
  r.finish();
  return params;
}

export function encodeU64(value: bigint): Uint8Array {
  return new Writer(8).u64(value).finish();
}

export function decodeU64(bytes: Uint8Array | undefined): bigint {
  if (bytes === undefined) return 0n;
  const r = new Reader(bytes);
  const value = r.u64();
  r.finish();
  return value;
}


// -- payload schemas -------------------------------------------------------------------------------

/** Longest schema `$id`. */
export const MAX_SCHEMA_ID_BYTES = 128;

// `urn:loulan:schema:<name>:<major.minor.patch>`, as schemas/documents.ts names every document.
const SCHEMA_ID_RE = /^urn:loulan:schema:[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)*:(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$/;

/** A schema `$id`: `urn:loulan:schema:<name>:<major.minor.patch>`, at most 128 bytes. */
export function checkSchemaId(value: string, field: string): string {
  if (typeof value !== 'string' || value.length > MAX_SCHEMA_ID_BYTES || !SCHEMA_ID_RE.test(value)) {
    badArgs(field, `${field} must be urn:loulan:schema:<name>:<major.minor.patch>, at most ${MAX_SCHEMA_ID_BYTES} bytes`);
  }
  return value;
}

/** A registered schema version: the SHA-256 of its canonical (RFC 8785) document, and when it was registered. */
export interface SchemaRecord {
  readonly hash: Uint8Array;
  /** Height of the block that registered it; 0 for genesis. */
  readonly height: bigint;
}

/** `32-byte SHA-256 ‖ u64 height` */
export function encodeSchemaRecord(record: SchemaRecord): Uint8Array {
  return new Writer(40).bytes(record.hash, 32, 'hash').u64(record.height, 'height').finish();
}

export function decodeSchemaRecord(bytes: Uint8Array): SchemaRecord {
  const r = new Reader(bytes);
  const record = { hash: r.bytes(32, 'hash'), height: r.u64('height') };
  r.finish();
  return record;
}
