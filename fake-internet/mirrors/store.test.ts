import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { isOutpostError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../../core/store.ts';
import { createMirrorStore, mirrorMigrations, type MirrorStore } from './store.ts';

/** One raw ustar entry: lets a test write what honest tools refuse to (`../x`, `/abs`, devices). */
export function tarEntry(entry: { name: string; type?: '0' | '1' | '2' | '3' | '5' | '6'; linkname?: string; body?: string }): Buffer {
  const body = Buffer.from(entry.body ?? '');
  const header = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => header.write(text, offset, length, 'utf8');
  const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(entry.name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(body.length, 12), 124, 12);
  put(octal(1_700_000_000, 12), 136, 12);
  put('        ', 148, 8);
  put(entry.type ?? '0', 156, 1);
  put(entry.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return Buffer.concat([header, padded]);
}

export function tarArchive(entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

async function expectError(promise: Promise<unknown>, code: Parameters<typeof isOutpostError>[1], pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(isOutpostError(error, code), `${code} expected, got ${String(error)}`).to.equal(true);
    expect((error as Error).message).to.match(pattern);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('mirror store', () => {
  let root: string;
  let store: Store;
  let mirrors: MirrorStore;

  const makeTree = async (name: string, files: Record<string, string>) => {
    const dir = path.join(root, 'src', name);
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    }
    return dir;
  };
  /** Every path under the test root, to prove an import wrote nothing where it should not. */
  const everything = async () => (await readdir(root, { recursive: true })).map(String).sort();

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-mirrors-'));
    store = openStore(path.join(root, 'outpost.db'), mirrorMigrations);
    mirrors = createMirrorStore({ store, dir: path.join(root, 'mirrors'), log: silentLogger(), retireAfterMs: 50 });
  });
  afterEach(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('imports a directory as plain files, resolving links inside and dropping the rest', async () => {
    const from = await makeTree('site', { 'index.html': '<title>Home</title><p>hello</p>', 'sub/page.html': '<title>Page</title><p>deep</p>', 'sub/img.png': 'PNG' });
    await symlink('index.html', path.join(from, 'alias.html'));
    await symlink('sub', path.join(from, 'dirlink'));
    await symlink('.', path.join(from, 'sub', 'loop'));
    await symlink('/etc/passwd', path.join(from, 'passwd'));
    await symlink('missing.html', path.join(from, 'dangling.html'));
    execFileSync('mkfifo', [path.join(from, 'pipe')]);

    const report = await mirrors.importSite({ name: 'demo', host: 'docs.example.org', pathPrefix: '/en/', from });

    const site = path.join(root, 'mirrors', 'sites', 'demo');
    expect(report).to.include({ name: 'demo', host: 'docs.example.org', pathPrefix: '/en/', files: 6, pages: 4, dropped: 5, extensionless: false, root: site });
    expect(report.droppedPaths).to.deep.equal(['dangling.html', 'dirlink/loop', 'passwd', 'pipe', 'sub/loop']);
    expect(await readFile(path.join(site, 'alias.html'), 'utf8')).to.contain('hello');
    expect(await readFile(path.join(site, 'dirlink', 'page.html'), 'utf8')).to.contain('deep');
    expect((await lstat(path.join(site, 'alias.html'))).isFile()).to.equal(true);
    expect((await lstat(path.join(site, 'dirlink'))).isDirectory()).to.equal(true);
    expect(existsSync(path.join(site, 'passwd'))).to.equal(false);
    expect((await lstat(path.join(site, 'sub', 'page.html'))).mode & 0o777).to.equal(0o644);
    expect(mirrors.sites()).to.deep.equal([{ name: 'demo', host: 'docs.example.org', pathPrefix: '/en/', root: site, extensionless: false }]);
  });

  it('copies the content of links that leave the tree when they stay under linkRoot', async () => {
    const pkg = await makeTree('pkg', { 'doc/html/index.html': '<script src="_static/jquery.js"></script>', 'javascript/jquery/jquery.js': 'window.jQuery = 1;', 'secret/key': 'no' });
    const from = path.join(pkg, 'doc', 'html');
    await mkdir(path.join(from, '_static'));
    await symlink('../../../javascript/jquery/jquery.js', path.join(from, '_static', 'jquery.js'));
    await symlink('/etc/hostname', path.join(from, '_static', 'host.txt'));
    await symlink('../../../secret', path.join(from, 'secret'));

    const report = await mirrors.importSite({ name: 'pkg', host: 'pkg.example.org', pathPrefix: '/', from, linkRoot: pkg });

    const site = path.join(root, 'mirrors', 'sites', 'pkg');
    expect(await readFile(path.join(site, '_static', 'jquery.js'), 'utf8')).to.equal('window.jQuery = 1;');
    expect(report.droppedPaths).to.deep.equal(['_static/host.txt', 'secret']);
  });

  it('imports a tar.gz and a plain tar, links inside becoming files', async () => {
    const from = await makeTree('tarsrc', { 'index.html': '<title>T</title>', 'a/b.html': 'b' });
    await symlink('a/b.html', path.join(from, 'c.html'));
    const tgz = path.join(root, 'site.tgz');
    const plain = path.join(root, 'site.tar');
    await tar.create({ file: tgz, gzip: true, cwd: from }, ['.']);
    await tar.create({ file: plain, cwd: from }, ['index.html', 'a']);

    const phases = new Set<string>();
    const report = await mirrors.importSite({ name: 'tarred', host: 'tar.example.org', pathPrefix: '/x/', from: tgz, onProgress: (p) => phases.add(p.phase) });
    expect(report).to.include({ files: 3, pages: 3, dropped: 0 });
    expect([...phases]).to.deep.equal(['extract', 'plan', 'copy', 'index', 'search']);
    const site = path.join(root, 'mirrors', 'sites', 'tarred');
    expect(await readFile(path.join(site, 'c.html'), 'utf8')).to.equal('b');
    expect((await lstat(path.join(site, 'c.html'))).isFile()).to.equal(true);

    expect(await mirrors.importSite({ name: 'plain', host: 'tar.example.org', pathPrefix: '/y/', from: plain })).to.include({ files: 2 });
    expect((await readdir(path.join(root, 'mirrors', 'sites'))).filter((n) => n.startsWith('.tmp-'))).to.deep.equal([]);
  });

  it('refuses hostile archives and writes nothing outside the site', async () => {
    const outside = path.join(os.tmpdir(), `outpost-evil-${randomBytes(4).toString('hex')}`);
    const cases: Array<{ entries: Buffer[]; pattern: RegExp }> = [
      { entries: [tarEntry({ name: 'ok.html', body: 'ok' }), tarEntry({ name: '../evil', body: 'x' })], pattern: /"\.\.\/evil" contains "\.\."/ },
      { entries: [tarEntry({ name: 'a/../../evil', body: 'x' })], pattern: /contains "\.\."/ },
      { entries: [tarEntry({ name: outside, body: 'x' })], pattern: /absolute/ },
      { entries: [tarEntry({ name: 'null', type: '3' })], pattern: /"null" is a CharacterDevice/ },
      { entries: [tarEntry({ name: 'fifo', type: '6' })], pattern: /"fifo" is a FIFO/ },
      { entries: [tarEntry({ name: 'shadow', type: '1', linkname: '/etc/shadow' })], pattern: /hard link whose target has an absolute/ },
      { entries: [tarEntry({ name: 'passwd', type: '1', linkname: 'elsewhere' })], pattern: /not an earlier file/ },
      { entries: [tarEntry({ name: 'l', type: '2', linkname: 'sub' }), tarEntry({ name: 'l/x.html', body: 'x' })], pattern: /"l\/x\.html" is written through a symbolic link/ },
      { entries: [tarEntry({ name: 'up', type: '2', linkname: '..' }), tarEntry({ name: 'up/evil', body: 'x' })], pattern: /"up\/evil" is written through a symbolic link/ },
    ];
    const before = await everything();
    for (const [i, c] of cases.entries()) {
      const file = path.join(root, `hostile-${i}.tar`);
      await writeFile(file, tarArchive(c.entries));
      await expectError(mirrors.importSite({ name: `hostile-${i}`, host: 'evil.example.org', pathPrefix: `/${i}/`, from: file }), 'MIRROR_INVALID', c.pattern);
      await rm(file);
    }
    expect(existsSync(outside)).to.equal(false);
    expect(existsSync('/evil')).to.equal(false);
    const after = (await everything()).filter((p) => !p.startsWith('mirrors'));
    expect(after).to.deep.equal(before.filter((p) => !p.startsWith('mirrors')));
    expect((await readdir(path.join(root, 'mirrors', 'sites'))).filter((n) => !n.startsWith('.site-'))).to.deep.equal([]);
    expect(mirrors.list()).to.deep.equal([]);
  });

  it('drops links that point outside an archive and keeps the rest', async () => {
    const file = path.join(root, 'links.tar');
    await writeFile(
      file,
      tarArchive([
        tarEntry({ name: 'index.html', body: '<title>i</title>' }),
        tarEntry({ name: 'passwd', type: '2', linkname: '/etc/passwd' }),
        tarEntry({ name: 'dir/', type: '5' }),
        tarEntry({ name: 'dir/up', type: '2', linkname: '../../etc/passwd' }),
        tarEntry({ name: 'dir/home.html', type: '2', linkname: '../index.html' }),
        tarEntry({ name: 'hard.html', type: '1', linkname: 'index.html' }),
      ]),
    );
    const report = await mirrors.importSite({ name: 'links', host: 'links.example.org', pathPrefix: '/', from: file });
    expect(report.droppedPaths).to.deep.equal(['dir/up', 'passwd']);
    const site = path.join(root, 'mirrors', 'sites', 'links');
    expect((await readdir(site, { recursive: true })).map(String).sort()).to.deep.equal(['dir', 'dir/home.html', 'hard.html', 'index.html']);
    expect(await readFile(path.join(site, 'dir', 'home.html'), 'utf8')).to.equal('<title>i</title>');
  });

  it('re-imports atomically: a reader never misses the site, and a failed import keeps the old one', async () => {
    const v1 = await makeTree('v1', { 'index.html': 'one' });
    await mirrors.importSite({ name: 'swap', host: 'swap.example.org', pathPrefix: '/', from: v1 });
    const files: Record<string, string> = { 'index.html': 'two' };
    for (let i = 0; i < 400; i++) files[`p/${i}.html`] = `<title>${i}</title><p>page ${i}</p>`;
    const v2 = await makeTree('v2', files);

    const index = path.join(mirrors.sites()[0]!.root, 'index.html');
    // A reader in its own thread, reading as fast as it can while the import swaps the trees.
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const reader = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const { readFileSync } = require('node:fs');
       const seen = {};
       while (Atomics.load(workerData.stop, 0) === 0) {
         let content;
         try { content = readFileSync(workerData.index, 'utf8'); } catch (error) { content = 'error ' + error.code; }
         seen[content] = (seen[content] || 0) + 1;
       }
       parentPort.postMessage(seen);`,
      { eval: true, workerData: { stop, index } },
    );
    const counts = once(reader, 'message');
    const report = await mirrors.importSite({ name: 'swap', host: 'swap.example.org', pathPrefix: '/', from: v2 });
    await sleep(20);
    Atomics.store(stop, 0, 1);
    const seen = new Map(Object.entries((await counts)[0] as Record<string, number>));
    await reader.terminate();

    expect([...seen.keys()].sort()).to.deep.equal(['one', 'two']);
    expect(report).to.include({ files: 401, pages: 401 });
    const versions = (await readdir(path.join(root, 'mirrors', 'sites'))).filter((n) => n.startsWith('.site-swap-'));
    expect(versions).to.deep.equal([await readlink(path.join(root, 'mirrors', 'sites', 'swap'))]);

    const broken = path.join(root, 'broken.tgz');
    await writeFile(broken, 'this is not a tar archive');
    await expectError(mirrors.importSite({ name: 'swap', host: 'swap.example.org', pathPrefix: '/', from: broken }), 'MIRROR_INVALID', /Cannot read the archive/);
    const limited = createMirrorStore({ store, dir: path.join(root, 'mirrors'), log: silentLogger(), limits: { maxBytes: 1000 } });
    await expectError(limited.importSite({ name: 'swap', host: 'swap.example.org', pathPrefix: '/', from: v2 }), 'MIRROR_INVALID', /larger than 1000 bytes \(stopped at p\/\d+\.html\)/);
    const fewFiles = createMirrorStore({ store, dir: path.join(root, 'mirrors'), log: silentLogger(), limits: { maxFiles: 10 } });
    await expectError(fewFiles.importSite({ name: 'swap', host: 'swap.example.org', pathPrefix: '/', from: v2 }), 'MIRROR_INVALID', /more than 10 files/);
    expect(await readFile(index, 'utf8')).to.equal('two');
    expect(mirrors.get('swap')).to.include({ files: 401 });
    expect((await readdir(path.join(root, 'mirrors', 'sites'))).filter((n) => n.startsWith('.tmp-'))).to.deep.equal([]);
  });

  it('lists and removes sites, and sweeps what a crashed import left', async () => {
    const from = await makeTree('s', { 'index.html': 'x' });
    await mirrors.importSite({ name: 'b-site', host: 'b.example.org', pathPrefix: '/', from, source: 'hand-made' });
    await mirrors.importSite({ name: 'a-site', host: 'a.example.org', pathPrefix: '/', from });
    expect(mirrors.list().map((s) => [s.name, s.source])).to.deep.equal([['a-site', from], ['b-site', 'hand-made']]);

    const sites = path.join(root, 'mirrors', 'sites');
    await mkdir(path.join(sites, '.tmp-crashed'));
    await mkdir(path.join(sites, '.site-a-site-old'));
    await mirrors.remove('b-site');
    expect(mirrors.list().map((s) => s.name)).to.deep.equal(['a-site']);
    expect(mirrors.get('b-site')).to.equal(undefined);
    expect((await readdir(sites)).sort()).to.deep.equal([await readlink(path.join(sites, 'a-site')), 'a-site'].sort());
    expect(await readdir(path.join(root, 'mirrors', 'text'))).to.deep.equal(['a-site.ndjson']);
    await expectError(mirrors.remove('b-site'), 'MIRROR_NOT_FOUND', /no mirrored site named "b-site"/);
  });

  it('validates names, hosts, prefixes, sources and clashes', async () => {
    const from = await makeTree('v', { 'index.html': 'x' });
    const base = { name: 'ok', host: 'ok.example.org', pathPrefix: '/', from };
    await expectError(mirrors.importSite({ ...base, name: 'Bad_Name' }), 'MIRROR_INVALID', /name: a site name is/);
    await expectError(mirrors.importSite({ ...base, name: '-x' }), 'MIRROR_INVALID', /name/);
    await expectError(mirrors.importSite({ ...base, host: 'Docs.Python.org' }), 'MIRROR_INVALID', /host: a host is a lower-case DNS name/);
    await expectError(mirrors.importSite({ ...base, host: 'bad..host' }), 'MIRROR_INVALID', /host/);
    await expectError(mirrors.importSite({ ...base, pathPrefix: '/3' }), 'MIRROR_INVALID', /pathPrefix: a path prefix starts and ends/);
    await expectError(mirrors.importSite({ ...base, pathPrefix: '/a/../' }), 'MIRROR_INVALID', /pathPrefix/);
    await expectError(mirrors.importSite({ ...base, from: path.join(root, 'nope') }), 'MIRROR_INVALID', /neither a directory nor a \.tar/);
    await expectError(mirrors.importSite({ ...base, from: path.join(from, 'index.html') }), 'MIRROR_INVALID', /neither a directory/);
    await mirrors.importSite(base);
    await expectError(mirrors.importSite({ ...base, name: 'other' }), 'MIRROR_INVALID', /"ok" already serves https:\/\/ok\.example\.org\//);
    expect(await mirrors.importSite({ ...base, pathPrefix: '/other/' })).to.include({ pathPrefix: '/other/' });
    expect(mirrors.list()).to.have.length(1);
  });
});
