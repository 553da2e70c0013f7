import { describe, expect, it } from 'vitest';
import { sha256, toHex } from '../crypto/hash.ts';
import { generateKeyPair } from '../crypto/keys.ts';
import { ethAddress, toChecksumAddress } from '../crypto/secp256k1.ts';
import { LoulanError } from '../errors.ts';
import { assetGenesisEntries } from './contracts/asset.ts';
import {
  chainIdOf,
  createGenesis,
  genesisFromJson,
  genesisHash,
  genesisState,
  genesisTip,
  genesisToJson,
  parseGenesis,
  stringifyGenesis,
  validatorSetHash,
  type GenesisJson,
} from './genesis.ts';
import { State } from './state.ts';

const keys = Array.from({ length: 4 }, () => generateKeyPair('ES256K').publicKey);
const genesis = createGenesis({
  chainName: 'loulan-dev',
  time: 1_767_225_600_000n,
  validators: keys.map((publicKey, i) => ({ name: `v${i}`, publicKey })),
  state: assetGenesisEntries({ issuer: 'a'.repeat(40), balances: { ['b'.repeat(40)]: 5n } }),
});

function fieldOf(mutate: (doc: GenesisJson) => void): unknown {
  const doc = structuredClone(genesisToJson(genesis));
  mutate(doc);
  try {
    genesisFromJson(doc);
  } catch (error) {
    expect(error).toBeInstanceOf(LoulanError);
    expect((error as LoulanError).code).toBe('LEDGER_GENESIS_INVALID');
    return (error as LoulanError).details.field;
  }
  return 'accepted';
}

describe('genesis', () => {
  it('derives the chain id, addresses, sorted validator order and set hash', () => {
    expect(genesis.chainId).toEqual(sha256(new TextEncoder().encode('loulan-dev')));
    expect(genesis.chainId).toEqual(chainIdOf('loulan-dev'));
    const addresses = genesis.validators.map((v) => v.address.toLowerCase());
    expect(addresses).toEqual([...addresses].sort());
    for (const v of genesis.validators) expect(v.address).toBe(toChecksumAddress(ethAddress(v.publicKey)));
    const tag = new TextEncoder().encode('LOULAN/VALSET/V1');
    const input = new Uint8Array(tag.length + 4 + 33 * 4);
    input.set(tag);
    input[tag.length + 3] = 4;
    genesis.validators.forEach((v, i) => input.set(v.publicKey, tag.length + 4 + 33 * i));
    expect(genesis.validatorSetHash).toEqual(sha256(input));
    expect(validatorSetHash(genesis.validators)).toEqual(genesis.validatorSetHash);
  });

  it('round-trips through JSON text, and the hash covers the whole document', () => {
    const text = stringifyGenesis(genesis);
    const back = parseGenesis(text);
    expect(back).toEqual(genesis);
    expect(genesisHash(back)).toEqual(genesisHash(genesis));
    const other = createGenesis({ chainName: 'loulan-dev', time: genesis.time, validators: keys.map((publicKey, i) => ({ name: `v${i}`, publicKey })) });
    expect(toHex(genesisHash(other))).not.toBe(toHex(genesisHash(genesis)));
  });

  it('gives the initial state and the tip before block 1', () => {
    expect(genesisState(genesis).root()).toEqual(State.fromEntries(genesis.state).root());
    expect(genesisTip(genesis)).toEqual({ height: 0n, hash: genesisHash(genesis), time: genesis.time });
  });

  it.each<[string, (doc: GenesisJson) => void, string]>([
    ['an unknown field', (d) => Object.assign(d, { extra: 1 }), '/extra'],
    ['a missing field', (d) => delete (d as Partial<GenesisJson>).time, '/time'],
    ['a bad chain name', (d) => (d.chainName = 'has space'), '/chainName'],
    ['a chain id that is not the name hash', (d) => (d.chainId = '00'.repeat(32)), '/chainId'],
    ['a numeric time', (d) => ((d as unknown as { time: number }).time = 5), '/time'],
    ['a negative time', (d) => (d.time = '-1'), '/time'],
    ['no validators', (d) => (d.validators = []), '/validators'],
    ['an uppercase hex key', (d) => (d.validators[1]!.publicKey = d.validators[1]!.publicKey.toUpperCase()), '/validators/1/publicKey'],
    ['a key off the curve', (d) => (d.validators[0]!.publicKey = '02' + 'ff'.repeat(32)), '/validators/0/publicKey'],
    ['a wrong address', (d) => (d.validators[2]!.address = d.validators[2]!.address.toLowerCase()), '/validators/2/address'],
    ['unsorted validators', (d) => d.validators.reverse(), '/validators/1/address'],
    ['a validator field too many', (d) => Object.assign(d.validators[0]!, { power: 1 }), '/validators/0/power'],
    ['a wrong set hash', (d) => (d.validatorSetHash = '11'.repeat(32)), '/validatorSetHash'],
    ['unsorted state', (d) => d.state.reverse(), '/state/1/key'],
    ['odd-length hex value', (d) => (d.state[0]!.value = 'abc'), '/state/0/value'],
  ])('refuses %s, naming the field', (_name, mutate, field) => {
    expect(fieldOf(mutate)).toBe(field);
  });

  it('carries schema versions and the routing table through JSON; a genesis without them is unchanged', () => {
    const hash = sha256(new TextEncoder().encode('schema'));
    const input = { chainName: 'loulan-dev', time: genesis.time, validators: keys.map((publicKey, i) => ({ name: `v${i}`, publicKey })) };
    const full = createGenesis({ ...input, schemas: [{ id: 'urn:loulan:schema:route.change:1.0.0', hash }], routes: { approvalsRequired: 2, entries: [{ prefix: '', link: { a: 1 } }] } });
    expect(parseGenesis(stringifyGenesis(full))).toEqual(full);
    const keysOf = (g: typeof full) => g.state.map(([key]) => key);
    expect(keysOf(full)).toEqual(expect.arrayContaining(['registry/schema/urn:loulan:schema:route.change:1.0.0', 'routes/params', 'routes/entry/', 'routes/version']));
    expect(keysOf(createGenesis(input)).filter((k) => k.startsWith('routes/') || k.startsWith('registry/schema/'))).toEqual([]);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseGenesis('{')).toThrow(LoulanError);
  });
});
