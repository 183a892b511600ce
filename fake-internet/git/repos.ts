/**
 * Reading and creating bare repositories on the host with isomorphic-git: what the web view, the
 * autograder (which grades exactly the pushed commit) and shop reviews use. Every function takes the
 * bare repository's directory (`gitdir`) first, so callers need no object to hold; each call uses a
 * cache of its own, because pack indexes are worth keeping for one walk but a push or `git gc` may
 * replace the packs between two calls.
 *
 * Repositories written here are plain bare repositories that the stock `git upload-pack` and
 * `git receive-pack` serve: HEAD, a minimal config with `core.bare=true`, objects/ and refs/, and no
 * hooks (nothing from a git template directory ever runs on the host).
 *
 * Refs and paths arrive from URLs, so both are checked before they reach isomorphic-git, which
 * joins ref names onto the git directory: `../../etc/passwd` must never be read as a ref.
 */
import fs from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import { structuredPatch } from 'diff';
import { OutpostError, isOutpostError } from '../../core/errors.ts';

// ---------------------------------------------------------------- types

export interface GitPerson {
  name: string;
  email: string;
  /** Seconds since the epoch; now by default. */
  timestamp?: number;
  /** Minutes west of UTC, as isomorphic-git counts them; 0 by default. */
  timezoneOffset?: number;
}

export interface PersonStamp { name: string; email: string; timestamp: number; timezoneOffset: number }

export interface CommitInfo {
  oid: string;
  tree: string;
  parents: string[];
  /** The whole message, and its first line. */
  message: string;
  subject: string;
  author: PersonStamp;
  committer: PersonStamp;
}

export interface RefInfo { name: string; oid: string }

export interface ResolvedRef {
  /** The commit the ref points at (annotated tags are peeled). */
  oid: string;
  kind: 'branch' | 'tag' | 'commit';
  /** The short branch or tag name, or the full commit id. */
  name: string;
}

export type EntryType = 'tree' | 'blob' | 'symlink' | 'submodule';

export interface TreeItem {
  name: string;
  /** From the repository root, without a leading slash. */
  path: string;
  type: EntryType;
  mode: string;
  oid: string;
}

export interface TreeResult { commit: string; path: string; oid: string; entries: TreeItem[] }

export interface BlobResult {
  commit: string;
  path: string;
  oid: string;
  mode: string;
  type: 'blob' | 'symlink';
  executable: boolean;
  /** The blob's full size in bytes, even when `content` is cut at `maxBytes`. */
  size: number;
  /** Git's own test: a NUL byte in the first 8000 bytes. */
  binary: boolean;
  truncated: boolean;
  content: Buffer;
}

export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Each line starts with ' ', '+', '-' or '\' (no newline at end of file). */
  lines: string[];
}

export interface FileDiff {
  path: string;
  status: 'added' | 'modified' | 'deleted';
  oldMode: string | null;
  newMode: string | null;
  oldOid: string | null;
  newOid: string | null;
  binary: boolean;
  /** Too big to diff under the limits: listed, without hunks. */
  tooLarge: boolean;
  additions: number;
  deletions: number;
  hunks: DiffHunk[];
}

export interface DiffResult {
  /** null when `to` is diffed against nothing (a root commit). */
  from: string | null;
  to: string;
  files: FileDiff[];
  /** More files changed than `maxFiles`; the rest are not listed. */
  truncated: boolean;
  additions: number;
  deletions: number;
}

export interface DiffLimits {
  /** Files listed at most (default 300). */
  maxFiles?: number;
  /** Bytes of blob content read for all hunks together (default 8 MiB); later files get `tooLarge`. */
  maxBytes?: number;
  /** One side of one file larger than this is not diffed (default 1 MiB). */
  maxFileBytes?: number;
  /** Lines of context around changes (default 3, as git). */
  context?: number;
}

export interface TemplateOptions {
  author: GitPerson;
  /** The branch the commit goes on, and HEAD's target (default `main`). */
  branch?: string;
  message?: string;
  /** Refuse templates with more files or bytes than this (defaults 20 000 and 200 MiB). */
  maxFiles?: number;
  maxBytes?: number;
}

export interface ExportResult {
  commit: string;
  files: number;
  bytes: number;
  /** Entries not written: symlinks, submodules, names no file system should get (`..`, `.git`). */
  skipped: string[];
}

export interface TemplateResult {
  commit: string;
  files: number;
  /** Template entries left out: special files and symlinks that point outside the template. */
  skipped: string[];
}

// ---------------------------------------------------------------- validation

const OID = /^[0-9a-f]{40}$/;
const SHORT_OID = /^[0-9a-f]{4,39}$/;
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/**
 * `git check-ref-format` rules, plus no leading dash (never read as an option) and a length cap.
 * A full ref (`refs/heads/x`) or a short name (`x`, `feature/y`) both pass.
 */
export function isValidRefName(ref: string): boolean {
  if (ref.length === 0 || ref.length > 255 || ref === '@') return false;
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//')) return false;
  if (ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.') || ref.startsWith('-')) return false;
  return ref.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

function checkRef(ref: unknown): string {
  if (typeof ref !== 'string' || !isValidRefName(ref)) {
    throw new OutpostError('GIT_REF_INVALID', `"${String(ref).slice(0, 80)}" is not a branch, tag or commit name git accepts.`, { details: { ref: String(ref).slice(0, 255) } });
  }
  return ref;
}

/**
 * A path inside a repository: relative, `/`-separated, no `.` or `..` segments, no empty segments,
 * no NUL. '' (and '/' alone, a common way to ask for the root) mean the root; one trailing slash is
 * tolerated. Returns the normalized path without leading or trailing slash.
 */
export function validateRepoPath(input: unknown): string {
  if (typeof input !== 'string') throw new OutpostError('GIT_PATH_INVALID', 'A path in a repository must be text.');
  if (input === '' || input === '/') return '';
  const invalid = (why: string) => new OutpostError('GIT_PATH_INVALID', `"${input.slice(0, 120)}" is not a path inside the repository: ${why}.`, { details: { path: input.slice(0, 4096) } });
  if (input.length > 4096) throw invalid('it is too long');
  if (input.includes('\0')) throw invalid('it contains a NUL character');
  if (input.startsWith('/')) throw invalid('it must be relative to the repository root');
  const trimmed = input.endsWith('/') ? input.slice(0, -1) : input;
  const parts = trimmed.split('/');
  if (parts.some((p) => p === '')) throw invalid('it has an empty segment');
  if (parts.some((p) => p === '.' || p === '..')) throw invalid('"." and ".." are not allowed');
  return parts.join('/');
}

// ---------------------------------------------------------------- helpers

type Cache = Record<string, unknown>;

interface Repo { fs: typeof fs; gitdir: string; cache: Cache }

async function open(gitdir: string): Promise<Repo> {
  const head = await lstat(path.join(gitdir, 'HEAD')).catch(() => undefined);
  const objects = await lstat(path.join(gitdir, 'objects')).catch(() => undefined);
  if (!head?.isFile() || !objects?.isDirectory()) {
    throw new OutpostError('GIT_REPO_NOT_FOUND', 'This repository does not exist on disk.', { details: { gitdir } });
  }
  return { fs, gitdir, cache: {} };
}

/**
 * isomorphic-git refuses to parse a tree holding `..`, `.git` (in any of its disguises) or a
 * backslash in a name; such a tree can only come from a crafted push. Say so instead of failing
 * with an internal error.
 */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isGitError(error, 'UnsafeFilepathError')) {
      throw new OutpostError('GIT_PATH_INVALID', 'This commit holds a file name Outpost will not read (such as "..", ".git" or one with a backslash).', { cause: error });
    }
    throw error;
  }
}

function isGitError(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function stamp(p: { name: string; email: string; timestamp: number; timezoneOffset: number }): PersonStamp {
  return { name: p.name, email: p.email, timestamp: p.timestamp, timezoneOffset: p.timezoneOffset };
}

async function objectType(repo: Repo, oid: string): Promise<string | undefined> {
  try {
    const { type } = await git.readObject({ ...repo, oid, format: 'content' });
    return type;
  } catch (error) {
    if (isGitError(error, 'NotFoundError')) return undefined;
    throw error;
  }
}

/** Follows annotated tags to what they name; refuses anything that does not end at a commit. */
async function peelToCommit(repo: Repo, oid: string, asked: string): Promise<string> {
  let current = oid;
  for (let depth = 0; depth < 10; depth++) {
    const type = await objectType(repo, current);
    if (type === 'commit') return current;
    if (type === 'tag') { current = (await git.readTag({ ...repo, oid: current })).tag.object; continue; }
    break;
  }
  throw new OutpostError('GIT_REF_NOT_FOUND', `"${asked}" does not name a commit in this repository.`, { details: { ref: asked } });
}

async function refOid(repo: Repo, full: string): Promise<string | undefined> {
  try {
    return await git.resolveRef({ ...repo, ref: full });
  } catch (error) {
    if (isGitError(error, 'NotFoundError')) return undefined;
    throw error;
  }
}

function modeType(mode: string): EntryType {
  if (mode === '040000' || mode === '40000') return 'tree';
  if (mode === '120000') return 'symlink';
  if (mode === '160000') return 'submodule';
  return 'blob';
}

function isBinary(data: Uint8Array): boolean {
  const end = Math.min(data.length, 8000);
  for (let i = 0; i < end; i++) if (data[i] === 0) return true;
  return false;
}

async function commitTree(repo: Repo, commit: string): Promise<string> {
  return (await git.readCommit({ ...repo, oid: commit })).commit.tree;
}

/** The tree entry at `p` below the tree `root`; the root itself for ''. */
async function entryAt(repo: Repo, root: string, p: string): Promise<{ mode: string; oid: string; type: EntryType }> {
  let current = { mode: '040000', oid: root, type: 'tree' as EntryType };
  if (p === '') return current;
  const parts = p.split('/');
  for (let i = 0; i < parts.length; i++) {
    if (current.type !== 'tree') break;
    const { tree } = await git.readTree({ ...repo, oid: current.oid });
    const found = tree.find((e) => e.path === parts[i]);
    if (!found) break;
    current = { mode: found.mode, oid: found.oid, type: modeType(found.mode) };
    if (i === parts.length - 1) return current;
  }
  throw new OutpostError('GIT_PATH_NOT_FOUND', `There is no "${p}" at this commit.`, { details: { path: p } });
}

// ---------------------------------------------------------------- creating

const BARE_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n';

/**
 * Makes `gitdir` a new bare repository (creating it, or using it if it is an empty directory) with
 * HEAD on `refs/heads/<defaultBranch>`. Written by hand rather than by `git.init`, whose config
 * says `filemode = false` and `ignorecase = true`, both wrong for a Linux host's stock git.
 */
export async function initBareRepo(gitdir: string, options: { defaultBranch?: string } = {}): Promise<void> {
  const branch = options.defaultBranch ?? 'main';
  if (!isValidRefName(branch) || branch.startsWith('refs/') || branch === 'HEAD') {
    throw new OutpostError('GIT_REF_INVALID', `"${branch.slice(0, 80)}" is not a branch name git accepts.`, { details: { ref: branch.slice(0, 255) } });
  }
  await claimDirectory(gitdir);
  for (const dir of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags', 'info']) await mkdir(path.join(gitdir, dir), { recursive: true });
  await writeFile(path.join(gitdir, 'config'), BARE_CONFIG);
  await writeFile(path.join(gitdir, 'description'), 'Unnamed repository\n');
  await writeFile(path.join(gitdir, 'HEAD'), `ref: refs/heads/${branch}\n`);
}

async function claimDirectory(gitdir: string): Promise<void> {
  const existing = await readdir(gitdir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing && existing.length > 0) {
    throw new OutpostError('GIT_REPO_EXISTS', 'A repository (or other files) already exists in this directory.', { details: { gitdir } });
  }
  await mkdir(gitdir, { recursive: true });
}

/**
 * Creates a bare repository whose history is one commit holding the template folder's files (an
 * exercise's starter files, a shop project's skeleton). The executable bit is kept; symlinks are
 * kept only when they point inside the template; sockets, FIFOs, devices and `.git` folders are
 * left out. On failure the half-made repository is removed.
 */
export async function createRepoFromTemplate(gitdir: string, templateDir: string, options: TemplateOptions): Promise<TemplateResult> {
  const branch = options.branch ?? 'main';
  const top = await lstat(templateDir).catch(() => undefined);
  if (!top?.isDirectory()) throw new OutpostError('GIT_TEMPLATE_INVALID', `The template folder ${templateDir} does not exist or is not a folder.`, { details: { templateDir } });
  await initBareRepo(gitdir, { defaultBranch: branch });
  try {
    const repo = await open(gitdir);
    const root = path.resolve(templateDir);
    const limits = { files: options.maxFiles ?? 20_000, bytes: options.maxBytes ?? 200 * 1024 * 1024 };
    const state = { files: 0, bytes: 0, skipped: [] as string[] };
    const tree = await writeTemplateTree(repo, root, root, '', limits, state);
    const now = Math.floor(Date.now() / 1000);
    const author = { name: options.author.name, email: options.author.email, timestamp: options.author.timestamp ?? now, timezoneOffset: options.author.timezoneOffset ?? 0 };
    const message = (options.message ?? 'Initial commit').replace(/\n*$/, '\n');
    const commit = await git.writeCommit({ ...repo, commit: { message, tree, parent: [], author, committer: author } });
    await git.writeRef({ ...repo, ref: `refs/heads/${branch}`, value: commit, force: true });
    return { commit, files: state.files, skipped: state.skipped };
  } catch (error) {
    await rm(gitdir, { recursive: true, force: true });
    throw error;
  }
}

async function writeTemplateTree(
  repo: Repo, root: string, dir: string, rel: string,
  limits: { files: number; bytes: number }, state: { files: number; bytes: number; skipped: string[] },
): Promise<string> {
  const entries: { mode: string; path: string; oid: string; type: 'blob' | 'tree' }[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const full = path.join(dir, name);
    const relPath = rel ? `${rel}/${name}` : name;
    if (name === '.git') { state.skipped.push(relPath); continue; }
    const st = await lstat(full);
    if (st.isDirectory()) {
      const oid = await writeTemplateTree(repo, root, full, relPath, limits, state);
      if (oid !== EMPTY_TREE) entries.push({ mode: '040000', path: name, oid, type: 'tree' });
    } else if (st.isFile()) {
      state.files += 1;
      state.bytes += st.size;
      if (state.files > limits.files || state.bytes > limits.bytes) {
        throw new OutpostError('GIT_TEMPLATE_INVALID', `The template ${root} is larger than ${limits.files} files or ${limits.bytes} bytes.`, { details: { templateDir: root } });
      }
      const oid = await git.writeBlob({ ...repo, blob: await readFile(full) });
      entries.push({ mode: st.mode & 0o111 ? '100755' : '100644', path: name, oid, type: 'blob' });
    } else if (st.isSymbolicLink()) {
      const target = await readlink(full);
      const resolved = path.resolve(dir, target);
      // Only links that stay inside the template: a link to /etc/shadow would hand a host file's
      // path (and, once checked out elsewhere, possibly its content) to whoever clones.
      if (path.isAbsolute(target) || (resolved !== root && !resolved.startsWith(root + path.sep))) { state.skipped.push(relPath); continue; }
      const oid = await git.writeBlob({ ...repo, blob: Buffer.from(target) });
      entries.push({ mode: '120000', path: name, oid, type: 'blob' });
    } else {
      state.skipped.push(relPath);
    }
  }
  if (entries.length === 0) return EMPTY_TREE;
  return git.writeTree({ ...repo, tree: entries });
}

// ---------------------------------------------------------------- refs

/** The branch HEAD names (even when it has no commit yet). */
export async function headBranch(gitdir: string): Promise<string | undefined> {
  const repo = await open(gitdir);
  const head = (await readFile(path.join(repo.gitdir, 'HEAD'), 'utf8')).trim();
  const match = /^ref: refs\/heads\/(.+)$/.exec(head);
  return match?.[1];
}

/** Whether the repository has no branch at all (nothing was pushed yet). */
export async function isEmptyRepo(gitdir: string): Promise<boolean> {
  return (await listBranches(gitdir)).length === 0;
}

export async function listBranches(gitdir: string): Promise<RefInfo[]> {
  return guard(async () => {
    const repo = await open(gitdir);
    const names = await git.listBranches({ ...repo });
    const out: RefInfo[] = [];
    for (const name of names.sort()) {
      const oid = await refOid(repo, `refs/heads/${name}`);
      if (oid) out.push({ name, oid });
    }
    return out;
  });
}

/** Tags with the commit each points at (annotated tags peeled); tags of non-commits are left out. */
export async function listTags(gitdir: string): Promise<RefInfo[]> {
  return guard(async () => {
    const repo = await open(gitdir);
    const names = await git.listTags({ ...repo });
    const out: RefInfo[] = [];
    for (const name of names.sort()) {
      const oid = await refOid(repo, `refs/tags/${name}`);
      if (!oid) continue;
      try { out.push({ name, oid: await peelToCommit(repo, oid, name) }); } catch (error) { if (!isOutpostError(error, 'GIT_REF_NOT_FOUND')) throw error; }
    }
    return out;
  });
}

/**
 * Resolves what a user typed or a URL holds, in git's order: HEAD, a full ref (`refs/heads/x`,
 * `refs/tags/x`), a branch, a tag, then a full or abbreviated (4+ hex digits) commit id.
 */
export async function resolveRef(gitdir: string, ref: string): Promise<ResolvedRef> {
  return guard(async () => {
    checkRef(ref);
    const repo = await open(gitdir);
    return resolveIn(repo, ref);
  });
}

async function resolveIn(repo: Repo, ref: string): Promise<ResolvedRef> {
  const notFound = () => new OutpostError('GIT_REF_NOT_FOUND', `There is no branch, tag or commit "${ref}" in this repository.`, { details: { ref } });
  if (ref === 'HEAD') {
    const oid = await refOid(repo, 'HEAD');
    if (!oid) throw notFound();
    const branch = /^ref: refs\/heads\/(.+)$/.exec((await readFile(path.join(repo.gitdir, 'HEAD'), 'utf8')).trim())?.[1];
    return { oid: await peelToCommit(repo, oid, ref), kind: branch ? 'branch' : 'commit', name: branch ?? oid };
  }
  const candidates: [string, 'branch' | 'tag', string][] = ref.startsWith('refs/heads/') ? [[ref, 'branch', ref.slice(11)]]
    : ref.startsWith('refs/tags/') ? [[ref, 'tag', ref.slice(10)]]
    : [[`refs/heads/${ref}`, 'branch', ref], [`refs/tags/${ref}`, 'tag', ref]];
  for (const [full, kind, name] of candidates) {
    const oid = await refOid(repo, full);
    if (oid) return { oid: await peelToCommit(repo, oid, ref), kind, name };
  }
  if (OID.test(ref)) {
    if (!(await objectType(repo, ref))) throw notFound();
    return { oid: await peelToCommit(repo, ref, ref), kind: 'commit', name: ref };
  }
  if (SHORT_OID.test(ref)) {
    let oid: string;
    try {
      oid = await git.expandOid({ ...repo, oid: ref });
    } catch (error) {
      if (isGitError(error, 'AmbiguousError')) throw new OutpostError('GIT_REF_NOT_FOUND', `"${ref}" is the start of more than one object id; give more digits.`, { details: { ref } });
      if (isGitError(error, 'NotFoundError')) throw notFound();
      throw error;
    }
    return { oid: await peelToCommit(repo, oid, ref), kind: 'commit', name: oid };
  }
  throw notFound();
}

// ---------------------------------------------------------------- commits

function commitInfo(oid: string, c: { tree: string; parent: string[]; message: string; author: PersonStamp; committer: PersonStamp }): CommitInfo {
  return { oid, tree: c.tree, parents: [...c.parent], message: c.message, subject: c.message.split('\n', 1)[0] ?? '', author: stamp(c.author), committer: stamp(c.committer) };
}

export async function readCommit(gitdir: string, ref: string): Promise<CommitInfo> {
  return guard(async () => {
    checkRef(ref);
    const repo = await open(gitdir);
    const { oid } = await resolveIn(repo, ref);
    const { commit } = await git.readCommit({ ...repo, oid });
    return commitInfo(oid, commit);
  });
}

/**
 * History from `ref`, newest first, a page at a time; with `path`, only commits that changed it.
 * `hasMore` says whether a next page exists.
 */
export async function listCommits(gitdir: string, ref: string, options: { limit?: number; skip?: number; path?: string } = {}): Promise<{ commits: CommitInfo[]; hasMore: boolean }> {
  return guard(async () => {
    checkRef(ref);
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 30)), 500);
    const skip = Math.max(0, Math.floor(options.skip ?? 0));
    const filepath = options.path === undefined ? '' : validateRepoPath(options.path);
    const repo = await open(gitdir);
    const { oid } = await resolveIn(repo, ref);
    const found = await git.log({ ...repo, ref: oid, depth: skip + limit + 1, ...(filepath ? { filepath, force: true } : {}) });
    const page = found.slice(skip, skip + limit).map((c) => commitInfo(c.oid, c.commit));
    return { commits: page, hasMore: found.length > skip + limit };
  });
}

// ---------------------------------------------------------------- trees and blobs

export async function readTreeAt(gitdir: string, ref: string, treePath = ''): Promise<TreeResult> {
  return guard(async () => {
    checkRef(ref);
    const p = validateRepoPath(treePath);
    const repo = await open(gitdir);
    const { oid: commit } = await resolveIn(repo, ref);
    const entry = await entryAt(repo, await commitTree(repo, commit), p);
    if (entry.type !== 'tree') throw new OutpostError('GIT_NOT_A_DIRECTORY', `"${p}" is a file, not a folder.`, { details: { path: p } });
    const { tree } = await git.readTree({ ...repo, oid: entry.oid });
    const entries = tree.map((e): TreeItem => ({ name: e.path, path: p ? `${p}/${e.path}` : e.path, type: modeType(e.mode), mode: e.mode, oid: e.oid }));
    // Folders first, then files, each by name: how people expect a listing, unlike git's byte order.
    entries.sort((a, b) => Number(b.type === 'tree') - Number(a.type === 'tree') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { commit, path: p, oid: entry.oid, entries };
  });
}

/**
 * The file at `ref:path`. `maxBytes` cuts `content` (for display) while `size` stays the real
 * size; the whole object is still read, since git stores it compressed as one piece.
 */
export async function readBlobAt(gitdir: string, ref: string, filePath: string, options: { maxBytes?: number } = {}): Promise<BlobResult> {
  return guard(async () => {
    checkRef(ref);
    const p = validateRepoPath(filePath);
    if (p === '') throw new OutpostError('GIT_NOT_A_FILE', 'The repository root is a folder, not a file.', { details: { path: p } });
    const repo = await open(gitdir);
    const { oid: commit } = await resolveIn(repo, ref);
    const entry = await entryAt(repo, await commitTree(repo, commit), p);
    if (entry.type !== 'blob' && entry.type !== 'symlink') throw new OutpostError('GIT_NOT_A_FILE', `"${p}" is a ${entry.type === 'tree' ? 'folder' : 'submodule'}, not a file.`, { details: { path: p } });
    const { blob } = await git.readBlob({ ...repo, oid: entry.oid });
    const data = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    const max = options.maxBytes ?? Infinity;
    return {
      commit, path: p, oid: entry.oid, mode: entry.mode, type: entry.type, executable: entry.mode === '100755',
      size: data.length, binary: isBinary(data), truncated: data.length > max, content: data.length > max ? data.subarray(0, max) : data,
    };
  });
}

// ---------------------------------------------------------------- diffs

interface Change { path: string; oldMode: string | null; newMode: string | null; oldOid: string | null; newOid: string | null }

/** Files that differ between two trees, in path order; identical subtrees are never opened. */
async function changedFiles(repo: Repo, a: string | null, b: string | null, prefix: string, out: Change[], max: number): Promise<void> {
  if (a === b || out.length > max) return;
  const [left, right] = await Promise.all([a ? git.readTree({ ...repo, oid: a }) : undefined, b ? git.readTree({ ...repo, oid: b }) : undefined]);
  const byName = new Map<string, { a?: { mode: string; oid: string }; b?: { mode: string; oid: string } }>();
  for (const e of left?.tree ?? []) byName.set(e.path, { a: { mode: e.mode, oid: e.oid } });
  for (const e of right?.tree ?? []) byName.set(e.path, { ...byName.get(e.path), b: { mode: e.mode, oid: e.oid } });
  for (const name of [...byName.keys()].sort()) {
    if (out.length > max) return;
    const { a: x, b: y } = byName.get(name)!;
    const full = prefix ? `${prefix}/${name}` : name;
    if (x && y && x.oid === y.oid && x.mode === y.mode) continue;
    const xTree = x !== undefined && modeType(x.mode) === 'tree';
    const yTree = y !== undefined && modeType(y.mode) === 'tree';
    if (xTree || yTree) await changedFiles(repo, xTree ? x!.oid : null, yTree ? y!.oid : null, full, out, max);
    // A file replaced by a folder (or the reverse) is a deletion plus additions.
    const xFile = x !== undefined && !xTree ? x : undefined;
    const yFile = y !== undefined && !yTree ? y : undefined;
    if (xFile || yFile) out.push({ path: full, oldMode: xFile?.mode ?? null, newMode: yFile?.mode ?? null, oldOid: xFile?.oid ?? null, newOid: yFile?.oid ?? null });
  }
}

/**
 * What changed from commit `from` to commit `to` (`from` null: everything in `to` is added). Text
 * files get unified hunks; binary files, submodules and files over the limits are listed with a
 * flag and no hunks, so one huge or generated file cannot exhaust memory or time.
 */
export async function diffCommits(gitdir: string, from: string | null, to: string, limits: DiffLimits = {}): Promise<DiffResult> {
  return guard(async () => {
    if (from !== null) checkRef(from);
    checkRef(to);
    const repo = await open(gitdir);
    const fromOid = from === null ? null : (await resolveIn(repo, from)).oid;
    const toOid = (await resolveIn(repo, to)).oid;
    return diffResolved(repo, fromOid, toOid, limits);
  });
}

/** The commit at `ref` against its first parent (or against nothing, for a root commit). */
export async function diffCommit(gitdir: string, ref: string, limits: DiffLimits = {}): Promise<DiffResult & { commit: CommitInfo }> {
  return guard(async () => {
    checkRef(ref);
    const repo = await open(gitdir);
    const { oid } = await resolveIn(repo, ref);
    const { commit } = await git.readCommit({ ...repo, oid });
    const result = await diffResolved(repo, commit.parent[0] ?? null, oid, limits);
    return { ...result, commit: commitInfo(oid, commit) };
  });
}

async function diffResolved(repo: Repo, fromOid: string | null, toOid: string, limits: DiffLimits): Promise<DiffResult> {
  const maxFiles = limits.maxFiles ?? 300;
  const maxFileBytes = limits.maxFileBytes ?? 1024 * 1024;
  const context = limits.context ?? 3;
  let budget = limits.maxBytes ?? 8 * 1024 * 1024;
  const changes: Change[] = [];
  await changedFiles(repo, fromOid ? await commitTree(repo, fromOid) : null, await commitTree(repo, toOid), '', changes, maxFiles);
  const truncated = changes.length > maxFiles;
  const files: FileDiff[] = [];
  for (const c of changes.slice(0, maxFiles)) {
    const status = c.oldOid === null ? 'added' : c.newOid === null ? 'deleted' : 'modified';
    const file: FileDiff = { ...c, status, binary: false, tooLarge: false, additions: 0, deletions: 0, hunks: [] };
    files.push(file);
    const submodule = (c.oldMode !== null && modeType(c.oldMode) === 'submodule') || (c.newMode !== null && modeType(c.newMode) === 'submodule');
    if (submodule || c.oldOid === c.newOid) continue;
    if (budget <= 0) { file.tooLarge = true; continue; }
    const read = async (oid: string | null) => (oid ? Buffer.from((await git.readBlob({ ...repo, oid })).blob) : Buffer.alloc(0));
    const [before, after] = [await read(c.oldOid), await read(c.newOid)];
    budget -= before.length + after.length;
    if (isBinary(before) || isBinary(after)) { file.binary = true; continue; }
    if (before.length > maxFileBytes || after.length > maxFileBytes || budget < 0) { file.tooLarge = true; continue; }
    // The edit-length cap bounds jsdiff's O(N·D) work on two long, unrelated files.
    const patch = structuredPatch(c.path, c.path, before.toString('utf8'), after.toString('utf8'), undefined, undefined, { context, maxEditLength: 20_000 });
    if (!patch) { file.tooLarge = true; continue; }
    file.hunks = patch.hunks.map((h) => ({ oldStart: h.oldStart, oldLines: h.oldLines, newStart: h.newStart, newLines: h.newLines, lines: h.lines }));
    for (const h of file.hunks) for (const line of h.lines) { if (line.startsWith('+')) file.additions++; else if (line.startsWith('-')) file.deletions++; }
  }
  return {
    from: fromOid, to: toOid, files, truncated,
    additions: files.reduce((n, f) => n + f.additions, 0), deletions: files.reduce((n, f) => n + f.deletions, 0),
  };
}

// ---------------------------------------------------------------- export

/** A name a pushed tree may hold but that must never become a file name on the host. */
function unsafeEntryName(name: string): boolean {
  return name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.toLowerCase() === '.git';
}

/**
 * Writes the files of exactly one commit into `destDir` (created; it must not exist or be empty):
 * what the autograder grades, the pushed commit and nothing else. Regular files only, executable
 * bit kept. Symlinks and submodules are skipped, never created, so nothing written can point
 * outside `destDir`; entry names are checked again because a crafted tree can hold `..` or `.git`
 * even where the git server checks pushes. On failure what was written is removed.
 */
export async function exportCommit(gitdir: string, ref: string, destDir: string, limits: { maxFiles?: number; maxBytes?: number } = {}): Promise<ExportResult> {
  return guard(async () => {
    checkRef(ref);
    const repo = await open(gitdir);
    const { oid: commit } = await resolveIn(repo, ref);
    const tree = await commitTree(repo, commit);
    const existing = await readdir(destDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (existing && existing.length > 0) throw new OutpostError('INPUT_INVALID', `The folder ${destDir} is not empty; a commit is only exported into a new folder.`, { details: { destDir } });
    const max = { files: limits.maxFiles ?? 20_000, bytes: limits.maxBytes ?? 200 * 1024 * 1024 };
    const state = { files: 0, bytes: 0, skipped: [] as string[] };
    await mkdir(destDir, { recursive: true });
    try {
      await exportTree(repo, tree, destDir, '', max, state);
    } catch (error) {
      await rm(destDir, { recursive: true, force: true });
      throw error;
    }
    return { commit, files: state.files, bytes: state.bytes, skipped: state.skipped };
  });
}

async function exportTree(repo: Repo, oid: string, dir: string, rel: string, max: { files: number; bytes: number }, state: { files: number; bytes: number; skipped: string[] }): Promise<void> {
  const { tree } = await git.readTree({ ...repo, oid });
  for (const entry of tree) {
    const relPath = rel ? `${rel}/${entry.path}` : entry.path;
    const type = modeType(entry.mode);
    if (unsafeEntryName(entry.path) || type === 'symlink' || type === 'submodule') { state.skipped.push(relPath); continue; }
    const target = path.join(dir, entry.path);
    if (type === 'tree') {
      await mkdir(target);
      await exportTree(repo, entry.oid, target, relPath, max, state);
      continue;
    }
    const { blob } = await git.readBlob({ ...repo, oid: entry.oid });
    state.files += 1;
    state.bytes += blob.byteLength;
    if (state.files > max.files || state.bytes > max.bytes) {
      throw new OutpostError('GIT_TOO_LARGE', `This commit has more than ${max.files} files or ${max.bytes} bytes.`, { details: { path: relPath } });
    }
    // 'wx': never write through something that is already there.
    await writeFile(target, blob, { flag: 'wx', mode: entry.mode === '100755' ? 0o755 : 0o644 });
    await chmod(target, entry.mode === '100755' ? 0o755 : 0o644);
  }
}
