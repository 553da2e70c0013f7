import { describe, expect, it } from 'vitest';
import * as verify from './index.ts';

describe('verify public surface', () => {
  it('the export list is what we reviewed (update this snapshot deliberately)', () => {
    expect(Object.keys(verify).sort()).toMatchSnapshot();
  });
});
