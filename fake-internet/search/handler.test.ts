import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../../core/store.ts';
import { createMirrorStore, mirrorMigrations, type MirrorStore } from '../mirrors/store.ts';
import { createSearchHandler, toMatchExpression, type SearchHandler } from './handler.ts';
import { extractPage } from './index.ts';

describe('search', () => {
  let root: string;
  let store: Store;
  let mirrors: MirrorStore;
  let server: Server;
  let handler: SearchHandler;
  let base: string;
  let readOnlyView: string;

  const site = async (name: string, files: Record<string, string>) => {
    const dir = path.join(root, 'src', name);
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    }
    return dir;
  };
  const get = async (pathAndQuery: string) => {
    const response = await fetch(`${base}${pathAndQuery}`);
    return { status: response.status, headers: response.headers, body: await response.text() };
  };
  const api = async (query: string) => JSON.parse((await get(`/api?${query}`)).body) as { total: number; page: number; results: Array<{ site: string; url: string; title: string; snippet: string }> };

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-search-'));
    store = openStore(path.join(root, 'outpost.db'), mirrorMigrations);
    mirrors = createMirrorStore({ store, dir: path.join(root, 'mirrors'), log: silentLogger(), retireAfterMs: 0 });
    // The gateway reads the index from a read-only mount: serve it from a real one.
    readOnlyView = path.join(root, 'ro');
    await mkdir(path.join(root, 'mirrors'), { recursive: true });
    await mkdir(readOnlyView);
    execFileSync('mount', ['--bind', path.join(root, 'mirrors'), readOnlyView]);
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnlyView]);
    handler = createSearchHandler({ dbPath: path.join(readOnlyView, 'search.db'), log: silentLogger() });
    server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    handler.close();
    store.close();
    execFileSync('umount', [readOnlyView]);
    await rm(root, { recursive: true, force: true });
  });

  it('says so before any index exists', async () => {
    const page = await get('/?q=anything');
    expect(page.status).to.equal(503);
    expect(page.body).to.contain('No documentation has been imported yet');
    expect((await get('/api?q=x')).status).to.equal(503);
  });

  it('finds a page by a word of its body, with title, link, site and a marked snippet', async () => {
    const files: Record<string, string> = {
      'index.html': '<html><head><title>Home</title><style>.zebra{}</style></head><body><nav>sidebar giraffe</nav><h1>Welcome</h1><p>Start here.</p><script>var zebra = 1;</script></body></html>',
      'library/os.html': '<title>os — Miscellaneous operating system interfaces</title><p>The <code>os.walk()</code> function generates the file names in a directory tree.</p>',
      'evil.html': '<title>&lt;script&gt;alert(1)&lt;/script&gt; <b>bold</b></title><p>hostile walrus &lt;img src=x onerror=alert(2)&gt; text</p>',
    };
    for (let i = 0; i < 23; i++) files[`many/p${String(i).padStart(2, '0')}.html`] = `<title>Page ${i}</title><p>Pelican number ${i} flies.</p>`;
    await mirrors.importSite({ name: 'python-docs', host: 'docs.python.org', pathPrefix: '/3/', from: await site('py', files) });

    const page = await get('/?q=directory+tree');
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).to.contain("default-src 'none'");
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(page.body).to.contain('<a class="result-title" href="https://docs.python.org/3/library/os.html">os — Miscellaneous operating system interfaces</a>');
    expect(page.body).to.contain('<mark>directory</mark> <mark>tree</mark>');
    expect(page.body).to.contain('python-docs');
    expect(page.body).to.contain('value="directory tree"');

    const json = await api('q=walk');
    expect(json.total).to.equal(1);
    expect(json.results[0]).to.deep.equal({ site: 'python-docs', url: 'https://docs.python.org/3/library/os.html', title: 'os — Miscellaneous operating system interfaces', snippet: 'The os.walk() function generates the file names in a directory tree.' });
    expect((await api('q=generating')).total, 'porter stemming').to.equal(1);
    expect((await api('q=Welcome')).results[0]!.url).to.equal('https://docs.python.org/3/');
    for (const hidden of ['zebra', 'giraffe']) expect((await api(`q=${hidden}`)).total, hidden).to.equal(0);
  });

  it('escapes hostile titles and text', async () => {
    const page = await get('/?q=walrus');
    expect(page.body).to.contain('&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;');
    expect(page.body).to.contain('&lt;img src=x onerror=alert(2)&gt;');
    expect(page.body).not.to.contain('<script');
    expect(page.body).not.to.contain('<img');
    const reflected = await get(`/?q=${encodeURIComponent('"><script>alert(3)</script>')}`);
    expect(reflected.status).to.equal(200);
    expect(reflected.body).not.to.contain('<script>');
    expect(reflected.body).to.contain('&quot;&gt;&lt;script&gt;');
  });

  it('pages through results ten at a time', async () => {
    const first = await get('/?q=pelican');
    expect(first.body).to.contain('Results 1–10 of 23');
    expect(first.body).to.contain('href="/?q=pelican&amp;page=2"');
    expect(first.body).not.to.contain('rel="prev"');
    const third = await get('/?q=pelican&page=3');
    expect(third.body).to.contain('Results 21–23 of 23');
    expect(third.body).to.contain('rel="prev" href="/?q=pelican&amp;page=2"');
    expect(third.body).not.to.contain('rel="next"');
    const pages = await Promise.all([1, 2, 3].map((n) => api(`q=pelican&page=${n}`)));
    const urls = pages.flatMap((p) => p.results.map((r) => r.url));
    expect(urls).to.have.length(23);
    expect(new Set(urls).size).to.equal(23);
  });

  it('answers no results kindly, and treats FTS5 syntax as plain words', async () => {
    const none = await get('/?q=xylophone');
    expect(none.status).to.equal(200);
    expect(none.body).to.contain('Nothing matches <strong>xylophone</strong>');
    for (const query of ['"', '*', 'NEAR(', '-', 'walk"', 'title:walk', 'walk AND', '(walk', '^walk', 'walk -os', '"unbalanced', '*walk', 'a OR', '\u0000']) {
      const response = await get(`/api?q=${encodeURIComponent(query)}`);
      expect(response.status, query).to.equal(200);
      expect((await get(`/?q=${encodeURIComponent(query)}`)).status, query).to.equal(200);
    }
    // Read as FTS5 syntax these would match 1 and 24 pages; quoted, they are phrases nothing contains.
    expect((await api('q=' + encodeURIComponent('body:walk'))).total, 'no column filter').to.equal(0);
    expect((await api('q=' + encodeURIComponent('walk OR pelican'))).total, 'no OR operator').to.equal(0);
    expect((await api('q=pelic*')).total, 'prefix').to.equal(23);
    expect(toMatchExpression('a "b" NEAR(c')).to.equal('"a" """b""" "NEAR(c"');
    expect(toMatchExpression('   ')).to.equal(undefined);
  });

  it('serves its stylesheet and refuses other methods and paths', async () => {
    const css = await get('/style.css');
    expect(css.status).to.equal(200);
    expect(css.headers.get('content-type')).to.equal('text/css; charset=utf-8');
    expect((await get('/elsewhere')).status).to.equal(404);
    expect((await fetch(`${base}/?q=x`, { method: 'POST' })).status).to.equal(405);
  });

  it('reopens the index when an import replaces it', async () => {
    expect((await api('q=narwhal')).total).to.equal(0);
    await mirrors.importSite({ name: 'git-docs', host: 'git-scm.com', pathPrefix: '/docs/', extensionless: true, from: await site('git', { 'git-commit.html': '<title>git-commit(1)</title><p>Record changes; a narwhal.</p>' }) });
    const found = await api('q=narwhal');
    expect(found.results.map((r) => r.url)).to.deep.equal(['https://git-scm.com/docs/git-commit']);
    expect((await api('q=walrus')).total, 'other sites stay indexed').to.equal(1);
    expect((await api('q=pelican&site=git-docs')).total, 'site filter').to.equal(0);
    await mirrors.remove('python-docs');
    expect((await api('q=walrus')).total).to.equal(0);
  });

  it('extracts titles, falls back to the first heading, and drops navigation', () => {
    expect(extractPage('<h1>Only <em>heading</em></h1><p>text</p>')).to.deep.equal({ title: 'Only heading', body: 'Only heading text' });
    expect(extractPage('<title>T</title><div class="sphinxsidebar">side</div><div role="navigation">menu</div><p>body&nbsp;text\uE000</p>').body).to.equal('body text');
  });
});
