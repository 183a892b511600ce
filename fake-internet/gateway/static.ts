/**
 * Serves a mirrored site's plain files. Mirrors change only when an import swaps them in, so what a
 * path resolves to (and small files' bytes) is kept in memory and re-checked against the disk at
 * most once per `revalidateMs`: a hot page costs a map lookup, not a stat, a realpath and a read.
 *
 * Confinement: the path is decoded once by the caller and any `.`/`..` segment, backslash or NUL is
 * refused there; here the resolved file's realpath must still lie under the root's realpath, so a
 * symlink inside a mirror cannot lead out of it.
 */
import { createReadStream, type Stats } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from '../../core/log.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

interface FileEntry {
  kind: 'file';
  file: string;
  size: number;
  mtimeMs: number;
  ino: number;
  etag: string;
  lastModified: string;
  /** Whole-second modification time, as If-Modified-Since compares it. */
  lastModifiedSeconds: number;
  /** Present for files small enough to keep in memory. */
  body: Buffer | undefined;
  headers: string[];
  /** `headers` plus the content-length of the whole file: what a plain 200 sends, built once. */
  fullHeaders: string[];
  checkedAt: number;
}
type Resolution = FileEntry | { kind: 'directory'; checkedAt: number } | { kind: 'missing' };

export interface StaticFilesOptions {
  log: Logger;
  revalidateMs?: number;
  maxCachedFileBytes?: number;
  maxCacheBytes?: number;
  maxEntries?: number;
  now?: () => number;
}

export type StaticOutcome = { status: number; bytes: number } | { status: 'missing' } | { status: 'redirect' };

export interface StaticFiles {
  /**
   * Serves `relative` (decoded, checked, no leading slash) from `root`. Answers 200/206/304/416 itself;
   * returns `missing` or `redirect` (a directory asked for without its slash) for the caller to answer.
   */
  serve(req: IncomingMessage, res: ServerResponse, root: string, relative: string): Promise<StaticOutcome>;
  /**
   * The hot path: answers synchronously if `relative` is a file whose bytes are cached and fresh;
   * otherwise does nothing and returns undefined (use serve()).
   */
  serveCached(req: IncomingMessage, res: ServerResponse, root: string, relative: string): { status: number; bytes: number } | undefined;
  /** Forget everything (a reload may point sites at new roots). */
  clear(): void;
}

export function createStaticFiles(options: StaticFilesOptions): StaticFiles {
  const { log } = options;
  const revalidateMs = options.revalidateMs ?? 1000;
  const maxCachedFileBytes = options.maxCachedFileBytes ?? 1024 * 1024;
  const maxCacheBytes = options.maxCacheBytes ?? 128 * 1024 * 1024;
  const maxEntries = options.maxEntries ?? 50_000;
  const now = options.now ?? Date.now;

  const cache = new Map<string, FileEntry | { kind: 'directory'; checkedAt: number }>();
  // Re-checked like files: an import may swap a mirror in by re-pointing a symlinked root.
  const realRoots = new Map<string, { real: string; checkedAt: number }>();
  let cachedBytes = 0;

  function remember(key: string, entry: FileEntry | { kind: 'directory'; checkedAt: number }): void {
    forget(key);
    // Map order is insertion order: the first keys are the least recently (re)validated.
    while (cache.size >= maxEntries || (entry.kind === 'file' && entry.body !== undefined && cachedBytes + entry.body.length > maxCacheBytes && cache.size > 0)) {
      const oldest = cache.keys().next().value as string;
      forget(oldest);
    }
    cache.set(key, entry);
    if (entry.kind === 'file' && entry.body !== undefined) cachedBytes += entry.body.length;
  }

  function forget(key: string): void {
    const old = cache.get(key);
    if (old === undefined) return;
    cache.delete(key);
    if (old.kind === 'file' && old.body !== undefined) cachedBytes -= old.body.length;
  }

  async function realRoot(root: string, at: number): Promise<string | undefined> {
    const known = realRoots.get(root);
    if (known !== undefined && at - known.checkedAt < revalidateMs) return known.real;
    try {
      const real = await realpath(root);
      realRoots.set(root, { real, checkedAt: at });
      return real;
    } catch (error) {
      realRoots.delete(root);
      log.warn({ root, err: error }, 'a static site root is missing');
      return undefined;
    }
  }

  async function resolve(root: string, relative: string): Promise<Resolution> {
    const key = `${root}\0${relative}`;
    const known = cache.get(key);
    const at = now();
    if (known !== undefined && at - known.checkedAt < revalidateMs) return known;

    const rootReal = await realRoot(root, at);
    if (rootReal === undefined) return { kind: 'missing' };
    let target = path.join(rootReal, relative);
    let info = await statOrUndefined(target);
    if (info === undefined) return forgetMissing(key);
    if (info.isDirectory()) {
      if (relative !== '' && !relative.endsWith('/')) {
        const entry = { kind: 'directory' as const, checkedAt: at };
        remember(key, entry);
        return entry;
      }
      target = path.join(target, 'index.html');
      info = await statOrUndefined(target);
      if (info === undefined) return forgetMissing(key);
    }
    if (!info.isFile()) return forgetMissing(key);
    const real = await realpath(target).catch(() => undefined);
    if (real === undefined || !real.startsWith(rootReal + path.sep)) {
      if (real !== undefined) log.warn({ root, relative, real }, 'refused a file outside its site root (symlink)');
      return forgetMissing(key);
    }
    if (known?.kind === 'file' && known.file === real && known.size === info.size && known.mtimeMs === info.mtimeMs && known.ino === info.ino) {
      known.checkedAt = at;
      remember(key, known);
      return known;
    }
    let body: Buffer | undefined;
    if (info.size <= maxCachedFileBytes) {
      body = await readFile(real).catch(() => undefined);
      if (body === undefined) return forgetMissing(key);
    }
    const size = body?.length ?? info.size;
    const lastModified = new Date(info.mtimeMs).toUTCString();
    const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers = ['content-type', contentTypeFor(real), 'etag', etag, 'last-modified', lastModified, 'accept-ranges', 'bytes', 'x-content-type-options', 'nosniff'];
    const entry: FileEntry = {
      kind: 'file',
      file: real,
      size,
      mtimeMs: info.mtimeMs,
      ino: info.ino,
      etag,
      lastModified,
      lastModifiedSeconds: Math.floor(info.mtimeMs / 1000),
      body,
      headers,
      fullHeaders: [...headers, 'content-length', String(size)],
      checkedAt: at,
    };
    remember(key, entry);
    return entry;
  }

  function forgetMissing(key: string): Resolution {
    // Missing paths are not cached: students could otherwise fill memory with made-up URLs.
    forget(key);
    return { kind: 'missing' };
  }

  return {
    async serve(req, res, root, relative) {
      const found = await resolve(root, relative);
      if (found.kind === 'missing') return { status: 'missing' };
      if (found.kind === 'directory') return { status: 'redirect' };
      if (found.body !== undefined) return sendFromMemory(req, res, found, found.body);
      const head = req.method === 'HEAD';

      if (notModified(req, found)) {
        res.writeHead(304, ['etag', found.etag, 'last-modified', found.lastModified]);
        res.end();
        return { status: 304, bytes: 0 };
      }
      const range = requestedRange(req, found);
      if (range === 'unsatisfiable') {
        res.writeHead(416, ['content-range', `bytes */${found.size}`, 'content-length', '0']);
        res.end();
        return { status: 416, bytes: 0 };
      }
      const [start, end] = range ?? [0, found.size - 1];
      const length = found.size === 0 ? 0 : end - start + 1;
      const status = range === undefined ? 200 : 206;
      res.writeHead(status, range === undefined ? found.fullHeaders : [...found.headers, 'content-length', String(length), 'content-range', `bytes ${start}-${end}/${found.size}`]);
      if (head || length === 0) {
        res.end();
        return { status, bytes: 0 };
      }
      return new Promise((done) => {
        const stream = createReadStream(found.file, { start, end });
        let sent = 0;
        stream.on('data', (chunk) => (sent += chunk.length));
        stream.on('error', (error) => {
          log.warn({ file: found.file, err: error }, 'reading a mirrored file failed mid-response');
          res.destroy();
        });
        res.on('close', () => {
          stream.destroy();
          done({ status, bytes: sent });
        });
        stream.pipe(res);
      });
    },

    serveCached(req, res, root, relative) {
      const known = cache.get(`${root}\0${relative}`);
      if (known === undefined || known.kind !== 'file' || known.body === undefined || now() - known.checkedAt >= revalidateMs) return undefined;
      return sendFromMemory(req, res, known, known.body);
    },

    clear() {
      cache.clear();
      realRoots.clear();
      cachedBytes = 0;
    },
  };
}

/** Answers from a cached file's bytes: 200/206/304/416, synchronously. */
function sendFromMemory(req: IncomingMessage, res: ServerResponse, found: FileEntry, body: Buffer): { status: number; bytes: number } {
  if ((req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) && notModified(req, found)) {
    res.writeHead(304, ['etag', found.etag, 'last-modified', found.lastModified]);
    res.end();
    return { status: 304, bytes: 0 };
  }
  const range = req.headers.range === undefined ? undefined : requestedRange(req, found);
  if (range === 'unsatisfiable') {
    res.writeHead(416, ['content-range', `bytes */${found.size}`, 'content-length', '0']);
    res.end();
    return { status: 416, bytes: 0 };
  }
  if (range === undefined) {
    res.writeHead(200, found.fullHeaders);
    if (req.method === 'HEAD' || found.size === 0) {
      res.end();
      return { status: 200, bytes: 0 };
    }
    res.end(body);
    return { status: 200, bytes: found.size };
  }
  const [start, end] = range;
  const length = end - start + 1;
  res.writeHead(206, [...found.headers, 'content-length', String(length), 'content-range', `bytes ${start}-${end}/${found.size}`]);
  if (req.method === 'HEAD') {
    res.end();
    return { status: 206, bytes: 0 };
  }
  res.end(body.subarray(start, end + 1));
  return { status: 206, bytes: length };
}

function notModified(req: IncomingMessage, file: FileEntry): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag);
  }
  const ifModifiedSince = req.headers['if-modified-since'];
  if (ifModifiedSince !== undefined) {
    const since = Date.parse(ifModifiedSince);
    return !Number.isNaN(since) && file.lastModifiedSeconds <= Math.floor(since / 1000);
  }
  return false;
}

/** A single `bytes=` range; anything else (several ranges, a stale If-Range) gets the whole file. */
function requestedRange(req: IncomingMessage, file: FileEntry): [number, number] | 'unsatisfiable' | undefined {
  const header = req.headers.range;
  if (header === undefined || req.method !== 'GET') return undefined;
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && ifRange !== file.etag && ifRange !== file.lastModified) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, file.size - suffix);
    end = file.size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? file.size - 1 : Math.min(Number(match[2]), file.size - 1);
  }
  if (start >= file.size || start > end) return 'unsatisfiable';
  return [start, end];
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch {
    return undefined;
  }
}
