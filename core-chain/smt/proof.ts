/**
 * Sparse Merkle proofs for the state tree: the one check a light client, a bridge contract or another
 * chain runs against a certified header's `stateRoot`, plus the proof's JSON and binary encodings.
 *
 * This file is the spec that the Solidity and Go verifiers follow, so it depends on nothing but the
 * SHA-256 helper and the error registry, and every rule it enforces has its own error code:
 *
 *   keyHash   = SHA-256(UTF-8 state key)          path bit i = bit i of keyHash, MSB of byte 0 first
 *   valueHash = SHA-256(value bytes)              bit 0 picks the root's child (0 = left)
 *   leaf      = SHA-256(0x00 ‖ keyHash ‖ valueHash)
 *   internal  = SHA-256(0x01 ‖ left ‖ right)
 *   empty     = ZERO (32 zero bytes); the empty tree's root is ZERO
 *
 * The tree is compressed: a subtree holding one leaf IS that leaf, placed as high as it is alone, and
 * a subtree holding none is ZERO. A proof is therefore short (about log2(n) siblings) and has exactly
 * one valid shape per key, which the verifier insists on: a proof whose deepest sibling is ZERO
 * describes a tree the builder never makes, and accepting it would let two proofs of different depth
 * stand for the same key. The 0x00/0x01 prefixes keep a leaf from passing for an internal node.
 *
 * A proof is never checked against ZERO: a verifier holding an uninitialised root must not accept
 * anything (the Nomad bridge lost $190M to a zero root that proved every message). The live state
 * tree is never empty, so nothing legitimate is lost.
 */
import { equalBytes, fromHex, sha256, toHex } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';

export const HASH_BYTES = 32;
/** Proofs are at most this many siblings long: one per bit of keyHash. */
export const MAX_DEPTH = 256;
/** The hash of an empty subtree, and the root of the empty tree. */
export const ZERO: Uint8Array = new Uint8Array(HASH_BYTES);

export const LEAF_PREFIX = 0x00;
export const NODE_PREFIX = 0x01;

export interface SparseProof {
  /** The leaf where the key's path ends, or null when it ends in an empty subtree. */
  readonly leaf: { readonly keyHash: Uint8Array; readonly valueHash: Uint8Array } | null;
  /** Sibling hashes from the root downwards: siblings[i] is the sibling at depth i+1 on keyHash's path. */
  readonly siblings: readonly Uint8Array[];
}

export interface SparseProofJson {
  readonly leaf: { readonly keyHash: string; readonly valueHash: string } | null;
  readonly siblings: readonly string[];
}

const utf8 = new TextEncoder();

/** keyHash of a state key: SHA-256 of its UTF-8 bytes. */
export function hashStateKey(key: string): Uint8Array {
  return sha256(utf8.encode(key));
}

/** valueHash of a state value: SHA-256 of its bytes. */
export function hashStateValue(value: Uint8Array): Uint8Array {
  return sha256(value);
}

/** Bit `i` of `hash`, most significant bit of byte 0 first. */
export function pathBit(hash: Uint8Array, i: number): number {
  return ((hash[i >> 3] as number) >> (7 - (i & 7))) & 1;
}

export function isZero(hash: Uint8Array): boolean {
  for (let i = 0; i < hash.length; i++) if (hash[i] !== 0) return false;
  return true;
}

/**
 * Checks `proof` against `root` for `keyHash`: inclusion with `valueHash`, or non-inclusion when
 * `valueHash` is null. Returns nothing; throws a LoulanError naming the first rule broken.
 *
 * @example
 * verifySparseProof(header.stateRoot, hashStateKey('asset/balance/alice'), hashStateValue(value), proof);
 * verifySparseProof(header.stateRoot, hashStateKey('asset/balance/bob'), null, absenceProof);
 */
export function verifySparseProof(root: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | null, proof: SparseProof): void {
  checkHash(root, 'root');
  checkHash(keyHash, 'keyHash');
  if (valueHash !== null) checkHash(valueHash, 'valueHash');
  const { leaf, siblings } = proof;
  if (leaf !== null) {
    checkHash(leaf.keyHash, 'leaf.keyHash');
    checkHash(leaf.valueHash, 'leaf.valueHash');
  }
  const depth = siblings.length;
  if (depth > MAX_DEPTH) throw badDepth('too-deep', `a proof has at most ${MAX_DEPTH} siblings, got ${depth}`, depth);
  for (let i = 0; i < depth; i++) checkHash(siblings[i] as Uint8Array, 'siblings', i);

  if (isZero(root)) throw new LoulanError('PROOF_ZERO_ROOT', 'refusing to check a proof against the ZERO root', { details: { field: 'root' } });

  const deepest = depth === 0 ? null : (siblings[depth - 1] as Uint8Array);
  if (leaf !== null) {
    if (deepest !== null && isZero(deepest)) throw badDepth('compressible', 'a leaf beside an empty sibling sits higher in the tree', depth);
  } else {
    if (deepest === null) throw badDepth('empty-root', 'a path ending in an empty subtree at the root proves nothing', depth);
    if (isZero(deepest)) throw badDepth('empty-pair', 'two empty siblings are one empty subtree higher up', depth);
  }

  if (valueHash !== null) {
    if (leaf === null || !equalBytes(leaf.keyHash, keyHash)) {
      throw new LoulanError('PROOF_LEAF_MISMATCH', 'the proof does not end in the leaf of this key', {
        details: { reason: leaf === null ? 'no-leaf' : 'other-key', depth },
      });
    }
    if (!equalBytes(leaf.valueHash, valueHash)) {
      throw new LoulanError('PROOF_VALUE_MISMATCH', 'the leaf of this key commits to another value', { details: { depth } });
    }
  } else if (leaf !== null) {
    if (equalBytes(leaf.keyHash, keyHash)) {
      throw new LoulanError('PROOF_KEY_PRESENT', 'non-inclusion claimed, but the proof ends in this key\'s leaf', { details: { depth } });
    }
    for (let i = 0; i < depth; i++) {
      if (pathBit(leaf.keyHash, i) !== pathBit(keyHash, i)) {
        throw new LoulanError('PROOF_LEAF_MISMATCH', 'the leaf the proof ends in is not on this key\'s path', {
          details: { reason: 'off-path', depth, bit: i },
        });
      }
    }
  }

  if (!equalBytes(rootFromProof(keyHash, proof), root)) {
    throw new LoulanError('PROOF_ROOT_MISMATCH', 'the proof does not lead to the expected root', { details: { depth } });
  }
}

/**
 * The root a proof hashes up to along keyHash's path, without any of the checks above (tests and
 * tools; use `verifySparseProof` to decide anything).
 */
export function rootFromProof(keyHash: Uint8Array, proof: SparseProof): Uint8Array {
  const input = new Uint8Array(1 + 2 * HASH_BYTES);
  let acc: Uint8Array;
  if (proof.leaf === null) acc = ZERO;
  else {
    input[0] = LEAF_PREFIX;
    input.set(proof.leaf.keyHash, 1);
    input.set(proof.leaf.valueHash, 1 + HASH_BYTES);
    acc = sha256(input);
  }
  input[0] = NODE_PREFIX;
  for (let i = proof.siblings.length - 1; i >= 0; i--) {
    const sibling = proof.siblings[i] as Uint8Array;
    if (pathBit(keyHash, i) === 0) {
      input.set(acc, 1);
      input.set(sibling, 1 + HASH_BYTES);
    } else {
      input.set(sibling, 1);
      input.set(acc, 1 + HASH_BYTES);
    }
    acc = sha256(input);
  }
  return acc;
}

// -- JSON ---------------------------------------------------------------------------------------------

/** `{ "leaf": {"keyHash","valueHash"} | null, "siblings": [hex...] }`, lowercase hex. */
export function proofToJson(proof: SparseProof): SparseProofJson {
  return {
    leaf: proof.leaf === null ? null : { keyHash: toHex(proof.leaf.keyHash), valueHash: toHex(proof.leaf.valueHash) },
    siblings: proof.siblings.map((s) => toHex(s)),
  };
}

/**
 * Strict decoder of `proofToJson`'s shape: no missing or extra fields, 32-byte hex hashes, at most 256
 * siblings. Shape errors are VALIDATE_* with `details.pointer`; hex errors CODEC_ENCODING/CODEC_LENGTH.
 */
export function proofFromJson(json: unknown): SparseProof {
  const obj = object(json, '', ['leaf', 'siblings']);
  let leaf: SparseProof['leaf'] = null;
  if (obj.leaf !== null) {
    const l = object(obj.leaf, '/leaf', ['keyHash', 'valueHash']);
    leaf = { keyHash: hexHash(l.keyHash, '/leaf/keyHash'), valueHash: hexHash(l.valueHash, '/leaf/valueHash') };
  }
  if (!Array.isArray(obj.siblings)) throw shape('VALIDATE_TYPE', '/siblings', 'siblings must be an array');
  if (obj.siblings.length > MAX_DEPTH) throw badDepth('too-deep', `a proof has at most ${MAX_DEPTH} siblings`, obj.siblings.length);
  const siblings = obj.siblings.map((s: unknown, i: number) => hexHash(s, `/siblings/${i}`));
  return { leaf, siblings };
}

function object(value: unknown, pointer: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw shape('VALIDATE_TYPE', pointer, 'expected an object');
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!fields.includes(key)) throw shape('VALIDATE_UNKNOWN_FIELD', `${pointer}/${key}`, `unknown field ${key}`);
  }
  for (const field of fields) if (!Object.hasOwn(record, field)) throw shape('VALIDATE_REQUIRED', `${pointer}/${field}`, `missing field ${field}`);
  return record;
}

function hexHash(value: unknown, pointer: string): Uint8Array {
  if (typeof value !== 'string') throw shape('VALIDATE_TYPE', pointer, 'expected a hex string');
  if (value.length !== 2 * HASH_BYTES) {
    throw new LoulanError('CODEC_LENGTH', `${pointer}: a hash is ${HASH_BYTES} bytes of hex`, {
      details: { field: pointer, expected: HASH_BYTES, actual: value.length / 2 },
    });
  }
  return fromHex(value);
}

function shape(code: 'VALIDATE_TYPE' | 'VALIDATE_UNKNOWN_FIELD' | 'VALIDATE_REQUIRED', pointer: string, message: string): LoulanError {
  return new LoulanError(code, `proof JSON ${pointer || '/'}: ${message}`, { details: { pointer } });
}

// -- binary -------------------------------------------------------------------------------------------

/** u8 hasLeaf ‖ [keyHash ‖ valueHash] ‖ u16 count ‖ count × sibling (32 bytes each). */
export function encodeProof(proof: SparseProof): Uint8Array {
  const { leaf, siblings } = proof;
  checkShape(proof);
  const out = new Uint8Array(1 + (leaf === null ? 0 : 2 * HASH_BYTES) + 2 + siblings.length * HASH_BYTES);
  let pos = writeLeaf(out, leaf);
  out[pos++] = siblings.length >> 8;
  out[pos++] = siblings.length & 0xff;
  for (const s of siblings) {
    out.set(s, pos);
    pos += HASH_BYTES;
  }
  return out;
}

/** Strict inverse of `encodeProof`: a flag of 0 or 1, at most 256 siblings, no trailing bytes. */
export function decodeProof(bytes: Uint8Array): SparseProof {
  const r = new ByteReader(bytes);
  const leaf = readLeaf(r);
  const count = r.u16('count');
  if (count > MAX_DEPTH) throw badDepth('too-deep', `a proof has at most ${MAX_DEPTH} siblings, got ${count}`, count);
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < count; i++) siblings.push(r.take(HASH_BYTES, 'siblings'));
  r.finish();
  return { leaf, siblings };
}

/**
 * The compact form: u8 hasLeaf ‖ [keyHash ‖ valueHash] ‖ u16 count ‖ 32-byte bitmap ‖ the non-ZERO
 * siblings. Bit i of the bitmap (MSB of byte 0 first) is set when siblings[i] is not ZERO; ZERO
 * siblings are left out. Deep sparse paths shrink to about log2(n) hashes plus 35 bytes.
 */
export function encodeProofCompact(proof: SparseProof): Uint8Array {
  const { leaf, siblings } = proof;
  checkShape(proof);
  const bitmap = new Uint8Array(HASH_BYTES);
  let present = 0;
  siblings.forEach((s, i) => {
    if (!isZero(s)) {
      bitmap[i >> 3] = (bitmap[i >> 3] as number) | (0x80 >> (i & 7));
      present++;
    }
  });
  const out = new Uint8Array(1 + (leaf === null ? 0 : 2 * HASH_BYTES) + 2 + HASH_BYTES + present * HASH_BYTES);
  let pos = writeLeaf(out, leaf);
  out[pos++] = siblings.length >> 8;
  out[pos++] = siblings.length & 0xff;
  out.set(bitmap, pos);
  pos += HASH_BYTES;
  for (const s of siblings) {
    if (isZero(s)) continue;
    out.set(s, pos);
    pos += HASH_BYTES;
  }
  return out;
}

/**
 * Strict inverse of `encodeProofCompact`: bitmap bits at or beyond `count` must be clear, and a
 * listed sibling must not be ZERO (its bit would have been clear), so each proof has one encoding.
 */
export function decodeProofCompact(bytes: Uint8Array): SparseProof {
  const r = new ByteReader(bytes);
  const leaf = readLeaf(r);
  const count = r.u16('count');
  if (count > MAX_DEPTH) throw badDepth('too-deep', `a proof has at most ${MAX_DEPTH} siblings, got ${count}`, count);
  const bitmap = r.take(HASH_BYTES, 'bitmap');
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < MAX_DEPTH; i++) {
    const set = pathBit(bitmap, i) === 1;
    if (i >= count) {
      if (set) throw new LoulanError('CODEC_RANGE', `bitmap bit ${i} is set beyond the ${count} siblings`, { details: { field: 'bitmap', bit: i } });
      continue;
    }
    if (!set) {
      siblings.push(new Uint8Array(HASH_BYTES));
      continue;
    }
    const sibling = r.take(HASH_BYTES, 'siblings');
    if (isZero(sibling)) throw new LoulanError('CODEC_RANGE', `sibling ${i} is ZERO but listed`, { details: { field: 'siblings', index: i } });
    siblings.push(sibling);
  }
  r.finish();
  return { leaf, siblings };
}

function checkShape(proof: SparseProof): void {
  if (proof.leaf !== null) {
    checkHash(proof.leaf.keyHash, 'leaf.keyHash');
    checkHash(proof.leaf.valueHash, 'leaf.valueHash');
  }
  if (proof.siblings.length > MAX_DEPTH) throw badDepth('too-deep', `a proof has at most ${MAX_DEPTH} siblings`, proof.siblings.length);
  proof.siblings.forEach((s, i) => checkHash(s, 'siblings', i));
}

function writeLeaf(out: Uint8Array, leaf: SparseProof['leaf']): number {
  if (leaf === null) {
    out[0] = 0;
    return 1;
  }
  out[0] = 1;
  out.set(leaf.keyHash, 1);
  out.set(leaf.valueHash, 1 + HASH_BYTES);
  return 1 + 2 * HASH_BYTES;
}

function readLeaf(r: ByteReader): SparseProof['leaf'] {
  const flag = r.u8('hasLeaf');
  if (flag > 1) throw new LoulanError('CODEC_RANGE', `hasLeaf must be 0 or 1, got ${flag}`, { details: { field: 'hasLeaf', actual: flag } });
  return flag === 0 ? null : { keyHash: r.take(HASH_BYTES, 'leaf.keyHash'), valueHash: r.take(HASH_BYTES, 'leaf.valueHash') };
}

// A minimal reader with the same error codes as codec/binary.ts, kept here so this file depends only on
// the hash helpers and the error registry (verifier libraries re-export it).
class ByteReader {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  u8(field: string): number {
    return this.take(1, field)[0] as number;
  }

  u16(field: string): number {
    const b = this.take(2, field);
    return ((b[0] as number) << 8) | (b[1] as number);
  }

  take(length: number, field: string): Uint8Array {
    const have = this.#bytes.length - this.#pos;
    if (have < length) {
      throw new LoulanError('CODEC_TRUNCATED', `need ${length} bytes at offset ${this.#pos}, have ${have}`, {
        details: { field, offset: this.#pos, need: length, have },
      });
    }
    const out = this.#bytes.slice(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  finish(): void {
    const trailing = this.#bytes.length - this.#pos;
    if (trailing !== 0) {
      throw new LoulanError('CODEC_TRAILING_BYTES', `${trailing} bytes left after the proof`, { details: { offset: this.#pos, trailing } });
    }
  }
}

function checkHash(hash: Uint8Array, field: string, index?: number): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES) {
    throw new LoulanError('CODEC_LENGTH', `${field}${index === undefined ? '' : `[${index}]`}: a hash is ${HASH_BYTES} bytes`, {
      details: { field, ...(index === undefined ? {} : { index }), expected: HASH_BYTES, actual: hash instanceof Uint8Array ? hash.length : undefined },
    });
  }
}

function badDepth(reason: string, message: string, depth: number): LoulanError {
  return new LoulanError('PROOF_BAD_DEPTH', message, { details: { reason, depth } });
}
