import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256, toHex } from '../crypto/hash.ts';
import type { ConsensusApp } from '../consensus/types.ts';
import { blockDigestFromPayload, blockHash, decodeBlock, encodeBlock, HEADER_LENGTH, malformedBlockDigest, txRootFromHashes, type Header } from './block.ts';
import { assetBalance } from './contracts/asset.ts';
import { genesisHash, validatorSetHash } from './genesis.ts';
import { encodeAddParticipantArgs, encodeApproveArgs, encodeProposeArgs, pendingValidatorChange } from './contracts/registry.ts';
import { ethAddress } from '../crypto/secp256k1.ts';
import type { Ledger } from './ledger.ts';
import { State } from './state.ts';
import { certFor, errorOf, makeAccount, makeChain, makeNode, signedTx, transfer, type Account } from './testkit.ts';
import { txHash } from './tx.ts';

const chain = makeChain({ accounts: 4, balance: 1_000n });
const { genesis } = chain;
const chainId = genesis.chainId;
const [a, b, c, d] = chain.accounts as [Account, Account, Account, Account];
const T0 = Number(genesis.time) + 1_000;

function submit(ledgers: readonly { mempool: { add(bytes: Uint8Array): unknown } }[], txs: readonly Uint8Array[]): void {
  for (const l of ledgers) for (const t of txs) l.mempool.add(t);
}

function patch(payload: Uint8Array, change: Partial<Header>): Uint8Array {
  const block = decodeBlock(payload);
  return encodeBlock({ header: { ...block.header, ...change }, txs: block.txs });
}

function reason(ledger: Ledger, height: bigint, payload: Uint8Array, now = T0): unknown {
  expect(ledger.validate(height, payload, now)).toBe(false);
  expect(ledger.lastRejection?.code).toBe('LEDGER_BLOCK_INVALID');
  return ledger.lastRejection?.details.reason;
}

describe('Ledger as a ConsensusApp', () => {
  it('implements the interface the consensus core calls', () => {
    const app: ConsensusApp = makeNode(genesis).ledger;
    expect(typeof app.digest).toBe('function');
  });

  it('proposes nothing when nothing is executable, or for a height that is not next', () => {
    const { ledger, mempool } = makeNode(genesis);
    expect(ledger.propose(1n, T0)).toBeNull();
    mempool.add(transfer(chainId, a, 2n, b.address, 1n)); // a gap: not executable
    expect(ledger.propose(1n, T0)).toBeNull();
    mempool.add(transfer(chainId, a, 1n, b.address, 1n));
    expect(ledger.propose(2n, T0)).toBeNull();
    expect(ledger.propose(1n, T0)).not.toBeNull();
  });

  it('proposes on the tip: genesis hash, time max(now, previous + 1), own index, digest = block hash', () => {
    const { ledger, mempool } = makeNode(genesis, { self: 2 });
    mempool.add(transfer(chainId, a, 1n, b.address, 1n));
    const payload = ledger.propose(1n, Number(genesis.time) - 5_000)!;
    const { header, txs } = decodeBlock(payload);
    expect(header).toMatchObject({ height: 1n, time: genesis.time + 1n, proposer: 2, txCount: 1 });
    expect(header.prevHash).toEqual(genesisHash(genesis));
    expect(header.validatorSetHash).toEqual(genesis.validatorSetHash);
    // No validator-set change is scheduled: the next block is certified by the same set.
    expect(header.nextValidatorSetHash).toEqual(genesis.validatorSetHash);
    expect(ledger.digest(payload)).toEqual(blockHash(header));
    expect(txs).toHaveLength(1);
    // The core validates its own proposal right away: a cache hit.
    expect(ledger.validate(1n, payload, Number(genesis.time))).toBe(true);
  });

  it('a proposal carries at most maxBlockTxs transactions and stays within maxBlockBytes', () => {
    const { ledger, mempool } = makeNode(genesis, { ledger: { maxBlockTxs: 3, maxBlockBytes: 4 + HEADER_LENGTH + 4 * 3 + 3 * 400 } });
    for (const s of [a, b, c, d]) mempool.add(transfer(chainId, s, 1n, a.address, 1n));
    const payload = ledger.propose(1n, T0)!;
    expect(decodeBlock(payload).header.txCount).toBe(3);
    expect(payload.length).toBeLessThanOrEqual(4 + HEADER_LENGTH + 4 * 3 + 3 * 400);
  });

  it('commit returns the storage batch and moves the tip, state and mempool', () => {
    const leader = makeNode(genesis);
    const follower = makeNode(genesis, { self: 1 });
    const txs = [transfer(chainId, a, 1n, b.address, 10n), transfer(chainId, b, 1n, c.address, 5_000n)];
    submit([leader, follower], txs);
    const payload = leader.ledger.propose(1n, T0)!;
    expect(follower.ledger.validate(1n, payload, T0)).toBe(true);
    const cert = certFor(follower.ledger, 1n, payload);
    const batch = follower.ledger.commit(payload, cert);
    expect(batch.height).toBe(1n);
    expect(batch.blockHash).toEqual(blockHash(batch.header));
    expect(batch.payload).toEqual(payload);
    expect(batch.cert).toBe(cert);
    expect(batch.txHashes).toEqual(txs.map(txHash));
    expect(batch.receipts.map((r) => [r.status, r.code])).toEqual([
      ['ok', null],
      ['failed', 'CONTRACT_INSUFFICIENT_FUNDS'],
    ]);
    expect(batch.events).toHaveLength(1);
    expect(batch.encodedEvents).toHaveLength(1);
    expect(batch.stateDiff.puts.map(([k]) => k).sort()).toEqual(
      [`nonce/${a.address}`, `nonce/${b.address}`, `asset/balance/${a.address}`, `asset/balance/${b.address}`].sort(),
    );
    const tip = follower.ledger.tip();
    expect(tip).toMatchObject({ height: 1n, time: batch.header.time });
    expect(tip.hash).toEqual(batch.blockHash);
    expect(tip.stateRoot).toEqual(batch.header.stateRoot);
    expect(assetBalance(follower.ledger.state, b.address)).toBe(1_010n);
    expect([follower.mempool.size, follower.mempool.executableCount()]).toEqual([0, 0]);
  });

  it('commits a block it never validated (catch-up) by executing it', () => {
    const leader = makeNode(genesis);
    const late = makeNode(genesis, { self: 3 });
    submit([leader], [transfer(chainId, a, 1n, b.address, 10n)]);
    const payload = leader.ledger.propose(1n, T0)!;
    const batch = late.ledger.commit(payload, certFor(late.ledger, 1n, payload));
    expect(batch.header.stateRoot).toEqual(leader.ledger.commit(payload, certFor(leader.ledger, 1n, payload)).header.stateRoot);
  });

  it('refuses to commit what does not extend the tip or does not execute to its header (LEDGER_DIVERGED)', () => {
    const leader = makeNode(genesis);
    const other = makeNode(genesis, { self: 1 });
    submit([leader], [transfer(chainId, a, 1n, b.address, 10n)]);
    const payload = leader.ledger.propose(1n, T0)!;
    const wrongRoot = patch(payload, { stateRoot: sha256(Uint8Array.of(1)) });
    expect(errorOf(() => other.ledger.commit(wrongRoot, certFor(other.ledger, 1n, wrongRoot)))?.details).toMatchObject({ reason: 'stateRoot' });
    expect(errorOf(() => other.ledger.commit(payload, certFor(other.ledger, 2n, payload)))?.code).toBe('LEDGER_DIVERGED');
    expect(errorOf(() => other.ledger.commit(payload, { ...certFor(other.ledger, 1n, payload), digest: new Uint8Array(32) }))?.code).toBe('LEDGER_DIVERGED');
    expect(other.ledger.tip().height).toBe(0n);
  });
});

describe('validate rejects', () => {
  const leader = makeNode(genesis);
  submit([leader], [transfer(chainId, a, 1n, b.address, 10n), transfer(chainId, b, 1n, c.address, 3n)]);
  const payload = leader.ledger.propose(1n, T0)!;
  const good = decodeBlock(payload).header;
  const validator = () => makeNode(genesis, { self: 1 }).ledger;

  it('accepts the untampered block', () => {
    expect(validator().validate(1n, payload, T0)).toBe(true);
  });

  it.each<[string, Partial<Header>, string]>([
    ['txRoot', { txRoot: sha256(Uint8Array.of(1)) }, 'txRoot'],
    ['eventsRoot', { eventsRoot: sha256(Uint8Array.of(2)) }, 'eventsRoot'],
    ['stateRoot', { stateRoot: sha256(Uint8Array.of(3)) }, 'stateRoot'],
    ['eventCount', { eventCount: 5 }, 'eventCount'],
    ['prevHash', { prevHash: sha256(Uint8Array.of(4)) }, 'prevHash'],
    ['height', { height: 2n }, 'height'],
    ['proposer out of the set', { proposer: 4 }, 'proposer'],
    ['time not after the tip', { time: genesis.time }, 'time'],
    ['time too far ahead of the local clock', { time: BigInt(T0) + 2_001n }, 'time-ahead'],
    ['chainId', { chainId: sha256(Uint8Array.of(5)) }, 'chainId'],
    ['validatorSetHash', { validatorSetHash: sha256(Uint8Array.of(6)) }, 'validatorSetHash'],
    ['nextValidatorSetHash', { nextValidatorSetHash: sha256(Uint8Array.of(7)) }, 'nextValidatorSetHash'],
  ])('a tampered %s', (_name, change, expected) => {
    expect(reason(validator(), 1n, patch(payload, change))).toBe(expected);
  });

  it('a block asked for at another height', () => {
    expect(reason(validator(), 2n, payload)).toBe('height');
  });

  it('a time within the skew bound is fine', () => {
    expect(validator().validate(1n, payload, Number(good.time) - 2_000)).toBe(true);
    expect(reason(validator(), 1n, payload, Number(good.time) - 2_001)).toBe('time-ahead');
  });

  it('bytes that do not decode, and a block over maxBlockBytes', () => {
    expect(reason(validator(), 1n, payload.subarray(0, payload.length - 1))).toBe('decode');
    const small = makeNode(genesis, { ledger: { maxBlockBytes: payload.length - 1, maxBlockTxs: 2 } }).ledger;
    expect(reason(small, 1n, payload)).toBe('size');
  });

  it('a transaction with a bad signature', () => {
    const forged = transfer(chainId, a, 1n, b.address, 10n);
    forged[forged.length - 40] = (forged[forged.length - 40] as number) ^ 1;
    const block = encodeBlock({ header: { ...good, txCount: 1, txRoot: txRootFromHashes([txHash(forged)]) }, txs: [forged] });
    const v = validator();
    expect(reason(v, 1n, block)).toBe('tx');
    expect(v.lastRejection?.details).toMatchObject({ index: 0 });
    expect(String(v.lastRejection?.details.txCode)).toMatch(/^CRYPTO_/);
  });

  it('a transaction with a bad nonce', () => {
    const gap = transfer(chainId, a, 2n, b.address, 10n);
    const block = encodeBlock({ header: { ...good, txCount: 1, txRoot: txRootFromHashes([txHash(gap)]) }, txs: [gap] });
    const v = validator();
    expect(reason(v, 1n, block)).toBe('tx');
    expect(v.lastRejection?.details).toMatchObject({ index: 0, txCode: 'LEDGER_NONCE_GAP' });
  });

  it('a known header with other transactions: a different digest, and refused', () => {
    const v = validator();
    expect(v.validate(1n, payload, T0)).toBe(true);
    const swapped = encodeBlock({ header: good, txs: [transfer(chainId, a, 1n, b.address, 10n), transfer(chainId, b, 1n, c.address, 3n)] });
    expect(blockDigestFromPayload(swapped)).toEqual(blockDigestFromPayload(payload)); // the header-only digest cannot tell
    expect(v.digest(swapped)).not.toEqual(v.digest(payload));
    expect(v.digest(swapped)).toEqual(malformedBlockDigest(swapped));
    expect(reason(v, 1n, swapped)).toBe('txRoot');
    // So catch-up cannot be fed such a payload under a real certificate.
    const late = validator();
    expect(errorOf(() => late.commit(swapped, certFor(late, 1n, payload)))?.code).toBe('LEDGER_DIVERGED');
    expect(late.tip().height).toBe(0n);
  });

  it('digest never throws, and digests junk to the malformed digest', () => {
    const v = validator();
    for (const junk of [new Uint8Array(0), Uint8Array.of(0, 0, 0, HEADER_LENGTH), payload.subarray(0, 300)]) {
      expect(v.digest(junk)).toEqual(malformedBlockDigest(junk));
    }
  });
});

describe('determinism', () => {
  it('replicas fed the same blocks reach identical state roots, receipts and events', () => {
    const accounts = [a, b, c, d];
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.bigInt({ min: 1n, max: 600n })), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 4,
        }),
        (rounds) => {
          const nodes = [0, 1, 2, 3].map((self) => makeNode(genesis, { self }));
          const nonces = new Map<string, bigint>();
          let time = T0;
          for (let r = 0; r < rounds.length; r++) {
            const txs = rounds[r]!.map(([from, to, amount]) => {
              const sender = accounts[from]!;
              const nonce = (nonces.get(sender.address) ?? 0n) + 1n;
              nonces.set(sender.address, nonce);
              return transfer(chainId, sender, nonce, accounts[to]!.address, amount);
            });
            const leader = nodes[r % nodes.length]!;
            // Only the leader's mempool has the transactions: the others see them first in the block.
            submit([leader], txs);
            const height = BigInt(r + 1);
            time += 1_000;
            const payload = leader.ledger.propose(height, time)!;
            expect(payload).not.toBeNull();
            const batches = nodes.map((n) => {
              expect(n.ledger.validate(height, payload, time)).toBe(true);
              return n.ledger.commit(payload, certFor(n.ledger, height, payload));
            });
            const first = batches[0]!;
            for (const other of batches.slice(1)) {
              expect(toHex(other.header.stateRoot)).toBe(toHex(first.header.stateRoot));
              expect(other.receipts).toEqual(first.receipts);
              expect(other.encodedEvents).toEqual(first.encodedEvents);
              expect(other.stateDiff).toEqual(first.stateDiff);
            }
          }
          const roots = nodes.map((n) => toHex(n.ledger.tip().stateRoot));
          expect(new Set(roots).size).toBe(1);
          // And a node restored from a snapshot of any of them agrees.
          expect(toHex(State.fromEntries(nodes[0]!.ledger.state.entries()).root())).toBe(roots[0]);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('validator-set changes', () => {
  it('the block before activation names the incoming set; from activation on it certifies, and positions follow', () => {
    const vchain = makeChain({ accounts: 1, registry: { activationDelay: 2n } });
    const [v0, v1, v2] = vchain.validators as [Account, Account, Account];
    // Our validator is the one with the highest address: a joiner with a lower address shifts its position.
    const byAddress = [...vchain.validators].sort((x, y) => (toHex(ethAddress(x.publicKey)) < toHex(ethAddress(y.publicKey)) ? -1 : 1));
    const me = byAddress[3]!;
    const node = makeNode(vchain.genesis, { ledger: { selfKey: me.publicKey } });
    const nonces = new Map<string, bigint>();
    const call = (from: Account, method: string, args: Uint8Array): Uint8Array => {
      const nonce = (nonces.get(from.address) ?? 0n) + 1n;
      nonces.set(from.address, nonce);
      return signedTx(vchain.genesis.chainId, from, nonce, 'registry', method, args);
    };
    let now = Number(vchain.genesis.time);
    const headers: Header[] = [];
    const block = (txs: readonly Uint8Array[]): Header => {
      for (const t of txs) node.mempool.add(t);
      now += 1_000;
      const height = node.ledger.tip().height + 1n;
      const payload = node.ledger.propose(height, now)!;
      expect(node.ledger.validate(height, payload, now)).toBe(true);
      const header = node.ledger.commit(payload, certFor(node.ledger, height, payload)).header;
      headers.push(header);
      return header;
    };
    let joiner = makeAccount('ES256K');
    while (toHex(ethAddress(joiner.publicKey)) > toHex(ethAddress(me.publicKey))) joiner = makeAccount('ES256K');
    const genesisHash = vchain.genesis.validatorSetHash;

    block([
      call(vchain.issuer, 'addParticipant', encodeAddParticipantArgs({ id: 'v-new', organisation: 'org-new', roles: ['validator'], keys: [{ alg: 'ES256K', publicKey: joiner.publicKey }] })),
      call(vchain.issuer, 'propose', encodeProposeArgs({ kind: 'validator-join', publicKey: joiner.publicKey, name: 'v-new', organisation: 'org-new', endpoint: '' })),
    ]);
    const passed = block([v0, v1, v2].map((v) => call(v, 'approve', encodeApproveArgs(1n))));
    const pending = pendingValidatorChange(node.ledger.state)!;
    expect(pending.activationHeight).toBe(passed.height + 2n);
    const newHash = validatorSetHash(pending.validators);
    expect(toHex(newHash)).not.toBe(toHex(genesisHash));
    expect(passed.proposer).toBe(3);
    expect(toHex(passed.nextValidatorSetHash)).toBe(toHex(genesisHash));

    const handover = block([call(vchain.issuer, 'setRoles', new Uint8Array(0))]); // any tx fills the block (this one fails)
    expect(handover.height).toBe(pending.activationHeight - 1n);
    expect(toHex(handover.validatorSetHash)).toBe(toHex(genesisHash));
    expect(toHex(handover.nextValidatorSetHash)).toBe(toHex(newHash));

    const first = block([call(vchain.issuer, 'setRoles', new Uint8Array(0))]);
    expect(toHex(first.validatorSetHash)).toBe(toHex(newHash));
    expect(toHex(first.nextValidatorSetHash)).toBe(toHex(newHash));
    expect(first.proposer).toBe(4); // the joiner sorts below us: our position moved from 3 to 4
    expect(node.ledger.validatorsAt(first.height + 1n).size).toBe(5);
    expect(node.ledger.pendingValidatorChange()).toBeNull();
  });
});
