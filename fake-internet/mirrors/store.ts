/**
 * Mirrored sites: imported by staff from a directory or an archive, kept as plain files, served by
 * the gateway under their real host names and indexed for search.
 *
 * Layout under `dir`:
 *   sites/<name>            a relative symlink to the current version; this is the gateway's root
 *   sites/.site-<name>-<id> one imported version (plain files, 0644/0755)
 *   sites/.tmp-*            an import in progress (or a crashed one: swept on the next change)
 *   text/<name>.ndjson      the site's extracted page text, input of the search index
 *   search.db               the FTS5 index of all sites (see search/index.ts)
 *
 * A re-import builds the new version beside the old one and renames a fresh symlink over
 * `sites/<name>`: rename(2) is atomic, so a reader resolves either the old tree or the new one, never
 * nothing. The old version is deleted after `retireAfterMs`, so requests already inside it finish.
 */
import { lstat, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Migration } from '../../core/migrations.ts';
import type { Store } from '../../core/store.ts';
import { buildSearchIndex, extractSiteText, isPage, sweepSearchTemps } from '../search/index.ts';
import { extractTarSafely, isTarPath } from './tar.ts';
import { copyPlan, planTree, type TreeLimits } from './tree.ts';

export const mirrorMigrations: readonly Migration[] = [
  {
    version: 10,
    name: 'mirror sites',
    sql: `
      create table mirror_sites (
        name text primary key,
        host text not null,
        path_prefix text not null,
        extensionless integer not null default 0,
        files integer not null,
        bytes integer not null,
        pages integer not null,
        dropped integer not null,
        imported_at text not null,
        source text not null,
        unique (host, path_prefix)
      );
    `,
  },
];

export const DEFAULT_MIRROR_LIMITS: TreeLimits = { maxFiles: 200_000, maxBytes: 2 * 1024 ** 3 };

export interface SiteInfo {
  name: string;
  host: string;
  pathPrefix: string;
  /** The gateway serves `<path>.html` for `<path>` when no such file exists (git-scm.com/docs/git-commit). */
  extensionless: boolean;
  files: number;
  bytes: number;
  /** HTML pages put into the search index. */
  pages: number;
  /** Links and special files left out (pointing outside, dangling, cycles, sockets...). */
  dropped: number;
  importedAt: string;
  source: string;
  /** The directory the gateway serves (a symlink swapped on re-import: resolve it per request). */
  root: string;
}

export interface ImportReport extends SiteInfo {
  droppedPaths: string[];
  seconds: number;
}

export type ImportPhase = 'extract' | 'plan' | 'copy' | 'index' | 'search';
export interface ImportProgress {
  phase: ImportPhase;
  done: number;
  total: number;
  file?: string;
}

export interface ImportSiteOptions {
  name: string;
  host: string;
  pathPrefix: string;
  /** A directory, or a .tar / .tar.gz / .tgz file. */
  from: string;
  extensionless?: boolean;
  /** Links in a directory may keep the content of regular files under this root (default: the directory itself). */
  linkRoot?: string;
  /** Keep only the files this accepts (path inside the site). */
  include?: (file: string) => boolean;
  /** What the site came from, for `list()` (default: the `from` path). */
  source?: string;
  onProgress?: (progress: ImportProgress) => void;
}

export interface MirrorStore {
  readonly dir: string;
  readonly searchDbPath: string;
  importSite(options: ImportSiteOptions): Promise<ImportReport>;
  list(): SiteInfo[];
  get(name: string): SiteInfo | undefined;
  remove(name: string): Promise<void>;
  /** What the gateway needs to serve every site. */
  sites(): Array<{ name: string; host: string; pathPrefix: string; root: string; extensionless: boolean }>;
}

const dnsLabel = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
export const siteNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a site name is 1 to 63 lower-case letters, digits and dashes, starting with a letter or digit');
export const hostSchema = z
  .string()
  .max(253)
  .regex(new RegExp(`^${dnsLabel}(?:\\.${dnsLabel})*$`), 'a host is a lower-case DNS name such as docs.python.org');
export const pathPrefixSchema = z
  .string()
  .max(200)
  .regex(/^\/(?:[A-Za-z0-9._~-]+\/)*$/, 'a path prefix starts and ends with "/" and holds only letters, digits and ._~- between slashes')
  .refine((p) => !p.split('/').some((segment) => segment === '.' || segment === '..'), 'a path prefix may not contain "." or ".." segments');
const importInputSchema = z.object({
  name: siteNameSchema,
  host: hostSchema,
  pathPrefix: pathPrefixSchema,
  from: z.string().min(1),
  extensionless: z.boolean().optional(),
  source: z.string().max(500).optional(),
});

interface SiteRow {
  name: string;
  host: string;
  path_prefix: string;
  extensionless: number;
  files: number;
  bytes: number;
  pages: number;
  dropped: number;
  imported_at: string;
  source: string;
}

export interface MirrorStoreOptions {
  store: Store;
  dir: string;
  log: Logger;
  limits?: Partial<TreeLimits>;
  retireAfterMs?: number;
  /**
   * Host names the inside internet's own services answer (git.outpost, registry.outpost, a git alias
   * such as github.com...), each with what serves it. A site there would give the gateway two sites
   * for one name, and a gateway that cannot load its configuration does not start.
   */
  reservedHosts?: () => ReadonlyMap<string, string>;
}

export function createMirrorStore(options: MirrorStoreOptions): MirrorStore {
  const { store, log } = options;
  const dir = path.resolve(options.dir);
  const sitesDir = path.join(dir, 'sites');
  const textDir = path.join(dir, 'text');
  const searchDbPath = path.join(dir, 'search.db');
  const limits: TreeLimits = { ...DEFAULT_MIRROR_LIMITS, ...options.limits };
  const retireAfterMs = options.retireAfterMs ?? 2000;
  const db = store.db;

  const toInfo = (row: SiteRow): SiteInfo => ({
    name: row.name,
    host: row.host,
    pathPrefix: row.path_prefix,
    extensionless: row.extensionless === 1,
    files: row.files,
    bytes: row.bytes,
    pages: row.pages,
    dropped: row.dropped,
    importedAt: row.imported_at,
    source: row.source,
    root: path.join(sitesDir, row.name),
  });
  const rows = () => db.prepare('select * from mirror_sites order by name').all() as SiteRow[];
  const row = (name: string) => db.prepare('select * from mirror_sites where name = ?').get(name) as SiteRow | undefined;
  const textFile = (name: string) => path.join(textDir, `${name}.ndjson`);

  // One change at a time: the sweep and the search rebuild see every site as either done or absent.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  /** Deletes what a crashed import left: temp trees, unused versions, links and texts with no site. */
  const sweep = async () => {
    await mkdir(sitesDir, { recursive: true, mode: 0o755 });
    await mkdir(textDir, { recursive: true, mode: 0o755 });
    const known = new Set(rows().map((r) => r.name));
    const inUse = new Set<string>();
    for (const name of await readdir(sitesDir)) {
      if (name.startsWith('.')) continue;
      const link = path.join(sitesDir, name);
      if (!known.has(name)) {
        await rm(link, { recursive: true, force: true });
        continue;
      }
      const target = await readlink(link).catch(() => undefined);
      if (target !== undefined) inUse.add(target);
    }
    for (const name of await readdir(sitesDir)) {
      if (name.startsWith('.tmp-') || (name.startsWith('.site-') && !inUse.has(name))) await rm(path.join(sitesDir, name), { recursive: true, force: true });
    }
    for (const name of await readdir(textDir)) {
      if (!(name.endsWith('.ndjson') && known.has(name.slice(0, -'.ndjson'.length)))) await rm(path.join(textDir, name), { force: true });
    }
    await sweepSearchTemps(searchDbPath);
  };

  const rebuildSearch = () =>
    buildSearchIndex({
      dbPath: searchDbPath,
      sites: rows().map((r) => ({ name: r.name, host: r.host, pathPrefix: r.path_prefix, extensionless: r.extensionless === 1, textFile: textFile(r.name) })),
      log,
    });

  const retire = async (version: string | undefined) => {
    if (version === undefined) return;
    await sleep(retireAfterMs);
    await rm(path.join(sitesDir, version), { recursive: true, force: true });
  };

  const importSite = async (input: ImportSiteOptions): Promise<ImportReport> => {
    const started = process.hrtime.bigint();
    const parsed = importInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new OutpostError('MIRROR_INVALID', `The mirror site is invalid: ${issue.path.join('.') || 'input'}: ${issue.message}.`, { details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } });
    }
    const { name, host, pathPrefix, extensionless = false } = parsed.data;
    const from = path.resolve(parsed.data.from);
    const reservedFor = options.reservedHosts?.().get(host);
    if (reservedFor !== undefined) {
      throw new OutpostError('MIRROR_INVALID', `Cannot import "${name}" at https://${host}${pathPrefix}: ${host} is ${reservedFor} on the sealed network, and a mirrored site there would stop the gateway from starting. Import the site under another host name.`, { details: { name, host, reservedFor } });
    }
    const clash = db.prepare('select name from mirror_sites where host = ? and path_prefix = ? and name <> ?').get(host, pathPrefix, name) as { name: string } | undefined;
    if (clash) {
      throw new OutpostError('MIRROR_INVALID', `The site "${clash.name}" already serves https://${host}${pathPrefix}. Remove it first, or re-import under the name "${clash.name}".`, { details: { name, clash: clash.name } });
    }
    const fromInfo = await stat(from).catch(() => undefined);
    if (!fromInfo || !(fromInfo.isDirectory() || (fromInfo.isFile() && isTarPath(from)))) {
      throw new OutpostError('MIRROR_INVALID', `Cannot import "${name}" from ${from}: it is neither a directory nor a .tar, .tar.gz or .tgz file. Give the path of the site's files.`, { details: { name, from } });
    }
    const progress = input.onProgress ?? (() => undefined);
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const staging = path.join(sitesDir, `.tmp-${id}`);
    const extracted = path.join(sitesDir, `.tmp-${id}-archive`);
    const pendingText = path.join(textDir, `.tmp-${id}-${name}.ndjson`);

    await sweep();
    try {
      let tree = from;
      let linkRoot = input.linkRoot;
      const archiveDropped: string[] = [];
      if (fromInfo.isFile()) {
        progress({ phase: 'extract', done: 0, total: 1, file: from });
        await mkdir(extracted, { mode: 0o700 });
        archiveDropped.push(...(await extractTarSafely({ file: from, into: extracted, limits })).droppedLinks);
        progress({ phase: 'extract', done: 1, total: 1, file: from });
        tree = extracted;
        linkRoot = undefined;
      }
      progress({ phase: 'plan', done: 0, total: 0 });
      const plan = await planTree({ from: tree, ...(linkRoot === undefined ? {} : { linkRoot }), limits, ...(input.include ? { include: input.include } : {}) });
      await mkdir(staging, { mode: 0o755 });
      const total = plan.files.length;
      await copyPlan(plan, staging, (done, file) => progress({ phase: 'copy', done, total, file }));
      await rm(extracted, { recursive: true, force: true });

      const pageFiles = plan.files.map((f) => f.target).filter(isPage);
      const pages = await extractSiteText({ root: staging, pages: pageFiles, textFile: pendingText, onPage: (done, file) => progress({ phase: 'index', done, total: pageFiles.length, file }) });

      const version = `.site-${name}-${id}`;
      await rename(staging, path.join(sitesDir, version));
      const current = path.join(sitesDir, name);
      const previous = await lstat(current).then(
        async (info) => {
          if (!info.isSymbolicLink()) throw new OutpostError('MIRROR_IMPORT_FAILED', `${current} is not a link made by Outpost, so it cannot be replaced atomically. Move it away and import again.`, { details: { name } });
          return readlink(current);
        },
        () => undefined,
      );
      const link = path.join(sitesDir, `.tmp-${id}-link`);
      await symlink(version, link);
      await rename(link, current);
      await rename(pendingText, textFile(name));

      const dropped = [...archiveDropped, ...plan.droppedLinks, ...plan.droppedOther].sort();
      const importedAt = new Date().toISOString();
      const source = parsed.data.source ?? from;
      db.prepare(
        `insert into mirror_sites (name, host, path_prefix, extensionless, files, bytes, pages, dropped, imported_at, source)
         values (@name, @host, @pathPrefix, @extensionless, @files, @bytes, @pages, @dropped, @importedAt, @source)
         on conflict (name) do update set host = excluded.host, path_prefix = excluded.path_prefix, extensionless = excluded.extensionless,
           files = excluded.files, bytes = excluded.bytes, pages = excluded.pages, dropped = excluded.dropped, imported_at = excluded.imported_at, source = excluded.source`,
      ).run({ name, host, pathPrefix, extensionless: extensionless ? 1 : 0, files: plan.files.length, bytes: plan.bytes, pages, dropped: dropped.length, importedAt, source });

      progress({ phase: 'search', done: 0, total: 1 });
      await rebuildSearch();
      progress({ phase: 'search', done: 1, total: 1 });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      log.info({ site: name, host, pathPrefix, files: plan.files.length, bytes: plan.bytes, pages, dropped: dropped.length, seconds }, 'mirror site imported');
      await retire(previous);
      return { ...toInfo(row(name)!), droppedPaths: dropped, seconds };
    } catch (error) {
      await Promise.all([staging, extracted].map((p) => rm(p, { recursive: true, force: true })));
      await rm(pendingText, { force: true });
      if (error instanceof OutpostError) throw error;
      throw new OutpostError('MIRROR_IMPORT_FAILED', `Importing the site "${name}" from ${from} failed: ${(error as Error).message}. The previous version, if any, is still served.`, { cause: error, details: { name } });
    }
  };

  const remove = async (name: string): Promise<void> => {
    const existing = row(name);
    if (!existing) throw new OutpostError('MIRROR_NOT_FOUND', `There is no mirrored site named "${name}". See the list of sites for the names.`, { details: { name } });
    await sweep();
    const current = path.join(sitesDir, name);
    const version = await readlink(current).catch(() => undefined);
    await rm(current, { force: true });
    db.prepare('delete from mirror_sites where name = ?').run(name);
    await rm(textFile(name), { force: true });
    await rebuildSearch();
    log.info({ site: name }, 'mirror site removed');
    await retire(version);
  };

  return {
    dir,
    searchDbPath,
    importSite: (input) => serially(() => importSite(input)),
    list: () => rows().map(toInfo),
    get: (name) => {
      const found = row(name);
      return found ? toInfo(found) : undefined;
    },
    remove: (name) => serially(() => remove(name)),
    sites: () => rows().map((r) => ({ name: r.name, host: r.host, pathPrefix: r.path_prefix, root: path.join(sitesDir, r.name), extensionless: r.extensionless === 1 })),
  };
}
