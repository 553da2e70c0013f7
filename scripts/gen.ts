/**
 * Writes every generated file (`npm run gen`) or, with `--check`, fails when any generated file on
 * disk differs from what its generator produces now. The test command runs the check, so stale
 * generated types or docs cannot land.
 *
 * Each generator is a module under scripts/gen/ exporting `generate(): Promise<GeneratedFile[]>`.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  readonly path: string;
  readonly content: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const generators = readdirSync(join(root, 'scripts/gen'))
  .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
  .sort();

let stale = 0;
for (const name of generators) {
  const mod = (await import(join(root, 'scripts/gen', name))) as { generate(): Promise<GeneratedFile[]> };
  for (const file of await mod.generate()) {
    const target = join(root, file.path);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === file.content) continue;
    if (check) {
      stale++;
      console.error(`stale generated file: ${file.path} (run \`npm run gen\`)`);
    } else {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content);
      console.log(`wrote ${file.path}`);
    }
  }
}
if (stale > 0) process.exitCode = 1;
else if (check) console.log('generated files are up to date');
