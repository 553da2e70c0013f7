import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Writer } from '../../codec/binary.ts';
import { canonicalBytes } from '../../codec/jcs.ts';
import { BLOCK_HOOK_TX } from '../contracts.ts';
import type { LedgerEvent } from '../events.ts';
import { createGenesis } from '../genesis.ts';
import { BlockRunner, codeOf, directContext, errorOf, makeAccount, makeChain, type Account } from '../testkit.ts';
import type { ParticipantInput, Role } from './registry.ts';
import {
  createRoutesContract,
  decodeRoutesEvent,
  DEFAULT_APPROVALS_REQUIRED,
  DEFAULT_CHANGE_TTL_MS,
  encodeRouteApproveArgs,
  encodeRouteProposeArgs,
  MAX_LINK_BYTES,
  MAX_OPEN_CHANGES,
  routeChange,
  routeChangeKey,
  routeEntry,
  routeEntryKey,
  routePrefixOf,
  routesParams,
  routeTableVersion,
  type RouteChangeInput,
  type RoutesEvent,
} from './routes.ts';

const R = 'routes';
const key = (a: Account) => ({ alg: a.alg, publicKey: a.publicKey });
const link = (endpoint: string) => ({ adapter: { kind: 'rest', endpoint }, ordered: false, retry: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 10_000 } });
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const contextFor = (run: BlockRunner, sender: Account) => directContext(run.state, 'routes', sender, run);

/**
 * A chain with operators of two organisations (ops-a holds two keys), an admin-only participant, and a
 * relayer and a shop that may not touch the table.
 */
function setup(routes: { approvalsRequired?: number; changeTtlMs?: bigint } = {}) {
  const a1 = makeAccount('Ed25519');
  const a2 = makeAccount('ES256');
  const b = makeAccount('ES256');
  const c = makeAccount('ES256K');
  const admin = makeAccount('Ed25519');
  const relayer = makeAccount();
  const shop = makeAccount();
  const participants: ParticipantInput[] = [
    { id: 'ops-a', organisation: 'org-a', roles: ['operator'], keys: [key(a1), key(a2)] },
    { id: 'ops-b', organisation: 'org-b', roles: ['operator'], keys: [key(b)] },
    { id: 'ops-c', organisation: 'org-c', roles: ['operator'], keys: [key(c)] },
    { id: 'boss', organisation: 'org-a', roles: ['admin'], keys: [key(admin)] },
    { id: 'relay', organisation: 'org-r', roles: ['relayer'], keys: [key(relayer)] },
    { id: 'shop', organisation: 'org-s', roles: ['shop'], keys: [key(shop)] },
  ];
  const chain = makeChain({ accounts: 1, participants, routes });
  return { run: new BlockRunner(chain.genesis), a1, a2, b, c, admin, relayer, shop, genesis: chain.genesis };
}

function events(result: { events: readonly LedgerEvent[] }): RoutesEvent[] {
  return result.events.filter((e) => e.contract === R).map((e) => decodeRoutesEvent(e.type, e.data));
}

function propose(run: BlockRunner, from: Account, change: RouteChangeInput) {
  return run.call(from, R, 'propose', encodeRouteProposeArgs(change));
}

/** Raw `propose` arguments, for what the encoder refuses to build. */
function rawPropose(op: number, prefix: string, linkBytes: Uint8Array, reason = ''): Uint8Array {
  return new Writer().u8(op).string(prefix, 1024).varBytes(linkBytes, 1 << 20).string(reason, 1024).finish();
}

describe('routes: one approval (the default)', () => {
  it('a proposal applies at once: the entry, the change record, the table version and the events', () => {
    const { run, a1 } = setup();
    expect(routesParams(run.state)).toEqual({ approvalsRequired: DEFAULT_APPROVALS_REQUIRED, changeTtlMs: DEFAULT_CHANGE_TTL_MS });
    const { code, result } = propose(run, a1, { op: 'upsert', prefix: 'cn.loulan.shop', link: link('https://shop.example/hook'), reason: 'onboard shops' });
    expect(code).toBeNull();
    const linkBytes = canonicalBytes(link('https://shop.example/hook'));
    expect(routeEntry(run.state, 'cn.loulan.shop')).toEqual({ prefix: 'cn.loulan.shop', version: 1n, changeId: 1n, height: run.height, time: run.time, link: linkBytes });
    expect(routeTableVersion(run.state)).toBe(1n);
    const approval = { participant: 'ops-a', address: a1.address };
    expect(routeChange(run.state, 1n)).toEqual({
      id: 1n,
      op: 'upsert',
      prefix: 'cn.loulan.shop',
      link: linkBytes,
      reason: 'onboard shops',
      proposer: approval,
      createdHeight: run.height,
      createdTime: run.time,
      expiresAt: run.time + DEFAULT_CHANGE_TTL_MS,
      status: 'applied',
      decidedHeight: run.height,
      approvals: [approval],
    });
    expect(events(result)).toEqual([
      { type: 'route-change-proposed', changeId: 1n, op: 'upsert', prefix: 'cn.loulan.shop', link: linkBytes, reason: 'onboard shops', proposer: approval, expiresAt: run.time + DEFAULT_CHANGE_TTL_MS },
      { type: 'route-change-approved', changeId: 1n, approver: approval, approvals: 1, required: 1 },
      { type: 'route-set', prefix: 'cn.loulan.shop', version: 1n, changeId: 1n, link: linkBytes },
    ]);
  });

  it('replaces, removes, and keeps the default route "" apart; versions only grow', () => {
    const { run, a1, b } = setup();
    expect(propose(run, a1, { op: 'upsert', prefix: '', link: link('https://default.example') }).code).toBeNull();
    expect(propose(run, b, { op: 'upsert', prefix: 'cn.loulan', link: link('https://one.example') }).code).toBeNull();
    expect(propose(run, b, { op: 'upsert', prefix: 'cn.loulan', link: link('https://two.example') }).code).toBeNull();
    expect(routeEntry(run.state, 'cn.loulan')).toMatchObject({ version: 3n, changeId: 3n });
    expect(text(routeEntry(run.state, 'cn.loulan')!.link)).toContain('two.example');
    const removed = propose(run, a1, { op: 'delete', prefix: 'cn.loulan', reason: 'retired' });
    expect(events(removed.result).at(-1)).toEqual({ type: 'route-removed', prefix: 'cn.loulan', version: 4n, changeId: 4n });
    expect(routeEntry(run.state, 'cn.loulan')).toBeUndefined();
    expect(routeEntry(run.state, '')).toMatchObject({ version: 1n, changeId: 1n });
    expect(routeEntryKey('')).toBe('routes/entry/');
    expect(routePrefixOf(routeEntryKey('cn.loulan.shop'))).toBe('cn.loulan.shop');
    expect(routeChangeKey(4n)).toBe('routes/change/00000000000000000004');
    expect(routeTableVersion(run.state)).toBe(4n);
    // Re-adding a removed prefix continues the table's version, never restarts it.
    expect(propose(run, a1, { op: 'upsert', prefix: 'cn.loulan', link: link('https://three.example') }).code).toBeNull();
    expect(routeEntry(run.state, 'cn.loulan')?.version).toBe(5n);
  });

  it('only operators and admins change the table', () => {
    const { run, admin, relayer, shop } = setup();
    const change = encodeRouteProposeArgs({ op: 'upsert', prefix: 'cn.x', link: link('https://x.example') });
    const result = run.block([run.tx(relayer, R, 'propose', change), run.tx(shop, R, 'propose', change), run.tx(admin, R, 'propose', change), run.tx(shop, R, 'approve', encodeRouteApproveArgs(1n))]);
    expect(result.receipts.map((r) => r.code)).toEqual(['CONTRACT_FORBIDDEN', 'CONTRACT_FORBIDDEN', null, 'CONTRACT_FORBIDDEN']);
    expect(routeChange(run.state, 1n)?.proposer.participant).toBe('boss');
    expect(run.call(makeAccount(), R, 'propose', change).code).toBe('CONTRACT_FORBIDDEN');
  });

  it.each<[string, Uint8Array, string]>([
    ['an unknown op', rawPropose(3, 'cn.x', canonicalBytes(link('https://x.example'))), 'op'],
    ['an upper-case prefix', rawPropose(1, 'CN.x', canonicalBytes(link('https://x.example'))), 'prefix'],
    ['a prefix with an empty segment', rawPropose(1, 'cn..x', canonicalBytes(link('https://x.example'))), 'prefix'],
    ['a segment ending in a hyphen', rawPropose(1, 'cn.x-', canonicalBytes(link('https://x.example'))), 'prefix'],
    ['a 254-byte prefix', rawPropose(1, `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(62), canonicalBytes(link('https://x.example'))), 'prefix'],
    ['a link with whitespace', rawPropose(1, 'cn.x', new TextEncoder().encode('{ "a": 1 }')), 'link'],
    ['a link with unsorted members', rawPropose(1, 'cn.x', new TextEncoder().encode('{"b":1,"a":2}')), 'link'],
    ['a link with a member twice', rawPropose(1, 'cn.x', new TextEncoder().encode('{"a":1,"a":1}')), 'link'],
    ['a link that is an array', rawPropose(1, 'cn.x', new TextEncoder().encode('[1]')), 'link'],
    ['a link that is not JSON', rawPropose(1, 'cn.x', new TextEncoder().encode('{"a":')), 'link'],
    ['a link that is not UTF-8', rawPropose(1, 'cn.x', Uint8Array.of(0x7b, 0xff, 0x7d)), 'link'],
    ['a link with a BOM', rawPropose(1, 'cn.x', Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d)), 'link'],
    ['a link with a non-canonical number', rawPropose(1, 'cn.x', new TextEncoder().encode('{"a":1.0}')), 'link'],
    ['an empty link on upsert', rawPropose(1, 'cn.x', new Uint8Array(0)), 'link'],
    ['a link over 16 KiB', rawPropose(1, 'cn.x', canonicalBytes({ a: 'x'.repeat(MAX_LINK_BYTES) })), 'link'],
    ['a link on delete', rawPropose(2, 'cn.x', canonicalBytes(link('https://x.example'))), 'link'],
    ['a reason over 256 bytes', rawPropose(1, 'cn.x', canonicalBytes(link('https://x.example')), 'é'.repeat(129)), 'reason'],
    ['trailing bytes', Uint8Array.of(...rawPropose(1, 'cn.x', canonicalBytes(link('https://x.example'))), 0), 'args'],
  ])('refuses %s (CONTRACT_BAD_ARGS naming the field)', (_name, args, field) => {
    const { run, a1 } = setup();
    const outcome = run.call(a1, R, 'propose', args);
    expect(outcome.code).toBe('CONTRACT_BAD_ARGS');
    const error = errorOf(() => createRoutesContract().execute(contextFor(run, a1), 'propose', args));
    expect(error?.details.field).toBe(field);
    expect(routeTableVersion(run.state)).toBe(0n);
  });

  it('refuses to delete a prefix that has no entry', () => {
    const { run, a1 } = setup();
    const { code, result } = propose(run, a1, { op: 'delete', prefix: 'cn.nothing' });
    expect(code).toBe('CONTRACT_NOT_FOUND');
    expect(result.events).toHaveLength(0);
    expect(routeChange(run.state, 1n)).toBeUndefined();
  });

  it('the encoders refuse what the contract would refuse', () => {
    expect(errorOf(() => encodeRouteProposeArgs({ op: 'upsert', prefix: 'Bad', link: link('https://x') }))?.details).toMatchObject({ field: 'prefix' });
    expect(errorOf(() => encodeRouteProposeArgs({ op: 'upsert', prefix: 'ok', link: new TextEncoder().encode('{ }') }))?.details).toMatchObject({ field: 'link' });
    expect(errorOf(() => encodeRouteProposeArgs({ op: 'upsert', prefix: 'ok', link: { n: 1n } as never }))?.code).toBe('CODEC_NOT_CANONICAL');
    expect(errorOf(() => encodeRouteProposeArgs({ op: 'delete', prefix: 'ok', reason: 'x'.repeat(257) }))?.code).toBe('CODEC_LENGTH');
    expect(errorOf(() => encodeRouteProposeArgs({ op: 'move', prefix: 'ok' } as never))?.details).toMatchObject({ field: 'op' });
  });

  it('property: the table is what a map would hold after the same upserts and deletes', () => {
    const prefixes = ['', 'cn', 'cn.loulan', 'cn.loulan.shop', 'cn.loulan.shop.acme'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 4 }), fc.boolean(), fc.nat({ max: 9 })), { minLength: 1, maxLength: 12 }), (ops) => {
        const { run, a1 } = setup();
        const model = new Map<string, string>();
        let version = 0n;
        const txs = ops.map(([p, upsert, n]) => {
          const prefix = prefixes[p]!;
          const args = upsert ? encodeRouteProposeArgs({ op: 'upsert', prefix, link: link(`https://h${n}.example`) }) : encodeRouteProposeArgs({ op: 'delete', prefix });
          return run.tx(a1, R, 'propose', args);
        });
        const result = run.block(txs);
        ops.forEach(([p, upsert, n], i) => {
          const prefix = prefixes[p]!;
          const ok = upsert || model.has(prefix);
          expect(result.receipts[i]!.code).toBe(ok ? null : 'CONTRACT_NOT_FOUND');
          if (!ok) return;
          version++;
          if (upsert) model.set(prefix, `https://h${n}.example`);
          else model.delete(prefix);
        });
        for (const prefix of prefixes) {
          const entry = routeEntry(run.state, prefix);
          expect(entry === undefined ? undefined : (JSON.parse(text(entry.link)) as ReturnType<typeof link>).adapter.endpoint).toBe(model.get(prefix));
        }
        expect(routeTableVersion(run.state)).toBe(version);
      }),
      { numRuns: 25 },
    );
  });
});

describe('routes: governed by several approvals', () => {
  it('applies with the last required approval, one per participant whichever key signs', () => {
    const { run, a1, a2, b, c } = setup({ approvalsRequired: 3 });
    const proposed = propose(run, a1, { op: 'upsert', prefix: 'cn.bank', link: link('https://bank.example'), reason: 'new bank' });
    expect(proposed.code).toBeNull();
    expect(events(proposed.result).map((e) => e.type)).toEqual(['route-change-proposed', 'route-change-approved']);
    expect(routeEntry(run.state, 'cn.bank')).toBeUndefined();
    const approve = (from: Account) => run.tx(from, R, 'approve', encodeRouteApproveArgs(1n));
    const first = run.block([approve(a2), approve(a1), approve(b)]);
    expect(first.receipts.map((r) => r.code)).toEqual(['CONTRACT_DUPLICATE_APPROVAL', 'CONTRACT_DUPLICATE_APPROVAL', null]);
    expect(errorOf(() => createRoutesContract().execute(contextFor(run, a2), 'approve', encodeRouteApproveArgs(1n)))?.details).toEqual({ change: 1n, participant: 'ops-a' });
    expect(events(first)).toEqual([{ type: 'route-change-approved', changeId: 1n, approver: { participant: 'ops-b', address: b.address }, approvals: 2, required: 3 }]);
    expect(routeChange(run.state, 1n)?.status).toBe('open');
    const last = run.block([approve(c), approve(b)]);
    expect(last.receipts.map((r) => r.code)).toEqual([null, 'CONTRACT_CHANGE_APPLIED']);
    expect(events(last).map((e) => e.type)).toEqual(['route-change-approved', 'route-set']);
    expect(routeChange(run.state, 1n)).toMatchObject({
      status: 'applied',
      decidedHeight: run.height,
      approvals: [
        { participant: 'ops-a', address: a1.address },
        { participant: 'ops-b', address: b.address },
        { participant: 'ops-c', address: c.address },
      ],
    });
    expect(routeEntry(run.state, 'cn.bank')).toMatchObject({ version: 1n, changeId: 1n, height: run.height });
  });

  it('refuses approvals of unknown changes and malformed ids', () => {
    const { run, b } = setup({ approvalsRequired: 2 });
    expect(run.call(b, R, 'approve', encodeRouteApproveArgs(7n)).code).toBe('CONTRACT_NOT_FOUND');
    expect(run.call(b, R, 'approve', Uint8Array.of(1, 2)).code).toBe('CONTRACT_BAD_ARGS');
    expect(run.call(b, R, 'reject', encodeRouteApproveArgs(1n)).code).toBe('CONTRACT_UNKNOWN_METHOD');
  });

  it('expires by block time in the begin-block hook; later approvals are refused', () => {
    const { run, a1, b } = setup({ approvalsRequired: 2, changeTtlMs: 10_000n });
    expect(propose(run, a1, { op: 'upsert', prefix: 'cn.late', link: link('https://late.example') }).code).toBeNull();
    const expiresAt = routeChange(run.state, 1n)!.expiresAt;
    expect(expiresAt).toBe(run.time + 10_000n);
    const quiet = run.block([], expiresAt - run.time - 1n);
    expect(events(quiet)).toEqual([]);
    const late = run.block([run.tx(b, R, 'approve', encodeRouteApproveArgs(1n))], 1n);
    expect(late.events[0]).toMatchObject({ contract: R, type: 'route-change-expired', tx: BLOCK_HOOK_TX });
    expect(events(late)).toEqual([{ type: 'route-change-expired', changeId: 1n }]);
    expect(late.receipts[0]!.code).toBe('CONTRACT_CHANGE_EXPIRED');
    expect(routeChange(run.state, 1n)).toMatchObject({ status: 'expired', decidedHeight: run.height });
    expect(routeEntry(run.state, 'cn.late')).toBeUndefined();
    // Nothing is left open: the hook is quiet from now on.
    expect(run.state.get('routes/changes/open')).toBeUndefined();
    expect(events(run.block([], 100_000n))).toEqual([]);
  });

  it('re-checks a delete when it is applied: the entry may have gone meanwhile', () => {
    const { run, a1, b } = setup({ approvalsRequired: 2 });
    expect(propose(run, a1, { op: 'upsert', prefix: 'cn.gone', link: link('https://gone.example') }).code).toBeNull();
    expect(run.call(b, R, 'approve', encodeRouteApproveArgs(1n)).code).toBeNull();
    expect(propose(run, a1, { op: 'delete', prefix: 'cn.gone' }).code).toBeNull();
    expect(propose(run, a1, { op: 'delete', prefix: 'cn.gone' }).code).toBeNull();
    expect(run.call(b, R, 'approve', encodeRouteApproveArgs(2n)).code).toBeNull();
    expect(run.call(b, R, 'approve', encodeRouteApproveArgs(3n)).code).toBe('CONTRACT_NOT_FOUND');
    expect(routeChange(run.state, 3n)?.status).toBe('open');
  });

  it(`holds at most ${MAX_OPEN_CHANGES} open changes`, () => {
    const { run, a1 } = setup({ approvalsRequired: 2 });
    const txs = Array.from({ length: MAX_OPEN_CHANGES + 1 }, (_, i) => run.tx(a1, R, 'propose', encodeRouteProposeArgs({ op: 'upsert', prefix: `p${i}`, link: link('https://x.example') })));
    const result = run.block(txs);
    expect(result.receipts.filter((r) => r.code === null)).toHaveLength(MAX_OPEN_CHANGES);
    expect(result.receipts.at(-1)!.code).toBe('CONTRACT_STATE_LIMIT');
  });
});

describe('routes: genesis', () => {
  it('seeds parameters and entries (changeId 0, height 0, genesis time)', () => {
    const chain = makeChain({ accounts: 1, routes: { approvalsRequired: 2, changeTtlMs: 60_000n, entries: [{ prefix: '', link: link('https://default.example') }, { prefix: 'cn.a', link: canonicalBytes(link('https://a.example')) }] } });
    const run = new BlockRunner(chain.genesis);
    expect(routesParams(run.state)).toEqual({ approvalsRequired: 2, changeTtlMs: 60_000n });
    expect(routeEntry(run.state, '')).toMatchObject({ version: 1n, changeId: 0n, height: 0n, time: chain.genesis.time });
    expect(routeEntry(run.state, 'cn.a')).toMatchObject({ version: 2n, changeId: 0n });
    expect(routeTableVersion(run.state)).toBe(2n);
  });

  it('adds nothing to a genesis that does not ask for routes', () => {
    const chain = makeChain({ accounts: 1 });
    expect(chain.genesis.state.some(([k]) => k.startsWith('routes/'))).toBe(false);
  });

  it.each<[string, object, string]>([
    ['zero approvals', { approvalsRequired: 0 }, '/routes/approvalsRequired'],
    ['a zero TTL', { changeTtlMs: 0n }, '/routes/changeTtlMs'],
    ['a bad prefix', { entries: [{ prefix: 'A', link: link('https://a') }] }, '/routes/entries/0/prefix'],
    ['a non-canonical link', { entries: [{ prefix: 'a', link: new TextEncoder().encode('{ }') }] }, '/routes/entries/0/link'],
    ['a prefix twice', { entries: [{ prefix: 'a', link: link('https://a') }, { prefix: 'a', link: link('https://b') }] }, '/routes/entries/1'],
  ])('refuses %s, naming the field', (_name, routes, field) => {
    const v = makeAccount('ES256K');
    const error = errorOf(() => createGenesis({ chainName: 'r', time: 1n, validators: [{ name: 'v', publicKey: v.publicKey }], routes }));
    expect(error?.code).toBe('LEDGER_GENESIS_INVALID');
    expect(error?.details.field).toBe(field);
  });
});

describe('routes: the contract', () => {
  it('declares its methods and roles', () => {
    expect(createRoutesContract().access).toEqual({ propose: ['operator', 'admin'], approve: ['operator', 'admin'] } satisfies Record<string, Role[]>);
  });

  it('refuses event types it does not emit', () => {
    expect(codeOf(() => decodeRoutesEvent('route-moved', new Uint8Array(8)))).toBe('CODEC_TAG');
  });
});
