/**
 * Markdown to HTML that is safe to put in a page: READMEs in the repository view, and later the
 * curriculum's lessons. Students write this text and others read it, so raw HTML is never passed
 * through (it is shown as text), and every link and image URL is either relative or uses an
 * allowed scheme; anything else (`javascript:`, `data:`, `vbscript:`, `file:`…) loses its URL.
 * Attribute values are escaped by markdown-it, so no text can open a new attribute.
 */
import MarkdownIt, { type MarkdownIt as Parser, type Env } from 'markdown-it';
import { SafeHtml } from './web.ts';

export interface MarkdownBase {
  /** URL prefix of the root that relative URLs are relative to, e.g. `/git/alice/hello/blob/main/`. */
  base: string;
  /** The document's folder below that root (`docs` for docs/README.md); '' or absent for the root. */
  dir?: string;
}

export interface MarkdownOptions {
  /** Rewrite relative link targets against this root (a README's links to other files). */
  links?: MarkdownBase;
  /** Rewrite relative image sources against this root (a README's images, served raw). */
  images?: MarkdownBase;
  /** Longer input is cut to this many characters first (default 1 000 000). */
  maxLength?: number;
}

const ALLOWED_SCHEMES = new Set(['http', 'https', 'mailto']);

/**
 * True for a relative URL or one with an allowed scheme. Anything with a colon before the first
 * `/`, `?` or `#` counts as having a scheme: browsers drop some characters in schemes (tabs, new
 * lines), so guessing "this is probably relative" is how filters get bypassed.
 */
export function isSafeUrl(url: string): boolean {
  const u = url.trim();
  const head = /^[^/?#]*/.exec(u)?.[0] ?? '';
  if (!head.includes(':')) return true;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(u)?.[1]?.toLowerCase();
  return scheme !== undefined && ALLOWED_SCHEMES.has(scheme) && head.indexOf(':') === scheme.length;
}

function isRelative(url: string): boolean {
  return !url.startsWith('//') && !url.startsWith('#') && !/^[^/?#]*:/.test(url);
}

/**
 * Resolves a relative URL (already percent-encoded by markdown-it) against `base` and `dir`; `..`
 * never climbs above the root, and a leading `/` means the root.
 */
export function rewriteRelative(url: string, to: MarkdownBase): string {
  if (!isRelative(url) || url === '') return url;
  const cut = url.search(/[?#]/);
  const pathPart = cut === -1 ? url : url.slice(0, cut);
  const rest = cut === -1 ? '' : url.slice(cut);
  if (pathPart === '') return url;
  const dirParts = pathPart.startsWith('/') ? [] : (to.dir ?? '').split('/').filter(Boolean).map(encodeURIComponent);
  const parts: string[] = [...dirParts];
  for (const seg of pathPart.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  const trailing = pathPart.endsWith('/') && parts.length ? '/' : '';
  const base = to.base.endsWith('/') ? to.base : `${to.base}/`;
  return base + parts.join('/') + trailing + rest;
}

/** Where this render's relative URLs go; passed through markdown-it's per-render `env`. */
const LINKS = Symbol('links');
const IMAGES = Symbol('images');
const attr = (value: string | number | null): string => (value === null ? '' : String(value));

function createRenderer(): Parser {
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false });
  md.validateLink = isSafeUrl;
  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const token = tokens[idx]!;
    const href = attr(token.attrGet('href'));
    const links = env?.[LINKS] as MarkdownBase | undefined;
    if (links) token.attrSet('href', rewriteRelative(href, links));
    if (!isRelative(href)) token.attrSet('rel', 'noopener noreferrer nofollow');
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  const defaultImage = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const token = tokens[idx]!;
    const images = env?.[IMAGES] as MarkdownBase | undefined;
    if (images) token.attrSet('src', rewriteRelative(attr(token.attrGet('src')), images));
    token.attrSet('loading', 'lazy');
    return defaultImage(tokens, idx, options, env, self);
  };
  return md;
}

// The parser holds no state between renders (options go through `env`), so one instance serves all.
let renderer: Parser | undefined;

export function renderMarkdown(text: string, options: MarkdownOptions = {}): SafeHtml {
  renderer ??= createRenderer();
  const max = options.maxLength ?? 1_000_000;
  const env: Env = { [LINKS]: options.links, [IMAGES]: options.images };
  return new SafeHtml(renderer.render(text.length > max ? text.slice(0, max) : text, env));
}
