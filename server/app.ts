/**
 * The HTTP application. Routes are registered here by the composition root; domain modules never see
 * HTTP. One error handler maps OutpostError codes to status codes, logs server faults with an error
 * id, and answers JSON or HTML according to Accept.
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import { randomUUID } from 'node:crypto';
import { OutpostError, httpStatusFor, asOutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface HealthReport {
  ok: boolean;
  engine: { ok: boolean; version?: string; error?: string };
  images: { image: string; present: boolean; upToDate: boolean }[];
  store: { ok: boolean; version: number; journalMode: string; error?: string };
  version: string;
}

export interface AppDeps {
  log: Logger;
  health: () => Promise<HealthReport>;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    next();
  });

  app.get('/healthz', async (_req, res) => {
    const report = await deps.health();
    res.status(report.ok ? 200 : 503).json(report);
  });

  app.use((req, _res, next) => next(new OutpostError('NOT_FOUND', `Nothing is at ${req.method} ${req.path}.`)));
  app.use(errorHandler(deps.log));
  return app;
}

export function errorHandler(log: Logger) {
  return (raw: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(raw);
    const error = asOutpostError(raw);
    const status = httpStatusFor(error);
    const body: Record<string, unknown> = { error: error.toJSON() };
    if (status >= 500) {
      const errorId = randomUUID();
      body.errorId = errorId;
      log.error({ err: raw, errorId, method: req.method, path: req.path }, 'request failed');
    }
    res.status(status);
    if (req.accepts(['json', 'html']) === 'html') {
      res.type('html').send(`<!doctype html><meta charset="utf-8"><title>${status} · Outpost</title><main><h1>${status}</h1><p>${escapeHtml(error.message)}</p><p><code>${error.code}</code>${body.errorId ? ` · error id ${body.errorId}` : ''}</p></main>`);
    } else {
      res.json(body);
    }
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
