/**
 * Generates header-chains.json: a chain of six headers across two validator-set changes
 * (A, 4 validators → B, 5 → C, 4, no key shared), valid from the genesis set or from a checkpoint,
 * and the ways a relayer could be fed a wrong history. Each change is announced by the last header of
 * the outgoing set (nextValidatorSetHash) and certified by that set (core-chain/verify/chain.ts).
 */
import type { Certificate } from '../../../core-chain/consensus/types.ts';
import { sha256, toHex } from '../../../core-chain/crypto/hash.ts';
import { decodeHeader, encodeHeader, type Header } from '../../../core-chain/ledger/block.ts';
import { CHAIN_ID, certify, certToJson, filler, header, SPEC_COMMON, setJson, stringify, vectorSet, type Expect, type VectorSet } from './kit.ts';

export const FILE = 'test/vectors/loulan/header-chains.json';

interface Item {
  header: string;
  certificate: ReturnType<typeof certToJson>;
  nextValidatorSet?: string;
}

interface Case {
  name: string;
  input: { trustedSet: string; after?: string; items: Item[] };
  expect: Expect;
  output?: { height: string; blockHash: string; validatorSetHash: string };
}

interface Built {
  readonly header: Header;
  readonly cert: Certificate;
  readonly next?: string;
}

export function generate(): string {
  const sets: Record<string, VectorSet> = {
    A: vectorSet(['a0', 'a1', 'a2', 'a3']),
    B: vectorSet(['b0', 'b1', 'b2', 'b3', 'b4']),
    C: vectorSet(['c0', 'c1', 'c2', 'c3']),
    // B with its last validator swapped for an outsider: what a forger would like the relayer to trust.
    'B-forged': vectorSet(['b0', 'b1', 'b2', 'b3', 'x0']),
  };
  const { A, B, C } = sets as { A: VectorSet; B: VectorSet; C: VectorSet };
  // Height → (certifying set, next set, signers).
  const plan: [VectorSet, VectorSet, number[], string | undefined][] = [
    [A, A, [0, 1, 2], undefined],
    [A, B, [1, 2, 3], 'B'],
    [B, B, [0, 1, 3, 4], undefined],
    [B, C, [0, 1, 2, 3, 4], 'C'],
    [C, C, [1, 2, 3], undefined],
    [C, C, [0, 2, 3], undefined],
  ];
  const chain: Built[] = [];
  let prevHash = filler('genesis');
  plan.forEach(([set, next, signers, nextName], i) => {
    const h = header(BigInt(i + 1), set, { prevHash, nextValidatorSetHash: next.hash });
    chain.push({ header: h, cert: certify(set, h, signers), ...(nextName === undefined ? {} : { next: nextName }) });
    prevHash = sha256(encodeHeader(h));
  });
  const at = (height: number): Built => chain[height - 1] as Built;

  const cases: Case[] = [];
  const item = (b: Built, next: string | null | undefined = b.next): Item => ({
    header: toHex(encodeHeader(b.header)),
    certificate: certToJson(b.cert),
    ...(next === undefined || next === null ? {} : { nextValidatorSet: next }),
  });
  const add = (name: string, trustedSet: string, items: Item[], expect: Expect, after?: Header, trustedAfter?: VectorSet): void => {
    const lastBytes = Buffer.from((items[items.length - 1] as Item).header, 'hex');
    cases.push({
      name,
      input: { trustedSet, ...(after === undefined ? {} : { after: toHex(encodeHeader(after)) }), items },
      expect,
      ...(expect === 'ok' && trustedAfter !== undefined
        ? {
            output: {
              height: decodeHeader(lastBytes).height.toString(),
              blockHash: toHex(sha256(lastBytes)),
              validatorSetHash: toHex(trustedAfter.hash),
            },
          }
        : {}),
    });
  };

  // -- valid -----------------------------------------------------------------------------------------
  add('valid: heights 1-6 from the genesis set A, through A → B at 2 and B → C at 4', 'A', chain.map((b) => item(b)), 'ok', undefined, C);
  add('valid: heights 1-2, ending on the change: B is trusted for height 3', 'A', [item(at(1)), item(at(2))], 'ok', undefined, B);
  add('valid: resuming from the checkpoint (header 2, set B) through heights 3-6', 'B', [3, 4, 5, 6].map((h) => item(at(h))), 'ok', at(2).header, C);
  add('valid: a single header certified by the set trusted for it (height 5, set C)', 'C', [item(at(5))], 'ok', undefined, C);

  // -- validator-set changes -------------------------------------------------------------------------
  add('change not carried: header 2 announces B but the item carries no set', 'A', [item(at(1)), item(at(2), null)], {
    code: 'VALSET_MISMATCH',
    details: { height: '2' },
  });
  add('change not carried by the outgoing set: the next-set list does not hash to nextValidatorSetHash', 'A', [item(at(1)), item(at(2), 'B-forged')], {
    code: 'VALSET_MISMATCH',
    details: { height: '2' },
  });
  add('a next set carried where no change is announced must still hash to nextValidatorSetHash', 'A', [item(at(1), 'B')], {
    code: 'VALSET_MISMATCH',
    details: { height: '1' },
  });
  const h3 = at(3).header;
  const signedByOld: Built = { header: h3, cert: certify(A, h3, [0, 1, 2, 3]) }; // 4 signatures: B's quorum
  add('header after the change certified by the old set A (all 4 of its validators, B\'s quorum count)', 'A', [item(at(1)), item(at(2)), item(signedByOld)], {
    code: 'CERT_BAD_SIGNATURE',
    details: { signer: 0 },
  });
  const oldSetFork = header(3n, A, { prevHash: h3.prevHash });
  const fork: Built = { header: oldSetFork, cert: certify(A, oldSetFork, [0, 1, 2]) };
  add('header after the change naming the old set A (and certified by it): a fork by the outgoing validators', 'A', [item(at(1)), item(at(2)), item(fork)], {
    code: 'CERT_WRONG_VALIDATOR_SET',
  });
  add('skipping past a change: the set B checks header 5, which set C certified', 'B', [item(at(5))], {
    code: 'CERT_WRONG_VALIDATOR_SET',
  });

  // -- linkage ---------------------------------------------------------------------------------------
  add('gap: height 3 missing (skips the B → C announcement)', 'A', [item(at(1)), item(at(2)), item(at(4)), item(at(5))], {
    code: 'HEADER_CHAIN_GAP',
    details: { expected: '3', actual: '4' },
  });
  add('gap: the same height twice', 'A', [item(at(1)), item(at(1))], { code: 'HEADER_CHAIN_GAP', details: { expected: '2', actual: '1' } });
  const broken = header(3n, B, { prevHash: filler('elsewhere') });
  add('broken prevHash: header 3 (certified by B) does not link to header 2', 'A', [item(at(1)), item(at(2)), item({ header: broken, cert: certify(B, broken, [0, 1, 2, 3]) })], {
    code: 'HEADER_CHAIN_BROKEN',
    details: { height: '3' },
  });
  add('checkpoint does not link: resuming from header 2 with a header 3 that extends another block', 'B', [item({ header: broken, cert: certify(B, broken, [0, 1, 2, 3]) })], {
    code: 'HEADER_CHAIN_BROKEN',
    details: { height: '3' },
  }, at(2).header);
  add('checkpoint gap: resuming from header 2 with header 4', 'C', [item(at(4))], { code: 'HEADER_CHAIN_GAP', details: { expected: '3', actual: '4' } }, at(2).header);

  return stringify({
    description:
      'Loulan header chains across validator-set changes: A (4 validators) → B (5) → C (4), no key shared. Generated by header-chains.gen.ts; every adversarial case has exactly one defect.',
    spec: {
      ...SPEC_COMMON,
      chain:
        'Heights 1-6. Header 2 (certified by A) has nextValidatorSetHash = hash(B); header 4 (certified by B) has nextValidatorSetHash = hash(C). Every other header has nextValidatorSetHash = validatorSetHash. Header 1 links to prevHash = SHA-256("loulan-vectors/genesis").',
      rule: [
        'Start: the set named by trustedSet is trusted for the first item\'s height; with `after` (a header, trusted as already verified) the first item must extend it and trustedSet is the set for the height after it.',
        'Per item, in order: decode the header; height = previous + 1 (HEADER_CHAIN_GAP, details.expected / details.actual); prevHash = blockHash of the previous header (HEADER_CHAIN_BROKEN, details.height); verify the certificate against the trusted set (headers.json checks, CERT_*); if nextValidatorSetHash ≠ validatorSetHash, or the item carries nextValidatorSet, the carried set must be present and hash to nextValidatorSetHash (VALSET_MISMATCH, details.height), and it is trusted from the next height on.',
      ],
      input: 'trustedSet and items[].nextValidatorSet name entries of validatorSets (their publicKeys, in index order); after, header and certificate as in headers.json.',
      output: 'For valid cases: the last header\'s height and blockHash, and the hash of the set trusted for the height after it.',
      chainId: toHex(CHAIN_ID),
    },
    validatorSets: Object.fromEntries(Object.entries(sets).map(([name, set]) => [name, setJson(set)])),
    cases,
  });
}
