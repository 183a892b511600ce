/**
 * The web view of git hosting: the repositories a person may read, each with its files at any
 * branch, tag or commit, its README, history and diffs. Every page is `repos.browse` (any
 * signed-in user) in the policy; which repository a person may see is hosting's answer
 * (`access`), and a repository they may not read is answered exactly like one that does not
 * exist (404), so names never leak.
 *
 * URLs: the ref is one path segment (`feature%2Flogin` for `feature/login`), so branch names with
 * slashes are never confused with the file path that follows.
 */
import type { Request, Response } from 'express';
import path from 'node:path';
import { OutpostError, isOutpostError } from '../../core/errors.ts';
import { html, page, pageContext, authOf, type RouteRegistry, type SafeHtml } from '../../core/web.ts';
import { routeParam } from '../../core/web.ts';
import { renderMarkdown } from '../../core/markdown.ts';
import type { GitHostingView, RepoRecord } from '../../fake-internet/git/hosting-types.ts';
import { GIT_OWNER, isRepoName } from '../../fake-internet/git/names.ts';
import {
  listBranches, listTags, headBranch, resolveRef, readTreeAt, readBlobAt, listCommits, diffCommit,
  type RefInfo, type ResolvedRef, type TreeItem, type DiffLimits, type FileDiff, type CommitInfo,
} from '../../fake-internet/git/repos.ts';

export interface GitRoutesLimits {
  /** Files larger than this are offered as a download instead of shown (default 512 KiB). */
  blobDisplayBytes?: number;
  /** READMEs are rendered up to this size (default 256 KiB). */
  readmeBytes?: number;
  commitsPerPage?: number;
  diff?: DiffLimits;
}

export interface GitRoutesDeps {
  hosting: GitHostingView;
  limits?: GitRoutesLimits;
}

type View = 'tree' | 'blob' | 'commits';

interface RepoContext {
  record: RepoRecord;
  gitdir: string;
  /** `/git/OWNER/REPO` */
  base: string;
}

const enc = encodeURIComponent;
const encPath = (p: string): string => p.split('/').map(enc).join('/');
const param = routeParam;
/** The `*path` wildcard arrives as decoded segments; a `%2F` inside one is caught by path validation. */
const wildcard = (req: Request): string => {
  const value = (req.params as Record<string, unknown>).path;
  return Array.isArray(value) ? value.map(String).join('/') : String(value ?? '');
};
const shortOid = (oid: string): string => oid.slice(0, 8);
const when = (seconds: number): string => `${new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
const README = /^readme(\.(md|markdown|mdown|txt))?$/i;
const isMarkdownName = (name: string): boolean => /\.(md|markdown|mdown)$/i.test(name);
/** Raster images may be shown by `<img>` (README pictures); every other file is plain bytes. */
const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp' };

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function registerGitRoutes(routes: RouteRegistry, deps: GitRoutesDeps): void {
  const { hosting } = deps;
  const limits = {
    blobDisplayBytes: deps.limits?.blobDisplayBytes ?? 512 * 1024,
    readmeBytes: deps.limits?.readmeBytes ?? 256 * 1024,
    commitsPerPage: deps.limits?.commitsPerPage ?? 30,
    diff: deps.limits?.diff ?? {},
  };

  const notFound = (owner: string, name: string) =>
    new OutpostError('GIT_REPO_NOT_FOUND', `There is no repository ${owner}/${name}, or you cannot see it.`);

  /** The one place a repository page decides access: anything short of `read` is "not found". */
  function openRepo(req: Request, res: Response): RepoContext {
    const owner = param(req, 'owner');
    const name = param(req, 'repo');
    if (!GIT_OWNER.test(owner) || !isRepoName(name)) throw notFound(owner.slice(0, 48), name.slice(0, 63));
    if (hosting.access(authOf(res)!.user, owner, name) === 'none') throw notFound(owner, name);
    const record = hosting.get(owner, name);
    if (!record) throw notFound(owner, name);
    return { record, gitdir: hosting.repoDir(owner, name), base: `/git/${enc(owner)}/${enc(name)}` };
  }

  const urlFor = (r: RepoContext, view: View | 'raw', ref: string, p = ''): string =>
    `${r.base}/${view}/${enc(ref)}${p ? `/${encPath(p)}` : ''}`;

  /** The name to keep in links: a branch or tag by name (links follow it), otherwise the commit id. */
  const refLabel = (ref: ResolvedRef): string => (ref.kind === 'commit' ? ref.oid : ref.name);

  function header(r: RepoContext, tab: 'code' | 'commits', ref?: string): SafeHtml {
    const { record } = r;
    return html`<p class="repo-path"><a href="/git/${enc(record.owner)}">${record.owner}</a> / <a href="${r.base}"><strong>${record.name}</strong></a></p>
      ${record.description ? html`<p class="muted">${record.description}</p>` : ''}
      <nav class="tabs" aria-label="Repository"><ul>
        <li><a href="${ref ? urlFor(r, 'tree', ref) : r.base}" ${tab === 'code' ? html`aria-current="page"` : ''}>Code</a></li>
        ${ref ? html`<li><a href="${urlFor(r, 'commits', ref)}" ${tab === 'commits' ? html`aria-current="page"` : ''}>Commits</a></li>` : ''}
      </ul></nav>`;
  }

  function breadcrumbs(r: RepoContext, ref: string, p: string): SafeHtml {
    const parts = p ? p.split('/') : [];
    return html`<p class="crumbs"><a href="${urlFor(r, 'tree', ref)}">${r.record.name}</a>${parts.map((part, i) => {
      const sub = parts.slice(0, i + 1).join('/');
      return i === parts.length - 1 ? html` / <strong>${part}</strong>` : html` / <a href="${urlFor(r, 'tree', ref, sub)}">${part}</a>`;
    })}</p>`;
  }

  /** A menu of branches and tags that keeps the current view and path; plain links, no script. */
  function refSwitcher(r: RepoContext, current: ResolvedRef, branches: RefInfo[], tags: RefInfo[], view: View, p: string): SafeHtml {
    const label = current.kind === 'commit' ? html`Commit <code>${shortOid(current.oid)}</code>` : html`${current.kind === 'branch' ? 'Branch' : 'Tag'}: <strong>${current.name}</strong>`;
    const item = (ref: RefInfo) => html`<li><a href="${urlFor(r, view, ref.name, p)}${view === 'commits' && p ? `?path=${enc(p)}` : ''}" ${ref.name === current.name && current.kind !== 'commit' ? html`aria-current="true"` : ''}>${ref.name}</a></li>`;
    return html`<details class="refs"><summary>${label}</summary><div class="menu">
      <p class="muted">Branches</p><ul>${branches.map(item)}</ul>
      ${tags.length ? html`<p class="muted">Tags</p><ul>${tags.map(item)}</ul>` : ''}
    </div></details>`;
  }

  function cloneBox(r: RepoContext): SafeHtml {
    const url = hosting.cloneUrl(r.record.owner, r.record.name);
    return html`<div class="clone"><label for="clone-url">Clone</label>
      <input id="clone-url" readonly value="${url}" size="${Math.min(60, url.length + 2)}">
      <button type="button" class="secondary" data-copy="clone-url" hidden>Copy</button></div>
      <script src="/static/git.js" defer></script>`;
  }

  function treeTable(r: RepoContext, ref: string, p: string, entries: TreeItem[]): SafeHtml {
    const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
    return html`<table class="files"><thead><tr><th>Name</th><th>Kind</th></tr></thead><tbody>
      ${p ? html`<tr><td><a href="${urlFor(r, 'tree', ref, parent)}">..</a></td><td></td></tr>` : ''}
      ${entries.map((e) => html`<tr><td class="${e.type}">${e.type === 'submodule' ? e.name
        : html`<a href="${urlFor(r, e.type === 'tree' ? 'tree' : 'blob', ref, e.path)}">${e.name}${e.type === 'tree' ? '/' : ''}</a>`}</td>
        <td class="muted">${e.type === 'tree' ? 'folder' : e.type === 'symlink' ? 'link' : e.type === 'submodule' ? 'submodule' : e.mode === '100755' ? 'executable' : 'file'}</td></tr>`)}
    </tbody></table>`;
  }

  async function readme(r: RepoContext, ref: string, dir: string, entries: TreeItem[]): Promise<SafeHtml> {
    const found = entries.filter((e) => e.type === 'blob' && README.test(e.name)).sort((a, b) => Number(isMarkdownName(b.name)) - Number(isMarkdownName(a.name)))[0];
    if (!found) return html``;
    const blob = await readBlobAt(r.gitdir, ref, found.path, { maxBytes: limits.readmeBytes });
    if (blob.binary) return html``;
    const text = blob.content.toString('utf8');
    const body = isMarkdownName(found.name)
      ? renderMarkdown(text, { links: { base: `${r.base}/blob/${enc(ref)}/`, dir }, images: { base: `${r.base}/raw/${enc(ref)}/`, dir } })
      : html`<pre>${text}</pre>`;
    return html`<section class="readme" aria-label="${found.name}"><h2>${found.name}</h2>${body}${blob.truncated ? html`<p class="muted">Cut at ${formatSize(limits.readmeBytes)}; <a href="${urlFor(r, 'blob', ref, found.path)}">open the whole file</a>.</p>` : ''}</section>`;
  }

  function emptyRepo(r: RepoContext): SafeHtml {
    const url = hosting.cloneUrl(r.record.owner, r.record.name);
    const branch = r.record.defaultBranch || 'main';
    return html`<div class="notice"><p><strong>This repository is empty.</strong> Push a first commit to it from your workspace:</p>
      <pre><code>git clone ${url}
cd ${r.record.name}
echo "# ${r.record.name}" &gt; README.md
git add README.md
git commit -m "First commit"
git push -u origin ${branch}</code></pre>
      <p>Or, from a folder that is already a git repository:</p>
      <pre><code>git remote add origin ${url}
git push -u origin ${branch}</code></pre></div>`;
  }

  async function refsOf(r: RepoContext): Promise<{ branches: RefInfo[]; tags: RefInfo[] }> {
    const [branches, tags] = await Promise.all([listBranches(r.gitdir), listTags(r.gitdir)]);
    return { branches, tags };
  }

  async function treePage(req: Request, res: Response, r: RepoContext, refName: string, p: string): Promise<void> {
    const ref = await resolveRef(r.gitdir, refName);
    const label = refLabel(ref);
    let tree;
    try {
      tree = await readTreeAt(r.gitdir, ref.oid, p);
    } catch (error) {
      if (isOutpostError(error, 'GIT_NOT_A_DIRECTORY')) return res.redirect(303, urlFor(r, 'blob', label, p));
      throw error;
    }
    const { branches, tags } = await refsOf(r);
    const home = req.path === r.base || req.path === `${r.base}/`;
    res.type('html').send(page(pageContext(res), `${r.record.owner}/${r.record.name}`, html`
      ${header(r, 'code', label)}
      ${home ? cloneBox(r) : ''}
      <div class="repo-bar">${refSwitcher(r, ref, branches, tags, 'tree', tree.path)}
        <span class="muted">${branches.length} ${branches.length === 1 ? 'branch' : 'branches'} · ${tags.length} ${tags.length === 1 ? 'tag' : 'tags'}</span></div>
      ${breadcrumbs(r, label, tree.path)}
      ${treeTable(r, label, tree.path, tree.entries)}
      ${await readme(r, label, tree.path, tree.entries)}`));
  }

  // ------------------------------------------------------------ lists

  function repoTable(list: RepoRecord[]): SafeHtml {
    if (!list.length) return html`<p class="muted">No repositories you can see here yet.</p>`;
    return html`<table><thead><tr><th>Repository</th><th>Description</th><th>Owner</th><th>Created</th></tr></thead><tbody>
      ${list.map((r) => html`<tr><td><a href="/git/${enc(r.owner)}/${enc(r.name)}">${r.owner}/${r.name}</a></td><td>${r.description}</td><td>${r.owner} <span class="muted">(${r.ownerKind})</span></td><td>${r.createdAt.slice(0, 10)}</td></tr>`)}
    </tbody></table>`;
  }

  const sorted = (list: RepoRecord[]) => [...list].sort((a, b) => (a.owner + '/' + a.name).localeCompare(b.owner + '/' + b.name));

  routes.add({ method: 'get', path: '/git', action: 'repos.browse', handler: (_req, res) => {
    const ctx = pageContext(res);
    res.type('html').send(page(ctx, 'Repositories', html`<p>Repositories you can read: your own, your cohort's and your team's.</p>${repoTable(sorted(hosting.visibleTo(ctx.user!)))}`));
  } });

  routes.add({ method: 'get', path: '/git/:owner', action: 'repos.browse', handler: (req, res) => {
    const ctx = pageContext(res);
    const owner = param(req, 'owner');
    // Any owner name gets the same page; one with nothing visible simply lists nothing.
    const list = GIT_OWNER.test(owner) ? sorted(hosting.visibleTo(ctx.user!, owner)) : [];
    res.type('html').send(page(ctx, `Repositories of ${owner.slice(0, 48)}`, html`<p><a href="/git">All repositories</a></p>${repoTable(list)}`));
  } });

  // ------------------------------------------------------------ one repository

  routes.add({ method: 'get', path: '/git/:owner/:repo', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    const branches = await listBranches(r.gitdir);
    if (!branches.length) {
      res.type('html').send(page(pageContext(res), `${r.record.owner}/${r.record.name}`, html`${header(r, 'code')}${cloneBox(r)}${emptyRepo(r)}`));
      return;
    }
    const head = await headBranch(r.gitdir);
    const names = new Set(branches.map((b) => b.name));
    const ref = names.has(r.record.defaultBranch) ? r.record.defaultBranch : head && names.has(head) ? head : branches[0]!.name;
    await treePage(req, res, r, ref, '');
  } });

  routes.add({ method: 'get', path: '/git/:owner/:repo/tree/:ref{/*path}', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    await treePage(req, res, r, param(req, 'ref'), wildcard(req));
  } });

  routes.add({ method: 'get', path: '/git/:owner/:repo/blob/:ref/*path', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    const ref = await resolveRef(r.gitdir, param(req, 'ref'));
    const label = refLabel(ref);
    let blob;
    try {
      blob = await readBlobAt(r.gitdir, ref.oid, wildcard(req), { maxBytes: limits.blobDisplayBytes });
    } catch (error) {
      if (isOutpostError(error, 'GIT_NOT_A_FILE')) return res.redirect(303, urlFor(r, 'tree', label, wildcard(req)));
      throw error;
    }
    const { branches, tags } = await refsOf(r);
    const name = blob.path.split('/').pop()!;
    const raw = urlFor(r, 'raw', label, blob.path);
    const plain = req.query.plain === '1';
    let body: SafeHtml;
    if (blob.type === 'symlink') body = html`<p>Symbolic link to <code>${blob.content.toString('utf8')}</code></p>`;
    else if (blob.binary) body = html`<p class="notice">Binary file, ${formatSize(blob.size)}. <a href="${raw}" download>Download ${name}</a></p>`;
    else if (blob.truncated) body = html`<p class="notice">This file is ${formatSize(blob.size)}, too large to show here. <a href="${raw}" download>Download ${name}</a></p>`;
    else if (isMarkdownName(name) && !plain) {
      const dir = blob.path.includes('/') ? blob.path.slice(0, blob.path.lastIndexOf('/')) : '';
      body = html`<p><a href="?plain=1">Source</a></p><div class="readme">${renderMarkdown(blob.content.toString('utf8'), { links: { base: `${r.base}/blob/${enc(label)}/`, dir }, images: { base: `${r.base}/raw/${enc(label)}/`, dir } })}</div>`;
    } else body = codeView(blob.content.toString('utf8'));
    res.type('html').send(page(pageContext(res), `${name} · ${r.record.owner}/${r.record.name}`, html`
      ${header(r, 'code', label)}
      <div class="repo-bar">${refSwitcher(r, ref, branches, tags, 'blob', blob.path)}</div>
      ${breadcrumbs(r, label, blob.path)}
      <p class="file-meta muted">${formatSize(blob.size)}${blob.executable ? ' · executable' : ''} ·
        <a href="${raw}">Raw</a> · <a href="${urlFor(r, 'commits', label)}?path=${enc(blob.path)}">History</a></p>
      ${body}`));
  } });

  routes.add({ method: 'get', path: '/git/:owner/:repo/raw/:ref/*path', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    const ref = await resolveRef(r.gitdir, param(req, 'ref'));
    const blob = await readBlobAt(r.gitdir, ref.oid, wildcard(req));
    const name = blob.path.split('/').pop()!;
    // Always an attachment of a fixed, harmless type: a student's .html or .svg must never run as
    // a page of Outpost. Raster images keep their type so a README can show them.
    res.attachment(name);
    res.type(IMAGE_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.send(blob.content);
  } });

  routes.add({ method: 'get', path: '/git/:owner/:repo/commits/:ref', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    const ref = await resolveRef(r.gitdir, param(req, 'ref'));
    const label = refLabel(ref);
    const pageNo = Math.min(Math.max(1, Math.floor(Number(req.query.page ?? 1)) || 1), 100_000);
    const filePath = typeof req.query.path === 'string' ? req.query.path : '';
    const per = limits.commitsPerPage;
    const { commits, hasMore } = await listCommits(r.gitdir, ref.oid, { limit: per, skip: (pageNo - 1) * per, ...(filePath ? { path: filePath } : {}) });
    const { branches, tags } = await refsOf(r);
    const pageUrl = (n: number) => `${urlFor(r, 'commits', label)}?${new URLSearchParams({ ...(filePath ? { path: filePath } : {}), page: String(n) }).toString()}`;
    res.type('html').send(page(pageContext(res), `Commits · ${r.record.owner}/${r.record.name}`, html`
      ${header(r, 'commits', label)}
      <div class="repo-bar">${refSwitcher(r, ref, branches, tags, 'commits', filePath)}</div>
      ${filePath ? html`<p>History of <a href="${urlFor(r, 'blob', label, filePath)}"><code>${filePath}</code></a></p>` : ''}
      ${commits.length ? commitTable(r, commits) : html`<p class="muted">No commits here.</p>`}
      <nav class="pager" aria-label="Pages">
        ${pageNo > 1 ? html`<a href="${pageUrl(pageNo - 1)}">Newer</a>` : ''}
        ${hasMore ? html`<a href="${pageUrl(pageNo + 1)}">Older</a>` : ''}
      </nav>`));
  } });

  function commitTable(r: RepoContext, commits: CommitInfo[]): SafeHtml {
    return html`<table class="commits"><thead><tr><th>Commit</th><th>Message</th><th>Author</th><th>Date</th></tr></thead><tbody>
      ${commits.map((c) => html`<tr><td><a href="${r.base}/commit/${c.oid}"><code>${shortOid(c.oid)}</code></a></td><td>${c.subject}</td><td>${c.author.name}</td><td>${when(c.author.timestamp)}</td></tr>`)}
    </tbody></table>`;
  }

  routes.add({ method: 'get', path: '/git/:owner/:repo/commit/:ref', action: 'repos.browse', handler: async (req, res) => {
    const r = openRepo(req, res);
    const ref = await resolveRef(r.gitdir, param(req, 'ref'));
    const diff = await diffCommit(r.gitdir, ref.oid, limits.diff);
    const c = diff.commit;
    const rest = c.message.slice(c.subject.length).trim();
    res.type('html').send(page(pageContext(res), `${c.subject.slice(0, 80) || shortOid(c.oid)} · ${r.record.owner}/${r.record.name}`, html`
      ${header(r, 'commits', c.oid)}
      <div class="commit-head">
        ${rest ? html`<pre class="message">${rest}</pre>` : ''}
        <p><strong>${c.author.name}</strong> &lt;${c.author.email}&gt; committed on ${when(c.committer.timestamp)}</p>
        <p class="muted">Commit <code>${c.oid}</code>${c.parents.map((p) => html` · parent <a href="${r.base}/commit/${p}"><code>${shortOid(p)}</code></a>`)}
          · <a href="${urlFor(r, 'tree', c.oid)}">Browse files</a></p>
      </div>
      <p>${diff.files.length} ${diff.files.length === 1 ? 'file' : 'files'} changed, <span class="add">+${diff.additions}</span> <span class="del">−${diff.deletions}</span></p>
      ${diff.truncated ? html`<p class="notice">This commit changes too many files to show them all; only the first ${diff.files.length} are listed.</p>` : ''}
      ${diff.files.map((f) => fileDiff(r, c.oid, f))}`));
  } });

  function fileDiff(r: RepoContext, oid: string, f: FileDiff): SafeHtml {
    const status = { added: 'added', deleted: 'deleted', modified: 'modified' }[f.status];
    const mode = f.oldMode && f.newMode && f.oldMode !== f.newMode ? html` <span class="muted">mode ${f.oldMode} → ${f.newMode}</span>` : '';
    const title = f.status === 'deleted' ? html`<code>${f.path}</code>` : html`<a href="${urlFor(r, 'blob', oid, f.path)}"><code>${f.path}</code></a>`;
    let body: SafeHtml;
    if (f.binary) body = html`<p class="muted">Binary file ${status}.</p>`;
    else if (f.tooLarge) body = html`<p class="muted">This diff is too large to show.</p>`;
    else if (!f.hunks.length) body = html`<p class="muted">${f.oldOid === f.newOid ? 'Only the file mode changed.' : 'No text changes to show.'}</p>`;
    else body = html`<table class="diff"><tbody>${f.hunks.map((h) => {
      let oldNo = h.oldStart;
      let newNo = h.newStart;
      return html`<tr class="hunk"><td colspan="3"><code>@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@</code></td></tr>
        ${h.lines.map((line) => {
          const kind = line[0];
          const text = line.slice(1);
          if (kind === '\\') return html`<tr class="note"><td></td><td></td><td><code>${line}</code></td></tr>`;
          const cls = kind === '+' ? 'add' : kind === '-' ? 'del' : 'ctx';
          const row = html`<tr class="${cls}"><td class="ln">${kind === '+' ? '' : oldNo}</td><td class="ln">${kind === '-' ? '' : newNo}</td><td><code>${kind}${text}</code></td></tr>`;
          if (kind !== '+') oldNo++;
          if (kind !== '-') newNo++;
          return row;
        })}`;
    })}</tbody></table>`;
    return html`<section class="file-diff"><h3><span class="status ${f.status}">${status}</span> ${title}${mode} <span class="add">+${f.additions}</span> <span class="del">−${f.deletions}</span></h3>${body}</section>`;
  }
}

/** Source with line numbers; each line has an anchor (`#L12`) to link to. */
function codeView(text: string): SafeHtml {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return html`<table class="code"><tbody>${lines.map((line, i) => html`<tr id="L${i + 1}"><td class="ln"><a href="#L${i + 1}">${i + 1}</a></td><td><code>${line}</code></td></tr>`)}</tbody></table>`;
}
