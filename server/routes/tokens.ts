/**
 * Access tokens for git over HTTPS, per user: made here (the secret is shown once and only its hash
 * is kept), listed, revoked. A workspace's own token is made by Outpost and shown as "workspace";
 * revoking it makes a fresh one at the workspace's next start.
 */
import type { Response } from 'express';
import type { AuditLog } from '../../core/audit.ts';
import { authOf, csrfField, html, page, pageContext, type RouteRegistry } from '../../core/web.ts';
import type { GitHosting } from '../../fake-internet/git/hosting.ts';
import { OutpostError } from '../../core/errors.ts';

export function registerTokenRoutes(routes: RouteRegistry, deps: { git: GitHosting; audit: AuditLog }): void {
  const { git } = deps;

  function tokensPage(res: Response, options: { created?: { label: string; token: string }; status?: number } = {}): void {
    const ctx = pageContext(res);
    const user = authOf(res)!.user;
    const tokens = git.tokens(user.name);
    res.status(options.status ?? 200).type('html').send(page(ctx, 'Access tokens', html`
      <p>Git over HTTPS asks for a user name and a password: give your user name (<code>${user.name}</code>) and an access token, never your Outpost password. Your workspace already holds a token of its own, so <code>git push</code> there just works.</p>
      ${options.created ? html`<div class="notice ok" role="status"><p>New token “${options.created.label}”. Copy it now: it is not shown again.</p><p><code class="secret" id="new-token">${options.created.token}</code></p></div>` : ''}
      <form class="stack" method="post" action="/account/tokens">${csrfField(ctx)}
        <label>Name of the new token <input name="label" required maxlength="100" placeholder="for example: grading scripts"></label>
        <button type="submit">Make a token</button>
      </form>
      <table><thead><tr><th>Name</th><th>Kind</th><th>Made</th><th>State</th><th></th></tr></thead><tbody>
        ${tokens.map((t) => html`<tr><td>${t.label}</td><td>${t.kind}</td><td>${t.createdAt.slice(0, 16).replace('T', ' ')}</td><td>${t.revokedAt ? html`revoked ${t.revokedAt.slice(0, 10)}` : 'active'}</td>
          <td>${t.revokedAt ? '' : html`<form method="post" action="/account/tokens/${String(t.id)}/revoke">${csrfField(ctx)}<button type="submit">Revoke</button></form>`}</td></tr>`)}
      </tbody></table>`));
  }

  routes.add({ method: 'get', path: '/account/tokens', action: 'account.tokens', handler: (_req, res) => tokensPage(res) });

  routes.add({ method: 'post', path: '/account/tokens', action: 'account.tokens', handler: async (req, res) => {
    const user = authOf(res)!.user;
    const label = String((req.body as Record<string, unknown>).label ?? '');
    const { token } = await git.issueToken(user.name, label, { name: user.name });
    tokensPage(res, { created: { label: label.trim(), token }, status: 201 });
  } });

  routes.add({ method: 'post', path: '/account/tokens/:id/revoke', action: 'account.tokens', handler: async (req, res) => {
    const user = authOf(res)!.user;
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id <= 0) throw new OutpostError('INPUT_INVALID', 'A token id is a positive number.', { details: { field: 'id' } });
    await git.revokeToken(user.name, id, { name: user.name });
    res.redirect(303, '/account/tokens');
  } });
}
