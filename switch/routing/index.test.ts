import { describe, it, expect } from 'vitest';
import * as routing from './index.ts';

describe('switch/routing public surface', () => {
  it('the export list is what we reviewed (update this snapshot deliberately)', () => {
    expect(Object.keys(routing).sort()).toMatchSnapshot();
  });
});
