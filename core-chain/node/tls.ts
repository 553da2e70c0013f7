/**
 * Throwaway PKI for validator links: one CA and one certificate per validator, made with the
 * `openssl` command line (Node can parse certificates but not issue them, and a dependency for test
 * certificates is not worth it).
 *
 * Production deployments bring their own PEM files; the transport needs, per validator:
 * - `cert`: a leaf certificate signed by the consortium CA, with `extendedKeyUsage` serverAuth and
 *   clientAuth (each validator both accepts and dials) and a `subjectAltName` covering every host
 *   name or IP address its peers dial it by (clients check it);
 * - `key`: the leaf's private key, unencrypted PEM;
 * - `ca`: the CA certificate(s) that issued every validator's leaf.
 * The TLS certificate admits a host to the network; the validator identity is still proved by the
 * secp256k1 handshake, so the certificate need not name the validator index.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isIP } from 'node:net';
import { LoulanError } from '../errors.ts';

const run = promisify(execFile);

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface TestPkiOptions {
  /** Host names and IP addresses put in every leaf's subjectAltName. Default `127.0.0.1`, `::1`, `localhost`. */
  readonly hosts?: readonly string[];
  /** Common name of the CA, to tell two CAs apart in logs. Default `loulan-test-ca`. */
  readonly caName?: string;
  /** Validity in days. Default 2. */
  readonly days?: number;
  /** The openssl binary. Default `openssl` from PATH. */
  readonly openssl?: string;
}

export interface TestPki {
  readonly ca: string;
  /** One per validator, in order; each carries the CA as `ca`, ready for `TransportOptions.tls`. */
  readonly nodes: readonly TlsMaterial[];
}

/** True when the openssl command line can be run. */
export async function opensslAvailable(openssl = 'openssl'): Promise<boolean> {
  try {
    await run(openssl, ['version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * A fresh CA and `count` leaf certificates (P-256 keys) it signed, for tests and local networks.
 * Throws `CONFIG_INVALID` when openssl is missing or fails.
 *
 * @example
 * const pki = await generateTestPki(4);
 * new Transport({ ...options, tls: pki.nodes[i] }, onFrame);
 */
export async function generateTestPki(count: number, options: TestPkiOptions = {}): Promise<TestPki> {
  if (!Number.isInteger(count) || count < 1 || count > 1024) {
    throw new LoulanError('CONFIG_INVALID', 'count must be an integer in 1..1024', { details: { field: 'count' } });
  }
  const openssl = options.openssl ?? 'openssl';
  const days = String(options.days ?? 2);
  const hosts = options.hosts ?? ['127.0.0.1', '::1', 'localhost'];
  const caName = options.caName ?? 'loulan-test-ca';
  for (const host of [...hosts, caName]) {
    if (!/^[A-Za-z0-9.:_-]+$/.test(host)) throw new LoulanError('CONFIG_INVALID', `unsafe name for a certificate: ${host}`, { details: { field: 'hosts' } });
  }
  const san = hosts.map((h) => (isIP(h) === 0 ? `DNS:${h}` : `IP:${h}`)).join(',');
  const dir = await mkdtemp(join(tmpdir(), 'loulan-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    const exec = async (args: string[]): Promise<void> => {
      try {
        await run(openssl, args, { cwd: dir });
      } catch (cause) {
        throw new LoulanError('CONFIG_INVALID', `openssl ${args[0] ?? ''} failed`, { details: { field: 'openssl' }, cause });
      }
    };
    await writeFile(
      join(dir, 'ca.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = v3_ca',
        'prompt = no',
        '[dn]',
        `CN = ${caName}`,
        '[v3_ca]',
        'basicConstraints = critical, CA:TRUE',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'leaf.cnf'),
      [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth, clientAuth',
        `subjectAltName = ${san}`,
        'authorityKeyIdentifier = keyid',
        '',
      ].join('\n'),
    );
    await exec(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', days, '-config', 'ca.cnf']);
    const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
    const nodes: TlsMaterial[] = [];
    for (let i = 0; i < count; i++) {
      await exec(['req', ...ec, '-keyout', `v${i}.key`, '-out', `v${i}.csr`, '-subj', `/CN=validator-${i}`]);
      await exec([
        'x509', '-req', '-in', `v${i}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
        '-days', days, '-extfile', 'leaf.cnf', '-out', `v${i}.crt`,
      ]);
      nodes.push({
        cert: await readFile(join(dir, `v${i}.crt`), 'utf8'),
        key: await readFile(join(dir, `v${i}.key`), 'utf8'),
        ca,
      });
    }
    return { ca, nodes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
