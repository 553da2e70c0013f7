import { describe, expect, it } from 'vitest';
import * as crypto from './index.ts';
import * as codec from '../codec/index.ts';

// The public surface, spelled out: any addition or removal shows up in review.
describe('public exports', () => {
  it('core-chain/crypto', () => {
    expect(Object.keys(crypto).sort()).toEqual([
      'ALGS',
      'ENVELOPE_DOMAIN',
      'HASH_LENGTH',
      'PRIVATE_KEY_LENGTH',
      'PUBLIC_KEY_LENGTH',
      'RECOVERABLE_SIGNATURE_LENGTH',
      'SIGNATURE_LENGTH',
      'assertAlg',
      'assertPublicKey',
      'checkSignatureFormat',
      'concatBytes',
      'createSigner',
      'emptyRoot',
      'envelopeSigningInput',
      'equalBytes',
      'ethAddress',
      'evmSignature',
      'fromBase64url',
      'fromHex',
      'generateKeyPair',
      'inclusionPathLength',
      'inclusionProof',
      'inclusionProofFromLeafHashes',
      'inclusionProofsFromLeafHashes',
      'isAlg',
      'keccak256',
      'keyId',
      'leafHash',
      'merkleRoot',
      'merkleRootFromLeafHashes',
      'nodeHash',
      'privateKeyFromJwk',
      'privateKeyFromPem',
      'privateKeyToJwk',
      'privateKeyToPem',
      'publicKeyFromJwk',
      'publicKeyFromPem',
      'publicKeyFromPrivate',
      'publicKeyToJwk',
      'publicKeyToPem',
      'rootFromInclusionProof',
      'secp256k1RecoverDigest',
      'secp256k1SignDigest',
      'secp256k1VerifyDigest',
      'sha256',
      'sign',
      'signEnvelope',
      'toBase64url',
      'toChecksumAddress',
      'toHex',
      'verify',
      'verifyEnvelope',
      'verifyEnvelopeWithKey',
      'verifyInclusion',
      'verifyInclusionOfData',
      'verifyOrThrow',
    ]);
  });

  it('core-chain/codec', () => {
    expect(Object.keys(codec).sort()).toEqual(['MAX_DEPTH', 'Reader', 'Writer', 'canonicalBytes', 'canonicalize', 'escapePointer']);
  });
});
