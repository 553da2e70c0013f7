/**
 * A small fabric-contract-api contract for the emulator's own tests: plain key/value writes with an
 * event, a read-modify-write counter (the MVCC case), a range listing (phantom reads), a failing
 * call, and a call that reports what the stub saw (creator, time, args).
 */
import { Contract, type Context } from 'fabric-contract-api';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

export class AssetContract extends Contract {
  constructor() {
    super('assets');
  }

  async put(ctx: Context, key: string, value: string): Promise<string> {
    await ctx.stub.putState(key, utf8(value));
    ctx.stub.setEvent('put', utf8(JSON.stringify({ key, value })));
    return value;
  }

  async get(ctx: Context, key: string): Promise<string> {
    const value = await ctx.stub.getState(key);
    if (value.length === 0) throw new Error(`no asset ${key}`);
    return text(value);
  }

  async increment(ctx: Context, key: string): Promise<number> {
    const current = Number(text(await ctx.stub.getState(key)) || '0');
    await ctx.stub.putState(key, utf8(String(current + 1)));
    ctx.stub.setEvent('incremented', utf8(String(current + 1)));
    return current + 1;
  }

  async remove(ctx: Context, key: string): Promise<void> {
    await ctx.stub.deleteState(key);
  }

  async list(ctx: Context): Promise<string[]> {
    const keys: string[] = [];
    for await (const kv of ctx.stub.getStateByRange('', '')) keys.push(kv.key);
    return keys;
  }

  /** Reads after its own write: a real peer returns the committed value, not the pending one. */
  async putThenGet(ctx: Context, key: string, value: string): Promise<string> {
    await ctx.stub.putState(key, utf8(value));
    return text(await ctx.stub.getState(key));
  }

  /** Range-scans every plain key and records how many it saw (a phantom-read candidate). */
  async snapshot(ctx: Context): Promise<number> {
    const keys = await this.list(ctx);
    await ctx.stub.putState('~snapshot', utf8(String(keys.length)));
    return keys.length;
  }

  async tag(ctx: Context, owner: string, id: string): Promise<void> {
    await ctx.stub.putState(ctx.stub.createCompositeKey('tag', [owner, id]), utf8(id));
  }

  async tags(ctx: Context, owner: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey('tag', [owner])) ids.push(text(kv.value));
    return ids;
  }

  /** A message inbox as the fabric adapter delivers to it: (envelope JSON, digest), each (source, id) once. */
  async receive(ctx: Context, envelopeJson: string, digest: string): Promise<string> {
    const envelope = JSON.parse(envelopeJson) as { id: string; source: string; data: { refuse?: boolean } };
    if (envelope.data.refuse === true) throw new Error(`refused ${envelope.id}`);
    const key = ctx.stub.createCompositeKey('inbox', [envelope.source, envelope.id]);
    const seen = await ctx.stub.getState(key);
    if (seen.length > 0) return 'duplicate';
    await ctx.stub.putState(key, utf8(digest));
    ctx.stub.setEvent('received', utf8(JSON.stringify({ id: envelope.id, digest })));
    return 'stored';
  }

  /** Non-deterministic on purpose: two endorsers never agree on it. */
  async lottery(ctx: Context): Promise<void> {
    await ctx.stub.putState('lottery', utf8(String(Math.random())));
  }

  async fail(_ctx: Context, message: string): Promise<void> {
    throw new Error(message);
  }

  async whoami(ctx: Context): Promise<{ mspId: string; id: string; txId: string; channel: string; time: string; args: string[] }> {
    return {
      mspId: ctx.clientIdentity.getMSPID(),
      id: ctx.clientIdentity.getID(),
      txId: ctx.stub.getTxID(),
      channel: ctx.stub.getChannelID(),
      time: ctx.stub.getDateTimestamp().toISOString(),
      args: ctx.stub.getStringArgs(),
    };
  }

  _helper(): string {
    return 'not a transaction';
  }
}
