import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoulanError } from '../../../core-chain/index.ts';
import { DecisionAction } from '../../../relayers/index.ts';
import {
  decodeHoldArgs,
  decodeLockArgs,
  decodeMintArgs,
  decodePoolArgs,
  decodeReleaseArgs,
  decodeUnlockArgs,
  encodeBurnArgs,
  encodeLockArgs,
  encodeMintArgs,
  encodePoolArgs,
  encodeReleaseArgs,
  encodeUnlockArgs,
  LOCK_PURPOSES,
  RELEASE_REASONS,
} from './decision-args.ts';
import { chaincodeErrorFromMessage, toChaincodeError } from './wire.ts';

function codeOf(fn: () => unknown): { code: string; field: unknown } {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code, field: error.details['field'] };
    throw error;
  }
  throw new Error('did not throw');
}

describe('errors on the wire', () => {
  it('round-trip code and details, bigints and bytes as strings, through a peer\'s prefix', () => {
    const error = new LoulanError('DECISION_EXPIRED', 'too late\nreally', { details: { deadline: 5n, time: 6n, id: Uint8Array.of(1, 255), none: undefined } });
    const wire = toChaincodeError(error).message;
    expect(wire.split('\n')[0]).toBe('DECISION_EXPIRED: too late really');
    const back = chaincodeErrorFromMessage(`endorse failed: chaincode response 500, ${wire}`);
    expect(back?.code).toBe('DECISION_EXPIRED');
    expect(back?.message).toBe('too late really');
    expect(back?.details).toEqual({ deadline: '5', time: '6', id: '01ff' });
  });

  it('hides everything of an unexpected failure', () => {
    const wire = toChaincodeError(new TypeError('secret at /srv/peer')).message;
    expect(wire).not.toContain('secret');
    expect(chaincodeErrorFromMessage(wire)?.code).toBe('INTERNAL');
  });

  it('finds nothing in messages without the marker or with an unknown code', () => {
    expect(chaincodeErrorFromMessage('MVCC_READ_CONFLICT')).toBeUndefined();
    expect(chaincodeErrorFromMessage('X: y\nloulan-error:{"code":"NOPE","details":{}}')).toBeUndefined();
    expect(chaincodeErrorFromMessage('loulan-error:{not json')).toBeUndefined();
  });
});

describe('decision args', () => {
  const id = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.isWellFormed() && !s.includes('\u0000') && !s.includes('\u{10ffff}'));
  const amount = fc.bigInt({ min: 1n, max: (1n << 128n) - 1n });
  const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

  it('round-trip for every action', () => {
    fc.assert(
      fc.property(id, id, amount, bytes32, fc.constantFrom(...LOCK_PURPOSES), fc.constantFrom(...RELEASE_REASONS), (a, b, n, lockId, purpose, reason) => {
        expect(decodeMintArgs(encodeMintArgs({ account: a, amount: n }))).toEqual({ account: a, amount: n });
        expect(decodeHoldArgs(DecisionAction.BURN, encodeBurnArgs({ holdId: a }))).toEqual({ holdId: a });
        expect(decodeReleaseArgs(encodeReleaseArgs({ holdId: a, to: b }))).toEqual({ holdId: a, to: b });
        expect(decodeLockArgs(encodeLockArgs({ pieceId: a, lockId, amount: n, purpose }))).toEqual({ pieceId: a, lockId, amount: n, purpose });
        expect(decodeUnlockArgs(encodeUnlockArgs({ pieceId: a, lockId, reason }))).toEqual({ pieceId: a, lockId, reason });
        expect(decodePoolArgs(encodePoolArgs({ pieceId: a, lockId, poolId: b, vehicle: a }))).toEqual({ pieceId: a, lockId, poolId: b, vehicle: a });
      }),
      { numRuns: 100 },
    );
  });

  it('refuse trailing bytes, zero or oversized amounts, unusable ids and unknown enumerations', () => {
    const mint = encodeMintArgs({ account: 'a', amount: 1n });
    expect(codeOf(() => decodeMintArgs(Uint8Array.of(...mint, 0)))).toEqual({ code: 'DECISION_ARGS', field: 'args' });
    expect(codeOf(() => decodeMintArgs(mint.subarray(0, 40)))).toEqual({ code: 'DECISION_ARGS', field: 'args' });
    expect(codeOf(() => decodeMintArgs(encodeMintArgs({ account: 'a', amount: 0n })))).toEqual({ code: 'DECISION_ARGS', field: 'amount' });
    expect(codeOf(() => decodeMintArgs(encodeMintArgs({ account: 'a', amount: 1n << 128n })))).toEqual({ code: 'DECISION_ARGS', field: 'amount' });
    expect(codeOf(() => decodeMintArgs(encodeMintArgs({ account: '', amount: 1n })))).toEqual({ code: 'DECISION_ARGS', field: 'account' });
    expect(codeOf(() => decodeMintArgs(encodeMintArgs({ account: 'a\u0000', amount: 1n })))).toEqual({ code: 'DECISION_ARGS', field: 'account' });
    const lock = encodeLockArgs({ pieceId: 'p', lockId: new Uint8Array(32), amount: 1n, purpose: 'GIFT' as never });
    expect(codeOf(() => decodeLockArgs(lock))).toEqual({ code: 'DECISION_ARGS', field: 'purpose' });
    const unlock = encodeUnlockArgs({ pieceId: 'p', lockId: new Uint8Array(32), reason: 'NOPE' as never });
    expect(codeOf(() => decodeUnlockArgs(unlock))).toEqual({ code: 'DECISION_ARGS', field: 'reason' });
  });
});
