/**
 * Where an EVM watcher is, persisted so that a restart neither loses nor repeats an event.
 *
 * The state is small (a block number, the last delivered log, the hashes of a window of recent
 * blocks with the ids delivered from each), so it is one JSON file replaced atomically: written to a
 * temporary file in the same directory, fsynced, renamed over the old one, and the directory
 * fsynced. A crash leaves either the old or the new file, never a torn one. A level database would
 * add a dependency and a lock for one value; the switch's own store keeps the adapter-level
 * checkpoint strings when the watcher runs inside it (`memoryCheckpointStore`).
 *
 * The file names the chain and the contracts it is for; resuming with another chain or another
 * contract set is refused (EVM_CHECKPOINT_INVALID) rather than silently skipping or replaying.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LoulanError } from '../../core-chain/index.ts';

export const CHECKPOINT_VERSION = 1;

/** A block the watcher has seen on the canonical chain, and what it delivered from it. */
export interface SeenBlock {
  readonly number: bigint;
  /** 0x hex, lower case. */
  readonly hash: string;
  /** Ids of the events delivered from this block (`blockHash:logIndex`). */
  readonly events: readonly string[];
}

export interface WatcherState {
  readonly chainId: bigint;
  /** Watched contract addresses, lower case, sorted. */
  readonly contracts: readonly string[];
  /** The first block not yet completely scanned. */
  readonly next: bigint;
  /** The last delivered log, when `next` is partly delivered (a stop in the middle of a block). */
  readonly last?: { readonly block: bigint; readonly logIndex: number };
  /** Recent blocks, oldest first: every scanned range's end and every block with events. */
  readonly recent: readonly SeenBlock[];
}

export interface CheckpointStore {
  load(): Promise<WatcherState | undefined>;
  save(state: WatcherState): Promise<void>;
}

interface StateJson {
  version: number;
  chainId: string;
  contracts: string[];
  next: string;
  last?: { block: string; logIndex: number };
  recent: { number: string; hash: string; events: string[] }[];
}

export function stateToJson(state: WatcherState): string {
  const json: StateJson = {
    version: CHECKPOINT_VERSION,
    chainId: state.chainId.toString(),
    contracts: [...state.contracts],
    next: state.next.toString(),
    ...(state.last === undefined ? {} : { last: { block: state.last.block.toString(), logIndex: state.last.logIndex } }),
    recent: state.recent.map((b) => ({ number: b.number.toString(), hash: b.hash, events: [...b.events] })),
  };
  return JSON.stringify(json);
}

export function stateFromJson(text: string): WatcherState {
  let json: StateJson;
  try {
    json = JSON.parse(text) as StateJson;
    if (json.version !== CHECKPOINT_VERSION) invalid('version', `unknown checkpoint version ${String(json.version)}`);
    const state: WatcherState = {
      chainId: BigInt(json.chainId),
      contracts: json.contracts.map((c) => String(c)),
      next: BigInt(json.next),
      ...(json.last === undefined ? {} : { last: { block: BigInt(json.last.block), logIndex: Number(json.last.logIndex) } }),
      recent: json.recent.map((b) => ({ number: BigInt(b.number), hash: String(b.hash), events: b.events.map((e) => String(e)) })),
    };
    return state;
  } catch (cause) {
    if (cause instanceof LoulanError) throw cause;
    throw new LoulanError('EVM_CHECKPOINT_INVALID', 'the watcher checkpoint does not parse', { details: { reason: 'parse' }, cause });
  }
}

/** Refuses a checkpoint written for another chain or contract set. */
export function checkStateFor(state: WatcherState, chainId: bigint, contracts: readonly string[]): void {
  if (state.chainId !== chainId) invalid('chain', `the checkpoint is for chain ${state.chainId}, not ${chainId}`);
  if (state.contracts.join(',') !== contracts.join(',')) invalid('contracts', 'the checkpoint is for another set of contracts');
}

/** One JSON file, replaced atomically (temp file, fsync, rename, fsync of the directory). */
export function fileCheckpointStore(path: string): CheckpointStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return stateFromJson(text);
    },
    async save(state) {
      const dir = dirname(path);
      await mkdir(dir, { recursive: true });
      const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
      const file = await open(temp, 'w');
      try {
        await file.writeFile(stateToJson(state) + '\n', 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      try {
        await rename(temp, path);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
  };
}

/** Kept in memory, starting from a serialized state (the adapter's checkpoint string) if given. */
export function memoryCheckpointStore(initial?: string): CheckpointStore & { current(): string | undefined } {
  let text = initial;
  return {
    async load() {
      return text === undefined ? undefined : stateFromJson(text);
    },
    async save(state) {
      text = stateToJson(state);
    },
    current: () => text,
  };
}

function invalid(reason: string, message: string): never {
  throw new LoulanError('EVM_CHECKPOINT_INVALID', message, { details: { reason } });
}
