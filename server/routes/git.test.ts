import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { makeTestConfig, testPassword } from '../../test/support.ts';
import { openCore, type Core } from '../system.ts';
import { createApp } from '../app.ts';
import { createPolicy } from '../../core/policy.ts';
import { createRouteRegistry } from '../../core/web.ts';
import { silentLogger } from '../../core/log.ts';
import type { Role, User } from '../../core/accounts.ts';
import type { GitHostingView, RepoAccess, RepoRecord } from '../../fake-internet/git/hosting-types.ts';
import { createRepoFromTemplate, initBareRepo } from '../../fake-internet/git/repos.ts';
import { registerGitRoutes } from './git.ts';

const run = promisify(execFile);

async function gitCli(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' };
  return (await run('git', ['-c', 'user.name=Alice & "Q" Student', '-c', 'user.email=alice@outpost.invalid', ...args], { cwd, env })).stdout;
}

/**
 * GitHostingView is owned by git hosting (fake-internet/git/hosting.ts, with its store, tokens and
 * access file). This stand-in over a temp dir answers the same interface from a fixed table, so
 * this test covers the view alone; hosting's own tests cover who gets which access.
 */
function tableHosting(reposDir: string, table: { record: RepoRecord; readers: string[] }[]): GitHostingView {
  const find = (owner: string, name: string) => table.find((t) => t.record.owner === owner && t.record.name === name);
  const access = (user: User | undefined, owner: string, name: string): RepoAccess => {
    const entry = find(owner, name);
    if (!user || !entry) return 'none';
    if (user.name === owner) return 'write';
    return entry.readers.includes(user.name) ? 'read' : 'none';
  };
  return {
    repoDir: (owner, name) => path.join(reposDir, owner, `${name}.git`),
    get: (owner, name) => find(owner, name)?.record,
    visibleTo: (user, owner) => table.map((t) => t.record).filter((r) => (owner === undefined || r.owner === owner) && access(user, r.owner, r.name) !== 'none'),
    access,
    cloneUrl: (owner, name) => `https://git.outpost.test/${owner}/${name}.git`,
  };
}

const record = (owner: string, name: string, description = ''): RepoRecord =>
  ({ owner, name, ownerKind: 'user', description, defaultBranch: 'main', createdAt: '2026-11-22T10:00:00.000Z', createdBy: owner });

const README = [
  '# Hello <script>alert("readme")</script>',
  '',
  'Read the [guide](docs/guide.md) or [bad](javascript:alert(1)).',
  '',
  '![logo](img/logo.png) <img src=x onerror=alert(1)>',
  '',
].join('\n');

describe('git web view (server/routes/git.ts)', function () {
  let core: Core;
  let root: string;
  let server: Server;
  let base: string;
  let reposDir: string;
  let first: string;
  let second: string;
  const cookies = new Map<string, string>();

  async function user(name: string, role: Role): Promise<void> {
    await core.accounts.create({ name, role, password: testPassword(name) }, { name: 'test' });
    cookies.set(name, core.sessions.create(name, { ip: '127.0.0.1', userAgent: 'git-test' }).id);
  }

  function get(who: string | undefined, url: string, accept = 'text/html'): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (who) headers.cookie = `outpost_session=${cookies.get(who)}`;
    return fetch(base + url, { headers, redirect: 'manual' });
  }

  /** A request with the path exactly as written: fetch() would normalize `..` away. */
  function rawGet(who: string, rawPath: string): Promise<{ status: number; body: string }> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: rawPath, headers: { cookie: `outpost_session=${cookies.get(who)}`, accept: 'text/html' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    const made = await makeTestConfig();
    root = made.root;
    core = openCore(made.config);
    reposDir = path.join(root, 'repos');

    const template = path.join(root, 'template');
    await mkdir(path.join(template, 'src'), { recursive: true });
    await mkdir(path.join(template, 'img'), { recursive: true });
    await mkdir(path.join(template, 'docs'), { recursive: true });
    await writeFile(path.join(template, 'README.md'), README);
    await writeFile(path.join(template, 'docs', 'guide.md'), '## Guide\n');
    await writeFile(path.join(template, 'src', 'app.js'), 'const a = 1;\nif (a < 2) console.log("</td><script>x</script>");\n');
    await writeFile(path.join(template, 'img', 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
    await writeFile(path.join(template, 'page.html'), '<script>alert(1)</script>\n');
    const hello = path.join(reposDir, 'alice', 'hello.git');
    first = (await createRepoFromTemplate(hello, template, { author: { name: 'Outpost', email: 'outpost@outpost.invalid' }, message: 'Starter files' })).commit;

    // A second commit and a branch with a slash, made and pushed by the real git CLI.
    const work = path.join(root, 'work');
    await gitCli(root, 'clone', '-q', hello, work);
    await writeFile(path.join(work, 'src', 'app.js'), 'const a = 2;\nif (a < 2) console.log("</td><script>x</script>");\nconsole.log("added line");\n');
    await gitCli(work, 'commit', '-q', '-am', 'Change <em>app</em>\n\nLonger explanation.');
    second = (await gitCli(work, 'rev-parse', 'HEAD')).trim();
    await gitCli(work, 'checkout', '-q', '-b', 'feature/x');
    await writeFile(path.join(work, 'feature.txt'), 'on the branch\n');
    await gitCli(work, 'add', '.');
    await gitCli(work, 'commit', '-q', '-m', 'Feature');
    await gitCli(work, 'push', '-q', 'origin', 'main', 'feature/x');
    await gitCli(work, 'tag', 'v1', first);
    await gitCli(work, 'push', '-q', 'origin', 'v1');

    await initBareRepo(path.join(reposDir, 'alice', 'empty.git'));
    const hosting = tableHosting(reposDir, [
      { record: record('alice', 'hello', 'First <i>project</i>'), readers: ['carol'] },
      { record: record('alice', 'empty'), readers: [] },
    ]);

    const routes = createRouteRegistry({ policy: createPolicy({ cohortsOf: (name) => core.accounts.cohortsOf(name) }) });
    registerGitRoutes(routes, { hosting, limits: { commitsPerPage: 1 } });
    const app = createApp({ log: silentLogger(), routes, sessions: core.sessions, accounts: core.accounts });
    server = await new Promise<Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    await user('alice', 'student');
    await user('bob', 'student');
    await user('carol', 'instructor');
  });

  after(async () => {
    server?.closeAllConnections();
    server?.close();
    core?.store.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('lists the repositories a person may read, and only those', async () => {
    const mine = await (await get('alice', '/git')).text();
    expect(mine).to.contain('href="/git/alice/hello"').and.to.contain('href="/git/alice/empty"');
    expect(mine).to.contain('First &#60;i&#62;project&#60;/i&#62;');
    const carols = await (await get('carol', '/git/alice')).text();
    expect(carols).to.contain('/git/alice/hello').and.not.to.contain('/git/alice/empty');
    const bobs = await (await get('bob', '/git')).text();
    expect(bobs).to.not.contain('/git/alice/');
    expect((await get('bob', '/git/alice')).status).to.equal(200);
  });

  it('shows the repository home: file tree, README rendered and escaped, clone URL with a copy button', async () => {
    const res = await get('alice', '/git/alice/hello');
    expect(res.status).to.equal(200);
    const page = await res.text();
    expect(page).to.contain('href="/git/alice/hello/tree/main/src"').and.to.contain('href="/git/alice/hello/blob/main/README.md"');
    expect(page).to.contain('<h1>Hello &lt;script&gt;alert(&quot;readme&quot;)&lt;/script&gt;</h1>');
    expect(page).to.contain('href="/git/alice/hello/blob/main/docs/guide.md"');
    expect(page).to.contain('src="/git/alice/hello/raw/main/img/logo.png"');
    expect(page).to.contain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).to.not.match(/(href|src)="\s*javascript:/i);
    expect(page).to.contain('[bad](javascript:alert(1))');
    expect(page).to.contain('value="https://git.outpost.test/alice/hello.git"').and.to.contain('data-copy="clone-url"');
    // The CSP allows no inline script: every script on the page comes from a file.
    for (const tag of page.match(/<script[^>]*>/g) ?? []) expect(tag).to.match(/src="\/static\/git\.js"/);
    expect(page).to.contain('Branch: <strong>main</strong>').and.to.contain('href="/git/alice/hello/tree/feature%2Fx"').and.to.contain('href="/git/alice/hello/tree/v1"');
  });

  it('serves the copy script and the styles', async () => {
    const js = await get(undefined, '/static/git.js', '*/*');
    expect(js.status).to.equal(200);
    expect(await js.text()).to.contain('data-copy');
  });

  it('browses folders and files at any branch, tag or commit', async () => {
    const src = await (await get('alice', '/git/alice/hello/tree/main/src')).text();
    expect(src).to.contain('href="/git/alice/hello/blob/main/src/app.js"');
    const feature = await (await get('alice', '/git/alice/hello/tree/feature%2Fx')).text();
    expect(feature).to.contain('feature.txt').and.to.contain('Branch: <strong>feature/x</strong>');
    const tag = await (await get('alice', '/git/alice/hello/blob/v1/src/app.js')).text();
    expect(tag).to.contain('const a = 1;');
    const byCommit = await (await get('alice', `/git/alice/hello/blob/${second.slice(0, 10)}/src/app.js`)).text();
    expect(byCommit).to.contain('const a = 2;');
    // A folder asked for as a file (and the reverse) is sent to the right view.
    expect((await get('alice', '/git/alice/hello/blob/main/src')).headers.get('location')).to.equal('/git/alice/hello/tree/main/src');
    expect((await get('alice', '/git/alice/hello/tree/main/README.md')).headers.get('location')).to.equal('/git/alice/hello/blob/main/README.md');
  });

  it('shows a file with line numbers, its content escaped; binary files as a download', async () => {
    const page = await (await get('alice', '/git/alice/hello/blob/main/src/app.js')).text();
    expect(page).to.contain('id="L1"').and.to.contain('id="L3"').and.to.contain('href="#L2"');
    expect(page).to.contain('if (a &#60; 2) console.log(&#34;&#60;/td&#62;&#60;script&#62;x&#60;/script&#62;&#34;);');
    expect(page).to.contain('href="/git/alice/hello/raw/main/src/app.js"');
    const bin = await (await get('alice', '/git/alice/hello/blob/main/img/logo.png')).text();
    expect(bin).to.contain('Binary file').and.to.contain('href="/git/alice/hello/raw/main/img/logo.png" download');
    const md = await (await get('alice', '/git/alice/hello/blob/main/README.md')).text();
    expect(md).to.contain('&lt;script&gt;alert(&quot;readme&quot;)');
    const source = await (await get('alice', '/git/alice/hello/blob/main/README.md?plain=1')).text();
    expect(source).to.contain('id="L5"');
  });

  it('serves raw files as attachments of a harmless type, with nosniff', async () => {
    const html = await get('alice', '/git/alice/hello/raw/main/page.html');
    expect(html.status).to.equal(200);
    expect(html.headers.get('content-type')).to.match(/^application\/octet-stream/);
    expect(html.headers.get('content-disposition')).to.match(/^attachment; filename="?page\.html"?$/);
    expect(html.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(html.headers.get('content-security-policy')).to.contain('sandbox');
    expect(await html.text()).to.equal('<script>alert(1)</script>\n');
    const png = await get('alice', '/git/alice/hello/raw/main/img/logo.png');
    expect(png.headers.get('content-type')).to.equal('image/png');
    expect(Buffer.from(await png.arrayBuffer())).to.have.length(12);
  });

  it('pages through the commit log, for the whole tree or one file', async () => {
    const one = await (await get('alice', '/git/alice/hello/commits/main')).text();
    expect(one).to.contain(`href="/git/alice/hello/commit/${second}"`).and.to.contain('Change &#60;em&#62;app&#60;/em&#62;');
    expect(one).to.contain('Alice &#38; &#34;Q&#34; Student');
    expect(one).to.contain('href="/git/alice/hello/commits/main?page=2"').and.not.to.contain('Newer');
    const two = await (await get('alice', '/git/alice/hello/commits/main?page=2')).text();
    expect(two).to.contain(`/commit/${first}`).and.to.contain('Newer').and.not.to.contain('page=3');
    const file = await (await get('alice', '/git/alice/hello/commits/main?path=docs%2Fguide.md')).text();
    expect(file).to.contain(`/commit/${first}`).and.not.to.contain(`/commit/${second}`);
    expect((await get('alice', '/git/alice/hello/commits/main?page=999999999')).status).to.equal(200);
  });

  it('shows a commit with its diff, and the root commit as all added', async () => {
    const page = await (await get('alice', `/git/alice/hello/commit/${second}`)).text();
    expect(page).to.contain('Longer explanation.');
    expect(page).to.contain('1 file changed').and.to.contain('src/app.js');
    expect(page).to.contain('<code>-const a = 1;</code>').and.to.contain('<code>+const a = 2;</code>').and.to.contain('<code>+console.log(&#34;added line&#34;);</code>');
    expect(page).to.contain('@@ -1,2 +1,3 @@');
    const rootCommit = await (await get('alice', `/git/alice/hello/commit/${first}`)).text();
    expect(rootCommit).to.contain('5 files changed');
    expect(rootCommit).to.contain('Binary file added.');
  });

  it('tells how to push to an empty repository', async () => {
    const page = await (await get('alice', '/git/alice/empty')).text();
    expect(page).to.contain('This repository is empty').and.to.contain('git push -u origin main').and.to.contain('git clone https://git.outpost.test/alice/empty.git');
    expect((await get('alice', '/git/alice/empty/commits/main')).status).to.equal(404);
  });

  it('answers 404, never 403, to someone without access, exactly as for a repository that does not exist', async () => {
    const pages = ['', '/tree/main', '/tree/main/src', '/blob/main/src/app.js', '/raw/main/src/app.js', '/commits/main', `/commit/${second}`];
    const missing = await (await get('bob', '/git/alice/nope', 'application/json')).json() as { error: { code: string; message: string } };
    expect(missing.error.code).to.equal('GIT_REPO_NOT_FOUND');
    for (const p of pages) {
      const res = await get('bob', `/git/alice/hello${p}`, 'application/json');
      expect(res.status, p).to.equal(404);
      const body = await res.json() as { error: { code: string; message: string } };
      expect(body.error.code, p).to.equal('GIT_REPO_NOT_FOUND');
      expect(body.error.message.replace('hello', 'nope'), p).to.equal(missing.error.message);
      expect((await get('carol', `/git/alice/hello${p}`)).status, `carol ${p}`).to.equal(200);
    }
    expect((await get('bob', '/git/alice/empty')).status).to.equal(404);
    // Signed-out visitors are sent to sign in first.
    expect((await get(undefined, '/git/alice/hello')).status).to.equal(303);
  });

  it('answers hostile or broken paths and refs with a clear 4xx, never a 500', async () => {
    const cases: [string, number, string?][] = [
      ['/git/alice/hello/blob/main/..%2F..%2F..%2Fetc%2Fpasswd', 400, 'GIT_PATH_INVALID'],
      ['/git/alice/hello/tree/main/src%2F..%2F..', 400, 'GIT_PATH_INVALID'],
      ['/git/alice/hello/raw/main/%2Fetc%2Fpasswd', 400, 'GIT_PATH_INVALID'],
      ['/git/alice/hello/tree/..%2F..%2Fconfig', 400, 'GIT_REF_INVALID'],
      ['/git/alice/hello/tree/..%2F..%2F..%2F..%2Fetc%2Fpasswd/x', 400, 'GIT_REF_INVALID'],
      ['/git/alice/hello/commit/HEAD~1', 400, 'GIT_REF_INVALID'],
      ['/git/alice/hello/commits/main?path=..%2Fx', 400, 'GIT_PATH_INVALID'],
      ['/git/alice/hello/tree/no-such-branch', 404, 'GIT_REF_NOT_FOUND'],
      ['/git/alice/hello/blob/main/no/such/file', 404, 'GIT_PATH_NOT_FOUND'],
      ['/git/alice/hello/commit/0000000000000000000000000000000000000000', 404, 'GIT_REF_NOT_FOUND'],
      ['/git/ALICE/hello', 404, 'GIT_REPO_NOT_FOUND'],
      ['/git/alice/hello.git', 404, 'GIT_REPO_NOT_FOUND'],
      ['/git/alice/hello/blob/main/%E0%A4%A', 400],
      ['/git/alice/hello/tree/main/a%00b', 400, 'GIT_PATH_INVALID'],
    ];
    for (const [url, status, code] of cases) {
      const res = await get('alice', url, 'application/json');
      expect(res.status, url).to.equal(status);
      if (code) expect(((await res.json()) as { error: { code: string } }).error.code, url).to.equal(code);
    }
    for (const raw of ['/git/alice/hello/tree/main/../../../../etc', '/git/alice/hello/blob/main/src/../../../../../etc/passwd', '/git/alice/../../etc/passwd', '/git/alice/hello/raw/main/./src/app.js']) {
      const res = await rawGet('alice', raw);
      expect(res.status, raw).to.be.within(400, 499);
      expect(res.body, raw).to.not.contain('root:');
    }
    const page = await (await get('alice', '/git/alice/hello/tree/%3Cscript%3Ealert(1)%3C%2Fscript%3E')).text();
    expect(page).to.not.contain('<script>alert(1)');
  });
});
