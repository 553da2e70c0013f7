/**
 * The connector as a process: `loulan connector --config FILE` runs `serveConnector`, and so does
 * this file when started directly (what the kill test spawns, without the CLI around it):
 *
 *   npx node adapters/db/connector-main.ts --config FILE
 *   npx node adapters/db/connector-main.ts migrate --config FILE
 *
 * It prints one JSON line `{"event":"ready",...}` once it listens and LISTENs, and stops cleanly on
 * SIGTERM or SIGINT (the pass in progress finishes, its transaction commits).
 *
 * Fault injection, for the kill test only and only when started directly: with
 * `LOULAN_CONNECTOR_KILL_AFTER=N` the process SIGKILLs itself at its N-th step, counting the start and
 * the end of every database call and every POST to the switch. At a start it fires the call, then
 * dies before the next turn of the event loop (the request may or may not have left); at an end it
 * dies with the answer in hand, before acting on it. Nothing is flushed or cleaned up either way.
 * `LOULAN_CONNECTOR_KILL_STAGE=db` or `post` counts the steps of that kind only, so that a test can aim
 * at the few POSTs among the many queries.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConnectorConfig, type ConnectorConfig } from './config.ts';
import { startConnector, type ConnectorOptions, type StepHook } from './connector.ts';
import { migrate, type MigrateResult } from './schema.ts';

export interface ConnectorIo {
  out(text: string): void;
  err(text: string): void;
}

/** How long a clean shutdown may take before the process exits anyway (the database holds every outcome). */
const SHUTDOWN_TIMEOUT_MS = 15_000;

/** Creates or upgrades the connector's tables in the configured database. */
export async function migrateConnector(config: ConnectorConfig): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    return await migrate(client, config.names);
  } finally {
    await client.end();
  }
}

/** Runs the connector until SIGTERM/SIGINT; resolves with the exit code. */
export async function serveConnector(config: ConnectorConfig, io: ConnectorIo, options: ConnectorOptions = {}): Promise<number> {
  const log = (level: string, message: string, fields?: Record<string, unknown>) =>
    io.err(`${new Date().toISOString()} ${level} [connector ${config.participant}] ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
  const running = await startConnector(config, { log, ...options });
  io.out(JSON.stringify({ event: 'ready', participant: config.participant, url: running.url, port: running.port, switchUrl: config.switchUrl }));
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = () => {
      const watchdog = setTimeout(() => {
        io.err(JSON.stringify({ event: 'shutdown-timeout', participant: config.participant }));
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      watchdog.unref();
      void running.close().finally(resolve);
    };
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await stopped;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  io.out(JSON.stringify({ event: 'stopped', ...running.stats() }));
  return 0;
}

/**
 * The step hook that SIGKILLs the process at its `killAfter`-th step (see the module comment). It
 * first tells `say` where (a synchronous write, so the line is out before the process is gone).
 */
export function killingStep(killAfter: number, say: (line: string) => void, only?: 'db' | 'post'): StepHook {
  let steps = 0;
  const die = (stage: string, at: 'start' | 'end'): never => {
    say(JSON.stringify({ event: 'kill', stage, at, step: steps }));
    process.kill(process.pid, 'SIGKILL');
    throw new Error('unreachable: SIGKILL');
  };
  return async (stage, run) => {
    if (only !== undefined && stage !== only) return run();
    if (++steps === killAfter) {
      const inFlight = run();
      inFlight.catch(() => undefined);
      setImmediate(() => die(stage, 'start'));
      return new Promise<never>(() => {});
    }
    const result = await run();
    if (++steps === killAfter) die(stage, 'end');
    return result;
  };
}

async function runDirectly(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { config: { type: 'string' } }, allowPositionals: true, strict: true });
  const io: ConnectorIo = { out: (t) => void process.stdout.write(t + '\n'), err: (t) => void process.stderr.write(t + '\n') };
  if (values.config === undefined || positionals.length > 1 || (positionals.length === 1 && positionals[0] !== 'migrate')) {
    io.err('usage: connector-main.ts [migrate] --config FILE');
    return 2;
  }
  const config = loadConnectorConfig(values.config);
  if (positionals[0] === 'migrate') {
    io.out(JSON.stringify({ event: 'migrated', ...(await migrateConnector(config)) }));
    return 0;
  }
  const killAfter = Number(process.env['LOULAN_CONNECTOR_KILL_AFTER'] ?? 0);
  const stage = process.env['LOULAN_CONNECTOR_KILL_STAGE'];
  const only = stage === 'db' || stage === 'post' ? stage : undefined;
  return serveConnector(config, io, Number.isSafeInteger(killAfter) && killAfter > 0 ? { step: killingStep(killAfter, io.out, only) } : {});
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runDirectly();
}
