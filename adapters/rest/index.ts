/** The rest adapter (signed webhooks to a shop's URL) and what a shop needs to verify them. */
export { createRestAdapter, restAdapterFactory, type RestAdapterOptions } from './adapter.ts';
export {
  createShopClient,
  verifyMessageProof,
  DEFAULT_TTL_MS,
  type OutgoingMessage,
  type ProofExpectation,
  type ProofResponse,
  type SendResult,
  type ShopClient,
  type ShopClientOptions,
  type SubscribeOptions,
  type VerifiedEvent,
  type VerifiedProof,
} from './client.ts';
export {
  DEFAULT_TOLERANCE_SEC,
  parseSignatureHeader,
  signWebhook,
  verifyWebhook,
  WEBHOOK_REJECTIONS,
  webhookKey,
  webhookSignature,
  type ParsedSignatureHeader,
  type VerifyWebhookInput,
  type VerifyWebhookResult,
  type WebhookRejection,
} from './signature.ts';
