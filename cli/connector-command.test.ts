import { describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type Io } from './main.ts';

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (t) => void out_.push(t), err: (t) => void err_.push(t) };
}

// The command against a real database and switch: test/integration/db-connector.test.ts.
describe('loulan connector', () => {
  test('is listed in --help', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out_.join('\n')).toMatch(/^ {2}connector +\S/m);
  });

  test('a missing --config or an unknown subcommand is a usage error (exit 2)', async () => {
    for (const args of [['connector'], ['connector', 'migrat', '--config', 'x.json'], ['connector', 'migrate', 'now', '--config', 'x.json']]) {
      const io = capture();
      expect({ args, code: await main(args, io) }).toEqual({ args, code: 2 });
      expect(io.err_.join('\n')).toContain('CLI_USAGE');
    }
  });

  test('a bad config file fails with CONFIG_INVALID (exit 1) before touching any database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loulan-connector-cli-'));
    try {
      const file = join(dir, 'connector.json');
      writeFileSync(file, JSON.stringify({ databaseUrl: 'postgres://u:p@127.0.0.1:1/db', switchUrl: 'http://127.0.0.1:1', participant: 'cn.loulan.shop.a', keyFile: 'k.json', webhookSecrets: 'short' }));
      const io = capture();
      expect(await main(['connector', 'migrate', '--config', file], io)).toBe(1);
      expect(io.err_.join('\n')).toContain('CONFIG_INVALID');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
