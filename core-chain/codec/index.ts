/** Canonical encodings: RFC 8785 JSON for envelopes, a fixed binary layout for consensus structures. */
export { canonicalize, canonicalBytes, escapePointer, MAX_DEPTH, type CanonicalReason } from './jcs.ts';
export { Writer, Reader } from './binary.ts';
