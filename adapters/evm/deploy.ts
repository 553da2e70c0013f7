/**
 * Deploying the Loulan gateway on an EVM chain: one library call, which the `loulan evm deploy`
 * command wraps.
 *
 * The gateway's constructor creates its two tokens (points, receivables) with itself as their only
 * minter, so "deploy and wire" is a single creation transaction: no window in which a token exists
 * with another owner, and nothing to get wrong in a second step. The call then reads the token
 * addresses back from the gateway. The bytecode and ABI come from the committed artefacts
 * (adapters/evm/artifacts), checked against the sources by the build's `--check`.
 *
 * The transaction goes through the submitter, so deployment has the same gas cap and phase errors as
 * every other transaction (a gateway creation needs more gas than a decision: the default cap here
 * is higher).
 */
import { Interface, type JsonRpcProvider } from 'ethers';
import { LoulanError, toHex } from '../../core-chain/index.ts';
import { systemId } from '../../relayers/decision.ts';
import { loadArtifact } from './build.ts';
import { evmProvider, type EvmSigner } from './client.ts';
import { packSetKeys } from './codec.ts';
import { createSubmitter, type GasPolicy } from './submitter.ts';

export interface TokenConfig {
  readonly pointsName: string;
  readonly pointsSymbol: string;
  readonly pointsDecimals: number;
  readonly receivablesName: string;
  readonly receivablesSymbol: string;
}

export const DEFAULT_TOKENS: TokenConfig = Object.freeze({
  pointsName: 'Loulan Points',
  pointsSymbol: 'LPT',
  pointsDecimals: 0,
  receivablesName: 'Loulan Receivables',
  receivablesSymbol: 'LRC',
});

export interface DeployGatewayOptions {
  /** The EVM node (or pass `provider`). */
  readonly rpcUrl?: string;
  readonly provider?: JsonRpcProvider;
  readonly signer: EvmSigner;
  /** The core chain's 32-byte chain id. */
  readonly chainId: Uint8Array;
  /** The validator set the gateway trusts from `height` on (33-byte compressed keys, index order). */
  readonly validatorSet: { readonly publicKeys: readonly Uint8Array[]; readonly height?: bigint };
  /** The gateway's own Loulan address (e.g. `cn.loulan.partner.airline.evm`); decisions must target it. */
  readonly target: string;
  readonly tokens?: Partial<TokenConfig>;
  readonly gas?: Partial<GasPolicy>;
}

export interface GatewayDeployment {
  /** EIP-155 chain id of the EVM chain. */
  readonly evmChainId: bigint;
  readonly gateway: string;
  readonly points: string;
  readonly receivables: string;
  readonly target: string;
  /** SHA-256 of `target`, hex: the id decisions name. */
  readonly systemId: string;
  readonly txHash: string;
  readonly blockNumber: bigint;
  readonly gasUsed: bigint;
}

/**
 * @example
 * const deployed = await deployGateway({
 *   rpcUrl: 'http://127.0.0.1:8545', signer: signerFromKey(key),
 *   chainId: genesis.chainId, validatorSet: { publicKeys: genesis.validators.map((v) => v.publicKey) },
 *   target: 'cn.loulan.partner.airline.evm',
 * });
 */
export async function deployGateway(options: DeployGatewayOptions): Promise<GatewayDeployment> {
  if (options.chainId.length !== 32) throw new LoulanError('CONFIG_INVALID', 'the core chain id is 32 bytes', { details: { field: 'chainId' } });
  if (options.validatorSet.publicKeys.length === 0) throw new LoulanError('CONFIG_INVALID', 'the validator set is empty', { details: { field: 'validatorSet' } });
  const provider = options.provider ?? (options.rpcUrl === undefined ? undefined : evmProvider(options.rpcUrl));
  if (provider === undefined) throw new LoulanError('CONFIG_INVALID', 'give rpcUrl or provider', { details: { field: 'rpcUrl' } });
  const evmChainId = (await provider.getNetwork()).chainId;
  const artifact = loadArtifact('LoulanGateway');
  const gateway = new Interface(artifact.abi as never);
  const id = systemId(options.target);
  const tokens = { ...DEFAULT_TOKENS, ...options.tokens };
  const data =
    artifact.bytecode +
    gateway.encodeDeploy(['0x' + toHex(options.chainId), '0x' + toHex(id), packSetKeys(options.validatorSet.publicKeys), options.validatorSet.height ?? 0n, tokens]).slice(2);
  const submitter = createSubmitter({
    provider,
    signer: options.signer,
    chainId: evmChainId,
    gas: { cap: 20_000_000n, ...options.gas },
    abis: [artifact.abi as never],
    pollIntervalMs: 100,
  });
  const created = await submitter.send({ data });
  const address = created.contractAddress;
  if (address === undefined) throw new LoulanError('INTERNAL', `transaction ${created.txHash} created no contract`, { details: { txHash: created.txHash } });
  const read = async (name: 'points' | 'receivables'): Promise<string> => {
    const result = await provider.call({ to: address, data: gateway.encodeFunctionData(name, []), blockTag: Number(created.blockNumber) });
    return gateway.decodeFunctionResult(name, result)[0] as string;
  };
  return {
    evmChainId,
    gateway: address,
    points: await read('points'),
    receivables: await read('receivables'),
    target: options.target,
    systemId: toHex(id),
    txHash: created.txHash,
    blockNumber: created.blockNumber,
    gasUsed: created.gasUsed,
  };
}

/** The deployment as printed by `loulan evm deploy` (bigints as decimal strings). */
export function deploymentToJson(d: GatewayDeployment): Record<string, string> {
  return {
    evmChainId: d.evmChainId.toString(),
    gateway: d.gateway,
    points: d.points,
    receivables: d.receivables,
    target: d.target,
    systemId: d.systemId,
    txHash: d.txHash,
    blockNumber: d.blockNumber.toString(),
    gasUsed: d.gasUsed.toString(),
  };
}
