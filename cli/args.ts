/** A small strict option parser: `--name value`, `--flag`; unknown options are usage errors. */
import { LoulanError } from '../core-chain/errors.ts';

export interface OptionSpec {
  readonly [name: string]: 'string' | 'boolean';
}

export function parseArgs<S extends OptionSpec>(args: readonly string[], spec: S): { options: { [K in keyof S]?: S[K] extends 'boolean' ? boolean : string }; positional: string[] } {
  const options: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const kind = spec[name];
    if (kind === undefined) throw new LoulanError('CLI_USAGE', `unknown option --${name}`, { details: { option: name } });
    if (kind === 'boolean') {
      options[name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new LoulanError('CLI_USAGE', `option --${name} needs a value`, { details: { option: name } });
    options[name] = value;
  }
  return { options: options as never, positional };
}

export function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new LoulanError('CLI_USAGE', `option --${name} is required`, { details: { option: name } });
  return value;
}

export function integer(value: string | undefined, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new LoulanError('CLI_USAGE', `option --${name} must be an integer in [${min}, ${max}]`, { details: { option: name } });
  return n;
}
