/**
 * LoulanGateway on a real EVM node: certified decisions move points and receivables exactly once,
 * and nothing else does — not a replay, a decision for another system, an event of another contract,
 * an expired decision, a forged certificate, a direct call to a token, or the validators a certified
 * set change replaced.
 */
import { Contract, JsonRpcProvider, NonceManager, Wallet, encodeBytes32String } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../core-chain/index.ts';
import { encodeEvent } from '../../core-chain/ledger/events.ts';
import { DecisionAction, encodeDecision, systemId, type Decision } from '../../relayers/decision.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { OTHER_CHAIN_ID, certify } from '../../test/vectors/loulan/kit.ts';
import { holdArgs, loulanErrorFromRevert, memberAddresses, mintArgs, packSetKeys, releaseArgs, tokenIdArgs, certificateArg } from './codec.ts';
import {
  GATEWAY_ID,
  block,
  decisionEvent,
  decisionId,
  deployGateway,
  otherEvent,
  proofOf,
  vectorSet,
  type Block,
  type Deployed,
} from './gateway.fixture.ts';

const A = vectorSet(['a0', 'a1', 'a2', 'a3']);
const B = vectorSet(['b0', 'b1', 'b2', 'b3', 'b4']);
const OUTSIDERS = vectorSet(['x0', 'x1', 'x2', 'x3']);

let anvil: TestAnvil;
let relayer: NonceManager;
let alice: Wallet;
let bob: Wallet;
let d: Deployed;
let height = 10n;

beforeAll(async () => {
  anvil = await startAnvil();
  const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  relayer = new NonceManager(new Wallet(anvil.privateKeys[0] as string, provider));
  alice = new Wallet(anvil.privateKeys[1] as string, provider);
  bob = new Wallet(anvil.privateKeys[2] as string, provider);
  d = await deployGateway(relayer, A);
});

afterAll(async () => {
  await anvil?.stop();
});

/** A fresh block at the next height carrying the decision between two other events. */
function decisionBlock(decision: Decision, set = A, event = decisionEvent(decision)): Block {
  height += 1n;
  return block(height, set, [otherEvent(0), event, otherEvent(2)]);
}

function decision(label: string, action: Decision['action'], args: Uint8Array, fields: Partial<Decision> = {}): Decision {
  const time = 1_767_225_600_000n + 1_000n * (height + 1n);
  return { decisionId: decisionId(label), target: GATEWAY_ID, action, deadline: time + 3_600_000n, args, ...fields };
}

async function execute(decisionValue: Decision, set = A): Promise<void> {
  const tx = await d.gateway.getFunction('execute')(proofOf(decisionBlock(decisionValue, set), 1, set));
  await tx.wait();
}

/** The call reverts with the custom error mapping to `code` (and `details`, where given). */
async function rejects(call: Promise<unknown>, code: string, details?: Record<string, unknown>): Promise<void> {
  let caught: unknown;
  try {
    await call;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  const mapped = loulanErrorFromRevert((caught as { data?: string }).data);
  expect(mapped?.code, String(caught)).toBe(code);
  if (details !== undefined) expect(mapped?.details).toMatchObject(details);
}

const staticExecute = (proof: unknown) => d.gateway.getFunction('execute').staticCall(proof);

describe('deployment', () => {
  it('trusts the given set and owns the tokens it created', async () => {
    expect(await d.gateway.getFunction('validatorSetHash')()).toBe('0x' + Buffer.from(A.hash).toString('hex'));
    expect(await d.gateway.getFunction('systemId')()).toBe('0x' + Buffer.from(GATEWAY_ID).toString('hex'));
    expect(await d.points.getFunction('gateway')()).toBe(await d.gateway.getAddress());
    expect(await d.receivables.getFunction('gateway')()).toBe(await d.gateway.getAddress());
  });

  it('tokens refuse every privileged call that does not come from the gateway', async () => {
    const points = d.points.connect(alice) as Contract;
    const receivables = d.receivables.connect(alice) as Contract;
    for (const call of [
      points.getFunction('mint').staticCall(alice.address, 1n),
      points.getFunction('release').staticCall(encodeBytes32String('x'), alice.address),
      points.getFunction('refund').staticCall(encodeBytes32String('x')),
      points.getFunction('burn').staticCall(encodeBytes32String('x')),
      receivables.getFunction('mint').staticCall(alice.address, 1n),
      receivables.getFunction('lock').staticCall(1n),
      receivables.getFunction('unlock').staticCall(1n),
      receivables.getFunction('pool').staticCall(1n),
    ]) {
      await expect(call).rejects.toMatchObject({ revert: { name: 'NotGateway' } });
    }
  });
});

describe('points: mint, hold, release, refund, burn', () => {
  it('mints on a certified decision, once', async () => {
    const mint = decision('mint-alice', DecisionAction.MINT, mintArgs(await d.points.getAddress(), alice.address, 1_000n));
    const proof = proofOf(decisionBlock(mint), 1, A);
    await (await d.gateway.getFunction('execute')(proof)).wait();
    expect(await d.points.getFunction('balanceOf')(alice.address)).toBe(1_000n);
    expect(await d.points.getFunction('totalSupply')()).toBe(1_000n);
    expect(await d.gateway.getFunction('consumed')(mint.decisionId)).toBe(true);

    // The same proof again, and the same decision in a later block: both refused.
    await rejects(staticExecute(proof), 'DECISION_CONSUMED');
    await rejects(staticExecute(proofOf(decisionBlock(mint), 1, A)), 'DECISION_CONSUMED');
    expect(await d.points.getFunction('balanceOf')(alice.address)).toBe(1_000n);
  });

  it('a hold is the holder’s own call; release pays it to the other side', async () => {
    const ref = encodeBytes32String('xfer-1');
    await (await (d.points.connect(alice) as Contract).getFunction('hold')(300n, ref)).wait();
    const holdId = (await d.points.getFunction('holdIdOf')(alice.address, ref)) as string;
    expect(await d.points.getFunction('balanceOf')(alice.address)).toBe(700n);
    expect(await d.points.getFunction('balanceOf')(await d.points.getAddress())).toBe(300n);
    await expect((d.points.connect(alice) as Contract).getFunction('hold').staticCall(1n, ref)).rejects.toMatchObject({ revert: { name: 'HoldExists' } });

    await execute(decision('release-1', DecisionAction.RELEASE, releaseArgs(holdId, bob.address)));
    expect(await d.points.getFunction('balanceOf')(bob.address)).toBe(300n);
    expect((await d.points.getFunction('holdOf')(holdId))[1]).toBe(2n);

    // A second decision on a settled hold is refused by the token: DECISION_ARGS.
    await rejects(staticExecute(proofOf(decisionBlock(decision('refund-1', DecisionAction.REFUND, holdArgs(holdId))), 1, A)), 'DECISION_ARGS', {
      error: 'HoldSettled',
    });
  });

  it('refund returns a hold to its holder; burn destroys one', async () => {
    const refundRef = encodeBytes32String('xfer-2');
    const burnRef = encodeBytes32String('xfer-3');
    const points = d.points.connect(alice) as Contract;
    await (await points.getFunction('hold')(100n, refundRef)).wait();
    await (await points.getFunction('hold')(200n, burnRef)).wait();
    expect(await d.points.getFunction('balanceOf')(alice.address)).toBe(400n);

    await execute(decision('refund-2', DecisionAction.REFUND, holdArgs(await d.points.getFunction('holdIdOf')(alice.address, refundRef))));
    expect(await d.points.getFunction('balanceOf')(alice.address)).toBe(500n);

    await execute(decision('burn-3', DecisionAction.BURN, holdArgs(await d.points.getFunction('holdIdOf')(alice.address, burnRef))));
    expect(await d.points.getFunction('totalSupply')()).toBe(800n);
    expect(await d.points.getFunction('balanceOf')(await d.points.getAddress())).toBe(0n);
  });

  it('a hold id nobody created is DECISION_ARGS', async () => {
    await rejects(
      staticExecute(proofOf(decisionBlock(decision('release-none', DecisionAction.RELEASE, releaseArgs(sha256(new Uint8Array(1)), bob.address))), 1, A)),
      'DECISION_ARGS',
      { error: 'HoldUnknown' },
    );
  });
});

describe('receivables: mint, lock, pool, unlock', () => {
  const tokenId = 7n;

  it('moves through the lock states, and transfers are blocked while locked or pooled', async () => {
    const receivables = d.receivables.connect(alice) as Contract;
    await execute(decision('recv-mint', DecisionAction.MINT, mintArgs(await d.receivables.getAddress(), alice.address, tokenId)));
    expect(await d.receivables.getFunction('ownerOf')(tokenId)).toBe(alice.address);

    await execute(decision('recv-lock', DecisionAction.LOCK, tokenIdArgs(tokenId)));
    expect(await d.receivables.getFunction('lockState')(tokenId)).toBe(1n);
    await expect(receivables.getFunction('transferFrom').staticCall(alice.address, bob.address, tokenId)).rejects.toMatchObject({
      revert: { name: 'TokenLocked' },
    });

    await execute(decision('recv-pool', DecisionAction.POOL, tokenIdArgs(tokenId)));
    expect(await d.receivables.getFunction('lockState')(tokenId)).toBe(2n);
    await expect(receivables.getFunction('safeTransferFrom(address,address,uint256)').staticCall(alice.address, bob.address, tokenId)).rejects.toMatchObject({
      revert: { name: 'TokenLocked' },
    });

    // Pooled cannot be locked again: a stale decision does not undo a newer one.
    await rejects(staticExecute(proofOf(decisionBlock(decision('recv-relock', DecisionAction.LOCK, tokenIdArgs(tokenId))), 1, A)), 'DECISION_ARGS', {
      error: 'BadLockTransition',
    });

    await execute(decision('recv-unlock', DecisionAction.UNLOCK, tokenIdArgs(tokenId)));
    expect(await d.receivables.getFunction('lockState')(tokenId)).toBe(0n);
    await (await receivables.getFunction('transferFrom')(alice.address, bob.address, tokenId)).wait();
    expect(await d.receivables.getFunction('ownerOf')(tokenId)).toBe(bob.address);
  });

  it('a MINT naming a token the gateway does not own is DECISION_ARGS', async () => {
    await rejects(staticExecute(proofOf(decisionBlock(decision('mint-foreign', DecisionAction.MINT, mintArgs(alice.address, alice.address, 1n))), 1, A)), 'DECISION_ARGS', {
      field: 'token',
    });
  });
});

describe('refused decisions', () => {
  const mintArgsFor = async () => mintArgs(await d.points.getAddress(), alice.address, 5n);

  it('a decision for another system is DECISION_WRONG_TARGET', async () => {
    const other = systemId('cn.loulan.partner.other.evm');
    await rejects(staticExecute(proofOf(decisionBlock(decision('wrong-target', DecisionAction.MINT, await mintArgsFor(), { target: other })), 1, A)), 'DECISION_WRONG_TARGET', {
      actual: Buffer.from(other).toString('hex'),
    });
  });

  it('an event of another contract or type is DECISION_WRONG_EVENT, whatever its data', async () => {
    const dec = decision('wrong-event', DecisionAction.MINT, await mintArgsFor());
    await rejects(staticExecute(proofOf(decisionBlock(dec, A, decisionEvent(dec, 'points')), 1, A)), 'DECISION_WRONG_EVENT');
    await rejects(staticExecute(proofOf(decisionBlock(dec, A, decisionEvent(dec, 'xfer', 'decisions')), 1, A)), 'DECISION_WRONG_EVENT');
    // The unrelated neighbour event of the same block is no decision either.
    await rejects(staticExecute(proofOf(decisionBlock(dec), 0, A)), 'DECISION_WRONG_EVENT');
  });

  it('decision data that is not the canonical envelope is DECISION_MALFORMED', async () => {
    const valid = encodeDecision(decision('malformed', DecisionAction.MINT, await mintArgsFor()));
    // args of 33 bytes: the envelope ends in 31 bytes of zero padding.
    const odd = encodeDecision(decision('malformed', DecisionAction.MINT, new Uint8Array(33)));
    const patched = (at: number, value: number, bytes = valid) => {
      const copy = bytes.slice();
      copy[at] = value;
      return copy;
    };
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(100), 'data'],
      [new Uint8Array([...valid, ...new Uint8Array(32)]), 'data'],
      [patched(31, 2), 'version'],
      [patched(127, 9), 'action'],
      [patched(odd.length - 1, 1, odd), 'data'],
    ];
    for (const [data, field] of cases) {
      const event = encodeEvent({ contract: 'xfer', type: 'decision', tx: 0, data });
      await rejects(staticExecute(proofOf(decisionBlock(decision('malformed', DecisionAction.MINT, data), A, event), 1, A)), 'DECISION_MALFORMED', { field });
    }
  });

  it('a decision whose deadline is before its header time is DECISION_EXPIRED', async () => {
    const time = 1_767_225_600_000n + 1_000n * (height + 1n);
    await rejects(staticExecute(proofOf(decisionBlock(decision('expired', DecisionAction.MINT, await mintArgsFor(), { deadline: time - 1n })), 1, A)), 'DECISION_EXPIRED', {
      deadline: time - 1n,
      time,
    });
  });

  it('forged or mismatched certificates and proofs are refused', async () => {
    const dec = decision('forged', DecisionAction.MINT, await mintArgsFor());
    const b = decisionBlock(dec);
    // Outsiders signing in the members' slots.
    const forged = proofOf(b, 1, A);
    forged.certificate = certificateArg(certify(OUTSIDERS, b.header, [0, 1, 2]));
    await rejects(staticExecute(forged), 'CERT_BAD_SIGNATURE', { signer: 0 });
    // Two of four members.
    await rejects(staticExecute(proofOf(b, 1, A, [0, 1])), 'CERT_TOO_FEW_SIGNERS', { have: 2, need: 3 });
    // An outsider set naming itself in the header.
    await rejects(staticExecute(proofOf(block(height, OUTSIDERS, b.events), 1, OUTSIDERS)), 'CERT_WRONG_VALIDATOR_SET');
    // Another chain's header.
    await rejects(staticExecute(proofOf(block(height, A, b.events, { chainId: OTHER_CHAIN_ID }), 1, A)), 'CERT_WRONG_CHAIN');
    // The event swapped for another leaf's data.
    const swapped = proofOf(b, 1, A);
    swapped.eventData = proofOf(b, 2, A).eventData;
    await rejects(staticExecute(swapped), 'MERKLE_BAD_PROOF', { reason: 'root' });
    // Member addresses that are not the trusted set's.
    const wrongMembers = proofOf(b, 1, A);
    wrongMembers.members = memberAddresses(OUTSIDERS.publicKeys);
    await rejects(staticExecute(wrongMembers), 'VALSET_MISMATCH', { error: 'ValsetMembersMismatch' });
    expect(await d.gateway.getFunction('consumed')(dec.decisionId)).toBe(false);
  });
});

describe('validator-set change', () => {
  it('only a header certified by the current set moves trust, and the old set is refused after', async () => {
    const change = (next: typeof B, keys: Uint8Array[], certifiedBy = A) => {
      height += 1n;
      const b = block(height, A, [otherEvent(0)], { nextValidatorSetHash: next.hash });
      const cert = certify(certifiedBy, b.header, [0, 1, 2]);
      return [b.headerBytes, certificateArg(cert), memberAddresses(A.publicKeys), packSetKeys(keys)] as const;
    };
    const changeSet = d.gateway.getFunction('changeValidatorSet');

    // Keys that do not hash to the announced set; a header that announces no change; outsiders certifying.
    await rejects(changeSet.staticCall(...change(B, [...B.publicKeys].reverse())), 'VALSET_MISMATCH', { error: 'ValsetMismatch' });
    await rejects(changeSet.staticCall(...change(A, [...A.publicKeys])), 'VALSET_MISMATCH', { error: 'ValsetMismatch' });
    await rejects(changeSet.staticCall(...change(B, [...B.publicKeys], OUTSIDERS)), 'CERT_BAD_SIGNATURE');

    const good = change(B, [...B.publicKeys]);
    await (await changeSet(...good)).wait();
    expect(await d.gateway.getFunction('validatorSetHash')()).toBe('0x' + Buffer.from(B.hash).toString('hex'));
    expect(await d.gateway.getFunction('setHeight')()).toBe(height);

    // The old set is no longer trusted, even for a perfectly certified decision; the new one is.
    const dec = decision('after-change', DecisionAction.MINT, mintArgs(await d.points.getAddress(), bob.address, 9n));
    await rejects(staticExecute(proofOf(decisionBlock(dec, A), 1, A)), 'CERT_WRONG_VALIDATOR_SET');
    await execute(dec, B);
    expect(await d.points.getFunction('balanceOf')(bob.address)).toBe(309n);
    // Replaying the change itself is refused (its header names a set no longer trusted).
    await rejects(changeSet.staticCall(...good), 'CERT_WRONG_VALIDATOR_SET');
  });
});
