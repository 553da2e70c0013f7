/** Writes smt.json from the generator: `npx node test/vectors/loulan/smt.write.ts`. */
import { writeFileSync } from 'node:fs';
import { renderSmtVectors } from './smt.gen.ts';

writeFileSync(new URL('./smt.json', import.meta.url), renderSmtVectors());
