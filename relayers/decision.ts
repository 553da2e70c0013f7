/**
 * Certified decisions: what the core chain tells an outside system to do (release a hold, mint,
 * lock a receivable, ...). A decision is a core-chain event with contract `xfer` and type `decision`;
 * its data is this envelope. The outside side (the EVM gateway, the Fabric chaincode) accepts a
 * decision only with the block header, its commit certificate and the event's Merkle path, and only if
 *
 *   - the event's contract is exactly `xfer` and its type exactly `decision` (an event some other
 *     contract emitted can never pass as a decision, whatever its data says);
 *   - `target` is its own system id, SHA-256 of the UTF-8 system address (so a decision for one chain
 *     cannot be replayed on another);
 *   - `decisionId` has not been consumed before (each decision runs exactly once);
 *   - `deadline` (core-chain milliseconds) is not earlier than the certifying header's time.
 *
 * The envelope is Solidity ABI encoding, `abi.encode(uint8 version, bytes32 decisionId, bytes32
 * target, uint8 action, uint64 deadline, bytes args)`, because the EVM gateway then decodes it with
 * `abi.decode` at a few hundred gas and the TypeScript sides decode it with ethers' AbiCoder. `args`
 * is action-specific and defined per target kind (docs/decisions.md).
 */
import { AbiCoder, getBytes, hexlify } from 'ethers';
import { LoulanError, sha256 } from '../core-chain/index.ts';

export const DECISION_CONTRACT = 'xfer';
export const DECISION_TYPE = 'decision';
export const DECISION_VERSION = 1;

/** Action codes, shared by every target kind. */
export const DecisionAction = {
  MINT: 1,
  BURN: 2,
  RELEASE: 3,
  REFUND: 4,
  LOCK: 5,
  UNLOCK: 6,
  POOL: 7,
} as const;
export type DecisionActionCode = (typeof DecisionAction)[keyof typeof DecisionAction];

export interface Decision {
  /** 32 bytes, unique per decision. */
  readonly decisionId: Uint8Array;
  /** 32 bytes: `systemId(address)` of the system that must execute it. */
  readonly target: Uint8Array;
  readonly action: DecisionActionCode;
  /** Core-chain time in milliseconds after which the decision may no longer run. */
  readonly deadline: bigint;
  /** Action-specific, ABI-encoded per target kind. */
  readonly args: Uint8Array;
}

const ENVELOPE = ['uint8', 'bytes32', 'bytes32', 'uint8', 'uint64', 'bytes'] as const;
const coder = AbiCoder.defaultAbiCoder();
const ACTIONS = new Set<number>(Object.values(DecisionAction));
const UINT64_MAX = (1n << 64n) - 1n;

/** The 32-byte id an outside system knows itself by: SHA-256 of its UTF-8 address. */
export function systemId(address: string): Uint8Array {
  return sha256(new TextEncoder().encode(address));
}

export function encodeDecision(decision: Decision): Uint8Array {
  if (decision.decisionId.length !== 32) throw invalid('decisionId', 'must be 32 bytes');
  if (decision.target.length !== 32) throw invalid('target', 'must be 32 bytes');
  if (!ACTIONS.has(decision.action)) throw invalid('action', `unknown action ${decision.action}`);
  if (decision.deadline < 0n || decision.deadline > UINT64_MAX) throw invalid('deadline', 'must fit in u64');
  return getBytes(
    coder.encode(ENVELOPE, [DECISION_VERSION, decision.decisionId, decision.target, decision.action, decision.deadline, decision.args]),
  );
}

/** Decodes and checks the envelope; anything malformed is DECISION_MALFORMED with the failing field. */
export function decodeDecision(data: Uint8Array): Decision {
  let fields: ReturnType<typeof coder.decode>;
  try {
    fields = coder.decode(ENVELOPE, data);
  } catch (cause) {
    throw new LoulanError('DECISION_MALFORMED', 'decision data is not the ABI envelope', { details: { field: 'data' }, cause });
  }
  // ABI decoding is lenient about trailing bytes; the envelope is canonical only when re-encoding it
  // gives the same bytes, so one decision has exactly one encoding.
  const [version, decisionId, target, action, deadline, args] = fields as unknown as [bigint, string, string, bigint, bigint, string];
  if (version !== BigInt(DECISION_VERSION)) throw invalid('version', `unknown decision version ${version}`);
  if (!ACTIONS.has(Number(action))) throw invalid('action', `unknown action ${action}`);
  const decision: Decision = {
    decisionId: getBytes(decisionId),
    target: getBytes(target),
    action: Number(action) as DecisionActionCode,
    deadline,
    args: getBytes(args),
  };
  if (hexlify(encodeDecision(decision)) !== hexlify(data)) throw invalid('data', 'not the canonical encoding');
  return decision;
}

function invalid(field: string, message: string): LoulanError {
  return new LoulanError('DECISION_MALFORMED', `decision ${field}: ${message}`, { details: { field } });
}
