/**
 * One server per Outpost instance. A second one would reconcile at start, removing the grading and
 * preview containers of the one already running, and then run a second control plane on the same
 * store and the same containers.
 *
 * The lock is a listening unix socket, `<runDir>/<instance>.lock`: the kernel holds it exactly as
 * long as the process lives (a crash or kill -9 frees it, a reboot clears /run), and a pid file
 * cannot say that (pids are reused). Per instance rather than per data folder, because the instance
 * names the containers: two servers of one instance fight over them whatever their data folders.
 */
import { mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';

export interface InstanceLock {
  readonly path: string;
  release(): Promise<void>;
}

export function instanceLockPath(runDir: string, instance: string): string {
  return path.join(runDir, `${instance}.lock`);
}

/** Whether a live server holds the lock at `socketPath` (a stale file left by a dead one does not count). */
function lockHeld(socketPath: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
}

/**
 * Fails now if another server of this instance runs: for commands that would otherwise do minutes of
 * preparation (images, services, curriculum) before taking the lock and finding it held.
 */
export async function assertInstanceFree(options: { runDir: string; instance: string }): Promise<void> {
  const socketPath = instanceLockPath(options.runDir, options.instance);
  if (await lockHeld(socketPath)) throw alreadyRunningError(options.instance, socketPath);
}

function alreadyRunningError(instance: string, socketPath: string): OutpostError {
  return new OutpostError('SERVER_ALREADY_RUNNING', `Another Outpost server of instance "${instance}" is running on this machine (it holds ${socketPath}). Stop it with ./outpost down (or docker-compose down), or give this one another instance name.`);
}

export async function lockInstance(options: { runDir: string; instance: string }): Promise<InstanceLock> {
  const socketPath = instanceLockPath(options.runDir, options.instance);
  await mkdir(options.runDir, { recursive: true });
  const alreadyRunning = () => alreadyRunningError(options.instance, socketPath);

  const listen = () =>
    new Promise<net.Server>((resolve, reject) => {
      // Whoever connects only wants to know someone is here.
      const server = net.createServer((socket) => socket.destroy());
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        server.unref();
        resolve(server);
      });
    });
  const answers = () => lockHeld(socketPath);

  let server: net.Server;
  try {
    server = await listen();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      throw new OutpostError('CONFIG_INVALID', `Cannot create the server lock ${socketPath}: ${(error as Error).message}. Check sandbox.runDir.`, { cause: error });
    }
    if (await answers()) throw alreadyRunning();
    // Left by a server that died: nobody listens on it any more.
    await unlink(socketPath).catch(() => undefined);
    try {
      server = await listen();
    } catch (again) {
      // Two servers starting at the same moment: the other one won.
      if ((again as NodeJS.ErrnoException).code === 'EADDRINUSE') throw alreadyRunning();
      throw again;
    }
  }
  return {
    path: socketPath,
    release: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}
