import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../../adapters/rest/signature.ts';
import { generate, type WebhookVectors } from './webhooks.gen.ts';

const text = readFileSync(new URL('./webhooks.json', import.meta.url), 'utf8');
const vectors = JSON.parse(text) as WebhookVectors;

describe('webhook signature vectors (test/vectors/loulan/webhooks.json)', () => {
  it('are what the generator produces, byte for byte (regenerate: npx node test/vectors/loulan/webhooks.write.ts)', () => {
    expect(text).toBe(generate());
  });

  it('cover every reason and valid requests, with unique names', () => {
    const names = vectors.cases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(vectors.cases.map((c) => (c.expect === 'ok' ? 'ok' : c.expect.reason)))).toEqual(
      new Set(['ok', 'HEADER_MISSING', 'HEADER_MALFORMED', 'SIGNATURE_MISMATCH', 'TIMESTAMP_OUT_OF_WINDOW', 'BODY_MALFORMED', 'DUPLICATE']),
    );
  });

  it.each(vectors.cases.map((c) => [c.name, c] as const))('verifyWebhook: %s', (_name, c) => {
    const { header, body, secrets, now, toleranceSec, seen } = c.input;
    const result = verifyWebhook({ header, body, secrets, now: now * 1000, toleranceSec, ...(seen === undefined ? {} : { seen: new Set(seen) }) });
    expect(result.ok ? { expect: 'ok', output: { key: result.key } } : { expect: { reason: result.reason } }).toEqual(
      c.expect === 'ok' ? { expect: 'ok', output: c.output } : { expect: c.expect },
    );
  });
});

describe('the TypeScript example of docs/webhooks.md', () => {
  // The example is run as written in the page, so the page cannot drift from the scheme.
  const doc = readFileSync(new URL('../../../docs/webhooks.md', import.meta.url), 'utf8');
  const block = /```ts\n(\/\/ example: checkLoulanSignature[\s\S]*?)```/.exec(doc)?.[1];
  const dir = mkdtempSync(join(tmpdir(), 'loulan-webhook-doc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('agrees with every vector on header, signature and window', async () => {
    expect(block).toBeDefined();
    const file = join(dir, 'example.ts');
    writeFileSync(file, block as string);
    const { checkLoulanSignature } = (await import(file)) as { checkLoulanSignature: (header: string | undefined, body: Buffer, secrets: string[], now: number, toleranceSec?: number) => string };
    for (const c of vectors.cases) {
      const { header, body, secrets, now, toleranceSec } = c.input;
      // The example stops after the window: body shape and duplicates are the shop's own business.
      const expected = c.expect === 'ok' || c.expect.reason === 'BODY_MALFORMED' || c.expect.reason === 'DUPLICATE' ? 'ok' : c.expect.reason;
      expect([c.name, checkLoulanSignature(header ?? undefined, Buffer.from(body, 'utf8'), [...secrets], now, toleranceSec)]).toEqual([c.name, expected]);
    }
  });
});
