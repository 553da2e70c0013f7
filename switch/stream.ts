/**
 * `/v1/stream`: status events over WebSocket, replayed from a cursor and then live, with no gap and
 * no duplicate where the two meet.
 *
 * The argument for "no gap": a client is subscribed to live events *before* its first replay read,
 * and the switch announces an event only once it is durable, in cursor order. So every event above
 * the client's position is either readable by a later replay read or announced to the client after
 * it subscribed (held in `pending` while it replays). Replay stops when a read comes back short
 * (everything durable has been read; the rest will be announced), or when it has read past the
 * first held event (everything from there on is held). "No duplicate": each client remembers the
 * highest cursor it has passed and skips anything at or below it, whichever path it came by.
 *
 * Memory per client is bounded. While replaying, the next page is read only after the socket has
 * flushed the previous one, and held live events are capped: on overflow they are discarded, which
 * is safe because a discarded event is durable and a later read finds it (a read that was in flight
 * during a discard does not count as short). Once live, a client whose unsent bytes exceed the limit
 * is closed with 1013 and a reason telling it to resume from the last cursor it received.
 *
 * The hub subscribes to the switch once while anyone listens and serializes each live event once.
 * The switch calls the listener on its commit path, so the listener never throws and never waits.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { SwitchApi } from './api.ts';
import type { SwitchMetrics } from './metrics.ts';
import type { StatusEvent } from './model.ts';

/** The WebSocket close code for a client the server dropped: too slow, or too many clients. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_INTERNAL = 1011;
// Grace for a dropped client to read its close frame before the socket is destroyed.
const DROP_GRACE_MS = 5_000;
const SHUTDOWN_GRACE_MS = 1_000;

export interface StreamOptions {
  /** Unsent bytes a live client may have queued before it is closed with 1013. Default 1 MiB. */
  readonly maxBufferedBytes: number;
  /** Live events held for a client that is still replaying, before they are dropped (and re-read). Default 10,000. */
  readonly maxPendingEvents: number;
  /** Events per replay read. Default 500. */
  readonly replayPageSize: number;
  /** Most open clients; one more is closed with 1013 at once. Default 1,000. */
  readonly maxClients: number;
  /** Ping period; a client that missed the previous pong is terminated. Default 30 s. */
  readonly heartbeatMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = Object.freeze({
  maxBufferedBytes: 1024 * 1024,
  maxPendingEvents: 10_000,
  replayPageSize: 500,
  maxClients: 1_000,
  heartbeatMs: 30_000,
});

/** The part of a `ws` WebSocket the hub uses (so the hub can be driven by a fake in tests). */
export type StreamSocket = Pick<WebSocket, 'send' | 'close' | 'terminate' | 'ping' | 'readyState' | 'OPEN' | 'bufferedAmount'> & {
  on(event: 'close' | 'pong', listener: () => void): unknown;
};

export interface StreamHub {
  /** Starts serving `socket` from after `cursor`, optionally only events of messages from `source`. */
  add(socket: StreamSocket, cursor: number, source: string | undefined): void;
  readonly size: number;
  /** Closes every client (1001) and stops listening to the switch. */
  closeAll(): Promise<void>;
}

interface Client {
  readonly socket: StreamSocket;
  readonly source: string | undefined;
  /** Highest cursor passed to this client (sent, or skipped by its filter). */
  last: number;
  replaying: boolean;
  /** Live events that arrived during replay, in cursor order. */
  pending: StatusEvent[];
  /** Set when `pending` was discarded; a read in flight at that moment cannot end the replay. */
  discarded: boolean;
  alive: boolean;
  closed: boolean;
}

export function createStreamHub(
  api: Pick<SwitchApi, 'eventsAfter' | 'onEvents'>,
  options: StreamOptions,
  log: FastifyBaseLogger,
  metrics?: SwitchMetrics,
): StreamHub {
  const clients = new Map<StreamSocket, Client>();
  let unsubscribe: (() => void) | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closing = false;

  const remove = (client: Client): void => {
    client.closed = true;
    if (!clients.delete(client.socket)) return;
    metrics?.streamEnded();
    if (clients.size > 0) return;
    unsubscribe?.();
    unsubscribe = undefined;
    clearInterval(heartbeat);
    heartbeat = undefined;
  };

  const drop = (client: Client, reason: 'slow' | 'error'): void => {
    remove(client);
    metrics?.streamClosed(reason);
    if (reason === 'slow') client.socket.close(CLOSE_TRY_AGAIN_LATER, 'too slow: reconnect with ?cursor=<last cursor received>');
    else client.socket.close(CLOSE_INTERNAL, 'internal error: reconnect with ?cursor=<last cursor received>');
    // A stalled reader never acknowledges the close; its queued bytes are freed by terminating.
    setTimeout(() => client.socket.terminate(), DROP_GRACE_MS).unref();
  };

  /** Moves the client past `event`; true when the event is one to send to it. */
  const admit = (client: Client, event: StatusEvent): boolean => {
    if (event.cursor <= client.last) return false;
    client.last = event.cursor;
    return client.source === undefined || event.source === client.source;
  };

  /** Sends to a live client; false when the client was dropped instead, for being too slow. */
  const sendLive = (client: Client, text: string): boolean => {
    if (client.socket.bufferedAmount > options.maxBufferedBytes) {
      drop(client, 'slow');
      return false;
    }
    client.socket.send(text);
    return true;
  };

  const onEvents = (events: readonly StatusEvent[]): void => {
    const texts: Array<string | undefined> = [];
    for (const client of clients.values()) {
      if (client.closed) continue;
      if (client.replaying) {
        if (client.pending.length + events.length > options.maxPendingEvents) {
          client.pending = [];
          client.discarded = true;
        }
        if (events.length <= options.maxPendingEvents) client.pending.push(...events);
        continue;
      }
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as StatusEvent;
        if (!admit(client, event)) continue;
        if (!sendLive(client, (texts[i] ??= JSON.stringify(event)))) break;
      }
    }
  };

  /**
   * Sends one replayed page and resolves once the socket has handed it to the OS (or is gone), so
   * that a client reads the log at its own pace and never has more than a page queued.
   */
  const sendPage = (client: Client, events: readonly StatusEvent[]): Promise<void> => {
    const texts: string[] = [];
    for (const event of events) if (admit(client, event)) texts.push(JSON.stringify(event));
    if (texts.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const last = texts.length - 1;
      for (let i = 0; i < last; i++) client.socket.send(texts[i] as string);
      client.socket.send(texts[last] as string, () => resolve());
    });
  };

  const replay = async (client: Client): Promise<void> => {
    try {
      for (;;) {
        client.discarded = false;
        const page = await api.eventsAfter(client.last, options.replayPageSize);
        if (client.closed) return;
        await sendPage(client, page);
        if (client.closed) return;
        // Done when everything durable was read and nothing announced since was discarded (the rest
        // is held or still to come), or when the reads have overlapped what is held.
        const first = client.pending[0];
        if ((page.length < options.replayPageSize && !client.discarded) || (first !== undefined && client.last >= first.cursor)) break;
      }
      // No await from here on: the held events go out before any newer live one.
      const held = client.pending;
      client.pending = [];
      client.replaying = false;
      for (const event of held) if (admit(client, event) && !sendLive(client, JSON.stringify(event))) return;
    } catch (error) {
      if (client.closed) return;
      log.error({ err: error }, 'switch stream: replay failed');
      drop(client, 'error');
    }
  };

  const beat = (): void => {
    for (const client of [...clients.values()]) {
      if (!client.alive) {
        remove(client);
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  };

  return {
    get size() {
      return clients.size;
    },

    add(socket, cursor, source) {
      if (closing) {
        socket.close(CLOSE_GOING_AWAY, 'server shutting down');
        return;
      }
      if (clients.size >= options.maxClients) {
        metrics?.streamClosed('full');
        socket.close(CLOSE_TRY_AGAIN_LATER, 'too many stream clients');
        return;
      }
      const client: Client = { socket, source, last: cursor, replaying: true, pending: [], discarded: false, alive: true, closed: false };
      clients.set(socket, client);
      metrics?.streamOpened();
      socket.on('pong', () => {
        client.alive = true;
      });
      socket.on('close', () => remove(client));
      // Subscribed before the first read: the no-gap argument above depends on this order.
      unsubscribe ??= api.onEvents((events) => {
        try {
          onEvents(events);
        } catch (error) {
          log.error({ err: error }, 'switch stream: failed to fan out events');
        }
      });
      heartbeat ??= setInterval(beat, options.heartbeatMs).unref();
      void replay(client);
    },

    async closeAll() {
      closing = true;
      const open = [...clients.keys()];
      for (const client of [...clients.values()]) remove(client);
      await Promise.all(
        open.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState !== socket.OPEN) return resolve();
              const timer = setTimeout(() => {
                socket.terminate();
                resolve();
              }, SHUTDOWN_GRACE_MS);
              socket.on('close', () => {
                clearTimeout(timer);
                resolve();
              });
              socket.close(CLOSE_GOING_AWAY, 'server shutting down');
            }),
        ),
      );
    },
  };
}
