import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromHex, sha256, toHex } from '../../../core-chain/crypto/hash.ts';
import { isLoulanError } from '../../../core-chain/errors.ts';
import { decodeHeader } from '../../../core-chain/ledger/block.ts';
import { validatorSetHash } from '../../../core-chain/ledger/genesis.ts';
import { verifyCommittedHeader, verifyEventProof, verifyHeaderChain, type HeaderChainItem, type TrustedValidatorSet } from '../../../core-chain/verify/index.ts';
import { GENERATORS } from './generators.ts';
import { certFromJson, type CertificateJson, type Expect } from './kit.ts';

const root = join(import.meta.dirname, '../../..');

function load<T>(file: string): T {
  return JSON.parse(readFileSync(join(root, 'test/vectors/loulan', file), 'utf8')) as T;
}

interface SetJson {
  readonly publicKeys: readonly string[];
  readonly hash?: string;
}

interface VectorFile<I> {
  readonly spec: { readonly chainId: string };
  readonly validatorSets?: Record<string, SetJson>;
  readonly cases: readonly { readonly name: string; readonly input: I; readonly expect: Expect; readonly output?: Record<string, string> }[];
}

/** Runs `run`; checks it returned for "ok", or threw a LoulanError with the code and details. */
function outcome(expected: Expect, run: () => Record<string, string> | void, output?: Record<string, string>): void {
  let result: Record<string, string> | void;
  try {
    result = run();
  } catch (error) {
    if (expected === 'ok' || !isLoulanError(error)) throw error;
    expect(error.code).toBe(expected.code);
    if (expected.details !== undefined) expect(plain(error.details)).toMatchObject(expected.details);
    return;
  }
  expect(expected).toBe('ok');
  if (output !== undefined) expect(result).toEqual(output);
}

// Details as the vectors spell them: bigints as decimal strings, bytes as hex.
function plain(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(details).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v]),
  );
}

describe('Loulan vector files are what their generators produce', () => {
  it.each(GENERATORS.map((g) => [g.file, g.generate] as const))('%s', (file, generate) => {
    // Byte for byte: regenerate with `npx node test/vectors/loulan/generate.ts` after a deliberate change.
    expect(generate()).toBe(readFileSync(join(root, file), 'utf8'));
  });
});

function setsOf(doc: VectorFile<unknown>): (name: string) => TrustedValidatorSet {
  const chainId = fromHex(doc.spec.chainId);
  return (name) => {
    const set = doc.validatorSets?.[name];
    if (set === undefined) throw new Error(`no validator set ${name}`);
    const publicKeys = set.publicKeys.map((k) => fromHex(k));
    if (set.hash !== undefined) expect(toHex(validatorSetHash(publicKeys.map((publicKey) => ({ publicKey }))))).toBe(set.hash);
    return { chainId, publicKeys };
  };
}

describe('headers.json', () => {
  const doc = load<VectorFile<{ trustedSet: string; header: string; certificate: CertificateJson }>>('headers.json');
  const set = setsOf(doc);
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    outcome(
      c.expect,
      () => {
        verifyCommittedHeader(set(c.input.trustedSet), fromHex(c.input.header), certFromJson(c.input.certificate));
        return { blockHash: toHex(sha256(fromHex(c.input.header))) };
      },
      c.output,
    );
  });
});

describe('header-chains.json', () => {
  type Item = { header: string; certificate: CertificateJson; nextValidatorSet?: string };
  const doc = load<VectorFile<{ trustedSet: string; after?: string; items: Item[] }>>('header-chains.json');
  const set = setsOf(doc);
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { trustedSet, after, items } = c.input;
    const trusted = set(trustedSet);
    const chainItems: HeaderChainItem[] = items.map((item) => ({
      header: fromHex(item.header),
      certificate: certFromJson(item.certificate),
      ...(item.nextValidatorSet === undefined ? {} : { nextValidatorSet: set(item.nextValidatorSet).publicKeys }),
    }));
    outcome(
      c.expect,
      () => {
        const start = after === undefined ? trusted : { set: trusted, header: decodeHeader(fromHex(after)) };
        const { header, set: next } = verifyHeaderChain(start, chainItems);
        return {
          height: header.height.toString(),
          blockHash: toHex(sha256(fromHex((items[items.length - 1] as Item).header))),
          validatorSetHash: toHex(validatorSetHash(next.publicKeys.map((publicKey) => ({ publicKey })))),
        };
      },
      c.output,
    );
  });
});

describe('event-proofs.json', () => {
  const doc = load<VectorFile<{ header: string; event: string; index: number; path: string[] }>>('event-proofs.json');
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { header, event, index, path } = c.input;
    outcome(c.expect, () => verifyEventProof(decodeHeader(fromHex(header)), fromHex(event), index, path.map((h) => fromHex(h))));
  });
});

describe('vector coverage', () => {
  it('every file has valid and adversarial cases, with unique names', () => {
    for (const file of ['headers.json', 'header-chains.json', 'event-proofs.json']) {
      const doc = load<VectorFile<unknown>>(file);
      const names = doc.cases.map((c) => c.name);
      expect(new Set(names).size).toBe(names.length);
      expect(doc.cases.some((c) => c.expect === 'ok')).toBe(true);
      expect(doc.cases.some((c) => c.expect !== 'ok')).toBe(true);
    }
  });
});
