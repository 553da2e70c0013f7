import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chunkSnapshot, SnapshotAssembler, type SnapshotHead, type SnapshotLimits } from './snapshot.ts';
import { LoulanError } from '../errors.ts';
import { sha256 } from '../crypto/hash.ts';

const te = new TextEncoder();
const hash = sha256(te.encode('block 9'));
const head: SnapshotHead = {
  height: 9n,
  hash,
  header: te.encode('header 9'),
  cert: { height: 9n, view: 2n, digest: hash, sigs: [{ from: 0, sig: new Uint8Array(65).fill(1) }] },
};

function entries(n: number, valueBytes = 20): Array<readonly [string, Uint8Array]> {
  return Array.from({ length: n }, (_, i) => [`k/${String(i).padStart(5, '0')}`, new Uint8Array(valueBytes).fill(i % 256)] as const);
}

async function chunksOf(list: ReadonlyArray<readonly [string, Uint8Array]>, maxBytes: number, h: SnapshotHead = head): Promise<Uint8Array[]> {
  async function* source() {
    yield* list;
  }
  const out: Uint8Array[] = [];
  for await (const chunk of chunkSnapshot(h, source(), maxBytes)) out.push(chunk);
  return out;
}

function assemble(chunks: readonly Uint8Array[], limits: SnapshotLimits = { maxTotalBytes: 1 << 24 }): SnapshotAssembler {
  const asm = new SnapshotAssembler(limits);
  for (const chunk of chunks) asm.accept(chunk);
  return asm;
}

function errorOf(fn: () => unknown): LoulanError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError, nothing was thrown');
}

describe('snapshot chunks', () => {
  it('round-trips any sorted state at any chunk size, every chunk within the bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ maxLength: 12, unit: 'binary' }), { maxLength: 60 }),
        fc.integer({ min: 200, max: 2000 }),
        async (keys, maxBytes) => {
          const sorted = keys.map((k) => [k, te.encode(k)] as const).sort((a, b) => Buffer.compare(Buffer.from(a[1]), Buffer.from(b[1])));
          const list = sorted.map(([k]) => [k, te.encode(`v:${k}`)] as const);
          const chunks = await chunksOf(list, maxBytes);
          for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(maxBytes);
          const asm = assemble(chunks, { maxTotalBytes: 1 << 20, maxChunkBytes: maxBytes, height: 9n });
          expect(asm.complete).toBe(true);
          expect(asm.result()).toEqual({ ...head, entries: list });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('an empty state is a head and an end', async () => {
    const chunks = await chunksOf([], 1024);
    expect(chunks).toHaveLength(2);
    expect(assemble(chunks).result().entries).toEqual([]);
  });

  it('refuses a chunk size that cannot hold the head or an entry', async () => {
    await expect(chunksOf(entries(1, 500), 300)).rejects.toMatchObject({ code: 'CODEC_LENGTH' });
    await expect(chunksOf([], 100)).rejects.toMatchObject({ code: 'CODEC_LENGTH' });
    await expect(chunksOf([], 10)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('SnapshotAssembler refuses', () => {
  const reason = (chunks: readonly Uint8Array[], limits?: SnapshotLimits): unknown => {
    const error = errorOf(() => assemble(chunks, limits));
    expect(error.code).toBe('SNAPSHOT_INVALID');
    return error.details.reason;
  };

  it('chunks out of order, missing, repeated, or after the end', async () => {
    const chunks = await chunksOf(entries(50), 256);
    expect(chunks.length).toBeGreaterThan(4);
    const [a, b, c, ...rest] = chunks as [Uint8Array, Uint8Array, Uint8Array, ...Uint8Array[]];
    expect(reason([a, c, b, ...rest])).toBe('order');
    expect(reason([a, b, ...rest])).toBe('order');
    expect(reason([a, b, b])).toBe('order');
    expect(reason([b])).toBe('order');
    expect(reason([...chunks, chunks.at(-1) as Uint8Array])).toBe('order');
  });

  it('a stream for another height, or whose certificate is for another block', async () => {
    expect(reason(await chunksOf([], 1024), { maxTotalBytes: 1 << 20, height: 8n })).toBe('height');
    const other = { ...head, cert: { ...head.cert, digest: sha256(te.encode('other')) } };
    expect(reason(await chunksOf([], 1024, other))).toBe('certificate');
  });

  it('a tampered value (caught by the end digest) and a dropped entry (caught by the count)', async () => {
    const chunks = await chunksOf(entries(10), 4096);
    expect(chunks).toHaveLength(3);
    const tampered = chunks.map((c) => c.slice());
    const middle = tampered[1] as Uint8Array;
    middle[middle.length - 1] = (middle[middle.length - 1] as number) ^ 1;
    expect(reason(tampered)).toBe('digest');
    // the same stream with one fewer entry: splice a shorter entries chunk in
    const shorter = await chunksOf(entries(9), 4096);
    expect(reason([chunks[0] as Uint8Array, shorter[1] as Uint8Array, chunks[2] as Uint8Array])).toBe('count');
  });

  it('keys that do not strictly increase', async () => {
    const list = entries(3);
    expect(reason(await chunksOf([list[0]!, list[2]!, list[1]!], 4096))).toBe('key-order');
    expect(reason(await chunksOf([list[0]!, list[0]!], 4096))).toBe('key-order');
  });

  it('truncated or extended chunks, unknown versions and kinds', async () => {
    const chunks = await chunksOf(entries(5), 4096);
    const [a, b, c] = chunks as [Uint8Array, Uint8Array, Uint8Array];
    expect(reason([a, b.subarray(0, b.length - 1), c])).toBe('codec');
    expect(reason([a, Buffer.concat([b, Uint8Array.of(0)]), c])).toBe('codec');
    const v2 = b.slice();
    v2[0] = 2;
    expect(reason([a, v2])).toBe('version');
    const k9 = b.slice();
    k9[1] = 9;
    expect(reason([a, k9])).toBe('kind');
    const forgedCount = b.slice();
    new DataView(forgedCount.buffer).setUint32(6, 0xffff_ffff);
    expect(reason([a, forgedCount])).toBe('count');
  });

  it('streams over the size limits', async () => {
    const chunks = await chunksOf(entries(50), 512);
    expect(errorOf(() => assemble(chunks, { maxTotalBytes: 1000 })).code).toBe('SNAPSHOT_TOO_LARGE');
    expect(errorOf(() => assemble(chunks, { maxTotalBytes: 1 << 20, maxChunkBytes: 256 })).code).toBe('SNAPSHOT_TOO_LARGE');
  });

  it('stays failed after an error, and has no result before the end', async () => {
    const chunks = await chunksOf(entries(5), 4096);
    const asm = new SnapshotAssembler({ maxTotalBytes: 1 << 20 });
    asm.accept(chunks[0] as Uint8Array);
    expect(errorOf(() => asm.result()).details.reason).toBe('incomplete');
    const bad = errorOf(() => asm.accept(chunks[2] as Uint8Array));
    expect(errorOf(() => asm.accept(chunks[1] as Uint8Array))).toBe(bad);
  });
});
