import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { existsSync } from 'node:fs';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';

describe('test PostgreSQL', () => {
  let server: TestPostgres;
  let startMs = 0;
  beforeAll(async () => {
    const started = performance.now();
    server = await startPostgres();
    startMs = performance.now() - started;
  });
  afterAll(() => server?.stop());

  it('starts a fresh cluster that pg connects to over TCP', async () => {
    console.log(`startPostgres: ${startMs.toFixed(0)} ms`);
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE smoke (id integer PRIMARY KEY, note text NOT NULL)');
      await client.query('INSERT INTO smoke VALUES ($1, $2)', [1, 'hello']);
      const { rows } = await client.query<{ note: string; version: string }>('SELECT note, current_setting($1) AS version FROM smoke', ['server_version_num']);
      expect(rows).toEqual([{ note: 'hello', version: expect.stringMatching(/^18/) }]);
    } finally {
      await client.end();
    }
  });

  it('removes the data directory on stop, and stop twice is harmless', async () => {
    const other = await startPostgres();
    const dataDir = await (async () => {
      const client = new pg.Client({ connectionString: other.url });
      await client.connect();
      try {
        return (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
      } finally {
        await client.end();
      }
    })();
    expect(existsSync(dataDir)).toBe(true);
    await other.stop();
    await other.stop();
    expect(existsSync(dataDir)).toBe(false);
    const client = new pg.Client({ connectionString: other.url });
    await expect(client.connect()).rejects.toThrow();
  });
});
