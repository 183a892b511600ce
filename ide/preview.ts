/**
 * Web preview: a student's server listening inside their container, seen at
 * /preview/<owner>/<port>/ by the student and their instructors (policy `workspace.preview`),
 * through a capability link /p/<token>/ (see registerPreviewRoutes for why).
 *
 * The control plane has no network path to containers (the sealed network gives the host no
 * address), and the preview opens none: each HTTP request goes through the workspace agent, which
 * runs a tiny relay in the container (node, connecting to 127.0.0.1:<port> and piping bytes over
 * the agent's stdin/stdout). Node's HTTP client speaks HTTP over that pipe as if it were a socket.
 *
 * The student's pages are untrusted code served from Outpost's origin, so:
 * - the response carries `Content-Security-Policy: sandbox …` without allow-same-origin: the page
 *   runs in an opaque origin and cannot read Outpost's pages, tokens or APIs as the viewer;
 * - the viewer's cookies and CSRF header are never forwarded (the student's server would see the
 *   instructor's session), and Set-Cookie from the student's server is dropped (it could otherwise
 *   plant cookies on Outpost's origin);
 * - every method is relayed with its body (a student's forms and JSON APIs work), up to
 *   10 MiB (sandbox/http-relay.ts); the link is the credential, so no CSRF token is asked of the
 *   student's pages;
 * - the opaque origin makes the page's module scripts and fetch() calls cross-origin, so responses
 *   allow any origin without credentials and preflights are answered (the relay and core/web.ts
 *   say why that is safe), and the app's redirects to its own root stay under the link.
 */
import type { Request, Response } from 'express';
import { OutpostError } from '../core/errors.ts';
import { authOf, clientIp, type RouteRegistry } from '../core/web.ts';
import type { AuditLog } from '../core/audit.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Accounts } from '../core/accounts.ts';
import type { Policy } from '../core/policy.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import { relayArgv, relayHttp, SANDBOXED_PAGE_CSP } from '../sandbox/http-relay.ts';
import { createCapabilityLinks } from '../core/capabilities.ts';

/** Kept for the page tests: what every preview response carries. */
export const PREVIEW_CONTENT_SECURITY_POLICY = SANDBOXED_PAGE_CSP;

export interface PreviewDeps {
  workspaces: Workspaces;
  audit: AuditLog;
  sessions: Sessions;
  accounts: Accounts;
  policy: Policy;
  /** Per request to the student's server. */
  timeoutSeconds?: number;
  /** How long one preview link works (it also ends with the viewer's sign-in session). */
  grantHours?: number;
}

/**
 * Two routes. `/preview/<owner>/<port>/…` is the address people use: it needs the viewer's session
 * cookie and `workspace.preview`, and redirects to `/p/<token>/…`. The token is the credential for
 * the page and its assets, because a sandboxed page (opaque origin) sends no SameSite=Strict cookie
 * with its own sub-requests. A token is random, bound to (viewer, their sign-in session, owner,
 * port), and every request re-checks that session and the policy; it only ever shows that one
 * student's server on that port, so leaking it (the page can read its own URL) reveals nothing of
 * Outpost's.
 */
export function registerPreviewRoutes(routes: RouteRegistry, deps: PreviewDeps): void {
  const links = createCapabilityLinks<{ owner: string; port: number }>({
    sessions: deps.sessions, accounts: deps.accounts, ...(deps.grantHours !== undefined ? { hours: deps.grantHours } : {}),
    goneMessage: 'This preview link has expired or was never valid. Open the preview again from the workspace.',
  });

  /** The link's viewer may still preview that workspace (the policy is asked again every time). */
  function check(token: string): { owner: string; port: number } {
    const { viewer, scope } = links.check(token);
    deps.policy.assert(viewer, 'workspace.preview', { owner: scope.owner });
    return scope;
  }

  routes.add({
    method: 'get', path: '/preview/:owner/:port{/*rest}', action: 'workspace.preview', resource: (req) => ({ owner: String(req.params.owner) }),
    handler: (req, res) => {
      const owner = String(req.params.owner);
      const port = Number(req.params.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new OutpostError('INPUT_INVALID', `"${String(req.params.port).slice(0, 10)}" is not a port number (1–65535).`);
      const auth = authOf(res)!;
      if (auth.user.name !== owner) deps.audit.record({ actor: auth.user.name, action: 'preview.view-other', target: owner, details: { port }, ip: clientIp(req) });
      const rest = req.originalUrl.slice(`/preview/${owner}/${req.params.port}`.length);
      res.redirect(303, `/p/${links.issue(auth.user.name, auth.sessionId, { owner, port })}${rest.startsWith('/') ? rest : `/${rest}`}`);
    },
  });

  // 'public' at the registry because the token in the path is the credential; `check` applies the
  // same policy action to the token's viewer on every request.
  for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
    routes.add({
      method, path: '/p/:token{/*rest}', action: 'public', capability: true,
      handler: async (req, res) => {
        const token = String(req.params.token);
        const grant = check(token);
        const prefix = `/p/${token}`;
        const rest = req.originalUrl.slice(prefix.length);
        if (method === 'get' && (rest === '' || rest.startsWith('?'))) return res.redirect(302, `${prefix}/${rest}`);
        await relay(deps, grant.owner, grant.port, prefix, rest.startsWith('/') ? rest : `/${rest}`, req, res);
      },
    });
  }
}

async function relay(deps: PreviewDeps, owner: string, port: number, prefix: string, rest: string, req: Request, res: Response): Promise<void> {
  const session = await deps.workspaces.stream(owner, { argv: relayArgv(port), interactive: true, outputCapBytes: 0, timeoutSeconds: deps.timeoutSeconds ?? 120 });
  await relayHttp({
    session, port, prefix, path: rest, req, res,
    unavailable: (why) => new OutpostError('IDE_PREVIEW_UNAVAILABLE', `Preview unavailable: ${why === 'ECONNREFUSED' ? `nothing is listening on port ${port} in ${owner}'s workspace. Start the server (listening on 0.0.0.0 or 127.0.0.1) and reload.` : `the connection to port ${port} failed (${why}).`}`, { details: { owner, port } }),
  });
}
