/**
 * Reads the schema documents of this folder and names them. Internal to schemas/: index.ts builds
 * validators from it and scripts/gen/schema-types.ts builds the TypeScript types from it, so both
 * see the same files named the same way.
 *
 * A document's `$id` (`urn:loulan:schema:<name>:<semver>`) is the only place its name and version
 * are written; a payload's name is its envelope `type`. The file name must repeat the name
 * (`payloads/<name>.schema.json`) so that a reviewer finds a schema by its type and a renamed `$id`
 * cannot go unnoticed: loading fails instead.
 *
 * The hash identifies a document on the core chain's schema registry. It is taken over a canonical
 * form (RFC 8785, the same encoder envelopes are signed with) so that whitespace and key order in
 * the file do not matter.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { LoulanError } from '../core-chain/errors.ts';
import { canonicalize } from '../core-chain/codec/jcs.ts';

export type SchemaRole = 'common' | 'envelope' | 'payload';

export interface SchemaDocument {
  /** The `$id`, e.g. `urn:loulan:schema:points.exchange.request:1.0.0`. */
  readonly id: string;
  /** The name part of the `$id`; for payloads, the envelope `type`. */
  readonly name: string;
  /** Semantic version from the `$id`. */
  readonly version: string;
  readonly role: SchemaRole;
  /** Path relative to the repository root. */
  readonly file: string;
  /** Lower-case hex SHA-256 of the canonical form of the document. */
  readonly sha256: string;
  /** The parsed document, deeply frozen. */
  readonly document: Readonly<Record<string, unknown>>;
}

const ID_PATTERN = /^urn:loulan:schema:([a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)*):((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))$/;

/** Splits a schema `$id` into name and version; `undefined` when it is not a versioned Loulan id. */
export function parseSchemaId(id: string): { readonly name: string; readonly version: string } | undefined {
  const match = ID_PATTERN.exec(id);
  return match === null ? undefined : { name: match[1] as string, version: match[2] as string };
}

/** JSON with object keys sorted at every level and no whitespace. */
/** RFC 8785 (JCS), the project's one canonical JSON form. */
export function canonicalJson(value: unknown): string {
  return canonicalize(value);
}

export function schemaHash(document: unknown): string {
  return createHash('sha256').update(canonicalJson(document), 'utf8').digest('hex');
}

const folder = new URL('./', import.meta.url);

/** Every schema document: common, envelope, then payloads sorted by name. Reads the disk each call. */
export function loadSchemaDocuments(): readonly SchemaDocument[] {
  const payloadFiles = readdirSync(new URL('payloads/', folder))
    .filter((file) => file.endsWith('.schema.json'))
    .sort();
  return [
    load('common.schema.json', 'common'),
    load('envelope.schema.json', 'envelope'),
    ...payloadFiles.map((file) => load(`payloads/${file}`, 'payload')),
  ];
}

function load(file: string, role: SchemaRole): SchemaDocument {
  const path = `schemas/${file}`;
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(new URL(file, folder), 'utf8'));
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', `cannot read schema ${path}`, { details: { field: path }, cause });
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new LoulanError('CONFIG_INVALID', `schema ${path} is not a JSON object`, { details: { field: path } });
  }
  const id = (document as Record<string, unknown>)['$id'];
  const parsed = typeof id === 'string' ? parseSchemaId(id) : undefined;
  const expected = role === 'payload' ? file.slice('payloads/'.length, -'.schema.json'.length) : role;
  if (parsed === undefined || parsed.name !== expected) {
    throw new LoulanError('CONFIG_INVALID', `schema ${path} must have $id urn:loulan:schema:${expected}:<major.minor.patch>`, {
      details: { field: `${path}#/$id` },
    });
  }
  return Object.freeze({
    id: id as string,
    name: parsed.name,
    version: parsed.version,
    role,
    file: path,
    sha256: schemaHash(document),
    document: deepFreeze(document as Record<string, unknown>),
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
