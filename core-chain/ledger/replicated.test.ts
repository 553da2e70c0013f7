/**
 * The ledger under the real PBFT core: four `Replica`s with a `Ledger` each, messages delivered in
 * order in-process, HMAC stand-ins for validator signatures (the consensus tests cover real ones).
 * Checks the wiring the node shell will do: commit effect → `ledger.commit`, then `pending` input.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Replica } from '../consensus/replica.ts';
import type { ConsensusMessage, Effect } from '../consensus/types.ts';
import { toHex } from '../crypto/hash.ts';
import { assetBalance } from './contracts/asset.ts';
import type { CommitBatch } from './ledger.ts';
import { makeAccount, makeChain, makeNode, transfer, type Node } from './testkit.ts';

const N = 4;
const secret = (i: number): string => `validator-${i}`;
const mac = (i: number, m: Uint8Array): Uint8Array => createHmac('sha256', secret(i)).update(m).digest();

describe('ledger replicated by the PBFT core', () => {
  it('four validators commit every submitted transaction with identical state', () => {
    const chain = makeChain({ accounts: 6, balance: 1_000n });
    const { genesis } = chain;
    const binding = { chainId: genesis.chainId, validatorSetHash: genesis.validatorSetHash };
    const nodes: Node[] = [];
    const replicas: Replica[] = [];
    const batches: CommitBatch[][] = [];
    for (let i = 0; i < N; i++) {
      const node = makeNode(genesis, { self: i });
      nodes.push(node);
      batches.push([]);
      replicas.push(
        new Replica(
          { n: N, self: i, chain: binding, progressTimeoutMs: 1_000, statusIntervalMs: 500 },
          node.ledger,
          { sign: (m) => mac(i, m), verify: (from, m, sig) => toHex(mac(from, m)) === toHex(sig) },
          { committedHeight: 0n, lastCert: null, safety: null },
        ),
      );
    }

    let now = Number(genesis.time) + 1_000;
    const queue: [number, ConsensusMessage][] = [];
    const run = (i: number, effects: Effect[]): void => {
      for (const e of effects) {
        if (e.kind === 'broadcast') for (let j = 0; j < N; j++) if (j !== i) queue.push([j, e.msg]);
        if (e.kind === 'send') queue.push([e.to, e.msg]);
        if (e.kind === 'commit') {
          batches[i]!.push(nodes[i]!.ledger.commit(e.payload, e.cert));
          run(i, replicas[i]!.step({ kind: 'pending', count: nodes[i]!.mempool.executableCount() }, now));
        }
      }
    };
    for (let i = 0; i < N; i++) run(i, replicas[i]!.step({ kind: 'start' }, now));

    const sink = makeAccount('Ed25519');
    const txs = chain.accounts.flatMap((a) => [1n, 2n, 3n].map((n) => transfer(genesis.chainId, a, n, sink.address, n)));
    for (let i = 0; i < N; i++) {
      for (const t of txs) nodes[i]!.mempool.add(t);
      run(i, replicas[i]!.step({ kind: 'pending', count: nodes[i]!.mempool.executableCount() }, now));
    }
    for (let steps = 0; queue.length > 0 && steps < 100_000; steps++) {
      const [to, msg] = queue.shift()!;
      now += 1;
      run(to, replicas[to]!.step({ kind: 'message', msg }, now));
    }

    const committed = batches.map((list) => list.flatMap((b) => b.txHashes.map((h) => toHex(h))));
    expect(committed[0]!.length).toBe(txs.length);
    for (const list of committed) expect(list).toEqual(committed[0]);
    const roots = nodes.map((n) => toHex(n.ledger.tip().stateRoot));
    expect(new Set(roots).size).toBe(1);
    expect(assetBalance(nodes[0]!.ledger.state, sink.address)).toBe(6n * (1n + 2n + 3n));
    for (const n of nodes) expect(n.mempool.size).toBe(0);
    expect(batches[0]!.every((b) => b.receipts.every((r) => r.status === 'ok'))).toBe(true);
  });
});
