import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LoulanError } from '../errors.ts';
import {
  decodeCertificate,
  decodeMessage,
  decodeSafety,
  encodeCertificate,
  encodeMessage,
  encodeSafety,
  MAX_SIGNATURE_BYTES,
  MAX_SIGNATURES,
  MAX_VALIDATORS,
  MAX_VIEW_CHANGES,
  WIRE_TAGS,
} from './wire.ts';
import type {
  Certificate,
  ConsensusMessage,
  NewView,
  PreparedCert,
  Propose,
  SafetyState,
  SignedMark,
  SignerSig,
  Status,
  ViewChange,
  Vote,
} from './types.ts';

function errorOf(fn: () => unknown): LoulanError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  throw new Error('expected a LoulanError, nothing was thrown');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);

// -- arbitraries ------------------------------------------------------------------------------------

const u64 = fc.oneof(fc.constantFrom(0n, 1n, (1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const payload = fc.uint8Array({ maxLength: 48 });
const from = fc.integer({ min: 0, max: MAX_VALIDATORS - 1 });
const sig = fc.uint8Array({ maxLength: MAX_SIGNATURE_BYTES });
const signerSig: fc.Arbitrary<SignerSig> = fc.record({ from, sig });
const sigs = fc.array(signerSig, { maxLength: 4 });

const certificate: fc.Arbitrary<Certificate> = fc.record({ height: u64, view: u64, digest, sigs });
const prepared: fc.Arbitrary<PreparedCert> = fc.record({ view: u64, height: u64, digest, payload, prepares: sigs });
const mark: fc.Arbitrary<SignedMark> = fc.record({ height: u64, view: u64, digest });

const propose: fc.Arbitrary<Propose> = fc.record({
  kind: fc.constant('propose' as const),
  view: u64,
  height: u64,
  digest,
  payload,
  from,
  sig,
});
const vote: fc.Arbitrary<Vote> = fc.record({
  kind: fc.constantFrom('prepare' as const, 'commit' as const),
  view: u64,
  height: u64,
  digest,
  from,
  sig,
});
const viewChange: fc.Arbitrary<ViewChange> = fc.record({
  kind: fc.constant('view-change' as const),
  view: u64,
  height: u64,
  lastCert: fc.option(certificate, { nil: null }),
  prepared: fc.option(prepared, { nil: null }),
  from,
  sig,
});
const newView: fc.Arbitrary<NewView> = fc.record({
  kind: fc.constant('new-view' as const),
  view: u64,
  viewChanges: fc.array(viewChange, { maxLength: 3 }),
  proposal: fc.option(propose, { nil: null }),
  from,
  sig,
});
const statusArb: fc.Arbitrary<Status> = fc.record({ kind: fc.constant('status' as const), view: u64, height: u64, from, sig });
const message: fc.Arbitrary<ConsensusMessage> = fc.oneof(propose, vote, viewChange, newView, statusArb);
const safety: fc.Arbitrary<SafetyState> = fc.record({
  view: u64,
  changing: fc.boolean(),
  lastProposal: fc.option(mark, { nil: null }),
  lastPrepare: fc.option(mark, { nil: null }),
  lastCommit: fc.option(mark, { nil: null }),
  prepared: fc.option(prepared, { nil: null }),
  signFloor: u64,
});

/** Every structure the module encodes, as (encode, decode) pairs over the same arbitrary. */
const kinds = [
  { name: 'message', arb: message as fc.Arbitrary<unknown>, enc: (v: unknown) => encodeMessage(v as ConsensusMessage), dec: (b: Uint8Array) => decodeMessage(b) },
  { name: 'certificate', arb: certificate as fc.Arbitrary<unknown>, enc: (v: unknown) => encodeCertificate(v as Certificate), dec: decodeCertificate },
  { name: 'safety', arb: safety as fc.Arbitrary<unknown>, enc: (v: unknown) => encodeSafety(v as SafetyState), dec: (b: Uint8Array) => decodeSafety(b) },
];

// -- fixed vectors ----------------------------------------------------------------------------------

const D = fill(32, 0xdd);

describe('layout vectors', () => {
  it('status: version, tag, view, height, from u16, sig behind a u32 length', () => {
    const bytes = encodeMessage({ kind: 'status', view: 2n, height: 7n, from: 3, sig: Uint8Array.of(0xaa, 0xbb) });
    expect(hex(bytes)).toBe('01' + '06' + '0000000000000002' + '0000000000000007' + '0003' + '00000002aabb');
  });

  it('commit vote and certificate', () => {
    const vote = encodeMessage({ kind: 'commit', view: 1n, height: 5n, digest: D, from: 1023, sig: Uint8Array.of(1) });
    expect(hex(vote)).toBe('0103' + '0000000000000001' + '0000000000000005' + 'dd'.repeat(32) + '03ff' + '0000000101');
    const cert = encodeCertificate({ height: 5n, view: 1n, digest: D, sigs: [{ from: 0, sig: Uint8Array.of(9) }, { from: 2, sig: new Uint8Array(0) }] });
    expect(hex(cert)).toBe('0110' + '0000000000000005' + '0000000000000001' + 'dd'.repeat(32) + '00000002' + '0000' + '0000000109' + '0002' + '00000000');
  });

  it('optional fields are a 0/1 byte, nested structures carry no version or tag', () => {
    const vc: ViewChange = { kind: 'view-change', view: 3n, height: 1n, lastCert: null, prepared: null, from: 1, sig: new Uint8Array(0) };
    expect(hex(encodeMessage(vc))).toBe('0104' + '0000000000000003' + '0000000000000001' + '00' + '00' + '0001' + '00000000');
    const nv: NewView = { kind: 'new-view', view: 3n, viewChanges: [vc], proposal: null, from: 3, sig: new Uint8Array(0) };
    expect(hex(encodeMessage(nv))).toBe(
      '0105' + '0000000000000003' + '00000001' + ('0000000000000003' + '0000000000000001' + '00' + '00' + '0001' + '00000000') + '00' + '0003' + '00000000',
    );
  });

  it('safety record of a validator that never signed', () => {
    const bytes = encodeSafety({ view: 0n, changing: false, lastProposal: null, lastPrepare: null, lastCommit: null, prepared: null, signFloor: 0n });
    expect(hex(bytes)).toBe('0111' + '0000000000000000' + '00' + '00' + '00' + '00' + '00' + '0000000000000000');
  });
});

// -- properties -------------------------------------------------------------------------------------

describe.each(kinds)('$name', ({ arb, enc, dec }) => {
  it('round-trips exactly, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(arb, (value) => {
        const bytes = enc(value);
        const back = dec(bytes);
        expect(back).toEqual(value);
        expect(hex(enc(back))).toBe(hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('fails with CODEC_TRUNCATED at every truncation', () => {
    fc.assert(
      fc.property(arb, (value) => {
        const bytes = enc(value);
        for (let cut = 0; cut < bytes.length; cut++) {
          expect(errorOf(() => dec(bytes.subarray(0, cut))).code).toBe('CODEC_TRUNCATED');
        }
      }),
      { numRuns: 60 },
    );
  });

  it('fails with CODEC_TRAILING_BYTES when bytes are appended', () => {
    fc.assert(
      fc.property(arb, fc.uint8Array({ minLength: 1, maxLength: 16 }), (value, extra) => {
        const bytes = enc(value);
        expect(errorOf(() => dec(Buffer.concat([bytes, extra]))).code).toBe('CODEC_TRAILING_BYTES');
      }),
      { numRuns: 100 },
    );
  });

  it('fails with CODEC_TAG on an unknown version byte', () => {
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), (value, version) => {
        const bytes = enc(value).slice();
        bytes[0] = version;
        expect(errorOf(() => dec(bytes)).code).toBe('CODEC_TAG');
      }),
      { numRuns: 50 },
    );
  });
});

describe('tags', () => {
  it('rejects every tag that is not a message kind', () => {
    const body = encodeMessage({ kind: 'status', view: 0n, height: 0n, from: 0, sig: new Uint8Array(0) });
    const known = new Set<number>([1, 2, 3, 4, 5, 6]);
    for (let tag = 0; tag < 256; tag++) {
      if (known.has(tag)) continue;
      const bytes = body.slice();
      bytes[1] = tag;
      expect(errorOf(() => decodeMessage(bytes)).code).toBe('CODEC_TAG');
    }
  });

  it('a certificate is not a message and a message is not a certificate or a safety record', () => {
    const cert = encodeCertificate({ height: 1n, view: 0n, digest: D, sigs: [] });
    expect(errorOf(() => decodeMessage(cert)).code).toBe('CODEC_TAG');
    expect(errorOf(() => decodeSafety(cert)).code).toBe('CODEC_TAG');
    const status = encodeMessage({ kind: 'status', view: 0n, height: 0n, from: 0, sig: new Uint8Array(0) });
    expect(errorOf(() => decodeCertificate(status)).code).toBe('CODEC_TAG');
    expect(WIRE_TAGS.certificate).not.toBe(WIRE_TAGS.safety);
  });

  it('a presence byte other than 0 or 1 is CODEC_RANGE', () => {
    const vc: ViewChange = { kind: 'view-change', view: 3n, height: 1n, lastCert: null, prepared: null, from: 1, sig: new Uint8Array(0) };
    const bytes = encodeMessage(vc).slice();
    bytes[2 + 16] = 2; // lastCert presence
    expect(errorOf(() => decodeMessage(bytes)).code).toBe('CODEC_RANGE');
  });
});

describe('bounds', () => {
  const status = (over: Partial<Status>): Status => ({ kind: 'status', view: 0n, height: 0n, from: 0, sig: new Uint8Array(0), ...over });
  const cert = (n: number): Certificate => ({ height: 1n, view: 0n, digest: D, sigs: Array.from({ length: n }, (_, i) => ({ from: i % MAX_VALIDATORS, sig: fill(65, 1) })) });

  it('validator index: 1023 passes, 1024 is CODEC_RANGE on both sides', () => {
    expect(decodeMessage(encodeMessage(status({ from: 1023 })))).toEqual(status({ from: 1023 }));
    expect(errorOf(() => encodeMessage(status({ from: 1024 }))).code).toBe('CODEC_RANGE');
    expect(errorOf(() => encodeMessage(status({ from: -1 }))).code).toBe('CODEC_RANGE');
    expect(errorOf(() => encodeMessage(status({ from: 1.5 }))).code).toBe('CODEC_RANGE');
    const bytes = encodeMessage(status({ from: 1023 })).slice();
    bytes.set([0x04, 0x00], 18); // from = 1024
    const error = errorOf(() => decodeMessage(bytes));
    expect(error.code).toBe('CODEC_RANGE');
    expect(error.details.field).toBe('from');
  });

  it('signatures: 72 bytes pass, 73 are CODEC_LENGTH on both sides', () => {
    expect(decodeMessage(encodeMessage(status({ sig: fill(72, 7) })))).toEqual(status({ sig: fill(72, 7) }));
    expect(errorOf(() => encodeMessage(status({ sig: fill(73, 7) }))).code).toBe('CODEC_LENGTH');
    const forged = Buffer.concat([encodeMessage(status({})).subarray(0, 20), Uint8Array.of(0, 0, 0, 73), fill(73, 7)]);
    const error = errorOf(() => decodeMessage(forged));
    expect(error.code).toBe('CODEC_LENGTH');
    expect(error.details.field).toBe('sig');
  });

  it('certificate signatures: 1024 pass, 1025 are CODEC_LENGTH; a forged count allocates nothing', () => {
    expect(decodeCertificate(encodeCertificate(cert(MAX_SIGNATURES))).sigs).toHaveLength(MAX_SIGNATURES);
    expect(errorOf(() => encodeCertificate(cert(MAX_SIGNATURES + 1))).code).toBe('CODEC_LENGTH');
    // header, height, view, digest, then a count of 2^32-1 and nothing behind it
    const forged = Buffer.concat([encodeCertificate(cert(0)).subarray(0, 50), Uint8Array.of(0xff, 0xff, 0xff, 0xff)]);
    const error = errorOf(() => decodeCertificate(forged));
    expect(error.code).toBe('CODEC_LENGTH');
    expect(error.details.field).toBe('sigs');
  });

  it('payload: bounded by maxPayloadBytes on both sides', () => {
    const p: Propose = { kind: 'propose', view: 0n, height: 1n, digest: D, payload: fill(17, 3), from: 0, sig: new Uint8Array(0) };
    const bytes = encodeMessage(p);
    expect(decodeMessage(bytes, { maxPayloadBytes: 17 })).toEqual(p);
    expect(errorOf(() => decodeMessage(bytes, { maxPayloadBytes: 16 })).code).toBe('CODEC_LENGTH');
    expect(errorOf(() => encodeMessage(p, { maxPayloadBytes: 16 })).code).toBe('CODEC_LENGTH');
    // a payload nested in a prepared certificate inside a view change inside a new view is bounded too
    const vc: ViewChange = {
      kind: 'view-change', view: 1n, height: 1n, lastCert: null,
      prepared: { view: 0n, height: 1n, digest: D, payload: fill(17, 3), prepares: [] }, from: 0, sig: new Uint8Array(0),
    };
    const nv = encodeMessage({ kind: 'new-view', view: 1n, viewChanges: [vc], proposal: null, from: 1, sig: new Uint8Array(0) });
    expect(errorOf(() => decodeMessage(nv, { maxPayloadBytes: 16 })).code).toBe('CODEC_LENGTH');
    expect(errorOf(() => decodeSafety(encodeSafety({
      view: 0n, changing: false, lastProposal: null, lastPrepare: null, lastCommit: null, prepared: vc.prepared, signFloor: 0n,
    }), { maxPayloadBytes: 16 })).code).toBe('CODEC_LENGTH');
    // the default limit is 8 MiB
    const big: Propose = { ...p, payload: new Uint8Array(8 * 1024 * 1024 + 1) };
    expect(errorOf(() => encodeMessage(big)).code).toBe('CODEC_LENGTH');
  });

  it('view changes per new view: 1024 pass, 1025 are CODEC_LENGTH', () => {
    const vc: ViewChange = { kind: 'view-change', view: 1n, height: 1n, lastCert: null, prepared: null, from: 0, sig: new Uint8Array(0) };
    const nv = (n: number): NewView => ({ kind: 'new-view', view: 1n, viewChanges: Array.from({ length: n }, () => vc), proposal: null, from: 1, sig: new Uint8Array(0) });
    expect((decodeMessage(encodeMessage(nv(MAX_VIEW_CHANGES))) as NewView).viewChanges).toHaveLength(MAX_VIEW_CHANGES);
    expect(errorOf(() => encodeMessage(nv(MAX_VIEW_CHANGES + 1))).code).toBe('CODEC_LENGTH');
    const forged = Buffer.concat([encodeMessage(nv(0)).subarray(0, 10), Uint8Array.of(0, 0, 4, 1)]); // count 1025
    expect(errorOf(() => decodeMessage(forged)).code).toBe('CODEC_LENGTH');
  });

  it('digests must be 32 bytes', () => {
    const v: Vote = { kind: 'prepare', view: 0n, height: 1n, digest: fill(31, 1), from: 0, sig: new Uint8Array(0) };
    expect(errorOf(() => encodeMessage(v)).code).toBe('CODEC_LENGTH');
  });

  it('oversized fields anywhere fail with CODEC_LENGTH (property)', () => {
    // Grow one signature somewhere in a random message past the limit: encoding refuses it.
    fc.assert(
      fc.property(message, (msg) => {
        const bad = { ...msg, sig: fill(MAX_SIGNATURE_BYTES + 1, 0) } as ConsensusMessage;
        expect(errorOf(() => encodeMessage(bad)).code).toBe('CODEC_LENGTH');
      }),
      { numRuns: 100 },
    );
    // Raise a length prefix in the bytes: decoding refuses it before reading the body.
    fc.assert(
      fc.property(statusArb, fc.integer({ min: MAX_SIGNATURE_BYTES + 1, max: 0xffff_ffff }), (s, length) => {
        const bytes = encodeMessage(s).slice();
        new DataView(bytes.buffer).setUint32(20, length);
        expect(errorOf(() => decodeMessage(bytes)).code).toBe('CODEC_LENGTH');
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a bad maxPayloadBytes option', () => {
    expect(errorOf(() => decodeMessage(new Uint8Array(0), { maxPayloadBytes: -1 })).code).toBe('CONFIG_INVALID');
  });
});

describe('decoded values do not alias the input', () => {
  it('copies byte fields', () => {
    const p: Propose = { kind: 'propose', view: 0n, height: 1n, digest: D, payload: fill(4, 3), from: 0, sig: Uint8Array.of(1) };
    const bytes = encodeMessage(p);
    const back = decodeMessage(bytes) as Propose;
    bytes.fill(0);
    expect(back).toEqual(p);
  });

  it('copies out of a Buffer (a ws frame) into plain Uint8Arrays', () => {
    const p: Propose = { kind: 'propose', view: 0n, height: 1n, digest: D, payload: fill(4, 3), from: 0, sig: Uint8Array.of(1) };
    const frame = Buffer.from(encodeMessage(p));
    const back = decodeMessage(frame) as Propose;
    frame.fill(0);
    expect(back).toEqual(p);
    expect(back.payload.constructor).toBe(Uint8Array);
  });
});
