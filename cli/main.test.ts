import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main, type Io } from './main.ts';

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (t) => void out_.push(t), err: (t) => void err_.push(t) };
}

describe('loulan command', () => {
  test('--help lists the commands and exits 0', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out_.join('\n')).toContain('version');
  });

  test('version prints the package version', async () => {
    const io = capture();
    expect(await main(['version'], io)).toBe(0);
    expect(io.out_[0]).toMatch(/^loulan \d+\.\d+\.\d+ \(node v24\./);
  });

  test('an unknown command is a usage error with exit code 2', async () => {
    const io = capture();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(io.err_.join('\n')).toContain('CLI_USAGE');
  });

  test('bin/loulan.js re-runs itself under the local Node 24 when started by another Node', () => {
    const bin = fileURLToPath(new URL('../bin/loulan.js', import.meta.url));
    const system = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
    const runner = system.status === 0 ? '/usr/bin/node' : process.execPath;
    const result = spawnSync(runner, [bin, 'version'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\(node v24\./);
  });
});
