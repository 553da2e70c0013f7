/**
 * Signature verifications per second, per algorithm and library, on one core and on all cores.
 *
 *   node bench/crypto.ts          readable table
 *   node bench/crypto.ts --json   the same table, then one JSON object as the last line
 *
 * The JSON object:
 *   { machine: {cpus, model, node, loadavg1}, results: [...], verifyPerSecAllCores: {Ed25519, ES256, ES256K},
 *     verifyPerSecOneCore: {...} }
 * where the per-algorithm figures are the best implementation of Loulan's full verification rule
 * (ES256K: including the recovery id), i.e. the machine's verification limit for that algorithm.
 */
import { measureVerifyLimit, type VerifyCaseResult } from './lib/verify-limit.ts';

const json = process.argv.includes('--json');

const header = ['alg', 'library', 'checks', '1 core /s', 'all cores /s', 'scaling'];
const rows: string[][] = [];

function row(r: VerifyCaseResult): string[] {
  return [
    r.alg,
    r.library,
    r.checks + (r.full ? '' : ' [reference]'),
    r.oneCorePerSec.toLocaleString('en-US'),
    r.allCoresPerSec.toLocaleString('en-US'),
    `${(r.allCoresPerSec / Math.max(1, r.oneCorePerSec)).toFixed(2)}x / ${r.workers}`,
  ];
}

function table(lines: string[][]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...lines].map((l) => (l[i] ?? '').length)));
  const fmt = (l: string[]): string => l.map((cell, i) => (i >= 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

const started = performance.now();
const limit = await measureVerifyLimit({
  onProgress: (r) => {
    rows.push(row(r));
    if (!json) process.stderr.write(`  measured ${r.id}\n`);
  },
});

const { machine } = limit;
console.log(`machine: ${machine.cpus} cpus, ${machine.model}, node ${machine.node}, load average ${machine.loadavg1} at start`);
if (machine.loadavg1 > 0.5) console.log('note: the machine was busy when the run started; every figure is lower than its idle limit');
console.log(table(rows));
console.log('');
console.log('verification limit (best full-rule implementation):');
for (const alg of ['Ed25519', 'ES256', 'ES256K'] as const) {
  console.log(
    `  ${alg.padEnd(8)} one core ${String(limit.verifyPerSecOneCore[alg] ?? '-').padStart(8)} /s   all cores ${String(limit.verifyPerSecAllCores[alg] ?? '-').padStart(8)} /s`,
  );
}
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
if (json) console.log(JSON.stringify(limit));
