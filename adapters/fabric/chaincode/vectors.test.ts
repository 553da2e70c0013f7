import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../core-chain/index.ts';
import { decodeHeader } from '../../../core-chain/ledger/block.ts';
import { certify, certToJson, vectorSet, type CertificateJson, type Expect } from '../../../test/vectors/loulan/kit.ts';
import { contracts, initTransaction } from './index.ts';
import { admin, failure, json, relayer } from './test-kit.ts';
import { ChaincodeHarness } from './testing.ts';

// Every case of the shared verifier vectors, run through the chaincode's evaluate-only transactions
// (core:verifyHeader, core:verifyEvent, core:verifyHeaderChain) with the trusted set in chaincode
// state, and the failure read back from the wire message the client would see.

const dir = join(import.meta.dirname, '../../../test/vectors/loulan');

interface SetJson {
  readonly publicKeys: readonly string[];
  readonly labels?: readonly string[];
}
interface VectorFile<I> {
  readonly spec: { readonly chainId: string };
  readonly validatorSets?: Record<string, SetJson>;
  readonly cases: readonly { readonly name: string; readonly input: I; readonly expect: Expect; readonly output?: Record<string, string> }[];
}

function load<I>(file: string): VectorFile<I> {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as VectorFile<I>;
}

async function trusting(chainId: string, publicKeys: readonly string[]): Promise<ChaincodeHarness> {
  const h = new ChaincodeHarness(contracts);
  const init = initTransaction({ chainId, validators: [...publicKeys], systemAddress: 'cn.loulan.fabric.vectors' });
  await h.submit(admin, init.fcn, ...init.args);
  return h;
}

async function outcome(expected: Expect, call: Promise<string>, output?: Record<string, string>): Promise<void> {
  if (expected === 'ok') {
    const result = json<Record<string, unknown>>(await call);
    if (output !== undefined) expect(result).toMatchObject(output);
    return;
  }
  const error = await failure(call);
  expect(error.code).toBe(expected.code);
  if (expected.details !== undefined) expect(error.details).toMatchObject(expected.details);
}

function setOf(doc: VectorFile<unknown>, name: string): SetJson {
  const set = doc.validatorSets?.[name];
  if (set === undefined) throw new Error(`no validator set ${name}`);
  return set;
}

describe('headers.json through core:verifyHeader', () => {
  const doc = load<{ trustedSet: string; header: string; certificate: CertificateJson }>('headers.json');
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const h = await trusting(doc.spec.chainId, setOf(doc, c.input.trustedSet).publicKeys);
    await outcome(c.expect, h.evaluate(relayer, 'core:verifyHeader', c.input.header, JSON.stringify(c.input.certificate)), c.output);
  });
});

describe('header-chains.json through core:verifyHeaderChain', () => {
  type Item = { header: string; certificate: CertificateJson; nextValidatorSet?: string };
  const doc = load<{ trustedSet: string; after?: string; items: Item[] }>('header-chains.json');
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const h = await trusting(doc.spec.chainId, setOf(doc, c.input.trustedSet).publicKeys);
    const items = c.input.items.map((item) => ({
      header: item.header,
      certificate: item.certificate,
      ...(item.nextValidatorSet === undefined ? {} : { nextValidatorSet: setOf(doc, item.nextValidatorSet).publicKeys }),
    }));
    await outcome(c.expect, h.evaluate(relayer, 'core:verifyHeaderChain', JSON.stringify(items), c.input.after ?? ''), c.output);
  });
});

describe('event-proofs.json through core:verifyEvent', () => {
  // The event vectors carry headers of set A without certificates (they pin the Merkle rule); the
  // chaincode only looks at certified headers, so each header is certified here by set A's keys.
  const headersDoc = load<unknown>('headers.json');
  const setA = setOf(headersDoc, 'A');
  const signers = vectorSet(setA.labels ?? []);
  expect(signers.publicKeys.map(toHex)).toEqual(setA.publicKeys);
  const doc = load<{ header: string; event: string; index: number; path: string[] }>('event-proofs.json');

  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const h = await trusting(doc.spec.chainId, setA.publicKeys);
    const { header, event, index, path } = c.input;
    const certificate = certToJson(certify(signers, decodeHeader(fromHex(header)), [0, 1, 2]));
    const call = h.evaluate(relayer, 'core:verifyEvent', header, JSON.stringify(certificate), event, String(index), JSON.stringify(path));
    await outcome(c.expect, call);
  });
});
