/** Test fixture: starts a persistent embedded PostgreSQL in argv[2] on port argv[3], prints "ready", then waits to be killed. */
import { startEmbeddedPostgres } from './embedded.ts';

const server = await startEmbeddedPostgres({ dir: process.argv[2]!, port: Number(process.argv[3]), password: 'fixture-pass', fast: true });
console.log(`ready ${server.url}`);
setInterval(() => undefined, 60_000);
