/**
 * Runs the loopback sink server as its own process, so crash tests can kill the switch (or the sink)
 * without touching the other:
 *
 *   npx node adapters/loopback/sink-main.ts --file /tmp/effects.log [--port 0] [--host 127.0.0.1]
 *
 * Prints one JSON line `{"url": ..., "port": ...}` once listening; stops cleanly on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startSinkServer } from './sink.ts';

const { values } = parseArgs({
  options: { file: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
  strict: true,
});
const port = Number(values.port);
if (values.file === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: sink-main.ts --file FILE [--port N] [--host HOST]\n');
  process.exit(2);
}
const sink = await startSinkServer({ file: values.file, port, host: values.host });
process.stdout.write(`${JSON.stringify({ url: sink.url, port: sink.port })}\n`);
const stop = (): void => {
  void sink.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
