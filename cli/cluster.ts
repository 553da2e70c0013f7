/**
 * Runs validators of a testnet folder as child processes: `loulan testnet up`, the integration tests
 * and the benchmarks all use it. Each child prints one JSON line `{"event":"ready",...}` on stdout
 * once its RPC server listens; `start` resolves on that line (not on a timer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestnetLayout } from '../core-chain/node/testnet.ts';
import { PARENT_PID_ENV } from './parent-watch.ts';

const BIN = fileURLToPath(new URL('../bin/loulan.js', import.meta.url));

export interface ProcessOptions {
  /** Extra environment, e.g. LOULAN_CRASH_AT for fault tests. */
  readonly env?: Record<string, string>;
  /** Called with every output line of the child (stdout and stderr). */
  readonly onLine?: (name: string, line: string) => void;
}

export interface ReadyInfo {
  readonly name: string;
  readonly index: number;
  readonly rpc: string;
}

/** A `loulan <command> --config FILE` child process: a validator by default, or a switch. */
export class ValidatorProcess {
  readonly name: string;
  readonly configFile: string;
  readonly command: string;
  child: ChildProcess | null = null;
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(name: string, configFile: string, command: 'node' | 'switch' = 'node') {
    this.name = name;
    this.configFile = configFile;
    this.command = command;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; resolves with its ready line, rejects if it exits before being ready. */
  start(options: ProcessOptions = {}): Promise<ReadyInfo> {
    const child = spawn(process.execPath, [BIN, this.command, '--config', this.configFile], {
      env: { ...process.env, [PARENT_PID_ENV]: String(process.pid), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      let ready = false;
      const onLine = (line: string) => {
        options.onLine?.(this.name, line);
        if (!ready && line.startsWith('{"event":"ready"')) {
          ready = true;
          resolve(JSON.parse(line) as ReadyInfo);
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      void this.exited.then((code) => {
        if (!ready) reject(new Error(`${this.name} exited with ${code ?? child.signalCode} before it was ready`));
      });
    });
  }

  /** kill -9: no cleanup, no flush. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then waits for a clean exit. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill('SIGTERM');
    return this.exited;
  }
}

export class Cluster {
  readonly layout: Pick<TestnetLayout, 'validators'>;
  readonly processes: ValidatorProcess[];

  constructor(layout: Pick<TestnetLayout, 'validators'>) {
    this.layout = layout;
    this.processes = layout.validators.map((v) => new ValidatorProcess(v.name, v.configFile));
  }

  get rpcUrls(): string[] {
    return this.layout.validators.map((v) => v.rpcUrl);
  }

  async startAll(options: ProcessOptions = {}): Promise<ReadyInfo[]> {
    return Promise.all(this.processes.map((p) => p.start(options)));
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }

  async killAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
  }
}
