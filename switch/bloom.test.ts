import { expect, test } from 'vitest';
import { BloomFilter } from './bloom.ts';

test('never forgets a key it was given, and mostly says no to others', () => {
  const bloom = new BloomFilter();
  const keys = Array.from({ length: 50_000 }, (_, i) => `cn.loulan.shop.s${i % 97}\u0000msg-${i}`);
  for (const k of keys) bloom.add(k);
  expect(keys.every((k) => bloom.mayContain(k))).toBe(true);
  let falsePositives = 0;
  for (let i = 0; i < 50_000; i++) if (bloom.mayContain(`cn.loulan.shop.s${i % 97}\u0000other-${i}`)) falsePositives++;
  expect(falsePositives).toBeLessThan(50); // ~0 at this fill; 1 % would be 500
});
