/**
 * The switch's routing core: the longest-prefix table, live link health, failover with hysteresis and
 * the operator's explanation of a route. Pure and clock-injected; the switch feeds it chain route
 * changes and delivery outcomes and asks it where each message goes.
 */
export {
  createRouteTable,
  isRoutePrefix,
  comparePrefixes,
  ADDRESS_PATTERN,
  MAX_ADDRESS_LENGTH,
  type RouteTable,
  type RouteEntry,
  type RouteChange,
  type RouteCandidate,
  type RouteMatch,
  type BatchResult,
} from './table.ts';
export {
  createHealthBoard,
  DEFAULT_HEALTH_THRESHOLDS,
  type HealthBoard,
  type HealthView,
  type HealthOptions,
  type HealthThresholds,
  type HealthReason,
  type HealthSnapshot,
  type LinkSnapshot,
  type LinkState,
  type LinkStatus,
  type Outcome,
} from './health.ts';
export { createFailover, DEFAULT_HOLD_MS, type Failover, type FailoverDecision, type FailoverOptions, type FailoverReason } from './failover.ts';
export { explainRoute, type ExplainOptions, type ExplainedCandidate, type ExplainedLink, type RouteExplanation, type RouteLinks } from './explain.ts';
