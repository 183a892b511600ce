import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { silentLogger } from '../../core/log.ts';
import { createCertificateAuthority, writeGatewayCertificates, type CertificateAuthority } from '../pki/ca.ts';
import type { RequestLogEntry } from './request-log.ts';
import type { GatewayConfigInput } from './routes.ts';
import { createGateway, type Gateway } from './server.ts';

const run = promisify(execFile);

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

interface RequestOptions {
  host: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  localAddress?: string;
}

const PASSWD_LINE = /root:[^:]*:0:0:/;

function lastEntry(entries: RequestLogEntry[], matches: (entry: RequestLogEntry) => boolean): RequestLogEntry | undefined {
  return [...entries].reverse().find(matches);
}

describe('gateway (real HTTP/HTTPS servers on loopback, real clients)', function () {
  let root: string;
  let ca: CertificateAuthority;
  let caFile: string;
  let gateway: Gateway;
  let ports: { httpPort: number; httpsPort: number };
  let config: GatewayConfigInput;
  const entries: RequestLogEntry[] = [];
  let upstream: http.Server;
  let upstreamPort: number;
  let upstreamSeen: IncomingHttpHeaders[] = [];
  let releaseUpstream: () => void = () => {};

  function send(port: number, options: RequestOptions, secure: boolean): Promise<Response> {
    return new Promise((resolve, reject) => {
      const common = {
        host: '127.0.0.1',
        port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: { host: options.host, ...options.headers },
        agent: false as const,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      };
      const callback = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() });
        });
        res.on('error', reject);
      };
      // An https.Agent-style client that trusts only the Outpost CA and checks the name.
      const req = secure ? https.request({ ...common, ca: ca.caCertPem(), servername: options.host }, callback) : http.request(common, callback);
      req.on('error', reject);
      req.end(options.body);
    });
  }
  const get = (options: RequestOptions) => send(ports.httpPort, options, false);
  const getTls = (options: RequestOptions) => send(ports.httpsPort, options, true);

  /** For request targets Node's client would not send as they are. */
  function rawRequest(port: number, host: string, target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      // write, not end: a half-closed request would be abandoned by the server before it answers.
      const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
  }

  async function file(rel: string, content: string | Buffer): Promise<void> {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-test-gateway-'));
    ca = await createCertificateAuthority({ dir: path.join(root, 'ca'), log: silentLogger() });
    caFile = path.join(root, 'ca', 'ca.crt');
    await writeGatewayCertificates(ca, ['docs.python.org', 'developer.mozilla.org', 'npm.outpost', 'search.outpost', '*.apps.outpost'], path.join(root, 'certs'));

    await file('python/3/library/json.html', '<h1>json — JSON encoder and decoder</h1>');
    await file('python/3/index.html', '<h1>Python 3 documentation</h1>');
    await file('python/3/library/index.html', '<h1>The Python Standard Library</h1>');
    await file('python/secret-outside-prefix.txt', 'not under /3/');
    await file('mdn/index.html', '<h1>MDN</h1>');
    await mkdir(path.join(root, 'mdn', 'evil.example'), { recursive: true });
    for (const ext of ['css', 'js', 'mjs', 'json', 'svg', 'png', 'jpg', 'gif', 'ico', 'woff', 'woff2', 'txt', 'xml', 'pdf', 'wasm', 'map', 'bin']) {
      await file(`mdn/types/file.${ext}`, `content of ${ext}`);
    }
    await file('mdn/big.bin', Buffer.alloc(3 * 1024 * 1024, 7));
    // Symlinks that lead out of the site must not be followed.
    await symlink('/etc', path.join(root, 'python', '3', 'etc-link'));
    await symlink('/etc/passwd', path.join(root, 'python', '3', 'passwd-link'));
    // A symlink that stays inside the site is fine.
    await symlink('library/json.html', path.join(root, 'python', '3', 'json-alias.html'));

    upstream = http.createServer((req, res) => {
      upstreamSeen.push(req.headers);
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'x-upstream-secret', 'x-upstream-secret': 'hop', 'keep-alive': 'timeout=5' });
        res.write('first;');
        releaseUpstream = () => res.end('second');
        return;
      }
      if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        req.on('data', (chunk: Buffer) => res.write(`got:${chunk.toString()};`));
        req.on('end', () => res.end('done'));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ url: req.url, method: req.method }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as net.AddressInfo).port;

    config = {
      http: { host: '127.0.0.1', port: 0 },
      https: { host: '127.0.0.1', port: 0 },
      certsDir: path.join(root, 'certs'),
      requestLog: path.join(root, 'log', 'requests.jsonl'),
      sites: [
        { host: 'docs.python.org', pathPrefix: '/3/', kind: 'static', root: path.join(root, 'python', '3'), name: 'python-docs' },
        { host: 'developer.mozilla.org', pathPrefix: '/', kind: 'static', root: path.join(root, 'mdn'), name: 'mdn' },
        { host: 'npm.outpost', pathPrefix: '/', kind: 'proxy', upstream: `http://127.0.0.1:${upstreamPort}`, name: 'npm' },
        { host: '*.apps.outpost', pathPrefix: '/', kind: 'proxy', upstream: `http://127.0.0.1:${upstreamPort}`, name: 'previews' },
        { host: 'search.outpost', pathPrefix: '/', kind: 'search', searchDb: path.join(root, 'search.db'), name: 'search' },
      ],
    };
    gateway = createGateway({
      config,
      log: silentLogger(),
      onRequest: (entry) => entries.push(entry),
      searchHandler: (db) => (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`search ${path.basename(db)} for ${new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? ''}`);
      },
    });
    ports = await gateway.start();
  });

  after(async () => {
    await gateway?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  describe('TLS', () => {
    it('serves a mirrored page to curl with the certificate verified against the Outpost CA', async () => {
      const url = `https://docs.python.org:${ports.httpsPort}/3/library/json.html`;
      const resolve = `docs.python.org:${ports.httpsPort}:127.0.0.1`;
      const { stdout } = await run('curl', ['-sS', '--fail', '--cacert', caFile, '--resolve', resolve, url]);
      expect(stdout).to.equal('<h1>json — JSON encoder and decoder</h1>');
      const untrusted = await run('curl', ['-sS', '--resolve', resolve, url]).then(() => 0, (e: { code: number }) => e.code);
      expect(untrusted, 'curl without the CA must refuse the certificate (exit 60)').to.equal(60);
    });

    it('serves Node https clients that trust only the CA', async () => {
      const res = await getTls({ host: 'docs.python.org', path: '/3/library/json.html' });
      expect(res.status).to.equal(200);
      expect(res.text).to.contain('JSON encoder');
    });

    it('picks the certificate for the name asked for (SNI), wildcards included', async () => {
      const altNames = (servername: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port: ports.httpsPort, servername, ca: ca.caCertPem() }, () => {
            resolve(socket.getPeerCertificate().subjectaltname ?? '');
            socket.end();
          });
          socket.on('error', reject);
        });
      expect(await altNames('docs.python.org')).to.equal('DNS:docs.python.org');
      expect(await altNames('developer.mozilla.org')).to.equal('DNS:developer.mozilla.org');
      expect(await altNames('alice-3000.apps.outpost')).to.equal('DNS:*.apps.outpost');
      const unknown = await altNames('python.org').then(() => 'connected', (e: Error) => e.message);
      expect(unknown, 'no certificate for an unknown name').to.not.equal('connected');
      const traversal = await altNames('..').then(() => 'connected', (e: Error) => e.message);
      expect(traversal).to.not.equal('connected');
    });

    it('serves a certificate added later once the gateway reloads', async () => {
      await writeGatewayCertificates(ca, ['docs.python.org', 'developer.mozilla.org', 'npm.outpost', 'search.outpost', '*.apps.outpost', 'nodejs.org'], path.join(root, 'certs'));
      const nodeSite = { host: 'nodejs.org', pathPrefix: '/', kind: 'static' as const, root: path.join(root, 'mdn'), name: 'node' };
      gateway.reload({ ...config, sites: [...(config.sites ?? []), nodeSite] });
      try {
        const res = await getTls({ host: 'nodejs.org', path: '/' });
        expect(res.status).to.equal(200);
        expect(res.text).to.equal('<h1>MDN</h1>');
      } finally {
        gateway.reload(config);
      }
      expect((await get({ host: 'nodejs.org', path: '/' })).status).to.equal(404);
    });
  });

  describe('static sites', () => {
    it('serves the same files over plain HTTP', async () => {
      const res = await get({ host: 'docs.python.org', path: '/3/library/json.html' });
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(res.text).to.contain('JSON encoder');
    });

    it('uses the right content types', async () => {
      const expected: Record<string, string> = {
        css: 'text/css; charset=utf-8',
        js: 'text/javascript; charset=utf-8',
        mjs: 'text/javascript; charset=utf-8',
        json: 'application/json; charset=utf-8',
        svg: 'image/svg+xml; charset=utf-8',
        png: 'image/png',
        jpg: 'image/jpeg',
        gif: 'image/gif',
        ico: 'image/x-icon',
        woff: 'font/woff',
        woff2: 'font/woff2',
        txt: 'text/plain; charset=utf-8',
        xml: 'application/xml; charset=utf-8',
        pdf: 'application/pdf',
        wasm: 'application/wasm',
        map: 'application/json; charset=utf-8',
        bin: 'application/octet-stream',
      };
      for (const [ext, type] of Object.entries(expected)) {
        const res = await get({ host: 'developer.mozilla.org', path: `/types/file.${ext}` });
        expect(res.status, ext).to.equal(200);
        expect(res.headers['content-type'], ext).to.equal(type);
        expect(res.text).to.equal(`content of ${ext}`);
      }
    });

    it('serves index.html for a directory and redirects a directory without its slash', async () => {
      expect((await get({ host: 'docs.python.org', path: '/3/' })).text).to.equal('<h1>Python 3 documentation</h1>');
      expect((await get({ host: 'docs.python.org', path: '/3/library/' })).text).to.equal('<h1>The Python Standard Library</h1>');
      const dir = await get({ host: 'docs.python.org', path: '/3/library?x=1' });
      expect(dir.status).to.equal(301);
      expect(dir.headers.location).to.equal('/3/library/?x=1');
      const prefix = await get({ host: 'docs.python.org', path: '/3' });
      expect(prefix.status).to.equal(301);
      expect(prefix.headers.location).to.equal('/3/');
      const sneaky = await get({ host: 'developer.mozilla.org', path: '//evil.example' });
      expect(sneaky.status).to.equal(301);
      expect(sneaky.headers.location, 'never a protocol-relative redirect to another host').to.equal('/evil.example/');
    });

    it('answers 304 to a matching ETag or date, and supports HEAD and Range', async () => {
      const first = await get({ host: 'docs.python.org', path: '/3/library/json.html' });
      const etag = first.headers.etag ?? '';
      const lastModified = first.headers['last-modified'] ?? '';
      expect(etag).to.match(/^"[0-9a-f]+-[0-9a-f]+"$/);
      expect((await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { 'if-none-match': etag } })).status).to.equal(304);
      expect((await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { 'if-modified-since': lastModified } })).status).to.equal(304);
      expect((await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { 'if-none-match': '"other"' } })).status).to.equal(200);
      const old = new Date(Date.parse(lastModified) - 60_000).toUTCString();
      expect((await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { 'if-modified-since': old } })).status).to.equal(200);
      const head = await get({ host: 'docs.python.org', path: '/3/library/json.html', method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(head.body.length).to.equal(0);
      expect(head.headers['content-length']).to.equal(String(first.body.length));
      const range = await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { range: 'bytes=4-7' } });
      expect(range.status).to.equal(206);
      expect(range.text).to.equal('json');
      expect(range.headers['content-range']).to.equal(`bytes 4-7/${first.body.length}`);
      expect((await get({ host: 'docs.python.org', path: '/3/library/json.html', headers: { range: 'bytes=9999-' } })).status).to.equal(416);
    });

    it('streams files too large to keep in memory, ranges included', async () => {
      const res = await get({ host: 'developer.mozilla.org', path: '/big.bin' });
      expect(res.status).to.equal(200);
      expect(res.body.length).to.equal(3 * 1024 * 1024);
      expect(res.body.every((b) => b === 7)).to.equal(true);
      const tail = await get({ host: 'developer.mozilla.org', path: '/big.bin', headers: { range: 'bytes=-10' } });
      expect(tail.status).to.equal(206);
      expect(tail.body.length).to.equal(10);
    });

    it('follows symlinks that stay inside the site', async () => {
      expect((await get({ host: 'docs.python.org', path: '/3/json-alias.html' })).text).to.contain('JSON encoder');
    });

    it('says a page is not mirrored, naming the site and linking to its start page and to search', async () => {
      const res = await get({ host: 'docs.python.org', path: '/3/library/asyncio-task.html' });
      expect(res.status).to.equal(404);
      expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).to.contain("default-src 'none'");
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.text).to.contain('not mirrored');
      expect(res.text).to.contain('python-docs');
      expect(res.text).to.contain('href="/3/"');
      expect(res.text).to.contain('href="//search.outpost/?q=asyncio%20task"');
      const outsidePrefix = await get({ host: 'docs.python.org', path: '/2/' });
      expect(outsidePrefix.status).to.equal(404);
      expect(outsidePrefix.text).to.contain('not mirrored');
    });

    it('says an unknown host is not on the inside internet, escaping what the client sent', async () => {
      const res = await get({ host: 'www.example.com', path: '/' });
      expect(res.status).to.equal(404);
      expect(res.text).to.contain('This site is not on the inside internet');
      expect(res.text).to.contain('www.example.com');
      const hostile = await rawRequest(ports.httpPort, 'x<script>alert(1)</script>', '/');
      expect(hostile).to.match(/^HTTP\/1\.1 404/);
      expect(hostile).to.not.contain('<script>');
      expect(hostile).to.contain('&#60;script&#62;');
    });

    it('refuses other methods than GET and HEAD', async () => {
      const res = await get({ host: 'docs.python.org', path: '/3/library/json.html', method: 'POST', body: 'x' });
      expect(res.status).to.equal(405);
      expect(res.headers.allow).to.equal('GET, HEAD');
    });

    it('never serves a file outside the site root', async () => {
      const targets = [
        '/3/../../etc/passwd',
        '/3/../secret-outside-prefix.txt',
        '/3/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
        '/3/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
        '/3/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
        '/3/%2E%2E/secret-outside-prefix.txt',
        '/3/%252e%252e%252f%252e%252e%252fetc%252fpasswd',
        '/3/..%252f..%252f..%252fetc/passwd',
        '/3/..\\..\\..\\etc\\passwd',
        '/3/%5c..%5c..%5cetc%5cpasswd',
        '/3/library/%00.html',
        '/3/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
        '/3/./library/json.html',
        '/3/etc-link/passwd',
        '/3/passwd-link',
        '/3//etc/passwd',
        '/3/%2fetc%2fpasswd',
        '/%2e%2e/%2e%2e/etc/passwd',
      ];
      for (const target of targets) {
        const raw = await rawRequest(ports.httpPort, 'docs.python.org', target);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
        expect([400, 404], `${target} → ${raw.slice(0, 60)}`).to.include(status);
        expect(raw, target).to.not.match(PASSWD_LINE);
        expect(raw, target).to.not.contain('not under /3/');
      }
      const viaCurl = await run('curl', ['-s', '--path-as-is', '-H', 'Host: docs.python.org', `http://127.0.0.1:${ports.httpPort}/3/../../../../etc/passwd`]);
      expect(viaCurl.stdout).to.not.match(PASSWD_LINE);
    });
  });

  describe('proxied services', () => {
    it('forwards requests with X-Forwarded-* set and hop-by-hop headers dropped', async () => {
      upstreamSeen = [];
      const res = await getTls({
        host: 'npm.outpost',
        path: '/left-pad?x=1',
        headers: { 'x-forwarded-for': '6.6.6.6', connection: 'keep-alive, x-client-secret', 'x-client-secret': 'hop', 'proxy-authorization': 'Basic eA==', 'x-kept': 'yes' },
      });
      expect(res.status).to.equal(200);
      expect(JSON.parse(res.text)).to.deep.equal({ url: '/left-pad?x=1', method: 'GET' });
      expect(res.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
      const seen = upstreamSeen[0]!;
      expect(seen['x-forwarded-for'], 'the client cannot choose its own address').to.equal('127.0.0.1');
      expect(seen['x-forwarded-proto']).to.equal('https');
      expect(seen['x-forwarded-host']).to.equal('npm.outpost');
      expect(seen.host).to.equal('npm.outpost');
      expect(seen['x-kept']).to.equal('yes');
      expect(seen['x-client-secret']).to.equal(undefined);
      expect(seen['proxy-authorization']).to.equal(undefined);
      await get({ host: 'alice-3000.apps.outpost', path: '/' });
      expect(upstreamSeen[1]!['x-forwarded-proto']).to.equal('http');
    });

    it('frames a chunked body it forwards, so nothing can be smuggled to the upstream as a second request', async () => {
      upstreamSeen = [];
      const inner = 'GET /smuggled HTTP/1.1\r\nHost: npm.outpost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
      const raw = `GET /first HTTP/1.1\r\nHost: npm.outpost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${Buffer.byteLength(inner).toString(16)}\r\n${inner}\r\n0\r\n\r\n`;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(ports.httpPort, '127.0.0.1', () => socket.write(raw));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).to.match(/^HTTP\/1\.1 200/);
      // A second client on the (pooled) upstream connection gets its own answer.
      const next = await get({ host: 'npm.outpost', path: '/second' });
      expect(JSON.parse(next.text)).to.deep.equal({ url: '/second', method: 'GET' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(upstreamSeen.map((h) => h['x-forwarded-for']), 'the upstream saw exactly the two requests, from the gateway').to.deep.equal(['127.0.0.1', '127.0.0.1']);
    });

    it('streams the response: the first chunk arrives before the upstream has finished', async () => {
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: ports.httpPort, path: '/stream', headers: { host: 'npm.outpost' }, agent: false }, (res) => {
          expect(res.headers['x-upstream-secret'], 'headers the upstream named in Connection stay on its hop').to.equal(undefined);
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
            // Only now may the upstream finish: a buffering proxy would never deliver "first;" and time out.
            if (body === 'first;') releaseUpstream();
          });
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('the first chunk was not streamed')));
      });
      expect(text).to.equal('first;second');
    });

    it('streams the request body to the upstream', async () => {
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: ports.httpPort, path: '/echo', method: 'PUT', headers: { host: 'npm.outpost', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
            // The upstream echoed the first part while the request was still open.
            if (body === 'got:part1;') req.end('part2');
          });
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('the request body was not streamed')));
        req.flushHeaders();
        req.write('part1');
      });
      expect(text).to.equal('got:part1;got:part2;done');
    });

    it('answers 502 with a page when the upstream is down', async () => {
      const closed = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = s.address() as net.AddressInfo;
          s.close(() => resolve(port));
        });
      });
      gateway.reload({ ...config, sites: [{ host: 'npm.outpost', kind: 'proxy', upstream: `http://127.0.0.1:${closed}`, name: 'npm' }] });
      try {
        const res = await get({ host: 'npm.outpost', path: '/left-pad' });
        expect(res.status).to.equal(502);
        expect(res.text).to.contain('npm');
        expect(res.text).to.contain('did not answer');
      } finally {
        gateway.reload(config);
      }
    });
  });

  describe('search', () => {
    it('hands search requests to the search handler', async () => {
      const res = await getTls({ host: 'search.outpost', path: '/?q=json' });
      expect(res.text).to.equal('search search.db for json');
      const entry = lastEntry(entries, (e) => e.host === 'search.outpost');
      expect(entry).to.deep.include({ site: 'search', status: 200, bytes: Buffer.byteLength('search search.db for json') });
    });
  });

  describe('allowlist and request log', () => {
    it('blocks sites a cohort may not use, logs it, and lets unknown clients through', async () => {
      const identityFile = path.join(root, 'identity', 'clients.json');
      await file('identity/clients.json', JSON.stringify({
        clients: { '127.0.0.1': { owner: 'alice', cohort: 'web-1' } },
        cohorts: { 'web-1': { allowedSites: ['python-docs'] } },
      }));
      gateway.reload({ ...config, identityFile });
      try {
        const blocked = await get({ host: 'developer.mozilla.org', path: '/' });
        expect(blocked.status).to.equal(403);
        expect(blocked.text).to.contain('Blocked by your instructor&#39;s settings');
        expect(blocked.text).to.contain('mdn');
        const entry = lastEntry(entries, (e) => e.host === 'developer.mozilla.org');
        expect(entry).to.deep.include({ client: '127.0.0.1', owner: 'alice', cohort: 'web-1', site: 'mdn', status: 403, blocked: true });

        const allowed = await getTls({ host: 'docs.python.org', path: '/3/library/json.html' });
        expect(allowed.status).to.equal(200);
        expect(lastEntry(entries, (e) => e.host === 'docs.python.org')).to.not.have.property('blocked');

        // 127.0.0.2 is loopback too, but the identity file does not know it.
        const stranger = await get({ host: 'developer.mozilla.org', path: '/', localAddress: '127.0.0.2' });
        expect(stranger.status).to.equal(200);
        expect(lastEntry(entries, (e) => e.client === '127.0.0.2')).to.deep.include({ status: 200, site: 'mdn' }).and.not.have.property('owner');
      } finally {
        gateway.reload(config);
      }
      expect((await get({ host: 'developer.mozilla.org', path: '/' })).status, 'allowed again without the identity file').to.equal(200);
    });

    it('blocks a cohort whatever its name, "constructor" too, and one missing from the file', async () => {
      // A lookup by name reached Object.prototype.constructor, found no allowlist, and allowed all.
      for (const [cohort, cohorts] of [['constructor', {}], ['tostring', {}], ['web-2', { 'web-1': { allowedSites: 'all' } }]] as const) {
        const identityFile = path.join(root, 'identity', `${cohort}.json`);
        await file(`identity/${cohort}.json`, JSON.stringify({ clients: { '127.0.0.1': { owner: 'alice', cohort } }, cohorts }));
        gateway.reload({ ...config, identityFile });
        try {
          expect((await get({ host: 'developer.mozilla.org', path: '/' })).status, `cohort ${cohort}`).to.equal(403);
          expect((await get({ host: 'docs.python.org', path: '/3/' })).status, `cohort ${cohort}, cached path`).to.equal(403);
        } finally {
          gateway.reload(config);
        }
      }
      const identityFile = path.join(root, 'identity', 'constructor-listed.json');
      await file('identity/constructor-listed.json', JSON.stringify({ clients: { '127.0.0.1': { owner: 'alice', cohort: 'constructor' } }, cohorts: { constructor: { allowedSites: ['python-docs'] } } }));
      gateway.reload({ ...config, identityFile });
      try {
        expect((await get({ host: 'docs.python.org', path: '/3/' })).status).to.equal(200);
        expect((await get({ host: 'developer.mozilla.org', path: '/' })).status).to.equal(403);
      } finally {
        gateway.reload(config);
      }
    });

    it('keeps the previous configuration when a reload is invalid', async () => {
      expect(() => gateway.reload({ ...config, identityFile: path.join(root, 'missing.json') })).to.throw(/identity file/);
      expect(() => gateway.reload({ ...config, sites: [{ host: 'bad host' }] } as unknown as GatewayConfigInput)).to.throw(/invalid/);
      expect((await get({ host: 'docs.python.org', path: '/3/' })).status).to.equal(200);
    });

    it('appends one JSON line per request to the request log', async () => {
      await get({ host: 'docs.python.org', path: '/3/library/json.html?from=log-test' });
      let lines: RequestLogEntry[] = [];
      for (let i = 0; i < 50; i++) {
        lines = (await readFile(path.join(root, 'log', 'requests.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RequestLogEntry);
        if (lines.some((l) => l.path.includes('from=log-test'))) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const line = lines.find((l) => l.path === '/3/library/json.html?from=log-test');
      expect(line).to.include({ client: '127.0.0.1', method: 'GET', host: 'docs.python.org', status: 200, site: 'python-docs' });
      expect(line?.bytes).to.equal(Buffer.byteLength('<h1>json — JSON encoder and decoder</h1>'));
      expect(line?.durationMs).to.be.a('number');
      expect(Date.parse(line?.time ?? '')).to.be.closeTo(Date.now(), 60_000);
    });

    it('rotates the request log past its size limit', async () => {
      const requestLog = path.join(root, 'log2', 'requests.jsonl');
      gateway.reload({ ...config, requestLog, requestLogMaxBytes: 4096 });
      try {
        for (let i = 0; i < 40; i++) await get({ host: 'docs.python.org', path: `/3/?n=${i}` });
      } finally {
        gateway.reload(config);
      }
      const rotated = (await readFile(`${requestLog}.1`, 'utf8')).trim().split('\n');
      expect(rotated.length).to.be.greaterThan(10);
      expect(JSON.parse(rotated[0]!)).to.include({ path: '/3/?n=0' });
      expect((await stat(requestLog)).size).to.be.below(4096 + 1024);
    });
  });
});
