/**
 * What the switch's HTTP API offers around key custody (custody.ts keeps the keys): creating a
 * custodial participant, rotating its key on the core chain, managing API keys, and signing for a
 * shop. Kept apart from the store so that the store can be tested without a chain.
 *
 * Rotation runs on the core chain as the participant itself: `addKey(new)` signed with the current
 * key, then `revokeKey(old)` signed with the new key, each waited for until committed; the old key's
 * sealed material is destroyed only after its revocation committed. A crash in between leaves two
 * active keys (both still sealed here), and a second rotation finishes the job.
 */
import {
  CoreClient,
  encodeAddKeyArgs,
  encodeRevokeKeyArgs,
  fromHex,
  LoulanError,
  publicKeyFromPrivate,
  REGISTRY_CONTRACT,
  senderAddress,
  TxSubmitter,
  type Alg,
  type CallResult,
} from '../core-chain/index.ts';
import { validateEnvelope, type Envelope } from '../schemas/index.ts';
import type { ChainView } from './chain.ts';
import type { Custody, CustodyCaller, CustodyView, NewApiKey } from './custody.ts';

export interface CustodyCreated {
  readonly participant: string;
  readonly alg: Alg;
  readonly kid: string;
  /** Hex; register it on the core chain (`loulan participant add --custodial` does). */
  readonly publicKey: string;
  readonly apiKey: NewApiKey;
}

export interface KeyRotation {
  readonly participant: string;
  readonly kid: string;
  readonly publicKey: string;
  /** Key ids revoked on the core chain and destroyed here. */
  readonly revoked: readonly string[];
}

export interface CustodyApi {
  create(participant: string, alg?: Alg): Promise<CustodyCreated>;
  list(): CustodyView[];
  view(participant: string): CustodyView;
  rotateKey(participant: string): Promise<KeyRotation>;
  createApiKey(participant: string): Promise<NewApiKey>;
  revokeApiKey(participant: string, id: string): Promise<void>;
  authenticate(token: string): CustodyCaller;
  /** Signs a complete envelope but for `sig`; the result passes the envelope schema. */
  sign(caller: CustodyCaller, envelope: unknown): Promise<Envelope>;
}

export interface CustodyApiOptions {
  readonly custody: Custody;
  readonly chain: ChainView;
  readonly client: CoreClient;
  readonly chainId: Uint8Array;
}

function committedOk(result: CallResult, what: string): void {
  const { status, receipt } = result.status;
  if (status !== 'committed' || receipt?.status !== 'ok') {
    throw new LoulanError('CUSTODY_ROTATION_FAILED', `${what} did not commit`, { details: { tx: result.hash, status, code: receipt?.code ?? null } });
  }
}

export function createCustodyApi(options: CustodyApiOptions): CustodyApi {
  const { custody, chain, client, chainId } = options;
  const submitterFor = (participant: string, kid: string, alg: Alg): TxSubmitter => {
    const privateKey = custody.privateKey(participant, kid);
    return new TxSubmitter({ client, chainId, alg, privateKey, publicKey: publicKeyFromPrivate(alg, privateKey) });
  };
  /** Waits until the switch's chain view reflects a committed key change, so signing picks it up. */
  const viewShows = async (participant: string, kid: string, active: boolean): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      if ((chain.participant(participant)?.keys.has(kid) ?? false) === active) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const rotations = new Map<string, Promise<KeyRotation>>();

  return {
    async create(participant, alg = 'Ed25519') {
      const { view, apiKey } = await custody.createParticipant(participant, alg);
      const key = view.keys[0]!;
      return { participant, alg, kid: key.kid, publicKey: key.publicKey, apiKey };
    },
    list: () => custody.list(),
    view: (participant) => custody.view(participant),
    rotateKey(participant) {
      // One rotation per participant at a time; a second request joins the first.
      const running = rotations.get(participant);
      if (running !== undefined) return running;
      const rotation = (async (): Promise<KeyRotation> => {
        const current = custody.activeKey(participant);
        const next = await custody.addKey(participant);
        const alg = next.alg;
        const added = await submitterFor(participant, current.kid, alg).call(REGISTRY_CONTRACT, 'addKey', encodeAddKeyArgs(participant, { alg, publicKey: fromHex(next.publicKey) }));
        committedOk(added, 'registry.addKey');
        await viewShows(participant, next.kid, true);
        const revoked: string[] = [];
        const newSubmitter = submitterFor(participant, next.kid, alg);
        for (const old of custody.view(participant).keys) {
          if (old.kid === next.kid) continue;
          if (chain.participant(participant)?.keys.has(old.kid) ?? false) {
            const address = senderAddress(alg, fromHex(old.publicKey));
            committedOk(await newSubmitter.call(REGISTRY_CONTRACT, 'revokeKey', encodeRevokeKeyArgs(participant, address)), 'registry.revokeKey');
            await viewShows(participant, old.kid, false);
          }
          await custody.destroyKey(participant, old.kid);
          revoked.push(old.kid);
        }
        return { participant, kid: next.kid, publicKey: next.publicKey, revoked };
      })();
      rotations.set(participant, rotation);
      void rotation.finally(() => rotations.delete(participant)).catch(() => undefined);
      return rotation;
    },
    createApiKey: (participant) => custody.createApiKey(participant),
    revokeApiKey: (participant, id) => custody.revokeApiKey(participant, id),
    authenticate: (token) => custody.authenticate(token),
    async sign(caller, envelope) {
      if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) {
        throw new LoulanError('INTAKE_MALFORMED', 'the body must be a JSON envelope', { details: { pointer: '', in: 'body' } });
      }
      const e = envelope as Record<string, unknown>;
      for (const field of ['id', 'source'] as const) {
        if (typeof e[field] !== 'string') throw new LoulanError('VALIDATE_REQUIRED', `the envelope needs a string ${field}`, { details: { pointer: `/${field}` } });
      }
      // Checked before signing and logging, so that a malformed request leaves no log line.
      validateEnvelope(e);
      return (await custody.sign(caller, e as { id: string; source: string })) as unknown as Envelope;
    },
  };
}
