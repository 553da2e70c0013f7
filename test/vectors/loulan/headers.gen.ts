/**
 * Generates headers.json: one committed header checked against a trusted 4-validator set, valid and
 * with one defect per adversarial case. Each case names the single thing that is wrong, so the
 * expected code pins the verifier's check order (core-chain/verify/certificate.ts).
 */
import type { Certificate } from '../../../core-chain/consensus/types.ts';
import { sha256, toHex } from '../../../core-chain/crypto/hash.ts';
import { CURVE_ORDER } from '../../../core-chain/crypto/keys.ts';
import { encodeHeader, type Header } from '../../../core-chain/ledger/block.ts';
import {
  CHAIN_ID,
  certify,
  certToJson,
  header,
  OTHER_CHAIN_ID,
  SPEC_COMMON,
  setJson,
  signCommit,
  stringify,
  validator,
  vectorSet,
  withSig,
  type Expect,
} from './kit.ts';

export const FILE = 'test/vectors/loulan/headers.json';

const N = CURVE_ORDER.ES256K;
const P = (1n << 256n) - (1n << 32n) - 977n;

interface Case {
  name: string;
  input: { trustedSet: string; header: string; certificate: ReturnType<typeof certToJson> };
  expect: Expect;
  output?: { blockHash: string };
}

export function generate(): string {
  const A = vectorSet(['a0', 'a1', 'a2', 'a3']);
  const other = vectorSet(['o0', 'o1', 'o2', 'o3']);
  const outsider = validator('x0');
  const good = header(7n, A);
  const goodBytes = encodeHeader(good);
  const digest = sha256(goodBytes);
  const binding = { chainId: CHAIN_ID, validatorSetHash: A.hash };
  const q3 = certify(A, good, [0, 1, 3]);
  const cases: Case[] = [];

  const add = (name: string, h: Uint8Array | Header, cert: Certificate, expect: Expect): void => {
    const bytes = h instanceof Uint8Array ? h : encodeHeader(h);
    cases.push({
      name,
      input: { trustedSet: 'A', header: toHex(bytes), certificate: certToJson(cert) },
      expect,
      ...(expect === 'ok' ? { output: { blockHash: toHex(sha256(bytes)) } } : {}),
    });
  };
  const malformed = (signer: number, reason: string): Expect => ({ code: 'CRYPTO_MALFORMED_SIGNATURE', details: { signer, reason } });
  const badSig = (signer: number): Expect => ({ code: 'CERT_BAD_SIGNATURE', details: { signer } });
  const sig1 = (q3.sigs[1] as { sig: Uint8Array }).sig;

  // -- valid -----------------------------------------------------------------------------------------
  add('valid: exactly q = 3 of 4 signers (0, 1, 3)', good, q3, 'ok');
  add('valid: all 4 signers', good, certify(A, good, [0, 1, 2, 3]), 'ok');
  add('valid: committed in view 5', good, certify(A, good, [1, 2, 3], 5n), 'ok');
  const announcing = header(7n, A, { nextValidatorSetHash: other.hash });
  add('valid: a header announcing a validator-set change (nextValidatorSetHash names another set)', announcing, certify(A, announcing, [0, 2, 3]), 'ok');

  // -- header bytes ----------------------------------------------------------------------------------
  add('header truncated to 252 bytes', goodBytes.subarray(0, 252), q3, { code: 'CODEC_TRUNCATED' });
  add('header with a trailing byte', Uint8Array.of(...goodBytes, 0), q3, { code: 'CODEC_TRAILING_BYTES' });
  const v2 = goodBytes.slice();
  v2[0] = 2;
  add('header version 2', v2, q3, { code: 'CODEC_TAG' });

  // -- binding to the chain, the set and the block -----------------------------------------------------
  const foreign = header(7n, A, { chainId: OTHER_CHAIN_ID });
  add('header of another chain (certified there by the same keys)', foreign, certify(A, foreign, [0, 1, 3]), { code: 'CERT_WRONG_CHAIN' });
  const otherSet = header(7n, A, { validatorSetHash: other.hash, nextValidatorSetHash: other.hash });
  add('header names another validator set (signed by the trusted keys over that set hash)', otherSet, certify(A, otherSet, [0, 1, 3]), {
    code: 'CERT_WRONG_VALIDATOR_SET',
  });
  const height8 = { ...certify(A, header(8n, A), [0, 1, 3]), digest };
  add('certificate for another height (signed for height 8)', good, height8, { code: 'CERT_WRONG_BLOCK', details: { field: 'height' } });
  add('certificate for another block at the same height', good, certify(A, header(7n, A, { stateRoot: sha256(Uint8Array.of(1)) }), [0, 1, 3]), {
    code: 'CERT_WRONG_BLOCK',
    details: { field: 'digest' },
  });

  // -- signer list -------------------------------------------------------------------------------------
  add('too few signers: 2 of q = 3', good, certify(A, good, [0, 3]), { code: 'CERT_TOO_FEW_SIGNERS', details: { have: 2, need: 3 } });
  add('no signers', good, certify(A, good, []), { code: 'CERT_TOO_FEW_SIGNERS', details: { have: 0, need: 3 } });
  add('duplicate signer (0, 1, 1)', good, certify(A, good, [0, 1, 1]), { code: 'CERT_SIGNERS_UNSORTED', details: { signer: 1 } });
  add('unsorted signers (1, 0, 3)', good, certify(A, good, [1, 0, 3]), { code: 'CERT_SIGNERS_UNSORTED', details: { signer: 0 } });
  add('two valid signers and a duplicate making up the count (0, 0, 3)', good, certify(A, good, [0, 0, 3]), { code: 'CERT_SIGNERS_UNSORTED', details: { signer: 0 } });
  const nonMember: Certificate = { ...q3, sigs: [...q3.sigs.slice(0, 2), { from: 4, sig: signCommit(outsider, binding, 7n, 0n, digest) }] };
  add('non-member index 4 in a set of 4 (signed by an outsider)', good, nonMember, { code: 'CERT_NON_MEMBER', details: { signer: 4 } });

  // -- malformed signatures (signer 1's slot) ----------------------------------------------------------
  const r = BigInt('0x' + toHex(sig1.subarray(0, 32)));
  const s = BigInt('0x' + toHex(sig1.subarray(32, 64)));
  const v = sig1[64] as number;
  add('high-S signature: the (r, n - s, v xor 1) twin of a valid one', good, withSig(q3, 1, rsv(r, N - s, v ^ 1)), malformed(1, 'high-s'));
  add('signature of 64 bytes (v missing)', good, withSig(q3, 1, sig1.subarray(0, 64)), malformed(1, 'length'));
  add('signature of 66 bytes', good, withSig(q3, 1, Uint8Array.of(...sig1, 0)), malformed(1, 'length'));
  add('signature with r = 0', good, withSig(q3, 1, rsv(0n, s, v)), malformed(1, 'r-range'));
  add('signature with r = n', good, withSig(q3, 1, rsv(N, s, v)), malformed(1, 'r-range'));
  add('signature with s = 0', good, withSig(q3, 1, rsv(r, 0n, v)), malformed(1, 's-range'));
  add('signature with recovery id v = 2', good, withSig(q3, 1, rsv(r, s, 2)), malformed(1, 'recovery-id'));
  add('signature with recovery id v = 27 (EVM form)', good, withSig(q3, 1, rsv(r, s, v + 27)), malformed(1, 'recovery-id'));

  // -- well-formed signatures by the wrong key or over the wrong bytes -----------------------------------
  add('wrong recovery id (v flipped): recovers another key', good, withSig(q3, 1, rsv(r, s, v ^ 1)), badSig(1));
  add('r is not the x-coordinate of any curve point: recovers no key', good, withSig(q3, 1, rsv(notOnCurveX(), s, v)), badSig(1));
  add("non-member key signing in member 1's slot", good, withSig(q3, 1, signCommit(outsider, binding, 7n, 0n, digest)), badSig(1));
  add("member 3's signature in member 1's slot", good, withSig(q3, 1, (q3.sigs[2] as { sig: Uint8Array }).sig), badSig(1));
  add('signature over another view (1, certificate says 0)', good, withSig(q3, 1, signCommit(A.validators[1]!, binding, 7n, 1n, digest)), badSig(1));
  add('signature over another height (8)', good, withSig(q3, 1, signCommit(A.validators[1]!, binding, 8n, 0n, digest)), badSig(1));
  const boundTo = (chainId: Uint8Array, validatorSetHash: Uint8Array) => signCommit(A.validators[1]!, { chainId, validatorSetHash }, 7n, 0n, digest);
  add('signature bound to another chain id', good, withSig(q3, 1, boundTo(OTHER_CHAIN_ID, A.hash)), badSig(1));
  add('signature bound to another validator-set hash', good, withSig(q3, 1, boundTo(CHAIN_ID, other.hash)), badSig(1));
  add('last signature bad, first ones fine', good, withSig(q3, 2, signCommit(outsider, binding, 7n, 0n, digest)), badSig(3));

  return stringify({
    description:
      'Loulan commit certificates: a 253-byte block header and its certificate, checked against a trusted validator set (set "A", 4 validators, q = 3). Generated by headers.gen.ts; every adversarial case has exactly one defect.',
    spec: {
      ...SPEC_COMMON,
      chainId: toHex(CHAIN_ID),
      checkOrder: [
        '1. the header decodes: exactly 253 bytes (CODEC_TRUNCATED / CODEC_TRAILING_BYTES), version 1 (CODEC_TAG)',
        '2. header.chainId = the trusted chainId (CERT_WRONG_CHAIN)',
        '3. header.validatorSetHash = hash of the trusted set (CERT_WRONG_VALIDATOR_SET)',
        '4. certificate.height = header.height, then certificate.digest = blockHash (CERT_WRONG_BLOCK, details.field "height" / "digest")',
        '5. number of signatures >= q (CERT_TOO_FEW_SIGNERS, details.have / details.need)',
        '6. for each signer in list order: index not above the previous one (CERT_SIGNERS_UNSORTED), index >= n (CERT_NON_MEMBER); all indexes before any signature',
        '7. for each signature in list order: 65 bytes, v in {0,1}, 0 < r < n, 0 < s < n, s <= n/2 (CRYPTO_MALFORMED_SIGNATURE, details.signer, details.reason one of length, recovery-id, r-range, s-range, high-s, checked in that order); the key recovered from SHA-256(commitBytes) is the member\'s key at that index (CERT_BAD_SIGNATURE, details.signer; also when no key is recoverable)',
      ],
      input: 'trustedSet names an entry of validatorSets; header is the 253 header bytes; certificate as described above.',
      output: 'For valid cases, output.blockHash = SHA-256(header).',
    },
    validatorSets: { A: setJson(A), other: setJson(other), outsider: { publicKeys: [toHex(outsider.publicKey)], labels: ['x0'] } },
    cases,
  });
}

function rsv(r: bigint, s: bigint, v: number): Uint8Array {
  const out = new Uint8Array(65);
  out.set(be32(r), 0);
  out.set(be32(s), 32);
  out[64] = v;
  return out;
}

function be32(x: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
}

/** The smallest x >= 1 for which x^3 + 7 is not a square mod p: no point has it as x-coordinate. */
function notOnCurveX(): bigint {
  for (let x = 1n; ; x++) if (modPow((x * x * x + 7n) % P, (P - 1n) / 2n, P) === P - 1n) return x;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}
