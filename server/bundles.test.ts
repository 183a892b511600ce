/**
 * Offline update bundles against the real things: ed25519 keys, tar archives, a real Docker engine
 * (a tiny image made here), a mirrored site, npm packages made locally, a curriculum graded in real
 * containers. Tampered bundles are each refused with their code and nothing of them is applied.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, link, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import * as tar from 'tar';
import { createAuditLog, type AuditLog } from '../core/audit.ts';
import { isOutpostError, type ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { openStore, type Store } from '../core/store.ts';
import { createMirrorStore, type MirrorStore } from '../fake-internet/mirrors/store.ts';
import { createPackageMirror, type PackageMirror } from '../fake-internet/registry/packages.ts';
import { startTestServer, testPassword, writeTree, type TestServer } from '../test/support.ts';
import { createBundles, formatFingerprint, generateSigningKeys, keyFingerprint, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, type BundleManifest, type Bundles } from './bundles.ts';
import { allMigrations, VERSION } from './system.ts';

const run = promisify(execFile);

/** A tiny curriculum: one exercise graded by input and output, quick to grade. */
function curriculumFixture(root: string, id: string): Promise<string> {
  return writeTree(root, {
    'curriculum.yaml': `id: ${id}\ntitle: Bundle course\nversion: 1\ntracks: [basics]\n`,
    'basics/track.yaml': 'id: basics\ntitle: Basics\nmodules: [first]\n',
    'basics/first/module.yaml': `id: first\ntitle: First steps\nitems:\n  - exercise: ${id}-echo\n`,
    [`basics/first/exercises/${id}-echo/exercise.yaml`]: `id: ${id}-echo\ntitle: Echo\nlanguage: python\ncommand: [python3, echo.py]\ngrader:\n  adapter: io\ncases:\n  - { name: echoes a word, stdin: "hi\\n", expected: "hi" }\n`,
    [`basics/first/exercises/${id}-echo/README.md`]: 'Print what you read.\n',
    [`basics/first/exercises/${id}-echo/starter/echo.py`]: '# TODO\n',
    [`basics/first/exercises/${id}-echo/solution/echo.py`]: 'print(input())\n',
  });
}

/** An npm package as Verdaccio stores it: a packument and its tarball, with npm's integrity. */
async function writePackage(storageDir: string, name: string, version: string): Promise<void> {
  const dir = path.join(storageDir, name);
  const work = path.join(storageDir, '..', `pack-${name}-${version}`);
  await writeTree(work, { 'package/package.json': JSON.stringify({ name, version, main: 'index.js' }), 'package/index.js': 'module.exports = 42;\n' });
  await mkdir(dir, { recursive: true });
  const file = `${name}-${version}.tgz`;
  await tar.create({ file: path.join(dir, file), cwd: work, gzip: true, portable: true }, ['package']);
  const data = await readFile(path.join(dir, file));
  const dist = { tarball: `http://registry.invalid/${name}/-/${file}`, integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`, shasum: createHash('sha1').update(data).digest('hex') };
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, versions: { [version]: { name, version, dist } }, 'dist-tags': { latest: version }, time: { [version]: '2026-01-01T00:00:00.000Z' }, _attachments: { [file]: { shasum: dist.shasum } } }));
  await rm(work, { recursive: true, force: true });
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(isOutpostError(error), String(error)).to.equal(true);
    expect((error as { code: string }).code, (error as Error).message).to.equal(code);
    return error as Error;
  }
  expect.fail(`expected ${code}, but it succeeded`);
}

describe('offline update bundles', function () {
  this.timeout(6 * 60_000);
  let t: TestServer;
  let keysDir: string;
  let image: string;
  // Outside: the publisher's own Outpost store, sites and packages.
  let outsideStore: Store;
  let outside: Bundles;
  // Inside: the facility's store (the test system's), with its own sites and npm mirror.
  let insideMirrors: MirrorStore;
  let insidePackages: PackageMirror;
  let inside: Bundles;
  let full: string;
  const operator = { name: 'cli:test' };
  const staff = { name: 'stan' };

  const bundlesDir = () => path.join(t.config.dataDir, 'bundles');
  const stagedDirs = async () => (await readdir(bundlesDir()).catch(() => [] as string[])).filter((n) => n.startsWith('staged-'));
  const audited = (action: string) => t.system.audit.query({ action, limit: 1000 }).entries;

  /** Unpacks a bundle with the system tar, lets `change` edit the tree, and packs it again. */
  async function tampered(name: string, change: (dir: string) => Promise<void>, extra: (file: string, dir: string) => Promise<void> = async () => undefined): Promise<string> {
    const dir = path.join(t.root, 'tamper', name, 'tree');
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xf', full, '-C', dir]);
    await change(dir);
    const file = path.join(t.root, 'tamper', name, 'bundle.tar');
    await run('tar', ['-cf', file, '-C', dir, 'manifest.json', 'manifest.sig', 'payload']);
    await extra(file, path.join(t.root, 'tamper', name));
    return file;
  }

  /** The import is refused with `code`, audited, leaves no staged files and no new bundle. */
  async function refused(file: string, code: ErrorCode): Promise<Error> {
    const before = inside.list().length;
    const rejectedBefore = audited('bundle.rejected').length;
    const error = await expectCode(inside.import(file, operator), code);
    expect(inside.list().length).to.equal(before);
    expect(await stagedDirs()).to.deep.equal([]);
    const entry = audited('bundle.rejected')[0]!;
    expect(audited('bundle.rejected').length).to.equal(rejectedBefore + 1);
    expect(entry.details).to.include({ code, stage: 'import' });
    return error;
  }

  before(async () => {
    t = await startTestServer();
    await t.user('stan', 'staff');
    keysDir = path.join(t.root, 'keys');
    const log = silentLogger();

    // A tiny image of our own (one file), named under Outpost's image repository.
    image = `${t.config.images.repository}/bundle-test-${randomBytes(3).toString('hex')}:latest`;
    await writeTree(path.join(t.root, 'rootfs'), { 'hello.txt': 'hello from a bundle\n' });
    await tar.create({ file: path.join(t.root, 'rootfs.tar'), cwd: path.join(t.root, 'rootfs'), portable: true }, ['hello.txt']);
    const [repo, tag] = image.split(':');
    const imported = await t.system.docker.importImage(path.join(t.root, 'rootfs.tar'), { repo, tag });
    for await (const chunk of imported as AsyncIterable<Buffer>) void chunk;

    outsideStore = openStore(path.join(t.root, 'outside', 'outpost.db'), allMigrations());
    const outsideAudit: AuditLog = createAuditLog({ store: outsideStore, anchorFile: path.join(t.root, 'outside', 'audit.anchor') });
    const outsideMirrors = createMirrorStore({ store: outsideStore, dir: path.join(t.root, 'outside', 'mirrors'), log, retireAfterMs: 0 });
    await writeTree(path.join(t.root, 'site'), { 'index.html': '<html><head><title>Tiny docs</title></head><body><a href="guide/start.html">Start</a></body></html>', 'guide/start.html': '<html><head><title>Start</title></head><body>Getting started</body></html>' });
    await outsideMirrors.importSite({ name: 'tinydocs', host: 'docs.tiny.test', pathPrefix: '/', from: path.join(t.root, 'site') });
    await writePackage(path.join(t.root, 'outside', 'registry'), 'tiny-lib', '1.0.0');
    const outsidePackages = createPackageMirror({ storageDir: path.join(t.root, 'outside', 'registry'), store: outsideStore, log });
    outside = createBundles({ store: outsideStore, audit: outsideAudit, dataDir: path.join(t.root, 'outside'), log, version: VERSION, imagesRepository: t.config.images.repository, docker: t.system.docker, mirrors: outsideMirrors, packages: outsidePackages });

    insideMirrors = createMirrorStore({ store: t.system.store, dir: path.join(t.config.dataDir, 'mirrors'), log, retireAfterMs: 0 });
    insidePackages = createPackageMirror({ storageDir: path.join(t.config.dataDir, 'registry'), store: t.system.store, log });
    inside = createBundles({
      store: t.system.store, audit: t.system.audit, dataDir: t.config.dataDir, log, version: VERSION, imagesRepository: t.config.images.repository,
      docker: t.system.docker, catalog: t.system.curriculum.catalog, mirrors: insideMirrors, packages: insidePackages,
    });
  });

  after(async () => {
    t?.close();
    await t?.system.docker.getImage(image).remove({ force: true }).catch(() => undefined);
    outsideStore?.close();
    await t?.cleanup();
  });

  it('keygen writes an ed25519 key pair (the private key 0600) and never overwrites it', async () => {
    const keys = await generateSigningKeys(keysDir);
    expect(keys.privateKeyFile).to.equal(path.join(keysDir, PRIVATE_KEY_FILE));
    expect((await stat(keys.privateKeyFile)).mode & 0o777).to.equal(0o600);
    const publicKey = createPublicKey(await readFile(path.join(keysDir, PUBLIC_KEY_FILE), 'utf8'));
    expect(publicKey.asymmetricKeyType).to.equal('ed25519');
    expect(keys.fingerprint).to.equal(keyFingerprint(publicKey)).and.match(/^[0-9a-f]{64}$/);
    expect(formatFingerprint(keys.fingerprint)).to.match(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    await expectCode(generateSigningKeys(keysDir), 'BUNDLE_KEY_EXISTS');
  });

  it('trusts a publisher key (audited), refusing a private key, another algorithm and a second copy', async () => {
    const pem = await readFile(path.join(keysDir, PUBLIC_KEY_FILE), 'utf8');
    expect(() => inside.trust(pem, 'Bad Name', operator)).to.throw(/not a key name/);
    expect(() => inside.trust(readFileSync(path.join(keysDir, PRIVATE_KEY_FILE), 'utf8'), 'central', operator)).to.throw(/That is a private key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => inside.trust(rsa, 'rsa', operator)).to.throw(/ed25519/);
    const key = inside.trust(pem, 'central', operator);
    expect(inside.keys().map((k) => k.name)).to.deep.equal(['central']);
    expect(() => inside.trust(pem, 'again', operator)).to.throw(/already trusted as "central"/);
    expect(audited('bundle.key-trust')[0]!.details).to.deep.equal({ fingerprint: key.fingerprint });
  });

  it('exports one signed tar whose manifest lists every payload file (image, site, packages, curriculum)', async () => {
    const course = await curriculumFixture(path.join(t.root, 'course'), 'bundle-course');
    full = path.join(t.root, 'out', 'full.tar');
    const report = await outside.export(full, { privateKeyFile: path.join(keysDir, PRIVATE_KEY_FILE), images: [image], mirrors: ['tinydocs'], packages: true, curriculum: course, note: 'term 2 update' });
    expect(report.units.map((u) => `${u.kind}:${u.name}`)).to.deep.equal([`image:${image}`, 'mirror:tinydocs', 'packages:npm', 'curriculum:bundle-course']);
    const entries: string[] = [];
    await tar.list({ file: full, onReadEntry: (e) => { if (e.type === 'File') entries.push(e.path); } });
    expect(entries.slice(0, 2)).to.deep.equal(['manifest.json', 'manifest.sig']);
    const dir = path.join(t.root, 'out', 'unpacked');
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xf', full, '-C', dir]);
    const manifestBytes = await readFile(path.join(dir, 'manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString()) as BundleManifest;
    expect(manifest).to.include({ format: 1, outpostVersion: VERSION, note: 'term 2 update' });
    expect(manifest.items.map((i) => i.path).sort()).to.deep.equal(entries.filter((e) => e.startsWith('payload/')).sort());
    expect(manifest.items.map((i) => i.path)).to.include.members(['payload/mirrors/tinydocs/site.json', 'payload/mirrors/tinydocs/files/guide/start.html', 'payload/packages/tiny-lib/tiny-lib-1.0.0.tgz', 'payload/packages/tiny-lib/package.json']);
    for (const item of manifest.items) {
      const data = await readFile(path.join(dir, item.path));
      expect(createHash('sha256').update(data).digest('hex'), item.path).to.equal(item.sha256);
      expect(data.length).to.equal(item.bytes);
    }
    const publicKey = createPublicKey(await readFile(path.join(keysDir, PUBLIC_KEY_FILE), 'utf8'));
    expect(manifest.publisherFingerprint).to.equal(keyFingerprint(publicKey));
    expect(verify(null, manifestBytes, publicKey, Buffer.from((await readFile(path.join(dir, 'manifest.sig'), 'utf8')).trim(), 'base64'))).to.equal(true);
  });

  it('imports: verifies, stages the bundle as pending, audits it, and applies nothing', async () => {
    await t.system.docker.getImage(image).remove({ force: true });
    const record = await inside.import(full, operator);
    expect(record).to.deep.include({ status: 'pending', publisher: { name: 'central', fingerprint: inside.keys()[0]!.fingerprint }, results: [] });
    expect(record.units.find((u) => u.kind === 'mirror')!.detail).to.equal('https://docs.tiny.test/');
    expect(record.units.find((u) => u.kind === 'curriculum')!.detail).to.equal('Bundle course, version 1');
    expect(await stagedDirs()).to.have.length(1);
    expect(audited('bundle.staged')[0]).to.deep.include({ actor: 'cli:test', target: `bundle-${record.id}` });
    // Nothing applied yet.
    expect(await t.system.docker.getImage(image).inspect().then(() => true, () => false)).to.equal(false);
    expect(insideMirrors.list()).to.deep.equal([]);
    expect(insidePackages.list()).to.deep.equal([]);
    expect(t.system.curriculum.catalog.curricula()).to.deep.equal([]);
  });

  it('approval checks the files again, applies every item (image, site, packages, curriculum) and is audited', async () => {
    const pending = inside.list().find((b) => b.status === 'pending')!;
    const applied = await inside.approve(pending.id, staff, { note: 'checked with the publisher' });
    expect(applied.results.map((r) => [r.kind, r.status]), JSON.stringify(applied.results)).to.deep.equal([['image', 'applied'], ['mirror', 'applied'], ['packages', 'applied'], ['curriculum', 'applied']]);
    expect(applied).to.deep.include({ status: 'applied', decidedBy: 'stan', decisionNote: 'checked with the publisher' });
    const loaded = await t.system.docker.getImage(image).inspect();
    expect(loaded.RepoTags).to.include(image);
    expect(insideMirrors.get('tinydocs')).to.deep.include({ host: 'docs.tiny.test', pathPrefix: '/', files: 2 });
    expect(await readFile(path.join(insideMirrors.get('tinydocs')!.root, 'guide', 'start.html'), 'utf8')).to.include('Getting started');
    expect(insidePackages.list()).to.deep.equal([{ name: 'tiny-lib', versions: ['1.0.0'] }]);
    expect(t.system.curriculum.catalog.exercise('bundle-course-echo')).to.not.equal(undefined);
    expect(audited('bundle.approved')[0]).to.deep.include({ actor: 'stan', target: `bundle-${pending.id}` });
    expect(audited('bundle.applied')[0]!.details.results).to.have.length(4);
    expect(await stagedDirs()).to.deep.equal([]);
    await expectCode(inside.approve(pending.id, staff), 'BUNDLE_STATE_INVALID');
    expect(t.system.audit.verify().ok).to.equal(true);
  });

  it('applying the same bundle again changes nothing (idempotent)', async () => {
    const again = await inside.import(full, operator);
    const applied = await inside.approve(again.id, staff);
    expect(applied.status).to.equal('applied');
    expect(applied.results.find((r) => r.kind === 'packages')!.detail).to.match(/no new package versions/);
    expect(applied.results.find((r) => r.kind === 'curriculum')!.detail).to.match(/0 new, 0 changed, 1 unchanged/);
    expect(insideMirrors.list().map((s) => [s.name, s.files])).to.deep.equal([['tinydocs', 2]]);
    expect(insidePackages.list()).to.deep.equal([{ name: 'tiny-lib', versions: ['1.0.0'] }]);
  });

  describe('refuses tampered bundles, applying nothing', () => {
    it('a flipped byte in a payload file: BUNDLE_CHECKSUM_MISMATCH', async () => {
      const file = await tampered('flip', async (dir) => {
        const target = path.join(dir, 'payload', 'mirrors', 'tinydocs', 'files', 'index.html');
        const data = await readFile(target);
        data[10] = data[10]! ^ 0x01;
        await writeFile(target, data);
      });
      const error = await refused(file, 'BUNDLE_CHECKSUM_MISMATCH');
      expect(error.message).to.include('payload/mirrors/tinydocs/files/index.html');
    });

    it('an edited manifest: BUNDLE_SIGNATURE_INVALID', async () => {
      const file = await tampered('manifest', async (dir) => {
        const text = await readFile(path.join(dir, 'manifest.json'), 'utf8');
        await writeFile(path.join(dir, 'manifest.json'), text.replace('term 2 update', 'term 3 update'));
      });
      await refused(file, 'BUNDLE_SIGNATURE_INVALID');
    });

    it('a signature by a key nobody trusted: BUNDLE_KEY_UNKNOWN', async () => {
      const stranger = await generateSigningKeys(path.join(t.root, 'stranger'));
      const file = path.join(t.root, 'out', 'stranger.tar');
      await outside.export(file, { privateKeyFile: stranger.privateKeyFile, mirrors: ['tinydocs'] });
      const error = await refused(file, 'BUNDLE_KEY_UNKNOWN');
      expect(error.message).to.include(formatFingerprint(stranger.fingerprint));
    });

    it('a file the manifest does not list, or a listed file missing: BUNDLE_CONTENTS_MISMATCH', async () => {
      const extra = await tampered('extra', (dir) => writeFile(path.join(dir, 'payload', 'mirrors', 'tinydocs', 'files', 'extra.html'), 'not signed'));
      expect((await refused(extra, 'BUNDLE_CONTENTS_MISMATCH')).message).to.include('not listed: payload/mirrors/tinydocs/files/extra.html');
      const missing = await tampered('missing', (dir) => rm(path.join(dir, 'payload', 'mirrors', 'tinydocs', 'files', 'index.html')));
      expect((await refused(missing, 'BUNDLE_CONTENTS_MISMATCH')).message).to.include('missing: payload/mirrors/tinydocs/files/index.html');
    });

    it('an entry that climbs out with "../": BUNDLE_UNSAFE_ENTRY, checked before anything is written', async () => {
      const file = await tampered('traversal', async () => undefined, async (tarFile, dir) => {
        await writeFile(path.join(dir, 'x'), 'escaped');
        // -P keeps the "../" in the member name, as an attacker's tar would.
        await run('tar', ['-rf', tarFile, '-P', '-C', path.join(dir, 'tree'), '../x']);
      });
      const listed: string[] = [];
      await tar.list({ file, onReadEntry: (e) => listed.push(e.path) });
      expect(listed).to.include('../x');
      await refused(file, 'BUNDLE_UNSAFE_ENTRY');
      expect(await readdir(bundlesDir())).to.not.include('x');
      expect(await readdir(t.config.dataDir)).to.not.include('x');
    });

    it('a symbolic link entry, or a hard link: BUNDLE_UNSAFE_ENTRY', async () => {
      const file = await tampered('symlink', (dir) => symlink('/etc/passwd', path.join(dir, 'payload', 'mirrors', 'tinydocs', 'files', 'passwd.html')));
      expect((await refused(file, 'BUNDLE_UNSAFE_ENTRY')).message).to.include('passwd.html" is a symbolic link');
      const files = (dir: string) => path.join(dir, 'payload', 'mirrors', 'tinydocs', 'files');
      const hard = await tampered('hardlink', (dir) => link(path.join(files(dir), 'index.html'), path.join(files(dir), 'copy.html')));
      expect((await refused(hard, 'BUNDLE_UNSAFE_ENTRY')).message).to.include('is a hard link');
    });

    it('a correctly signed but malformed manifest: BUNDLE_MANIFEST_INVALID', async () => {
      const privateKey = readFileSync(path.join(keysDir, PRIVATE_KEY_FILE), 'utf8');
      const file = await tampered('malformed', async (dir) => {
        const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as BundleManifest;
        const site = manifest.items.find((i) => i.path.endsWith('index.html'))!;
        site.path = 'payload/mirrors/other-site/files/index.html';
        const bytes = Buffer.from(JSON.stringify(manifest));
        await writeFile(path.join(dir, 'manifest.json'), bytes);
        await writeFile(path.join(dir, 'manifest.sig'), sign(null, bytes, privateKey).toString('base64'));
      });
      expect((await refused(file, 'BUNDLE_MANIFEST_INVALID')).message).to.include("a site's files are under payload/mirrors/tinydocs/");
    });

    it('a file that is not a tar: BUNDLE_INVALID', async () => {
      const file = path.join(t.root, 'out', 'junk.tar');
      await writeFile(file, randomBytes(3000));
      await refused(file, 'BUNDLE_INVALID');
    });
  });

  it('approval re-verifies: a staged file changed after import fails the bundle and applies nothing', async () => {
    const course = await curriculumFixture(path.join(t.root, 'course2'), 'changed-course');
    const file = path.join(t.root, 'out', 'course2.tar');
    await outside.export(file, { privateKeyFile: path.join(keysDir, PRIVATE_KEY_FILE), curriculum: course });
    const record = await inside.import(file, operator);
    const [staged] = await stagedDirs();
    await appendFile(path.join(bundlesDir(), staged!, 'payload', 'curriculum', 'changed-course', 'curriculum.yaml'), '# changed\n');
    await expectCode(inside.approve(record.id, staff), 'BUNDLE_CHECKSUM_MISMATCH');
    const failed = inside.get(record.id);
    expect(failed.status).to.equal('failed');
    expect(failed.results).to.deep.equal([{ kind: 'verification', name: 'staged files', status: 'failed', detail: failed.results[0]!.detail, code: 'BUNDLE_CHECKSUM_MISMATCH' }]);
    expect(t.system.curriculum.catalog.curricula().map((c) => c.id)).to.not.include('changed-course');
    expect(audited('bundle.failed')[0]!.details).to.include({ stage: 'verify', code: 'BUNDLE_CHECKSUM_MISMATCH' });

    // A failed bundle can still be rejected; a reason is required; its staged files go.
    await expectCode(inside.reject(record.id, staff, ' '), 'INPUT_INVALID');
    const rejected = await inside.reject(record.id, staff, 'damaged on the way in');
    expect(rejected).to.deep.include({ status: 'rejected', decidedBy: 'stan', decisionNote: 'damaged on the way in' });
    expect(await stagedDirs()).to.deep.equal([]);
    expect(audited('bundle.rejected')[0]!.details).to.include({ stage: 'review', reason: 'damaged on the way in' });
    await expectCode(inside.approve(record.id, staff), 'BUNDLE_STATE_INVALID');
  });

  it('untrusting the key stops a staged bundle from being approved', async () => {
    const file = path.join(t.root, 'out', 'site-only.tar');
    await outside.export(file, { privateKeyFile: path.join(keysDir, PRIVATE_KEY_FILE), mirrors: ['tinydocs'] });
    const record = await inside.import(file, operator);
    const key = inside.keys()[0]!;
    inside.untrust('central', operator);
    await expectCode(inside.approve(record.id, staff), 'BUNDLE_KEY_UNKNOWN');
    inside.trust(key.publicKey, 'central', operator);
    await inside.reject(record.id, staff, 'not needed');
  });

  it('the page /admin/bundles is for staff only, and approving there applies the bundle', async () => {
    const course = await curriculumFixture(path.join(t.root, 'course3'), 'web-course');
    const file = path.join(t.root, 'out', 'web.tar');
    await outside.export(file, { privateKeyFile: path.join(keysDir, PRIVATE_KEY_FILE), curriculum: course, note: 'for the web test' });
    // Staged through the system's own service: the one the page uses.
    const record = await t.system.bundles.import(file, operator);

    const student = await t.user('stu', 'student');
    const studentClient = await t.login(student.name, student.password);
    expect((await studentClient.request('GET', '/admin/bundles')).status).to.equal(403);
    expect((await studentClient.request('POST', `/admin/bundles/${record.id}/approve`, { form: { _csrf: studentClient.csrf ?? '' } })).status).to.equal(403);
    const anonymous = await t.client().request('GET', '/admin/bundles', { accept: 'html' });
    expect(anonymous.status).to.equal(303);

    const client = await t.login('stan', testPassword('stan'));
    const pageText = await (await client.request('GET', '/admin/bundles', { accept: 'html' })).text();
    expect(pageText).to.include(`Bundle #${record.id}: waiting for approval`);
    expect(pageText).to.include('for the web test');
    expect(pageText).to.include(formatFingerprint(record.publisher.fingerprint));
    expect(pageText).to.include('Bundle course, version 1');
    expect(pageText).to.include(`action="/admin/bundles/${record.id}/approve"`);

    const noCsrf = await client.request('POST', `/admin/bundles/${record.id}/approve`, { form: {} });
    expect(noCsrf.status).to.equal(403);
    const noReason = await client.request('POST', `/admin/bundles/${record.id}/reject`, { form: { _csrf: client.csrf!, reason: '' } });
    expect(noReason.status).to.equal(400);
    const res = await client.request('POST', `/admin/bundles/${record.id}/approve`, { form: { _csrf: client.csrf!, note: 'looks right' }, accept: 'html' });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.match(/^\/admin\/bundles\?notice=.*applied/);
    expect(t.system.bundles.get(record.id)).to.deep.include({ status: 'applied', decidedBy: 'stan', decisionNote: 'looks right' });
    expect(t.system.curriculum.catalog.exercise('web-course-echo')).to.not.equal(undefined);
    const after = await (await client.request('GET', '/admin/bundles', { accept: 'html' })).text();
    expect(after).to.include(`Bundle #${record.id}: applied`);
  });
});
