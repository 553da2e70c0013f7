import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../core-chain/index.ts';
import { schemaHash } from '../schemas/documents.ts';
import { listSchemas } from '../schemas/index.ts';
import type { SwitchApi } from './api.ts';
import { buildSwitchServer } from './http.ts';
import { buildOpenApi, OPERATIONS, openApiPath } from './openapi.ts';

type Json = Record<string, unknown>;

const doc = buildOpenApi();
const paths = doc.paths as Record<string, Record<string, Json>>;
const components = doc.components.schemas as Record<string, Json>;

describe('the OpenAPI document', () => {
  it('documents every route the server registers, and nothing else', async () => {
    const app = buildSwitchServer({} as SwitchApi, { operatorTokens: [] });
    const registered: string[] = [];
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) if (method !== 'HEAD') registered.push(`${method} ${openApiPath(route.url)}`);
    });
    await app.ready();
    await app.close();
    const documented = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(registered.length).toBeGreaterThanOrEqual(15);
    expect([...documented].sort()).toEqual([...registered].sort());
  });

  it('embeds every schema document unchanged (same $id, same hash as listSchemas())', () => {
    const schemas = listSchemas();
    expect(schemas.length).toBeGreaterThan(2);
    for (const schema of schemas) {
      const embedded = components[schema.name];
      expect(embedded?.['$id']).toBe(schema.id);
      expect(schemaHash(embedded)).toBe(schema.sha256);
    }
  });

  it('the message request body references the envelope and every payload schema', () => {
    const body = paths['/v1/messages']?.['post']?.['requestBody'] as Json;
    const text = JSON.stringify(body);
    expect(text).toContain('#/components/schemas/TypedEnvelope');
    expect(text).toContain('#/components/schemas/MessageBatch');
    const typed = JSON.stringify(components['TypedEnvelope']);
    for (const schema of listSchemas()) if (schema.role !== 'common') expect(typed).toContain(`"${schema.id}"`);
  });

  it('lists each problem under the status the error registry gives its code', () => {
    let seen = 0;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const responses = op['responses'] as Record<string, Json>;
        expect(responses['500']?.['x-codes'], `${method} ${path}`).toEqual(['INTERNAL']);
        for (const [status, response] of Object.entries(responses)) {
          const codes = (response['x-codes'] ?? []) as ErrorCode[];
          for (const code of codes) {
            expect(ERROR_CODES[code]?.status, code).toBe(Number(status));
            seen++;
          }
        }
      }
    }
    expect(seen).toBeGreaterThan(50);
  });

  it('declares every path parameter, marks operator routes, and documents the `_` default route', () => {
    for (const op of OPERATIONS) {
      const documented = paths[openApiPath(op.url)]?.[op.method.toLowerCase()] as Json;
      const parameters = (documented['parameters'] ?? []) as Json[];
      for (const [, name] of op.url.matchAll(/:([A-Za-z]+)/g)) {
        expect(parameters).toContainEqual(expect.objectContaining({ name, in: 'path', required: true }));
      }
      expect(documented['security'] !== undefined, op.id).toBe(op.operator === true || op.apiKey === true);
      if (op.operator === true) expect(Object.keys(documented['responses'] as Json)).toContain('401');
    }
    const put = paths['/v1/routes/{prefix}']?.['put'] as Json;
    expect(JSON.stringify(put)).toContain('`_`');
  });

  it('every reference resolves: each component compiles, and the schema examples validate against it', () => {
    const ajv = new Ajv2020({ strict: false, discriminator: true });
    ajvFormats.default(ajv);
    ajv.addSchema(doc as unknown as Json, 'urn:loulan:test:openapi');
    const compile = (name: string) => ajv.compile({ $ref: `urn:loulan:test:openapi#/components/schemas/${name}` });
    for (const name of Object.keys(components)) if (name !== 'common') expect(() => compile(name), name).not.toThrow();
    const typed = compile('TypedEnvelope');
    const batch = compile('MessageBatch');
    const examples = new URL('../schemas/examples/envelope/valid/', import.meta.url);
    const files = readdirSync(examples).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const envelope = JSON.parse(readFileSync(new URL(file, examples), 'utf8')) as Json;
      expect(typed(envelope), `${file}: ${JSON.stringify(typed.errors)}`).toBe(true);
      expect(batch({ messages: [envelope] })).toBe(true);
      expect(typed({ ...envelope, type: 'no.such.type' })).toBe(false);
    }
    expect(batch({ messages: [] })).toBe(false);
  });
});
