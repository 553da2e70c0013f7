/**
 * `routes`: the consortium's global routing table (address prefix → link), changed only by governed
 * transactions, so that every switch routes alike and anyone can audit who changed what, when, with
 * whose approval.
 *
 * A change is proposed, approved by `approvalsRequired` distinct participants (the proposer's own
 * approval counts; one approval per participant, whichever of its keys signs, so a participant with
 * two keys cannot approve twice), and applied in the transaction that brings the last approval. With
 * the default of 1 the proposal applies at once. A change not applied within `changeTtlMs` of block
 * time expires: a begin-block hook marks it and emits `route-change-expired`, so the stored status is
 * always exact (the hook reads one small list per block and does nothing else while no change is open).
 *
 * The link is opaque to the chain beyond its form: the RFC 8785 (JCS) bytes of one JSON object of at
 * most 16 KiB (schemas/payloads/route.change.schema.json `$defs/link`). Every switch validates it
 * against that schema itself; the chain only guarantees that all of them read the same bytes.
 *
 * Prefixes are hierarchical addresses (lower-case dot-separated segments of 1-63 characters of a-z,
 * 0-9 and inner hyphens, at most 253 bytes) or '' for the default route. The table version counts
 * applied changes: each entry records the version that wrote it, so a switch can tell which of two
 * readings is newer and whether its cache is current (`routes/version`).
 *
 * State (under `routes/`; fields in codec/binary.ts layout, `str` = u32 length ‖ UTF-8, `bytes` =
 * u32 length ‖ raw, `address` = 20 raw bytes of a sender address):
 *   params                u16 approvalsRequired ‖ u64 changeTtlMs        (genesis; absent: 1, 24 h)
 *   version               u64 table version (changes applied, genesis entries included)
 *   entry/<prefix>        u64 version ‖ u64 changeId ‖ u64 height ‖ u64 time ‖ bytes link
 *                         (genesis entries: changeId 0, height 0, the genesis time)
 *   change/next           u64 last change id (ids start at 1)
 *   change/<id>           id as 20 zero-padded decimal digits, so a state listing is in id order:
 *                         u8 op (1 upsert, 2 delete) ‖ str prefix ‖ bytes link ‖ str reason ‖
 *                         str proposer participant ‖ proposer address ‖ u64 createdHeight ‖
 *                         u64 createdTime ‖ u64 expiresAt ‖ u8 status (0 open, 1 applied, 2 expired) ‖
 *                         u64 decidedHeight ‖ u16 m ‖ m × (str participant ‖ address)   (approvals)
 *   changes/open          u16 n ‖ n × (u64 id ‖ u64 expiresAt)            (at most 256 open changes)
 *
 * Methods (roles the executor requires; arguments):
 *   propose   operator, admin   u8 op ‖ str prefix ‖ bytes link (empty for delete) ‖ str reason (<= 256 B)
 *   approve   operator, admin   u64 changeId
 *
 * Events:
 *   route-change-proposed  u64 changeId ‖ u8 op ‖ str prefix ‖ bytes link ‖ str reason ‖
 *                          str participant ‖ address ‖ u64 expiresAt
 *   route-change-approved  u64 changeId ‖ str participant ‖ address ‖ u16 approvals ‖ u16 required
 *                          (one per approval, the proposer's included)
 *   route-set              str prefix ‖ u64 version ‖ u64 changeId ‖ bytes link
 *   route-removed          str prefix ‖ u64 version ‖ u64 changeId
 *   route-change-expired   u64 changeId                                     (begin-block)
 */
import { Reader, Writer } from '../../codec/binary.ts';
import { canonicalBytes, canonicalize } from '../../codec/jcs.ts';
import { fromHex, toHex } from '../../crypto/hash.ts';
import { LoulanError } from '../../errors.ts';
import type { Contract, ContractContext } from '../contracts.ts';
import type { StateReader } from '../state.ts';
import type { Role } from './registry/access.ts';
import { badArgs, decodeArgs, decodeU64, encodeU64, MAX_ID_BYTES } from './registry/records.ts';

export const ROUTES_CONTRACT = 'routes';

export const ROUTES_ACCESS: Readonly<Record<string, readonly Role[]>> = Object.freeze({
  propose: ['operator', 'admin'],
  approve: ['operator', 'admin'],
});

export const DEFAULT_APPROVALS_REQUIRED = 1;
/** 24 hours of block time. */
export const DEFAULT_CHANGE_TTL_MS = 24n * 3600n * 1000n;
export const MAX_LINK_BYTES = 16 * 1024;
export const MAX_REASON_BYTES = 256;
export const MAX_PREFIX_BYTES = 253;
export const MAX_OPEN_CHANGES = 256;

/** Full state key prefixes, for listing the table or the changes over RPC (`listState`). */
export const ROUTE_ENTRY_PREFIX = `${ROUTES_CONTRACT}/entry/`;
export const ROUTE_CHANGE_PREFIX = `${ROUTES_CONTRACT}/change/`;

const KEY = {
  params: 'params',
  version: 'version',
  next: 'change/next',
  open: 'changes/open',
  entry: (prefix: string) => `entry/${prefix}`,
  change: (id: bigint) => `change/${changeIdText(id)}`,
} as const;

const ADDRESS_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** '' (the default route) or a hierarchical address of at most 253 bytes. */
export function isRoutePrefix(value: unknown): value is string {
  return typeof value === 'string' && (value === '' || (value.length <= MAX_PREFIX_BYTES && ADDRESS_RE.test(value)));
}

// -- records ---------------------------------------------------------------------------------------

export type RouteOp = 'upsert' | 'delete';
export type RouteChangeStatus = 'open' | 'applied' | 'expired';

export interface RoutesParams {
  /** Distinct participants whose approval applies a change (the proposer's included). */
  readonly approvalsRequired: number;
  /** Block time after which an unapplied change expires. */
  readonly changeTtlMs: bigint;
}

export interface RouteEntry {
  readonly prefix: string;
  /** The table version this entry was written at. */
  readonly version: bigint;
  /** The change that wrote it (0 for a genesis entry). */
  readonly changeId: bigint;
  readonly height: bigint;
  /** Block time (ms) of the block that applied it. */
  readonly time: bigint;
  /** RFC 8785 bytes of the link object. */
  readonly link: Uint8Array;
}

/** A participant's approval, with the key (sender address) it signed with. */
export interface RouteApproval {
  readonly participant: string;
  readonly address: string;
}

export interface RouteChange {
  readonly id: bigint;
  readonly op: RouteOp;
  readonly prefix: string;
  /** Empty for a delete. */
  readonly link: Uint8Array;
  readonly reason: string;
  readonly proposer: RouteApproval;
  readonly createdHeight: bigint;
  readonly createdTime: bigint;
  readonly expiresAt: bigint;
  readonly status: RouteChangeStatus;
  /** Height at which it was applied or expired; 0 while open. */
  readonly decidedHeight: bigint;
  /** In approval order; the proposer's first. */
  readonly approvals: readonly RouteApproval[];
}

const STATUSES: readonly RouteChangeStatus[] = ['open', 'applied', 'expired'];

function changeIdText(id: bigint): string {
  return id.toString().padStart(20, '0');
}

function writeApproval(w: Writer, a: RouteApproval, field: string): Writer {
  return w.string(a.participant, MAX_ID_BYTES, `${field}.participant`).bytes(fromHex(a.address, 20), 20, `${field}.address`);
}

function readApproval(r: Reader, field: string): RouteApproval {
  return { participant: r.string(MAX_ID_BYTES, `${field}.participant`), address: toHex(r.bytes(20, `${field}.address`)) };
}

function opCode(op: RouteOp): number {
  return op === 'upsert' ? 1 : 2;
}

function opOf(code: number): RouteOp | undefined {
  return code === 1 ? 'upsert' : code === 2 ? 'delete' : undefined;
}

/** The op of a call's arguments: CONTRACT_BAD_ARGS when unknown. */
function readOpArg(r: Reader): RouteOp {
  return opOf(r.u8('op')) ?? badArgs('op', 'op must be 1 upsert or 2 delete');
}

/** The op of a stored record or an event: CODEC_TAG when unknown. */
function readOp(r: Reader): RouteOp {
  const code = r.u8('op');
  const op = opOf(code);
  if (op === undefined) throw new LoulanError('CODEC_TAG', `unknown route op ${code}`, { details: { field: 'op', actual: code } });
  return op;
}

export function encodeRouteEntry(e: Omit<RouteEntry, 'prefix'>): Uint8Array {
  return new Writer(64 + e.link.length)
    .u64(e.version, 'version')
    .u64(e.changeId, 'changeId')
    .u64(e.height, 'height')
    .u64(e.time, 'time')
    .varBytes(e.link, MAX_LINK_BYTES, 'link')
    .finish();
}

/** The entry stored under `routes/entry/<prefix>`. */
export function decodeRouteEntry(prefix: string, bytes: Uint8Array): RouteEntry {
  const r = new Reader(bytes);
  const entry = { prefix, version: r.u64('version'), changeId: r.u64('changeId'), height: r.u64('height'), time: r.u64('time'), link: r.varBytes(MAX_LINK_BYTES, 'link') };
  r.finish();
  return entry;
}

export function encodeRouteChange(c: RouteChange): Uint8Array {
  const w = new Writer(256 + c.link.length + 72 * c.approvals.length)
    .u8(opCode(c.op), 'op')
    .string(c.prefix, MAX_PREFIX_BYTES, 'prefix')
    .varBytes(c.link, MAX_LINK_BYTES, 'link')
    .string(c.reason, MAX_REASON_BYTES, 'reason');
  writeApproval(w, c.proposer, 'proposer')
    .u64(c.createdHeight, 'createdHeight')
    .u64(c.createdTime, 'createdTime')
    .u64(c.expiresAt, 'expiresAt')
    .u8(STATUSES.indexOf(c.status), 'status')
    .u64(c.decidedHeight, 'decidedHeight')
    .u16(c.approvals.length, 'approvals');
  c.approvals.forEach((a, i) => writeApproval(w, a, `approvals.${i}`));
  return w.finish();
}

/** The change stored under `routes/change/<id>`. */
export function decodeRouteChange(id: bigint, bytes: Uint8Array): RouteChange {
  const r = new Reader(bytes);
  const op = readOp(r);
  const prefix = r.string(MAX_PREFIX_BYTES, 'prefix');
  const link = r.varBytes(MAX_LINK_BYTES, 'link');
  const reason = r.string(MAX_REASON_BYTES, 'reason');
  const proposer = readApproval(r, 'proposer');
  const createdHeight = r.u64('createdHeight');
  const createdTime = r.u64('createdTime');
  const expiresAt = r.u64('expiresAt');
  const status = STATUSES[r.u8('status')];
  if (status === undefined) throw new LoulanError('CODEC_TAG', 'unknown route change status', { details: { field: 'status' } });
  const decidedHeight = r.u64('decidedHeight');
  const approvals: RouteApproval[] = [];
  for (let m = r.u16('approvals'); m > 0; m--) approvals.push(readApproval(r, 'approvals'));
  r.finish();
  return { id, op, prefix, link, reason, proposer, createdHeight, createdTime, expiresAt, status, decidedHeight, approvals };
}

/** `u16 approvalsRequired ‖ u64 changeTtlMs` */
export function encodeRoutesParams(p: RoutesParams): Uint8Array {
  return new Writer(10).u16(p.approvalsRequired, 'approvalsRequired').u64(p.changeTtlMs, 'changeTtlMs').finish();
}

export function decodeRoutesParams(bytes: Uint8Array | undefined): RoutesParams {
  if (bytes === undefined) return { approvalsRequired: DEFAULT_APPROVALS_REQUIRED, changeTtlMs: DEFAULT_CHANGE_TTL_MS };
  const r = new Reader(bytes);
  const params = { approvalsRequired: r.u16('approvalsRequired'), changeTtlMs: r.u64('changeTtlMs') };
  r.finish();
  return params;
}

interface OpenChange {
  readonly id: bigint;
  readonly expiresAt: bigint;
}

function encodeOpen(list: readonly OpenChange[]): Uint8Array {
  const w = new Writer(2 + 16 * list.length).u16(list.length, 'open');
  for (const c of list) w.u64(c.id).u64(c.expiresAt);
  return w.finish();
}

function decodeOpen(bytes: Uint8Array | undefined): OpenChange[] {
  if (bytes === undefined) return [];
  const r = new Reader(bytes);
  const list: OpenChange[] = [];
  for (let n = r.u16('open'); n > 0; n--) list.push({ id: r.u64('id'), expiresAt: r.u64('expiresAt') });
  r.finish();
  return list;
}

// -- the link --------------------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Throws CONTRACT_BAD_ARGS (field `link`) unless `bytes` is the RFC 8785 form of one JSON object of at most 16 KiB. */
export function checkLinkBytes(bytes: Uint8Array): void {
  if (bytes.length === 0 || bytes.length > MAX_LINK_BYTES) badArgs('link', `a link is 1..${MAX_LINK_BYTES} bytes`);
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch (cause) {
    return badArgs('link', 'the link is not UTF-8 JSON', cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) badArgs('link', 'the link must be a JSON object');
  let canonical: string;
  try {
    canonical = canonicalize(value);
  } catch (cause) {
    return badArgs('link', 'the link has no canonical form', cause);
  }
  // Also refuses duplicate member names: JSON.parse keeps the last, so the text differs.
  if (canonical !== text) badArgs('link', 'the link is not in canonical (RFC 8785) form');
}

// -- the contract ----------------------------------------------------------------------------------

export function createRoutesContract(): Contract {
  return Object.freeze({
    name: ROUTES_CONTRACT,
    access: ROUTES_ACCESS,
    execute(ctx: ContractContext, method: string, args: Uint8Array): void {
      switch (method) {
        case 'propose':
          return propose(ctx, args);
        case 'approve':
          return approve(ctx, args);
        default:
          throw new LoulanError('CONTRACT_UNKNOWN_METHOD', `routes has no method ${method}`, { details: { contract: ROUTES_CONTRACT, method } });
      }
    },
    beginBlock,
  });
}

function approver(ctx: ContractContext): RouteApproval {
  const record = ctx.senderRecord();
  // The executor let the call through, so the sender is registered and active.
  if (record === undefined) throw new LoulanError('INTERNAL', 'sender has no registry record');
  return { participant: record.participant, address: ctx.sender };
}

function propose(ctx: ContractContext, args: Uint8Array): void {
  const { op, prefix, link, reason } = decodeArgs(args, (r) => {
    const op = readOpArg(r);
    const prefix = r.string(MAX_PREFIX_BYTES, 'prefix');
    if (!isRoutePrefix(prefix)) badArgs('prefix', "prefix must be '' or a hierarchical address (lower-case dot-separated segments)");
    const link = r.varBytes(MAX_LINK_BYTES, 'link');
    const reason = r.string(MAX_REASON_BYTES, 'reason');
    if (op === 'upsert') checkLinkBytes(link);
    else if (link.length !== 0) badArgs('link', 'a delete carries no link');
    return { op, prefix, link, reason };
  });
  if (op === 'delete' && ctx.get(KEY.entry(prefix)) === undefined) notFound('route', prefix);
  const params = decodeRoutesParams(ctx.get(KEY.params));
  const id = decodeU64(ctx.get(KEY.next)) + 1n;
  ctx.put(KEY.next, encodeU64(id));
  const proposer = approver(ctx);
  const expiresAt = ctx.time + params.changeTtlMs;
  let change: RouteChange = {
    id,
    op,
    prefix,
    link,
    reason,
    proposer,
    createdHeight: ctx.height,
    createdTime: ctx.time,
    expiresAt,
    status: 'open',
    decidedHeight: 0n,
    approvals: [proposer],
  };
  const event = new Writer(320 + link.length).u64(id).u8(opCode(op)).string(prefix, MAX_PREFIX_BYTES).varBytes(link, MAX_LINK_BYTES).string(reason, MAX_REASON_BYTES);
  ctx.emit('route-change-proposed', writeApproval(event, proposer, 'proposer').u64(expiresAt).finish());
  ctx.emit('route-change-approved', approvedEvent(id, proposer, 1, params.approvalsRequired));
  if (params.approvalsRequired <= 1) {
    change = { ...change, status: 'applied', decidedHeight: ctx.height };
    apply(ctx, change);
  } else {
    const open = decodeOpen(ctx.get(KEY.open));
    if (open.length >= MAX_OPEN_CHANGES) {
      throw new LoulanError('CONTRACT_STATE_LIMIT', `at most ${MAX_OPEN_CHANGES} route changes may be open`, { details: { field: 'changes' } });
    }
    open.push({ id, expiresAt });
    ctx.put(KEY.open, encodeOpen(open));
  }
  ctx.put(KEY.change(id), encodeRouteChange(change));
}

function approve(ctx: ContractContext, args: Uint8Array): void {
  const id = decodeArgs(args, (r) => r.u64('changeId'));
  const stored = ctx.get(KEY.change(id));
  if (stored === undefined) notFound('change', String(id));
  const change = decodeRouteChange(id, stored);
  if (change.status === 'applied') throw new LoulanError('CONTRACT_CHANGE_APPLIED', `route change ${id} was already applied`, { details: { change: id } });
  if (change.status === 'expired' || ctx.time >= change.expiresAt) {
    throw new LoulanError('CONTRACT_CHANGE_EXPIRED', `route change ${id} expired`, { details: { change: id, expiresAt: change.expiresAt } });
  }
  const me = approver(ctx);
  if (change.approvals.some((a) => a.participant === me.participant)) {
    throw new LoulanError('CONTRACT_DUPLICATE_APPROVAL', `${me.participant} already approved route change ${id}`, { details: { change: id, participant: me.participant } });
  }
  const approvals = [...change.approvals, me];
  const required = decodeRoutesParams(ctx.get(KEY.params)).approvalsRequired;
  ctx.emit('route-change-approved', approvedEvent(id, me, approvals.length, required));
  let next: RouteChange = { ...change, approvals };
  if (approvals.length >= required) {
    next = { ...next, status: 'applied', decidedHeight: ctx.height };
    ctx.put(KEY.open, encodeOpen(decodeOpen(ctx.get(KEY.open)).filter((c) => c.id !== id)));
    apply(ctx, next);
  }
  ctx.put(KEY.change(id), encodeRouteChange(next));
}

function approvedEvent(id: bigint, who: RouteApproval, approvals: number, required: number): Uint8Array {
  return writeApproval(new Writer(112).u64(id), who, 'approver').u16(approvals).u16(required).finish();
}

/** Writes the change into the table (re-checking a delete: the entry may have gone since the proposal). */
function apply(ctx: ContractContext, change: RouteChange): void {
  const key = KEY.entry(change.prefix);
  if (change.op === 'delete' && ctx.get(key) === undefined) notFound('route', change.prefix);
  const version = decodeU64(ctx.get(KEY.version)) + 1n;
  ctx.put(KEY.version, encodeU64(version));
  const head = new Writer(96 + change.link.length).string(change.prefix, MAX_PREFIX_BYTES).u64(version).u64(change.id);
  if (change.op === 'delete') {
    ctx.delete(key);
    ctx.emit('route-removed', head.finish());
    return;
  }
  ctx.put(key, encodeRouteEntry({ version, changeId: change.id, height: ctx.height, time: ctx.time, link: change.link }));
  ctx.emit('route-set', head.varBytes(change.link, MAX_LINK_BYTES).finish());
}

/** Begin-block hook: marks the changes whose time has come as expired. */
function beginBlock(ctx: ContractContext): void {
  const bytes = ctx.get(KEY.open);
  if (bytes === undefined) return;
  const open = decodeOpen(bytes);
  const live = open.filter((c) => c.expiresAt > ctx.time);
  if (live.length === open.length) return;
  for (const c of open) {
    if (c.expiresAt > ctx.time) continue;
    const change = decodeRouteChange(c.id, ctx.get(KEY.change(c.id)) as Uint8Array);
    ctx.put(KEY.change(c.id), encodeRouteChange({ ...change, status: 'expired', decidedHeight: ctx.height }));
    ctx.emit('route-change-expired', encodeU64(c.id));
  }
  if (live.length === 0) ctx.delete(KEY.open);
  else ctx.put(KEY.open, encodeOpen(live));
}

function notFound(kind: string, id: string): never {
  throw new LoulanError('CONTRACT_NOT_FOUND', `no ${kind} ${JSON.stringify(id)}`, { details: { kind, id } });
}

// -- arguments -------------------------------------------------------------------------------------

export type RouteChangeInput =
  | {
      readonly op: 'upsert';
      readonly prefix: string;
      /** The link object (encoded here with RFC 8785), or its canonical bytes. */
      readonly link: Uint8Array | Readonly<Record<string, unknown>>;
      readonly reason?: string;
    }
  | { readonly op: 'delete'; readonly prefix: string; readonly reason?: string };

/**
 * `propose`: `u8 op ‖ str prefix ‖ bytes link ‖ str reason`. Checks what the contract checks, so a
 * bad change fails here (CONTRACT_BAD_ARGS naming the field) rather than on chain.
 *
 * @example
 * encodeRouteProposeArgs({ op: 'upsert', prefix: 'cn.loulan.shop', link: { adapter: { kind: 'rest', endpoint: 'https://shop.example/hook' }, ordered: false, retry: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 10000 } }, reason: 'onboard shops' })
 */
export function encodeRouteProposeArgs(change: RouteChangeInput): Uint8Array {
  if (!isRoutePrefix(change.prefix)) badArgs('prefix', "prefix must be '' or a hierarchical address (lower-case dot-separated segments)");
  let link: Uint8Array = new Uint8Array(0);
  if (change.op === 'upsert') {
    link = change.link instanceof Uint8Array ? change.link : canonicalBytes(change.link);
    checkLinkBytes(link);
  } else if (change.op !== 'delete') {
    badArgs('op', 'op must be upsert or delete');
  }
  return new Writer(280 + link.length)
    .u8(opCode(change.op), 'op')
    .string(change.prefix, MAX_PREFIX_BYTES, 'prefix')
    .varBytes(link, MAX_LINK_BYTES, 'link')
    .string(change.reason ?? '', MAX_REASON_BYTES, 'reason')
    .finish();
}

/** `approve`: `u64 changeId`. */
export function encodeRouteApproveArgs(changeId: bigint): Uint8Array {
  return new Writer(8).u64(changeId, 'changeId').finish();
}

// -- events ----------------------------------------------------------------------------------------

export type RoutesEvent =
  | {
      readonly type: 'route-change-proposed';
      readonly changeId: bigint;
      readonly op: RouteOp;
      readonly prefix: string;
      readonly link: Uint8Array;
      readonly reason: string;
      readonly proposer: RouteApproval;
      readonly expiresAt: bigint;
    }
  | { readonly type: 'route-change-approved'; readonly changeId: bigint; readonly approver: RouteApproval; readonly approvals: number; readonly required: number }
  | { readonly type: 'route-set'; readonly prefix: string; readonly version: bigint; readonly changeId: bigint; readonly link: Uint8Array }
  | { readonly type: 'route-removed'; readonly prefix: string; readonly version: bigint; readonly changeId: bigint }
  | { readonly type: 'route-change-expired'; readonly changeId: bigint };

export const ROUTES_EVENT_TYPES = Object.freeze(['route-change-proposed', 'route-change-approved', 'route-set', 'route-removed', 'route-change-expired'] as const);

/**
 * Decodes the data of a `routes` event (check `contract === 'routes'` first). Throws CODEC_TAG for a
 * type this contract does not emit, CODEC_* for data that does not decode.
 */
export function decodeRoutesEvent(type: string, data: Uint8Array): RoutesEvent {
  const r = new Reader(data);
  let event: RoutesEvent;
  switch (type) {
    case 'route-change-proposed': {
      const changeId = r.u64('changeId');
      const op = readOp(r);
      event = {
        type,
        changeId,
        op,
        prefix: r.string(MAX_PREFIX_BYTES, 'prefix'),
        link: r.varBytes(MAX_LINK_BYTES, 'link'),
        reason: r.string(MAX_REASON_BYTES, 'reason'),
        proposer: readApproval(r, 'proposer'),
        expiresAt: r.u64('expiresAt'),
      };
      break;
    }
    case 'route-change-approved':
      event = { type, changeId: r.u64('changeId'), approver: readApproval(r, 'approver'), approvals: r.u16('approvals'), required: r.u16('required') };
      break;
    case 'route-set':
      event = { type, prefix: r.string(MAX_PREFIX_BYTES, 'prefix'), version: r.u64('version'), changeId: r.u64('changeId'), link: r.varBytes(MAX_LINK_BYTES, 'link') };
      break;
    case 'route-removed':
      event = { type, prefix: r.string(MAX_PREFIX_BYTES, 'prefix'), version: r.u64('version'), changeId: r.u64('changeId') };
      break;
    case 'route-change-expired':
      event = { type, changeId: r.u64('changeId') };
      break;
    default:
      throw new LoulanError('CODEC_TAG', `routes emits no event ${type}`, { details: { field: 'type', actual: type } });
  }
  r.finish();
  return event;
}

// -- readers over committed state ------------------------------------------------------------------

const P = ROUTES_CONTRACT + '/';

/** The full state key of a prefix's entry (`routes/entry/<prefix>`). */
export function routeEntryKey(prefix: string): string {
  return ROUTE_ENTRY_PREFIX + prefix;
}

/** The prefix an entry key names (the inverse of `routeEntryKey`). */
export function routePrefixOf(key: string): string {
  if (!key.startsWith(ROUTE_ENTRY_PREFIX)) throw new LoulanError('CONTRACT_BAD_ARGS', `${key} is not a route entry key`, { details: { field: 'key' } });
  return key.slice(ROUTE_ENTRY_PREFIX.length);
}

/** The full state key of a change (`routes/change/<20-digit id>`). */
export function routeChangeKey(id: bigint): string {
  return P + KEY.change(id);
}

export function routeEntry(state: StateReader, prefix: string): RouteEntry | undefined {
  const bytes = state.get(routeEntryKey(prefix));
  return bytes === undefined ? undefined : decodeRouteEntry(prefix, bytes);
}

export function routeChange(state: StateReader, id: bigint): RouteChange | undefined {
  const bytes = state.get(routeChangeKey(id));
  return bytes === undefined ? undefined : decodeRouteChange(id, bytes);
}

export function routesParams(state: StateReader): RoutesParams {
  return decodeRoutesParams(state.get(ROUTES_PARAMS_KEY));
}

/** The table version: how many changes (genesis entries included) the table has applied. */
export function routeTableVersion(state: StateReader): bigint {
  return decodeU64(state.get(ROUTE_TABLE_VERSION_KEY));
}

/** Full state keys of the parameters and of the table version (u64; absent means 0). */
export const ROUTES_PARAMS_KEY = `${ROUTES_CONTRACT}/params`;
export const ROUTE_TABLE_VERSION_KEY = `${ROUTES_CONTRACT}/version`;

/** The table version as stored under ROUTE_TABLE_VERSION_KEY (undefined: 0). */
export function decodeRouteTableVersion(bytes: Uint8Array | undefined): bigint {
  return decodeU64(bytes);
}

// -- genesis ---------------------------------------------------------------------------------------

export interface RoutesGenesisConfig {
  readonly approvalsRequired?: number;
  readonly changeTtlMs?: bigint;
  /** Entries in force from genesis (versions 1..n in this order; changeId 0). */
  readonly entries?: ReadonlyArray<{ readonly prefix: string; readonly link: Uint8Array | Readonly<Record<string, unknown>> }>;
}

/** Full-key genesis entries; throws CONTRACT_BAD_ARGS / CONTRACT_ALREADY_EXISTS naming the field. */
export function routesGenesisEntries(config: RoutesGenesisConfig, time: bigint): [string, Uint8Array][] {
  const params: RoutesParams = {
    approvalsRequired: config.approvalsRequired ?? DEFAULT_APPROVALS_REQUIRED,
    changeTtlMs: config.changeTtlMs ?? DEFAULT_CHANGE_TTL_MS,
  };
  if (!Number.isInteger(params.approvalsRequired) || params.approvalsRequired < 1 || params.approvalsRequired > 0xffff) {
    badArgs('approvalsRequired', 'approvalsRequired must be in 1..65535');
  }
  if (typeof params.changeTtlMs !== 'bigint' || params.changeTtlMs < 1n || params.changeTtlMs >= 1n << 63n) badArgs('changeTtlMs', 'changeTtlMs must be positive');
  const out = new Map<string, Uint8Array>([[P + KEY.params, encodeRoutesParams(params)]]);
  const entries = config.entries ?? [];
  entries.forEach((e, i) => {
    const field = `entries.${i}`;
    if (!isRoutePrefix(e.prefix)) badArgs(`${field}.prefix`, "prefix must be '' or a hierarchical address");
    const link = e.link instanceof Uint8Array ? e.link : canonicalBytes(e.link);
    try {
      checkLinkBytes(link);
    } catch (cause) {
      badArgs(`${field}.link`, 'the link must be the canonical JSON of an object of at most 16 KiB', cause);
    }
    const key = routeEntryKey(e.prefix);
    if (out.has(key)) throw new LoulanError('CONTRACT_ALREADY_EXISTS', `route ${e.prefix} twice`, { details: { kind: 'route', id: e.prefix, field } });
    out.set(key, encodeRouteEntry({ version: BigInt(i + 1), changeId: 0n, height: 0n, time, link }));
  });
  if (entries.length > 0) out.set(P + KEY.version, encodeU64(BigInt(entries.length)));
  return [...out];
}
