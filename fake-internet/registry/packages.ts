/**
 * The package mirror on the staff side: filling the registry's storage from the machine's npm
 * registry, listing what it holds, and the students' "requested packages" queue.
 *
 * Filling uses the real tools rather than re-implementing npm's resolver: a temporary Verdaccio on
 * loopback with one uplink (the given registry) caches everything that passes through it, and the
 * stock npm client installing the specs into a throwaway prefix makes exactly the requests a
 * student's `npm install` will make (whole dependency tree, peer dependencies included).
 *
 * Verdaccio caches each packument whole (every version ever published) but only the tarballs npm
 * fetched. Inside, npm resolves a range against the packument alone, so `npm install express` would
 * pick the newest express even if only an older tarball is stored, and fail on its 404. Every add
 * therefore ends by pruning each stored packument to the versions whose tarball is on disk.
 */
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileAtomicSync } from '../../core/files.ts';
import { readNewLines } from '../../core/jsonl.ts';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Migration } from '../../core/migrations.ts';
import type { Store } from '../../core/store.ts';
import { verdaccioConfig } from './config.ts';
import { isValidPackageName, packageNameFromPath, parseSpec } from './names.ts';
import { startVerdaccio, type RequestListener, type RunningVerdaccio } from './server.ts';

export const registryMigrations: readonly Migration[] = [
  {
    version: 20,
    name: 'registry_requested_packages',
    sql: `
      create table requested_packages (
        name text primary key,
        first_requested_at text not null,
        last_requested_at text not null,
        count integer not null,
        requested_by text,
        status text not null default 'pending' check (status in ('pending', 'approved'))
      );
      create table registry_request_log (file text primary key, offset integer not null);
    `,
  },
];

/**
 * What a fresh mirror holds: the curriculum's tools and the small libraries beginners' exercises
 * reach for. Kept to pure-JavaScript packages (no install scripts that download binaries, which
 * would fail inside) except esbuild's per-platform binaries that tsx pulls, which npm ships as
 * ordinary tarballs.
 */
export const SEED_PACKAGES: readonly string[] = [
  // the course stack
  'express',
  'mocha',
  'chai',
  'typescript',
  'tsx',
  '@types/node',
  '@types/express',
  '@types/mocha',
  '@types/chai',
  // testing an HTTP API written with express
  'supertest',
  // restarting a server on save, the first thing a web course sets up
  'nodemon',
  // console programs in the first weeks read input with this
  'prompt-sync',
  // server-rendered pages before any front-end framework
  'ejs',
  // configuration, CORS and ids come up in every API exercise
  'dotenv',
  'cors',
  'uuid',
  // classic utility libraries that tutorials and exercises use
  'lodash',
  'chalk',
  'commander',
  // formatting and linting are part of the code-review lessons
  'prettier',
  'eslint',
  '@eslint/js',
];

export interface AddProgress {
  /** 'metadata' and 'tarball' each time the temporary registry served one; 'prune' once at the end. */
  step: 'metadata' | 'tarball' | 'prune';
  name?: string;
}

export interface AddOptions {
  /** The registry to fetch from: the caller passes `npm config get registry`. */
  registry: string;
  onProgress?: (event: AddProgress) => void;
  /** The npm install is stopped after this long (default 15 minutes). */
  timeoutMs?: number;
}

export interface AddResult {
  /** Tarballs new in the mirror, as name@version. */
  added: string[];
  /** How many tarballs were added, and their total size. */
  tarballs: number;
  bytes: number;
}

export interface RequestedPackage {
  name: string;
  firstRequestedAt: string;
  lastRequestedAt: string;
  count: number;
  /** Who asked last: a user name, or the client IP the registry saw. */
  requestedBy: string | null;
  status: 'pending' | 'approved';
}

export interface PackageMirror {
  add(specs: readonly string[], options: AddOptions): Promise<AddResult>;
  list(): Array<{ name: string; versions: string[] }>;
  recordRequest(name: string, requestedBy?: string): void;
  /** Reads the lines the sealed registry appended to its request log since the last ingest. */
  ingestRequestLog(file: string): { ingested: number; skipped: number };
  requested(): RequestedPackage[];
  /** Adds the package (latest version and its tree) and marks the request approved. */
  approve(name: string, options: AddOptions): Promise<AddResult>;
  /**
   * Copies every stored package (its packument and the tarballs it lists) into `dest`, laid out as
   * the storage is, for an offline update bundle (server/bundles.ts).
   */
  exportTo(dest: string): Promise<PackagesExport>;
  /**
   * Merges packages written by `exportTo` into the mirror: versions it lacks are added, versions it
   * has are kept as they are, so importing the same packages twice changes nothing. Each tarball must
   * match its packument's integrity (or shasum) before anything of its package is written.
   */
  importFrom(dir: string): Promise<AddResult>;
}

export interface PackagesExport {
  packages: number;
  tarballs: number;
  bytes: number;
}

export interface PackageMirrorDeps {
  storageDir: string;
  store: Store;
  log: Logger;
}

const DEFAULT_TIMEOUT_MS = 15 * 60 * 1000;
/** npm's output is only kept for error messages; its tail is what explains a failure. */
const NPM_OUTPUT_TAIL = 16 * 1024;

const requestLogLine = z.object({ time: z.string().min(1), name: z.string(), ip: z.string().optional() });

export function createPackageMirror(deps: PackageMirrorDeps): PackageMirror {
  const { storageDir, store, log } = deps;
  const db = store.db;
  // Two fills at once would run two Verdaccios over one storage directory.
  let queue: Promise<unknown> = Promise.resolve();

  function record(name: string, requestedBy: string | undefined, at: string): void {
    db.prepare(
      `insert into requested_packages (name, first_requested_at, last_requested_at, count, requested_by, status)
       values (?, ?, ?, 1, ?, 'pending')
       on conflict(name) do update set
         first_requested_at = min(first_requested_at, excluded.first_requested_at),
         last_requested_at = max(last_requested_at, excluded.last_requested_at),
         count = count + 1,
         requested_by = coalesce(excluded.requested_by, requested_by)`,
    ).run(name, at, at, requestedBy ?? null);
  }

  async function fill(specs: readonly string[], options: AddOptions): Promise<AddResult> {
    const before = storedTarballs(storageDir);
    const work = mkdtempSync(path.join(os.tmpdir(), 'outpost-npm-fill-'));
    const onProgress = options.onProgress;
    const progress: RequestListener | undefined =
      onProgress === undefined
        ? undefined
        : (req, res) => {
            const name = packageNameFromPath(req.url ?? '/');
            if (name === undefined) return;
            const step = (req.url ?? '').endsWith('.tgz') ? 'tarball' : 'metadata';
            res.once('finish', () => {
              if (res.statusCode === 200) onProgress({ step, name });
            });
          };
    let registry: RunningVerdaccio | undefined;
    let failure: OutpostError | undefined;
    try {
      const config = verdaccioConfig({ storageDir, listen: '127.0.0.1:0', uplink: options.registry, logLevel: 'error' });
      registry = await startVerdaccio(config, '127.0.0.1', 0, progress);
      log.info({ specs, port: registry.port }, 'fetching packages into the mirror');
      const npm = npmRunner(work);
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const install = await npm(
        [
          'install',
          '--registry', registry.url,
          '--prefix', path.join(work, 'prefix'),
          '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', '--package-lock=false',
          '--',
          ...specs,
        ],
        timeoutMs,
      );
      if (install.code !== 0) {
        // Verdaccio answers 404 both for a package its uplink lacks and for an uplink it cannot
        // reach; asking the registry itself tells the two apart.
        const ping = isNotFound(install) ? await npm(['ping', '--registry', options.registry, '--fetch-retries=0'], timeoutMs) : undefined;
        failure = npmFailure(specs, install, ping === undefined || ping.code === 0);
      }
    } finally {
      await registry?.close();
      rmSync(work, { recursive: true, force: true });
    }
    // Pruned even after a failure: whatever did get stored must be consistent before anyone reads it.
    onProgress?.({ step: 'prune' });
    const pruned = pruneToStoredTarballs(storageDir);
    if (pruned.length > 0) log.info({ packages: pruned.length }, 'pruned packuments to their stored versions');
    if (failure !== undefined) throw failure;

    const after = storedTarballs(storageDir);
    const added = [...after.keys()].filter((id) => !before.has(id)).sort();
    const bytes = added.reduce((sum, id) => sum + (after.get(id) ?? 0), 0);
    log.info({ specs, tarballs: added.length, bytes }, 'packages added to the mirror');
    return { added, tarballs: added.length, bytes };
  }

  function add(specs: readonly string[], options: AddOptions): Promise<AddResult> {
    const invalid = specs.filter((spec) => parseSpec(spec) === undefined);
    if (specs.length === 0 || invalid.length > 0) {
      return Promise.reject(
        new OutpostError(
          'PACKAGES_INVALID',
          specs.length === 0
            ? 'No packages given: name at least one, e.g. "express" or "chai@5".'
            : `Cannot mirror ${invalid.map((spec) => JSON.stringify(spec)).join(', ')}: only registry packages can be mirrored, written as name, name@version, name@range or name@tag (no URLs, git, GitHub shorthands, files or aliases).`,
          { details: { invalid } },
        ),
      );
    }
    if (!/^https?:\/\//.test(options.registry)) {
      return Promise.reject(new OutpostError('INPUT_INVALID', `The registry to fetch from must be an http(s) URL, got ${JSON.stringify(options.registry)}; pass the output of \`npm config get registry\`.`));
    }
    const run = queue.then(() => fill(specs, options));
    queue = run.catch(() => undefined);
    return run;
  }

  return {
    add,

    list() {
      const byName = new Map<string, string[]>();
      for (const id of storedTarballs(storageDir).keys()) {
        const at = id.lastIndexOf('@');
        const name = id.slice(0, at);
        byName.set(name, [...(byName.get(name) ?? []), id.slice(at + 1)]);
      }
      return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, versions]) => ({ name, versions: versions.sort(compareVersions) }));
    },

    recordRequest(name, requestedBy) {
      if (!isValidPackageName(name)) {
        throw new OutpostError('PACKAGES_INVALID', `${JSON.stringify(name)} is not an npm package name; a request must name one package, e.g. "left-pad" or "@types/node".`);
      }
      record(name, requestedBy, new Date().toISOString());
    },

    ingestRequestLog(file) {
      const row = db.prepare('select offset from registry_request_log where file = ?').get(file) as { offset: number } | undefined;
      const { lines, offset } = readNewLines(file, row?.offset);
      let ingested = 0;
      let skipped = 0;
      db.transaction(() => {
        for (const line of lines) {
          const entry = parseLogLine(line);
          if (entry === undefined || !isValidPackageName(entry.name)) {
            skipped++;
            continue;
          }
          record(entry.name, entry.ip, entry.time);
          ingested++;
        }
        db.prepare('insert into registry_request_log (file, offset) values (?, ?) on conflict(file) do update set offset = excluded.offset').run(file, offset);
      })();
      if (skipped > 0) log.warn({ file, skipped }, 'request log lines that are not package requests were skipped');
      return { ingested, skipped };
    },

    requested() {
      const rows = db
        .prepare(
          `select name, first_requested_at, last_requested_at, count, requested_by, status from requested_packages
           order by status = 'approved', count desc, last_requested_at desc`,
        )
        .all() as Array<{ name: string; first_requested_at: string; last_requested_at: string; count: number; requested_by: string | null; status: 'pending' | 'approved' }>;
      return rows.map((row) => ({
        name: row.name,
        firstRequestedAt: row.first_requested_at,
        lastRequestedAt: row.last_requested_at,
        count: row.count,
        requestedBy: row.requested_by,
        status: row.status,
      }));
    },

    exportTo(dest) {
      const run = queue.then(() => exportPackages(storageDir, dest));
      queue = run.catch(() => undefined);
      return run;
    },

    importFrom(dir) {
      const run = queue.then(() => {
        const before = storedTarballs(storageDir);
        importPackages(dir, storageDir);
        pruneToStoredTarballs(storageDir);
        const after = storedTarballs(storageDir);
        const added = [...after.keys()].filter((id) => !before.has(id)).sort();
        const bytes = added.reduce((sum, id) => sum + (after.get(id) ?? 0), 0);
        log.info({ from: dir, tarballs: added.length, bytes }, 'packages imported into the mirror');
        return { added, tarballs: added.length, bytes };
      });
      queue = run.catch(() => undefined);
      return run;
    },

    async approve(name, options) {
      if (!isValidPackageName(name)) {
        throw new OutpostError('PACKAGES_INVALID', `${JSON.stringify(name)} is not an npm package name; approve one package by name, e.g. "left-pad".`);
      }
      const result = await add([name], options);
      const now = new Date().toISOString();
      db.prepare(
        `insert into requested_packages (name, first_requested_at, last_requested_at, count, requested_by, status)
         values (?, ?, ?, 0, null, 'approved')
         on conflict(name) do update set status = 'approved'`,
      ).run(name, now, now);
      return result;
    },
  };
}

function parseLogLine(line: string): z.infer<typeof requestLogLine> | undefined {
  try {
    const parsed = requestLogLine.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}


interface NpmOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
}

/**
 * Runs npm in `work` with an empty cache, so every packument and tarball is asked of the temporary
 * registry (and so stored), and an empty user config, so the host's tokens and settings stay out.
 */
function npmRunner(work: string): (args: readonly string[], timeoutMs: number) => Promise<NpmOutcome> {
  const userconfig = path.join(work, 'npmrc');
  writeFileSync(userconfig, '');
  const common = ['--cache', path.join(work, 'cache'), '--userconfig', userconfig, '--no-update-notifier', '--loglevel=warn'];
  return (args, timeoutMs) =>
    new Promise((resolve, reject) => {
      const child = spawn('npm', [args[0]!, ...common, ...args.slice(1)], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (data: Buffer) => {
        output = (output + data.toString('utf8')).slice(-NPM_OUTPUT_TAIL);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new OutpostError('PACKAGES_FETCH_FAILED', `Cannot run npm to fetch packages: ${error.message}. Install Node.js with npm on the staff machine.`, { cause: error }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut, output });
      });
    });
}

function npmErrorLines(outcome: NpmOutcome): string[] {
  return outcome.output
    .split('\n')
    .filter((line) => line.startsWith('npm error') || line.startsWith('npm ERR!'))
    .slice(0, 20);
}

function isNotFound(outcome: NpmOutcome): boolean {
  const text = npmErrorLines(outcome).join('\n');
  return /\bE404\b|\b404 Not Found\b|\bETARGET\b/.test(text);
}

function npmFailure(specs: readonly string[], outcome: NpmOutcome, registryReachable: boolean): OutpostError {
  const errorLines = npmErrorLines(outcome);
  const details = { specs, exitCode: outcome.code, signal: outcome.signal, npm: errorLines.length > 0 ? errorLines : outcome.output.split('\n').slice(-20) };
  if (outcome.timedOut) {
    return new OutpostError('PACKAGES_FETCH_FAILED', `Fetching ${specs.join(' ')} took too long and was stopped. Check that the registry is reachable, or add fewer packages at a time.`, { details });
  }
  if (!registryReachable) {
    return new OutpostError('PACKAGES_FETCH_FAILED', `The npm registry cannot be reached from this machine (npm ping failed), so ${specs.join(' ')} could not be fetched. Check the network and \`npm config get registry\`.`, { details });
  }
  if (isNotFound(outcome)) {
    const reason = errorLines.find((line) => /404 Not Found|No matching version/.test(line)) ?? errorLines.join(' ');
    return new OutpostError('PACKAGES_INVALID', `The registry has no package or version matching ${specs.join(' ')}: ${reason}. Check the names and versions.`, { details });
  }
  return new OutpostError('PACKAGES_FETCH_FAILED', `npm could not fetch ${specs.join(' ')} (exit ${outcome.code ?? outcome.signal}): ${errorLines.slice(-3).join(' ') || 'no error output'}. Check that the registry is reachable from this machine.`, { details });
}

interface StoredPackage {
  name: string;
  dir: string;
}

/** Every package directory in the storage: "name/" and "@scope/name/", each with a package.json. */
function storedPackages(storageDir: string): StoredPackage[] {
  if (!existsSync(storageDir)) return [];
  const found: StoredPackage[] = [];
  const visit = (dir: string, name: string) => {
    if (existsSync(path.join(dir, 'package.json'))) found.push({ name, dir });
  };
  for (const entry of readdirSync(storageDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = path.join(storageDir, entry.name);
    if (entry.name.startsWith('@')) {
      for (const inner of readdirSync(dir, { withFileTypes: true })) {
        if (inner.isDirectory()) visit(path.join(dir, inner.name), `${entry.name}/${inner.name}`);
      }
    } else {
      visit(dir, entry.name);
    }
  }
  return found;
}

interface Packument {
  versions?: Record<string, { dist?: { tarball?: string } }>;
  'dist-tags'?: Record<string, string>;
  time?: Record<string, string>;
  _attachments?: Record<string, unknown>;
  _distfiles?: Record<string, unknown>;
  [key: string]: unknown;
}

function readPackument(dir: string): Packument | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Packument;
  } catch {
    return undefined;
  }
}

function tarballFile(manifest: { dist?: { tarball?: string } }): string | undefined {
  const url = manifest.dist?.tarball;
  if (url === undefined) return undefined;
  try {
    return decodeURIComponent(path.posix.basename(url.split(/[?#]/)[0] ?? ''));
  } catch {
    return undefined;
  }
}

/** name@version → tarball size, for every version whose tarball is on disk. */
function storedTarballs(storageDir: string): Map<string, number> {
  const stored = new Map<string, number>();
  for (const pkg of storedPackages(storageDir)) {
    const packument = readPackument(pkg.dir);
    for (const [version, manifest] of Object.entries(packument?.versions ?? {})) {
      const file = tarballFile(manifest);
      if (file === undefined) continue;
      const tarball = path.join(pkg.dir, file);
      if (existsSync(tarball)) stored.set(`${pkg.name}@${version}`, statSync(tarball).size);
    }
  }
  return stored;
}

/**
 * Cuts every packument down to the versions whose tarball is stored, and repoints dist-tags.
 *
 * A package none of whose tarballs is stored (optional dependencies for other platforms, such as
 * fsevents under nodemon: npm reads their packuments but downloads nothing) keeps a packument with
 * no versions. npm skips such an optional dependency just as it would skip a 404, but a 404 would
 * land in the request log on every student's install and bury the real requests.
 * Returns the names of the packages it changed.
 */
export function pruneToStoredTarballs(storageDir: string): string[] {
  const changed: string[] = [];
  for (const pkg of storedPackages(storageDir)) {
    const packument = readPackument(pkg.dir);
    if (packument === undefined) continue;
    const versions = packument.versions ?? {};
    const keptFiles = new Set<string>();
    const kept: NonNullable<Packument['versions']> = {};
    for (const [version, manifest] of Object.entries(versions)) {
      const file = tarballFile(manifest);
      if (file !== undefined && existsSync(path.join(pkg.dir, file))) {
        kept[version] = manifest;
        keptFiles.add(file);
      }
    }
    const keptVersions = Object.keys(kept);
    if (keptVersions.length === Object.keys(versions).length) continue;
    changed.push(pkg.name);
    const tags: Record<string, string> = {};
    for (const [tag, version] of Object.entries(packument['dist-tags'] ?? {})) {
      if (version in kept) tags[tag] = version;
    }
    if (tags['latest'] === undefined && keptVersions.length > 0) {
      const stable = keptVersions.filter((version) => !version.includes('-'));
      tags['latest'] = (stable.length > 0 ? stable : keptVersions).sort(compareVersions).at(-1)!;
    }
    const pruned: Packument = {
      ...packument,
      versions: kept,
      'dist-tags': tags,
      time: Object.fromEntries(Object.entries(packument.time ?? {}).filter(([key]) => key === 'created' || key === 'modified' || key in kept)),
      _attachments: Object.fromEntries(Object.entries(packument._attachments ?? {}).filter(([file]) => keptFiles.has(file))),
      _distfiles: Object.fromEntries(Object.entries(packument._distfiles ?? {}).filter(([file]) => keptFiles.has(file))),
    };
    writeFileAtomicSync(path.join(pkg.dir, 'package.json'), JSON.stringify(pruned, null, 2));
  }
  return changed;
}


/** A tarball's file name from a packument, only when it is a plain name inside the package's folder. */
function safeTarballFile(manifest: { dist?: { tarball?: string } }): string | undefined {
  const file = tarballFile(manifest);
  return file !== undefined && file !== '' && !file.startsWith('.') && !/[\\/\0]/.test(file) ? file : undefined;
}

async function exportPackages(storageDir: string, dest: string): Promise<PackagesExport> {
  let packages = 0;
  let tarballs = 0;
  let bytes = 0;
  mkdirSync(dest, { recursive: true });
  for (const pkg of storedPackages(storageDir)) {
    const packument = readPackument(pkg.dir);
    if (packument === undefined) continue;
    const target = path.join(dest, ...pkg.name.split('/'));
    mkdirSync(target, { recursive: true });
    let stored = 0;
    for (const manifest of Object.values(packument.versions ?? {})) {
      const file = safeTarballFile(manifest);
      if (file === undefined || !existsSync(path.join(pkg.dir, file))) continue;
      copyFileSync(path.join(pkg.dir, file), path.join(target, file));
      bytes += statSync(path.join(target, file)).size;
      stored++;
    }
    copyFileSync(path.join(pkg.dir, 'package.json'), path.join(target, 'package.json'));
    packages++;
    tarballs += stored;
  }
  return { packages, tarballs, bytes };
}

/** The integrity npm would check, verified here so a mirror never serves a tarball npm then refuses. */
function checkTarball(name: string, version: string, file: string, manifest: { dist?: { integrity?: string; shasum?: string } }): void {
  const data = readFileSync(file);
  const integrity = manifest.dist?.integrity;
  const sri = integrity === undefined ? undefined : /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/=]+)$/.exec(integrity.split(/\s+/)[0] ?? '');
  const ok = sri
    ? createHash(sri[1]!).update(data).digest('base64') === sri[2]
    : manifest.dist?.shasum === undefined || createHash('sha1').update(data).digest('hex') === manifest.dist.shasum;
  if (!ok) {
    throw new OutpostError('PACKAGES_INVALID', `The tarball of ${name}@${version} does not match the integrity its packument gives; nothing of ${name} was imported. Export the packages again.`, { details: { name, version } });
  }
}

/** Checks every incoming package first, then writes: a refused import leaves the mirror as it was. */
function importPackages(dir: string, storageDir: string): void {
  const plans: Array<{ incoming: StoredPackage; theirs: Packument; ours: Packument | undefined; target: string; newVersions: Array<[string, string]> }> = [];
  for (const incoming of storedPackages(dir)) {
    if (!isValidPackageName(incoming.name)) {
      throw new OutpostError('PACKAGES_INVALID', `${JSON.stringify(incoming.name)} is not an npm package name; the packages to import are refused.`, { details: { name: incoming.name } });
    }
    const theirs = readPackument(incoming.dir);
    if (theirs === undefined) throw new OutpostError('PACKAGES_INVALID', `The packument of ${incoming.name} cannot be read as JSON; the packages to import are refused.`, { details: { name: incoming.name } });
    const target = path.join(storageDir, ...incoming.name.split('/'));
    const ours = readPackument(target);
    const newVersions: Array<[string, string]> = [];
    for (const [version, manifest] of Object.entries(theirs.versions ?? {})) {
      const file = safeTarballFile(manifest);
      if (file === undefined || (ours?.versions?.[version] !== undefined && existsSync(path.join(target, file)))) continue;
      if (!existsSync(path.join(incoming.dir, file))) continue;
      checkTarball(incoming.name, version, path.join(incoming.dir, file), manifest as { dist?: { integrity?: string; shasum?: string } });
      newVersions.push([version, file]);
    }
    if (newVersions.length > 0 || ours === undefined) plans.push({ incoming, theirs, ours, target, newVersions });
  }
  const pick = <T>(from: Record<string, T> | undefined, keep: (key: string) => boolean) => Object.fromEntries(Object.entries(from ?? {}).filter(([key]) => keep(key)));
  for (const { incoming, theirs, ours, target, newVersions } of plans) {
    mkdirSync(target, { recursive: true });
    for (const [, file] of newVersions) {
      const temp = path.join(target, `.${file}.partial`);
      copyFileSync(path.join(incoming.dir, file), temp);
      renameSync(temp, path.join(target, file));
    }
    const added = new Set(newVersions.map(([version]) => version));
    const addedFiles = new Set(newVersions.map(([, file]) => file));
    const base: Packument = ours ?? { ...theirs, versions: {}, time: pick(theirs.time, (k) => k === 'created' || k === 'modified'), _attachments: {}, _distfiles: {}, 'dist-tags': {} };
    const tags = { ...(base['dist-tags'] ?? {}) };
    for (const [tag, version] of Object.entries(theirs['dist-tags'] ?? {})) {
      if (added.has(version) && (tags[tag] === undefined || compareVersions(version, tags[tag]!) > 0)) tags[tag] = version;
    }
    const merged: Packument = {
      ...base,
      versions: { ...(base.versions ?? {}), ...pick(theirs.versions, (v) => added.has(v)) },
      'dist-tags': tags,
      time: { ...(base.time ?? {}), ...pick(theirs.time, (v) => added.has(v)) },
      _attachments: { ...(base._attachments ?? {}), ...pick(theirs._attachments, (f) => addedFiles.has(f)) },
      _distfiles: { ...(base._distfiles ?? {}), ...pick(theirs._distfiles, (f) => addedFiles.has(f)) },
    };
    writeFileAtomicSync(path.join(target, 'package.json'), JSON.stringify(merged, null, 2));
  }
}

/** Semver order (major.minor.patch, a pre-release sorts before its release); enough for sorting. */
export function compareVersions(a: string, b: string): number {
  const parse = (version: string) => {
    const [core = '', pre] = version.split('+')[0]!.split(/-(.*)/s);
    return { numbers: core.split('.').map((part) => Number(part) || 0), pre };
  };
  const left = parse(a);
  const right = parse(b);
  for (let i = 0; i < 3; i++) {
    const diff = (left.numbers[i] ?? 0) - (right.numbers[i] ?? 0);
    if (diff !== 0) return diff;
  }
  if (left.pre === undefined || right.pre === undefined) return left.pre === undefined ? (right.pre === undefined ? 0 : 1) : -1;
  const leftParts = left.pre.split('.');
  const rightParts = right.pre.split('.');
  for (let i = 0; i < Math.max(leftParts.length, rightParts.length); i++) {
    const l = leftParts[i];
    const r = rightParts[i];
    if (l === undefined || r === undefined) return l === undefined ? -1 : 1;
    const ln = /^\d+$/.test(l) ? Number(l) : undefined;
    const rn = /^\d+$/.test(r) ? Number(r) : undefined;
    if (ln !== undefined && rn !== undefined) {
      if (ln !== rn) return ln - rn;
    } else if (ln !== undefined || rn !== undefined) {
      return ln !== undefined ? -1 : 1;
    } else if (l !== r) {
      return l < r ? -1 : 1;
    }
  }
  return 0;
}

/** The registry staff fetch packages from: the machine's npm configuration, never a name written in code. */
export async function configuredNpmRegistry(): Promise<string> {
  const { stdout } = await promisify(execFile)('npm', ['config', 'get', 'registry']);
  return stdout.trim();
}
