/**
 * Atomic file replacement: write a temp file beside the target, flush it, give it its mode, rename.
 * A crash leaves the old file or the new one, never a truncated one; readers that watch the
 * directory see one rename.
 */
import { open, chmod, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { openSync, writeSync, fsyncSync, closeSync, renameSync, rmSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const tempName = (file: string) => `${file}.tmp-${randomBytes(6).toString('hex')}`;

export async function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempName(file);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The umask may have narrowed the mode given to open().
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** The same, for callers that must not yield (inside a synchronous transaction). */
export function writeFileAtomicSync(file: string, content: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(file);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/**
 * Makes a host folder readable (and nothing more) by the unprivileged user of a container it is
 * mounted into read-only: folders 0755, files 0644. Used for what a sandbox must read but not
 * change (submissions with their tests, a commit to preview or build).
 */
export async function makeTreeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeTreeReadable(p);
    else await chmod(p, 0o644);
  }
}
