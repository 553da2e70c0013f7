/**
 * Roles and the per-address access record: what the executor consults before every contract call.
 *
 * The check has to cost one state read per transaction, so the registry keeps, beside the full
 * participant record, a compact record per sender address that already carries everything the check
 * needs (the participant's status and roles are copied into each of its keys' records and rewritten
 * together whenever they change):
 *
 *   registry/addr/<address>  u8 status ‖ u32 roles ‖ str participantId
 *
 * status 0 active, 1 suspended (the participant), 2 revoked (this key). A revoked key's record stays
 * forever, so the key can never be registered again and a sender using it is told why it failed.
 *
 * Roles are bits of a u32 at fixed positions (ROLES order). They never move: a stored mask, an event
 * or a Solidity mirror must keep meaning the same thing. New roles take the next free bit.
 */
import { LoulanError, type ErrorCode } from '../../../errors.ts';
import type { Contract } from '../../contracts.ts';
import type { StateReader } from '../../state.ts';

/** Bit i of a roles mask is ROLES[i]. */
export const ROLES = Object.freeze(['admin', 'validator', 'operator', 'shop', 'program', 'financier', 'relayer', 'notary'] as const);
export type Role = (typeof ROLES)[number];

/** The roles that move business value (asset transfers, points, receivables). */
export const BUSINESS_ROLES: readonly Role[] = Object.freeze(['operator', 'shop', 'program', 'financier']);
/** Any registered, active participant. */
export const ALL_ROLES: readonly Role[] = ROLES;

/** Every bit a defined role may occupy. */
export const ROLE_BITS = (1 << ROLES.length) - 1;

export const ADDR_ACTIVE = 0;
export const ADDR_SUSPENDED = 1;
export const ADDR_REVOKED = 2;

/** The registry's state prefix; the access record lives at `registry/addr/<address>`. */
export const REGISTRY_CONTRACT = 'registry';
export const ADDR_PREFIX = `${REGISTRY_CONTRACT}/addr/`;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The mask of `roles`; throws CONTRACT_BAD_ARGS naming `field` for an unknown role. */
export function roleMask(roles: Iterable<Role>, field = 'roles'): number {
  let mask = 0;
  for (const role of roles) {
    const bit = (ROLES as readonly string[]).indexOf(role);
    if (bit < 0) throw new LoulanError('CONTRACT_BAD_ARGS', `unknown role ${String(role)}`, { details: { field } });
    mask |= 1 << bit;
  }
  return mask >>> 0;
}

/** The roles in `mask`, in bit order (unknown bits are ignored). */
export function rolesOf(mask: number): Role[] {
  return ROLES.filter((_, bit) => (mask & (1 << bit)) !== 0);
}

export interface AddrRecord {
  /** ADDR_ACTIVE, ADDR_SUSPENDED or ADDR_REVOKED. */
  readonly status: number;
  readonly roles: number;
  readonly participant: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** `u8 status ‖ u32 roles ‖ str participantId` (str = u32 byte length ‖ UTF-8). */
export function encodeAddrRecord(record: AddrRecord): Uint8Array {
  const id = encoder.encode(record.participant);
  const out = new Uint8Array(9 + id.length);
  const view = new DataView(out.buffer);
  out[0] = record.status;
  view.setUint32(1, record.roles >>> 0);
  view.setUint32(5, id.length);
  out.set(id, 9);
  return out;
}

export function decodeAddrRecord(bytes: Uint8Array): AddrRecord {
  if (bytes.length < 9) throw new LoulanError('INTERNAL', 'corrupt registry address record');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(5);
  if (bytes.length !== 9 + length) throw new LoulanError('INTERNAL', 'corrupt registry address record');
  return { status: bytes[0] as number, roles: view.getUint32(1), participant: decoder.decode(bytes.subarray(9)) };
}

/** The access record of `address` (40 hex), or undefined when the address is not registered. */
export function addrRecord(state: StateReader, address: string): AddrRecord | undefined {
  const value = state.get(ADDR_PREFIX + address);
  return value === undefined ? undefined : decodeAddrRecord(value);
}

// -- the check the executor and the mempool run ----------------------------------------------------

const masks = new WeakMap<Contract, ReadonlyMap<string, number>>();

/** Method → required roles mask of `contract`, computed once per contract object. */
function accessMasks(contract: Contract): ReadonlyMap<string, number> {
  let map = masks.get(contract);
  if (map === undefined) {
    const built = new Map<string, number>();
    for (const [method, roles] of Object.entries(contract.access)) built.set(method, roleMask(roles, `access.${method}`));
    masks.set(contract, built);
    map = built;
  }
  return map;
}

/**
 * Null when `sender` may call `contract.method`, else the code it fails with: CONTRACT_UNKNOWN_METHOD
 * for a method the contract does not declare, CONTRACT_FORBIDDEN for a sender that is unregistered,
 * suspended, revoked or holds none of the method's roles. One state read; allocates nothing.
 */
export function accessCode(state: StateReader, contract: Contract, method: string, sender: string): ErrorCode | null {
  const required = accessMasks(contract).get(method);
  if (required === undefined) return 'CONTRACT_UNKNOWN_METHOD';
  const record = state.get(ADDR_PREFIX + sender);
  if (record === undefined || record.length < 5 || record[0] !== ADDR_ACTIVE) return 'CONTRACT_FORBIDDEN';
  const roles = (((record[1] as number) << 24) | ((record[2] as number) << 16) | ((record[3] as number) << 8) | (record[4] as number)) >>> 0;
  return (roles & required) === 0 ? 'CONTRACT_FORBIDDEN' : null;
}

/** `accessCode` as a throw with details (for the mempool and for callers that report the reason). */
export function checkAccess(state: StateReader, contract: Contract, method: string, sender: string): void {
  const code = accessCode(state, contract, method, sender);
  if (code === null) return;
  if (code === 'CONTRACT_UNKNOWN_METHOD') {
    throw new LoulanError(code, `${contract.name} has no method ${method}`, { details: { contract: contract.name, method } });
  }
  const required = contract.access[method] ?? [];
  const record = addrRecord(state, sender);
  const reason = record === undefined ? 'unregistered' : record.status === ADDR_SUSPENDED ? 'suspended' : record.status === ADDR_REVOKED ? 'revoked' : 'role';
  throw new LoulanError(code, `${sender} may not call ${contract.name}.${method} (${reason})`, {
    details: { sender, contract: contract.name, method, required: [...required], reason },
  });
}
