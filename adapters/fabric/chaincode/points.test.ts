import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { systemId, DecisionAction } from '../../../relayers/index.ts';
import { encodeBurnArgs, encodeMintArgs, encodeRefundArgs, encodeReleaseArgs, type HoldRecord } from './index.ts';
import { alice, block, bob, carol, decisionEvent, expectCode, GENESIS_TIME, initialised, json, relayer, SET_A, SET_B } from './test-kit.ts';
import type { ChaincodeHarness, MemoryIdentity } from './testing.ts';

const ALICE = alice.getID();
const BOB = bob.getID();
const CAROL = carol.getID();

function mint(id: string, account: string, amount: bigint): Uint8Array {
  return decisionEvent({ id, action: DecisionAction.MINT, args: encodeMintArgs({ account, amount }) });
}

async function balance(h: ChaincodeHarness, account: string): Promise<bigint> {
  return BigInt(json<{ balance: string }>(await h.evaluate(relayer, 'points:balanceOf', account)).balance);
}

async function execute(h: ChaincodeHarness, events: readonly Uint8Array[], i = 0, height = 10n) {
  return h.submit(relayer, 'points:executeDecision', ...block(SET_A, height, events).proofArgs(i));
}

/** Alice holds 100 minted points. */
async function funded(): Promise<ChaincodeHarness> {
  const h = await initialised();
  await execute(h, [mint('fund-alice', ALICE, 100n)]);
  return h;
}

async function holdOf(h: ChaincodeHarness, id: string): Promise<HoldRecord> {
  return json<HoldRecord>(await h.evaluate(relayer, 'points:getHold', id));
}

describe('points: holder transactions', () => {
  it('names the caller by its Fabric identity id', async () => {
    const h = await initialised();
    expect(json(await h.evaluate(alice, 'points:whoami'))).toEqual({ account: ALICE, mspId: 'Org1MSP' });
  });

  it('transfers between accounts and refuses overdrafts, zero and self-transfers', async () => {
    const h = await funded();
    const { event } = await h.submit(alice, 'points:transfer', BOB, '30');
    expect(event?.name).toBe('points.transfer');
    expect(json(Buffer.from(event!.payload).toString())).toEqual({ from: ALICE, to: BOB, amount: '30' });
    expect(await balance(h, ALICE)).toBe(70n);
    expect(await balance(h, BOB)).toBe(30n);
    await expectCode(h.submit(alice, 'points:transfer', BOB, '71'), 'CONTRACT_INSUFFICIENT_FUNDS', { account: ALICE, balance: '70', amount: '71' });
    await expectCode(h.submit(alice, 'points:transfer', BOB, '0'), 'CONTRACT_BAD_ARGS', { field: 'amount' });
    await expectCode(h.submit(alice, 'points:transfer', BOB, '1.5'), 'CONTRACT_BAD_ARGS', { field: 'amount' });
    // Fabric reads committed state, so a self-transfer would credit the unreduced balance.
    await expectCode(h.submit(alice, 'points:transfer', ALICE, '10'), 'CONTRACT_BAD_ARGS', { field: 'to' });
    expect(await balance(h, ALICE)).toBe(70n);
  });

  it('holds move points out of the balance, once per hold id', async () => {
    const h = await funded();
    const { event } = await h.submit(alice, 'points:hold', 'order-1', '40', '1767225700000');
    expect(event?.name).toBe('points.hold');
    expect(await holdOf(h, 'order-1')).toEqual({ holdId: 'order-1', holder: ALICE, amount: '40', deadline: '1767225700000', status: 'HELD' });
    expect(await balance(h, ALICE)).toBe(60n);
    await expectCode(h.submit(alice, 'points:hold', 'order-1', '1', '1767225700000'), 'CONTRACT_ALREADY_EXISTS', { kind: 'hold', id: 'order-1' });
    await expectCode(h.submit(bob, 'points:hold', 'order-2', '1', '1767225700000'), 'CONTRACT_INSUFFICIENT_FUNDS');
    expect(await h.evaluate(relayer, 'points:getHold', 'nope')).toBe('null');
  });

  it('refuses a wrong number of arguments and functions that are not transactions', async () => {
    const h = await funded();
    await expect(h.submit(alice, 'points:transfer', BOB)).rejects.toThrow(/Expected 2 parameters/);
    await expect(h.submit(alice, 'points:beforeTransaction')).rejects.toThrow(/does not exist/);
  });
});

describe('points: certified decisions', () => {
  it('mints only on a decision, and the decision runs once', async () => {
    const h = await initialised();
    const events = [mint('m1', BOB, 25n)];
    const { result, event } = await execute(h, events);
    expect(json(result)).toMatchObject({ action: DecisionAction.MINT, contract: 'points', account: BOB, amount: '25', height: '10' });
    expect(event?.name).toBe('points.decision');
    expect(await balance(h, BOB)).toBe(25n);
    await expectCode(execute(h, events), 'DECISION_CONSUMED');
    // The same decision in another certified block is still the same decision.
    await expectCode(execute(h, events, 0, 11n), 'DECISION_CONSUMED');
    expect(await balance(h, BOB)).toBe(25n);
    expect(json(await h.evaluate(relayer, 'core:getDecision', json<{ decisionId: string }>(result).decisionId))).toMatchObject({ action: 1, height: '10' });
  });

  it('burns, refunds and releases holds', async () => {
    const h = await funded();
    await h.submit(alice, 'points:hold', 'h-burn', '10', '1767225700000');
    await h.submit(alice, 'points:hold', 'h-refund', '20', '1767225700000');
    await h.submit(alice, 'points:hold', 'h-release', '30', '1767225700000');
    expect(await balance(h, ALICE)).toBe(40n);
    const events = [
      decisionEvent({ id: 'burn', action: DecisionAction.BURN, args: encodeBurnArgs({ holdId: 'h-burn' }) }),
      decisionEvent({ id: 'refund', action: DecisionAction.REFUND, args: encodeRefundArgs({ holdId: 'h-refund' }) }),
      decisionEvent({ id: 'release', action: DecisionAction.RELEASE, args: encodeReleaseArgs({ holdId: 'h-release', to: CAROL }) }),
    ];
    for (let i = 0; i < events.length; i++) await execute(h, events, i);
    expect(await balance(h, ALICE)).toBe(60n); // 40 + the refunded 20
    expect(await balance(h, CAROL)).toBe(30n);
    expect((await holdOf(h, 'h-burn')).status).toBe('BURNED');
    expect((await holdOf(h, 'h-refund')).status).toBe('REFUNDED');
    expect(await holdOf(h, 'h-release')).toMatchObject({ status: 'RELEASED', to: CAROL });

    // A closed hold cannot be closed again by another decision.
    const again = [decisionEvent({ id: 'refund-2', action: DecisionAction.REFUND, args: encodeRefundArgs({ holdId: 'h-burn' }) })];
    await expectCode(execute(h, again), 'DECISION_ARGS', { field: 'holdId', status: 'BURNED' });
    const missing = [decisionEvent({ id: 'burn-x', action: DecisionAction.BURN, args: encodeBurnArgs({ holdId: 'none' }) })];
    await expectCode(execute(h, missing), 'DECISION_ARGS', { field: 'holdId', reason: 'not-found' });
    expect(await supply(h)).toBe(90n); // 100 minted, 10 burned
  });

  it('refuses a decision for another system, another contract or event type, or past its deadline', async () => {
    const h = await initialised();
    const args = encodeMintArgs({ account: BOB, amount: 5n });
    const other = systemId('cn.loulan.fabric.org2');
    await expectCode(execute(h, [decisionEvent({ id: 'x1', action: DecisionAction.MINT, args, target: other })]), 'DECISION_WRONG_TARGET');
    await expectCode(execute(h, [decisionEvent({ id: 'x2', action: DecisionAction.MINT, args, contract: 'asset' })]), 'DECISION_WRONG_EVENT', { contract: 'asset', type: 'decision' });
    await expectCode(execute(h, [decisionEvent({ id: 'x3', action: DecisionAction.MINT, args, type: 'decided' })]), 'DECISION_WRONG_EVENT', { contract: 'xfer', type: 'decided' });
    const time = GENESIS_TIME + 10_000n; // header 10's time
    await expectCode(execute(h, [decisionEvent({ id: 'x4', action: DecisionAction.MINT, args, deadline: time - 1n })]), 'DECISION_EXPIRED', {
      deadline: (time - 1n).toString(),
      time: time.toString(),
    });
    await execute(h, [decisionEvent({ id: 'x5', action: DecisionAction.MINT, args, deadline: time })]); // the deadline itself is in time
    // A receivables action is not a points decision.
    await expectCode(execute(h, [decisionEvent({ id: 'x6', action: DecisionAction.LOCK, args })]), 'DECISION_ARGS', { field: 'action' });
    // Malformed args for the action.
    await expectCode(execute(h, [decisionEvent({ id: 'x7', action: DecisionAction.MINT, args: encodeBurnArgs({ holdId: 'h' }) })]), 'DECISION_ARGS', { field: 'args' });
    expect(await balance(h, BOB)).toBe(5n);
  });

  it('refuses forged certificates and proofs', async () => {
    const h = await initialised();
    const events = [mint('f1', BOB, 1_000n), mint('f2', BOB, 1n)];
    // Signed by a set the chaincode does not trust, naming itself in the header.
    await expectCode(h.submit(relayer, 'points:executeDecision', ...block(SET_B, 10n, events).proofArgs(0)), 'CERT_WRONG_VALIDATOR_SET');
    // Naming the trusted set but signed by other keys.
    await expectCode(h.submit(relayer, 'points:executeDecision', ...block(SET_A, 10n, events, {}, [0, 1, 2], SET_B).proofArgs(0)), 'CERT_BAD_SIGNATURE', { signer: 0 });
    // Too few signers.
    await expectCode(h.submit(relayer, 'points:executeDecision', ...block(SET_A, 10n, events, {}, [0, 1]).proofArgs(0)), 'CERT_TOO_FEW_SIGNERS', { have: 2, need: 3 });
    // A real certificate, but the event is not the one at that index.
    const args = block(SET_A, 10n, events).proofArgs(0);
    args[2] = block(SET_A, 10n, events).proofArgs(1)[2];
    await expectCode(h.submit(relayer, 'points:executeDecision', ...args), 'MERKLE_BAD_PROOF', { reason: 'root' });
    // An event that is in no certified block at all.
    const loose = block(SET_A, 10n, events).proofArgs(0);
    loose[2] = Buffer.from(mint('f3', BOB, 9n)).toString('hex');
    await expectCode(h.submit(relayer, 'points:executeDecision', ...loose), 'MERKLE_BAD_PROOF');
    expect(await balance(h, BOB)).toBe(0n);
  });

  it('two relayers racing with the same decision: the later one fails the MVCC check', async () => {
    const h = await initialised();
    const args = block(SET_A, 10n, [mint('race', BOB, 7n)]).proofArgs(0);
    const first = await h.simulate(relayer, 'points:executeDecision', args);
    const second = await h.simulate(alice, 'points:executeDecision', args);
    expect([first.ok, second.ok]).toEqual([true, true]); // both endorse against the same state
    expect(h.commit([first, second]).map((v) => v.status)).toEqual(['VALID', 'MVCC_READ_CONFLICT']);
    expect(await balance(h, BOB)).toBe(7n);
  });
});

describe('points: conservation', () => {
  const step = fc.record({ op: fc.integer({ min: 0, max: 3 }), actor: fc.integer({ min: 0, max: 2 }), other: fc.integer({ min: 1, max: 2 }), amount: fc.integer({ min: 1, max: 40 }), pick: fc.nat() });

  it('balances plus open holds equal minted minus burned after any sequence', async () => {
    const who: MemoryIdentity[] = [alice, bob, carol];
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
        const h = await funded();
        let minted = 100n;
        let burned = 0n;
        const open: { id: string; amount: bigint }[] = [];
        for (const [i, s] of steps.entries()) {
          const actor = who[s.actor] as MemoryIdentity;
          const other = who[(s.actor + s.other) % 3] as MemoryIdentity;
          const amount = BigInt(s.amount);
          const height = BigInt(20 + i);
          if (s.op === 0) {
            await h.submit(actor, 'points:transfer', other.getID(), amount.toString()).catch(expectOverdraft);
          } else if (s.op === 1) {
            const ok = await h.submit(actor, 'points:hold', `h${i}`, amount.toString(), '1767225700000').then(() => true, expectOverdraft);
            if (ok) open.push({ id: `h${i}`, amount });
          } else if (s.op === 2) {
            await execute(h, [mint(`m${i}`, actor.getID(), amount)], 0, height);
            minted += amount;
          } else if (open.length > 0) {
            const [hold] = open.splice(s.pick % open.length, 1) as [{ id: string; amount: bigint }];
            const kind = s.pick % 3;
            const action = [DecisionAction.BURN, DecisionAction.REFUND, DecisionAction.RELEASE][kind] as typeof DecisionAction.BURN;
            const args = kind === 2 ? encodeReleaseArgs({ holdId: hold.id, to: other.getID() }) : encodeBurnArgs({ holdId: hold.id });
            await execute(h, [decisionEvent({ id: `c${i}`, action, args })], 0, height);
            if (kind === 0) burned += hold.amount;
          }
        }
        expect(await supply(h)).toBe(minted - burned);
      }),
      { numRuns: 25, seed: 8 },
    );
  });
});

// Overdrafts are expected refusals; anything else fails the property.
function expectOverdraft(error: unknown): false {
  expect(String(error)).toMatch(/CONTRACT_INSUFFICIENT_FUNDS/);
  return false;
}

/** Sum of balances and open holds, read straight from committed state. */
async function supply(h: ChaincodeHarness): Promise<bigint> {
  let total = 0n;
  for (const [key, value] of h.world.entries()) {
    const text = Buffer.from(value).toString();
    if (key.startsWith('\u0000points.balance\u0000')) total += BigInt(json<{ amount: string }>(text).amount);
    if (key.startsWith('\u0000points.hold\u0000') && json<HoldRecord>(text).status === 'HELD') total += BigInt(json<HoldRecord>(text).amount);
  }
  return total;
}
