/**
 * Backup and restore round trip through the real command line: a running Outpost's accounts,
 * grades, submissions, repositories and a student's files come back in a fresh data directory.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { lstat, rm, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { openSystem } from '../server/system.ts';
import { addStudents, makeTestConfigFile, removeInstance, runOutpost, startTestSystem, unmountUnder, writeTree, type TestSystem } from './support.ts';

const run = promisify(execFile);

describe('backup and restore', function () {
  this.timeout(5 * 60_000);
  let t: TestSystem;
  let restoredRoot = '';
  const actor = { name: 'test' };

  before(async () => {
    t = await startTestSystem();
  });
  after(async () => {
    await t?.cleanup();
    if (restoredRoot) { await unmountUnder(restoredRoot); await rm(restoredRoot, { recursive: true, force: true }); }
  });

  it('gives a fresh data directory back every account, grade, submission, repository and file', async () => {
    const { system } = t;
    await addStudents(system, ['ana']);
    system.accounts.createCohort('c1', 'One', actor);
    system.accounts.addToCohort('c1', 'ana', actor);
    await system.git.create({ owner: 'ana', name: 'notes', from: await writeTree(path.join(t.root, 'tpl'), { 'README.md': '# Notes\n' }) }, actor);
    const head = (await run('git', ['-c', 'safe.directory=*', '--git-dir', system.git.repoDir('ana', 'notes'), 'rev-parse', 'main'])).stdout.trim();
    const files = await system.sandbox.workspaces.files('ana');
    await files.write('project/hello.js', 'console.log("kept");\n', { createParents: true });
    await files.write('project/link', 'x');
    await system.sandbox.workspaces.exec('ana', { argv: ['bash', '-c', 'cd /workspace/project && rm link && ln -s /etc/shadow link'] });
    const course = await writeTree(path.join(t.root, 'course'), {
      'curriculum.yaml': 'id: b\ntitle: B\nversion: 1\ntracks: [t]\n', 't/track.yaml': 'id: t\ntitle: T\nmodules: [m]\n', 't/m/module.yaml': 'id: m\ntitle: M\nitems:\n  - exercise: py-echo\n',
      't/m/exercises/py-echo/exercise.yaml': 'id: py-echo\ntitle: Echo\nlanguage: python\ncommand: [python3, echo.py]\ngrader:\n  adapter: io\ncases:\n  - { name: echoes, stdin: "hi\\n", expected: "hi" }\n',
      't/m/exercises/py-echo/README.md': 'x\n', 't/m/exercises/py-echo/starter/echo.py': '# TODO\n', 't/m/exercises/py-echo/solution/echo.py': 'print(input())\n',
    });
    await system.curriculum.catalog.import(course, actor);
    const sub = await system.curriculum.submissions.create({ exercise: 'py-echo', student: 'ana', source: 'cli', from: await writeTree(path.join(t.root, 'sub'), { 'echo.py': 'print(input())\n' }) });
    system.curriculum.gradebook.override({ exercise: 'py-echo', student: 'ana', score: 1, reason: 'checked by hand' }, 'test');

    // The backup through the real command line, while this system keeps running.
    const backupFile = path.join(t.root, 'outpost-backup.tar.gz');
    const configFile = path.join(t.root, 'config.json');
    await writeFile(configFile, JSON.stringify(t.config));
    const backup = await runOutpost(configFile, ['backup', backupFile]);
    expect(backup.code, backup.stderr).to.equal(0);
    expect(backup.stdout).to.match(/1 people, 1 repositories, 1 submissions, 1 workspaces/);

    // A fresh machine: an empty data directory, another instance.
    const fresh = await makeTestConfigFile();
    restoredRoot = fresh.root;
    const restore = await runOutpost(fresh.file, ['restore', backupFile]);
    expect(restore.code, restore.stderr).to.equal(0);
    expect((await runOutpost(fresh.file, ['restore', backupFile])).stderr).to.match(/already holds an Outpost/);

    const restored = await openSystem({ config: fresh.config, log: silentLogger(), provisionEngine: false });
    try {
      expect(restored.accounts.get('ana')).to.deep.include({ role: 'student' });
      expect(restored.accounts.cohortsOf('ana')).to.deep.equal(['c1']);
      expect(restored.audit.verify().ok).to.equal(true);
      const standing = restored.curriculum.gradebook.standing('ana', restored.curriculum.catalog.exercise('py-echo')!);
      expect(standing.override).to.deep.include({ score: 1, reason: 'checked by hand' });
      expect(await restored.curriculum.submissions.readFile(sub.id, 'echo.py')).to.equal('print(input())\n');
      const restoredHead = (await run('git', ['-c', 'safe.directory=*', '--git-dir', restored.git.repoDir('ana', 'notes'), 'rev-parse', 'main'])).stdout.trim();
      expect(restoredHead).to.equal(head);
      await run('git', ['-c', 'safe.directory=*', '--git-dir', restored.git.repoDir('ana', 'notes'), 'fsck', '--no-progress']);
      const restoredFiles = await restored.sandbox.workspaces.files('ana');
      expect((await restoredFiles.read('project/hello.js')).content.toString()).to.equal('console.log("kept");\n');
      // The student's symlink came back as a link, and /etc/shadow stayed root's.
      expect((await restoredFiles.list('project')).find((e) => e.name === 'link')?.type).to.equal('symlink');
      expect((await lstat('/etc/shadow')).uid).to.equal(0);
      expect(await readFile(path.join(fresh.config.dataDir, 'pki', 'ca.crt'), 'utf8').catch(() => 'no ca')).to.not.equal('');
    } finally {
      await restored.close();
      await removeInstance(restored, fresh.config.instance);
    }
  });
});
