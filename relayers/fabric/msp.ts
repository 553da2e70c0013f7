/**
 * Fabric identities and signatures, checked the way a Fabric peer's MSP checks them, with node:crypto
 * only (no Fabric SDK on the verifying side).
 *
 * An identity on the wire is a `msp.SerializedIdentity` {mspid, id_bytes = PEM certificate}. It is
 * trusted when its MSP is registered and its certificate was issued and signed by one of that MSP's
 * root certificates (X509Certificate.checkIssued + verify). Its role is the certificate's NodeOU
 * (`OU=peer`, `client`, `admin`, `orderer`), as in an MSP with NodeOUs enabled.
 *
 * Signatures are ECDSA P-256 over SHA-256 of the message, DER encoded, and must be low-S: Fabric
 * refuses high-S signatures because (r, n - s) would be a second valid encoding of the same signature.
 * Certificate validity periods are not checked: evidence is verified long after it was endorsed, and
 * a Fabric MSP revokes through CRLs, which the registered roots here do not carry.
 */
import { sign as nodeSign, verify as nodeVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { msp } from '@hyperledger/fabric-protos';
import { LoulanError } from '../../core-chain/index.ts';
import type { PolicySigner } from './policy.ts';

/** Registered root certificates (PEM) per MSP id. */
export type MspRoots = Readonly<Record<string, readonly string[]>>;

export interface VerifiedIdentity extends PolicySigner {
  readonly certificate: X509Certificate;
  /** The SerializedIdentity bytes as they appeared on the wire. */
  readonly serialized: Uint8Array;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

/** Encodes a SerializedIdentity (what a Fabric creator or endorser field holds). */
export function serializeIdentity(mspId: string, certificatePem: string): Uint8Array {
  const identity = new msp.SerializedIdentity();
  identity.setMspid(mspId);
  identity.setIdBytes(new TextEncoder().encode(certificatePem));
  return identity.serializeBinary();
}

/** Decodes a SerializedIdentity; throws FABRIC_BAD_ENDORSEMENT when it is not one. */
export function parseIdentity(bytes: Uint8Array): { readonly mspId: string; readonly certificate: X509Certificate } {
  try {
    const identity = msp.SerializedIdentity.deserializeBinary(bytes);
    return { mspId: identity.getMspid(), certificate: new X509Certificate(Buffer.from(identity.getIdBytes_asU8())) };
  } catch (cause) {
    throw new LoulanError('FABRIC_BAD_ENDORSEMENT', 'not a serialized Fabric identity', { details: { field: 'identity' }, cause });
  }
}

function roleOf(certificate: X509Certificate): PolicySigner['role'] {
  const ous = certificate.subject.split('\n').filter((line) => line.startsWith('OU=')).map((line) => line.slice(3).toLowerCase());
  for (const role of ['admin', 'peer', 'orderer', 'client'] as const) if (ous.includes(role)) return role;
  return 'client';
}

/**
 * Builds a checker for one network's MSPs; parses each root once.
 *
 * @example const identify = mspVerifier({ Org1MSP: [org1RootPem] }); identify(creatorBytes).role
 */
export function mspVerifier(roots: MspRoots): (serialized: Uint8Array) => VerifiedIdentity {
  const parsed = new Map<string, X509Certificate[]>();
  for (const [mspId, pems] of Object.entries(roots)) {
    parsed.set(
      mspId,
      pems.map((pem) => new X509Certificate(pem)),
    );
  }
  return (serialized) => {
    const { mspId, certificate } = parseIdentity(serialized);
    const candidates = parsed.get(mspId);
    if (candidates === undefined) throw new LoulanError('FABRIC_UNKNOWN_CA', `MSP ${mspId} is not registered`, { details: { mspId, reason: 'unknown-msp' } });
    const issuer = candidates.find((root) => certificate.checkIssued(root) && certificate.verify(root.publicKey));
    if (issuer === undefined) throw new LoulanError('FABRIC_UNKNOWN_CA', `the certificate does not chain to a root of ${mspId}`, { details: { mspId, reason: 'not-issued-by-root' } });
    return { mspId, role: roleOf(certificate), certificate, serialized };
  };
}

/** True when `signature` is a low-S DER ECDSA P-256 signature of SHA-256(message) under the certificate's key. */
export function verifyFabricSignature(key: X509Certificate | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  const scalars = derScalars(signature);
  if (scalars === undefined || scalars.s > P256_HALF_N || scalars.s === 0n || scalars.r === 0n) return false;
  const publicKey = key instanceof X509Certificate ? key.publicKey : key;
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false;
  try {
    return nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** Signs like a Fabric peer or client: ECDSA P-256 over SHA-256(message), low-S, DER. */
export function signFabric(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  const raw = nodeSign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
  let s = BigInt(`0x${raw.subarray(32, 64).toString('hex')}`);
  if (s > P256_HALF_N) s = P256_N - s;
  return derSignature(r, s);
}

function derInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
}

function derSignature(r: bigint, s: bigint): Uint8Array {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]));
}

/** r and s of a strict DER ECDSA signature (short-form lengths, minimal integers); undefined if malformed. */
function derScalars(sig: Uint8Array): { r: bigint; s: bigint } | undefined {
  if (sig.length < 8 || sig.length > 72 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return undefined;
  let at = 2;
  const integer = (): bigint | undefined => {
    if (sig[at] !== 0x02) return undefined;
    const length = sig[at + 1] ?? 0;
    const start = at + 2;
    if (length === 0 || length > 33 || start + length > sig.length) return undefined;
    if (sig[start] === 0 && length > 1 && (sig[start + 1]! & 0x80) === 0) return undefined;
    if ((sig[start]! & 0x80) !== 0) return undefined;
    at = start + length;
    return BigInt(`0x${Buffer.from(sig.subarray(start, at)).toString('hex')}`);
  };
  const r = integer();
  const s = integer();
  if (r === undefined || s === undefined || at !== sig.length || r >= P256_N || s >= P256_N) return undefined;
  return { r, s };
}
