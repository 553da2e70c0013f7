/**
 * Worker side of the all-cores measurement. Protocol (one case at a time):
 *   main -> { type: 'prepare', caseId, warmupMs }   worker builds the fixture, warms up
 *   worker -> { type: 'ready' }
 *   main -> { type: 'go', durationMs }              sent to all workers at once, so they overlap
 *   worker -> { type: 'done', count, seconds }
 *   main -> { type: 'exit' }
 */
import { parentPort } from 'node:worker_threads';
import { caseById, runFor } from './verify-cases.ts';

type Command = { type: 'prepare'; caseId: string; warmupMs: number } | { type: 'go'; durationMs: number } | { type: 'exit' };

const port = parentPort;
if (port === null) throw new Error('verify-worker.ts must run as a worker thread');

let op: (() => boolean) | undefined;

port.on('message', (command: Command) => {
  switch (command.type) {
    case 'prepare':
      op = caseById(command.caseId).prepare();
      runFor(op, command.warmupMs);
      port.postMessage({ type: 'ready' });
      break;
    case 'go': {
      if (op === undefined) throw new Error('go before prepare');
      const { count, seconds } = runFor(op, command.durationMs);
      port.postMessage({ type: 'done', count, seconds });
      break;
    }
    case 'exit':
      port.close();
      break;
  }
});
