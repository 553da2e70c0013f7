#!/usr/bin/env node
// The `loulan` command. Plain JavaScript so that it runs under any Node: when started by an older Node
// (a bare shell on a machine that ships Node 20), it re-runs itself under the Node 24 that
// `npm install` placed in node_modules/.bin; the command itself lives in cli/main.ts.
import { spawnSync } from 'node:child_process';
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
  const result = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
