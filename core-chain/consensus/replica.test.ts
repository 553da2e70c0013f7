/**
 * Unit tests of the PBFT core against adversarial input: forged senders, floods, and the signing
 * guard after a restart. The full protocol runs under the simulator in test/sim; these check single
 * rules with real secp256k1 validator keys.
 */
import { describe, expect, test } from 'vitest';
import { generateKeyPair, sha256 } from '../crypto/index.ts';
import { Replica } from './replica.ts';
import { commitSigningBytes, signingBytes, type ChainBinding } from './messages.ts';
import { validatorCrypto, certificateValid } from './signer.ts';
import type { ConsensusApp, Effect, Propose, SafetyState, Vote } from './types.ts';

const chain: ChainBinding = { chainId: sha256(new TextEncoder().encode('unit')), validatorSetHash: sha256(new TextEncoder().encode('set')) };
const keys = Array.from({ length: 4 }, () => generateKeyPair('ES256K'));
const publicKeys = keys.map((k) => k.publicKey);
const crypto = (i: number) => validatorCrypto(publicKeys, keys[i]!.privateKey);

const app: ConsensusApp = {
  digest: (payload) => sha256(payload),
  propose: () => null,
  validate: () => true,
};

function replica(self: number, safety: SafetyState | null = null): Replica {
  const r = new Replica({ n: 4, self, chain, progressTimeoutMs: 1000, statusIntervalMs: 1000 }, app, crypto(self), { committedHeight: 0n, lastCert: null, safety });
  r.step({ kind: 'start' }, 0);
  return r;
}

function propose(from: number, view: bigint, height: bigint, payload: Uint8Array): Propose {
  const digest = sha256(payload);
  return { kind: 'propose', view, height, digest, payload, from, sig: crypto(from).sign(signingBytes(chain, { kind: 'propose', view, height, digest })) };
}

function vote(kind: 'prepare' | 'commit', from: number, view: bigint, height: bigint, digest: Uint8Array, signer = from): Vote {
  const bytes = kind === 'commit' ? commitSigningBytes(chain, height, view, digest) : signingBytes(chain, { kind, view, height, digest });
  return { kind, view, height, digest, from, sig: crypto(signer).sign(bytes) };
}

const broadcasts = (effects: Effect[]) => effects.filter((e) => e.kind === 'broadcast').map((e) => (e.kind === 'broadcast' ? e.msg.kind : ''));

describe('PBFT core rules', () => {
  test('a leader proposal is prepared; the vote is persisted before it is sent', () => {
    const r = replica(1);
    const effects = r.step({ kind: 'message', msg: propose(0, 0n, 1n, new Uint8Array([1])) }, 10);
    const kinds = effects.map((e) => e.kind);
    expect(kinds.indexOf('persist')).toBeGreaterThanOrEqual(0);
    expect(kinds.indexOf('persist')).toBeLessThan(kinds.indexOf('broadcast'));
    expect(broadcasts(effects)).toEqual(['prepare']);
  });

  test('q prepares then q commits commit the block with a certificate anyone can check', () => {
    const r = replica(1);
    const payload = new Uint8Array([7, 7]);
    const digest = sha256(payload);
    r.step({ kind: 'message', msg: propose(0, 0n, 1n, payload) }, 1);
    r.step({ kind: 'message', msg: vote('prepare', 0, 0n, 1n, digest) }, 2);
    const prepared = r.step({ kind: 'message', msg: vote('prepare', 2, 0n, 1n, digest) }, 3);
    expect(broadcasts(prepared)).toContain('commit');
    r.step({ kind: 'message', msg: vote('commit', 0, 0n, 1n, digest) }, 4);
    const done = r.step({ kind: 'message', msg: vote('commit', 2, 0n, 1n, digest) }, 5);
    const commit = done.find((e) => e.kind === 'commit');
    expect(commit?.kind).toBe('commit');
    if (commit?.kind !== 'commit') return;
    expect(certificateValid(commit.cert, chain, publicKeys)).toBe(true);
    expect(r.height).toBe(2n);
    // A certificate with a signature removed, or from the wrong chain, does not verify.
    expect(certificateValid({ ...commit.cert, sigs: commit.cert.sigs.slice(1) }, chain, publicKeys)).toBe(false);
    expect(certificateValid(commit.cert, { ...chain, chainId: sha256(new Uint8Array([9])) }, publicKeys)).toBe(false);
  });

  test('a message signed by one validator but claiming to be from another is a fault and changes nothing', () => {
    const r = replica(1);
    const forged = { ...propose(2, 0n, 1n, new Uint8Array([1])), from: 0 }; // validator 2 poses as the leader
    const effects = r.step({ kind: 'message', msg: forged }, 1);
    expect(effects.map((e) => e.kind)).toEqual(['fault']);
    expect(r.memory().payloads).toBe(0);
  });

  test('messages from outside the validator set are ignored', () => {
    const r = replica(1);
    const effects = r.step({ kind: 'message', msg: { ...vote('prepare', 0, 0n, 1n, sha256(new Uint8Array([1]))), from: 4 } }, 1);
    expect(effects).toEqual([]);
  });

  test('a restarted replica never signs a second digest for a (height, view) it already voted in', () => {
    const first = replica(1);
    first.step({ kind: 'message', msg: propose(0, 0n, 1n, new Uint8Array([1])) }, 1);
    const saved = first.safety();
    expect(saved.lastPrepare?.height).toBe(1n);
    const restarted = replica(1, saved);
    // An equivocating leader offers the restarted replica a different block for the same slot.
    const effects = restarted.step({ kind: 'message', msg: propose(0, 0n, 1n, new Uint8Array([2])) }, 2);
    expect(broadcasts(effects)).not.toContain('prepare');
  });

  test('a flood of votes for far views and proposals for far heights stays bounded', () => {
    const r = replica(1);
    for (let i = 0; i < 400; i++) {
      const digest = sha256(new Uint8Array([i & 0xff, i >> 8]));
      r.step({ kind: 'message', msg: vote('commit', 3, BigInt(i), 1n, digest) }, i);
      r.step({ kind: 'message', msg: vote('prepare', 3, 0n, BigInt(10 + i), digest) }, i);
    }
    const m = r.memory();
    expect(m.votes).toBeLessThanOrEqual(65);
    expect(m.buffered).toBeLessThanOrEqual(64);
  });
});

describe('an observer (self = -1): follows, never signs', () => {
  const observer = (): Replica => {
    const r = new Replica({ n: 4, self: -1, chain, progressTimeoutMs: 1000, statusIntervalMs: 1000 }, app, validatorCrypto(publicKeys, null), { committedHeight: 0n, lastCert: null, safety: null });
    expect(r.observer).toBe(true);
    return r;
  };
  const status = (from: number, height: bigint, signer = from) => ({
    kind: 'status' as const,
    view: 0n,
    height,
    from,
    sig: crypto(signer).sign(signingBytes(chain, { kind: 'status', view: 0n, height, from })),
  });

  test('a member deciding a later height turns into a catch-up request from that member', () => {
    const r = observer();
    expect(r.step({ kind: 'start' }, 0).map((e) => e.kind)).toEqual(['set-timer']);
    expect(r.step({ kind: 'message', msg: status(2, 5n) }, 1)).toEqual([{ kind: 'sync', height: 4n, peers: [2] }]);
    expect(r.step({ kind: 'message', msg: propose(0, 0n, 3n, new Uint8Array([1])) }, 2)).toEqual([{ kind: 'sync', height: 2n, peers: [0] }]);
    // Nothing about the height it is at, a forged signature is a fault, a non-member is ignored.
    expect(r.step({ kind: 'message', msg: propose(0, 0n, 1n, new Uint8Array([1])) }, 3)).toEqual([]);
    expect(r.step({ kind: 'message', msg: status(2, 9n, 3) }, 4).map((e) => e.kind)).toEqual(['fault']);
    expect(r.step({ kind: 'message', msg: { ...status(2, 9n), from: 4 } }, 5)).toEqual([]);
  });

  test('it never signs or proposes, and commits a certified block', () => {
    const r = observer();
    const effects = [
      ...r.step({ kind: 'start' }, 0),
      ...r.step({ kind: 'pending', count: 10 }, 1),
      ...r.step({ kind: 'timer', name: 'status' }, 2),
      ...r.step({ kind: 'timer', name: 'progress' }, 3),
    ];
    expect(effects.filter((e) => e.kind !== 'set-timer')).toEqual([]);
    const payload = new Uint8Array([4, 2]);
    const digest = sha256(payload);
    const sigs = [0, 1, 2].map((from) => ({ from, sig: crypto(from).sign(commitSigningBytes(chain, 1n, 0n, digest)) }));
    const done = r.step({ kind: 'certified', payload, cert: { height: 1n, view: 0n, digest, sigs } }, 4);
    expect(done.map((e) => e.kind)).toContain('commit');
    expect(r.height).toBe(2n);
    // A certificate short of q does not commit.
    const short = r.step({ kind: 'certified', payload, cert: { height: 2n, view: 0n, digest, sigs: sigs.slice(0, 2).map((s) => ({ ...s })) } }, 5);
    expect(short.map((e) => e.kind)).not.toContain('commit');
  });

  test('at the first height of a new validator set, view changes carrying the outgoing set\'s certificate are valid', () => {
    // Blocks 1..10 were certified by the genesis set (`keys`); a hand-over brings in a set of five.
    const next = [...keys, generateKeyPair('ES256K')];
    const nextKeys = next.map((k) => k.publicKey);
    const nextChain: ChainBinding = { ...chain, validatorSetHash: sha256(new TextEncoder().encode('set-2')) };
    const nextCrypto = (i: number) => validatorCrypto(nextKeys, next[i]!.privateKey);
    const digest = sha256(new Uint8Array([10]));
    const lastCert = { height: 10n, view: 0n, digest, sigs: [0, 1, 2].map((from) => ({ from, sig: crypto(from).sign(commitSigningBytes(chain, 10n, 0n, digest)) })) };
    // Replica 1 leads view 1 of the new set.
    const r = new Replica({ n: 5, self: 1, chain: nextChain, progressTimeoutMs: 1000, statusIntervalMs: 1000 }, app, nextCrypto(1), { committedHeight: 10n, lastCert, safety: null });
    r.step({ kind: 'start' }, 0);
    const effects: Effect[] = [];
    for (const from of [0, 2, 3, 4]) {
      const body = { kind: 'view-change' as const, view: 1n, height: 11n, lastCert, prepared: null };
      const sig = nextCrypto(from).sign(signingBytes(nextChain, { ...body, from }));
      effects.push(...r.step({ kind: 'message', msg: { ...body, from, sig } }, 10 + from));
    }
    expect(effects.filter((e) => e.kind === 'fault')).toEqual([]);
    expect(broadcasts(effects)).toContain('new-view');
    expect(r.view).toBe(1n);
    expect(r.changing).toBe(false);
    // A certificate for that height with another digest still needs valid signatures, and has none here.
    const forged = { ...lastCert, digest: sha256(new Uint8Array([11])) };
    const body = { kind: 'view-change' as const, view: 2n, height: 11n, lastCert: forged, prepared: null };
    const sig = nextCrypto(4).sign(signingBytes(nextChain, { ...body, from: 4 }));
    expect(r.step({ kind: 'message', msg: { ...body, from: 4, sig } }, 20).map((e) => e.kind)).toEqual(['fault']);
  });
});
