import { describe, expect, it } from 'vitest';
import * as fabric from './index.ts';

describe('relayers/fabric public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(fabric).sort()).toEqual([
      'FABRIC_EVIDENCE_VERSION',
      'evidenceFromEnvelope',
      'evidenceFromJson',
      'evidenceToJson',
      'fabricConfirmationVerifier',
      'fabricEvidenceVerifier',
      'formatPolicy',
      'mspVerifier',
      'parseIdentity',
      'parsePolicy',
      'policyMsps',
      'policySatisfied',
      'serializeIdentity',
      'signFabric',
      'verifyFabricConfirmation',
      'verifyFabricEvidence',
      'verifyFabricSignature',
    ]);
  });
});
