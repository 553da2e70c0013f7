import { describe, expect, it } from 'vitest';
import { commitSigningBytes } from '../consensus/messages.ts';
import { quorum } from '../consensus/quorum.ts';
import type { Certificate } from '../consensus/types.ts';
import { sha256, toHex } from '../crypto/hash.ts';
import { inclusionProof, merkleRoot } from '../crypto/merkle.ts';
import { generateKeyPair } from '../crypto/keys.ts';
import { secp256k1SignDigest } from '../crypto/secp256k1.ts';
import { encodeHeader } from '../ledger/block.ts';
import { encodeRouteProposeArgs } from '../ledger/contracts/routes.ts';
import { encodeAnchorArgs, encodeDeliverArgs } from '../ledger/contracts/xmsg.ts';
import { decodeEvent } from '../ledger/events.ts';
import { validatorSetHash } from '../ledger/genesis.ts';
import type { CommitBatch } from '../ledger/ledger.ts';
import { BlockRunner, errorOf, makeAccount, makeChain, makeNode, signedTx, transfer, type Account } from '../ledger/testkit.ts';
import { contractRegistry, type Contract } from '../ledger/contracts.ts';
import { standardContracts } from '../ledger/contracts/standard.ts';
import { anchorProofFromJson, anchorProofToJson, decodeCertificateJson, verifyAnchorProof, type AnchorProof, type AnchorProofJson, type TrustedValidatorSet } from './index.ts';

const te = new TextEncoder();
const key = (a: Account) => ({ alg: a.alg, publicKey: a.publicKey });
const leaves = Array.from({ length: 5 }, (_, i) => sha256(te.encode(`message ${i}`)));
const otherLeaves = [sha256(te.encode('other'))];

/**
 * One block committed by the real ledger and certified by the validators' keys, holding: two anchored
 * batches of switch-a (seq 1 over `leaves`, seq 2 over `otherLeaves`), a delivered message, a route
 * change, and asset transfers. The verifier holds only the genesis validator list.
 */
function anchoredBlock() {
  const sw = makeAccount('Ed25519');
  const chain = makeChain({ accounts: 3, balance: 1_000n, participants: [{ id: 'switch-a', organisation: 'consortium', roles: ['operator', 'relayer'], keys: [key(sw)] }] });
  const { genesis } = chain;
  const set: TrustedValidatorSet = { chainId: genesis.chainId, publicKeys: genesis.validators.map((v) => v.publicKey) };
  const privateKeyOf = new Map(chain.validators.map((v) => [toHex(v.publicKey), v.privateKey]));
  const { ledger, mempool } = makeNode(genesis);
  const sink = makeAccount();
  for (const a of chain.accounts) mempool.add(transfer(genesis.chainId, a, 1n, sink.address, 5n));
  const calls: [string, string, Uint8Array][] = [
    ['xmsg', 'anchor', encodeAnchorArgs({ switchId: 'switch-a', batchSeq: 1n, root: merkleRoot(leaves), count: leaves.length })],
    ['xmsg', 'anchor', encodeAnchorArgs({ switchId: 'switch-a', batchSeq: 2n, root: merkleRoot(otherLeaves), count: 1 })],
    ['xmsg', 'deliver', encodeDeliverArgs({ messageId: 'm1', source: 'cn.shop', to: 'cn.core', type: 'points.exchange.request', digest: leaves[0]!, data: te.encode('{}') })],
    ['routes', 'propose', encodeRouteProposeArgs({ op: 'upsert', prefix: 'cn', link: { a: 1 } })],
  ];
  calls.forEach(([contract, method, args], i) => mempool.add(signedTx(genesis.chainId, sw, BigInt(i + 1), contract, method, args)));
  const payload = ledger.propose(1n, Number(genesis.time) + 1_000)!;
  const digest = ledger.digest(payload);
  const signers = Array.from({ length: quorum(set.publicKeys.length) }, (_, i) => i);
  const batch = ledger.commit(payload, certify(set, 1n, digest, signers, (i) => privateKeyOf.get(toHex(set.publicKeys[i]!))!));
  expect(batch.receipts.every((r) => r.code === null)).toBe(true);
  return { set, batch };
}

/** A certificate over `digest` at `height`, signed by `signers` with the keys `keyFor` gives. */
function certify(set: TrustedValidatorSet, height: bigint, digest: Uint8Array, signers: readonly number[], keyFor: (i: number) => Uint8Array): Certificate {
  const setHash = validatorSetHash(set.publicKeys.map((publicKey) => ({ publicKey })));
  const message = sha256(commitSigningBytes({ chainId: set.chainId, validatorSetHash: setHash }, height, 0n, digest));
  return { height, view: 0n, digest, sigs: signers.map((from) => ({ from, sig: secp256k1SignDigest(keyFor(from), message) })) };
}

/** The index among the block's events of the `nth` (contract, type) event. */
function eventIndex(batch: CommitBatch, contract: string, type: string, nth = 0): number {
  const found = batch.encodedEvents.map((e, i) => [decodeEvent(e), i] as const).filter(([e]) => e.contract === contract && e.type === type);
  return found[nth]![1];
}

function proofFor(batch: CommitBatch, leafIndex: number, options: { event?: number; leaves?: readonly Uint8Array[] } = {}): AnchorProof {
  const index = options.event ?? eventIndex(batch, 'xmsg', 'anchored');
  const batchLeaves = options.leaves ?? leaves;
  return {
    leaf: batchLeaves[leafIndex]!,
    leafIndex,
    batchPath: inclusionProof(batchLeaves, leafIndex),
    event: batch.encodedEvents[index]!,
    eventIndex: index,
    eventPath: inclusionProof(batch.encodedEvents, index),
    headerBytes: encodeHeader(batch.header),
    certificate: batch.cert,
  };
}

describe('verifyAnchorProof', () => {
  const { set, batch } = anchoredBlock();
  const code = (proof: AnchorProof, expected = {}) => errorOf(() => verifyAnchorProof(set, proof, expected));

  it('proves every message of an anchored batch, and when it was anchored', () => {
    expect(batch.encodedEvents.length).toBeGreaterThan(5);
    leaves.forEach((_, i) => {
      const result = verifyAnchorProof(set, proofFor(batch, i), { switchId: 'switch-a', batchSeq: 1n });
      expect(result).toEqual({ switchId: 'switch-a', batchSeq: 1n, root: merkleRoot(leaves), count: 5, leafIndex: i, header: batch.header });
    });
    expect(verifyAnchorProof(set, proofFor(batch, 0, { event: eventIndex(batch, 'xmsg', 'anchored', 1), leaves: otherLeaves })).batchSeq).toBe(2n);
  });

  it('round-trips through its JSON form (hex, decimal strings), and the parsed proof verifies', () => {
    const json = JSON.parse(JSON.stringify(anchorProofToJson(proofFor(batch, 3)))) as AnchorProofJson;
    expect(json.certificate.height).toBe('1');
    expect(json.leaf).toBe(toHex(leaves[3]!));
    expect(verifyAnchorProof(set, anchorProofFromJson(json)).leafIndex).toBe(3);
  });

  it('refuses a leaf that is not in the batch, and a wrong index or path', () => {
    const proof = proofFor(batch, 2);
    expect(code({ ...proof, leaf: sha256(te.encode('forged')) })?.details).toMatchObject({ reason: 'root' });
    expect(code({ ...proof, leaf: sha256(te.encode('forged')) })?.code).toBe('ANCHOR_LEAF_NOT_IN_BATCH');
    expect(code({ ...proof, leafIndex: 1 })?.details).toMatchObject({ reason: 'root' });
    expect(code({ ...proof, leafIndex: 5 })?.details).toMatchObject({ reason: 'index', count: 5 });
    expect(code({ ...proof, leafIndex: -1 })?.details).toMatchObject({ reason: 'index' });
    expect(code({ ...proof, batchPath: proof.batchPath.slice(1) })?.details).toMatchObject({ reason: 'length' });
    expect(code({ ...proof, batchPath: [proof.batchPath[0]!.subarray(1), ...proof.batchPath.slice(1)] })?.details).toMatchObject({ reason: 'hash-length', element: 0 });
    expect(code({ ...proof, leaf: proof.leaf.subarray(1) })?.details).toMatchObject({ reason: 'leaf-length' });
    // A leaf hash passed off as data: the RFC 6962 leaf prefix keeps inner nodes out.
    expect(code({ ...proof, leaf: proof.batchPath[0]!, leafIndex: 3, batchPath: proof.batchPath.slice(1) })?.code).toBe('ANCHOR_LEAF_NOT_IN_BATCH');
  });

  it('refuses a message proven against another batch’s root (the event names another root)', () => {
    const proof = proofFor(batch, 0, { event: eventIndex(batch, 'xmsg', 'anchored', 1), leaves: otherLeaves });
    expect(code({ ...proof, leaf: leaves[0]! })?.details).toMatchObject({ reason: 'root' });
    // Batch 1's path for leaf 0 against batch 2's anchored event: batch 2 holds a single leaf.
    const mixed = { ...proofFor(batch, 0), event: proof.event, eventIndex: proof.eventIndex, eventPath: proof.eventPath };
    expect(code(mixed)?.details).toMatchObject({ reason: 'length' });
  });

  it('refuses an event of another contract or type, though included in the certified block', () => {
    const routes = proofFor(batch, 0, { event: eventIndex(batch, 'routes', 'route-set') });
    expect(code(routes)?.code).toBe('ANCHOR_WRONG_EVENT');
    expect(code(routes)?.details).toMatchObject({ contract: 'routes', type: 'route-set' });
    const delivered = proofFor(batch, 0, { event: eventIndex(batch, 'xmsg', 'message-delivered') });
    expect(code(delivered)?.details).toMatchObject({ contract: 'xmsg', type: 'message-delivered' });
  });

  it('refuses a look-alike `anchored` event emitted by another contract', () => {
    // A contract that copies xmsg's event type and layout, installed beside the standard ones.
    const mimic: Contract = { name: 'mimic', access: { anchor: ['operator'] }, execute: (ctx, _method, args) => ctx.emit('anchored', args) };
    const sw = makeAccount('Ed25519');
    const chain = makeChain({ accounts: 1, participants: [{ id: 'switch-a', organisation: 'consortium', roles: ['operator', 'relayer'], keys: [key(sw)] }] });
    const run = new BlockRunner(chain.genesis, contractRegistry([...standardContracts().values(), mimic]));
    const args = encodeAnchorArgs({ switchId: 'switch-a', batchSeq: 1n, root: merkleRoot(leaves), count: leaves.length });
    const result = run.block([run.tx(sw, 'mimic', 'anchor', args)]);
    expect(result.receipts[0]!.code).toBeNull();
    const trusted: TrustedValidatorSet = { chainId: chain.genesis.chainId, publicKeys: chain.genesis.validators.map((v) => v.publicKey) };
    const headerBytes = encodeHeader(result.header);
    const privateKeyOf = new Map(chain.validators.map((v) => [toHex(v.publicKey), v.privateKey]));
    const certificate = certify(trusted, 1n, sha256(headerBytes), [0, 1, 2], (i) => privateKeyOf.get(toHex(trusted.publicKeys[i]!))!);
    const proof: AnchorProof = { ...proofFor(batch, 1), event: result.encodedEvents[0]!, eventIndex: 0, eventPath: [], headerBytes, certificate };
    const error = errorOf(() => verifyAnchorProof(trusted, proof));
    expect(error?.code).toBe('ANCHOR_WRONG_EVENT');
    expect(error?.details).toMatchObject({ contract: 'mimic', type: 'anchored' });
  });

  it('refuses an event that is not in the block: tampered bytes, another index, a short path', () => {
    const proof = proofFor(batch, 0);
    const tampered = proof.event.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(code({ ...proof, event: tampered })?.details).toMatchObject({ reason: 'root' });
    expect(code({ ...proof, event: tampered })?.code).toBe('MERKLE_BAD_PROOF');
    expect(code({ ...proof, eventIndex: proof.eventIndex + 1 })?.code).toBe('MERKLE_BAD_PROOF');
    expect(code({ ...proof, eventIndex: batch.header.eventCount })?.code).toBe('MERKLE_INDEX_RANGE');
    expect(code({ ...proof, eventPath: proof.eventPath.slice(1) })?.details).toMatchObject({ reason: 'length' });
  });

  it('refuses a header that is not certified by the trusted set', () => {
    const proof = proofFor(batch, 0);
    const outsiders = Array.from({ length: 4 }, () => generateKeyPair('ES256K').privateKey);
    const forged = certify(set, 1n, batch.cert.digest, [0, 1, 2], (i) => outsiders[i]!);
    expect(code({ ...proof, certificate: forged })?.code).toBe('CERT_BAD_SIGNATURE');
    expect(code({ ...proof, certificate: { ...batch.cert, sigs: batch.cert.sigs.slice(0, 2) } })?.code).toBe('CERT_TOO_FEW_SIGNERS');
    const headerBytes = proof.headerBytes.slice();
    headerBytes[60]! ^= 1; // inside prevHash: the certificate is for other bytes
    expect(code({ ...proof, headerBytes })?.code).toBe('CERT_WRONG_BLOCK');
    expect(errorOf(() => verifyAnchorProof({ ...set, chainId: sha256(te.encode('other chain')) }, proof))?.code).toBe('CERT_WRONG_CHAIN');
    const otherSet = { chainId: set.chainId, publicKeys: Array.from({ length: 4 }, () => generateKeyPair('ES256K').publicKey) };
    expect(errorOf(() => verifyAnchorProof(otherSet, proof))?.code).toBe('CERT_WRONG_VALIDATOR_SET');
  });

  it('checks the expected switch and batch when given', () => {
    const proof = proofFor(batch, 0);
    expect(code(proof, { switchId: 'switch-b' })?.details).toEqual({ field: 'switchId', expected: 'switch-b', actual: 'switch-a' });
    expect(code(proof, { switchId: 'switch-b' })?.code).toBe('ANCHOR_WRONG_BATCH');
    expect(code(proof, { batchSeq: 2n })?.details).toMatchObject({ field: 'batchSeq', expected: 2n, actual: 1n });
  });
});

describe('anchorProofFromJson', () => {
  const valid = (): Record<string, unknown> => ({
    leaf: 'aa'.repeat(32),
    leafIndex: 0,
    batchPath: ['bb'.repeat(32)],
    event: '01',
    eventIndex: 2,
    eventPath: [],
    headerBytes: 'cc',
    certificate: { height: '5', view: '0', blockHash: 'dd'.repeat(32), signatures: [{ validator: 0, signature: 'ee'.repeat(65) }] },
  });

  it('decodes a certificate as the node serves it, and as CoreClient returns it (bigints)', () => {
    const json = valid().certificate as Record<string, unknown>;
    const expected = { height: 5n, view: 0n, digest: new Uint8Array(32).fill(0xdd), sigs: [{ from: 0, sig: new Uint8Array(65).fill(0xee) }] };
    expect(decodeCertificateJson(json)).toEqual(expected);
    expect(decodeCertificateJson({ ...json, height: 5n, view: 0n })).toEqual(expected);
    expect(errorOf(() => decodeCertificateJson({ ...json, height: -1n }))?.details).toEqual({ pointer: '/height' });
    expect(errorOf(() => decodeCertificateJson({ ...json, signatures: {} }))?.code).toBe('VALIDATE_TYPE');
  });

  it('parses the documented shape', () => {
    const proof = anchorProofFromJson(valid());
    expect(proof.certificate).toEqual({ height: 5n, view: 0n, digest: new Uint8Array(32).fill(0xdd), sigs: [{ from: 0, sig: new Uint8Array(65).fill(0xee) }] });
    expect(anchorProofToJson(proof)).toEqual(valid());
  });

  it.each<[string, (j: Record<string, unknown>) => void, string, string]>([
    ['an unknown field', (j) => (j.extra = 1), 'VALIDATE_UNKNOWN_FIELD', '/extra'],
    ['a missing field', (j) => delete j.leaf, 'VALIDATE_REQUIRED', '/leaf'],
    ['upper-case hex', (j) => (j.leaf = 'AA'.repeat(32)), 'VALIDATE_FORMAT', '/leaf'],
    ['a leaf too long', (j) => (j.leaf = 'aa'.repeat(33)), 'VALIDATE_RANGE', '/leaf'],
    ['a numeric height', (j) => ((j.certificate as Record<string, unknown>).height = 5), 'VALIDATE_TYPE', '/certificate/height'],
    ['a height beyond u64', (j) => ((j.certificate as Record<string, unknown>).height = '18446744073709551616'), 'VALIDATE_FORMAT', '/certificate/height'],
    ['a fractional index', (j) => (j.leafIndex = 1.5), 'VALIDATE_RANGE', '/leafIndex'],
    ['a path of 33 hashes', (j) => (j.batchPath = new Array(33).fill('bb'.repeat(32))), 'VALIDATE_RANGE', '/batchPath'],
    ['a path that is not an array', (j) => (j.eventPath = 'bb'), 'VALIDATE_TYPE', '/eventPath'],
    ['a signature field too many', (j) => Object.assign((j.certificate as { signatures: object[] }).signatures[0]!, { x: 1 }), 'VALIDATE_UNKNOWN_FIELD', '/certificate/signatures/0/x'],
  ])('refuses %s, naming the pointer', (_name, mutate, expectedCode, pointer) => {
    const json = valid();
    mutate(json);
    const error = errorOf(() => anchorProofFromJson(json));
    expect(error?.code).toBe(expectedCode);
    expect(error?.details.pointer).toBe(pointer);
  });
});
