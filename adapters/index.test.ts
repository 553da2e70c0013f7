import { describe, expect, it } from 'vitest';
import * as adapters from './index.ts';

describe('adapters public surface', () => {
  it('exports what was reviewed (update deliberately)', () => {
    expect(Object.keys(adapters).sort()).toEqual([
      'DEFAULT_TOLERANCE_SEC',
      'DEFAULT_TTL_MS',
      'MAX_RETRY_AFTER_MS',
      'WEBHOOK_REJECTIONS',
      'createCoreAdapter',
      'createEvmAdapter',
      'createFabricAdapter',
      'createLoopbackAdapter',
      'createMemorySink',
      'createRestAdapter',
      'createShopClient',
      'deployGateway',
      'evmAdapterFactory',
      'fabricAdapterFactory',
      'loopbackAdapterFactory',
      'outcomeOfError',
      'outcomeOfStatus',
      'parseRetryAfter',
      'parseSignatureHeader',
      'postEnvelope',
      'restAdapterFactory',
      'signWebhook',
      'startSinkServer',
      'verifyMessageProof',
      'verifyWebhook',
      'webhookKey',
      'webhookSignature',
    ]);
  });
});
