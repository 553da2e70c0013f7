/**
 * The database connector: a process at the shop that joins the shop's PostgreSQL to the switch, for
 * shops that would rather write rows than call HTTP (DESIGN §6). The switch never holds the shop's
 * database credentials; the connector holds them, the shop's key and the webhook secrets.
 *
 * Outbound, a loop sends the outbox (outbox.ts): woken by NOTIFY on the outbox channel for latency,
 * and by a poll every `pollMs` regardless, since notifications sent while the connector is away (or
 * while its listening session reconnects) are lost. A failed pass backs off with full jitter.
 *
 * Inbound, an HTTP endpoint (the shop's `rest` route points at it) checks the webhook signature, then
 * writes the message into the inbox with its marker in one transaction (inbox.ts) and only then
 * answers 2xx, so the switch's receipt always means the message is in the database once:
 *
 *   2xx  written, or already there (`duplicate: true`)
 *   400  WEBHOOK_REFUSED (the signature, the window or the body; `reason`): the switch dead-letters it
 *   409  DELIVER_ID_CONFLICT: another message already holds this (source, id); dead-lettered
 *   503  INBOX_UNAVAILABLE with Retry-After: the database failed; the switch retries
 *
 * Nothing here is remembered outside the database, so the process may be killed at any instruction.
 * Every database call and every POST goes through `options.step`, which is where tests inject crashes.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import pg from 'pg';
import { LoulanError, type Signer } from '../../core-chain/index.ts';
import { createShopClient } from '../rest/client.ts';
import { verifyWebhook } from '../rest/signature.ts';
import { loadShopSigner, type ConnectorConfig } from './config.ts';
import { writeInbox, type InboxEnvelope } from './inbox.ts';
import { sendOutboxPass, type OutboxPass } from './outbox.ts';
import type { SqlSession } from './schema.ts';

/** Wraps one unit of I/O (`db` query or `post` to the switch); the default just runs it. */
export type StepHook = <T>(stage: 'db' | 'post', run: () => Promise<T>) => Promise<T>;

export interface ConnectorOptions {
  /** Default: the config's key file. */
  readonly signer?: Signer;
  readonly fetch?: typeof fetch;
  readonly step?: StepHook;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  readonly now?: () => number;
  /** Uniform in [0, 1), for backoff jitter. */
  readonly random?: () => number;
}

export interface ConnectorStats {
  readonly passes: number;
  readonly sent: number;
  readonly duplicates: number;
  readonly refused: number;
  readonly failedPasses: number;
  readonly notifications: number;
  readonly received: number;
  readonly receivedDuplicates: number;
}

export interface RunningConnector {
  /** The webhook endpoint, `http://host:port<path>`: what the shop's route names. */
  readonly url: string;
  readonly port: number;
  /** Runs an outbox pass now, as a notification would. */
  wake(): void;
  stats(): ConnectorStats;
  /** Stops listening, lets a pass in progress finish, closes the database pool. */
  close(): Promise<void>;
}

const RETRY_AFTER_SEC = 1;
/** A database that does not answer a connection attempt in this time counts as down. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Starts the webhook endpoint and the outbox loop. The tables must exist (`migrate`, or
 * `loulan connector migrate --config FILE`).
 *
 * @example
 * const connector = await startConnector(loadConnectorConfig('connector.json'));
 * console.log(JSON.stringify({ event: 'ready', url: connector.url }));
 * process.once('SIGTERM', () => void connector.close());
 */
export async function startConnector(config: ConnectorConfig, options: ConnectorOptions = {}): Promise<RunningConnector> {
  const step: StepHook = options.step ?? ((_stage, run) => run());
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const signer = options.signer ?? loadShopSigner(config);
  const names = config.names;
  const stats = { passes: 0, sent: 0, duplicates: 0, refused: 0, failedPasses: 0, notifications: 0, received: 0, receivedDuplicates: 0 };

  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: Math.max(4, config.concurrency + 2), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle client whose server went away reports here; the next checkout gets a fresh one.
  pool.on('error', (error) => log('warn', 'database connection lost', { reason: error.message }));
  const shop = createShopClient({
    switchUrl: config.switchUrl,
    participant: config.participant,
    signer,
    retries: 0, // the loop below owns retries, so a pass never holds its row locks through a backoff
    timeoutMs: config.requestTimeoutMs,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    now,
  });

  /** One pooled connection as a session whose every query is a step; broken connections are discarded. */
  async function withSession<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await step('db', () => pool.connect());
    let broken: Error | undefined;
    const session: SqlSession = {
      query: (text, values) =>
        step('db', () => client.query(text, values)).catch((error: unknown) => {
          // A query error on a live connection (a constraint) leaves it usable; anything else does not.
          if (!(error instanceof Error && 'severity' in error)) broken = error instanceof Error ? error : new Error(String(error));
          throw error;
        }),
    };
    try {
      return await fn(session);
    } finally {
      client.release(broken);
    }
  }

  // -- outbound --------------------------------------------------------------------------------------
  let closed = false;
  let wakeRequested = true;
  let wakeUp: () => void = () => undefined;
  const wake = () => {
    wakeRequested = true;
    wakeUp();
  };
  /** Resolves after `ms`, or at once on wake() / close(). */
  const pause = (ms: number, wakeable: boolean) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = () => undefined;
        resolve();
      }
      wakeUp = wakeable ? done : () => undefined;
      stopWaiting = done;
    });
  let stopWaiting: () => void = () => undefined;

  async function pass(): Promise<OutboxPass> {
    return withSession((session) =>
      sendOutboxPass(session, names, {
        batchSize: config.batchSize,
        concurrency: config.concurrency,
        signer,
        submit: (envelope) => step('post', () => shop.submit(envelope)),
      }),
    );
  }

  async function outboxLoop(): Promise<void> {
    let failures = 0;
    while (!closed) {
      wakeRequested = false;
      let failure: unknown;
      try {
        const result = await pass();
        stats.passes++;
        stats.sent += result.sent;
        stats.duplicates += result.duplicates;
        stats.refused += result.refused.length;
        for (const r of result.refused) log('warn', 'outbox row refused by the switch', { row: r.id, code: r.code, detail: r.detail });
        failure = result.failure;
        if (failure === undefined) {
          failures = 0;
          if (result.taken === config.batchSize) continue; // more may be waiting
        }
      } catch (error) {
        failure = error;
      }
      if (closed) break;
      if (failure !== undefined) {
        stats.failedPasses++;
        failures++;
        const cap = Math.min(config.retry.maxBackoffMs, config.retry.initialBackoffMs * 2 ** Math.min(failures - 1, 30));
        log('warn', 'outbox pass failed; backing off', { reason: failure instanceof Error ? failure.message : String(failure), failures });
        await pause(Math.floor(random() * cap), false);
        continue;
      }
      if (!wakeRequested) await pause(config.pollMs, true);
    }
  }

  // LISTEN on its own connection; reconnects after a loss, then wakes the loop for what it missed.
  let listener: pg.Client | undefined;
  let listenerRetry: ReturnType<typeof setTimeout> | undefined;
  async function listen(): Promise<void> {
    if (closed || !config.notify) return;
    const client = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    listener = client;
    const lost = (error?: Error) => {
      if (listener !== client) return;
      listener = undefined;
      void client.end().catch(() => undefined);
      if (closed) return;
      log('warn', 'LISTEN connection lost; reconnecting', { reason: error?.message ?? 'ended' });
      listenerRetry = setTimeout(() => void listen(), config.retry.initialBackoffMs);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', () => {
      stats.notifications++;
      wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${names.outboxChannel}"`);
      wake();
    } catch (error) {
      lost(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // -- inbound ---------------------------------------------------------------------------------------
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: config.http.bodyLimitBytes });
  // The signature is over the bytes as received: keep them, parse only after verifying.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const problem = (reply: FastifyReply, error: LoulanError, instance: string) => {
    if (error.status === 503) reply.header('retry-after', String(RETRY_AFTER_SEC));
    return reply.code(error.status).type('application/problem+json').send(error.toProblem(instance));
  };

  app.post(config.http.path, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const header = request.headers['loulan-signature'];
    const verified = verifyWebhook({ header: Array.isArray(header) ? header.join(',') : header, body, secrets: config.webhookSecrets, now: now() });
    if (!verified.ok) {
      return problem(reply, new LoulanError('WEBHOOK_REFUSED', verified.message, { details: { reason: verified.reason } }), request.url);
    }
    const envelope = verified.envelope as unknown as InboxEnvelope;
    try {
      const written = await withSession((session) => writeInbox(session, names, envelope));
      stats.received++;
      if (written.duplicate) stats.receivedDuplicates++;
      return reply.code(200).send({ id: envelope.id, source: envelope.source, duplicate: written.duplicate, digest: written.digest });
    } catch (error) {
      if (error instanceof LoulanError) return problem(reply, error, request.url);
      log('warn', 'inbox write failed', { id: envelope.id, source: envelope.source, reason: error instanceof Error ? error.message : String(error) });
      return problem(reply, new LoulanError('INBOX_UNAVAILABLE', 'the shop database is unavailable', { cause: error }), request.url);
    }
  });
  app.get(`${config.http.path.replace(/\/$/, '')}/health`, async () => ({ ok: true, ...stats }));

  await app.listen({ host: config.http.host, port: config.http.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;

  await listen();
  const loop = outboxLoop();

  return {
    url: `http://${host}:${port}${config.http.path}`,
    port,
    wake,
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return;
      closed = true;
      stopWaiting();
      clearTimeout(listenerRetry);
      const l = listener;
      listener = undefined;
      await app.close();
      await loop;
      await l?.end().catch(() => undefined);
      await pool.end();
    },
  };
}
