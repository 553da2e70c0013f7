/** The switch's delivery engine: per-link workers, retries, breakers, ordered channels, DLQ replay. */
export {
  createDeliveryEngine,
  type DeliveryEngine,
  type DeliveryEngineOptions,
  type DeliveryLogger,
  type OutcomeContext,
  type LinkStats,
  type ChannelGap,
  type MessageRef,
} from './engine.ts';
export { linkId, resolvedRoute, type ResolvedRoute, type RouteTarget } from './route.ts';
export { backoffDelay, DEFAULT_BREAKER, type BreakerState, type BreakerPolicy, type RetryPolicy } from './policies.ts';
export { REAL_TIMER, type Timer } from './scheduler.ts';
