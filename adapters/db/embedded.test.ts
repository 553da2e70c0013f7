import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freeBasePort } from '../../test/support/ports.ts';
import { startEmbeddedPostgres } from './embedded.ts';

const FIXTURE = fileURLToPath(new URL('./embedded-child.fixture.ts', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('embedded PostgreSQL', () => {
  it('takes over from a server whose owner was killed with -9, keeping the data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loulan-embedded-'));
    dirs.push(dir);
    await chmod(dir, 0o755);
    const port = await freeBasePort(1);
    const owner = spawn(process.execPath, [FIXTURE, join(dir, 'pg'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: owner.stdout! }).on('line', (line) => line.startsWith('ready ') && resolve(line.slice(6)));
      owner.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE kept (v text)');
    await client.query("INSERT INTO kept VALUES ('before')");
    await client.end();
    const orphan = Number((await readFile(join(dir, 'pg', 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const exited = new Promise((resolve) => owner.once('exit', resolve));
    owner.kill('SIGKILL');
    await exited;
    // The orphaned server still runs and holds the port.
    expect(() => process.kill(orphan, 0)).not.toThrow();

    const again = await startEmbeddedPostgres({ dir: join(dir, 'pg'), port, password: 'fixture-pass', fast: true });
    try {
      const c = new pg.Client({ connectionString: again.url });
      await c.connect();
      const { rows } = await c.query('SELECT v FROM kept');
      await c.end();
      expect(rows).toEqual([{ v: 'before' }]);
      const now = Number((await readFile(join(dir, 'pg', 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      expect(now).not.toBe(orphan);
    } finally {
      await again.stop();
    }
  });
});
