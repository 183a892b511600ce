/**
 * The web layer every module's routes share: escaped-by-default HTML, the page layout, sessions
 * from cookies, CSRF protection, and a route registry in which every route is declared with its
 * policy action. A route cannot be added without one, and the registry's list is what the
 * authorization matrix test walks.
 */
import express, { type Request, type Response, type NextFunction, type RequestHandler } from 'express';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { OutpostError } from './errors.ts';
import type { Accounts, User } from './accounts.ts';
import type { Sessions, Session } from './sessions.ts';
import type { Action, Policy, Resource } from './policy.ts';
import type { Config } from './config.ts';

// ---------------------------------------------------------------- HTML

/** HTML that is already safe to send; everything else interpolated into `html` is escaped. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string { return this.value; }
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => { out += render(value) + (strings[i + 1] ?? ''); });
  return new SafeHtml(out);
}

export interface PageContext {
  user?: User;
  csrfToken?: string;
}

/** The navigation each role sees: links only to what it may open. */
function navFor(user: User | undefined): { href: string; label: string }[] {
  if (!user) return [];
  const items = [{ href: '/', label: 'Home' }, { href: '/learn', label: 'Learn' }];
  if (user.role === 'instructor' || user.role === 'staff' || user.role === 'admin') items.push({ href: '/gradebook', label: 'Gradebook' });
  if (user.role === 'admin' || user.role === 'staff') items.push({ href: '/admin/users', label: 'People' });
  if (user.role === 'admin' || user.role === 'staff' || user.role === 'instructor') items.push({ href: '/admin/cohorts', label: 'Cohorts' });
  if (user.role === 'admin' || user.role === 'staff') items.push({ href: '/staff/audit', label: 'Audit log' });
  if (user.role === 'client') items.push({ href: '/shop', label: 'My projects' });
  else items.push({ href: '/shop', label: 'Shop' });
  if (user.role === 'admin' || user.role === 'staff') items.push({ href: '/shop/outbound', label: 'Outbound' });
  if (user.role !== 'client') items.push({ href: '/git', label: 'Repositories' });
  items.push({ href: '/account/tokens', label: 'Access tokens' });
  items.push({ href: '/account/password', label: 'Password' });
  return items;
}

export function page(ctx: PageContext, title: string, body: SafeHtml): string {
  const nav = navFor(ctx.user);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Outpost</title>
<link rel="stylesheet" href="/static/outpost.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">Outpost</a>
  ${nav.length ? html`<nav aria-label="Main"><ul>${nav.map((n) => html`<li><a href="${n.href}">${n.label}</a></li>`)}</ul></nav>` : ''}
  ${ctx.user ? html`<form class="signout" method="post" action="/logout"><input type="hidden" name="_csrf" value="${ctx.csrfToken ?? ''}"><span class="who">${ctx.user.displayName || ctx.user.name} (${ctx.user.role})</span> <button type="submit">Sign out</button></form>` : ''}
</header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`.value;
}

export function csrfField(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrfToken ?? ''}">`;
}

// ---------------------------------------------------------------- auth middleware

export interface AuthState {
  user: User;
  session: Session;
  sessionId: string;
}

export const SESSION_COOKIE = 'outpost_session';
export const LOGIN_CSRF_COOKIE = 'outpost_login';

export function authOf(res: Response): AuthState | undefined {
  return res.locals.auth as AuthState | undefined;
}

/** A path parameter as a string ('' when absent): Express types them loosely. */
export function routeParam(req: Request, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

export function pageContext(res: Response): PageContext {
  const auth = authOf(res);
  return auth ? { user: auth.user, csrfToken: auth.session.csrfToken } : {};
}

export function clientIp(req: Request): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

export function cookieOptions(req: Request, config: Config['http']) {
  const secure = config.secureCookies === 'always' || (config.secureCookies === 'auto' && (req.socket as { encrypted?: boolean }).encrypted === true);
  return { httpOnly: true, sameSite: 'strict' as const, path: '/', secure };
}

export function setCookie(res: Response, name: string, value: string, options: ReturnType<typeof cookieOptions> & { maxAge?: number }): void {
  res.append('Set-Cookie', serializeCookie(name, value, options));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * Resolves the session cookie into `res.locals.auth`, ends sessions of disabled accounts at once,
 * holds users who must change their password to that page, and checks CSRF on every request that
 * can change state: the Origin (when sent) must be this host, and the session's token must come
 * in the `_csrf` field or the `X-CSRF-Token` header.
 */
export function authMiddleware(deps: { sessions: Sessions; accounts: Accounts }): RequestHandler {
  return (req, res, next) => {
    const cookies = parseCookies(req.headers.cookie ?? '');
    const id = cookies[SESSION_COOKIE];
    const session = deps.sessions.resolve(id);
    if (session && id) {
      const user = deps.accounts.get(session.user);
      if (!user || user.disabled) deps.sessions.destroy(id);
      else res.locals.auth = { user, session, sessionId: id } satisfies AuthState;
    }
    if (!SAFE_METHODS.has(req.method)) {
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && new URL(origin).host !== req.headers.host) {
        return next(new OutpostError('AUTH_CSRF_FAILED', 'This request came from another site and was refused.'));
      }
      const auth = authOf(res);
      const sent = String((req.body as Record<string, unknown> | undefined)?._csrf ?? req.headers['x-csrf-token'] ?? '');
      const expected = auth ? auth.session.csrfToken : cookies[LOGIN_CSRF_COOKIE] ?? '';
      if (!tokensEqual(sent, expected)) {
        return next(new OutpostError('AUTH_CSRF_FAILED', 'The form has expired or did not come from Outpost. Reload the page and try again.'));
      }
    }
    next();
  };
}

export function newLoginToken(): string {
  return randomBytes(24).toString('base64url');
}

// ---------------------------------------------------------------- route registry

export interface RouteDeclaration {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  /** The policy action this route needs; 'public' only for the login page and static files. */
  action: Action | 'public';
  /** Builds the resource the action applies to (e.g. the owner from a path parameter). */
  resource?: (req: Request) => Resource;
  /** Allowed while the user must change their password (the change page, sign-out). */
  allowWhilePasswordExpired?: boolean;
  /**
   * The path itself is the credential (an unguessable link bound to someone's session, checked by
   * the handler), and the request is relayed as it came: mounted before body parsing and sessions,
   * so the body reaches the handler untouched and no CSRF token is asked for (no cookie is used).
   * CORS preflights to it are answered by the registry (see `answerPreflight`). Only with action
   * 'public'.
   */
  capability?: boolean;
  handler: (req: Request, res: Response, next: NextFunction) => unknown;
}

export interface RouteRegistry {
  add(route: RouteDeclaration): void;
  readonly routes: readonly RouteDeclaration[];
  /** Mounts the routes of one phase: capability links come before body parsing and sessions. */
  mount(app: express.Express, phase?: 'capability' | 'session'): void;
  /** Notices carried by a redirect ("Saved."), which only this server can write (see createNotices). */
  readonly notices: Notices;
}

export interface Notices {
  /** `url` with `message` attached, for a redirect after a POST. */
  link(url: string, message: string): string;
  /** The notice a request carries, or '' when it has none or one this server did not write. */
  read(req: Request): string;
}

/**
 * A notice travels in the redirect's query string (no server state per message), signed: otherwise
 * anyone could send a student a link to an Outpost page showing a message of their choosing in
 * Outpost's own "done" style ("your password expired, give it to …"). The key lives as long as the
 * server, which is longer than any redirect.
 */
export function createNotices(key: Buffer = randomBytes(32)): Notices {
  const sign = (message: string) => createHmac('sha256', key).update(message).digest('base64url').slice(0, 22);
  return {
    link(url, message) {
      const hashAt = url.indexOf('#');
      const [base, fragment] = hashAt === -1 ? [url, ''] : [url.slice(0, hashAt), url.slice(hashAt)];
      return `${base}${base.includes('?') ? '&' : '?'}notice=${encodeURIComponent(message)}&ns=${sign(message)}${fragment}`;
    },
    read(req) {
      const message = req.query.notice;
      const signature = req.query.ns;
      if (typeof message !== 'string' || typeof signature !== 'string' || message.length > 1000) return '';
      const expected = Buffer.from(sign(message));
      const given = Buffer.from(signature);
      return given.length === expected.length && timingSafeEqual(given, expected) ? message : '';
    },
  };
}

const HEADER_LIST = /^[\w!#$%&'*+.^`|~-]+(?:\s*,\s*[\w!#$%&'*+.^`|~-]+)*$/;

/**
 * A capability link's page may run sandboxed (an opaque origin, a preview), so its JSON, PUT and
 * DELETE calls to its own link are cross-origin and preflighted. Any origin may ask: the link in the
 * path is the credential, these routes use no cookie, and credentials are never allowed (no
 * Access-Control-Allow-Credentials). Not a route of its own: it serves nothing and reaches no handler.
 */
function answerPreflight(methods: readonly string[]): RequestHandler {
  const allowed = [...new Set([...methods.map((m) => m.toUpperCase()), 'HEAD'])].join(', ');
  return (req, res, next) => {
    if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return next();
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Methods', allowed);
    const asked = req.headers['access-control-request-headers'] ?? '';
    if (asked.length <= 1000 && HEADER_LIST.test(asked)) res.setHeader('Access-Control-Allow-Headers', asked);
    res.setHeader('Access-Control-Max-Age', '600');
    res.setHeader('Vary', 'Access-Control-Request-Headers');
    res.status(204).end();
  };
}

/**
 * Outpost's own pages never load anything from a capability link (a preview), but the link sits on
 * Outpost's origin, which its CSP trusts for scripts and styles: should an HTML injection ever land in
 * one of its pages, a `<script src="/p/…">` would run a student's file as Outpost's. The browser says
 * who asks (Sec-Fetch-Site: a sandboxed preview is an opaque origin, so never "same-origin").
 */
const SUBRESOURCES_OUTPOST_NEVER_LOADS = new Set(['script', 'style', 'worker', 'sharedworker', 'serviceworker', 'audioworklet', 'paintworklet', 'xslt']);
const refuseLoadsIntoOutpostPages: RequestHandler = (req, res, next) => {
  if (req.headers['sec-fetch-site'] !== 'same-origin' || !SUBRESOURCES_OUTPOST_NEVER_LOADS.has(String(req.headers['sec-fetch-dest'] ?? ''))) return next();
  res.status(403).type('text/plain').send('A preview cannot be loaded into an Outpost page.');
};

export function createRouteRegistry(deps: { policy: Policy }): RouteRegistry {
  const routes: RouteDeclaration[] = [];
  return {
    routes,
    notices: createNotices(),
    add(route) {
      if (!route.action) throw new OutpostError('INTERNAL', `Route ${route.method.toUpperCase()} ${route.path} has no policy action.`);
      if (route.capability && route.action !== 'public') throw new OutpostError('INTERNAL', `Route ${route.method.toUpperCase()} ${route.path}: a capability route checks its link itself; its action must be 'public'.`);
      routes.push(route);
    },
    mount(app, phase = 'session') {
      if (phase === 'capability') {
        const methods = new Map<string, string[]>();
        for (const route of routes) if (route.capability) methods.set(route.path, [...(methods.get(route.path) ?? []), route.method]);
        for (const [path, allowed] of methods) app.use(path, answerPreflight(allowed), refuseLoadsIntoOutpostPages);
      }
      for (const route of routes) {
        if ((route.capability === true) !== (phase === 'capability')) continue;
        app[route.method](route.path, async (req: Request, res: Response, next: NextFunction) => {
          try {
            const auth = authOf(res);
            if (route.action !== 'public') {
              if (!auth) {
                if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
                throw new OutpostError('AUTH_REQUIRED', 'Sign in first.');
              }
              if (auth.user.mustChangePassword && !route.allowWhilePasswordExpired) {
                if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, '/account/password');
                throw new OutpostError('AUTH_PASSWORD_CHANGE_REQUIRED', 'Change your password before going on.');
              }
              deps.policy.assert(auth.user, route.action, route.resource?.(req) ?? {});
            }
            await route.handler(req, res, next);
          } catch (error) {
            next(error);
          }
        });
      }
    },
  };
}
