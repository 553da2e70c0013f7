/**
 * Compiles the gateway contracts from source with the solc-js pinned in package.json, and keeps the
 * committed artefacts honest.
 *
 * Artefacts are committed (adapters/evm/artifacts/<Name>.json) so that deploying needs no compiler,
 * and checked against a fresh compile (`--check`, build.test.ts) so that what is deployed is what the
 * sources say. Everything that changes the bytecode (sources, settings, compiler version) goes into
 * `sourceHash`, and the metadata hash is left out of the bytecode so that a rebuild is byte-identical.
 *
 *   npm run build:contracts             # write the artefacts
 *   npm run build:contracts -- --check  # exit 1 if a committed artefact differs from a fresh compile
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { sha256, toHex } from '../../core-chain/index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CONTRACTS_DIR = join(HERE, 'contracts');
export const ARTIFACTS_DIR = join(HERE, 'artifacts');

/** Compiler settings; part of `sourceHash`. viaIR is off: the contracts compile without it. */
export const SETTINGS = {
  optimizer: { enabled: true, runs: 10_000 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const;

/** One compiled contract, as written to adapters/evm/artifacts/<contractName>.json. */
export interface Artifact {
  readonly contractName: string;
  readonly abi: readonly unknown[];
  /** 0x-prefixed creation code. */
  readonly bytecode: string;
  /** 0x-prefixed runtime code. */
  readonly deployedBytecode: string;
  /** SHA-256 (hex) of the compiler version, settings and every source, so any change shows. */
  readonly sourceHash: string;
  /** solc's full version string. */
  readonly compiler: string;
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
}

/** Every .sol file under contracts/, keyed by its path relative to it (sorted, `/` separators). */
export function readSources(dir = CONTRACTS_DIR): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.sol')) out[relative(dir, path).split('\\').join('/')] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/**
 * Compiles the sources; returns one artefact per deployable contract (interfaces and internal-only
 * libraries are left out), sorted by name. Throws with solc's messages on any compile error.
 */
export function compile(sources: Record<string, string> = readSources()): Artifact[] {
  // Loaded here, not at import: solc-js is a large emscripten module that readers of artefacts
  // (loadArtifact) must not pay for.
  const solc = createRequire(import.meta.url)('solc') as { version(): string; compile(input: string): string };
  const compiler = solc.version();
  const names = Object.keys(sources).sort();
  const sourceHash = toHex(
    sha256(new TextEncoder().encode(JSON.stringify({ compiler, settings: SETTINGS, sources: names.map((n) => [n, sources[n]]) }))),
  );
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(names.map((n) => [n, { content: sources[n] }])),
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  const artifacts: Artifact[] = [];
  for (const file of Object.values(output.contracts ?? {})) {
    for (const [contractName, c] of Object.entries(file)) {
      // Interfaces have no code and internal-only libraries no ABI: nothing to deploy or call.
      if (c.evm.bytecode.object === '' || c.abi.length === 0) continue;
      artifacts.push({
        contractName,
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
        sourceHash,
        compiler,
      });
    }
  }
  return artifacts.sort((a, b) => (a.contractName < b.contractName ? -1 : 1));
}

/** The committed text of an artefact: two-space JSON with a trailing newline. */
export function artifactText(artifact: Artifact): string {
  return JSON.stringify(artifact, null, 2) + '\n';
}

/** Writes the artefacts, removing stale ones for contracts that no longer exist. */
export function writeArtifacts(artifacts: readonly Artifact[], dir = ARTIFACTS_DIR): void {
  mkdirSync(dir, { recursive: true });
  const wanted = new Set(artifacts.map((a) => `${a.contractName}.json`));
  for (const name of readdirSync(dir)) if (name.endsWith('.json') && !wanted.has(name)) rmSync(join(dir, name));
  for (const a of artifacts) writeFileSync(join(dir, `${a.contractName}.json`), artifactText(a));
}

/** Files under `dir` that differ from, are missing from, or are extra to a fresh compile. */
export function staleArtifacts(artifacts: readonly Artifact[], dir = ARTIFACTS_DIR): string[] {
  const stale: string[] = [];
  const wanted = new Set<string>();
  for (const a of artifacts) {
    const name = `${a.contractName}.json`;
    wanted.add(name);
    const path = join(dir, name);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== artifactText(a)) stale.push(name);
  }
  if (existsSync(dir)) for (const name of readdirSync(dir)) if (name.endsWith('.json') && !wanted.has(name)) stale.push(name);
  return stale.sort();
}

/** Reads one committed artefact. */
export function loadArtifact(contractName: string, dir = ARTIFACTS_DIR): Artifact {
  return JSON.parse(readFileSync(join(dir, `${contractName}.json`), 'utf8')) as Artifact;
}

if (import.meta.main) {
  const artifacts = compile();
  if (process.argv.includes('--check')) {
    const stale = staleArtifacts(artifacts);
    if (stale.length > 0) {
      console.error(`stale artefacts (run npm run build:contracts): ${stale.join(', ')}`);
      process.exitCode = 1;
    } else {
      console.log(`${artifacts.length} artefacts match the sources`);
    }
  } else {
    writeArtifacts(artifacts);
    for (const a of artifacts) console.log(`${a.contractName}: ${(a.deployedBytecode.length - 2) / 2} bytes runtime`);
  }
}
