/**
 * The test command (`npm test`): generated files are current, the strict type-check passes, then the
 * whole vitest suite. Runs under the Node 24 that `npm install` put in node_modules/.bin.
 * Extra arguments go to vitest (`npm test -- core-chain`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => join(root, 'node_modules/.bin', name);

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`loulan needs Node 24, this is ${process.version}: run \`npm install\` first, then \`npm test\`.`);
  process.exit(1);
}

function step(title: string, command: string, args: string[]): void {
  console.log(`\n== ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n${title} failed`);
    process.exit(result.status ?? 1);
  }
}

step('generated files', process.execPath, [join(root, 'scripts/gen.ts'), '--check']);
step('type-check', bin('tsc'), ['-p', join(root, 'tsconfig.json'), '--noEmit']);
step('tests', bin('vitest'), ['run', ...process.argv.slice(2)]);
