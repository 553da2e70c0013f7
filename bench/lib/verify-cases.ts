/**
 * The signature verifications the crypto benchmark measures, as fixtures that run the same way on
 * the main thread and in a worker: `prepare()` builds a key, message and signature, and returns a
 * function doing one verification (which must return true, or the run is void).
 *
 * `full` marks implementations of Loulan's complete rule for the algorithm (for ES256K that includes
 * the recovery id); only those count towards the machine's verification limit, because a consensus
 * or intake benchmark is measured against what our own `verify` can do, not against a cheaper check.
 */
import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { generateKeyPair, sign, verify, sha256, equalBytes, type Alg } from '../../core-chain/crypto/index.ts';

export interface VerifyCase {
  readonly id: string;
  readonly alg: Alg;
  readonly library: string;
  /** What one operation checks. */
  readonly checks: string;
  /** True when this is Loulan's full verification rule for `alg`. */
  readonly full: boolean;
  prepare(): () => boolean;
}

/** Message size for every case: a typical signed envelope or vote is a few hundred bytes. */
export const MESSAGE_BYTES = 256;

function message(): Uint8Array {
  const m = new Uint8Array(MESSAGE_BYTES);
  for (let i = 0; i < m.length; i++) m[i] = (i * 31 + 7) & 0xff;
  return m;
}

export const VERIFY_CASES: readonly VerifyCase[] = [
  {
    id: 'ed25519-node',
    alg: 'Ed25519',
    library: 'node:crypto (loulan verify)',
    checks: 'RFC 8032 signature',
    full: true,
    prepare() {
      const pair = generateKeyPair('Ed25519');
      const msg = message();
      const sig = sign('Ed25519', pair.privateKey, msg);
      return () => verify('Ed25519', pair.publicKey, msg, sig);
    },
  },
  {
    id: 'ed25519-noble',
    alg: 'Ed25519',
    library: '@noble/curves',
    checks: 'RFC 8032 signature (ZIP-215 off)',
    full: true,
    prepare() {
      const { secretKey, publicKey } = ed25519.keygen();
      const msg = message();
      const sig = ed25519.sign(msg, secretKey);
      return () => ed25519.verify(sig, msg, publicKey, { zip215: false });
    },
  },
  {
    id: 'es256-node',
    alg: 'ES256',
    library: 'node:crypto (loulan verify)',
    checks: 'P-256 r||s, low-S, SHA-256',
    full: true,
    prepare() {
      const pair = generateKeyPair('ES256');
      const msg = message();
      const sig = sign('ES256', pair.privateKey, msg);
      return () => verify('ES256', pair.publicKey, msg, sig);
    },
  },
  {
    id: 'es256-noble',
    alg: 'ES256',
    library: '@noble/curves',
    checks: 'P-256 r||s, low-S, SHA-256',
    full: true,
    prepare() {
      const { secretKey, publicKey } = p256.keygen();
      const msg = message();
      const sig = p256.sign(msg, secretKey);
      return () => p256.verify(sig, msg, publicKey);
    },
  },
  {
    id: 'es256k-loulan',
    alg: 'ES256K',
    library: 'loulan verify (noble recover + compare)',
    checks: 'secp256k1 r||s||v, low-S, v authenticated',
    full: true,
    prepare() {
      const pair = generateKeyPair('ES256K');
      const msg = message();
      const sig = sign('ES256K', pair.privateKey, msg);
      return () => verify('ES256K', pair.publicKey, msg, sig);
    },
  },
  {
    id: 'es256k-noble-recover',
    alg: 'ES256K',
    library: '@noble/curves recoverPublicKey',
    checks: 'secp256k1 recover + compare (v authenticated)',
    full: true,
    prepare() {
      const { secretKey, publicKey } = secp256k1.keygen();
      const digest = sha256(message());
      const sig = secp256k1.sign(digest, secretKey, { prehash: false, format: 'recovered' });
      return () => equalBytes(secp256k1.recoverPublicKey(sig, digest, { prehash: false }), publicKey);
    },
  },
  {
    id: 'es256k-node-rs',
    alg: 'ES256K',
    library: 'node:crypto (OpenSSL)',
    checks: 'secp256k1 r||s only: cannot check v',
    full: false,
    prepare() {
      const pair = generateKeyPair('ES256K');
      const msg = message();
      const sig = sign('ES256K', pair.privateKey, msg).subarray(0, 64);
      const key = createPublicKey({ key: Buffer.from(pair.publicKey), format: 'raw-public', asymmetricKeyType: 'ec', namedCurve: 'secp256k1' });
      return () => nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig);
    },
  },
  {
    id: 'es256k-noble-verify',
    alg: 'ES256K',
    library: '@noble/curves verify',
    checks: 'secp256k1 r||s only: does not check v',
    full: false,
    prepare() {
      const { secretKey, publicKey } = secp256k1.keygen();
      const msg = message();
      const sig = secp256k1.sign(msg, secretKey);
      return () => secp256k1.verify(sig, msg, publicKey);
    },
  },
];

export function caseById(id: string): VerifyCase {
  const found = VERIFY_CASES.find((c) => c.id === id);
  if (found === undefined) throw new Error(`unknown verify case: ${id}`);
  return found;
}

/**
 * Runs `op` for about `durationMs` and returns operations per second. The clock is read every
 * `batch` operations so timing overhead stays out of the figure.
 */
export function runFor(op: () => boolean, durationMs: number): { count: number; seconds: number } {
  const batch = 16;
  let count = 0;
  const start = performance.now();
  const end = start + durationMs;
  let now = start;
  while (now < end) {
    for (let i = 0; i < batch; i++) if (!op()) throw new Error('benchmark fixture failed to verify');
    count += batch;
    now = performance.now();
  }
  return { count, seconds: (now - start) / 1000 };
}
