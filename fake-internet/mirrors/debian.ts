/**
 * Imports the documentation Debian packages as mirrors of the real sites:
 *
 *   python3.11-doc  usr/share/doc/python3.11/html  -> python-docs  https://docs.python.org/3/
 *   nodejs-doc      usr/share/doc/nodejs/api       -> nodejs-docs  https://nodejs.org/api/   (Node 18's API docs)
 *   git-doc         usr/share/doc/git-doc/*.html   -> git-docs     https://git-scm.com/docs/ (extensionless)
 *
 * The packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a work dir:
 * nothing is installed on this machine (installing nodejs packages would replace its Node). Their
 * HTML links shared scripts from other packages (python's `_static/jquery.js` points into
 * /usr/share/javascript/jquery), so the `libjs-*` packages they depend on are unpacked into the same
 * root, and the importer copies the linked files' content into the site.
 *
 * git-scm.com serves `/docs/git-commit` without `.html`; the site is marked `extensionless` so the
 * gateway answers `<path>` with `<path>.html` (relative links in the pages keep working because the
 * page stays in the same directory, which `git-commit/index.html` copies would break).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ImportProgress, ImportReport, MirrorStore } from './store.ts';

const run = promisify(execFile);

export type DebianDocs = 'python' | 'nodejs' | 'git';

interface DocPackage {
  package: string;
  /** The site's files inside the unpacked package. */
  docDir: string;
  name: string;
  host: string;
  pathPrefix: string;
  extensionless: boolean;
  include?: (file: string) => boolean;
}

export const DEBIAN_DOCS: Record<DebianDocs, DocPackage> = {
  python: { package: 'python3.11-doc', docDir: 'usr/share/doc/python3.11/html', name: 'python-docs', host: 'docs.python.org', pathPrefix: '/3/', extensionless: false },
  nodejs: { package: 'nodejs-doc', docDir: 'usr/share/doc/nodejs/api', name: 'nodejs-docs', host: 'nodejs.org', pathPrefix: '/api/', extensionless: false },
  // Only the rendered pages: the .txt files are their AsciiDoc sources, which git-scm.com does not serve.
  git: { package: 'git-doc', docDir: 'usr/share/doc/git-doc', name: 'git-docs', host: 'git-scm.com', pathPrefix: '/docs/', extensionless: true, include: (file) => /\.(html|css|png|jpe?g|gif|svg)$/i.test(file) },
};

export interface DebianImportReport {
  package: string;
  version: string;
  debBytes: number;
  site: ImportReport;
}

export interface DebianImportProgress extends Partial<ImportProgress> {
  step: 'download' | 'unpack' | 'import';
  package?: string;
}

const MAX_DEPENDENCY_ROUNDS = 4;

export async function importDebianDocs(options: {
  mirrors: MirrorStore;
  workDir: string;
  packages?: DebianDocs[];
  onProgress?: (progress: DebianImportProgress) => void;
  log: Logger;
}): Promise<DebianImportReport[]> {
  const { mirrors, log } = options;
  const chosen = [...new Set(options.packages ?? (['python', 'nodejs', 'git'] as DebianDocs[]))].map((key) => DEBIAN_DOCS[key]);
  const progress = options.onProgress ?? (() => undefined);
  await mkdir(options.workDir, { recursive: true });
  const work = await mkdtemp(path.join(options.workDir, 'debian-docs-'));
  const debs = path.join(work, 'debs');
  const root = path.join(work, 'root');
  await mkdir(debs, { mode: 0o755 });
  await mkdir(root);
  try {
    progress({ step: 'download' });
    await download(chosen.map((p) => p.package), debs, log);
    // The libjs-* packages the docs depend on, and theirs (libjs-sphinxdoc needs libjs-jquery...).
    const fetched = new Set(chosen.map((p) => p.package));
    for (let round = 0; round < MAX_DEPENDENCY_ROUNDS; round++) {
      const wanted = new Set<string>();
      for (const file of await debFiles(debs)) {
        for (const dependency of await scriptDependencies(file.path)) if (!fetched.has(dependency)) wanted.add(dependency);
      }
      if (wanted.size === 0) break;
      await download([...wanted], debs, log);
      for (const name of wanted) fetched.add(name);
    }

    const files = await debFiles(debs);
    const versions = new Map<string, { version: string; bytes: number }>();
    for (const file of files) {
      progress({ step: 'unpack', package: file.package });
      await dpkg(['-x', file.path, root]);
      versions.set(file.package, { version: (await dpkg(['-f', file.path, 'Version'])).trim(), bytes: file.bytes });
    }

    const reports: DebianImportReport[] = [];
    for (const doc of chosen) {
      const from = path.join(root, doc.docDir);
      const info = await stat(from).catch(() => undefined);
      if (!info?.isDirectory()) {
        throw new OutpostError('MIRROR_IMPORT_FAILED', `The package ${doc.package} has no ${doc.docDir}; its layout changed. Update DEBIAN_DOCS in fake-internet/mirrors/debian.ts.`, { details: { package: doc.package } });
      }
      const deb = versions.get(doc.package)!;
      const site = await mirrors.importSite({
        name: doc.name,
        host: doc.host,
        pathPrefix: doc.pathPrefix,
        from,
        linkRoot: root,
        extensionless: doc.extensionless,
        ...(doc.include ? { include: doc.include } : {}),
        source: `debian:${doc.package}=${deb.version}`,
        onProgress: (p) => progress({ step: 'import', package: doc.package, ...p }),
      });
      reports.push({ package: doc.package, version: deb.version, debBytes: deb.bytes, site });
    }
    return reports;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function download(packages: string[], into: string, log: Logger): Promise<void> {
  try {
    await run('apt-get', ['download', ...packages], { cwd: into, maxBuffer: 16 * 1024 * 1024 });
    return;
  } catch (error) {
    log.info({ packages, error: (error as Error).message }, 'apt-get download failed; updating the package lists once');
  }
  try {
    await run('apt-get', ['update'], { maxBuffer: 16 * 1024 * 1024 });
    await run('apt-get', ['download', ...packages], { cwd: into, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message;
    throw new OutpostError('MIRROR_IMPORT_FAILED', `apt-get could not download ${packages.join(', ')}: ${stderr.trim().split('\n').slice(-3).join(' ')}. Check the machine's apt sources (this runs before the school goes offline).`, { cause: error, details: { packages } });
  }
}

async function debFiles(dir: string): Promise<Array<{ path: string; package: string; bytes: number }>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.deb')).sort();
  return Promise.all(names.map(async (name) => ({ path: path.join(dir, name), package: name.split('_')[0]!, bytes: (await stat(path.join(dir, name))).size })));
}

/** The `libjs-*` packages a .deb depends on: where its HTML's shared scripts really live. */
async function scriptDependencies(deb: string): Promise<string[]> {
  const depends = await dpkg(['-f', deb, 'Depends']);
  return depends
    .split(',')
    .map((clause) => clause.split('|')[0]!.trim().split(/[\s(:]/)[0]!)
    .filter((name) => name.startsWith('libjs-'));
}

async function dpkg(args: string[]): Promise<string> {
  try {
    return (await run('dpkg-deb', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (error) {
    throw new OutpostError('MIRROR_IMPORT_FAILED', `dpkg-deb ${args.join(' ')} failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}. Check that the download is complete and dpkg is installed.`, { cause: error });
  }
}
