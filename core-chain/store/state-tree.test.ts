import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { BlockStore } from './blocks.ts';
import { makeBlock } from './fixtures/chain.ts';
import { LoulanError } from '../errors.ts';
import { State, StateOverlay } from '../ledger/state.ts';
import { hashStateKey, hashStateValue, verifySparseProof } from '../smt/proof.ts';

const te = new TextEncoder();

async function rejection(promise: Promise<unknown>): Promise<LoulanError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError');
}

let root: string;
let dir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'loulan-smt-store-'));
  dir = join(root, 'blocks');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Block h's state writes, applied to `state` the way the ledger does: preview, then apply. */
function advance(state: State, height: bigint): ReturnType<State['preview']> {
  const overlay = new StateOverlay(state);
  for (let i = 0; i < 40; i++) overlay.put(`acct/${(Number(height) * 7 + i) % 97}`, te.encode(`balance ${height}/${i}`));
  overlay.delete(`acct/${Number(height) % 97}`);
  overlay.delete(`genesis/${height}`);
  const change = state.preview(overlay);
  state.apply(change);
  return change;
}

async function commitChain(store: BlockStore, state: State, from: bigint, to: bigint, genesis: readonly (readonly [string, Uint8Array])[] = []): Promise<void> {
  for (let h = from; h <= to; h++) {
    const change = advance(state, h);
    const touched = new Set([...change.puts.map(([k]) => k), ...change.deletes]);
    const puts = h === 1n ? [...genesis.filter(([k]) => !touched.has(k)), ...change.puts] : change.puts;
    await store.commitBlock({ ...makeBlock(h, 0), statePuts: puts, stateDeletes: change.deletes });
  }
}

const genesisEntries = Array.from({ length: 30 }, (_, i) => [`genesis/${i}`, te.encode(`g${i}`)] as const);

function checkProofs(state: State): void {
  for (let i = 0; i < 110; i++) {
    for (const key of [`acct/${i}`, `genesis/${i}`]) {
      const value = state.get(key);
      verifySparseProof(state.root(), hashStateKey(key), value === undefined ? null : hashStateValue(value), state.prove(key));
    }
  }
}

describe('the state tree in the block store', () => {
  it('persists each commit\'s node writes; a reopened store loads the same tree and proofs', async () => {
    let store = await BlockStore.open(dir);
    const state = State.fromEntries(genesisEntries);
    store.trackState(state);
    await commitChain(store, state, 1n, 12n, genesisEntries);
    await store.close();

    store = await BlockStore.open(dir);
    const loaded = await store.openState(state.root());
    expect(loaded.root()).toEqual(state.root());
    expect(loaded.entries()).toEqual(state.entries());
    for (const key of ['acct/3', 'acct/96', 'genesis/20', 'absent']) expect(loaded.prove(key)).toEqual(state.prove(key));
    checkProofs(loaded);

    // The loaded state keeps persisting: commit more, reopen again.
    await commitChain(store, loaded, 13n, 20n);
    await store.close();
    store = await BlockStore.open(dir);
    const again = await store.openState(loaded.root());
    expect(again.root()).toEqual(State.fromEntries(loaded.entries()).root());
    checkProofs(again);
    await store.close();
  });

  it('refuses to load a tree that does not match the root, or whose nodes were tampered with', async () => {
    let store = await BlockStore.open(dir);
    const state = State.fromEntries(genesisEntries);
    store.trackState(state);
    await commitChain(store, state, 1n, 5n, genesisEntries);
    await store.close();

    store = await BlockStore.open(dir);
    const wrong = state.root().slice();
    wrong[0] = wrong[0]! ^ 1;
    expect(await rejection(store.openState(wrong))).toMatchObject({ code: 'STORE_CORRUPT', details: { key: '000' } });
    await store.close();

    // Flip one byte of one stored node (raw LevelDB, bypassing the store).
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    const smt = db.sublevel<string, Uint8Array>('smt', { keyEncoding: 'utf8', valueEncoding: 'view' });
    const keys = await smt.keys().all();
    const victim = keys[Math.floor(keys.length / 2)]!;
    const bytes = new Uint8Array((await smt.get(victim))!);
    bytes[64] = bytes[64]! ^ 0x40;
    await smt.put(victim, bytes);
    await db.close();

    store = await BlockStore.open(dir);
    expect(await rejection(store.openState(state.root()))).toMatchObject({ code: 'STORE_CORRUPT' });
    await store.close();
  });

  it('refuses a store whose entries and tree disagree in size', async () => {
    let store = await BlockStore.open(dir);
    const state = State.fromEntries(genesisEntries);
    store.trackState(state);
    await commitChain(store, state, 1n, 3n, genesisEntries);
    await store.close();
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.sublevel<string, Uint8Array>('state', { keyEncoding: 'utf8', valueEncoding: 'view' }).put('stray', Uint8Array.of(1));
    await db.close();
    store = await BlockStore.open(dir);
    expect(await rejection(store.openState(state.root()))).toMatchObject({ code: 'STORE_CORRUPT', details: { key: 'state' } });
    await store.close();
  });

  it('a snapshot install writes the whole tree, replacing the old one', async () => {
    const source = await BlockStore.open(join(root, 'source'));
    const state = State.fromEntries(genesisEntries);
    source.trackState(state);
    await commitChain(source, state, 1n, 8n, genesisEntries);
    const snap = await source.readSnapshot();
    await source.close();

    // The target has a shorter chain of its own, with other nodes stored.
    let target = await BlockStore.open(dir);
    const own = State.fromEntries([['other', Uint8Array.of(1)]]);
    target.trackState(own);
    await commitChain(target, own, 1n, 2n, [['other', Uint8Array.of(1)]]);
    await target.writeSnapshot(snap);
    await target.close();

    target = await BlockStore.open(dir);
    const loaded = await target.openState(state.root());
    expect(loaded.root()).toEqual(state.root());
    checkProofs(loaded);
    await target.close();
  });
});
