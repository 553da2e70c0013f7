/**
 * The README's main command: `loulan up` starts a local consortium (4 validators, a switch, a
 * loopback destination), prints the URLs and a signed example message; the pasted message is
 * delivered; Ctrl-C stops every process; a second run keeps the state; `--fresh` starts over.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freeBasePort, until } from '../support/ports.ts';

const BIN = fileURLToPath(new URL('../../bin/loulan.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loulan-up-'));
let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  readonly proc: ChildProcess;
}

function up(...args: string[]): Run {
  const proc = spawn(process.execPath, [BIN, 'up', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
  return { lines, proc, exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))) };
}

async function ready(run: Run): Promise<{ url: string; curl: string; id: string }> {
  await until('loulan up to be ready', 60_000, () => (run.lines.some((l) => l.includes('Ctrl-C stops everything')) ? true : undefined));
  const url = /switch API\s+(\S+)/.exec(run.lines.join('\n'))![1]!;
  const curl = run.lines.find((l) => l.includes('curl -s -X POST'))!;
  const id = /"id":"([^"]+)"/.exec(curl)![1]!;
  return { url, curl, id };
}

async function postExample(url: string, curl: string): Promise<Response> {
  const body = /-d '(.*)'$/.exec(curl)![1]!;
  return fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

describe('loulan up', () => {
  let basePort: number;
  let firstId: string;

  test('starts everything, shows progress and a ready-to-paste message that is delivered; Ctrl-C stops it all', async () => {
    basePort = await freeBasePort(10);
    const run = up('--base-port', String(basePort));
    const { url, curl, id } = await ready(run);
    firstId = id;
    const text = run.lines.join('\n');
    expect(text).toContain('[1/4] starting 4 validators');
    expect(text).toContain('[3/4] starting the switch');
    expect(text).toContain('[4/4] starting the demo shop');
    expect((await postExample(url, curl)).status).toBe(202);
    const delivered = await until('the example delivered', 30_000, async () => {
      const r = (await (await fetch(`${url}/v1/messages/${id}`)).json()) as { status: string };
      return r.status === 'delivered' ? r : undefined;
    });
    expect(delivered.status).toBe('delivered');

    // The demo shop: a purchase earns points once the switch delivered its accrual to the program.
    const shopUrl = /demo shop at (\S+),/.exec(text)![1]!;
    const json = { 'content-type': 'application/json' };
    expect((await fetch(`${shopUrl}/customers`, { method: 'POST', headers: json, body: JSON.stringify({ id: 'alice', name: 'Alice', member: 'm-1' }) })).status).toBe(201);
    const bought = await fetch(`${shopUrl}/purchases`, { method: 'POST', headers: json, body: JSON.stringify({ id: 'o-1', customerId: 'alice', amount: '12800', currency: 'CNY' }) });
    expect(bought.status).toBe(202);
    const alice = await until('the points to be awarded', 30_000, async () => {
      const c = (await (await fetch(`${shopUrl}/customers/alice`)).json()) as { points: string };
      return c.points === '128' ? c : undefined;
    });
    expect(alice.points).toBe('128');
    run.proc.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.lines).toContain('stopped.');
    // Nothing is left listening.
    await expect(fetch(`${url}/v1/health`)).rejects.toThrow();
    for (const v of [0, 1, 2, 3]) await expect(fetch(`http://127.0.0.1:${basePort + 10 * v + 1}/v1/status`)).rejects.toThrow();
    await expect(fetch(`${shopUrl}/customers/alice`)).rejects.toThrow();
  }, 120_000);

  test('a second run keeps the state; --fresh starts over', async () => {
    let run = up();
    let { url } = await ready(run);
    expect(run.lines.join('\n')).toContain('using the consortium');
    expect((await fetch(`${url}/v1/messages/${firstId}`)).status).toBe(200);
    // The shop's PostgreSQL kept its data too.
    const shopUrl = /demo shop at (\S+),/.exec(run.lines.join('\n'))![1]!;
    expect(((await (await fetch(`${shopUrl}/customers/alice`)).json()) as { points: string }).points).toBe('128');
    run.proc.kill('SIGINT');
    expect(await run.exited).toBe(0);

    run = up('--fresh', '--base-port', String(basePort));
    ({ url } = await ready(run));
    expect(run.lines.join('\n')).toContain('creating a new consortium');
    expect((await fetch(`${url}/v1/messages/${firstId}`)).status).toBe(404);
    run.proc.kill('SIGINT');
    expect(await run.exited).toBe(0);
  }, 150_000);
});
