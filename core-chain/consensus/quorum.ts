/**
 * Fault bound and quorum size for n validators. q = ceil((n+f+1)/2) with f = floor((n-1)/3): any two
 * quorums share at least f+1 validators (so one honest one) and n-f honest validators still form a
 * quorum. For n = 3f+1 this is the classic 2f+1; for other n it stays right as the set changes.
 */
export function faultBound(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`validator count must be a positive integer, got ${n}`);
  return Math.floor((n - 1) / 3);
}

export function quorum(n: number): number {
  return Math.ceil((n + faultBound(n) + 1) / 2);
}

export function leaderOf(view: bigint, n: number): number {
  return Number(view % BigInt(n));
}
