import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFabricCa, type FabricCredentials } from '../../test/support/fabric/index.ts';
import { fabricIdentity } from './identity.ts';

let alice: FabricCredentials;
let bob: FabricCredentials;

beforeAll(async () => {
  const ca = await createFabricCa('Org1MSP');
  alice = await ca.issue('alice', 'client');
  bob = await ca.issue('bob', 'client');
});

function field(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    expect((error as { code?: string }).code).toBe('CONFIG_INVALID');
    return (error as { details: Record<string, unknown> }).details['field'];
  }
  throw new Error('accepted');
}

describe('fabric client identity', () => {
  it('builds an identity and a signer from a certificate and its own P-256 key', async () => {
    const { identity, signer, certificate } = fabricIdentity({ mspId: 'Org1MSP', certificatePem: alice.certificatePem, privateKeyPem: alice.privateKeyPem });
    expect(identity.mspId).toBe('Org1MSP');
    expect(new TextDecoder().decode(identity.credentials)).toBe(alice.certificatePem);
    expect(certificate.subject).toContain('CN=alice');
    expect((await signer!(new Uint8Array(32).fill(7)))[0]).toBe(0x30);
    expect(fabricIdentity({ mspId: 'Org1MSP', certificatePem: alice.certificatePem }).signer).toBeUndefined();
  });

  it('refuses a key of another certificate, a key on another curve, and unreadable input, naming the field', () => {
    expect(field(() => fabricIdentity({ mspId: 'Org1MSP', certificatePem: alice.certificatePem, privateKeyPem: bob.privateKeyPem }))).toBe('privateKeyPem');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(field(() => fabricIdentity({ mspId: 'Org1MSP', certificatePem: alice.certificatePem, privateKeyPem: ed }))).toBe('privateKeyPem');
    expect(field(() => fabricIdentity({ mspId: 'Org1MSP', certificatePem: 'nope', privateKeyPem: alice.privateKeyPem }))).toBe('certificatePem');
    expect(field(() => fabricIdentity({ mspId: 'Org1MSP', certificatePem: alice.certificatePem, privateKeyPem: 'nope' }))).toBe('privateKeyPem');
    expect(field(() => fabricIdentity({ mspId: '', certificatePem: alice.certificatePem, privateKeyPem: alice.privateKeyPem }))).toBe('mspId');
  });
});
