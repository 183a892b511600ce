import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../../core/store.ts';
import { importDebianDocs, type DebianImportProgress, type DebianImportReport } from './debian.ts';
import { createMirrorStore, mirrorMigrations, type MirrorStore } from './store.ts';

/** Real packages through the machine's apt sources: about 18 MB downloaded, ~15 s. */
describe('Debian documentation importer', function () {
  this.timeout(300_000);
  let root: string;
  let store: Store;
  let mirrors: MirrorStore;
  let reports: DebianImportReport[];
  const steps = new Set<string>();

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-debian-'));
    store = openStore(path.join(root, 'outpost.db'), mirrorMigrations);
    mirrors = createMirrorStore({ store, dir: path.join(root, 'mirrors'), log: silentLogger(), retireAfterMs: 0 });
    reports = await importDebianDocs({ mirrors, workDir: path.join(root, 'work'), packages: ['git', 'python', 'nodejs'], log: silentLogger(), onProgress: (p: DebianImportProgress) => steps.add(p.step) });
  });
  after(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('imports git-doc as git-scm.com/docs/, extensionless, with the real pages', async () => {
    const git = reports.find((r) => r.package === 'git-doc')!;
    expect(git.version).to.match(/^1:2\.\d+/);
    expect(git.site).to.include({ name: 'git-docs', host: 'git-scm.com', pathPrefix: '/docs/', extensionless: true });
    const commit = await readFile(path.join(git.site.root, 'git-commit.html'), 'utf8');
    expect(commit).to.match(/git-commit -\s+Record changes to the repository/);
    expect(commit).to.contain('--amend');
    expect(existsSync(path.join(git.site.root, 'git-commit.txt')), 'AsciiDoc sources are left out').to.equal(false);
    expect(await readFile(path.join(git.site.root, 'index.html'), 'utf8'), 'the index link became the page').to.contain('git(1)');
    expect(mirrors.sites().find((s) => s.name === 'git-docs')).to.include({ extensionless: true });
    expect([...steps]).to.deep.equal(['download', 'unpack', 'import']);
  });

  it('imports python3.11-doc with every stylesheet and script its pages load', async () => {
    const python = reports.find((r) => r.package === 'python3.11-doc')!;
    expect(python.site).to.include({ name: 'python-docs', host: 'docs.python.org', pathPrefix: '/3/', dropped: 0 });
    const site = python.site.root;
    expect(await readFile(path.join(site, '_static', 'jquery.js'), 'utf8')).to.contain('jQuery JavaScript Library');
    expect(await readFile(path.join(site, '_static', 'underscore.js'), 'utf8')).to.match(/Underscore/i);
    const pages = (await readdir(site, { recursive: true })).map(String).filter((f) => f.endsWith('.html'));
    expect(pages.length).to.equal(python.site.pages);
    const missing: string[] = [];
    for (const page of pages) {
      const html = await readFile(path.join(site, page), 'utf8');
      for (const match of html.matchAll(/<(?:link[^>]*\shref|script[^>]*\ssrc)="([^":#?]+\.(?:css|js|svg|png))(?:\?[^"]*)?"/g)) {
        const target = path.join(site, path.dirname(page), match[1]!);
        if (!existsSync(target)) missing.push(`${page} -> ${match[1]}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('imports nodejs-doc (Node 18) as nodejs.org/api/ and indexes all three sites', async () => {
    const node = reports.find((r) => r.package === 'nodejs-doc')!;
    expect(node.version).to.match(/^18\./);
    expect(await readFile(path.join(node.site.root, 'fs.html'), 'utf8')).to.contain('readFileSync');
    expect(existsSync(path.join(node.site.root, 'assets', 'style.css'))).to.equal(true);

    const db = new Database(mirrors.searchDbPath, { readonly: true, fileMustExist: true });
    try {
      const top = (q: string) => (db.prepare('select url from pages where pages match ? order by bm25(pages, 0, 0, 8, 1) limit 1').get(q) as { url: string }).url;
      expect(top('"amend"')).to.equal('https://git-scm.com/docs/git-commit');
      expect(top('"asyncio" "gather"')).to.equal('https://docs.python.org/3/library/asyncio-task.html');
      expect(top('"readFileSync"')).to.match(/^https:\/\/nodejs\.org\/api\/\w+\.html$/);
      const counted = db.prepare('select name, pages from sites order by name').all();
      expect(counted).to.deep.equal(reports.map((r) => ({ name: r.site.name, pages: r.site.pages })).sort((a, b) => a.name.localeCompare(b.name)));
    } finally {
      db.close();
    }
    expect(await readdir(path.join(root, 'work')), 'the unpacked packages are removed').to.deep.equal([]);
  });
});
