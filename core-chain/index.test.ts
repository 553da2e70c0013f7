import { describe, expect, test } from 'vitest';
import * as core from './index.ts';
import { ERROR_CODES, LoulanError } from './errors.ts';
import { generate } from '../scripts/gen/errors-doc.ts';
import { readFileSync } from 'node:fs';

describe('core-chain public surface', () => {
  test('the export list is what we reviewed (update this snapshot deliberately)', () => {
    expect(Object.keys(core).sort()).toMatchSnapshot();
  });
});

describe('error registry', () => {
  test('docs/errors.md lists exactly the registered codes, as generated', async () => {
    const [file] = await generate();
    expect(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(file!.content);
    const documented = [...file!.content.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(ERROR_CODES));
  });

  test('every code has an HTTP status in range and a summary', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
      expect(spec.summary.length).toBeGreaterThan(10);
    }
  });

  test('an unregistered code cannot be raised', () => {
    expect(() => new LoulanError('NOPE' as never, 'x')).toThrow(TypeError);
  });

  test('problem documents carry code and details but never the stack or cause', () => {
    const error = new LoulanError('VALIDATE_REQUIRED', 'missing field', { details: { pointer: '/data/amount', height: 5n }, cause: new Error('secret internals') });
    const problem = error.toProblem('/v1/messages');
    expect(problem).toMatchObject({ status: 400, code: 'VALIDATE_REQUIRED', pointer: '/data/amount', height: '5', instance: '/v1/messages' });
    expect(JSON.stringify(problem)).not.toContain('secret');
    expect(JSON.stringify(problem)).not.toContain('at ');
    const internal = new LoulanError('INTERNAL', 'db handle closed at /var/lib', { details: { path: '/var/lib' } }).toProblem();
    expect(internal.detail).toBe('internal error');
    expect(internal).not.toHaveProperty('path');
  });
});
