/**
 * Sign-in, sign-out and password change. Sign-in has its own CSRF token (a cookie and a form field
 * that must match, since there is no session yet), per-address throttling on top of the per-account
 * lockout, and always starts a brand-new session id.
 */
import type { Request, Response } from 'express';
import { isOutpostError } from '../../core/errors.ts';
import type { Accounts } from '../../core/accounts.ts';
import type { Sessions } from '../../core/sessions.ts';
import type { AuditLog } from '../../core/audit.ts';
import type { Config } from '../../core/config.ts';
import {
  html, page, csrfField, pageContext, authOf, clientIp, cookieOptions, setCookie, newLoginToken,
  SESSION_COOKIE, LOGIN_CSRF_COOKIE, type RouteRegistry,
} from '../../core/web.ts';

export interface AuthRoutesDeps {
  accounts: Accounts;
  sessions: Sessions;
  audit: AuditLog;
  config: Config;
  now?: () => number;
}

/** Failed sign-ins per address in a sliding window, in memory (a restart forgets, which is fine). */
function createAddressThrottle(limit: number, windowMs: number, now: () => number) {
  const failures = new Map<string, number[]>();
  return {
    blocked(ip: string): boolean {
      const recent = (failures.get(ip) ?? []).filter((t) => now() - t < windowMs);
      failures.set(ip, recent);
      return recent.length >= limit;
    },
    /**
     * Counts an attempt as a failure before it is checked (a batch sent in parallel must not all pass
     * `blocked` first); `forgive` takes it back when it succeeds.
     */
    attempt(ip: string): number {
      const list = failures.get(ip) ?? [];
      const at = now();
      list.push(at);
      failures.set(ip, list.slice(-limit * 2));
      return at;
    },
    forgive(ip: string, at: number): void {
      const list = failures.get(ip) ?? [];
      const i = list.lastIndexOf(at);
      if (i !== -1) list.splice(i, 1);
    },
  };
}

/** Only same-site paths: `next` must never send a user to another origin after sign-in. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/';
}

export function registerAuthRoutes(routes: RouteRegistry, deps: AuthRoutesDeps): void {
  const { accounts, sessions, audit, config } = deps;
  const now = deps.now ?? Date.now;
  const throttle = createAddressThrottle(config.auth.maxFailuresPerAddress, config.auth.addressWindowMinutes * 60_000, now);

  function loginPage(req: Request, res: Response, options: { error?: string; status?: number; name?: string } = {}): void {
    const token = newLoginToken();
    setCookie(res, LOGIN_CSRF_COOKIE, token, { ...cookieOptions(req, config.http), maxAge: 3600 });
    const next = safeNext(req.query.next ?? (req.body as Record<string, unknown> | undefined)?.next);
    res.status(options.status ?? 200).type('html').send(page({}, 'Sign in', html`
      ${options.error ? html`<p class="notice error" role="alert">${options.error}</p>` : ''}
      <form class="stack" method="post" action="/login">
        <input type="hidden" name="_csrf" value="${token}">
        <input type="hidden" name="next" value="${next}">
        <label>User name <input name="name" autocomplete="username" required autofocus value="${options.name ?? ''}" maxlength="64"></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">Forgot your password? Ask your instructor or staff to reset it.</p>`));
  }

  routes.add({ method: 'get', path: '/login', action: 'public', handler: (req, res) => {
    if (authOf(res)) return res.redirect(303, '/');
    loginPage(req, res);
  } });

  routes.add({ method: 'post', path: '/login', action: 'public', handler: async (req, res) => {
    const ip = clientIp(req);
    const body = req.body as Record<string, unknown>;
    const name = String(body.name ?? '').trim().toLowerCase().slice(0, 64);
    if (throttle.blocked(ip)) {
      audit.record({ actor: 'anonymous', action: 'auth.throttled', target: name, ip });
      return loginPage(req, res, { status: 429, name, error: 'Too many failed sign-ins from this computer. Wait a few minutes and try again.' });
    }
    const attempt = throttle.attempt(ip);
    try {
      const user = await accounts.authenticate(name, String(body.password ?? ''), ip);
      throttle.forgive(ip, attempt);
      const previous = authOf(res);
      if (previous) sessions.destroy(previous.sessionId);
      const { id } = sessions.create(user.name, { ip, userAgent: String(req.headers['user-agent'] ?? '') });
      setCookie(res, SESSION_COOKIE, id, cookieOptions(req, config.http));
      setCookie(res, LOGIN_CSRF_COOKIE, '', { ...cookieOptions(req, config.http), maxAge: 0 });
      res.redirect(303, user.mustChangePassword ? '/account/password' : safeNext(body.next));
    } catch (error) {
      if (!isOutpostError(error, 'AUTH_INVALID_CREDENTIALS') && !isOutpostError(error, 'AUTH_LOCKED')) {
        throttle.forgive(ip, attempt);
        throw error;
      }
      loginPage(req, res, { status: error.code === 'AUTH_LOCKED' ? 429 : 401, name, error: error.message });
    }
  } });

  routes.add({ method: 'post', path: '/logout', action: 'page.home', allowWhilePasswordExpired: true, handler: (req, res) => {
    const auth = authOf(res)!;
    sessions.destroy(auth.sessionId);
    audit.record({ actor: auth.user.name, action: 'auth.logout', target: auth.user.name, ip: clientIp(req) });
    setCookie(res, SESSION_COOKIE, '', { ...cookieOptions(req, config.http), maxAge: 0 });
    res.redirect(303, '/login');
  } });

  function passwordPage(res: Response, options: { error?: string; done?: boolean; status?: number } = {}): void {
    const ctx = pageContext(res);
    const must = ctx.user?.mustChangePassword;
    res.status(options.status ?? 200).type('html').send(page(ctx, 'Change your password', html`
      ${must ? html`<p class="notice">Your password was set by someone else. Choose your own before going on.</p>` : ''}
      ${options.error ? html`<p class="notice error" role="alert">${options.error}</p>` : ''}
      ${options.done ? html`<p class="notice ok" role="status">Your password was changed.</p>` : ''}
      <form class="stack" method="post" action="/account/password">
        ${csrfField(ctx)}
        <label>Current password <input name="current" type="password" autocomplete="current-password" required maxlength="256"></label>
        <label>New password <input name="next" type="password" autocomplete="new-password" required minlength="${config.auth.minPasswordLength}" maxlength="256"></label>
        <label>New password again <input name="again" type="password" autocomplete="new-password" required maxlength="256"></label>
        <p class="muted">At least ${config.auth.minPasswordLength} characters. A few unrelated words make a strong password that is easy to remember.</p>
        <button type="submit">Change password</button>
      </form>`));
  }

  routes.add({ method: 'get', path: '/account/password', action: 'account.password', allowWhilePasswordExpired: true, handler: (_req, res) => passwordPage(res) });

  routes.add({ method: 'post', path: '/account/password', action: 'account.password', allowWhilePasswordExpired: true, handler: async (req, res) => {
    const auth = authOf(res)!;
    const body = req.body as Record<string, unknown>;
    if (String(body.next ?? '') !== String(body.again ?? '')) return passwordPage(res, { status: 400, error: 'The two new passwords differ.' });
    try {
      await accounts.changePassword(auth.user.name, String(body.current ?? ''), String(body.next ?? ''), { name: auth.user.name, ip: clientIp(req) });
    } catch (error) {
      if (isOutpostError(error, 'AUTH_WEAK_PASSWORD') || isOutpostError(error, 'AUTH_INVALID_CREDENTIALS')) return passwordPage(res, { status: 400, error: error.message });
      throw error;
    }
    // Other sessions of this account end; this one goes on with a fresh id.
    sessions.destroyAllFor(auth.user.name);
    const fresh = sessions.create(auth.user.name, { ip: clientIp(req), userAgent: String(req.headers['user-agent'] ?? '') });
    setCookie(res, SESSION_COOKIE, fresh.id, cookieOptions(req, config.http));
    res.locals.auth = { user: accounts.require(auth.user.name), session: fresh.session, sessionId: fresh.id };
    if (auth.user.mustChangePassword) return res.redirect(303, '/');
    passwordPage(res, { done: true });
  } });

}
