/**
 * Authenticated validator-to-validator links over WebSocket.
 *
 * Shape and why:
 * - One link per pair, and the direction is fixed: the lower index dials, the higher one only accepts.
 *   There is never a dial race to break, a restarted validator is re-dialled by every lower one and
 *   re-dials every higher one, and an acceptor can reject any claimed index that is not below its own.
 *   That last rule is also what defeats reflection: to borrow validator A's handshake signature for a
 *   link to V, an attacker would need A to accept a link claiming V and V to accept one claiming A,
 *   which needs both A < V and V < A.
 * - The handshake authenticates the link, not the stream: consensus messages carry their own
 *   signatures and are checked above this layer. Each side proves its key over both fresh nonces, so
 *   a captured handshake cannot be replayed. The acceptor signs only after the dialer has proved its
 *   key, so an unauthenticated caller never obtains a signature. Over plain `ws://` an on-path attacker
 *   could still take over a link after the handshake (it could only drop or inject frames the
 *   consensus layer then rejects); `wss://` with mutual TLS closes that and keeps outsiders from even
 *   reaching the handshake.
 * - The set of validators can change while the node runs (`setMembers`, driven by the governance
 *   contract): links to validators that left close and are not redialled, a validator that joins is
 *   dialled by those below it at the URL registered with it (or configured locally), and the
 *   handshake checks the peer's key against the set in force at that moment. Indexes are stable
 *   validator ids, never reused, so the dial direction rule keeps holding as the set changes.
 * - Memory is bounded everywhere a peer could make it grow: ws `maxPayload` per frame, the outgoing
 *   buffer per peer (frames are dropped and counted, never queued), the number of unauthenticated
 *   connections, the bytes an unauthenticated connection may send, and a deadline on every handshake.
 *   Nothing here queues: a dropped frame is the consensus layer's to retransmit.
 *
 * Wire format. Every WebSocket message is binary. Until the handshake completes a message is a
 * handshake message, afterwards it is a data frame `channel (1 byte) || payload`.
 *
 *   hello = 0x01 (version) || 0x01 (kind) || chainId (32) || index (u16 BE) || nonce (32)   68 bytes
 *   auth  = 0x01 (version) || 0x02 (kind) || signature (65, r || s || v)                    67 bytes
 *   auth signature = secp256k1 over sha256("LOULAN/P2P/V1" || chainId || signer (u16 BE) ||
 *                    peer (u16 BE) || peer's nonce || signer's nonce)
 *
 * Order: both sides send hello on connect; the dialer answers the acceptor's hello with its auth; the
 * acceptor verifies it and answers with its own auth, after which it may send data; the dialer
 * verifies that auth and may send data. Anything else (a data frame early, a text frame, a second
 * hello) closes the link.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { LoulanError } from '../errors.ts';
import { equalBytes, sha256 } from '../crypto/hash.ts';
import { publicKeyFromPrivate } from '../crypto/keys.ts';
import { secp256k1RecoverDigest, secp256k1SignDigest } from '../crypto/secp256k1.ts';

export interface TransportOptions {
  /** Own validator index. */
  readonly self: number;
  /** 32 bytes; bound into the handshake so links never cross chains. */
  readonly chainId: Uint8Array;
  /** The validator set: compressed secp256k1 public keys (33 bytes), by index. */
  readonly validators: ReadonlyArray<{ readonly index: number; readonly publicKey: Uint8Array }>;
  /** Own secp256k1 private key (32 bytes); must match `validators[self]`. */
  readonly privateKey: Uint8Array;
  /** Where to accept links from lower indexes; port 0 picks an ephemeral port (see `port`). */
  readonly listen: { readonly host: string; readonly port: number };
  /**
   * `ws://host:port/p2p` (or `wss://` with `tls`). Only peers above `self` are dialled; lower ones dial
   * us and `self` is skipped, so every validator can be given the same list.
   */
  readonly peers: ReadonlyArray<{ readonly index: number; readonly url: string }>;
  /** PEM. Enables `wss://` with mutual certificate authentication against `ca`. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /** Largest frame (channel byte + payload) sent or accepted; a larger one closes the link. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Per-peer bound on `ws.bufferedAmount`; above it frames are dropped and counted. Default 64 MiB. */
  readonly maxBufferedBytes?: number;
  /** Redial backoff: exponential from `min` to `max` ms, with jitter. Default 100..5000. */
  readonly reconnectMs?: { readonly min: number; readonly max: number };
  /** Deadline for connect + TLS + upgrade + handshake. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Incoming connections allowed in the handshake at once; more are refused with 503. Default 64. */
  readonly maxPendingHandshakes?: number;
  /** Ping period for authenticated links; a link silent for two to three periods is dropped. Default 10000 ms. */
  readonly keepaliveMs?: number;
  /** Uniform in [0, 1); used for backoff jitter only. Default `Math.random`. */
  readonly random?: () => number;
  readonly log?: TransportLog;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type TransportLog = (level: LogLevel, msg: string, fields: Readonly<Record<string, unknown>>) => void;
/**
 * Called once per data frame from an authenticated peer. `payload` is a view of the received message
 * (never reused by the transport); what it throws is caught and logged.
 */
export type FrameHandler = (from: number, channel: number, payload: Uint8Array) => void;
/** Called when a peer's link comes up or goes down; a replaced link reports down, then up. */
export type PeerHandler = (index: number, connected: boolean) => void;

export interface TransportStats {
  /** Data frames received on authenticated links and handed to the frame handler. */
  readonly framesIn: number;
  /** Data frames handed to a socket. */
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Frames not sent: peer not connected, over the buffer bound, or over `maxFrameBytes`. */
  readonly dropped: number;
  /** Connections and links closed for a failed handshake or a protocol violation. */
  readonly rejected: number;
}

export const P2P_PATH = '/p2p';
export const HANDSHAKE_VERSION = 1;
export const AUTH_DOMAIN = 'LOULAN/P2P/V1';
const HELLO = 1;
const AUTH = 2;
const NONCE_LENGTH = 32;
const HELLO_LENGTH = 2 + 32 + 2 + NONCE_LENGTH;
const AUTH_LENGTH = 2 + 65;
/**
 * Bytes an unauthenticated connection may send before it is cut: the handshake is 135 bytes plus
 * WebSocket framing, so this only matters to a peer trying to make us buffer a large frame.
 */
const PRE_AUTH_BYTES = 16 * 1024;
/** After sending a close frame, how long to wait for the peer's before destroying the socket. */
const CLOSE_GRACE_MS = 1000;
const MAX_INDEX = 0xffff;

// Close codes: RFC 6455 where one fits, 4xxx (application) otherwise.
const CLOSE_UNSUPPORTED = 1003;
const CLOSE_POLICY = 1008;
const CLOSE_INTERNAL = 1011;
const CLOSE_REPLACED = 4000;

const DEFAULTS = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  reconnectMs: { min: 100, max: 5000 },
  handshakeTimeoutMs: 5000,
  maxPendingHandshakes: 64,
  keepaliveMs: 10_000,
} as const;

interface Resolved {
  readonly self: number;
  readonly chainId: Uint8Array;
  readonly keys: ReadonlyMap<number, Uint8Array>;
  readonly privateKey: Uint8Array;
  readonly listen: { readonly host: string; readonly port: number };
  readonly dials: ReadonlyArray<{ readonly index: number; readonly url: string }>;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
  readonly maxFrameBytes: number;
  readonly maxBufferedBytes: number;
  readonly reconnectMs: { readonly min: number; readonly max: number };
  readonly handshakeTimeoutMs: number;
  readonly maxPendingHandshakes: number;
  readonly keepaliveMs: number;
  readonly random: () => number;
  readonly log: TransportLog;
}

type Role = 'dial' | 'accept';
/** hello: waiting for the peer's hello; auth: waiting for its auth; open: authenticated; closed: done. */
type LinkState = 'hello' | 'auth' | 'open' | 'closed';

interface Link {
  readonly ws: WebSocket;
  readonly role: Role;
  /** The index dialled (dial role only). */
  readonly expected: number | undefined;
  readonly nonce: Uint8Array;
  readonly remote: string;
  readonly done: Promise<void>;
  readonly resolveDone: () => void;
  state: LinkState;
  /** The ws connection is established (client: 'open' fired). */
  wsOpen: boolean;
  peer: number | undefined;
  peerNonce: Uint8Array | undefined;
  /** Something arrived since the last keepalive tick. */
  alive: boolean;
  /** Consecutive keepalive ticks with nothing received. */
  misses: number;
  timer: NodeJS.Timeout | undefined;
}

interface Dial {
  readonly index: number;
  readonly url: string;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  link: Link | undefined;
}

/**
 * The validator transport. Construction only validates options; `start()` listens and dials.
 *
 * @example
 * const t = new Transport(options, (from, channel, payload) => replica.onMessage(from, channel, payload));
 * await t.start();
 * t.broadcast(CONSENSUS, encoded);
 * await t.close();
 */
export class Transport {
  readonly #o: Resolved;
  readonly #onFrame: FrameHandler;
  readonly #onPeer: PeerHandler | undefined;
  #state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #server: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  #port = 0;
  #keepalive: NodeJS.Timeout | undefined;
  /** Authenticated links by peer index. */
  readonly #links = new Map<number, Link>();
  /** Accepted links still in the handshake (including rejected ones until their socket closes). */
  readonly #unauthenticated = new Set<Link>();
  /** Every link whose socket has not closed yet, whatever its state. */
  readonly #live = new Set<Link>();
  readonly #dials = new Map<number, Dial>();
  /** The validator keys links are authenticated against; replaced by `setMembers`. */
  #keys: ReadonlyMap<number, Uint8Array>;
  /** Where to dial each peer above `self`: configured URLs first, then those `setMembers` names. */
  #dialUrls: ReadonlyMap<number, string>;
  /** Every socket the server accepted, for close(); with the deadline until it is upgraded. */
  readonly #sockets = new Map<Duplex, NodeJS.Timeout | undefined>();
  #framesIn = 0;
  #framesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #dropped = 0;
  #rejected = 0;

  constructor(options: TransportOptions, onFrame: FrameHandler, onPeer?: PeerHandler) {
    this.#o = resolveOptions(options);
    this.#keys = this.#o.keys;
    this.#dialUrls = new Map(this.#o.dials.map((d) => [d.index, d.url]));
    this.#onFrame = onFrame;
    this.#onPeer = onPeer;
  }

  /** Listens, then dials every configured peer above `self`. Throws `P2P_LISTEN_FAILED`. */
  start(): Promise<void> {
    if (this.#state !== 'new') {
      return Promise.reject(new LoulanError('CONFIG_INVALID', 'transport already started or closed', { details: { field: 'state' } }));
    }
    this.#state = 'starting';
    this.#starting = this.#listen().then(
      () => {
        if (this.#state !== 'starting') return;
        this.#state = 'running';
        this.#syncDials();
        this.#keepalive = setInterval(() => this.#guard(() => this.#tick()), this.#o.keepaliveMs);
        this.#keepalive.unref();
      },
      (error: unknown) => {
        this.#state = 'closed';
        throw error;
      },
    );
    return this.#starting;
  }

  /** The port actually listened on (useful with port 0); 0 before `start()` resolves. */
  get port(): number {
    return this.#port;
  }

  /**
   * Sends one frame. False, and counted as dropped, when the peer is not connected, when its
   * outgoing buffer is over `maxBufferedBytes`, or when the frame is over `maxFrameBytes`.
   */
  send(to: number, channel: number, payload: Uint8Array): boolean {
    checkChannel(channel);
    const link = this.#links.get(to);
    if (link === undefined) {
      this.#dropped++;
      return false;
    }
    const frame = this.#encode(channel, payload);
    return frame !== undefined && this.#write(link, frame);
  }

  /** Sends one frame to every connected peer (encoded once); per-peer drops are counted as in `send`. */
  broadcast(channel: number, payload: Uint8Array): void {
    checkChannel(channel);
    if (this.#links.size === 0) return;
    const frame = this.#encode(channel, payload);
    if (frame === undefined) return;
    for (const link of this.#links.values()) this.#write(link, frame);
  }

  /**
   * Replaces the validator set links are authenticated against, as the consortium adds and removes
   * validators while the node runs. Links (and handshakes) with validators no longer listed, or listed
   * under another key, are closed; validators above `self` gain or lose their dial. A member's `url`
   * is used only when the node's configuration gives none for that index (an operator's local address
   * wins over the one registered on chain). When `self` is not listed (this validator was removed),
   * every link closes. Throws CONFIG_INVALID on a malformed list, changing nothing.
   */
  setMembers(members: ReadonlyArray<{ readonly index: number; readonly publicKey: Uint8Array; readonly url?: string | undefined }>): void {
    const keys = new Map<number, Uint8Array>();
    const urls = new Map<number, string>();
    const scheme = this.#o.tls === undefined ? 'ws:' : 'wss:';
    for (const [i, m] of members.entries()) {
      const field = `members[${i}]`;
      if (!Number.isInteger(m.index) || m.index < 0 || m.index > MAX_INDEX) throw configError(`${field}.index`, `index must be an integer in 0..${MAX_INDEX}`);
      if (keys.has(m.index)) throw configError(`${field}.index`, `validator index ${m.index} is listed twice`);
      if (!(m.publicKey instanceof Uint8Array) || m.publicKey.length !== 33) throw configError(`${field}.publicKey`, 'a validator key is a 33-byte compressed secp256k1 key');
      keys.set(m.index, m.publicKey.slice());
      if (m.url !== undefined) {
        let protocol: string;
        try {
          protocol = new URL(m.url).protocol;
        } catch {
          throw configError(`${field}.url`, `not a URL: ${m.url}`);
        }
        if (protocol !== scheme) throw configError(`${field}.url`, `peer URLs must use ${scheme}//`);
        urls.set(m.index, m.url);
      }
    }
    const own = keys.get(this.#o.self);
    const removed = own === undefined || !equalBytes(own, this.#keys.get(this.#o.self) ?? EMPTY);
    const dialUrls = new Map<number, string>();
    if (!removed) {
      for (const index of keys.keys()) {
        const url = this.#o.dials.find((d) => d.index === index)?.url ?? urls.get(index);
        if (index > this.#o.self && url !== undefined) dialUrls.set(index, url);
      }
    }
    const previous = this.#keys;
    this.#keys = removed ? new Map() : keys;
    this.#dialUrls = dialUrls;
    const gone = (peer: number | undefined): boolean => peer !== undefined && (!this.#keys.has(peer) || !equalBytes(this.#keys.get(peer)!, previous.get(peer) ?? EMPTY));
    for (const link of [...this.#live]) if (gone(link.peer) || (link.role === 'dial' && gone(link.expected))) this.#shut(link, CLOSE_POLICY, 'not-a-member');
    if (this.#state === 'running') this.#syncDials();
  }

  /** Indexes of the peers with an authenticated link, ascending. */
  connected(): number[] {
    return [...this.#links.keys()].sort((a, b) => a - b);
  }

  stats(): TransportStats {
    return {
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      dropped: this.#dropped,
      rejected: this.#rejected,
    };
  }

  /** Closes the server and every link and cancels redials; resolves once all sockets are closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  // -- listening and accepting ---------------------------------------------------------------------

  async #listen(): Promise<void> {
    const o = this.#o;
    const server: HttpServer = o.tls
      ? createHttpsServer({
          cert: o.tls.cert,
          key: o.tls.key,
          ca: o.tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          handshakeTimeout: o.handshakeTimeoutMs,
        })
      : createHttpServer();
    // Linked sockets plus the pending allowance; beyond it the kernel-accepted socket is dropped.
    // Room for a validator set that grows after start (MAX_INDEX bounds the ids, the pending cap the rest).
    server.maxConnections = Math.max(o.keys.size, 64) + o.maxPendingHandshakes;
    this.#server = server;
    this.#wss = new WebSocketServer({
      noServer: true,
      // Messages are handled as soon as they are parsed, within the socket read that carried them: the
      // pre-authentication byte limit relies on an auth being processed before the rest of its chunk
      // is counted. (The ws default today; stated so a change of default cannot break it.)
      allowSynchronousEvents: true,
      maxPayload: o.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Every accepted socket is tracked for close() and gets a deadline until its WebSocket upgrade.
    // Under TLS the socket that reaches HTTP is the TLSSocket: it carries the deadline, and the TLS
    // handshake before it is bounded by `handshakeTimeout` above.
    server.on('connection', (socket: Duplex) => this.#track(socket, o.tls === undefined));
    if (o.tls) server.on('secureConnection', (socket: Duplex) => this.#track(socket, true));
    server.on('request', (_req, res) => {
      res.writeHead(426, { connection: 'close' }).end();
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#guard(() => this.#onUpgrade(req, socket, head)));
    server.on('drop', () => {
      this.#rejected++;
    });
    server.on('tlsClientError', (error: Error) => {
      this.#rejected++;
      this.#emitLog('debug', 'p2p tls handshake failed', { code: 'P2P_HANDSHAKE_REJECTED', reason: 'tls', error: error.message });
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error): void => {
        reject(
          new LoulanError('P2P_LISTEN_FAILED', `cannot listen on ${o.listen.host}:${o.listen.port}`, {
            details: { host: o.listen.host, port: o.listen.port },
            cause,
          }),
        );
      };
      server.once('error', onError);
      server.listen(o.listen.port, o.listen.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (error: Error) => this.#emitLog('error', 'p2p server error', { error: error.message }));
    const address = server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : 0;
    this.#emitLog('info', 'p2p listening', { host: o.listen.host, port: this.#port, tls: o.tls !== undefined });
  }

  /** Tracks a server socket; `deadline` arms the timer that bounds it until the WebSocket upgrade. */
  #track(socket: Duplex, deadline: boolean): void {
    if (!deadline) {
      this.#sockets.set(socket, undefined);
    } else {
      const timer = setTimeout(() => {
        this.#rejected++;
        socket.destroy();
      }, this.#o.handshakeTimeoutMs);
      timer.unref();
      this.#sockets.set(socket, timer);
    }
    socket.once('close', () => {
      clearTimeout(this.#sockets.get(socket));
      this.#sockets.delete(socket);
    });
    if (this.#state === 'closed') socket.destroy();
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    clearTimeout(this.#sockets.get(socket));
    if (this.#sockets.has(socket)) this.#sockets.set(socket, undefined);
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (this.#state !== 'running' || this.#wss === undefined) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (path !== P2P_PATH) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (this.#unauthenticated.size >= this.#o.maxPendingHandshakes) {
      this.#rejected++;
      this.#emitLog('warn', 'p2p connection refused', { code: 'P2P_HANDSHAKE_REJECTED', reason: 'too-many-pending', remote });
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) =>
      this.#guard(() => {
        const link = this.#newLink(ws, 'accept', undefined, remote);
        this.#unauthenticated.add(link);
        link.wsOpen = true;
        this.#limitPreAuth(link, socket);
        this.#sendRaw(link, encodeHello(this.#o.chainId, this.#o.self, link.nonce));
      }),
    );
  }

  // -- dialling ------------------------------------------------------------------------------------

  #dial(dial: Dial): void {
    dial.timer = undefined;
    if (this.#state !== 'running') return;
    const o = this.#o;
    let ws: WebSocket;
    try {
      ws = new WebSocket(dial.url, {
        maxPayload: o.maxFrameBytes,
        allowSynchronousEvents: true,
        perMessageDeflate: false,
        followRedirects: false,
        handshakeTimeout: o.handshakeTimeoutMs,
        ...(o.tls ? { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca } : {}),
      });
    } catch (error) {
      // Only a malformed URL throws here, and URLs were checked up front; retry like any failure.
      this.#emitLog('error', 'p2p dial failed', { peer: dial.index, error: errorMessage(error) });
      this.#scheduleDial(dial);
      return;
    }
    const link = this.#newLink(ws, 'dial', dial.index, dial.url);
    dial.link = link;
    let socket: Duplex | undefined;
    ws.on('upgrade', (res: IncomingMessage) => {
      socket = res.socket;
    });
    ws.on('open', () =>
      this.#guard(() => {
        link.wsOpen = true;
        if (socket !== undefined) this.#limitPreAuth(link, socket);
        this.#sendRaw(link, encodeHello(o.chainId, o.self, link.nonce));
      }),
    );
  }

  /** Starts a dial for every peer to dial that has none, and drops dials for peers no longer listed. */
  #syncDials(): void {
    for (const [index, dial] of [...this.#dials]) {
      if (this.#dialUrls.get(index) === dial.url) continue;
      clearTimeout(dial.timer);
      this.#dials.delete(index);
      if (dial.link !== undefined) this.#shut(dial.link, CLOSE_POLICY, 'not-a-member');
    }
    for (const [index, url] of this.#dialUrls) {
      if (this.#dials.has(index)) continue;
      const dial: Dial = { index, url, attempt: 0, timer: undefined, link: undefined };
      this.#dials.set(index, dial);
      this.#dial(dial);
    }
  }

  #scheduleDial(dial: Dial): void {
    if (this.#state !== 'running' || dial.timer !== undefined) return;
    const { min, max } = this.#o.reconnectMs;
    const base = Math.min(max, min * 2 ** dial.attempt);
    // "Equal jitter": at least half the backoff, so a crowd of redials spreads out but never hammers.
    const delay = base / 2 + (base / 2) * this.#o.random();
    if (base < max) dial.attempt++;
    dial.timer = setTimeout(() => this.#guard(() => this.#dial(dial)), delay);
    dial.timer.unref();
  }

  // -- links ---------------------------------------------------------------------------------------

  #newLink(ws: WebSocket, role: Role, expected: number | undefined, remote: string): Link {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const link: Link = {
      ws,
      role,
      expected,
      nonce: new Uint8Array(randomBytes(NONCE_LENGTH)),
      remote,
      done,
      resolveDone,
      state: 'hello',
      wsOpen: false,
      peer: expected,
      peerNonce: undefined,
      alive: true,
      misses: 0,
      timer: undefined,
    };
    this.#live.add(link);
    ws.binaryType = 'nodebuffer';
    link.timer = setTimeout(() => this.#guard(() => this.#onDeadline(link)), this.#o.handshakeTimeoutMs);
    link.timer.unref();
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.#guard(() => this.#onMessage(link, data, isBinary), link));
    ws.on('pong', () => {
      link.alive = true;
    });
    ws.on('error', (error: Error & { code?: string }) => this.#guard(() => this.#onError(link, error)));
    ws.on('close', () => this.#guard(() => this.#onClose(link)));
    return link;
  }

  /** Counts what an unauthenticated peer sends at the socket, before ws buffers a whole frame. */
  #limitPreAuth(link: Link, socket: Duplex): void {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      // ws's own listener was registered first, so a chunk that completes the handshake has already
      // moved the link to open by the time it is counted here.
      if (link.state === 'open' || link.state === 'closed') {
        socket.off('data', onData);
        return;
      }
      received += chunk.length;
      if (received > PRE_AUTH_BYTES) this.#reject(link, 'P2P_PROTOCOL_VIOLATION', 'pre-auth-bytes', CLOSE_POLICY, true);
    };
    socket.on('data', onData);
  }

  #onMessage(link: Link, data: WebSocket.RawData, isBinary: boolean): void {
    if (link.state === 'closed') return;
    link.alive = true;
    if (!isBinary) {
      this.#reject(link, 'P2P_PROTOCOL_VIOLATION', 'text-frame', CLOSE_UNSUPPORTED);
      return;
    }
    const bytes = toBytes(data);
    if (link.state === 'open') {
      this.#deliver(link, bytes);
      return;
    }
    if (link.state === 'hello') this.#onHello(link, bytes);
    else this.#onAuth(link, bytes);
  }

  #onHello(link: Link, bytes: Uint8Array): void {
    const o = this.#o;
    const hello = decodeHello(bytes);
    if (typeof hello === 'string') return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', hello, CLOSE_POLICY);
    if (!equalBytes(hello.chainId, o.chainId)) return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'chain-id', CLOSE_POLICY);
    if (hello.index === o.self) return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'own-index', CLOSE_POLICY, false, hello.index);
    if (!this.#keys.has(hello.index)) return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'unknown-index', CLOSE_POLICY, false, hello.index);
    if (link.role === 'dial' ? hello.index !== link.expected : hello.index > o.self) {
      return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'unexpected-index', CLOSE_POLICY, false, hello.index);
    }
    link.peer = hello.index;
    link.peerNonce = hello.nonce;
    link.state = 'auth';
    if (link.role === 'dial') this.#sendRaw(link, encodeAuth(this.#sign(hello.index, hello.nonce, link.nonce)));
  }

  #onAuth(link: Link, bytes: Uint8Array): void {
    const o = this.#o;
    const peer = link.peer as number;
    const signature = decodeAuth(bytes);
    if (typeof signature === 'string') return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', signature, CLOSE_POLICY, false, peer);
    // The peer signed (peer, self, our nonce, its nonce): our fresh nonce is what makes a replay fail.
    const digest = authDigest(o.chainId, peer, o.self, link.nonce, link.peerNonce as Uint8Array);
    let recovered: Uint8Array | undefined;
    try {
      recovered = secp256k1RecoverDigest(digest, signature);
    } catch {
      recovered = undefined;
    }
    if (recovered === undefined || !equalBytes(recovered, this.#keys.get(peer) ?? EMPTY)) {
      return this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'signature', CLOSE_POLICY, false, peer);
    }
    if (link.role === 'accept') this.#sendRaw(link, encodeAuth(this.#sign(peer, link.peerNonce as Uint8Array, link.nonce)));
    if (link.state !== 'auth') return; // the send failed and closed the link
    this.#authenticated(link, peer);
  }

  #authenticated(link: Link, peer: number): void {
    link.state = 'open';
    clearTimeout(link.timer);
    link.timer = undefined;
    this.#unauthenticated.delete(link);
    if (link.role === 'dial') {
      const dial = this.#dials.get(peer);
      if (dial !== undefined) dial.attempt = 0;
    }
    const old = this.#links.get(peer);
    if (old !== undefined) {
      // Only the peer's key could have authenticated either link; the newer one is the live one (the
      // old is typically a half-open socket from before the peer restarted).
      this.#emitLog('info', 'p2p link replaced', { peer, remote: link.remote });
      this.#shut(old, CLOSE_REPLACED, 'replaced');
    }
    this.#links.set(peer, link);
    this.#emitLog('info', 'p2p link up', { peer, role: link.role, remote: link.remote });
    this.#notifyPeer(peer, true);
  }

  #deliver(link: Link, bytes: Uint8Array): void {
    if (bytes.length === 0) {
      this.#reject(link, 'P2P_PROTOCOL_VIOLATION', 'empty-frame', CLOSE_POLICY);
      return;
    }
    this.#framesIn++;
    this.#bytesIn += bytes.length;
    const from = link.peer as number;
    try {
      this.#onFrame(from, bytes[0] as number, bytes.subarray(1));
    } catch (error) {
      this.#emitLog('error', 'p2p frame handler threw', { peer: from, channel: bytes[0], error: errorMessage(error) });
    }
  }

  #onDeadline(link: Link): void {
    link.timer = undefined;
    if (link.state === 'open') return;
    if (link.state === 'closed') {
      link.ws.terminate();
      return;
    }
    if (!link.wsOpen) {
      // Never connected (dial to a host that does not answer): not a misbehaving peer.
      this.#emitLog('debug', 'p2p dial timed out', { peer: link.expected, remote: link.remote });
      link.state = 'closed';
      link.ws.terminate();
      return;
    }
    this.#reject(link, 'P2P_HANDSHAKE_REJECTED', 'timeout', CLOSE_POLICY, true);
  }

  #onError(link: Link, error: Error & { code?: string }): void {
    if (typeof error.code === 'string' && error.code.startsWith('WS_ERR_')) {
      // ws has already started closing the link (1009 for an oversized frame, 1002 otherwise).
      const reason = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame-too-large' : error.code;
      this.#reject(link, 'P2P_PROTOCOL_VIOLATION', reason, CLOSE_POLICY);
      return;
    }
    this.#emitLog('debug', 'p2p socket error', { peer: link.peer, remote: link.remote, error: error.message });
  }

  #onClose(link: Link): void {
    clearTimeout(link.timer);
    link.timer = undefined;
    if (link.state !== 'closed') {
      link.state = 'closed';
      this.#detach(link);
    }
    this.#unauthenticated.delete(link);
    this.#live.delete(link);
    link.resolveDone();
    if (link.role === 'dial') {
      const dial = this.#dials.get(link.expected as number);
      if (dial !== undefined && dial.link === link) {
        dial.link = undefined;
        this.#scheduleDial(dial);
      }
    }
  }

  /**
   * Closes a link for a failed handshake or protocol violation: counts it, logs why, and frees the
   * peer slot at once. `now` skips the close handshake (the peer is flooding or stalling).
   */
  #reject(link: Link, code: 'P2P_HANDSHAKE_REJECTED' | 'P2P_PROTOCOL_VIOLATION', reason: string, closeCode: number, now = false, claimed?: number): void {
    if (link.state === 'closed') return;
    this.#rejected++;
    this.#emitLog('warn', 'p2p link rejected', {
      code,
      reason,
      role: link.role,
      remote: link.remote,
      ...(link.state === 'open' ? { peer: link.peer } : { claimed: claimed ?? link.peer }),
    });
    if (now) {
      link.state = 'closed';
      this.#detach(link);
      link.ws.terminate();
    } else {
      this.#shut(link, closeCode, reason);
    }
  }

  /** Detaches a link and starts a close handshake, with a short grace before the socket is destroyed. */
  #shut(link: Link, code: number, reason: string): void {
    if (link.state === 'closed') return;
    link.state = 'closed';
    this.#detach(link);
    clearTimeout(link.timer);
    link.timer = setTimeout(() => link.ws.terminate(), CLOSE_GRACE_MS);
    link.timer.unref();
    try {
      link.ws.close(code, reason);
    } catch {
      link.ws.terminate();
    }
  }

  /** Removes an authenticated link from the peer table, once, and tells the node. */
  #detach(link: Link): void {
    const peer = link.peer;
    if (peer === undefined || this.#links.get(peer) !== link) return;
    this.#links.delete(peer);
    this.#emitLog('info', 'p2p link down', { peer, role: link.role, remote: link.remote });
    this.#notifyPeer(peer, false);
  }

  #tick(): void {
    for (const link of [...this.#links.values()]) {
      // Two missed periods, not one: after an event-loop stall this tick can run before the pong that
      // is already waiting in the socket has been read.
      link.misses = link.alive ? 0 : link.misses + 1;
      if (link.misses >= 2) {
        this.#emitLog('warn', 'p2p link silent, dropping', { peer: link.peer, remote: link.remote });
        link.state = 'closed';
        this.#detach(link);
        link.ws.terminate();
        continue;
      }
      link.alive = false;
      try {
        link.ws.ping();
      } catch {
        // Closing already; the close event cleans up.
      }
    }
  }

  // -- sending -------------------------------------------------------------------------------------

  #encode(channel: number, payload: Uint8Array): Buffer | undefined {
    if (!(payload instanceof Uint8Array)) {
      throw new LoulanError('CODEC_LENGTH', 'payload must be a Uint8Array', { details: { field: 'payload' } });
    }
    if (1 + payload.length > this.#o.maxFrameBytes) {
      this.#dropped++;
      this.#emitLog('warn', 'p2p frame over maxFrameBytes dropped', {
        code: 'P2P_FRAME_TOO_LARGE',
        channel,
        bytes: 1 + payload.length,
        limit: this.#o.maxFrameBytes,
      });
      return undefined;
    }
    const frame = Buffer.allocUnsafe(1 + payload.length);
    frame[0] = channel;
    frame.set(payload, 1);
    return frame;
  }

  #write(link: Link, frame: Buffer): boolean {
    const ws = link.ws;
    const buffered = ws.bufferedAmount;
    // An empty buffer always takes one frame, so a frame larger than the bound is not starved.
    if (ws.readyState !== WebSocket.OPEN || (buffered > 0 && buffered + frame.length > this.#o.maxBufferedBytes)) {
      this.#dropped++;
      return false;
    }
    ws.send(frame);
    this.#framesOut++;
    this.#bytesOut += frame.length;
    return true;
  }

  /** Sends a handshake message; a failure here closes the link through its error and close events. */
  #sendRaw(link: Link, message: Uint8Array): void {
    try {
      link.ws.send(message);
    } catch (error) {
      this.#emitLog('debug', 'p2p handshake send failed', { remote: link.remote, error: errorMessage(error) });
      link.state = 'closed';
      this.#detach(link);
      link.ws.terminate();
    }
  }

  #sign(peer: number, peerNonce: Uint8Array, ownNonce: Uint8Array): Uint8Array {
    return secp256k1SignDigest(this.#o.privateKey, authDigest(this.#o.chainId, this.#o.self, peer, peerNonce, ownNonce));
  }

  // -- shutdown ------------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    const starting = this.#starting;
    this.#state = 'closed';
    if (starting !== undefined) await starting.catch(() => undefined);
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    for (const dial of this.#dials.values()) {
      clearTimeout(dial.timer);
      dial.timer = undefined;
    }
    const links = [...this.#live];
    for (const link of links) {
      if (link.state !== 'closed') {
        link.state = 'closed';
        this.#detach(link);
      }
      link.ws.terminate();
    }
    for (const [socket, timer] of this.#sockets) {
      clearTimeout(timer);
      socket.destroy();
    }
    await Promise.all(links.map((link) => link.done));
    const server = this.#server;
    if (server !== undefined) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.#wss?.close();
  }

  // -- plumbing --------------------------------------------------------------------------------------

  /** Runs an event handler so that nothing it throws reaches ws or the event loop. */
  #guard(fn: () => void, link?: Link): void {
    try {
      fn();
    } catch (error) {
      this.#emitLog('error', 'p2p internal error', { error: errorMessage(error), ...(link ? { peer: link.peer, remote: link.remote } : {}) });
      if (link !== undefined && link.state !== 'closed') this.#shut(link, CLOSE_INTERNAL, 'internal error');
    }
  }

  #notifyPeer(peer: number, connected: boolean): void {
    if (this.#onPeer === undefined) return;
    try {
      this.#onPeer(peer, connected);
    } catch (error) {
      this.#emitLog('error', 'p2p peer handler threw', { peer, connected, error: errorMessage(error) });
    }
  }

  #emitLog(level: LogLevel, msg: string, fields: Record<string, unknown>): void {
    try {
      this.#o.log(level, msg, { self: this.#o.self, ...fields });
    } catch {
      // A broken logger must not take links down.
    }
  }
}

// -- handshake codec (exported for tests and tools) ----------------------------------------------------

export interface Hello {
  readonly chainId: Uint8Array;
  readonly index: number;
  readonly nonce: Uint8Array;
}

export function encodeHello(chainId: Uint8Array, index: number, nonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(HELLO_LENGTH);
  out[0] = HANDSHAKE_VERSION;
  out[1] = HELLO;
  out.set(chainId, 2);
  out[34] = index >>> 8;
  out[35] = index & 0xff;
  out.set(nonce, 36);
  return out;
}

/** The hello, or the rejection reason. */
export function decodeHello(bytes: Uint8Array): Hello | string {
  if (bytes.length < 2 || bytes[0] !== HANDSHAKE_VERSION) return 'version';
  if (bytes[1] !== HELLO || bytes.length !== HELLO_LENGTH) return 'malformed-hello';
  return {
    chainId: bytes.slice(2, 34),
    index: ((bytes[34] as number) << 8) | (bytes[35] as number),
    nonce: bytes.slice(36, 36 + NONCE_LENGTH),
  };
}

export function encodeAuth(signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUTH_LENGTH);
  out[0] = HANDSHAKE_VERSION;
  out[1] = AUTH;
  out.set(signature, 2);
  return out;
}

/** The 65-byte signature, or the rejection reason. */
export function decodeAuth(bytes: Uint8Array): Uint8Array | string {
  if (bytes.length < 2 || bytes[0] !== HANDSHAKE_VERSION) return 'version';
  if (bytes[1] !== AUTH || bytes.length !== AUTH_LENGTH) return 'malformed-auth';
  return bytes.slice(2);
}

/** sha256(AUTH_DOMAIN || chainId || signer u16 || peer u16 || peer's nonce || signer's nonce). */
export function authDigest(chainId: Uint8Array, signer: number, peer: number, peerNonce: Uint8Array, ownNonce: Uint8Array): Uint8Array {
  const domain = new TextEncoder().encode(AUTH_DOMAIN);
  const out = new Uint8Array(domain.length + 32 + 4 + 2 * NONCE_LENGTH);
  let at = 0;
  out.set(domain, at);
  at += domain.length;
  out.set(chainId, at);
  at += 32;
  out[at++] = signer >>> 8;
  out[at++] = signer & 0xff;
  out[at++] = peer >>> 8;
  out[at++] = peer & 0xff;
  out.set(peerNonce, at);
  at += NONCE_LENGTH;
  out.set(ownNonce, at);
  return sha256(out);
}

// -- options -------------------------------------------------------------------------------------------

const EMPTY = new Uint8Array(0);

function configError(field: string, message: string): LoulanError {
  return new LoulanError('CONFIG_INVALID', message, { details: { field } });
}

function resolveOptions(options: TransportOptions): Resolved {
  const bad = (field: string, message: string): LoulanError => new LoulanError('CONFIG_INVALID', message, { details: { field } });
  const index = (value: unknown, field: string): number => {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_INDEX) throw bad(field, `${field} must be an integer in 0..${MAX_INDEX}`);
    return value as number;
  };
  const positive = (value: number | undefined, fallback: number, field: string): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value <= 0) throw bad(field, `${field} must be a positive integer`);
    return value;
  };

  const self = index(options.self, 'self');
  if (!(options.chainId instanceof Uint8Array) || options.chainId.length !== 32) throw bad('chainId', 'chainId must be 32 bytes');
  const keys = new Map<number, Uint8Array>();
  for (const [i, v] of options.validators.entries()) {
    const at = index(v.index, `validators[${i}].index`);
    if (keys.has(at)) throw bad(`validators[${i}].index`, `validator index ${at} is listed twice`);
    if (!(v.publicKey instanceof Uint8Array) || v.publicKey.length !== 33) throw bad(`validators[${i}].publicKey`, 'a validator key is a 33-byte compressed secp256k1 key');
    keys.set(at, v.publicKey.slice());
  }
  const own = keys.get(self);
  if (own === undefined) throw bad('self', `validator ${self} is not in the validator set`);
  let derived: Uint8Array;
  try {
    derived = publicKeyFromPrivate('ES256K', options.privateKey);
  } catch (cause) {
    throw new LoulanError('CONFIG_INVALID', 'privateKey is not a secp256k1 private key', { details: { field: 'privateKey' }, cause });
  }
  if (!equalBytes(derived, own)) throw bad('privateKey', `privateKey does not belong to validator ${self}`);

  const host = options.listen.host;
  if (typeof host !== 'string' || host.length === 0) throw bad('listen.host', 'listen.host must be a host name or address');
  const port = options.listen.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad('listen.port', 'listen.port must be in 0..65535');

  const tls = options.tls;
  if (tls !== undefined) {
    for (const key of ['cert', 'key', 'ca'] as const) {
      if (typeof tls[key] !== 'string' || !tls[key].includes('-----BEGIN')) throw bad(`tls.${key}`, `tls.${key} must be PEM text`);
    }
  }
  const scheme = tls === undefined ? 'ws:' : 'wss:';
  const dials: Array<{ index: number; url: string }> = [];
  const seen = new Set<number>();
  for (const [i, p] of options.peers.entries()) {
    const at = index(p.index, `peers[${i}].index`);
    if (seen.has(at)) throw bad(`peers[${i}].index`, `peer ${at} is listed twice`);
    seen.add(at);
    if (at === self) continue; // one peer list shared by every validator lists each one too
    if (!keys.has(at)) throw bad(`peers[${i}].index`, `peer ${at} is not in the validator set`);
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      throw bad(`peers[${i}].url`, `not a URL: ${p.url}`);
    }
    if (url.protocol !== scheme) throw bad(`peers[${i}].url`, `peer URLs must use ${scheme}// ${tls === undefined ? 'without' : 'with'} tls options`);
    if (at > self) dials.push({ index: at, url: p.url });
  }

  const reconnect = options.reconnectMs ?? DEFAULTS.reconnectMs;
  const min = positive(reconnect.min, DEFAULTS.reconnectMs.min, 'reconnectMs.min');
  const max = positive(reconnect.max, DEFAULTS.reconnectMs.max, 'reconnectMs.max');
  if (max < min) throw bad('reconnectMs', 'reconnectMs.max must be at least reconnectMs.min');

  return Object.freeze({
    self,
    chainId: options.chainId.slice(),
    keys,
    privateKey: options.privateKey.slice(),
    listen: Object.freeze({ host, port }),
    dials: Object.freeze(dials),
    tls: tls === undefined ? undefined : Object.freeze({ cert: tls.cert, key: tls.key, ca: tls.ca }),
    maxFrameBytes: positive(options.maxFrameBytes, DEFAULTS.maxFrameBytes, 'maxFrameBytes'),
    maxBufferedBytes: positive(options.maxBufferedBytes, DEFAULTS.maxBufferedBytes, 'maxBufferedBytes'),
    reconnectMs: Object.freeze({ min, max }),
    handshakeTimeoutMs: positive(options.handshakeTimeoutMs, DEFAULTS.handshakeTimeoutMs, 'handshakeTimeoutMs'),
    maxPendingHandshakes: positive(options.maxPendingHandshakes, DEFAULTS.maxPendingHandshakes, 'maxPendingHandshakes'),
    keepaliveMs: positive(options.keepaliveMs, DEFAULTS.keepaliveMs, 'keepaliveMs'),
    random: options.random ?? Math.random,
    log: options.log ?? (() => undefined),
  });
}

// -- helpers -----------------------------------------------------------------------------------------

function checkChannel(channel: number): void {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) {
    throw new LoulanError('CODEC_RANGE', 'channel must be an integer in 0..255', { details: { field: 'channel', value: channel } });
  }
}

/** A plain Uint8Array view of a received message (ws hands out Buffers, whose slice() shares memory). */
function toBytes(data: WebSocket.RawData): Uint8Array {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Answers an upgrade request with an HTTP error; the socket is destroyed once the answer is written. */
function refuse(socket: Duplex, status: number, text: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
