/**
 * A student's persistent disk. In `loop` mode each workspace is an ext4 file of the configured size,
 * loop-mounted `nosuid,nodev` on the host, so the quota is enforced by the kernel inside the
 * container too (a disk fill gets ENOSPC and hurts no one else). In `none` mode it is a plain
 * directory and only the files API and RLIMIT_FSIZE bound it (doctor says so).
 *
 * The host's files API never reads the student-controlled tree through a path that follows symlinks:
 * it uses a second, `nosymfollow` bind mount of the same tree (the "view"), so a symlink planted by a
 * student cannot redirect a root-owned server process anywhere, with no check-then-use race.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, chown, stat, rm, statfs, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

const run = promisify(execFile);

export type DiskMode = 'loop' | 'none';

export interface WorkspaceDisk {
  /** Host directory mounted into the container: holds `workspace/` and `home/`. */
  readonly root: string;
  /** The same tree through a nosymfollow mount, for the host's files API. */
  readonly view: string;
  readonly mode: DiskMode;
  /** True when the view is a nosymfollow mount (root with mount rights), false for a plain alias. */
  readonly viewIsSafe: boolean;
}

export interface DiskManagerOptions {
  dataDir: string;
  quotaMode: 'auto' | 'loop' | 'none';
  diskMiB: number;
  uid: number;
  log: Logger;
}

export interface DiskManager {
  readonly mode: DiskMode;
  ensure(owner: string): Promise<WorkspaceDisk>;
  /** Unmounts (files stay in the disk image or directory). */
  release(owner: string): Promise<void>;
  /** Deletes a workspace's files for good. */
  destroy(owner: string): Promise<void>;
  usage(owner: string): Promise<{ usedBytes: number; freeBytes: number; totalBytes: number }>;
}

export function detectDiskMode(requested: 'auto' | 'loop' | 'none'): DiskMode {
  if (requested !== 'auto') return requested;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return isRoot && existsSync('/dev/loop-control') && (existsSync('/sbin/mkfs.ext4') || existsSync('/usr/sbin/mkfs.ext4')) ? 'loop' : 'none';
}

export function createDiskManager(options: DiskManagerOptions): DiskManager {
  const mode = detectDiskMode(options.quotaMode);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const paths = (owner: string) => ({
    image: path.join(options.dataDir, 'disks', `${owner}.ext4`),
    dir: path.join(options.dataDir, mode === 'loop' ? 'mnt' : 'ws', owner),
    view: path.join(options.dataDir, 'view', owner),
  });

  async function ensure(owner: string): Promise<WorkspaceDisk> {
    const p = paths(owner);
    await mkdir(p.dir, { recursive: true, mode: 0o700 });
    if (mode === 'loop') {
      if (!existsSync(p.image)) await createImage(p.image, options.diskMiB);
      if (!isMountPoint(p.dir)) await mount(['-o', 'loop,nosuid,nodev,noatime', p.image, p.dir], owner);
    }
    for (const sub of ['workspace', 'home']) {
      const dir = path.join(p.dir, sub);
      await mkdir(dir, { recursive: true });
      const s = await stat(dir);
      if (s.uid !== options.uid) await chown(dir, options.uid, options.uid);
    }
    // The mount point itself stays root-owned so the student cannot replace workspace/ or home/.
    let viewIsSafe = false;
    if (isRoot) {
      await mkdir(p.view, { recursive: true, mode: 0o700 });
      if (!isMountPoint(p.view)) {
        await mount(['--bind', p.dir, p.view], owner);
        await mount(['-o', 'remount,bind,nosymfollow,nosuid,nodev', p.view], owner);
      }
      viewIsSafe = true;
    }
    return { root: p.dir, view: viewIsSafe ? p.view : p.dir, mode, viewIsSafe };
  }

  async function release(owner: string): Promise<void> {
    const p = paths(owner);
    for (const target of [p.view, p.dir]) {
      if (isMountPoint(target)) await umount(target);
    }
  }

  return {
    mode,
    ensure,
    release,
    async destroy(owner) {
      await release(owner);
      const p = paths(owner);
      await rm(p.image, { force: true });
      await rm(p.dir, { recursive: true, force: true });
      await rm(p.view, { recursive: true, force: true });
    },
    async usage(owner) {
      const p = paths(owner);
      const s = await statfs(p.dir);
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      if (mode === 'loop') return { usedBytes: total - free, freeBytes: free, totalBytes: total };
      // Without a filesystem of its own, the quota is the configured size minus what the tree holds.
      const used = await duBytes(p.dir);
      const quota = options.diskMiB * 1024 * 1024;
      return { usedBytes: used, freeBytes: Math.max(0, quota - used), totalBytes: quota };
    },
  };
}

async function createImage(image: string, sizeMiB: number): Promise<void> {
  await mkdir(path.dirname(image), { recursive: true, mode: 0o700 });
  const tmp = `${image}.tmp-${process.pid}`;
  try {
    const handle = await open(tmp, 'w', 0o600);
    await handle.truncate(sizeMiB * 1024 * 1024);
    await handle.close();
    // No reserved blocks: the whole quota is the student's. The journal keeps the disk consistent
    // when the host crashes mid-write.
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', `root_owner=0:0,lazy_itable_init=1`, '-L', 'outpost-ws', tmp]);
    await rename(tmp, image);
  } catch (error) {
    await rm(tmp, { force: true });
    throw new OutpostError('SANDBOX_WORKSPACE_UNAVAILABLE', `Cannot create the workspace disk ${image}: ${(error as Error).message}. Check free space in the data dir, or set sandbox.quotaMode to "none".`, { cause: error });
  }
}

async function mount(args: string[], owner: string): Promise<void> {
  return mountOrFail(args, `the disk of workspace "${owner}"`);
}

/** Runs mount(8); a failure names `what` was being mounted and the command. */
export async function mountOrFail(args: string[], what: string): Promise<void> {
  try {
    await run('mount', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new OutpostError('SANDBOX_WORKSPACE_UNAVAILABLE', `Cannot mount ${what} (mount ${args.join(' ')}): ${stderr.trim() || (error as Error).message}. Run ./outpost doctor.`, { cause: error });
  }
}

async function umount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch {
    // Busy (a container still has it): detach lazily so it goes once the last user leaves.
    await run('umount', ['-l', target]).catch(() => undefined);
  }
}

/** Every mount point of this process's namespace, from /proc/self/mountinfo. */
export function mountPoints(): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').map((line) => line.split(' ')[4]).filter((m): m is string => m !== undefined).map(decodeMountPath);
}

export function isMountPoint(dir: string): boolean {
  return mountPoints().includes(path.resolve(dir));
}

/** Mount points at or below `root`, deepest first (the order to unmount them in). */
export function mountPointsUnder(root: string): string[] {
  const prefix = path.resolve(root);
  return mountPoints().filter((m) => m === prefix || m.startsWith(prefix + '/')).sort((a, b) => b.length - a.length);
}

function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

async function duBytes(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', '--', dir]);
  return Number(stdout.split('\t')[0] ?? 0);
}
