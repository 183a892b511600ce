/**
 * Where the containers' agent sockets live, and how the host reaches them without being redirected.
 *
 * Each container gets a folder of its own under `runDir/<instance>/{w,o}/<id>`, bind-mounted
 * read-write at /run/outpost so that its agent, which runs as the student's uid, can create its
 * socket there. So the folder is the student's to change: code in the container can replace
 * agent.sock with a symlink to another container's socket, and connect() follows symlinks. The
 * control plane would then run its next command (a terminal, the grader's reset) in the wrong
 * container. A check before connecting (lstat) leaves a race; instead the host connects only through
 * a `nosymfollow` bind mount of the whole tree (the view), where the kernel refuses to follow any
 * symlink at all. A socket the student binds there themselves leads only back into their own
 * container, which they control anyway.
 *
 * Without mount rights (not root) the view is a plain alias and `safe()` says so (doctor reports it).
 */
import { execFile } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/log.ts';
import { isMountPoint, mountOrFail } from './disk.ts';

const run = promisify(execFile);
const RECHECK_MS = 5000;

/** `w`: a student's workspace, named by owner; `o`: a one-shot (grading, preview) container. */
export type AgentKind = 'w' | 'o';

export interface AgentSockets {
  /** The host folder mounted at /run/outpost in the container. */
  folder(kind: AgentKind, id: string): string;
  /** The path the host connects to: the same socket, through the view (made first if need be). */
  socket(kind: AgentKind, id: string): Promise<string>;
  /** Whether the view refuses symlinks (false without mount rights). */
  safe(): Promise<boolean>;
}

export function agentSocketTree(runDir: string, instance: string): { tree: string; view: string } {
  // The view sits beside the instances, under a name no instance can have (they start with a letter).
  return { tree: path.join(runDir, instance), view: path.join(runDir, '.view', instance) };
}

export function createAgentSockets(deps: { runDir: string; instance: string; log: Logger }): AgentSockets {
  const { tree, view } = agentSocketTree(deps.runDir, deps.instance);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let viewIsSafe = false;
  let preparing: Promise<void> | undefined;
  let checkedAt = -Infinity;

  async function sameDirectory(a: string, b: string): Promise<boolean> {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  }

  async function makeView(): Promise<void> {
    await mkdir(tree, { recursive: true, mode: 0o755 });
    if (!isRoot) {
      viewIsSafe = false;
      return;
    }
    await mkdir(view, { recursive: true, mode: 0o700 });
    // The steady state: the view shows the tree (a bind mount shares its device and inode). Only
    // otherwise is the mount table read, which grows with every disk.
    if (await sameDirectory(tree, view)) {
      viewIsSafe = true;
      return;
    }
    if (isMountPoint(view)) {
      // A tree removed and made again (a cleanup, a restore) leaves the view on the old directory.
      deps.log.warn({ view }, 'the agent socket view showed an old directory; mounting it again');
      await run('umount', ['-l', view]).catch(() => undefined);
    }
    await mountOrFail(['--bind', tree, view], 'the agent socket view');
    await mountOrFail(['-o', 'remount,bind,nosymfollow,nosuid,nodev,noexec', view], 'the agent socket view');
    viewIsSafe = true;
  }

  /** Makes the view if it is not there or no longer shows the tree; looked at again every few seconds. */
  async function prepare(): Promise<void> {
    if (Date.now() - checkedAt < RECHECK_MS) return;
    preparing ??= makeView()
      .then(() => {
        checkedAt = Date.now();
      })
      .finally(() => {
        preparing = undefined;
      });
    await preparing;
  }

  return {
    folder: (kind, id) => path.join(tree, kind, id),
    async socket(kind, id) {
      await prepare();
      return path.join(viewIsSafe ? view : tree, kind, id, 'agent.sock');
    },
    async safe() {
      await prepare();
      return viewIsSafe;
    },
  };
}
