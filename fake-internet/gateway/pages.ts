/**
 * The pages the gateway writes itself (not mirrored, unknown site, blocked, errors). Students read
 * them inside the walls, so each says plainly what happened and where to go next. Everything that
 * came from the request is escaped, and the pages are locked down: no scripts, no framing.
 */
import type { ServerResponse } from 'node:http';

const SECURITY_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}h1{font-size:1.5rem}code{background:#eee;padding:0 .2em}';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Page {
  status: number;
  title: string;
  /** HTML; callers escape anything that came from outside. */
  body: string;
  headers?: Record<string, string>;
}

/** Writes the page (headers only for HEAD) and returns the body bytes sent. */
export function sendPage(res: ServerResponse, page: Page, head: boolean): number {
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(page.title)}</title><style>${STYLE}</style></head>\n<body><h1>${escapeHtml(page.title)}</h1>\n${page.body}\n</body></html>\n`;
  const body = Buffer.from(html);
  res.writeHead(page.status, { ...SECURITY_HEADERS, ...page.headers, 'content-length': String(body.length) });
  res.end(head ? undefined : body);
  return head ? 0 : body.length;
}

/** `path` is the decoded request path. */
export function notMirroredPage(siteName: string, siteRoot: string, path: string, searchUrl: string): Page {
  const words = (path.split('/').filter(Boolean).pop() ?? '').replace(/\.[a-z0-9]+$/i, '').replace(/[-_.]+/g, ' ');
  const search = words === '' ? searchUrl : `${searchUrl}?q=${encodeURIComponent(words)}`;
  return {
    status: 404,
    title: 'This page is not mirrored',
    body: `<p>The page <code>${escapeHtml(path)}</code> is not part of the copy of <strong>${escapeHtml(siteName)}</strong> kept on the inside internet.</p>
<p>Start again from <a href="${escapeHtml(siteRoot)}">the start page of ${escapeHtml(siteName)}</a>, or <a href="${escapeHtml(search)}">search the mirrored sites</a>.</p>`,
  };
}

export function unknownHostPage(host: string, searchUrl: string): Page {
  return {
    status: 404,
    title: 'This site is not on the inside internet',
    body: `<p><code>${escapeHtml(host)}</code> is not one of the sites available here. Only the sites your school mirrored can be reached.</p>
<p>You can <a href="${escapeHtml(searchUrl)}">search the mirrored sites</a>, or ask your instructor to add the site.</p>`,
  };
}

export function blockedPage(siteName: string): Page {
  return {
    status: 403,
    title: "Blocked by your instructor's settings",
    body: `<p><strong>${escapeHtml(siteName)}</strong> is not available to your class right now. Your instructor chooses which sites each class can use.</p>
<p>If you need it for your work, ask your instructor.</p>`,
  };
}

export function badRequestPage(reason: string): Page {
  return { status: 400, title: 'Bad request', body: `<p>${escapeHtml(reason)}</p>` };
}

export function methodNotAllowedPage(method: string, allowed: string): Page {
  return {
    status: 405,
    title: 'Method not allowed',
    body: `<p>This site is a read-only copy; <code>${escapeHtml(method)}</code> requests are not accepted.</p>`,
    headers: { allow: allowed },
  };
}

export function upstreamFailedPage(siteName: string): Page {
  return {
    status: 502,
    title: 'This service is not answering',
    body: `<p><strong>${escapeHtml(siteName)}</strong> did not answer. It may be restarting; try again in a minute, and tell your instructor if it keeps happening.</p>`,
  };
}

export function unavailablePage(siteName: string): Page {
  return {
    status: 503,
    title: 'This service is not available',
    body: `<p><strong>${escapeHtml(siteName)}</strong> is not available on this server yet. Tell your instructor.</p>`,
  };
}
