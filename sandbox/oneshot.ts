/**
 * One-shot containers for grading: fresh for every run, the same hardening as workspaces (one spec
 * builder), inputs mounted read-only, writable space only in sized tmpfs, removed afterwards even on
 * failure. The command runs through the agent, so time-outs kill the whole process tree and output
 * is capped the same way as in workspaces.
 *
 * Two ways to get one:
 * - `run`: create, start, run one command, remove — mounts chosen per run.
 * - `take`: a container created and started ahead of time (a small pool keeps some ready, so the
 *   engine's slow part is off the critical path), with an empty host folder — its slot — mounted
 *   read-only at /job. The caller fills the slot on the host, runs commands, and disposes of it;
 *   a taken container is never given to anyone else.
 */
import type Dockerode from 'dockerode';
import { mkdir, chown, rm, lstat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from '../core/config.ts';
import { OutpostError, isOutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { sandboxContainerSpec } from './hardening.ts';
import { runAgentExec, startAgentExec, waitForAgent, type AgentSession } from './agent-client.ts';
import { defaultAttachment, type ExecResult, type NetworkAttachment } from './workspaces.ts';
import { createAgentSockets, type AgentSockets } from './agent-sockets.ts';

export interface OneShotRequest {
  /** Recorded in the container's owner label (the student whose submission this is). */
  owner: string;
  argv: string[];
  /** Host directories to mount read-only (submission, tests). */
  mounts?: { source: string; target: string }[];
  cwd?: string;
  env?: Record<string, string>;
  stdin?: Buffer | string;
  timeoutSeconds?: number;
  outputCapBytes?: number;
  image?: string;
  /** No network at all instead of the sealed one (hidden tests: nothing may be sent anywhere). */
  offline?: boolean;
}

export interface WarmExecRequest {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  stdin?: Buffer | string;
  timeoutSeconds: number;
  outputCapBytes?: number;
}

export interface WarmContainer {
  /** Host folder mounted read-only at /job; fill it before running. */
  readonly slot: string;
  readonly containerId: string;
  exec(request: WarmExecRequest): Promise<ExecResult>;
  /**
   * Takes the container off every network for the rest of its life: what runs next can reach
   * nothing but itself (the grader's hidden tests must not be carried out over the network).
   */
  isolate(): Promise<void>;
  /** A streaming command (a server that keeps running, a relay): output as it comes, stdin open. */
  stream(request: { argv: string[]; cwd?: string; env?: Record<string, string>; timeoutSeconds?: number }): Promise<AgentSession>;
  /** Removes the container and its slot. */
  dispose(): Promise<void>;
}

export interface OneShotRunner {
  run(request: OneShotRequest): Promise<ExecResult & { containerId: string }>;
  /** A fresh, started container with an empty slot at /job (from the pool when one is ready). */
  take(): Promise<WarmContainer>;
  /** How many started containers to keep ready (0, the default, keeps none). */
  setPoolSize(size: number): void;
  /** Removes the containers kept ready. */
  close(): Promise<void>;
}

/** Where a taken container sees its slot. */
export const JOB_DIR = '/job';

export function createOneShotRunner(deps: { docker: Dockerode; config: Config; log: Logger; image: string; attachment?: NetworkAttachment; sockets?: AgentSockets }): OneShotRunner {
  const { docker, config, log } = deps;
  const sockets = deps.sockets ?? createAgentSockets({ runDir: config.sandbox.runDir, instance: config.instance, log });
  const limits = config.sandbox.oneShot;
  const attachment = deps.attachment ?? defaultAttachment(config);
  const slotsRoot = path.join(config.dataDir, 'grader', 'slots');
  const ready: Promise<WarmContainer>[] = [];
  let poolSize = 0;
  let closed = false;

  function checkTimeout(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
      throw new OutpostError('SANDBOX_EXEC_INVALID', `The time limit must be between 1 and 3600 seconds (got ${seconds}).`);
    }
  }

  /** Creates and starts a container whose agent answers; the caller removes it (and the socket dir). */
  async function startContainer(owner: string, image: string, mounts: { source: string; target: string }[], offline = false): Promise<{ container: Dockerode.Container; socket: string; sockDir: string }> {
    if (!offline) await attachment.ready?.();
    const id = randomBytes(6).toString('hex');
    const sockDir = sockets.folder('o', id);
    await mkdir(sockDir, { recursive: true, mode: 0o755 });
    await chown(sockDir, config.sandbox.uid, config.sandbox.uid);
    // Graded code can replace the socket with a symlink to a workspace's: connect through the view.
    const socket = await sockets.socket('o', id);
    const spec = sandboxContainerSpec({
      name: `outpost-${config.instance}-run-${id}`,
      image,
      instance: config.instance,
      kind: 'oneshot',
      owner,
      uid: config.sandbox.uid,
      limits,
      network: offline ? 'none' : attachment.network,
      dns: offline ? [] : attachment.dns,
      mounts: [
        ...mounts.map((m) => ({ ...m, readOnly: true })),
        { source: sockDir, target: '/run/outpost', readOnly: false },
        ...attachment.mounts.map((m) => ({ ...m, readOnly: true })),
      ],
      extraTmpfs: ['/workspace', '/home/student'],
      cmd: ['/opt/outpost/bin/outpost-agent', '--socket', '/run/outpost/agent.sock'],
      env: { ...attachment.env, HOME: '/home/student', USER: 'student', LANG: 'C.UTF-8' },
      logMaxSize: config.docker.logMaxSize,
      logMaxFiles: config.docker.logMaxFiles,
      hostname: 'grader',
    });
    let container: Dockerode.Container | undefined;
    try {
      container = await docker.createContainer(spec).catch((error: { statusCode?: number; message: string }) => {
        if (error.statusCode === 404) throw new OutpostError('IMAGE_MISSING', `The grader image ${spec.Image} is missing. Build it with ./outpost images build.`, { cause: error });
        throw new OutpostError('ENGINE_UNAVAILABLE', `Cannot create a grading container: ${error.message}. Run ./outpost doctor.`, { cause: error });
      });
      await container.start();
      await waitForAgent(socket, 'the grading container');
      return { container, socket, sockDir };
    } catch (error) {
      if (container) await container.remove({ force: true }).catch(() => undefined);
      await rm(sockDir, { recursive: true, force: true });
      throw error;
    }
  }

  async function execIn(socket: string, request: WarmExecRequest): Promise<ExecResult> {
    checkTimeout(request.timeoutSeconds);
    try {
      return await runAgentExec(socket, {
        argv: request.argv,
        cwd: request.cwd ?? '/workspace',
        env: request.env ?? {},
        timeoutMs: request.timeoutSeconds * 1000,
        outputCapBytes: request.outputCapBytes ?? config.sandbox.exec.outputCapBytes,
        stdin: request.stdin !== undefined,
        ...(request.stdin !== undefined ? { input: request.stdin } : {}),
      });
    } catch (error) {
      if (isOutpostError(error)) throw error;
      throw new OutpostError('SANDBOX_AGENT_FAILED', `The one-shot run failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async function makeWarm(): Promise<WarmContainer> {
    const slot = path.join(slotsRoot, randomBytes(8).toString('hex'));
    await mkdir(slot, { recursive: true, mode: 0o755 });
    try {
      // Owner "grader": the container is made before anyone's submission is known.
      const { container, socket, sockDir } = await startContainer('grader', deps.image, [{ source: slot, target: JOB_DIR }]);
      let disposed = false;
      return {
        slot,
        containerId: container.id,
        exec: (request) => execIn(socket, request),
        async isolate() {
          // Sandboxes are attached to exactly one network, the one this runner made them with.
          const network = attachment.network;
          if (network === 'none') return;
          await docker.getNetwork(network).disconnect({ Container: container.id, Force: true }).catch((error: { message: string }) => {
            throw new OutpostError('ENGINE_UNAVAILABLE', `Cannot take a grading container off the network ${network}: ${error.message}. Run ./outpost doctor.`, { cause: error });
          });
        },
        stream: (request) => startAgentExec(socket, {
          argv: request.argv, cwd: request.cwd ?? '/workspace', env: request.env ?? {},
          // 0: no time limit (a server runs until it is disposed of with its container).
          timeoutMs: (request.timeoutSeconds ?? 0) * 1000, outputCapBytes: 0, stdin: true,
        }),
        async dispose() {
          if (disposed) return;
          disposed = true;
          await container.remove({ force: true }).catch((e: unknown) => log.warn({ err: e }, 'could not remove a grading container; reconcile will'));
          await rm(sockDir, { recursive: true, force: true });
          await rm(slot, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await rm(slot, { recursive: true, force: true });
      throw error;
    }
  }

  function refill(): void {
    while (!closed && ready.length < poolSize) {
      const warm = makeWarm();
      // A failed prefill is not an error yet: take() makes one itself and reports what went wrong.
      warm.catch((error: unknown) => log.warn({ err: error }, 'could not prepare a grading container'));
      ready.push(warm);
    }
  }

  return {
    async run(request) {
      const timeoutSeconds = request.timeoutSeconds ?? limits.timeoutSeconds;
      checkTimeout(timeoutSeconds);
      for (const m of request.mounts ?? []) {
        if (!path.isAbsolute(m.source) || !path.isAbsolute(m.target)) throw new OutpostError('SANDBOX_EXEC_INVALID', `Mount ${m.source} → ${m.target}: both paths must be absolute.`);
        const s = await lstat(m.source).catch(() => undefined);
        if (!s || s.isSymbolicLink()) throw new OutpostError('SANDBOX_EXEC_INVALID', `Mount source ${m.source} does not exist or is a symlink.`);
      }
      const { container, socket, sockDir } = await startContainer(request.owner, request.image ?? deps.image, request.mounts ?? [], request.offline === true);
      try {
        const result = await execIn(socket, { argv: request.argv, timeoutSeconds, ...(request.cwd ? { cwd: request.cwd } : {}), ...(request.env ? { env: request.env } : {}), ...(request.stdin !== undefined ? { stdin: request.stdin } : {}), ...(request.outputCapBytes ? { outputCapBytes: request.outputCapBytes } : {}) });
        return { ...result, containerId: container.id };
      } finally {
        await container.remove({ force: true }).catch((e: unknown) => log.warn({ err: e }, 'could not remove a one-shot container; reconcile will'));
        await rm(sockDir, { recursive: true, force: true });
      }
    },

    async take() {
      if (closed) throw new OutpostError('SANDBOX_WORKSPACE_UNAVAILABLE', 'The grader is shutting down.');
      const next = ready.shift();
      refill();
      if (next) {
        const warm = await next.catch(() => undefined);
        if (warm) return warm;
      }
      return makeWarm();
    },

    setPoolSize(size) {
      poolSize = Math.max(0, Math.floor(size));
      refill();
    },

    async close() {
      closed = true;
      const pending = ready.splice(0);
      await Promise.all(pending.map((p) => p.then((w) => w.dispose(), () => undefined)));
    },
  };
}
