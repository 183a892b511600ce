/**
 * Builds the IDE's browser bundle with esbuild when the server first needs it, never committed: the
 * output lives in a content-addressed folder (a hash of the client sources and the versions of the
 * packages it bundles), so a clean clone builds once and a restart reuses the build.
 *
 * Two builds: the page (ESM with code splitting, so xterm and markdown-it load after the editor is
 * usable, and each Monaco grammar loads when a file needs it) and Monaco's workers (classic IIFE
 * scripts, one per language service, loaded with `new Worker(url)` from Outpost, never a CDN).
 */
import { build, type Plugin } from 'esbuild';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
/** A package's folder (some, like monaco-editor, do not export their package.json). */
const packageDir = (name: string) => path.join(ROOT, 'node_modules', name);

export interface ClientAssets {
  /** The build's id: asset URLs are /ide/assets/<id>/<file>, immutable. */
  id: string;
  dir: string;
  /** Output files with their sizes (the benchmark reports them); `.gz` twins are listed too. */
  files: Record<string, number>;
}

export interface AssetBuilder {
  /** Builds once (concurrent callers share the promise); later calls return the same result. */
  ready(): Promise<ClientAssets>;
}

const WORKERS: Record<string, string> = {
  'editor.worker': 'monaco-editor/editor/editor.worker.js',
  'ts.worker': 'monaco-editor/language/typescript/ts.worker.js',
  'json.worker': 'monaco-editor/language/json/json.worker.js',
  'css.worker': 'monaco-editor/language/css/css.worker.js',
  'html.worker': 'monaco-editor/language/html/html.worker.js',
};

/**
 * Monaco's package exports map `monaco-editor/x` to `esm/vs/x.js`, which breaks its own CSS imports;
 * resolve `monaco-editor/…` straight to the files.
 */
function monacoFiles(): Plugin {
  const esm = path.join(packageDir('monaco-editor'), 'esm', 'vs');
  return {
    name: 'monaco-files',
    setup(b) {
      b.onResolve({ filter: /^monaco-editor\// }, (args) => ({ path: path.join(esm, args.path.slice('monaco-editor/'.length)) }));
    },
  };
}

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const clientDir = path.join(HERE, 'client');
  for (const name of (await readdir(clientDir)).sort()) hash.update(name).update(await readFile(path.join(clientDir, name)));
  hash.update(await readFile(path.join(HERE, 'protocol.ts')));
  hash.update(await readFile(fileURLToPath(import.meta.url)));
  for (const pkg of ['monaco-editor', '@xterm/xterm', '@xterm/addon-fit', 'markdown-it', 'esbuild']) {
    hash.update(pkg).update((JSON.parse(await readFile(path.join(packageDir(pkg), 'package.json'), 'utf8')) as { version: string }).version);
  }
  return hash.digest('hex').slice(0, 16);
}

export function createAssetBuilder(deps: { log: Logger; cacheDir?: string }): AssetBuilder {
  const cacheDir = deps.cacheDir ?? path.join(HERE, '.build');
  let pending: Promise<ClientAssets> | undefined;

  async function listFiles(dir: string): Promise<Record<string, number>> {
    const files: Record<string, number> = {};
    for (const name of await readdir(dir)) files[name] = (await stat(path.join(dir, name))).size;
    return files;
  }

  async function doBuild(): Promise<ClientAssets> {
    const id = await sourceHash();
    const dir = path.join(cacheDir, id);
    if (await stat(path.join(dir, 'ide.js')).then(() => true, () => false)) {
      await utimes(dir, new Date(), new Date()).catch(() => undefined);
      return { id, dir, files: await listFiles(dir) };
    }
    const started = Date.now();
    // Half-built folders of interrupted runs (a killed test, a crash) go after ten minutes, builds
    // of other sources after a week unused (each server start marks its build as used).
    for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
      const age = Date.now() - (await stat(path.join(cacheDir, name)).then((st) => st.mtimeMs, () => Date.now()));
      if (name.startsWith('.tmp-') ? age > 10 * 60_000 : age > 7 * 86_400_000) await rm(path.join(cacheDir, name), { recursive: true, force: true });
    }
    // Build beside the final folder and rename: a concurrent server (or test) never sees half a build.
    const tmp = path.join(cacheDir, `.tmp-${id}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    const common = {
      bundle: true, minify: true, logLevel: 'silent' as const, absWorkingDir: ROOT, target: ['chrome110', 'firefox115', 'safari16'],
      plugins: [monacoFiles()], loader: { '.ttf': 'file' as const }, legalComments: 'none' as const,
    };
    try {
      await Promise.all([
        build({ ...common, entryPoints: { ide: path.join(HERE, 'client', 'main.ts') }, outdir: tmp, format: 'esm', splitting: true, chunkNames: 'chunk-[hash]', assetNames: '[name]-[hash]' }),
        build({ ...common, entryPoints: WORKERS, outdir: tmp, format: 'iife' }),
      ]);
      // Compressed once here rather than per request: about a quarter of the bytes on the wire.
      const gz = promisify(gzip);
      await Promise.all((await readdir(tmp)).filter((name) => /\.(js|css)$/.test(name)).map(async (name) => {
        await writeFile(path.join(tmp, `${name}.gz`), await gz(await readFile(path.join(tmp, name)), { level: 9 }));
      }));
      await rename(tmp, dir).catch(async (error: NodeJS.ErrnoException) => {
        // Another process finished the same build first: theirs is identical.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        await rm(tmp, { recursive: true, force: true });
      });
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw new OutpostError('IDE_BUILD_FAILED', `The IDE's browser bundle could not be built: ${(error as Error).message}`, { cause: error });
    }
    const files = await listFiles(dir);
    deps.log.info({ id, ms: Date.now() - started, bytes: Object.values(files).reduce((a, b) => a + b, 0) }, 'IDE bundle built');
    return { id, dir, files };
  }

  return {
    ready() {
      pending ??= doBuild().catch((error: unknown) => { pending = undefined; throw error; });
      return pending;
    },
  };
}
