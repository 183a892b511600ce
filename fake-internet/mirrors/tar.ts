/**
 * Extracts a site archive (.tar, .tar.gz, .tgz) into an empty staging directory, refusing archives
 * that try to write outside it. The archive is read twice: once to check every entry before anything
 * is written, once to extract what passed. The staging tree is then planned and copied like any
 * directory, which turns the remaining (inside) links into plain files.
 */
import * as tar from 'tar';
import path from 'node:path';
import { OutpostError } from '../../core/errors.ts';
import type { TreeLimits } from './tree.ts';

export interface TarCheck {
  /** Symbolic links that point outside the site: not extracted, reported. */
  droppedLinks: string[];
}

const CONTENT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

export function isTarPath(file: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(file);
}

export async function extractTarSafely(options: { file: string; into: string; limits: TreeLimits }): Promise<TarCheck> {
  const { file, into, limits } = options;
  const refuse = (entry: string, why: string): never => {
    throw new OutpostError('MIRROR_INVALID', `The archive ${file} is refused: entry "${entry}" ${why}. Rebuild the archive with relative paths inside the site only.`, { details: { file: entry } });
  };
  const symlinks = new Set<string>();
  const contents = new Set<string>();
  const dropped = new Set<string>();
  let entries = 0;
  let bytes = 0;
  let problem: unknown;

  // Checking must not throw inside node-tar's stream callbacks, so the first problem is kept and raised after.
  const check = (entry: tar.ReadEntry) => {
    if (problem !== undefined) return;
    try {
      const name = normalizeEntryPath(entry.path, (why) => refuse(entry.path, why));
      if (name === '') return;
      if (++entries > limits.maxFiles) refuse(name, `is past the limit of ${limits.maxFiles} entries`);
      if (ancestors(name).some((dir) => symlinks.has(dir) || dropped.has(dir))) refuse(name, 'is written through a symbolic link');
      if (CONTENT_TYPES.has(entry.type)) {
        bytes += entry.size;
        if (bytes > limits.maxBytes) refuse(name, `takes the archive past the limit of ${limits.maxBytes} bytes`);
        contents.add(name);
      } else if (entry.type === 'Directory') {
        // nothing to check beyond the path
      } else if (entry.type === 'SymbolicLink') {
        const target = entry.linkpath ?? '';
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
        if (target === '' || path.posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) dropped.add(name);
        else symlinks.add(name);
      } else if (entry.type === 'Link') {
        const target = normalizeEntryPath(entry.linkpath ?? '', (why) => refuse(name, `is a hard link whose target ${why}`));
        if (!contents.has(target) && !symlinks.has(target)) refuse(name, `is a hard link to "${entry.linkpath}", which is not an earlier file of the archive`);
        contents.add(name);
      } else {
        refuse(name, `is a ${entry.type}, and a site may hold only files, directories and links`);
      }
    } catch (error) {
      problem = error;
    }
  };

  try {
    await tar.list({ file, onReadEntry: check, strict: true });
  } catch (error) {
    throw new OutpostError('MIRROR_INVALID', `Cannot read the archive ${file}: ${(error as Error).message}. Check that it is a tar, tar.gz or tgz file.`, { cause: error });
  }
  if (problem !== undefined) throw problem;

  try {
    await tar.extract({
      file,
      cwd: into,
      strict: true,
      preserveOwner: false,
      filter: (entryPath) => {
        const name = normalizeEntryPath(entryPath, () => '');
        return !dropped.has(name);
      },
    });
  } catch (error) {
    throw new OutpostError('MIRROR_IMPORT_FAILED', `Cannot extract the archive ${file}: ${(error as Error).message}. Check the free space of the mirrors directory.`, { cause: error });
  }
  return { droppedLinks: [...dropped].sort() };
}

/** The entry's path inside the site ('' for the root), or `refuse` when it is absolute or climbs out. */
function normalizeEntryPath(raw: string, refuse: (why: string) => string): string {
  if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw) || raw.includes('\\')) return refuse('has an absolute or non-POSIX path');
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return refuse('contains ".."');
  return parts.join('/');
}

function ancestors(name: string): string[] {
  const parts = name.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}
