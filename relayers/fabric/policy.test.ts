import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoulanError } from '../../core-chain/index.ts';
import { formatPolicy, parsePolicy, policyMsps, policySatisfied, type EndorsementPolicy, type PolicySigner } from './policy.ts';

const peerOf = (mspId: string): PolicySigner => ({ mspId, role: 'peer' });

function parseError(text: string): LoulanError {
  try {
    parsePolicy(text);
  } catch (error) {
    expect(error).toBeInstanceOf(LoulanError);
    return error as LoulanError;
  }
  throw new Error(`parsed: ${text}`);
}

describe('endorsement policy syntax', () => {
  it('parses AND, OR, OutOf and nesting, with either quote and any spacing', () => {
    expect(parsePolicy("AND('Org1MSP.peer','Org2MSP.peer')")).toEqual({
      kind: 'outOf',
      n: 2,
      rules: [
        { kind: 'principal', mspId: 'Org1MSP', role: 'peer' },
        { kind: 'principal', mspId: 'Org2MSP', role: 'peer' },
      ],
    });
    const nested = parsePolicy(' or( "A.member" , outof( 2 ,\'B.peer\',\'C.admin\',\'D.client\') ) ');
    expect(formatPolicy(nested)).toBe("OR('A.member', OutOf(2, 'B.peer', 'C.admin', 'D.client'))");
    expect(policyMsps(nested)).toEqual(['A', 'B', 'C', 'D']);
    expect(formatPolicy(parsePolicy("'Org1MSP.peer'"))).toBe("'Org1MSP.peer'");
  });

  it('refuses malformed policies with CONFIG_INVALID naming the field', () => {
    for (const bad of ['', 'AND()', "AND('Org1MSP.peer'", "XOR('A.peer')", "AND('A.boss')", "'noRole'", "OutOf(3, 'A.peer', 'B.peer')", "OutOf(0, 'A.peer')", "OR('A.peer') trailing", "AND('.peer')"]) {
      const error = parseError(bad);
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.details['field']).toBe('policy');
    }
    expect(parseError(`${'AND('.repeat(20)}'A.peer'${')'.repeat(20)}`).details['reason']).toBe('nested too deep');
  });
});

describe('endorsement policy evaluation', () => {
  const and = parsePolicy("AND('Org1MSP.peer','Org2MSP.peer')");
  const twoOfThree = parsePolicy("OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')");

  it('AND needs every organisation, OR any, OutOf k distinct', () => {
    expect(policySatisfied(and, [peerOf('Org1MSP'), peerOf('Org2MSP')])).toBe(true);
    expect(policySatisfied(and, [peerOf('Org1MSP')])).toBe(false);
    expect(policySatisfied(and, [peerOf('Org1MSP'), peerOf('Org3MSP')])).toBe(false);
    expect(policySatisfied(parsePolicy("OR('Org1MSP.peer','Org2MSP.peer')"), [peerOf('Org2MSP')])).toBe(true);
    expect(policySatisfied(twoOfThree, [peerOf('Org3MSP'), peerOf('Org1MSP')])).toBe(true);
    expect(policySatisfied(twoOfThree, [peerOf('Org3MSP')])).toBe(false);
  });

  it('matches roles: peer needs OU=peer, member takes any role of the MSP', () => {
    const client: PolicySigner = { mspId: 'Org1MSP', role: 'client' };
    expect(policySatisfied(parsePolicy("'Org1MSP.peer'"), [client])).toBe(false);
    expect(policySatisfied(parsePolicy("'Org1MSP.member'"), [client])).toBe(true);
    expect(policySatisfied(parsePolicy("'Org1MSP.admin'"), [{ mspId: 'Org1MSP', role: 'admin' }])).toBe(true);
  });

  it('uses one signer for one principal only, and finds an assignment a greedy evaluator would miss', () => {
    const twice = parsePolicy("AND('Org1MSP.peer','Org1MSP.peer')");
    expect(policySatisfied(twice, [peerOf('Org1MSP')])).toBe(false);
    expect(policySatisfied(twice, [peerOf('Org1MSP'), peerOf('Org1MSP')])).toBe(true);
    // Greedy would spend the admin on 'member' and then have nothing for 'admin'.
    const tricky = parsePolicy("AND('Org1MSP.member','Org1MSP.admin')");
    expect(policySatisfied(tricky, [{ mspId: 'Org1MSP', role: 'admin' }, { mspId: 'Org1MSP', role: 'client' }])).toBe(true);
  });

  it('is monotone (more signers never break a satisfied policy) and survives format → parse (property)', () => {
    const msps = ['A', 'B', 'C'];
    const principal = fc.record({ kind: fc.constant('principal' as const), mspId: fc.constantFrom(...msps), role: fc.constantFrom('peer' as const, 'member' as const) });
    const policy: fc.Arbitrary<EndorsementPolicy> = fc.letrec<{ node: EndorsementPolicy }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        principal,
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }).chain((rules) => fc.integer({ min: 1, max: rules.length }).map((n) => ({ kind: 'outOf' as const, n, rules }))),
      ),
    })).node;
    const signer = fc.record({ mspId: fc.constantFrom(...msps), role: fc.constantFrom('peer' as const, 'client' as const) });
    fc.assert(
      fc.property(policy, fc.array(signer, { maxLength: 4 }), fc.array(signer, { maxLength: 3 }), (p, base, more) => {
        if (policySatisfied(p, base)) expect(policySatisfied(p, [...base, ...more])).toBe(true);
        const reparsed = parsePolicy(formatPolicy(p));
        expect(formatPolicy(reparsed)).toBe(formatPolicy(p));
        expect(policySatisfied(reparsed, base)).toBe(policySatisfied(p, base));
      }),
      { numRuns: 300 },
    );
  });
});
