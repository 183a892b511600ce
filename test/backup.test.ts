/**
 * Backup and restore round trip through the real command line: a running Outpost's accounts,
 * grades, submissions, repositories and a student's files come back in a fresh data directory.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { lstat, rm, stat, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { openCore, openSystem } from '../server/system.ts';
import { createBackup, restoreBackup } from '../server/backup.ts';
import { createDiskManager, mountPointsUnder } from '../sandbox/disk.ts';
import { addStudents, makeTestConfig, makeTestConfigFile, removeInstance, runOutpost, startTestSystem, unmountUnder, writeTree, type TestSystem } from './support.ts';

const run = promisify(execFile);

describe('backup and restore', function () {
  this.timeout(5 * 60_000);
  let t: TestSystem;
  let restoredRoot = '';
  let liveRestoreRoot = '';
  const actor = { name: 'test' };

  before(async () => {
    t = await startTestSystem();
  });
  after(async () => {
    await t?.cleanup();
    if (restoredRoot) { await unmountUnder(restoredRoot); await rm(restoredRoot, { recursive: true, force: true }); }
    if (liveRestoreRoot) { await unmountUnder(liveRestoreRoot); await rm(liveRestoreRoot, { recursive: true, force: true }); }
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
    expect((await stat(backupFile)).mode & 0o777, 'the archive holds the CA key').to.equal(0o600);
    expect(backup.stdout).to.match(/holds the local CA's private key and every password and token hash/);

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

  it('a backup taken while Outpost writes: the restored audit log verifies, and only disks it mounted are released', async () => {
    const { system, config } = t;
    await addStudents(system, ['bea', 'cy']);
    // bea's disk exists but is unmounted (nobody works in it); cy's is mounted by the running system.
    const disks = createDiskManager({ dataDir: config.dataDir, quotaMode: config.sandbox.quotaMode, diskMiB: config.sandbox.workspace.diskMiB, uid: config.sandbox.uid, log: silentLogger() });
    await writeFile(path.join((await disks.ensure('bea')).root, 'workspace', 'b.txt'), 'b\n');
    await disks.release('bea');
    await (await system.sandbox.workspaces.files('cy')).write('c.txt', 'c\n');
    const mountedBefore = mountPointsUnder(config.dataDir).sort();
    expect(mountedBefore.some((m) => m.endsWith('/cy')), 'cy\'s disk is mounted').to.equal(true);

    // As `./outpost backup` does: its own connection to the store of a running server. The server
    // records entries at any moment; these land right after the snapshot, before anything else is
    // copied, so the snapshot must not be paired with the anchor they move.
    const backupCore = openCore(config);
    const db = backupCore.store.db;
    const snapshot = db.backup.bind(db);
    db.backup = (async (...args: Parameters<typeof snapshot>) => {
      const result = await snapshot(...args);
      for (const n of [1, 2]) system.audit.record({ actor: 'test', action: 'test.during-backup', target: String(n) });
      return result;
    }) as typeof db.backup;
    const file = path.join(t.root, 'live.tar.gz');
    const said: string[] = [];
    try {
      await createBackup({ config, core: backupCore, log: silentLogger(), version: 'test' }, file, (line) => said.push(line));
    } finally {
      backupCore.store.close();
    }
    expect(system.audit.verify().ok).to.equal(true);
    expect(mountPointsUnder(config.dataDir).sort(), 'mounts after the backup').to.deep.equal(mountedBefore);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(said.join('\n')).to.include('private key');

    const fresh = await makeTestConfig();
    liveRestoreRoot = fresh.root;
    await restoreBackup({ config: fresh.config, log: silentLogger() }, file);
    const core = openCore(fresh.config);
    try {
      const result = core.audit.verify();
      expect(result.problems).to.deep.equal([]);
      expect(result.ok).to.equal(true);
      expect(core.audit.query({ action: 'test.during-backup' }).total, 'entries written after the snapshot').to.equal(0);
    } finally {
      core.store.close();
    }
    const restoredDisks = createDiskManager({ dataDir: fresh.config.dataDir, quotaMode: fresh.config.sandbox.quotaMode, diskMiB: fresh.config.sandbox.workspace.diskMiB, uid: fresh.config.sandbox.uid, log: silentLogger() });
    expect(await readFile(path.join((await restoredDisks.ensure('bea')).root, 'workspace', 'b.txt'), 'utf8')).to.equal('b\n');
    await restoredDisks.release('bea');
  });
});
