/**
 * The HTTP application: security headers, body parsing, sessions and CSRF, then every route from the
 * registry (each declared with its policy action), then one error handler that maps OutpostError
 * codes to status codes, logs server faults with an error id, and answers JSON or HTML by Accept.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutpostError, httpStatusFor, asOutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { authMiddleware, page, pageContext, html, type RouteRegistry } from '../core/web.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Accounts } from '../core/accounts.ts';
import type { Metrics } from '../core/metrics.ts';

export interface HealthReport {
  ok: boolean;
  engine: { ok: boolean; version?: string; error?: string };
  images: { image: string; present: boolean; upToDate: boolean }[];
  store: { ok: boolean; version: number; journalMode: string; error?: string };
  version: string;
}

export interface AppDeps {
  log: Logger;
  metrics?: Metrics;
  routes: RouteRegistry;
  sessions: Sessions;
  accounts: Accounts;
}

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');

/**
 * Every script, style, font and worker comes from Outpost itself: no outside origin, no inline code.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
  "worker-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
].join('; ');

/**
 * The workspace page's policy: the app's, with one addition that Monaco and xterm.js truly need.
 * Both render by generating style at run time: Monaco writes `<style>` elements (theme colours,
 * decorations, per-font glyph metrics) and `style="…"` attributes in the HTML of its view lines;
 * xterm.js writes a `<style>` element for its theme and cell sizes. The values depend on the font
 * and the text, so no hash or nonce can cover them: `style-src 'unsafe-inline'` it is, on this one
 * page. Scripts stay 'self' only (no inline, no eval), so this allows styling, never code; workers
 * (Monaco's language services) and fonts are served by Outpost, which 'self' already allows.
 */
export const EDITOR_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use((req, res, next) => {
    // One line per request; never the query string or body, which can hold secrets.
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const user = (res.locals.auth as { user?: { name: string } } | undefined)?.user?.name;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      deps.log.info({ method: req.method, path: req.path, status: res.statusCode, ms, ...(user ? { user } : {}), ip: req.socket.remoteAddress }, 'request');
      // The route's pattern, never the path itself: one series per route, not per URL.
      deps.metrics?.httpRequest(req.method, (req.route as { path?: string } | undefined)?.path ?? 'other', res.statusCode, ms / 1000);
    });
    next();
  });
  app.use('/static', express.static(STATIC_DIR, { fallthrough: false, index: false, maxAge: '1h', setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=3600') }));
  // Capability links (a student's web preview) get their requests raw, before any parsing.
  deps.routes.mount(app, 'capability');
  app.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 100 }));
  app.use(express.json({ limit: '1mb' }));
  app.use(authMiddleware({ sessions: deps.sessions, accounts: deps.accounts }));
  deps.routes.mount(app, 'session');
  app.use((req, _res, next) => next(new OutpostError('NOT_FOUND', `Nothing is at ${req.method} ${req.path}.`)));
  app.use(errorHandler(deps.log, deps.metrics));
  return app;
}

export function errorHandler(log: Logger, metrics?: Metrics) {
  return (raw: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(raw);
    // Body-parser and static errors carry an HTTP status of their own.
    const status0 = (raw as { status?: number; statusCode?: number }).status ?? (raw as { statusCode?: number }).statusCode;
    const error = raw instanceof OutpostError ? raw
      : status0 === 404 ? new OutpostError('NOT_FOUND', `Nothing is at ${req.method} ${req.path}.`)
      : status0 !== undefined && status0 >= 400 && status0 < 500 ? new OutpostError('INPUT_INVALID', `The request could not be read: ${(raw as Error).message}.`)
      : asOutpostError(raw);
    const status = httpStatusFor(error);
    metrics?.error(error.code);
    const body: Record<string, unknown> = { error: error.toJSON() };
    if (status >= 500) {
      const errorId = randomUUID();
      body.errorId = errorId;
      log.error({ err: raw, errorId, method: req.method, path: req.path }, 'request failed');
    }
    res.status(status);
    if (req.accepts(['json', 'html']) === 'html') {
      res.type('html').send(page(pageContext(res), `${status}`, html`<p class="notice error">${error.message}</p><p class="muted"><code>${error.code}</code>${body.errorId ? ` · error id ${String(body.errorId)}` : ''}</p>`));
    } else {
      res.json(body);
    }
  };
}
