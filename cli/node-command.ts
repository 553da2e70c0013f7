/** `loulan node --config FILE`: runs one validator until SIGINT/SIGTERM. */
import { loadNodeConfig } from '../core-chain/node/config.ts';
import { ValidatorNode, type CrashPoint } from '../core-chain/node/node.ts';
import { createRpcServer } from '../core-chain/node/rpc.ts';
import { LoulanError } from '../core-chain/errors.ts';
import { parseArgs, required } from './args.ts';
import type { Command } from './main.ts';
import { watchParent } from './parent-watch.ts';

/** How long a clean shutdown may take before the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

export const nodeCommand: Command = {
  name: 'node',
  summary: 'run one core-chain validator (its own database, peer links and RPC server)',
  usage: 'loulan node --config FILE',
  async run(args, io) {
    const { options } = parseArgs(args, { config: 'string' });
    const config = loadNodeConfig(required(options.config, 'config'));
    const crash = process.env.LOULAN_CRASH_AT;
    let crashAt: { point: CrashPoint; after: number } | undefined;
    if (crash !== undefined && crash !== '') {
      const [point, after] = crash.split('@');
      crashAt = { point: point as CrashPoint, after: Number(after ?? 0) };
    }
    const node = await ValidatorNode.start(config, crashAt === undefined ? {} : { crashAt });
    const rpc = await createRpcServer(node, {});
    try {
      await rpc.listen({ host: config.rpc.host, port: config.rpc.port });
    } catch (cause) {
      await node.close();
      throw new LoulanError('CONFIG_INVALID', `cannot listen on ${config.rpc.host}:${config.rpc.port}`, { details: { field: '/rpc/port' }, cause });
    }
    const address = rpc.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.rpc.port;
    io.out(JSON.stringify({ event: 'ready', name: config.name, index: node.self, rpc: `http://${config.rpc.host}:${port}`, p2p: node.p2pPort }));
    let rpcClosed = false;
    const stop = async () => {
      // A validator's acknowledged state is on disk before it is acknowledged, so exiting without a
      // clean close is safe; a shutdown that hangs (a peer that never answers, a stuck socket) must
      // not keep the process, and its operator, waiting. The watchdog says which stage hung.
      const watchdog = setTimeout(() => {
        io.err(JSON.stringify({ event: 'shutdown-timeout', name: config.name, stage: rpcClosed ? node.closingStage : 'rpc' }));
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      watchdog.unref();
      const closing = rpc.close();
      node.releaseWaiters();
      await closing;
      rpcClosed = true;
      await node.close();
    };
    const onSignal = () => void stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const unwatch = watchParent(onSignal);
    try {
      await node.stopped;
      return 0;
    } catch (error) {
      await rpc.close();
      throw error;
    } finally {
      unwatch();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
