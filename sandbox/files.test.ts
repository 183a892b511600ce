import { expect } from 'chai';
import { chmod, mkdtemp, readdir, symlink, stat, writeFile, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createDiskManager, type DiskManager } from './disk.ts';
import { createWorkspaceFiles, normalizeWorkspacePath, type WorkspaceFiles } from './files.ts';
import { silentLogger } from '../core/log.ts';

import { TEST_PREFIX, unmountUnder } from '../test/support.ts';
import { expectCode } from '../test/expect.ts';


describe('workspace files API (real disk)', () => {
  let root: string;
  let disks: DiskManager;
  let files: WorkspaceFiles;
  let rawWorkspace: string;

  before(async () => {
    root = await mkdtemp(TEST_PREFIX);
    disks = createDiskManager({ dataDir: root, quotaMode: 'auto', diskMiB: 16, uid: 1000, log: silentLogger() });
    const disk = await disks.ensure('alice');
    rawWorkspace = path.join(disk.root, 'workspace');
    files = createWorkspaceFiles({
      root: path.join(disk.view, 'workspace'),
      uid: 1000,
      limits: { maxFileBytes: 2 * 1024 * 1024, maxListEntries: 100 },
      freeBytes: async () => (await disks.usage('alice')).freeBytes,
    });
  });
  after(async () => {
    await disks.release('alice');
    await unmountUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('writes, reads, lists, renames and deletes', async () => {
    await files.write('src/index.js', 'console.log(1)\n', { createParents: true });
    const read = await files.read('src/index.js');
    expect(read.content.toString()).to.equal('console.log(1)\n');
    expect((await files.list('src')).map((e) => [e.name, e.type])).to.deep.equal([['index.js', 'file']]);
    await files.rename('src/index.js', 'src/main.js');
    await expectCode(files.read('src/index.js'), 'SANDBOX_FILE_NOT_FOUND');
    await files.mkdir('empty');
    await files.remove('empty');
    await expectCode(files.remove('src'), 'SANDBOX_FILE_EXISTS');
    await files.remove('src', { recursive: true });
    expect(await files.list()).to.deep.equal([]);
  });

  it('gives files to the student uid and leaves no temp file behind', async () => {
    await files.write('owned.txt', 'x');
    expect((await stat(path.join(rawWorkspace, 'owned.txt'))).uid).to.equal(1000);
    expect((await readdir(rawWorkspace)).filter((n) => n.startsWith('.outpost-tmp'))).to.deep.equal([]);
  });

  it('rejects path escapes lexically', async () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', '..']) {
      await expectCode(files.read(bad), 'SANDBOX_PATH_ESCAPE');
    }
    await expectCode(files.write('a\0b', 'x'), 'SANDBOX_PATH_INVALID');
    expect(normalizeWorkspacePath('./a//b/')).to.equal('a/b');
  });

  it('never follows a symlink planted by the student, whatever it points at', async () => {
    await symlink('/etc/passwd', path.join(rawWorkspace, 'evil'));
    await symlink('/etc', path.join(rawWorkspace, 'evildir'));
    await expectCode(files.read('evil'), 'SANDBOX_PATH_ESCAPE');
    await expectCode(files.read('evildir/passwd'), 'SANDBOX_PATH_ESCAPE');
    await expectCode(files.write('evildir/owned', 'x'), 'SANDBOX_PATH_ESCAPE');
    await expectCode(files.list('evildir'), 'SANDBOX_PATH_ESCAPE');
    expect((await readFile('/etc/passwd', 'utf8')).startsWith('root:')).to.equal(true);
    const entries = await files.list();
    expect(entries.find((e) => e.name === 'evil')?.type).to.equal('symlink');
    await files.remove('evil');
    await files.remove('evildir');
  });

  it('refuses an oversize file and writes nothing', async () => {
    const error = await expectCode(files.write('big.bin', Buffer.alloc(3 * 1024 * 1024)), 'SANDBOX_FILE_TOO_LARGE');
    expect(error.message).to.include('limit');
    await expectCode(files.read('big.bin'), 'SANDBOX_FILE_NOT_FOUND');
  });

  it('refuses a write past the disk quota and keeps the old content', async () => {
    if (disks.mode !== 'loop') return;
    await files.write('keep.txt', 'old');
    const filler = path.join(rawWorkspace, 'filler');
    // Fill the 16 MiB disk from "inside" (as a student's process would).
    await writeFile(filler, Buffer.alloc(14 * 1024 * 1024)).catch(() => undefined);
    await expectCode(files.write('keep.txt', Buffer.alloc(1024 * 1024, 1)), 'SANDBOX_QUOTA_EXCEEDED');
    expect((await files.read('keep.txt')).content.toString()).to.equal('old');
    await rm(filler);
  });

  it('detects a conflicting change made elsewhere (e.g. in the terminal)', async () => {
    const first = await files.write('notes.md', 'v1');
    await files.write('notes.md', 'v2', { expectedVersion: first.version });
    await writeFile(path.join(rawWorkspace, 'notes.md'), 'changed in the terminal');
    await expectCode(files.write('notes.md', 'v3', { expectedVersion: first.version }), 'SANDBOX_FILE_CONFLICT');
    expect((await files.read('notes.md')).content.toString()).to.equal('changed in the terminal');
    await expectCode(files.write('notes.md', 'new', { expectedVersion: '' }), 'SANDBOX_FILE_CONFLICT');
  });

  it('keeps the permissions of the file it saves over (a script stays executable)', async () => {
    await files.write('run.sh', '#!/bin/sh\necho 1\n');
    await chmod(path.join(rawWorkspace, 'run.sh'), 0o755);
    const { version } = await files.read('run.sh');
    expect(version).to.not.equal('');
    await files.write('run.sh', '#!/bin/sh\necho 2\n', { expectedVersion: version });
    expect((await stat(path.join(rawWorkspace, 'run.sh'))).mode & 0o7777).to.equal(0o755);
    await chmod(path.join(rawWorkspace, 'run.sh'), 0o600);
    await files.write('run.sh', 'private\n');
    expect((await stat(path.join(rawWorkspace, 'run.sh'))).mode & 0o7777).to.equal(0o600);
  });
});
