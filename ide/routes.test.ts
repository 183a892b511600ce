/**
 * The IDE's server side against a real server, real engine and real workspaces: the files routes
 * (confinement, size limits, conflict detection, CSRF), WebSocket authentication, terminals that
 * outlive a browser, flow control, Run and Stop, and the web preview's access rules.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { startTestServer, type TestServer, type Client } from '../test/support.ts';
import { PREVIEW_CONTENT_SECURITY_POLICY } from './preview.ts';
import { CLOSE, type ServerMessage } from './protocol.ts';

interface Attached {
  ws: WebSocket;
  /** Whether this client acknowledges rendered output, as the browser does. */
  acking: boolean;
  text(): string;
  bytes(): number;
  messages: ServerMessage[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  closed: Promise<{ code: number }>;
}

describe('ide: routes, WebSockets, terminals, runs and preview', function () {
  this.timeout(120_000);
  let s: TestServer;
  let alice: Client;
  let bob: Client;
  let ines: Client;

  before(async () => {
    // A short default exec time limit shows that terminals have none (sandbox StreamRequest.noTimeout).
    s = await startTestServer({ sandbox: { files: { maxFileBytes: 4096 }, exec: { defaultTimeoutSeconds: 2 } }, ide: { flowHighWaterBytes: 64 * 1024, runTimeoutSeconds: 60 } });
    await s.system.accounts.createCohort('c1', 'One', { name: 'test' });
    await s.system.accounts.createCohort('c2', 'Two', { name: 'test' });
    const a = await s.user('alice', 'student', { cohort: 'c1' });
    const b = await s.user('bob', 'student', { cohort: 'c2' });
    const i = await s.user('ines', 'instructor', { cohort: 'c1' });
    alice = await s.login(a.name, a.password);
    bob = await s.login(b.name, b.password);
    ines = await s.login(i.name, i.password);
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  const api = (c: Client, method: string, path: string, options: Parameters<Client['request']>[2] = {}) =>
    c.request(method, path, { ...options, headers: { ...(c.csrf ? { 'x-csrf-token': c.csrf } : {}), ...(options.headers ?? {}) } });
  async function fetchRaw(c: Client, path: string, body: string | Buffer): Promise<Response> {
    return fetch(s.base + path, {
      method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': c.csrf ?? '', cookie: [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'application/json' },
    });
  }
  const code = async (res: Response) => ((await res.json()) as { error?: { code?: string } }).error?.code;

  function attach(c: Client | undefined, owner: string, kind: 'terminal' | 'run', id: string, options: { origin?: string | null; ack?: boolean } = {}): Attached {
    const headers: Record<string, string> = {};
    if (c) headers.cookie = [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (options.origin !== null) headers.origin = options.origin ?? s.base;
    const ws = new WebSocket(`${s.base.replace('http', 'ws')}/ide/${owner}/attach?kind=${kind}&id=${id}&cols=100&rows=30`, { headers });
    const chunks: Buffer[] = [];
    const messages: ServerMessage[] = [];
    let unacked = 0;
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        chunks.push(Buffer.from(data));
        unacked += data.length;
        if (result.acking && unacked >= 16 * 1024) { ws.send(JSON.stringify({ t: 'ack', bytes: unacked })); unacked = 0; }
      } else messages.push(JSON.parse(data.toString()) as ServerMessage);
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<{ code: number }>((resolve) => {
      ws.on('close', (closeCode) => resolve({ code: closeCode }));
      ws.on('unexpected-response', (_req, res) => resolve({ code: res.statusCode ?? 0 }));
      ws.on('error', () => undefined);
    });
    const text = () => Buffer.concat(chunks).toString('utf8');
    const result: Attached = {
      ws, messages, closed, text, acking: options.ack !== false, bytes: () => chunks.reduce((n, c) => n + c.length, 0),
      async waitFor(pattern, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const m = pattern.exec(text());
          if (m) return m[0];
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got: ${JSON.stringify(text().slice(-500))}`);
          await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 200); });
        }
      },
    };
    return result;
  }
  const opened = (a: Attached) => new Promise<void>((resolve, reject) => { a.ws.once('open', () => resolve()); a.ws.once('unexpected-response', (_q, r) => reject(new Error(`refused ${r.statusCode}`))); });
  async function newTerminal(c: Client, owner: string): Promise<string> {
    const res = await api(c, 'POST', `/ide/${owner}/api/terminals`, { json: { cols: 100, rows: 30 } });
    expect(res.status, await res.clone().text()).to.equal(201);
    return ((await res.json()) as { id: string }).id;
  }

  describe('files', () => {
    it('saves, reads back, lists, renames, deletes and downloads', async () => {
      expect((await fetchRaw(alice, '/ide/alice/api/file?path=src/app.js&version=', 'console.log(1)\n')).status).to.equal(200);
      const read = await (await api(alice, 'GET', '/ide/alice/api/file?path=src/app.js')).json() as { text: string; version: string };
      expect(read.text).to.equal('console.log(1)\n');
      const tree = await (await api(alice, 'GET', '/ide/alice/api/tree?dir=src')).json() as { entries: { name: string }[] };
      expect(tree.entries.map((e) => e.name)).to.deep.equal(['app.js']);
      expect((await api(alice, 'POST', '/ide/alice/api/rename', { json: { from: 'src/app.js', to: 'src/main.js' } })).status).to.equal(200);
      const download = await api(alice, 'GET', '/ide/alice/api/download?path=src/main.js');
      expect(download.headers.get('content-disposition')).to.equal('attachment; filename="main.js"');
      expect(await download.text()).to.equal('console.log(1)\n');
      expect((await api(alice, 'POST', '/ide/alice/api/delete', { json: { path: 'src' } })).status).to.equal(200);
      expect(await code(await api(alice, 'GET', '/ide/alice/api/file?path=src/main.js'))).to.equal('SANDBOX_FILE_NOT_FOUND');
    });

    it('keeps every path inside the workspace, symlinks included', async () => {
      for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../x']) {
        const res = await api(alice, 'GET', `/ide/alice/api/file?path=${encodeURIComponent(bad)}`);
        expect(res.status, bad).to.equal(400);
        expect(await code(res), bad).to.equal('SANDBOX_PATH_ESCAPE');
      }
      expect(await code(await fetchRaw(alice, `/ide/alice/api/file?path=${encodeURIComponent('../../x')}`, 'x'))).to.equal('SANDBOX_PATH_ESCAPE');
      expect(await code(await api(alice, 'POST', '/ide/alice/api/rename', { json: { from: 'x', to: '../x' } }))).to.equal('SANDBOX_PATH_ESCAPE');
      // A link planted from the terminal is not followed, for reading or writing.
      await s.system.sandbox.workspaces.exec('alice', { argv: ['ln', '-sf', '/etc/passwd', '/workspace/link'] });
      expect(await code(await api(alice, 'GET', '/ide/alice/api/file?path=link'))).to.equal('SANDBOX_PATH_ESCAPE');
    });

    it('refuses a file over the size limit before writing it', async () => {
      const res = await fetchRaw(alice, '/ide/alice/api/file?path=big.txt', Buffer.alloc(5000, 'a'));
      expect(res.status).to.equal(413);
      expect(await code(res)).to.equal('SANDBOX_FILE_TOO_LARGE');
      expect(await code(await api(alice, 'GET', '/ide/alice/api/file?path=big.txt'))).to.equal('SANDBOX_FILE_NOT_FOUND');
    });

    it('does not overwrite a file changed in the terminal since the editor read it', async () => {
      await fetchRaw(alice, '/ide/alice/api/file?path=notes.txt', 'from the editor\n');
      const { version } = await (await api(alice, 'GET', '/ide/alice/api/file?path=notes.txt')).json() as { version: string };
      await s.system.sandbox.workspaces.exec('alice', { argv: ['sh', '-c', 'echo "from the terminal" >> /workspace/notes.txt'] });
      const conflict = await fetchRaw(alice, `/ide/alice/api/file?path=notes.txt&version=${encodeURIComponent(version)}`, 'editor overwrites\n');
      expect(conflict.status).to.equal(409);
      expect(await code(conflict)).to.equal('SANDBOX_FILE_CONFLICT');
      const now = await (await api(alice, 'GET', '/ide/alice/api/file?path=notes.txt')).json() as { text: string; version: string };
      expect(now.text).to.equal('from the editor\nfrom the terminal\n');
      // With the current version the save goes through; a new file with version '' must not exist yet.
      expect((await fetchRaw(alice, `/ide/alice/api/file?path=notes.txt&version=${encodeURIComponent(now.version)}`, 'merged\n')).status).to.equal(200);
      expect(await code(await fetchRaw(alice, '/ide/alice/api/file?path=notes.txt&version=', 'again\n'))).to.equal('SANDBOX_FILE_CONFLICT');
    });

    it("needs the CSRF token, and never opens another student's workspace", async () => {
      const noToken = await fetch(s.base + '/ide/alice/api/file?path=x.txt', { method: 'POST', body: 'x', headers: { 'content-type': 'application/octet-stream', cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'application/json' } });
      expect(await code(noToken)).to.equal('AUTH_CSRF_FAILED');
      for (const [who, path] of [[bob, '/ide/alice'], [bob, '/ide/alice/api/tree'], [bob, '/ide/alice/api/file?path=notes.txt'], [ines, '/ide/alice/api/tree'], [alice, '/ide/bob/api/terminals']] as const) {
        expect((await api(who, 'GET', path)).status, path).to.equal(403);
      }
      expect((await fetchRaw(bob, '/ide/alice/api/file?path=pwned.txt', 'x')).status).to.equal(403);
      expect((await api(s.client(), 'GET', '/ide/alice/api/tree')).status).to.equal(401);
    });
  });

  describe('WebSockets', () => {
    it('authenticates the handshake: cookie, Origin, owner, and the session id', async () => {
      const id = await newTerminal(alice, 'alice');
      expect((await attach(undefined, 'alice', 'terminal', id).closed).code, 'no cookie').to.equal(401);
      expect((await attach(alice, 'alice', 'terminal', id, { origin: 'http://evil.example' }).closed).code, 'foreign origin').to.equal(403);
      expect((await attach(alice, 'alice', 'terminal', id, { origin: null }).closed).code, 'no origin').to.equal(403);
      expect((await attach(bob, 'alice', 'terminal', id).closed).code, "another student's workspace").to.equal(403);
      expect((await attach(ines, 'alice', 'terminal', id).closed).code, 'an instructor').to.equal(403);
      // Bob's own workspace URL with Alice's terminal id: the id is not his.
      const wrong = attach(bob, 'bob', 'terminal', id);
      expect((await wrong.closed).code).to.equal(CLOSE.gone);
      const ok = attach(alice, 'alice', 'terminal', id);
      await opened(ok);
      ok.ws.close();
    });

    it('closes the socket when the sign-in session ends', async () => {
      const a = await s.user('carol', 'student', { cohort: 'c1' });
      const carol = await s.login(a.name, a.password);
      const id = await newTerminal(carol, 'carol');
      const t = attach(carol, 'carol', 'terminal', id);
      await opened(t);
      s.system.accounts.setDisabled('carol', true, { name: 'test' });
      expect((await t.closed).code).to.equal(CLOSE.unauthenticated);
      expect((await attach(carol, 'carol', 'terminal', id).closed).code).to.equal(401);
    });
  });

  describe('terminals', () => {
    it('runs a shell with a TTY that outlives the browser and replays its output on reconnect', async () => {
      const started = Date.now();
      const id = await newTerminal(alice, 'alice');
      const first = attach(alice, 'alice', 'terminal', id);
      await opened(first);
      first.ws.send(Buffer.from('export MARK=kept-$((6*7)); echo "tty: $(tty)"; echo "pid $$"\n'));
      const pid = (await first.waitFor(/pid \d+/)).slice(4);
      expect(first.text()).to.match(/tty: \/dev\/pts\/\d+/);
      first.ws.terminate(); // the browser vanishes without a goodbye
      await new Promise((r) => setTimeout(r, 300));
      const second = attach(alice, 'alice', 'terminal', id);
      await opened(second);
      await second.waitFor(/pid \d+/); // replayed from the ring
      second.ws.send(Buffer.from('echo "again $MARK $$"\n'));
      expect(await second.waitFor(/again kept-42 \d+/)).to.equal(`again kept-42 ${pid}`);
      // Resize reaches the pty; Ctrl-C interrupts the foreground program.
      second.ws.send(JSON.stringify({ t: 'resize', cols: 91, rows: 17 }));
      second.ws.send(Buffer.from('stty size\n'));
      await second.waitFor(/17 91/);
      second.ws.send(Buffer.from('sleep 300; echo after-$((1+1))\n'));
      await new Promise((r) => setTimeout(r, 2500));
      second.ws.send(Buffer.from('\x03'));
      second.ws.send(Buffer.from('echo interrupted-$?\n'));
      await second.waitFor(/interrupted-130/);
      expect(second.text()).not.to.include('after-2');
      const list = await (await api(alice, 'GET', '/ide/alice/api/terminals')).json() as { terminals: { id: string }[] };
      expect(list.terminals.map((t) => t.id)).to.include(id);
      // Older than the sandbox's default exec time limit (2 s here) and still answering.
      expect(Date.now() - started).to.be.above(2500);
      second.ws.send(Buffer.from('echo "still-$((2*21))"\n'));
      await second.waitFor(/still-42/);
      second.ws.send(Buffer.from('exit\n'));
      expect((await second.closed).code).to.equal(CLOSE.gone);
    });

    it('closes a terminal on request, its owner only', async () => {
      const id = await newTerminal(alice, 'alice');
      const t = attach(alice, 'alice', 'terminal', id);
      await opened(t);
      expect(await code(await api(bob, 'POST', `/ide/bob/api/terminals/${id}/close`, { json: {} }))).to.equal('IDE_SESSION_NOT_FOUND');
      expect((await api(alice, 'POST', `/ide/alice/api/terminals/${id}/close`, { json: {} })).status).to.equal(200);
      expect((await t.closed).code).to.equal(CLOSE.gone);
    });

    it('closes terminals left detached past the limit', async () => {
      const id = await newTerminal(alice, 'alice');
      expect(s.system.ide.hub.sweep(Date.now() + 60_000)).to.equal(0);
      expect(s.system.ide.hub.sweep(Date.now() + s.config.ide.detachedTerminalMinutes * 60_000 + 60_000)).to.be.at.least(1);
      const list = await (await api(alice, 'GET', '/ide/alice/api/terminals')).json() as { terminals: { id: string }[] };
      expect(list.terminals.map((t) => t.id)).not.to.include(id);
      expect((await attach(alice, 'alice', 'terminal', id).closed).code).to.equal(CLOSE.gone);
    });

    it('flow-controls a flood: output stops at the high-water mark until the browser acknowledges it', async () => {
      const id = await newTerminal(alice, 'alice');
      const t = attach(alice, 'alice', 'terminal', id, { ack: false });
      await opened(t);
      t.ws.send(Buffer.from('yes flood-flood-flood-flood\n'));
      await new Promise((r) => setTimeout(r, 1500));
      const stalled = t.bytes();
      await new Promise((r) => setTimeout(r, 1000));
      // Paused: the program is blocked on its writes, not buffered in Outpost.
      expect(t.bytes()).to.equal(stalled);
      expect(stalled).to.be.below(64 * 1024 + 1024 * 1024 + 64 * 1024);
      t.ws.send(JSON.stringify({ t: 'ack', bytes: stalled }));
      await new Promise((r) => setTimeout(r, 800));
      expect(t.bytes()).to.be.above(stalled);
      t.acking = true;
      t.ws.send(JSON.stringify({ t: 'ack', bytes: 10 * 1024 * 1024 }));
      t.ws.send(Buffer.from('\x03'));
      t.ws.send(Buffer.from('exit\n'));
      expect((await t.closed).code).to.equal(CLOSE.gone);
    });
  });

  describe('Run', () => {
    it("runs the open file, streams its output and keeps it in the panel's list", async () => {
      await fetchRaw(alice, '/ide/alice/api/file?path=hello.py', 'print("hello", 6 * 7)\n');
      const res = await api(alice, 'POST', '/ide/alice/api/runs', { json: { file: 'hello.py', cols: 80, rows: 24 } });
      expect(res.status).to.equal(201);
      const run = await res.json() as { id: string; command: string };
      expect(run.command).to.equal("python3 'hello.py'");
      const r = attach(alice, 'alice', 'run', run.id);
      await r.waitFor(/hello 42/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const runs = await (await api(alice, 'GET', '/ide/alice/api/runs')).json() as { runs: { id: string; exit: { exitCode: number } | null }[] };
      expect(runs.runs.find((x) => x.id === run.id)?.exit?.exitCode).to.equal(0);
      // outpost.json wins over the file type.
      await fetchRaw(alice, '/ide/alice/api/file?path=outpost.json', '{"run": "echo from-config"}');
      const configured = await (await api(alice, 'POST', '/ide/alice/api/runs', { json: { file: 'hello.py' } })).json() as { command: string };
      expect(configured.command).to.equal('echo from-config');
      await api(alice, 'POST', '/ide/alice/api/delete', { json: { path: 'outpost.json' } });
    });

    it('stops a runaway program, and its whole process tree', async () => {
      await fetchRaw(alice, '/ide/alice/api/file?path=spin.js', 'const { spawn } = require("child_process");\nspawn("sleep", ["1000"], { stdio: "ignore" });\nprocess.on("SIGINT", () => console.log("ignoring Ctrl-C"));\nconsole.log("spinning");\nfor (;;) {}\n');
      const run = await (await api(alice, 'POST', '/ide/alice/api/runs', { json: { file: 'spin.js' } })).json() as { id: string };
      const r = attach(alice, 'alice', 'run', run.id);
      await r.waitFor(/spinning/);
      const started = Date.now();
      expect((await api(alice, 'POST', `/ide/alice/api/runs/${run.id}/stop`, { json: {} })).status).to.equal(200);
      for (;;) {
        if (r.messages.some((m) => m.t === 'exit')) break;
        if (Date.now() - started > 10_000) throw new Error('the run did not stop');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const ps = await s.system.sandbox.workspaces.exec('alice', { argv: ['sh', '-c', 'ps -eo args | grep -c "[s]leep 1000" || true'] });
      expect(ps.stdout.toString().trim()).to.equal('0');
      expect((await api(bob, 'POST', `/ide/alice/api/runs/${run.id}/stop`, { json: {} })).status).to.equal(403);
      expect(await code(await api(bob, 'POST', `/ide/bob/api/runs/${run.id}/stop`, { json: {} }))).to.equal('IDE_SESSION_NOT_FOUND');
    });
  });

  describe('web preview', () => {
    it("shows the student's server to them and their instructor only, sandboxed and without their cookies", async () => {
      const server = 'require("http").createServer((q, r) => { let body = ""; q.on("data", (c) => (body += c)); q.on("end", () => { r.setHeader("set-cookie", "outpost_session=planted; Path=/"); r.end(JSON.stringify({ method: q.method, url: q.url, cookie: q.headers.cookie ?? null, csrf: q.headers["x-csrf-token"] ?? null, ...(body ? { body } : {}) })); }); }).listen(8123, "127.0.0.1", () => console.log("listening"));\n';
      await fetchRaw(alice, '/ide/alice/api/file?path=server.js', server);
      const run = await (await api(alice, 'POST', '/ide/alice/api/runs', { json: { file: 'server.js' } })).json() as { id: string };
      const r = attach(alice, 'alice', 'run', run.id);
      await r.waitFor(/listening/);
      // The address people use needs the session cookie and the policy; it hands out a capability link.
      const open = await api(alice, 'GET', '/preview/alice/8123/some/page?x=1');
      expect(open.status).to.equal(303);
      const link = open.headers.get('location')!;
      expect(link).to.match(/^\/p\/[A-Za-z0-9_-]{32}\/some\/page\?x=1$/);
      // The link works without cookies: a sandboxed page's own sub-requests carry none.
      const res = await fetch(s.base + link, { headers: { cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'x-csrf-token': alice.csrf! } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-security-policy')).to.equal(PREVIEW_CONTENT_SECURITY_POLICY);
      expect(res.headers.get('set-cookie')).to.equal(null);
      // …and neither the viewer's cookies nor their CSRF token reach the student's server.
      expect(await res.json()).to.deep.equal({ method: 'GET', url: '/some/page?x=1', cookie: null, csrf: null });
      // The student's own forms and JSON APIs work: the body arrives as sent, with no CSRF token asked.
      const posted = await fetch(s.base + link.replace('/some/page?x=1', '/api/items'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' }, body: 'name=chair&qty=2' });
      expect(posted.status).to.equal(200);
      expect(await posted.json()).to.deep.equal({ method: 'POST', url: '/api/items', cookie: null, csrf: null, body: 'name=chair&qty=2' });
      const deleted = await fetch(s.base + link.replace('/some/page?x=1', '/api/items/1'), { method: 'DELETE' });
      expect(((await deleted.json()) as { method: string }).method).to.equal('DELETE');
      expect((await fetch(`${s.base}/p/${'B'.repeat(32)}/api/items`, { method: 'POST', body: 'x=1' })).status, 'a made-up link, POST').to.equal(404);
      expect((await fetch(s.base + link.replace('/some/page?x=1', '/'))).status, 'cookie-less sub-request').to.equal(200);

      const forInes = await api(ines, 'GET', '/preview/alice/8123/');
      expect(forInes.status, 'her instructor').to.equal(303);
      expect((await fetch(s.base + forInes.headers.get('location')!)).status).to.equal(200);
      expect(s.system.audit.query({ action: 'preview.view-other', person: 'alice' }).entries.map((e) => e.actor)).to.include('ines');
      expect((await api(bob, 'GET', '/preview/alice/8123/')).status, 'another student').to.equal(403);
      expect((await api(s.client(), 'GET', '/preview/alice/8123/')).status, 'nobody').to.equal(401);
      expect((await fetch(`${s.base}/p/${'A'.repeat(32)}/`)).status, 'a made-up link').to.equal(404);

      // A link ends with the sign-in session it was made in.
      const d = await s.user('dora', 'instructor', { cohort: 'c1' });
      const dora = await s.login(d.name, d.password);
      const doraLink = (await api(dora, 'GET', '/preview/alice/8123/')).headers.get('location')!;
      expect((await fetch(s.base + doraLink)).status).to.equal(200);
      s.system.sessions.destroyAllFor('dora');
      expect((await fetch(s.base + doraLink)).status).to.equal(404);

      const closedPort = await fetch(s.base + (await api(alice, 'GET', '/preview/alice/8124/')).headers.get('location')!, { headers: { accept: 'application/json' } });
      expect(closedPort.status).to.equal(502);
      expect(await code(closedPort)).to.equal('IDE_PREVIEW_UNAVAILABLE');
      await api(alice, 'POST', `/ide/alice/api/runs/${run.id}/stop`, { json: {} });
    });
  });
});
