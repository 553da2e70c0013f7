/**
 * Throwaway certificate authorities for the Fabric peer emulator: one self-signed P-256 root per
 * organisation, issuing peer and client certificates whose NodeOU (`OU=peer`, `OU=client`) is the role
 * an endorsement policy names. This is what `cryptogen` or a Fabric CA produces for a test network,
 * made in-process with @peculiar/x509 over WebCrypto so tests need no openssl or fixtures on disk.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill
// loaded first (it comes with fabric-contract-api, which the emulator hosts anyway).
import 'reflect-metadata';
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { serializeIdentity } from '../../../relayers/fabric/msp.ts';

x509.cryptoProvider.set(webcrypto as never);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('2099-01-01T00:00:00Z');

/** An identity with its key: what a client wallet or a peer's local MSP holds. */
export interface FabricCredentials {
  readonly mspId: string;
  readonly certificatePem: string;
  /** PKCS#8 PEM, as `signers.newPrivateKeySigner(createPrivateKey(pem))` takes it. */
  readonly privateKeyPem: string;
  readonly privateKey: KeyObject;
  /** The SerializedIdentity bytes of this identity (creator / endorser field). */
  readonly serialized: Uint8Array;
}

export interface FabricCa {
  readonly mspId: string;
  readonly rootCertificatePem: string;
  /** Issues an identity whose certificate carries `OU=<role>`. */
  issue(commonName: string, role: 'peer' | 'client' | 'admin' | 'orderer'): Promise<FabricCredentials>;
}

let serial = 1;

/** A new self-signed root for `mspId`. Two calls with the same id give two unrelated CAs. */
export async function createFabricCa(mspId: string): Promise<FabricCa> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const rootName = `CN=ca.${mspId.toLowerCase()},O=${mspId}`;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: rootName,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    signingAlgorithm: SIGNING,
    keys: keys as never,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return {
    mspId,
    rootCertificatePem: root.toString('pem'),
    async issue(commonName, role) {
      const leafKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: `CN=${commonName},OU=${role},O=${mspId}`,
        issuer: root.subject,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        signingAlgorithm: SIGNING,
        publicKey: leafKeys.publicKey as never,
        signingKey: keys.privateKey as never,
        extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
      });
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey));
      const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END PRIVATE KEY-----\n`;
      const certificatePem = cert.toString('pem');
      return { mspId, certificatePem, privateKeyPem, privateKey: createPrivateKey(privateKeyPem), serialized: serializeIdentity(mspId, certificatePem) };
    },
  };
}
