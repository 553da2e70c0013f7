import { describe, it, expect } from 'vitest';
import { DecisionAction, decodeDecision, encodeDecision, systemId, type Decision } from './decision.ts';
import { LoulanError } from '../core-chain/index.ts';

const decision: Decision = {
  decisionId: new Uint8Array(32).fill(7),
  target: systemId('cn.loulan.partner.airline.evm'),
  action: DecisionAction.RELEASE,
  deadline: 1_767_225_600_000n,
  args: Uint8Array.of(1, 2, 3),
};

function codeOf(fn: () => unknown): { code: string; field: unknown } {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return { code: error.code, field: error.details?.['field'] };
    throw error;
  }
  throw new Error('did not throw');
}

describe('decision envelope', () => {
  it('round-trips', () => {
    expect(decodeDecision(encodeDecision(decision))).toEqual(decision);
  });

  it('is the Solidity ABI encoding (head of six words, then the args tail)', () => {
    const bytes = encodeDecision(decision);
    expect(bytes.length).toBe(6 * 32 + 32 + 32);
    expect(bytes[31]).toBe(1); // version
    expect(bytes[3 * 32 + 31]).toBe(DecisionAction.RELEASE);
  });

  it('refuses trailing bytes, unknown versions and actions', () => {
    const bytes = encodeDecision(decision);
    expect(codeOf(() => decodeDecision(Uint8Array.of(...bytes, 0)))).toEqual({ code: 'DECISION_MALFORMED', field: 'data' });
    const version = bytes.slice();
    version[31] = 2;
    expect(codeOf(() => decodeDecision(version))).toEqual({ code: 'DECISION_MALFORMED', field: 'version' });
    const action = bytes.slice();
    action[3 * 32 + 31] = 99;
    expect(codeOf(() => decodeDecision(action))).toEqual({ code: 'DECISION_MALFORMED', field: 'action' });
    expect(codeOf(() => decodeDecision(bytes.subarray(0, 100)))).toEqual({ code: 'DECISION_MALFORMED', field: 'data' });
  });

  it('refuses to encode a short id', () => {
    expect(codeOf(() => encodeDecision({ ...decision, decisionId: new Uint8Array(31) }))).toEqual({ code: 'DECISION_MALFORMED', field: 'decisionId' });
  });
});
