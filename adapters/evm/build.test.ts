import { describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, compile, loadArtifact, staleArtifacts } from './build.ts';
import { CONTRACT_NAMES, EVM_ERROR_CODES } from './codec.ts';

describe('contract artefacts', () => {
  const fresh = compile();

  it('the committed artefacts are exactly a fresh compile of the sources (npm run build:contracts)', () => {
    expect(staleArtifacts(fresh, ARTIFACTS_DIR)).toEqual([]);
    expect(fresh.map((a) => a.contractName)).toEqual([...CONTRACT_NAMES].sort());
  });

  it('a changed source shows as a different sourceHash and stale artefacts', () => {
    const changed = compile({ 'X.sol': '// SPDX-License-Identifier: Apache-2.0\npragma solidity 0.8.37;\ncontract LoulanPoints { function f() external {} }\n' });
    expect(changed[0]?.sourceHash).not.toBe(fresh[0]?.sourceHash);
    expect(staleArtifacts(changed, ARTIFACTS_DIR)).toContain('LoulanPoints.json');
  });

  it('every custom error of the contracts maps to a Loulan code, and every mapped name exists', () => {
    const declared = new Set<string>();
    for (const name of CONTRACT_NAMES) {
      for (const item of loadArtifact(name).abi as { type: string; name?: string }[]) if (item.type === 'error' && item.name) declared.add(item.name);
    }
    const unmapped = ['NotGateway', 'InsufficientBalance', 'InsufficientAllowance', 'InvalidAmount', 'HoldExists', 'TokenLocked', 'NotOwnerNorApproved', 'WrongOwner', 'InvalidOwner'];
    for (const name of declared) if (!unmapped.includes(name)) expect(EVM_ERROR_CODES, name).toHaveProperty(name);
    for (const name of Object.keys(EVM_ERROR_CODES)) expect(declared.has(name), name).toBe(true);
  });
});
