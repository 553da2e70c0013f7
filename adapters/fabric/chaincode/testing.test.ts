import { Contract, type Context } from 'fabric-contract-api';
import { describe, expect, it } from 'vitest';
import { ChaincodeHarness, MemoryIdentity, MemoryStub, MemoryWorldState } from './testing.ts';

// The stub's Fabric semantics, pinned: the chaincode's correctness (no self-transfer, one read per key,
// index values of one byte) depends on them.

const te = new TextEncoder();
const td = new TextDecoder();
const me = new MemoryIdentity('Org1MSP', 'tester');

function stub(world: MemoryWorldState): MemoryStub {
  return new MemoryStub(world, { txId: 't', identity: me, fcn: 'f', params: [] });
}

async function seeded(entries: Record<string, string>): Promise<MemoryWorldState> {
  const world = new MemoryWorldState();
  const s = stub(world);
  for (const [k, v] of Object.entries(entries)) await s.putState(k, te.encode(v));
  expect(world.commit([s])[0]?.status).toBe('VALID');
  return world;
}

async function keys(query: AsyncIterable<{ key: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const kv of query) out.push(kv.key);
  return out;
}

describe('MemoryStub', () => {
  it('reads committed state only: a transaction never sees its own writes', async () => {
    const world = await seeded({ k: 'old' });
    const s = stub(world);
    await s.putState('k', te.encode('new'));
    await s.putState('fresh', te.encode('x'));
    expect(td.decode(await s.getState('k'))).toBe('old');
    expect((await s.getState('fresh')).length).toBe(0);
    await s.deleteState('k');
    expect(td.decode(await s.getState('k'))).toBe('old');
    world.commit([s]);
    expect(world.get('k')).toBeUndefined();
    expect(td.decode(world.get('fresh')?.value ?? new Uint8Array())).toBe('x');
  });

  it('treats an empty value as a delete', async () => {
    const world = await seeded({ k: 'v' });
    const s = stub(world);
    await s.putState('k', new Uint8Array(0));
    world.commit([s]);
    expect(world.get('k')).toBeUndefined();
  });

  it('range queries: simple keys only, in UTF-8 byte order; partial composite keys by prefix', async () => {
    const s0 = stub(new MemoryWorldState());
    const ck = (...a: string[]) => s0.createCompositeKey('t', a);
    const world = await seeded({ b: '', a: '1', 'é': '1', Z: '1', '\u{1f600}': '1', '\uffff': '1', [ck('x', '1')]: '1', [ck('x', '2')]: '1', [ck('y', '1')]: '1', [ck('xx', '1')]: '1' });
    const s = stub(world);
    // 'b' was written empty, so it does not exist; U+FFFF sorts before U+1F600 in UTF-8 (not in UTF-16).
    expect(await keys(s.getStateByRange('', ''))).toEqual(['Z', 'a', 'é', '\uffff', '\u{1f600}']);
    expect(await keys(s.getStateByRange('a', 'é'))).toEqual(['a']);
    expect((await keys(s.getStateByPartialCompositeKey('t', ['x']))).map((k) => s.splitCompositeKey(k).attributes)).toEqual([
      ['x', '1'],
      ['x', '2'],
    ]);
    await expect(keys(s.getStateByRange(ck('x'), ''))).rejects.toThrow(/simple keys/);
    expect(() => s.createCompositeKey('t', ['a\u0000b'])).toThrow();
    expect(() => s.getTxTimestamp()).toThrow(/certified headers/);
  });

  it('MVCC: a transaction whose reads changed since simulation is invalid at commit', async () => {
    const world = await seeded({ k: '1' });
    const reader = stub(world);
    const writer = stub(world);
    await reader.getState('k');
    await reader.putState('other', te.encode('x'));
    await writer.getState('k');
    await writer.putState('k', te.encode('2'));
    expect(world.commit([writer, reader]).map((v) => v.status)).toEqual(['VALID', 'MVCC_READ_CONFLICT']);
    expect(world.get('other')).toBeUndefined();
  });

  it('phantom reads: a range whose result changed is invalid at commit', async () => {
    const world = await seeded({ a: '1' });
    const scanner = stub(world);
    await keys(scanner.getStateByRange('', ''));
    await scanner.putState('z', te.encode('x'));
    const inserter = stub(world);
    await inserter.putState('b', te.encode('1'));
    expect(world.commit([inserter, scanner]).map((v) => v.status)).toEqual(['VALID', 'PHANTOM_READ_CONFLICT']);
  });
});

class Base extends Contract {
  constructor() {
    super('base');
  }
  async inherited(_ctx: Context): Promise<string> {
    return 'inherited';
  }
}

class Child extends Base {
  async own(ctx: Context, a: string): Promise<string> {
    return `${ctx.clientIdentity.getMSPID()}:${a}`;
  }
  async _helper(): Promise<string> {
    return 'helper';
  }
}

describe('ChaincodeHarness dispatch (fabric-shim rules without decorators)', () => {
  it('calls own methods with exactly their declared arguments, nothing else', async () => {
    const h = new ChaincodeHarness([Child]);
    expect(await h.evaluate(me, 'base:own', 'x')).toBe('Org1MSP:x');
    expect(await h.evaluate(me, 'own', 'y')).toBe('Org1MSP:y');
    await expect(h.evaluate(me, 'base:own')).rejects.toThrow(/Expected 1 parameters/);
    await expect(h.evaluate(me, 'base:inherited')).rejects.toThrow(/does not exist/);
    await expect(h.evaluate(me, 'base:_helper')).rejects.toThrow(/does not exist/);
    await expect(h.evaluate(me, 'other:own', 'x')).rejects.toThrow(/not known/);
  });
});
