/**
 * Signed test-asset transfers from the funded accounts of a testnet folder, with per-account nonces,
 * for integration tests, examples and load generators.
 */
import { readFileSync } from 'node:fs';
import { fromHex, toHex } from '../../core-chain/crypto/index.ts';
import { encodeAssetArgs, encodeTx, signTx, txHash, type Genesis } from '../../core-chain/ledger/index.ts';
import type { TestnetAccount } from '../../core-chain/node/testnet.ts';

export interface SignedTx {
  readonly bytes: Uint8Array;
  readonly hash: string;
  readonly from: string;
  readonly nonce: bigint;
}

export class TransferFactory {
  readonly #accounts: ReadonlyArray<TestnetAccount & { nonce: bigint; key: Uint8Array; pub: Uint8Array }>;
  readonly #chainId: Uint8Array;
  #next = 0;

  constructor(genesis: Genesis, accounts: readonly TestnetAccount[]) {
    this.#chainId = genesis.chainId;
    this.#accounts = accounts.map((a) => ({ ...a, nonce: 0n, key: fromHex(a.privateKey), pub: fromHex(a.publicKey) }));
  }

  static fromFile(genesis: Genesis, accountsFile: string): TransferFactory {
    return new TransferFactory(genesis, JSON.parse(readFileSync(accountsFile, 'utf8')) as TestnetAccount[]);
  }

  get accountCount(): number {
    return this.#accounts.length;
  }

  /** A transfer of `amount` from the next account (round-robin) to the one after it. */
  next(amount = 1n): SignedTx {
    const i = this.#next++ % this.#accounts.length;
    return this.from(i, this.#accounts[(i + 1) % this.#accounts.length]!.address, amount);
  }

  from(index: number, to: string, amount: bigint): SignedTx {
    const a = this.#accounts[index]!;
    a.nonce += 1n;
    const tx = signTx(
      { chainId: this.#chainId, sender: { alg: a.alg, publicKey: a.pub }, nonce: a.nonce, contract: 'asset', method: 'transfer', args: encodeAssetArgs({ to, amount }) },
      a.key,
    );
    const bytes = encodeTx(tx);
    return { bytes, hash: toHex(txHash(bytes)), from: a.address, nonce: a.nonce };
  }
}
