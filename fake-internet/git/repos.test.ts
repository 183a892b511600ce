import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, rm, writeFile, symlink, chmod, readFile, lstat, readlink, readdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isOutpostError } from '../../core/errors.ts';
import {
  createRepoFromTemplate, initBareRepo, isEmptyRepo, headBranch, listBranches, listTags, resolveRef, readCommit,
  listCommits, readTreeAt, readBlobAt, diffCommits, diffCommit, exportCommit, validateRepoPath, isValidRefName,
} from './repos.ts';

const run = promisify(execFile);

/** The stock git binary with no user or system config, so the machine's settings cannot change a result. */
async function gitCli(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' };
  const { stdout } = await run('git', ['-c', 'user.name=Test Person', '-c', 'user.email=test@outpost.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The git CLI with bytes on stdin (for writing objects by hand). */
function gitInput(cwd: string, input: Buffer, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`git ${args.join(' ')} exited ${code}`))));
    child.stdin.end(input);
  });
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...await listFiles(dir, p));
    else out.push(p);
  }
  return out.sort();
}

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(isOutpostError(error), String(error)).to.equal(true);
    expect((error as { code: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

const AUTHOR = { name: 'Outpost Curriculum', email: 'curriculum@outpost.invalid', timestamp: 1_700_000_000 };

describe('git repositories (isomorphic-git on bare repos, checked against the git CLI)', function () {
  let tmp: string;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'outpost-repos-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });

  describe('a repository from a template', () => {
    let bare: string;
    let template: string;
    let commit: string;
    let skipped: string[];
    let socketServer: net.Server;

    before(async () => {
      template = path.join(tmp, 'template');
      await mkdir(path.join(template, 'src', 'lib'), { recursive: true });
      await mkdir(path.join(template, 'empty'));
      await mkdir(path.join(template, '.git'));
      await writeFile(path.join(template, '.git', 'config'), '[core]\n');
      await writeFile(path.join(template, 'README.md'), '# Hello\n\nStarter files.\n');
      await writeFile(path.join(template, 'src', 'lib', 'sum.ts'), 'export const sum = (a: number, b: number) => a + b;\n');
      await writeFile(path.join(template, 'run.sh'), '#!/bin/sh\necho hi\n');
      await chmod(path.join(template, 'run.sh'), 0o755);
      await symlink('README.md', path.join(template, 'link-in'));
      await symlink('/etc/passwd', path.join(template, 'link-abs'));
      await symlink('../../outside', path.join(template, 'link-out'));
      await run('mkfifo', [path.join(template, 'fifo')]);
      socketServer = net.createServer();
      await new Promise<void>((resolve) => socketServer.listen(path.join(template, 'sock'), resolve));
      bare = path.join(tmp, 'repos', 'alice', 'hello.git');
      ({ commit, skipped } = await createRepoFromTemplate(bare, template, { author: AUTHOR, message: 'Starter files' }));
    });
    after(() => { socketServer.close(); });

    it('is a bare repository the git CLI accepts, with no hooks and core.bare=true', async () => {
      expect((await gitCli(bare, 'rev-parse', '--is-bare-repository')).trim()).to.equal('true');
      expect((await gitCli(bare, 'config', 'core.bare')).trim()).to.equal('true');
      expect(await lstat(path.join(bare, 'hooks')).catch(() => undefined)).to.equal(undefined);
      await gitCli(bare, 'fsck', '--strict', '--no-dangling');
      expect((await gitCli(bare, 'symbolic-ref', 'HEAD')).trim()).to.equal('refs/heads/main');
    });

    it('leaves out special files, .git and links that leave the template, and keeps the rest', async () => {
      expect(skipped.sort()).to.deep.equal(['.git', 'fifo', 'link-abs', 'link-out', 'sock']);
    });

    it('clones with `git clone` as one commit holding the files, executable bit and inner symlink kept', async () => {
      const work = path.join(tmp, 'clone-a');
      await gitCli(tmp, 'clone', '-q', bare, work);
      expect((await gitCli(work, 'rev-list', '--count', 'HEAD')).trim()).to.equal('1');
      expect((await gitCli(work, 'rev-parse', 'HEAD')).trim()).to.equal(commit);
      expect((await gitCli(work, 'log', '-1', '--format=%an <%ae>|%at|%s')).trim()).to.equal('Outpost Curriculum <curriculum@outpost.invalid>|1700000000|Starter files');
      expect(await readFile(path.join(work, 'src', 'lib', 'sum.ts'), 'utf8')).to.contain('export const sum');
      expect((await lstat(path.join(work, 'run.sh'))).mode & 0o111).to.not.equal(0);
      expect((await lstat(path.join(work, 'README.md'))).mode & 0o111).to.equal(0);
      expect(await readlink(path.join(work, 'link-in'))).to.equal('README.md');
      expect((await readdir(work)).sort()).to.deep.equal(['.git', 'README.md', 'link-in', 'run.sh', 'src']);
      expect((await gitCli(work, 'ls-files', '-s')).split('\n').filter(Boolean).map((l) => `${l.split(' ')[0]} ${l.split('\t')[1]}`)).to.deep.equal([
        '100644 README.md', '120000 link-in', '100755 run.sh', '100644 src/lib/sum.ts',
      ]);
    });

    it('takes a push from the git CLI (git receive-pack) and reads the pushed commit back', async () => {
      const work = path.join(tmp, 'clone-a');
      await writeFile(path.join(work, 'answer.txt'), '42\n');
      await gitCli(work, 'add', 'answer.txt');
      await gitCli(work, 'commit', '-q', '-m', 'Answer');
      await gitCli(work, 'push', '-q', 'origin', 'main');
      const pushed = (await gitCli(work, 'rev-parse', 'HEAD')).trim();
      expect((await resolveRef(bare, 'main')).oid).to.equal(pushed);
      expect((await readBlobAt(bare, pushed, 'answer.txt')).content.toString()).to.equal('42\n');
    });

    it('refuses to write over an existing repository and cleans up after a bad template', async () => {
      await rejects(createRepoFromTemplate(bare, template, { author: AUTHOR }), 'GIT_REPO_EXISTS');
      const missing = path.join(tmp, 'repos', 'x', 'y.git');
      await rejects(createRepoFromTemplate(missing, path.join(tmp, 'no-such-template'), { author: AUTHOR }), 'GIT_TEMPLATE_INVALID');
      await rejects(createRepoFromTemplate(missing, template, { author: AUTHOR, maxFiles: 1 }), 'GIT_TEMPLATE_INVALID');
      expect(await lstat(missing).catch(() => undefined)).to.equal(undefined);
    });
  });

  describe('an empty repository', () => {
    it('has HEAD on main, clones empty, and takes a first push', async () => {
      const bare = path.join(tmp, 'empty.git');
      await initBareRepo(bare);
      expect(await isEmptyRepo(bare)).to.equal(true);
      expect(await headBranch(bare)).to.equal('main');
      await rejects(resolveRef(bare, 'HEAD'), 'GIT_REF_NOT_FOUND');
      await rejects(readTreeAt(bare, 'main'), 'GIT_REF_NOT_FOUND');
      const work = path.join(tmp, 'empty-clone');
      await gitCli(tmp, 'clone', '-q', bare, work);
      await writeFile(path.join(work, 'a.txt'), 'a\n');
      await gitCli(work, 'add', '.');
      await gitCli(work, 'commit', '-q', '-m', 'first');
      await gitCli(work, 'push', '-q', 'origin', 'main');
      expect(await isEmptyRepo(bare)).to.equal(false);
      expect((await resolveRef(bare, 'HEAD')).name).to.equal('main');
      await rejects(initBareRepo(bare), 'GIT_REPO_EXISTS');
      await rejects(initBareRepo(path.join(tmp, 'bad.git'), { defaultBranch: '../x' }), 'GIT_REF_INVALID');
    });
  });

  describe('history written by the git CLI, packed by git gc', () => {
    let bare: string;
    let work: string;
    let shas: string[];

    before(async () => {
      bare = path.join(tmp, 'hist.git');
      work = path.join(tmp, 'hist-work');
      await gitCli(tmp, 'init', '-q', '--bare', bare);
      await gitCli(tmp, 'init', '-q', work);
      const commitFile = async (file: string, content: string | Buffer, message: string) => {
        await mkdir(path.dirname(path.join(work, file)), { recursive: true });
        await writeFile(path.join(work, file), content);
        await gitCli(work, 'add', '-A');
        await gitCli(work, 'commit', '-q', '-m', message);
      };
      await commitFile('README.md', '# Project\n\nSee [docs](docs/guide.md).\n', 'c1: readme');
      await commitFile('src/app.js', Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n') + '\n', 'c2: app');
      await commitFile('docs/guide.md', 'Guide\n', 'c3: guide');
      await gitCli(work, 'tag', '-a', 'v1.0', '-m', 'release one');
      await gitCli(work, 'tag', 'light');
      await commitFile('src/app.js', Array.from({ length: 40 }, (_, i) => (i === 9 ? 'line ten, changed' : `line ${i + 1}`)).join('\n') + '\nline 41\n', 'c4: change app');
      await commitFile('img/logo.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 0]), 'c5: binary');
      await rm(path.join(work, 'docs', 'guide.md'));
      await commitFile('notes.txt', 'notes\n', 'c6: remove guide, add notes');
      await gitCli(work, 'checkout', '-q', '-b', 'feature/login');
      await commitFile('src/login.js', 'login()\n', 'c7: login');
      await gitCli(work, 'checkout', '-q', 'main');
      await gitCli(work, 'remote', 'add', 'origin', bare);
      await gitCli(work, 'push', '-q', 'origin', 'main', 'feature/login', '--tags');
      await gitCli(bare, 'gc', '-q', '--aggressive', '--prune=now');
      shas = (await gitCli(bare, 'log', '--format=%H', 'main')).trim().split('\n');
    });

    it('has only packed objects after git gc', async () => {
      const loose = (await readdir(path.join(bare, 'objects'))).filter((d) => /^[0-9a-f]{2}$/.test(d));
      expect(loose).to.deep.equal([]);
      expect((await readdir(path.join(bare, 'objects', 'pack'))).some((f) => f.endsWith('.pack'))).to.equal(true);
    });

    it('lists branches and tags, annotated tags peeled to their commit', async () => {
      expect(await listBranches(bare)).to.deep.equal([{ name: 'feature/login', oid: (await gitCli(bare, 'rev-parse', 'feature/login')).trim() }, { name: 'main', oid: shas[0] }]);
      const c3 = (await gitCli(bare, 'rev-parse', 'v1.0^{commit}')).trim();
      expect(await listTags(bare)).to.deep.equal([{ name: 'light', oid: c3 }, { name: 'v1.0', oid: c3 }]);
    });

    it('resolves branches, tags, full refs, HEAD and full or abbreviated commit ids', async () => {
      const c3 = shas[3]!;
      expect(await resolveRef(bare, 'main')).to.deep.equal({ oid: shas[0], kind: 'branch', name: 'main' });
      expect(await resolveRef(bare, 'refs/heads/feature/login')).to.include({ kind: 'branch', name: 'feature/login' });
      expect(await resolveRef(bare, 'v1.0')).to.deep.equal({ oid: c3, kind: 'tag', name: 'v1.0' });
      expect(await resolveRef(bare, 'HEAD')).to.deep.equal({ oid: shas[0], kind: 'branch', name: 'main' });
      expect(await resolveRef(bare, c3)).to.deep.equal({ oid: c3, kind: 'commit', name: c3 });
      expect(await resolveRef(bare, c3.slice(0, 7))).to.deep.equal({ oid: c3, kind: 'commit', name: c3 });
      await rejects(resolveRef(bare, 'nope'), 'GIT_REF_NOT_FOUND');
      await rejects(resolveRef(bare, '0000000'), 'GIT_REF_NOT_FOUND');
      await rejects(resolveRef(bare, '0'.repeat(40)), 'GIT_REF_NOT_FOUND');
      // A tree id is an object, but not a commit.
      await rejects(resolveRef(bare, (await gitCli(bare, 'rev-parse', 'main^{tree}')).trim()), 'GIT_REF_NOT_FOUND');
    });

    it('reads commits with paging and by path, as git log does', async () => {
      const first = await listCommits(bare, 'main', { limit: 2 });
      expect(first.commits.map((c) => c.oid)).to.deep.equal(shas.slice(0, 2));
      expect(first.hasMore).to.equal(true);
      const last = await listCommits(bare, 'main', { limit: 4, skip: 4 });
      expect(last.commits.map((c) => c.oid)).to.deep.equal(shas.slice(4));
      expect(last.hasMore).to.equal(false);
      const byPath = await listCommits(bare, 'main', { path: 'src/app.js' });
      expect(byPath.commits.map((c) => c.oid)).to.deep.equal((await gitCli(bare, 'log', '--format=%H', 'main', '--', 'src/app.js')).trim().split('\n'));
      const c = await readCommit(bare, 'main');
      expect(c.subject).to.equal('c6: remove guide, add notes');
      expect(c.author).to.include({ name: 'Test Person', email: 'test@outpost.invalid' });
      expect(c.parents).to.deep.equal([shas[1]]);
    });

    it('reads trees and blobs at any ref and path', async () => {
      const root = await readTreeAt(bare, 'main');
      expect(root.entries.map((e) => `${e.type}:${e.path}`)).to.deep.equal(['tree:img', 'tree:src', 'blob:README.md', 'blob:notes.txt']);
      expect((await readTreeAt(bare, 'v1.0', 'docs')).entries.map((e) => e.path)).to.deep.equal(['docs/guide.md']);
      expect((await readTreeAt(bare, 'feature/login', 'src/')).entries.map((e) => e.name)).to.deep.equal(['app.js', 'login.js']);
      const blob = await readBlobAt(bare, 'v1.0', 'src/app.js');
      expect(blob.content.toString()).to.equal(await gitCli(bare, 'show', 'v1.0:src/app.js'));
      expect(blob).to.include({ binary: false, truncated: false, size: blob.content.length, mode: '100644' });
      const bin = await readBlobAt(bare, 'main', 'img/logo.bin');
      expect(bin).to.include({ binary: true, size: 10 });
      const cut = await readBlobAt(bare, 'main', 'src/app.js', { maxBytes: 10 });
      expect(cut.truncated).to.equal(true);
      expect(cut.content.length).to.equal(10);
      expect(cut.size).to.be.greaterThan(10);
      await rejects(readBlobAt(bare, 'main', 'docs/guide.md'), 'GIT_PATH_NOT_FOUND');
      await rejects(readBlobAt(bare, 'main', 'src'), 'GIT_NOT_A_FILE');
      await rejects(readTreeAt(bare, 'main', 'README.md'), 'GIT_NOT_A_DIRECTORY');
      await rejects(readTreeAt(bare, 'main', 'README.md/x'), 'GIT_PATH_NOT_FOUND');
    });

    it('diffs two commits like git diff: added, modified, deleted, binary, hunks and counts', async () => {
      const result = await diffCommits(bare, 'v1.0', 'main');
      const numstat = (await gitCli(bare, 'diff', '--numstat', 'v1.0', 'main')).trim().split('\n').map((l) => l.split('\t'));
      expect(result.files.map((f) => f.path)).to.deep.equal(numstat.map((l) => l[2]));
      for (const [add, del, file] of numstat) {
        const f = result.files.find((x) => x.path === file)!;
        if (add === '-') expect(f.binary, file).to.equal(true);
        else expect([f.additions, f.deletions], file).to.deep.equal([Number(add), Number(del)]);
      }
      expect(result.files.map((f) => `${f.status} ${f.path}`)).to.deep.equal(['deleted docs/guide.md', 'added img/logo.bin', 'added notes.txt', 'modified src/app.js']);
      const app = result.files.find((f) => f.path === 'src/app.js')!;
      const gitHunks = (await gitCli(bare, 'diff', 'v1.0', 'main', '--', 'src/app.js')).split('\n').filter((l) => l.startsWith('@@')).map((l) => l.replace(/ @@.*$/, ' @@'));
      expect(app.hunks.map((h) => `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`)).to.deep.equal(gitHunks);
      expect(app.hunks[0]!.lines).to.include('-line 10').and.to.include('+line ten, changed');
      const root = await diffCommit(bare, shas[shas.length - 1]!);
      expect(root.from).to.equal(null);
      expect(root.files.map((f) => `${f.status} ${f.path}`)).to.deep.equal(['added README.md']);
      expect(root.commit.subject).to.equal('c1: readme');
    });

    it('keeps big diffs bounded: file count, bytes per file, bytes in all', async () => {
      const few = await diffCommits(bare, 'v1.0', 'main', { maxFiles: 2 });
      expect(few.truncated).to.equal(true);
      expect(few.files).to.have.length(2);
      const small = await diffCommits(bare, 'v1.0', 'main', { maxFileBytes: 50 });
      expect(small.files.find((f) => f.path === 'src/app.js')).to.include({ tooLarge: true });
      expect(small.files.find((f) => f.path === 'src/app.js')!.hunks).to.deep.equal([]);
      const budget = await diffCommits(bare, 'v1.0', 'main', { maxBytes: 10 });
      expect(budget.files.filter((f) => f.tooLarge).length).to.be.greaterThan(0);
    });

    it('exports exactly one commit\'s files, as git archive does', async () => {
      for (const ref of ['v1.0', 'main']) {
        const dest = path.join(tmp, `export-${ref}`);
        const archived = path.join(tmp, `archive-${ref}`);
        await mkdir(archived);
        await run('sh', ['-c', `git --git-dir="${bare}" archive --format=tar ${ref} | tar -x -C "${archived}"`]);
        const result = await exportCommit(bare, ref, path.join(dest, 'files'));
        expect(result.commit).to.equal((await gitCli(bare, 'rev-parse', `${ref}^{commit}`)).trim());
        const files = await listFiles(archived);
        expect(await listFiles(path.join(dest, 'files'))).to.deep.equal(files);
        for (const f of files) expect(await readFile(path.join(dest, 'files', f)), f).to.deep.equal(await readFile(path.join(archived, f)));
        expect(result.files).to.equal(files.length);
      }
      await rejects(exportCommit(bare, 'main', path.join(tmp, 'export-main', 'files')), 'INPUT_INVALID');
      await rejects(exportCommit(bare, 'main', path.join(tmp, 'export-small'), { maxFiles: 1 }), 'GIT_TOO_LARGE');
      expect(await lstat(path.join(tmp, 'export-small')).catch(() => undefined)).to.equal(undefined);
    });

    it('never writes a crafted tree\'s "..", ".git" or symlink entries to the host', async () => {
      const blob = await gitInput(bare, Buffer.from('pwned\n'), 'hash-object', '-w', '--stdin');
      const link = await gitInput(bare, Buffer.from('/etc/passwd'), 'hash-object', '-w', '--stdin');
      const entry = (mode: string, name: string, oid: string) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(oid, 'hex')]);
      const craft = async (branch: string, entries: Buffer[]) => {
        const tree = await gitInput(bare, Buffer.concat(entries), 'hash-object', '-t', 'tree', '--literally', '-w', '--stdin');
        await gitCli(bare, 'update-ref', `refs/heads/${branch}`, (await gitCli(bare, 'commit-tree', tree, '-m', 'crafted')).trim());
      };
      await craft('crafted-dots', [entry('100644', '..', blob), entry('100644', 'ok.txt', blob)]);
      await craft('crafted-git', [entry('100644', '.GIT', blob)]);
      await craft('crafted-link', [entry('120000', 'link', link), entry('100755', 'ok.sh', blob)]);
      try {
        for (const branch of ['crafted-dots', 'crafted-git']) {
          const dest = path.join(tmp, branch, 'files');
          await rejects(exportCommit(bare, branch, dest), 'GIT_PATH_INVALID');
          expect(await readdir(path.join(tmp, branch))).to.deep.equal([]);
          await rejects(readTreeAt(bare, branch), 'GIT_PATH_INVALID');
          await rejects(diffCommit(bare, branch), 'GIT_PATH_INVALID');
        }
        const dest = path.join(tmp, 'crafted-link', 'files');
        const result = await exportCommit(bare, 'crafted-link', dest);
        expect(result.skipped).to.deep.equal(['link']);
        expect(await readdir(dest)).to.deep.equal(['ok.sh']);
        expect((await lstat(path.join(dest, 'ok.sh'))).mode & 0o777).to.equal(0o755);
      } finally {
        for (const branch of ['crafted-dots', 'crafted-git', 'crafted-link']) await gitCli(bare, 'update-ref', '-d', `refs/heads/${branch}`);
      }
    });

    it('refuses hostile paths and refs before touching the disk', async () => {
      for (const p of ['../README.md', '/etc/passwd', 'src/../../x', 'src/./app.js', 'a//b', 'x\0y', '..']) {
        await rejects(readBlobAt(bare, 'main', p), 'GIT_PATH_INVALID');
        await rejects(readTreeAt(bare, 'main', p), 'GIT_PATH_INVALID');
      }
      await rejects(listCommits(bare, 'main', { path: '../x' }), 'GIT_PATH_INVALID');
      // isomorphic-git joins ref names onto the git directory: these would read files outside it.
      for (const ref of ['../../../../etc/passwd', 'refs/heads/../../config', '../config', '-x', 'main~1', 'a b', 'x.lock', '.hidden', 'main@{0}', '']) {
        await rejects(resolveRef(bare, ref), 'GIT_REF_INVALID');
        await rejects(readTreeAt(bare, ref), 'GIT_REF_INVALID');
      }
      await rejects(readTreeAt(path.join(tmp, 'no-such.git'), 'main'), 'GIT_REPO_NOT_FOUND');
    });
  });

  it('validates paths and ref names on their own', () => {
    expect(validateRepoPath('')).to.equal('');
    expect(validateRepoPath('/')).to.equal('');
    expect(validateRepoPath('a/b/')).to.equal('a/b');
    expect(validateRepoPath('dir with space/ünïcode.md')).to.equal('dir with space/ünïcode.md');
    expect(() => validateRepoPath('a/../b')).to.throw(/not a path inside/);
    expect(isValidRefName('feature/login')).to.equal(true);
    expect(isValidRefName('v1.0')).to.equal(true);
    expect(isValidRefName('feature//x')).to.equal(false);
    expect(isValidRefName('x/')).to.equal(false);
  });
});
