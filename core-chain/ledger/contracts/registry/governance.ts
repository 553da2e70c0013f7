/**
 * Consortium votes and validator-set changes: the registry's `propose` / `approve` methods and its
 * begin-block hook.
 *
 * Voting members are the current validator keys, one vote each: a vote is a transaction signed by the
 * validator key itself (ES256K, the same 33-byte key that signs consensus messages, registered in
 * genesis as a participant with the validator role). This keeps governance exactly as Byzantine-safe
 * as consensus: a proposal passes with q = quorum(n) approvals of the n current validators, so any two
 * passing sets share an honest validator and f faulty ones cannot pass anything alone. Approvals are
 * counted against the set current at each vote: an approval by a validator removed since stays on
 * record but no longer counts, and a removed validator cannot vote.
 *
 * A validator change that passes at height h takes effect at h + activationDelay, applied by the
 * begin-block hook before that block's first transaction. Only one change may be pending: a vote that
 * would pass a second one fails (GOVERNANCE_CHANGE_PENDING) and can be cast again after activation.
 * The effect of a proposal is re-checked when it passes (the world may have moved since it was made).
 */
import { quorum } from '../../../consensus/quorum.ts';
import { Writer } from '../../../codec/binary.ts';
import { equalBytes, toHex } from '../../../crypto/hash.ts';
import { ethAddress } from '../../../crypto/secp256k1.ts';
import { LoulanError } from '../../../errors.ts';
import type { ContractContext } from '../../contracts.ts';
import { senderAddress } from '../../tx.ts';
import { ADDR_ACTIVE, decodeAddrRecord, roleMask } from './access.ts';
import {
  decodeArgs,
  decodeOpenList,
  decodeParams,
  decodeParticipant,
  decodePending,
  decodeProposal,
  decodeU64,
  decodeValidatorKeys,
  encodeOpenList,
  encodePending,
  encodeProposal,
  encodeU64,
  encodeValidatorKeys,
  encodeValidatorMeta,
  MAX_OPEN_PROPOSALS,
  MAX_REGISTRY_VALIDATORS,
  readAction,
  writeAction,
  type PendingChange,
  type Proposal,
  type ProposalAction,
} from './records.ts';

/** The fewest validators a remove may leave (n = 3f+1 with f = 1). */
export const MIN_VALIDATORS = 4;

export const KEY = {
  params: 'params',
  validators: 'validators',
  pending: 'pending',
  nextProposal: 'proposal/next',
  nextNodeId: 'validators/next-id',
  openProposals: 'proposals/open',
  validator: (publicKey: Uint8Array) => `validator/${toHex(publicKey)}`,
  proposal: (id: bigint) => `proposal/${id}`,
  participant: (id: string) => `participant/${id}`,
  addr: (address: string) => `addr/${address}`,
  system: (id: string) => `system/${id}`,
} as const;

/** Sorts validator keys into set order: ascending Ethereum address, as genesis does. */
export function sortValidatorKeys(keys: Uint8Array[]): Uint8Array[] {
  const tagged = keys.map((k) => ({ k, a: toHex(ethAddress(k)) }));
  tagged.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
  return tagged.map((t) => t.k);
}

function validatorKeys(ctx: ContractContext): Uint8Array[] {
  const bytes = ctx.get(KEY.validators);
  return bytes === undefined ? [] : decodeValidatorKeys(bytes);
}

function contains(keys: readonly Uint8Array[], key: Uint8Array): boolean {
  return keys.some((k) => equalBytes(k, key));
}

function notFound(kind: string, id: string): never {
  throw new LoulanError('CONTRACT_NOT_FOUND', `no ${kind} ${id}`, { details: { kind, id } });
}

/** Throws unless `action` could take effect now (checked at creation and again when it passes). */
function checkEffect(ctx: ContractContext, action: ProposalAction): void {
  if (action.kind === 'set-roles') {
    if (ctx.get(KEY.participant(action.participant)) === undefined) notFound('participant', action.participant);
    return;
  }
  const pending = ctx.get(KEY.pending);
  if (pending !== undefined) {
    const p = decodePending(pending);
    throw new LoulanError('GOVERNANCE_CHANGE_PENDING', 'a validator change is already scheduled', {
      details: { activationHeight: p.activationHeight, proposal: p.proposal },
    });
  }
  const keys = validatorKeys(ctx);
  const hex = toHex(action.publicKey);
  if (action.kind === 'validator-remove') {
    if (!contains(keys, action.publicKey)) notFound('validator', hex);
    if (keys.length - 1 < MIN_VALIDATORS) {
      throw new LoulanError('GOVERNANCE_MIN_VALIDATORS', `a remove would leave ${keys.length - 1} validators`, { details: { validators: keys.length, min: MIN_VALIDATORS } });
    }
    return;
  }
  if (contains(keys, action.publicKey)) throw new LoulanError('CONTRACT_ALREADY_EXISTS', 'the key is already a validator', { details: { kind: 'validator', id: hex } });
  if (keys.length >= MAX_REGISTRY_VALIDATORS) throw new LoulanError('CONTRACT_STATE_LIMIT', 'the validator set is full', { details: { field: 'validators' } });
  // The joining key must already belong to an active participant of that organisation with the
  // validator role: the admin registers it first, so that it can vote once it is in the set.
  const address = senderAddress('ES256K', action.publicKey);
  const record = ctx.get(KEY.addr(address));
  if (record === undefined) notFound('key', address);
  const addr = decodeAddrRecord(record);
  if (addr.status !== ADDR_ACTIVE || (addr.roles & roleMask(['validator'])) === 0) {
    throw new LoulanError('CONTRACT_BAD_ARGS', 'the key must belong to an active participant with the validator role', { details: { field: 'publicKey' } });
  }
  const participant = ctx.get(KEY.participant(addr.participant));
  if (participant === undefined) throw new LoulanError('INTERNAL', 'address record names a missing participant');
  const org = decodeParticipant(addr.participant, participant).organisation;
  if (org !== action.organisation) {
    throw new LoulanError('CONTRACT_BAD_ARGS', `the key belongs to organisation ${org}`, { details: { field: 'organisation' } });
  }
}

/** `propose`: `u8 kind ‖ payload` (records.ts `writeAction`). */
export function propose(ctx: ContractContext, args: Uint8Array): void {
  const action = decodeArgs(args, readAction);
  checkEffect(ctx, action);
  const open = decodeOpenList(ctx.get(KEY.openProposals));
  if (open.length >= MAX_OPEN_PROPOSALS) {
    throw new LoulanError('CONTRACT_STATE_LIMIT', `at most ${MAX_OPEN_PROPOSALS} proposals may be open`, { details: { field: 'proposals' } });
  }
  const id = decodeU64(ctx.get(KEY.nextProposal)) + 1n;
  const expiresAt = ctx.time + decodeParams(ctx.get(KEY.params)).proposalTtlMs;
  const proposal: Proposal = { id, action, status: 'open', proposer: ctx.sender, createdHeight: ctx.height, expiresAt, decidedHeight: 0n, approvals: [] };
  ctx.put(KEY.proposal(id), encodeProposal(proposal));
  ctx.put(KEY.nextProposal, encodeU64(id));
  open.push({ id, expiresAt });
  ctx.put(KEY.openProposals, encodeOpenList(open));
  ctx.emit('proposal-created', writeAction(new Writer(96).u64(id).u64(expiresAt), action).finish());
}

/** `approve`: `u64 proposalId`. */
export function approve(ctx: ContractContext, args: Uint8Array, setRoles: (ctx: ContractContext, id: string, mask: number) => void): void {
  const id = decodeArgs(args, (r) => r.u64('proposal'));
  const stored = ctx.get(KEY.proposal(id));
  if (stored === undefined) notFound('proposal', String(id));
  const proposal = decodeProposal(id, stored);
  if (proposal.status === 'passed') throw new LoulanError('GOVERNANCE_PROPOSAL_CLOSED', `proposal ${id} already passed`, { details: { proposal: id } });
  if (proposal.status === 'expired' || ctx.time >= proposal.expiresAt) {
    throw new LoulanError('GOVERNANCE_PROPOSAL_EXPIRED', `proposal ${id} expired`, { details: { proposal: id, expiresAt: proposal.expiresAt } });
  }
  const current = validatorKeys(ctx);
  const voter = current.find((k) => senderAddress('ES256K', k) === ctx.sender);
  if (voter === undefined) throw new LoulanError('GOVERNANCE_NOT_MEMBER', 'only current validator keys vote', { details: { sender: ctx.sender, proposal: id } });
  if (contains(proposal.approvals, voter)) {
    throw new LoulanError('GOVERNANCE_DUPLICATE_VOTE', 'this validator already approved', { details: { proposal: id, validator: toHex(voter) } });
  }
  const approvals = [...proposal.approvals, voter];
  const counted = approvals.filter((k) => contains(current, k)).length;
  const q = quorum(current.length);
  ctx.emit('proposal-approved', new Writer(48).u64(id).bytes(voter, 33).u16(counted).u16(q).finish());
  let next: Proposal = { ...proposal, approvals };
  if (counted >= q) {
    checkEffect(ctx, proposal.action);
    next = { ...next, status: 'passed', decidedHeight: ctx.height };
    const open = decodeOpenList(ctx.get(KEY.openProposals)).filter((p) => p.id !== id);
    ctx.put(KEY.openProposals, encodeOpenList(open));
    ctx.emit('proposal-passed', new Writer(9).u64(id).u8(kindCode(proposal.action)).finish());
    enact(ctx, id, proposal.action, setRoles);
  }
  ctx.put(KEY.proposal(id), encodeProposal(next));
}

function kindCode(action: ProposalAction): number {
  return action.kind === 'validator-join' ? 1 : action.kind === 'validator-remove' ? 2 : 3;
}

function enact(ctx: ContractContext, id: bigint, action: ProposalAction, setRoles: (ctx: ContractContext, id: string, mask: number) => void): void {
  if (action.kind === 'set-roles') {
    setRoles(ctx, action.participant, roleMask(action.roles));
    return;
  }
  const activationHeight = ctx.height + decodeParams(ctx.get(KEY.params)).activationDelay;
  let pending: PendingChange;
  if (action.kind === 'validator-join') {
    // The id is fixed when the join is scheduled, so the new validator's operator can configure it
    // (and peers can link to it) before it activates.
    const nodeId = Number(decodeU64(ctx.get(KEY.nextNodeId)));
    ctx.put(KEY.nextNodeId, encodeU64(BigInt(nodeId + 1)));
    pending = { activationHeight, proposal: id, change: 'join', publicKey: action.publicKey, name: action.name, organisation: action.organisation, nodeId, endpoint: action.endpoint };
  } else {
    pending = { activationHeight, proposal: id, change: 'remove', publicKey: action.publicKey, name: '', organisation: '', nodeId: 0, endpoint: '' };
  }
  ctx.put(KEY.pending, encodePending(pending));
  ctx.emit('validator-set-scheduled', new Writer(64).u64(activationHeight).u64(id).u8(pending.change === 'join' ? 1 : 2).bytes(action.publicKey, 33).finish());
}

/** The validator keys after applying `change` to `keys` (set order). */
export function applyChange(keys: readonly Uint8Array[], change: PendingChange): Uint8Array[] {
  if (change.change === 'remove') return keys.filter((k) => !equalBytes(k, change.publicKey));
  return sortValidatorKeys([...keys, change.publicKey]);
}

/** Begin-block hook: expire proposals whose time has come, then activate a change scheduled for now. */
export function beginBlock(ctx: ContractContext): void {
  const openBytes = ctx.get(KEY.openProposals);
  if (openBytes !== undefined) {
    const open = decodeOpenList(openBytes);
    const live = open.filter((p) => p.expiresAt > ctx.time);
    if (live.length !== open.length) {
      for (const p of open) {
        if (p.expiresAt > ctx.time) continue;
        const proposal = decodeProposal(p.id, ctx.get(KEY.proposal(p.id)) as Uint8Array);
        ctx.put(KEY.proposal(p.id), encodeProposal({ ...proposal, status: 'expired', decidedHeight: ctx.height }));
        ctx.emit('proposal-expired', encodeU64(p.id));
      }
      ctx.put(KEY.openProposals, encodeOpenList(live));
    }
  }
  const pendingBytes = ctx.get(KEY.pending);
  if (pendingBytes === undefined) return;
  const pending = decodePending(pendingBytes);
  if (pending.activationHeight > ctx.height) return;
  const keys = applyChange(validatorKeys(ctx), pending);
  ctx.put(KEY.validators, encodeValidatorKeys(keys));
  if (pending.change === 'join') ctx.put(KEY.validator(pending.publicKey), encodeValidatorMeta(pending));
  else ctx.delete(KEY.validator(pending.publicKey));
  ctx.delete(KEY.pending);
  const event = new Writer(16 + 33 * keys.length).u64(pending.proposal).u16(keys.length);
  for (const k of keys) event.bytes(k, 33);
  ctx.emit('validator-set-activated', event.finish());
}
