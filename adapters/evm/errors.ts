/**
 * Turning what ethers and the node report into the adapter's phase errors, with the revert decoded.
 *
 * A revert reaches us in several wrappings (ethers' CALL_EXCEPTION with `data`, a JSON-RPC error
 * object nested in `info.error` or `error`, a trace's `output`); `revertData` digs out the raw bytes
 * and `decodeRevert` names them: a custom error of one of the given contract interfaces (by name,
 * with its arguments), `Error(string)` (its message) or `Panic(uint256)` (`Panic(0x11)`).
 */
import { Interface, type ErrorDescription } from 'ethers';

export interface DecodedRevert {
  /** Custom error name, the require/revert message, or `Panic(0x..)`; undefined when it cannot be told. */
  readonly reason?: string;
  /** Decoded arguments of a custom error, as strings. */
  readonly args?: readonly string[];
  /** The raw revert data, 0x hex. */
  readonly data?: string;
}

const STANDARD = new Interface(['error Error(string)', 'error Panic(uint256)']);

/** The revert bytes inside an ethers or JSON-RPC error, if any. */
export function revertData(error: unknown, depth = 0): string | undefined {
  if (depth > 4 || error === null || typeof error !== 'object') return undefined;
  const e = error as Record<string, unknown>;
  for (const key of ['data', 'output']) {
    const value = e[key];
    if (typeof value === 'string' && /^0x(?:[0-9a-fA-F]{2})*$/.test(value)) return value;
    if (value !== null && typeof value === 'object') {
      const inner = revertData(value, depth + 1);
      if (inner !== undefined) return inner;
    }
  }
  for (const key of ['info', 'error', 'cause', 'revert']) {
    const inner = revertData(e[key], depth + 1);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

export function decodeRevert(data: string | undefined, interfaces: readonly Interface[] = []): DecodedRevert {
  if (data === undefined || data === '0x') return data === undefined ? {} : { data };
  // Error(string) and Panic(uint256) first: ethers' Interface knows them too, by their bare names.
  const standard = tryParse(STANDARD, data);
  if (standard?.name === 'Error') return { reason: String(standard.args[0]), data };
  if (standard?.name === 'Panic') return { reason: `Panic(0x${(standard.args[0] as bigint).toString(16)})`, data };
  for (const iface of interfaces) {
    const parsed = tryParse(iface, data);
    if (parsed !== null) return { reason: parsed.name, args: parsed.args.map((a: unknown) => String(a)), data };
  }
  return { data };
}

function tryParse(iface: Interface, data: string): ErrorDescription | null {
  try {
    return iface.parseError(data);
  } catch {
    return null;
  }
}

/** What a failed call says, for a log line or `details.message`: ethers' short message, or the error's. */
export function shortMessage(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const e = error as { shortMessage?: unknown; message?: unknown };
    if (typeof e.shortMessage === 'string') return e.shortMessage;
    if (typeof e.message === 'string') return e.message;
  }
  return String(error);
}
