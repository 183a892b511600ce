/**
 * The local certificate authority of the inside internet. Workspaces trust its certificate, so the
 * gateway can serve mirrored sites under their real names over verified HTTPS.
 *
 * The CA key stays with the control plane (this module runs there). The gateway container only ever
 * receives issued server certificates and their keys, written by `writeGatewayCertificates`; if a
 * gateway is compromised, it cannot mint certificates for names it was not given.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../core/log.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { OutpostError } from '../../core/errors.ts';
import { loadX509 } from './x509.ts';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface CertificateAuthority {
  caCertPem(): string;
  /** A server certificate covering all `hostnames` (wildcards like `*.example.org` allowed); cached on disk. */
  issue(hostnames: string[]): Promise<IssuedCertificate>;
}

export interface CertificateAuthorityOptions {
  dir: string;
  log: Logger;
  /** Injected so tests can move time forward instead of waiting years. */
  now?: () => Date;
  /** 397 days is the longest validity browsers accept for server certificates. */
  serverValidityDays?: number;
  /** A cached certificate with less validity left than this is re-issued. */
  renewBeforeDays?: number;
}

const CA_NAME = 'CN=Outpost Local CA, O=Outpost';
const CA_VALIDITY_YEARS = 10;
const DAY_MS = 86_400_000;
// Certificates are backdated a little so a workspace whose clock is slightly behind still accepts them.
const BACKDATE_MS = 3_600_000;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;
// @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto implements the same interface.
const cryptoProvider = webcrypto as unknown as Crypto;

const hostnameSchema = z
  .string()
  .transform((name) => name.toLowerCase())
  .pipe(
    z
      .string()
      .max(253)
      .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/),
  );

/** Lower-cased, de-duplicated, sorted host names; throws INPUT_INVALID naming the bad one. */
export function normaliseHostnames(hostnames: readonly string[]): string[] {
  if (hostnames.length === 0) {
    throw new OutpostError('INPUT_INVALID', 'A certificate needs at least one host name; pass the names the gateway serves.');
  }
  const names = new Set<string>();
  for (const name of hostnames) {
    const parsed = hostnameSchema.safeParse(name);
    if (!parsed.success) {
      throw new OutpostError('INPUT_INVALID', `"${name}" is not a valid host name for a certificate; use letters, digits, dashes and dots, optionally starting with "*.".`, {
        details: { hostname: name },
      });
    }
    names.add(parsed.data);
  }
  return [...names].sort();
}

export async function createCertificateAuthority(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
  const { dir, log } = options;
  const now = options.now ?? (() => new Date());
  const validityMs = (options.serverValidityDays ?? 397) * DAY_MS;
  const renewBeforeMs = (options.renewBeforeDays ?? 30) * DAY_MS;
  const x509 = await loadX509();
  const issuedDir = path.join(dir, 'issued');

  const ca = await loadOrCreateCa();

  async function loadOrCreateCa(): Promise<{ cert: InstanceType<typeof x509.X509Certificate>; key: CryptoKey; pem: string }> {
    const certFile = path.join(dir, 'ca.crt');
    const keyFile = path.join(dir, 'ca.key');
    const [certPem, keyPem] = await Promise.all([readOptional(certFile), readOptional(keyFile)]);
    // The key is written before the certificate, so a certificate without a key was not made here.
    if (certPem !== undefined && keyPem === undefined) {
      throw new OutpostError('PKI_FAILED', `The CA certificate ${certFile} exists but its key ${keyFile} is missing; restore the key from backup, or remove ${certFile} to create a new CA (workspaces must then be given the new CA certificate).`);
    }
    if (certPem !== undefined && keyPem !== undefined) {
      try {
        const cert = new x509.X509Certificate(certPem);
        const key = await subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALGORITHM, false, ['sign']);
        log.debug({ dir, notAfter: cert.notAfter }, 'loaded the local CA');
        return { cert, key, pem: cert.toString('pem') };
      } catch (error) {
        throw new OutpostError('PKI_FAILED', `The CA in ${dir} could not be read: ${(error as Error).message}. Restore ca.crt and ca.key from backup, or remove both to create a new CA.`, { cause: error });
      }
    }
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const keys = (await subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
      const notBefore = new Date(now().getTime() - BACKDATE_MS);
      const notAfter = new Date(notBefore);
      notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
      const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
          name: CA_NAME,
          keys,
          serialNumber: randomSerial(),
          notBefore,
          notAfter,
          signingAlgorithm: ALGORITHM,
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
            await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, cryptoProvider),
          ],
        },
        cryptoProvider,
      );
      await writeFileAtomic(keyFile, await privateKeyPem(keys.privateKey), 0o600);
      const pem = cert.toString('pem');
      await writeFileAtomic(certFile, pem, 0o644);
      log.info({ dir, notAfter }, 'created the local CA');
      return { cert, key: keys.privateKey, pem };
    } catch (error) {
      throw new OutpostError('PKI_FAILED', `Could not create the local CA in ${dir}: ${(error as Error).message}. Check that the directory is writable.`, { cause: error });
    }
  }

  async function privateKeyPem(key: CryptoKey): Promise<string> {
    return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
  }

  async function cached(base: string): Promise<IssuedCertificate | undefined> {
    const [certPem, keyPem] = await Promise.all([readOptional(`${base}.crt`), readOptional(`${base}.key`)]);
    if (certPem === undefined || keyPem === undefined) return undefined;
    try {
      const cert = new x509.X509Certificate(certPem);
      if (cert.notAfter.getTime() - now().getTime() < renewBeforeMs) return undefined;
      // A certificate from a previous CA would be rejected by workspaces that trust the current one.
      if (cert.issuer !== ca.cert.subject || !(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }, cryptoProvider))) return undefined;
      return { certPem, keyPem, notAfter: cert.notAfter };
    } catch {
      return undefined;
    }
  }

  return {
    caCertPem: () => ca.pem,

    async issue(hostnames) {
      const names = normaliseHostnames(hostnames);
      const base = path.join(issuedDir, createHash('sha256').update(names.join('\n')).digest('hex').slice(0, 32));
      const existing = await cached(base);
      if (existing !== undefined) return existing;
      try {
        const keys = (await subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
        const notBefore = new Date(now().getTime() - BACKDATE_MS);
        const notAfter = new Date(notBefore.getTime() + validityMs);
        const cert = await x509.X509CertificateGenerator.create(
          {
            subject: `CN=${names[0]!}`,
            issuer: ca.cert.subject,
            publicKey: keys.publicKey,
            signingKey: ca.key,
            serialNumber: randomSerial(),
            notBefore,
            notAfter,
            signingAlgorithm: ALGORITHM,
            extensions: [
              new x509.BasicConstraintsExtension(false, undefined, true),
              new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
              new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
              new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
              await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, cryptoProvider),
              await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, cryptoProvider),
            ],
          },
          cryptoProvider,
        );
        const issued = { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey), notAfter };
        await mkdir(issuedDir, { recursive: true, mode: 0o700 });
        await writeFileAtomic(`${base}.key`, issued.keyPem, 0o600);
        await writeFileAtomic(`${base}.crt`, issued.certPem, 0o644);
        log.info({ names, notAfter }, 'issued a server certificate');
        return issued;
      } catch (error) {
        throw new OutpostError('PKI_FAILED', `Could not issue a certificate for ${names.join(', ')} in ${issuedDir}: ${(error as Error).message}. Check that the directory is writable.`, {
          cause: error,
          details: { names },
        });
      }
    },
  };
}

/**
 * Makes `dir` hold exactly one certificate and key per host name, as the gateway expects:
 * `<name>.crt` / `<name>.key`, with a wildcard `*.example.org` stored as `_.example.org` (`_` cannot
 * start a real host name, so the files never collide). Files for names no longer listed are removed
 * so a withdrawn site stops being served over HTTPS. Returns the names written.
 */
export async function writeGatewayCertificates(ca: CertificateAuthority, hostnames: readonly string[], dir: string): Promise<string[]> {
  const names = normaliseHostnames(hostnames);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const wanted = new Set<string>();
  for (const name of names) {
    const file = gatewayCertificateBase(name);
    const issued = await ca.issue([name]);
    const certFile = path.join(dir, `${file}.crt`);
    const keyFile = path.join(dir, `${file}.key`);
    // Rewriting unchanged files would make every gateway reload its TLS contexts for nothing.
    if ((await readOptional(certFile)) !== issued.certPem || (await readOptional(keyFile)) !== issued.keyPem) {
      await writeFileAtomic(keyFile, issued.keyPem, 0o600);
      await writeFileAtomic(certFile, issued.certPem, 0o644);
    }
    wanted.add(`${file}.crt`).add(`${file}.key`);
  }
  for (const entry of await readdir(dir)) {
    if (/\.(crt|key)$/.test(entry) && !wanted.has(entry)) await rm(path.join(dir, entry), { force: true });
  }
  return names;
}

/** The file name (without extension) under which the gateway looks for a host's certificate. */
export function gatewayCertificateBase(hostname: string): string {
  return hostname.startsWith('*.') ? `_${hostname.slice(1)}` : hostname;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  // DER integers are signed and minimal: top bit clear keeps it positive, a non-zero first byte keeps it minimal.
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}


