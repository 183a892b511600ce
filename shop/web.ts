/**
 * The shop's pages. Clients: their requests (with attachments), their projects (milestones, the code
 * of a deliverable at its commit, a thread, accept or request changes, downloads of approved
 * packages). Instructors and staff: triage (accept with scope, milestones, lead and team; or decline
 * with a reason) and project administration. Students: their team's projects (mark a milestone
 * ready with a commit, consent to show their name), their hours. Staff: outbound review (personal-
 * data findings, the diff since the last delivery, approve or reject) and hours reports with CSV.
 *
 * Clients never see a student's name or user name: every person on a page a client can open goes
 * through `shop.nameForClient` (the team's pseudonym unless the student consented), and the code
 * view shows files only, never commit authors.
 *
 * Attachments are uploaded as the raw body of one POST per file (a small script sends them, with the
 * CSRF token in a header); the server parses no multipart at all. See docs/shop.md.
 */
import type { Request, Response } from 'express';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { Accounts, Actor, User } from '../core/accounts.ts';
import type { Config } from '../core/config.ts';
import { OutpostError, isOutpostError } from '../core/errors.ts';
import { renderMarkdown } from '../core/markdown.ts';
import { authOf, clientIp, csrfField, html, page, pageContext, routeParam as param, type PageContext, type RouteRegistry, type SafeHtml } from '../core/web.ts';
import type { GitHosting } from '../fake-internet/git/hosting.ts';
import { diffCommits, listBranches, readBlobAt, readTreeAt } from '../fake-internet/git/repos.ts';
import { redactor } from './outbound.ts';
import { SKELETONS_DIR, type Milestone, type Package, type Project, type ProjectRole, type Shop } from './shop.ts';

/**
 * The live preview of a deliverable: its app started from exactly the delivered commit in a sandbox
 * and served through the gateway to the viewer's session only. Built elsewhere (ide/preview.ts);
 * until it is plugged in here, the Preview links answer 503 SHOP_PREVIEW_UNAVAILABLE.
 */
export interface ShopPreviews {
  /** Starts (or finds) the preview and returns the URL to send this viewer to. */
  open(input: { project: Project; milestone: Milestone; commit: string; repoDir: string; viewer: User; sessionId: string }): Promise<{ url: string }>;
}

export interface ShopWebDeps {
  shop: Shop;
  accounts: Accounts;
  git: GitHosting;
  config: Config['shop'];
  previews?: ShopPreviews;
}

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');
const enc = encodeURIComponent;
const when = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '');
const short = (oid: string | null) => (oid ? oid.slice(0, 12) : '');
const today = () => new Date().toISOString().slice(0, 10);
const STATUS_TEXT: Record<Milestone['status'], string> = { open: 'open', ready: 'ready for review', 'changes-requested': 'changes requested', accepted: 'accepted' };

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function idOf(req: Request, name = 'id'): number {
  const raw = param(req, name);
  return /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : NaN;
}

function field(req: Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/**
 * Reads a raw request body of at most `max` bytes. A larger one is read to its end (up to twice the
 * limit, so the client hears the answer) and refused with SHOP_ATTACHMENT_TOO_LARGE.
 */
async function readRawBody(req: Request, max: number): Promise<Buffer> {
  if (!req.is('application/octet-stream') || req.readableEnded) {
    throw new OutpostError('INPUT_INVALID', 'Send one file as the request body with Content-Type application/octet-stream and its name in X-Filename (the page does this for you).');
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
      else if (size > max * 2 + 1024 * 1024) { req.destroy(); reject(new OutpostError('SHOP_ATTACHMENT_TOO_LARGE', `The file is larger than ${Math.floor(max / 1048576)} MiB, the shop's limit per file.`)); }
    });
    req.on('end', () => resolve());
    req.on('error', reject);
  });
  if (size > max || declared > max) throw new OutpostError('SHOP_ATTACHMENT_TOO_LARGE', `The file is larger than ${Math.floor(max / 1048576)} MiB, the shop's limit per file.`);
  return Buffer.concat(chunks);
}

export function registerShopRoutes(routes: RouteRegistry, deps: ShopWebDeps): void {
  const { shop, accounts, git, config } = deps;
  const me = (res: Response): User => authOf(res)!.user;
  const actorOf = (req: Request, res: Response): Actor => ({ name: me(res).name, ip: clientIp(req) });
  const send = (res: Response, title: string, body: SafeHtml) => res.type('html').send(page(pageContext(res), title, body));
  const notice = (req: Request) => {
    const text = routes.notices.read(req);
    return text ? html`<p class="notice ok" role="status">${text}</p>` : '';
  };
  const back = (res: Response, url: string, message?: string) => res.redirect(303, message ? routes.notices.link(url, message) : url);

  /** A person as this viewer may see them in this project. */
  function who(p: Project, role: ProjectRole, person: string): string {
    if (role === 'client') return shop.nameForClient(p, person);
    const u = accounts.get(person);
    return u ? `${u.displayName || u.name} (${u.name})` : person;
  }

  /**
   * For a client: every student's user name, display name and person number blanked, except those of
   * this team's members who consented. For everyone else: the text as written.
   */
  function shownTo(p: Project, role: ProjectRole): (text: string) => string {
    if (role !== 'client') return (t) => t;
    const consented = new Set(shop.team(p).members.filter((m) => m.showName).map((m) => m.student));
    return redactor(accounts.list({ role: 'student' }).filter((u) => !consented.has(u.name)).map((u) => ({ name: u.name, displayName: u.displayName, externalId: u.externalId })));
  }

  function statusBadge(status: string): SafeHtml {
    return html`<span class="shop-status ${status}">${status}</span>`;
  }

  // ---------------------------------------------------------------- home

  routes.add({ method: 'get', path: '/shop', action: 'shop.view', handler: (req, res) => {
    const user = me(res);
    const projects = shop.projectsFor(user);
    const projectList = projects.length
      ? html`<table><thead><tr><th>Project</th><th>Team</th><th>Milestones</th></tr></thead><tbody>${projects.map((p) => {
          const ms = shop.milestones(p.id);
          return html`<tr><td><a href="/shop/projects/${p.id}">${p.title}</a></td><td>${shop.team(p).pseudonym}</td><td>${ms.filter((m) => m.status === 'accepted').length} of ${ms.length} accepted</td></tr>`;
        })}</tbody></table>`
      : html`<p class="muted">No projects yet.</p>`;
    if (user.role === 'client') {
      const mine = shop.requests({ client: user.name });
      return send(res, 'My projects', html`${notice(req)}
        <p><a class="button" href="/shop/requests/new">Request a new project</a></p>
        <h2>Requests</h2>
        ${mine.length ? html`<table><thead><tr><th>Request</th><th>Filed</th><th>Status</th></tr></thead><tbody>${mine.map((r) => html`<tr><td><a href="/shop/requests/${r.id}">${r.title}</a></td><td>${when(r.createdAt)}</td><td>${statusBadge(r.status)}</td></tr>`)}</tbody></table>` : html`<p class="muted">You have not requested anything yet.</p>`}
        <h2>Projects</h2>${projectList}`);
    }
    if (user.role === 'student') {
      return send(res, 'Shop', html`${notice(req)}<p>Your team's client projects. <a href="/shop/hours">Log your hours</a>.</p><h2>Projects</h2>${projectList}`);
    }
    const requests = shop.requests();
    const waiting = requests.filter((r) => r.status === 'submitted');
    const staff = user.role === 'staff' || user.role === 'admin';
    const pending = staff ? shop.packages({ status: 'pending' }) : [];
    send(res, 'Shop', html`${notice(req)}
      ${staff ? html`<p><a href="/shop/outbound">Outbound packages</a> (${pending.length} waiting) · <a href="/shop/messages">All messages</a> · <a href="/shop/reports">Hours reports</a></p>` : ''}
      <h2>Requests to triage</h2>
      ${waiting.length ? html`<table><thead><tr><th>Request</th><th>Client</th><th>Filed</th></tr></thead><tbody>${waiting.map((r) => html`<tr><td><a href="/shop/requests/${r.id}">${r.title}</a></td><td>${accounts.get(r.client)?.displayName || r.client}</td><td>${when(r.createdAt)}</td></tr>`)}</tbody></table>` : html`<p class="muted">Nothing waits for triage.</p>`}
      <h2>${staff ? 'All projects' : 'Projects you lead'}</h2>${projectList}
      <details><summary>Decided requests (${requests.length - waiting.length})</summary><ul>${requests.filter((r) => r.status !== 'submitted').map((r) => html`<li><a href="/shop/requests/${r.id}">${r.title}</a> ${statusBadge(r.status)}</li>`)}</ul></details>`);
  } });

  // ---------------------------------------------------------------- requests

  routes.add({ method: 'get', path: '/shop/requests/new', action: 'shop.request', handler: (_req, res) => {
    const ctx = pageContext(res);
    send(res, 'Request a project', html`
      <p>Tell the shop what you need. You can attach files (${config.maxAttachmentMiB} MiB each at most: PDF, PNG, JPEG, ZIP, text or Markdown) on the next page.</p>
      <form class="stack" method="post" action="/shop/requests">${csrfField(ctx)}
        <label>Title <input name="title" required minlength="3" maxlength="200"></label>
        <label>Description (Markdown) <textarea name="description" required minlength="10" maxlength="20000"></textarea></label>
        <label>Acceptance criteria: how you will know it is done <textarea name="criteria" required minlength="3" maxlength="20000"></textarea></label>
        <button type="submit" class="primary">Send the request</button>
      </form>`);
  } });

  routes.add({ method: 'post', path: '/shop/requests', action: 'shop.request', handler: (req, res) => {
    const r = shop.createRequest({ title: field(req, 'title'), description: field(req, 'description'), criteria: field(req, 'criteria') }, me(res), actorOf(req, res));
    back(res, `/shop/requests/${r.id}`, 'Your request was sent. Attach any files below.');
  } });

  async function skeletons(): Promise<string[]> {
    return (await readdir(SKELETONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  routes.add({ method: 'get', path: '/shop/requests/:id', action: 'shop.view', handler: async (req, res) => {
    const user = me(res);
    const r = shop.requestFor(user, idOf(req));
    const ctx = pageContext(res);
    const files = shop.attachments(r.id);
    const triager = user.role !== 'client' && r.status === 'submitted';
    const isClient = user.role === 'client';
    send(res, r.title, html`${notice(req)}
      <p>${statusBadge(r.status)} · filed ${when(r.createdAt)}${isClient ? '' : html` by ${accounts.get(r.client)?.displayName || r.client}`}</p>
      ${r.status === 'declined' ? html`<p class="notice error">Declined: ${r.reason ?? ''}</p>` : ''}
      ${r.project ? html`<p><a href="/shop/projects/${r.project}">Open the project</a></p>` : ''}
      <h2>Description</h2><div class="readme">${renderMarkdown(r.description)}</div>
      <h2>Acceptance criteria</h2><div class="readme">${renderMarkdown(r.criteria)}</div>
      <h2>Files</h2>
      ${files.length ? html`<ul>${files.map((f) => html`<li><a href="/shop/attachments/${f.id}">${f.filename}</a> <span class="muted">${f.kind}, ${formatSize(f.size)}</span></li>`)}</ul>` : html`<p class="muted">No files.</p>`}
      ${isClient && r.status === 'submitted' ? html`
        <form data-attach method="post" action="/shop/requests/${r.id}/attachments" enctype="application/octet-stream">${csrfField(ctx)}
          <label>Attach files <input type="file" name="file" multiple required accept=".pdf,.png,.jpg,.jpeg,.zip,.txt,.md"></label>
          <button type="submit">Upload</button> <span role="status" class="muted"></span>
          <noscript><p class="muted">Uploading needs JavaScript in this browser.</p></noscript>
        </form>
        <script src="/shop/static/attach.js" defer></script>` : ''}
      ${triager ? await triageForms(ctx, r.id) : ''}`);
  } });

  async function triageForms(ctx: PageContext, id: number): Promise<SafeHtml> {
    const instructors = accounts.list({ role: 'instructor' }).filter((u) => !u.disabled);
    const students = accounts.list({ role: 'student' }).filter((u) => !u.disabled);
    const teams = shop.teams.list();
    return html`<section class="triage"><h2>Triage</h2>
      <form class="stack" method="post" action="/shop/requests/${id}/accept">${csrfField(ctx)}
        <label>Scope (what the team will build) <textarea name="scope" required minlength="3"></textarea></label>
        <label>Team pseudonym <input name="team" required placeholder="Falcon" list="shop-teams"></label>
        <datalist id="shop-teams">${teams.map((t) => html`<option value="${t.pseudonym.replace(/^Team /, '')}">`)}</datalist>
        <label>Students (user names, comma-separated; added to the team) <input name="members" placeholder="${students.slice(0, 2).map((s) => s.name).join(', ')}"></label>
        <label>Lead instructor <select name="lead" required>${instructors.map((u) => html`<option value="${u.name}">${u.displayName || u.name} (${u.name})</option>`)}</select></label>
        <label>Milestones, one per line: YYYY-MM-DD Title <textarea name="milestones" required placeholder="2026-12-01 First working page"></textarea></label>
        <label>Project skeleton <select name="skeleton">${(await skeletons()).map((s) => html`<option>${s}</option>`)}</select></label>
        <label>Build for every package (optional) <input name="buildCommand" maxlength="2000" placeholder="npm ci && npm run build"></label>
        <label>…and the folder it makes <input name="buildOutput" maxlength="200" placeholder="dist"></label>
        <button type="submit" class="primary">Accept and create the team repository</button>
      </form>
      <form class="stack" method="post" action="/shop/requests/${id}/decline">${csrfField(ctx)}
        <label>Reason (the client reads it) <textarea name="reason" required minlength="3"></textarea></label>
        <button type="submit">Decline</button>
      </form></section>`;
  }

  routes.add({ method: 'post', path: '/shop/requests/:id/attachments', action: 'shop.request', handler: async (req, res) => {
    const user = me(res);
    const r = shop.requestFor(user, idOf(req));
    if (r.client !== user.name) throw new OutpostError('SHOP_REQUEST_NOT_FOUND', 'There is no such project request.');
    let filename = '';
    try { filename = decodeURIComponent(String(req.headers['x-filename'] ?? '')); } catch { filename = ''; }
    const data = await readRawBody(req, config.maxAttachmentMiB * 1024 * 1024);
    const a = await shop.addAttachment(r.id, { filename, data }, actorOf(req, res));
    res.status(201).json({ id: a.id, filename: a.filename, kind: a.kind, size: a.size, sha256: a.sha256 });
  } });

  routes.add({ method: 'get', path: '/shop/attachments/:id', action: 'shop.view', handler: async (req, res) => {
    const a = shop.attachment(idOf(req));
    if (!a) throw new OutpostError('SHOP_ATTACHMENT_NOT_FOUND', 'There is no such attachment.');
    try { shop.requestFor(me(res), a.request); } catch (error) {
      if (isOutpostError(error, 'SHOP_REQUEST_NOT_FOUND')) throw new OutpostError('SHOP_ATTACHMENT_NOT_FOUND', 'There is no such attachment.');
      throw error;
    }
    const data = await shop.files.read(a.sha256);
    // Never shown inline, whatever it claims to be.
    res.attachment(a.filename);
    res.type('application/octet-stream');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.send(data);
  } });

  routes.add({ method: 'post', path: '/shop/requests/:id/accept', action: 'shop.triage', handler: async (req, res) => {
    const r = shop.requestFor(me(res), idOf(req));
    const milestones = field(req, 'milestones').split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((line) => {
      const m = /^(\S+)\s+(.+)$/.exec(line);
      return { due: m?.[1] ?? line, title: m?.[2] ?? '' };
    });
    const members = field(req, 'members').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
    const skeleton = field(req, 'skeleton');
    const build = field(req, 'buildCommand') || field(req, 'buildOutput') ? { command: field(req, 'buildCommand'), output: field(req, 'buildOutput') } : undefined;
    const p = await shop.accept(r.id, { scope: field(req, 'scope'), team: field(req, 'team'), members, lead: field(req, 'lead'), milestones, ...(skeleton ? { skeleton } : {}), ...(build ? { build } : {}) }, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, `Accepted. The team repository ${p.repoOwner}/${p.repoName} is ready.`);
  } });

  routes.add({ method: 'post', path: '/shop/requests/:id/decline', action: 'shop.triage', handler: (req, res) => {
    const r = shop.requestFor(me(res), idOf(req));
    shop.decline(r.id, field(req, 'reason'), actorOf(req, res));
    back(res, `/shop/requests/${r.id}`, 'Declined; the client sees your reason.');
  } });

  // ---------------------------------------------------------------- projects

  function packageList(p: Project, role: ProjectRole): SafeHtml {
    const all = shop.packages({ project: p.id }).filter((k) => role !== 'client' || k.status === 'approved');
    if (all.length === 0) return html`<p class="muted">${role === 'client' ? 'Nothing has been released to you yet.' : 'No packages yet; one is made when the client accepts a milestone.'}</p>`;
    return html`<table><thead><tr><th>Package</th><th>Milestone</th><th>Commit</th><th>Status</th><th>SHA-256</th></tr></thead><tbody>${all.map((k) => {
      const m = shop.milestones(p.id).find((x) => x.id === k.milestone);
      const link = role === 'staff' ? html`<a href="/shop/outbound/${k.id}">#${k.id}</a>` : `#${k.id}`;
      const download = k.status === 'approved' && (role === 'client' || role === 'staff') ? html` <a href="/shop/packages/${k.id}/download">Download</a>${k.build ? html` · <a href="/shop/packages/${k.id}/build">Build</a>` : ''}` : '';
      return html`<tr><td>${link}${download}</td><td>${m?.title ?? ''}</td><td><code>${short(k.commit)}</code></td><td>${statusBadge(k.status)}${k.status === 'rejected' && role !== 'client' ? html` <span class="muted">${k.reviewNote ?? ''}</span>` : ''}</td><td>${k.status === 'approved' ? html`<code class="checksum">${k.sha256}</code><details><summary>Release notes</summary><pre class="output">${k.releaseNotes}</pre></details>` : ''}</td></tr>`;
    })}</tbody></table>`;
  }

  routes.add({ method: 'get', path: '/shop/projects/:id', action: 'shop.view', handler: async (req, res) => {
    const user = me(res);
    const { project: p, role } = shop.projectFor(user, idOf(req));
    const ctx = pageContext(res);
    const team = shop.team(p);
    const ms = shop.milestones(p.id);
    const messages = shop.messages(p.id);
    const request = shop.request(p.request)!;
    const branches = role === 'member' ? await listBranches(git.repoDir(p.repoOwner, p.repoName)).catch(() => []) : [];
    const memberLine = role === 'client'
      ? html`${team.pseudonym}${team.members.some((m) => m.showName) ? html` (${team.members.filter((m) => m.showName).map((m) => accounts.get(m.student)?.displayName || 'a member').join(', ')})` : ''}`
      : html`${team.pseudonym}: ${team.members.map((m, i) => html`${i ? ', ' : ''}${who(p, role, m.student)}${m.showName ? ' (name shown to the client)' : ''}`)}`;
    const shown = shownTo(p, role);
    const myConsent = role === 'member' ? team.members.find((m) => m.student === user.name)?.showName ?? false : false;

    const milestoneRow = (m: Milestone) => html`<tr id="m${m.id}"><td>${m.title}</td><td>${m.due}</td><td><span class="shop-status ${m.status}">${STATUS_TEXT[m.status]}</span></td>
      <td>${m.commit ? html`<code>${short(m.commit)}</code> · <a href="/shop/projects/${p.id}/code/${m.id}">Code</a> · <a href="/shop/projects/${p.id}/milestones/${m.id}/preview">Preview</a>` : ''}</td>
      <td>${role === 'member' && (m.status === 'open' || m.status === 'changes-requested') ? html`
          <form class="inline" method="post" action="/shop/projects/${p.id}/milestones/${m.id}/ready">${csrfField(ctx)}
            <label>Deliver <select name="branch"><option value="">a branch head…</option>${branches.map((b) => html`<option value="${b.oid}">${b.name} (${short(b.oid)})</option>`)}</select></label>
            <label>or commit id <input name="commit" pattern="[0-9a-fA-F]{4,40}" size="14"></label>
            <button type="submit">Mark ready</button></form>` : ''}
        ${role === 'client' && m.status === 'ready' ? html`
          <form class="inline" method="post" action="/shop/projects/${p.id}/milestones/${m.id}/accept">${csrfField(ctx)}<input name="comment" placeholder="A note (optional)" maxlength="2000"> <button type="submit" class="primary">Accept</button></form>
          <form class="inline" method="post" action="/shop/projects/${p.id}/milestones/${m.id}/changes">${csrfField(ctx)}<input name="comment" required minlength="3" placeholder="What should change?" maxlength="10000"> <button type="submit">Request changes</button></form>` : ''}</td></tr>`;

    send(res, p.title, html`${notice(req)}
      <dl class="facts">
        ${role === 'client' ? '' : html`<dt>Client</dt><dd>${accounts.get(p.client)?.displayName || p.client}</dd>`}
        <dt>Team</dt><dd>${memberLine}</dd>
        <dt>Lead instructor</dt><dd>${accounts.get(p.lead)?.displayName || p.lead}</dd>
        <dt>Request</dt><dd>${role === 'member' || role === 'lead' ? request.title : html`<a href="/shop/requests/${request.id}">${request.title}</a>`}</dd>
        ${role === 'client' ? '' : html`<dt>Repository</dt><dd><a href="/git/${p.repoOwner}/${p.repoName}">${p.repoOwner}/${p.repoName}</a> · <code>git clone ${git.cloneUrl(p.repoOwner, p.repoName)}</code></dd>`}
      </dl>
      <h2>Scope</h2><div class="readme">${renderMarkdown(p.scope)}</div>
      ${role === 'member' || role === 'lead' ? html`<h2>Acceptance criteria</h2><div class="readme">${renderMarkdown(request.criteria)}</div>` : ''}
      <h2>Milestones</h2>
      <table class="milestones"><thead><tr><th>Milestone</th><th>Due</th><th>Status</th><th>Deliverable</th><th></th></tr></thead><tbody>${ms.map(milestoneRow)}</tbody></table>
      ${role === 'staff' || role === 'lead' ? html`<form class="inline" method="post" action="/shop/projects/${p.id}/milestones">${csrfField(ctx)}<label>New milestone <input name="title" required maxlength="200"></label> <label>due <input name="due" type="date" required></label> <button type="submit">Add</button></form>` : ''}
      ${role === 'staff' || role === 'lead' ? html`<h2>Build</h2><p class="muted">Run on the delivered commit for every package, in a sandbox; its output folder is packed next to the bundle for staff to review.</p>
        <form class="inline" method="post" action="/shop/projects/${p.id}/build">${csrfField(ctx)}<label>Command <input name="buildCommand" maxlength="2000" value="${p.buildCommand ?? ''}" placeholder="npm ci && npm run build"></label> <label>Output folder <input name="buildOutput" maxlength="200" value="${p.buildOutput ?? ''}" placeholder="dist"></label> <button type="submit">Save</button></form>` : ''}
      <section class="preview"><h2>Preview</h2><p class="muted">A live preview of a deliverable runs from its commit in a sandbox, for the client's session only. Open it from a milestone's “Preview” link.</p></section>
      <h2>Packages</h2>${packageList(p, role)}
      <h2>Messages</h2>
      <p class="muted">Everything here is visible to the client, the team, the lead instructor and staff.</p>
      <ol class="thread">${messages.map((m) => html`<li class="msg ${m.kind}"><div class="meta"><strong>${who(p, role, m.author)}</strong> · ${when(m.at)}${m.milestone ? html` · on “${ms.find((x) => x.id === m.milestone)?.title ?? ''}”` : ''}${m.kind !== 'comment' ? html` · ${m.kind}` : ''}</div><div>${renderMarkdown(shown(m.body))}</div></li>`)}</ol>
      <form class="stack" method="post" action="/shop/projects/${p.id}/messages">${csrfField(ctx)}
        <label>Message (Markdown) <textarea name="body" required maxlength="10000"></textarea></label>
        <label>About <select name="milestone"><option value="">the whole project</option>${ms.map((m) => html`<option value="${m.id}">${m.title}</option>`)}</select></label>
        <button type="submit">Send</button></form>
      ${role === 'member' ? html`<h2>Your name</h2>
        <form method="post" action="/shop/projects/${p.id}/consent">${csrfField(ctx)}
          <p>The client sees “${team.pseudonym}” ${myConsent ? html`and <strong>your name</strong>` : 'and not your name'}.</p>
          <input type="hidden" name="show" value="${myConsent ? '0' : '1'}">
          <button type="submit">${myConsent ? 'Stop showing my name to the client' : 'Show my name to the client'}</button></form>` : ''}`);
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/milestones', action: 'shop.triage', handler: (req, res) => {
    const { project: p, role } = shop.projectFor(me(res), idOf(req));
    if (role !== 'staff' && role !== 'lead') throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
    shop.addMilestone(p.id, { title: field(req, 'title'), due: field(req, 'due') }, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, 'Milestone added.');
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/messages', action: 'shop.view', handler: (req, res) => {
    const { project: p } = shop.projectFor(me(res), idOf(req));
    const ms = field(req, 'milestone');
    shop.post(p.id, { body: field(req, 'body'), milestone: ms ? Number(ms) : null }, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`);
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/consent', action: 'shop.work', handler: (req, res) => {
    const user = me(res);
    const { project: p, role } = shop.projectFor(user, idOf(req));
    if (role !== 'member') throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
    const show = field(req, 'show') === '1';
    shop.teams.setConsent(p.team, user.name, show, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, show ? 'Clients of your team now see your name.' : 'Clients of your team no longer see your name.');
  } });

  /** A project in which this user has exactly the wanted part; 404 otherwise. */
  function projectAs(req: Request, res: Response, wanted: ProjectRole): Project {
    const { project: p, role } = shop.projectFor(me(res), idOf(req));
    if (role !== wanted) throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
    return p;
  }

  routes.add({ method: 'post', path: '/shop/projects/:id/milestones/:mid/ready', action: 'shop.work', handler: async (req, res) => {
    const p = projectAs(req, res, 'member');
    const ref = field(req, 'commit').trim() || field(req, 'branch').trim();
    const m = await shop.markReady(p.id, idOf(req, 'mid'), ref, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, `“${m.title}” is ready for the client at ${short(m.commit)}.`);
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/milestones/:mid/accept', action: 'shop.review', handler: async (req, res) => {
    const p = projectAs(req, res, 'client');
    const { milestone } = await shop.acceptMilestone(p.id, idOf(req, 'mid'), field(req, 'comment'), actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, `You accepted “${milestone.title}”. Staff check the package before it is released to you.`);
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/milestones/:mid/changes', action: 'shop.review', handler: (req, res) => {
    const p = projectAs(req, res, 'client');
    const m = shop.requestChanges(p.id, idOf(req, 'mid'), field(req, 'comment'), actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, `Changes requested on “${m.title}”; the team is told.`);
  } });

  /** The milestone's delivered commit, for anyone with a part in the project. */
  function deliverable(req: Request, res: Response): { p: Project; m: Milestone; commit: string; role: ProjectRole } {
    const { project: p, role } = shop.projectFor(me(res), idOf(req));
    const m = shop.milestone(p.id, idOf(req, 'mid'));
    if (!m.commit) throw new OutpostError('NOT_FOUND', 'Nothing has been delivered for this milestone yet.');
    return { p, m, commit: m.commit, role };
  }

  // The code at a deliverable's commit: files only (no history, no authors), read-only.
  routes.add({ method: 'get', path: '/shop/projects/:id/code/:mid{/*path}', action: 'shop.view', handler: async (req, res) => {
    const { p, m, commit, role } = deliverable(req, res);
    // Students' names in the code are blanked for the client (staff see them in the outbound check).
    const shown = shownTo(p, role);
    const raw = (req.params as Record<string, unknown>).path;
    const rel = Array.isArray(raw) ? raw.map(String).join('/') : String(raw ?? '');
    const gitdir = git.repoDir(p.repoOwner, p.repoName);
    const base = `/shop/projects/${p.id}/code/${m.id}`;
    const crumbs = html`<p class="crumbs"><a href="${base}">${p.title}</a>${rel.split('/').filter(Boolean).map((part, i, all) => html` / <a href="${base}/${all.slice(0, i + 1).map(enc).join('/')}">${shown(part)}</a>`)}</p>`;
    const head = html`<p class="muted">“${m.title}” at commit <code>${commit}</code> · read-only · <a href="/shop/projects/${p.id}">back to the project</a></p>${crumbs}`;
    let body: SafeHtml;
    try {
      const tree = await readTreeAt(gitdir, commit, rel);
      body = html`<table class="files"><tbody>${tree.entries.map((e) => html`<tr><td>${e.type === 'tree' ? '📁' : '📄'} ${(e.type === 'tree' || e.type === 'blob') && shown(e.path) === e.path ? html`<a href="${base}/${e.path.split('/').map(enc).join('/')}">${shown(e.name)}</a>` : shown(e.name)}</td></tr>`)}</tbody></table>`;
    } catch (error) {
      if (!isOutpostError(error, 'GIT_NOT_A_DIRECTORY')) throw error;
      const blob = await readBlobAt(gitdir, commit, rel, { maxBytes: 512 * 1024 });
      if (blob.binary || blob.type === 'symlink') body = html`<p class="notice">A binary file of ${formatSize(blob.size)}; it is in the delivered package.</p>`;
      else {
        const lines = shown(blob.content.toString('utf8')).split('\n');
        if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
        body = html`${blob.truncated ? html`<p class="notice">Only the first 512 KiB of ${formatSize(blob.size)} are shown.</p>` : ''}<table class="code"><tbody>${lines.map((line, i) => html`<tr id="L${i + 1}"><td class="ln">${i + 1}</td><td><pre>${line}</pre></td></tr>`)}</tbody></table>`;
      }
    }
    send(res, `${p.title}: ${shown(rel) || 'code'}`, html`${head}${body}`);
  } });

  // Extension point (ShopPreviews): the route exists and checks access like every other; without a
  // preview service it says so with 503 SHOP_PREVIEW_UNAVAILABLE.
  routes.add({ method: 'get', path: '/shop/projects/:id/milestones/:mid/preview', action: 'shop.view', handler: async (req, res) => {
    const { p, m, commit } = deliverable(req, res);
    if (!deps.previews) throw new OutpostError('SHOP_PREVIEW_UNAVAILABLE', `A live preview of “${m.title}” is not available on this server yet. Read the code at the delivered commit instead (the “Code” link), and ask the team in the thread.`);
    const { url } = await deps.previews.open({ project: p, milestone: m, commit, repoDir: git.repoDir(p.repoOwner, p.repoName), viewer: me(res), sessionId: authOf(res)!.sessionId });
    res.redirect(303, url);
  } });

  // ---------------------------------------------------------------- packages

  routes.add({ method: 'get', path: '/shop/packages/:id/build', action: 'shop.view', handler: async (req, res) => {
    const { pkg, file, filename } = shop.packageForDownload(me(res), idOf(req), actorOf(req, res), 'build');
    res.attachment(filename);
    res.type('application/gzip');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(pkg.build!.sha256, 'hex').toString('base64')}:`);
    res.setHeader('Content-Length', String(pkg.build!.size));
    await pipeline(createReadStream(file), res);
  } });

  routes.add({ method: 'post', path: '/shop/projects/:id/build', action: 'shop.triage', handler: (req, res) => {
    const { project: p, role } = shop.projectFor(me(res), idOf(req));
    if (role !== 'staff' && role !== 'lead') throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
    const command = field(req, 'buildCommand');
    const output = field(req, 'buildOutput');
    shop.setBuild(p.id, command || output ? { command, output } : null, actorOf(req, res));
    back(res, `/shop/projects/${p.id}`, command ? 'The build is set; every new package runs it.' : 'The project has no build now.');
  } });

  routes.add({ method: 'get', path: '/shop/packages/:id/download', action: 'shop.view', handler: async (req, res) => {
    const { pkg, file, filename } = shop.packageForDownload(me(res), idOf(req), actorOf(req, res));
    res.attachment(filename);
    res.type('application/octet-stream');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(pkg.sha256, 'hex').toString('base64')}:`);
    res.setHeader('Content-Length', String(pkg.size));
    await pipeline(createReadStream(file), res);
  } });

  routes.add({ method: 'get', path: '/shop/outbound', action: 'shop.outbound', handler: (req, res) => {
    const all = shop.packages();
    const row = (k: Package) => {
      const p = shop.project(k.project)!;
      return html`<tr><td><a href="/shop/outbound/${k.id}">#${k.id}</a></td><td><a href="/shop/projects/${p.id}">${p.title}</a></td><td>${shop.team(p).pseudonym}</td><td><code>${short(k.commit)}</code></td><td>${k.findings.length ? html`<strong class="bad">${k.findings.length}</strong>` : '0'}</td><td>${statusBadge(k.status)}</td><td>${when(k.createdAt)}</td></tr>`;
    };
    const table = (list: Package[]) => (list.length ? html`<table><thead><tr><th>Package</th><th>Project</th><th>Team</th><th>Commit</th><th>Findings</th><th>Status</th><th>Made</th></tr></thead><tbody>${list.map(row)}</tbody></table>` : html`<p class="muted">None.</p>`);
    send(res, 'Outbound packages', html`${notice(req)}<p>Nothing leaves the shop until staff approve it here.</p>
      <h2>Waiting for review</h2>${table(all.filter((k) => k.status === 'pending'))}
      <h2>Being made</h2><p class="muted">Bundle and build are not complete yet; they can be reviewed once they are.</p>${table(all.filter((k) => k.status === 'building'))}
      <h2>Decided</h2>${table(all.filter((k) => k.status === 'approved' || k.status === 'rejected'))}`);
  } });

  // Every message between clients and teams, newest first: staff oversee them all.
  routes.add({ method: 'get', path: '/shop/messages', action: 'shop.outbound', handler: (_req, res) => {
    const messages = shop.recentMessages(300);
    send(res, 'Shop messages', html`<p class="muted">The newest ${messages.length} messages of every project, as written and by whom.</p>
      <table><thead><tr><th>When</th><th>Project</th><th>From</th><th>Kind</th><th>Message</th></tr></thead><tbody>${messages.map((m) => {
        const p = shop.project(m.project);
        const u = accounts.get(m.author);
        return html`<tr><td>${when(m.at)}</td><td>${p ? html`<a href="/shop/projects/${p.id}">${p.title}</a>` : ''}</td><td>${u ? `${u.displayName || u.name} (${u.name}, ${u.role})` : m.author}</td><td>${m.kind}</td><td>${m.body.slice(0, 500)}</td></tr>`;
      })}</tbody></table>`);
  } });

  /** The changes since the last approved delivery, line by line (git's limits keep it bounded). */
  async function fullDiff(p: Project, k: Package): Promise<SafeHtml> {
    const d = await diffCommits(git.repoDir(p.repoOwner, p.repoName), k.baseCommit, k.commit, { maxFiles: 200, maxBytes: 4 * 1024 * 1024 });
    return html`${d.files.map((f) => html`<section class="file-diff"><h3><span class="status ${f.status}">${f.status}</span> <code>${f.path}</code> <span class="add">+${f.additions}</span> <span class="del">−${f.deletions}</span></h3>
      ${f.binary || f.tooLarge ? html`<p class="muted">${f.binary ? 'Binary file' : 'Too large to show'}; it is in the bundle.</p>` : html`<table class="diff"><tbody>${f.hunks.map((h) => html`<tr class="hunk"><td><code>@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@</code></td></tr>${h.lines.map((line) => html`<tr class="${line[0] === '+' ? 'add' : line[0] === '-' ? 'del' : 'ctx'}"><td><code>${line}</code></td></tr>`)}`)}</tbody></table>`}</section>`)}`;
  }

  routes.add({ method: 'get', path: '/shop/outbound/:id', action: 'shop.outbound', handler: async (req, res) => {
    const k = shop.package(idOf(req));
    if (!k) throw new OutpostError('SHOP_PACKAGE_NOT_FOUND', 'There is no such package.');
    const p = shop.project(k.project)!;
    const m = shop.milestones(p.id).find((x) => x.id === k.milestone);
    const ctx = pageContext(res);
    send(res, `Package #${k.id}: ${p.title}`, html`${notice(req)}
      <dl class="facts"><dt>Project</dt><dd><a href="/shop/projects/${p.id}">${p.title}</a> for ${accounts.get(p.client)?.displayName || p.client}</dd>
        <dt>Milestone</dt><dd>${m?.title ?? ''}</dd><dt>Team</dt><dd>${shop.team(p).pseudonym} (${p.repoOwner}/${p.repoName})</dd>
        <dt>Commit</dt><dd><code>${k.commit}</code></dd><dt>Since</dt><dd>${k.baseCommit ? html`<code>${k.baseCommit}</code> (last approved delivery)` : 'nothing: first delivery'}</dd>
        <dt>Bundle</dt><dd>${k.sha256 ? html`${formatSize(k.size)} · SHA-256 <code class="checksum">${k.sha256}</code>${k.bundleCommit ? html` · one commit <code>${k.bundleCommit}</code> (the delivered files, no history)` : ''}` : 'not made yet'}</dd>
        <dt>Build</dt><dd>${k.build ? html`${formatSize(k.build.size)} · SHA-256 <code class="checksum">${k.build.sha256}</code> · <a href="/shop/packages/${k.id}/build">download to check</a><details><summary>Build output</summary><pre class="output">${k.build.log}</pre></details>` : 'none configured'}</dd>
        <dt>Status</dt><dd>${statusBadge(k.status)}${k.reviewedBy ? html` by ${k.reviewedBy} ${when(k.reviewedAt)}: ${k.reviewNote ?? ''}` : ''}</dd></dl>
      <h2>Personal-data check</h2>
      ${k.findings.length
        ? html`<p class="notice error">${k.findings.length} possible mention(s) of students' user names, display names or person numbers.</p>
          <table><thead><tr><th>Where</th><th>Line</th><th>Student</th><th>What</th><th>Text</th></tr></thead><tbody>${k.findings.map((f) => html`<tr><td><code>${f.where}</code></td><td>${f.line ?? ''}</td><td>${f.student}</td><td>${f.what}</td><td><code>${f.excerpt}</code></td></tr>`)}</tbody></table>`
        : html`<p class="notice ok">No student's user name, display name or person number was found in what the bundle carries: the files and their names, and its one commit's message (the release notes) and identity.</p>`}
      <h2>Changes since the last approved delivery</h2>
      <p>${k.diff.files.length} file(s), <span class="add">+${k.diff.additions}</span> <span class="del">−${k.diff.deletions}</span>${k.diff.truncated ? ' (list cut short)' : ''}</p>
      <table><thead><tr><th>File</th><th>Change</th><th>+</th><th>−</th></tr></thead><tbody>${k.diff.files.map((f) => html`<tr><td><code>${f.path}</code></td><td><span class="status ${f.status}">${f.status}</span>${f.binary ? ' (binary or large)' : ''}</td><td>${f.additions}</td><td>${f.deletions}</td></tr>`)}</tbody></table>
      <details${k.status === 'pending' ? ' open' : ''}><summary>Every changed line</summary>${await fullDiff(p, k).catch((error: unknown) => html`<p class="notice error">The diff could not be read: ${(error as Error).message}</p>`)}</details>
      <h2>Release notes</h2><pre class="output">${k.releaseNotes}</pre>
      ${k.status === 'building' ? html`<section class="review"><h2>Decision</h2><p class="notice">This package is still being made; it can be approved once its bundle${p.buildCommand ? ' and build are' : ' is'} complete. Reload the page in a moment. If the server was restarted meanwhile it will never be complete: then reject it.</p>
        <form class="stack" method="post" action="/shop/outbound/${k.id}/reject">${csrfField(ctx)}<label>Why not (the team reads it) <textarea name="note" required minlength="3" maxlength="2000"></textarea></label><button type="submit">Reject</button></form></section>` : ''}
      ${k.status === 'pending' ? html`<section class="review"><h2>Decision</h2>
        <form class="stack" method="post" action="/shop/outbound/${k.id}/approve">${csrfField(ctx)}<label>Note${k.findings.length ? ' (required: why the findings are fine)' : ' (optional)'} <textarea name="note" maxlength="2000"${k.findings.length ? ' required' : ''}></textarea></label><button type="submit" class="primary">Approve: release to the client</button></form>
        <form class="stack" method="post" action="/shop/outbound/${k.id}/reject">${csrfField(ctx)}<label>Why not (the team reads it) <textarea name="note" required minlength="3" maxlength="2000"></textarea></label><button type="submit">Reject</button></form></section>` : ''}`);
  } });

  routes.add({ method: 'post', path: '/shop/outbound/:id/approve', action: 'shop.outbound', handler: (req, res) => {
    const k = shop.approvePackage(idOf(req), field(req, 'note'), actorOf(req, res));
    back(res, `/shop/outbound/${k.id}`, `Package #${k.id} is released to the client.`);
  } });

  routes.add({ method: 'post', path: '/shop/outbound/:id/reject', action: 'shop.outbound', handler: (req, res) => {
    const k = shop.rejectPackage(idOf(req), field(req, 'note'), actorOf(req, res));
    back(res, `/shop/outbound/${k.id}`, `Package #${k.id} was rejected; it will never be released.`);
  } });

  // ---------------------------------------------------------------- hours

  routes.add({ method: 'get', path: '/shop/hours', action: 'shop.work', handler: (req, res) => {
    const user = me(res);
    const ctx = pageContext(res);
    const projects = shop.projectsFor(user);
    const entries = shop.hours({ student: user.name }).slice(-100).reverse();
    const title = (id: number) => projects.find((p) => p.id === id)?.title ?? `project ${id}`;
    send(res, 'My hours', html`${notice(req)}
      ${projects.length ? html`<form class="inline" method="post" action="/shop/hours">${csrfField(ctx)}
        <label>Project <select name="project">${projects.map((p) => html`<option value="${p.id}">${p.title}</option>`)}</select></label>
        <label>Day <input name="day" type="date" required value="${today()}" max="${today()}"></label>
        <label>Hours <input name="hours" type="number" required min="0.25" max="${config.maxHoursPerDay}" step="0.25"></label>
        <label>Note <input name="note" maxlength="500"></label>
        <button type="submit">Log</button></form>
        <p class="muted">At most ${config.maxHoursPerDay} hours a day across all your projects, in quarter hours.</p>` : html`<p class="muted">You are on no shop project yet.</p>`}
      <table><thead><tr><th>Day</th><th>Project</th><th>Hours</th><th>Note</th></tr></thead><tbody>${entries.map((e) => html`<tr><td>${e.day}</td><td>${title(e.project)}</td><td>${e.hours}</td><td>${e.note}</td></tr>`)}</tbody></table>`);
  } });

  routes.add({ method: 'post', path: '/shop/hours', action: 'shop.work', handler: (req, res) => {
    const user = me(res);
    const { project: p } = shop.projectFor(user, Number(field(req, 'project')));
    const raw = field(req, 'hours').trim();
    const e = shop.logHours({ student: user.name, project: p.id, day: field(req, 'day').trim(), hours: raw === '' ? NaN : Number(raw), note: field(req, 'note') }, actorOf(req, res));
    back(res, '/shop/hours', `Logged ${e.hours} h on ${e.day}.`);
  } });

  function period(req: Request): { from?: string; to?: string } {
    const from = typeof req.query.from === 'string' && req.query.from ? req.query.from : undefined;
    const to = typeof req.query.to === 'string' && req.query.to ? req.query.to : undefined;
    return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
  }

  routes.add({ method: 'get', path: '/shop/reports', action: 'shop.reports', handler: (req, res) => {
    const f = period(req);
    const rows = shop.hoursByStudent(f);
    const q = new URLSearchParams(f as Record<string, string>).toString();
    const total = rows.reduce((n, r) => n + r.hours, 0);
    send(res, 'Hours reports', html`
      <form class="inline" method="get" action="/shop/reports"><label>From <input type="date" name="from" value="${f.from ?? ''}"></label> <label>To <input type="date" name="to" value="${f.to ?? ''}"></label> <button type="submit">Show</button></form>
      <p>CSV: <a href="/shop/reports/hours-by-student.csv${q ? `?${q}` : ''}">per student</a> · <a href="/shop/reports/hours-by-project.csv${q ? `?${q}` : ''}">per project</a></p>
      <table><thead><tr><th>Student</th><th>Project</th><th>Days</th><th>Hours</th></tr></thead><tbody>${rows.map((r) => html`<tr><td>${accounts.get(r.student)?.displayName || r.student} (${r.student})</td><td><a href="/shop/projects/${r.project}">${r.projectTitle}</a></td><td>${r.days}</td><td>${r.hours}</td></tr>`)}</tbody>
      <tfoot><tr><th colspan="3">Total</th><th>${total}</th></tr></tfoot></table>`);
  } });

  for (const by of ['student', 'project'] as const) {
    routes.add({ method: 'get', path: `/shop/reports/hours-by-${by}.csv`, action: 'shop.reports', handler: (req, res) => {
      const f = period(req);
      const csv = shop.hoursCsv(by, f); // validates the dates before they go into a header
      res.setHeader('Content-Disposition', `attachment; filename="hours-by-${by}${f.from ? `-from-${f.from}` : ''}${f.to ? `-to-${f.to}` : ''}.csv"`);
      res.type('text/csv; charset=utf-8').send(csv);
    } });
  }

  // ---------------------------------------------------------------- static

  routes.add({ method: 'get', path: '/shop/static/attach.js', action: 'public', handler: async (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('text/javascript; charset=utf-8').send(await readFile(path.join(STATIC_DIR, 'attach.js'), 'utf8'));
  } });
}
