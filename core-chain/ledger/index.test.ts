import { describe, expect, it } from 'vitest';
import * as ledger from './index.ts';

describe('ledger public surface', () => {
  it('the export list is what we reviewed (update this snapshot deliberately)', () => {
    expect(Object.keys(ledger).sort()).toMatchSnapshot();
  });
});
