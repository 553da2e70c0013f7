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
import { createAssetContract } from './contracts/asset.ts';
import { committedNonce } from './executor.ts';
import { createGenesis, genesisState, genesisTip, type Genesis } from './genesis.ts';
import { Ledger, type LedgerOptions } from './ledger.ts';
import { Mempool, type MempoolOptions } from './mempool.ts';
import { encodeTx, senderAddress, txSigningBytes, type UnsignedTx } from './tx.ts';
import { VerifiedTxCache } from './verified.ts';

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
  readonly issuer: Account;
  readonly accounts: readonly Account[];
}

export function makeChain(options: { readonly accounts?: number; readonly alg?: Alg; readonly balance?: bigint; readonly validators?: number; readonly time?: bigint } = {}): TestChain {
  const issuer = makeAccount('Ed25519');
  const accounts: Account[] = [];
  for (let i = 0; i < (options.accounts ?? 4); i++) accounts.push(makeAccount(options.alg ?? 'ES256'));
  const balances: Record<string, bigint> = {};
  for (const a of accounts) balances[a.address] = options.balance ?? 1_000_000n;
  const validators = [];
  for (let i = 0; i < (options.validators ?? 4); i++) validators.push({ name: `v${i}`, publicKey: generateKeyPair('ES256K').publicKey });
  const genesis = createGenesis({
    chainName: 'loulan-test',
    time: options.time ?? 1_700_000_000_000n,
    validators,
    state: assetGenesisEntries({ issuer: issuer.address, balances }),
  });
  return { genesis, issuer, accounts };
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
  const contracts = [createAssetContract()];
  const mempool = new Mempool({
    chainId: genesis.chainId,
    nonceOf: (a) => committedNonce(state, a),
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
