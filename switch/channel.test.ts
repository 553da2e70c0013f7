import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../core-chain/index.ts';
import { ReplayWindow, WINDOW } from './channel.ts';

/** The reference: every seq ever accepted, and the highest. */
function reference(seqs: readonly bigint[]): Array<'ok' | 'INTAKE_SEQ_REPLAY' | 'INTAKE_SEQ_TOO_OLD'> {
  const seen = new Set<bigint>();
  let highest = -1n;
  return seqs.map((s) => {
    if (s <= highest && highest - s >= BigInt(WINDOW)) return 'INTAKE_SEQ_TOO_OLD';
    if (seen.has(s)) return 'INTAKE_SEQ_REPLAY';
    seen.add(s);
    if (s > highest) highest = s;
    return 'ok';
  });
}

function run(window: ReplayWindow, seqs: readonly bigint[]): string[] {
  return seqs.map((s) => {
    try {
      window.use(s);
      return 'ok';
    } catch (error) {
      return (error as LoulanError).code;
    }
  });
}

describe('ReplayWindow', () => {
  it('accepts each seq once, in any order within the window, against a brute-force reference', () => {
    const seq = fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.bigInt({ min: 0n, max: 20_000n }));
    fc.assert(
      fc.property(fc.array(seq, { maxLength: 300 }), (seqs) => {
        expect(run(new ReplayWindow(), seqs)).toEqual(reference(seqs));
      }),
      { numRuns: 300 },
    );
  });

  it('survives a round trip through its stored form at every step', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 9_000n }), { maxLength: 120 }), (seqs) => {
        const out: string[] = [];
        let json = new ReplayWindow().toJSON();
        for (const s of seqs) {
          const w = new ReplayWindow(json);
          out.push(...run(w, [s]));
          json = w.toJSON();
        }
        expect(out).toEqual(reference(seqs));
      }),
      { numRuns: 100 },
    );
  });

  it('names the field and the window edge when refusing', () => {
    const w = new ReplayWindow();
    w.use(10_000n);
    expect(() => w.use(10_000n)).toThrowError(expect.objectContaining({ code: 'INTAKE_SEQ_REPLAY', details: expect.objectContaining({ pointer: '/seq', seq: '10000' }) }));
    expect(() => w.check(10_000n - BigInt(WINDOW))).toThrowError(
      expect.objectContaining({ code: 'INTAKE_SEQ_TOO_OLD', details: expect.objectContaining({ highest: '10000', window: WINDOW }) }),
    );
    w.use(10_000n - BigInt(WINDOW) + 1n); // the oldest number still inside
    expect(w.highest).toBe(10_000n);
  });

  it('handles seq up to the uint64 maximum', () => {
    const w = new ReplayWindow();
    const max = 18446744073709551615n;
    w.use(max);
    w.use(max - 1n);
    expect(() => w.use(max)).toThrowError(expect.objectContaining({ code: 'INTAKE_SEQ_REPLAY' }));
    expect(new ReplayWindow(w.toJSON()).highest).toBe(max);
  });
});

describe('stored form', () => {
  it('is a few dozen bytes for a sender that uses its numbers in order', () => {
    const w = new ReplayWindow();
    for (let s = 1n; s <= 10_000n; s++) w.use(s);
    expect(JSON.stringify(w.toJSON()).length).toBeLessThan(60);
    const back = new ReplayWindow(w.toJSON());
    expect(() => back.use(9_999n)).toThrowError(expect.objectContaining({ code: 'INTAKE_SEQ_REPLAY' }));
    back.use(10_001n);
  });
});
