/**
 * `loulan messages show|dlq|replay`: where a message is and why, the dead-letter queue, and the one
 * command that sends a dead letter back to its queue. Read commands need no token; replay is an
 * operator route.
 *
 * The human output is for reading at a terminal and may change; scripts use `--json`, which prints
 * the switch's answer unchanged (the `MessageRecord` and `DeadLetterPage` shapes of the OpenAPI
 * document at `/docs`).
 */
import type { MessageRecord } from '../switch/model.ts';
import { MAX_PAGE } from '../switch/openapi.ts';
import { integer, parseArgs } from './args.ts';
import { LoulanError } from '../core-chain/errors.ts';
import type { Command, Io } from './main.ts';
import { callSwitch, noPositional, onePositional, prefixLabel, printJson, runSwitchCommand, segment, SWITCH_OPTIONS, switchTarget, table, time } from './switch-client.ts';

const USAGE = [
  'loulan messages show ID [--source ADDRESS] [--json] [--switch URL]',
  '       loulan messages dlq [--after ORDER] [--limit N] [--json] [--switch URL]',
  '       loulan messages replay ID [--source ADDRESS] [--token TOKEN] [--json] [--switch URL]',
  '       loulan messages skip-gap --source ADDRESS --to ADDRESS [--token TOKEN] [--json] [--switch URL]',
  '  --source picks the sender when two senders used the same message id.',
].join('\n');

const OPTIONS = { ...SWITCH_OPTIONS, source: 'string', to: 'string', after: 'string', limit: 'string' } as const;

export const messagesCommand: Command = {
  name: 'messages',
  summary: "show a message's status and history, list dead letters, replay one",
  usage: USAGE,
  run: (args, io) =>
    runSwitchCommand('messages', io, async () => {
      const { options, positional } = parseArgs(args, OPTIONS);
      const [sub, ...operands] = positional;
      const target = switchTarget(options);
      const json = options.json === true;
      switch (sub) {
        case 'show': {
          const id = onePositional(operands, 'ID', USAGE);
          const { body } = await callSwitch<MessageRecord>(target, { method: 'GET', path: `/v1/messages/${segment(id)}`, query: { source: options.source } });
          if (json) printJson(io, body);
          else printRecord(io, body);
          return;
        }
        case 'dlq': {
          noPositional(operands, USAGE);
          if (options.source !== undefined) throw new LoulanError('CLI_USAGE', '--source belongs to show and replay', { details: { option: 'source' } });
          const after = options.after === undefined ? undefined : String(integer(options.after, 'after', 0));
          const limit = options.limit === undefined ? undefined : String(integer(options.limit, 'limit', 0, 1, MAX_PAGE));
          const { body } = await callSwitch<{ messages: MessageRecord[]; next: number | null }>(target, { method: 'GET', path: '/v1/dlq', query: { after, limit } });
          if (json) printJson(io, body);
          else printDeadLetters(io, body.messages, body.next, after, limit);
          return;
        }
        case 'replay': {
          const id = onePositional(operands, 'ID', USAGE);
          const { body } = await callSwitch<MessageRecord>(target, { method: 'POST', path: `/v1/dlq/${segment(id)}/replay`, query: { source: options.source }, operator: true });
          if (json) printJson(io, body);
          else io.out(`${body.id} from ${body.source}: back in the queue (status ${body.status}, attempts ${body.attempts})`);
          return;
        }
        case 'skip-gap': {
          noPositional(operands, USAGE);
          if (options.source === undefined || options.to === undefined) throw new LoulanError('CLI_USAGE', 'skip-gap needs --source and --to (the channel)', { details: { option: options.source === undefined ? 'source' : 'to' } });
          const { body } = await callSwitch<{ skipped: string[] }>(target, { method: 'POST', path: '/v1/gaps/skip', body: { source: options.source, to: options.to }, operator: true });
          if (json) printJson(io, body);
          else io.out(body.skipped.length === 0 ? 'the channel was not held' : `skipped seq ${body.skipped.join(', ')}: the messages behind them go on`);
          return;
        }
        default:
          throw new LoulanError('CLI_USAGE', `unknown subcommand ${String(sub)}: use show, dlq, replay or skip-gap`, { details: { option: 'subcommand' } });
      }
    }),
};

/** The code that explains a message's state: its last error, else the last history entry with a code. */
export function reasonCode(record: MessageRecord): string {
  if (record.lastError !== undefined) return record.lastError.code;
  for (let i = record.history.length - 1; i >= 0; i--) {
    const code = record.history[i]?.code;
    if (code !== undefined) return code;
  }
  return '-';
}

function printRecord(io: Io, record: MessageRecord): void {
  const envelope = record.envelope as { to?: unknown; type?: unknown; seq?: unknown };
  const line = (label: string, text: string) => io.out(`${label.padEnd(11)}${text}`);
  line('message', `${record.id} from ${record.source}`);
  line('to', `${String(envelope.to)} (${String(envelope.type)}, seq ${String(envelope.seq)})`);
  line('status', `${record.status} after ${record.attempts} attempt${record.attempts === 1 ? '' : 's'}`);
  line('accepted', `${time(record.acceptedAt)} (order ${record.order})`);
  line('deadline', time(record.deadline));
  if (record.route !== undefined) line('route', `${prefixLabel(record.route.prefix)} via ${record.route.link}`);
  if (record.nextAttemptAt !== undefined) line('next try', time(record.nextAttemptAt));
  if (record.lastError !== undefined) line('last error', `${record.lastError.code}: ${record.lastError.message}`);
  if (record.hold !== undefined) line('held', `${record.hold.reason}${record.hold.until === undefined ? '' : ` (until ${time(record.hold.until)})`}`);
  if (record.receipt !== undefined) line('delivered', `by ${record.receipt.link} at ${time(record.receipt.at)}`);
  line('digest', record.digest);
  line('history', `${record.history.length} of ${record.historyCount} entries, oldest first`);
  table(
    io,
    ['  AT', 'STATUS', 'ATTEMPT', 'LINK', 'CODE', 'DETAIL'],
    record.history.map((entry) => [
      `  ${time(entry.at)}`,
      entry.status,
      entry.attempt === undefined ? '-' : String(entry.attempt),
      entry.link ?? '-',
      entry.code ?? '-',
      entry.detail ?? '',
    ]),
  );
}

function printDeadLetters(io: Io, messages: readonly MessageRecord[], next: number | null, after: string | undefined, limit: string | undefined): void {
  if (messages.length === 0) {
    io.out(after === undefined ? 'the dead-letter queue is empty' : `no dead letters after order ${after}`);
    return;
  }
  table(
    io,
    ['ORDER', 'ID', 'SOURCE', 'TO', 'ATTEMPTS', 'REASON', 'MESSAGE'],
    messages.map((record) => [
      String(record.order),
      record.id,
      record.source,
      String((record.envelope as { to?: unknown }).to),
      String(record.attempts),
      reasonCode(record),
      record.lastError?.message ?? '',
    ]),
  );
  if (next !== null) io.out(`more: loulan messages dlq --after ${next}${limit === undefined ? '' : ` --limit ${limit}`}`);
}
