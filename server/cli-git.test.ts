import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTestConfigFile, runOutpost } from '../test/support.ts';
import type { Config } from '../core/config.ts';
import { hashToken } from '../fake-internet/git/access.ts';

const run = promisify(execFile);

describe('./outpost git commands', function () {
  let config: Config;
  let root: string;
  let file: string;
  before(async () => {
    ({ config, root, file } = await makeTestConfigFile());
    expect((await runOutpost(file, ['user', 'add', 'ann', '--role', 'student'])).code).to.equal(0);
    expect((await runOutpost(file, ['cohort', 'add', 'c1'])).code).to.equal(0);
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('creates a repository from a folder as one commit, lists it, and refuses bad names and unknown owners', async () => {
    const template = path.join(root, 'skeleton');
    await mkdir(path.join(template, 'src'), { recursive: true });
    await writeFile(path.join(template, 'README.md'), '# Skeleton\n');
    await writeFile(path.join(template, 'src', 'app.js'), 'export {};\n');
    const created = await runOutpost(file, ['git', 'create', 'ann/first-app', '--from', template, '--description', 'A first app']);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.include('git clone https://git.outpost/ann/first-app.git');
    const dir = path.join(config.dataDir, 'git', 'repos', 'ann', 'first-app.git');
    const { stdout: files } = await run('git', ['-c', 'safe.directory=*', '--git-dir', dir, 'ls-tree', '-r', '--name-only', 'main']);
    expect(files.trim().split('\n')).to.deep.equal(['README.md', 'src/app.js']);
    const { stdout: count } = await run('git', ['-c', 'safe.directory=*', '--git-dir', dir, 'rev-list', '--count', 'main']);
    expect(count.trim()).to.equal('1');
    expect((await runOutpost(file, ['git', 'create', 'c1/handouts', '--cohort'])).code).to.equal(0);
    const list = await runOutpost(file, ['git', 'list']);
    expect(list.stdout).to.match(/ann\/first-app\s+user\s+https:\/\/git\.outpost\/ann\/first-app\.git\s+A first app/);
    expect(list.stdout).to.match(/c1\/handouts\s+cohort/);
    const again = await runOutpost(file, ['git', 'create', 'ann/first-app']);
    expect(again.stderr).to.include('[GIT_REPO_EXISTS]');
    const hostile = await runOutpost(file, ['git', 'create', 'ann/../etc']);
    expect(hostile.stderr).to.include('[INPUT_INVALID]');
    const nobody = await runOutpost(file, ['git', 'create', 'nobody/x']);
    expect(nobody.stderr).to.match(/not a user, cohort or team.*\[NOT_FOUND\]/);
  });

  it('makes a token that the git server accepts, stored only as its hash', async () => {
    const r = await runOutpost(file, ['git', 'token', 'ann', 'laptop']);
    expect(r.code, r.stderr).to.equal(0);
    const token = r.stdout.trim().split('\n').pop()!;
    expect(token).to.match(/^opt_[A-Za-z0-9_-]{43}$/);
    const access = JSON.parse(await readFile(path.join(config.dataDir, 'git', 'access', 'access.json'), 'utf8')) as { tokens: Record<string, string>; repos: Record<string, { write: string[] }> };
    expect(access.tokens[hashToken(token)]).to.equal('ann');
    expect(access.repos['ann/first-app']!.write).to.deep.equal(['ann']);
    const db = await readFile(path.join(config.dataDir, 'outpost.db'));
    expect(db.includes(Buffer.from(token))).to.equal(false);
  });
});
