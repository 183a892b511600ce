/**
 * The workspace files API (used by the IDE and the graders): list, read, write, mkdir, rename,
 * delete inside one student's /workspace.
 *
 * Confinement, in depth:
 * 1. Paths are relative, `/`-separated, with no `..`, no NUL and bounded lengths (checked lexically).
 * 2. Every operation goes through the disk's nosymfollow view, so the kernel refuses to follow any
 *    symlink a student planted (ELOOP), race-free.
 * 3. Every opened file's real path (/proc/self/fd) is checked to be inside the root before use.
 * Writes are atomic (temp file in the same directory, fsync, rename) so a crash never leaves a
 * truncated file, and are checked against the size limit and the disk quota before a byte is written.
 */
import { open, readdir, lstat, mkdir, rename, rm, readlink, statfs, chown, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { OutpostError } from '../core/errors.ts';

export interface FileEntry {
  name: string;
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mtimeMs: number;
}

export interface FileContent {
  path: string;
  content: Buffer;
  /** Opaque version for conflict detection: pass it back as `expectedVersion` when saving. */
  version: string;
}

export interface WriteOptions {
  /** Refuse the write if the file changed since this version was read ('' = must not exist). */
  expectedVersion?: string;
  createParents?: boolean;
}

export interface WorkspaceFiles {
  list(dir?: string): Promise<FileEntry[]>;
  read(file: string): Promise<FileContent>;
  write(file: string, content: Buffer | string, options?: WriteOptions): Promise<{ path: string; version: string; size: number }>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(target: string, options?: { recursive?: boolean }): Promise<void>;
}

export interface FilesLimits {
  maxFileBytes: number;
  maxListEntries: number;
}

export interface FilesDeps {
  /** Absolute host path of the workspace tree, through the nosymfollow view. */
  root: string;
  uid: number;
  limits: FilesLimits;
  /** Bytes still free under the quota. */
  freeBytes(): Promise<number>;
}

const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;

/** Normalizes a user-supplied relative path; throws SANDBOX_PATH_ESCAPE / SANDBOX_PATH_INVALID. */
export function normalizeWorkspacePath(input: unknown, { allowRoot = false } = {}): string {
  if (typeof input !== 'string') throw new OutpostError('SANDBOX_PATH_INVALID', 'A file path must be a string.');
  if (input.includes('\0')) throw new OutpostError('SANDBOX_PATH_INVALID', 'The file path contains a NUL byte; remove it.', { details: { path: input.slice(0, 200) } });
  if (Buffer.byteLength(input) > MAX_PATH_BYTES) throw new OutpostError('SANDBOX_PATH_INVALID', `The file path is longer than ${MAX_PATH_BYTES} bytes.`);
  if (input.startsWith('/') || input.startsWith('\\') || /^[a-zA-Z]:/.test(input)) {
    throw new OutpostError('SANDBOX_PATH_ESCAPE', `"${input}" is an absolute path; give a path relative to the workspace, like "src/index.js".`, { details: { path: input } });
  }
  const segments: string[] = [];
  for (const segment of input.split(/[/\\]/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new OutpostError('SANDBOX_PATH_ESCAPE', `"${input}" leaves the workspace ("..") ; paths must stay inside it.`, { details: { path: input } });
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw new OutpostError('SANDBOX_PATH_INVALID', `A name in "${input.slice(0, 100)}…" is longer than ${MAX_SEGMENT_BYTES} bytes.`);
    segments.push(segment);
  }
  if (segments.length === 0 && !allowRoot) throw new OutpostError('SANDBOX_PATH_INVALID', 'The path names the workspace itself; name a file or folder inside it.', { details: { path: input } });
  return segments.join('/');
}

export function createWorkspaceFiles(deps: FilesDeps): WorkspaceFiles {
  const root = path.resolve(deps.root);
  const abs = (rel: string) => (rel === '' ? root : path.join(root, rel));

  async function assertInside(handle: FileHandle, rel: string): Promise<void> {
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (real !== root && !real.startsWith(root + '/')) {
      await handle.close();
      throw new OutpostError('SANDBOX_PATH_ESCAPE', `"${rel}" resolves outside the workspace.`, { details: { path: rel } });
    }
  }

  function mapFsError(error: unknown, rel: string, action: string): never {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof OutpostError) throw error;
    if (code === 'ENOENT') throw new OutpostError('SANDBOX_FILE_NOT_FOUND', `Cannot ${action} "${rel}": no such file or folder in the workspace.`, { details: { path: rel } });
    if (code === 'ELOOP') throw new OutpostError('SANDBOX_PATH_ESCAPE', `Cannot ${action} "${rel}": it goes through a symbolic link, which the files API does not follow.`, { details: { path: rel } });
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new OutpostError('SANDBOX_FILE_EXISTS', `Cannot ${action} "${rel}": ${code === 'EEXIST' ? 'it already exists' : 'the folder is not empty'}.`, { details: { path: rel } });
    if (code === 'EISDIR') throw new OutpostError('SANDBOX_NOT_A_FILE', `Cannot ${action} "${rel}": it is a folder.`, { details: { path: rel } });
    if (code === 'ENOTDIR') throw new OutpostError('SANDBOX_NOT_A_DIRECTORY', `Cannot ${action} "${rel}": a part of the path is a file, not a folder.`, { details: { path: rel } });
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') throw new OutpostError('SANDBOX_QUOTA_EXCEEDED', `Cannot ${action} "${rel}": the workspace disk is full. Delete files (node_modules, build output) and try again.`, { details: { path: rel } });
    throw new OutpostError('INTERNAL', `Cannot ${action} "${rel}": ${(error as Error).message}`, { cause: error });
  }

  const versionOf = (s: { mtimeMs: number; size: number; ino: number }) => `${Math.floor(s.mtimeMs * 1000)}-${s.size}-${s.ino}`;

  async function currentVersion(rel: string): Promise<string> {
    try {
      const s = await lstat(abs(rel));
      return versionOf(s);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      return mapFsError(error, rel, 'check');
    }
  }

  return {
    async list(dir = '') {
      const rel = normalizeWorkspacePath(dir, { allowRoot: true });
      let names: string[];
      try {
        const handle = await open(abs(rel), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        await assertInside(handle, rel);
        await handle.close();
        names = await readdir(abs(rel));
      } catch (error) {
        // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR; name the real reason.
        const isLink = await lstat(abs(rel)).then((s) => s.isSymbolicLink(), () => false);
        return mapFsError(isLink ? Object.assign(new Error('symlink'), { code: 'ELOOP' }) : error, rel || '.', 'list');
      }
      names.sort();
      const entries: FileEntry[] = [];
      for (const name of names.slice(0, deps.limits.maxListEntries)) {
        try {
          const s = await lstat(path.join(abs(rel), name));
          const type = s.isSymbolicLink() ? 'symlink' : s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other';
          entries.push({ name, path: rel ? `${rel}/${name}` : name, type, size: s.size, mtimeMs: s.mtimeMs });
        } catch {
          // Removed between readdir and lstat (the student's processes run concurrently): skip it.
        }
      }
      return entries;
    },

    async read(file) {
      const rel = normalizeWorkspacePath(file);
      let handle: FileHandle | undefined;
      try {
        handle = await open(abs(rel), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        await assertInside(handle, rel);
        const s = await handle.stat();
        if (!s.isFile()) throw new OutpostError('SANDBOX_NOT_A_FILE', `"${rel}" is not a regular file.`, { details: { path: rel } });
        if (s.size > deps.limits.maxFileBytes) {
          throw new OutpostError('SANDBOX_FILE_TOO_LARGE', `"${rel}" is ${s.size} bytes; the editor opens files up to ${deps.limits.maxFileBytes} bytes. Use the terminal for it.`, { details: { path: rel, size: s.size, limit: deps.limits.maxFileBytes } });
        }
        const content = await handle.readFile();
        return { path: rel, content, version: versionOf(s) };
      } catch (error) {
        return mapFsError(error, rel, 'read');
      } finally {
        await handle?.close().catch(() => undefined);
      }
    },

    async write(file, content, options = {}) {
      const rel = normalizeWorkspacePath(file);
      const data = typeof content === 'string' ? Buffer.from(content) : content;
      if (data.length > deps.limits.maxFileBytes) {
        throw new OutpostError('SANDBOX_FILE_TOO_LARGE', `"${rel}" would be ${data.length} bytes; the limit is ${deps.limits.maxFileBytes} bytes per file.`, { details: { path: rel, size: data.length, limit: deps.limits.maxFileBytes } });
      }
      const parent = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
      if (options.createParents && parent) await mkdirChain(parent).catch((error: unknown) => mapFsError(error, parent, 'create folder'));
      if (options.expectedVersion !== undefined) {
        const now = await currentVersion(rel);
        if (now !== options.expectedVersion) {
          throw new OutpostError('SANDBOX_FILE_CONFLICT', `"${rel}" changed since it was opened (edited elsewhere, e.g. in the terminal). Reload it, or save under another name.`, { details: { path: rel, expectedVersion: options.expectedVersion, currentVersion: now } });
        }
      }
      const free = await deps.freeBytes();
      // Keep a small margin for filesystem metadata so the write cannot half-succeed.
      if (data.length + 64 * 1024 > free) {
        throw new OutpostError('SANDBOX_QUOTA_EXCEEDED', `Saving "${rel}" (${data.length} bytes) would exceed the workspace disk quota (${free} bytes free). Delete files and try again.`, { details: { path: rel, size: data.length, freeBytes: free } });
      }
      const tmpRel = `${parent ? parent + '/' : ''}.outpost-tmp-${randomBytes(6).toString('hex')}`;
      let handle: FileHandle | undefined;
      try {
        // The rename replaces the inode, so the old file's permissions would be lost (a script saved in
        // the editor would stop being executable): the copy takes them over. Only the rwx bits: the
        // server never makes a setuid, setgid or sticky file.
        const existing = await lstat(abs(rel)).catch(() => undefined);
        handle = await open(abs(tmpRel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
        await assertInside(handle, rel);
        await handle.writeFile(data);
        await handle.chown(deps.uid, deps.uid);
        if (existing?.isFile()) await handle.chmod(existing.mode & 0o777);
        await handle.datasync();
        await handle.close();
        handle = undefined;
        const target = await lstat(abs(rel)).catch(() => undefined);
        if (target?.isDirectory()) throw new OutpostError('SANDBOX_NOT_A_FILE', `Cannot save "${rel}": it is a folder.`, { details: { path: rel } });
        // Check the version again just before the rename: the terminal may have written the file
        // while we wrote and synced the copy (milliseconds); this leaves microseconds.
        if (options.expectedVersion !== undefined) {
          const now = target ? versionOf(target) : '';
          if (now !== options.expectedVersion) {
            throw new OutpostError('SANDBOX_FILE_CONFLICT', `"${rel}" changed while it was being saved (edited elsewhere, e.g. in the terminal). Reload it, or save under another name.`, { details: { path: rel, expectedVersion: options.expectedVersion, currentVersion: now } });
          }
        }
        await rename(abs(tmpRel), abs(rel));
        const s = await lstat(abs(rel));
        return { path: rel, version: versionOf(s), size: s.size };
      } catch (error) {
        await handle?.close().catch(() => undefined);
        await rm(abs(tmpRel), { force: true }).catch(() => undefined);
        return mapFsError(error, rel, 'save');
      }
    },

    async mkdir(dir) {
      const rel = normalizeWorkspacePath(dir);
      try {
        const parent = path.posix.dirname(rel);
        if (parent !== '.') await mkdirChain(parent);
        await mkdir(abs(rel));
        await chown(abs(rel), deps.uid, deps.uid);
      } catch (error) {
        return mapFsError(error, rel, 'create folder');
      }
    },

    async rename(from, to) {
      const src = normalizeWorkspacePath(from);
      const dst = normalizeWorkspacePath(to);
      if (dst === src || dst.startsWith(src + '/')) throw new OutpostError('SANDBOX_PATH_INVALID', `Cannot move "${src}" into itself ("${dst}").`);
      try {
        await lstat(abs(src));
        const exists = await lstat(abs(dst)).then(() => true, () => false);
        if (exists) throw new OutpostError('SANDBOX_FILE_EXISTS', `Cannot rename "${src}" to "${dst}": "${dst}" already exists.`, { details: { path: dst } });
        await rename(abs(src), abs(dst));
      } catch (error) {
        return mapFsError(error, src, 'rename');
      }
    },

    async remove(target, options = {}) {
      const rel = normalizeWorkspacePath(target);
      try {
        const s = await lstat(abs(rel));
        if (s.isDirectory() && !options.recursive) {
          const inside = await readdir(abs(rel));
          if (inside.length > 0) throw new OutpostError('SANDBOX_FILE_EXISTS', `"${rel}" is a folder that is not empty; delete it recursively to remove everything in it.`, { details: { path: rel } });
        }
        await rm(abs(rel), { recursive: s.isDirectory(), force: false });
      } catch (error) {
        return mapFsError(error, rel, 'delete');
      }
    },
  };

  async function mkdirChain(rel: string): Promise<void> {
    let current = '';
    for (const segment of rel.split('/')) {
      current = current ? `${current}/${segment}` : segment;
      try {
        await mkdir(abs(current));
        await chown(abs(current), deps.uid, deps.uid);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }
}

/** Free bytes on the filesystem holding `dir` (the loop disk in loop mode). */
export async function freeBytesAt(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
