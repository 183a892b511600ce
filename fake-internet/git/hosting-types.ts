/**
 * What the web view (server/routes/git.ts) needs from git hosting, kept apart from hosting.ts so the
 * view can be written and tested while hosting is built; hosting.ts implements and re-exports it.
 */
import type { User } from '../../core/accounts.ts';

export type RepoAccess = 'none' | 'read' | 'write';
export interface RepoRecord { owner: string; name: string; ownerKind: 'user' | 'cohort' | 'team'; description: string; defaultBranch: string; createdAt: string; createdBy: string }
export interface GitHostingView {
  /** The bare repository's directory on the host. */
  repoDir(owner: string, name: string): string;
  get(owner: string, name: string): RepoRecord | undefined;
  /** Repositories this user may read, optionally only one owner's. */
  visibleTo(user: User, owner?: string): RepoRecord[];
  access(user: User | undefined, owner: string, name: string): RepoAccess;
  /** https://git.<zone>/OWNER/REPO.git */
  cloneUrl(owner: string, name: string): string;
}
