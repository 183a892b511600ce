/**
 * The browser IDE: its routes (pages, files, terminals, Runs, preview), the WebSocket attach point,
 * the session hub and the client bundle, assembled for the composition root.
 */
import type { Server } from 'node:http';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Accounts } from '../core/accounts.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Policy } from '../core/policy.ts';
import type { AuditLog } from '../core/audit.ts';
import type { RouteRegistry } from '../core/web.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import { createAssetBuilder, type AssetBuilder } from './assets.ts';
import { createHub, type Hub } from './hub.ts';
import { registerIdeRoutes, type IdeRouteDeps } from './routes.ts';
import { registerPreviewRoutes } from './preview.ts';
import { attachUpgrades } from './ws.ts';

export interface Ide {
  hub: Hub;
  assets: AssetBuilder;
  /** Handles the IDE's WebSocket upgrades on this server; returns the detach function. */
  attach(server: Server): () => void;
  close(): void;
}

export interface IdeDeps {
  config: Config;
  log: Logger;
  workspaces: Workspaces;
  accounts: Accounts;
  sessions: Sessions;
  policy: Policy;
  audit: AuditLog;
  routes: RouteRegistry;
  /** The page CSP for the editor (server/app.ts says why it differs from the app's). */
  contentSecurityPolicy: string;
  /** Where built bundles are kept (default: ide/.build, gitignored). */
  assetCacheDir?: string;
  runCommandFor?: IdeRouteDeps['runCommandFor'];
  exerciseFor?: IdeRouteDeps['exerciseFor'];
  submitExercise?: IdeRouteDeps['submitExercise'];
}

export function createIde(deps: IdeDeps): Ide {
  const log = deps.log.child({ module: 'ide' });
  const hub = createHub({ workspaces: deps.workspaces, config: deps.config, log });
  const assets = createAssetBuilder({ log, ...(deps.assetCacheDir ? { cacheDir: deps.assetCacheDir } : {}) });
  registerIdeRoutes(deps.routes, {
    config: deps.config, workspaces: deps.workspaces, hub, assets, contentSecurityPolicy: deps.contentSecurityPolicy,
    ...(deps.runCommandFor ? { runCommandFor: deps.runCommandFor } : {}), ...(deps.exerciseFor ? { exerciseFor: deps.exerciseFor } : {}), ...(deps.submitExercise ? { submitExercise: deps.submitExercise } : {}),
  });
  registerPreviewRoutes(deps.routes, { workspaces: deps.workspaces, audit: deps.audit, sessions: deps.sessions, accounts: deps.accounts, policy: deps.policy });
  const detachers: (() => void)[] = [];
  return {
    hub,
    assets,
    attach(server) {
      const detach = attachUpgrades(server, { hub, sessions: deps.sessions, accounts: deps.accounts, policy: deps.policy, log });
      detachers.push(detach);
      // Build the bundle now so the first student does not wait for it.
      assets.ready().catch((error: unknown) => log.error({ err: error }, 'IDE bundle build failed'));
      return detach;
    },
    close() {
      for (const detach of detachers.splice(0)) detach();
      hub.close();
    },
  };
}
