/**
 * Summarises V8 .cpuprofile files: self time by function and by source file, as shares of the
 * sampled time. `node bench/lib/profile-summary.ts DIR [top]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = process.argv[2] ?? '.';
const top = Number(process.argv[3] ?? 25);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    const f = node.callFrame;
    const where = f.url.replace(/^.*\/(node_modules\/[^/]+|core-chain|cli|bench|test)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const fileKey = f.url === '' ? `(${f.functionName || 'native'})` : where;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + dt);
    total += dt;
  });
  const pct = (v: number) => ((v / total) * 100).toFixed(1).padStart(5) + ' %';
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('  by function (self time):');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${k}`);
  console.log('  by file:');
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(v)}  ${k}`);
}
