import { AbiCoder, Interface, id } from 'ethers';
import { describe, expect, it } from 'vitest';
import { decodeRevert, revertData } from './errors.ts';

const coder = AbiCoder.defaultAbiCoder();
const custom = new Interface(['error AlreadyExecuted(bytes32 id)', 'error TooMuch(uint256 have, uint256 cap)']);

function encoded(signature: string, types: string[], values: unknown[]): string {
  return id(signature).slice(0, 10) + coder.encode(types, values).slice(2);
}

describe('revert decoding', () => {
  it('names Error(string), Panic(uint256) and custom errors with their arguments', () => {
    expect(decodeRevert(encoded('Error(string)', ['string'], ['no way']))).toMatchObject({ reason: 'no way' });
    expect(decodeRevert(encoded('Panic(uint256)', ['uint256'], [0x11n]))).toMatchObject({ reason: 'Panic(0x11)' });
    expect(decodeRevert(encoded('TooMuch(uint256,uint256)', ['uint256', 'uint256'], [5n, 3n]), [custom])).toMatchObject({ reason: 'TooMuch', args: ['5', '3'] });
  });

  it('keeps unknown revert data undecoded, and has nothing to say without data', () => {
    const unknown = encoded('Other(uint256)', ['uint256'], [1n]);
    expect(decodeRevert(unknown, [custom])).toEqual({ data: unknown });
    expect(decodeRevert('0x')).toEqual({ data: '0x' });
    expect(decodeRevert(undefined)).toEqual({});
  });

  it('finds the revert bytes however the error wraps them', () => {
    expect(revertData({ code: 'CALL_EXCEPTION', data: '0x1234' })).toBe('0x1234');
    expect(revertData({ info: { error: { code: 3, message: 'execution reverted', data: '0xabcd' } } })).toBe('0xabcd');
    expect(revertData({ error: { data: { data: '0x99' } } })).toBe('0x99');
    expect(revertData({ message: 'socket hang up' })).toBeUndefined();
    expect(revertData({ data: 'not hex' })).toBeUndefined();
  });
});
