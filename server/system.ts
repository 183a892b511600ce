/**
 * The composition root: builds every module from the config and hands each its collaborators.
 * Nothing below this file reads the environment or makes its own singletons.
 */
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type Dockerode from 'dockerode';
import type { Config } from '../core/config.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import type { Migration } from '../core/migrations.ts';
import { openStore, type Store } from '../core/store.ts';
import { ensureEngine, pingEngine } from '../sandbox/engine.ts';
import { createSandbox, type Sandbox } from '../sandbox/index.ts';
import { createImageBuilder, type ImageBuilder, type ImageProgressEvent } from '../images/build.ts';
import { createApp, EDITOR_CONTENT_SECURITY_POLICY, type HealthReport } from './app.ts';
import { createIde, type Ide } from '../ide/index.ts';
import { createAuditLog, type AuditLog } from '../core/audit.ts';
import { createAccounts, type Accounts } from '../core/accounts.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { createPolicy, type Policy } from '../core/policy.ts';
import { createRouteRegistry, type RouteRegistry } from '../core/web.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerNetworkRoutes } from './routes/network.ts';
import { registerTokenRoutes } from './routes/tokens.ts';
import { registerGitRoutes } from './routes/git.ts';
import { createCurriculum, curriculumMigrations, type Curriculum } from '../curriculum/index.ts';
import { registerCurriculumRoutes } from '../curriculum/web.ts';
import { createWorkspaceCurriculum } from '../curriculum/workspace.ts';
import { createShop, createTeams, shopMigrations, registerShopRoutes, type Shop, type Teams } from '../shop/index.ts';
import { createShopPreviews } from '../shop/previews.ts';
import { createShopBuilder } from '../shop/build.ts';
import { availableParallelism } from 'node:os';
import { createMetrics, type Metrics } from '../core/metrics.ts';
import { OutpostError } from '../core/errors.ts';
import { tokensEqual } from '../core/web.ts';
import { createHash } from 'node:crypto';
import { configuredNpmRegistry } from '../fake-internet/registry/packages.ts';
import { createFakeInternet, createAllowlists, mirrorMigrations, registryMigrations, allowlistMigrations, pruneNetworkLog, SERVICE_UID, type FakeInternet } from '../fake-internet/index.ts';
import { createGitHosting, gitMigrations, type GitHosting } from '../fake-internet/git/hosting.ts';
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { createBundles, bundleMigrations, type Bundles } from './bundles.ts';
import { registerBundleRoutes } from './routes/bundles.ts';

export const VERSION = '0.1.0';

export interface System {
  config: Config;
  log: Logger;
  docker: Dockerode;
  store: Store;
  images: ImageBuilder;
  sandbox: Sandbox;
  audit: AuditLog;
  accounts: Accounts;
  sessions: Sessions;
  policy: Policy;
  routes: RouteRegistry;
  /** The browser IDE (routes are registered; `serve` attaches its WebSockets). */
  ide: Ide;
  git: GitHosting;
  curriculum: Curriculum;
  metrics: Metrics;
  /** The shop: client requests, team projects, hours, outbound packages. */
  shop: Shop;
  /** The sealed network and its services; undefined when fakeInternet.enabled is off. */
  fakeInternet?: FakeInternet;
  /** Offline update bundles: trusted keys, staged bundles, approval (docs/bundles.md). */
  bundles: Bundles;
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
  const { store, audit, accounts, sessions, git, shopTeams } = openCore(config, log);
  const images = createImageBuilder({
    docker: engine.docker,
    config: config.images,
    uid: config.sandbox.uid,
    cacheDir: path.join(config.dataDir, 'cache', 'images'),
    log: log.child({ module: 'images' }),
    ...(options.onImageProgress ? { onProgress: options.onImageProgress } : {}),
  });
  const policy = createPolicy({ cohortsOf: (name) => accounts.cohortsOf(name) });
  // A workspace belongs to an existing, active student account.
  const ownerExists = (owner: string) => { const u = accounts.get(owner); return u !== undefined && u.role === 'student' && !u.disabled; };
  const allowlists = createAllowlists(store);
  const fakeInternet = config.fakeInternet.enabled
    ? createFakeInternet({
        docker: engine.docker, config, store, log: log.child({ module: 'fake-internet' }), image: `${config.images.repository}/services:latest`,
        cohortOf: (owner) => accounts.cohortsOf(owner)[0], allowedSites: (cohort) => allowlists.get(cohort), git,
      })
    : undefined;
  const metrics = createMetrics();
  const sandbox = createSandbox({
    docker: engine.docker, config, store, log, ownerExists, onExec: (ms) => metrics.exec(ms / 1000),
    ...(fakeInternet ? { attachment: fakeInternet.attachment(), onStarted: () => fakeInternet.refreshIdentities(), beforeStart: (owner: string) => git.prepareWorkspace(owner) } : {}),
  });
  const routes = createRouteRegistry({ policy });
  const curriculum = createCurriculum({
    store, audit, accounts, log, dataDir: config.dataDir, oneShot: sandbox.oneShot, git,
    concurrency: config.curriculum.graderConcurrency || availableParallelism(),
  });

  let networkTimer: NodeJS.Timeout | undefined;
  let pushWatcher: FSWatcher | undefined;

  async function health(): Promise<HealthReport> {
    const [engineStatus, imageStatus] = await Promise.all([pingEngine(engine.docker), images.status().catch(() => [])]);
    const storeStatus = store.health();
    const imagesOk = imageStatus.length > 0 && imageStatus.every((i) => i.present);
    return {
      ok: engineStatus.ok && imagesOk && storeStatus.ok,
      engine: engineStatus,
      images: imageStatus.map((i) => ({ image: i.image, present: i.present, upToDate: i.upToDate })),
      store: storeStatus,
      version: VERSION,
    };
  }
  routes.add({ method: 'get', path: '/healthz', action: 'public', handler: async (_req, res) => {
    const report = await health();
    res.status(report.ok ? 200 : 503).json(report);
  } });
  // Prometheus: loopback always; elsewhere only with the configured bearer token (the numbers say
  // how many students work and grade, which is nobody else's business).
  routes.add({ method: 'get', path: '/metrics', action: 'public', handler: async (req, res) => {
    const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const loopback = peer === '127.0.0.1' || peer === '::1';
    const token = config.metrics.token;
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!loopback && !(token !== '' && bearer !== undefined && tokensEqual(bearer, token))) throw new OutpostError('AUTH_FORBIDDEN', 'Metrics are served to this machine, or with the configured metrics token.');
    res.type(metrics.contentType).send(await metrics.text());
  } });
  metrics.gauge('outpost_grading_queue_depth', 'Grading jobs waiting and running', ['state'], () => {
    const d = curriculum.queue.depth();
    return [{ labels: { state: 'queued' }, value: d.queued }, { labels: { state: 'running' }, value: d.running }];
  });
  metrics.gauge('outpost_workspaces', 'Workspace containers of this instance, by state', ['state'], async () => {
    const counts = new Map<string, number>();
    for (const w of await sandbox.workspaces.list().catch(() => [])) counts.set(w.state, (counts.get(w.state) ?? 0) + 1);
    return [...counts].map(([state, value]) => ({ labels: { state }, value }));
  });
  curriculum.queue.onResult((run) => metrics.graded(run.durationMs / 1000, run.status));
  registerAuthRoutes(routes, { accounts, sessions, audit, config });
  registerAdminRoutes(routes, { accounts, audit, policy, workspaces: sandbox.workspaces });
  // The IDE's exercise panel, Run and "Run tests" for files in /workspace/EXERCISE_ID come from the curriculum.
  const exercisesInWorkspace = createWorkspaceCurriculum({ curriculum, workspaces: sandbox.workspaces });
  const ide = createIde({
    config, log, workspaces: sandbox.workspaces, accounts, sessions, policy, audit, routes, contentSecurityPolicy: EDITOR_CONTENT_SECURITY_POLICY,
    runCommandFor: (_owner, file, purpose) => exercisesInWorkspace.command(file, purpose),
    exerciseFor: (owner, file) => exercisesInWorkspace.panel(owner, file),
    submitExercise: async (owner, exercise) => { const id = await exercisesInWorkspace.submit(owner, exercise); return { id, url: `/learn/submissions/${id}` }; },
  });
  registerTokenRoutes(routes, { git, audit });
  registerGitRoutes(routes, { hosting: git });
  registerCurriculumRoutes(routes, { curriculum, accounts, policy, workspaces: sandbox.workspaces, ...(fakeInternet ? { git } : {}) });
  const shop = createShop({ store, audit, accounts, git, teams: shopTeams, config: config.shop, dataDir: config.dataDir, builder: createShopBuilder({ oneShot: sandbox.oneShot }) });
  // A deliverable's live preview: the app at exactly that commit, in a fresh sandbox container.
  const shopPreviews = createShopPreviews({ oneShot: sandbox.oneShot, shop, sessions, accounts, routes, log: log.child({ module: 'shop-previews' }) });
  registerShopRoutes(routes, { shop, accounts, git, config: config.shop, previews: shopPreviews });
  if (fakeInternet) registerNetworkRoutes(routes, { fakeInternet, accounts, audit, allowlists, npmRegistry: configuredNpmRegistry });
  const bundles = createBundles({
    store, audit, dataDir: config.dataDir, log: log.child({ module: 'bundles' }), version: VERSION, imagesRepository: config.images.repository,
    docker: engine.docker, catalog: curriculum.catalog,
    ...(fakeInternet ? {
      mirrors: fakeInternet.mirrors, packages: fakeInternet.packages,
      // Running services learn about changed sites now; before the first `up` there is nothing to tell.
      onMirrorsChanged: async () => { if ((await fakeInternet.status()).services.some((s) => s.running)) await fakeInternet.publish(); },
    } : {}),
  });
  registerBundleRoutes(routes, { bundles });

  const system: System = {
    config,
    log,
    docker: engine.docker,
    store,
    images,
    sandbox,
    ...(engine.startedPid !== undefined ? { engineStartedPid: engine.startedPid } : {}),
    audit,
    accounts,
    sessions,
    policy,
    routes,
    ide,
    git,
    curriculum,
    metrics,
    shop,
    bundles,
    health,
    ...(fakeInternet ? { fakeInternet } : {}),
    async start() {
      recordVersion(store, audit);
      recordConfigChange(store, audit, config);
      sessions.prune();
      // The network and trust files must exist before any sandbox is created on them.
      await fakeInternet?.up();
      const reconciled = await sandbox.workspaces.reconcile();
      const students = (store.db.prepare("select name from users where role = 'student' and disabled = 0").all() as { name: string }[]).map((row) => row.name);
      // Containers for every student exist before their first login, so opening is a start or an unpause.
      const prewarm = sandbox.workspaces.prewarm(students).catch((error: unknown) => log.warn({ err: error }, 'prewarm failed'));
      // Under compose the services (and so sandboxes) come after this start: do not wait for them.
      if (config.fakeInternet.services === 'engine') await prewarm;
      sandbox.workspaces.startSweeper();
      await curriculum.submissions.sweepPartial();
      // Grading containers made ahead of time, one per grading slot.
      sandbox.oneShot.setPoolSize(config.curriculum.graderConcurrency || availableParallelism());
      curriculum.queue.start();
      await fakeInternet?.refreshIdentities();
      if (fakeInternet) {
        // Keeps the staff's network log current, the address-to-student map fresh, and the git
        // server's access file in step with cohort changes.
        let prunedAt = 0;
        networkTimer = setInterval(() => {
          void fakeInternet.refreshIdentities().then(() => fakeInternet.ingestLogs()).catch((error: unknown) => log.warn({ err: error }, 'network log ingestion failed'));
          if (config.fakeInternet.networkLogDays > 0 && Date.now() - prunedAt > 3_600_000) {
            prunedAt = Date.now();
            try {
              const removed = pruneNetworkLog(store, new Date(Date.now() - config.fakeInternet.networkLogDays * 86_400_000).toISOString());
              if (removed > 0) log.info({ removed, days: config.fakeInternet.networkLogDays }, 'pruned the network log');
            } catch (error) { log.warn({ err: error }, 'network log pruning failed'); }
          }
          void git.publishAccess().then(() => git.ingestPushes()).catch((error: unknown) => log.warn({ err: error }, 'git access or push ingestion failed'));
        }, 10_000);
        networkTimer.unref();
        // A push reaches the audit log (and "submit by push") as soon as the git server logs it.
        mkdirSync(git.paths.pushLogDir, { recursive: true });
        pushWatcher = watch(git.paths.pushLogDir, () => {
          try { git.ingestPushes(); } catch (error) { log.warn({ err: error }, 'push ingestion failed'); }
        });
        pushWatcher.unref();
      }
      return { adopted: reconciled.adopted.length, removed: reconciled.removed.length, prewarmed: students.length };
    },
    async close() {
      if (networkTimer) clearInterval(networkTimer);
      ide.close();
      pushWatcher?.close();
      await curriculum.queue.stop();
      await shopPreviews.close();
      await sandbox.oneShot.close();
      await sandbox.workspaces.close();
      store.close();
    },
  };
  return system;
}

export interface Core {
  store: Store;
  audit: AuditLog;
  accounts: Accounts;
  sessions: Sessions;
  git: GitHosting;
  /** Shop teams: git hosting asks them who may push to a team's repository. */
  shopTeams: Teams;
}

/** The parts that need no Docker engine: store, audit log, accounts, sessions (for the CLI's user commands). */
export function openCore(config: Config, log: Logger = silentLogger()): Core {
  const store = openStore(path.join(config.dataDir, 'outpost.db'), allMigrations());
  const audit = createAuditLog({ store, anchorFile: path.join(config.dataDir, 'audit.anchor') });
  const accounts = createAccounts({ store, audit, config: config.auth });
  const sessions = createSessions({ store, config: config.auth });
  const shopTeams = createTeams({ store, accounts, audit });
  const git = createGitHosting({ store, accounts, audit, config, log: log.child({ module: 'git' }), serviceUid: SERVICE_UID, teamMembers: (team) => shopTeams.members(team) });
  accounts.onRevoke((name) => {
    sessions.destroyAllFor(name);
    // A disabled account's tokens stop working now, not at the next timer tick.
    void git.publishAccess().catch(() => undefined);
  });
  return { store, audit, accounts, sessions, git, shopTeams };
}

/** Starts the HTTP server on the configured host and port. */
export async function serve(system: System): Promise<Server> {
  const app = createApp({ log: system.log.child({ module: 'http' }), routes: system.routes, sessions: system.sessions, accounts: system.accounts, metrics: system.metrics });
  const { port, host } = system.config.http;
  return new Promise((resolve, reject) => {
    // Not app.listen: its callback gets a listen error as an argument, and a server that never
    // listened would be taken for one that does.
    const server = createServer(app);
    // The IDE's terminals and Runs are WebSockets on the same server, authenticated like HTTP.
    system.ide.attach(server);
    const failed = (error: NodeJS.ErrnoException) => {
      server.close();
      reject(error.code === 'EADDRINUSE'
        ? new OutpostError('PORT_IN_USE', `Port ${port} on ${host} is already in use (another Outpost, or another program). Stop it (./outpost down), or set http.port.`, { cause: error })
        : new OutpostError('CONFIG_INVALID', `Cannot listen on ${host}:${port}: ${error.message}. Check http.host and http.port.`, { cause: error }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}

/** Every module's store migrations (core's are built into the store); the highest is the schema this code knows. */
export function allMigrations(): Migration[] {
  return [...mirrorMigrations, ...registryMigrations, ...allowlistMigrations, ...gitMigrations, ...curriculumMigrations, ...shopMigrations, ...bundleMigrations];
}

export interface VersionRecord { current: string; history: { version: string; since: string }[] }

/** Records which Outpost last ran on this data (doctor compares it), and audits an upgrade or a downgrade. */
function recordVersion(store: Store, audit: AuditLog): void {
  const row = store.db.prepare("select value from meta where key = 'version'").get() as { value: string } | undefined;
  const previous = row ? (JSON.parse(row.value) as VersionRecord) : undefined;
  if (previous?.current === VERSION) return;
  const next: VersionRecord = { current: VERSION, history: [...(previous?.history ?? []), { version: VERSION, since: new Date().toISOString() }].slice(-50) };
  store.db.prepare("insert into meta (key, value) values ('version', ?) on conflict(key) do update set value = excluded.value").run(JSON.stringify(next));
  audit.record({ actor: 'system', action: previous ? 'system.version-change' : 'system.first-start', details: { from: previous?.current ?? null, to: VERSION, schema: store.version() } });
}

/** Audits a changed configuration at start-up: which keys differ from the last run's. */
function recordConfigChange(store: Store, audit: AuditLog, config: Config): void {
  const flat = flatten(config as unknown as Record<string, unknown>);
  const text = JSON.stringify(flat);
  const hash = createHash('sha256').update(text).digest('hex');
  const previous = store.db.prepare("select value from meta where key = 'config'").get() as { value: string } | undefined;
  if (previous && JSON.parse(previous.value).hash === hash) return;
  const before = previous ? (JSON.parse(previous.value).flat as Record<string, unknown>) : {};
  const changed = Object.keys({ ...before, ...flat }).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(flat[k])).sort();
  audit.record({ actor: 'system', action: previous ? 'config.change' : 'config.initial', details: { keys: changed.slice(0, 200) } });
  store.db.prepare("insert into meta (key, value) values ('config', ?) on conflict(key) do update set value = excluded.value").run(JSON.stringify({ hash, flat }));
}

function flatten(value: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

