/**
 * The consensus core under simulated networks and clocks. SIM_SEEDS=N runs N random schedules
 * (default 1,000); a failure names its seed, and `runRandomSchedule(seed)` replays it exactly.
 */
import { describe, expect, test } from 'vitest';
import { faultBound, quorum } from '../../core-chain/consensus/quorum.ts';
import { runRandomSchedule, runSimulation, type Simulation } from './harness.ts';

const SEEDS = Number(process.env.SIM_SEEDS ?? 1000);

describe('quorums', () => {
  test('q = ceil((n+f+1)/2) with f = floor((n-1)/3); any two quorums share f+1 validators', () => {
    const expected: Record<number, [number, number]> = { 1: [0, 1], 2: [0, 2], 3: [0, 2], 4: [1, 3], 5: [1, 4], 6: [1, 4], 7: [2, 5], 10: [3, 7], 13: [4, 9] };
    for (const [n, [f, q]] of Object.entries(expected)) {
      expect([faultBound(Number(n)), quorum(Number(n))]).toEqual([f, q]);
    }
    for (let n = 1; n <= 64; n++) {
      const f = faultBound(n);
      expect(2 * quorum(n) - n).toBeGreaterThanOrEqual(f + 1); // intersection holds an honest one
      expect(n - f).toBeGreaterThanOrEqual(quorum(n)); // the honest ones alone are a quorum
    }
  });
});

describe(`random fault schedules (${SEEDS} seeds)`, () => {
  test('no fork, every committed block certified, and every request committed after the network heals', () => {
    const unsafe: string[] = [];
    const stuck: string[] = [];
    let commits = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = runRandomSchedule(seed);
      unsafe.push(...result.violations);
      if (!result.live) stuck.push(`seed ${seed}: ${result.committedRequests}/${result.totalRequests} requests, heights ${result.heights.join(',')}`);
      commits += result.heights.reduce((a, b) => a + b, 0);
    }
    expect(unsafe).toEqual([]);
    expect(stuck).toEqual([]);
    expect(commits).toBeGreaterThan(SEEDS); // the schedules do commit blocks: the checker had work
  });
});

describe('scenarios', () => {
  test('all validators crash at once, mid-step, and restart: no fork, progress resumes', () => {
    const result = runSimulation({
      seed: 7,
      n: 4,
      requests: 10,
      faultUntilMs: 6_000,
      script: (sim) => {
        for (let i = 0; i < 10; i++) sim.submit(`r${i}`, i * 400);
        for (const node of sim.nodes) {
          sim.queue.push(1_500, { kind: 'crash', node: node.index, midStep: node.index % 2 === 0 });
          sim.queue.push(2_500, { kind: 'restart', node: node.index });
        }
        sim.queue.push(1_000, { kind: 'resubmit' });
      },
    });
    expect(result.violations).toEqual([]);
    expect(result.live).toBe(true);
  });

  test('a leader isolated from the others is replaced by a view change and the rest go on', () => {
    let sim: Simulation | undefined;
    const result = runSimulation({
      seed: 11,
      n: 4,
      faultUntilMs: 8_000,
      script: (s) => {
        sim = s;
        for (let i = 0; i < 6; i++) s.submit(`r${i}`, 100 + i * 300);
        s.partition([[0], [1, 2, 3]], 50); // validator 0 leads view 0
        s.queue.push(1_000, { kind: 'resubmit' });
      },
    });
    expect(result.violations).toEqual([]);
    expect(result.live).toBe(true);
    expect(sim!.nodes.every((node) => node.replica.view > 0n)).toBe(true);
  });

  test('an equivocating leader cannot split the honest validators', () => {
    const result = runSimulation({
      seed: 3,
      n: 4,
      byzantine: new Map([[0, ['equivocate', 'double-vote'] as const]]),
      faultUntilMs: 4_000,
      script: (s) => {
        for (let i = 0; i < 8; i++) s.submit(`r${i}`, i * 200);
        s.queue.push(1_000, { kind: 'resubmit' });
      },
    });
    expect(result.violations).toEqual([]);
    expect(result.live).toBe(true);
  });

  test('negative control: two twinned validators in n=4 (f+1 Byzantine) make the checker report a fork', () => {
    // Twins (Bano et al.): validators 0 and 1 each run as two honest instances with one key. Split the
    // network so each side holds both twins' identities plus one honest validator, and give each side
    // different requests. Each side forms a quorum of 3 and commits its own block at height 1.
    const result = runSimulation({
      seed: 1,
      n: 4,
      twins: [0, 1],
      faultUntilMs: 3_000,
      livenessBoundMs: 1_000,
      script: (s) => {
        const byIdentity = (id: number, nth: number) => s.nodes.filter((node) => node.identity === id)[nth]!.index;
        const left = [byIdentity(0, 0), byIdentity(1, 0), byIdentity(2, 0)];
        const right = [byIdentity(0, 1), byIdentity(1, 1), byIdentity(3, 0)];
        s.partition([left, right], 0);
        s.submit('left', 10, left);
        s.submit('right', 10, right);
      },
    });
    expect(result.violations.some((v) => v.includes('FORK'))).toBe(true);
  });
});
