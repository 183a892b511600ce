/**
 * The shop end to end over HTTP, on a real server with a real store, real bare repositories and the
 * real git CLI: a client files a request with an attachment; staff accept, which creates the team's
 * repository; a student pushes through the real git server and marks a milestone ready; the client reads the code, comments,
 * asks for changes, then accepts; staff review the package (personal-data findings, diff) and
 * approve it; the client downloads a bundle that `git clone`s to the delivered files as one commit,
 * without the team's history. Concurrent first preview requests start one container. And what must
 * not happen: a client seeing another client's project, a workspace or any student's identity; a
 * student outside the team pushing; an unapproved package being downloaded.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { startGitServer } from '../fake-internet/git/server.ts';
import { LABEL } from '../sandbox/hardening.ts';
import { startTestServer, type Client, type TestServer } from './support.ts';

const run = promisify(execFile);

async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', LANG: 'C' };
  return (await run('git', ['-c', 'safe.directory=*', '-c', 'user.name=Team Falcon', '-c', 'user.email=falcon@shop.invalid', ...args], { cwd, env })).stdout.trim();
}

// Distinctive, so a match on a page is never an accident of ordinary words.
const STUDENTS = { ana_s1: { displayName: 'Ana Lima', externalId: 'P-4711' }, bo_s2: { displayName: 'Bo Berg', externalId: 'P-4712' }, zed_s3: { displayName: 'Zed Quist', externalId: 'P-4713' } };
const IDENTITIES = Object.entries(STUDENTS).flatMap(([name, s]) => [name, s.displayName, s.externalId]);

function expectNoStudentIdentity(text: string, where: string): void {
  for (const id of IDENTITIES) expect(text.includes(id), `${where} shows "${id}"`).to.equal(false);
}

const PDF = Buffer.from('%PDF-1.4\n% brief\ntrailer\n<<>>\n%%EOF\n');

describe('shop end to end (HTTP, real git)', function () {
  this.timeout(3 * 60_000);
  let s: TestServer;
  let cleo: Client;
  let carl: Client;
  let ana: Client;
  let zed: Client;
  let stan: Client;
  let ines: Client;
  let repoDir: string;
  let work: string;
  let commit: string;
  let gitServer: Awaited<ReturnType<typeof startGitServer>> | undefined;
  /** Every page the client opened, for the identity check. */
  const clientPages: { url: string; text: string }[] = [];

  const form = (c: Client, url: string, fields: Record<string, string> = {}) => c.request('POST', url, { form: { ...fields, _csrf: c.csrf ?? '' }, accept: 'html' });
  const get = async (c: Client, url: string) => {
    const r = await c.request('GET', url, { accept: 'html' });
    const text = await r.text();
    if (c === cleo) clientPages.push({ url, text });
    return { status: r.status, text, headers: r.headers };
  };
  const upload = (c: Client, url: string, data: Buffer, filename: string, type = 'application/octet-stream') => fetch(s.base + url, {
    method: 'POST', body: new Uint8Array(data),
    headers: { cookie: [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': type, 'x-csrf-token': c.csrf ?? '', 'x-filename': encodeURIComponent(filename), accept: 'application/json' },
  });

  before(async () => {
    s = await startTestServer({ shop: { maxAttachmentMiB: 1 } });
    const login = async (name: string, role: 'client' | 'student' | 'staff' | 'instructor') => {
      const u = await s.user(name, role);
      return s.login(u.name, u.password);
    };
    cleo = await login('cleo', 'client');
    carl = await login('carl', 'client');
    stan = await login('stan', 'staff');
    ines = await login('ines', 'instructor');
    for (const [name, info] of Object.entries(STUDENTS)) {
      await s.user(name, 'student');
      s.system.accounts.update(name, info, { name: 'test' });
    }
    ana = await s.login('ana_s1', (await import('./support.ts')).testPassword('ana_s1'));
    zed = await s.login('zed_s3', (await import('./support.ts')).testPassword('zed_s3'));
  });
  after(async () => { await gitServer?.close(); s?.close(); await s?.cleanup(); });

  it('lets a client file a request and attach files (checked by type and size, served only as downloads)', async () => {
    expect((await get(cleo, '/shop/requests/new')).status).to.equal(200);
    expect((await form(ana, '/shop/requests', { title: 'x', description: 'y', criteria: 'z' })).status).to.equal(403);
    const created = await form(cleo, '/shop/requests', { title: 'Bakery orders', description: 'Customers **order** bread online.', criteria: 'An order arrives in the kitchen' });
    expect(created.status).to.equal(303);
    expect(created.headers.get('location')).to.match(/^\/shop\/requests\/1\?notice=/);
    const ok = await upload(cleo, '/shop/requests/1/attachments', PDF, 'brief.pdf');
    expect(ok.status).to.equal(201);
    const body = await ok.json() as { id: number; sha256: string };
    expect(body.sha256).to.equal(createHash('sha256').update(PDF).digest('hex'));
    const fake = await upload(cleo, '/shop/requests/1/attachments', Buffer.from('<html><script>alert(1)</script></html>'), 'brief.pdf');
    expect(fake.status).to.equal(415);
    expect(((await fake.json()) as { error: { code: string } }).error.code).to.equal('SHOP_ATTACHMENT_TYPE');
    const big = await upload(cleo, '/shop/requests/1/attachments', Buffer.alloc(1024 * 1024 + 1, 0x61), 'big.txt');
    expect(big.status).to.equal(413);
    expect((await form(cleo, '/shop/requests/1/attachments')).status).to.equal(400);
    expect((await upload(carl, '/shop/requests/1/attachments', PDF, 'mine.pdf')).status).to.equal(404);
    const page = await get(cleo, '/shop/requests/1');
    expect(page.text).to.include('brief.pdf').and.include('<strong>order</strong>').and.include('/shop/static/attach.js');
    const file = await cleo.request('GET', `/shop/attachments/${body.id}`);
    expect(file.status).to.equal(200);
    expect(file.headers.get('content-disposition')).to.match(/^attachment; filename="?brief\.pdf"?$/);
    expect(file.headers.get('content-type')).to.equal('application/octet-stream');
    expect(file.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(Buffer.from(await file.arrayBuffer())).to.deep.equal(PDF);
    expect((await carl.request('GET', `/shop/attachments/${body.id}`)).status).to.equal(404);
    expect((await carl.request('GET', '/shop/requests/1')).status).to.equal(404);
    expect((await ana.request('GET', '/shop/requests/1')).status).to.equal(404);
    expect((await (await s.client().request('GET', '/shop/static/attach.js')).text())).to.include('x-csrf-token');
  });

  it('lets an instructor decline a request with a reason the client reads', async () => {
    expect((await form(cleo, '/shop/requests', { title: 'Crypto exchange', description: 'A trading platform for coins.', criteria: 'Trades settle' })).status).to.equal(303);
    expect((await form(ines, '/shop/requests/2/decline', { reason: '' })).status).to.equal(400);
    expect((await form(ines, '/shop/requests/2/decline', { reason: 'Out of scope for a training shop: handles money.' })).status).to.equal(303);
    expect((await get(cleo, '/shop/requests/2')).text).to.include('Declined: Out of scope for a training shop: handles money.');
    expect((await form(stan, '/shop/requests/2/accept', { scope: 'x', team: 'Falcon', members: 'ana_s1', lead: 'ines', milestones: '2026-12-01 x' })).status).to.equal(409);
    expect((await upload(cleo, '/shop/requests/2/attachments', PDF, 'late.pdf')).status).to.equal(409);
  });

  it('lets staff accept it: a team repository from the skeleton that only the team can push to', async () => {
    const triage = await get(stan, '/shop/requests/1');
    expect(triage.text).to.include('Accept and create the team repository');
    expect((await form(cleo, '/shop/requests/1/accept', { scope: 'x' })).status).to.equal(403);
    const accepted = await form(stan, '/shop/requests/1/accept', {
      scope: 'An order form and a kitchen list.', team: 'Falcon', members: 'ana_s1, bo_s2', lead: 'ines',
      milestones: '2026-12-01 Order form\n2027-01-15 Kitchen list', skeleton: 'node-web',
    });
    expect(accepted.status, await accepted.text()).to.equal(303);
    expect(accepted.headers.get('location')).to.match(/^\/shop\/projects\/1\?notice=/);
    const repo = s.system.git.get('team-falcon', 'bakery-orders');
    expect(repo).to.include({ ownerKind: 'team' });
    const users = (n: string) => s.system.accounts.require(n);
    expect(s.system.git.access(users('ana_s1'), 'team-falcon', 'bakery-orders')).to.equal('write');
    expect(s.system.git.access(users('zed_s3'), 'team-falcon', 'bakery-orders')).to.equal('none');
    expect(s.system.git.access(users('cleo'), 'team-falcon', 'bakery-orders')).to.equal('none');
    expect(s.system.git.access(users('ines'), 'team-falcon', 'bakery-orders')).to.equal('read');
    // What the git server enforces: the access file it reads.
    const access = JSON.parse(await readFile(s.system.git.paths.accessFile, 'utf8')) as { repos: Record<string, { read: string[]; write: string[] }> };
    expect(access.repos['team-falcon/bakery-orders']).to.deep.equal({ read: ['ines'], write: ['ana_s1', 'bo_s2'] });
    expect((await get(ines, '/shop/projects/1')).status).to.equal(200);
    expect((await get(carl, '/shop/projects/1')).status).to.equal(404);
    expect((await get(zed, '/shop/projects/1')).status).to.equal(404);
  });

  it('lets a team member push through the real git server, and refuses a student outside the team', async () => {
    repoDir = s.system.git.repoDir('team-falcon', 'bakery-orders');
    // The real git server on loopback, over Outpost's own repositories and access file. It runs as
    // root here, so its git waives the ownership check for the repositories the service uid owns.
    const wrapper = path.join(s.root, 'git-as-service');
    await writeFile(wrapper, '#!/bin/sh\nexec git -c safe.directory=* "$@"\n', { mode: 0o755 });
    await mkdir(s.system.git.paths.pushLogDir, { recursive: true });
    const server = await startGitServer({
      host: '127.0.0.1', port: 0, reposDir: s.system.git.paths.reposDir, accessFile: s.system.git.paths.accessFile,
      pushLog: path.join(s.system.git.paths.pushLogDir, 'git.jsonl'), maxPushBytes: 1024 * 1024, gitBinary: wrapper, log: silentLogger(),
    });
    gitServer = server;
    const url = async (user: string) => `http://${user}:${(await s.system.git.issueToken(user, 'e2e', { name: 'test' })).token}@127.0.0.1:${server.port}/team-falcon/bakery-orders.git`;
    work = path.join(s.root, 'work');
    await gitIn(s.root, 'clone', '--quiet', await url('ana_s1'), work);
    await writeFile(path.join(work, 'order.js'), '// TODO ask ana_s1 about prices\nexport const order = (item) => ({ item, status: "new" });\n');
    await gitIn(work, 'add', '.');
    await gitIn(work, 'commit', '--quiet', '-m', 'Order form');
    await gitIn(work, 'push', '--quiet', 'origin', 'main');
    commit = await gitIn(work, 'rev-parse', 'HEAD');
    // The server appends to its push log as the push ends; Outpost moves it into the audit log.
    let pushes = s.system.git.ingestPushes();
    for (let i = 0; i < 40 && pushes.length === 0; i++) { await new Promise((r) => setTimeout(r, 50)); pushes = s.system.git.ingestPushes(); }
    expect(pushes.map((p) => [p.user, `${p.owner}/${p.name}`])).to.deep.equal([['ana_s1', 'team-falcon/bakery-orders']]);
    // Outside the team: neither clone nor push, and the repository is unchanged.
    const zedUrl = await url('zed_s3');
    const clone = await gitIn(s.root, 'clone', '--quiet', zedUrl, path.join(s.root, 'zed')).then(() => 'cloned', (e: Error) => e.message);
    expect(clone).to.include('Repository team-falcon/bakery-orders not found');
    await gitIn(work, 'remote', 'add', 'zed', zedUrl);
    await writeFile(path.join(work, 'evil.js'), 'export {};\n');
    await gitIn(work, 'add', '.');
    await gitIn(work, 'commit', '--quiet', '-m', 'Not mine to push');
    const push = await gitIn(work, 'push', '--quiet', 'zed', 'HEAD:main').then(() => 'pushed', (e: Error) => e.message);
    expect(push).to.include('Repository team-falcon/bakery-orders not found');
    await gitIn(work, 'reset', '--quiet', '--hard', commit);
    expect((await run('git', ['-c', 'safe.directory=*', '--git-dir', repoDir, 'rev-parse', 'main'])).stdout.trim()).to.equal(commit);
  });

  it('lets a student mark a milestone ready with a pushed commit', async () => {
    const page = await get(ana, '/shop/projects/1');
    expect(page.text).to.include('Mark ready').and.include(commit.slice(0, 12));
    expect((await form(zed, '/shop/projects/1/milestones/1/ready', { commit })).status).to.equal(404);
    expect((await form(ana, '/shop/projects/1/milestones/1/ready', { commit: 'deadbeef' })).status).to.equal(404);
    const ready = await form(ana, '/shop/projects/1/milestones/1/ready', { branch: commit });
    expect(ready.status).to.equal(303);
    expect(s.system.shop.milestone(1, 1)).to.include({ status: 'ready', commit });
  });

  it('lets the client read the code, comment, ask for changes and then accept', async () => {
    const project = await get(cleo, '/shop/projects/1');
    expect(project.status).to.equal(200);
    expect(project.text).to.include('Team Falcon').and.include('Ready for review at commit').and.include('/shop/projects/1/milestones/1/preview');
    const tree = await get(cleo, '/shop/projects/1/code/1');
    expect(tree.text).to.include('order.js').and.include('server.js').and.include(commit);
    const blob = await get(cleo, '/shop/projects/1/code/1/order.js');
    expect(blob.text).to.include('TODO ask [redacted] about prices');
    // The live preview: the app at exactly that commit, in a sandbox, through a link bound to the client's session.
    const preview = await cleo.request('GET', '/shop/projects/1/milestones/1/preview', { accept: 'html' });
    expect(preview.status).to.equal(303);
    const link = preview.headers.get('location')!;
    expect(link).to.match(/^\/shop\/p\/[A-Za-z0-9_-]{32}\/$/);
    const app = await fetch(s.base + link);
    expect(app.status).to.equal(200);
    expect(await app.text()).to.include('It works');
    expect(app.headers.get('content-security-policy')).to.match(/^sandbox /);
    expect((await fetch(`${s.base}/shop/p/${'C'.repeat(32)}/`)).status, 'a made-up link').to.equal(404);
    expect((await carl.request('GET', '/shop/projects/1/code/1')).status).to.equal(404);
    expect((await carl.request('GET', '/shop/projects/1/milestones/1/preview')).status).to.equal(404);
    expect((await form(cleo, '/shop/projects/1/messages', { body: 'Could the form remember my last order?', milestone: '1' })).status).to.equal(303);
    expect((await form(ana, '/shop/projects/1/messages', { body: 'Yes, we will add that.', milestone: '1' })).status).to.equal(303);
    expect((await form(ana, '/shop/projects/1/messages', { body: 'Thanks! Ana Lima' })).status).to.equal(303);
    expect((await form(carl, '/shop/projects/1/messages', { body: 'hello?' })).status).to.equal(404);
    expect((await form(cleo, '/shop/projects/1/milestones/1/changes', { comment: 'Please remember the last order' })).status).to.equal(303);
    expect((await form(ana, '/shop/projects/1/milestones/1/ready', { commit })).status).to.equal(303);
    expect((await form(carl, '/shop/projects/1/milestones/1/accept')).status).to.equal(404);
    expect((await form(ana, '/shop/projects/1/milestones/1/accept')).status).to.equal(403);
    // A build runs for every package from now on, in a sandbox, on exactly the delivered commit.
    expect((await form(ana, '/shop/projects/1/build', { buildCommand: 'true', buildOutput: 'dist' })).status).to.equal(403);
    expect((await form(stan, '/shop/projects/1/build', { buildCommand: 'mkdir -p dist && cp server.js order.js dist/ && echo "built $(ls | wc -l) files" | tee dist/BUILT.txt', buildOutput: '../etc' })).status).to.equal(400);
    expect((await form(stan, '/shop/projects/1/build', { buildCommand: 'mkdir -p dist && cp server.js order.js dist/ && echo "built $(ls | wc -l) files" | tee dist/BUILT.txt', buildOutput: 'dist' })).status).to.equal(303);
    const accepted = await form(cleo, '/shop/projects/1/milestones/1/accept', { comment: 'Lovely' });
    expect(accepted.status).to.equal(303);
    const thread = await get(cleo, '/shop/projects/1');
    expect(thread.text).to.include('Yes, we will add that.').and.include('Team Falcon').and.include('Thanks! [redacted]');
    // All messages between client and team are visible to staff, with who wrote them.
    const all = await get(stan, '/shop/messages');
    expect(all.text).to.include('Could the form remember my last order?').and.include('Yes, we will add that.').and.include('ana_s1, student');
    expect((await cleo.request('GET', '/shop/messages')).status).to.equal(403);
    const staffView = await get(stan, '/shop/projects/1');
    expect(staffView.text).to.include('Could the form remember my last order?').and.include('Yes, we will add that.').and.include('Ana Lima (ana_s1)');
  });

  it('holds the package until staff approve it; then the client downloads a bundle that clones to the delivered files, as one commit', async () => {
    expect((await cleo.request('GET', '/shop/packages/1/download')).status).to.equal(404);
    expect((await get(cleo, '/shop/outbound/1')).status).to.equal(403);
    const review = await get(stan, '/shop/outbound/1');
    expect(review.status).to.equal(200);
    expect(review.text).to.include('possible mention').and.include('order.js').and.include('ana_s1').and.include('user name');
    expect(review.text).to.include('order.js').and.include('added').and.include('+export const order = (item)');
    expect((await form(stan, '/shop/outbound/1/approve', { note: '' })).status).to.equal(400);
    expect((await form(stan, '/shop/outbound/1/approve', { note: 'A to-do comment naming a team member; the team consented' })).status).to.equal(303);
    const pkg = s.system.shop.package(1)!;
    expect(pkg.status).to.equal('approved');
    expect((await carl.request('GET', '/shop/packages/1/download')).status).to.equal(404);
    expect((await ana.request('GET', '/shop/packages/1/download')).status).to.equal(404);
    const projectPage = await get(cleo, '/shop/projects/1');
    expect(projectPage.text).to.include('/shop/packages/1/download').and.include(pkg.sha256);
    const res = await cleo.request('GET', '/shop/packages/1/download');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-disposition')).to.match(/^attachment; filename="?bakery-orders-[0-9a-f]{12}\.bundle"?$/);
    const data = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(data).digest('hex')).to.equal(pkg.sha256);
    expect(res.headers.get('repr-digest')).to.equal(`sha-256=:${createHash('sha256').update(data).digest('base64')}:`);
    const bundle = path.join(s.root, 'delivery.bundle');
    await writeFile(bundle, data);
    const clone = path.join(s.root, 'delivered');
    await gitIn(s.root, 'clone', '--quiet', bundle, clone);
    // One new commit of the delivered tree: none of the team's history (their commits, author lines) leaves.
    expect(await gitIn(clone, 'rev-parse', 'HEAD')).to.equal(pkg.bundleCommit);
    expect(await gitIn(clone, 'rev-parse', 'HEAD^{tree}')).to.equal((await run('git', ['-c', 'safe.directory=*', '--git-dir', repoDir, 'rev-parse', `${commit}^{tree}`])).stdout.trim());
    expect(await gitIn(clone, 'rev-list', '--all', '--count')).to.equal('1');
    expect(await gitIn(clone, 'log', '--format=%an <%ae>|%cn <%ce>')).to.equal('Team Falcon <team-falcon@shop.invalid>|The Last Mile Works <outbound@shop.invalid>');
    // The build came with it: made from that commit, its checksum on record, released with the bundle.
    expect(review.text).to.include('download to check').and.include('built ');
    expect(pkg.build).to.not.equal(null);
    const build = await cleo.request('GET', '/shop/packages/1/build');
    expect(build.status).to.equal(200);
    const archive = Buffer.from(await build.arrayBuffer());
    expect(createHash('sha256').update(archive).digest('hex')).to.equal(pkg.build!.sha256);
    await writeFile(path.join(s.root, 'build.tar.gz'), archive);
    const { stdout: listing } = await run('tar', ['-tzf', path.join(s.root, 'build.tar.gz')]);
    expect(listing.split('\n').map((l) => l.replace(/^\.\//, '')).filter(Boolean).sort()).to.deep.equal(['', 'BUILT.txt', 'order.js', 'server.js'].filter(Boolean).sort());
    expect((await carl.request('GET', '/shop/packages/1/build')).status).to.equal(404);
    const actions = s.system.audit.query({ limit: 500 }).entries.map((e) => e.action);
    for (const a of ['shop.request.create', 'shop.attachment.add', 'shop.request.accept', 'git.repo.create', 'shop.milestone.ready', 'shop.milestone.changes-requested', 'shop.milestone.accept', 'shop.package.create', 'shop.package.approve', 'shop.package.download', 'shop.message']) {
      expect(actions, a).to.include(a);
    }
  });

  it('starts one preview container for concurrent first requests of a deliverable', async () => {
    await writeFile(path.join(work, 'kitchen.js'), 'export const kitchen = () => [];\n');
    await gitIn(work, 'add', '.');
    await gitIn(work, 'commit', '--quiet', '-m', 'Kitchen list');
    await gitIn(work, 'push', '--quiet', 'origin', 'main');
    const next = await gitIn(work, 'rev-parse', 'HEAD');
    expect((await form(ana, '/shop/projects/1/milestones/2/ready', { branch: next })).status).to.equal(303);
    const previews = async () => (await s.system.docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${s.config.instance}`, `${LABEL.kind}=oneshot`] } })).map((c) => c.Id);
    const before = await previews();
    // Everyone opens it at once: the client twice (two tabs), the lead instructor, staff.
    const opened = await Promise.all([cleo, cleo, ines, stan].map((c) => c.request('GET', '/shop/projects/1/milestones/2/preview', { accept: 'html' })));
    expect(opened.map((r) => r.status)).to.deep.equal([303, 303, 303, 303]);
    const started = (await previews()).filter((id) => !before.includes(id));
    expect(started, 'containers started for one (project, commit)').to.have.length(1);
    const app = await fetch(s.base + opened[0]!.headers.get('location')!);
    expect(app.status).to.equal(200);
  });

  it('takes hours within the daily limit and reports them as CSV to staff only', async () => {
    const day = new Date().toISOString().slice(0, 10);
    expect((await form(ana, '/shop/hours', { project: '1', day, hours: '10', note: 'order form' })).status).to.equal(303);
    const over = await form(ana, '/shop/hours', { project: '1', day, hours: '6.5' });
    expect(over.status).to.equal(400);
    expect(await over.text()).to.include('at most 16');
    expect((await form(ana, '/shop/hours', { project: '1', day, hours: '0' })).status).to.equal(400);
    expect((await form(zed, '/shop/hours', { project: '1', day, hours: '1' })).status).to.equal(404);
    const mine = await get(ana, '/shop/hours');
    expect(mine.text).to.include('order form');
    const csv = await stan.request('GET', '/shop/reports/hours-by-student.csv');
    expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
    expect((await csv.text()).split('\r\n').slice(0, 2)).to.deep.equal(['student,display_name,person_number,project_id,project,days,hours', 'ana_s1,Ana Lima,P-4711,1,Bakery orders,1,10']);
    const byProject = await (await stan.request('GET', '/shop/reports/hours-by-project.csv')).text();
    expect(byProject).to.include('1,Bakery orders,team-falcon,ana_s1,1,10');
    expect((await cleo.request('GET', '/shop/reports/hours-by-student.csv')).status).to.equal(403);
    expect((await ana.request('GET', '/shop/reports')).status).to.equal(403);
  });

  it("never shows a client another client's project, a workspace, or any student's identity", async () => {
    for (const url of ['/', '/shop', '/git', '/learn', '/account/tokens', '/shop/requests/1', '/shop/requests/2']) expect((await get(cleo, url)).status, url).to.equal(200);
    expect((await cleo.request('GET', '/git/team-falcon/bakery-orders')).status).to.equal(404);
    expect((await cleo.request('GET', '/git/team-falcon/bakery-orders/commits/main')).status).to.equal(404);
    expect((await cleo.request('GET', '/api/workspaces/ana_s1/files')).status).to.equal(403);
    const carlHome = await get(carl, '/shop');
    expect(carlHome.text).to.not.include('Bakery orders');
    expect(clientPages.length).to.be.greaterThan(8);
    for (const p of clientPages) expectNoStudentIdentity(p.text, p.url);
    // Consent is the student's own choice, and the only way a name reaches the client.
    expect((await form(ana, '/shop/projects/1/consent', { show: '1' })).status).to.equal(303);
    const consented = (await get(cleo, '/shop/projects/1')).text;
    expect(consented).to.include('Ana Lima (Team Falcon)').and.include('Thanks! Ana Lima');
    expect((await form(ana, '/shop/projects/1/consent', { show: '0' })).status).to.equal(303);
    expectNoStudentIdentity((await get(cleo, '/shop/projects/1')).text, 'project after withdrawn consent');
  });
});
