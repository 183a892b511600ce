/**
 * `/admin/bundles`: staff review offline update bundles that were imported and verified
 * (server/bundles.ts) and approve or reject each. Trusting a publisher key is a console command
 * only (`./outpost bundle trust`): a stolen staff session must not be able to add one.
 */
import type { Request, Response } from 'express';
import { html, page, csrfField, pageContext, authOf, clientIp, routeParam, type RouteRegistry, type SafeHtml } from '../../core/web.ts';
import { formatFingerprint, type BundleRecord, type Bundles } from '../bundles.ts';

export interface BundleRoutesDeps {
  bundles: Bundles;
}

const field = (req: Request, name: string): string => String((req.body as Record<string, unknown> | undefined)?.[name] ?? '').trim();
const actorOf = (req: Request, res: Response) => ({ name: authOf(res)!.user.name, ip: clientIp(req) });
const when = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '');
const idOf = (req: Request): number => {
  const raw = routeParam(req, 'id');
  return /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : NaN;
};

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1048576).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

const STATUS_TEXT: Record<BundleRecord['status'], string> = { pending: 'waiting for approval', applying: 'being applied', applied: 'applied', failed: 'failed', rejected: 'rejected' };

export function registerBundleRoutes(routes: RouteRegistry, deps: BundleRoutesDeps): void {
  const { bundles } = deps;

  function bundleSection(b: BundleRecord, ctx: ReturnType<typeof pageContext>): SafeHtml {
    const decidable = b.status === 'pending' || b.status === 'failed';
    return html`<section class="bundle" id="bundle-${b.id}">
      <h2>Bundle #${b.id}: ${STATUS_TEXT[b.status]}</h2>
      <dl class="facts">
        <dt>Publisher</dt><dd>${b.publisher.name} · key <code class="checksum">${formatFingerprint(b.publisher.fingerprint)}</code></dd>
        <dt>Made</dt><dd>${when(b.manifest.createdAt)} by Outpost ${b.manifest.outpostVersion}</dd>
        <dt>Note</dt><dd>${b.manifest.note || html`<span class="muted">none</span>`}</dd>
        <dt>File</dt><dd><code>${b.source}</code>, ${formatSize(b.bytes)} · SHA-256 <code class="checksum">${b.sourceSha256}</code></dd>
        <dt>Imported</dt><dd>${when(b.stagedAt)} by ${b.stagedBy}; signature and every checksum verified</dd>
        ${b.decidedBy ? html`<dt>Decided</dt><dd>${when(b.decidedAt)} by ${b.decidedBy}${b.decisionNote ? `: ${b.decisionNote}` : ''}</dd>` : ''}
      </dl>
      <table><thead><tr><th>Kind</th><th>Name</th><th>What</th><th>Files</th><th>Size</th></tr></thead><tbody>
      ${b.units.map((u) => html`<tr><td>${u.kind}</td><td><code>${u.name}</code></td><td>${u.detail ?? ''}</td><td>${u.files}</td><td>${formatSize(u.bytes)}</td></tr>`)}
      </tbody></table>
      <details><summary>Every file in the signed manifest (${b.manifest.items.length})</summary>
        <table><thead><tr><th>Path</th><th>Size</th><th>SHA-256</th></tr></thead><tbody>
        ${b.manifest.items.slice(0, 2000).map((i) => html`<tr><td><code>${i.path}</code></td><td>${formatSize(i.bytes)}</td><td><code class="checksum">${i.sha256}</code></td></tr>`)}
        </tbody></table>${b.manifest.items.length > 2000 ? html`<p class="muted">The first 2000 are shown.</p>` : ''}
      </details>
      ${b.results.length ? html`<h3>Results</h3><table><thead><tr><th>Kind</th><th>Name</th><th>Result</th><th>Detail</th></tr></thead><tbody>
        ${b.results.map((r) => html`<tr><td>${r.kind}</td><td><code>${r.name}</code></td><td>${r.status === 'failed' ? html`<strong class="bad">failed</strong>` : 'applied'}</td><td>${r.detail}${r.code ? html` <code>${r.code}</code>` : ''}</td></tr>`)}
        </tbody></table>` : ''}
      ${decidable ? html`<div class="review">
        <form class="stack" method="post" action="/admin/bundles/${b.id}/approve">${csrfField(ctx)}
          <label>Note (optional) <textarea name="note" maxlength="2000"></textarea></label>
          <button type="submit" class="primary">${b.status === 'failed' ? 'Approve again: retry applying' : 'Approve: apply this bundle'}</button></form>
        <form class="stack" method="post" action="/admin/bundles/${b.id}/reject">${csrfField(ctx)}
          <label>Why it is rejected (required) <textarea name="reason" required minlength="3" maxlength="2000"></textarea></label>
          <button type="submit">Reject</button></form>
      </div>` : ''}
    </section>`;
  }

  routes.add({ method: 'get', path: '/admin/bundles', action: 'bundles.manage', handler: (req, res) => {
    const ctx = pageContext(res);
    const list = bundles.list();
    const notice = routes.notices.read(req);
    const keys = bundles.keys();
    res.type('html').send(page(ctx, 'Update bundles', html`
      ${notice ? html`<p class="notice ok" role="status">${notice}</p>` : ''}
      <p>Offline update bundles bring images, mirrored sites, npm packages and curriculum in from outside. A bundle is listed here only after its signature (by a trusted publisher key) and every file's checksum were verified; nothing in it is applied until it is approved here or with <code>./outpost bundle approve</code>, which checks the files again first.</p>
      ${list.length ? list.map((b) => bundleSection(b, ctx)) : html`<p class="muted">No bundle has been imported. Import one at the console: <code>./outpost bundle import FILE</code>.</p>`}
      <h2>Trusted publisher keys</h2>
      ${keys.length
        ? html`<table><thead><tr><th>Name</th><th>Fingerprint</th><th>Trusted</th></tr></thead><tbody>${keys.map((k) => html`<tr><td>${k.name}</td><td><code class="checksum">${formatFingerprint(k.fingerprint)}</code></td><td>${when(k.addedAt)} by ${k.addedBy}</td></tr>`)}</tbody></table>`
        : html`<p class="muted">None yet.</p>`}
      <p class="muted">Keys are trusted and removed at the console only: <code>./outpost bundle trust PUBKEY.pem --name NAME</code>, <code>./outpost bundle untrust NAME</code>.</p>`));
  } });

  routes.add({ method: 'post', path: '/admin/bundles/:id/approve', action: 'bundles.manage', handler: async (req, res) => {
    const note = field(req, 'note').slice(0, 2000);
    const result = await bundles.approve(idOf(req), actorOf(req, res), note ? { note } : {});
    const message = result.status === 'applied' ? `Bundle #${result.id} was applied.` : `Bundle #${result.id} failed to apply in part; see its results.`;
    res.redirect(303, routes.notices.link(`/admin/bundles#bundle-${result.id}`, message));
  } });

  routes.add({ method: 'post', path: '/admin/bundles/:id/reject', action: 'bundles.manage', handler: async (req, res) => {
    const result = await bundles.reject(idOf(req), actorOf(req, res), field(req, 'reason'));
    res.redirect(303, routes.notices.link(`/admin/bundles#bundle-${result.id}`, `Bundle #${result.id} was rejected; nothing in it was applied.`));
  } });
}
