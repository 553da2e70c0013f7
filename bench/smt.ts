/**
 * State-tree costs (`npm run bench:smt`): build a 100,000-entry tree, then preview + apply batches of
 * 12,000 changes (updates, inserts and deletes mixed), the node writes a commit takes, proof generation
 * and verification, and memory. The tree's inputs are keyHash → valueHash, as the ledger hands them over
 * after hashing keys and values; a last line adds that hashing (State.preview on string keys).
 */
import { sha256 } from '../core-chain/crypto/hash.ts';
import { State, StateOverlay } from '../core-chain/ledger/state.ts';
import { verifySparseProof } from '../core-chain/smt/proof.ts';
import { SparseMerkleTree, type TreeChange } from '../core-chain/smt/tree.ts';

const N = 100_000;
const BATCH = 12_000;
const ROUNDS = 8;
const te = new TextEncoder();
const keyHash = (i: number): Uint8Array => sha256(te.encode(`acct/${i}`));
const valueHash = (i: number, round: number): Uint8Array => sha256(te.encode(`balance ${i}/${round}`));
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

// A small deterministic generator, so runs are comparable.
let seed = 42;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
  return seed % n;
};

globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
let t0 = performance.now();
const tree = SparseMerkleTree.fromLeaves(Array.from({ length: N }, (_, i) => [keyHash(i), valueHash(i, 0)] as const));
console.log(`build ${N} entries: ${(performance.now() - t0).toFixed(0)} ms (incl. hashing keys and values)`);
globalThis.gc?.();
console.log(`heap for the tree: ~${mb(process.memoryUsage().heapUsed - heapBefore)}, rss ${mb(process.memoryUsage().rss)}`);

let next = N;
const live = Array.from({ length: N }, (_, i) => i);
const times: number[] = [];
let hashes = 0;
let hashMs = 0;
for (let round = 1; round <= ROUNDS; round++) {
  // 70% updates of live keys, 20% inserts, 10% deletes.
  const changes: TreeChange[] = [];
  for (let j = 0; j < BATCH; j++) {
    const r = rand(10);
    if (r < 7) changes.push([keyHash(live[rand(live.length)]!), valueHash(j, round)]);
    else if (r < 9) {
      live.push(next);
      changes.push([keyHash(next++), valueHash(j, round)]);
    } else {
      const at = rand(live.length);
      changes.push([keyHash(live[at]!), null]);
      live[at] = live[live.length - 1]!;
      live.pop();
    }
  }
  t0 = performance.now();
  const update = tree.preview(changes);
  tree.apply(update);
  const ms = performance.now() - t0;
  times.push(ms);
  hashes += update.hashes;
  hashMs += ms;
  const w0 = performance.now();
  const writes = tree.takeWrites();
  const wms = performance.now() - w0;
  console.log(`batch ${round}: preview+apply ${ms.toFixed(1)} ms, ${update.hashes} node hashes; takeWrites ${writes.length} writes in ${wms.toFixed(1)} ms`);
}
times.sort((a, b) => a - b);
console.log(`12,000-change batch on a ${N}-entry tree: median ${times[times.length >> 1]!.toFixed(1)} ms, best ${times[0]!.toFixed(1)} ms`);
console.log(`node hashes per second inside preview: ${((hashes / hashMs) * 1000).toFixed(0)}`);

const probes = Array.from({ length: 20_000 }, (_, i) => keyHash(rand(next + 1000) + (i % 2) * 0));
t0 = performance.now();
const proofs = probes.map((k) => tree.prove(k));
const proveMs = performance.now() - t0;
const root = tree.root();
t0 = performance.now();
for (let i = 0; i < probes.length; i++) {
  const p = proofs[i]!;
  const k = probes[i]!;
  const present = p.leaf !== null && p.leaf.keyHash.every((b, j) => b === k[j]);
  verifySparseProof(root, k, present ? p.leaf!.valueHash : null, p);
}
const verifyMs = performance.now() - t0;
console.log(`proofs: ${((probes.length / proveMs) * 1000).toFixed(0)} generated/s, ${((probes.length / verifyMs) * 1000).toFixed(0)} verified/s (avg ${(proofs.reduce((n, p) => n + p.siblings.length, 0) / proofs.length).toFixed(1)} siblings)`);

// The same batch size through State (string keys and values hashed inside preview).
const state = State.fromEntries(Array.from({ length: N }, (_, i) => [`acct/${i}`, te.encode(`balance ${i}`)] as const));
const overlay = new StateOverlay(state);
for (let j = 0; j < BATCH; j++) overlay.put(`acct/${rand(N + BATCH)}`, te.encode(`balance ${j}/x`));
t0 = performance.now();
state.apply(state.preview(overlay));
console.log(`State.preview+apply of ${overlay.size} writes (keys and values hashed too): ${(performance.now() - t0).toFixed(1)} ms`);
console.log(`memory: heapUsed ${mb(process.memoryUsage().heapUsed)}, rss ${mb(process.memoryUsage().rss)}`);
