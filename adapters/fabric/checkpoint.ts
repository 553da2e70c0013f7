/**
 * Where a Fabric event listener resumes: the block to start from and the last transaction already
 * handled in it, the two things fabric-gateway's `Checkpoint` carries.
 *
 * fabric-gateway ships a file checkpointer, but it rewrites the file in place: a crash mid-write can
 * leave a torn file and lose the position. This one writes a temporary file, fsyncs it, renames it
 * over the old one and fsyncs the directory, so the file always holds either the old or the new
 * position. It implements fabric-gateway's `Checkpointer`, so it can be handed straight to
 * `getChaincodeEvents({ checkpoint })`.
 *
 * The position also has a string form (`<block>` or `<block>:<txId>`) for callers that persist it
 * themselves, such as the adapter `watch()` contract.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChaincodeEvent, Checkpointer } from '@hyperledger/fabric-gateway';
import { LoulanError } from '../../core-chain/index.ts';

export interface FabricPosition {
  /** The block to (re)start from. */
  readonly blockNumber: bigint;
  /** The last transaction already handled in that block, if any. */
  readonly transactionId?: string;
}

/** `12` or `12:<txId>`. */
export function formatPosition(position: FabricPosition): string {
  return position.transactionId === undefined ? String(position.blockNumber) : `${position.blockNumber}:${position.transactionId}`;
}

/** Parses `formatPosition` output; throws CONFIG_INVALID (`details.field` checkpoint) otherwise. */
export function parsePosition(text: string): FabricPosition {
  const match = /^(\d{1,20})(?::([0-9a-f]{64}|[A-Za-z0-9_.-]{1,128}))?$/.exec(text);
  if (match === null) throw new LoulanError('CONFIG_INVALID', `not a Fabric checkpoint: ${text}`, { details: { field: 'checkpoint' } });
  return match[2] === undefined ? { blockNumber: BigInt(match[1]!) } : { blockNumber: BigInt(match[1]!), transactionId: match[2] };
}

/** A Checkpointer kept in memory, starting at `position`: what `watch()` uses with a caller-persisted string. */
export class MemoryCheckpointer implements Checkpointer {
  #position: FabricPosition | undefined;
  constructor(position?: FabricPosition) {
    this.#position = position;
  }
  get position(): FabricPosition | undefined {
    return this.#position;
  }
  getBlockNumber(): bigint | undefined {
    return this.#position?.blockNumber;
  }
  getTransactionId(): string | undefined {
    return this.#position?.transactionId;
  }
  async checkpointBlock(blockNumber: bigint): Promise<void> {
    this.#position = { blockNumber: blockNumber + 1n };
  }
  async checkpointTransaction(blockNumber: bigint, transactionId: string): Promise<void> {
    this.#position = { blockNumber, transactionId };
  }
  async checkpointChaincodeEvent(event: ChaincodeEvent): Promise<void> {
    await this.checkpointTransaction(event.blockNumber, event.transactionId);
  }
}

/** A Checkpointer persisted atomically to one file (JSON `{blockNumber, transactionId?}`). */
export class FileCheckpointer extends MemoryCheckpointer {
  readonly path: string;

  private constructor(path: string, position: FabricPosition | undefined) {
    super(position);
    this.path = path;
  }

  /** Loads the file if it exists (a missing file means: no position yet). */
  static async open(path: string): Promise<FileCheckpointer> {
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text === undefined) return new FileCheckpointer(path, undefined);
    let position: FabricPosition;
    try {
      const json = JSON.parse(text) as { blockNumber?: unknown; transactionId?: unknown };
      if (typeof json.blockNumber !== 'string' || !/^\d{1,20}$/.test(json.blockNumber)) throw new Error('blockNumber');
      if (json.transactionId !== undefined && typeof json.transactionId !== 'string') throw new Error('transactionId');
      position = json.transactionId === undefined ? { blockNumber: BigInt(json.blockNumber) } : { blockNumber: BigInt(json.blockNumber), transactionId: json.transactionId };
    } catch (cause) {
      throw new LoulanError('CONFIG_INVALID', `the Fabric checkpoint file ${path} is corrupt`, { details: { field: 'checkpoint', path }, cause });
    }
    return new FileCheckpointer(path, position);
  }

  override async checkpointBlock(blockNumber: bigint): Promise<void> {
    await super.checkpointBlock(blockNumber);
    await this.#save();
  }

  override async checkpointTransaction(blockNumber: bigint, transactionId: string): Promise<void> {
    await super.checkpointTransaction(blockNumber, transactionId);
    await this.#save();
  }

  async #save(): Promise<void> {
    const position = this.position;
    if (position === undefined) return;
    const json = JSON.stringify({ blockNumber: String(position.blockNumber), ...(position.transactionId === undefined ? {} : { transactionId: position.transactionId }) });
    const temporary = `${this.path}.tmp`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(json);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const directory = await open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}
