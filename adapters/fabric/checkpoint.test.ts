import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import { FileCheckpointer, formatPosition, parsePosition } from './checkpoint.ts';

const dir = mkdtempSync(join(tmpdir(), 'loulan-fabric-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fabric checkpoints', () => {
  it('round-trips positions through their string form (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n }), fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }), (blockNumber, transactionId) => {
        const position = transactionId === undefined ? { blockNumber } : { blockNumber, transactionId };
        expect(parsePosition(formatPosition(position))).toEqual(position);
      }),
    );
    for (const bad of ['', '-1', '1:', 'x', '1:2:3', '1:has space']) {
      expect(() => parsePosition(bad)).toThrow(LoulanError);
    }
  });

  it('persists each checkpoint by rename, survives reopening, and leaves no temporary file', async () => {
    const path = join(dir, 'a.json');
    const fresh = await FileCheckpointer.open(path);
    expect(fresh.getBlockNumber()).toBeUndefined();
    await fresh.checkpointTransaction(7n, 'f'.repeat(64));
    expect((await FileCheckpointer.open(path)).getTransactionId()).toBe('f'.repeat(64));
    await fresh.checkpointBlock(7n);
    const reopened = await FileCheckpointer.open(path);
    expect(reopened.getBlockNumber()).toBe(8n);
    expect(reopened.getTransactionId()).toBeUndefined();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ blockNumber: '8' });
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a corrupt file instead of starting over from nothing', async () => {
    const path = join(dir, 'corrupt.json');
    writeFileSync(path, '{"blockNumber": 12');
    await expect(FileCheckpointer.open(path)).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'checkpoint', path } });
    writeFileSync(path, '{"blockNumber": 12}');
    await expect(FileCheckpointer.open(path)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
