/**
 * A shop's webhook endpoint without any framework: check the Loulan-Signature header, act on each
 * message once, answer 2xx only after the effect is durable (here: appended to a file).
 *
 *   LOULAN_WEBHOOK_SECRET=... PORT=8787 npx node examples/shop-client/webhook-receiver.ts
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { verifyWebhook } from '../../adapters/rest/index.ts';

const secrets = [process.env['LOULAN_WEBHOOK_SECRET']!];
const file = process.env['EFFECTS_FILE'] ?? 'webhook-effects.log';
// Message keys already acted on (a real shop keeps these in its database, in the same transaction as the effect).
const seen = new Set(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const result = verifyWebhook({
      header: request.headers['loulan-signature'] as string | undefined,
      body: Buffer.concat(chunks),
      secrets,
      seen,
    });
    if (!result.ok && result.reason !== 'DUPLICATE') {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'WEBHOOK_REFUSED', reason: result.reason }));
      return;
    }
    if (result.ok) {
      appendFileSync(file, result.key + '\n'); // the effect, durable before the 2xx
      seen.add(result.key);
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
server.listen(Number(process.env['PORT'] ?? 8787), '127.0.0.1', () => console.log(`listening on ${JSON.stringify(server.address())}`));
