/**
 * The validator's safety record: the last-signed guard that the consensus core emits in `persist`
 * effects. A vote may leave the node only after the record that allows it is durable, or a restart
 * could let the validator sign a second, conflicting vote, which is exactly the fault PBFT counts
 * against f. So this file is small, separate from the block store, and written with the classic
 * atomic-replace protocol:
 *
 *   write `path.tmp` ‖ fsync it ‖ rename it over `path` ‖ fsync the directory
 *
 * Rename is atomic, so `path` always holds one complete record, the old one or the new one; the
 * directory fsync makes the rename itself survive a power cut, and only then does `save` return.
 *
 * File layout: magic "LOULANSF" ‖ version u8 ‖ body length u32 ‖ SHA-256(body) ‖ body, where body is
 * `encodeSafety` from consensus/wire.ts. A record that fails any check throws SAFETY_RECORD_CORRUPT
 * and is never replaced by "never signed": resetting the guard is the one thing this module must not
 * do silently. An operator who knows better deletes the file by hand.
 *
 * What a crash can leave behind, and why `load` is right in each case:
 *  - `path` present, `path.tmp` present: the crash came before the rename; the save that wrote the tmp
 *    never returned, so no vote it allowed was sent. `path` (the last save that returned) stands.
 *  - `path` absent, `path.tmp` present: the same, during the very first save. Rename replaces
 *    atomically, so once any save has returned `path` exists and cannot vanish again; its absence
 *    therefore proves no save ever returned, and "never signed" (null) is right even when the tmp
 *    holds a complete record. The tmp is ignored and the next save overwrites it.
 *  - `path` absent, no tmp: never signed (null).
 * The hazard this cannot see is an operator pointing the node at the wrong directory. That is why
 * `open` does not create the directory: a missing directory is a configuration error, not a fresh
 * validator. A null record beside a non-empty block store means the record was lost: see index.ts
 * for what the node does then.
 */
import { open as openFile, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256, equalBytes } from '../crypto/hash.ts';
import { decodeSafety, encodeSafety, type WireLimits } from '../consensus/wire.ts';
import type { SafetyState } from '../consensus/types.ts';
import { LoulanError } from '../errors.ts';

export type SafetyPoint = 'before-write' | 'after-write' | 'after-fsync' | 'after-rename';

export interface SafetyFileOptions {
  /**
   * Called synchronously at each persistence point of `save`, so a test (or a fault-injecting node)
   * can kill the process there. Never needed in production.
   */
  readonly onPoint?: (point: SafetyPoint) => void;
  /** Largest prepared payload the record may carry (default: the wire default, 8 MiB). */
  readonly maxPayloadBytes?: number;
}

const MAGIC = new TextEncoder().encode('LOULANSF');
const FORMAT_VERSION = 1;
const HEADER_BYTES = MAGIC.length + 1 + 4 + 32;

export class SafetyFile {
  readonly path: string;
  readonly #tmp: string;
  readonly #onPoint: ((point: SafetyPoint) => void) | undefined;
  readonly #limits: WireLimits;
  #raw: Uint8Array | null;
  #leftoverTmp: boolean;
  #queue: Promise<void> = Promise.resolve();

  private constructor(path: string, raw: Uint8Array | null, leftoverTmp: boolean, options: SafetyFileOptions) {
    this.path = path;
    this.#tmp = `${path}.tmp`;
    this.#raw = raw;
    this.#leftoverTmp = leftoverTmp;
    this.#onPoint = options.onPoint;
    this.#limits = options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes };
  }

  /**
   * Reads the record at `path` (its directory must exist). Nothing is checked yet: `load()` does that,
   * so a corrupt record surfaces as an error the caller handles, not as a failed open.
   *
   * @example
   * const safety = await SafetyFile.open(join(dataDir, 'safety'));
   * const replica = new Replica(cfg, app, crypto, { committedHeight, lastCert, safety: safety.load() });
   * // for every { kind: 'persist', state } effect, before any later send:
   * await safety.save(state);
   */
  static async open(path: string, options: SafetyFileOptions = {}): Promise<SafetyFile> {
    const dir = dirname(path);
    const info = await stat(dir).catch((cause: unknown) => {
      throw new LoulanError('CONFIG_INVALID', `safety record directory ${dir} does not exist`, { details: { field: 'path', path }, cause });
    });
    if (!info.isDirectory()) throw new LoulanError('CONFIG_INVALID', `${dir} is not a directory`, { details: { field: 'path', path } });
    const raw = await readOrNull(path);
    const leftoverTmp = (await stat(`${path}.tmp`).catch(() => null)) !== null;
    // What we read may be a rename the previous process made but never made durable (it died before
    // the directory fsync). Make it durable before anyone acts on it.
    if (raw !== null) await fsyncDir(dir);
    return new SafetyFile(path, raw, leftoverTmp, options);
  }

  /** True when `open` found a `path.tmp` left by a save that did not finish (informational). */
  get leftoverTmp(): boolean {
    return this.#leftoverTmp;
  }

  /**
   * The record on disk (as of `open`, or the last `save` that returned), or null when this validator
   * has never signed. Throws SAFETY_RECORD_CORRUPT for a record that fails its checks.
   */
  load(): SafetyState | null {
    if (this.#raw === null) return null;
    return parseRecord(this.#raw, this.path, this.#limits);
  }

  /**
   * Writes the record durably; resolves only when it would survive a power cut. Calls are queued, so
   * overlapping saves land in call order. A rejected save leaves `path` holding either the previous or
   * this record: the caller must treat it as fatal (stop signing), never retry and carry on.
   */
  save(state: SafetyState): Promise<void> {
    // Encode now, outside the queue: a state that cannot be encoded fails before touching the disk,
    // and later mutation of `state` by the caller cannot change what gets written.
    let record: Uint8Array;
    try {
      record = frameRecord(encodeSafety(state, this.#limits));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const run = this.#queue.then(() => this.#write(record));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(record: Uint8Array): Promise<void> {
    this.#point('before-write');
    const file = await openFile(this.#tmp, 'w', 0o600);
    try {
      await file.writeFile(record);
      this.#point('after-write');
      await file.datasync();
    } finally {
      await file.close();
    }
    this.#point('after-fsync');
    await rename(this.#tmp, this.path);
    this.#point('after-rename');
    await fsyncDir(dirname(this.path));
    this.#raw = record;
    this.#leftoverTmp = false;
  }

  #point(point: SafetyPoint): void {
    this.#onPoint?.(point);
  }
}

function frameRecord(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[MAGIC.length] = FORMAT_VERSION;
  view.setUint32(MAGIC.length + 1, body.length);
  out.set(sha256(body), MAGIC.length + 5);
  out.set(body, HEADER_BYTES);
  return out;
}

function parseRecord(raw: Uint8Array, path: string, limits: WireLimits): SafetyState {
  const corrupt = (reason: string, message: string, cause?: unknown): LoulanError =>
    new LoulanError('SAFETY_RECORD_CORRUPT', `safety record ${path}: ${message}`, {
      details: { path, reason, size: raw.length },
      ...(cause === undefined ? {} : { cause }),
    });
  if (raw.length < HEADER_BYTES) throw corrupt('truncated', `${raw.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  if (!equalBytes(raw.subarray(0, MAGIC.length), MAGIC)) throw corrupt('magic', 'bad magic');
  const version = raw[MAGIC.length];
  if (version !== FORMAT_VERSION) throw corrupt('version', `unknown format version ${String(version)}`);
  const length = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(MAGIC.length + 1);
  if (length !== raw.length - HEADER_BYTES) {
    throw corrupt(length > raw.length - HEADER_BYTES ? 'truncated' : 'length', `header says ${length} body bytes, file has ${raw.length - HEADER_BYTES}`);
  }
  const body = raw.subarray(HEADER_BYTES);
  if (!equalBytes(sha256(body), raw.subarray(MAGIC.length + 5, HEADER_BYTES))) throw corrupt('checksum', 'checksum mismatch');
  try {
    return decodeSafety(body, limits);
  } catch (cause) {
    throw corrupt('decode', 'body does not decode', cause);
  }
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
