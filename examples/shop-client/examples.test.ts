/**
 * The shop examples of the README and docs/shops.md, run exactly as a shop would run them: as their own
 * processes, against a real consortium (validators, switch, loopback program).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { signWebhook } from '../../adapters/rest/index.ts';
import { startConsortium, type TestConsortium } from '../../test/support/consortium.ts';
import { freeBasePort, until } from '../../test/support/ports.ts';

const run = promisify(execFile);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
let net: TestConsortium;
const scratch = mkdtempSync(join(tmpdir(), 'loulan-examples-'));

beforeAll(async () => {
  net = await startConsortium();
});
afterAll(async () => {
  await net?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function example(file: string, env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [here(file)], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

describe('shop examples', () => {
  it('send-signed.ts: a shop with its own key sends, follows the message to delivered, and verifies the anchoring proof', async () => {
    const result = await example('./send-signed.ts', { LOULAN_SWITCH: net.switchUrl, LOULAN_KEY_FILE: net.layout.shop.keyFile, LOULAN_GENESIS: net.layout.testnet.genesisFile });
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^accepted accrual-order-\d+/m);
    expect(result.out).toContain('  delivered');
    expect(result.out).toMatch(/proof ok: accepted at height \d+/);
  });

  it('send-custodial.ts: a shop whose key the switch holds sends with its API key; a wrong key is refused with its code', async () => {
    const out: string[] = [];
    const code = await main(
      ['participant', 'add', 'cn.loulan.shop.example', '--roles', 'shop', '--custodial', '--admin-key', net.layout.adminKeyFile, '--core', net.layout.testnet.validators[0]!.rpcUrl, '--switch', net.switchUrl, '--token', net.layout.operatorToken, '--json'],
      { out: (line) => out.push(line), err: (line) => out.push(line) },
    );
    expect(code).toBe(0);
    const token = JSON.parse(out.join('\n')).apiKey.token as string;
    const env = { LOULAN_SWITCH: net.switchUrl, LOULAN_PARTICIPANT: 'cn.loulan.shop.example', LOULAN_API_KEY: token };
    // The switch follows the chain: the new participant is known a block or so after its registration.
    const result = await until('the example to be accepted', 30_000, async () => {
      const r = await example('./send-custodial.ts', env);
      return r.code === 0 ? r : r.err.includes('INTAKE_UNKNOWN_SOURCE') || r.err.includes('CUSTODY_NO_ACTIVE_KEY') ? undefined : r;
    });
    expect(result.err).toBe('');
    expect(result.out).toMatch(/^accepted accrual-order-\d+, signed by the switch with cn\.loulan\.shop\.example#[0-9a-f]{40}$/m);
    const wrong = await example('./send-custodial.ts', { ...env, LOULAN_API_KEY: token.slice(0, -4) + 'AAAA' });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('refused: CUSTODY_UNAUTHORIZED');
  });

  it('webhook-receiver.ts: acts on a signed webhook once, answers a resend 200, refuses a tampered body', async () => {
    const port = await freeBasePort(1);
    const effects = join(scratch, 'effects.log');
    const secret = 'example-webhook-secret-0123456789';
    const child = spawn(process.execPath, [here('./webhook-receiver.ts')], { env: { ...process.env, LOULAN_WEBHOOK_SECRET: secret, PORT: String(port), EFFECTS_FILE: effects }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()));
      const body = JSON.stringify(await net.request({ id: 'wh-1', to: 'cn.loulan.shop.demo', seq: 1 }));
      const post = (payload: string, header: string) =>
        fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'loulan-signature': header }, body: payload });
      const header = signWebhook({ secrets: [secret], timestamp: Math.floor(Date.now() / 1000), body });
      expect((await post(body, header)).status).toBe(200);
      expect((await post(body, header)).status).toBe(200);
      const tampered = await post(body.replace('"wh-1"', '"wh-2"'), header);
      expect(tampered.status).toBe(400);
      expect(await tampered.json()).toEqual({ code: 'WEBHOOK_REFUSED', reason: 'SIGNATURE_MISMATCH' });
      expect(readFileSync(effects, 'utf8').split('\n').filter(Boolean)).toEqual([`${net.layout.shop.id}/wh-1`]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
