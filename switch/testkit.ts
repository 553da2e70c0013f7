/**
 * Test support for the switch: participants with real keys, a directory that knows them, and signed
 * messages. Used by the switch's unit tests, the integration tests and the benchmark; not exported
 * from switch/index.ts.
 */
import { createSigner, generateKeyPair, senderAddress, signEnvelope, toHex, type Alg, type Role, type Signer } from '../core-chain/index.ts';
import { listSchemas, type Envelope } from '../schemas/index.ts';
import type { Directory, ParticipantView } from './intake.ts';

export interface TestParticipant {
  readonly id: string;
  readonly roles: Role[];
  readonly signer: Signer;
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** The key id the switch resolves: `<participant>#<address hex>`. */
export function keyIdOf(participant: string, alg: Alg, publicKey: Uint8Array): string {
  return `${participant}#${senderAddress(alg, publicKey)}`;
}

export function testParticipant(id: string, roles: Role[], alg: Alg = 'Ed25519'): TestParticipant {
  const pair = generateKeyPair(alg);
  return { id, roles, alg, publicKey: pair.publicKey, privateKey: pair.privateKey, signer: createSigner(alg, pair.privateKey, { kid: keyIdOf(id, alg, pair.publicKey) }) };
}

/** A directory over fixed participants, with every local schema registered (mutable for tests). */
export class StaticDirectory implements Directory {
  readonly participants = new Map<string, ParticipantView>();
  readonly schemas = new Map<string, string>(listSchemas().map((d) => [d.id, d.sha256]));

  constructor(list: readonly TestParticipant[] = []) {
    for (const p of list) this.add(p);
  }

  add(p: TestParticipant, active = true): void {
    const keys = new Map(this.participants.get(p.id)?.keys ?? []);
    keys.set(p.signer.kid, { alg: p.alg, publicKey: p.publicKey });
    this.participants.set(p.id, { id: p.id, active, roles: p.roles, keys });
  }

  participant(id: string): ParticipantView | undefined {
    return this.participants.get(id);
  }

  schemaRegistered(schemaId: string, sha256: string): boolean {
    return this.schemas.get(schemaId) === sha256;
  }
}

let counter = 0;

/** An unsigned points order from `from` to `to` (valid against its schema), with overrides. */
export function pointsOrder(from: string, to: string, seq: bigint | number, overrides: Partial<Envelope> = {}, now = Date.now()): Envelope {
  const n = ++counter;
  return {
    id: `msg-${process.pid}-${n}`,
    type: 'points.exchange.request',
    source: from,
    to,
    seq: String(seq),
    time: new Date(now).toISOString(),
    expiresAt: new Date(now + 60 * 60_000).toISOString(),
    data: {
      orderId: `ord-${n}`,
      idempotencyKey: `k-${n}`,
      pair: 'acme-skyair-2025',
      quoteId: 'q-1',
      source: { program: from, member: '13800138000' },
      target: { program: to, member: 'CA-0012345678' },
      points: '5000',
      expectedCredit: '480',
    },
    ...overrides,
  };
}

export async function signed(p: TestParticipant, envelope: Envelope): Promise<Envelope> {
  const { sig: _sig, ...unsigned } = envelope;
  return (await signEnvelope(unsigned, p.signer)) as unknown as Envelope;
}

export const hex = toHex;
