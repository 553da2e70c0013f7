/**
 * `loulan connector --config FILE`: runs the shop's database connector until SIGINT/SIGTERM;
 * `loulan connector migrate --config FILE` creates or upgrades its tables (idempotent) and exits.
 */
import { loadConnectorConfig, migrateConnector, serveConnector } from '../adapters/db/index.ts';
import { LoulanError } from '../core-chain/errors.ts';
import { parseArgs, required } from './args.ts';
import type { Command } from './main.ts';

export const connectorCommand: Command = {
  name: 'connector',
  summary: 'run a shop\'s database connector (outbox → switch, webhooks → inbox); `migrate` creates its tables',
  usage: 'loulan connector [migrate] --config FILE',
  async run(args, io) {
    const { options, positional } = parseArgs(args, { config: 'string' });
    const [sub, ...extra] = positional;
    if ((sub !== undefined && sub !== 'migrate') || extra.length > 0) {
      throw new LoulanError('CLI_USAGE', `unknown connector subcommand ${positional.join(' ')}`, { details: { option: sub } });
    }
    const config = loadConnectorConfig(required(options.config, 'config'));
    if (sub === 'migrate') {
      const result = await migrateConnector(config);
      io.out(JSON.stringify({ event: 'migrated', ...result }));
      return 0;
    }
    return serveConnector(config, io);
  },
};
