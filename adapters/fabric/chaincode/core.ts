/**
 * The `core` contract: the chaincode's light client of the core chain as transactions. Its own
 * contract (rather than methods repeated on points and receivables) because the trust record and the
 * consumed-decision registry belong to the whole chaincode, and Fabric's contract runtime dispatches
 * only methods declared on a contract's own class, so a shared base class would not expose them.
 */
import { Contract, type Context } from 'fabric-contract-api';
import { getDecision, getTrust, initTrust, updateValidatorSet, verifyEvent, verifyHeader, verifyHeaderChainTx, type TrustInit } from './trust.ts';
import { guard, result } from './wire.ts';

export const CORE_CONTRACT = 'core';

/**
 * Transactions (all arguments strings; results canonical JSON):
 *   init(configJson)                   once: {chainId, validators, systemAddress, trustedFrom?}
 *   getTrust()                         the trust record
 *   updateValidatorSet(itemsJson)      a certified header chain ending on a set change
 *   verifyHeader(headerHex, certificateJson)                                  evaluate-only check
 *   verifyEvent(headerHex, certificateJson, eventHex, index, pathJson)        evaluate-only check
 *   verifyHeaderChain(itemsJson, afterHex)                                    evaluate-only check
 *   getDecision(decisionIdHex)         the consumption record of a decision, or null
 */
export class CoreTrustContract extends Contract {
  constructor() {
    super(CORE_CONTRACT);
  }

  async init(ctx: Context, configJson: string): Promise<string> {
    return guard(() => initTrust(ctx, configJson));
  }

  async getTrust(ctx: Context): Promise<string> {
    return guard(() => getTrust(ctx));
  }

  async updateValidatorSet(ctx: Context, itemsJson: string): Promise<string> {
    return guard(() => updateValidatorSet(ctx, itemsJson));
  }

  async verifyHeader(ctx: Context, headerHex: string, certificateJson: string): Promise<string> {
    return guard(() => verifyHeader(ctx, headerHex, certificateJson));
  }

  async verifyEvent(ctx: Context, headerHex: string, certificateJson: string, eventHex: string, index: string, pathJson: string): Promise<string> {
    return guard(() => verifyEvent(ctx, headerHex, certificateJson, eventHex, index, pathJson));
  }

  async verifyHeaderChain(ctx: Context, itemsJson: string, afterHex: string): Promise<string> {
    return guard(() => verifyHeaderChainTx(ctx, itemsJson, afterHex));
  }

  async getDecision(ctx: Context, decisionIdHex: string): Promise<string> {
    return guard(() => getDecision(ctx, decisionIdHex));
  }
}

/**
 * The transaction that initialises a freshly deployed chaincode: submit `core:init` with one
 * argument (deploy with `--init-required` so it is the first transaction and no one else's).
 *
 * @example
 * const { contract, fcn, args } = initTransaction({ chainId, validators, systemAddress: 'cn.loulan.fabric.org1' });
 * await network.getContract('loulan', contract).submitTransaction(fcn, ...args);
 */
export function initTransaction(config: TrustInit): { readonly contract: string; readonly fcn: string; readonly name: string; readonly args: readonly string[] } {
  return { contract: CORE_CONTRACT, name: 'init', fcn: `${CORE_CONTRACT}:init`, args: [result(config)] };
}
