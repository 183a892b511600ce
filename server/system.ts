/**
 * The composition root: builds every module from the config and hands each its collaborators.
 * Nothing below this file reads the environment or makes its own singletons.
 */
import path from 'node:path';
import type { Server } from 'node:http';
import type Dockerode from 'dockerode';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { openStore, type Store } from '../core/store.ts';
import { ensureEngine, pingEngine } from '../sandbox/engine.ts';
import { createSandbox, type Sandbox } from '../sandbox/index.ts';
import { createImageBuilder, type ImageBuilder, type ImageProgressEvent } from '../images/build.ts';
import { createApp, type HealthReport } from './app.ts';

export const VERSION = '0.1.0';

export interface System {
  config: Config;
  log: Logger;
  docker: Dockerode;
  store: Store;
  images: ImageBuilder;
  sandbox: Sandbox;
  /** Set when this process started dockerd. */
  engineStartedPid?: number;
  health(): Promise<HealthReport>;
  /** Server start-up: reconcile containers, prewarm students' workspaces, start the idle sweeper. */
  start(): Promise<{ adopted: number; removed: number; prewarmed: number }>;
  close(): Promise<void>;
}

export interface SystemOptions {
  config: Config;
  log: Logger;
  /** Install/start the engine if none answers (config.docker.provision must allow it too). */
  provisionEngine?: boolean;
  onEngineProgress?: (message: string) => void;
  onImageProgress?: (event: ImageProgressEvent) => void;
}

export async function openSystem(options: SystemOptions): Promise<System> {
  const { config, log } = options;
  const engine = await ensureEngine({
    ...config.docker,
    provision: config.docker.provision && (options.provisionEngine ?? false),
    log: log.child({ module: 'engine' }),
    ...(options.onEngineProgress ? { onProgress: options.onEngineProgress } : {}),
  });
  const store = openStore(path.join(config.dataDir, 'outpost.db'));
  const images = createImageBuilder({
    docker: engine.docker,
    config: config.images,
    uid: config.sandbox.uid,
    cacheDir: path.join(config.dataDir, 'cache', 'images'),
    log: log.child({ module: 'images' }),
    ...(options.onImageProgress ? { onProgress: options.onImageProgress } : {}),
  });
  const sandbox = createSandbox({ docker: engine.docker, config, store, log });

  const system: System = {
    config,
    log,
    docker: engine.docker,
    store,
    images,
    sandbox,
    ...(engine.startedPid !== undefined ? { engineStartedPid: engine.startedPid } : {}),
    async health() {
      const [engineStatus, imageStatus] = await Promise.all([
        pingEngine(engine.docker),
        images.status().catch(() => []),
      ]);
      const storeStatus = store.health();
      const imagesOk = imageStatus.length > 0 && imageStatus.every((i) => i.present);
      return {
        ok: engineStatus.ok && imagesOk && storeStatus.ok,
        engine: engineStatus,
        images: imageStatus.map((i) => ({ image: i.image, present: i.present, upToDate: i.upToDate })),
        store: storeStatus,
        version: VERSION,
      };
    },
    async start() {
      const reconciled = await sandbox.workspaces.reconcile();
      const students = (store.db.prepare("select name from users where role = 'student' and disabled = 0").all() as { name: string }[]).map((row) => row.name);
      // Containers for every student exist before their first login, so opening is a start or an unpause.
      await sandbox.workspaces.prewarm(students).catch((error: unknown) => log.warn({ err: error }, 'prewarm failed'));
      sandbox.workspaces.startSweeper();
      return { adopted: reconciled.adopted.length, removed: reconciled.removed.length, prewarmed: students.length };
    },
    async close() {
      await sandbox.workspaces.close();
      store.close();
    },
  };
  return system;
}

/** Starts the HTTP server on the configured host and port. */
export async function serve(system: System): Promise<Server> {
  const app = createApp({ log: system.log.child({ module: 'http' }), health: () => system.health() });
  return new Promise((resolve, reject) => {
    const server = app.listen(system.config.http.port, system.config.http.host, () => resolve(server));
    server.once('error', reject);
  });
}
