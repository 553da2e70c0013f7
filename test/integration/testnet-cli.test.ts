/**
 * The `loulan testnet` commands as an operator uses them: init writes a consortium folder, up starts
 * the validators and reports them ready, SIGINT stops them all cleanly. A validator whose safety
 * record is corrupt refuses to start, naming the code, and starts again once the record is restored.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeBasePort, until } from '../support/ports.ts';
import { TransferFactory } from '../support/txgen.ts';
import { parseGenesis } from '../../core-chain/ledger/index.ts';

const BIN = fileURLToPath(new URL('../../bin/loulan.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loulan-testnet-cli-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('loulan testnet', () => {
  test('init, up until ready, and SIGINT stops every validator', async () => {
    const base = await freeBasePort(4);
    const init = spawnSync(process.execPath, [BIN, 'testnet', 'init', '--validators', '4', '--dir', dir, '--base-port', String(base), '--accounts', '4'], { encoding: 'utf8' });
    expect(init.status).toBe(0);
    expect(init.stdout).toContain('wrote 4 validators');

    const up = spawn(process.execPath, [BIN, 'testnet', 'up', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    up.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<void>((resolve) =>
      up.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ctrl-C stops them')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    await ready;
    const pids = [...err.matchAll(/"event":"ready"/g)].length;
    expect(pids).toBe(4);
    const status = (await (await fetch(`http://127.0.0.1:${base + 1}/v1/status`)).json()) as { validators: unknown[] };
    expect(status.validators).toHaveLength(4);
    // A validator takes transactions once it is linked to the others (NODE_NOT_CONNECTED before).
    await until('validator 0 linked to the others', 20_000, async () => {
      const s = (await (await fetch(`http://127.0.0.1:${base + 1}/v1/status`)).json()) as { connectedPeers: number[] };
      return s.connectedPeers.length === 3 ? true : undefined;
    });
    // One committed transfer, so that every validator has signed (and persisted) something.
    const genesis = parseGenesis(readFileSync(join(dir, 'genesis.json'), 'utf8'));
    const tx = TransferFactory.fromFile(genesis, join(dir, 'accounts.json')).next();
    const res = await fetch(`http://127.0.0.1:${base + 1}/v1/tx?wait=commit`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: tx.bytes });
    expect(((await res.json()) as { status: string }).status).toBe('committed');
    const children = spawnSync('pgrep', ['-f', `${dir}/validator`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
    expect(children).toHaveLength(4);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('all validators stopped');
    expect(children.filter(alive)).toEqual([]);
  });

  test('a corrupt safety record stops the validator with SAFETY_RECORD_CORRUPT; restored, it starts', async () => {
    const config = join(dir, 'validator-0', 'config.json');
    const record = join(dir, 'validator-0', 'keys', 'safety.rec');
    copyFileSync(record, `${record}.good`);
    writeFileSync(record, Buffer.from('not a safety record at all'));
    const run = spawnSync(process.execPath, [BIN, 'node', '--config', config], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('SAFETY_RECORD_CORRUPT');
    expect(run.stdout).not.toContain('"event":"ready"');
    copyFileSync(`${record}.good`, record);
    const again = spawn(process.execPath, [BIN, 'node', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = await new Promise<boolean>((resolve) => {
      again.stdout.on('data', (d: Buffer) => d.toString().includes('"event":"ready"') && resolve(true));
      again.once('exit', () => resolve(false));
    });
    expect(started).toBe(true);
    again.kill('SIGTERM');
    await new Promise((resolve) => again.once('exit', resolve));
  });
});
