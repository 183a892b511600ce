/**
 * The web preview in a real chromium against a real server, engine and workspace: a student's page
 * runs in the sandbox's opaque origin, so its module scripts and fetch() calls back to its own link
 * are cross-origin. Module imports, a GET, a JSON POST and a DELETE (both preflighted) and a
 * root-relative redirect must all work, without the viewer's cookies. Also: Run again restarts the
 * server (the port is free for the new one).
 */
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, type Client, type TestServer } from './support.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './browser.ts';

const PORT = 8130;

const SERVER = `const http = require('http');
const fs = require('fs');
const started = Date.now();
const send = (r, type, body) => { r.setHeader('content-type', type); r.end(body); };
http.createServer((q, r) => {
  const u = q.url.split('?')[0];
  if (q.method === 'GET' && u === '/') return send(r, 'text/html', fs.readFileSync('index.html'));
  if (q.method === 'GET' && (u === '/app.js' || u === '/util.js')) return send(r, 'text/javascript', fs.readFileSync('.' + u));
  if (q.method === 'GET' && u === '/evil.js') return send(r, 'text/javascript', 'window.outpostPreviewRan = true;');
  if (q.method === 'GET' && u === '/api.json') return send(r, 'application/json', JSON.stringify({ greeting: 'hello from the api', started }));
  if (q.method === 'GET' && u === '/go') { r.statusCode = 302; r.setHeader('location', '/landing.json?from=go'); return r.end(); }
  if (q.method === 'GET' && u === '/landing.json') return send(r, 'application/json', JSON.stringify({ landed: q.url }));
  if ((q.method === 'POST' || q.method === 'DELETE') && u.startsWith('/api/items')) {
    let body = '';
    q.on('data', (c) => (body += c));
    q.on('end', () => send(r, 'application/json', JSON.stringify({ method: q.method, type: q.headers['content-type'] ?? null, cookie: q.headers.cookie ?? null, body: body ? JSON.parse(body) : null })));
    return;
  }
  r.statusCode = 404;
  r.end('not found');
}).listen(${PORT}, '127.0.0.1', () => console.log('listening'));
`;

const INDEX = '<!doctype html><title>shop</title><p id="module">no module</p><p id="get">-</p><p id="post">-</p><p id="delete">-</p><p id="redirect">-</p><p id="done"></p><script type="module" src="app.js"></script>';

const UTIL = 'export const label = "module ran, origin " + origin;\n';

// Each step writes what it saw, or the error, so a failure says which request the browser refused.
const APP = `import { label } from './util.js';
const show = (id, text) => { document.getElementById(id).textContent = text; };
document.getElementById('module').textContent = label;
async function step(id, fn) { try { show(id, await fn()); } catch (e) { show(id, 'failed: ' + e); } }
await step('get', async () => (await (await fetch('api.json')).json()).greeting);
await step('post', async () => JSON.stringify(await (await fetch('api/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'chair', qty: 2 }) })).json()));
await step('delete', async () => (await (await fetch('api/items/1', { method: 'DELETE', headers: { 'x-requested-with': 'fetch' } })).json()).method);
await step('redirect', async () => { const res = await fetch('go'); return new URL(res.url).pathname + ' ' + (await res.json()).landed; });
show('done', 'done');
`;

describe('web preview in chromium: module scripts, fetch, preflights, redirects', function () {
  this.timeout(180_000);
  let s: TestServer;
  let alice: Client;
  let browser: Browser;

  before(async () => {
    s = await startTestServer();
    const a = await s.user('alice', 'student');
    alice = await s.login(a.name, a.password);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const files = await s.system.sandbox.workspaces.files('alice');
    await files.write('shop/server.js', SERVER, { createParents: true });
    await files.write('shop/index.html', INDEX);
    await files.write('shop/app.js', APP);
    await files.write('shop/util.js', UTIL);
    await files.write('outpost.json', '{"run": "cd shop && node server.js"}');
  });
  after(async () => { await browser?.close(); s?.close(); await s?.cleanup(); });

  const api = (method: string, path: string, json?: unknown) =>
    alice.request(method, path, { ...(json !== undefined ? { json } : {}), headers: { 'x-csrf-token': alice.csrf ?? '' } });
  async function startRun(): Promise<string> {
    const res = await api('POST', '/ide/alice/api/runs', { file: null, cols: 80, rows: 24 });
    expect(res.status, await res.clone().text()).to.equal(201);
    return ((await res.json()) as { id: string }).id;
  }
  /** The app's start time, once it answers through the link. */
  async function answering(link: string): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`${s.base}${link}api.json`).catch(() => undefined);
      if (res?.status === 200) return ((await res.json()) as { started: number }).started;
      if (Date.now() > deadline) throw new Error(`the app did not answer: ${res?.status} ${await res?.text()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  let link: string;

  it("runs the page's module scripts, GET, JSON POST, DELETE and a root-relative redirect", async () => {
    await startRun();
    const open = await api('GET', `/preview/alice/${PORT}/`);
    expect(open.status).to.equal(303);
    link = open.headers.get('location')!;
    expect(link).to.match(/^\/p\/[A-Za-z0-9_-]{32}\/$/);
    await answering(link);

    const page = await browser.newPage();
    const console: string[] = [];
    page.on('console', (m) => console.push(m.text()));
    await page.goto(s.base + link);
    await page.waitForFunction(() => document.getElementById('done')?.textContent === 'done', undefined, { timeout: 20_000 }).catch(() => undefined);
    const seen = await page.evaluate(() => Object.fromEntries(['module', 'get', 'post', 'delete', 'redirect', 'done'].map((id) => [id, document.getElementById(id)!.textContent])));
    expect(seen, console.join('\n')).to.deep.equal({
      module: 'module ran, origin null',
      get: 'hello from the api',
      // The body and its type arrive as sent; no cookie of the viewer's reaches the app.
      post: JSON.stringify({ method: 'POST', type: 'application/json', cookie: null, body: { name: 'chair', qty: 2 } }),
      delete: 'DELETE',
      // res.redirect('/x') in the app stays under the link.
      redirect: `${link}landing.json /landing.json?from=go`,
      done: 'done',
    });
    await page.close();
  });

  it('answers preflights without credentials, on IDE and shop links, and drops cookies both ways', async () => {
    const preflight = (path: string) => fetch(s.base + path, { method: 'OPTIONS', headers: { origin: 'null', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, x-requested-with' } });
    for (const path of [`${link}api/items`, `/shop/p/${'A'.repeat(32)}/api/items`]) {
      const res = await preflight(path);
      expect(res.status, path).to.equal(204);
      expect(res.headers.get('access-control-allow-origin'), path).to.equal('*');
      expect(res.headers.get('access-control-allow-methods'), path).to.include('PUT');
      expect(res.headers.get('access-control-allow-headers'), path).to.equal('content-type, x-requested-with');
      expect(res.headers.get('access-control-allow-credentials'), path).to.equal(null);
    }
    // Not a preflight: nothing answers OPTIONS on other paths, and the app is never asked.
    expect((await fetch(`${s.base}/ide/alice`, { method: 'OPTIONS', headers: { origin: 'null', 'access-control-request-method': 'POST' } })).headers.get('access-control-allow-origin')).to.equal(null);
    const relayed = await fetch(`${s.base}${link}api/items`, { method: 'POST', headers: { origin: 'null', 'content-type': 'application/json', cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, body: '{}' });
    expect(relayed.headers.get('access-control-allow-origin')).to.equal('*');
    expect(relayed.headers.get('access-control-allow-credentials')).to.equal(null);
    expect(((await relayed.json()) as { cookie: string | null }).cookie).to.equal(null);
  });

  it("never lets an Outpost page load a preview's script or style as its own", async () => {
    // Outpost's CSP trusts scripts from its own origin, and the preview is on it: were HTML ever
    // injected into an Outpost page, <script src="/p/…"> would run a student's file as Outpost's.
    const page = await browser.newPage();
    await page.goto(`${s.base}/login`);
    const outcome = await page.evaluate(async (src) => {
      const loaded = await new Promise<string>((resolve) => {
        const script = document.createElement('script');
        script.src = src;
        script.onload = () => resolve('loaded');
        script.onerror = () => resolve('refused');
        document.head.append(script);
      });
      return { loaded, ran: (window as unknown as { outpostPreviewRan?: boolean }).outpostPreviewRan === true };
    }, `${link}evil.js`);
    await page.close();
    expect(outcome).to.deep.equal({ loaded: 'refused', ran: false });
    // The preview's own page still loads the same kind of file (its module scripts ran above).
    expect((await fetch(`${s.base}${link}evil.js`, { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'script' } })).status).to.equal(200);
  });

  it('Run again restarts the server: the old one has exited and the new one has the port', async () => {
    const before = await answering(link);
    const runs = async () => ((await (await api('GET', '/ide/alice/api/runs')).json()) as { runs: { id: string; exit: unknown }[] }).runs;
    const [first] = (await runs()).filter((r) => !r.exit);
    const second = await startRun();
    const after = await runs();
    expect(after.find((r) => r.id === first!.id)?.exit, 'the first Run').not.to.equal(null);
    expect(after.filter((r) => !r.exit).map((r) => r.id)).to.deep.equal([second]);
    // A new process answers (it started later), not EADDRINUSE and the old server.
    expect(await answering(link)).to.be.above(before);
    await api('POST', `/ide/alice/api/runs/${second}/stop`, {});
  });
});
