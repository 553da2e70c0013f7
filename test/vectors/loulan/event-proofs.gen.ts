/**
 * Generates event-proofs.json: RFC 6962 inclusion of an encoded event under a header's eventsRoot,
 * with the tree size taken from the header's eventCount. The headers here are not certified (that
 * is headers.json's business): the proof is checked against a header the verifier already trusts.
 */
import { toHex } from '../../../core-chain/crypto/hash.ts';
import { emptyRoot, inclusionProof, leafHash, merkleRoot, nodeHash } from '../../../core-chain/crypto/merkle.ts';
import { encodeHeader, type Header } from '../../../core-chain/ledger/block.ts';
import { encodeEvent } from '../../../core-chain/ledger/events.ts';
import { CHAIN_ID, filler, header, SPEC_COMMON, stringify, vectorSet, type Expect } from './kit.ts';

export const FILE = 'test/vectors/loulan/event-proofs.json';

interface Case {
  name: string;
  input: { header: string; event: string; index: number; path: string[] };
  expect: Expect;
}

const te = new TextEncoder();

/** The encoded events of a block with `count` events. */
function events(count: number, height: bigint): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    encodeEvent({ contract: 'asset', type: i % 3 === 2 ? 'mint' : 'transfer', tx: Math.floor(i / 2), data: te.encode(`{"height":"${height}","n":${i}}`) }),
  );
}

export function generate(): string {
  const A = vectorSet(['a0', 'a1', 'a2', 'a3']);
  const blocks = new Map<number, { header: Header; events: Uint8Array[] }>();
  for (const size of [1, 2, 3, 5, 7, 8, 13]) {
    const height = BigInt(100 + size);
    const evs = events(size, height);
    blocks.set(size, { events: evs, header: header(height, A, { eventCount: size, eventsRoot: merkleRoot(evs) }) });
  }
  const block = (size: number) => blocks.get(size) as { header: Header; events: Uint8Array[] };
  const cases: Case[] = [];
  const add = (name: string, h: Header, event: Uint8Array, index: number, path: Uint8Array[], expect: Expect): void => {
    cases.push({ name, input: { header: toHex(encodeHeader(h)), event: toHex(event), index, path: path.map(toHex) }, expect });
  };
  const proof = (size: number, index: number) => inclusionProof(block(size).events, index);
  const valid = (size: number, index: number): void => {
    const b = block(size);
    add(`valid: event ${index} of ${size}`, b.header, b.events[index] as Uint8Array, index, proof(size, index), 'ok');
  };

  for (const [size, index] of [[1, 0], [2, 1], [3, 2], [5, 0], [5, 4], [7, 3], [7, 6], [8, 5], [13, 7], [13, 12]] as const) valid(size, index);

  const b8 = block(8);
  const e5 = b8.events[5] as Uint8Array;
  const p5 = proof(8, 5);
  const bad = (reason: string): Expect => ({ code: 'MERKLE_BAD_PROOF', details: { reason } });
  add('wrong index: the proof of event 5 presented as event 4', b8.header, e5, 4, p5, bad('root'));
  add('index outside the tree (index = eventCount = 8)', b8.header, e5, 8, p5, { code: 'MERKLE_INDEX_RANGE' });
  add('truncated path (last hash dropped)', b8.header, e5, 5, p5.slice(0, -1), bad('length'));
  add('extra path element', b8.header, e5, 5, [...p5, filler('extra')], bad('length'));
  add('path element of 31 bytes', b8.header, e5, 5, [p5[0] as Uint8Array, (p5[1] as Uint8Array).subarray(0, 31), p5[2] as Uint8Array], bad('hash-length'));
  const tampered = e5.slice();
  tampered[tampered.length - 2] = (tampered[tampered.length - 2] as number) ^ 1;
  add('tampered event data (one bit of data flipped)', b8.header, tampered, 5, p5, bad('root'));
  add('an event of another block (tree of 7) with its own path, of the same length', b8.header, block(7).events[5] as Uint8Array, 5, proof(7, 5), bad('root'));
  // Leaf/inner confusion: inner node (4,5) = node(leaf4, leaf5). Presenting its children as one
  // 64-byte "event" at level-1 position 2 with the level-1 path would verify if leaves and nodes
  // were hashed alike; the 0x00 leaf prefix and the header's eventCount rule it out.
  const leaves = b8.events.map(leafHash);
  const inner = (a: number, b: number) => nodeHash(leaves[a] as Uint8Array, leaves[b] as Uint8Array);
  const children = new Uint8Array(64);
  children.set(leaves[4] as Uint8Array, 0);
  children.set(leaves[5] as Uint8Array, 32);
  const n67 = inner(6, 7);
  const n0123 = nodeHash(inner(0, 1), inner(2, 3));
  add('leaf/inner confusion: the children of inner node (4,5) as a leaf, with that node\'s path', b8.header, children, 2, [n67, n0123], bad('length'));
  add('leaf/inner confusion, path padded to the leaf length', b8.header, children, 4, [leaves[5] as Uint8Array, n67, n0123], bad('root'));

  const zero = header(200n, A, { eventsRoot: new Uint8Array(32), eventCount: 1 });
  add('zero eventsRoot', zero, block(1).events[0] as Uint8Array, 0, [], { code: 'PROOF_ZERO_ROOT' });
  const empty = header(201n, A, { eventsRoot: emptyRoot(), eventCount: 0 });
  add('a block without events (eventCount 0, the empty-tree root)', empty, block(1).events[0] as Uint8Array, 0, [], { code: 'MERKLE_INDEX_RANGE' });

  return stringify({
    description: 'Loulan event inclusion proofs: an encoded event under a block header\'s eventsRoot. Generated by event-proofs.gen.ts.',
    spec: {
      encoding: SPEC_COMMON.encoding,
      header: SPEC_COMMON.header,
      chainId: toHex(CHAIN_ID),
      event:
        'Encoded event (ledger/events.ts): u8 version (=1) ‖ u32 length ‖ contract UTF-8 ‖ u32 length ‖ type UTF-8 ‖ u32 tx ‖ u32 length ‖ data. The leaf data is these bytes as given; verifiers hash them, they need not decode them.',
      tree:
        'RFC 6962 / RFC 9162 Merkle tree over SHA-256: leaf = SHA-256(0x00 ‖ event), node = SHA-256(0x01 ‖ left ‖ right), tree size = header.eventCount, root = header.eventsRoot; path is the RFC 9162 §2.1.3 audit path, leaf side first.',
      checkOrder: [
        '1. eventsRoot is 32 zero bytes: PROOF_ZERO_ROOT',
        '2. index >= eventCount: MERKLE_INDEX_RANGE',
        '3. a path hash that is not 32 bytes (details.reason "hash-length"), or a path whose length is not the RFC 9162 length for (index, eventCount) (details.reason "length"): MERKLE_BAD_PROOF',
        '4. the root recomputed from SHA-256(0x00 ‖ event), index and path differs from eventsRoot: MERKLE_BAD_PROOF (details.reason "root")',
      ],
      expect: SPEC_COMMON.expect,
    },
    cases,
  });
}
