/**
 * search.outpost: a plain HTML search page over the mirrored sites, and a JSON API.
 *
 *   GET /?q=words&page=N[&site=name]   results page (10 per page)
 *   GET /api?q=words&page=N[&site=name] the same as JSON
 *   GET /style.css                      the only stylesheet (no inline CSS, so the CSP stays strict)
 *
 * The index is opened read-only (it may sit on a read-only mount) and reopened when the importer
 * renames a new file over it. Users' words are always quoted into FTS5 phrases, so no input can be
 * an FTS5 syntax error; a trailing `*` on a word asks for a prefix match.
 */
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/log.ts';
import { MARK_END, MARK_START } from './index.ts';

export const RESULTS_PER_PAGE = 10;
const MAX_QUERY_CHARS = 200;
const MAX_TERMS = 16;
const MAX_PAGE = 100;

export interface SearchResult {
  site: string;
  url: string;
  title: string;
  /** Plain text; the matched words are between MARK_START and MARK_END. */
  snippet: string;
}

export interface SearchAnswer {
  query: string;
  site: string | undefined;
  page: number;
  total: number;
  results: SearchResult[];
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const STYLESHEET = `body{font-family:system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}
h1{font-size:1.4rem}form{display:flex;gap:.5rem;margin-bottom:1rem}input[type=search]{flex:1;font-size:1rem;padding:.4rem}
button{font-size:1rem;padding:.4rem .9rem}ol{padding:0;list-style:none}li{margin:0 0 1.2rem}
.result-title{font-size:1.1rem}.site{color:#2d6a2d;font-size:.9rem;word-break:break-all}.snippet{margin:.2rem 0 0}
mark{background:#fff2a8;color:inherit}nav.pages{display:flex;gap:1.5rem;margin-top:1rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.notice{padding:.6rem;border:1px solid #bbb;background:#f6f6f6}
@media (prefers-color-scheme:dark){body{background:#161616;color:#e6e6e6}a{color:#8ab4f8}.site{color:#8fd18f}mark{background:#6b5d00;color:#fff}.notice{background:#222;border-color:#444}}
`;

/** Quotes each word as an FTS5 phrase; `"` inside a word is doubled, so nothing the user types is syntax. */
export function toMatchExpression(query: string): string | undefined {
  // FTS5 reads a NUL as the end of the string, and no page text holds control characters anyway.
  const terms = query
    .slice(0, MAX_QUERY_CHARS)
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .split(/\s+/)
    .filter((term) => term !== '')
    .slice(0, MAX_TERMS)
    .map((term) => {
      const prefix = term.length > 1 && term.endsWith('*');
      const word = prefix ? term.slice(0, -1) : term;
      return `"${word.replace(/"/g, '""')}"${prefix ? '*' : ''}`;
    });
  return terms.length === 0 ? undefined : terms.join(' ');
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function snippetHtml(snippet: string): string {
  return escapeHtml(snippet).replaceAll(MARK_START, '<mark>').replaceAll(MARK_END, '</mark>');
}

export interface SearchHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Closes the open index (a read-only mount cannot be unmounted while it is open). */
  close(): void;
}

export function createSearchHandler(options: { dbPath: string; log: Logger }): SearchHandler {
  const { dbPath, log } = options;
  let open: { db: Database.Database; ino: number; mtimeMs: number; size: number } | undefined;

  /** The index as it is now on disk, or undefined while none was built. */
  const database = (): Database.Database | undefined => {
    let info;
    try {
      info = statSync(dbPath);
    } catch {
      open?.db.close();
      open = undefined;
      return undefined;
    }
    if (open && open.ino === info.ino && open.mtimeMs === info.mtimeMs && open.size === info.size) return open.db;
    open?.db.close();
    open = { db: new Database(dbPath, { readonly: true, fileMustExist: true }), ino: info.ino, mtimeMs: info.mtimeMs, size: info.size };
    log.info({ dbPath }, 'search index opened');
    return open.db;
  };

  const search = (db: Database.Database, query: string, site: string | undefined, page: number): SearchAnswer => {
    const match = toMatchExpression(query);
    if (match === undefined) return { query, site, page, total: 0, results: [] };
    const siteFilter = site === undefined ? '' : ' and site = @site';
    const params = { match, site, markStart: MARK_START, markEnd: MARK_END, limit: RESULTS_PER_PAGE, offset: (page - 1) * RESULTS_PER_PAGE };
    const total = (db.prepare(`select count(*) as n from pages where pages match @match${siteFilter}`).get(params) as { n: number }).n;
    const results = db
      .prepare(
        `select site, url, title, snippet(pages, 3, @markStart, @markEnd, '…', 24) as snippet
         from pages where pages match @match${siteFilter}
         order by bm25(pages, 0, 0, 8, 1) limit @limit offset @offset`,
      )
      .all(params) as SearchResult[];
    return { query, site, page, total, results };
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://search.outpost');
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'Only GET is supported.\n', { allow: 'GET, HEAD' });
    if (url.pathname === '/style.css') return send(200, 'text/css; charset=utf-8', STYLESHEET, { 'cache-control': 'public, max-age=3600' });
    if (url.pathname !== '/' && url.pathname !== '/api') return send(404, 'text/html; charset=utf-8', page('Not found', '', undefined, '<p class="notice">There is no such page here. Use the search box above.</p>'));

    const query = (url.searchParams.get('q') ?? '').trim().slice(0, MAX_QUERY_CHARS);
    const site = url.searchParams.get('site') || undefined;
    const pageNumber = Math.min(MAX_PAGE, Math.max(1, Number.parseInt(url.searchParams.get('page') ?? '1', 10) || 1));
    let answer: SearchAnswer | undefined;
    try {
      const db = database();
      if (db !== undefined) answer = search(db, query, site, pageNumber);
    } catch (error) {
      log.error({ err: error, dbPath }, 'search failed');
      if (url.pathname === '/api') return send(500, 'application/json', JSON.stringify({ code: 'SERVICE_UNAVAILABLE', message: 'The search index cannot be read. Ask staff to re-import a mirror to rebuild it.' }));
      return send(500, 'text/html; charset=utf-8', page('Search', query, site, '<p class="notice">The search index cannot be read right now. Ask staff to re-import a mirror to rebuild it.</p>'));
    }
    if (url.pathname === '/api') {
      if (answer === undefined) return send(503, 'application/json', JSON.stringify({ code: 'SERVICE_UNAVAILABLE', message: 'No search index has been built yet: import a mirror first.' }));
      return send(200, 'application/json', JSON.stringify({ ...answer, perPage: RESULTS_PER_PAGE, results: answer.results.map((r) => ({ ...r, snippet: r.snippet.replaceAll(MARK_START, '').replaceAll(MARK_END, '') })) }));
    }
    if (answer === undefined) return send(503, 'text/html; charset=utf-8', page('Search', query, site, '<p class="notice">No documentation has been imported yet, so there is nothing to search.</p>'));
    return send(200, 'text/html; charset=utf-8', page(query === '' ? 'Search' : `${query} – Search`, query, site, resultsHtml(answer)));
  };
  return Object.assign(handler, {
    close() {
      open?.db.close();
      open = undefined;
    },
  });
}

function resultsHtml(answer: SearchAnswer): string {
  if (answer.query === '') return '<p>Type words to look for in the mirrored documentation.</p>';
  if (answer.total === 0 || answer.results.length === 0) {
    return `<p class="notice" role="status">Nothing matches <strong>${escapeHtml(answer.query)}</strong>${answer.page > 1 ? ' on this page' : ''}. Try fewer or different words, or a word's beginning followed by <code>*</code>.</p>`;
  }
  const first = (answer.page - 1) * RESULTS_PER_PAGE + 1;
  const last = first + answer.results.length - 1;
  const items = answer.results
    .map(
      (r) => `<li><a class="result-title" href="${escapeHtml(r.url)}">${escapeHtml(r.title)}</a>
<div class="site">${escapeHtml(r.site)} · ${escapeHtml(r.url)}</div>
<p class="snippet">${snippetHtml(r.snippet)}</p></li>`,
    )
    .join('\n');
  const link = (page: number, label: string, rel: string) => {
    const params = new URLSearchParams({ q: answer.query, page: String(page) });
    if (answer.site !== undefined) params.set('site', answer.site);
    return `<a rel="${rel}" href="/?${escapeHtml(params.toString())}">${label}</a>`;
  };
  const pager = [answer.page > 1 ? link(answer.page - 1, '← Previous', 'prev') : '', last < answer.total && answer.page < MAX_PAGE ? link(answer.page + 1, 'Next →', 'next') : ''].join('');
  return `<p role="status">Results ${first}–${last} of ${answer.total}</p>
<ol start="${first}">
${items}
</ol>
${pager === '' ? '' : `<nav class="pages" aria-label="Result pages">${pager}</nav>`}`;
}

function page(title: string, query: string, site: string | undefined, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header><h1>Search the documentation</h1>
<form role="search" method="get" action="/">
<label for="q" class="visually-hidden">Search words</label>
<input type="search" id="q" name="q" value="${escapeHtml(query)}" autofocus>
${site === undefined ? '' : `<input type="hidden" name="site" value="${escapeHtml(site)}">`}
<button type="submit">Search</button>
</form></header>
<main>
${main}
</main>
</body>
</html>
`;
}
