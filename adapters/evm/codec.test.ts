import { getAddress, hexlify, Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { ethAddress, fromHex, keccak256 } from '../../core-chain/index.ts';
import { vectorSet } from '../../test/vectors/loulan/kit.ts';
import { gatewayErrors, holdArgs, loulanErrorFromRevert, memberAddresses, mintArgs, packPath, packSetKeys, releaseArgs, tokenIdArgs, uncompressedKey } from './codec.ts';

describe('calldata encoders', () => {
  const set = vectorSet(['c0', 'c1', 'c2']);

  it('uncompressed keys are x ‖ y of the same point: their keccak gives the member address', () => {
    for (const key of set.publicKeys) {
      const xy = uncompressedKey(key);
      expect(xy.length).toBe(64);
      expect(hexlify(xy.subarray(0, 32))).toBe(hexlify(key.subarray(1)));
      expect(hexlify(keccak256(xy).slice(12))).toBe(hexlify(ethAddress(key)));
    }
    expect(fromHex(packSetKeys(set.publicKeys).slice(2)).length).toBe(64 * 3);
    expect(memberAddresses(set.publicKeys)).toEqual(set.publicKeys.map((k) => getAddress(hexlify(ethAddress(k)))));
  });

  it('a key that is no curve point (x >= p) is CRYPTO_BAD_KEY', () => {
    expect(() => uncompressedKey(new Uint8Array([2, ...new Uint8Array(32).fill(0xff)]))).toThrow(expect.objectContaining({ code: 'CRYPTO_BAD_KEY' }));
  });

  it('decision args have the fixed lengths the gateway checks', () => {
    const a = '0x' + '11'.repeat(20);
    expect(mintArgs(a, a, 5n).length).toBe(96);
    expect(holdArgs('0x' + '22'.repeat(32)).length).toBe(32);
    expect(releaseArgs('0x' + '22'.repeat(32), a).length).toBe(64);
    expect(tokenIdArgs(7n).length).toBe(32);
    expect(packPath([new Uint8Array(32), new Uint8Array(32).fill(1)]).length).toBe(2 + 128);
  });
});

describe('loulanErrorFromRevert', () => {
  it('maps a custom error to its code with named details', () => {
    const data = gatewayErrors().encodeErrorResult('CertTooFewSigners', [2, 3]);
    const error = loulanErrorFromRevert(data);
    expect(error?.code).toBe('CERT_TOO_FEW_SIGNERS');
    expect(error?.details).toEqual({ error: 'CertTooFewSigners', have: 2, need: 3 });
    const wrongTarget = loulanErrorFromRevert(gatewayErrors().encodeErrorResult('DecisionWrongTarget', ['0x' + 'aa'.repeat(32), '0x' + 'bb'.repeat(32)]));
    expect(wrongTarget?.details).toMatchObject({ expected: 'aa'.repeat(32), actual: 'bb'.repeat(32) });
  });

  it('is undefined for anything that is not a mapped contract error', () => {
    expect(loulanErrorFromRevert(undefined)).toBeUndefined();
    expect(loulanErrorFromRevert('0x')).toBeUndefined();
    expect(loulanErrorFromRevert('0xdeadbeef00')).toBeUndefined();
    expect(loulanErrorFromRevert(new Interface(['error Error(string)']).encodeErrorResult('Error', ['no']))).toBeUndefined();
    expect(loulanErrorFromRevert(gatewayErrors().encodeErrorResult('NotGateway', ['0x' + '11'.repeat(20)]))).toBeUndefined();
  });
});
