import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256, toHex } from '../crypto/hash.ts';
import { hashStateKey, hashStateValue, verifySparseProof } from '../smt/proof.ts';
import { MAX_KEY_LENGTH, State, StateOverlay } from './state.ts';
import { codeOf } from './testkit.ts';

const key = fc.stringMatching(/^[a-z]{1,3}\/[a-z0-9]{0,6}$/);
const value = fc.uint8Array({ maxLength: 24 });
type Op = { kind: 'put'; key: string; value: Uint8Array } | { kind: 'delete'; key: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key, value }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);

function applyOps(state: State, ops: readonly Op[]): void {
  const overlay = new StateOverlay(state);
  for (const o of ops) {
    if (o.kind === 'put') overlay.put(o.key, o.value);
    else overlay.delete(o.key);
  }
  state.apply(state.preview(overlay));
}

function model(start: Map<string, Uint8Array>, ops: readonly Op[]): Map<string, Uint8Array> {
  const m = new Map(start);
  for (const o of ops) {
    if (o.kind === 'put') m.set(o.key, o.value);
    else m.delete(o.key);
  }
  return m;
}

const hexEntries = (entries: readonly (readonly [string, Uint8Array])[]): [string, string][] => entries.map(([k, v]) => [k, toHex(v)]);

describe('state root (sparse Merkle tree)', () => {
  it('the empty state has the ZERO root; a one-entry root is its leaf hash', () => {
    expect(new State().root()).toEqual(new Uint8Array(32));
    const value = Uint8Array.of(1, 2, 3);
    const leaf = new Uint8Array(65);
    leaf.set(sha256(new TextEncoder().encode('a/k')), 1);
    leaf.set(sha256(value), 33);
    expect(State.fromEntries([['a/k', value]]).root()).toEqual(sha256(leaf));
  });

  it('proves present keys and absent keys against its root', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), key, (ops, probe) => {
        const state = State.fromEntries([['seed/0', Uint8Array.of(0)]]);
        applyOps(state, ops);
        for (const k of [...state.entries().map(([k]) => k), probe]) {
          const v = state.get(k);
          verifySparseProof(state.root(), hashStateKey(k), v === undefined ? null : hashStateValue(v), state.prove(k));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('incremental updates give the same root as recomputing from the entries', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 12 }), { maxLength: 6 }), (blocks) => {
        const state = new State();
        let expected = new Map<string, Uint8Array>();
        for (const ops of blocks) {
          applyOps(state, ops);
          expected = model(expected, ops);
        }
        expect(hexEntries(state.entries())).toEqual(hexEntries([...expected].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
        expect(state.root()).toEqual(State.fromEntries(expected).root());
      }),
      { numRuns: 200 },
    );
  });

  it('does not depend on insertion order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: (e) => e[0], maxLength: 20 }), fc.nat(), (entries, seed) => {
        const shuffled = [...entries].sort((a, b) => ((toHex(sha256(new TextEncoder().encode(a[0] + seed))) < toHex(sha256(new TextEncoder().encode(b[0] + seed)))) ? -1 : 1));
        expect(State.fromEntries(entries).root()).toEqual(State.fromEntries(shuffled).root());
      }),
      { numRuns: 100 },
    );
  });

  it('distinguishes contents: a changed value, a missing entry, a moved key/value boundary', () => {
    const a = State.fromEntries([['ab', Uint8Array.of(1)]]);
    expect(a.root()).not.toEqual(State.fromEntries([['ab', Uint8Array.of(2)]]).root());
    expect(a.root()).not.toEqual(new State().root());
    expect(a.root()).not.toEqual(State.fromEntries([['a', Uint8Array.of(0x62, 1)]]).root());
    // An empty value is an entry; an absent key is not.
    expect(State.fromEntries([['k', new Uint8Array(0)]]).root()).not.toEqual(new State().root());
  });

  it('entries → fromEntries reproduces the state and its root (snapshots)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const state = new State();
        applyOps(state, ops);
        const copy = State.fromEntries(state.entries());
        expect(copy.root()).toEqual(state.root());
        expect(copy.size).toBe(state.size);
      }),
      { numRuns: 100 },
    );
  });

  it('a key listed twice in a snapshot keeps the last value, and the root says so', () => {
    const s = State.fromEntries([
      ['k', Uint8Array.of(1)],
      ['k', Uint8Array.of(2)],
    ]);
    expect(s.root()).toEqual(State.fromEntries([['k', Uint8Array.of(2)]]).root());
    expect(s.size).toBe(1);
  });
});

describe('overlays', () => {
  it('read through to the parent, buffer writes, and leave the parent alone until applied', () => {
    const state = State.fromEntries([['a/x', Uint8Array.of(1)], ['a/y', Uint8Array.of(2)]]);
    const root = state.root();
    const o = new StateOverlay(state);
    expect(o.get('a/x')).toEqual(Uint8Array.of(1));
    o.put('a/x', Uint8Array.of(9));
    o.delete('a/y');
    o.put('a/z', Uint8Array.of(3));
    o.delete('a/never');
    expect(o.get('a/x')).toEqual(Uint8Array.of(9));
    expect(o.get('a/y')).toBeUndefined();
    expect(state.get('a/x')).toEqual(Uint8Array.of(1));
    expect(state.root()).toEqual(root);
    const diff = o.diff();
    expect(hexEntries(diff.puts)).toEqual([['a/x', '09'], ['a/z', '03']]);
    expect(diff.deletes).toEqual(['a/y']);
    const change = state.preview(o);
    expect(change.puts).toEqual(diff.puts);
    expect(change.deletes).toEqual(diff.deletes);
    state.apply(change);
    expect(state.root()).toEqual(change.root);
    expect(hexEntries(state.entries())).toEqual([['a/x', '09'], ['a/z', '03']]);
  });

  it('nest: a child merged into its parent, or cleared (a failed transaction)', () => {
    const state = new State();
    const block = new StateOverlay(state);
    const tx = new StateOverlay(block);
    tx.put('k', Uint8Array.of(1));
    expect(block.get('k')).toBeUndefined();
    tx.mergeInto(block);
    expect(block.get('k')).toEqual(Uint8Array.of(1));
    tx.put('k', Uint8Array.of(2));
    tx.delete('k');
    tx.clear();
    expect(block.get('k')).toEqual(Uint8Array.of(1));
    expect(tx.size).toBe(0);
  });

  it('a change applies only to the state and version it was computed on', () => {
    const state = new State();
    const o = new StateOverlay(state);
    o.put('k', Uint8Array.of(1));
    const change = state.preview(o);
    state.apply(change);
    expect(codeOf(() => state.apply(change))).toBe('INTERNAL');
    expect(codeOf(() => new State().preview(o))).toBe('INTERNAL');
  });

  it('refuses oversized keys and values in snapshots', () => {
    expect(codeOf(() => State.fromEntries([['k'.repeat(MAX_KEY_LENGTH + 1), Uint8Array.of(1)]]))).toBe('CONTRACT_STATE_LIMIT');
    expect(codeOf(() => State.fromEntries([['', Uint8Array.of(1)]]))).toBe('CONTRACT_STATE_LIMIT');
    expect(codeOf(() => State.fromEntries([['k', new Uint8Array(64 * 1024 + 1)]]))).toBe('CONTRACT_STATE_LIMIT');
  });
});
