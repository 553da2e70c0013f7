import { describe, expect, it } from 'vitest';
import * as chaincode from './index.ts';
import { CoreTrustContract, PointsContract, ReceivablesContract } from './index.ts';

describe('chaincode public surface', () => {
  it('the export list is what we reviewed (update this snapshot deliberately)', () => {
    expect(Object.keys(chaincode).sort()).toMatchSnapshot();
  });

  it('hosts points (the default), receivables and core, each with its own transactions', () => {
    expect(chaincode.contracts.map((C) => new C().getName())).toEqual(['points', 'receivables', 'core']);
    const own = (C: new () => object) => Object.getOwnPropertyNames(C.prototype).filter((n) => n !== 'constructor');
    expect(own(PointsContract)).toEqual(['whoami', 'balanceOf', 'transfer', 'hold', 'getHold', 'executeDecision', 'receiveMessage']);
    expect(own(ReceivablesContract)).toEqual(['issue', 'confirm', 'split', 'transfer', 'getPiece', 'piecesOf', 'executeDecision', 'receiveMessage']);
    expect(own(CoreTrustContract)).toEqual(['init', 'getTrust', 'updateValidatorSet', 'verifyHeader', 'verifyEvent', 'verifyHeaderChain', 'getDecision']);
  });
});
