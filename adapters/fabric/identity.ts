/**
 * A Fabric client identity from the two files an MSP hands a user: an X.509 certificate (PEM) and its
 * P-256 private key (PEM). Checked once here, at the boundary, so a wrong file fails at start-up with
 * CONFIG_INVALID rather than as a refused proposal later: the key must be an EC P-256 key and must be
 * the certificate's own key.
 *
 * The signer is fabric-gateway's `newPrivateKeySigner` (ECDSA over the SHA-256 digest the client
 * computes, low-S, DER), the same signatures a Fabric peer verifies.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { signers, type Identity, type Signer } from '@hyperledger/fabric-gateway';
import { LoulanError } from '../../core-chain/index.ts';

export interface FabricIdentityConfig {
  readonly mspId: string;
  readonly certificatePem: string;
  /** PKCS#8 or SEC1 PEM. Absent when signing happens elsewhere (an HSM): pass a `signer` instead. */
  readonly privateKeyPem?: string;
}

export interface FabricSigningIdentity {
  readonly identity: Identity;
  /** Undefined when the config carries no private key. */
  readonly signer: Signer | undefined;
  readonly certificate: X509Certificate;
}

function invalid(field: string, message: string, cause?: unknown): LoulanError {
  return new LoulanError('CONFIG_INVALID', message, { details: { field }, ...(cause === undefined ? {} : { cause }) });
}

/**
 * @example const { identity, signer } = fabricIdentity({ mspId: 'Org1MSP', certificatePem, privateKeyPem });
 */
export function fabricIdentity(config: FabricIdentityConfig): FabricSigningIdentity {
  if (typeof config.mspId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(config.mspId)) throw invalid('mspId', 'the MSP id must be a non-empty name');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(config.certificatePem);
  } catch (cause) {
    throw invalid('certificatePem', 'the certificate is not a PEM X.509 certificate', cause);
  }
  const identity = { mspId: config.mspId, credentials: new TextEncoder().encode(config.certificatePem) };
  if (config.privateKeyPem === undefined) return { identity, signer: undefined, certificate };
  let key: KeyObject;
  try {
    key = createPrivateKey(config.privateKeyPem);
  } catch (cause) {
    throw invalid('privateKeyPem', 'the private key is not a PEM key', cause);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw invalid('privateKeyPem', 'the private key must be ECDSA P-256');
  const publicOfKey = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicOfCert = certificate.publicKey.export({ format: 'der', type: 'spki' });
  if (!publicOfKey.equals(publicOfCert)) throw invalid('privateKeyPem', 'the private key does not belong to the certificate');
  return {
    identity,
    signer: signers.newPrivateKeySigner(key),
    certificate,
  };
}
