/**
 * Key custody for shops that would rather not hold a signing key (DESIGN §6; the JD Chain gateway
 * offers the same): the switch keeps a participant's private key, encrypted at rest, and signs
 * envelopes on its behalf once the shop authenticates with an API key.
 *
 * - **At rest.** Each private key is sealed with AES-256-GCM under a 32-byte master key that lives
 *   outside the key store (its own 0600 file, or an environment variable); the associated data binds
 *   each ciphertext to its participant and key id, so a sealed key copied under another participant
 *   does not open. The key store file therefore holds no key bytes in the clear, and it is replaced
 *   atomically (temp file, fsync, rename, fsync of the folder): a crash leaves the old or the new
 *   file, never half of one.
 * - **API keys** are `lk_<id>_<secret>` with 256 random bits of secret; only SHA-256 of the whole token
 *   is kept (a slow password hash buys nothing for a random 256-bit secret), compared in constant
 *   time. A shop may hold several at once, so rotating is: create a new one, switch over, revoke the
 *   old one.
 * - **Every custodial signature is logged** before the signed envelope leaves the switch: one JSON line
 *   per signature (who, which key, which API key, the message id and digest), appended and fdatasync'd
 *   with group commit, each line carrying the SHA-256 of the line before it, so a removed or edited
 *   line breaks the chain (`verifyCustodyLog`).
 * - **Key rotation** happens on the core chain too: the new key is added by a registry `addKey`
 *   signed with the current key, the old one revoked by `revokeKey` signed with the new key (a
 *   participant may manage its own keys), and only then is the old key's material destroyed. Signing
 *   always uses the newest key the switch's chain view knows as active, so messages keep verifying
 *   throughout.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  createSigner,
  envelopeSigningInput,
  fromHex,
  generateKeyPair,
  LoulanError,
  sha256,
  signEnvelope,
  toBase64url,
  toHex,
  type Alg,
  type SignableEnvelope,
} from '../core-chain/index.ts';
import { keyIdOf } from './chain.ts';

const STORE_VERSION = 1;
const MASTER_KEY_BYTES = 32;
const TOKEN = /^lk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const AAD_PREFIX = 'loulan-custody-v1';

export interface SealedKey {
  readonly kid: string;
  readonly alg: Alg;
  readonly publicKey: string;
  readonly createdAt: number;
  /** AES-256-GCM: base64url of iv (12) ‖ ciphertext ‖ tag (16). */
  readonly sealed: string;
}

export interface ApiKeyRecord {
  readonly id: string;
  /** SHA-256 (hex) of the whole token. */
  readonly hash: string;
  readonly createdAt: number;
  readonly revokedAt?: number;
}

interface CustodyRecord {
  readonly alg: Alg;
  /** Oldest first; the newest active one signs. */
  readonly keys: readonly SealedKey[];
  readonly apiKeys: readonly ApiKeyRecord[];
}

interface StoreFile {
  readonly version: number;
  readonly participants: Readonly<Record<string, CustodyRecord>>;
}

/** What an operator may see of a custodial participant: public keys and API key ids, no secrets. */
export interface CustodyView {
  readonly participant: string;
  readonly alg: Alg;
  readonly keys: readonly { readonly kid: string; readonly publicKey: string; readonly createdAt: number }[];
  readonly apiKeys: readonly { readonly id: string; readonly createdAt: number; readonly revokedAt?: number }[];
}

export interface NewApiKey {
  readonly id: string;
  /** Shown once; the switch keeps only its hash. */
  readonly token: string;
}

export interface CustodyCaller {
  readonly participant: string;
  readonly apiKeyId: string;
}

export interface CustodyOptions {
  /** The key store (JSON; created if missing). */
  readonly file: string;
  /** The signature log (JSON lines; created if missing). */
  readonly logFile: string;
  readonly masterKey: Uint8Array;
  /** Whether a key id is active on the core chain (the switch's chain view). */
  readonly isActive: (participant: string, kid: string) => boolean;
  readonly now?: () => number;
}

/** Reads a master key file: 64 hex characters (whitespace around them ignored). */
export function readMasterKey(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read the custody master key ${file}`, { details: { field: 'custody.masterKeyFile' }, cause });
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new LoulanError('CONFIG_INVALID', 'the custody master key must be 64 lower-case hex characters', { details: { field: 'custody.masterKeyFile' } });
  return fromHex(text, MASTER_KEY_BYTES);
}

/** A fresh master key as its file content. */
export function newMasterKeyText(): string {
  return toHex(randomBytes(MASTER_KEY_BYTES)) + '\n';
}

function aad(participant: string, kid: string): Buffer {
  return Buffer.from(`${AAD_PREFIX}\n${participant}\n${kid}`, 'utf8');
}

function seal(masterKey: Uint8Array, participant: string, kid: string, privateKey: Uint8Array): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(aad(participant, kid));
  const body = Buffer.concat([cipher.update(privateKey), cipher.final()]);
  return toBase64url(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

function unseal(masterKey: Uint8Array, participant: string, key: SealedKey): Uint8Array {
  const raw = Buffer.from(key.sealed, 'base64url');
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, raw.subarray(0, 12));
    decipher.setAAD(aad(participant, key.kid));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return new Uint8Array(Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]));
  } catch (cause) {
    // A wrong master key, or a store edited by hand: never sign with anything else.
    throw new LoulanError('CUSTODY_SEALED', `the custodial key ${key.kid} does not open with this switch's master key`, { details: { participant, kid: key.kid }, cause });
  }
}

const tokenHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Writes `text` to `file` so that a crash leaves the old or the new content, never a mix. */
function writeAtomic(file: string, text: string): void {
  const temp = `${file}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dirFd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function notFound(participant: string): LoulanError {
  return new LoulanError('CUSTODY_NOT_FOUND', `this switch holds no key for ${participant}`, { details: { participant } });
}

export class Custody {
  readonly #o: CustodyOptions;
  #store: StoreFile;
  readonly #log: SignatureLog;
  /** Mutations of the store run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: CustodyOptions, store: StoreFile, log: SignatureLog) {
    this.#o = options;
    this.#store = store;
    this.#log = log;
  }

  static async open(options: CustodyOptions): Promise<Custody> {
    if (options.masterKey.length !== MASTER_KEY_BYTES) {
      throw new LoulanError('CONFIG_INVALID', 'the custody master key must be 32 bytes', { details: { field: 'custody.masterKeyFile' } });
    }
    mkdirSync(dirname(options.file), { recursive: true });
    let store: StoreFile = { version: STORE_VERSION, participants: {} };
    if (existsSync(options.file)) {
      const parsed = JSON.parse(readFileSync(options.file, 'utf8')) as StoreFile;
      if (parsed.version !== STORE_VERSION) throw new LoulanError('CONFIG_INVALID', `custody store version ${parsed.version} is not ${STORE_VERSION}`, { details: { field: 'custody.file' } });
      store = parsed;
      // Fail at start, not at the first signature, if the master key is not the one that sealed these.
      for (const [participant, record] of Object.entries(store.participants)) {
        const newest = record.keys[record.keys.length - 1];
        if (newest !== undefined) unseal(options.masterKey, participant, newest).fill(0);
      }
    }
    const log = await SignatureLog.open(options.logFile);
    return new Custody(options, store, log);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #mutate<T>(change: (participants: Record<string, CustodyRecord>) => T): Promise<T> {
    const run = this.#queue.then(() => {
      const participants = { ...this.#store.participants };
      const result = change(participants);
      const next: StoreFile = { version: STORE_VERSION, participants };
      writeAtomic(this.#o.file, JSON.stringify(next, null, 2) + '\n');
      this.#store = next;
      return result;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #record(participant: string): CustodyRecord {
    const record = this.#store.participants[participant];
    if (record === undefined) throw notFound(participant);
    return record;
  }

  #newKey(participant: string, alg: Alg): SealedKey {
    const pair = generateKeyPair(alg);
    const kid = keyIdOf(participant, { alg, publicKey: pair.publicKey });
    const sealed = seal(this.#o.masterKey, participant, kid, pair.privateKey);
    pair.privateKey.fill(0);
    return { kid, alg, publicKey: toHex(pair.publicKey), createdAt: this.#now(), sealed };
  }

  #newApiKey(): { record: ApiKeyRecord; token: string } {
    const id = toHex(randomBytes(8));
    const token = `lk_${id}_${toBase64url(randomBytes(32))}`;
    return { record: { id, hash: tokenHash(token).toString('hex'), createdAt: this.#now() }, token };
  }

  /** Generates a participant's first key and API key. The public key must then be registered on the core chain. */
  createParticipant(participant: string, alg: Alg = 'Ed25519'): Promise<{ view: CustodyView; apiKey: NewApiKey }> {
    return this.#mutate((participants) => {
      if (participants[participant] !== undefined) {
        throw new LoulanError('CUSTODY_EXISTS', `this switch already holds a key for ${participant}`, { details: { participant } });
      }
      const key = this.#newKey(participant, alg);
      const { record, token } = this.#newApiKey();
      participants[participant] = { alg, keys: [key], apiKeys: [record] };
      return { view: viewOf(participant, participants[participant]), apiKey: { id: record.id, token } };
    });
  }

  /** Adds a new key (rotation, step 1); the old ones stay until `destroyKey`. */
  addKey(participant: string): Promise<SealedKey> {
    return this.#mutate((participants) => {
      const record = participants[participant];
      if (record === undefined) throw notFound(participant);
      const key = this.#newKey(participant, record.alg);
      participants[participant] = { ...record, keys: [...record.keys, key] };
      return key;
    });
  }

  /** Destroys a key's sealed material (rotation, last step, once the chain has revoked it). */
  destroyKey(participant: string, kid: string): Promise<void> {
    return this.#mutate((participants) => {
      const record = participants[participant];
      if (record === undefined) throw notFound(participant);
      const keys = record.keys.filter((k) => k.kid !== kid);
      if (keys.length === record.keys.length) throw new LoulanError('CUSTODY_NOT_FOUND', `no custodial key ${kid}`, { details: { participant, kid } });
      if (keys.length === 0) throw new LoulanError('CUSTODY_NO_ACTIVE_KEY', `${kid} is the last key of ${participant}`, { details: { participant, kid } });
      participants[participant] = { ...record, keys };
    });
  }

  createApiKey(participant: string): Promise<NewApiKey> {
    return this.#mutate((participants) => {
      const record = participants[participant];
      if (record === undefined) throw notFound(participant);
      const { record: apiKey, token } = this.#newApiKey();
      participants[participant] = { ...record, apiKeys: [...record.apiKeys, apiKey] };
      return { id: apiKey.id, token };
    });
  }

  revokeApiKey(participant: string, id: string): Promise<void> {
    return this.#mutate((participants) => {
      const record = participants[participant];
      if (record === undefined) throw notFound(participant);
      const found = record.apiKeys.find((k) => k.id === id && k.revokedAt === undefined);
      if (found === undefined) throw new LoulanError('CUSTODY_NOT_FOUND', `${participant} has no active API key ${id}`, { details: { participant, apiKey: id } });
      participants[participant] = { ...record, apiKeys: record.apiKeys.map((k) => (k === found ? { ...k, revokedAt: this.#now() } : k)) };
    });
  }

  view(participant: string): CustodyView {
    return viewOf(participant, this.#record(participant));
  }

  list(): CustodyView[] {
    return Object.entries(this.#store.participants)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, record]) => viewOf(id, record));
  }

  /** The participant an API key belongs to, or a 401 `CUSTODY_UNAUTHORIZED` (unknown, malformed or revoked: one answer). */
  authenticate(token: string): CustodyCaller {
    const match = TOKEN.exec(token);
    const refused = new LoulanError('CUSTODY_UNAUTHORIZED', 'the API key is not valid');
    if (match === null) throw refused;
    const id = match[1] as string;
    const presented = tokenHash(token);
    for (const [participant, record] of Object.entries(this.#store.participants)) {
      for (const key of record.apiKeys) {
        if (key.id !== id) continue;
        const ok = timingSafeEqual(Buffer.from(key.hash, 'hex'), presented);
        if (ok && key.revokedAt === undefined) return { participant, apiKeyId: id };
        throw refused;
      }
    }
    throw refused;
  }

  /** The newest custodial key of `participant` that the core chain knows as active. */
  activeKey(participant: string): SealedKey {
    const record = this.#record(participant);
    for (let i = record.keys.length - 1; i >= 0; i--) {
      const key = record.keys[i] as SealedKey;
      if (this.#o.isActive(participant, key.kid)) return key;
    }
    throw new LoulanError('CUSTODY_NO_ACTIVE_KEY', `no custodial key of ${participant} is active on the core chain yet`, {
      details: { participant, keys: record.keys.map((k) => k.kid) },
    });
  }

  /** A signer for one key, for the switch's own use (registry calls during rotation); never leaves the switch. */
  privateKey(participant: string, kid: string): Uint8Array {
    const key = this.#record(participant).keys.find((k) => k.kid === kid);
    if (key === undefined) throw new LoulanError('CUSTODY_NOT_FOUND', `no custodial key ${kid}`, { details: { participant, kid } });
    return unseal(this.#o.masterKey, participant, key);
  }

  /**
   * Signs an envelope for the caller: its `source` must be the caller's participant. The signature is
   * in the log (durably) before the signed envelope is returned.
   */
  async sign<T extends SignableEnvelope & { readonly id: string; readonly source: string }>(caller: CustodyCaller, envelope: T) {
    if (envelope.source !== caller.participant) {
      throw new LoulanError('CUSTODY_FORBIDDEN', `this API key signs only for ${caller.participant}`, {
        details: { pointer: '/source', participant: caller.participant, source: envelope.source },
      });
    }
    const key = this.activeKey(caller.participant);
    const privateKey = unseal(this.#o.masterKey, caller.participant, key);
    const { sig: _sig, ...unsigned } = envelope as T & { sig?: unknown };
    let signed;
    try {
      signed = await signEnvelope(unsigned as T, createSigner(key.alg, privateKey, { kid: key.kid }));
    } finally {
      privateKey.fill(0);
    }
    await this.#log.append({
      at: this.#now(),
      participant: caller.participant,
      kid: key.kid,
      apiKey: caller.apiKeyId,
      id: envelope.id,
      digest: toHex(sha256(envelopeSigningInput(signed))),
    });
    return signed;
  }

  /** Flushes and closes the log. */
  close(): Promise<void> {
    return this.#log.close();
  }
}

function viewOf(participant: string, record: CustodyRecord): CustodyView {
  return {
    participant,
    alg: record.alg,
    keys: record.keys.map((k) => ({ kid: k.kid, publicKey: k.publicKey, createdAt: k.createdAt })),
    apiKeys: record.apiKeys.map((k) => ({ id: k.id, createdAt: k.createdAt, ...(k.revokedAt === undefined ? {} : { revokedAt: k.revokedAt }) })),
  };
}

// -- the signature log ------------------------------------------------------------------------------

export interface CustodyLogEntry {
  readonly at: number;
  readonly participant: string;
  readonly kid: string;
  readonly apiKey: string;
  readonly id: string;
  /** SHA-256 (hex) of the signed envelope's signing input. */
  readonly digest: string;
}

const GENESIS_PREV = '0'.repeat(64);

/**
 * Append-only JSON lines, group-committed: lines that arrive while an fdatasync runs share the next one.
 * Each line is `{...entry, prev}` with prev = SHA-256 (hex) of the previous line's bytes.
 */
class SignatureLog {
  readonly #handle: FileHandle;
  #prev: string;
  #pending: { line: string; done: () => void; fail: (e: unknown) => void }[] = [];
  #flushing: Promise<void> | undefined;

  private constructor(handle: FileHandle, prev: string) {
    this.#handle = handle;
    this.#prev = prev;
  }

  static async open(file: string): Promise<SignatureLog> {
    mkdirSync(dirname(file), { recursive: true });
    const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
    // A torn last line (a crash mid-append, never acknowledged) is cut off before appending.
    const complete = existing.endsWith('\n') || existing === '' ? existing : existing.slice(0, existing.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').filter((l) => l.length > 0);
    const last = lines[lines.length - 1];
    const handle = await open(file, 'a+', 0o600);
    if (complete.length !== existing.length) await handle.truncate(Buffer.byteLength(complete));
    return new SignatureLog(handle, last === undefined ? GENESIS_PREV : lineHash(last));
  }

  append(entry: CustodyLogEntry): Promise<void> {
    const line = JSON.stringify({ ...entry, prev: this.#prev });
    this.#prev = lineHash(line);
    return new Promise((done, fail) => {
      this.#pending.push({ line, done, fail });
      if (this.#flushing === undefined) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#handle.appendFile(batch.map((p) => p.line + '\n').join(''));
        await this.#handle.datasync();
        for (const p of batch) p.done();
      } catch (error) {
        for (const p of batch) p.fail(error);
      }
    }
    this.#flushing = undefined;
  }

  async close(): Promise<void> {
    await this.#flushing;
    await this.#handle.close();
  }
}

function lineHash(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** Checks a signature log's hash chain; returns its entries, or throws naming the first broken line (1-based). */
export function verifyCustodyLog(text: string): CustodyLogEntry[] {
  const entries: CustodyLogEntry[] = [];
  let prev = GENESIS_PREV;
  const lines = text.split('\n').filter((l) => l.length > 0);
  lines.forEach((line, i) => {
    const parsed = JSON.parse(line) as CustodyLogEntry & { prev: string };
    if (parsed.prev !== prev) throw new LoulanError('CUSTODY_LOG_BROKEN', `custody log line ${i + 1} does not follow the line before it`, { details: { line: i + 1 } });
    const { prev: _prev, ...entry } = parsed;
    entries.push(entry);
    prev = lineHash(line);
  });
  return entries;
}

/** Where a switch keeps its custody files, under its data folder. */
export function custodyPaths(dataDir: string): { readonly file: string; readonly logFile: string } {
  return { file: join(dataDir, 'custody', 'keys.json'), logFile: join(dataDir, 'custody', 'signatures.log') };
}

