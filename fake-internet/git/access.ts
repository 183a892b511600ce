/**
 * Who may read and write which repository, as the git service sees it. The control plane computes
 * the file from accounts, cohorts and collaborators (hosting.ts) and writes it where the git
 * container reads it; the container holds no database and no password, only token hashes.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';

export const accessFileSchema = z.object({
  version: z.literal(1),
  /** sha256(token) in hex → user name. Only active accounts' unrevoked tokens are listed. */
  tokens: z.record(z.string().regex(/^[0-9a-f]{64}$/), z.string()),
  /** Users who may read every repository (staff, admins). */
  readAll: z.array(z.string()),
  /** `owner/name` → the users who may read, and who may push. Writers may read. */
  repos: z.record(z.string(), z.object({ read: z.array(z.string()), write: z.array(z.string()) })),
});
export type AccessFile = z.infer<typeof accessFileSchema>;

export type RepoAccess = 'none' | 'read' | 'write';

export const TOKEN_PREFIX = 'opt_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function accessIn(file: AccessFile, user: string | undefined, repo: string): RepoAccess {
  if (user === undefined) return 'none';
  const entry = file.repos[repo];
  if (entry?.write.includes(user)) return 'write';
  if (entry?.read.includes(user)) return 'read';
  // Staff read every repository, but only ones that exist.
  if (entry !== undefined && file.readAll.includes(user)) return 'read';
  return 'none';
}

/**
 * Reads the access file again only when it changed on disk (the control plane replaces it
 * atomically). A broken file keeps the last good one, and until one was read nobody gets in.
 */
export function createAccessReader(file: string, onError: (error: Error) => void): () => AccessFile {
  let current: AccessFile = { version: 1, tokens: {}, readAll: [], repos: {} };
  let stamp = '';
  return () => {
    let next = '';
    try {
      const s = statSync(file);
      next = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (error) {
      if (stamp !== 'missing') onError(error as Error);
      stamp = 'missing';
      return current;
    }
    if (next === stamp) return current;
    try {
      current = accessFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      stamp = next;
    } catch (error) {
      onError(error as Error);
      stamp = next;
    }
    return current;
  };
}
