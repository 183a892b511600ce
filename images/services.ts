/**
 * The services image's application: Outpost's own TypeScript for the sealed network's services,
 * bundled with esbuild (one file per entrypoint), plus the packages a bundle cannot hold: verdaccio
 * (it loads plugins by name at run time) and better-sqlite3 (a native addon, copied from the control
 * plane's own install, which is why the image runs the control plane's Node version).
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Container entrypoints: output file → source. */
export const SERVICE_ENTRYPOINTS: Record<string, string> = {
  'dns.mjs': 'fake-internet/dns/main.ts',
  'gateway.mjs': 'fake-internet/gateway/main.ts',
  'registry.mjs': 'fake-internet/registry/main.ts',
  'git.mjs': 'fake-internet/git/main.ts',
};

/** Packages installed next to the bundles instead of inside them. */
export const SERVICE_EXTERNALS = ['verdaccio', 'better-sqlite3'];

export interface ServicesBundle {
  files: { name: string; contents: Uint8Array }[];
  /** Hash of the bundled code and of the external packages' versions. */
  hash: string;
  versions: Record<string, string>;
}

async function packageVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export async function bundleServices(): Promise<ServicesBundle> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(SERVICE_ENTRYPOINTS).map(([out, src]) => [out.replace(/\.mjs$/, ''), src])),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    outdir: 'out',
    write: false,
    external: SERVICE_EXTERNALS,
    // Bundled CommonJS dependencies call require(); ESM has none of its own.
    banner: { js: "import { createRequire as __outpostRequire } from 'node:module'; const require = __outpostRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = result.outputFiles.map((f) => ({ name: path.basename(f.path), contents: f.contents })).sort((a, b) => a.name.localeCompare(b.name));
  const versions = Object.fromEntries(await Promise.all(SERVICE_EXTERNALS.map(async (name) => [name, await packageVersion(name)] as const)));
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.name).update(f.contents);
  hash.update(JSON.stringify(versions));
  return { files, hash: hash.digest('hex'), versions };
}

/**
 * Writes `app/` into a build context: the bundles, a package.json, verdaccio installed with npm
 * (the `install` function runs the real client) and better-sqlite3 with its two small dependencies
 * copied from the control plane's node_modules.
 */
export async function writeServicesApp(appDir: string, bundle: ServicesBundle, install: (cwd: string, args: string[]) => Promise<void>): Promise<void> {
  await mkdir(appDir, { recursive: true });
  for (const f of bundle.files) await writeFile(path.join(appDir, f.name), f.contents);
  const rootPkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { overrides?: Record<string, string> };
  await writeFile(path.join(appDir, 'package.json'), JSON.stringify({ name: 'outpost-services', private: true, type: 'module', overrides: rootPkg.overrides ?? {} }, null, 2) + '\n');
  await install(appDir, ['install', '--no-audit', '--no-fund', '--no-update-notifier', '--ignore-scripts', '--omit=dev', '--no-package-lock', `verdaccio@${bundle.versions.verdaccio}`]);
  for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
    await cp(path.join(ROOT, 'node_modules', name), path.join(appDir, 'node_modules', name), { recursive: true, dereference: true });
  }
}
