/**
 * Names in git URLs: `OWNER/REPO`. Both are strict patterns checked before anything touches the
 * disk, so a name can never be a path trick (`..`, `/`, `%2e`, a leading dash read as an option).
 */
import { OutpostError } from '../../core/errors.ts';

/** A user, cohort or shop team name (the loosest of the three account patterns). */
export const GIT_OWNER = /^[a-z0-9][a-z0-9_-]{0,47}$/;
/** Lowercase letters, digits, `-`, `_` and single dots; not ending in `.git`, `.lock` or a dot. */
export const GIT_REPO = /^[a-z0-9](?:[a-z0-9_-]|\.(?!\.)){0,62}$/;

export function isRepoName(name: string): boolean {
  return GIT_REPO.test(name) && !name.endsWith('.git') && !name.endsWith('.lock') && !name.endsWith('.');
}

export function validateRepoName(owner: unknown, name: unknown): { owner: string; name: string } {
  if (typeof owner !== 'string' || !GIT_OWNER.test(owner)) {
    throw new OutpostError('INPUT_INVALID', `"${String(owner).slice(0, 60)}" is not a valid repository owner: a user, cohort or team name (lowercase letters, digits, "-" and "_").`, { details: { field: 'owner' } });
  }
  if (typeof name !== 'string' || !isRepoName(name)) {
    throw new OutpostError('INPUT_INVALID', `"${String(name).slice(0, 70)}" is not a valid repository name: 1–63 lowercase letters, digits, "-", "_" and single dots, starting with a letter or digit, not ending in ".git" or ".lock".`, { details: { field: 'name' } });
  }
  return { owner, name };
}

/** Parses `OWNER/REPO` (an optional `.git` suffix is dropped). */
export function parseRepoSlug(slug: string): { owner: string; name: string } {
  const match = /^([^/]+)\/([^/]+)$/.exec(slug.trim());
  if (!match) throw new OutpostError('INPUT_INVALID', `"${slug.slice(0, 120)}" is not OWNER/REPO, for example alice/hello-world.`, { details: { field: 'repo' } });
  return validateRepoName(match[1], match[2]!.replace(/\.git$/, ''));
}
