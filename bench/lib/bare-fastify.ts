/**
 * The floor the switch's intake is compared with: fastify on the same machine, same Node, same
 * body limit, answering `POST /v1/messages` with a constant JSON object after parsing the body as
 * JSON (fastify's default parser, as the switch does) and doing nothing else. Its own process, so
 * that it gets what the switch gets: one event loop, the same loopback sockets, the same load
 * generator.
 *
 *   npx node bench/lib/bare-fastify.ts     # prints {"url": ...} once listening; SIGTERM stops it
 */
import Fastify from 'fastify';

const ANSWER = Object.freeze({ id: 'bare', source: 'bare', status: 'accepted', acceptedAt: '1970-01-01T00:00:00.000Z', duplicate: false });

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
app.post('/v1/messages', async (_request, reply) => reply.code(202).send(ANSWER));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
