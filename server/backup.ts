/**
 * `./outpost backup FILE` and `./outpost restore FILE`: one archive (.tar.gz) that gives a fresh
 * machine back every account, grade, submission, repository and student's files.
 *
 * Consistent while Outpost runs: the store is copied with SQLite's online backup (a snapshot even
 * while the server writes); each git repository's refs are copied before its objects (objects are
 * only ever added, so every ref finds its objects); workspace files are read through their disks.
 *
 * In the archive: manifest.json (what, when, counts, what is left out), outpost.db, audit.anchor,
 * pki/ (the local CA: sandboxes keep trusting the same certificates), git/repos/, submissions/,
 * curriculum/versions/, shop/ (attachments, packages), workspaces/<student>/{workspace,home}/.
 * Left out, and said so in the manifest: mirrored sites' content and the npm mirror's packages
 * (large, and re-made with `mirror import-debian` / `packages add --seed`; their lists are in the
 * store), and workspaces' git tokens (made anew at each workspace's next start).
 */
import { cp, lchown, lstat, mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import type { Config } from '../core/config.ts';
import { writeAuditAnchorFor } from '../core/audit.ts';
import { OutpostError } from '../core/errors.ts';
import { createDiskManager, mountPoints } from '../sandbox/disk.ts';
import type { Logger } from '../core/log.ts';
import { SERVICE_UID } from '../fake-internet/index.ts';
import type { Core } from './system.ts';

export const BACKUP_FORMAT = 1;

const run = promisify(execFile);

export interface BackupManifest {
  format: number;
  outpostVersion: string;
  createdAt: string;
  instance: string;
  storeVersion: number;
  counts: { users: number; repositories: number; submissions: number; workspaces: number };
  leftOut: string[];
}

const COPIED_DIRS = ['pki', path.join('curriculum', 'versions'), 'submissions', path.join('shop', 'attachments'), path.join('shop', 'packages')];

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** Refs before objects, so the copy never has a ref without its objects. */
async function copyRepository(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const first of ['HEAD', 'packed-refs', 'refs', 'config', 'description']) {
    if (await exists(path.join(from, first))) await cp(path.join(from, first), path.join(to, first), { recursive: true });
  }
  for (const entry of await readdir(from)) {
    if (['HEAD', 'packed-refs', 'refs', 'config', 'description'].includes(entry)) continue;
    await cp(path.join(from, entry), path.join(to, entry), { recursive: true, verbatimSymlinks: true });
  }
}

/**
 * The audit anchor for the snapshot, from the snapshot's own newest entry: the live anchor file moves
 * with every entry written after the snapshot was taken, and a restore that took it would find its
 * newest entries "missing".
 */
function writeSnapshotAnchor(dbFile: string, anchorFile: string): void {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    writeAuditAnchorFor(db, anchorFile);
  } finally {
    db.close();
  }
}

function workspaceOwners(dataDir: string): Promise<string[]> {
  return Promise.all([
    readdir(path.join(dataDir, 'disks')).then((f) => f.filter((n) => n.endsWith('.ext4')).map((n) => n.slice(0, -5)), () => [] as string[]),
    readdir(path.join(dataDir, 'ws')).catch(() => [] as string[]),
  ]).then(([a, b]) => [...new Set([...a, ...b])].sort());
}

export async function createBackup(deps: { config: Config; core: Core; log: Logger; version: string }, file: string, say: (line: string) => void = () => undefined): Promise<BackupManifest> {
  const { config, core } = deps;
  const dataDir = config.dataDir;
  const staging = await mkdtemp(path.join(dataDir, '.backup-'));
  try {
    say('store (online backup)…');
    await core.store.db.backup(path.join(staging, 'outpost.db'));
    writeSnapshotAnchor(path.join(staging, 'outpost.db'), path.join(staging, 'audit.anchor'));
    for (const dir of COPIED_DIRS) {
      if (await exists(path.join(dataDir, dir))) await cp(path.join(dataDir, dir), path.join(staging, dir), { recursive: true, verbatimSymlinks: true });
    }
    say('git repositories…');
    const reposRoot = core.git.paths.reposDir;
    for (const owner of await readdir(reposRoot).catch(() => [] as string[])) {
      for (const repo of await readdir(path.join(reposRoot, owner)).catch(() => [] as string[])) {
        await copyRepository(path.join(reposRoot, owner, repo), path.join(staging, 'git', 'repos', owner, repo));
      }
    }
    say('workspaces…');
    const disks = createDiskManager({ dataDir, quotaMode: config.sandbox.quotaMode, diskMiB: config.sandbox.workspace.diskMiB, uid: config.sandbox.uid, log: deps.log });
    const owners = await workspaceOwners(dataDir);
    for (const owner of owners) {
      const mountedBefore = new Set(mountPoints());
      const disk = await disks.ensure(owner);
      try {
        for (const sub of ['workspace', 'home']) {
          // Symlinks are copied as links (never followed): a student's link cannot pull host files in.
          await cp(path.join(disk.root, sub), path.join(staging, 'workspaces', owner, sub), { recursive: true, verbatimSymlinks: true });
        }
      } finally {
        // Only a disk this backup mounted: one the server had mounted belongs to a workspace in use.
        if (![disk.root, disk.view].some((p) => mountedBefore.has(path.resolve(p)))) await disks.release(owner);
      }
    }
    const db = core.store.db;
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      outpostVersion: deps.version,
      createdAt: new Date().toISOString(),
      instance: config.instance,
      storeVersion: (db.prepare('select max(version) as v from schema_migrations').get() as { v: number } | undefined)?.v ?? 0,
      counts: { users: count('select count(*) as n from users'), repositories: count('select count(*) as n from git_repos'), submissions: count('select count(*) as n from submissions'), workspaces: owners.length },
      leftOut: ['mirrored sites\' content (re-import: ./outpost mirror import-debian, mirror import)', 'the npm mirror\'s packages (re-fill: ./outpost packages add --seed)', 'workspaces\' git tokens (made anew at each workspace\'s next start)'],
    };
    await writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    say('archive…');
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const temp = `${path.resolve(file)}.partial`;
    // Made 0600 before tar writes a byte (tar keeps an existing file's mode): the archive holds the
    // CA's private key and every password and token hash.
    await rm(temp, { force: true });
    await (await open(temp, 'wx', 0o600)).close();
    try {
      await run('tar', ['-czf', temp, '-C', staging, '.']);
      await rename(temp, path.resolve(file));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    say(`${file} holds the local CA's private key and every password and token hash: it is readable by its owner only (mode 600); keep it, and any copy, where only operators can read it.`);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export async function restoreBackup(deps: { config: Config; log: Logger }, file: string, say: (line: string) => void = () => undefined): Promise<BackupManifest> {
  const { config } = deps;
  const dataDir = config.dataDir;
  if (await exists(path.join(dataDir, 'outpost.db'))) {
    throw new OutpostError('INPUT_INVALID', `${dataDir} already holds an Outpost (outpost.db). Restore into an empty data directory: set dataDir to a new folder, or move the old one away.`);
  }
  await mkdir(dataDir, { recursive: true });
  const staging = await mkdtemp(path.join(dataDir, '.restore-'));
  try {
    say('reading the archive…');
    // GNU tar drops leading "/" and refuses members with ".."; no owners are taken from the archive.
    await run('tar', ['-xzf', path.resolve(file), '-C', staging, '--no-same-owner', '--no-overwrite-dir']).catch((error: { stderr?: string }) => {
      throw new OutpostError('INPUT_INVALID', `${file} could not be read as a backup: ${String(error.stderr ?? error).trim().slice(0, 300)}`);
    });
    const manifest = JSON.parse(await readFile(path.join(staging, 'manifest.json'), 'utf8').catch(() => { throw new OutpostError('INPUT_INVALID', `${file} is not an Outpost backup (no manifest.json).`); })) as BackupManifest;
    if (manifest.format !== BACKUP_FORMAT) throw new OutpostError('INPUT_INVALID', `${file} is a backup in format ${manifest.format}; this Outpost reads format ${BACKUP_FORMAT}.`);
    for (const item of ['outpost.db', 'audit.anchor', ...COPIED_DIRS, path.join('git', 'repos')]) {
      if (!(await exists(path.join(staging, item)))) continue;
      await mkdir(path.dirname(path.join(dataDir, item)), { recursive: true });
      await rename(path.join(staging, item), path.join(dataDir, item));
    }
    // The git server's user owns the repositories (git refuses repositories of other users).
    const chownTree = async (p: string): Promise<void> => {
      await lchown(p, SERVICE_UID, SERVICE_UID);
      if ((await lstat(p)).isDirectory()) for (const e of await readdir(p)) await chownTree(path.join(p, e));
    };
    if (await exists(path.join(dataDir, 'git', 'repos'))) await chownTree(path.join(dataDir, 'git', 'repos'));
    say('workspaces…');
    const disks = createDiskManager({ dataDir, quotaMode: config.sandbox.quotaMode, diskMiB: config.sandbox.workspace.diskMiB, uid: config.sandbox.uid, log: deps.log });
    const uid = config.sandbox.uid;
    for (const owner of await readdir(path.join(staging, 'workspaces')).catch(() => [] as string[])) {
      const disk = await disks.ensure(owner);
      for (const sub of ['workspace', 'home']) {
        const from = path.join(staging, 'workspaces', owner, sub);
        if (!(await exists(from))) continue;
        await cp(from, path.join(disk.root, sub), { recursive: true, verbatimSymlinks: true, force: true });
        const own = async (p: string): Promise<void> => {
          // lchown: a student's symlink must never hand the host file it points at to them.
          await lchown(p, uid, uid).catch(() => undefined);
          const s = await lstat(p);
          if (s.isDirectory()) for (const e of await readdir(p)) await own(path.join(p, e));
        };
        await own(path.join(disk.root, sub));
      }
      await disks.release(owner);
    }
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
