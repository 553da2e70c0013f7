/**
 * What a fastify server threw, as the `LoulanError` its problem document reports: one mapping for
 * every HTTP server in the project (the validator RPC, the switch API), so a client sees the same
 * code for the same mistake wherever it makes it. Request-validation failures become VALIDATE_* with
 * a pointer; an oversized body VALIDATE_TOO_LARGE; a wrong Content-Type RPC_UNSUPPORTED_MEDIA_TYPE; a
 * body that is not JSON the route's `malformed` code; any other 4xx RPC_MALFORMED_REQUEST; anything
 * unrecognised INTERNAL (its message never reaches the caller).
 */
import type { FastifyError, FastifySchemaValidationError } from 'fastify';
import { LoulanError, asLoulanError, requestValidationError, type ErrorCode } from '../errors.ts';

function isFastifyError(error: unknown): error is FastifyError {
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('FST_');
}

/** Any thrown value as the LoulanError to report. */
export function httpErrorToLoulan(error: unknown, malformed: ErrorCode = 'RPC_MALFORMED_REQUEST'): LoulanError {
  if (error instanceof LoulanError) return error;
  if (!isFastifyError(error)) return asLoulanError(error);
  if (error.validation !== undefined && error.validation.length > 0) {
    return requestValidationError(error.validation[0] as FastifySchemaValidationError, error.validationContext ?? 'body');
  }
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return new LoulanError('VALIDATE_TOO_LARGE', 'request body is too large', { details: { pointer: '', in: 'body' } });
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return new LoulanError('RPC_UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type', { details: { reason: error.code } });
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new LoulanError(malformed, 'the body is not valid JSON', { details: { pointer: '', in: 'body', reason: error.code } });
  }
  if (status >= 400 && status < 500) {
    return new LoulanError('RPC_MALFORMED_REQUEST', 'the request cannot be parsed', { details: { reason: error.code } });
  }
  return asLoulanError(error);
}
