/**
 * Server-side sessions. The cookie holds a random id; the store keeps only its SHA-256, the user,
 * a CSRF token, and times for the idle and absolute expiry. Logging in always makes a new id
 * (no session fixation); disabling an account or resetting its password deletes its sessions.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from './store.ts';
import type { Config } from './config.ts';

export interface Session {
  idHash: string;
  user: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface Sessions {
  /** Returns the cookie value (the only place the raw id exists) and the session. */
  create(user: string, meta: { ip: string; userAgent: string }): { id: string; session: Session };
  /** Looks a cookie value up, enforcing expiry and touching the idle timer. */
  resolve(id: string | undefined): Session | undefined;
  /**
   * The same answer as `resolve`, but writes nothing: for checks that are not the person's own
   * activity (a WebSocket's periodic re-check), which must not keep the session from idling out.
   */
  peek(id: string | undefined): Session | undefined;
  destroy(id: string): void;
  destroyAllFor(user: string): number;
  /** Deletes expired rows; returns how many. */
  prune(): number;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');

export function createSessions(deps: { store: Store; config: Config['auth']; now?: () => number }): Sessions {
  const { db } = deps.store;
  const now = deps.now ?? Date.now;
  const idleMs = deps.config.sessionIdleMinutes * 60_000;
  const absoluteMs = deps.config.sessionAbsoluteHours * 3_600_000;
  const select = db.prepare('select id_hash as idHash, user, csrf_token as csrfToken, created_at as createdAt, last_seen_at as lastSeenAt from sessions where id_hash = ?');
  const touch = db.prepare('update sessions set last_seen_at = ? where id_hash = ?');
  const remove = db.prepare('delete from sessions where id_hash = ?');

  /** The live session for a cookie value, and whether it has expired (its row is then stale). */
  function lookup(id: string | undefined, t: number): { session: Session; expired: boolean } | undefined {
    if (!id || id.length > 100) return undefined;
    const session = select.get(hashId(id)) as Session | undefined;
    if (!session) return undefined;
    return { session, expired: t - session.lastSeenAt > idleMs || t - session.createdAt > absoluteMs };
  }

  return {
    create(user, meta) {
      const id = randomBytes(32).toString('base64url');
      const session: Session = { idHash: hashId(id), user, csrfToken: randomBytes(32).toString('base64url'), createdAt: now(), lastSeenAt: now() };
      db.prepare('insert into sessions (id_hash, user, csrf_token, created_at, last_seen_at, ip, user_agent) values (?, ?, ?, ?, ?, ?, ?)')
        .run(session.idHash, user, session.csrfToken, session.createdAt, session.lastSeenAt, meta.ip.slice(0, 64), meta.userAgent.slice(0, 256));
      return { id, session };
    },
    resolve(id) {
      const t = now();
      const found = lookup(id, t);
      if (!found) return undefined;
      const { session, expired } = found;
      if (expired) {
        remove.run(session.idHash);
        return undefined;
      }
      // Touch at most once a minute: a write per request buys nothing.
      if (t - session.lastSeenAt > 60_000) touch.run(t, session.idHash);
      return session;
    },
    peek(id) {
      // An expired row is left for `resolve` or `prune`: this check writes nothing.
      const found = lookup(id, now());
      return found && !found.expired ? found.session : undefined;
    },
    destroy(id) { remove.run(hashId(id)); },
    destroyAllFor(user) { return db.prepare('delete from sessions where user = ?').run(user).changes; },
    prune() {
      const t = now();
      return db.prepare('delete from sessions where last_seen_at < ? or created_at < ?').run(t - idleMs, t - absoluteMs).changes;
    },
  };
}
