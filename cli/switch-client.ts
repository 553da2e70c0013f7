/**
 * What the operator commands (`routes`, `messages`, `approvals`) share: one thin HTTP client for the
 * switch API and the few text helpers they print with. The commands hold no rules of their own; the
 * switch validates every request and answers failures as RFC 9457 problem documents, which this
 * client turns back into the same `LoulanError` codes, so an operator reads the code the switch's
 * log and docs/errors.md use.
 *
 * Exit codes are decided here, not in main.ts, because two failures share a registry code but not a
 * meaning: a switch that could not be reached (exit 2, nothing was sent or the answer never came)
 * and a switch that answered `RPC_UNAVAILABLE` because it could not reach the core chain (exit 1, the
 * switch spoke). The first kind is remembered in a private set rather than in the error's details.
 */
import { ERROR_CODES, LoulanError, isLoulanError, type ErrorCode } from '../core-chain/errors.ts';
import type { Io } from './main.ts';

export const DEFAULT_SWITCH_URL = 'http://127.0.0.1:8080';
/** Long enough for a governed route change, which the switch answers once the core chain took it. */
const REQUEST_TIMEOUT_MS = 60_000;

/** Options every switch command takes, for `parseArgs`. */
export const SWITCH_OPTIONS = { switch: 'string', token: 'string', json: 'boolean' } as const;

export interface SwitchTarget {
  /** Base URL without a trailing slash. */
  readonly url: string;
  readonly token: string | undefined;
}

/** `--switch` (else `LOULAN_SWITCH`, else the local default) and `--token` (else `LOULAN_OPERATOR_TOKEN`). */
export function switchTarget(options: { readonly switch?: string | undefined; readonly token?: string | undefined }): SwitchTarget {
  const text = options.switch ?? nonEmpty(process.env['LOULAN_SWITCH']) ?? DEFAULT_SWITCH_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoulanError('CLI_USAGE', `--switch ${text} is not a URL (e.g. ${DEFAULT_SWITCH_URL})`, { details: { option: 'switch' } });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LoulanError('CLI_USAGE', `--switch must be an http or https URL, not ${url.protocol}`, { details: { option: 'switch' } });
  }
  if (url.search !== '' || url.hash !== '') throw new LoulanError('CLI_USAGE', '--switch takes no query or fragment', { details: { option: 'switch' } });
  return { url: url.href.replace(/\/+$/, ''), token: options.token ?? nonEmpty(process.env['LOULAN_OPERATOR_TOKEN']) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export interface SwitchRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with its segments already encoded (see `segment`). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON when present; without it the request has no body and no Content-Type. */
  readonly body?: unknown;
  /** An operator route: needs the token, and only these requests carry it. */
  readonly operator?: boolean;
}

export interface SwitchReply<T> {
  readonly status: number;
  readonly body: T;
}

/** One path segment, percent-encoded (ids and prefixes never contain `/`, but a typo must not change the route). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

const unreachable = new WeakSet<LoulanError>();

/**
 * Sends one request and returns the decoded JSON answer; throws the switch's problem as a
 * `LoulanError` with its code, `RPC_UNAVAILABLE` when the switch cannot be reached, and
 * `RPC_BAD_RESPONSE` for an answer that is neither JSON nor a problem document.
 *
 * @example
 * const { body } = await callSwitch<{ routes: RouteView[] }>(target, { method: 'GET', path: '/v1/routes' });
 */
export async function callSwitch<T>(target: SwitchTarget, request: SwitchRequest): Promise<SwitchReply<T>> {
  if (request.operator === true && target.token === undefined) {
    throw new LoulanError('CLI_USAGE', 'this command needs an operator token: --token TOKEN or LOULAN_OPERATOR_TOKEN', { details: { option: 'token' } });
  }
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) query.set(name, value);
  const endpoint = target.url + request.path + (query.size === 0 ? '' : `?${query.toString()}`);
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (request.operator === true) headers['authorization'] = `Bearer ${target.token as string}`;
  if (request.body !== undefined) headers['content-type'] = 'application/json';

  let response: Response;
  let text: string;
  try {
    response = await fetch(endpoint, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (cause) {
    const reason = failureReason(cause);
    const error = new LoulanError('RPC_UNAVAILABLE', `cannot reach the switch at ${target.url}: ${reason}`, {
      details: { endpoints: [target.url], attempts: [{ endpoint: target.url, reason }] },
      cause,
    });
    unreachable.add(error);
    throw error;
  }

  const body = parseJson(text);
  if (response.ok) {
    if (body === undefined) throw badResponse(target, response.status, 'the answer is not JSON');
    return { status: response.status, body: body as T };
  }
  throw problemError(target, response.status, body);
}

function failureReason(cause: unknown): string {
  if (cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const inner = cause instanceof Error ? (cause.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof inner?.code === 'string') return inner.code;
  if (typeof inner?.message === 'string') return inner.message;
  return cause instanceof Error ? cause.message : String(cause);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function badResponse(target: SwitchTarget, status: number, why: string): LoulanError {
  return new LoulanError('RPC_BAD_RESPONSE', `${target.url} answered HTTP ${status}, but ${why}`, { details: { endpoint: target.url, status } });
}

const PROBLEM_MEMBERS = new Set(['type', 'title', 'status', 'code', 'detail', 'instance']);

/** A problem document as the error it names; its pointer (and where it is) ends the message. */
function problemError(target: SwitchTarget, status: number, body: unknown): LoulanError {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return badResponse(target, status, 'the answer is not a problem document');
  const problem = body as Record<string, unknown>;
  const code = problem['code'];
  const detail = typeof problem['detail'] === 'string' ? problem['detail'] : `HTTP ${status}`;
  if (typeof code !== 'string') return badResponse(target, status, 'the answer is not a problem document');
  if (!Object.hasOwn(ERROR_CODES, code)) {
    return new LoulanError('RPC_BAD_RESPONSE', `${target.url} answered with a code this loulan does not know, ${code}: ${detail}`, {
      details: { endpoint: target.url, status, problemCode: code },
    });
  }
  const details: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(problem)) if (!PROBLEM_MEMBERS.has(name)) details[name] = value;
  const where = [problem['in'], problem['pointer']].filter((part): part is string => typeof part === 'string' && part !== '');
  const message = typeof problem['pointer'] === 'string' && where.length > 0 ? `${detail} (${where.join(' ')})` : detail;
  return new LoulanError(code as ErrorCode, message, { details });
}

/**
 * Runs a switch command and prints any `LoulanError` as one line, `loulan <command>: CODE: message`:
 * exit 2 for a usage error or an unreachable switch, 1 for everything the switch refused.
 */
export async function runSwitchCommand(name: string, io: Io, run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (error) {
    if (!isLoulanError(error)) throw error;
    io.err(`loulan ${name}: ${error.code}: ${error.message}`);
    return error.code === 'CLI_USAGE' || unreachable.has(error) ? 2 : 1;
  }
}

// -- output ---------------------------------------------------------------------------------------

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function table(io: Io, header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  io.out(line(header));
  for (const row of rows) io.out(line(row));
}

/** Unix ms as RFC 3339 UTC. */
export function time(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

/** How the default route (empty prefix) is shown and written: `_`, as in the URL. */
export function prefixLabel(prefix: string): string {
  return prefix === '' ? '_ (default)' : prefix;
}

/** The single positional argument a subcommand takes, or a usage error naming it. */
export function onePositional(positional: readonly string[], name: string, usage: string): string {
  const [value, ...extra] = positional;
  if (value === undefined) throw new LoulanError('CLI_USAGE', `missing ${name}: ${usage}`, { details: { option: name } });
  if (extra.length > 0) throw new LoulanError('CLI_USAGE', `unexpected argument ${extra[0]}: ${usage}`, { details: { option: name } });
  return value;
}

export function noPositional(positional: readonly string[], usage: string): void {
  if (positional.length > 0) throw new LoulanError('CLI_USAGE', `unexpected argument ${positional[0]}: ${usage}`, { details: { option: 'arguments' } });
}
