/**
 * `loulan approvals list|approve|reject`: messages that a value rule holds for an operator's decision.
 * Approving sends a message on to delivery; rejecting ends it as dead (`DELIVER_APPROVAL_REJECTED`).
 * The switch names the deciding operator by a hash of the token, so a decision can be traced to an
 * operator without the token itself being kept.
 */
import { LoulanError } from '../core-chain/errors.ts';
import type { MessageRecord } from '../switch/model.ts';
import { parseArgs } from './args.ts';
import type { Command, Io } from './main.ts';
import { callSwitch, noPositional, onePositional, printJson, runSwitchCommand, segment, SWITCH_OPTIONS, switchTarget, table, time } from './switch-client.ts';

const USAGE = [
  'loulan approvals list [--json] [--switch URL]',
  '       loulan approvals approve ID [--source ADDRESS] [--token TOKEN] [--json] [--switch URL]',
  '       loulan approvals reject ID [--source ADDRESS] [--token TOKEN] [--json] [--switch URL]',
].join('\n');

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: "list messages held for an operator's approval, approve or reject one",
  usage: USAGE,
  run: (args, io) =>
    runSwitchCommand('approvals', io, async () => {
      const { options, positional } = parseArgs(args, { ...SWITCH_OPTIONS, source: 'string' });
      const [sub, ...operands] = positional;
      const target = switchTarget(options);
      const json = options.json === true;
      switch (sub) {
        case 'list': {
          noPositional(operands, USAGE);
          const { body } = await callSwitch<{ messages: MessageRecord[] }>(target, { method: 'GET', path: '/v1/approvals' });
          if (json) printJson(io, body);
          else printHeld(io, body.messages);
          return;
        }
        case 'approve':
        case 'reject': {
          const id = onePositional(operands, 'ID', USAGE);
          const approve = sub === 'approve';
          const { body } = await callSwitch<MessageRecord>(target, {
            method: 'POST',
            path: `/v1/approvals/${segment(id)}`,
            query: { source: options.source },
            body: { approve },
            operator: true,
          });
          if (json) printJson(io, body);
          else io.out(`${body.id} from ${body.source}: ${approve ? 'approved' : 'rejected'} (status ${body.status})`);
          return;
        }
        default:
          throw new LoulanError('CLI_USAGE', `unknown subcommand ${String(sub)}: use list, approve or reject`, { details: { option: 'subcommand' } });
      }
    }),
};

function printHeld(io: Io, messages: readonly MessageRecord[]): void {
  if (messages.length === 0) {
    io.out('no message waits for approval');
    return;
  }
  table(
    io,
    ['ID', 'SOURCE', 'TO', 'TYPE', 'ACCEPTED', 'HELD BECAUSE', 'UNTIL'],
    messages.map((record) => {
      const envelope = record.envelope as { to?: unknown; type?: unknown };
      return [
        record.id,
        record.source,
        String(envelope.to),
        String(envelope.type),
        time(record.acceptedAt),
        record.hold?.reason ?? '-',
        record.hold?.until === undefined ? '-' : time(record.hold.until),
      ];
    }),
  );
}
