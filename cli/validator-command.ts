/**
 * `loulan validator propose-join|propose-remove|vote|status`: consortium governance of the validator
 * set from the command line. Each action is one signed transaction to the registry contract, sent to a
 * validator's RPC and waited for until committed; the command fails with the receipt's code when the
 * contract refuses it (not a member, duplicate vote, a change already pending, ...).
 *
 * The signing key is a JSON file `{"privateKey": "<hex>", "alg": "ES256K"}` (alg defaults to ES256K,
 * the validator key format `loulan testnet init` writes). Votes come from current validators' own
 * keys; proposals from a validator or a consortium admin.
 */
import { readFileSync } from 'node:fs';
import { CoreClient } from '../core-chain/client.ts';
import { fromHex, toHex } from '../core-chain/crypto/hash.ts';
import { ethAddress, toChecksumAddress } from '../core-chain/crypto/secp256k1.ts';
import { publicKeyFromPrivate, type Alg } from '../core-chain/crypto/keys.ts';
import { LoulanError } from '../core-chain/errors.ts';
import {
  currentValidators,
  encodeApproveArgs,
  encodeProposeArgs,
  encodeTx,
  nonceKey,
  pendingValidatorChange,
  registryProposal,
  senderAddress,
  signTx,
  type StateReader,
} from '../core-chain/ledger/index.ts';
import type { TxStatus } from '../core-chain/node/api.ts';
import { parseArgs, required } from './args.ts';
import type { Command } from './main.ts';

const ALGS: readonly Alg[] = ['Ed25519', 'ES256', 'ES256K'];

interface SigningKey {
  readonly alg: Alg;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

function loadSigningKey(file: string): SigningKey {
  let doc: { privateKey?: unknown; alg?: unknown };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (cause) {
    throw new LoulanError('CLI_USAGE', `cannot read the key file ${file}`, { details: { option: 'key' }, cause });
  }
  const alg = (doc.alg ?? 'ES256K') as Alg;
  if (!ALGS.includes(alg)) throw new LoulanError('CLI_USAGE', `unknown key algorithm ${String(doc.alg)}`, { details: { option: 'key' } });
  if (typeof doc.privateKey !== 'string') throw new LoulanError('CLI_USAGE', `${file} holds no "privateKey"`, { details: { option: 'key' } });
  const privateKey = fromHex(doc.privateKey);
  return { alg, privateKey, publicKey: publicKeyFromPrivate(alg, privateKey) };
}

function validatorKey(hex: string | undefined, option: string): Uint8Array {
  const text = required(hex, option);
  if (!/^(02|03)[0-9a-fA-F]{64}$/.test(text)) throw new LoulanError('CLI_USAGE', `--${option} is a 33-byte compressed secp256k1 key in hex`, { details: { option } });
  return fromHex(text);
}

/** Reads the registry keys a reader needs from a node, then answers synchronously from them. */
async function snapshotReader(client: CoreClient, keys: readonly string[]): Promise<StateReader & { add(keys: readonly string[]): Promise<void> }> {
  const values = new Map<string, Uint8Array | undefined>();
  const reader = {
    get: (key: string) => {
      if (!values.has(key)) throw new LoulanError('INTERNAL', `state key ${key} was not fetched`);
      return values.get(key);
    },
    async add(more: readonly string[]): Promise<void> {
      await Promise.all(more.filter((k) => !values.has(k)).map(async (k) => values.set(k, await client.getState(k))));
    },
  };
  await reader.add(keys);
  return reader;
}

/** Signs `method(args)` on the registry with the sender's next nonce, submits it and waits for the commit. */
async function call(client: CoreClient, key: SigningKey, method: string, args: Uint8Array): Promise<TxStatus> {
  const status = await client.status();
  const sender = senderAddress(key.alg, key.publicKey);
  const stored = await client.getState(nonceKey(sender));
  const nonce = (stored === undefined ? 0n : new DataView(stored.buffer, stored.byteOffset, 8).getBigUint64(0)) + 1n;
  const tx = signTx({ chainId: fromHex(status.chainId), sender: { alg: key.alg, publicKey: key.publicKey }, nonce, contract: 'registry', method, args }, key.privateKey);
  const result = await client.submitTx(encodeTx(tx), { wait: 'commit', timeoutMs: 30_000 });
  if (result.status !== 'committed') throw new LoulanError('RPC_UNAVAILABLE', `transaction ${result.hash} not committed in time (status ${result.status})`, { details: { hash: result.hash } });
  if (result.receipt?.status !== 'ok') {
    const code = result.receipt?.code ?? 'INTERNAL';
    throw new LoulanError('CLI_USAGE', `the registry refused it: ${code}`, { details: { hash: result.hash, code, height: result.height } });
  }
  return result;
}

async function proposalIdAfter(client: CoreClient): Promise<bigint> {
  const next = await client.getState('registry/proposal/next');
  return next === undefined ? 0n : new DataView(next.buffer, next.byteOffset, 8).getBigUint64(0);
}

async function status(client: CoreClient): Promise<unknown> {
  const node = await client.status();
  const reader = await snapshotReader(client, ['registry/validators', 'registry/pending', 'registry/proposals/open']);
  const keys = reader.get('registry/validators');
  const pendingBytes = reader.get('registry/pending');
  const current = keys === undefined ? [] : [...Array((keys[0]! << 8) | keys[1]!).keys()].map((i) => keys.subarray(2 + 33 * i, 35 + 33 * i));
  await reader.add(current.map((k) => `registry/validator/${toHex(k)}`));
  const open = reader.get('registry/proposals/open');
  const openIds: bigint[] = [];
  if (open !== undefined) {
    const view = new DataView(open.buffer, open.byteOffset, open.byteLength);
    for (let i = 0; i < view.getUint16(0); i++) openIds.push(view.getBigUint64(2 + 16 * i));
  }
  await reader.add(openIds.map((id) => `registry/proposal/${id}`));
  const entry = (v: { publicKey: Uint8Array; name: string; organisation: string; nodeId: number; endpoint: string }) => ({
    nodeId: v.nodeId,
    name: v.name,
    organisation: v.organisation,
    address: toChecksumAddress(ethAddress(v.publicKey)),
    publicKey: toHex(v.publicKey),
    ...(v.endpoint === '' ? {} : { endpoint: v.endpoint }),
  });
  const pending = pendingBytes === undefined ? null : pendingValidatorChange(reader);
  return {
    height: node.height.toString(),
    validators: currentValidators(reader).map((v, position) => ({ position, ...entry(v) })),
    pending:
      pending === null
        ? null
        : {
            change: pending.change,
            publicKey: toHex(pending.publicKey),
            activationHeight: pending.activationHeight.toString(),
            proposal: pending.proposal.toString(),
            validators: pending.validators.map((v, position) => ({ position, ...entry(v) })),
          },
    openProposals: openIds.map((id) => {
      const p = registryProposal(reader, id)!;
      const action = p.action.kind === 'set-roles' ? { kind: p.action.kind, participant: p.action.participant, roles: p.action.roles } : { kind: p.action.kind, publicKey: toHex(p.action.publicKey) };
      return { id: id.toString(), action, approvals: p.approvals.map((k) => toHex(k)), expiresAt: p.expiresAt.toString() };
    }),
  };
}

export const validatorCommand: Command = {
  name: 'validator',
  summary: 'propose, vote on and inspect validator-set changes',
  usage: [
    'loulan validator status --rpc URL',
    '       loulan validator propose-join --rpc URL --key FILE --public-key HEX --name NAME --organisation ORG [--endpoint ws(s)://HOST:PORT/p2p]',
    '       loulan validator propose-remove --rpc URL --key FILE --public-key HEX',
    '       loulan validator vote --rpc URL --key FILE --proposal ID',
  ].join('\n'),
  async run(args, io) {
    const [sub, ...rest] = args;
    const { options } = parseArgs(rest, { rpc: 'string', key: 'string', 'public-key': 'string', name: 'string', organisation: 'string', endpoint: 'string', proposal: 'string' });
    const client = new CoreClient({ endpoints: [required(options.rpc, 'rpc')] });
    const print = (value: unknown) => io.out(JSON.stringify(value, null, 2));
    switch (sub) {
      case 'status':
        print(await status(client));
        return 0;
      case 'propose-join':
      case 'propose-remove': {
        const key = loadSigningKey(required(options.key, 'key'));
        const publicKey = validatorKey(options['public-key'], 'public-key');
        const action =
          sub === 'propose-join'
            ? { kind: 'validator-join' as const, publicKey, name: required(options.name, 'name'), organisation: required(options.organisation, 'organisation'), endpoint: options.endpoint ?? '' }
            : { kind: 'validator-remove' as const, publicKey };
        const result = await call(client, key, 'propose', encodeProposeArgs(action));
        print({ proposal: (await proposalIdAfter(client)).toString(), tx: result.hash, height: result.height?.toString() });
        return 0;
      }
      case 'vote': {
        const key = loadSigningKey(required(options.key, 'key'));
        const text = required(options.proposal, 'proposal');
        if (!/^[1-9][0-9]{0,18}$/.test(text)) throw new LoulanError('CLI_USAGE', '--proposal is a proposal id (a positive integer)', { details: { option: 'proposal' } });
        const result = await call(client, key, 'approve', encodeApproveArgs(BigInt(text)));
        const after = await snapshotReader(client, [`registry/proposal/${text}`, 'registry/pending']);
        const proposal = registryProposal(after, BigInt(text));
        print({ proposal: text, status: proposal?.status ?? 'unknown', approvals: proposal?.approvals.length ?? 0, tx: result.hash, height: result.height?.toString() });
        return 0;
      }
      default:
        throw new LoulanError('CLI_USAGE', `unknown subcommand ${String(sub)}: use status, propose-join, propose-remove or vote`, { details: { option: 'subcommand' } });
    }
  },
};
