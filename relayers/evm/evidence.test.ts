import { createMPT, verifyMerkleProof } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { Interface, Wallet, getBytes, hexlify, id as topicOf, randomBytes, zeroPadValue } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReceiptEvidence } from '../../adapters/evm/evidence.ts';
import { evmProvider, signerFromKey } from '../../adapters/evm/client.ts';
import { createEvmNotary, notarySignerFromKey } from '../../adapters/evm/notary.ts';
import { createSubmitter } from '../../adapters/evm/submitter.ts';
import { publicKeyFromPrivate, sha256, toBase64url } from '../../core-chain/index.ts';
import { validatePayload } from '../../schemas/index.ts';
import { fixtureContract } from '../../test/fixtures/evm/fixture.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { evmEvidenceFromJson, evmEvidenceToJson, verifyEvmEvidence, type EvmEvidence, type EvmEvidenceOptions } from './evidence.ts';
import { evmNotaryDigest, type EvmNotary } from './notary.ts';

const { abi, bytecode } = fixtureContract();
const iface = new Interface(abi);
const DEPTH = 3;
const notaryKeys = ['n1', 'n2', 'n3'].map((label) => ({ kid: `cn.loulan.notary.${label}#k1`, key: sha256(new TextEncoder().encode('evm-notary/' + label)) }));
const notaries: EvmNotary[] = notaryKeys.map((n) => ({ kid: n.kid, publicKey: publicKeyFromPrivate('ES256K', n.key) }));

let anvil: TestAnvil;
let fixture: string;
let evidence: EvmEvidence;
let legacy: EvmEvidence;
let pingId: string;
let sender: string;
const note = '0xdeadbeef';

function options(extra: Partial<EvmEvidenceOptions> = {}): EvmEvidenceOptions {
  return { chainId: anvil.chainId, notaries, threshold: 2, ...extra };
}

function failure(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as { code: string; details: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}

function flip(bytes: Uint8Array, at: number): void {
  bytes[at] = (bytes[at] as number) ^ 1;
}

async function attest(blockNumber: bigint, which: readonly number[]) {
  const provider = evmProvider(anvil.url);
  return Promise.all(
    which.map((i) => {
      const n = notaryKeys[i] as { kid: string; key: Uint8Array };
      return createEvmNotary({ provider, chainId: anvil.chainId, kid: n.kid, sign: notarySignerFromKey(n.key), depth: DEPTH }).attest(blockNumber);
    }),
  );
}

beforeAll(async () => {
  anvil = await startAnvil();
  const provider = evmProvider(anvil.url, { chainId: anvil.chainId });
  const deployer = createSubmitter({ provider, signer: signerFromKey(anvil.privateKeys[0] as string), chainId: anvil.chainId, pollIntervalMs: 5 });
  fixture = (await deployer.send({ data: bytecode + iface.encodeDeploy([7n]).slice(2) })).contractAddress as string;

  // One block with several transactions (a receipts trie with branches), one of them legacy (type 0).
  await anvil.rpc('evm_setAutomine', [false]);
  const senders = [1, 2, 3].map((i) => new Wallet(anvil.privateKeys[i] as string, provider));
  pingId = hexlify(randomBytes(32));
  sender = senders[1]!.address;
  const txs = await Promise.all([
    senders[0]!.sendTransaction({ to: fixture, data: iface.encodeFunctionData('ping', [hexlify(randomBytes(32)), 1n, '0x']) }),
    senders[1]!.sendTransaction({ to: fixture, data: iface.encodeFunctionData('ping', [pingId, 42n, note]) }),
    senders[2]!.sendTransaction({ to: fixture, type: 0, data: iface.encodeFunctionData('execute', [hexlify(randomBytes(32))]) }),
  ]);
  await anvil.rpc('evm_mine');
  await anvil.rpc('evm_setAutomine', [true]);
  const receipts = await Promise.all(txs.map((t) => provider.getTransactionReceipt(t.hash)));
  expect(new Set(receipts.map((r) => r?.blockNumber)).size).toBe(1);
  await anvil.rpc('anvil_mine', ['0x' + DEPTH.toString(16)]);

  const target = receipts[1]!;
  const built = await buildReceiptEvidence(provider, target.hash, target.logs[0]!.index);
  evidence = { ...built, attestations: await attest(built.blockNumber, [0, 1, 2]) };
  const legacyReceipt = receipts[2]!;
  const builtLegacy = await buildReceiptEvidence(provider, legacyReceipt.hash, legacyReceipt.logs[0]!.index);
  legacy = { ...builtLegacy, attestations: await attest(builtLegacy.blockNumber, [0, 2]) };
});

afterAll(async () => {
  await anvil?.stop();
});

describe('EVM evidence from real anvil blocks', () => {
  it('verifies, returning the log with its address, topics and data', () => {
    const pinged = iface.getEvent('Pinged')!;
    const log = verifyEvmEvidence(evidence, options({ address: fixture, topics: [pinged.topicHash, pingId, zeroPadValue(sender, 32)] }));
    expect(hexlify(log.address)).toBe(fixture.toLowerCase());
    expect(log.topics.map((t) => hexlify(t))).toEqual([topicOf('Pinged(bytes32,address,uint256,bytes)'), pingId, zeroPadValue(sender, 32).toLowerCase()]);
    const decoded = iface.decodeEventLog('Pinged', log.data, log.topics.map((t) => hexlify(t)));
    expect([decoded['value'], decoded['note']]).toEqual([42n, note]);
    expect(evidence.txIndex).toBe(1);
    expect(log.attestedBy).toEqual([notaries[0]!.kid, notaries[1]!.kid]);
  });

  it('verifies a legacy (untyped) receipt too', () => {
    expect(legacy.receipt[0]).toBeGreaterThanOrEqual(0xc0);
    expect(evidence.receipt[0]).toBe(2);
    expect(verifyEvmEvidence(legacy, options()).topics[0]).toEqual(getBytes(iface.getEvent('Executed')!.topicHash));
  });

  it('carries a proof that @ethereumjs/mpt accepts as well', async () => {
    const fields = RLP.decode(evidence.header) as Uint8Array[];
    const trie = await createMPT({ root: fields[5] as Uint8Array });
    expect(await verifyMerkleProof(RLP.encode(evidence.txIndex), evidence.proof as Uint8Array[], { root: trie.root() } as never)).toEqual(evidence.receipt);
  });

  it('round-trips through the schemas\' EvmProof JSON, which validates as a proof.bundle', () => {
    const json = evmEvidenceToJson(evidence);
    expect(validatePayload('proof.bundle', json)).toEqual(json);
    expect(evmEvidenceFromJson(JSON.parse(JSON.stringify(json)))).toEqual(evidence);
  });

  it('refuses a tampered receipt, proof node, header, block number or chain', () => {
    const receipt = evidence.receipt.slice();
    flip(receipt, receipt.length - 1);
    expect(failure(() => verifyEvmEvidence({ ...evidence, receipt }, options()))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'value' } });
    const proof = evidence.proof.map((n) => n.slice());
    flip(proof[proof.length - 1] as Uint8Array, 40);
    expect(failure(() => verifyEvmEvidence({ ...evidence, proof }, options()))).toMatchObject({ code: 'EVM_PROOF_INVALID', details: { reason: 'node-hash' } });
    expect(failure(() => verifyEvmEvidence({ ...evidence, txIndex: 0 }, options())).code).toBe('EVM_PROOF_INVALID');
    const header = evidence.header.slice();
    flip(header, 100);
    expect(failure(() => verifyEvmEvidence({ ...evidence, header }, options()))).toMatchObject({ code: 'EVM_HEADER_MISMATCH', details: { field: 'blockHash' } });
    expect(failure(() => verifyEvmEvidence({ ...evidence, blockNumber: evidence.blockNumber + 1n }, options()))).toMatchObject({ code: 'EVM_HEADER_MISMATCH', details: { field: 'blockNumber' } });
    expect(failure(() => verifyEvmEvidence(evidence, options({ chainId: 1n })))).toMatchObject({ code: 'EVM_HEADER_MISMATCH', details: { field: 'chainId' } });
    expect(failure(() => verifyEvmEvidence({ ...evidence, blockHash: legacy.blockHash.map((b) => b ^ 1) }, options()))).toMatchObject({ code: 'EVM_HEADER_MISMATCH', details: { field: 'blockHash' } });
  });

  it('refuses a log other than the expected one', () => {
    expect(failure(() => verifyEvmEvidence(evidence, options({ address: '0x' + '11'.repeat(20) })))).toMatchObject({ code: 'EVM_LOG_MISMATCH', details: { field: 'address' } });
    expect(failure(() => verifyEvmEvidence(evidence, options({ topics: [iface.getEvent('Executed')!.topicHash] })))).toMatchObject({ code: 'EVM_LOG_MISMATCH', details: { field: 'topics' } });
    expect(failure(() => verifyEvmEvidence(evidence, options({ data: '0x00' })))).toMatchObject({ code: 'EVM_LOG_MISMATCH', details: { field: 'data' } });
    expect(failure(() => verifyEvmEvidence({ ...evidence, logIndex: 1 }, options()))).toMatchObject({ code: 'EVM_LOG_MISMATCH', details: { field: 'logIndex', logs: 1 } });
  });

  it('needs k distinct registered notaries: k-1, unknown, duplicate, foreign-block and wrong-algorithm attestations do not count', async () => {
    const [a1, a2] = evidence.attestations as [EvmEvidence['attestations'][0], EvmEvidence['attestations'][0]];
    expect(verifyEvmEvidence({ ...evidence, attestations: [a1, a2] }, options()).attestedBy).toEqual([a1.kid, a2.kid]);
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1] }, options()))).toMatchObject({ code: 'EVM_NOTARY_THRESHOLD', details: { have: 1, need: 2 } });
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, a1] }, options()))).toMatchObject({
      code: 'EVM_NOTARY_THRESHOLD',
      details: { have: 1, ignored: [{ kid: a1.kid, reason: 'duplicate' }] },
    });
    // The same key registered under a second kid is still one notary.
    const alias: EvmNotary[] = [...notaries, { kid: 'cn.loulan.notary.n1#k2', publicKey: notaries[0]!.publicKey }];
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, { ...a1, kid: 'cn.loulan.notary.n1#k2' }] }, options({ notaries: alias }))).details['ignored']).toEqual([
      { kid: 'cn.loulan.notary.n1#k2', reason: 'duplicate' },
    ]);
    // An outsider's signature over the right digest, under an unregistered kid.
    const outsider = sha256(new TextEncoder().encode('evm-notary/outsider'));
    const forged = { alg: 'ES256K' as const, kid: 'cn.loulan.notary.x#k1', value: toBase64url((await notarySignerFromKey(outsider)(evmNotaryDigest(evidence.chainId, evidence.blockNumber, evidence.blockHash)))) };
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, forged] }, options())).details['ignored']).toEqual([{ kid: forged.kid, reason: 'unknown' }]);
    // The outsider's signature under a registered kid does not verify.
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, { ...forged, kid: a2.kid }] }, options())).details['ignored']).toEqual([{ kid: a2.kid, reason: 'bad-signature' }]);
    // Attestations of another block do not carry over.
    const [earlier] = await attest(evidence.blockNumber - 1n, [1]);
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, earlier!] }, options())).details['ignored']).toEqual([{ kid: a2.kid, reason: 'bad-signature' }]);
    expect(failure(() => verifyEvmEvidence({ ...evidence, attestations: [a1, { ...a2, alg: 'ES256' }] }, options())).details['ignored']).toEqual([{ kid: a2.kid, reason: 'alg' }]);
    expect(failure(() => verifyEvmEvidence(evidence, options({ threshold: 4 })))).toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'threshold' } });
  });

  it('has notaries refuse a block that is not yet final, or not canonical', async () => {
    const head = BigInt((await anvil.rpc('eth_blockNumber')) as string);
    const provider = evmProvider(anvil.url);
    const n = notaryKeys[0]!;
    const notary = createEvmNotary({ provider, chainId: anvil.chainId, kid: n.kid, sign: notarySignerFromKey(n.key), depth: DEPTH });
    await expect(notary.attest(head - BigInt(DEPTH) + 1n)).rejects.toMatchObject({ code: 'EVM_NOT_FINAL', details: { reason: 'depth' } });
    await expect(notary.attest(evidence.blockNumber, legacy.blockHash.map((b) => b ^ 1))).rejects.toMatchObject({ code: 'EVM_NOT_FINAL', details: { reason: 'not-canonical' } });
    expect((await notary.attest(evidence.blockNumber, evidence.blockHash)).value).toBe(evidence.attestations[0]?.value);
  });
});
