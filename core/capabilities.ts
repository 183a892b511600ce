/**
 * Capability links: an unguessable token that stands for "this viewer, in this sign-in session, may
 * open this thing", for pages whose own sub-requests carry no cookie (a sandboxed preview). A link
 * ends with the viewer's session, when the account is disabled, or after `hours`; callers add their
 * own check of what the link opens (the policy, a part in a project) on every request.
 */
import { randomBytes } from 'node:crypto';
import type { Accounts, User } from './accounts.ts';
import { OutpostError } from './errors.ts';
import type { Sessions } from './sessions.ts';

export interface CapabilityLinks<T> {
  /** A live token for (viewer, session, scope), reusing one already given. */
  issue(viewer: string, sessionId: string, scope: T): string;
  /** The scope and viewer of a live token; NOT_FOUND (with `goneMessage`) otherwise. */
  check(token: string): { viewer: User; scope: T };
  /** Ends a link (its scope no longer holds). */
  revoke(token: string): void;
  /** The error a dead link answers, for callers' own checks. */
  gone(): OutpostError;
}

interface Link<T> { viewer: string; sessionId: string; scope: T; key: string; expiresAt: number }

export function createCapabilityLinks<T>(deps: { sessions: Sessions; accounts: Accounts; goneMessage: string; hours?: number; max?: number }): CapabilityLinks<T> {
  const links = new Map<string, Link<T>>();
  const lifeMs = (deps.hours ?? 8) * 3_600_000;
  const max = deps.max ?? 10_000;
  const gone = () => new OutpostError('NOT_FOUND', deps.goneMessage);
  return {
    issue(viewer, sessionId, scope) {
      const now = Date.now();
      const key = JSON.stringify(scope);
      for (const [token, link] of links) {
        if (link.expiresAt < now) links.delete(token);
        else if (link.viewer === viewer && link.sessionId === sessionId && link.key === key) return token;
      }
      const token = randomBytes(24).toString('base64url');
      // Bounded: beyond `max` the oldest link goes (Maps iterate in insertion order).
      if (links.size >= max) links.delete(links.keys().next().value!);
      links.set(token, { viewer, sessionId, scope, key, expiresAt: now + lifeMs });
      return token;
    },
    check(token) {
      const link = links.get(token);
      if (!link || link.expiresAt < Date.now()) { links.delete(token); throw gone(); }
      const session = deps.sessions.resolve(link.sessionId);
      const viewer = deps.accounts.get(link.viewer);
      if (!session || session.user !== link.viewer || !viewer || viewer.disabled) { links.delete(token); throw gone(); }
      return { viewer, scope: link.scope };
    },
    revoke(token) {
      links.delete(token);
    },
    gone,
  };
}
