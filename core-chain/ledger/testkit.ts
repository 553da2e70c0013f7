/**
 * Fixtures shared by the ledger's tests and benchmarks (not part of the public surface): accounts with
 * fast signers, a genesis with funded accounts, a wired ledger, and certificates the ledger accepts
 * (it trusts the consensus core to have checked their signatures).
 */
import type { Certificate } from '../consensus/types.ts';
import { LoulanError } from '../errors.ts';
import { generateKeyPair, type Alg } from '../crypto/keys.ts';
import { createSigner } from '../crypto/signature.ts';
import { assetGenesisEntries, encodeAssetArgs } from './contracts/asset.ts';
import { BUSINESS_ROLES, type ParticipantInput, type RegistryParams, type SchemaInput } from './contracts/registry.ts';
import type { RoutesGenesisConfig } from './contracts/routes.ts';
import { standardContracts } from './contracts/standard.ts';
import { CallContext, type ContractContext, type ContractRegistry } from './contracts.ts';
import { committedNonce, executeBlock, type ExecutionResult, type Receipt } from './executor.ts';
import type { BlockContext } from './block.ts';
import { StateOverlay, type State, type StateReader } from './state.ts';
import { createGenesis, genesisState, genesisTip, type Genesis } from './genesis.ts';
import { Ledger, type LedgerOptions } from './ledger.ts';
import { Mempool, type MempoolOptions } from './mempool.ts';
import { encodeTx, senderAddress, txSigningBytes, type UnsignedTx } from './tx.ts';
import { VerifiedTxCache } from './verified.ts';

/**
 * A context for calling `contract` directly over `state` at the next height, its writes kept aside:
 * to read the details of an error that a receipt only names by code.
 */
export function directContext(state: StateReader, contract: string, sender: Account, at: { readonly height: bigint; readonly time: bigint }): ContractContext {
  const overlay = new StateOverlay(state);
  const call = new CallContext(overlay);
  call.height = at.height + 1n;
  call.time = at.time + 1n;
  call.begin(contract, sender.address, 0);
  return call;
}

/** The code a call throws ('none' when it returns); rethrows anything that is not a LoulanError. */
export function codeOf(fn: () => unknown): string {
  return errorOf(fn)?.code ?? 'none';
}

export function errorOf(fn: () => unknown): LoulanError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LoulanError) return error;
    throw error;
  }
  return undefined;
}

export interface Account {
  readonly alg: Alg;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly address: string;
  sign(message: Uint8Array): Uint8Array;
}

export function makeAccount(alg: Alg = 'ES256'): Account {
  const { privateKey, publicKey } = generateKeyPair(alg);
  const signer = createSigner(alg, privateKey, { kid: 'test' });
  return { alg, privateKey, publicKey, address: senderAddress(alg, publicKey), sign: (m) => signer.sign(m) as Uint8Array };
}

export interface TestChain {
  readonly genesis: Genesis;
  /** Registered as participant `issuer` (organisation `issuer-org`) with roles admin and operator. */
  readonly issuer: Account;
  /** Registered as participants `acct-<i>` (organisation `test-org`) with the business roles. */
  readonly accounts: readonly Account[];
  /** The validator keys (ES256K) in creation order, registered as `v<i>` of organisation `org-v<i>`. */
  readonly validators: readonly Account[];
}

export interface ChainOptions {
  readonly accounts?: number;
  readonly alg?: Alg;
  readonly balance?: bigint;
  readonly validators?: number;
  readonly time?: bigint;
  /** Further participants to register in genesis. */
  readonly participants?: readonly ParticipantInput[];
  readonly registry?: Partial<RegistryParams>;
  readonly routes?: RoutesGenesisConfig;
  readonly schemas?: readonly SchemaInput[];
}

export function makeChain(options: ChainOptions = {}): TestChain {
  const issuer = makeAccount('Ed25519');
  const accounts: Account[] = [];
  for (let i = 0; i < (options.accounts ?? 4); i++) accounts.push(makeAccount(options.alg ?? 'ES256'));
  const balances: Record<string, bigint> = {};
  for (const a of accounts) balances[a.address] = options.balance ?? 1_000_000n;
  const validators: Account[] = [];
  for (let i = 0; i < (options.validators ?? 4); i++) validators.push(makeAccount('ES256K'));
  const key = (a: Account) => ({ alg: a.alg, publicKey: a.publicKey });
  const genesis = createGenesis({
    chainName: 'loulan-test',
    time: options.time ?? 1_700_000_000_000n,
    validators: validators.map((v, i) => ({ name: `v${i}`, publicKey: v.publicKey, organisation: `org-v${i}` })),
    participants: [
      { id: 'issuer', organisation: 'issuer-org', roles: ['admin', 'operator'], keys: [key(issuer)] },
      ...accounts.map((a, i) => ({ id: `acct-${i}`, organisation: 'test-org', roles: BUSINESS_ROLES, keys: [key(a)] })),
      ...(options.participants ?? []),
    ],
    registry: options.registry ?? {},
    ...(options.routes === undefined ? {} : { routes: options.routes }),
    ...(options.schemas === undefined ? {} : { schemas: options.schemas }),
    state: assetGenesisEntries({ issuer: issuer.address, balances }),
  });
  return { genesis, issuer, accounts, validators };
}

/** Signs and encodes a call. */
export function signedTx(chainId: Uint8Array, from: Account, nonce: bigint, contract: string, method: string, args: Uint8Array): Uint8Array {
  const unsigned: UnsignedTx = { chainId, sender: { alg: from.alg, publicKey: from.publicKey }, nonce, contract, method, args };
  return encodeTx({ ...unsigned, sig: from.sign(txSigningBytes(unsigned)) });
}

export function transfer(chainId: Uint8Array, from: Account, nonce: bigint, to: string, amount: bigint): Uint8Array {
  return signedTx(chainId, from, nonce, 'asset', 'transfer', encodeAssetArgs({ to, amount }));
}

export interface Node {
  readonly ledger: Ledger;
  readonly mempool: Mempool;
}

export function makeNode(
  genesis: Genesis,
  options: { readonly self?: number; readonly ledger?: Partial<LedgerOptions>; readonly mempool?: Partial<MempoolOptions> } = {},
): Node {
  const state = genesisState(genesis);
  const contracts = standardContracts();
  const mempool = new Mempool({
    chainId: genesis.chainId,
    nonceOf: (a) => committedNonce(state, a),
    contracts,
    state,
    verified: new VerifiedTxCache(),
    ...options.mempool,
  });
  const ledger = new Ledger({
    chainId: genesis.chainId,
    validatorSetHash: genesis.validatorSetHash,
    self: options.self ?? 0,
    validatorCount: genesis.validators.length,
    contracts,
    state,
    mempool,
    tip: genesisTip(genesis),
    maxBlockTxs: 1_000,
    maxBlockBytes: 1 << 20,
    maxSkewMs: 2_000,
    ...options.ledger,
  });
  return { ledger, mempool };
}

/** A certificate for `payload` at `height` (signatures are the consensus core's business). */
export function certFor(ledger: Ledger, height: bigint, payload: Uint8Array): Certificate {
  return { height, view: 0n, digest: ledger.digest(payload), sigs: [] };
}

/**
 * Runs real blocks through `executeBlock` on a genesis state, one height and one second of block time
 * per block, tracking each sender's nonce: for contract tests that need heights, time and the
 * begin-block hooks without a ledger or consensus.
 */
export class BlockRunner {
  readonly state: State;
  readonly contracts: ContractRegistry;
  readonly #genesis: Genesis;
  readonly #nonces = new Map<string, bigint>();
  height = 0n;
  time: bigint;

  constructor(genesis: Genesis, contracts: ContractRegistry = standardContracts()) {
    this.#genesis = genesis;
    this.state = genesisState(genesis);
    this.contracts = contracts;
    this.time = genesis.time;
  }

  /** A signed call from `from` with its next nonce. */
  tx(from: Account, contract: string, method: string, args: Uint8Array): Uint8Array {
    const nonce = (this.#nonces.get(from.address) ?? 0n) + 1n;
    this.#nonces.set(from.address, nonce);
    return signedTx(this.#genesis.chainId, from, nonce, contract, method, args);
  }

  /** Executes and commits the next block (`advanceMs` of block time after the previous one). */
  block(txs: readonly Uint8Array[] = [], advanceMs = 1_000n): ExecutionResult {
    const height = this.height + 1n;
    const time = this.time + advanceMs;
    const context: BlockContext = {
      chainId: this.#genesis.chainId,
      height,
      prevHash: new Uint8Array(32),
      time,
      proposer: 0,
      validatorSetHash: this.#genesis.validatorSetHash,
      nextValidatorSetHash: this.#genesis.validatorSetHash,
    };
    const result = executeBlock(this.state, context, txs, { contracts: this.contracts });
    this.state.apply(result.change);
    this.height = height;
    this.time = time;
    return result;
  }

  /** One call in a block of its own; returns its receipt code (null when it succeeded) and the block. */
  call(from: Account, contract: string, method: string, args: Uint8Array): { code: string | null; result: ExecutionResult } {
    const result = this.block([this.tx(from, contract, method, args)]);
    return { code: (result.receipts[0] as Receipt).code, result };
  }
}
