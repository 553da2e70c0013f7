/** `loulan testnet init|up`: a local consortium of validator processes. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LoulanError } from '../core-chain/errors.ts';
import { loadNodeConfig } from '../core-chain/node/config.ts';
import { initTestnet } from '../core-chain/node/testnet.ts';
import { generateTestPki } from '../core-chain/node/tls.ts';
import { integer, parseArgs, required } from './args.ts';
import { ValidatorProcess } from './cluster.ts';
import type { Command } from './main.ts';

export const testnetCommand: Command = {
  name: 'testnet',
  summary: 'create (init) or run (up) a local consortium of validator processes',
  usage: 'loulan testnet init --validators N --dir DIR [--base-port P] [--accounts K] [--chain NAME] [--tls]\n       loulan testnet up --dir DIR',
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === 'init') {
      const { options } = parseArgs(rest, { validators: 'string', dir: 'string', 'base-port': 'string', accounts: 'string', chain: 'string', tls: 'boolean' });
      const dir = required(options.dir, 'dir');
      if (existsSync(join(dir, 'genesis.json'))) throw new LoulanError('CLI_USAGE', `${dir} already holds a testnet`, { details: { option: 'dir' } });
      const validators = integer(options.validators, 'validators', 4, 1, 64);
      const tls = options.tls === true ? (await generateTestPki(validators)).nodes : undefined;
      const layout = initTestnet({
        dir,
        validators,
        ...(tls === undefined ? {} : { tls }),
        basePort: integer(options['base-port'], 'base-port', 26600, 1024, 60000),
        accounts: integer(options.accounts, 'accounts', 16, 1, 100000),
        ...(options.chain === undefined ? {} : { chainName: options.chain }),
      });
      io.out(`wrote ${layout.validators.length} validators, genesis and ${layout.accounts.length} funded accounts to ${dir}`);
      for (const v of layout.validators) io.out(`  ${v.name}  rpc ${v.rpcUrl}  p2p ${v.p2pPort}  config ${v.configFile}`);
      io.out(`start them with: loulan testnet up --dir ${dir}`);
      return 0;
    }
    if (sub === 'up') {
      const { options } = parseArgs(rest, { dir: 'string' });
      const dir = required(options.dir, 'dir');
      const folders = existsSync(dir) ? readdirSync(dir).filter((f) => existsSync(join(dir, f, 'config.json'))).sort() : [];
      if (folders.length === 0) throw new LoulanError('CLI_USAGE', `no validator folders in ${dir}; run \`loulan testnet init\` first`, { details: { option: 'dir' } });
      const processes = folders.map((f) => {
        const file = join(dir, f, 'config.json');
        return new ValidatorProcess(loadNodeConfig(file).name, file);
      });
      const ready = await Promise.all(processes.map((p) => p.start({ onLine: (name, line) => io.err(`[${name}] ${line}`) })));
      io.out(`${ready.length} validators ready:`);
      for (const r of ready) io.out(`  ${r.name} (index ${r.index})  ${r.rpc}`);
      io.out('Ctrl-C stops them.');
      const stopAll = () => Promise.all(processes.map((p) => p.stop()));
      await new Promise<void>((resolve) => {
        const onSignal = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          void stopAll().then(() => resolve());
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        // If every validator exits on its own, stop waiting.
        void Promise.all(processes.map((p) => p.exited)).then(() => resolve());
      });
      io.out('all validators stopped');
      return 0;
    }
    throw new LoulanError('CLI_USAGE', 'usage: loulan testnet init|up ...', { details: { option: 'subcommand' } });
  },
};
