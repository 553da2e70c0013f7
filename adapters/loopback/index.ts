/** The loopback adapter and its sinks: destinations that record what they receive, for tests and `loulan up`. */
export { createLoopbackAdapter, loopbackAdapterFactory, type LoopbackOptions } from './adapter.ts';
export { createMemorySink, type MemorySink, type SinkStep, type SinkEffect, type SinkReply } from './memory.ts';
export { startSinkServer, type SinkServer, type SinkServerOptions, type SinkControl, type SinkServerEffect } from './sink.ts';
export { parseRetryAfter, outcomeOfStatus, outcomeOfError, postEnvelope, MAX_RETRY_AFTER_MS, type PostOptions } from '../http.ts';
