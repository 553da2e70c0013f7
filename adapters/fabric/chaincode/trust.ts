/**
 * The chaincode's light client of the core chain: which validator set it trusts, how that changes,
 * and what a certified decision must prove before a contract acts on it.
 *
 * The trusted set, the chain id and this chaincode's own system id live in world state (one record,
 * written by `init` and afterwards only by `updateValidatorSet`). Nothing a caller sends is trusted:
 * headers are checked with core-chain/verify, the same code (and the same error codes, in the same
 * order) as every other Loulan verifier, pinned by the shared vectors.
 *
 * A set change is accepted only as a header chain certified by the set trusted now and ending on the
 * header that announces the change, carrying the incoming keys (verifyHeaderChain's rule). The record
 * also keeps `trustedFrom`, the height after that header: a header below it is refused even when the
 * current keys certify it, so that an old chain cannot be replayed to roll the set back when a set
 * returns (A → B → A), and headers of the outgoing set's era cannot be used at all once the change is
 * in. Relayers deliver an outgoing set's pending decisions before the change; the core chain re-issues
 * anything that misses that window after its deadline.
 *
 * A decision is accepted when, in this order: the header is certified by the trusted set
 * (CODEC_*, CERT_*), it is not below `trustedFrom` (CERT_WRONG_VALIDATOR_SET), the event is leaf
 * `index` of its eventsRoot (PROOF_ZERO_ROOT, MERKLE_*), the event decodes and is xfer/decision
 * (CODEC_*, DECISION_WRONG_EVENT), the envelope decodes (DECISION_MALFORMED), its target is this
 * chaincode (DECISION_WRONG_TARGET), its id was never consumed here (DECISION_CONSUMED), its deadline
 * is not before the header's time (DECISION_EXPIRED), and the contract handles its action
 * (DECISION_ARGS, field `action`). The id is then recorded as consumed in the same transaction.
 */
import type { Context } from 'fabric-contract-api';
import {
  decodeCertificateJson,
  decodeEvent,
  equalBytes,
  fromHex,
  LoulanError,
  MAX_VALIDATORS,
  sha256,
  toHex,
  verifyCommittedHeader,
  verifyEventProof,
  verifyHeaderChain,
  type HeaderChainItem,
  type LightCheckpoint,
  type TrustedValidatorSet,
  decodeHeader,
} from '../../../core-chain/index.ts';
// The one core-chain internal used here: resuming `verifyHeaderChain` from a caller's header needs the
// header decoder, which core-chain/index.ts does not export (yet).
import { decodeDecision, DECISION_CONTRACT, DECISION_TYPE, systemId, type Decision, type DecisionActionCode } from '../../../relayers/index.ts';
import { decisionKey, emit, readJson, trustKey, writeJson, type Stub } from './state.ts';
import { arrayArg, badArgs, decimalArg, hexArg, idArg, indexArg, jsonArg, objectArg, result } from './wire.ts';

type Certificate = Parameters<typeof verifyCommittedHeader>[2];
type Header = LightCheckpoint['header'];

const MAX_U64 = (1n << 64n) - 1n;
/** Bounds on what one transaction may ask the chaincode to verify. */
export const LIMITS = { headerBytes: 1024, eventBytes: 70 * 1024, pathLength: 64, chainItems: 64, jsonChars: 512 * 1024 } as const;

/** The trust record (canonical JSON in state). */
export interface TrustRecord {
  readonly version: 1;
  /** 32-byte core chain id, hex. */
  readonly chainId: string;
  /** 33-byte compressed secp256k1 keys in index order, hex. */
  readonly validators: readonly string[];
  /** Headers below this height are refused (decimal). */
  readonly trustedFrom: string;
  /** This chaincode's address; decisions must target SHA-256 of it. */
  readonly systemAddress: string;
  readonly systemId: string;
}

/** The `init` argument: the genesis (or a later, out-of-band agreed) trust. */
export interface TrustInit {
  readonly chainId: string;
  readonly validators: readonly string[];
  readonly systemAddress: string;
  /** Decimal height from which `validators` certify; default "0". */
  readonly trustedFrom?: string;
}

interface Trust {
  readonly record: TrustRecord;
  readonly set: TrustedValidatorSet;
  readonly trustedFrom: bigint;
  readonly systemId: Uint8Array;
}

/** A decision that passed every check, with what certified it. */
export interface AcceptedDecision {
  readonly decision: Decision;
  readonly decisionId: string;
  readonly header: Header;
  readonly blockHash: string;
  readonly index: number;
}

// -- init and the trusted set ------------------------------------------------------------------------

export async function initTrust(ctx: Context, configJson: string): Promise<string> {
  const o = objectArg(jsonArg(configJson, 'config', LIMITS.jsonChars), 'config', ['chainId', 'validators', 'systemAddress'], ['trustedFrom']);
  const chainId = hexArg(o.chainId, 'config/chainId', 32, 32);
  const validators = arrayArg(o.validators, 'config/validators', MAX_VALIDATORS).map((k, i) => hexArg(k, `config/validators/${i}`, 33, 33));
  if (validators.length === 0) throw new LoulanError('VALSET_INVALID', 'a validator set has at least one key', { details: { field: 'publicKeys' } });
  const seen = new Set(validators.map(toHex));
  if (seen.size !== validators.length) throw new LoulanError('VALSET_INVALID', 'a validator key appears twice', { details: { field: 'publicKeys' } });
  const systemAddress = idArg(o.systemAddress, 'config/systemAddress');
  const trustedFrom = o.trustedFrom === undefined ? 0n : decimalArg(o.trustedFrom, 'config/trustedFrom', { max: MAX_U64 });

  const key = trustKey(ctx.stub);
  if ((await readJson<TrustRecord>(ctx.stub, key)) !== undefined) {
    throw new LoulanError('CONTRACT_ALREADY_EXISTS', 'the chaincode is already initialised', { details: { kind: 'trust', id: 'config' } });
  }
  const record: TrustRecord = {
    version: 1,
    chainId: toHex(chainId),
    validators: validators.map(toHex),
    trustedFrom: trustedFrom.toString(),
    systemAddress,
    systemId: toHex(systemId(systemAddress)),
  };
  await writeJson(ctx.stub, key, record);
  emit(ctx.stub, 'core.init', record);
  return result(record);
}

export async function loadTrust(stub: Stub): Promise<Trust> {
  const record = await readJson<TrustRecord>(stub, trustKey(stub));
  if (record === undefined) {
    throw new LoulanError('CONFIG_INVALID', 'the chaincode is not initialised: submit core:init first', { details: { field: 'trust' } });
  }
  return {
    record,
    set: { chainId: fromHex(record.chainId), publicKeys: record.validators.map((k) => fromHex(k)) },
    trustedFrom: BigInt(record.trustedFrom),
    systemId: fromHex(record.systemId),
  };
}

export async function getTrust(ctx: Context): Promise<string> {
  return result((await loadTrust(ctx.stub)).record);
}

/**
 * Moves the trusted set forward along a certified header chain that ends on a set change (see the
 * module comment). `itemsJson`: `[{header, certificate, nextValidatorSet?}]`, hex and certificate JSON.
 */
export async function updateValidatorSet(ctx: Context, itemsJson: string): Promise<string> {
  const trust = await loadTrust(ctx.stub);
  const items = chainItemsArg(itemsJson);
  const checkpoint = followChain(trust, trust.set, items);
  const last = checkpoint.header;
  if (equalBytes(last.nextValidatorSetHash, last.validatorSetHash)) {
    throw badArgs('items', 'the chain must end on the header that announces the set change', { reason: 'no-change', height: last.height.toString() });
  }
  const record: TrustRecord = {
    ...trust.record,
    validators: checkpoint.set.publicKeys.map(toHex),
    trustedFrom: (last.height + 1n).toString(),
  };
  await writeJson(ctx.stub, trustKey(ctx.stub), record);
  const change = { height: last.height, validatorSetHash: last.nextValidatorSetHash, validators: record.validators, trustedFrom: record.trustedFrom };
  emit(ctx.stub, 'core.validatorSet', change);
  return result(change);
}

// -- evaluate-only checks (what the vectors run through) ----------------------------------------------

/** Checks a header and certificate against the trusted set; returns its height, time and hash. */
export async function verifyHeader(ctx: Context, headerHex: string, certificateJson: string): Promise<string> {
  const trust = await loadTrust(ctx.stub);
  const bytes = hexArg(headerHex, 'header', LIMITS.headerBytes);
  const header = certified(trust, bytes, certificateArg(jsonArg(certificateJson, 'certificate', LIMITS.jsonChars), 'certificate'));
  return result({ height: header.height, time: header.time, blockHash: sha256(bytes) });
}

/** Checks that an event is leaf `index` of a certified header's events; returns where it sits. */
export async function verifyEvent(ctx: Context, headerHex: string, certificateJson: string, eventHex: string, index: string, pathJson: string): Promise<string> {
  const trust = await loadTrust(ctx.stub);
  const proven = provenEvent(trust, headerHex, certificateJson, eventHex, index, pathJson);
  return result({ height: proven.header.height, blockHash: proven.blockHash, index: proven.index });
}

/**
 * Follows a header chain from the trusted set (or, with `afterHex`, from that header, trusted as
 * already verified, with the trusted set for the height after it) and returns the checkpoint it
 * reaches, without changing state.
 */
export async function verifyHeaderChainTx(ctx: Context, itemsJson: string, afterHex: string): Promise<string> {
  const trust = await loadTrust(ctx.stub);
  const items = chainItemsArg(itemsJson);
  const start: TrustedValidatorSet | LightCheckpoint = afterHex === '' ? trust.set : { set: trust.set, header: decodeHeader(hexArg(afterHex, 'after', LIMITS.headerBytes)) };
  const checkpoint = followChain(trust, start, items);
  const lastItem = items[items.length - 1] as HeaderChainItem;
  return result({
    height: checkpoint.header.height,
    blockHash: sha256(lastItem.header),
    validatorSetHash: checkpoint.header.nextValidatorSetHash,
    validators: checkpoint.set.publicKeys,
  });
}

/** The consumption record of a decision id (hex), or `null`. */
export async function getDecision(ctx: Context, decisionIdHex: string): Promise<string> {
  const id = toHex(hexArg(decisionIdHex, 'decisionId', 32, 32));
  return result((await readJson(ctx.stub, decisionKey(ctx.stub, id))) ?? null);
}

// -- decisions -----------------------------------------------------------------------------------------

/** Runs every check of the module comment; throws the first failure's LoulanError. */
export async function acceptDecision(
  ctx: Context,
  handles: ReadonlySet<DecisionActionCode>,
  contract: string,
  args: { headerHex: string; certificateJson: string; eventHex: string; index: string; pathJson: string },
): Promise<AcceptedDecision> {
  const trust = await loadTrust(ctx.stub);
  const proven = provenEvent(trust, args.headerHex, args.certificateJson, args.eventHex, args.index, args.pathJson);
  const event = decodeEvent(proven.event);
  if (event.contract !== DECISION_CONTRACT || event.type !== DECISION_TYPE) {
    throw new LoulanError('DECISION_WRONG_EVENT', `event ${event.contract}/${event.type} is not a decision`, { details: { contract: event.contract, type: event.type } });
  }
  const decision = decodeDecision(event.data);
  if (!equalBytes(decision.target, trust.systemId)) {
    throw new LoulanError('DECISION_WRONG_TARGET', 'the decision is for another system', { details: { expected: toHex(trust.systemId), actual: toHex(decision.target) } });
  }
  const decisionId = toHex(decision.decisionId);
  if ((await readJson(ctx.stub, decisionKey(ctx.stub, decisionId))) !== undefined) {
    throw new LoulanError('DECISION_CONSUMED', `decision ${decisionId} was executed before`, { details: { decisionId } });
  }
  if (decision.deadline < proven.header.time) {
    throw new LoulanError('DECISION_EXPIRED', `decision deadline ${decision.deadline} is before its header's time ${proven.header.time}`, {
      details: { deadline: decision.deadline, time: proven.header.time },
    });
  }
  if (!handles.has(decision.action)) {
    throw new LoulanError('DECISION_ARGS', `the ${contract} contract does not execute action ${decision.action}`, { details: { field: 'action', action: decision.action, contract } });
  }
  return { decision, decisionId, header: proven.header, blockHash: toHex(proven.blockHash), index: proven.index };
}

/** The proof arguments of `executeDecision`, as a `decision.execute` message carries them. */
export function decisionFromMessage(envelopeJson: string): { headerHex: string; certificateJson: string; eventHex: string; index: string; pathJson: string } {
  let envelope: { type?: unknown; data?: { decision?: Record<string, unknown> } };
  try {
    envelope = JSON.parse(envelopeJson) as typeof envelope;
  } catch (cause) {
    throw new LoulanError('DECISION_MALFORMED', 'the delivered message is not JSON', { details: { field: 'envelope' }, cause });
  }
  if (envelope === null || typeof envelope !== 'object' || envelope.type !== 'decision.execute') {
    throw new LoulanError('DECISION_MALFORMED', 'only decision.execute messages carry a decision', { details: { field: 'type', type: String(envelope?.type) } });
  }
  const d = envelope.data?.decision;
  if (d === null || typeof d !== 'object') throw new LoulanError('DECISION_MALFORMED', 'the message carries no decision', { details: { field: 'decision' } });
  return {
    headerHex: String(d['headerBytes']),
    certificateJson: JSON.stringify(d['certificate'] ?? null),
    eventHex: String(d['event']),
    index: String(d['eventIndex']),
    pathJson: JSON.stringify(d['eventPath'] ?? null),
  };
}

/**
 * A switch delivery (the Fabric adapter calls `receiveMessage(envelopeJson, digest)`): executes the
 * decision the message carries. The switch may deliver again (after a crash between the commit and its
 * record of it, or a second message with the same decision): a decision already executed makes the
 * delivery done without a second effect, as the EVM gateway's adapter treats it.
 */
export async function executeMessage(
  ctx: Context,
  handles: ReadonlySet<DecisionActionCode>,
  contract: string,
  envelopeJson: string,
  apply: (stub: Stub, accepted: AcceptedDecision) => Promise<Record<string, unknown>>,
): Promise<string> {
  let accepted: AcceptedDecision;
  try {
    accepted = await acceptDecision(ctx, handles, contract, decisionFromMessage(envelopeJson));
  } catch (error) {
    if (error instanceof LoulanError && error.code === 'DECISION_CONSUMED') return result({ alreadyExecuted: true, decisionId: error.details?.['decisionId'] ?? null });
    throw error;
  }
  return finishDecision(ctx, contract, accepted, await apply(ctx.stub, accepted));
}

/** Records the decision as consumed, emits `<contract>.decision` and returns the transaction result. */
export async function finishDecision(ctx: Context, contract: string, accepted: AcceptedDecision, effect: Record<string, unknown>): Promise<string> {
  const record = {
    decisionId: accepted.decisionId,
    action: accepted.decision.action,
    contract,
    height: accepted.header.height,
    blockHash: accepted.blockHash,
    index: accepted.index,
    txId: ctx.stub.getTxID(),
  };
  await writeJson(ctx.stub, decisionKey(ctx.stub, accepted.decisionId), record);
  const out = { ...record, ...effect };
  emit(ctx.stub, `${contract}.decision`, out);
  return result(out);
}

// -- shared pieces -----------------------------------------------------------------------------------

function certified(trust: Trust, headerBytes: Uint8Array, certificate: Certificate): Header {
  const header = verifyCommittedHeader(trust.set, headerBytes, certificate);
  if (header.height < trust.trustedFrom) {
    throw new LoulanError('CERT_WRONG_VALIDATOR_SET', `header ${header.height} is below the height ${trust.trustedFrom} the trusted set certifies from`, {
      details: { height: header.height, trustedFrom: trust.trustedFrom },
    });
  }
  return header;
}

function provenEvent(trust: Trust, headerHex: string, certificateJson: string, eventHex: string, index: string, pathJson: string) {
  const headerBytes = hexArg(headerHex, 'header', LIMITS.headerBytes);
  const certificate = certificateArg(jsonArg(certificateJson, 'certificate', LIMITS.jsonChars), 'certificate');
  const event = hexArg(eventHex, 'event', LIMITS.eventBytes);
  const leaf = indexArg(index, 'index');
  const path = arrayArg(jsonArg(pathJson, 'path', LIMITS.jsonChars), 'path', LIMITS.pathLength).map((h, i) => hexArg(h, `path/${i}`, 64));
  const header = certified(trust, headerBytes, certificate);
  verifyEventProof(header, event, leaf, path);
  return { header, event, index: leaf, blockHash: sha256(headerBytes) };
}

function followChain(trust: Trust, start: TrustedValidatorSet | LightCheckpoint, items: readonly HeaderChainItem[]): LightCheckpoint {
  const checkpoint = verifyHeaderChain(start, items);
  // Heights are consecutive once verifyHeaderChain has passed, so the first item's height follows.
  const first = checkpoint.header.height - BigInt(items.length - 1);
  if (first < trust.trustedFrom) {
    throw new LoulanError('CERT_WRONG_VALIDATOR_SET', `the chain starts at ${first}, below the height ${trust.trustedFrom} the trusted set certifies from`, {
      details: { height: first, trustedFrom: trust.trustedFrom },
    });
  }
  return checkpoint;
}

function chainItemsArg(itemsJson: string): HeaderChainItem[] {
  const items = arrayArg(jsonArg(itemsJson, 'items', LIMITS.jsonChars), 'items', LIMITS.chainItems);
  if (items.length === 0) throw badArgs('items', 'at least one header');
  return items.map((value, i) => {
    const o = objectArg(value, `items/${i}`, ['header', 'certificate'], ['nextValidatorSet']);
    const item: HeaderChainItem = {
      header: hexArg(o.header, `items/${i}/header`, LIMITS.headerBytes),
      certificate: certificateArg(o.certificate, `items/${i}/certificate`),
      ...(o.nextValidatorSet === undefined
        ? {}
        : { nextValidatorSet: arrayArg(o.nextValidatorSet, `items/${i}/nextValidatorSet`, MAX_VALIDATORS).map((k, j) => hexArg(k, `items/${i}/nextValidatorSet/${j}`, 64)) }),
    };
    return item;
  });
}

/**
 * A certificate in either JSON form: the vectors' `{height, view, digest, sigs: [{from, sig}]}` or
 * the node RPC's `{height, view, blockHash, signatures: [{validator, signature}]}`. Signature bytes
 * are not length-checked here: a wrong length is the verifier's CRYPTO_MALFORMED_SIGNATURE.
 */
export function certificateArg(value: unknown, field: string): Certificate {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'blockHash')) return decodeCertificateJson(value, field);
  const o = objectArg(value, field, ['height', 'view', 'digest', 'sigs']);
  return {
    height: decimalArg(o.height, `${field}/height`, { max: MAX_U64 }),
    view: decimalArg(o.view, `${field}/view`, { max: MAX_U64 }),
    digest: hexArg(o.digest, `${field}/digest`, 32, 32),
    sigs: arrayArg(o.sigs, `${field}/sigs`, MAX_VALIDATORS).map((s, i) => {
      const sig = objectArg(s, `${field}/sigs/${i}`, ['from', 'sig']);
      if (typeof sig.from !== 'number' || !Number.isSafeInteger(sig.from)) throw badArgs(`${field}/sigs/${i}/from`, 'expected an integer');
      return { from: sig.from, sig: hexArg(sig.sig, `${field}/sigs/${i}/sig`, 128) };
    }),
  };
}
