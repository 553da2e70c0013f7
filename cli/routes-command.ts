/**
 * `loulan routes list|explain|set|remove`: the routing table from an operator's terminal, over the
 * switch's HTTP API. A change is not applied by the switch but submitted as a governed transaction on
 * the core chain; the command prints the change id and whether it already took effect or waits for
 * approvals.
 *
 * `set` builds a link from options for the adapter kinds that need nothing but an endpoint (which
 * kinds those are is read from the route.change schema, not restated here); any other link, or one
 * with settings the options do not cover, comes from `--link-file`. The switch validates the link
 * either way and answers `ROUTE_INVALID` with a pointer into it.
 */
import { readFileSync } from 'node:fs';
import { LoulanError } from '../core-chain/errors.ts';
import { listSchemas } from '../schemas/index.ts';
import type { ChangeSubmitted, LinkHealthView, RouteExplanation, RouteView } from '../switch/api.ts';
import { DEFAULT_ROUTE_SEGMENT } from '../switch/openapi.ts';
import { integer, parseArgs } from './args.ts';
import type { Command, Io } from './main.ts';
import { callSwitch, noPositional, onePositional, prefixLabel, printJson, runSwitchCommand, segment, SWITCH_OPTIONS, switchTarget, table, time } from './switch-client.ts';

/** Retry policy of a link built from options, when an option is left out. */
export const DEFAULT_RETRY = Object.freeze({ maxAttempts: 10, initialBackoffMs: 200, maxBackoffMs: 60_000 });

const USAGE = [
  'loulan routes list [--json] [--switch URL]',
  '       loulan routes explain ADDRESS [--json] [--switch URL]',
  '       loulan routes set PREFIX --adapter-kind KIND --endpoint URL [--ordered] [--max-attempts N] [--initial-backoff-ms N]',
  '                                [--max-backoff-ms N] [--alternate KIND=URL]... [--reason TEXT] [--token TOKEN] [--switch URL] [--json]',
  '       loulan routes set PREFIX --link-file FILE [--reason TEXT] [--token TOKEN] [--switch URL] [--json]',
  '       loulan routes remove PREFIX [--reason TEXT] [--token TOKEN] [--switch URL] [--json]',
  '  PREFIX is an address prefix such as cn.loulan.shop, or _ for the default route.',
].join('\n');

const OPTIONS = {
  ...SWITCH_OPTIONS,
  'adapter-kind': 'string',
  endpoint: 'string',
  ordered: 'boolean',
  'max-attempts': 'string',
  'initial-backoff-ms': 'string',
  'max-backoff-ms': 'string',
  'link-file': 'string',
  reason: 'string',
} as const;

export const routesCommand: Command = {
  name: 'routes',
  summary: 'list, explain, set and remove routing-table entries of a switch',
  usage: USAGE,
  run: (args, io) =>
    runSwitchCommand('routes', io, async () => {
      const { alternates, rest } = takeAlternates(args);
      const { options, positional } = parseArgs(rest, OPTIONS);
      const [sub, ...operands] = positional;
      const target = switchTarget(options);
      const json = options.json === true;
      if (alternates.length > 0 && sub !== 'set') throw usage('--alternate belongs to routes set', 'alternate');
      switch (sub) {
        case 'list': {
          noPositional(operands, USAGE);
          const { body } = await callSwitch<{ routes: RouteView[] }>(target, { method: 'GET', path: '/v1/routes' });
          if (json) printJson(io, body);
          else printRoutes(io, body.routes);
          return;
        }
        case 'explain': {
          const address = onePositional(operands, 'ADDRESS', USAGE);
          const { body } = await callSwitch<RouteExplanation>(target, { method: 'GET', path: '/v1/routes/explain', query: { address } });
          if (json) printJson(io, body);
          else printExplanation(io, body);
          return;
        }
        case 'set': {
          const prefix = pathPrefix(onePositional(operands, 'PREFIX', USAGE));
          const link = options['link-file'] === undefined ? linkFromOptions(options, alternates) : linkFromFile(options['link-file'], options, alternates);
          const body = { link, ...(options.reason === undefined ? {} : { reason: options.reason }) };
          const reply = await callSwitch<ChangeSubmitted>(target, { method: 'PUT', path: `/v1/routes/${segment(prefix)}`, body, operator: true });
          printChange(io, json, prefix, reply.body);
          return;
        }
        case 'remove': {
          const prefix = pathPrefix(onePositional(operands, 'PREFIX', USAGE));
          const body = options.reason === undefined ? undefined : { reason: options.reason };
          const reply = await callSwitch<ChangeSubmitted>(target, { method: 'DELETE', path: `/v1/routes/${segment(prefix)}`, body, operator: true });
          printChange(io, json, prefix, reply.body);
          return;
        }
        default:
          throw usage(`unknown subcommand ${String(sub)}: use list, explain, set or remove`, 'subcommand');
      }
    }),
};

function usage(message: string, option: string): LoulanError {
  return new LoulanError('CLI_USAGE', message, { details: { option } });
}

/** `--alternate` may repeat, which the shared parser does not allow; take its values out first. */
function takeAlternates(args: readonly string[]): { alternates: string[]; rest: string[] } {
  const alternates: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith('--alternate=')) alternates.push(arg.slice('--alternate='.length));
    else if (arg === '--alternate') {
      const value = args[++i];
      if (value === undefined) throw usage('option --alternate needs a value KIND=URL', 'alternate');
      alternates.push(value);
    } else rest.push(arg);
  }
  return { alternates, rest };
}

/** The prefix as the URL writes it: the default route (empty prefix) is `_`. */
function pathPrefix(prefix: string): string {
  return prefix === '' ? DEFAULT_ROUTE_SEGMENT : prefix;
}

type SetOptions = ReturnType<typeof parseArgs<typeof OPTIONS>>['options'];

const BUILT_OPTIONS = ['adapter-kind', 'endpoint', 'ordered', 'max-attempts', 'initial-backoff-ms', 'max-backoff-ms'] as const;

function linkFromOptions(options: SetOptions, alternates: readonly string[]): Record<string, unknown> {
  const kind = options['adapter-kind'];
  const endpoint = options.endpoint;
  if (kind === undefined || endpoint === undefined) throw usage('routes set needs --adapter-kind and --endpoint, or --link-file', kind === undefined ? 'adapter-kind' : 'endpoint');
  return {
    adapter: endpointTarget(kind, endpoint, 'adapter-kind'),
    ordered: options.ordered === true,
    retry: {
      maxAttempts: integer(options['max-attempts'], 'max-attempts', DEFAULT_RETRY.maxAttempts, 1),
      initialBackoffMs: integer(options['initial-backoff-ms'], 'initial-backoff-ms', DEFAULT_RETRY.initialBackoffMs, 1),
      maxBackoffMs: integer(options['max-backoff-ms'], 'max-backoff-ms', DEFAULT_RETRY.maxBackoffMs, 1),
    },
    ...(alternates.length === 0
      ? {}
      : {
          alternates: alternates.map((text) => {
            const at = text.indexOf('=');
            if (at <= 0 || at === text.length - 1) throw usage(`--alternate ${text} is not KIND=URL`, 'alternate');
            return endpointTarget(text.slice(0, at), text.slice(at + 1), 'alternate');
          }),
        }),
  };
}

function endpointTarget(kind: string, endpoint: string, option: string): { kind: string; endpoint: string } {
  const kinds = endpointOnlyKinds();
  if (!kinds.includes(kind)) {
    throw usage(`adapter kind ${kind} needs more than an endpoint (or is unknown); write the link to a file and use --link-file (kinds by endpoint alone: ${kinds.join(', ')})`, option);
  }
  return { kind, endpoint };
}

interface SchemaDef {
  readonly $ref?: string;
  readonly oneOf?: readonly SchemaDef[];
  readonly required?: readonly string[];
  readonly properties?: { readonly kind?: { readonly const?: unknown } };
}

let endpointKinds: readonly string[] | undefined;

/** Adapter kinds whose target is `{kind, endpoint}` and nothing more required, per the route.change schema. */
export function endpointOnlyKinds(): readonly string[] {
  if (endpointKinds !== undefined) return endpointKinds;
  const document = listSchemas().find((doc) => doc.name === 'route.change')?.document;
  const defs = (document?.['$defs'] ?? {}) as Readonly<Record<string, SchemaDef>>;
  const kinds: string[] = [];
  for (const option of defs['adapterTarget']?.oneOf ?? []) {
    const def = defs[(option.$ref ?? '').replace('#/$defs/', '')];
    const required = [...(def?.required ?? [])].sort();
    const kind = def?.properties?.kind?.const;
    if (typeof kind === 'string' && required.length === 2 && required[0] === 'endpoint' && required[1] === 'kind') kinds.push(kind);
  }
  endpointKinds = Object.freeze(kinds);
  return endpointKinds;
}

function linkFromFile(file: string, options: SetOptions, alternates: readonly string[]): unknown {
  const clash = alternates.length > 0 ? 'alternate' : BUILT_OPTIONS.find((name) => options[name] !== undefined);
  if (clash !== undefined) throw usage(`--link-file and --${clash} exclude each other: the file holds the whole link`, clash);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new LoulanError('CLI_USAGE', `cannot read the link file ${file}`, { details: { option: 'link-file' }, cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new LoulanError('CLI_USAGE', `${file} is not JSON`, { details: { option: 'link-file' }, cause });
  }
}

// -- output ---------------------------------------------------------------------------------------

interface LinkShape {
  readonly adapter?: { readonly kind?: unknown; readonly endpoint?: unknown };
  readonly ordered?: unknown;
  readonly retry?: { readonly maxAttempts?: unknown; readonly initialBackoffMs?: unknown; readonly maxBackoffMs?: unknown };
  readonly alternates?: ReadonlyArray<{ readonly kind?: unknown; readonly endpoint?: unknown }>;
}

function printRoutes(io: Io, routes: readonly RouteView[]): void {
  if (routes.length === 0) {
    io.out('the routing table is empty');
    return;
  }
  const rows = [...routes]
    .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
    .map((route) => {
      const link = route.link as LinkShape;
      const retry = link.retry;
      return [
        prefixLabel(route.prefix),
        `${String(link.adapter?.kind)} ${String(link.adapter?.endpoint)}`,
        link.ordered === true ? 'yes' : 'no',
        retry === undefined ? '-' : `${String(retry.maxAttempts)} x ${String(retry.initialBackoffMs)}..${String(retry.maxBackoffMs)} ms`,
        (link.alternates ?? []).map((alt) => `${String(alt.kind)} ${String(alt.endpoint)}`).join(', ') || '-',
        `${route.changeId} @ ${route.height}`,
      ];
    });
  table(io, ['PREFIX', 'LINK', 'ORDERED', 'RETRY', 'ALTERNATES', 'CHANGE @ HEIGHT'], rows);
}

function printExplanation(io: Io, explanation: RouteExplanation): void {
  io.out(`address     ${explanation.address}`);
  io.out(`matched     ${explanation.matched === null ? 'nothing' : `${prefixLabel(explanation.matched.prefix)} (change ${explanation.matched.changeId} @ height ${explanation.matched.height}, version ${explanation.matched.version})`}`);
  io.out(`why         ${explanation.why}`);
  io.out('candidates  (longest first)');
  for (const candidate of explanation.candidates) {
    const mark = explanation.matched !== null && candidate.prefix === explanation.matched.prefix ? 'matched' : candidate.hasEntry ? 'entry (shadowed)' : 'no entry';
    io.out(`  ${prefixLabel(candidate.prefix).padEnd(40)} ${mark}`);
  }
  io.out(`active      ${explanation.active === null ? 'none' : `${explanation.active.link}: ${explanation.active.reason} (since ${time(explanation.active.since)})`}`);
  if (explanation.primary !== null) io.out(`primary     ${health(explanation.primary)}`);
  for (const [i, alternate] of explanation.alternates.entries()) io.out(`alternate ${i + 1} ${health(alternate)}`);
  if (explanation.matched !== null && explanation.alternates.length === 0) io.out('alternates  none');
}

function health(link: LinkHealthView): string {
  const ms = (value: number | null) => (value === null ? '-' : `${value} ms`);
  const parts = [
    `${link.link} (${String(link.target['kind'])} ${String(link.target['endpoint'])}) ${link.state}`,
    `queue ${link.queueDepth}`,
    `oldest ${link.oldestAgeMs} ms`,
    `success ${link.successRate === null ? '-' : `${(link.successRate * 100).toFixed(1)}%`}`,
    `p50 ${ms(link.latencyP50Ms)}`,
    `p99 ${ms(link.latencyP99Ms)}`,
    `breaker ${link.breaker}`,
  ];
  if (link.lastError !== null) parts.push(`last error ${link.lastError.code} at ${time(link.lastError.at)}: ${link.lastError.message}`);
  return parts.join(', ');
}

function printChange(io: Io, json: boolean, prefix: string, change: ChangeSubmitted): void {
  if (json) {
    printJson(io, change);
    return;
  }
  const route = prefix === DEFAULT_ROUTE_SEGMENT ? 'the default route' : `route ${prefix}`;
  const state = change.applied ? 'applied' : 'submitted, waiting for approvals';
  io.out(`${route}: change ${change.changeId} ${state} (tx ${change.txHash}, height ${change.height})`);
}
