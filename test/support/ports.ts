/** Finds a base port whose testnet ports (base + 10i and base + 10i + 1) are all free on 127.0.0.1. */
import { createServer } from 'node:net';

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freeBasePort(validators: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768 and up): a port chosen there can be taken by some outgoing
    // connection's source port before a validator restarted later listens on it again.
    const base = 20000 + Math.floor(Math.random() * 1200) * 10;
    let ok = true;
    for (let i = 0; i < validators && ok; i++) ok = (await free(base + 10 * i)) && (await free(base + 10 * i + 1));
    if (ok) return base;
  }
  throw new Error('no free port range found');
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
