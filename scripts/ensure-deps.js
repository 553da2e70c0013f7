/**
 * Runs before `npm start` and `npm test`. npm itself runs on the machine's Node 20 even after
 * `npm install` has brought Node 24, and npm silently skips optional platform packages whose `engines`
 * exclude the Node it runs on (native bindings, for example). If any package listed here fails to load,
 * this re-runs `npm install` once with node_modules/.bin first on PATH, so npm runs under Node 24 and
 * installs them. Nothing happens when everything loads.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Plain JavaScript, so that a run under the wrong Node gets this message rather than a syntax error.
if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`loulan needs Node 24, this is ${process.version}: run \`npm install\` in ${root} first.`);
  process.exit(1);
}

/** Packages with native or platform-specific parts: loading them proves the binding is installed. */
const NATIVE = ['rolldown'];

async function missing() {
  const out = [];
  for (const name of NATIVE) {
    try {
      await import(name);
    } catch {
      out.push(name);
    }
  }
  return out;
}

const before = await missing();
if (before.length > 0) {
  console.log(`re-installing under Node ${process.version} for: ${before.join(', ')}`);
  const env = { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH ?? ''}` };
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  const after = await missing();
  if (after.length > 0) {
    console.error(`still cannot load: ${after.join(', ')}`);
    process.exit(1);
  }
}
