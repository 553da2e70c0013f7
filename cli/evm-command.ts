/**
 * `loulan evm deploy`: deploys the Loulan gateway (and, through its constructor, its two tokens) on
 * an EVM chain and prints the addresses as JSON, for an operator to put into a route's `evm` link.
 *
 * The trusted validator set comes from the core chain's genesis file (`--genesis`), or, for a set
 * that took over later, from `--core-chain-id` with `--validator-keys` and `--set-height`. The
 * deploying account's key is a file: a hex private key, or `{"privateKey": "<hex>"}` as `loulan
 * testnet init` writes keys.
 */
import { readFileSync } from 'node:fs';
import type { TokenConfig } from '../adapters/evm/deploy.ts';
import { fromHex } from '../core-chain/crypto/hash.ts';
import { LoulanError, isLoulanError } from '../core-chain/errors.ts';
import { parseGenesis } from '../core-chain/ledger/genesis.ts';
import { parseArgs, required } from './args.ts';
import type { Command, Io } from './main.ts';

const USAGE = [
  'loulan evm deploy --rpc URL --key-file FILE --target ADDRESS --genesis FILE [--gas-cap N]',
  '                  [--points-name S] [--points-symbol S] [--points-decimals N] [--receivables-name S] [--receivables-symbol S]',
  '       loulan evm deploy --rpc URL --key-file FILE --target ADDRESS --core-chain-id HEX --validator-keys HEX,HEX,... [--set-height N] ...',
  '  ADDRESS is the gateway\'s own Loulan address (e.g. cn.loulan.partner.airline.evm): decisions must name it.',
].join('\n');

const OPTIONS = {
  rpc: 'string',
  'key-file': 'string',
  target: 'string',
  genesis: 'string',
  'core-chain-id': 'string',
  'validator-keys': 'string',
  'set-height': 'string',
  'gas-cap': 'string',
  'points-name': 'string',
  'points-symbol': 'string',
  'points-decimals': 'string',
  'receivables-name': 'string',
  'receivables-symbol': 'string',
} as const;

export const evmCommand: Command = {
  name: 'evm',
  summary: 'deploy the Loulan gateway and its tokens on an EVM chain',
  usage: USAGE,
  async run(args, io) {
    try {
      const { options, positional } = parseArgs(args, OPTIONS);
      if (positional[0] !== 'deploy' || positional.length !== 1) throw usage(`expected \`loulan evm deploy\`\n${USAGE}`, 'command');
      const rpcUrl = required(options.rpc, 'rpc');
      const { chainId, publicKeys, height } = trustedSet(options);
      const tokens: Partial<TokenConfig> = {
        ...(options['points-name'] === undefined ? {} : { pointsName: options['points-name'] }),
        ...(options['points-symbol'] === undefined ? {} : { pointsSymbol: options['points-symbol'] }),
        ...(options['points-decimals'] === undefined ? {} : { pointsDecimals: integer(options['points-decimals'], 'points-decimals', 255n) }),
        ...(options['receivables-name'] === undefined ? {} : { receivablesName: options['receivables-name'] }),
        ...(options['receivables-symbol'] === undefined ? {} : { receivablesSymbol: options['receivables-symbol'] }),
      };
      // ethers and the artefacts load only when this command runs, not with every `loulan` command.
      const { deployGateway, deploymentToJson } = await import('../adapters/evm/deploy.ts');
      const { evmProvider, signerFromKey } = await import('../adapters/evm/client.ts');
      const provider = evmProvider(rpcUrl);
      try {
        const deployed = await deployGateway({
          provider,
          signer: signerFromKey(readKey(required(options['key-file'], 'key-file'))),
          chainId,
          validatorSet: { publicKeys, height },
          target: required(options.target, 'target'),
          tokens,
          ...(options['gas-cap'] === undefined ? {} : { gas: { cap: BigInt(integer(options['gas-cap'], 'gas-cap', 1n << 40n)) } }),
        });
        io.out(JSON.stringify(deploymentToJson(deployed), null, 2));
      } finally {
        provider.destroy();
      }
      return 0;
    } catch (error) {
      return fail(io, error);
    }
  },
};

function trustedSet(options: { genesis?: string; 'core-chain-id'?: string; 'validator-keys'?: string; 'set-height'?: string }): {
  chainId: Uint8Array;
  publicKeys: Uint8Array[];
  height: bigint;
} {
  if (options.genesis !== undefined) {
    if (options['core-chain-id'] !== undefined || options['validator-keys'] !== undefined) throw usage('give --genesis, or --core-chain-id with --validator-keys, not both', 'genesis');
    let text: string;
    try {
      text = readFileSync(options.genesis, 'utf8');
    } catch (cause) {
      throw new LoulanError('CLI_USAGE', `cannot read the genesis file ${options.genesis}`, { details: { option: 'genesis' }, cause });
    }
    const genesis = parseGenesis(text);
    return { chainId: genesis.chainId, publicKeys: genesis.validators.map((v) => v.publicKey), height: 0n };
  }
  const chainHex = required(options['core-chain-id'], 'core-chain-id').replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(chainHex)) throw usage('--core-chain-id is 32 bytes of hex', 'core-chain-id');
  const keys = required(options['validator-keys'], 'validator-keys').split(',');
  for (const key of keys) if (!/^(02|03)[0-9a-fA-F]{64}$/.test(key)) throw usage('--validator-keys are 33-byte compressed secp256k1 keys in hex, comma-separated', 'validator-keys');
  return { chainId: fromHex(chainHex.toLowerCase()), publicKeys: keys.map((k) => fromHex(k.toLowerCase())), height: BigInt(integer(options['set-height'] ?? '0', 'set-height', (1n << 64n) - 1n)) };
}

/** A hex private key, bare or as `{"privateKey": "<hex>"}`. */
function readKey(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new LoulanError('CLI_USAGE', `cannot read the key file ${file}`, { details: { option: 'key-file' }, cause });
  }
  let key = text;
  if (text.startsWith('{')) {
    const doc = JSON.parse(text) as { privateKey?: unknown };
    key = typeof doc.privateKey === 'string' ? doc.privateKey : '';
  }
  key = key.replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw usage(`${file} holds no 32-byte hex private key`, 'key-file');
  return '0x' + key;
}

function integer(text: string, option: string, max: bigint): number {
  if (!/^(?:0|[1-9][0-9]*)$/.test(text) || BigInt(text) > max || BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw usage(`--${option} must be an integer in [0, ${max}]`, option);
  return Number(text);
}

function usage(message: string, option: string): LoulanError {
  return new LoulanError('CLI_USAGE', message, { details: { option } });
}

function fail(io: Io, error: unknown): number {
  if (!isLoulanError(error)) throw error;
  const txHash = error.details['txHash'];
  io.err(`loulan evm: ${error.code}: ${error.message}${typeof txHash === 'string' ? ` (tx ${txHash})` : ''}`);
  return error.code === 'CLI_USAGE' ? 2 : 1;
}
