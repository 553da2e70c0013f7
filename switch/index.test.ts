import { expect, test } from 'vitest';
import * as api from './index.ts';

test('the public export list changes only on purpose', () => {
  expect(Object.keys(api).sort()).toMatchSnapshot();
});
