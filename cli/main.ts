/**
 * The `loulan` command line. Kept apart from the libraries (as ts-relayer does): each subcommand parses
 * its own options and calls the public surface of one part. `main` returns an exit code and never
 * calls process.exit, so tests can run it in-process.
 */
import { readFileSync } from 'node:fs';
import { LoulanError, isLoulanError } from '../core-chain/errors.ts';
import { approvalsCommand } from './approvals-command.ts';
import { connectorCommand } from './connector-command.ts';
import { messagesCommand } from './messages-command.ts';
import { nodeCommand } from './node-command.ts';
import { participantCommand } from './participant-command.ts';
import { routesCommand } from './routes-command.ts';
import { switchCommand } from './switch-command.ts';
import { upCommand } from './up-command.ts';
import { testnetCommand } from './testnet-command.ts';
import { validatorCommand } from './validator-command.ts';
import { evmCommand } from './evm-command.ts';

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: string[], io: Io): Promise<number>;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const defaultIo: Io = {
  out: (text) => void process.stdout.write(text + '\n'),
  err: (text) => void process.stderr.write(text + '\n'),
};

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const versionCommand: Command = {
  name: 'version',
  summary: 'print the version of loulan and of the Node runtime',
  usage: 'loulan version',
  async run(_args, io) {
    io.out(`loulan ${packageVersion()} (node ${process.version})`);
    return 0;
  },
};

const startCommand: Command = {
  name: 'start',
  summary: 'the main job (what `npm start` runs): `loulan up`, a local consortium',
  usage: 'loulan start [loulan up options]',
  run: (args, io) => upCommand.run(args, io),
};

const commands: Command[] = [versionCommand, startCommand, upCommand, nodeCommand, switchCommand, testnetCommand, validatorCommand, routesCommand, messagesCommand, approvalsCommand, connectorCommand, participantCommand, evmCommand];

function help(io: Io): void {
  io.out('usage: loulan <command> [options]');
  io.out('');
  io.out('Loulan interchange: a cross-chain gateway and interchange switch in front of a PBFT consortium ledger.');
  io.out('');
  io.out('commands:');
  for (const command of commands) io.out(`  ${command.name.padEnd(12)} ${command.summary}`);
  io.out('');
  io.out('`loulan <command> --help` shows the options of one command.');
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    help(io);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') return versionCommand.run([], io);
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`loulan: unknown command '${name}' (CLI_USAGE); see \`loulan --help\``);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: ${command.usage}`);
    io.out(command.summary);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (isLoulanError(error)) {
      io.err(`loulan ${name}: ${error.code}: ${error.message}`);
      return error.code === 'CLI_USAGE' ? 2 : 1;
    }
    const wrapped = new LoulanError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
    io.err(`loulan ${name}: ${wrapped.code}: ${wrapped.message}`);
    return 1;
  }
}
