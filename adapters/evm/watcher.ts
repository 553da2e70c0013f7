/**
 * Watching contracts' logs on an EVM chain: each log delivered once it has `confirmations` blocks on
 * top, in chain order, resuming from a persisted checkpoint; and, when a reorganisation deeper than
 * that drops a block the watcher already delivered from, a retraction of each of its events before
 * the new canonical chain's events.
 *
 * One `poll` is one step, and all the watcher's decisions happen in it:
 *
 *   1. Reorg check. The checkpoint keeps the hashes of recent blocks (the end of every scanned range
 *      and every block with events). If the newest is still the canonical block at its height, so is
 *      everything before it (each hash commits to its parent). Otherwise the watcher walks back to the
 *      newest remembered block that is still canonical, retracts, newest first, every event delivered
 *      from the blocks after it, and rescans from there. None left: EVM_REORG_TOO_DEEP.
 *   2. Scan. Logs of the watched contracts from the first unscanned block up to head − confirmations
 *      (at most `maxRange` blocks per step), delivered one by one; the checkpoint is saved after each
 *      delivery, so a crash repeats at most the event being delivered (ids are stable:
 *      `blockHash:logIndex`, so the receiver can tell), and a clean stop repeats nothing.
 *
 * `run` is `poll` in a loop with an injected sleep; tests drive `poll` directly, so no test waits
 * on a timer.
 */
import type { JsonRpcProvider } from 'ethers';
import { LoulanError } from '../../core-chain/index.ts';
import { checkStateFor, type CheckpointStore, type SeenBlock, type WatcherState } from './checkpoint.ts';

export interface EvmLogEvent {
  readonly kind: 'log';
  /** `blockHash:logIndex` (block-wide log index): unique, and stable across restarts. */
  readonly id: string;
  readonly blockNumber: bigint;
  readonly blockHash: string;
  readonly txHash: string;
  readonly txIndex: number;
  /** Block-wide log index, as the RPC reports it (what `buildReceiptEvidence` takes). */
  readonly logIndex: number;
  readonly address: string;
  readonly topics: readonly string[];
  readonly data: string;
}

export interface EvmRetraction {
  readonly kind: 'retracted';
  /** The id of the event delivered earlier from a block that is no longer canonical. */
  readonly id: string;
  readonly blockNumber: bigint;
  readonly blockHash: string;
}

export type EvmWatchEvent = EvmLogEvent | EvmRetraction;

export interface EvmWatcherOptions {
  readonly provider: JsonRpcProvider;
  readonly chainId: bigint;
  /** Contract addresses whose logs are delivered. */
  readonly contracts: readonly string[];
  /** Blocks on top of a block before its logs are delivered (0: as soon as mined). */
  readonly confirmations: number;
  readonly store: CheckpointStore;
  /** Without a checkpoint, the first block to scan; default: the first block not yet confirmed (from now). */
  readonly startBlock?: bigint;
  /** Blocks per eth_getLogs call; default 1000. */
  readonly maxRange?: number;
  /** How many blocks back the remembered hashes reach; default 256. */
  readonly window?: number;
}

export interface EvmWatcher {
  /** One step (see the module comment); resolves with the number of events handed to `onEvent`. */
  poll(onEvent: EventHandler): Promise<number>;
  /** Polls until `signal` aborts; a failing poll is reported to `onError` and retried after the interval. */
  run(onEvent: EventHandler, loop: RunOptions): Promise<void>;
}

/**
 * Handles one event; `after` is the watcher's state once the event counts as handled (what a caller
 * that keeps its own checkpoints stores). The watcher saves `after` to its store only when the
 * handler resolves: a handler that throws sees the same event again on the next step.
 */
export type EventHandler = (event: EvmWatchEvent, after: WatcherState) => Promise<void>;

export interface RunOptions {
  readonly signal: AbortSignal;
  readonly intervalMs: number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly onError?: (error: unknown) => void;
}

interface RpcLog {
  readonly address: string;
  readonly topics: readonly string[];
  readonly data: string;
  readonly blockNumber: string;
  readonly blockHash: string;
  readonly transactionHash: string;
  readonly transactionIndex: string;
  readonly logIndex: string;
  readonly removed?: boolean;
}

export function createEvmWatcher(options: EvmWatcherOptions): EvmWatcher {
  const { provider, chainId, confirmations, store } = options;
  const contracts = [...new Set(options.contracts.map((c) => c.toLowerCase()))].sort();
  const maxRange = BigInt(options.maxRange ?? 1000);
  const window = BigInt(options.window ?? 256);
  if (!Number.isSafeInteger(confirmations) || confirmations < 0) throw config('confirmations');
  if (contracts.length === 0) throw config('contracts');
  let state: WatcherState | undefined;

  async function head(): Promise<bigint> {
    return BigInt((await provider.send('eth_blockNumber', [])) as string);
  }

  async function hashAt(number: bigint): Promise<string | undefined> {
    const block = (await provider.send('eth_getBlockByNumber', ['0x' + number.toString(16), false])) as { hash: string } | null;
    return block?.hash.toLowerCase();
  }

  async function initial(): Promise<WatcherState> {
    const loaded = await store.load();
    if (loaded !== undefined) {
      checkStateFor(loaded, chainId, contracts);
      return loaded;
    }
    const start = options.startBlock ?? (await head()) - BigInt(confirmations) + 1n;
    const next = start < 0n ? 0n : start;
    // The block before the start anchors reorg detection from the first step on.
    const anchor = next > 0n ? await hashAt(next - 1n) : undefined;
    const fresh: WatcherState = { chainId, contracts, next, recent: anchor === undefined ? [] : [{ number: next - 1n, hash: anchor, events: [] }] };
    await store.save(fresh);
    return fresh;
  }

  async function save(next: WatcherState): Promise<void> {
    await store.save(next);
    state = next;
  }

  async function checkReorg(current: WatcherState, onEvent: EventHandler): Promise<{ state: WatcherState; delivered: number }> {
    const recent = current.recent;
    const newest = recent[recent.length - 1];
    if (newest === undefined || (await hashAt(newest.number)) === newest.hash) return { state: current, delivered: 0 };
    let keep = recent.length - 1;
    while (keep > 0 && (await hashAt((recent[keep - 1] as SeenBlock).number)) !== (recent[keep - 1] as SeenBlock).hash) keep--;
    if (keep === 0) {
      throw new LoulanError('EVM_REORG_TOO_DEEP', `none of the ${recent.length} remembered blocks is canonical any more`, {
        details: { oldest: recent[0]?.number, newest: newest.number },
      });
    }
    const fork = recent[keep - 1] as SeenBlock;
    let delivered = 0;
    // Newest first, so a receiver undoing effects undoes them in reverse order; a block leaves the
    // checkpoint with its last retraction.
    for (let i = recent.length - 1; i >= keep; i--) {
      const dropped = recent[i] as SeenBlock;
      const left = [...dropped.events];
      const retract = async (): Promise<void> => {
        const id = left.pop();
        const after: WatcherState = { chainId, contracts, next: fork.number + 1n, recent: [...recent.slice(0, i), ...(left.length > 0 ? [{ ...dropped, events: [...left] }] : [])] };
        if (id !== undefined) {
          await onEvent({ kind: 'retracted', id, blockNumber: dropped.number, blockHash: dropped.hash }, after);
          delivered++;
        }
        await save(after);
      };
      do await retract();
      while (left.length > 0);
    }
    return { state: state as WatcherState, delivered };
  }

  return {
    async poll(onEvent) {
      let current = state ?? (await initial());
      state = current;
      const reorg = await checkReorg(current, onEvent);
      current = reorg.state;
      let delivered = reorg.delivered;

      const confirmed = (await head()) - BigInt(confirmations);
      if (confirmed < current.next) return delivered;
      const to = confirmed - current.next + 1n > maxRange ? current.next + maxRange - 1n : confirmed;
      const toHash = await hashAt(to);
      const logs = (await provider.send('eth_getLogs', [
        { address: contracts, fromBlock: '0x' + current.next.toString(16), toBlock: '0x' + to.toString(16) },
      ])) as RpcLog[];
      // A reorg while the logs were read: the range may mix chains; leave it to the next step.
      if (toHash === undefined || (await hashAt(to)) !== toHash) return delivered;
      logs.sort((a, b) => compare(BigInt(a.blockNumber), BigInt(b.blockNumber)) || Number(BigInt(a.logIndex) - BigInt(b.logIndex)));

      let recent = [...current.recent];
      for (const log of logs) {
        if (log.removed === true) continue;
        const blockNumber = BigInt(log.blockNumber);
        const logIndex = Number(BigInt(log.logIndex));
        const last = current.last;
        if (last !== undefined && (blockNumber < last.block || (blockNumber === last.block && logIndex <= last.logIndex))) continue;
        const blockHash = log.blockHash.toLowerCase();
        const id = `${blockHash}:${logIndex}`;
        const tail = recent[recent.length - 1];
        if (tail !== undefined && tail.number === blockNumber && tail.hash === blockHash) {
          recent[recent.length - 1] = { ...tail, events: [...tail.events, id] };
        } else {
          recent.push({ number: blockNumber, hash: blockHash, events: [id] });
        }
        const after: WatcherState = { chainId, contracts, next: current.next, last: { block: blockNumber, logIndex }, recent: [...recent] };
        await onEvent(
          {
            kind: 'log',
            id,
            blockNumber,
            blockHash,
            txHash: log.transactionHash.toLowerCase(),
            txIndex: Number(BigInt(log.transactionIndex)),
            logIndex,
            address: log.address.toLowerCase(),
            topics: log.topics.map((t) => t.toLowerCase()),
            data: log.data.toLowerCase(),
          },
          after,
        );
        delivered++;
        current = after;
        await save(current);
      }
      const tail = recent[recent.length - 1];
      if (tail === undefined || tail.number !== to) recent.push({ number: to, hash: toHash, events: [] });
      // Forget blocks below the window, but always keep the newest one as the anchor.
      recent = recent.filter((b, i) => b.number + window > to || i === recent.length - 1);
      await save({ chainId, contracts, next: to + 1n, recent });
      return delivered;
    },

    async run(onEvent, loop) {
      const sleep = loop.sleep ?? abortableSleep;
      while (!loop.signal.aborted) {
        try {
          await this.poll(onEvent);
        } catch (error) {
          loop.onError?.(error);
        }
        if (loop.signal.aborted) return;
        await sleep(loop.intervalMs, loop.signal);
      }
    },
  };
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function config(field: string): LoulanError {
  return new LoulanError('CONFIG_INVALID', `invalid watcher option ${field}`, { details: { field } });
}
