/**
 * The sandbox engine, assembled from its parts for the composition root: workspaces (long-lived,
 * one per student), one-shot grading containers, and the disks behind them.
 */
import type Dockerode from 'dockerode';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store.ts';
import { createDiskManager, type DiskManager } from './disk.ts';
import { createWorkspaces, type Workspaces, type NetworkAttachment } from './workspaces.ts';
import { createOneShotRunner, type OneShotRunner } from './oneshot.ts';
import { createAgentSockets, type AgentSockets } from './agent-sockets.ts';

export interface Sandbox {
  workspaces: Workspaces;
  oneShot: OneShotRunner;
  disks: DiskManager;
  sockets: AgentSockets;
  image: string;
}

export function workspaceImage(config: Config): string {
  return `${config.images.repository}/workspace:latest`;
}

export function createSandbox(deps: { docker: Dockerode; config: Config; store: Store; log: Logger; ownerExists?: (owner: string) => boolean; attachment?: NetworkAttachment; onStarted?: (owner: string) => Promise<void>; beforeStart?: (owner: string) => Promise<void>; onExec?: (milliseconds: number) => void }): Sandbox {
  const { docker, config, store, log } = deps;
  const image = workspaceImage(config);
  const disks = createDiskManager({ dataDir: config.dataDir, quotaMode: config.sandbox.quotaMode, diskMiB: config.sandbox.workspace.diskMiB, uid: config.sandbox.uid, log });
  const attachment = deps.attachment ? { attachment: deps.attachment } : {};
  const sockets = createAgentSockets({ runDir: config.sandbox.runDir, instance: config.instance, log });
  const workspaces = createWorkspaces({
    docker, store, config, disks, sockets, log: log.child({ module: 'workspaces' }), image, ...attachment,
    ...(deps.ownerExists ? { ownerExists: deps.ownerExists } : {}), ...(deps.onStarted ? { onStarted: deps.onStarted } : {}), ...(deps.beforeStart ? { beforeStart: deps.beforeStart } : {}), ...(deps.onExec ? { onExec: deps.onExec } : {}),
  });
  const oneShot = createOneShotRunner({ docker, config, sockets, log: log.child({ module: 'oneshot' }), image, ...attachment });
  return { workspaces, oneShot, disks, sockets, image };
}

export { validateOwner, OWNER_PATTERN } from './workspaces.ts';
export type { ExecRequest, ExecResult, StreamRequest, WorkspaceInfo, NetworkAttachment } from './workspaces.ts';
