/**
 * The switch's public surface: run one (`startSwitch`), talk to it (`SwitchApi` and the HTTP server
 * over it), and the pieces a sender needs to sign for it and check what it says (key ids, batch
 * signatures, anchoring leaves).
 */
export { startSwitch, type RunningSwitch, type StartSwitchOptions, type SwitchLog } from './switch.ts';
export { loadSwitchConfig, parseSwitchConfig, type SwitchConfig } from './config.ts';
export { buildSwitchServer, type SwitchServerOptions } from './http.ts';
export { buildOpenApi } from './openapi.ts';
export type { SwitchApi, BatchItemResult, RouteView, RouteExplanation, LinkHealthView, ChangeSubmitted, SwitchHealth, ChannelGapView } from './api.ts';
export type { MessageRecord, MessageStatus, HistoryEntry, StatusEvent, IntakeResult, DeliveryReceipt, BatchSignature } from './model.ts';
export { TERMINAL_STATUSES } from './model.ts';
export { batchRoot, batchSigningInput, BATCH_DOMAIN, SENDER_ROLES, type Directory, type ParticipantView } from './intake.ts';
export { keyIdOf } from './chain.ts';
export { anchorLeaf } from './store.ts';
export type { MessageEventProof } from './anchor.ts';
export { messageValue, type ValueLimitsConfig, type CapRule } from './limits.ts';
