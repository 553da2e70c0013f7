/**
 * Online validator-set changes with real validator processes on loopback, driven through the
 * `loulan validator` commands while transfers keep flowing: the set grows 4 → 5 → 6 → 7, loses a
 * validator, loses its leader, and loses one more while the leader is killed (the change activates
 * across a view change). Afterwards every validator holds one chain, every acknowledged transfer is
 * committed, and a client holding only the genesis validator set verifies every header of the chain,
 * each hand-over certified by the outgoing set, plus an event and a state proof at the tip.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { main } from '../../cli/main.ts';
import { Cluster, ValidatorProcess } from '../../cli/cluster.ts';
import { initTestnet, type TestnetLayout } from '../../core-chain/node/testnet.ts';
import { fromHex, toHex } from '../../core-chain/crypto/hash.ts';
import { validatorSetHash } from '../../core-chain/ledger/genesis.ts';
import { decodeHeader } from '../../core-chain/ledger/block.ts';
import { decodeTx, senderAddress } from '../../core-chain/ledger/tx.ts';
import { proofFromJson } from '../../core-chain/smt/proof.ts';
import { verifyEventProof, verifyHeaderChain, verifyStateProof, type HeaderChainItem } from '../../core-chain/verify/index.ts';
import { TransferFactory, type SignedTx } from '../support/txgen.ts';
import { freeBasePort, until } from '../support/ports.ts';

interface ValidatorView {
  index: number;
  nodeId: number;
  publicKey: string;
}
interface Status {
  height: string;
  view: string;
  leader: number;
  position: number;
  validators: ValidatorView[];
}
interface HeaderJson {
  height: string;
  headerBytes: string;
  certificate: { height: string; view: string; blockHash: string; signatures: Array<{ validator: number; signature: string }> };
}

let dir: string;
let layout: TestnetLayout;
let cluster: Cluster;
let txs: TransferFactory;
/** Every validator process by node id: genesis validators 0..3, spares 4..6. */
const processes = new Map<number, { proc: ValidatorProcess; rpc: string; keyFile: string; publicKey: string }>();
const acknowledged: string[] = [];
const sent = new Map<string, Uint8Array>();
const logs: string[] = [];
/** Validator sets seen, by hash: what a light client is handed at each hand-over. */
const sets = new Map<string, Uint8Array[]>();

async function get<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url);
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

const running = () => [...processes.values()].filter((p) => p.proc.running);
const status = (rpc: string) => get<Status>(`${rpc}/v1/status`);

async function start(nodeId: number): Promise<void> {
  const p = processes.get(nodeId)!;
  await p.proc.start({ env: { LOULAN_TRACE: process.env.LOULAN_TRACE ?? '' }, onLine: (name, line) => logs.push(`[${name}] ${line}`) });
}

async function cli(...args: string[]): Promise<Record<string, unknown>> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  expect(code, `loulan ${args.join(' ')}: ${err.join('\n')}`).toBe(0);
  return JSON.parse(out.join('\n')) as Record<string, unknown>;
}

/** Members in force, as the most advanced running validator reports them. */
async function members(): Promise<Status> {
  const all = (await Promise.all(running().map((p) => status(p.rpc)))).filter((s): s is Status => s !== undefined);
  return all.reduce((a, b) => (BigInt(b.height) > BigInt(a.height) ? b : a));
}

function keyFileOf(publicKey: string): string {
  return [...processes.values()].find((p) => p.publicKey === publicKey)!.keyFile;
}

/** Proposes `args` and has q current members approve it; returns the validator set scheduled. */
async function decide(proposer: string, ...args: string[]): Promise<{ validators: Array<{ publicKey: string }>; activationHeight: bigint }> {
  const rpc = running()[0]!.rpc;
  const { proposal } = (await cli('validator', ...args, '--rpc', rpc, '--key', keyFileOf(proposer))) as { proposal: string };
  const current = await members();
  const n = current.validators.length;
  const q = Math.ceil((n + Math.floor((n - 1) / 3) + 1) / 2);
  const voters = current.validators.filter((v) => processes.get(v.nodeId)!.proc.running).slice(0, q);
  let last: Record<string, unknown> = {};
  for (const v of voters) last = await cli('validator', 'vote', '--rpc', rpc, '--key', keyFileOf(v.publicKey), '--proposal', proposal);
  expect(last['status']).toBe('passed');
  const { pending } = (await cli('validator', 'status', '--rpc', rpc)) as { pending: { validators: Array<{ publicKey: string }>; activationHeight: string } };
  const keys = pending.validators.map((v) => fromHex(v.publicKey));
  sets.set(toHex(validatorSetHash(keys.map((publicKey) => ({ publicKey })))), keys);
  return { validators: pending.validators, activationHeight: BigInt(pending.activationHeight) };
}

/** Waits until every running validator works with a set of `n` and has committed past `height`. */
async function setInForce(n: number, height: bigint, ms = 60_000): Promise<void> {
  await until(`a set of ${n} in force past height ${height}`, ms, async () => {
    const all = await Promise.all(running().map((p) => status(p.rpc)));
    return all.every((s) => s !== undefined && s.validators.length === n && BigInt(s.height) > height) ? true : undefined;
  });
}

/** A removed validator sees itself leave (position -1, it only follows), then is stopped. */
/**
 * Waits until the chain's set no longer holds validator `nodeId`, then stops it. The removed validator
 * itself usually sees it too (position -1), but one that missed the hand-over block cannot learn it
 * afterwards: the remaining members no longer link to a non-member. So the members' view decides.
 */
async function outOfTheSet(nodeId: number, ms = 60_000): Promise<void> {
  const p = processes.get(nodeId)!;
  await until(`validator ${nodeId} out of the set`, ms, async () => {
    if ((await status(p.rpc))?.position === -1) return true;
    const others = (await Promise.all(running().filter((o) => o !== p).map((o) => status(o.rpc)))).filter((x): x is Status => x !== undefined);
    return others.length > 0 && others.every((o) => !o.validators.some((v) => v.publicKey === p.publicKey)) ? true : undefined;
  });
  await p.proc.stop();
}

async function progress(blocks: bigint, ms = 60_000): Promise<void> {
  const base = BigInt((await members()).height);
  await until(`${blocks} more blocks`, ms, async () => {
    const all = await Promise.all(running().map((p) => status(p.rpc)));
    return all.every((s) => s !== undefined && BigInt(s.height) >= base + blocks) ? true : undefined;
  });
}

/** Keeps transfers flowing (blocks are only built when there is something to commit). */
function load(): { stop(): Promise<void> } {
  let stopped = false;
  const retry: SignedTx[] = [];
  const worker = async (w: number) => {
    for (let i = 0; !stopped; i++) {
      const targets = running();
      const tx = retry.shift() ?? txs.next();
      try {
        const res = await fetch(`${targets[(w + i) % targets.length]!.rpc}/v1/tx?wait=commit&timeoutMs=20000`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: tx.bytes });
        if (res.status === 200 && ((await res.json()) as { status: string }).status === 'committed') {
          acknowledged.push(tx.hash);
          sent.set(tx.hash, tx.bytes);
          continue;
        }
      } catch {
        // a validator stopped mid-request
      }
      retry.push(tx);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const workers = Array.from({ length: 4 }, (_, w) => worker(w));
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
    },
  };
}

let traffic: { stop(): Promise<void> };
/** Every certified header seen so far: nodes restored from snapshots do not hold the early ones. */
const archive = new Map<bigint, HeaderJson>();

/** Copies the headers above what the archive holds from whichever running node has them. */
async function archiveHeaders(): Promise<void> {
  for (const p of running()) {
    for (;;) {
      const from = BigInt(archive.size) + 1n;
      const got = await get<{ headers: HeaderJson[] }>(`${p.rpc}/v1/headers?from=${from}&to=${from + 999n}`);
      if (got === undefined || got.headers.length === 0) break;
      for (const h of got.headers) archive.set(BigInt(h.height), h);
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loulan-valset-'));
  layout = initTestnet({
    dir,
    validators: 4,
    spares: 3,
    basePort: await freeBasePort(7),
    accounts: 32,
    registry: { activationDelay: 4n },
    // Bodies older than 20 blocks are pruned: later joiners and a wiped validator can only catch up
    // from a snapshot, certified by a set they reach by following the hand-overs from genesis.
    consensus: { progressTimeoutMs: 1_000, statusIntervalMs: 250, checkpointInterval: 5, retainBlocks: 20 },
  });
  cluster = new Cluster(layout);
  txs = TransferFactory.fromFile(layout.genesis, layout.accountsFile);
  layout.genesis.validators.forEach((v, nodeId) => {
    const folder = layout.validators.find((x) => x.name === v.name)!;
    const proc = cluster.processes.find((p) => p.name === v.name)!;
    processes.set(nodeId, { proc, rpc: folder.rpcUrl, keyFile: join(folder.keyDir, 'validator-key.json'), publicKey: toHex(v.publicKey) });
  });
  for (const s of layout.spares) {
    processes.set(s.nodeId, { proc: new ValidatorProcess(s.name, s.configFile), rpc: s.rpcUrl, keyFile: s.keyFile, publicKey: s.publicKey });
  }
  sets.set(toHex(layout.genesis.validatorSetHash), layout.genesis.validators.map((v) => v.publicKey));
  await Promise.all([0, 1, 2, 3].map(start));
  traffic = load();
  await progress(3n);
}, 90_000);

afterAll(async () => {
  await traffic?.stop();
  await Promise.all([...processes.values()].map((p) => p.proc.kill()));
  writeFileSync(join(tmpdir(), 'loulan-valset-test.log'), logs.join('\n') + '\n');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('validator-set changes, online, with real processes', () => {
  test('grows 4 → 5 → 6 → 7 under load; each joiner syncs, then votes', async () => {
    for (const spare of layout.spares) {
      await start(spare.nodeId);
      // Not yet admitted, nobody links to it: it refuses transactions it could not get ordered.
      const refused = await fetch(`${spare.rpcUrl}/v1/tx`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1, 2, 3]) });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('NODE_NOT_CONNECTED');
      const before = await members();
      const proposer = before.validators[0]!.publicKey;
      const scheduled = await decide(proposer, 'propose-join', '--public-key', spare.publicKey, '--name', spare.name, '--organisation', spare.organisation, '--endpoint', spare.p2pUrl);
      expect(scheduled.validators.map((v) => v.publicKey)).toContain(spare.publicKey);
      await setInForce(before.validators.length + 1, scheduled.activationHeight);
      const joined = (await status(spare.rpcUrl))!;
      expect(joined.position).toBeGreaterThanOrEqual(0);
      expect(joined.validators[joined.position]!.nodeId).toBe(spare.nodeId);
      await progress(3n);
      // It votes: its commit votes went out.
      const metrics = await (await fetch(`${spare.rpcUrl}/metrics`)).text();
      expect(Number(/loulan_frames_sent_total\{type="commit"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
      await archiveHeaders();
    }
  }, 240_000);

  test('removes a validator, then the current leader; quorums follow', async () => {
    let now = await members();
    const victim = now.validators.find((v, i) => i !== now.leader && v.nodeId < 4)!;
    const proposer = now.validators.find((v) => v.publicKey !== victim.publicKey)!.publicKey;
    let scheduled = await decide(proposer, 'propose-remove', '--public-key', victim.publicKey);
    await outOfTheSet(victim.nodeId);
    await setInForce(6, scheduled.activationHeight);
    await progress(3n);

    now = await members();
    const leader = now.validators[now.leader]!;
    scheduled = await decide(leader.publicKey, 'propose-remove', '--public-key', leader.publicKey);
    await outOfTheSet(leader.nodeId);
    await setInForce(5, scheduled.activationHeight);
    await progress(5n);
    await archiveHeaders();
  }, 180_000);

  test('a removal that activates while the leader is down: view change, then progress with the new set', async () => {
    const now = await members();
    const leader = now.validators[now.leader]!;
    const victim = now.validators.find((v, i) => i !== now.leader)!;
    const scheduled = await decide(leader.publicKey, 'propose-remove', '--public-key', victim.publicKey);
    await processes.get(leader.nodeId)!.proc.kill();
    await outOfTheSet(victim.nodeId, 90_000);
    await setInForce(4, scheduled.activationHeight);
    await progress(3n);
    const after = await members();
    expect(BigInt(after.view)).toBeGreaterThan(BigInt(now.view));
    // The killed leader is still a member: it restarts and catches up across the hand-over.
    await start(leader.nodeId);
    const top = BigInt((await members()).height);
    await until('the old leader caught up', 60_000, async () => (BigInt((await status(processes.get(leader.nodeId)!.rpc))?.height ?? '0') >= top ? true : undefined));
  }, 180_000);

  test('a member wiped after six hand-overs catches up from a snapshot, following the hand-overs from genesis', async () => {
    const now = await members();
    await archiveHeaders();
    // The lowest node id among the followers: it dials every other member itself (lower ids dial
    // higher ones), so it depends entirely on what its configuration tells it.
    const victim = now.validators.filter((v, i) => i !== now.leader && processes.get(v.nodeId)!.proc.running).sort((a, b) => a.nodeId - b.nodeId)[0]!;
    const p = processes.get(victim.nodeId)!;
    await p.proc.stop();
    const dataDir = victim.nodeId < 4 ? layout.validators.find((v) => v.keyDir === dirname(p.keyFile))!.dataDir : layout.spares.find((x) => x.nodeId === victim.nodeId)!.dataDir;
    rmSync(dataDir, { recursive: true, force: true });
    // Restored from nothing, it knows only the genesis set: its operator gives it the current
    // validators (id, address, key), as `loulan validator status` lists them.
    const configFile = victim.nodeId < 4 ? join(dirname(dataDir), 'config.json') : layout.spares.find((x) => x.nodeId === victim.nodeId)!.configFile;
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { p2p: { peers: unknown[] } };
    const base = layout.validators[0]!.p2pPort;
    config.p2p.peers = now.validators.filter((v) => v.nodeId !== victim.nodeId).map((v) => ({ index: v.nodeId, url: `ws://127.0.0.1:${base + 10 * v.nodeId}/p2p`, publicKey: v.publicKey }));
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    await progress(3n);
    await start(victim.nodeId);
    const top = BigInt((await members()).height);
    await until('the wiped validator caught up', 60_000, async () => (BigInt((await status(p.rpc))?.height ?? '0') >= top ? true : undefined));
    expect(await get(`${p.rpc}/v1/blocks/1`)).toBeUndefined(); // from a snapshot, not block by block
    expect((await status(p.rpc))!.position).toBeGreaterThanOrEqual(0);
    await progress(3n);
  }, 120_000);

  test('one chain everywhere; a client trusting only genesis verifies every header, an event and a state proof', async () => {
    await traffic.stop();
    const live = running();
    const top = (await Promise.all(live.map((p) => status(p.rpc)))).reduce((a, s) => (BigInt(s!.height) < a ? BigInt(s!.height) : a), BigInt(Number.MAX_SAFE_INTEGER));
    const roots = new Set<string>();
    for (const p of live) {
      const block = (await get<{ header: { stateRoot: string }; hash: string }>(`${p.rpc}/v1/blocks/${top}`))!;
      roots.add(`${block.hash}:${block.header.stateRoot}`);
    }
    expect(roots.size).toBe(1);
    // Every acknowledged transfer is committed everywhere, except below the snapshot a validator
    // restarted from (the wiped one, and the old leader, whose blocks were pruned meanwhile).
    for (const hash of acknowledged) {
      const statuses = await Promise.all(live.map((p) => get<{ status: string; height: string }>(`${p.rpc}/v1/tx/${hash}`)));
      const there = statuses.find((t) => t?.status === 'committed');
      if (there === undefined) {
        // Every live validator skipped its block by a snapshot (those that held it were removed).
        // It is not lost if its sender's committed nonce covers it: each nonce was signed once.
        const tx = decodeTx(sent.get(hash)!);
        const key = encodeURIComponent(`nonce/${senderAddress(tx.sender.alg, tx.sender.publicKey)}`);
        const nonce = (await get<{ value: string }>(`${live[0]!.rpc}/v1/state/${key}`))!;
        expect(BigInt(`0x${nonce.value}`) >= tx.nonce, `acknowledged ${hash} is in the committed state`).toBe(true);
        continue;
      }
      for (const [k, p] of live.entries()) {
        if (statuses[k]?.status === 'committed') continue;
        // Below its snapshot a node holds no block, or a header without its transactions.
        const block = await get<{ hash: string; txHashes: string[] }>(`${p.rpc}/v1/blocks/${there!.height}`);
        if (block === undefined || block.txHashes.length === 0) continue;
        expect(statuses[k]?.status, `${hash} on ${p.rpc}, which holds block ${there!.height} (${block.hash}, ${block.txHashes.length} txs)`).toBe('committed');
      }
    }

    const rpc = live[0]!.rpc;
    await archiveHeaders();
    const items: HeaderChainItem[] = [];
    {
      const headers = [...archive.values()].filter((h) => BigInt(h.height) <= top).sort((a, b) => (BigInt(a.height) < BigInt(b.height) ? -1 : 1));
      for (const h of headers) {
        const header = fromHex(h.headerBytes);
        const decoded = decodeHeader(header);
        const next = toHex(decoded.nextValidatorSetHash);
        const certificate = {
          height: BigInt(h.certificate.height),
          view: BigInt(h.certificate.view),
          digest: fromHex(h.certificate.blockHash),
          sigs: h.certificate.signatures.map((s) => ({ from: s.validator, sig: fromHex(s.signature) })),
        };
        items.push(next === toHex(decoded.validatorSetHash) ? { header, certificate } : { header, certificate, nextValidatorSet: sets.get(next)! });
      }
    }
    expect(items.length).toBe(Number(top));
    // No stall beyond the view-change bound: block times (the proposers' clocks) never jump by more.
    const times = items.map((i) => decodeHeader(i.header).time);
    let longest = 0n;
    let at = 0;
    times.forEach((t, i) => {
      if (i > 0 && t - times[i - 1]! > longest) [longest, at] = [t - times[i - 1]!, i + 1];
    });
    console.info(`longest gap between consecutive blocks: ${longest} ms, before height ${at}, over ${items.length} blocks`);
    // The bound: a crashed leader costs at most a few failed views, each timeout doubling from
    // progressTimeoutMs (1 s here) up to 16x: 1 + 2 + 4 + 8 + 16 s.
    expect(longest).toBeLessThan(31_000n);
    const handovers = items.filter((i) => i.nextValidatorSet !== undefined).length;
    expect(handovers).toBe(6);
    const checkpoint = verifyHeaderChain({ chainId: layout.genesis.chainId, publicKeys: layout.genesis.validators.map((v) => v.publicKey) }, items);
    expect(checkpoint.header.height).toBe(top);
    expect(checkpoint.set.publicKeys).toHaveLength(4);

    // An event and a state value, proven against certified headers.
    let proven = false;
    for (let h = top; h > 0n && !proven; h--) {
      const event = await get<{ encoded: string; index: number; proof: { path: string[]; header: HeaderJson } }>(`${rpc}/v1/events/${h}-0?proof=1`);
      if (event === undefined) continue;
      verifyEventProof(decodeHeader(fromHex(event.proof.header.headerBytes)), fromHex(event.encoded), event.index, event.proof.path.map((p) => fromHex(p)));
      proven = true;
    }
    expect(proven).toBe(true);
    const state = (await get<{ key: string; value: string | null; proof: Parameters<typeof proofFromJson>[0]; header: HeaderJson }>(`${rpc}/v1/state/registry%2Fvalidators?proof=1`))!;
    expect(state.value).not.toBeNull();
    verifyStateProof(decodeHeader(fromHex(state.header.headerBytes)), 'registry/validators', fromHex(state.value!), proofFromJson(state.proof));
    const absent = (await get<{ value: string | null; proof: Parameters<typeof proofFromJson>[0]; header: HeaderJson }>(`${rpc}/v1/state/no%2Fsuch%2Fkey?proof=1`))!;
    expect(absent.value).toBeNull();
    verifyStateProof(decodeHeader(fromHex(absent.header.headerBytes)), 'no/such/key', null, proofFromJson(absent.proof));
  }, 120_000);
});
