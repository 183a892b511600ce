/**
 * The git server against the real git client on loopback: protocols v0 and v2, shallow clones,
 * permissions, the push size limit, concurrent pushes, hostile input, and one user's slow requests
 * against everyone else's.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { silentLogger } from '../../core/log.ts';
import { hashToken, type AccessFile } from './access.ts';
import { pktLine, startGitServer } from './server.ts';

const execFileP = promisify(execFile);

interface Run { code: number; stdout: string; stderr: string }

async function git(cwd: string, ...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP('git', ['-c', 'safe.directory=*', ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: cwd, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@x' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function ok(cwd: string, ...args: string[]): Promise<string> {
  const r = await git(cwd, ...args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function request(port: number, method: string, urlPath: string, headers: Record<string, string>, body?: Buffer | string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('git server (smart HTTP, real git client)', function () {
  this.timeout(120_000);
  let root: string;
  let server: Awaited<ReturnType<typeof startGitServer>>;
  let access: AccessFile;
  const tokens = { alice: `opt_${randomBytes(24).toString('base64url')}`, bob: `opt_${randomBytes(24).toString('base64url')}`, carol: `opt_${randomBytes(24).toString('base64url')}` };
  const url = (user: keyof typeof tokens | undefined, repo: string) => `http://${user ? `${user}:${tokens[user]}@` : ''}127.0.0.1:${server.port}/${repo}.git`;
  const basic = (user: keyof typeof tokens) => `Basic ${Buffer.from(`${user}:${tokens[user]}`).toString('base64')}`;

  async function writeAccess(): Promise<void> {
    await writeFile(path.join(root, 'access.json.tmp'), JSON.stringify(access));
    await execFileP('mv', [path.join(root, 'access.json.tmp'), path.join(root, 'access.json')]);
  }

  async function bareRepo(repo: string): Promise<string> {
    const dir = path.join(root, 'repos', `${repo}.git`);
    await mkdir(dir, { recursive: true });
    await ok(dir, 'init', '--bare', '--initial-branch=main', '.');
    return dir;
  }

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-git-'));
    access = {
      version: 1,
      tokens: Object.fromEntries(Object.entries(tokens).map(([user, token]) => [hashToken(token), user])),
      readAll: ['carol'],
      repos: { 'alice/hello': { read: ['bob'], write: ['alice'] }, 'alice/big': { read: [], write: ['alice'] }, 'alice/race': { read: [], write: ['alice'] } },
    };
    await writeAccess();
    for (const repo of ['alice/hello', 'alice/big', 'alice/race', 'bob/secret']) await bareRepo(repo);
    server = await startGitServer({ host: '127.0.0.1', port: 0, reposDir: path.join(root, 'repos'), accessFile: path.join(root, 'access.json'), pushLog: path.join(root, 'push.jsonl'), maxPushBytes: 256 * 1024, log: silentLogger(), maxConcurrentPerUser: 8 });
  });

  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lets the owner push, and clones over protocol v0, v2 and shallow', async () => {
    const work = path.join(root, 'w-alice');
    await ok(root, 'clone', url('alice', 'alice/hello'), work);
    await writeFile(path.join(work, 'README.md'), '# Hello\n');
    await ok(work, 'add', '.');
    await ok(work, 'commit', '-m', 'first');
    for (let i = 0; i < 3; i++) {
      await writeFile(path.join(work, `f${i}.txt`), `${i}\n`);
      await ok(work, 'add', '.');
      await ok(work, 'commit', '-m', `commit ${i}`);
    }
    await ok(work, 'push', 'origin', 'main');
    const head = (await ok(work, 'rev-parse', 'HEAD')).trim();
    for (const version of ['0', '2']) {
      const dest = path.join(root, `v${version}`);
      const r = await git(root, '-c', `protocol.version=${version}`, 'clone', url('alice', 'alice/hello'), dest);
      expect(r.code, r.stderr).to.equal(0);
      expect((await ok(dest, 'rev-parse', 'HEAD')).trim()).to.equal(head);
    }
    const shallow = path.join(root, 'shallow');
    await ok(root, 'clone', '--depth', '1', url('alice', 'alice/hello'), shallow);
    expect((await ok(shallow, 'rev-list', '--count', 'HEAD')).trim()).to.equal('1');
    const log = (await readFile(path.join(root, 'push.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { user: string; repo: string; updates: { ref: string; old: string; new: string }[] });
    expect(log.at(-1)).to.deep.include({ user: 'alice', repo: 'alice/hello' });
    expect(log.at(-1)!.updates).to.deep.equal([{ ref: 'refs/heads/main', old: '0'.repeat(40), new: head }]);
  });

  it('lets a reader clone and fetch but not push, and says why', async () => {
    const work = path.join(root, 'w-bob');
    await ok(root, 'clone', url('bob', 'alice/hello'), work);
    await writeFile(path.join(work, 'x.txt'), 'x\n');
    await ok(work, 'add', '.');
    await ok(work, 'commit', '-m', 'not mine');
    const push = await git(work, 'push', 'origin', 'main');
    expect(push.code).to.not.equal(0);
    expect(push.stderr).to.match(/may read alice\/hello but not push/);
    // Staff read every repository.
    expect((await git(root, 'ls-remote', url('carol', 'alice/hello'))).code).to.equal(0);
  });

  it('answers 404 to a signed-in user without access and 401 to anonymous callers, existing repo or not', async () => {
    const hidden = await git(root, 'ls-remote', url('bob', 'bob/secret'));
    expect(hidden.code).to.not.equal(0);
    expect(hidden.stderr).to.match(/not found/i);
    expect((await request(server.port, 'GET', '/alice/big.git/info/refs?service=git-upload-pack', { authorization: basic('bob') })).status).to.equal(404);
    expect((await request(server.port, 'GET', '/alice/nothing.git/info/refs?service=git-upload-pack', { authorization: basic('bob') })).status).to.equal(404);
    for (const repo of ['alice/hello', 'alice/nothing']) {
      const anonymous = await request(server.port, 'GET', `/${repo}.git/info/refs?service=git-upload-pack`, {});
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers['www-authenticate']).to.match(/^Basic/);
    }
    const anonymousClone = await git(root, 'clone', url(undefined, 'alice/hello'), path.join(root, 'anon'));
    expect(anonymousClone.code).to.not.equal(0);
    const wrongToken = await request(server.port, 'GET', '/alice/hello.git/info/refs?service=git-upload-pack', { authorization: `Basic ${Buffer.from('alice:opt_wrong').toString('base64')}` });
    expect(wrongToken.status).to.equal(401);
    expect(wrongToken.body).to.match(/not valid/);
    const borrowed = await request(server.port, 'GET', '/alice/hello.git/info/refs?service=git-upload-pack', { authorization: `Basic ${Buffer.from(`alice:${tokens.bob}`).toString('base64')}` });
    expect(borrowed.status).to.equal(401);
  });

  it('refuses a push over the size limit with a clear message and leaves the repository unchanged', async () => {
    const work = path.join(root, 'w-big');
    await ok(root, 'clone', url('alice', 'alice/big'), work);
    await writeFile(path.join(work, 'small.txt'), 'small\n');
    await ok(work, 'add', '.');
    await ok(work, 'commit', '-m', 'small');
    await ok(work, 'push', 'origin', 'main');
    const before = (await ok(root, 'ls-remote', url('alice', 'alice/big'))).trim();
    await writeFile(path.join(work, 'big.bin'), randomBytes(1024 * 1024));
    await ok(work, 'add', '.');
    await ok(work, 'commit', '-m', 'big');
    const push = await git(work, 'push', 'origin', 'main');
    expect(push.code).to.not.equal(0);
    expect(push.stderr).to.match(/pack exceeds maximum allowed size|too large/i);
    expect((await ok(root, 'ls-remote', url('alice', 'alice/big'))).trim()).to.equal(before);
    await ok(path.join(root, 'repos', 'alice', 'big.git'), 'fsck', '--no-progress');
  });

  it('keeps one branch consistent under concurrent pushes', async () => {
    const seed = path.join(root, 'race-seed');
    await ok(root, 'clone', url('alice', 'alice/race'), seed);
    await writeFile(path.join(seed, 'base.txt'), 'base\n');
    await ok(seed, 'add', '.');
    await ok(seed, 'commit', '-m', 'base');
    await ok(seed, 'push', 'origin', 'main');
    const clones: string[] = [];
    for (let i = 0; i < 4; i++) {
      const dir = path.join(root, `race-${i}`);
      await ok(root, 'clone', url('alice', 'alice/race'), dir);
      await writeFile(path.join(dir, `mine-${i}.txt`), randomBytes(2000).toString('hex'));
      await ok(dir, 'add', '.');
      await ok(dir, 'commit', '-m', `racer ${i}`);
      clones.push(dir);
    }
    const results = await Promise.all(clones.map((dir) => git(dir, 'push', 'origin', 'main')));
    const winners = results.map((r, i) => ({ r, i })).filter(({ r }) => r.code === 0);
    expect(winners).to.have.length(1);
    const tip = (await ok(root, 'ls-remote', url('alice', 'alice/race'), 'refs/heads/main')).split('\t')[0];
    expect(tip).to.equal((await ok(clones[winners[0]!.i]!, 'rev-parse', 'HEAD')).trim());
    await ok(path.join(root, 'repos', 'alice', 'race.git'), 'fsck', '--no-progress');
  });

  it('refuses malformed pkt-lines, wrong content types and hostile names without crashing', async () => {
    const auth = { authorization: basic('alice') };
    const garbage = await request(server.port, 'POST', '/alice/hello.git/git-upload-pack', { ...auth, 'content-type': 'application/x-git-upload-pack-request' }, 'zzzz this is not a pkt-line');
    expect(garbage.status).to.equal(400);
    expect(garbage.body).to.match(/bad pkt-line length/);
    const tooLong = await request(server.port, 'POST', '/alice/hello.git/git-upload-pack', { ...auth, 'content-type': 'application/x-git-upload-pack-request' }, 'ffff' + 'a'.repeat(100));
    expect(tooLong.status).to.equal(400);
    const truncated = await request(server.port, 'POST', '/alice/hello.git/git-upload-pack', { ...auth, 'content-type': 'application/x-git-upload-pack-request' }, pktLine('want ' + 'a'.repeat(40) + '\n').slice(0, 20));
    expect(truncated.status).to.equal(400);
    const pushGarbage = await request(server.port, 'POST', '/alice/hello.git/git-receive-pack', { ...auth, 'content-type': 'application/x-git-receive-pack-request' }, '00zz');
    expect(pushGarbage.status).to.equal(400);
    const wrongType = await request(server.port, 'POST', '/alice/hello.git/git-upload-pack', { ...auth, 'content-type': 'text/plain' }, '0000');
    expect(wrongType.status).to.equal(415);
    for (const hostile of [
      '/../repos/alice/hello.git/info/refs?service=git-upload-pack',
      '/alice/..%2fhello.git/info/refs?service=git-upload-pack',
      '/alice/%2e%2e.git/info/refs?service=git-upload-pack',
      '/alice/-upload.git/info/refs?service=git-upload-pack',
      '/alice/hello.git/info/refs?service=git-upload-archive',
      '/alice/hello.git/info/refs',
      '/alice/hello.git/HEAD',
      '/alice/hello.git/objects/info/packs',
      '/ALICE/hello.git/info/refs?service=git-upload-pack',
      '/alice/hello..git/info/refs?service=git-upload-pack',
      '/alice/hello.git/../../bob/secret.git/info/refs?service=git-upload-pack',
    ]) {
      const r = await request(server.port, 'GET', hostile, auth);
      expect(r.status, hostile).to.equal(404);
    }
    // Still serving.
    expect((await git(root, 'ls-remote', url('alice', 'alice/hello'))).code).to.equal(0);
  });
});

describe('git server fairness (one user cannot hold up everyone)', function () {
  this.timeout(60_000);
  let root: string;
  const servers: Awaited<ReturnType<typeof startGitServer>>[] = [];
  const sockets: net.Socket[] = [];
  const tokens = { alice: `opt_${randomBytes(24).toString('base64url')}`, mallory: `opt_${randomBytes(24).toString('base64url')}` };
  const basic = (user: keyof typeof tokens) => `Basic ${Buffer.from(`${user}:${tokens[user]}`).toString('base64')}`;

  async function start(options: { maxConcurrent?: number; maxConcurrentPerUser?: number; bodyTimeoutSeconds?: number }) {
    const server = await startGitServer({ host: '127.0.0.1', port: 0, reposDir: path.join(root, 'repos'), accessFile: path.join(root, 'access.json'), pushLog: path.join(root, 'push.jsonl'), maxPushBytes: 1 << 20, log: silentLogger(), ...options });
    servers.push(server);
    return server;
  }

  /** An upload-pack POST whose body starts and then never finishes; resolves with whatever the server answers. */
  function slowPost(port: number, user: keyof typeof tokens, repo: string): { answer: Promise<string> } {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.write(`POST /${repo}.git/git-upload-pack HTTP/1.1\r\nHost: git\r\nAuthorization: ${basic(user)}\r\nContent-Type: application/x-git-upload-pack-request\r\nTransfer-Encoding: chunked\r\n\r\n`);
    socket.write('4\r\n0032\r\n');
    // A byte now and then, as an attacker keeping idle timers quiet would.
    const drip = setInterval(() => socket.write('1\r\nw\r\n'), 200);
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('utf8'); });
    socket.on('error', () => undefined);
    const answer = new Promise<string>((resolve) => socket.on('close', () => { clearInterval(drip); resolve(received); }));
    return { answer };
  }

  const infoRefs = (port: number, user: keyof typeof tokens, repo: string) =>
    Promise.race([
      request(port, 'GET', `/${repo}.git/info/refs?service=git-upload-pack`, { authorization: basic(user) }),
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000)),
    ]);

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-git-fair-'));
    const access: AccessFile = {
      version: 1,
      tokens: Object.fromEntries(Object.entries(tokens).map(([user, token]) => [hashToken(token), user])),
      readAll: [],
      repos: { 'alice/a': { read: [], write: ['alice'] }, 'mallory/m': { read: [], write: ['mallory'] } },
    };
    await writeFile(path.join(root, 'access.json'), JSON.stringify(access));
    for (const repo of ['alice/a', 'mallory/m']) {
      const dir = path.join(root, 'repos', `${repo}.git`);
      await mkdir(dir, { recursive: true });
      await ok(dir, 'init', '--bare', '--initial-branch=main', '.');
    }
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  after(async () => {
    for (const server of servers) await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers other users at once while one user holds 8 slow fetches, and refuses that user past their share', async () => {
    const server = await start({});
    const slow = Array.from({ length: 8 }, () => slowPost(server.port, 'mallory', 'mallory/m'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.service.busy, 'mallory keeps only her share').to.equal(2);
    const started = Date.now();
    const alice = await infoRefs(server.port, 'alice', 'alice/a');
    expect(alice.status).to.equal(200);
    expect(Date.now() - started).to.be.below(2000);
    // Past her share, mallory is told so at once, with when to try again.
    const refused = (await Promise.race([Promise.all(slow.slice(2).map((s) => s.answer)), new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 2000))]));
    expect(refused).to.have.length(6);
    for (const answer of refused) {
      expect(answer).to.match(/^HTTP\/1\.1 429/);
      expect(answer).to.match(/\r\nretry-after: \d+\r\n/i);
      expect(answer).to.match(/each account may run 2 at once/);
    }
    const again = await infoRefs(server.port, 'mallory', 'mallory/m');
    expect(again.status).to.equal(429);
  });

  it('takes a git process only once the body has arrived, and gives up on a body that does not', async () => {
    // One git process for everyone: a slow body must not be holding it.
    const server = await start({ maxConcurrent: 1, bodyTimeoutSeconds: 1 });
    const slow = slowPost(server.port, 'mallory', 'mallory/m');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await infoRefs(server.port, 'alice', 'alice/a')).status).to.equal(200);
    const started = Date.now();
    const answer = await slow.answer;
    expect(answer).to.match(/^HTTP\/1\.1 408/);
    expect(answer).to.match(/did not arrive in time/);
    expect(Date.now() - started).to.be.below(3000);
    expect(server.service.busy).to.equal(0);
    // The share is back: a real fetch works.
    expect((await git(root, 'ls-remote', `http://mallory:${tokens.mallory}@127.0.0.1:${server.port}/mallory/m.git`)).code).to.equal(0);
  });
});
