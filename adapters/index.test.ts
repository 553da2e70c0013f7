import { describe, expect, it } from 'vitest';
import * as adapters from './index.ts';

describe('adapters public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(adapters).sort()).toEqual([
      'MAX_RETRY_AFTER_MS',
      'createCoreAdapter',
      'createLoopbackAdapter',
      'createMemorySink',
      'loopbackAdapterFactory',
      'outcomeOfError',
      'outcomeOfStatus',
      'parseRetryAfter',
      'postEnvelope',
      'startSinkServer',
    ]);
  });
});
