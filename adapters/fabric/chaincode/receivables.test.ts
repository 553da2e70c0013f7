import { describe, expect, it } from 'vitest';
import { toHex } from '../../../core-chain/index.ts';
import { DecisionAction, type DecisionActionCode } from '../../../relayers/index.ts';
import { encodeLockArgs, encodeMintArgs, encodePoolArgs, encodeUnlockArgs, type PieceRecord } from './index.ts';
import { alice, block, bob, bytes32, carol, decisionEvent, expectCode, initialised, json, relayer, SET_A } from './test-kit.ts';
import type { ChaincodeHarness } from './testing.ts';

// alice: supplier (creditor), bob: core enterprise (debtor), carol: a factor / the ABS vehicle.
const ALICE = alice.getID();
const BOB = bob.getID();
const CAROL = carol.getID();
const FP = toHex(bytes32('fp-strong/inv-1'));

let height = 100n;
async function decide(h: ChaincodeHarness, id: string, action: DecisionActionCode, args: Uint8Array) {
  return h.submit(relayer, 'receivables:executeDecision', ...block(SET_A, height++, [decisionEvent({ id, action, args })]).proofArgs(0));
}

const lockId = bytes32('lock-1');
const lock = (pieceId: string, amount: bigint, id = lockId) => encodeLockArgs({ pieceId, lockId: id, amount, purpose: 'FACTORING' });

async function piece(h: ChaincodeHarness, id: string): Promise<PieceRecord> {
  return json<PieceRecord>(await h.evaluate(relayer, 'receivables:getPiece', id));
}

/** inv-1: 1000.00 CNY owed by bob to alice, confirmed. */
async function confirmed(): Promise<ChaincodeHarness> {
  const h = await initialised();
  await h.submit(alice, 'receivables:issue', 'inv-1', BOB, '100000', 'CNY', '2027-03-31', FP);
  await h.submit(bob, 'receivables:confirm', 'inv-1');
  return h;
}

describe('receivables: issue, confirm, split, transfer', () => {
  it('issues a claim held by its creditor, confirmed only by the debtor', async () => {
    const h = await initialised();
    const { event } = await h.submit(alice, 'receivables:issue', 'inv-1', BOB, '100000', 'CNY', '2027-03-31', FP);
    expect(event?.name).toBe('receivables.issue');
    expect(await piece(h, 'inv-1')).toMatchObject({ pieceId: 'inv-1', rootId: 'inv-1', parentId: null, issuer: ALICE, holder: ALICE, debtor: BOB, amount: '100000', status: 'ISSUED', fingerprint: FP });
    await expectCode(h.submit(alice, 'receivables:transfer', 'inv-1', CAROL), 'CONTRACT_WRONG_STATE', { kind: 'piece', id: 'inv-1', status: 'ISSUED' });
    await expectCode(h.submit(alice, 'receivables:confirm', 'inv-1'), 'CONTRACT_UNAUTHORIZED', { action: 'confirm' });
    await h.submit(bob, 'receivables:confirm', 'inv-1');
    expect((await piece(h, 'inv-1')).status).toBe('CONFIRMED');
    await expectCode(h.submit(bob, 'receivables:confirm', 'inv-1'), 'CONTRACT_WRONG_STATE');
    await expectCode(h.submit(alice, 'receivables:issue', 'inv-1', BOB, '1', 'CNY', '2027-03-31', ''), 'CONTRACT_ALREADY_EXISTS', { kind: 'piece' });
  });

  it('validates issue arguments', async () => {
    const h = await initialised();
    const issue = (...a: string[]) => h.submit(alice, 'receivables:issue', ...a);
    await expectCode(issue('x', ALICE, '1', 'CNY', '2027-01-01', ''), 'CONTRACT_BAD_ARGS', { field: 'debtor' });
    await expectCode(issue('x', BOB, '0', 'CNY', '2027-01-01', ''), 'CONTRACT_BAD_ARGS', { field: 'amount' });
    await expectCode(issue('x', BOB, '1', 'cny', '2027-01-01', ''), 'CONTRACT_BAD_ARGS', { field: 'currency' });
    await expectCode(issue('x', BOB, '1', 'CNY', '2027-02-30', ''), 'CONTRACT_BAD_ARGS', { field: 'maturity' });
    await expectCode(issue('x', BOB, '1', 'CNY', '2027-01-01', 'abcd'), 'CONTRACT_BAD_ARGS', { field: 'fingerprint' });
    await expectCode(issue('a\u0000b', BOB, '1', 'CNY', '2027-01-01', ''), 'CONTRACT_BAD_ARGS', { field: 'pieceId' });
  });

  it('splits into pieces that sum to the whole and transfers pieces upstream', async () => {
    const h = await confirmed();
    await expectCode(h.submit(alice, 'receivables:split', 'inv-1', JSON.stringify([{ pieceId: 'p1', amount: '60000' }, { pieceId: 'p2', amount: '30000' }])), 'CONTRACT_BAD_ARGS', {
      field: 'parts',
      expected: '100000',
      actual: '90000',
    });
    await expectCode(h.submit(carol, 'receivables:split', 'inv-1', '[]'), 'CONTRACT_UNAUTHORIZED');
    await h.submit(alice, 'receivables:split', 'inv-1', JSON.stringify([{ pieceId: 'inv-1/a', amount: '60000' }, { pieceId: 'inv-1/b', amount: '40000' }]));
    expect(await piece(h, 'inv-1')).toMatchObject({ status: 'SPLIT', children: ['inv-1/a', 'inv-1/b'] });
    expect(await piece(h, 'inv-1/b')).toMatchObject({ parentId: 'inv-1', rootId: 'inv-1', amount: '40000', status: 'CONFIRMED', holder: ALICE, debtor: BOB });
    await expectCode(h.submit(alice, 'receivables:transfer', 'inv-1', CAROL), 'CONTRACT_WRONG_STATE', { status: 'SPLIT' });

    await h.submit(alice, 'receivables:transfer', 'inv-1/b', CAROL);
    await expectCode(h.submit(alice, 'receivables:transfer', 'inv-1/b', ALICE), 'CONTRACT_UNAUTHORIZED');
    const ofAlice = json<{ pieces: PieceRecord[] }>(await h.evaluate(relayer, 'receivables:piecesOf', ALICE)).pieces;
    const ofCarol = json<{ pieces: PieceRecord[] }>(await h.evaluate(relayer, 'receivables:piecesOf', CAROL)).pieces;
    expect(ofAlice.map((p) => p.pieceId)).toEqual(['inv-1/a']);
    expect(ofCarol.map((p) => p.pieceId)).toEqual(['inv-1/b']);
  });

  it('lists a holder\'s pieces in key order', async () => {
    const h = await initialised();
    for (const id of ['b', 'a', 'é', 'z', 'B']) await h.submit(alice, 'receivables:issue', id, BOB, '1', 'EUR', '2027-01-01', '');
    const ids = json<{ pieces: PieceRecord[] }>(await h.evaluate(relayer, 'receivables:piecesOf', ALICE)).pieces.map((p) => p.pieceId);
    expect(ids).toEqual(['B', 'a', 'b', 'z', 'é']);
  });
});

describe('receivables: lock, unlock, pool on certified decisions', () => {
  it('a locked piece can be neither transferred, split nor locked again', async () => {
    const h = await confirmed();
    const { result } = await decide(h, 'lock', DecisionAction.LOCK, lock('inv-1', 100000n));
    expect(json(result)).toMatchObject({ pieceId: 'inv-1', status: 'LOCKED', lock: { lockId: toHex(lockId), purpose: 'FACTORING' } });
    await expectCode(h.submit(alice, 'receivables:transfer', 'inv-1', CAROL), 'CONTRACT_WRONG_STATE', { status: 'LOCKED' });
    await expectCode(h.submit(alice, 'receivables:split', 'inv-1', JSON.stringify([{ pieceId: 'q1', amount: '1' }, { pieceId: 'q2', amount: '99999' }])), 'CONTRACT_WRONG_STATE');
    // Double financing: a second lock (another decision, another lock id) is refused.
    await expectCode(decide(h, 'lock-again', DecisionAction.LOCK, lock('inv-1', 100000n, bytes32('lock-2'))), 'DECISION_ARGS', { field: 'pieceId', status: 'LOCKED' });
    // The same lock decision replayed.
    await expectCode(h.submit(relayer, 'receivables:executeDecision', ...block(SET_A, height++, [decisionEvent({ id: 'lock', action: DecisionAction.LOCK, args: lock('inv-1', 100000n) })]).proofArgs(0)), 'DECISION_CONSUMED');
  });

  it('refuses locks on unconfirmed pieces, for another amount, or on unknown pieces', async () => {
    const h = await initialised();
    await h.submit(alice, 'receivables:issue', 'inv-2', BOB, '500', 'CNY', '2027-03-31', '');
    await expectCode(decide(h, 'l1', DecisionAction.LOCK, lock('inv-2', 500n)), 'DECISION_ARGS', { field: 'pieceId', status: 'ISSUED' });
    await h.submit(bob, 'receivables:confirm', 'inv-2');
    await expectCode(decide(h, 'l2', DecisionAction.LOCK, lock('inv-2', 400n)), 'DECISION_ARGS', { field: 'amount', expected: '500', actual: '400' });
    await expectCode(decide(h, 'l3', DecisionAction.LOCK, lock('nope', 1n)), 'DECISION_ARGS', { field: 'pieceId', reason: 'not-found' });
    await expectCode(decide(h, 'l4', DecisionAction.MINT, encodeMintArgs({ account: ALICE, amount: 1n })), 'DECISION_ARGS', { field: 'action' });
  });

  it('unlocks with the lock id and a release reason; the piece is free again', async () => {
    const h = await confirmed();
    await decide(h, 'lock', DecisionAction.LOCK, lock('inv-1', 100000n));
    await expectCode(decide(h, 'u0', DecisionAction.UNLOCK, encodeUnlockArgs({ pieceId: 'inv-1', lockId: bytes32('other'), reason: 'NTFD' })), 'DECISION_ARGS', { field: 'lockId' });
    await decide(h, 'u1', DecisionAction.UNLOCK, encodeUnlockArgs({ pieceId: 'inv-1', lockId, reason: 'NTFD' }));
    expect(await piece(h, 'inv-1')).toMatchObject({ status: 'CONFIRMED', lock: null, released: { lockId: toHex(lockId), reason: 'NTFD' } });
    await expectCode(decide(h, 'u2', DecisionAction.UNLOCK, encodeUnlockArgs({ pieceId: 'inv-1', lockId, reason: 'NTFD' })), 'DECISION_ARGS', { field: 'pieceId', status: 'CONFIRMED' });
    await h.submit(alice, 'receivables:transfer', 'inv-1', CAROL);
  });

  it('pools a locked piece: the vehicle becomes the holder in the same step', async () => {
    const h = await confirmed();
    await expectCode(decide(h, 'p0', DecisionAction.POOL, encodePoolArgs({ pieceId: 'inv-1', lockId, poolId: 'abs-2027-1', vehicle: CAROL })), 'DECISION_ARGS', { status: 'CONFIRMED' });
    await decide(h, 'lock', DecisionAction.LOCK, encodeLockArgs({ pieceId: 'inv-1', lockId, amount: 100000n, purpose: 'ABS_REFINANCE' }));
    const { result } = await decide(h, 'pool', DecisionAction.POOL, encodePoolArgs({ pieceId: 'inv-1', lockId, poolId: 'abs-2027-1', vehicle: CAROL }));
    expect(json(result)).toMatchObject({ status: 'POOLED', from: ALICE, pool: { poolId: 'abs-2027-1', vehicle: CAROL } });
    expect(await piece(h, 'inv-1')).toMatchObject({ status: 'POOLED', holder: CAROL });
    expect(json<{ pieces: unknown[] }>(await h.evaluate(relayer, 'receivables:piecesOf', ALICE)).pieces).toEqual([]);
    expect(json<{ pieces: PieceRecord[] }>(await h.evaluate(relayer, 'receivables:piecesOf', CAROL)).pieces.map((p) => p.pieceId)).toEqual(['inv-1']);
    // Pooled: the vehicle cannot move it either, and it cannot be pooled or locked again.
    await expectCode(h.submit(carol, 'receivables:transfer', 'inv-1', ALICE), 'CONTRACT_WRONG_STATE', { status: 'POOLED' });
    await expectCode(decide(h, 'pool-2', DecisionAction.POOL, encodePoolArgs({ pieceId: 'inv-1', lockId, poolId: 'abs-2', vehicle: BOB })), 'DECISION_ARGS', { status: 'POOLED' });
    // Settled: released with reason OBSA, the vehicle keeps the piece.
    await decide(h, 'settled', DecisionAction.UNLOCK, encodeUnlockArgs({ pieceId: 'inv-1', lockId, reason: 'OBSA' }));
    expect(await piece(h, 'inv-1')).toMatchObject({ status: 'CONFIRMED', holder: CAROL, pool: null });
  });
});
