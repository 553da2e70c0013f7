/**
 * The validator set a shop trusts, read from the consortium's genesis file (which the consortium
 * publishes out of band): its chain id and the validators' public keys, in set order. After a
 * validator-set change, a shop follows the chain of certified headers (`verifyHeaderChain`) instead.
 */
import { readFileSync } from 'node:fs';
import { fromHex, type TrustedValidatorSet } from '../../core-chain/index.ts';

export function trustedSetFromGenesis(file: string): TrustedValidatorSet {
  const genesis = JSON.parse(readFileSync(file, 'utf8')) as { chainId: string; validators: { publicKey: string }[] };
  return { chainId: fromHex(genesis.chainId, 32), publicKeys: genesis.validators.map((v) => fromHex(v.publicKey, 33)) };
}
