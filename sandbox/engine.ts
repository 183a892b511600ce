/**
 * The Docker engine: connecting, checking, and — on a Debian machine where we are root and no engine
 * answers — installing Debian's docker.io and starting dockerd with Outpost's daemon.json.
 */
import Dockerode from 'dockerode';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../core/files.ts';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

const run = promisify(execFile);

export interface EngineOptions {
  socketPath: string;
  provision: boolean;
  daemonConfigPath: string;
  daemonLogPath: string;
  logMaxSize: string;
  logMaxFiles: number;
}

export interface EngineHandle {
  docker: Dockerode;
  /** Set when this process started dockerd (so `./outpost test` can stop it again). */
  startedPid?: number;
}

export function connectDocker(socketPath: string): Dockerode {
  return new Dockerode({ socketPath });
}

export async function pingEngine(docker: Dockerode, timeoutMs = 2000): Promise<{ ok: boolean; version?: string; error?: string }> {
  try {
    const version = await Promise.race([
      docker.version(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { ok: true, version: version.Version };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** The daemon.json Outpost runs dockerd with: bounded container logs and no default bridge. */
export function daemonConfig(options: Pick<EngineOptions, 'logMaxSize' | 'logMaxFiles'>): Record<string, unknown> {
  return {
    'log-driver': 'json-file',
    'log-opts': { 'max-size': options.logMaxSize, 'max-file': String(options.logMaxFiles) },
    // No docker0: nothing Outpost starts should sit on a bridge the host has an address on.
    bridge: 'none',
    'ip-forward': false,
    'userland-proxy': false,
  };
}

export interface EnsureEngineOptions extends EngineOptions {
  log: Logger;
  onProgress?: (message: string) => void;
}

/** Returns a connected engine, provisioning one if allowed and needed. */
export async function ensureEngine(options: EnsureEngineOptions): Promise<EngineHandle> {
  const docker = connectDocker(options.socketPath);
  const first = await pingEngine(docker);
  if (first.ok) return { docker };

  const installHint = 'Install Docker (on Debian: apt-get install docker.io) and start dockerd, or run Outpost as root on Debian so it can do it.';
  if (!options.provision) {
    throw new OutpostError('ENGINE_UNAVAILABLE', `No Docker engine answers at ${options.socketPath} (${first.error}). ${installHint} (docker.provision is off.)`);
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const isDebian = existsSync('/etc/debian_version');
  if (process.platform !== 'linux' || !isDebian || !isRoot) {
    throw new OutpostError('ENGINE_UNSUPPORTED_HOST', `No Docker engine answers at ${options.socketPath} (${first.error}), and Outpost installs one only on Debian as root (this is ${process.platform}${isDebian ? ', Debian' : ''}${isRoot ? ', root' : ', not root'}). ${installHint}`);
  }

  const progress = options.onProgress ?? (() => undefined);
  if (!(await hasCommand('dockerd'))) {
    progress('installing docker.io from Debian (first run only)…');
    await aptInstall(['docker.io'], options.log);
  }
  progress('starting the Docker engine…');
  await mkdir(path.dirname(options.daemonConfigPath), { recursive: true });
  await writeFileAtomic(options.daemonConfigPath, JSON.stringify(daemonConfig(options), null, 2) + '\n');
  await mkdir(path.dirname(options.daemonLogPath), { recursive: true });
  const logFd = openSync(options.daemonLogPath, 'a');
  const child = spawn('dockerd', ['--config-file', options.daemonConfigPath, '--host', `unix://${options.socketPath}`], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  child.unref();
  const pid = child.pid;

  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if ((await pingEngine(docker, 1000)).ok) {
      options.log.info({ pid }, 'dockerd started');
      return pid === undefined ? { docker } : { docker, startedPid: pid };
    }
    await sleep(250);
  }
  const tail = await readFile(options.daemonLogPath, 'utf8').then((t) => t.split('\n').slice(-15).join('\n'), () => '');
  throw new OutpostError('ENGINE_PROVISION_FAILED', `dockerd did not become ready within 60 s. Its log (${options.daemonLogPath}) ends with:\n${tail}\nFix the cause shown there and run the command again.`);
}

/** Stops a dockerd this process started, waiting for it to exit (containers stop with it). */
export async function stopEngine(pid: number, timeoutMs = 30_000): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try { process.kill(pid, 0); } catch { return; }
    await sleep(200);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
}

export async function hasCommand(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

/** apt-get install, running `apt-get update` first only when the install fails (lists may be stale). */
export async function aptInstall(packages: string[], log: Logger, failureCode: 'ENGINE_PROVISION_FAILED' | 'IMAGE_BUILD_FAILED' = 'ENGINE_PROVISION_FAILED'): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
  try {
    await install();
  } catch {
    log.info({ packages }, 'apt-get install failed; updating package lists and retrying');
    try {
      await run('apt-get', ['update', '-q'], { env, maxBuffer: 64 * 1024 * 1024 });
      await install();
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? '').split('\n').slice(-10).join('\n');
      throw new OutpostError(failureCode, `apt-get install ${packages.join(' ')} failed:\n${stderr}\nCheck the machine's apt sources and run it by hand to see why.`, { cause: error });
    }
  }
}


