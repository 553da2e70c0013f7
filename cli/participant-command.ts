/**
 * `loulan participant`: onboarding a participant (a shop, usually) and managing custodial keys.
 *
 * `add` registers the participant on the core chain with a registry `addParticipant` signed by a
 * consortium admin's key (`--admin-key`), with one of three kinds of key:
 *   --custodial         the switch generates and keeps the key (sealed at rest) and hands out an API
 *                       key; the shop never sees a private key and signs through the switch;
 *   --new-key-file F    a key pair is generated here and written to F (mode 0600) for the shop to keep;
 *   --public-key HEX    the shop generated its key itself and shows only the public half.
 * The other subcommands talk to the switch's custody API with an operator token.
 */
import { existsSync, writeFileSync } from 'node:fs';
import {
  CoreClient,
  encodeAddParticipantArgs,
  ERROR_CODES,
  fromHex,
  generateKeyPair,
  isAlg,
  isLoulanError,
  isRole,
  LoulanError,
  publicKeyFromPrivate,
  REGISTRY_CONTRACT,
  toHex,
  TxSubmitter,
  type Alg,
  type ErrorCode,
  type Role,
} from '../core-chain/index.ts';
import { keyIdOf } from '../switch/chain.ts';
import { loadSwitchKey } from '../switch/config.ts';
import type { CustodyCreated, KeyRotation } from '../switch/custody-api.ts';
import type { CustodyView, NewApiKey } from '../switch/custody.ts';
import { parseArgs } from './args.ts';
import type { Command } from './main.ts';
import { callSwitch, onePositional, printJson, runSwitchCommand, segment, SWITCH_OPTIONS, switchTarget, table, time } from './switch-client.ts';

const USAGE = [
  'loulan participant add ID --role shop | --roles shop,program --org ORG --admin-key FILE --core URL[,URL...]',
  '                       (--custodial | --new-key-file FILE | --public-key HEX) [--alg Ed25519|ES256] [--switch URL] [--token TOKEN] [--json]',
  '       loulan participant custody [--switch URL] [--token TOKEN] [--json]',
  '       loulan participant rotate-key ID [--switch URL] [--token TOKEN] [--json]',
  '       loulan participant api-key create ID [--switch URL] [--token TOKEN] [--json]',
  '       loulan participant api-key revoke ID KEY_ID [--switch URL] [--token TOKEN] [--json]',
].join('\n');

const OPTIONS = {
  ...SWITCH_OPTIONS,
  roles: 'string',
  role: 'string',
  org: 'string',
  'admin-key': 'string',
  core: 'string',
  custodial: 'boolean',
  'new-key-file': 'string',
  'public-key': 'string',
  alg: 'string',
} as const;

function usage(message: string, option: string): LoulanError {
  return new LoulanError('CLI_USAGE', `${message}\n${USAGE}`, { details: { option } });
}

export const participantCommand: Command = {
  name: 'participant',
  summary: 'onboard participants (own or custodial keys) and manage custodial keys and API keys',
  usage: USAGE,
  run: (args, io) =>
    runSwitchCommand('participant', io, async () => {
      const { options, positional } = parseArgs(args, OPTIONS);
      const [sub, ...operands] = positional;
      const target = switchTarget(options);
      const json = options.json === true;
      switch (sub) {
        case 'add': {
          const id = onePositional(operands, 'ID', USAGE);
          const result = await addParticipant(id, options, target);
          if (json) printJson(io, result);
          else {
            io.out(`registered ${id} (${result.roles.join(', ')}) at height ${result.height}, key ${result.kid}`);
            if (result.apiKey !== undefined) io.out(`API key (shown once; the switch keeps only its hash): ${result.apiKey.token}`);
            if (result.keyFile !== undefined) io.out(`private key written to ${result.keyFile} (mode 0600)`);
          }
          return;
        }
        case 'custody': {
          const { body } = await callSwitch<{ participants: CustodyView[] }>(target, { method: 'GET', path: '/v1/custody/participants', operator: true });
          if (json) printJson(io, body);
          else
            table(
              io,
              ['PARTICIPANT', 'ALG', 'KEYS', 'API KEYS (active)'],
              body.participants.map((p) => [p.participant, p.alg, p.keys.map((k) => k.kid.split('#')[1]).join(' '), p.apiKeys.filter((k) => k.revokedAt === undefined).map((k) => `${k.id} (${time(k.createdAt)})`).join(' ')]),
            );
          return;
        }
        case 'rotate-key': {
          const id = onePositional(operands, 'ID', USAGE);
          const { body } = await callSwitch<KeyRotation>(target, { method: 'POST', path: `/v1/custody/participants/${segment(id)}/rotate-key`, operator: true });
          if (json) printJson(io, body);
          else io.out(`${id} now signs with ${body.kid}; revoked and destroyed: ${body.revoked.join(', ') || 'none'}`);
          return;
        }
        case 'api-key': {
          const [action, id, keyId, ...extra] = operands;
          if (id === undefined || extra.length > 0) throw usage('api-key needs create ID or revoke ID KEY_ID', 'api-key');
          if (action === 'create' && keyId === undefined) {
            const { body } = await callSwitch<NewApiKey>(target, { method: 'POST', path: `/v1/custody/participants/${segment(id)}/api-keys`, operator: true });
            if (json) printJson(io, body);
            else io.out(`API key ${body.id} for ${id} (shown once): ${body.token}`);
            return;
          }
          if (action === 'revoke' && keyId !== undefined) {
            const { body } = await callSwitch<{ revoked: string }>(target, { method: 'DELETE', path: `/v1/custody/participants/${segment(id)}/api-keys/${segment(keyId)}`, operator: true });
            if (json) printJson(io, body);
            else io.out(`revoked API key ${body.revoked} of ${id}`);
            return;
          }
          throw usage('api-key needs create ID or revoke ID KEY_ID', 'api-key');
        }
        default:
          throw usage(sub === undefined ? 'a subcommand is required' : `unknown subcommand ${sub}`, 'subcommand');
      }
    }),
};

interface Added {
  readonly participant: string;
  readonly roles: readonly Role[];
  readonly kid: string;
  readonly publicKey: string;
  readonly custodial: boolean;
  readonly tx: string;
  readonly height: string;
  readonly apiKey?: NewApiKey;
  readonly keyFile?: string;
}

async function addParticipant(id: string, options: ReturnType<typeof parseArgs<typeof OPTIONS>>['options'], target: ReturnType<typeof switchTarget>): Promise<Added> {
  // `--role shop` for one role, `--roles shop,program` for several.
  const roles = [...(options.role === undefined ? [] : [options.role]), ...(options.roles ?? '').split(',')].filter((r) => r.length > 0);
  if (roles.length === 0) throw usage('--role is required (e.g. --role shop, or --roles shop,program)', 'roles');
  for (const role of roles) if (!isRole(role) || role === 'admin' || role === 'validator') throw usage(`--roles: ${role} is not a business role`, 'roles');
  const org = options.org ?? id;
  const alg = options.alg ?? 'Ed25519';
  if (!isAlg(alg) || alg === 'ES256K') throw usage('--alg must be Ed25519 or ES256', 'alg');
  const modes = [options.custodial === true, options['new-key-file'] !== undefined, options['public-key'] !== undefined].filter(Boolean).length;
  if (modes !== 1) throw usage('give exactly one of --custodial, --new-key-file FILE, --public-key HEX', 'custodial');
  const adminKeyFile = options['admin-key'];
  if (adminKeyFile === undefined) throw usage('--admin-key FILE is required (a consortium admin signs the registration)', 'admin-key');
  const endpoints = (options.core ?? process.env['LOULAN_CORE'] ?? '').split(',').filter((e) => e.length > 0);
  if (endpoints.length === 0) throw usage('--core URL (or LOULAN_CORE) is required', 'core');
  const admin = loadSwitchKey(adminKeyFile);

  let publicKey: Uint8Array;
  let apiKey: NewApiKey | undefined;
  let keyFile: string | undefined;
  if (options.custodial === true) {
    try {
      const { body } = await callSwitch<CustodyCreated>(target, { method: 'POST', path: '/v1/custody/participants', body: { participant: id, alg }, operator: true });
      publicKey = fromHex(body.publicKey);
      apiKey = body.apiKey;
    } catch (error) {
      // A run that created the key but failed to register it is finished by running it again.
      if (!isLoulanError(error) || error.code !== 'CUSTODY_EXISTS') throw error;
      const { body } = await callSwitch<{ participants: CustodyView[] }>(target, { method: 'GET', path: '/v1/custody/participants', operator: true });
      const held = body.participants.find((p) => p.participant === id);
      const key = held?.keys[held.keys.length - 1];
      if (key === undefined) throw error;
      publicKey = fromHex(key.publicKey);
    }
  } else if (options['new-key-file'] !== undefined) {
    keyFile = options['new-key-file'];
    if (existsSync(keyFile)) throw usage(`${keyFile} exists; a new key is never written over an old one`, 'new-key-file');
    const pair = generateKeyPair(alg);
    publicKey = pair.publicKey;
    const kid = keyIdOf(id, { alg, publicKey });
    writeFileSync(keyFile, JSON.stringify({ id, alg, kid, privateKey: toHex(pair.privateKey), publicKey: toHex(pair.publicKey) }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } else {
    try {
      publicKey = fromHex(options['public-key'] as string);
    } catch (cause) {
      throw new LoulanError('CLI_USAGE', '--public-key must be hex', { details: { option: 'public-key' }, cause });
    }
  }

  const client = new CoreClient({ endpoints, timeoutMs: 10_000 });
  const status = await client.status();
  const submitter = new TxSubmitter({ client, chainId: fromHex(status.chainId), alg: admin.alg, privateKey: admin.privateKey, publicKey: publicKeyFromPrivate(admin.alg, admin.privateKey) });
  const args = encodeAddParticipantArgs({ id, organisation: org, roles: roles as Role[], keys: [{ alg: alg as Alg, publicKey }] });
  const result = await submitter.call(REGISTRY_CONTRACT, 'addParticipant', args);
  if (result.status.status !== 'committed' || result.status.receipt?.status !== 'ok') {
    // A contract refusal keeps its own code (CONTRACT_ALREADY_EXISTS, CONTRACT_FORBIDDEN, ...); no commit in time is RPC_UNAVAILABLE.
    const code = result.status.receipt?.code ?? null;
    const known: ErrorCode = code !== null && Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'RPC_UNAVAILABLE';
    throw new LoulanError(known, `registry.addParticipant did not commit: ${code ?? result.status.status}`, { details: { tx: result.hash, status: result.status.status, code } });
  }
  return {
    participant: id,
    roles: roles as Role[],
    kid: keyIdOf(id, { alg, publicKey }),
    publicKey: toHex(publicKey),
    custodial: options.custodial === true,
    tx: result.hash,
    height: String(result.status.height ?? ''),
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(keyFile === undefined ? {} : { keyFile }),
  };
}
