/**
 * State snapshots for catch-up: the committed state at height H, with the certified header that
 * binds it, cut into chunks of bounded size so neither side holds a frame larger than it agreed to.
 *
 * Chunk layout (every chunk): version u8 ‖ kind u8 ‖ seq u32, then
 *   begin   (seq 0):  height u64 ‖ block hash (32) ‖ header (u32-length bytes) ‖ certificate (u32-length, wire encoding)
 *   entries:          count u32 ‖ count × (key: u32-length UTF-8 ‖ value: u32-length bytes)
 *   end     (last):   entry count u64 ‖ SHA-256 over every entry's encoding, in stream order
 * Keys arrive in strictly increasing UTF-8 byte order (LevelDB's order), so duplicates and reordering
 * are caught as they happen; the end digest does not depend on where the stream was cut, and catches
 * chunks from two different streams mixed together.
 *
 * The assembler checks structure and size only. Whether the entries are the state the header commits
 * to (its state root) and whether the certificate is valid are the caller's checks: this module does
 * not know the state-root function or the validator set.
 */
import { createHash, type Hash } from 'node:crypto';
import { Reader, Writer } from '../codec/binary.ts';
import { decodeCertificate, encodeCertificate } from '../consensus/wire.ts';
import type { Certificate } from '../consensus/types.ts';
import { equalBytes } from '../crypto/hash.ts';
import { LoulanError } from '../errors.ts';

export const SNAPSHOT_VERSION = 1;
/** State keys are at most this many UTF-8 bytes (the block store refuses longer ones at commit). */
export const MAX_STATE_KEY_BYTES = 4096;
/** Encoded block headers are at most this large. */
export const MAX_HEADER_BYTES = 64 * 1024;
// 1024 signatures of at most 72 bytes, each with a u16 index and a u32 length, plus the fixed fields.
const MAX_CERT_BYTES = 2 + 8 + 8 + 32 + 4 + 1024 * (2 + 4 + 72);

const KIND = { begin: 1, entries: 2, end: 3 } as const;
const CHUNK_PREFIX = 6; // version, kind, seq
const ENTRIES_PREFIX = CHUNK_PREFIX + 4; // + count

/** A state snapshot: what a lagging validator installs instead of replaying history. */
export interface Snapshot {
  readonly height: bigint;
  /** The block hash at `height` (the digest the certificate signs). */
  readonly hash: Uint8Array;
  /** The encoded block header at `height`; its state root must match `entries`. */
  readonly header: Uint8Array;
  readonly cert: Certificate;
  /** Every state entry, in increasing UTF-8 key order. */
  readonly entries: ReadonlyArray<readonly [string, Uint8Array]>;
}

export interface SnapshotHead {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly header: Uint8Array;
  readonly cert: Certificate;
}

/**
 * Cuts a stream of entries into chunks of at most `maxBytes` bytes each. Throws CODEC_LENGTH when the
 * head or a single entry cannot fit in one chunk.
 */
export async function* chunkSnapshot(
  head: SnapshotHead,
  entries: AsyncIterable<readonly [string, Uint8Array]>,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 64) {
    throw new LoulanError('CONFIG_INVALID', `snapshot chunk size must be an integer of at least 64 bytes, got ${String(maxBytes)}`, {
      details: { field: 'maxBytes' },
    });
  }
  let seq = 0;
  const begin = prefix(new Writer(256), KIND.begin, seq++)
    .u64(head.height, 'height')
    .bytes(head.hash, 32, 'hash')
    .varBytes(head.header, MAX_HEADER_BYTES, 'header')
    .varBytes(encodeCertificate(head.cert), MAX_CERT_BYTES, 'cert')
    .finish();
  yield fit(begin, maxBytes, 'head');

  const digest = createHash('sha256');
  let total = 0n;
  const entryWriter = new Writer(256);
  let chunk = new Writer(Math.min(maxBytes, 1 << 20));
  let count = 0;
  const flush = (): Uint8Array => {
    const bytes = chunk.finish();
    new DataView(bytes.buffer).setUint32(CHUNK_PREFIX, count);
    digest.update(bytes.subarray(ENTRIES_PREFIX));
    chunk.reset();
    count = 0;
    return bytes;
  };
  for await (const [key, value] of entries) {
    const entry = entryWriter.reset().string(key, MAX_STATE_KEY_BYTES, 'key').varBytes(value, maxBytes, 'value').finish();
    if (ENTRIES_PREFIX + entry.length > maxBytes) {
      throw new LoulanError('CODEC_LENGTH', `state entry of ${entry.length} bytes does not fit a ${maxBytes}-byte chunk`, {
        details: { field: 'entry', key, max: maxBytes - ENTRIES_PREFIX, actual: entry.length },
      });
    }
    if (count > 0 && chunk.length + entry.length > maxBytes) yield flush();
    if (count === 0) prefix(chunk, KIND.entries, seq++).u32(0, 'count');
    chunk.bytes(entry, entry.length);
    count++;
    total++;
  }
  if (count > 0) yield flush();
  const end = prefix(new Writer(64), KIND.end, seq++).u64(total, 'count').bytes(digest.digest(), 32, 'digest').finish();
  yield fit(end, maxBytes, 'end');
}

export interface SnapshotLimits {
  /** Bound on the sum of all chunk sizes (the memory the assembled snapshot may take). */
  readonly maxTotalBytes: number;
  /** Bound on one chunk (default: no bound beyond maxTotalBytes). */
  readonly maxChunkBytes?: number;
  /** The height the caller asked for; a stream for another height is refused. */
  readonly height?: bigint;
}

/**
 * Receives snapshot chunks in order and hands back the snapshot once the end chunk checks out.
 * Any error poisons the assembler: start again with a new one (from another peer).
 *
 * @example
 * const asm = new SnapshotAssembler({ maxTotalBytes: 512 << 20, maxChunkBytes: 4 << 20, height });
 * for await (const chunk of fetchChunks(peer, height)) if (asm.accept(chunk)) break;
 * const snap = asm.result(); // then check snap.cert and the header's state root, then store.writeSnapshot(snap)
 */
export class SnapshotAssembler {
  readonly #limits: SnapshotLimits;
  #seq = 0;
  #total = 0;
  #head: SnapshotHead | null = null;
  #entries: Array<readonly [string, Uint8Array]> = [];
  #lastKey: Uint8Array | null = null;
  #digest: Hash = createHash('sha256');
  #done = false;
  #failed: LoulanError | null = null;

  constructor(limits: SnapshotLimits) {
    this.#limits = Object.freeze({ ...limits });
  }

  get complete(): boolean {
    return this.#done;
  }

  /** Takes the next chunk; returns true once the snapshot is complete. */
  accept(chunk: Uint8Array): boolean {
    if (this.#failed !== null) throw this.#failed;
    try {
      this.#accept(chunk);
    } catch (error) {
      this.#failed =
        error instanceof LoulanError && (error.code === 'SNAPSHOT_INVALID' || error.code === 'SNAPSHOT_TOO_LARGE')
          ? error
          : invalid('codec', `chunk ${this.#seq} does not decode`, { seq: this.#seq }, error);
      throw this.#failed;
    }
    return this.#done;
  }

  /** The assembled snapshot; throws SNAPSHOT_INVALID until the end chunk has been accepted. */
  result(): Snapshot {
    if (!this.#done || this.#head === null) throw invalid('incomplete', 'the snapshot stream has not ended', { seq: this.#seq });
    return { ...this.#head, entries: this.#entries };
  }

  #accept(chunk: Uint8Array): void {
    const { maxTotalBytes, maxChunkBytes } = this.#limits;
    if (maxChunkBytes !== undefined && chunk.length > maxChunkBytes) {
      throw new LoulanError('SNAPSHOT_TOO_LARGE', `snapshot chunk of ${chunk.length} bytes exceeds ${maxChunkBytes}`, {
        details: { seq: this.#seq, max: maxChunkBytes, actual: chunk.length },
      });
    }
    if (this.#total + chunk.length > maxTotalBytes) {
      throw new LoulanError('SNAPSHOT_TOO_LARGE', `snapshot exceeds ${maxTotalBytes} bytes`, {
        details: { seq: this.#seq, max: maxTotalBytes, actual: this.#total + chunk.length },
      });
    }
    this.#total += chunk.length;
    if (this.#done) throw invalid('order', 'chunk after the end of the stream', { seq: this.#seq });

    const r = new Reader(chunk);
    const version = r.u8('version');
    if (version !== SNAPSHOT_VERSION) throw invalid('version', `unknown snapshot chunk version ${version}`, { seq: this.#seq });
    const kind = r.u8('kind');
    const seq = r.u32('seq');
    if (seq !== this.#seq) throw invalid('order', `expected chunk ${this.#seq}, got ${seq}`, { seq: this.#seq, actual: seq });
    const first = this.#head === null;
    if (first !== (kind === KIND.begin)) {
      throw invalid('order', first ? 'the stream must open with its head' : 'a second head', { seq, kind });
    }
    switch (kind) {
      case KIND.begin:
        this.#head = this.#readHead(r);
        break;
      case KIND.entries:
        this.#readEntries(r, chunk);
        break;
      case KIND.end:
        this.#readEnd(r);
        break;
      default:
        throw invalid('kind', `unknown chunk kind ${kind}`, { seq, kind });
    }
    r.finish();
    this.#seq++;
  }

  #readHead(r: Reader): SnapshotHead {
    const height = r.u64('height');
    const hash = r.bytes(32, 'hash');
    const header = r.varBytes(MAX_HEADER_BYTES, 'header');
    const cert = decodeCertificate(r.varBytes(MAX_CERT_BYTES, 'cert'));
    if (this.#limits.height !== undefined && height !== this.#limits.height) {
      throw invalid('height', `snapshot is for height ${height}, asked for ${this.#limits.height}`, { height, expected: this.#limits.height });
    }
    if (cert.height !== height || !equalBytes(cert.digest, hash)) {
      throw invalid('certificate', 'the certificate is for another height or block', { height });
    }
    return { height, hash, header, cert };
  }

  #readEntries(r: Reader, chunk: Uint8Array): void {
    const count = r.u32('count');
    if (count === 0) throw invalid('empty', 'an entries chunk with no entries', { seq: this.#seq });
    // Every entry takes at least 8 bytes, so a forged count is caught before anything is read.
    if (count > r.remaining / 8) throw invalid('count', `${count} entries cannot fit in ${r.remaining} bytes`, { seq: this.#seq });
    const start = r.offset;
    const encoder = new TextEncoder();
    for (let i = 0; i < count; i++) {
      const key = r.string(MAX_STATE_KEY_BYTES, 'key');
      const value = r.varBytes(r.remaining, 'value');
      const keyBytes = encoder.encode(key);
      if (this.#lastKey !== null && Buffer.compare(keyBytes, this.#lastKey) <= 0) {
        throw invalid('key-order', 'state keys must strictly increase', { seq: this.#seq, key });
      }
      this.#lastKey = keyBytes;
      this.#entries.push([key, value]);
    }
    this.#digest.update(chunk.subarray(start, r.offset));
  }

  #readEnd(r: Reader): void {
    const count = r.u64('count');
    const digest = r.bytes(32, 'digest');
    if (count !== BigInt(this.#entries.length)) {
      throw invalid('count', `the stream ends claiming ${count} entries, ${this.#entries.length} arrived`, { seq: this.#seq });
    }
    if (!equalBytes(digest, this.#digest.digest())) throw invalid('digest', 'the entry digest does not match', { seq: this.#seq });
    this.#done = true;
  }
}

function prefix(w: Writer, kind: number, seq: number): Writer {
  return w.u8(SNAPSHOT_VERSION, 'version').u8(kind, 'kind').u32(seq, 'seq');
}

function fit(chunk: Uint8Array, maxBytes: number, field: string): Uint8Array {
  if (chunk.length > maxBytes) {
    throw new LoulanError('CODEC_LENGTH', `snapshot ${field} of ${chunk.length} bytes does not fit a ${maxBytes}-byte chunk`, {
      details: { field, max: maxBytes, actual: chunk.length },
    });
  }
  return chunk;
}

function invalid(reason: string, message: string, details: Record<string, unknown>, cause?: unknown): LoulanError {
  return new LoulanError('SNAPSHOT_INVALID', message, { details: { reason, ...details }, ...(cause === undefined ? {} : { cause }) });
}
