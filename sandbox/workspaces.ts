/**
 * Workspaces: one long-lived, hardened container per student, whose files live on the student's own
 * disk (see disk.ts) and so survive container removal and engine or server restarts.
 *
 * Commands run through a small agent inside the container (sandbox/agent), reached over a unix
 * socket in a host directory bind-mounted into the container: no network path from the sandbox to
 * the control plane exists, and an exec costs a socket round trip instead of a `docker exec`.
 *
 * Lifecycle: running → paused after `idlePauseSeconds` (memory kept, unpausing is ~20 ms) → stopped
 * after `idleStopSeconds` (memory freed, starting is ~250 ms). Containers are created ahead of first
 * use (`prewarm`), so opening a workspace never pays a cold `docker run`. On startup `reconcile`
 * adopts or removes every container carrying this instance's labels.
 */
import type Dockerode from 'dockerode';
import { mkdir, chown, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { OutpostError, isOutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store.ts';
import type { DiskManager } from './disk.ts';
import { createWorkspaceFiles, type WorkspaceFiles } from './files.ts';
import { LABEL, sandboxContainerSpec, type SandboxMount } from './hardening.ts';
import { createHash } from 'node:crypto';
import { agentAnswers, assertAgentSocket, startAgentExec, waitForAgent, type AgentSession, type AgentExit } from './agent-client.ts';
import { createAgentSockets, type AgentSockets } from './agent-sockets.ts';

export const OWNER_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

export interface ExecRequest {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutSeconds?: number;
  stdin?: Buffer | string;
  outputCapBytes?: number;
}

export interface ExecResult extends AgentExit {
  stdout: Buffer;
  stderr: Buffer;
}

export interface StreamRequest extends Omit<ExecRequest, 'stdin'> {
  /** Keep stdin open for writes (a Run with input, a REPL). */
  interactive?: boolean;
  tty?: { cols: number; rows: number };
  /**
   * No time limit: an interactive terminal lives until it is closed (the IDE closes detached ones).
   * The container's pids/memory/CPU limits still bound everything it runs.
   */
  noTimeout?: boolean;
}

export type WorkspaceState = 'absent' | 'created' | 'running' | 'paused' | 'stopped';

export interface WorkspaceInfo {
  owner: string;
  containerId: string | null;
  state: WorkspaceState;
  lastUsedAt: string;
}

export interface Workspaces {
  /** Makes the workspace ready to run commands (creating, starting or unpausing it). */
  open(owner: string): Promise<WorkspaceInfo>;
  exec(owner: string, request: ExecRequest): Promise<ExecResult>;
  /** A streaming exec (IDE Run, terminal): output as it comes, stdin, resize, signals. */
  stream(owner: string, request: StreamRequest): Promise<AgentSession>;
  files(owner: string): Promise<WorkspaceFiles>;
  /** Creates (but does not start) containers for these owners so their first open is a start. */
  prewarm(owners: string[]): Promise<void>;
  /** Pauses and stops idle workspaces; returns what it did. Runs on a timer after `startSweeper`. */
  sweepIdle(now?: number): Promise<{ paused: string[]; stopped: string[] }>;
  reconcile(): Promise<{ adopted: string[]; removed: string[] }>;
  list(): Promise<WorkspaceInfo[]>;
  /** Removes the container; the files stay unless `deleteFiles`. */
  remove(owner: string, options?: { deleteFiles?: boolean }): Promise<void>;
  containerName(owner: string): string;
  startSweeper(): void;
  close(): Promise<void>;
}

/** How sandboxes join the network: the sealed network, its DNS, and what they need to trust it. */
export interface NetworkAttachment {
  network: string;
  dns: string[];
  /** Read-only files (the trust store with the local CA). */
  mounts: SandboxMount[];
  /** Read-only per-student folders: `<sourceRoot>/<owner>` at `target` (git identity and token). */
  ownerMounts?: { sourceRoot: string; target: string }[];
  env: Record<string, string>;
  /**
   * Resolves once the network's fixed-address services hold their addresses. The engine hands out
   * sandbox addresses from the same subnet, so a sandbox created first could take a service's.
   */
  ready?: () => Promise<void>;
}

export function defaultAttachment(config: Config): NetworkAttachment {
  return { network: config.sandbox.network, dns: config.sandbox.dns, mounts: [], env: {} };
}

export interface WorkspacesDeps {
  docker: Dockerode;
  store: Store;
  config: Config;
  disks: DiskManager;
  log: Logger;
  /** Image reference for workspaces. */
  image: string;
  /** Whether an owner may have a workspace (the accounts module plugs in here); default: any valid name. */
  ownerExists?: (owner: string) => boolean;
  /** Network attachment (the fake internet plugs in here); default: config.sandbox.network and dns. */
  attachment?: NetworkAttachment;
  /** Where agent sockets live and how they are reached (shared with one-shot containers); default: made from config. */
  sockets?: AgentSockets;
  /** Called after a workspace container starts (it has a new address on the network). */
  onStarted?: (owner: string) => Promise<void>;
  /** Called before a workspace container is created or started: fills its `ownerMounts` folders. */
  beforeStart?: (owner: string) => Promise<void>;
  /** Told how long each exec took, start to exit (metrics). */
  onExec?: (milliseconds: number) => void;
}

interface Live {
  state: WorkspaceState;
  containerId: string | null;
  lastUsed: number;
  /** Streams currently attached (terminal, Run): never pause under them. */
  active: number;
}

export function validateOwner(owner: unknown): string {
  if (typeof owner !== 'string' || !OWNER_PATTERN.test(owner)) {
    throw new OutpostError('SANDBOX_INVALID_USER', `"${String(owner).slice(0, 64)}" is not a valid user name: use 1–32 lowercase letters, digits, "-" or "_", starting with a letter.`, { details: { owner: String(owner).slice(0, 64) } });
  }
  return owner;
}

export function createWorkspaces(deps: WorkspacesDeps): Workspaces {
  const { docker, store, config, disks, log } = deps;
  const limits = config.sandbox.workspace;
  const live = new Map<string, Live>();
  const locks = new Map<string, Promise<unknown>>();
  let sweeper: NodeJS.Timeout | undefined;

  const attachment = deps.attachment ?? defaultAttachment(config);
  // A container made under another network, mount set or limits is recreated (files live on the disk).
  const specHash = createHash('sha256').update(JSON.stringify({ attachment, limits, uid: config.sandbox.uid })).digest('hex').slice(0, 16);
  const containerName = (owner: string) => `outpost-${config.instance}-ws-${owner}`;
  const sockets = deps.sockets ?? createAgentSockets({ runDir: config.sandbox.runDir, instance: config.instance, log });
  const socketDir = (owner: string) => sockets.folder('w', owner);
  // Removing goes through the folder; connecting only through the view (see agent-sockets.ts).
  const socketFile = (owner: string) => path.join(socketDir(owner), 'agent.sock');
  const socketPath = (owner: string) => sockets.socket('w', owner);

  const upsert = store.db.prepare(
    `insert into workspaces (owner, container_id, state, disk_mode, created_at, last_used_at) values (@owner, @containerId, @state, @diskMode, @now, @now)
     on conflict(owner) do update set container_id = excluded.container_id, state = excluded.state, last_used_at = excluded.last_used_at`,
  );
  const selectAll = store.db.prepare('select owner, container_id as containerId, state, last_used_at as lastUsedAt from workspaces order by owner');
  const deleteRow = store.db.prepare('delete from workspaces where owner = ?');

  function persist(owner: string, entry: Live): void {
    upsert.run({ owner, containerId: entry.containerId, state: entry.state, diskMode: disks.mode, now: new Date(entry.lastUsed).toISOString() });
  }

  /** Serializes lifecycle changes per owner; execs themselves run concurrently. */
  function withLock<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(owner) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    locks.set(owner, settled);
    void settled.then(() => { if (locks.get(owner) === settled) locks.delete(owner); });
    return next;
  }

  function checkOwner(owner: string): string {
    validateOwner(owner);
    if (deps.ownerExists && !deps.ownerExists(owner)) {
      throw new OutpostError('SANDBOX_UNKNOWN_USER', `There is no user "${owner}" with a workspace: workspaces belong to active student accounts. Create one with ./outpost user add ${owner} --role student.`, { details: { owner } });
    }
    return owner;
  }

  async function engineCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (isOutpostError(error)) throw error;
      const e = error as NodeJS.ErrnoException & { statusCode?: number };
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES' || e.code === 'ECONNRESET') {
        throw new OutpostError('ENGINE_UNAVAILABLE', `The Docker engine did not answer while trying to ${what} (${e.code}). Start it (./outpost up starts it) and run ./outpost doctor.`, { cause: error });
      }
      if (e.statusCode === 404 && /No such image/i.test(e.message)) {
        throw new OutpostError('IMAGE_MISSING', `The workspace image ${deps.image} is missing. Build it with ./outpost images build.`, { cause: error });
      }
      throw new OutpostError('SANDBOX_WORKSPACE_UNAVAILABLE', `Could not ${what}: ${e.message}`, { cause: error });
    }
  }

  async function inspect(owner: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    return engineCall(`inspect the workspace of ${owner}`, async () => {
      try {
        return await docker.getContainer(containerName(owner)).inspect();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined;
        throw error;
      }
    });
  }

  async function prepareSocketDir(owner: string): Promise<void> {
    const dir = socketDir(owner);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chown(dir, config.sandbox.uid, config.sandbox.uid);
  }

  async function createContainer(owner: string): Promise<string> {
    await attachment.ready?.();
    await deps.beforeStart?.(owner);
    const disk = await disks.ensure(owner);
    await prepareSocketDir(owner);
    const spec = sandboxContainerSpec({
      name: containerName(owner),
      image: deps.image,
      instance: config.instance,
      kind: 'workspace',
      owner,
      uid: config.sandbox.uid,
      limits,
      network: attachment.network,
      dns: attachment.dns,
      mounts: [
        { source: path.join(disk.root, 'workspace'), target: '/workspace', readOnly: false },
        { source: path.join(disk.root, 'home'), target: '/home/student', readOnly: false },
        { source: socketDir(owner), target: '/run/outpost', readOnly: false },
        ...attachment.mounts.map((m) => ({ ...m, readOnly: true })),
        ...(attachment.ownerMounts ?? []).map((m) => ({ source: path.join(m.sourceRoot, owner), target: m.target, readOnly: true })),
      ],
      cmd: ['/opt/outpost/bin/outpost-agent', '--socket', '/run/outpost/agent.sock'],
      env: { ...attachment.env, HOME: '/home/student', USER: 'student', LANG: 'C.UTF-8' },
      extraLabels: { [LABEL.spec]: specHash },
      logMaxSize: config.docker.logMaxSize,
      logMaxFiles: config.docker.logMaxFiles,
      hostname: 'workspace',
    });
    const container = await engineCall(`create the workspace of ${owner}`, () => docker.createContainer(spec));
    log.info({ owner, containerId: container.id }, 'workspace container created');
    return container.id;
  }

  async function openLocked(owner: string): Promise<WorkspaceInfo> {
    let info = await inspect(owner);
    const imageId = await currentImageId();
    const outdated = info && ((imageId && info.Image !== imageId) || info.Config.Labels?.[LABEL.spec] !== specHash);
    if (info && outdated && (!info.State.Running || (live.get(owner)?.active ?? 0) === 0)) {
      // A new image or a new network/mount/limit spec: recreate; files live on the disk, not in it.
      log.info({ owner }, 'workspace container is outdated; recreating it');
      await engineCall('remove an outdated workspace container', () => docker.getContainer(info!.Id).remove({ force: true }));
      info = undefined;
    }
    let id = info?.Id;
    if (id && !info?.State.Running) {
      await attachment.ready?.();
      await deps.beforeStart?.(owner);
    }
    if (!id) id = await createContainer(owner);
    else await disks.ensure(owner); // the host may have rebooted: remount the disk before starting
    const container = docker.getContainer(id);
    if (info?.State.Paused) {
      await engineCall(`unpause ${owner}'s workspace`, () => container.unpause());
    } else if (!info?.State.Running) {
      await prepareSocketDir(owner);
      await rm(socketFile(owner), { force: true });
      await engineCall(`start ${owner}'s workspace`, () => container.start());
      await deps.onStarted?.(owner);
      await waitForAgent(await socketPath(owner), `${owner}'s workspace`);
    } else if (!(await agentAnswers(await socketPath(owner)))) {
      log.warn({ owner }, 'workspace running without an answering agent; restarting it');
      await rm(socketFile(owner), { force: true });
      await engineCall(`restart ${owner}'s workspace`, () => container.restart({ t: 1 }));
      await deps.onStarted?.(owner);
      await waitForAgent(await socketPath(owner), `${owner}'s workspace`);
    }
    const entry: Live = { state: 'running', containerId: id, lastUsed: Date.now(), active: live.get(owner)?.active ?? 0 };
    live.set(owner, entry);
    persist(owner, entry);
    return { owner, containerId: id, state: 'running', lastUsedAt: new Date(entry.lastUsed).toISOString() };
  }

  let imageIdCache: { id: string | undefined; at: number } | undefined;
  async function currentImageId(): Promise<string | undefined> {
    if (imageIdCache && Date.now() - imageIdCache.at < 10_000) return imageIdCache.id;
    const id = await engineCall('inspect the workspace image', async () => {
      try {
        return (await docker.getImage(deps.image).inspect()).Id;
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) {
          throw new OutpostError('IMAGE_MISSING', `The workspace image ${deps.image} is missing. Build it with ./outpost images build.`);
        }
        throw error;
      }
    });
    imageIdCache = { id, at: Date.now() };
    return id;
  }

  /** The hot path: a running, known workspace goes straight to its agent. */
  async function ready(owner: string): Promise<void> {
    checkOwner(owner);
    const entry = live.get(owner);
    if (entry?.state === 'running') {
      entry.lastUsed = Date.now();
      return;
    }
    await withLock(owner, () => openLocked(owner));
  }

  function execLimits(request: { timeoutSeconds?: number; outputCapBytes?: number; noTimeout?: boolean }) {
    if (request.noTimeout) return { timeoutMs: 0, outputCapBytes: request.outputCapBytes ?? config.sandbox.exec.outputCapBytes };
    const timeout = request.timeoutSeconds ?? config.sandbox.exec.defaultTimeoutSeconds;
    if (!Number.isFinite(timeout) || timeout <= 0 || timeout > config.sandbox.exec.maxTimeoutSeconds) {
      throw new OutpostError('SANDBOX_EXEC_INVALID', `The time limit must be between 1 and ${config.sandbox.exec.maxTimeoutSeconds} seconds (got ${timeout}).`);
    }
    return { timeoutMs: Math.round(timeout * 1000), outputCapBytes: request.outputCapBytes ?? config.sandbox.exec.outputCapBytes };
  }

  /** Runs `attempt`, and if the agent is gone (the student killed it, the host rebooted) reopens once. */
  async function withAgent<T>(owner: string, attempt: () => Promise<T>): Promise<T> {
    await ready(owner);
    try {
      return await attempt();
    } catch (error) {
      if (!isOutpostError(error, 'SANDBOX_AGENT_FAILED') || /connection dropped|closed/i.test(error.message)) throw error;
      log.info({ owner, err: error.message }, 'agent unreachable; reopening the workspace');
      live.delete(owner);
      await withLock(owner, () => openLocked(owner));
      return attempt();
    }
  }

  async function startSession(owner: string, request: StreamRequest & { stdin?: boolean }): Promise<AgentSession> {
    const { timeoutMs, outputCapBytes } = execLimits(request);
    const socket = await socketPath(owner);
    await assertAgentSocket(socket);
    return startAgentExec(socket, {
      argv: request.argv,
      cwd: request.cwd ?? '/workspace',
      env: request.env ?? {},
      timeoutMs,
      outputCapBytes,
      stdin: request.stdin ?? false,
      ...(request.tty ? { tty: request.tty } : {}),
    });
  }

  function track(owner: string, session: AgentSession): void {
    const entry = live.get(owner);
    if (entry) entry.active++;
    const release = () => {
      const current = live.get(owner);
      if (current) { current.active = Math.max(0, current.active - 1); current.lastUsed = Date.now(); }
    };
    session.exit.then(release, release);
  }

  return {
    containerName,

    async open(owner) {
      checkOwner(owner);
      return withLock(owner, () => openLocked(owner));
    },

    async exec(owner, request) {
      const started = performance.now();
      return withAgent(owner, async () => {
        const hasInput = request.stdin !== undefined;
        const session = await startSession(owner, { ...request, stdin: hasInput });
        track(owner, session);
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        session.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
        session.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        if (hasInput) {
          session.write(request.stdin!);
          session.endInput();
        }
        const exit = await session.exit;
        deps.onExec?.(performance.now() - started);
        return { ...exit, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
      });
    },

    async stream(owner, request) {
      return withAgent(owner, async () => {
        const session = await startSession(owner, { ...request, stdin: request.interactive ?? !!request.tty });
        track(owner, session);
        return session;
      });
    },

    async files(owner) {
      checkOwner(owner);
      const disk = await disks.ensure(owner);
      return createWorkspaceFiles({
        root: path.join(disk.view, 'workspace'),
        uid: config.sandbox.uid,
        limits: config.sandbox.files,
        freeBytes: async () => (await disks.usage(owner)).freeBytes,
      });
    },

    async prewarm(owners) {
      for (const owner of owners) {
        checkOwner(owner);
        await withLock(owner, async () => {
          if (await inspect(owner)) return;
          const id = await createContainer(owner);
          const entry: Live = { state: 'created', containerId: id, lastUsed: Date.now(), active: 0 };
          live.set(owner, entry);
          persist(owner, entry);
        });
      }
    },

    async sweepIdle(now = Date.now()) {
      const paused: string[] = [];
      const stopped: string[] = [];
      const pauseAfter = limits.idlePauseSeconds * 1000;
      const stopAfter = limits.idleStopSeconds * 1000;
      for (const [owner, entry] of live) {
        if (entry.active > 0 || !entry.containerId) continue;
        const idle = now - entry.lastUsed;
        await withLock(owner, async () => {
          const container = docker.getContainer(entry.containerId!);
          if (entry.state === 'running' && idle >= stopAfter) {
            await engineCall('stop an idle workspace', () => container.stop({ t: 2 })).catch((e: unknown) => log.warn({ owner, err: e }, 'stop failed'));
            entry.state = 'stopped';
            stopped.push(owner);
          } else if (entry.state === 'running' && idle >= pauseAfter) {
            await engineCall('pause an idle workspace', () => container.pause()).catch((e: unknown) => log.warn({ owner, err: e }, 'pause failed'));
            entry.state = 'paused';
            paused.push(owner);
          } else if (entry.state === 'paused' && idle >= stopAfter) {
            // A paused container must be unpaused to receive the stop signal.
            await engineCall('stop an idle workspace', async () => { await container.unpause(); await container.stop({ t: 2 }); }).catch((e: unknown) => log.warn({ owner, err: e }, 'stop failed'));
            entry.state = 'stopped';
            stopped.push(owner);
          }
          persist(owner, entry);
        });
      }
      // Bound how many workspaces hold memory: stop the least recently used beyond maxWarm.
      const warm = [...live.entries()].filter(([, e]) => (e.state === 'paused' || e.state === 'running') && e.active === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      const excess = warm.length - config.sandbox.maxWarm;
      for (const [owner, entry] of warm.slice(0, Math.max(0, excess))) {
        if (entry.state !== 'paused') continue;
        await withLock(owner, async () => {
          const container = docker.getContainer(entry.containerId!);
          await engineCall('stop a warm workspace', async () => { await container.unpause(); await container.stop({ t: 2 }); }).catch((e: unknown) => log.warn({ owner, err: e }, 'stop failed'));
          entry.state = 'stopped';
          stopped.push(owner);
          persist(owner, entry);
        });
      }
      if (paused.length || stopped.length) log.info({ paused, stopped }, 'idle sweep');
      return { paused, stopped };
    },

    async reconcile() {
      const adopted: string[] = [];
      const removed: string[] = [];
      const containers = await engineCall('list Outpost containers', () =>
        docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.instance}=${config.instance}`] } }),
      );
      const known = new Map((selectAll.all() as WorkspaceInfo[]).map((row) => [row.owner, row]));
      const seen = new Set<string>();
      for (const c of containers) {
        const kind = c.Labels[LABEL.kind];
        // Service containers belong to the fake internet, which reconciles its own; a `control`
        // container is the control plane itself under docker-compose.
        if (kind === 'service' || kind === 'control') continue;
        const owner = c.Labels[LABEL.owner] ?? '';
        const name = (c.Names[0] ?? '').replace(/^\//, '');
        const isWorkspace = kind === 'workspace' && OWNER_PATTERN.test(owner) && name === containerName(owner);
        // Adopt a workspace container whose owner the store knows, or whose owner still exists
        // (e.g. the store was restored from an older backup); anything else labelled ours goes.
        const adoptable = isWorkspace && !seen.has(owner) && (known.has(owner) || (deps.ownerExists?.(owner) ?? false));
        if (!adoptable) {
          await engineCall('remove a stray Outpost container', () => docker.getContainer(c.Id).remove({ force: true })).catch((e: unknown) => log.warn({ id: c.Id, err: e }, 'remove failed'));
          removed.push(name || c.Id);
          continue;
        }
        seen.add(owner);
        const state: WorkspaceState = c.State === 'running' ? 'running' : c.State === 'paused' ? 'paused' : c.State === 'created' ? 'created' : 'stopped';
        const previous = known.get(owner);
        const entry: Live = { state, containerId: c.Id, lastUsed: previous ? Date.parse(previous.lastUsedAt) || Date.now() : Date.now(), active: 0 };
        // Only trust a running container whose agent answers; otherwise the next open checks it.
        if (state === 'running' && !(await agentAnswers(await socketPath(owner)))) entry.state = 'stopped';
        live.set(owner, entry);
        persist(owner, entry);
        adopted.push(owner);
      }
      for (const owner of known.keys()) {
        if (!seen.has(owner)) {
          const entry: Live = { state: 'absent', containerId: null, lastUsed: Date.now(), active: 0 };
          live.set(owner, entry);
          persist(owner, entry);
        }
      }
      log.info({ adopted: adopted.length, removed }, 'reconciled workspaces');
      return { adopted, removed };
    },

    async list() {
      return selectAll.all() as WorkspaceInfo[];
    },

    async remove(owner, options = {}) {
      validateOwner(owner);
      await withLock(owner, async () => {
        const info = await inspect(owner);
        if (info) await engineCall('remove a workspace', () => docker.getContainer(info.Id).remove({ force: true }));
        live.delete(owner);
        if (options.deleteFiles) {
          await disks.destroy(owner);
          deleteRow.run(owner);
        } else {
          await disks.release(owner);
          persist(owner, { state: 'absent', containerId: null, lastUsed: Date.now(), active: 0 });
        }
        await rm(socketDir(owner), { recursive: true, force: true });
      });
    },

    startSweeper() {
      if (sweeper) return;
      sweeper = setInterval(() => {
        this.sweepIdle().catch((error: unknown) => log.warn({ err: error }, 'idle sweep failed'));
      }, config.sandbox.sweepSeconds * 1000);
      sweeper.unref();
    },

    async close() {
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
      await Promise.all([...locks.values()]);
    },
  };
}

