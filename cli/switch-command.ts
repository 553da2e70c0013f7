/** `loulan switch --config FILE`: runs one switch until SIGINT/SIGTERM. */
import { loadSwitchConfig } from '../switch/config.ts';
import { startSwitch } from '../switch/switch.ts';
import { parseArgs, required } from './args.ts';
import type { Command } from './main.ts';
import { watchParent } from './parent-watch.ts';

/** How long a clean shutdown may take before the process exits anyway (everything acknowledged is on disk). */
const SHUTDOWN_TIMEOUT_MS = 15_000;

export const switchCommand: Command = {
  name: 'switch',
  summary: 'run one switch (intake, routing, delivery, anchoring; its own store and HTTP API)',
  usage: 'loulan switch --config FILE',
  async run(args, io) {
    const { options } = parseArgs(args, { config: 'string' });
    const config = loadSwitchConfig(required(options.config, 'config'));
    const log = (level: string, message: string, fields?: Record<string, unknown>) =>
      io.err(`${new Date().toISOString()} ${level} [${config.name}] ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
    const running = await startSwitch(config, { log });
    io.out(JSON.stringify({ event: 'ready', name: config.name, index: -1, rpc: running.url, switchId: config.switchId }));
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = () => {
        const watchdog = setTimeout(() => {
          io.err(JSON.stringify({ event: 'shutdown-timeout', name: config.name }));
          process.exit(1);
        }, SHUTDOWN_TIMEOUT_MS);
        watchdog.unref();
        void running.close().finally(resolve);
      };
    });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const unwatch = watchParent(stop);
    await stopped;
    unwatch();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    return 0;
  },
};
