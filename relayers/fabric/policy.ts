/**
 * Fabric endorsement policies in the signature-policy syntax of the peer CLI:
 * `AND('Org1MSP.peer','Org2MSP.peer')`, `OR(...)`, `OutOf(2, 'A.peer', 'B.peer', 'C.peer')`, nested
 * freely. One parser and one evaluator serve both the peer emulator (which validates blocks with it)
 * and the evidence verifier, so the two can never disagree on what a policy means.
 *
 * AND and OR are OutOf(n) and OutOf(1), as in Fabric's cauthdsl. Evaluation follows Fabric's rule that
 * one signer satisfies at most one principal: AND('Org1MSP.peer','Org1MSP.peer') needs two distinct
 * Org1 peers. Fabric's own evaluator is greedy; this one searches every assignment, so it never
 * refuses a signer set that a careful assignment would accept (policies are tiny: the search is cheap).
 */
import { LoulanError } from '../../core-chain/index.ts';

/** Roles as Fabric NodeOUs name them; `member` matches any identity of the MSP. */
export type FabricRole = 'member' | 'peer' | 'client' | 'admin' | 'orderer';
const ROLES: readonly FabricRole[] = ['member', 'peer', 'client', 'admin', 'orderer'];

export type EndorsementPolicy =
  | { readonly kind: 'principal'; readonly mspId: string; readonly role: FabricRole }
  | { readonly kind: 'outOf'; readonly n: number; readonly rules: readonly EndorsementPolicy[] };

/** A signer as the evaluator sees it: its MSP and the role its certificate carries. */
export interface PolicySigner {
  readonly mspId: string;
  readonly role: Exclude<FabricRole, 'member'>;
}

const MAX_POLICY_LENGTH = 4096;

function invalid(reason: string, at: number): LoulanError {
  return new LoulanError('CONFIG_INVALID', `endorsement policy: ${reason} at ${at}`, { details: { field: 'policy', reason, at } });
}

/**
 * Parses a policy string; throws CONFIG_INVALID (`details.field` = 'policy') on any syntax error.
 *
 * @example parsePolicy("AND('Org1MSP.peer', OutOf(1, 'Org2MSP.peer', 'Org3MSP.member'))")
 */
export function parsePolicy(text: string): EndorsementPolicy {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_POLICY_LENGTH) throw invalid('empty-or-too-long', 0);
  let at = 0;
  const skip = (): void => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  const expect = (char: string): void => {
    skip();
    if (text[at] !== char) throw invalid(`expected '${char}'`, at);
    at++;
  };
  const principal = (): EndorsementPolicy => {
    const quote = text[at]!;
    const end = text.indexOf(quote, at + 1);
    if (end < 0) throw invalid('unterminated principal', at);
    const body = text.slice(at + 1, end);
    const dot = body.lastIndexOf('.');
    const mspId = body.slice(0, dot);
    const role = body.slice(dot + 1).toLowerCase() as FabricRole;
    if (dot <= 0 || !ROLES.includes(role) || !/^[A-Za-z0-9._-]+$/.test(mspId)) throw invalid(`bad principal '${body}'`, at);
    at = end + 1;
    return { kind: 'principal', mspId, role };
  };
  const rule = (depth: number): EndorsementPolicy => {
    if (depth > 16) throw invalid('nested too deep', at);
    skip();
    const c = text[at];
    if (c === "'" || c === '"') return principal();
    const name = /^[A-Za-z]+/.exec(text.slice(at))?.[0] ?? '';
    at += name.length;
    const op = name.toLowerCase();
    if (op !== 'and' && op !== 'or' && op !== 'outof') throw invalid(`unknown operator '${name}'`, at - name.length);
    expect('(');
    let n = -1;
    if (op === 'outof') {
      skip();
      const digits = /^\d+/.exec(text.slice(at))?.[0];
      if (digits === undefined) throw invalid('OutOf needs a count', at);
      n = Number(digits);
      at += digits.length;
      expect(',');
    }
    const rules: EndorsementPolicy[] = [rule(depth + 1)];
    for (skip(); text[at] === ','; skip()) {
      at++;
      rules.push(rule(depth + 1));
    }
    expect(')');
    if (op === 'and') n = rules.length;
    if (op === 'or') n = 1;
    if (n < 1 || n > rules.length) throw invalid(`OutOf count ${n} outside 1..${rules.length}`, at);
    return { kind: 'outOf', n, rules };
  };
  const policy = rule(0);
  skip();
  if (at !== text.length) throw invalid('trailing text', at);
  return policy;
}

/** The policy in canonical text form (AND/OR written as OutOf only when neither fits). */
export function formatPolicy(policy: EndorsementPolicy): string {
  if (policy.kind === 'principal') return `'${policy.mspId}.${policy.role}'`;
  const inner = policy.rules.map(formatPolicy).join(', ');
  if (policy.n === policy.rules.length && policy.rules.length > 1) return `AND(${inner})`;
  if (policy.n === 1 && policy.rules.length > 1) return `OR(${inner})`;
  return `OutOf(${policy.n}, ${inner})`;
}

/** Every MSP the policy names, in first-mention order (the emulator asks these for endorsements). */
export function policyMsps(policy: EndorsementPolicy): string[] {
  if (policy.kind === 'principal') return [policy.mspId];
  return [...new Set(policy.rules.flatMap(policyMsps))];
}

function matches(principal: { mspId: string; role: FabricRole }, signer: PolicySigner): boolean {
  return principal.mspId === signer.mspId && (principal.role === 'member' || principal.role === signer.role);
}

/**
 * The sets of signers left unused after each way of satisfying `policy` with signers from `free`
 * (indexes into `signers`). Empty when it cannot be satisfied.
 */
function* remainders(policy: EndorsementPolicy, signers: readonly PolicySigner[], free: readonly number[]): Generator<readonly number[]> {
  if (policy.kind === 'principal') {
    for (const index of free) {
      if (matches(policy, signers[index]!)) yield free.filter((other) => other !== index);
    }
    return;
  }
  yield* choose(policy.rules, 0, policy.n, signers, free);
}

function* choose(rules: readonly EndorsementPolicy[], from: number, need: number, signers: readonly PolicySigner[], free: readonly number[]): Generator<readonly number[]> {
  if (need === 0) {
    yield free;
    return;
  }
  if (rules.length - from < need) return;
  const rule = rules[from]!;
  for (const rest of remainders(rule, signers, free)) yield* choose(rules, from + 1, need - 1, signers, rest);
  yield* choose(rules, from + 1, need, signers, free);
}

/**
 * Whether the signers satisfy the policy, each signer used for at most one principal. Callers pass
 * distinct identities only (the same certificate twice is one signer).
 */
export function policySatisfied(policy: EndorsementPolicy, signers: readonly PolicySigner[]): boolean {
  const all = signers.map((_, index) => index);
  for (const _ of remainders(policy, signers, all)) return true;
  return false;
}
