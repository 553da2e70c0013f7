/**
 * A throwaway local EVM node for tests: the real anvil binary from `@foundry-rs/anvil-linux-amd64`
 * (a direct devDependency, so npm never skips it as an optional platform package), started directly
 * rather than through the npm wrapper so that stopping it by PID really stops it. It listens on
 * 127.0.0.1 only, on a port the OS picked, with a fixed mnemonic so accounts are the same every run.
 *
 * Readiness is anvil's own "Listening on" line, not a sleep. Blocks are mined per transaction unless
 * `blockTime` is given; `evm_mine`, `evm_snapshot`/`evm_revert` and `anvil_*` are available to tests
 * that need to shape the chain (reorgs, confirmation depth).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freeBasePort } from './ports.ts';

export interface TestAnvil {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly chainId: bigint;
  /** Private keys of the funded dev accounts (10 000 ETH each), in anvil's order. */
  readonly privateKeys: readonly string[];
  /** Calls a JSON-RPC method on the node. */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** Kills the node; safe to call twice. */
  stop(): Promise<void>;
}

export interface AnvilOptions {
  chainId?: number;
  /** Seconds between blocks; omitted means one block per transaction. */
  blockTime?: number;
  accounts?: number;
}

const MNEMONIC = 'test test test test test test test test test test test junk';

/** The anvil binary path, resolved from the installed platform package. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
}

function waitForListening(child: ChildProcess, log: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log.push(chunk.toString());
      if (log.join('').includes('Listening on')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`anvil exited with ${code} before listening:\n${log.join('').slice(-2000)}`)));
    child.once('error', reject);
  });
}

/**
 * Starts anvil; the caller must `stop()` it (an `afterAll` does).
 *
 * @example
 * const anvil = await startAnvil();
 * const provider = new JsonRpcProvider(anvil.url);
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<TestAnvil> {
  const chainId = options.chainId ?? 31337;
  const accounts = options.accounts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const port = await freeBasePort(1);
    const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--accounts', String(accounts), '--mnemonic', MNEMONIC];
    // Not --silent: the banner carries the private keys and the readiness line.
    if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime));
    const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    try {
      await waitForListening(child, log);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt >= 3) throw error;
      continue;
    }
    child.stdout?.resume();
    child.stderr?.resume();
    const banner = log.join('');
    const keysSection = banner.split('Private Keys')[1] ?? '';
    const privateKeys = [...keysSection.matchAll(/\(\d+\) (0x[0-9a-f]{64})/g)].map((m) => m[1] as string).slice(0, accounts);
    const url = `http://127.0.0.1:${port}`;
    let nextId = 1;
    let stopped = false;
    return {
      url,
      port,
      chainId: BigInt(chainId),
      privateKeys,
      async rpc(method, params = []) {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
        });
        const body = (await response.json()) as { result?: unknown; error?: { message: string } };
        if (body.error) throw new Error(`${method}: ${body.error.message}`);
        return body.result;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        if (child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      },
    };
  }
}
