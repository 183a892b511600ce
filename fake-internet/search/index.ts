/**
 * The search index of the mirrored sites. Each import extracts its pages' title and visible text
 * once into a per-site text file (so importing one site does not re-parse the others), then the whole
 * FTS5 database is rebuilt into a temp file and renamed over `search.db`. The database stays in
 * journal mode DELETE: a reader on a read-only mount then needs no -wal/-shm files beside it.
 */
import Database from 'better-sqlite3';
import { Parser } from 'htmlparser2';
import { createReadStream } from 'node:fs';
import { writeFileAtomic } from '../../core/files.ts';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';

export interface PageText {
  /** Path inside the site, `/`-separated, as served (see `urlFor`). */
  path: string;
  title: string;
  body: string;
}

export interface IndexedSite {
  name: string;
  host: string;
  pathPrefix: string;
  extensionless: boolean;
  /** The site's text file written by `extractSiteText`. */
  textFile: string;
}

/** Snippet markers from the Unicode private-use area: no page text can hold them (extraction strips them). */
export const MARK_START = '\uE000';
export const MARK_END = '\uE001';

const SKIPPED_TAGS = new Set(['script', 'style', 'nav', 'noscript', 'template', 'svg', 'button', 'select', 'head']);
// Navigation blocks of the mirrored generators (Sphinx sidebars and link bars, Node's module list).
const SKIPPED_CLASSES = ['sphinxsidebar', 'related', 'headerlink'];
const SKIPPED_IDS = new Set(['column2']);
const VOID_TAGS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const BLOCK_TAGS = new Set(['p', 'div', 'li', 'dt', 'dd', 'tr', 'td', 'th', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 'br', 'section', 'article', 'table', 'blockquote']);
const MAX_BODY_CHARS = 400_000;

export function extractPage(html: string): { title: string; body: string } {
  let title = '';
  let firstHeading = '';
  let inTitle = false;
  let inHeading = false;
  let skipDepth = 0;
  const openSkipping: boolean[] = [];
  const body: string[] = [];
  let length = 0;

  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'title') inTitle = true;
        if (name === 'h1' && firstHeading === '') inHeading = true;
        if (VOID_TAGS.has(name)) return;
        const classes = (attributes.class ?? '').split(/\s+/);
        const skip = SKIPPED_TAGS.has(name) || attributes.role === 'navigation' || SKIPPED_CLASSES.some((c) => classes.includes(c)) || SKIPPED_IDS.has(attributes.id ?? '');
        openSkipping.push(skip);
        if (skip) skipDepth++;
        if (BLOCK_TAGS.has(name)) body.push(' ');
      },
      ontext(text) {
        if (inTitle) title += text;
        if (inHeading) firstHeading += text;
        if (skipDepth === 0 && !inTitle && length < MAX_BODY_CHARS) {
          body.push(text);
          length += text.length;
        }
      },
      onclosetag(name) {
        if (name === 'title') inTitle = false;
        if (name === 'h1') inHeading = false;
        if (VOID_TAGS.has(name)) return;
        if (openSkipping.pop()) skipDepth--;
        if (BLOCK_TAGS.has(name)) body.push(' ');
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  return { title: clean(title) || clean(firstHeading), body: clean(body.join('')).slice(0, MAX_BODY_CHARS) };
}

function clean(text: string): string {
  return text.replace(/[\uE000\uE001]/g, '').replace(/[\u00B6]/g, '').replace(/\s+/g, ' ').trim();
}

export function isPage(file: string): boolean {
  return /\.html?$/i.test(file);
}

/** The page's public URL: `https://host/prefix/path`, without `.html` on extensionless sites and without `index.html`. */
export function urlFor(site: { host: string; pathPrefix: string; extensionless: boolean }, pagePath: string): string {
  let shown = pagePath;
  if (shown === 'index.html' || shown.endsWith('/index.html')) shown = shown.slice(0, -'index.html'.length);
  else if (site.extensionless) shown = shown.replace(/\.html$/i, '');
  return `https://${site.host}${site.pathPrefix}${shown.split('/').map(encodeURIComponent).join('/')}`;
}

/** Extracts every page under `root` into `textFile` (NDJSON, written atomically). Returns the page count. */
export async function extractSiteText(options: { root: string; pages: string[]; textFile: string; onPage?: (done: number, file: string) => void }): Promise<number> {
  const lines: string[] = [];
  let done = 0;
  for (const page of options.pages) {
    const html = await readFile(path.join(options.root, ...page.split('/')), 'utf8');
    const { title, body } = extractPage(html);
    lines.push(JSON.stringify({ path: page, title: title || page, body } satisfies PageText));
    options.onPage?.(++done, page);
  }
  await mkdir(path.dirname(options.textFile), { recursive: true });
  await writeFileAtomic(options.textFile, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  return lines.length;
}

async function* readSiteText(file: string): AsyncGenerator<PageText> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line !== '') yield JSON.parse(line) as PageText;
  }
}

/** Rebuilds `dbPath` from the sites' text files; readers keep the old file open until they reopen. */
export async function buildSearchIndex(options: { dbPath: string; sites: IndexedSite[]; log: Logger }): Promise<{ pages: number }> {
  const { dbPath, sites, log } = options;
  const temp = `${dbPath}.tmp-${randomBytes(6).toString('hex')}`;
  let pages = 0;
  try {
    const db = new Database(temp);
    try {
      db.pragma('journal_mode = DELETE');
      db.exec(`
        create virtual table pages using fts5(site unindexed, url unindexed, title, body, tokenize = 'porter unicode61');
        create table sites (name text primary key, host text not null, path_prefix text not null, pages integer not null);
      `);
      const insertPage = db.prepare('insert into pages (site, url, title, body) values (?, ?, ?, ?)');
      const insertSite = db.prepare('insert into sites (name, host, path_prefix, pages) values (?, ?, ?, ?)');
      for (const site of sites) {
        const batch: PageText[] = [];
        for await (const page of readSiteText(site.textFile)) batch.push(page);
        db.transaction(() => {
          for (const page of batch) insertPage.run(site.name, urlFor(site, page.path), page.title, page.body);
          insertSite.run(site.name, site.host, site.pathPrefix, batch.length);
        })();
        pages += batch.length;
      }
      db.exec("insert into pages (pages) values ('optimize')");
    } finally {
      db.close();
    }
    await rename(temp, dbPath);
  } catch (error) {
    await rm(temp, { force: true });
    throw new OutpostError('MIRROR_IMPORT_FAILED', `Cannot rebuild the search index ${dbPath}: ${(error as Error).message}. Check the free space of the mirrors directory; the previous index is still in place.`, { cause: error });
  }
  log.info({ dbPath, sites: sites.length, pages }, 'search index rebuilt');
  return { pages };
}

/** Removes temp files a crashed rebuild left beside `dbPath`. */
export async function sweepSearchTemps(dbPath: string): Promise<void> {
  const base = path.basename(dbPath);
  const names = await readdir(path.dirname(dbPath)).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(`${base}.tmp-`)).map((n) => rm(path.join(path.dirname(dbPath), n), { force: true })));
}

