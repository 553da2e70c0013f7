import { describe, expect, it } from 'vitest';
import * as store from './index.ts';

// The public surface, spelled out: any addition or removal shows up in review.
describe('public exports', () => {
  it('core-chain/store', () => {
    expect(Object.keys(store).sort()).toEqual(['BlockStore', 'MAX_HEADER_BYTES', 'MAX_STATE_KEY_BYTES', 'SafetyFile', 'SnapshotAssembler']);
  });
});
