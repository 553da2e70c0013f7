import { describe, expect, it } from 'vitest';
import * as fabric from './index.ts';

describe('adapters/fabric public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(fabric).sort()).toEqual([
      'FileCheckpointer',
      'MemoryCheckpointer',
      'commitError',
      'connectFabric',
      'connectLegacyFabric',
      'createFabricAdapter',
      'fabricAdapterFactory',
      'fabricError',
      'fabricIdentity',
      'formatPosition',
      'outcomeOfFabricError',
      'parsePosition',
      'validationCodeName',
    ]);
  });
});
