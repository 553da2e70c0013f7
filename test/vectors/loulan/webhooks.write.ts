/** Writes webhooks.json from the generator: `npx node test/vectors/loulan/webhooks.write.ts`. */
import { writeFileSync } from 'node:fs';
import { generate } from './webhooks.gen.ts';

writeFileSync(new URL('./webhooks.json', import.meta.url), generate());
