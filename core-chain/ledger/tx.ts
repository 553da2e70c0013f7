/**
 * Transactions: what a participant signs to call a native contract on the core chain.
 *
 * Layout (fixed binary, big-endian, see codec/binary.ts):
 *
 *   u8      version = 1
 *   32      chainId                 SHA-256 of the chain name: a transaction is valid on one chain only
 *   u8      sender.alg              1 Ed25519, 2 ES256 (P-256), 3 ES256K (secp256k1)
 *   32|33   sender.publicKey        raw key: Ed25519 32 bytes, EC 33-byte compressed point
 *   u64     nonce                   per sender, 1, 2, 3, ...: replay protection and ordering
 *   str     contract                <= 32 bytes, [a-z][a-z0-9_-]*
 *   str     method                  <= 32 bytes, [A-Za-z][A-Za-z0-9_]*
 *   bytes   args                    <= 64 KiB, contract-defined (Writer-encoded, never JSON)
 *   64|65   sig                     over txSigningBytes (length fixed by the algorithm)
 *
 * The signed bytes are the domain tag "LOULAN/TX/V1" followed by every field between the version byte
 * and the signature, in the layout above. So the signing input of a received transaction is a slice
 * of its own bytes behind the tag: nothing is re-encoded on the hot path, and a signer and a verifier
 * can never disagree about what was signed. The tag stands in for the version byte.
 *
 * The transaction hash is SHA-256 of the whole encoding, signature included. Because the decoder is
 * strict (one encoding per value) and signatures are non-malleable (low-S ECDSA, canonical Ed25519),
 * a hash names exactly one signed transaction, so "this hash was verified" can be cached safely.
 *
 * A sender is named by an address derived from its key (see `senderAddress`); the registry contract of
 * a later issue maps participants to these keys.
 */
import { Reader, Writer } from '../codec/binary.ts';
import { sha256, toHex } from '../crypto/hash.ts';
import { PUBLIC_KEY_LENGTH, type Alg } from '../crypto/keys.ts';
import { SIGNATURE_LENGTH, sign, verify } from '../crypto/signature.ts';
import { LoulanError } from '../errors.ts';

export const TX_VERSION = 1;
export const TX_DOMAIN = 'LOULAN/TX/V1';
export const MAX_NAME_BYTES = 32;
export const MAX_ARGS_BYTES = 64 * 1024;
/** The largest possible encoded transaction (ES256K key and signature, maximal names and args). */
export const MAX_TX_BYTES = 1 + 32 + 1 + 33 + 8 + (4 + MAX_NAME_BYTES) * 2 + 4 + MAX_ARGS_BYTES + 65;

/** Algorithm codes on the wire; also the first byte hashed into a sender address. */
export const ALG_CODE: Readonly<Record<Alg, number>> = Object.freeze({ Ed25519: 1, ES256: 2, ES256K: 3 });
const ALG_BY_CODE: readonly (Alg | undefined)[] = [undefined, 'Ed25519', 'ES256', 'ES256K'];

export interface TxSender {
  readonly alg: Alg;
  /** Raw public key: Ed25519 32 bytes, ES256/ES256K 33-byte compressed point. */
  readonly publicKey: Uint8Array;
}

export interface UnsignedTx {
  readonly chainId: Uint8Array;
  readonly sender: TxSender;
  readonly nonce: bigint;
  readonly contract: string;
  readonly method: string;
  readonly args: Uint8Array;
}

export interface Tx extends UnsignedTx {
  readonly sig: Uint8Array;
}

const CONTRACT_RE = /^[a-z][a-z0-9_-]*$/;
const METHOD_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const TAG_BYTES = new TextEncoder().encode(TX_DOMAIN);

// Encoding is synchronous and never re-entered, so one growing Writer serves every call.
const writer = new Writer(512);

/** The canonical bytes of a signed transaction. Throws CODEC_* / LEDGER_TX_INVALID for bad fields. */
export function encodeTx(tx: Tx): Uint8Array {
  checkFields(tx);
  writer.reset().u8(TX_VERSION);
  writeUnsigned(writer, tx);
  return writer.bytes(tx.sig, SIGNATURE_LENGTH[tx.sender.alg], 'sig').finish();
}

/**
 * Strict decoder: refuses truncation, trailing bytes, an unknown version or algorithm (CODEC_*), and
 * fields that break a ledger rule (LEDGER_TX_INVALID with `details.field`). It does not check the
 * signature or that the key is a curve point; `verifyTxSignature` does.
 */
export function decodeTx(bytes: Uint8Array): Tx {
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== TX_VERSION) {
    throw new LoulanError('CODEC_TAG', `unknown transaction version ${version}`, { details: { field: 'version', actual: version } });
  }
  const chainId = r.bytes(32, 'chainId');
  const code = r.u8('sender.alg');
  const alg = ALG_BY_CODE[code];
  if (alg === undefined) {
    throw new LoulanError('CODEC_TAG', `unknown signature algorithm code ${code}`, { details: { field: 'sender.alg', actual: code } });
  }
  const publicKey = r.bytes(PUBLIC_KEY_LENGTH[alg], 'sender.publicKey');
  const nonce = r.u64('nonce');
  const contract = r.string(MAX_NAME_BYTES, 'contract');
  const method = r.string(MAX_NAME_BYTES, 'method');
  const args = r.varBytes(MAX_ARGS_BYTES, 'args');
  const sig = r.bytes(SIGNATURE_LENGTH[alg], 'sig');
  r.finish();
  const tx: Tx = { chainId, sender: { alg, publicKey }, nonce, contract, method, args, sig };
  checkRules(tx);
  return tx;
}

/** SHA-256 of the encoded transaction (signature included). */
export function txHash(bytes: Uint8Array): Uint8Array {
  return sha256(bytes);
}

/** "LOULAN/TX/V1" followed by every field but the signature, in wire layout. */
export function txSigningBytes(tx: UnsignedTx): Uint8Array {
  checkFields(tx);
  writer.reset().bytes(TAG_BYTES, TAG_BYTES.length);
  return writeUnsigned(writer, tx).finish();
}

/**
 * The signing bytes of an encoded transaction that `decodeTx` accepted: the tag plus a slice of the
 * encoding, with no re-encoding. Equal to `txSigningBytes(decodeTx(bytes))`.
 */
export function txSigningBytesFromEncoded(bytes: Uint8Array, alg: Alg): Uint8Array {
  const body = bytes.subarray(1, bytes.length - SIGNATURE_LENGTH[alg]);
  const out = new Uint8Array(TAG_BYTES.length + body.length);
  out.set(TAG_BYTES, 0);
  out.set(body, TAG_BYTES.length);
  return out;
}

/**
 * Signs a transaction with the sender's raw private key. The key must belong to `tx.sender.publicKey`
 * (not checked here: a mismatch yields a transaction that fails verification).
 *
 * @example
 * const tx = signTx({ chainId, sender: { alg: 'ES256', publicKey }, nonce: 1n, contract: 'asset',
 *   method: 'transfer', args: encodeTransferArgs({ to, amount: 5n }) }, privateKey);
 * const bytes = encodeTx(tx);
 */
export function signTx(tx: UnsignedTx, privateKey: Uint8Array): Tx {
  const sig = sign(tx.sender.alg, privateKey, txSigningBytes(tx));
  return { chainId: tx.chainId, sender: tx.sender, nonce: tx.nonce, contract: tx.contract, method: tx.method, args: tx.args, sig };
}

/**
 * True when the signature verifies under the sender's key; false when a well-formed signature does
 * not. Throws CRYPTO_BAD_KEY / CRYPTO_MALFORMED_SIGNATURE for a key or signature no signer produces.
 */
export function verifyTxSignature(tx: Tx): boolean {
  return verify(tx.sender.alg, tx.sender.publicKey, txSigningBytes(tx), tx.sig);
}

/** `verifyTxSignature` for a transaction decoded from `bytes`, without re-encoding it. */
export function verifyEncodedTxSignature(tx: Tx, bytes: Uint8Array): boolean {
  return verify(tx.sender.alg, tx.sender.publicKey, txSigningBytesFromEncoded(bytes, tx.sender.alg), tx.sig);
}

const addressInput = new Uint8Array(1 + 33);

/**
 * A sender's address: the first 20 bytes of SHA-256(alg code ‖ raw public key), as 40 lowercase hex
 * characters, no prefix. The algorithm code (1 Ed25519, 2 ES256, 3 ES256K) is hashed in so the same
 * 33 bytes on P-256 and secp256k1 name different senders. Balances, nonces and permissions are keyed
 * by this string.
 *
 * This is not an Ethereum address (that is keccak over the uncompressed point, secp256k1 only); the
 * registry maps a participant to its keys and so to these addresses.
 */
export function senderAddress(alg: Alg, publicKey: Uint8Array): string {
  const code = ALG_CODE[alg];
  if (code === undefined) throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown algorithm ${String(alg)}`, { details: { alg } });
  if (publicKey.length !== PUBLIC_KEY_LENGTH[alg]) {
    throw new LoulanError('CRYPTO_BAD_KEY', `${alg} public key must be ${PUBLIC_KEY_LENGTH[alg]} bytes`, {
      details: { alg, actual: publicKey.length },
    });
  }
  addressInput[0] = code;
  addressInput.set(publicKey, 1);
  return toHex(sha256(addressInput.subarray(0, 1 + publicKey.length)).subarray(0, 20));
}

const ADDRESS_RE = /^[0-9a-f]{40}$/;

/** True for a well-formed sender address (40 lowercase hex characters). */
export function isAddress(value: unknown): value is string {
  return typeof value === 'string' && ADDRESS_RE.test(value);
}

function writeUnsigned(w: Writer, tx: UnsignedTx): Writer {
  const alg = tx.sender.alg;
  return w
    .bytes(tx.chainId, 32, 'chainId')
    .u8(ALG_CODE[alg], 'sender.alg')
    .bytes(tx.sender.publicKey, PUBLIC_KEY_LENGTH[alg], 'sender.publicKey')
    .u64(tx.nonce, 'nonce')
    .string(tx.contract, MAX_NAME_BYTES, 'contract')
    .string(tx.method, MAX_NAME_BYTES, 'method')
    .varBytes(tx.args, MAX_ARGS_BYTES, 'args');
}

function checkFields(tx: UnsignedTx): void {
  if (ALG_CODE[tx.sender.alg] === undefined) {
    throw new LoulanError('CRYPTO_UNKNOWN_ALG', `unknown algorithm ${String(tx.sender.alg)}`, { details: { field: 'sender.alg' } });
  }
  checkRules(tx);
}

function checkRules(tx: UnsignedTx): void {
  if (tx.nonce < 1n) invalid('nonce', 'nonce starts at 1');
  if (!CONTRACT_RE.test(tx.contract)) invalid('contract', 'contract name must match [a-z][a-z0-9_-]*');
  if (!METHOD_RE.test(tx.method)) invalid('method', 'method name must match [A-Za-z][A-Za-z0-9_]*');
}

function invalid(field: string, message: string): never {
  throw new LoulanError('LEDGER_TX_INVALID', message, { details: { field } });
}
