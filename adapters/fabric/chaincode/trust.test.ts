import { describe, expect, it } from 'vitest';
import { sha256, toHex } from '../../../core-chain/index.ts';
import { encodeHeader } from '../../../core-chain/ledger/block.ts';
import { DecisionAction } from '../../../relayers/index.ts';
import { CHAIN_ID, vectorSet } from '../../../test/vectors/loulan/kit.ts';
import { contracts, encodeMintArgs, initTransaction, type TrustRecord } from './index.ts';
import { admin, alice, block, bob, chainItem, decisionEvent, expectCode, initialised, json, relayer, SET_A, SET_B, SYSTEM_ADDRESS, type Block } from './test-kit.ts';
import { ChaincodeHarness } from './testing.ts';

const BOB = bob.getID();
let ids = 0;
const mintEvent = () => decisionEvent({ id: `mint-${++ids}`, action: DecisionAction.MINT, args: encodeMintArgs({ account: BOB, amount: 1n }) });

async function trust(h: ChaincodeHarness): Promise<TrustRecord> {
  return json<TrustRecord>(await h.evaluate(relayer, 'core:getTrust'));
}

function execute(h: ChaincodeHarness, b: Block) {
  return h.submit(relayer, 'points:executeDecision', ...b.proofArgs(0));
}

/** Block `height` of `set` announcing `next` (certified by `set`). */
function handOver(set: typeof SET_A, height: bigint, next: typeof SET_A, fields = {}): Block {
  return block(set, height, [mintEvent()], { nextValidatorSetHash: next.hash, ...fields });
}

describe('init', () => {
  it('stores the trust once; nothing runs before it', async () => {
    const fresh = new ChaincodeHarness(contracts);
    await expectCode(execute(fresh, block(SET_A, 1n, [mintEvent()])), 'CONFIG_INVALID', { field: 'trust' });
    const h = await initialised();
    expect(await trust(h)).toEqual({
      version: 1,
      chainId: toHex(CHAIN_ID),
      validators: SET_A.publicKeys.map(toHex),
      trustedFrom: '0',
      systemAddress: SYSTEM_ADDRESS,
      systemId: toHex(sha256(new TextEncoder().encode(SYSTEM_ADDRESS))),
    });
    const again = initTransaction({ chainId: toHex(CHAIN_ID), validators: SET_B.publicKeys.map(toHex), systemAddress: SYSTEM_ADDRESS });
    await expectCode(h.submit(alice, again.fcn, ...again.args), 'CONTRACT_ALREADY_EXISTS', { kind: 'trust' });
    expect((await trust(h)).validators).toEqual(SET_A.publicKeys.map(toHex));
  });

  it('checks the configuration', async () => {
    const h = new ChaincodeHarness(contracts);
    const key = toHex(SET_A.publicKeys[0] as Uint8Array);
    const init = (config: unknown) => h.submit(admin, 'core:init', JSON.stringify(config));
    await expectCode(init({ chainId: 'ab', validators: [key], systemAddress: 'x' }), 'CONTRACT_BAD_ARGS', { field: 'config/chainId' });
    await expectCode(init({ chainId: toHex(CHAIN_ID), validators: [key, key], systemAddress: 'x' }), 'VALSET_INVALID');
    await expectCode(init({ chainId: toHex(CHAIN_ID), validators: [], systemAddress: 'x' }), 'VALSET_INVALID');
    await expectCode(init({ chainId: toHex(CHAIN_ID), validators: [key], systemAddress: 'x', extra: 1 }), 'CONTRACT_BAD_ARGS', { field: 'config/extra' });
  });
});

describe('certificates in either JSON form', () => {
  it('accepts the node RPC form {height, view, blockHash, signatures}', async () => {
    const h = await initialised();
    const b = block(SET_A, 4n, [mintEvent()]);
    const cert = json<{ height: string; view: string; digest: string; sigs: { from: number; sig: string }[] }>(b.certificateJson);
    const nodeForm = { height: cert.height, view: cert.view, blockHash: cert.digest, signatures: cert.sigs.map((s) => ({ validator: s.from, signature: s.sig })) };
    const out = json(await h.evaluate(relayer, 'core:verifyHeader', b.headerHex, JSON.stringify(nodeForm)));
    expect(out).toEqual({ height: '4', time: b.header.time.toString(), blockHash: toHex(sha256(encodeHeader(b.header))) });
    await expectCode(h.evaluate(relayer, 'core:verifyHeader', b.headerHex, '{"height":"4"'), 'CONTRACT_BAD_ARGS', { field: 'certificate' });
  });
});

describe('validator-set changes', () => {
  it('follows a certified hand-over; the old set is then refused', async () => {
    const h = await initialised();
    await execute(h, block(SET_A, 3n, [mintEvent()])); // A certifies before the change

    const change = handOver(SET_A, 5n, SET_B);
    const { result, event } = await h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(change, SET_B)]));
    expect(json(result)).toMatchObject({ height: '5', trustedFrom: '6', validatorSetHash: toHex(SET_B.hash) });
    expect(event?.name).toBe('core.validatorSet');
    expect(await trust(h)).toMatchObject({ validators: SET_B.publicKeys.map(toHex), trustedFrom: '6' });

    // The outgoing set, after the change and before it.
    await expectCode(execute(h, block(SET_A, 7n, [mintEvent()])), 'CERT_WRONG_VALIDATOR_SET');
    await expectCode(execute(h, block(SET_A, 4n, [mintEvent()])), 'CERT_WRONG_VALIDATOR_SET');
    // The outgoing validators signing a header that names the new set.
    await expectCode(execute(h, block(SET_B, 7n, [mintEvent()], {}, [0, 1, 2, 3], SET_A)), 'CERT_BAD_SIGNATURE', { signer: 0 });
    // The incoming set, at and after the change height + 1.
    await execute(h, block(SET_B, 6n, [mintEvent()], {}));
    await execute(h, block(SET_B, 9n, [mintEvent()], {}));
    // A header of the new set below the height it is trusted from.
    await expectCode(execute(h, block(SET_B, 5n, [mintEvent()], {})), 'CERT_WRONG_VALIDATOR_SET', { height: '5', trustedFrom: '6' });
    expect(BigInt(json<{ balance: string }>(await h.evaluate(relayer, 'points:balanceOf', BOB)).balance)).toBe(3n);
  });

  it('refuses chains that are not certified by the trusted set, do not carry the set, or do not end on a change', async () => {
    const h = await initialised();
    const submit = (items: unknown[]) => h.submit(relayer, 'core:updateValidatorSet', JSON.stringify(items));
    const change = handOver(SET_A, 5n, SET_B);
    await expectCode(submit([chainItem(change)]), 'VALSET_MISMATCH', { height: '5' });
    await expectCode(submit([chainItem(change, vectorSet(['b0', 'b1', 'b2', 'b3', 'x0']))]), 'VALSET_MISMATCH', { height: '5' });
    await expectCode(submit([chainItem(block(SET_A, 5n, [mintEvent()]))]), 'CONTRACT_BAD_ARGS', { field: 'items', reason: 'no-change' });
    await expectCode(submit([chainItem(handOver(SET_B, 5n, SET_A), SET_A)]), 'CERT_WRONG_VALIDATOR_SET');
    await expectCode(submit([chainItem(handOver(SET_A, 5n, SET_B), SET_B)].map((i) => ({ ...i, certificate: { ...(i.certificate as object), sigs: [] } }))), 'CERT_TOO_FEW_SIGNERS');
    await expectCode(submit([]), 'CONTRACT_BAD_ARGS', { field: 'items' });
    expect((await trust(h)).validators).toEqual(SET_A.publicKeys.map(toHex));
  });

  it('follows a chain of several headers through the change, linked by prevHash', async () => {
    const h = await initialised();
    const h7 = block(SET_A, 7n, [mintEvent()]);
    const h8 = handOver(SET_A, 8n, SET_B, { prevHash: sha256(encodeHeader(h7.header)) });
    await h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(h7), chainItem(h8, SET_B)]));
    expect(await trust(h)).toMatchObject({ validators: SET_B.publicKeys.map(toHex), trustedFrom: '9' });

    const broken = handOver(SET_B, 10n, SET_A, { prevHash: sha256(new Uint8Array(1)) });
    const h9 = block(SET_B, 9n, [mintEvent()]);
    await expectCode(h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(h9), chainItem(broken, SET_A)])), 'HEADER_CHAIN_BROKEN', { height: '10' });
  });

  it('an old hand-over cannot roll the set back when a set returns (A → B → A)', async () => {
    const h = await initialised();
    const aToB = handOver(SET_A, 5n, SET_B);
    await h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(aToB, SET_B)]));
    await h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(handOver(SET_B, 10n, SET_A), SET_A)]));
    expect(await trust(h)).toMatchObject({ validators: SET_A.publicKeys.map(toHex), trustedFrom: '11' });
    // A certifies the old A → B header: a genuine certificate, but from the era before trustedFrom.
    await expectCode(h.submit(relayer, 'core:updateValidatorSet', JSON.stringify([chainItem(aToB, SET_B)])), 'CERT_WRONG_VALIDATOR_SET', { height: '5', trustedFrom: '11' });
    await expectCode(execute(h, block(SET_A, 3n, [mintEvent()])), 'CERT_WRONG_VALIDATOR_SET', { height: '3', trustedFrom: '11' });
    expect((await trust(h)).validators).toEqual(SET_A.publicKeys.map(toHex));
  });
});
