import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quorum } from '../../consensus/quorum.ts';
import { Reader, Writer } from '../../codec/binary.ts';
import { sha256, toHex } from '../../crypto/hash.ts';
import { ethAddress } from '../../crypto/secp256k1.ts';
import { BLOCK_HOOK_TX, contractRegistry } from '../contracts.ts';
import { decodeEvent, type LedgerEvent } from '../events.ts';
import { committedNonce, executeBlock } from '../executor.ts';
import type { BlockContext } from '../block.ts';
import { createGenesis, genesisFromJson, genesisToJson } from '../genesis.ts';
import { Mempool } from '../mempool.ts';
import { BlockRunner, codeOf, directContext, errorOf, makeAccount, makeChain, type Account, type TestChain } from '../testkit.ts';

function context(chain: TestChain, run: BlockRunner): BlockContext {
  const g = chain.genesis;
  return { chainId: g.chainId, height: run.height + 1n, prevHash: new Uint8Array(32), time: run.time + 1n, proposer: 0, validatorSetHash: g.validatorSetHash, nextValidatorSetHash: g.validatorSetHash };
}
import { assetBalance, createAssetContract, encodeAssetArgs, encodeMintArgs } from './asset.ts';
import { encodeRouteProposeArgs } from './routes.ts';
import { encodeAnchorArgs } from './xmsg.ts';
import {
  addrRecord,
  BUSINESS_ROLES,
  checkAccess,
  createRegistryContract,
  currentValidators,
  encodeAddKeyArgs,
  encodeAddParticipantArgs,
  encodeApproveArgs,
  encodeProposeArgs,
  encodeRegisterSchemaArgs,
  encodeRevokeKeyArgs,
  encodeSetRolesArgs,
  encodeSetStatusArgs,
  encodeSystemArgs,
  pendingValidatorChange,
  registryParams,
  registryParticipant,
  registryProposal,
  registrySchema,
  registrySchemaKey,
  registrySystem,
  roleMask,
  rolesOf,
  ROLES,
  DEFAULT_ACTIVATION_DELAY,
  type ParticipantInput,
  type ProposalAction,
  type Role,
} from './registry.ts';

const key = (a: Account) => ({ alg: a.alg, publicKey: a.publicKey });
const R = 'registry';
const setRolesAction: ProposalAction = { kind: 'set-roles', participant: 'relay-1', roles: ['relayer', 'notary'] };

/** A chain with its runner and a few extra participants: a relayer, and a validator-role key outside the set. */
function setup(options: { validators?: number; activationDelay?: bigint; proposalTtlMs?: bigint } = {}) {
  const relayer = makeAccount('ES256');
  const outsider = makeAccount('ES256K');
  const participants: ParticipantInput[] = [
    { id: 'relay-1', organisation: 'relay-org', roles: ['relayer'], keys: [key(relayer)] },
    { id: 'outsider', organisation: 'org-x', roles: ['validator'], keys: [key(outsider)] },
  ];
  const registry = {
    ...(options.activationDelay === undefined ? {} : { activationDelay: options.activationDelay }),
    ...(options.proposalTtlMs === undefined ? {} : { proposalTtlMs: options.proposalTtlMs }),
  };
  const chain = makeChain({ accounts: 3, balance: 1_000n, validators: options.validators ?? 4, participants, registry });
  const run = new BlockRunner(chain.genesis);
  return { chain, run, admin: chain.issuer, relayer, outsider, accounts: chain.accounts, validators: chain.validators };
}

function events(result: { events: readonly LedgerEvent[] }, type: string): LedgerEvent[] {
  return result.events.filter((e) => e.type === type);
}

function codes(result: { receipts: readonly { code: string | null }[] }): (string | null)[] {
  return result.receipts.map((r) => r.code);
}

function propose(run: BlockRunner, from: Account, action: ProposalAction): bigint {
  const { code, result } = run.call(from, R, 'propose', encodeProposeArgs(action));
  expect(code).toBeNull();
  return new Reader((events(result, 'proposal-created')[0] as LedgerEvent).data).u64();
}

function approveAll(run: BlockRunner, voters: readonly Account[], id: bigint) {
  return run.block(voters.map((v) => run.tx(v, R, 'approve', encodeApproveArgs(id))));
}

describe('roles', () => {
  it('have fixed bit positions', () => {
    expect(ROLES).toEqual(['admin', 'validator', 'operator', 'shop', 'program', 'financier', 'relayer', 'notary']);
    expect(roleMask(['admin'])).toBe(1);
    expect(roleMask(['notary', 'validator'])).toBe(0b1000_0010);
    expect(rolesOf(0b0011_1100)).toEqual(BUSINESS_ROLES);
    expect(codeOf(() => roleMask(['root' as Role]))).toBe('CONTRACT_BAD_ARGS');
  });
});

describe('genesis seeding', () => {
  it('registers the validators in set order, every given participant, and the parameters', () => {
    const { chain, run } = setup();
    const validators = currentValidators(run.state);
    expect(validators.map((v) => toHex(v.publicKey))).toEqual(chain.genesis.validators.map((v) => toHex(v.publicKey)));
    const addresses = validators.map((v) => toHex(ethAddress(v.publicKey)));
    expect([...addresses].sort()).toEqual(addresses);
    const byKey = new Map(chain.validators.map((v, i) => [toHex(v.publicKey), i]));
    for (const v of validators) {
      const i = byKey.get(toHex(v.publicKey)) as number;
      expect(v).toMatchObject({ name: `v${i}`, organisation: `org-v${i}` });
      expect(registryParticipant(run.state, `v${i}`)).toMatchObject({ organisation: `org-v${i}`, roles: ['validator'], status: 'active' });
    }
    expect(registryParticipant(run.state, 'issuer')).toMatchObject({ roles: ['admin', 'operator'], keys: [key(chain.issuer)] });
    expect(addrRecord(run.state, chain.accounts[0]!.address)).toEqual({ status: 0, roles: roleMask(BUSINESS_ROLES), participant: 'acct-0' });
    expect(pendingValidatorChange(run.state)).toBeNull();
    expect(registryParams(run.state).activationDelay).toBe(DEFAULT_ACTIVATION_DELAY);
  });

  it('refuses a document whose registry names other validators, and duplicate keys or ids', () => {
    const { chain } = setup();
    const json = genesisToJson(chain.genesis);
    const other = makeChain({ validators: 4 }).genesis;
    const swapped = { ...json, state: json.state.map((e) => (e.key === 'registry/validators' ? (genesisToJson(other).state.find((o) => o.key === e.key) as typeof e) : e)) };
    expect(errorOf(() => genesisFromJson(swapped))?.details).toMatchObject({ field: '/state' });
    const a = makeAccount();
    const base = { chainName: 'dup', time: 1n, validators: chain.genesis.validators.map((v) => ({ name: v.name, publicKey: v.publicKey })) };
    const twoKeys = errorOf(() => createGenesis({ ...base, participants: [1, 2].map((i) => ({ id: `p${i}`, organisation: 'o', roles: ['shop' as Role], keys: [key(a)] })) }));
    expect(twoKeys?.code).toBe('LEDGER_GENESIS_INVALID');
    const twoIds = errorOf(() => createGenesis({ ...base, participants: [a, makeAccount()].map((x) => ({ id: 'p', organisation: 'o', roles: ['shop' as Role], keys: [key(x)] })) }));
    expect(twoIds?.code).toBe('LEDGER_GENESIS_INVALID');
    expect(codeOf(() => createGenesis({ ...base, registry: { activationDelay: 0n } }))).toBe('LEDGER_GENESIS_INVALID');
  });
});

describe('role gating of contract calls', () => {
  it('lets business roles transfer and refuses unregistered, role-less, suspended senders (nonce consumed)', () => {
    const { run, relayer, accounts, admin } = setup();
    const [alice, bob] = accounts as [Account, Account];
    const stranger = makeAccount();
    const result = run.block([
      run.tx(alice, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 5n })),
      run.tx(stranger, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 1n })),
      run.tx(relayer, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 1n })),
      run.tx(alice, 'asset', 'burn', encodeAssetArgs({ to: bob.address, amount: 1n })),
      run.tx(admin, R, 'setStatus', encodeSetStatusArgs('acct-0', 'suspended')),
      run.tx(alice, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 5n })),
    ]);
    expect(codes(result)).toEqual([null, 'CONTRACT_FORBIDDEN', 'CONTRACT_FORBIDDEN', 'CONTRACT_UNKNOWN_METHOD', null, 'CONTRACT_FORBIDDEN']);
    expect(committedNonce(run.state, stranger.address)).toBe(1n);
    expect(assetBalance(run.state, alice.address)).toBe(995n);
    expect(run.call(admin, R, 'setStatus', encodeSetStatusArgs('acct-0', 'active')).code).toBeNull();
    expect(run.call(alice, 'asset', 'transfer', encodeAssetArgs({ to: bob.address, amount: 5n })).code).toBeNull();
  });

  it('keeps the issuer check on mint behind the role check', () => {
    const { run, accounts, admin } = setup();
    expect(run.call(accounts[0]!, 'asset', 'mint', encodeMintArgs({ to: accounts[0]!.address, amount: 1n })).code).toBe('CONTRACT_UNAUTHORIZED');
    expect(run.call(admin, 'asset', 'mint', encodeMintArgs({ to: accounts[0]!.address, amount: 1n })).code).toBeNull();
  });

  it('names sender, contract, method, required roles and the reason; the mempool refuses early', () => {
    const { run, relayer, chain } = setup();
    const asset = createAssetContract();
    const error = errorOf(() => checkAccess(run.state, asset, 'transfer', relayer.address));
    expect(error?.code).toBe('CONTRACT_FORBIDDEN');
    expect(error?.details).toEqual({ sender: relayer.address, contract: 'asset', method: 'transfer', required: BUSINESS_ROLES, reason: 'role' });
    const stranger = makeAccount();
    expect(errorOf(() => checkAccess(run.state, asset, 'transfer', stranger.address))?.details).toMatchObject({ reason: 'unregistered' });
    expect(errorOf(() => checkAccess(run.state, asset, 'nosuch', stranger.address))?.details).toEqual({ contract: 'asset', method: 'nosuch' });
    const mempool = new Mempool({ chainId: chain.genesis.chainId, nonceOf: (a) => committedNonce(run.state, a), contracts: run.contracts, state: run.state });
    expect(codeOf(() => mempool.add(run.tx(relayer, 'asset', 'transfer', encodeAssetArgs({ to: relayer.address, amount: 1n }))))).toBe('CONTRACT_FORBIDDEN');
    expect(mempool.add(run.tx(chain.accounts[0]!, 'asset', 'transfer', encodeAssetArgs({ to: relayer.address, amount: 1n }))).duplicate).toBe(false);
  });
});

describe('participants', () => {
  it('admin adds a participant, who may act from the next transaction on', () => {
    const { run, admin, accounts } = setup();
    const carol = makeAccount('Ed25519');
    const result = run.block([
      run.tx(admin, R, 'addParticipant', encodeAddParticipantArgs({ id: 'carol', organisation: 'shop-org', roles: ['shop'], keys: [key(carol)] })),
      run.tx(accounts[0]!, 'asset', 'transfer', encodeAssetArgs({ to: carol.address, amount: 10n })),
      run.tx(carol, 'asset', 'transfer', encodeAssetArgs({ to: admin.address, amount: 4n })),
    ]);
    expect(codes(result)).toEqual([null, null, null]);
    expect(registryParticipant(run.state, 'carol')).toEqual({ id: 'carol', organisation: 'shop-org', status: 'active', roles: ['shop'], keys: [key(carol)] });
    const added = new Reader(events(result, 'participant-added')[0]!.data);
    expect([added.string(64), added.string(64), added.u32(), added.u8(), toHex(added.bytes(20))]).toEqual(['carol', 'shop-org', roleMask(['shop']), 1, carol.address]);
  });

  it('refuses non-admins, duplicate ids and keys, and bad arguments', () => {
    const { run, admin, accounts } = setup();
    const fresh = makeAccount();
    const args = (id: string, who: Account, roles: Role[] = ['shop']) => encodeAddParticipantArgs({ id, organisation: 'o', roles, keys: [key(who)] });
    const result = run.block([
      run.tx(accounts[0]!, R, 'addParticipant', args('x', fresh)),
      run.tx(admin, R, 'addParticipant', args('acct-1', fresh)),
      run.tx(admin, R, 'addParticipant', args('y', accounts[1]!)),
      run.tx(admin, R, 'addParticipant', args('bad id!', fresh)),
      run.tx(admin, R, 'addParticipant', Uint8Array.of(1, 2, 3)),
      run.tx(admin, R, 'addParticipant', encodeAddParticipantArgs({ id: 'z', organisation: 'o', roles: [], keys: [] })),
      run.tx(admin, R, 'setRoles', encodeSetRolesArgs('nobody', ['shop'])),
      run.tx(admin, R, 'setStatus', encodeSetStatusArgs('issuer', 'suspended')),
    ]);
    expect(codes(result)).toEqual([
      'CONTRACT_FORBIDDEN',
      'CONTRACT_ALREADY_EXISTS',
      'CONTRACT_ALREADY_EXISTS',
      'CONTRACT_BAD_ARGS',
      'CONTRACT_BAD_ARGS',
      'CONTRACT_BAD_ARGS',
      'CONTRACT_NOT_FOUND',
      'CONTRACT_BAD_ARGS',
    ]);
    // str 'abcd' ‖ u32 roles with bit 8 set, which names no role.
    const roles = new Uint8Array([0, 0, 0, 4, ...'abcd'.split('').map((c) => c.charCodeAt(0)), 0x00, 0x00, 0x01, 0x00]);
    expect(run.call(admin, R, 'setRoles', roles).code).toBe('CONTRACT_BAD_ARGS');
  });

  it('setRoles changes what a participant may call at once', () => {
    const { run, admin, relayer } = setup();
    const transfer = () => run.call(relayer, 'asset', 'transfer', encodeAssetArgs({ to: admin.address, amount: 1n }));
    expect(transfer().code).toBe('CONTRACT_FORBIDDEN');
    const { result } = run.call(admin, R, 'setRoles', encodeSetRolesArgs('relay-1', ['relayer', 'operator']));
    expect(events(result, 'roles-set')).toHaveLength(1);
    expect(transfer().code).toBe('CONTRACT_INSUFFICIENT_FUNDS');
  });
});

describe('key rotation', () => {
  it('the new key works at once; the revoked one fails CONTRACT_FORBIDDEN from the next transaction on', () => {
    const { run, accounts } = setup();
    const alice = accounts[0]!;
    const next = makeAccount('ES256K');
    const result = run.block([
      run.tx(alice, R, 'addKey', encodeAddKeyArgs('acct-0', key(next))),
      // Balances are per address: the participant moves its funds to the new key itself.
      run.tx(alice, 'asset', 'transfer', encodeAssetArgs({ to: next.address, amount: 10n })),
      run.tx(next, 'asset', 'transfer', encodeAssetArgs({ to: alice.address, amount: 1n })),
      run.tx(next, R, 'revokeKey', encodeRevokeKeyArgs('acct-0', alice.address)),
      run.tx(alice, 'asset', 'transfer', encodeAssetArgs({ to: next.address, amount: 1n })),
      run.tx(next, R, 'revokeKey', encodeRevokeKeyArgs('acct-0', next.address)),
      run.tx(next, R, 'addKey', encodeAddKeyArgs('acct-0', key(alice))),
      run.tx(next, R, 'revokeKey', encodeRevokeKeyArgs('acct-0', alice.address)),
    ]);
    expect(codes(result)).toEqual([null, null, null, null, 'CONTRACT_FORBIDDEN', 'REGISTRY_LAST_KEY', 'CONTRACT_ALREADY_EXISTS', 'CONTRACT_NOT_FOUND']);
    expect(events(result, 'key-added')).toHaveLength(1);
    expect(events(result, 'key-revoked')).toHaveLength(1);
    expect(addrRecord(run.state, alice.address)).toEqual({ status: 2, roles: roleMask(BUSINESS_ROLES), participant: 'acct-0' });
    expect(registryParticipant(run.state, 'acct-0')?.keys).toEqual([key(next)]);
    expect(errorOf(() => checkAccess(run.state, createAssetContract(), 'transfer', alice.address))?.details).toMatchObject({ reason: 'revoked' });
  });

  it('only the participant or an admin of its own organisation manages its keys', () => {
    const { run, admin, accounts } = setup();
    const orgAdmin = makeAccount();
    expect(run.call(admin, R, 'addParticipant', encodeAddParticipantArgs({ id: 'test-admin', organisation: 'test-org', roles: ['admin'], keys: [key(orgAdmin)] })).code).toBeNull();
    const a = makeAccount();
    const b = makeAccount();
    const result = run.block([
      run.tx(accounts[1]!, R, 'addKey', encodeAddKeyArgs('acct-0', key(a))),
      run.tx(admin, R, 'addKey', encodeAddKeyArgs('acct-0', key(a))),
      run.tx(orgAdmin, R, 'addKey', encodeAddKeyArgs('acct-0', key(b))),
      run.tx(orgAdmin, R, 'revokeKey', encodeRevokeKeyArgs('acct-0', accounts[0]!.address)),
    ]);
    expect(codes(result)).toEqual(['CONTRACT_FORBIDDEN', 'CONTRACT_FORBIDDEN', null, null]);
    expect(registryParticipant(run.state, 'acct-0')?.keys).toEqual([key(b)]);
  });
});

describe('outside systems', () => {
  const fabric = { kind: 'fabric', network: 'trade-net', mspRoots: [Uint8Array.of(0x30, 0x82, 1, 2)], endorsementPolicy: "AND('Org1MSP.peer','Org2MSP.peer')" } as const;
  const evm = { kind: 'evm', network: 'besu-points', chainId: 1337n, finalityDepth: 12, notaries: ['11'.repeat(20), '22'.repeat(20), '33'.repeat(20)], threshold: 2 } as const;

  it('admin registers and updates systems; records read back as written', () => {
    const { run, admin } = setup();
    const result = run.block([
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('fab-1', fabric)),
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('evm-1', evm)),
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('erp-1', { kind: 'rest', network: 'erp', participant: 'acct-2' })),
      run.tx(admin, R, 'updateSystem', encodeSystemArgs('evm-1', { ...evm, threshold: 3 })),
    ]);
    expect(codes(result)).toEqual([null, null, null, null]);
    expect(registrySystem(run.state, 'fab-1')).toEqual({ ...fabric, mspRoots: [...fabric.mspRoots] });
    expect(registrySystem(run.state, 'evm-1')).toEqual({ ...evm, notaries: [...evm.notaries], threshold: 3 });
    expect(registrySystem(run.state, 'erp-1')).toEqual({ kind: 'rest', network: 'erp', participant: 'acct-2' });
    expect(result.events.map((e) => e.type)).toEqual(['system-registered', 'system-registered', 'system-registered', 'system-updated']);
  });

  it('refuses duplicates, unknown systems and participants, bad verification rules and non-admins', () => {
    const { run, admin, accounts } = setup();
    const result = run.block([
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('fab-1', fabric)),
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('fab-1', fabric)),
      run.tx(admin, R, 'updateSystem', encodeSystemArgs('nosuch', fabric)),
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('db-1', { kind: 'db', network: 'ledger-db', participant: 'ghost' })),
      run.tx(admin, R, 'registerSystem', encodeSystemArgs('evm-2', { ...evm, threshold: 4 })),
      run.tx(accounts[0]!, R, 'registerSystem', encodeSystemArgs('evm-3', evm)),
    ]);
    expect(codes(result)).toEqual([null, 'CONTRACT_ALREADY_EXISTS', 'CONTRACT_NOT_FOUND', 'CONTRACT_NOT_FOUND', 'CONTRACT_BAD_ARGS', 'CONTRACT_FORBIDDEN']);
  });
});

describe('proposals', () => {
  it('a set-roles proposal passes at exactly q approvals, not q-1', () => {
    for (const n of [4, 7]) {
      const { run, admin, validators } = setup({ validators: n });
      const q = quorum(n);
      const id = propose(run, admin, setRolesAction);
      const first = approveAll(run, validators.slice(0, q - 1), id);
      expect(codes(first).every((c) => c === null)).toBe(true);
      expect(registryProposal(run.state, id)?.status).toBe('open');
      expect(registryParticipant(run.state, 'relay-1')?.roles).toEqual(['relayer']);
      const last = approveAll(run, [validators[q - 1]!], id);
      expect(last.events.map((e) => e.type)).toEqual(['proposal-approved', 'proposal-passed', 'roles-set']);
      expect(registryProposal(run.state, id)).toMatchObject({ status: 'passed', decidedHeight: run.height });
      expect(registryParticipant(run.state, 'relay-1')?.roles).toEqual(['relayer', 'notary']);
      expect(run.call(validators[q]!, R, 'approve', encodeApproveArgs(id)).code).toBe('GOVERNANCE_PROPOSAL_CLOSED');
    }
  });

  it('duplicate, non-member, role-less and unknown-proposal votes fail and do not count', () => {
    const { run, admin, validators, outsider, accounts } = setup();
    const id = propose(run, validators[0]!, setRolesAction);
    const result = run.block([
      run.tx(validators[0]!, R, 'approve', encodeApproveArgs(id)),
      run.tx(validators[0]!, R, 'approve', encodeApproveArgs(id)),
      run.tx(outsider, R, 'approve', encodeApproveArgs(id)),
      run.tx(admin, R, 'approve', encodeApproveArgs(id)),
      run.tx(accounts[0]!, R, 'propose', encodeProposeArgs(setRolesAction)),
      run.tx(validators[1]!, R, 'approve', encodeApproveArgs(99n)),
    ]);
    expect(codes(result)).toEqual([null, 'GOVERNANCE_DUPLICATE_VOTE', 'GOVERNANCE_NOT_MEMBER', 'CONTRACT_FORBIDDEN', 'CONTRACT_FORBIDDEN', 'CONTRACT_NOT_FOUND']);
    expect(registryProposal(run.state, id)?.approvals).toHaveLength(1);
  });

  it('a forged vote never reaches the contract: the block is invalid, or the vote is left out', () => {
    const { run, chain, validators } = setup();
    const id = propose(run, validators[0]!, setRolesAction);
    const forger = makeAccount('ES256K');
    const forged: Account = { ...forger, publicKey: validators[1]!.publicKey, address: validators[1]!.address };
    const tx = run.tx(forged, R, 'approve', encodeApproveArgs(id));
    expect(errorOf(() => run.block([tx]))?.details).toMatchObject({ reason: 'tx', txCode: 'CRYPTO_SIGNATURE_INVALID' });
    expect(registryProposal(run.state, id)?.approvals).toHaveLength(0);
    const proposeMode = executeBlock(run.state, { ...context(chain, run) }, [tx], { contracts: run.contracts, mode: 'propose' });
    expect(proposeMode.skipped.map((s) => s.error.code)).toEqual(['CRYPTO_SIGNATURE_INVALID']);
    expect(proposeMode.receipts).toHaveLength(0);
  });

  it('expires by block time: the begin-block hook marks it, later votes fail', () => {
    const { run, admin, validators } = setup({ proposalTtlMs: 10_000n });
    const id = propose(run, admin, setRolesAction);
    const expiresAt = registryProposal(run.state, id)!.expiresAt;
    expect(expiresAt).toBe(run.time + 10_000n);
    approveAll(run, validators.slice(0, 2), id);
    const quiet = run.block([], expiresAt - run.time - 1n);
    expect(events(quiet, 'proposal-expired')).toHaveLength(0);
    const late = run.block([run.tx(validators[2]!, R, 'approve', encodeApproveArgs(id))], 1n);
    expect(late.events[0]).toMatchObject({ type: 'proposal-expired', tx: BLOCK_HOOK_TX });
    expect(codes(late)).toEqual(['GOVERNANCE_PROPOSAL_EXPIRED']);
    expect(registryProposal(run.state, id)).toMatchObject({ status: 'expired', decidedHeight: run.height });
    expect(registryParticipant(run.state, 'relay-1')?.roles).toEqual(['relayer']);
  });

  it('approvals of a validator removed since no longer count, and it can no longer vote', () => {
    const { run, admin, validators } = setup({ validators: 5, activationDelay: 2n });
    const [v0, v1, v2, , v4] = validators as [Account, Account, Account, Account, Account];
    const roles = propose(run, admin, setRolesAction);
    approveAll(run, [v4, v0], roles);
    const remove = propose(run, admin, { kind: 'validator-remove', publicKey: v4.publicKey });
    approveAll(run, validators.slice(0, 4), remove);
    run.block();
    run.block();
    expect(currentValidators(run.state)).toHaveLength(4);
    expect(codes(approveAll(run, [v4, v1], roles))).toEqual(['GOVERNANCE_NOT_MEMBER', null]);
    expect(registryProposal(run.state, roles)?.status).toBe('open');
    const pass = approveAll(run, [v2], roles);
    const approved = new Reader(events(pass, 'proposal-approved')[0]!.data);
    approved.bytes(8 + 33);
    // u16 counted ‖ u16 quorum: v4's old approval is not among the 3 counted.
    expect([approved.u16(), approved.u16()]).toEqual([3, 3]);
    expect(registryProposal(run.state, roles)?.status).toBe('passed');
  });
});

describe('validator-set changes', () => {
  function joiner(run: BlockRunner, admin: Account, organisation = 'org-new'): Account {
    const v = makeAccount('ES256K');
    const args = encodeAddParticipantArgs({ id: 'v-new', organisation, roles: ['validator'], keys: [key(v)] });
    expect(run.call(admin, R, 'addParticipant', args).code).toBeNull();
    return v;
  }

  it('a join passing at h is scheduled for h + delay and activated by that block’s begin-block hook', () => {
    const { run, admin, validators } = setup({ activationDelay: 3n });
    const v = joiner(run, admin);
    const id = propose(run, admin, { kind: 'validator-join', publicKey: v.publicKey, name: 'v-new', organisation: 'org-new', endpoint: 'wss://v-new.example:26656/p2p' });
    const passed = approveAll(run, validators.slice(0, 3), id);
    const h = run.height;
    expect(passed.events.map((e) => e.type)).toContain('validator-set-scheduled');
    const pending = pendingValidatorChange(run.state);
    expect(pending).toMatchObject({ activationHeight: h + 3n, proposal: id, change: 'join' });
    // Node ids are stable: genesis validators hold 0..3 (their genesis positions), the joiner gets 4.
    expect(currentValidators(run.state).map((x) => x.nodeId)).toEqual([0, 1, 2, 3]);
    expect(pending!.validators.find((x) => toHex(x.publicKey) === toHex(v.publicKey))).toMatchObject({ nodeId: 4, endpoint: 'wss://v-new.example:26656/p2p' });
    const expected = [...currentValidators(run.state).map((x) => x.publicKey), v.publicKey].sort((a, b) => (toHex(ethAddress(a)) < toHex(ethAddress(b)) ? -1 : 1));
    expect(pending!.validators.map((x) => toHex(x.publicKey))).toEqual(expected.map(toHex));

    for (let i = 1n; i < 3n; i++) {
      expect(events(run.block(), 'validator-set-activated')).toHaveLength(0);
      expect(currentValidators(run.state)).toHaveLength(4);
    }
    const activation = run.block();
    expect(run.height).toBe(h + 3n);
    expect(activation.events[0]).toMatchObject({ type: 'validator-set-activated', tx: BLOCK_HOOK_TX, contract: 'registry' });
    expect(decodeEvent(activation.encodedEvents[0]!).tx).toBe(BLOCK_HOOK_TX);
    expect(currentValidators(run.state).map((x) => toHex(x.publicKey))).toEqual(expected.map(toHex));
    expect(currentValidators(run.state).find((x) => toHex(x.publicKey) === toHex(v.publicKey))).toMatchObject({ name: 'v-new', organisation: 'org-new', nodeId: 4, endpoint: 'wss://v-new.example:26656/p2p' });
    expect(pendingValidatorChange(run.state)).toBeNull();

    // The new member votes: with n = 5 a proposal now needs quorum(5) = 4.
    const roles = propose(run, admin, { kind: 'set-roles', participant: 'relay-1', roles: ['relayer', 'notary'] });
    approveAll(run, [v, ...validators.slice(0, 2)], roles);
    expect(registryProposal(run.state, roles)?.status).toBe('open');
    approveAll(run, [validators[2]!], roles);
    expect(registryProposal(run.state, roles)?.status).toBe('passed');
  });

  it('one change at a time: a second passes only after the first activated', () => {
    const { run, admin, validators } = setup({ activationDelay: 4n, validators: 5 });
    const v = joiner(run, admin);
    const join = propose(run, admin, { kind: 'validator-join', publicKey: v.publicKey, name: 'v-new', organisation: 'org-new', endpoint: '' });
    const remove = propose(run, admin, { kind: 'validator-remove', publicKey: validators[4]!.publicKey });
    approveAll(run, validators.slice(0, 4), join);
    expect(run.call(admin, R, 'propose', encodeProposeArgs({ kind: 'validator-remove', publicKey: validators[3]!.publicKey })).code).toBe('GOVERNANCE_CHANGE_PENDING');
    const blocked = approveAll(run, validators.slice(0, 4), remove);
    expect(codes(blocked)).toEqual([null, null, null, 'GOVERNANCE_CHANGE_PENDING']);
    expect(registryProposal(run.state, remove)?.status).toBe('open');
    const activationHeight = pendingValidatorChange(run.state)!.activationHeight;
    while (run.height < activationHeight) run.block();
    expect(pendingValidatorChange(run.state)).toBeNull();
    expect(currentValidators(run.state)).toHaveLength(6);
    // quorum(6) = 4: the three recorded approvals still count, and one more passes it.
    expect(quorum(6)).toBe(4);
    expect(codes(approveAll(run, [validators[3]!, v], remove))).toEqual([null, 'GOVERNANCE_PROPOSAL_CLOSED']);
    expect(pendingValidatorChange(run.state)).toMatchObject({ change: 'remove', activationHeight: run.height + 4n });
  });

  it('refuses a remove below 4 validators, unknown or duplicate keys, and unregistered joiners', () => {
    const { run, admin, validators, outsider } = setup();
    const stranger = makeAccount('ES256K');
    const p = (action: ProposalAction) => run.tx(admin, R, 'propose', encodeProposeArgs(action));
    const result = run.block([
      p({ kind: 'validator-remove', publicKey: validators[0]!.publicKey }),
      p({ kind: 'validator-remove', publicKey: stranger.publicKey }),
      p({ kind: 'validator-join', publicKey: validators[0]!.publicKey, name: 'again', organisation: 'org-v0', endpoint: '' }),
      p({ kind: 'validator-join', publicKey: stranger.publicKey, name: 'stranger', organisation: 'org-s', endpoint: '' }),
      p({ kind: 'validator-join', publicKey: outsider.publicKey, name: 'outsider', organisation: 'wrong-org', endpoint: '' }),
      p({ kind: 'set-roles', participant: 'ghost', roles: ['shop'] }),
      p({ kind: 'validator-join', publicKey: outsider.publicKey, name: 'outsider', organisation: 'org-x', endpoint: 'http://outsider.example/p2p' }),
      p({ kind: 'validator-join', publicKey: outsider.publicKey, name: 'outsider', organisation: 'org-x', endpoint: 'ws://outsider.example:1/p2p' }),
    ]);
    expect(codes(result)).toEqual([
      'GOVERNANCE_MIN_VALIDATORS',
      'CONTRACT_NOT_FOUND',
      'CONTRACT_ALREADY_EXISTS',
      'CONTRACT_NOT_FOUND',
      'CONTRACT_BAD_ARGS',
      'CONTRACT_NOT_FOUND',
      'CONTRACT_BAD_ARGS',
      null,
    ]);
  });

  it('property: a proposal passes iff at least q distinct current members approved', () => {
    const chains = new Map<number, ReturnType<typeof setup>>();
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 7 }), fc.array(fc.nat({ max: 7 }), { maxLength: 12 }), (n, picks) => {
        let env = chains.get(n);
        if (env === undefined) chains.set(n, (env = setup({ validators: n })));
        const run = new BlockRunner(env.chain.genesis);
        const voters = [...env.validators, env.outsider];
        const id = propose(run, env.admin, setRolesAction);
        const sequence = picks.map((i) => voters[i % voters.length] as Account);
        const result = approveAll(run, sequence, id);
        const members = new Set<string>();
        let passedAt = -1;
        sequence.forEach((voter, i) => {
          if (voter !== env!.outsider && passedAt < 0) members.add(voter.address);
          if (passedAt < 0 && members.size >= quorum(n)) passedAt = i;
        });
        const distinct = new Set(sequence.filter((v) => v !== env!.outsider).map((v) => v.address)).size;
        expect(registryProposal(run.state, id)?.status).toBe(distinct >= quorum(n) ? 'passed' : 'open');
        expect(result.receipts.filter((r) => r.code === null).length).toBe(passedAt < 0 ? members.size : quorum(n));
      }),
      { numRuns: 60 },
    );
  });
});

describe('payload schemas', () => {
  const ID = 'urn:loulan:schema:points.exchange.request:1.0.0';
  const hash = sha256(new TextEncoder().encode('{"$id":"urn:loulan:schema:points.exchange.request:1.0.0"}'));

  it('admin registers a version: record, event; the same hash again is a no-op', () => {
    const { run, admin } = setup();
    const { code, result } = run.call(admin, R, 'registerSchema', encodeRegisterSchemaArgs(ID, hash));
    expect(code).toBeNull();
    expect(registrySchema(run.state, ID)).toEqual({ hash, height: run.height });
    expect(registrySchemaKey(ID)).toBe(`registry/schema/${ID}`);
    const event = new Reader(events(result, 'schema-registered')[0]!.data);
    expect([event.string(128), event.bytes(32)]).toEqual([ID, hash]);
    const again = run.call(admin, R, 'registerSchema', encodeRegisterSchemaArgs(ID, hash));
    expect(again.code).toBeNull();
    expect(again.result.events).toHaveLength(0);
    expect(registrySchema(run.state, ID)?.height).toBe(run.height - 1n);
  });

  it('a version is immutable: another hash is refused (CONTRACT_CONFLICT), a new version is not', () => {
    const { run, admin } = setup();
    expect(run.call(admin, R, 'registerSchema', encodeRegisterSchemaArgs(ID, hash)).code).toBeNull();
    const other = sha256(hash);
    expect(run.call(admin, R, 'registerSchema', encodeRegisterSchemaArgs(ID, other)).code).toBe('CONTRACT_CONFLICT');
    expect(errorOf(() => createRegistryContract().execute(directContext(run.state, R, admin, run), 'registerSchema', encodeRegisterSchemaArgs(ID, other)))?.details).toEqual({
      kind: 'schema',
      id: ID,
      registered: toHex(hash),
    });
    expect(registrySchema(run.state, ID)?.hash).toEqual(hash);
    expect(run.call(admin, R, 'registerSchema', encodeRegisterSchemaArgs(ID.replace('1.0.0', '1.1.0'), other)).code).toBeNull();
  });

  it('only admins register; ids must be versioned Loulan schema ids', () => {
    const { run, accounts, relayer, admin } = setup();
    expect(run.call(accounts[0]!, R, 'registerSchema', encodeRegisterSchemaArgs(ID, hash)).code).toBe('CONTRACT_FORBIDDEN');
    expect(run.call(relayer, R, 'registerSchema', encodeRegisterSchemaArgs(ID, hash)).code).toBe('CONTRACT_FORBIDDEN');
    for (const id of ['urn:loulan:schema:points:1.0', 'urn:loulan:schema:Points:1.0.0', 'https://example.com/s.json', `urn:loulan:schema:${'a'.repeat(105)}:1.0.0`]) {
      expect(errorOf(() => encodeRegisterSchemaArgs(id, hash))?.details).toEqual({ field: 'schemaId' });
      const args = new Writer().string(id, 1024).bytes(hash, 32).finish();
      expect(run.call(admin, R, 'registerSchema', args).code).toBe('CONTRACT_BAD_ARGS');
    }
    expect(run.call(admin, R, 'registerSchema', new Writer().string(ID, 1024).bytes(hash.subarray(1), 31).finish()).code).toBe('CONTRACT_BAD_ARGS');
  });

  it('genesis seeds versions at height 0 and refuses bad or duplicate ones', () => {
    const chain = makeChain({ accounts: 1, schemas: [{ id: ID, hash }, { id: 'urn:loulan:schema:envelope:1.0.0', hash: sha256(hash) }] });
    const run = new BlockRunner(chain.genesis);
    expect(registrySchema(run.state, ID)).toEqual({ hash, height: 0n });
    expect(registrySchema(run.state, 'urn:loulan:schema:envelope:1.0.0')?.hash).toEqual(sha256(hash));
    const v = makeAccount('ES256K');
    const base = { chainName: 's', time: 1n, validators: [{ name: 'v', publicKey: v.publicKey }] };
    expect(errorOf(() => createGenesis({ ...base, schemas: [{ id: 'bad', hash }] }))?.details).toMatchObject({ field: '/registry/schemas/0/id' });
    expect(errorOf(() => createGenesis({ ...base, schemas: [{ id: ID, hash: hash.subarray(2) }] }))?.details).toMatchObject({ field: '/registry/schemas/0/hash' });
    expect(errorOf(() => createGenesis({ ...base, schemas: [{ id: ID, hash }, { id: ID, hash }] }))?.details).toMatchObject({ field: '/registry/schemas/1' });
  });
});

describe('genesis participants for a switch', () => {
  it('a participant with operator + relayer may anchor, deliver and propose routes from block 1', () => {
    const sw = makeAccount('Ed25519');
    const chain = makeChain({ accounts: 1, participants: [{ id: 'switch-1', organisation: 'consortium', roles: ['operator', 'relayer'], keys: [key(sw)] }] });
    const run = new BlockRunner(chain.genesis);
    expect(addrRecord(run.state, sw.address)).toEqual({ status: 0, roles: roleMask(['operator', 'relayer']), participant: 'switch-1' });
    const result = run.block([
      run.tx(sw, 'xmsg', 'anchor', encodeAnchorArgs({ switchId: 'switch-1', batchSeq: 1n, root: sha256(new Uint8Array(1)), count: 1 })),
      run.tx(sw, 'routes', 'propose', encodeRouteProposeArgs({ op: 'upsert', prefix: 'cn.loulan', link: { adapter: { kind: 'core', endpoint: 'http://127.0.0.1:26601' }, ordered: true, retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 100 } } })),
      run.tx(sw, 'asset', 'transfer', encodeAssetArgs({ to: sw.address, amount: 1n })),
    ]);
    expect(codes(result)).toEqual([null, null, 'CONTRACT_INSUFFICIENT_FUNDS']);
  });
});

describe('the contract', () => {
  it('declares every method it implements', () => {
    const registry = createRegistryContract();
    expect(Object.keys(registry.access).sort()).toEqual(['addKey', 'addParticipant', 'approve', 'propose', 'registerSchema', 'registerSystem', 'revokeKey', 'setRoles', 'setStatus', 'updateSystem']);
    expect(codeOf(() => contractRegistry([createAssetContract(), registry]))).toBe('none');
  });
});
