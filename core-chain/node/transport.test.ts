/**
 * The validator transport over real sockets on 127.0.0.1 (ephemeral ports).
 *
 * Impostors and misbehaving peers are played by `RawPeer`, a second, independent implementation of
 * the handshake written from the wire description in transport.ts (not from its encoder), so the
 * honest path doubles as a check that the description and the code agree. Tests synchronise on
 * events and on `waitFor` (a condition with a deadline), never on sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Transport, type TransportOptions, type LogLevel } from './transport.ts';
import { generateTestPki, opensslAvailable, type TlsMaterial } from './tls.ts';
import { generateKeyPair, type KeyPair } from '../crypto/keys.ts';
import { sha256 } from '../crypto/hash.ts';
import { secp256k1SignDigest } from '../crypto/secp256k1.ts';
import { LoulanError } from '../errors.ts';

const CHAIN = sha256(new TextEncoder().encode('loulan-transport-test'));
const KEYS: KeyPair[] = Array.from({ length: 5 }, () => generateKeyPair('ES256K'));
const VALIDATORS = KEYS.slice(0, 4).map((k, index) => ({ index, publicKey: k.publicKey }));
const FAST = { reconnectMs: { min: 10, max: 200 }, handshakeTimeoutMs: 2000 } as const;

interface Frame {
  readonly from: number;
  readonly channel: number;
  readonly payload: Uint8Array;
}
interface LogEntry {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}
interface Node {
  readonly index: number;
  readonly t: Transport;
  readonly frames: Frame[];
  readonly peerEvents: Array<[number, boolean]>;
  readonly logs: LogEntry[];
  readonly url: string;
}

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

async function waitFor(condition: () => boolean, label: string, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const rejections = (node: Node, reason: string): number => node.logs.filter((l) => l.fields['reason'] === reason).length;

async function startNode(
  index: number,
  peers: ReadonlyArray<{ index: number; url: string }>,
  extra: Partial<TransportOptions> = {},
  onFrame?: (node: Node, frame: Frame) => void,
): Promise<Node> {
  const frames: Frame[] = [];
  const peerEvents: Array<[number, boolean]> = [];
  const logs: LogEntry[] = [];
  const key = KEYS[index] as KeyPair;
  const holder: { node?: Node } = {};
  const t = new Transport(
    {
      self: index,
      chainId: CHAIN,
      validators: VALIDATORS,
      privateKey: key.privateKey,
      listen: { host: '127.0.0.1', port: 0 },
      peers,
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
      ...FAST,
      ...extra,
    },
    (from, channel, payload) => {
      const frame = { from, channel, payload: payload.slice() };
      frames.push(frame);
      if (onFrame && holder.node) onFrame(holder.node, frame);
    },
    (peer, connected) => peerEvents.push([peer, connected]),
  );
  open.push(t);
  await t.start();
  const scheme = extra.tls ? 'wss' : 'ws';
  const node: Node = { index, t, frames, peerEvents, logs, url: `${scheme}://127.0.0.1:${t.port}/p2p` };
  holder.node = node;
  return node;
}

/** Starts validators highest index first, so every dialler knows the URLs of those above it. */
async function startMesh(n: number, extra: (i: number) => Partial<TransportOptions> = () => ({})): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const peers = nodes.map((m) => ({ index: m.index, url: m.url }));
    nodes.unshift(await startNode(i, peers, extra(i)));
  }
  return nodes;
}

const others = (n: number, i: number): number[] => Array.from({ length: n }, (_, j) => j).filter((j) => j !== i);

async function waitMesh(nodes: readonly Node[]): Promise<void> {
  await waitFor(() => nodes.every((m) => JSON.stringify(m.t.connected()) === JSON.stringify(others(nodes.length, m.index))), 'full mesh');
}

// -- an independent handshake implementation for impostors and misbehaving peers ---------------------

function hello(chainId: Uint8Array, index: number, nonce: Uint8Array): Buffer {
  const out = Buffer.alloc(68);
  out[0] = 1;
  out[1] = 1;
  out.set(chainId, 2);
  out.writeUInt16BE(index, 34);
  out.set(nonce, 36);
  return out;
}

function auth(signature: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([1, 2]), signature]);
}

function digest(chainId: Uint8Array, signer: number, peer: number, peerNonce: Uint8Array, ownNonce: Uint8Array): Uint8Array {
  const idx = Buffer.alloc(4);
  idx.writeUInt16BE(signer, 0);
  idx.writeUInt16BE(peer, 2);
  return sha256(Buffer.concat([Buffer.from('LOULAN/P2P/V1', 'utf8'), chainId, idx, peerNonce, ownNonce]));
}

class RawPeer {
  readonly ws: WebSocket;
  readonly inbox: Array<{ data: Buffer; binary: boolean }> = [];
  readonly nonce = new Uint8Array(randomBytes(32));
  closeCode: number | undefined;
  error: Error | undefined;
  opened = false;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    this.ws.on('open', () => {
      this.opened = true;
    });
    this.ws.on('message', (data: WebSocket.RawData, binary: boolean) => this.inbox.push({ data: data as Buffer, binary }));
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    this.ws.on('error', (error: Error) => {
      this.error = error;
    });
    open.push({ close: () => this.ws.terminate() });
  }

  get closed(): boolean {
    return this.closeCode !== undefined;
  }

  async next(): Promise<Buffer> {
    await waitFor(() => this.inbox.length > 0 || this.closed, 'a message');
    const message = this.inbox.shift();
    if (message === undefined) throw new Error(`closed (${this.closeCode}) before a message`);
    return message.data;
  }

  async opening(): Promise<void> {
    await waitFor(() => this.opened || this.closed, 'open');
    if (!this.opened) throw new Error('not opened');
  }

  /**
   * Plays the dialler: sends a hello claiming `claim`, answers the acceptor's hello with an auth signed
   * by `key`. Returns the acceptor's hello.
   */
  async dialHandshake(o: { claim: number; key: Uint8Array; chainId?: Uint8Array; target: number }): Promise<{ index: number; nonce: Buffer }> {
    await this.opening();
    const chainId = o.chainId ?? CHAIN;
    this.ws.send(hello(chainId, o.claim, this.nonce));
    const theirs = await this.next();
    expect(theirs.length).toBe(68);
    const peer = { index: theirs.readUInt16BE(34), nonce: theirs.subarray(36, 68) };
    expect(peer.index).toBe(o.target);
    this.ws.send(auth(secp256k1SignDigest(o.key, digest(chainId, o.claim, o.target, peer.nonce, this.nonce))));
    return peer;
  }
}

// ----------------------------------------------------------------------------------------------------

describe('Transport', () => {
  it('forms a full mesh of 4 and exchanges frames on channels, point to point and broadcast', async () => {
    const big = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff);
    const nodes = await startMesh(4);
    await waitMesh(nodes);
    for (const m of nodes) {
      expect(m.peerEvents.filter(([, up]) => up).map(([p]) => p).sort()).toEqual(others(4, m.index));
      expect(m.peerEvents.some(([, up]) => !up)).toBe(false);
    }

    for (const from of nodes) {
      for (const to of others(4, from.index)) {
        expect(from.t.send(to, 7, new Uint8Array([from.index, to]))).toBe(true);
      }
      from.t.broadcast(200, new Uint8Array([from.index]));
    }
    expect(nodes[3]?.t.send(0, 1, big)).toBe(true);
    expect(nodes[0]?.t.send(3, 0, new Uint8Array(0))).toBe(true);
    await waitFor(() => nodes.every((m) => m.frames.length === 6 + (m.index === 0 || m.index === 3 ? 1 : 0)), 'all frames');

    for (const m of nodes) {
      const direct = m.frames.filter((f) => f.channel === 7);
      expect(direct.map((f) => [f.from, ...f.payload]).sort()).toEqual(others(4, m.index).map((j) => [j, j, m.index]));
      const bcast = m.frames.filter((f) => f.channel === 200);
      expect(bcast.map((f) => [f.from, ...f.payload]).sort()).toEqual(others(4, m.index).map((j) => [j, j]));
    }
    const got = nodes[0]?.frames.find((f) => f.channel === 1);
    expect(got?.from).toBe(3);
    expect(Buffer.from(got?.payload ?? []).equals(Buffer.from(big))).toBe(true);
    const empty = nodes[3]?.frames.find((f) => f.channel === 0);
    expect(empty?.from).toBe(0);
    expect(empty?.payload.length).toBe(0);

    // Bytes count whole frames: channel byte + payload.
    const s3 = nodes[3]?.t.stats();
    expect(s3).toMatchObject({ framesOut: 7, bytesOut: 3 * 3 + 3 * 2 + 1 + big.length, dropped: 0, rejected: 0 });
    const s0 = nodes[0]?.t.stats();
    expect(s0).toMatchObject({ framesIn: 7, bytesIn: 3 * 3 + 3 * 2 + 1 + big.length, rejected: 0 });
  });

  it('send() to a peer that is not connected returns false and counts a drop; a bad channel throws', async () => {
    const lonely = await startNode(0, []);
    expect(lonely.t.send(1, 1, new Uint8Array(1))).toBe(false);
    expect(lonely.t.stats().dropped).toBe(1);
    expect(() => lonely.t.send(1, 256, new Uint8Array(1))).toThrow(LoulanError);
    expect(() => lonely.t.broadcast(-1, new Uint8Array(1))).toThrow(LoulanError);
  });

  it('delivers a large frame sent from the peer-up callback, in both directions', async () => {
    // The acceptor may send right after its auth, so its first frame can share a TCP read with that
    // auth: the pre-authentication byte limit must not count it.
    const big = new Uint8Array(2 * 1024 * 1024).fill(0xab);
    const sendBig = (t: () => Transport) => (peer: number, up: boolean) => {
      if (up) t().send(peer, 3, big);
    };
    const received: Frame[] = [];
    const make = (self: number, peers: Array<{ index: number; url: string }>): Transport => {
      const t: Transport = new Transport(
        { self, chainId: CHAIN, validators: VALIDATORS, privateKey: KEYS[self]!.privateKey, listen: { host: '127.0.0.1', port: 0 }, peers, ...FAST },
        (from, channel, payload) => received.push({ from, channel, payload: payload.slice() }),
        sendBig(() => t),
      );
      open.push(t);
      return t;
    };
    const upper = make(1, []);
    await upper.start();
    const lower = make(0, [{ index: 1, url: `ws://127.0.0.1:${upper.port}/p2p` }]);
    await lower.start();
    await waitFor(() => received.length === 2, 'both big frames');
    expect(received.map((f) => [f.from, f.channel, f.payload.length]).sort()).toEqual([
      [0, 3, big.length],
      [1, 3, big.length],
    ]);
    expect(upper.stats().rejected + lower.stats().rejected).toBe(0);
  });

  it('re-dials a restarted validator and the links come back in both directions', async () => {
    const nodes = await startMesh(4);
    await waitMesh(nodes);
    const one = nodes[1] as Node;
    const port = one.t.port;
    await one.t.close();
    await one.t.close(); // idempotent
    await waitFor(() => nodes.every((m) => m.index === 1 || !m.t.connected().includes(1)), 'others see 1 down');
    for (const m of nodes) if (m.index !== 1) expect(m.peerEvents).toContainEqual([1, false]);

    const peers = nodes.filter((m) => m.index > 1).map((m) => ({ index: m.index, url: m.url }));
    const again = await startNode(1, peers, { listen: { host: '127.0.0.1', port } });
    const restarted = [nodes[0] as Node, again, nodes[2] as Node, nodes[3] as Node];
    await waitMesh(restarted);
    // 0 re-dialled the restarted 1; 1 re-dialled 2 and 3.
    expect(nodes[0]?.peerEvents.filter(([p, up]) => p === 1 && up).length).toBe(2);
    expect(again.t.send(0, 9, new Uint8Array([42]))).toBe(true);
    expect(nodes[0]?.t.send(1, 9, new Uint8Array([43]))).toBe(true);
    await waitFor(() => nodes[0]!.frames.some((f) => f.from === 1 && f.channel === 9) && again.frames.some((f) => f.from === 0), 'frames after restart');
  });

  it('accepts a correct independent handshake (so the impostor tests below test the checks, not the client)', async () => {
    const target = await startNode(3, []);
    const raw = new RawPeer(target.url);
    await raw.dialHandshake({ claim: 1, key: KEYS[1]!.privateKey, target: 3 });
    const theirAuth = await raw.next();
    expect(theirAuth.length).toBe(67);
    await waitFor(() => target.t.connected().includes(1), 'raw peer connected');
    raw.ws.send(Buffer.from([5, 1, 2, 3]));
    await waitFor(() => target.frames.length === 1, 'frame delivered');
    expect(target.frames[0]).toMatchObject({ from: 1, channel: 5 });
    expect([...(target.frames[0]?.payload ?? [])]).toEqual([1, 2, 3]);
    expect(target.t.send(1, 6, new Uint8Array([9]))).toBe(true);
    const frame = await raw.next();
    expect([...frame]).toEqual([6, 9]);
  });

  describe('follows validator-set changes (setMembers)', () => {
    const JOINER = { index: 4, publicKey: KEYS[4]!.publicKey };

    it('dials a validator once it joins, using the URL the set names, and drops it once removed', async () => {
      const joiner = await startNode(4, [], { validators: [...VALIDATORS, JOINER] });
      const nodes = await startMesh(2);
      await waitMesh(nodes);
      // Not yet a member: nobody dials it, and its own key table is not enough to get in.
      expect(joiner.t.connected()).toEqual([]);

      const grown = [...VALIDATORS, { ...JOINER, url: joiner.url }];
      for (const m of nodes) m.t.setMembers(grown);
      await waitFor(() => JSON.stringify(joiner.t.connected()) === '[0,1]', 'joiner linked to 0 and 1');
      expect(nodes[0]!.t.send(4, 7, new Uint8Array([1]))).toBe(true);
      await waitFor(() => joiner.frames.some((f) => f.from === 0 && f.channel === 7), 'frame to the joiner');

      nodes[0]!.t.setMembers(VALIDATORS);
      await waitFor(() => !nodes[0]!.t.connected().includes(4) && !joiner.t.connected().includes(0), 'link 0-4 closed');
      // No redial of a removed validator: 1 still holds its link, 0 never comes back.
      await waitFor(() => joiner.peerEvents.filter(([p]) => p === 0).length === 2, 'joiner saw 0 up then down');
      expect(nodes[0]!.t.connected()).toEqual([1]);
      expect(nodes[0]!.t.send(4, 7, new Uint8Array([2]))).toBe(false);
      expect(joiner.t.connected()).toEqual([1]);
    });

    it('refuses an incoming link from a validator removed from the set', async () => {
      const nodes = await startMesh(3);
      await waitMesh(nodes);
      nodes[2]!.t.setMembers(VALIDATORS.filter((v) => v.index !== 0));
      await waitFor(() => !nodes[2]!.t.connected().includes(0), '2 dropped 0');
      // 0 redials 2 (it still counts 2 as a member); 2 now refuses it at the hello.
      await waitFor(() => rejections(nodes[2]!, 'unknown-index') >= 1, '2 rejects 0');
      expect(nodes[2]!.t.connected()).toEqual([1]);
    });

    it('closes every link when this validator itself is removed', async () => {
      const nodes = await startMesh(3);
      await waitMesh(nodes);
      nodes[1]!.t.setMembers(VALIDATORS.filter((v) => v.index !== 1));
      await waitFor(() => nodes[1]!.t.connected().length === 0, 'removed validator has no links');
      await waitFor(() => !nodes[0]!.t.connected().includes(1) && !nodes[2]!.t.connected().includes(1), 'others lost it');
    });

    it('rejects a malformed member list with the failing field and changes nothing', async () => {
      const nodes = await startMesh(2);
      await waitMesh(nodes);
      const t = nodes[0]!.t;
      const field = (members: Parameters<Transport['setMembers']>[0]): unknown => {
        try {
          t.setMembers(members);
        } catch (error) {
          expect(error).toBeInstanceOf(LoulanError);
          expect((error as LoulanError).code).toBe('CONFIG_INVALID');
          return (error as LoulanError).details['field'];
        }
        return undefined;
      };
      expect(field([...VALIDATORS, VALIDATORS[1]!])).toBe('members[4].index');
      expect(field([{ index: -1, publicKey: KEYS[0]!.publicKey }])).toBe('members[0].index');
      expect(field([{ index: 0, publicKey: new Uint8Array(32) }])).toBe('members[0].publicKey');
      expect(field([...VALIDATORS, { ...JOINER, url: 'wss://127.0.0.1:1/p2p' }])).toBe('members[4].url');
      expect(field([...VALIDATORS, { ...JOINER, url: 'not a url' }])).toBe('members[4].url');
      expect(t.connected()).toEqual([1]);
      expect(t.send(1, 7, new Uint8Array([3]))).toBe(true);
    });
  });

  describe('rejects impostors, which never deliver a frame', () => {
    const cases: Array<{ name: string; claim: number; key: () => Uint8Array; chainId?: Uint8Array; reason: string; atHello: boolean }> = [
      { name: "validator 2's valid key claiming index 1", claim: 1, key: () => KEYS[2]!.privateKey, reason: 'signature', atHello: false },
      { name: 'an unregistered key claiming index 1', claim: 1, key: () => KEYS[4]!.privateKey, reason: 'signature', atHello: false },
      { name: 'the right key on another chain', claim: 1, key: () => KEYS[1]!.privateKey, chainId: sha256(new Uint8Array([1])), reason: 'chain-id', atHello: true },
      { name: 'an index above the acceptor', claim: 2, key: () => KEYS[2]!.privateKey, reason: 'unexpected-index', atHello: true },
      { name: "the acceptor's own index", claim: 1, key: () => KEYS[1]!.privateKey, reason: 'own-index', atHello: true },
      { name: 'an index outside the validator set', claim: 0, key: () => KEYS[4]!.privateKey, reason: 'unknown-index', atHello: true },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        // Targets: validator 3 normally; validator 1 for the own-index case; a 3-validator set for the unknown index.
        const self = c.reason === 'own-index' ? 1 : c.reason === 'unexpected-index' ? 1 : 3;
        const extra: Partial<TransportOptions> = c.reason === 'unknown-index' ? { validators: VALIDATORS.slice(1) } : {};
        const target = await startNode(self, [], extra);
        const raw = new RawPeer(target.url);
        await raw.opening();
        const chainId = c.chainId ?? CHAIN;
        raw.ws.send(hello(chainId, c.claim, raw.nonce));
        const theirs = await raw.next();
        if (!c.atHello) {
          const peerNonce = theirs.subarray(36, 68);
          raw.ws.send(auth(secp256k1SignDigest(c.key(), digest(chainId, c.claim, self, peerNonce, raw.nonce))));
        }
        // Whatever happens, try to push a frame through.
        raw.ws.send(Buffer.from([1, 0xde, 0xad]));
        await waitFor(() => raw.closed, 'impostor closed');
        expect(raw.closeCode).toBe(1008);
        expect(raw.inbox.length).toBe(0); // never got the acceptor's auth
        expect(rejections(target, c.reason)).toBe(1);
        expect(target.logs.find((l) => l.fields['reason'] === c.reason)?.fields['code']).toBe('P2P_HANDSHAKE_REJECTED');
        expect(target.t.stats().rejected).toBe(1);
        expect(target.frames).toEqual([]);
        expect(target.t.connected()).toEqual([]);
        expect(target.peerEvents).toEqual([]);
      });
    }

    it('a replayed auth from a captured handshake', async () => {
      // 0 dials 1 through a recording relay; the attacker then replays 0's hello and auth to 1.
      const one = await startNode(1, []);
      const captured: Buffer[] = [];
      const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      open.push({ close: () => new Promise((resolve) => relay.close(resolve)) });
      relay.on('connection', (fromZero) => {
        const toOne = new WebSocket(one.url, { perMessageDeflate: false });
        const early: Array<[WebSocket.RawData, boolean]> = [];
        fromZero.on('message', (data: WebSocket.RawData, binary: boolean) => {
          if (captured.length < 2) captured.push(Buffer.from(data as Buffer));
          if (toOne.readyState === WebSocket.OPEN) toOne.send(data, { binary });
          else early.push([data, binary]);
        });
        toOne.on('open', () => {
          for (const [data, binary] of early) toOne.send(data, { binary });
        });
        toOne.on('message', (data: WebSocket.RawData, binary: boolean) => fromZero.send(data as Buffer, { binary }));
        toOne.on('close', () => fromZero.terminate());
        fromZero.on('close', () => toOne.terminate());
        fromZero.on('error', () => undefined);
        toOne.on('error', () => undefined);
      });
      await new Promise((resolve) => relay.once('listening', resolve));
      const relayUrl = `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/p2p`;
      const zero = await startNode(0, [{ index: 1, url: relayUrl }]);
      await waitFor(() => one.t.connected().includes(0) && zero.t.connected().includes(1), 'link through the relay');
      expect(captured.length).toBe(2);

      const raw = new RawPeer(one.url);
      await raw.opening();
      raw.ws.send(captured[0] as Buffer);
      await raw.next(); // 1's hello, with a fresh nonce
      raw.ws.send(captured[1] as Buffer);
      raw.ws.send(Buffer.from([1, 0xbe, 0xef]));
      await waitFor(() => raw.closed, 'replay closed');
      expect(rejections(one, 'signature')).toBe(1);
      expect(one.frames).toEqual([]);
      // The genuine link is untouched.
      expect(one.t.connected()).toEqual([0]);
      expect(one.peerEvents).toEqual([[0, true]]);
      zero.t.send(1, 4, new Uint8Array([1]));
      await waitFor(() => one.frames.length === 1, 'genuine frame');
      expect(one.frames[0]?.from).toBe(0);
    });

    it('a dialled address answered by another validator', async () => {
      const two = await startNode(2, []);
      const zero = await startNode(0, [{ index: 1, url: two.url }]); // "1" is really 2
      await waitFor(() => rejections(zero, 'unexpected-index') >= 1, 'dialler rejects');
      expect(zero.t.connected()).toEqual([]);
      expect(two.t.connected()).toEqual([]);
      expect(two.frames).toEqual([]);
    });

    it('a data frame before the handshake', async () => {
      const target = await startNode(3, []);
      const raw = new RawPeer(target.url);
      await raw.opening();
      raw.ws.send(Buffer.from([1, 2, 3]));
      await waitFor(() => raw.closed, 'closed');
      expect(target.t.stats().rejected).toBe(1);
      expect(target.frames).toEqual([]);
    });

    it('a peer that stalls in the handshake, and more pending handshakes than allowed', async () => {
      const target = await startNode(3, [], { handshakeTimeoutMs: 300, maxPendingHandshakes: 2 });
      const a = new RawPeer(target.url);
      const b = new RawPeer(target.url);
      await a.opening();
      await b.opening();
      const c = new RawPeer(target.url);
      await waitFor(() => c.closed, 'third refused');
      expect(c.opened).toBe(false);
      expect(c.error?.message).toMatch(/503/);
      expect(rejections(target, 'too-many-pending')).toBe(1);
      await waitFor(() => a.closed && b.closed, 'stalled handshakes cut');
      expect(rejections(target, 'timeout')).toBe(2);
      // The slots are free again.
      const d = new RawPeer(target.url);
      await d.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 3 });
      await waitFor(() => target.t.connected().includes(0), 'connected after the flood');
    });

    it('a flood of bytes before authentication', async () => {
      const target = await startNode(3, []);
      const raw = new RawPeer(target.url);
      await raw.opening();
      raw.ws.send(Buffer.alloc(1024 * 1024));
      await waitFor(() => raw.closed, 'closed');
      expect(rejections(target, 'pre-auth-bytes')).toBe(1);
    });
  });

  describe('closes a link on a bad frame', () => {
    it('an oversized frame', async () => {
      const one = await startNode(1, [], { maxFrameBytes: 1024 });
      const zero = await startNode(0, [{ index: 1, url: one.url }]);
      await waitFor(() => zero.t.connected().includes(1), 'link up');
      expect(zero.t.send(1, 2, new Uint8Array(1023))).toBe(true); // exactly 1024 with the channel byte
      expect(zero.t.send(1, 2, new Uint8Array(4096))).toBe(true);
      await waitFor(() => zero.peerEvents.some(([p, up]) => p === 1 && !up), 'link closed');
      expect(rejections(one, 'frame-too-large')).toBe(1);
      expect(one.logs.find((l) => l.fields['reason'] === 'frame-too-large')?.fields['code']).toBe('P2P_PROTOCOL_VIOLATION');
      expect(one.frames.map((f) => f.payload.length)).toEqual([1023]);
      // The dialler comes back.
      await waitFor(() => zero.peerEvents.filter(([p, up]) => p === 1 && up).length === 2, 'redialled');
      // A frame over the sender's own limit is dropped locally, not sent.
      expect(one.t.send(0, 2, new Uint8Array(1024))).toBe(false);
      expect(one.t.stats().dropped).toBe(1);
      expect(one.logs.some((l) => l.fields['code'] === 'P2P_FRAME_TOO_LARGE')).toBe(true);
    });

    it('a text frame', async () => {
      const target = await startNode(1, []);
      const raw = new RawPeer(target.url);
      await raw.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 1 });
      await raw.next();
      await waitFor(() => target.t.connected().includes(0), 'up');
      raw.ws.send('hello');
      await waitFor(() => raw.closed, 'closed');
      expect(raw.closeCode).toBe(1003);
      expect(rejections(target, 'text-frame')).toBe(1);
      expect(target.peerEvents).toEqual([
        [0, true],
        [0, false],
      ]);
      expect(target.frames).toEqual([]);
    });
  });

  it('drops frames instead of buffering without bound when a peer stops reading', async () => {
    const bound = 1024 * 1024;
    const target = await startNode(1, [], { maxBufferedBytes: bound });
    const raw = new RawPeer(target.url);
    await raw.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 1 });
    await raw.next();
    await waitFor(() => target.t.connected().includes(0), 'up');
    raw.ws.pause();

    const chunk = new Uint8Array(256 * 1024);
    let accepted = 0;
    let attempts = 0;
    while (attempts < 400) {
      attempts++;
      if (!target.t.send(0, 5, chunk)) break;
      accepted++;
    }
    expect(accepted).toBeLessThan(400); // kernel buffers plus the 1 MiB bound, nowhere near 100 MiB
    for (let i = 0; i < 10; i++) expect(target.t.send(0, 5, chunk)).toBe(false);
    expect(target.t.stats().dropped).toBe(11);
    expect(target.t.stats().framesOut).toBe(accepted);

    raw.ws.resume();
    await waitFor(() => raw.inbox.length === accepted, 'accepted frames drain');
    expect(raw.inbox.every((m) => m.data.length === 1 + chunk.length && m.data[0] === 5)).toBe(true);
    // Once drained, sending works again.
    await waitFor(() => target.t.send(0, 6, new Uint8Array([1])), 'buffer drained');
    await waitFor(() => raw.inbox.length === accepted + 1, 'post-drain frame');
  });

  it('keeps the newer of two authenticated links from the same index and closes the older', async () => {
    const target = await startNode(1, []);
    const first = new RawPeer(target.url);
    await first.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 1 });
    await first.next();
    const second = new RawPeer(target.url);
    await second.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 1 });
    await second.next();
    await waitFor(() => first.closed, 'older link closed');
    expect(first.closeCode).toBe(4000);
    expect(target.peerEvents).toEqual([
      [0, true],
      [0, false],
      [0, true],
    ]);
    expect(target.t.connected()).toEqual([0]);
    expect(target.t.send(0, 2, new Uint8Array([1]))).toBe(true);
    expect([...(await second.next())]).toEqual([2, 1]);
    second.ws.send(Buffer.from([3, 4]));
    await waitFor(() => target.frames.length === 1, 'frame on the newer link');
    expect(target.t.stats().rejected).toBe(0);
  });

  it('keeps a responsive peer across keepalive periods and drops a silent one', async () => {
    const target = await startNode(1, [], { keepaliveMs: 25 });
    const live = new RawPeer(target.url);
    let pings = 0;
    live.ws.on('ping', () => pings++);
    await live.dialHandshake({ claim: 0, key: KEYS[0]!.privateKey, target: 1 });
    await live.next();
    await waitFor(() => pings >= 5, 'five keepalive periods');
    expect(target.t.connected()).toEqual([0]);
    expect(target.peerEvents).toEqual([[0, true]]);

    // A peer that stops reading stops answering pings: dropped two to three periods after its last sign of life.
    live.ws.pause();
    await waitFor(() => target.peerEvents.length === 2, 'silent peer dropped');
    expect(target.peerEvents[1]).toEqual([0, false]);
    expect(target.logs.some((l) => l.msg === 'p2p link silent, dropping')).toBe(true);
  });

  it('a throwing frame or peer handler is caught and logged', async () => {
    const logs: LogEntry[] = [];
    const one = new Transport(
      { self: 1, chainId: CHAIN, validators: VALIDATORS, privateKey: KEYS[1]!.privateKey, listen: { host: '127.0.0.1', port: 0 }, peers: [], ...FAST, log: (level, msg, fields) => logs.push({ level, msg, fields }) },
      () => {
        throw new Error('boom');
      },
      () => {
        throw new Error('bang');
      },
    );
    open.push(one);
    await one.start();
    const zero = await startNode(0, [{ index: 1, url: `ws://127.0.0.1:${one.port}/p2p` }]);
    await waitFor(() => one.connected().includes(0) && zero.t.connected().includes(1), 'up');
    expect(zero.t.send(1, 1, new Uint8Array([1]))).toBe(true);
    expect(zero.t.send(1, 1, new Uint8Array([2]))).toBe(true);
    await waitFor(() => one.stats().framesIn === 2, 'both frames handled');
    expect(logs.filter((l) => l.msg === 'p2p frame handler threw').length).toBe(2);
    expect(logs.some((l) => l.msg === 'p2p peer handler threw')).toBe(true);
    expect(one.connected()).toEqual([0]);
  });

  it('leaves no sockets or timers behind after close()', async () => {
    const count = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
      return out;
    };
    const before = count();
    const nodes = await startMesh(3);
    await waitMesh(nodes);
    // A dialler with nobody to dial keeps a redial timer running; close() must cancel it.
    const dangling = await startNode(0, [{ index: 3, url: 'ws://127.0.0.1:1/p2p' }]);
    await waitFor(() => dangling.logs.some((l) => l.msg === 'p2p socket error'), 'a failed dial');
    await Promise.all([...nodes, dangling].map((m) => m.t.close()));
    // A closed handle leaves the list at the event loop's next close phase, just after close() resolves.
    const kinds = ['TCPServerWrap', 'TCPSocketWrap', 'TLSWrap', 'Timeout'];
    await waitFor(() => kinds.every((kind) => (count()[kind] ?? 0) <= (before[kind] ?? 0)), 'handles released', 2000);
  });

  it('validates options once, at construction', () => {
    const base: TransportOptions = { self: 0, chainId: CHAIN, validators: VALIDATORS, privateKey: KEYS[0]!.privateKey, listen: { host: '127.0.0.1', port: 0 }, peers: [] };
    const field = (o: Partial<TransportOptions>): unknown => {
      try {
        new Transport({ ...base, ...o }, () => undefined);
      } catch (error) {
        expect(error).toBeInstanceOf(LoulanError);
        expect((error as LoulanError).code).toBe('CONFIG_INVALID');
        return (error as LoulanError).details['field'];
      }
      return undefined;
    };
    expect(field({})).toBeUndefined();
    expect(field({ privateKey: KEYS[1]!.privateKey })).toBe('privateKey');
    expect(field({ self: 9 })).toBe('self');
    expect(field({ chainId: new Uint8Array(31) })).toBe('chainId');
    expect(field({ peers: [{ index: 1, url: 'wss://127.0.0.1:1/p2p' }] })).toBe('peers[0].url');
    expect(field({ peers: [{ index: 7, url: 'ws://127.0.0.1:1/p2p' }] })).toBe('peers[0].index');
    expect(field({ peers: [{ index: 0, url: 'ws://127.0.0.1:1/p2p' }] })).toBeUndefined(); // self is skipped
    expect(field({ peers: [{ index: 1, url: 'ws://a:1/p2p' }, { index: 1, url: 'ws://b:1/p2p' }] })).toBe('peers[1].index');
    expect(field({ reconnectMs: { min: 100, max: 10 } })).toBe('reconnectMs');
    expect(field({ maxFrameBytes: 0 })).toBe('maxFrameBytes');
  });

  it('start() reports an address in use as P2P_LISTEN_FAILED', async () => {
    const one = await startNode(1, []);
    const clash = new Transport(
      { self: 2, chainId: CHAIN, validators: VALIDATORS, privateKey: KEYS[2]!.privateKey, listen: { host: '127.0.0.1', port: one.t.port }, peers: [] },
      () => undefined,
    );
    open.push(clash);
    await expect(clash.start()).rejects.toMatchObject({ code: 'P2P_LISTEN_FAILED', details: { port: one.t.port } });
  });
});

// openssl ships with every machine this project runs on (Debian's base system); without it this
// suite fails rather than silently not running.
describe('Transport over mutual TLS', () => {
  it('openssl is available to make the test certificates', async () => {
    expect(await opensslAvailable()).toBe(true);
  });

  it('links validators over wss:// and refuses clients without a certificate from the CA', async () => {
    const pki = await generateTestPki(3);
    const foreign = await generateTestPki(1, { caName: 'other-ca' });
    const nodes = await startMesh(3, (i) => ({ tls: pki.nodes[i] as TlsMaterial }));
    expect(nodes[0]?.url.startsWith('wss://')).toBe(true);
    await waitMesh(nodes);
    nodes[0]?.t.broadcast(3, new Uint8Array([7]));
    await waitFor(() => nodes[1]!.frames.length === 1 && nodes[2]!.frames.length === 1, 'frames over TLS');

    const target = nodes[2] as Node;
    const rejectedBefore = target.t.stats().rejected;
    // A certificate from another CA (the client still trusts the right CA for the server).
    const stranger = new RawPeer(target.url, { cert: foreign.nodes[0]!.cert, key: foreign.nodes[0]!.key, ca: pki.ca });
    // No client certificate at all.
    const anonymous = new RawPeer(target.url, { ca: pki.ca });
    await waitFor(() => stranger.closed && anonymous.closed, 'refused');
    expect(stranger.opened).toBe(false);
    expect(anonymous.opened).toBe(false);
    expect(stranger.error).toBeDefined();
    await waitFor(() => target.t.stats().rejected >= rejectedBefore + 2, 'counted');
    expect(target.t.connected()).toEqual([0, 1]);

    // A validator whose certificate comes from another CA never links, even with the right secp256k1 key.
    const outsider = await startNode(0, [{ index: 3, url: (await startNode(3, [], { tls: pki.nodes[0] as TlsMaterial })).url }], {
      tls: { ...(foreign.nodes[0] as TlsMaterial), ca: pki.ca },
    });
    await waitFor(() => outsider.logs.filter((l) => l.msg === 'p2p socket error').length >= 2, 'outsider keeps failing');
    expect(outsider.t.connected()).toEqual([]);
  });
});
