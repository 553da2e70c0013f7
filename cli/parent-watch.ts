/**
 * Child processes that `loulan up`, `loulan testnet up` and the tests start (validators, a switch)
 * follow their parent: a parent killed with -9 runs no cleanup, and its children would otherwise keep
 * running, holding their ports and data folders so that the next `loulan up` cannot start. A child
 * started with LOULAN_PARENT_PID notices within a second that its parent is gone (its parent pid
 * changed: it was re-parented) and stops as it would on SIGTERM. Nothing acknowledged depends on this:
 * it only frees what the dead parent can no longer stop.
 */
export const PARENT_PID_ENV = 'LOULAN_PARENT_PID';

/** Calls `onGone` once if the parent named by LOULAN_PARENT_PID goes away; returns a function that stops watching. */
export function watchParent(onGone: () => void, intervalMs = 1_000): () => void {
  const pid = Number(process.env[PARENT_PID_ENV]);
  if (!Number.isSafeInteger(pid) || pid <= 1 || process.ppid !== pid) return () => undefined;
  const timer = setInterval(() => {
    // process.ppid is read afresh each time: after the parent dies it is init's or a subreaper's pid.
    if (process.ppid === pid) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
