/**
 * Writes the generated Loulan vector files: `npx node test/vectors/loulan/generate.ts`.
 * vectors.test.ts fails when a committed file differs from what its generator produces now.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATORS } from './generators.ts';

const root = join(import.meta.dirname, '../../..');
for (const { file, generate } of GENERATORS) {
  writeFileSync(join(root, file), generate());
  console.log(`wrote ${file}`);
}
