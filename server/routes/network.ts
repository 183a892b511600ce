/**
 * Pages for the inside internet: the network log (every request and DNS query, with the student it
 * came from), each cohort's allowed sites, and the packages students asked for that the mirror lacks.
 */
import { OutpostError } from '../../core/errors.ts';
import type { Accounts } from '../../core/accounts.ts';
import type { AuditLog } from '../../core/audit.ts';
import { html, page, csrfField, pageContext, authOf, clientIp, type RouteRegistry } from '../../core/web.ts';
import { routeParam } from '../../core/web.ts';
import type { FakeInternet } from '../../fake-internet/index.ts';

export interface NetworkRoutesDeps {
  fakeInternet: FakeInternet;
  accounts: Accounts;
  audit: AuditLog;
  allowlists: { get(cohort: string): string[] | 'all'; set(cohort: string, sites: string[] | 'all', by: string): void };
  npmRegistry: () => Promise<string>;
}

const param = routeParam;

export function registerNetworkRoutes(routes: RouteRegistry, deps: NetworkRoutesDeps): void {
  const { fakeInternet: fi, accounts, audit, allowlists } = deps;
  /** Names a cohort's allowlist can hold: every mirrored site and the services. */
  const siteNames = () => [...fi.mirrors.list().map((s) => s.name), 'search', 'registry', 'git'].sort();

  routes.add({ method: 'get', path: '/staff/network', action: 'network.view', handler: (req, res) => {
    fi.ingestLogs();
    const q = req.query as Record<string, string | undefined>;
    const owner = (q.owner ?? '').slice(0, 64);
    const host = (q.host ?? '').slice(0, 253);
    const blocked = q.blocked === '1';
    const entries = fi.networkLog({ ...(owner ? { owner } : {}), ...(host ? { host } : {}), blocked, limit: 500 });
    res.type('html').send(page(pageContext(res), 'Network log', html`
      <form class="filters" method="get" action="/staff/network">
        <label>Student <input name="owner" value="${owner}" maxlength="64"></label>
        <label>Site <input name="host" value="${host}" maxlength="253"></label>
        <label><span><input type="checkbox" name="blocked" value="1" ${blocked ? html`checked` : ''}> blocked only</span></label>
        <button type="submit" class="secondary">Filter</button>
      </form>
      <p class="muted">The newest ${entries.length} entries: web requests through the gateway and DNS queries, each with the student whose workspace made it.</p>
      <table><thead><tr><th>Time (UTC)</th><th>Student</th><th>Kind</th><th>Site or name</th><th>Request</th><th>Result</th></tr></thead><tbody>
      ${entries.map((e) => html`<tr><td>${e.at.replace('T', ' ').slice(0, 19)}</td><td>${e.owner ?? html`<span class="muted">${e.client}</span>`}</td><td>${e.service}</td><td>${e.host}</td><td><code>${e.detail}</code></td><td>${e.blocked ? html`<strong>blocked</strong>` : e.status}</td></tr>`)}
      </tbody></table>`));
  } });

  routes.add({ method: 'get', path: '/admin/cohorts/:cohort/sites', action: 'cohorts.sites', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: (req, res) => {
    const cohort = accounts.cohort(param(req, 'cohort'));
    if (!cohort) throw new OutpostError('COHORT_NOT_FOUND', `There is no cohort "${param(req, 'cohort')}".`);
    const ctx = pageContext(res);
    const allowed = allowlists.get(cohort.name);
    res.type('html').send(page(ctx, `Sites for ${cohort.title || cohort.name}`, html`
      <p>Students of this cohort can open the sites ticked here; any other mirrored site shows them a page saying it is blocked, and the attempt is logged.</p>
      <form class="stack" method="post" action="/admin/cohorts/${encodeURIComponent(cohort.name)}/sites">${csrfField(ctx)}
        <label><span><input type="checkbox" name="all" value="1" ${allowed === 'all' ? html`checked` : ''}> Every site (new ones included)</span></label>
        ${siteNames().map((name) => html`<label><span><input type="checkbox" name="site" value="${name}" ${allowed === 'all' || allowed.includes(name) ? html`checked` : ''}> ${name}</span></label>`)}
        <button type="submit">Save</button>
      </form>`));
  } });

  routes.add({ method: 'post', path: '/admin/cohorts/:cohort/sites', action: 'cohorts.sites', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: async (req, res) => {
    const cohort = accounts.cohort(param(req, 'cohort'));
    if (!cohort) throw new OutpostError('COHORT_NOT_FOUND', `There is no cohort "${param(req, 'cohort')}".`);
    const body = req.body as Record<string, unknown>;
    const known = new Set(siteNames());
    const picked = ([] as unknown[]).concat(body.site ?? []).map(String).filter((s) => known.has(s));
    const sites: string[] | 'all' = body.all === '1' ? 'all' : picked;
    const actor = authOf(res)!.user.name;
    allowlists.set(cohort.name, sites, actor);
    audit.record({ actor, action: 'cohort.sites', target: cohort.name, details: { sites }, ip: clientIp(req) });
    await fi.refreshIdentities();
    res.redirect(303, `/admin/cohorts/${encodeURIComponent(cohort.name)}/sites`);
  } });

  routes.add({ method: 'get', path: '/staff/packages', action: 'packages.manage', handler: (_req, res) => {
    fi.packages.ingestRequestLog(fi.registryRequestLog);
    const ctx = pageContext(res);
    const requested = fi.packages.requested();
    res.type('html').send(page(ctx, 'Requested packages', html`
      <p>Packages students tried to install that the mirror does not hold. Approving one fetches it and its whole dependency tree on this machine's side and adds it to the mirror.</p>
      <table><thead><tr><th>Package</th><th>Asked</th><th>Last asked</th><th>By</th><th>Status</th><th></th></tr></thead><tbody>
      ${requested.map((p) => html`<tr><td>${p.name}</td><td>${p.count}</td><td>${p.lastRequestedAt.replace('T', ' ').slice(0, 19)}</td><td>${p.requestedBy ?? ''}</td><td>${p.status}</td><td>${p.status === 'pending' ? html`<form class="inline" method="post" action="/staff/packages/${encodeURIComponent(p.name)}/approve">${csrfField(ctx)}<button type="submit">Approve</button></form>` : ''}</td></tr>`)}
      </tbody></table>
      <p class="muted">${fi.packages.list().length} packages are in the mirror.</p>`));
  } });

  routes.add({ method: 'post', path: '/staff/packages/:name/approve', action: 'packages.manage', handler: async (req, res) => {
    const name = decodeURIComponent(param(req, 'name'));
    const result = await fi.packages.approve(name, { registry: await deps.npmRegistry() });
    audit.record({ actor: authOf(res)!.user.name, action: 'packages.approve', target: name, details: { added: result.added.length }, ip: clientIp(req) });
    res.redirect(303, '/staff/packages');
  } });
}
