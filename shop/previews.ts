/**
 * Live previews of a deliverable: the app at exactly the delivered commit, started in a fresh
 * sandbox container (the grading containers' hardening and sealed network, no workspace, no
 * student's files) and shown to the people of that project only — its client first.
 *
 * - The commit's files are exported (no history) into the container's read-only slot, copied to
 *   its tmpfs, and started with `npm start` (or `node server.js`) on PORT 3000. Packages come from
 *   the image (express and the test tools are preinstalled at /node_modules).
 * - Requests reach the app through the container's agent (sandbox/http-relay.ts): no network path
 *   from the sealed side to the control plane is opened, and the page runs sandboxed in an opaque
 *   origin without the viewer's cookies.
 * - `/shop/projects/:id/milestones/:mid/preview` (the viewer's session and project role) hands out
 *   `/shop/p/<token>/`, a link bound to the viewer, their sign-in session and the deliverable; every
 *   request re-checks the session and the viewer's part in the project.
 * - One container per (project, commit), shared by its viewers, stopped after `idleMinutes`.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Accounts } from '../core/accounts.ts';
import { OutpostError } from '../core/errors.ts';
import { createCapabilityLinks } from '../core/capabilities.ts';
import { makeTreeReadable } from '../core/files.ts';
import type { Logger } from '../core/log.ts';
import type { Sessions } from '../core/sessions.ts';
import type { RouteRegistry } from '../core/web.ts';
import { exportCommit } from '../fake-internet/git/repos.ts';
import { relayArgv, relayHttp } from '../sandbox/http-relay.ts';
import { JOB_DIR, type OneShotRunner, type WarmContainer } from '../sandbox/oneshot.ts';
import type { AgentSession } from '../sandbox/agent-client.ts';
import type { Shop } from './shop.ts';
import type { ShopPreviews } from './web.ts';

const APP_PORT = 3000;
const START_SCRIPT = `set -e
mkdir -p /workspace/app && cp -r ${JOB_DIR}/app/. /workspace/app/ && cd /workspace/app
if [ -f package.json ] && node -e 'process.exit(require("./package.json").scripts?.start ? 0 : 1)'; then exec npm start --silent; fi
exec node server.js`;

interface Running {
  key: string;
  warm: WarmContainer;
  app: AgentSession;
  /** Recent output of the app, for the "it did not start" message. */
  log: string;
  lastUsed: number;
  ready: Promise<void>;
}

interface Deliverable { project: number; milestone: number; commit: string; repoDir: string }

export interface ShopPreviewService extends ShopPreviews {
  /** Previews running now (for status pages and tests). */
  running(): { project: number; commit: string; idleSeconds: number }[];
  close(): Promise<void>;
}

export function createShopPreviews(deps: { oneShot: OneShotRunner; shop: Shop; sessions: Sessions; accounts: Accounts; routes: RouteRegistry; log: Logger; idleMinutes?: number; startSeconds?: number }): ShopPreviewService {
  const { log } = deps;
  const idleMs = (deps.idleMinutes ?? 15) * 60_000;
  const startMs = (deps.startSeconds ?? 30) * 1000;
  const previews = new Map<string, Running>();
  /** Previews being started: concurrent first requests for one (project, commit) share this, so only one container starts. */
  const starting = new Map<string, Promise<Running>>();
  const links = createCapabilityLinks<Deliverable>({ sessions: deps.sessions, accounts: deps.accounts, goneMessage: 'This preview link has expired or was never valid. Open the preview again from the project page.' });
  const sweeper = setInterval(() => void sweep(), 30_000);
  sweeper.unref();

  async function answers(warm: WarmContainer): Promise<boolean> {
    const probe = await warm.exec({ argv: relayArgv(APP_PORT), stdin: '', timeoutSeconds: 5 });
    return probe.exitCode === 0;
  }

  async function start(key: string, repoDir: string, commit: string): Promise<Running> {
    const warm = await deps.oneShot.take();
    try {
      await exportCommit(repoDir, commit, path.join(warm.slot, 'app'));
      await makeTreeReadable(path.join(warm.slot, 'app'));
      const app = await warm.stream({ argv: ['bash', '-c', START_SCRIPT], cwd: '/workspace', env: { PORT: String(APP_PORT), HOST: '0.0.0.0', NODE_ENV: 'production' } });
      const running: Running = { key, warm, app, log: '', lastUsed: Date.now(), ready: Promise.resolve() };
      const keep = (chunk: Buffer) => { running.log = (running.log + chunk.toString('utf8')).slice(-2000); };
      app.stdout.on('data', keep);
      app.stderr.on('data', keep);
      let exited = false;
      void app.exit.then(() => { exited = true; }, () => { exited = true; });
      running.ready = (async () => {
        const deadline = Date.now() + startMs;
        while (Date.now() < deadline && !exited) {
          if (await answers(warm)) return;
          await sleep(300);
        }
        throw new OutpostError('SHOP_PREVIEW_UNAVAILABLE', `The app at commit ${commit.slice(0, 12)} did not start answering on port ${APP_PORT}${exited ? ' (it exited)' : ` within ${startMs / 1000} s`}. What it printed:\n${running.log.trim().split('\n').slice(-10).join('\n') || '(nothing)'}`);
      })();
      return running;
    } catch (error) {
      await warm.dispose();
      throw error;
    }
  }

  async function stop(running: Running): Promise<void> {
    // Every viewer waiting on a preview that did not start stops it: the first one does the work.
    if (previews.get(running.key) !== running) return;
    previews.delete(running.key);
    running.app.close();
    await running.warm.dispose();
  }

  async function sweep(): Promise<void> {
    const now = Date.now();
    for (const running of [...previews.values()]) if (now - running.lastUsed > idleMs) await stop(running).catch((e: unknown) => log.warn({ err: e }, 'could not stop a preview'));
  }

  async function ensure(repoDir: string, project: number, commit: string): Promise<Running> {
    const key = `${project}:${commit}`;
    let running = previews.get(key);
    if (!running) {
      let pending = starting.get(key);
      if (!pending) {
        // Kept before the first await, and dropped once settled (on failure too, so a later request tries again).
        pending = start(key, repoDir, commit).then((started) => {
          previews.set(key, started);
          log.info({ project, commit }, 'preview started');
          return started;
        }).finally(() => starting.delete(key));
        starting.set(key, pending);
      }
      running = await pending;
    }
    running.lastUsed = Date.now();
    try {
      await running.ready;
    } catch (error) {
      await stop(running).catch(() => undefined);
      throw error;
    }
    return running;
  }

  /** The viewer may still see this deliverable (their session lives, their part in the project holds). */
  function check(token: string): Deliverable {
    const { viewer, scope } = links.check(token);
    const { project } = deps.shop.projectFor(viewer, scope.project);
    if (deps.shop.milestone(project.id, scope.milestone).commit !== scope.commit) { links.revoke(token); throw links.gone(); }
    return scope;
  }

  for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
    deps.routes.add({
      method, path: '/shop/p/:token{/*rest}', action: 'public', capability: true,
      handler: async (req, res) => {
        const token = String(req.params.token);
        const grant = check(token);
        const prefix = `/shop/p/${token}`;
        const rest = req.originalUrl.slice(prefix.length);
        if (method === 'get' && (rest === '' || rest.startsWith('?'))) return res.redirect(302, `${prefix}/${rest}`);
        const running = await ensure(grant.repoDir, grant.project, grant.commit);
        const session = await running.warm.stream({ argv: relayArgv(APP_PORT), cwd: '/', timeoutSeconds: 120 });
        await relayHttp({
          session, port: APP_PORT, prefix, path: rest.startsWith('/') ? rest : `/${rest}`, req, res,
          unavailable: (why) => new OutpostError('SHOP_PREVIEW_UNAVAILABLE', `The preview's app stopped answering (${why}). Open the preview again from the project page.`),
        });
      },
    });
  }

  return {
    async open({ project, milestone, commit, repoDir, viewer, sessionId }) {
      // Started (and checked) now, so the page the viewer lands on is the app, not a wait.
      await ensure(repoDir, project.id, commit);
      return { url: `/shop/p/${links.issue(viewer.name, sessionId, { project: project.id, milestone: milestone.id, commit, repoDir })}/` };
    },

    running() {
      const now = Date.now();
      return [...previews.values()].map((r) => { const [project, commit] = r.key.split(':'); return { project: Number(project), commit: commit!, idleSeconds: Math.round((now - r.lastUsed) / 1000) }; });
    },

    async close() {
      clearInterval(sweeper);
      // A preview still starting would otherwise outlive the service.
      await Promise.all([...starting.values()].map((p) => p.catch(() => undefined)));
      await Promise.all([...previews.values()].map((r) => stop(r).catch(() => undefined)));
    },
  };
}
