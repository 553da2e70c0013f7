import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const WATCH = fileURLToPath(new URL('./parent-watch.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loulan-parent-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('watchParent', () => {
  it('a child started with LOULAN_PARENT_PID stops once its parent was killed with -9', async () => {
    // parent: starts the child with its own pid, prints the child's pid, then idles until killed.
    const child = join(dir, 'child.mjs');
    writeFileSync(
      child,
      `import { watchParent } from ${JSON.stringify(WATCH)};\n` +
        `watchParent(() => { console.log('parent gone'); process.exit(0); }, 20);\n` +
        `console.log('watching'); setInterval(() => {}, 60_000);\n`,
    );
    const parent = spawn(
      process.execPath,
      ['-e', `const c = require('node:child_process').spawn(process.execPath, [${JSON.stringify(child)}], { env: { ...process.env, LOULAN_PARENT_PID: String(process.pid) }, stdio: ['ignore', 'inherit', 'inherit'] }); setInterval(() => {}, 60_000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines: string[] = [];
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => lines.includes(text) && resolve();
        createInterface({ input: parent.stdout! }).on('line', (line) => {
          lines.push(line);
          check();
        });
        check();
      });
    await seen('watching');
    expect(lines).not.toContain('parent gone');
    parent.kill('SIGKILL');
    // The child shares the pipe; its line arrives although the parent is dead.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (lines.includes('parent gone')) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    expect(lines).toEqual(['watching', 'parent gone']);
  });
});
