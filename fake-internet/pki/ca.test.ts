import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../core/log.ts';
import { isOutpostError, type ErrorCode } from '../../core/errors.ts';
import { createCertificateAuthority, writeGatewayCertificates } from './ca.ts';

const DAY_MS = 86_400_000;

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(isOutpostError(error, code), `expected ${code}, got ${String(error)}`).to.equal(true);
}

async function openssl(args: string[], input?: string): Promise<string> {
  const child = execFile('openssl', args);
  const output = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`openssl ${args.join(' ')} failed (${code}): ${out}`))));
  });
  child.stdin?.end(input ?? '');
  return output;
}

describe('local certificate authority (real keys, checked with openssl)', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-test-pki-'));
    dir = path.join(root, 'ca');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates a P-256 CA valid for ten years, key 0600 and certificate 0644', async () => {
    const ca = await createCertificateAuthority({ dir, log: silentLogger() });
    expect((await stat(path.join(dir, 'ca.key'))).mode & 0o777).to.equal(0o600);
    expect((await stat(path.join(dir, 'ca.crt'))).mode & 0o777).to.equal(0o644);
    const text = await openssl(['x509', '-noout', '-text'], ca.caCertPem());
    expect(text).to.match(/Subject: CN\s*=\s*Outpost Local CA/);
    expect(text).to.match(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).to.match(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).to.match(/ASN1 OID: prime256v1/);
    const cert = new X509Certificate(ca.caCertPem());
    const years = (Date.parse(cert.validTo) - Date.now()) / (365.25 * DAY_MS);
    expect(years).to.be.within(9.9, 10.1);
    expect(cert.ca).to.equal(true);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).to.deep.equal([]);
  });

  it('issues server certificates that openssl verifies against the CA', async () => {
    const ca = await createCertificateAuthority({ dir, log: silentLogger() });
    const issued = await ca.issue(['Docs.Python.org', '*.apps.outpost', 'docs.python.org']);
    const caFile = path.join(root, 'ca.pem');
    const certFile = path.join(root, 'server.pem');
    await writeFile(caFile, ca.caCertPem());
    await writeFile(certFile, issued.certPem);
    expect(await openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', certFile])).to.contain(': OK');
    const text = await openssl(['x509', '-noout', '-text', '-in', certFile]);
    expect(text).to.match(/X509v3 Subject Alternative Name:\s+DNS:\*\.apps\.outpost, DNS:docs\.python\.org\s/);
    expect(text).to.match(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).to.match(/CA:FALSE/);
    expect(text).to.match(/ASN1 OID: prime256v1/);
    const cert = new X509Certificate(issued.certPem);
    expect(cert.checkHost('docs.python.org')).to.equal('docs.python.org');
    expect(cert.checkHost('preview-7.apps.outpost')).to.equal('*.apps.outpost');
    expect(cert.checkHost('a.b.apps.outpost')).to.equal(undefined);
    expect(cert.checkHost('python.org')).to.equal(undefined);
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS;
    expect(days).to.equal(397);
    // The key belongs to the certificate.
    expect(createPublicKey(createPrivateKey(issued.keyPem)).export({ type: 'spki', format: 'pem' })).to.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }));
    // Random serials: two certificates for different names never share one.
    const other = new X509Certificate((await ca.issue(['developer.mozilla.org'])).certPem);
    expect(other.serialNumber).to.not.equal(cert.serialNumber);
  });

  it('keeps the CA across restarts and reuses issued certificates', async () => {
    const first = await createCertificateAuthority({ dir, log: silentLogger() });
    const issued = await first.issue(['docs.python.org']);
    const again = await createCertificateAuthority({ dir, log: silentLogger() });
    expect(again.caCertPem()).to.equal(first.caCertPem());
    expect((await again.issue(['docs.python.org'])).certPem).to.equal(issued.certPem);
  });

  it('re-issues when fewer than 30 days remain, not before', async () => {
    const start = Date.now();
    const at = (days: number) => () => new Date(start + days * DAY_MS);
    const ca = await createCertificateAuthority({ dir, log: silentLogger(), now: at(0) });
    const issued = await ca.issue(['docs.python.org']);
    const later = await createCertificateAuthority({ dir, log: silentLogger(), now: at(300) });
    expect((await later.issue(['docs.python.org'])).certPem).to.equal(issued.certPem);
    const nearExpiry = await createCertificateAuthority({ dir, log: silentLogger(), now: at(370) });
    const renewed = await nearExpiry.issue(['docs.python.org']);
    expect(renewed.certPem).to.not.equal(issued.certPem);
    expect(renewed.notAfter.getTime()).to.be.greaterThan(issued.notAfter.getTime() + 300 * DAY_MS);
  });

  it('re-issues when the CA was replaced', async () => {
    const old = await createCertificateAuthority({ dir, log: silentLogger() });
    const issued = await old.issue(['docs.python.org']);
    await rm(path.join(dir, 'ca.crt'));
    await rm(path.join(dir, 'ca.key'));
    const replaced = await createCertificateAuthority({ dir, log: silentLogger() });
    expect(replaced.caCertPem()).to.not.equal(old.caCertPem());
    const reissued = await replaced.issue(['docs.python.org']);
    expect(reissued.certPem).to.not.equal(issued.certPem);
    expect(new X509Certificate(reissued.certPem).verify(new X509Certificate(replaced.caCertPem()).publicKey)).to.equal(true);
  });

  it('refuses a CA certificate without its key, and invalid host names', async () => {
    const ca = await createCertificateAuthority({ dir, log: silentLogger() });
    await expectCode(ca.issue([]), 'INPUT_INVALID');
    await expectCode(ca.issue(['bad name.org']), 'INPUT_INVALID');
    await expectCode(ca.issue(['../../etc']), 'INPUT_INVALID');
    await expectCode(ca.issue(['a.*.org']), 'INPUT_INVALID');
    await rm(path.join(dir, 'ca.key'));
    await expectCode(createCertificateAuthority({ dir, log: silentLogger() }), 'PKI_FAILED');
  });

  it('writes one certificate per name for the gateway and removes withdrawn names', async () => {
    const ca = await createCertificateAuthority({ dir, log: silentLogger() });
    const certs = path.join(root, 'certs');
    await writeGatewayCertificates(ca, ['docs.python.org', '*.apps.outpost', 'old.example.org'], certs);
    expect((await readdir(certs)).sort()).to.deep.equal(['_.apps.outpost.crt', '_.apps.outpost.key', 'docs.python.org.crt', 'docs.python.org.key', 'old.example.org.crt', 'old.example.org.key']);
    expect((await stat(path.join(certs, 'docs.python.org.key'))).mode & 0o777).to.equal(0o600);
    const before = (await stat(path.join(certs, 'docs.python.org.crt'))).mtimeMs;
    await writeGatewayCertificates(ca, ['docs.python.org', '*.apps.outpost'], certs);
    expect((await readdir(certs)).sort()).to.deep.equal(['_.apps.outpost.crt', '_.apps.outpost.key', 'docs.python.org.crt', 'docs.python.org.key']);
    expect((await stat(path.join(certs, 'docs.python.org.crt'))).mtimeMs, 'unchanged files are not rewritten').to.equal(before);
    const wildcard = new X509Certificate(await readFile(path.join(certs, '_.apps.outpost.crt')));
    expect(wildcard.subjectAltName).to.equal('DNS:*.apps.outpost');
  });
});
