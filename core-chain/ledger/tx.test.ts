import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../errors.ts';
import { sha256, toHex } from '../crypto/hash.ts';
import { generateKeyPair, PUBLIC_KEY_LENGTH, type Alg } from '../crypto/keys.ts';
import { SIGNATURE_LENGTH } from '../crypto/signature.ts';
import {
  ALG_CODE,
  decodeTx,
  encodeTx,
  MAX_ARGS_BYTES,
  senderAddress,
  signTx,
  TX_DOMAIN,
  txHash,
  txSigningBytes,
  txSigningBytesFromEncoded,
  verifyEncodedTxSignature,
  verifyTxSignature,
  type Tx,
  type UnsignedTx,
} from './tx.ts';
import { codeOf } from './testkit.ts';

const ALGS: readonly Alg[] = ['Ed25519', 'ES256', 'ES256K'];
const KEYS = Object.fromEntries(ALGS.map((alg) => [alg, generateKeyPair(alg)])) as Record<Alg, ReturnType<typeof generateKeyPair>>;
const CHAIN = sha256(new TextEncoder().encode('loulan-test'));

function unsigned(alg: Alg, overrides: Partial<UnsignedTx> = {}): UnsignedTx {
  return {
    chainId: CHAIN,
    sender: { alg, publicKey: KEYS[alg].publicKey },
    nonce: 1n,
    contract: 'asset',
    method: 'transfer',
    args: Uint8Array.of(1, 2, 3),
    ...overrides,
  };
}

const contractName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/);
const methodName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,31}$/);
const arbTx: fc.Arbitrary<Tx> = fc
  .record({
    alg: fc.constantFrom(...ALGS),
    chainId: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
    contract: contractName,
    method: methodName,
    args: fc.uint8Array({ maxLength: 300 }),
    seed: fc.uint8Array({ minLength: 65, maxLength: 65 }),
  })
  .map(({ alg, chainId, nonce, contract, method, args, seed }) => ({
    chainId,
    sender: { alg, publicKey: seed.slice(0, PUBLIC_KEY_LENGTH[alg]) },
    nonce,
    contract,
    method,
    args,
    sig: seed.slice(0, SIGNATURE_LENGTH[alg]),
  }));

describe('transaction codec', () => {
  it('round-trips any transaction, and re-encoding is the identity', () => {
    fc.assert(
      fc.property(arbTx, (tx) => {
        const bytes = encodeTx(tx);
        const back = decodeTx(bytes);
        expect(back).toEqual(tx);
        expect(encodeTx(back)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every truncation and any trailing byte', () => {
    fc.assert(
      fc.property(arbTx, fc.nat(), (tx, cut) => {
        const bytes = encodeTx(tx);
        const at = cut % bytes.length;
        expect(codeOf(() => decodeTx(bytes.subarray(0, at)))).toMatch(/^CODEC_(TRUNCATED|LENGTH)$/);
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(codeOf(() => decodeTx(longer))).toBe('CODEC_TRAILING_BYTES');
      }),
      { numRuns: 200 },
    );
  });

  it('lays fields out as documented: version, chainId, alg code, key, nonce, names, args, sig', () => {
    const tx = signTx(unsigned('Ed25519', { nonce: 258n }), KEYS.Ed25519.privateKey);
    const bytes = encodeTx(tx);
    expect(bytes[0]).toBe(1);
    expect(bytes.subarray(1, 33)).toEqual(CHAIN);
    expect(bytes[33]).toBe(ALG_CODE.Ed25519);
    expect(bytes.subarray(34, 66)).toEqual(KEYS.Ed25519.publicKey);
    expect(toHex(bytes.subarray(66, 74))).toBe('0000000000000102');
    expect(toHex(bytes.subarray(74, 83))).toBe('00000005' + toHex(new TextEncoder().encode('asset')));
    expect(bytes.subarray(bytes.length - 64)).toEqual(tx.sig);
  });

  it('refuses an unknown version or algorithm code (CODEC_TAG)', () => {
    const bytes = encodeTx(signTx(unsigned('ES256'), KEYS.ES256.privateKey));
    const badVersion = bytes.slice();
    badVersion[0] = 2;
    expect(codeOf(() => decodeTx(badVersion))).toBe('CODEC_TAG');
    const badAlg = bytes.slice();
    badAlg[33] = 9;
    expect(codeOf(() => decodeTx(badAlg))).toBe('CODEC_TAG');
  });

  it('refuses ledger-rule violations with LEDGER_TX_INVALID naming the field', () => {
    const cases: [Partial<UnsignedTx>, string][] = [
      [{ nonce: 0n }, 'nonce'],
      [{ contract: 'Asset' }, 'contract'],
      [{ contract: 'a/b' }, 'contract'],
      [{ contract: '' }, 'contract'],
      [{ method: '1x' }, 'method'],
      [{ method: 'do-it' }, 'method'],
    ];
    for (const [override, field] of cases) {
      let error: unknown;
      try {
        encodeTx({ ...unsigned('Ed25519', override), sig: new Uint8Array(64) });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(LoulanError);
      expect((error as LoulanError).code).toBe('LEDGER_TX_INVALID');
      expect((error as LoulanError).details.field).toBe(field);
    }
    // The decoder applies the same rules to bytes built by hand.
    const good = encodeTx({ ...unsigned('Ed25519'), sig: new Uint8Array(64) });
    const zeroNonce = good.slice();
    zeroNonce.fill(0, 66, 74);
    expect(codeOf(() => decodeTx(zeroNonce))).toBe('LEDGER_TX_INVALID');
  });

  it('bounds names and args (CODEC_LENGTH)', () => {
    expect(codeOf(() => encodeTx({ ...unsigned('Ed25519', { contract: 'a'.repeat(33) }), sig: new Uint8Array(64) }))).toBe('CODEC_LENGTH');
    expect(codeOf(() => encodeTx({ ...unsigned('Ed25519', { args: new Uint8Array(MAX_ARGS_BYTES + 1) }), sig: new Uint8Array(64) }))).toBe('CODEC_LENGTH');
    expect(() => encodeTx({ ...unsigned('Ed25519', { args: new Uint8Array(MAX_ARGS_BYTES) }), sig: new Uint8Array(64) })).not.toThrow();
  });

  it('txHash is SHA-256 of the whole encoding', () => {
    const bytes = encodeTx(signTx(unsigned('ES256'), KEYS.ES256.privateKey));
    expect(txHash(bytes)).toEqual(sha256(bytes));
  });
});

describe('transaction signatures', () => {
  it.each(ALGS)('%s: a signed transaction verifies, from fields and from its bytes', (alg) => {
    const tx = signTx(unsigned(alg), KEYS[alg].privateKey);
    const bytes = encodeTx(tx);
    expect(verifyTxSignature(tx)).toBe(true);
    expect(verifyEncodedTxSignature(decodeTx(bytes), bytes)).toBe(true);
  });

  it.each(ALGS)('%s: flipping any one bit of the encoding makes it fail (refused, or does not verify)', (alg) => {
    const bytes = encodeTx(signTx(unsigned(alg), KEYS[alg].privateKey));
    const bits = fc.sample(fc.nat({ max: bytes.length * 8 - 1 }), { numRuns: alg === 'ES256K' ? 40 : 120, seed: 7 });
    for (const bit of [...bits, 8 * 40, bytes.length * 8 - 1]) {
      const flipped = bytes.slice();
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      let ok: boolean;
      try {
        ok = verifyEncodedTxSignature(decodeTx(flipped), flipped);
      } catch (error) {
        expect(error).toBeInstanceOf(LoulanError);
        ok = false;
      }
      expect(ok, `bit ${bit}`).toBe(false);
    }
  });

  it('signing bytes are the domain tag then the unsigned fields, a slice of the encoding', () => {
    fc.assert(
      fc.property(arbTx, (tx) => {
        const bytes = encodeTx(tx);
        const signing = txSigningBytes(tx);
        expect(new TextDecoder().decode(signing.subarray(0, TX_DOMAIN.length))).toBe(TX_DOMAIN);
        expect(txSigningBytesFromEncoded(bytes, tx.sender.alg)).toEqual(signing);
      }),
      { numRuns: 100 },
    );
  });

  it('a signature for one chain does not verify for another', () => {
    const tx = signTx(unsigned('Ed25519'), KEYS.Ed25519.privateKey);
    expect(verifyTxSignature({ ...tx, chainId: sha256(new TextEncoder().encode('other')) })).toBe(false);
  });
});

describe('sender addresses', () => {
  it('are the first 20 bytes of SHA-256(alg code ‖ key), in hex', () => {
    const key = KEYS.ES256.publicKey;
    const input = new Uint8Array(34);
    input[0] = 2;
    input.set(key, 1);
    expect(senderAddress('ES256', key)).toBe(toHex(sha256(input).subarray(0, 20)));
    expect(senderAddress('ES256', key)).toMatch(/^[0-9a-f]{40}$/);
  });

  it('differ between curves for the same key bytes', () => {
    const key = KEYS.ES256K.publicKey;
    expect(senderAddress('ES256', key)).not.toBe(senderAddress('ES256K', key));
  });

  it('refuse a key of the wrong length', () => {
    expect(codeOf(() => senderAddress('Ed25519', new Uint8Array(33)))).toBe('CRYPTO_BAD_KEY');
  });
});
