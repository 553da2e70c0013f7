/**
 * `loulan up` (what `npm start` runs): a local consortium in one data folder. Four validators, a
 * switch, a loopback destination (the demo loyalty program), and the demo shop with its own
 * PostgreSQL and database connector; validators, the switch and PostgreSQL are processes of their
 * own. State stays in the folder between runs (`--fresh` starts over); Ctrl-C stops everything cleanly.
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSigner, fromHex, LoulanError, signEnvelope } from '../core-chain/index.ts';
import { startSinkServer, type SinkServer } from '../adapters/loopback/sink.ts';
import { parseArgs } from './args.ts';
import { Cluster, ValidatorProcess } from './cluster.ts';
import { initConsortium, readConsortium, type ConsortiumLayout } from './consortium.ts';
import { runDemoShop, type RunningDemo } from '../examples/demo-shop/run.ts';
import type { Command, Io } from './main.ts';

export const upCommand: Command = {
  name: 'up',
  summary: 'start a local consortium: 4 validators, a switch, a loopback destination and the demo shop (Ctrl-C stops it)',
  usage: 'loulan up [--dir DIR] [--fresh] [--base-port P]',
  async run(args, io) {
    const { options } = parseArgs(args, { dir: 'string', fresh: 'boolean', 'base-port': 'string' });
    const dir = resolve(options.dir ?? '.data/local');
    if (options.fresh === true) rmSync(dir, { recursive: true, force: true });
    let layout = readConsortium(dir);
    if (layout === undefined) {
      io.out(`creating a new consortium in ${dir}`);
      layout = initConsortium({ dir, basePort: Number(options['base-port'] ?? 26600), demoShop: true });
    } else {
      io.out(`using the consortium in ${dir} (--fresh starts over)`);
    }
    return runConsortium(layout, io);
  },
};

async function runConsortium(layout: ConsortiumLayout, io: Io): Promise<number> {
  const cluster = new Cluster(layout.testnet);
  const switchProcess = new ValidatorProcess('switch-0', layout.switchConfigFile, 'switch');
  let sink: SinkServer | undefined;
  let demo: RunningDemo | undefined;
  const stopAll = async () => {
    await demo?.close().catch(() => undefined);
    await switchProcess.stop().catch(() => undefined);
    await cluster.stopAll().catch(() => undefined);
    await sink?.close().catch(() => undefined);
  };
  let interrupted = false;
  let wake: () => void = () => undefined;
  const onSignal = () => {
    interrupted = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    io.out(`[1/4] starting ${cluster.processes.length} validators ...`);
    const ready = await cluster.startAll();
    for (const r of ready) io.out(`      ${r.name} ready at ${r.rpc}`);
    io.out(`[2/4] starting the loopback destination ...`);
    sink = await startSinkServer({ file: layout.sink.file, port: layout.sink.port }).catch((cause: NodeJS.ErrnoException) => {
      throw new LoulanError('CONFIG_INVALID', `port ${layout.sink.port} for the loopback destination is in use (another \`loulan up\`? start over elsewhere with --fresh --base-port P)`, {
        details: { field: 'base-port', port: layout.sink.port, reason: cause.code ?? String(cause) },
        cause,
      });
    });
    io.out(`      recording deliveries at ${sink.url} (effects: ${layout.sink.file})`);
    io.out(`[3/4] starting the switch ...`);
    const started = await switchProcess.start({ onLine: (_name, line) => line.includes(' error ') && io.err(line) });
    io.out(`      switch ready at ${started.rpc}`);
    const demoShop = layout.demoShop;
    if (demoShop !== undefined) {
      io.out(`[4/4] starting the demo shop (PostgreSQL, database connector, web shop) ...`);
      demo = await runDemoShop({ ...layout, demoShop });
      io.out(`      demo shop at ${demo.shopUrl}, its connector at ${demo.connectorUrl}`);
    }
    io.out('');
    io.out(await exampleText(layout, started.rpc, demo));
    io.out('Ctrl-C stops everything; state stays in the folder for the next run.');
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (interrupted) resolve();
      void switchProcess.exited.then(() => resolve());
      for (const p of cluster.processes) void p.exited.then(() => resolve());
    });
    if (!interrupted) io.err('a process of the consortium stopped; stopping the rest');
    return interrupted ? 0 : 1;
  } finally {
    io.out('stopping ...');
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.out('stopped.');
  }
}

/** The URLs and a signed message ready to paste (fresh id, seq and deadline each run). */
async function exampleText(layout: ConsortiumLayout, switchUrl: string, demo: RunningDemo | undefined): Promise<string> {
  const now = Date.now();
  const { shop, program } = layout;
  const signer = createSigner(shop.alg, fromHex(shop.privateKey), { kid: shop.kid });
  const envelope = await signEnvelope(
    {
      id: `demo-${now}`,
      type: 'points.exchange.request',
      source: shop.id,
      to: program.id,
      seq: String(now),
      time: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      data: {
        orderId: `order-${now}`,
        idempotencyKey: `checkout-${now}`,
        pair: 'demo-pair',
        quoteId: 'q-demo',
        source: { program: shop.id, member: 'member-1' },
        target: { program: program.id, member: 'member-2' },
        points: '500',
        expectedCredit: '50',
      },
    },
    signer,
  );
  return [
    'Loulan is up.',
    `  switch API      ${switchUrl}   (OpenAPI at ${switchUrl}/docs, metrics at ${switchUrl}/metrics)`,
    `  validators      ${layout.testnet.validators.map((v) => v.rpcUrl).join('  ')}`,
    `  operator token  in ${layout.dir}/switch/operator-token`,
    '',
    `Send a message from the demo shop (signed with ${shop.keyFile}), valid for one hour:`,
    `  curl -s -X POST ${switchUrl}/v1/messages -H 'content-type: application/json' -d '${JSON.stringify(envelope)}'`,
    'Then follow it:',
    `  curl -s ${switchUrl}/v1/messages/${envelope.id}`,
    `  curl -s ${switchUrl}/v1/messages/${envelope.id}/proof     (once anchored, a second or two later)`,
    `  loulan routes list --switch ${switchUrl}`,
    '',
    ...(demo === undefined
      ? []
      : [
          'The demo shop awards loyalty points through the switch (its database: ' + demo.databaseUrl.replace(/:[^:@/]+@/, ':***@') + '):',
          `  curl -s -X POST ${demo.shopUrl}/customers -H 'content-type: application/json' -d '{"id":"alice","name":"Alice","member":"member-1"}'`,
          `  curl -s -X POST ${demo.shopUrl}/purchases -H 'content-type: application/json' -d '{"id":"order-${Date.now()}","customerId":"alice","amount":"12800","currency":"CNY"}'`,
          `  curl -s ${demo.shopUrl}/customers/alice      (points arrive once the switch delivered the accrual)`,
          '',
        ]),
  ].join('\n');
}
