/**
 * Test helper for db.test.ts: runs one writeInbox and stops dead at a chosen statement, so the parent
 * can SIGKILL it mid-transaction. argv: url, statement index, `before` | `after` (sending it), envelope JSON.
 * Prints `hang` when stopped there, `done` when the write completed.
 */
import pg from 'pg';
import { dbNames } from './schema.ts';
import { writeInbox } from './inbox.ts';

const [url, at, when, json] = process.argv.slice(2);
const client = new pg.Client({ connectionString: url! });
await client.connect();
let n = 0;
const session = {
  query(text: string, values?: unknown[]) {
    if (n++ === Number(at)) {
      if (when === 'after') void client.query(text, values).catch(() => undefined);
      process.stdout.write('hang\n');
      return new Promise<never>(() => {});
    }
    return client.query(text, values);
  },
};
await writeInbox(session, dbNames(), JSON.parse(json!));
process.stdout.write('done\n');
await client.end();
