import { describe, expect, it } from 'vitest';
import { commitSigningBytes } from '../consensus/messages.ts';
import { quorum } from '../consensus/quorum.ts';
import type { Certificate } from '../consensus/types.ts';
import { equalBytes, sha256, toHex } from '../crypto/hash.ts';
import { inclusionProof } from '../crypto/merkle.ts';
import { secp256k1SignDigest } from '../crypto/secp256k1.ts';
import { blockHash, encodeHeader } from '../ledger/block.ts';
import { decodeEvent } from '../ledger/events.ts';
import { genesisHash } from '../ledger/genesis.ts';
import type { CommitBatch } from '../ledger/ledger.ts';
import { errorOf, makeAccount, makeChain, makeNode, transfer } from '../ledger/testkit.ts';
import { verifyCommittedHeader, verifyEventProof, verifyHeaderChain, verifyStateProof, type HeaderChainItem, type TrustedValidatorSet } from './index.ts';

/**
 * End to end: blocks built and committed by the real ledger, certified with the validators' keys,
 * then checked by someone who holds only the genesis validator list.
 */
function committedChain(blocks: number) {
  const chain = makeChain({ accounts: 3, balance: 1_000n });
  const { genesis } = chain;
  const privateKeyOf = new Map(chain.validators.map((v) => [toHex(v.publicKey), v.privateKey]));
  const set: TrustedValidatorSet = { chainId: genesis.chainId, publicKeys: genesis.validators.map((v) => v.publicKey) };
  const { ledger, mempool } = makeNode(genesis);
  const sink = makeAccount('Ed25519');
  const certify = (height: bigint, digest: Uint8Array, signers: readonly number[]): Certificate => {
    const message = sha256(commitSigningBytes({ chainId: genesis.chainId, validatorSetHash: genesis.validatorSetHash }, height, 0n, digest));
    return {
      height,
      view: 0n,
      digest,
      sigs: signers.map((from) => ({ from, sig: secp256k1SignDigest(privateKeyOf.get(toHex(set.publicKeys[from]!))!, message) })),
    };
  };
  const batches: CommitBatch[] = [];
  let now = Number(genesis.time) + 1_000;
  for (let h = 1n; h <= BigInt(blocks); h++) {
    for (const a of chain.accounts) mempool.add(transfer(genesis.chainId, a, h, sink.address, h));
    const payload = ledger.propose(h, (now += 1_000))!;
    // A different quorum each height: signers h-1.. wrapping, sorted.
    const signers = Array.from({ length: quorum(set.publicKeys.length) }, (_, i) => (Number(h) + i) % set.publicKeys.length).sort((x, y) => x - y);
    batches.push(ledger.commit(payload, certify(h, ledger.digest(payload), signers)));
  }
  return { genesis, set, batches, state: ledger.state };
}

describe('verifying what the ledger committed', () => {
  const { genesis, set, batches, state } = committedChain(3);
  const items: HeaderChainItem[] = batches.map((b) => ({ header: encodeHeader(b.header), certificate: b.cert }));

  it('a light client holding only the genesis set accepts the chain and every event in it', () => {
    expect(batches[0]!.header.prevHash).toEqual(genesisHash(genesis));
    const { header, set: after } = verifyHeaderChain(set, items);
    expect(header).toEqual(batches[2]!.header);
    expect(after.publicKeys).toEqual(set.publicKeys);
    let proved = 0;
    for (const batch of batches) {
      const verified = verifyCommittedHeader(set, encodeHeader(batch.header), batch.cert);
      batch.encodedEvents.forEach((event, i) => {
        const path = inclusionProof(batch.encodedEvents, i);
        verifyEventProof(verified, event, i, path);
        verifyEventProof(verified, decodeEvent(event), i, path);
        proved++;
      });
    }
    expect(proved).toBeGreaterThan(3);
  });

  it('the ledger writes nextValidatorSetHash = validatorSetHash while no change is scheduled', () => {
    for (const b of batches) expect(b.header.nextValidatorSetHash).toEqual(genesis.validatorSetHash);
  });

  it('resumes from a checkpoint, and an empty list returns the checkpoint', () => {
    const first = verifyHeaderChain(set, items.slice(0, 1));
    const rest = verifyHeaderChain(first, items.slice(1));
    expect(blockHash(rest.header)).toEqual(blockHash(batches[2]!.header));
    expect(verifyHeaderChain(rest, [])).toEqual(rest);
    expect(errorOf(() => verifyHeaderChain(set, []))?.code).toBe('HEADER_CHAIN_GAP');
  });

  it('an event of one block does not verify under another block', () => {
    const [b1, b2] = batches as [CommitBatch, CommitBatch];
    const path = inclusionProof(b1.encodedEvents, 0);
    expect(equalBytes(b1.header.eventsRoot, b2.header.eventsRoot)).toBe(false);
    expect(errorOf(() => verifyEventProof(b2.header, b1.encodedEvents[0]!, 0, path))?.code).toBe('MERKLE_BAD_PROOF');
  });

  it('state proofs from the replica verify against the last certified header, and only there', () => {
    const last = verifyHeaderChain(set, items).header;
    const entries = state.entries();
    expect(entries.length).toBeGreaterThan(3);
    for (const [key, value] of entries) verifyStateProof(last, key, value, state.prove(key));
    verifyStateProof(last, 'verify/absent', null, state.prove('verify/absent'));

    const [key, value] = entries.find(([k]) => k.startsWith('nonce/'))!;
    const proof = state.prove(key);
    expect(errorOf(() => verifyStateProof(last, key, Uint8Array.of(...value, 0), proof))?.code).toBe('PROOF_VALUE_MISMATCH');
    expect(errorOf(() => verifyStateProof(last, key, null, proof))?.code).toBe('PROOF_KEY_PRESENT');
    // The nonce was lower after block 2: the same proof does not lead to block 2's stateRoot.
    expect(errorOf(() => verifyStateProof(batches[1]!.header, key, value, proof))?.code).toBe('PROOF_ROOT_MISMATCH');
    expect(errorOf(() => verifyStateProof({ ...last, stateRoot: new Uint8Array(32) }, key, value, proof))?.code).toBe('PROOF_ZERO_ROOT');
  });

  it('the certificate of one height does not certify the next', () => {
    const swapped = [items[0]!, { ...items[1]!, certificate: items[2]!.certificate }];
    expect(errorOf(() => verifyHeaderChain(set, swapped))?.details).toMatchObject({ field: 'height' });
  });
});
