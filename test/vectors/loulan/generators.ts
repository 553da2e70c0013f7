/** The vector files generated here and their generators (smt.json has its own). */
import * as eventProofs from './event-proofs.gen.ts';
import * as headerChains from './header-chains.gen.ts';
import * as headers from './headers.gen.ts';

export const GENERATORS: readonly { readonly file: string; readonly generate: () => string }[] = [headers, headerChains, eventProofs].map((m) => ({
  file: m.FILE,
  generate: m.generate,
}));
