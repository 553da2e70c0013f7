/**
 * The shared verifier vectors (test/vectors/loulan: headers, header chains, event proofs) run through
 * the Solidity verifier on a real EVM node: every case, valid ones returning what the file says and
 * each adversarial one reverting with the custom error that maps to its expected Loulan code and
 * details. The TypeScript verifier passes the same files (test/vectors/loulan/vectors.test.ts).
 * headers.json runs twice: through the stateless LoulanVerifier (set as argument) and through the
 * gateway itself (the set it stores, as a commitment, with the members in calldata).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Contract, ContractFactory, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, inclusionProof, isLoulanError, merkleRoot, toHex } from '../../core-chain/index.ts';
import { encodeHeader } from '../../core-chain/ledger/block.ts';
import { encodeEvent } from '../../core-chain/ledger/events.ts';
import { header as vectorHeader, vectorSet } from '../../test/vectors/loulan/kit.ts';
import { startAnvil, type TestAnvil } from '../../test/support/anvil.ts';
import { loadArtifact } from './build.ts';
import { certificateArg, chainItemArg, loulanErrorFromRevert, memberAddresses, packPath, packSetKeys } from './codec.ts';

type Expect = 'ok' | { code: string; details?: Record<string, unknown> };

interface CertificateJson {
  height: string;
  view: string;
  digest: string;
  sigs: { from: number; sig: string }[];
}

interface VectorFile<I> {
  readonly spec: { readonly chainId: string };
  readonly validatorSets?: Record<string, { readonly publicKeys: readonly string[] }>;
  readonly cases: readonly { readonly name: string; readonly input: I; readonly expect: Expect; readonly output?: Record<string, string> }[];
}

const VECTORS = join(import.meta.dirname, '../../test/vectors/loulan');

function load<I>(file: string): VectorFile<I> {
  return JSON.parse(readFileSync(join(VECTORS, file), 'utf8')) as VectorFile<I>;
}

function cert(json: CertificateJson) {
  return certificateArg({
    height: BigInt(json.height),
    view: BigInt(json.view),
    digest: fromHex(json.digest),
    sigs: json.sigs.map((s) => ({ from: s.from, sig: fromHex(s.sig) })),
  });
}

function keysOf(doc: VectorFile<unknown>, name: string): Uint8Array[] {
  const set = doc.validatorSets?.[name];
  if (set === undefined) throw new Error(`no validator set ${name}`);
  return set.publicKeys.map((k) => fromHex(k));
}

const hex = (h: string): string => '0x' + h;
const plainHex = (h: string): string => h.replace(/^0x/, '').toLowerCase();

/** Runs the call; "ok" must return (and match `output`), anything else must revert as expected. */
async function outcome(expected: Expect, run: () => Promise<Record<string, string> | void>, output?: Record<string, string>): Promise<void> {
  let result: Record<string, string> | void;
  try {
    result = await run();
  } catch (error) {
    if (expected === 'ok') throw error;
    const mapped = loulanErrorFromRevert((error as { data?: string }).data);
    if (mapped === undefined) throw error;
    expect(mapped.code).toBe(expected.code);
    if (expected.details !== undefined) {
      const details = Object.fromEntries(Object.entries(mapped.details).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
      expect(details).toMatchObject(expected.details);
    }
    expect(isLoulanError(mapped)).toBe(true);
    return;
  }
  expect(expected).toBe('ok');
  if (output !== undefined) expect(result).toEqual(output);
}

let anvil: TestAnvil;
let verifier: Contract;
let wallet: Wallet;

beforeAll(async () => {
  anvil = await startAnvil();
  const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  wallet = new Wallet(anvil.privateKeys[0] as string, provider);
  const artifact = loadArtifact('LoulanVerifier');
  const deployed = await new ContractFactory(artifact.abi as never, artifact.bytecode, wallet).deploy();
  await deployed.waitForDeployment();
  verifier = new Contract(await deployed.getAddress(), artifact.abi as never, provider);
});

afterAll(async () => {
  await anvil?.stop();
});

describe('headers.json through LoulanVerifier.verifyHeader', () => {
  const doc = load<{ trustedSet: string; header: string; certificate: CertificateJson }>('headers.json');
  it('has cases', () => expect(doc.cases.length).toBeGreaterThan(30));
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await outcome(
      c.expect,
      async () => {
        const blockHash = (await verifier.getFunction('verifyHeader').staticCall(
          hex(doc.spec.chainId),
          packSetKeys(keysOf(doc, c.input.trustedSet)),
          hex(c.input.header),
          cert(c.input.certificate),
        )) as string;
        return { blockHash: plainHex(blockHash) };
      },
      c.output,
    );
  });
});

describe('headers.json through LoulanGateway.verifyHeader (the set it stores, members in calldata)', () => {
  const doc = load<{ trustedSet: string; header: string; certificate: CertificateJson }>('headers.json');
  let gateway: Contract;

  beforeAll(async () => {
    const g = loadArtifact('LoulanGateway');
    const tokens = { pointsName: 'P', pointsSymbol: 'P', pointsDecimals: 0, receivablesName: 'R', receivablesSymbol: 'R' };
    const keys = packSetKeys(keysOf(doc, 'A'));
    const deployed = await new ContractFactory(g.abi as never, g.bytecode, wallet).deploy(hex(doc.spec.chainId), hex(doc.spec.chainId), keys, 0n, tokens);
    await deployed.waitForDeployment();
    gateway = new Contract(await deployed.getAddress(), g.abi as never, wallet);
  });

  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(c.input.trustedSet).toBe('A');
    await outcome(
      c.expect,
      async () => {
        const members = memberAddresses(keysOf(doc, 'A'));
        const blockHash = (await gateway.getFunction('verifyHeader').staticCall(hex(c.input.header), cert(c.input.certificate), members)) as string;
        return { blockHash: plainHex(blockHash) };
      },
      c.output,
    );
  });
});

interface ChainInput {
  trustedSet: string;
  after?: string;
  items: { header: string; certificate: CertificateJson; nextValidatorSet?: string }[];
}

describe('header-chains.json through LoulanVerifier.verifyHeaderChain', () => {
  const doc = load<ChainInput>('header-chains.json');
  it('has cases', () => expect(doc.cases.length).toBeGreaterThan(10));
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await outcome(
      c.expect,
      async () => {
        const items = c.input.items.map((item) =>
          chainItemArg({
            header: fromHex(item.header),
            certificate: {
              height: BigInt(item.certificate.height),
              view: BigInt(item.certificate.view),
              digest: fromHex(item.certificate.digest),
              sigs: item.certificate.sigs.map((s) => ({ from: s.from, sig: fromHex(s.sig) })),
            },
            ...(item.nextValidatorSet === undefined ? {} : { nextValidatorSet: keysOf(doc, item.nextValidatorSet) }),
          }),
        );
        const [height, blockHash, setHash] = (await verifier.getFunction('verifyHeaderChain').staticCall(
          hex(doc.spec.chainId),
          packSetKeys(keysOf(doc, c.input.trustedSet)),
          c.input.after === undefined ? '0x' : hex(c.input.after),
          items,
        )) as [bigint, string, string];
        return { height: height.toString(), blockHash: plainHex(blockHash), validatorSetHash: plainHex(setHash) };
      },
      c.output,
    );
  });
});

describe('event-proofs.json through LoulanVerifier.verifyEventProof', () => {
  const doc = load<{ header: string; event: string; index: number; path: string[] }>('event-proofs.json');
  it('has cases', () => expect(doc.cases.length).toBeGreaterThan(15));
  it.each(doc.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await outcome(c.expect, async () => {
      await verifier.getFunction('verifyEventProof').staticCall(
        hex(c.input.header),
        hex(c.input.event),
        c.input.index,
        packPath(c.input.path.map((p) => fromHex(p))),
      );
    });
  });
});

describe('properties against the TypeScript side', () => {
  it('the contract hashes any set of keys to the core chain’s validatorSetHash', async () => {
    const anyHeader = encodeHeader(vectorHeader(1n, vectorSet(['p0'])));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 9 }), async (labels) => {
        const set = vectorSet(labels.map((l) => 'prop/' + l));
        // With a trusted `after` header and no items, verifyHeaderChain returns the trusted set's hash.
        const [, , setHash] = (await verifier.getFunction('verifyHeaderChain').staticCall('0x' + '00'.repeat(32), packSetKeys(set.publicKeys), anyHeader, [])) as [
          bigint,
          string,
          string,
        ];
        expect(plainHex(setHash)).toBe(toHex(set.hash));
      }),
      { numRuns: 25 },
    );
  });

  it('every leaf of any tree verifies with its audit path, and not as its neighbour', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 70 }).chain((size) => fc.tuple(fc.constant(size), fc.nat({ max: size - 1 }))),
        async ([size, index]) => {
          const events = Array.from({ length: size }, (_, i) => encodeEvent({ contract: 'p', type: 't', tx: i, data: new Uint8Array([i]) }));
          const header = encodeHeader(vectorHeader(1n, vectorSet(['p0']), { eventsRoot: merkleRoot(events), eventCount: size }));
          const path = packPath(inclusionProof(events, index));
          const prove = (i: number) => verifier.getFunction('verifyEventProof').staticCall(header, events[index] as Uint8Array, i, path);
          await prove(index);
          if (size > 1) {
            const other = index === size - 1 ? index - 1 : index + 1;
            await outcome({ code: 'MERKLE_BAD_PROOF' }, async () => {
              await prove(other);
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
