/**
 * Turns a source directory into a plan of plain files, then copies the plan. Planning first means the
 * limits are checked before a byte is written, and the progress total is known while copying.
 *
 * Symbolic links never reach the site: a link to a regular file becomes a copy of that file, a link to
 * a directory inside the tree is followed (cycles are dropped), and anything that resolves outside
 * `linkRoot` (or cannot be read, or is not a regular file or directory) is dropped and counted.
 * `linkRoot` defaults to the tree itself; the Debian importer widens it to the extracted package
 * root so `_static/jquery.js -> ../../../../javascript/jquery/jquery.js` keeps its content.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { OutpostError } from '../../core/errors.ts';

export interface TreeLimits {
  maxFiles: number;
  maxBytes: number;
}

export interface PlannedFile {
  /** Real path of the content to copy (already resolved when it came through a link). */
  source: string;
  /** Path inside the site, with `/` separators. */
  target: string;
  size: number;
}

export interface TreePlan {
  files: PlannedFile[];
  bytes: number;
  droppedLinks: string[];
  droppedOther: string[];
}

export interface PlanOptions {
  from: string;
  linkRoot?: string;
  limits: TreeLimits;
  /** Keep only the files this accepts (path inside the site). */
  include?: (target: string) => boolean;
}

export async function planTree(options: PlanOptions): Promise<TreePlan> {
  const treeRoot = await realpath(options.from);
  const linkRoot = options.linkRoot === undefined ? treeRoot : await realpath(options.linkRoot);
  const plan: TreePlan = { files: [], bytes: 0, droppedLinks: [], droppedOther: [] };

  const addFile = (source: string, target: string, size: number) => {
    if (options.include && !options.include(target)) return;
    if (plan.files.length + 1 > options.limits.maxFiles) {
      throw new OutpostError('MIRROR_INVALID', `The mirror at ${options.from} has more than ${options.limits.maxFiles} files (stopped at ${target}). Import a smaller tree or raise maxFiles.`, { details: { file: target, maxFiles: options.limits.maxFiles } });
    }
    if (plan.bytes + size > options.limits.maxBytes) {
      throw new OutpostError('MIRROR_INVALID', `The mirror at ${options.from} is larger than ${options.limits.maxBytes} bytes (stopped at ${target}). Import a smaller tree or raise maxBytes.`, { details: { file: target, maxBytes: options.limits.maxBytes } });
    }
    plan.files.push({ source, target, size });
    plan.bytes += size;
  };

  // `chain` holds the real paths of the directories being walked, so a link back up is a cycle.
  const walk = async (dir: string, prefix: string, chain: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
      throw new OutpostError('MIRROR_IMPORT_FAILED', `Cannot read the directory ${dir}: ${(error as Error).message}. Check that it exists and is readable.`, { cause: error, details: { file: prefix || '.' } });
    });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const source = path.join(dir, entry.name);
      const target = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(source, target, [...chain, path.join(chain[chain.length - 1]!, entry.name)]);
      } else if (entry.isFile()) {
        addFile(source, target, (await lstat(source)).size);
      } else if (entry.isSymbolicLink()) {
        const resolved = await realpath(source).catch(() => undefined);
        const info = resolved === undefined ? undefined : await stat(resolved).catch(() => undefined);
        if (resolved === undefined || info === undefined) {
          plan.droppedLinks.push(target);
        } else if (info.isFile() && isInside(resolved, linkRoot)) {
          addFile(resolved, target, info.size);
        } else if (info.isDirectory() && isInside(resolved, treeRoot) && !chain.includes(resolved)) {
          await walk(resolved, target, [...chain, resolved]);
        } else {
          plan.droppedLinks.push(target);
        }
      } else {
        plan.droppedOther.push(target);
      }
    }
  };
  await walk(treeRoot, '', [treeRoot]);
  return plan;
}

/** Copies the plan into `into` (which must exist), files 0644 and directories 0755 so a non-root gateway can read them. */
export async function copyPlan(plan: TreePlan, into: string, onFile?: (done: number, file: string) => void): Promise<void> {
  const made = new Set<string>();
  let done = 0;
  for (const file of plan.files) {
    const destination = path.join(into, ...file.target.split('/'));
    const parent = path.dirname(destination);
    if (!made.has(parent)) {
      await mkdir(parent, { recursive: true, mode: 0o755 });
      made.add(parent);
    }
    // O_NOFOLLOW: a file swapped for a link after planning must not smuggle in what the link points to.
    const handle = await open(file.source, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: unknown) => {
      throw new OutpostError('MIRROR_IMPORT_FAILED', `Cannot read ${file.target} (${file.source}): ${(error as Error).message}. Check that the source is readable and not changing during the import.`, { cause: error, details: { file: file.target } });
    });
    try {
      if (!(await handle.stat()).isFile()) {
        throw new OutpostError('MIRROR_IMPORT_FAILED', `${file.target} (${file.source}) stopped being a regular file during the import. Import again from a tree that is not changing.`, { details: { file: file.target } });
      }
      await pipeline(createReadStream('', { fd: handle, autoClose: false }), createWriteStream(destination, { flags: 'wx', mode: 0o644 }));
    } catch (error) {
      if (error instanceof OutpostError) throw error;
      throw new OutpostError('MIRROR_IMPORT_FAILED', `Cannot copy ${file.target} into the mirror: ${(error as Error).message}. Check the free space and permissions of the mirrors directory.`, { cause: error, details: { file: file.target } });
    } finally {
      await handle.close();
    }
    onFile?.(++done, file.target);
  }
}

export function isInside(candidate: string, root: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}
