/**
 * One-shot containers for grading: fresh for every run, the same hardening as workspaces (one spec
 * builder), inputs mounted read-only, writable space only in sized tmpfs, removed afterwards even on
 * failure. The command runs through the agent, so time-outs kill the whole process tree and output
 * is capped the same way as in workspaces.
 */
import type Dockerode from 'dockerode';
import { mkdir, chown, rm, lstat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from '../core/config.ts';
import { OutpostError, isOutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { sandboxContainerSpec } from './hardening.ts';
import { runAgentExec, waitForAgent } from './agent-client.ts';
import { defaultAttachment, type ExecResult, type NetworkAttachment } from './workspaces.ts';

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
}

export interface OneShotRunner {
  run(request: OneShotRequest): Promise<ExecResult & { containerId: string }>;
}

export function createOneShotRunner(deps: { docker: Dockerode; config: Config; log: Logger; image: string; attachment?: NetworkAttachment }): OneShotRunner {
  const { docker, config, log } = deps;
  const limits = config.sandbox.oneShot;
  const attachment = deps.attachment ?? defaultAttachment(config);

  return {
    async run(request) {
      const timeoutSeconds = request.timeoutSeconds ?? limits.timeoutSeconds;
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 3600) {
        throw new OutpostError('SANDBOX_EXEC_INVALID', `The time limit must be between 1 and 3600 seconds (got ${timeoutSeconds}).`);
      }
      for (const m of request.mounts ?? []) {
        if (!path.isAbsolute(m.source) || !path.isAbsolute(m.target)) throw new OutpostError('SANDBOX_EXEC_INVALID', `Mount ${m.source} → ${m.target}: both paths must be absolute.`);
        const s = await lstat(m.source).catch(() => undefined);
        if (!s || s.isSymbolicLink()) throw new OutpostError('SANDBOX_EXEC_INVALID', `Mount source ${m.source} does not exist or is a symlink.`);
      }
      const id = randomBytes(6).toString('hex');
      const sockDir = path.join(config.sandbox.runDir, config.instance, 'o', id);
      await mkdir(sockDir, { recursive: true, mode: 0o755 });
      await chown(sockDir, config.sandbox.uid, config.sandbox.uid);
      const socket = path.join(sockDir, 'agent.sock');
      const spec = sandboxContainerSpec({
        name: `outpost-${config.instance}-run-${id}`,
        image: request.image ?? deps.image,
        instance: config.instance,
        kind: 'oneshot',
        owner: request.owner,
        uid: config.sandbox.uid,
        limits,
        network: attachment.network,
        dns: attachment.dns,
        mounts: [
          ...(request.mounts ?? []).map((m) => ({ ...m, readOnly: true })),
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
        const result = await runAgentExec(socket, {
          argv: request.argv,
          cwd: request.cwd ?? '/workspace',
          env: request.env ?? {},
          timeoutMs: timeoutSeconds * 1000,
          outputCapBytes: request.outputCapBytes ?? config.sandbox.exec.outputCapBytes,
          stdin: request.stdin !== undefined,
          ...(request.stdin !== undefined ? { input: request.stdin } : {}),
        });
        return { ...result, containerId: container.id };
      } catch (error) {
        if (isOutpostError(error)) throw error;
        throw new OutpostError('SANDBOX_AGENT_FAILED', `The one-shot run failed: ${(error as Error).message}`, { cause: error });
      } finally {
        if (container) await container.remove({ force: true }).catch((e: unknown) => log.warn({ err: e }, 'could not remove a one-shot container; reconcile will'));
        await rm(sockDir, { recursive: true, force: true });
      }
    },
  };
}
