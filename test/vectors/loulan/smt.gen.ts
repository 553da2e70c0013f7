/**
 * Generator of `smt.json`: state-tree proof vectors for the Solidity and Go verifiers. Everything is
 * derived from fixed keys and values, so the output is byte-for-byte reproducible; `smt.test.ts` fails
 * when the committed file is stale. Each case states the outcome it was built to have, and generation
 * stops if our own verifier disagrees (a vector never records a bug as expected behaviour).
 */
import { hashStateKey, hashStateValue, isZero, pathBit, proofToJson, verifySparseProof, ZERO, type SparseProof, type SparseProofJson } from '../../../core-chain/smt/proof.ts';
import { SparseMerkleTree } from '../../../core-chain/smt/tree.ts';
import { sha256, toHex } from '../../../core-chain/crypto/hash.ts';
import { LoulanError } from '../../../core-chain/errors.ts';

export interface SmtCase {
  readonly name: string;
  readonly root: string;
  readonly keyHash: string;
  readonly valueHash: string | null;
  readonly proof: SparseProofJson;
  readonly expect: 'ok' | { readonly code: string };
}

export interface SmtVectors {
  readonly description: string;
  readonly spec: string;
  readonly cases: readonly SmtCase[];
}

const te = new TextEncoder();
const SPEC =
  'Binary tree of depth 256 over keyHash = SHA-256(UTF-8 state key); path bit i is bit i of keyHash, most significant bit of byte 0 first, bit 0 selects the child of the root (0 = left). valueHash = SHA-256(value bytes). Leaf hash = SHA-256(0x00 || keyHash || valueHash); internal node hash = SHA-256(0x01 || left || right); an empty subtree is 32 zero bytes (ZERO) and the empty tree\'s root is ZERO. A subtree holding exactly one leaf is that leaf, placed at the shallowest depth where it is alone, so no internal node has (leaf, ZERO), (ZERO, leaf) or (ZERO, ZERO) children. A proof is { leaf: {keyHash, valueHash} | null, siblings: [hash, ...] } with siblings[i] the sibling at depth i+1 on keyHash\'s path, from the root down; valueHash null asks for non-inclusion. Verifiers reject: any hash not 32 bytes (CODEC_LENGTH), root ZERO (PROOF_ZERO_ROOT), more than 256 siblings or a non-canonical depth (a leaf end whose deepest sibling is ZERO, unless there are no siblings; an empty end with no siblings or a ZERO deepest sibling) (PROOF_BAD_DEPTH), inclusion without the key\'s leaf (PROOF_LEAF_MISMATCH) or with another value (PROOF_VALUE_MISMATCH), non-inclusion ending in the key\'s own leaf (PROOF_KEY_PRESENT) or in a leaf not sharing the first siblings.length bits with keyHash (PROOF_LEAF_MISMATCH), and a recomputed root that differs (PROOF_ROOT_MISMATCH).';

function outcome(root: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | null, proof: SparseProof): 'ok' | { code: string } {
  try {
    verifySparseProof(root, keyHash, valueHash, proof);
    return 'ok';
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code };
    throw error;
  }
}

export function generateSmtVectors(): SmtVectors {
  const entries = Array.from({ length: 24 }, (_, i) => [hashStateKey(`vector/${i}`), hashStateValue(te.encode(`value ${i}`))] as const);
  const tree = SparseMerkleTree.fromLeaves(entries);
  const root = tree.root();
  const cases: SmtCase[] = [];
  const add = (name: string, r: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | null, proof: SparseProof, expect: 'ok' | string): void => {
    const want = expect === 'ok' ? 'ok' : { code: expect };
    const got = outcome(r, keyHash, valueHash, proof);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`vector ${name}: built to give ${JSON.stringify(want)}, the verifier says ${JSON.stringify(got)}`);
    cases.push({ name, root: toHex(r), keyHash: toHex(keyHash), valueHash: valueHash === null ? null : toHex(valueHash), proof: proofToJson(proof), expect: want });
  };

  // Pick a present key with a deep path, and absent keys ending in an empty subtree and in another leaf.
  const [k0, v0] = entries.reduce((best, e) => (tree.prove(e[0]).siblings.length > tree.prove(best[0]).siblings.length ? e : best));
  const p0 = tree.prove(k0);
  let emptyEnd: Uint8Array | null = null;
  let leafEnd: Uint8Array | null = null;
  for (let i = 0; emptyEnd === null || leafEnd === null; i++) {
    const k = hashStateKey(`absent/${i}`);
    const p = tree.prove(k);
    if (p.leaf === null) emptyEnd ??= k;
    else leafEnd ??= k;
  }
  const pEmpty = tree.prove(emptyEnd);
  const pLeaf = tree.prove(leafEnd);

  add('inclusion', root, k0, v0, p0, 'ok');
  add('non-inclusion, path ends in an empty subtree', root, emptyEnd, null, pEmpty, 'ok');
  add('non-inclusion, path ends in another key\'s leaf', root, leafEnd, null, pLeaf, 'ok');
  const single = SparseMerkleTree.fromLeaves([entries[0]!]);
  add('single-entry tree: inclusion (root is the leaf, no siblings)', single.root(), entries[0]![0], entries[0]![1], single.prove(entries[0]![0]), 'ok');
  add('single-entry tree: non-inclusion ends in the one leaf', single.root(), k0, null, single.prove(k0), 'ok');

  const flipped = p0.siblings.map((s) => s.slice());
  flipped[0]![31] = flipped[0]![31]! ^ 1;
  add('a bit flipped in a sibling', root, k0, v0, { ...p0, siblings: flipped }, 'PROOF_ROOT_MISMATCH');
  add('the first sibling dropped', root, k0, v0, { ...p0, siblings: p0.siblings.slice(1) }, isZero(p0.siblings.at(-1)!) ? 'PROOF_BAD_DEPTH' : 'PROOF_ROOT_MISMATCH');
  add('a ZERO sibling added below the leaf', root, k0, v0, { ...p0, siblings: [...p0.siblings, ZERO] }, 'PROOF_BAD_DEPTH');
  add('another key\'s leaf swapped in', root, k0, v0, { ...p0, leaf: pLeaf.leaf }, 'PROOF_LEAF_MISMATCH');
  add('inclusion claimed with another value', root, k0, sha256(te.encode('forged')), p0, 'PROOF_VALUE_MISMATCH');
  add('non-inclusion claimed for a present key', root, k0, null, p0, 'PROOF_KEY_PRESENT');
  add('inclusion claimed for an absent key', root, emptyEnd, v0, pEmpty, 'PROOF_LEAF_MISMATCH');
  let shared = 0;
  while (pathBit(k0, shared) === pathBit(emptyEnd, shared)) shared++;
  if (shared < pEmpty.siblings.length) add('non-inclusion ending in a leaf off the key\'s path', root, emptyEnd, null, { ...pEmpty, leaf: p0.leaf }, 'PROOF_LEAF_MISMATCH');

  // An internal node on k0's path, presented as a leaf (its children as keyHash and valueHash): the
  // deepest one whose proof would still have a canonical depth, so only the 0x00/0x01 split stops it.
  let d = p0.siblings.length - 1;
  while (d > 0 && isZero(p0.siblings[d - 1]!)) d--;
  const input = new Uint8Array(65);
  input.set(k0, 1);
  input.set(v0, 33);
  let own = sha256(input);
  input[0] = 1;
  for (let i = p0.siblings.length - 1; i > d; i--) {
    input.set(pathBit(k0, i) === 0 ? own : p0.siblings[i]!, 1);
    input.set(pathBit(k0, i) === 0 ? p0.siblings[i]! : own, 33);
    own = sha256(input);
  }
  const [left, right] = pathBit(k0, d) === 0 ? [own, p0.siblings[d]!] : [p0.siblings[d]!, own];
  add('an internal node presented as a leaf', root, left, right, { leaf: { keyHash: left, valueHash: right }, siblings: p0.siblings.slice(0, d) }, 'PROOF_ROOT_MISMATCH');

  add('the ZERO root', ZERO, k0, v0, p0, 'PROOF_ZERO_ROOT');
  add('257 siblings', root, k0, v0, { ...p0, siblings: Array.from({ length: 257 }, () => p0.siblings[0]!) }, 'PROOF_BAD_DEPTH');
  add('an empty end with no siblings', root, emptyEnd, null, { leaf: null, siblings: [] }, 'PROOF_BAD_DEPTH');
  add('an empty end beside a ZERO sibling', root, emptyEnd, null, { leaf: null, siblings: [...pEmpty.siblings, ZERO] }, 'PROOF_BAD_DEPTH');
  add('a 31-byte sibling', root, k0, v0, { ...p0, siblings: [p0.siblings[0]!.subarray(1), ...p0.siblings.slice(1)] }, 'CODEC_LENGTH');

  return {
    description: 'Loulan state-tree (compressed sparse Merkle tree) proof vectors, generated by test/vectors/loulan/smt.gen.ts from fixed keys "vector/0".."vector/23" with values "value <i>"; our own vectors, not copied from any published source.',
    spec: SPEC,
    cases,
  };
}

/** The file's exact bytes: two-space JSON and a final newline. */
export function renderSmtVectors(): string {
  return `${JSON.stringify(generateSmtVectors(), null, 2)}\n`;
}
