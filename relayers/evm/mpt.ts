/**
 * Merkle-Patricia inclusion proofs (the Ethereum "hexary trie"), checked synchronously and without a
 * trie database: the verifier walks the proof nodes from the root, each node found by its keccak-256
 * reference in its parent, consuming the key's nibbles, and returns the value at the end.
 *
 * Written here rather than taken from @ethereumjs/mpt (which builds the proofs on the adapter side)
 * because the core chain calls this verifier inside deterministic execution: it must be synchronous,
 * allocate no database, and report every defect with a stable reason. The two are cross-checked in
 * the tests on real receipts tries.
 *
 * Node shapes (Yellow Paper appendix D): a branch is a 17-item list (16 children and a value), a leaf
 * or an extension a 2-item list whose first item is the hex-prefix encoded path (flag nibble: bit 1
 * leaf, bit 0 odd length). A child reference is the 32-byte keccak of the child's RLP, or the child
 * itself inlined when its RLP is shorter than 32 bytes.
 */
import { RLP } from '@ethereumjs/rlp';
import { LoulanError, equalBytes, keccak256 } from '../../core-chain/index.ts';

type Rlp = Uint8Array | Rlp[];

/** Why a proof failed; `details.reason` of EVM_PROOF_INVALID. */
export type ProofFailure = 'missing-node' | 'node-hash' | 'node-rlp' | 'path' | 'extra-node' | 'value';

/**
 * The value stored under `key` in the trie with root `root`, proven by `proof` (the RLP nodes from
 * the root down, as `eth_getProof` and @ethereumjs/mpt's `createMerkleProof` list them). Throws
 * EVM_PROOF_INVALID when the proof does not lead to a value for exactly this key.
 */
export function mptProvenValue(root: Uint8Array, key: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  const nibbles = toNibbles(key);
  let at = 0;
  let used = 0;
  let ref: Rlp = root;
  for (;;) {
    let node: Rlp;
    if (ref instanceof Uint8Array) {
      if (ref.length !== 32) fail('node-rlp', used, 'a child reference is neither a hash nor an inlined node');
      const raw = proof[used];
      if (raw === undefined) fail('missing-node', used, 'the proof ends before the key does');
      if (!equalBytes(keccak256(raw), ref)) fail('node-hash', used, 'a node does not hash to its reference');
      node = decode(raw, used);
      used++;
    } else {
      node = ref;
      // Some provers (@ethereumjs/mpt) list an inlined node again as a proof entry of its own.
      const raw = proof[used];
      if (raw !== undefined && raw.length < 32 && equalBytes(raw, RLP.encode(node))) used++;
    }
    if (!Array.isArray(node)) fail('node-rlp', used, 'a trie node is not a list');
    if (node.length === 17) {
      if (at === nibbles.length) return finish(node[16], used, proof.length);
      const child = node[nibbles[at] as number] as Rlp;
      at++;
      if (child instanceof Uint8Array && child.length === 0) fail('path', used, 'the key is not in the trie (empty branch slot)');
      ref = child;
      continue;
    }
    if (node.length !== 2) fail('node-rlp', used, `a trie node has ${node.length} items`);
    const [encodedPath, next] = node as [Rlp, Rlp];
    if (!(encodedPath instanceof Uint8Array) || encodedPath.length === 0) fail('node-rlp', used, 'a path is not a byte string');
    const flag = (encodedPath[0] as number) >> 4;
    if (flag > 3) fail('node-rlp', used, 'bad hex-prefix flag');
    const path = toNibbles(encodedPath).slice(flag & 1 ? 1 : 2);
    for (let i = 0; i < path.length; i++) {
      if (nibbles[at + i] !== path[i]) fail('path', used, 'the key leaves the proven path');
    }
    at += path.length;
    if (flag >= 2) {
      if (at !== nibbles.length) fail('path', used, 'the proof ends in a leaf of another key');
      return finish(next, used, proof.length);
    }
    ref = next;
  }
}

function finish(value: Rlp | undefined, used: number, total: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0) fail('path', used, 'no value is stored under the key');
  if (used !== total) fail('extra-node', used, `${total - used} proof node(s) left over`);
  return value;
}

function decode(raw: Uint8Array, node: number): Rlp {
  try {
    return RLP.decode(raw) as Rlp;
  } catch (cause) {
    fail('node-rlp', node, 'a proof node is not RLP', cause);
  }
}

function toNibbles(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (const b of bytes) out.push(b >> 4, b & 15);
  return out;
}

function fail(reason: ProofFailure, node: number, message: string, cause?: unknown): never {
  throw new LoulanError('EVM_PROOF_INVALID', `receipt proof: ${message}`, { details: { reason, node }, cause });
}
