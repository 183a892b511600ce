/**
 * Pages for people, cohorts and the audit log, plus each role's home page and the read-only
 * workspace files API that instructors and staff use to look at a student's work (audited).
 */
import type { Request, Response } from 'express';
import { OutpostError } from '../../core/errors.ts';
import { ROLES, type Accounts, type Role, type User } from '../../core/accounts.ts';
import type { AuditLog, AuditEntry } from '../../core/audit.ts';
import type { Policy } from '../../core/policy.ts';
import { html, page, csrfField, pageContext, authOf, clientIp, type RouteRegistry, type SafeHtml } from '../../core/web.ts';
import { routeParam } from '../../core/web.ts';
import type { Workspaces } from '../../sandbox/workspaces.ts';

export interface AdminRoutesDeps {
  accounts: Accounts;
  audit: AuditLog;
  policy: Policy;
  workspaces: Workspaces;
}

const param = routeParam;
const field = (req: Request, name: string): string => String((req.body as Record<string, unknown> | undefined)?.[name] ?? '').trim();
const actorOf = (req: Request, res: Response) => ({ name: authOf(res)!.user.name, ip: clientIp(req) });

function roleOptions(selected: Role | ''): SafeHtml[] {
  return ROLES.map((r) => html`<option value="${r}" ${r === selected ? html`selected` : ''}>${r}</option>`);
}

function userRow(u: User): SafeHtml {
  return html`<tr><td><a href="/admin/users/${encodeURIComponent(u.name)}">${u.name}</a></td><td>${u.displayName}</td><td>${u.role}</td><td>${u.externalId ?? ''}</td><td>${u.cohorts.join(', ')}</td><td>${u.disabled ? 'disabled' : u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() ? 'locked' : 'active'}</td></tr>`;
}

export function registerAdminRoutes(routes: RouteRegistry, deps: AdminRoutesDeps): void {
  const { accounts, audit, policy } = deps;

  routes.add({ method: 'get', path: '/', action: 'page.home', handler: (_req, res) => {
    const ctx = pageContext(res);
    const user = ctx.user!;
    const cohorts = user.role === 'instructor' ? accounts.cohorts({ instructor: user.name }) : [];
    const parts: SafeHtml[] = [html`<p>Signed in as <strong>${user.displayName || user.name}</strong> (${user.role}).</p>`];
    if (user.role === 'student') {
      parts.push(html`<h2>Your workspace</h2><p>Your files live in your own workspace and are kept between sessions.</p>`);
      if (user.cohorts.length) parts.push(html`<p>Cohort: ${user.cohorts.join(', ')}</p>`);
    }
    if (user.role === 'instructor') {
      parts.push(html`<h2>Your cohorts</h2>${cohorts.length ? html`<ul>${cohorts.map((c) => html`<li><a href="/admin/cohorts/${encodeURIComponent(c.name)}">${c.title || c.name}</a> (${c.members.length} students)</li>`)}</ul>` : html`<p class="muted">You do not teach a cohort yet.</p>`}`);
    }
    if (user.role === 'staff' || user.role === 'admin') {
      parts.push(html`<h2>Oversight</h2><ul><li><a href="/admin/users">People</a></li><li><a href="/admin/cohorts">Cohorts</a></li><li><a href="/staff/audit">Audit log</a></li><li><a href="/admin/bundles">Update bundles</a></li></ul>`);
    }
    if (user.role === 'client') {
      parts.push(html`<h2>Your projects</h2><p class="muted">Project requests you file with the shop will be listed here.</p>`);
    }
    res.type('html').send(page(ctx, 'Home', html`${parts}`));
  } });

  // ------------------------------------------------------------ people

  routes.add({ method: 'get', path: '/admin/users', action: 'users.view', handler: (req, res) => {
    const ctx = pageContext(res);
    const role = ROLES.includes(String(req.query.role ?? '') as Role) ? (String(req.query.role) as Role) : '';
    const cohort = String(req.query.cohort ?? '');
    const users = accounts.list({ ...(role ? { role } : {}), ...(cohort ? { cohort } : {}) });
    const canManage = policy.can(ctx.user, 'users.manage');
    res.type('html').send(page(ctx, 'People', html`
      <form class="filters" method="get" action="/admin/users">
        <label>Role <select name="role"><option value="">any</option>${roleOptions(role)}</select></label>
        <label>Cohort <input name="cohort" value="${cohort}" maxlength="48"></label>
        <button type="submit" class="secondary">Filter</button>
      </form>
      <table><thead><tr><th>User</th><th>Name</th><th>Role</th><th>Person number</th><th>Cohorts</th><th>Status</th></tr></thead>
      <tbody>${users.map(userRow)}</tbody></table>
      ${canManage ? html`<h2>Add a person</h2>
      <form class="stack" method="post" action="/admin/users">
        ${csrfField(ctx)}
        <label>User name <input name="name" required maxlength="32" pattern="[a-z][a-z0-9_\\-]{0,31}"></label>
        <label>Display name <input name="display_name" maxlength="200"></label>
        <label>Role <select name="role">${roleOptions('student')}</select></label>
        <label>Person number <input name="external_id" maxlength="64"></label>
        <label>Cohort <select name="cohort"><option value="">none</option>${accounts.cohorts().map((c) => html`<option value="${c.name}">${c.title || c.name}</option>`)}</select></label>
        <button type="submit">Add</button>
      </form>` : ''}`));
  } });

  routes.add({ method: 'post', path: '/admin/users', action: 'users.manage', handler: async (req, res) => {
    const cohort = field(req, 'cohort');
    const { user, password } = await accounts.create({
      name: field(req, 'name'), role: field(req, 'role') as Role, displayName: field(req, 'display_name'),
      externalId: field(req, 'external_id') || null, ...(cohort ? { cohort } : {}),
    }, actorOf(req, res));
    res.status(201).type('html').send(page(pageContext(res), 'Person added', html`
      <p class="notice ok" role="status"><strong>${user.name}</strong> was added as ${user.role}.</p>
      <p>First password (shown only now; they must change it when they first sign in): <span class="secret">${password}</span></p>
      <p><a href="/admin/users/${encodeURIComponent(user.name)}">Open ${user.name}</a> · <a href="/admin/users">Back to people</a></p>`));
  } });

  routes.add({ method: 'get', path: '/admin/users/:name', action: 'users.view', handler: (req, res) => {
    const ctx = pageContext(res);
    const user = accounts.require(param(req, 'name'));
    const can = (a: Parameters<Policy['can']>[1]) => policy.can(ctx.user, a, { owner: user.name, role: user.role });
    const post = (path: string, label: string, extra: SafeHtml | string = '', cls = '') =>
      html`<form class="inline" method="post" action="/admin/users/${encodeURIComponent(user.name)}/${path}">${csrfField(ctx)}${extra}<button type="submit" class="${cls}">${label}</button></form> `;
    res.type('html').send(page(ctx, user.displayName || user.name, html`
      <table><tbody>
        <tr><th>User name</th><td>${user.name}</td></tr>
        <tr><th>Role</th><td>${user.role}</td></tr>
        <tr><th>Person number</th><td>${user.externalId ?? ''}</td></tr>
        <tr><th>Cohorts</th><td>${user.cohorts.join(', ')}</td></tr>
        <tr><th>Status</th><td>${user.disabled ? 'disabled' : 'active'}${user.mustChangePassword ? ' · must change password' : ''}</td></tr>
        <tr><th>Created</th><td>${user.createdAt}</td></tr>
      </tbody></table>
      <p>
        ${can('users.disable') ? (user.disabled ? post('enable', 'Enable account') : post('disable', 'Disable account', '', 'danger')) : ''}
        ${can('users.reset-password') ? post('reset-password', 'Reset password', '', 'secondary') : ''}
      </p>
      ${can('users.manage') ? html`<h2>Edit</h2>
        <form class="stack" method="post" action="/admin/users/${encodeURIComponent(user.name)}/update">${csrfField(ctx)}
          <label>Display name <input name="display_name" value="${user.displayName}" maxlength="200"></label>
          <label>Person number <input name="external_id" value="${user.externalId ?? ''}" maxlength="64"></label>
          <button type="submit">Save</button></form>
        <h2>Role</h2>
        <form class="stack" method="post" action="/admin/users/${encodeURIComponent(user.name)}/role">${csrfField(ctx)}
          <label>Role <select name="role">${roleOptions(user.role)}</select></label><button type="submit">Change role</button></form>` : ''}
      ${policy.can(ctx.user, 'audit.view') ? html`<p><a href="/staff/audit?person=${encodeURIComponent(user.name)}">Audit entries for ${user.name}</a></p>` : ''}`));
  } });

  const back = (res: Response, name: string) => res.redirect(303, `/admin/users/${encodeURIComponent(name)}`);
  // Who may reset or disable depends on whose account it is (core/policy.ts).
  const account = (req: Request) => ({ owner: param(req, 'name'), role: accounts.get(param(req, 'name'))?.role });
  routes.add({ method: 'post', path: '/admin/users/:name/disable', action: 'users.disable', resource: account, handler: (req, res) => { accounts.setDisabled(param(req, 'name'), true, actorOf(req, res)); back(res, param(req, 'name')); } });
  routes.add({ method: 'post', path: '/admin/users/:name/enable', action: 'users.disable', resource: account, handler: (req, res) => { accounts.setDisabled(param(req, 'name'), false, actorOf(req, res)); back(res, param(req, 'name')); } });
  routes.add({ method: 'post', path: '/admin/users/:name/update', action: 'users.manage', handler: (req, res) => {
    accounts.update(param(req, 'name'), { displayName: field(req, 'display_name'), externalId: field(req, 'external_id') || null }, actorOf(req, res));
    back(res, param(req, 'name'));
  } });
  routes.add({ method: 'post', path: '/admin/users/:name/role', action: 'users.manage', handler: (req, res) => {
    accounts.setRole(param(req, 'name'), field(req, 'role') as Role, actorOf(req, res));
    back(res, param(req, 'name'));
  } });
  routes.add({ method: 'post', path: '/admin/users/:name/reset-password', action: 'users.reset-password', resource: account, handler: async (req, res) => {
    const name = param(req, 'name');
    const password = await accounts.resetPassword(name, actorOf(req, res));
    res.type('html').send(page(pageContext(res), 'Password reset', html`
      <p class="notice ok" role="status">The password of <strong>${name}</strong> was reset and their sessions ended.</p>
      <p>Temporary password (shown only now; they must change it at next sign-in): <span class="secret">${password}</span></p>
      <p><a href="/admin/users/${encodeURIComponent(name)}">Back to ${name}</a></p>`));
  } });

  // ------------------------------------------------------------ cohorts

  routes.add({ method: 'get', path: '/admin/cohorts', action: 'cohorts.view', handler: (_req, res) => {
    const ctx = pageContext(res);
    const cohorts = ctx.user!.role === 'instructor' ? accounts.cohorts({ instructor: ctx.user!.name }) : accounts.cohorts();
    res.type('html').send(page(ctx, 'Cohorts', html`
      <table><thead><tr><th>Cohort</th><th>Title</th><th>Instructors</th><th>Students</th></tr></thead><tbody>
      ${cohorts.map((c) => html`<tr><td><a href="/admin/cohorts/${encodeURIComponent(c.name)}">${c.name}</a></td><td>${c.title}</td><td>${c.instructors.join(', ')}</td><td>${c.members.length}</td></tr>`)}
      </tbody></table>
      ${policy.can(ctx.user, 'cohorts.manage') ? html`<h2>New cohort</h2>
      <form class="stack" method="post" action="/admin/cohorts">${csrfField(ctx)}
        <label>Name <input name="name" required maxlength="48" pattern="[a-z0-9][a-z0-9_\\-]{0,47}"></label>
        <label>Title <input name="title" maxlength="200"></label>
        <button type="submit">Create</button></form>` : ''}`));
  } });

  routes.add({ method: 'post', path: '/admin/cohorts', action: 'cohorts.manage', handler: (req, res) => {
    const cohort = accounts.createCohort(field(req, 'name'), field(req, 'title'), actorOf(req, res));
    res.redirect(303, `/admin/cohorts/${encodeURIComponent(cohort.name)}`);
  } });

  routes.add({ method: 'get', path: '/admin/cohorts/:cohort', action: 'cohorts.view', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: (req, res) => {
    const ctx = pageContext(res);
    const cohort = accounts.cohort(param(req, 'cohort'));
    if (!cohort) throw new OutpostError('COHORT_NOT_FOUND', `There is no cohort "${param(req, 'cohort')}".`);
    const manage = policy.can(ctx.user, 'cohorts.manage');
    const members = cohort.members.map((m) => accounts.get(m)).filter((u): u is User => u !== undefined);
    res.type('html').send(page(ctx, cohort.title || cohort.name, html`
      <p>Instructors: ${cohort.instructors.join(', ') || html`<span class="muted">none</span>`}</p>
      <h2>Students (${members.length})</h2>
      <table><thead><tr><th>User</th><th>Name</th><th>Person number</th>${manage ? html`<th></th>` : ''}</tr></thead><tbody>
      ${members.map((u) => html`<tr><td>${u.name}</td><td>${u.displayName}</td><td>${u.externalId ?? ''}</td>${manage ? html`<td><form class="inline" method="post" action="/admin/cohorts/${encodeURIComponent(cohort.name)}/members/${encodeURIComponent(u.name)}/remove">${csrfField(ctx)}<button class="secondary" type="submit">Remove</button></form></td>` : ''}</tr>`)}
      </tbody></table>
      ${manage ? html`<h2>Add a student or instructor</h2><form class="stack" method="post" action="/admin/cohorts/${encodeURIComponent(cohort.name)}/members">${csrfField(ctx)}
        <label>User name <input name="name" required maxlength="32"></label><button type="submit">Add</button></form>` : ''}`));
  } });

  routes.add({ method: 'post', path: '/admin/cohorts/:cohort/members', action: 'cohorts.manage', handler: (req, res) => {
    accounts.addToCohort(param(req, 'cohort'), field(req, 'name'), actorOf(req, res));
    res.redirect(303, `/admin/cohorts/${encodeURIComponent(param(req, 'cohort'))}`);
  } });
  routes.add({ method: 'post', path: '/admin/cohorts/:cohort/members/:name/remove', action: 'cohorts.manage', handler: (req, res) => {
    accounts.removeFromCohort(param(req, 'cohort'), param(req, 'name'), actorOf(req, res));
    res.redirect(303, `/admin/cohorts/${encodeURIComponent(param(req, 'cohort'))}`);
  } });

  // ------------------------------------------------------------ audit

  function auditFilter(req: Request) {
    const q = req.query as Record<string, string | undefined>;
    const dateOk = (s: string | undefined) => (s && /^\d{4}-\d{2}-\d{2}/.test(s) ? s : undefined);
    const from = dateOk(q.from);
    const to = dateOk(q.to);
    return {
      ...(q.person ? { person: q.person.slice(0, 64) } : {}),
      ...(q.action ? { action: q.action.slice(0, 64) } : {}),
      ...(from ? { from } : {}),
      // A bare date means the whole of that day.
      ...(to ? { to: to.length === 10 ? `${to}T23:59:59.999Z` : to } : {}),
    };
  }

  routes.add({ method: 'get', path: '/staff/audit', action: 'audit.view', handler: (req, res) => {
    const ctx = pageContext(res);
    const filter = auditFilter(req);
    const pageNo = Math.max(1, Number(req.query.page ?? 1) || 1);
    const { entries, total } = audit.query({ ...filter, limit: 100, offset: (pageNo - 1) * 100 });
    const qs = new URLSearchParams(Object.entries(filter).map(([k, v]) => [k, String(v)]));
    res.type('html').send(page(ctx, 'Audit log', html`
      <form class="filters" method="get" action="/staff/audit">
        <label>Person <input name="person" value="${filter.person ?? ''}" maxlength="64"></label>
        <label>Action <input name="action" value="${filter.action ?? ''}" maxlength="64" placeholder="auth, user.create…"></label>
        <label>From <input name="from" type="date" value="${(filter.from ?? '').slice(0, 10)}"></label>
        <label>To <input name="to" type="date" value="${(filter.to ?? '').slice(0, 10)}"></label>
        <button type="submit" class="secondary">Filter</button>
        <a href="/staff/audit.csv?${qs.toString()}">Export CSV</a>
      </form>
      <p class="muted">${total} entries${total > 100 ? ` · page ${pageNo}` : ''}</p>
      <table><thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Action</th><th>Target</th><th>Details</th><th>Address</th></tr></thead><tbody>
      ${entries.map((e) => html`<tr><td>${e.id}</td><td>${e.at.replace('T', ' ').slice(0, 19)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.target}</td><td><code>${Object.keys(e.details).length ? JSON.stringify(e.details) : ''}</code></td><td>${e.ip}</td></tr>`)}
      </tbody></table>
      ${pageNo > 1 ? html`<a href="/staff/audit?${qs.toString()}&page=${pageNo - 1}">Newer</a> ` : ''}
      ${pageNo * 100 < total ? html`<a href="/staff/audit?${qs.toString()}&page=${pageNo + 1}">Older</a>` : ''}`));
  } });

  routes.add({ method: 'get', path: '/staff/audit.csv', action: 'audit.view', handler: (req, res) => {
    const filter = auditFilter(req);
    const { entries } = audit.query({ ...filter, limit: 100_000 });
    audit.record({ actor: authOf(res)!.user.name, action: 'audit.export', details: { ...filter, rows: entries.length }, ip: clientIp(req) });
    res.type('text/csv').attachment('outpost-audit.csv').send(toCsv(entries));
  } });

  // ------------------------------------------------------------ a student's files (read-only)

  routes.add({
    method: 'get', path: '/api/workspaces/:owner/files', action: 'workspace.files.read',
    resource: (req) => ({ owner: param(req, 'owner') }),
    handler: async (req, res) => {
      const owner = param(req, 'owner');
      const viewer = authOf(res)!.user;
      const target = accounts.get(owner);
      if (!target || target.role !== 'student') throw new OutpostError('USER_NOT_FOUND', `There is no student "${owner}".`);
      const filePath = String(req.query.path ?? '');
      if (viewer.name !== owner) {
        audit.record({ actor: viewer.name, action: 'files.read-other', target: owner, details: { path: filePath, role: viewer.role }, ip: clientIp(req) });
      }
      const files = await deps.workspaces.files(owner);
      if (req.query.read === '1') {
        const file = await files.read(filePath);
        res.json({ path: file.path, version: file.version, content: file.content.toString('utf8') });
      } else {
        res.json({ path: filePath, entries: await files.list(filePath) });
      }
    },
  });
}

/** RFC 4180 CSV; cells that a spreadsheet would run as a formula get a leading apostrophe. */
export function toCsv(entries: AuditEntry[]): string {
  const cell = (v: string) => {
    const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines = [['id', 'at', 'actor', 'action', 'target', 'details', 'ip', 'hash'].join(',')];
  for (const e of [...entries].reverse()) lines.push([String(e.id), e.at, e.actor, e.action, e.target, JSON.stringify(e.details), e.ip, e.hash].map(cell).join(','));
  return lines.join('\r\n') + '\r\n';
}
