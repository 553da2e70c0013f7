#!/usr/bin/env node
// The `loulan` command. Plain JavaScript so that it runs under any Node: when started by an older Node
// (a bare shell on a machine that ships Node 20), it re-runs itself under the Node 24 that
// `npm install` placed in node_modules/.bin; the command itself lives in cli/main.ts.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);

if (major < 24) {
  const local = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(local)) {
    process.stderr.write(`loulan needs Node 24 (this is ${process.version}); run \`npm install\` in ${root} first.\n`);
    process.exit(1);
  }
  const child = spawn(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // Signals sent to this process alone (kill, a supervisor) must reach the real command.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const code = await new Promise((resolve) =>
    child.on('exit', (status, signal) => resolve(status ?? 128 + (signal === null ? 1 : constants.signals[signal]))),
  );
  process.exit(code);
}

// `loulan … | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
