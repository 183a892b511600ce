/**
 * The IDE's pages and APIs, declared in the route registry with their policy actions:
 * `workspace.use` (the owning student only) for everything in /ide/<owner>, `workspace.preview`
 * (the student and their instructors) for /preview. Files go through the sandbox's files API
 * (path confinement, size and quota limits, versions for conflict detection); terminals and Runs
 * through the hub.
 */
import type { Request } from 'express';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { OutpostError } from '../core/errors.ts';
import { authOf, html, routeParam, type RouteRegistry } from '../core/web.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import type { WorkspaceFiles } from '../sandbox/files.ts';
import type { AssetBuilder } from './assets.ts';
import type { Hub } from './hub.ts';
import type { ExercisePanel, FileBody } from './protocol.ts';

export interface IdeRouteDeps {
  config: Config;
  workspaces: Workspaces;
  hub: Hub;
  assets: AssetBuilder;
  /** The page's Content-Security-Policy (the app's, extended for Monaco and xterm; see server/app.ts). */
  contentSecurityPolicy: string;
  /** Extension point for the curriculum: a run command for this student's current exercise. */
  runCommandFor?: (owner: string, file: string | null, purpose: 'run' | 'tests') => Promise<string | undefined> | string | undefined;
  /** Extension point for the curriculum: the exercise panel's content (null: none yet). */
  exerciseFor?: (owner: string, file: string | null) => Promise<ExercisePanel | null> | ExercisePanel | null;
  /** Extension point for the curriculum: submits the exercise's folder; answers where its result will be. */
  submitExercise?: (owner: string, exercise: string) => Promise<{ id: number; url: string }>;
}

const param = routeParam;
const query = (req: Request, name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : '');

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.ttf': 'font/ttf', '.map': 'application/json',
};

/**
 * Reads a raw request body, keeping at most `limit` bytes. A declared Content-Length over the limit
 * is refused before reading; an undeclared one is drained (so the client gets the answer rather than
 * a reset connection) up to a hard stop, then the connection is cut.
 */
async function readBody(req: Request, limit: number, what: string): Promise<Buffer> {
  const tooLarge = () => new OutpostError('SANDBOX_FILE_TOO_LARGE', `${what} is larger than ${limit} bytes, the limit per file.`, { details: { limit } });
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit * 4 + 1024 * 1024) { req.destroy(); break; }
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw tooLarge();
  return Buffer.concat(chunks);
}

/** Text for the editor, or null when the bytes are not UTF-8 text. */
export function asText(content: Buffer): string | null {
  if (content.includes(0)) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return null;
  }
}

const QUICK_OPEN_SKIP = new Set(['node_modules', '.git', '__pycache__', '.venv', 'dist', 'build', 'coverage']);
const QUICK_OPEN_MAX = 5000;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The Run button's command: the exercise's, then the project's `outpost.json`, then by file type. */
export async function runCommand(files: WorkspaceFiles, file: string | null, fromExercise?: string): Promise<string> {
  if (fromExercise) return fromExercise;
  const project = await files.read('outpost.json').catch(() => undefined);
  if (project) {
    let run: unknown;
    try { run = (JSON.parse(project.content.toString('utf8')) as { run?: unknown }).run; } catch {
      throw new OutpostError('INPUT_INVALID', 'outpost.json is not valid JSON; fix it or delete it. It can say {"run": "npm start"}.');
    }
    if (typeof run === 'string' && run.trim()) return run;
  }
  if (file) {
    const q = shellQuote(file);
    const ext = path.posix.extname(file);
    if (ext === '.js' || ext === '.mjs' || ext === '.cjs') return `node ${q}`;
    if (ext === '.ts' || ext === '.mts') return `node ${q}`; // Node strips the types itself
    if (ext === '.py') return `python3 ${q}`;
    if (ext === '.sh') return `bash ${q}`;
  }
  const pkg = await files.read('package.json').catch(() => undefined);
  if (pkg) {
    try {
      if ((JSON.parse(pkg.content.toString('utf8')) as { scripts?: { start?: unknown } }).scripts?.start) return 'npm start';
    } catch { /* not JSON: fall through */ }
  }
  throw new OutpostError('INPUT_INVALID', 'Nothing to run: open a .js, .ts, .py or .sh file, add a "start" script to package.json, or say {"run": "…"} in outpost.json.');
}

function size(body: unknown): { cols: number; rows: number } {
  const { cols, rows } = (body ?? {}) as { cols?: unknown; rows?: unknown };
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 1000;
  return ok(cols) && ok(rows) ? { cols: cols as number, rows: rows as number } : { cols: 80, rows: 24 };
}

export function registerIdeRoutes(routes: RouteRegistry, deps: IdeRouteDeps): void {
  const { workspaces, hub, config } = deps;
  const owned = { action: 'workspace.use' as const, resource: (req: Request) => ({ owner: param(req, 'owner') }) };
  const files = (req: Request) => workspaces.files(param(req, 'owner'));

  routes.add({
    method: 'get', path: '/ide', action: 'page.home',
    handler: (_req, res) => {
      const user = authOf(res)!.user;
      if (user.role !== 'student') throw new OutpostError('NOT_FOUND', 'The IDE is for students: each student has a workspace of their own.');
      res.redirect(303, `/ide/${user.name}`);
    },
  });

  routes.add({
    method: 'get', path: '/ide/:owner', ...owned,
    handler: async (req, res) => {
      const owner = param(req, 'owner');
      const auth = authOf(res)!;
      const assets = await deps.assets.ready();
      const base = `/ide-assets/${assets.id}`;
      res.setHeader('Content-Security-Policy', deps.contentSecurityPolicy);
      res.type('html').send(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${owner} · Workspace · Outpost</title>
<link rel="stylesheet" href="${base}/ide.css">
<link rel="modulepreload" href="${base}/ide.js">
<script type="module" src="${base}/ide.js"></script>
</head>
<body class="ide">
<div id="ide" data-owner="${owner}" data-csrf="${auth.session.csrfToken}" data-assets="${base}">
  <div class="toolbar">
    <a href="/">Outpost</a><strong>${owner}</strong> workspace
    <span class="spacer"></span>
    <button id="run" class="primary" title="Run (F5)">▶ Run</button>
    <button id="stop" disabled title="Stop the running program">■ Stop</button>
    <label>Preview port <input id="preview-port" inputmode="numeric" placeholder="3000"></label>
    <button id="preview-open" title="Open your web server in a new tab">Open preview</button>
    <button id="md-toggle" hidden title="Markdown preview (Ctrl+Shift+V)">Preview Markdown</button>
  </div>
  <div id="main">
    <nav id="sidebar" aria-label="Files">
      <div id="tree-actions">
        <button id="new-file" title="New file">+ File</button><button id="new-folder" title="New folder">+ Folder</button>
        <button id="rename" title="Rename (F2 in the tree)">Rename</button><button id="delete" title="Delete (Delete in the tree)">Delete</button>
        <button id="upload">Upload</button><button id="download">Download</button><button id="refresh" title="Refresh">⟳</button>
        <input id="upload-input" type="file" multiple hidden>
      </div>
      <div id="tree" role="tree" aria-label="Workspace files"></div>
    </nav>
    <section id="center">
      <div id="tabs" role="tablist"></div>
      <div id="conflict" role="alert" hidden></div>
      <div id="editors">
        <div id="editor"></div><article id="markdown" hidden></article>
        <div id="welcome"><p>Open a file from the tree, or make one with <b>+ File</b>.</p>
          <p class="muted">Ctrl+P open a file · Ctrl+S save (it also saves by itself) · Alt+W close the tab · F5 run · Ctrl+\` terminal · Ctrl+Shift+V Markdown preview</p>
          <p class="muted">Ctrl+Shift+E file tree: arrows move, Enter opens, F2 renames, Delete deletes, Shift+F10 to + File / + Folder</p></div>
      </div>
      <div id="quick-open" hidden><input id="quick-open-input" placeholder="Type to find a file" autocomplete="off" spellcheck="false"><ul id="quick-open-list"></ul></div>
      <div id="panel-resize" title="Drag to resize"></div>
      <div id="panel-wrap">
        <div id="panel-tabs">
          <button data-panel="terminal" class="active">Terminal</button><button data-panel="run">Run</button><button data-panel="exercise">Exercise</button>
          <span class="spacer"></span><span id="terminal-state" class="muted"></span>
          <span id="terminal-controls"><select id="terminal-select" title="Terminals"></select><button id="terminal-new" title="New terminal (Ctrl+Shift+\`)">+</button><button id="terminal-close" title="Close this terminal">×</button></span>
        </div>
        <div id="panel">
          <div class="pane" id="pane-terminal"><div id="terminal"></div></div>
          <div class="pane" id="pane-run" hidden>
            <div class="runs"><ul id="runs"></ul></div>
            <div class="out"><header id="run-command">No run yet: press Run (F5).</header><div class="term-host"><div id="run-output"></div></div></div>
          </div>
          <div class="pane" id="pane-exercise" hidden></div>
        </div>
      </div>
    </section>
  </div>
  <div id="statusbar"><span id="status-message" role="status" aria-live="polite">Loading…</span></div>
</div>
</body>
</html>`.value);
    },
  });

  // Built assets: public like /static (no secrets in them), immutable under their build id.
  routes.add({
    method: 'get', path: '/ide-assets/:build/:file', action: 'public',
    handler: async (req, res) => {
      const assets = await deps.assets.ready();
      const file = param(req, 'file');
      if (param(req, 'build') !== assets.id || !/^[A-Za-z0-9._-]+$/.test(file) || assets.files[file] === undefined) {
        throw new OutpostError('NOT_FOUND', `No IDE asset ${file.slice(0, 80)} in this build.`);
      }
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.setHeader('Vary', 'Accept-Encoding');
      res.type(CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream');
      if (assets.files[`${file}.gz`] !== undefined && req.acceptsEncodings('gzip') === 'gzip') {
        res.setHeader('Content-Encoding', 'gzip');
        return res.send(await readFile(path.join(assets.dir, `${file}.gz`)));
      }
      res.send(await readFile(path.join(assets.dir, file)));
    },
  });

  // ------------------------------------------------------------ files

  routes.add({
    method: 'get', path: '/ide/:owner/api/tree', ...owned,
    handler: async (req, res) => { res.json({ entries: await (await files(req)).list(query(req, 'dir')) }); },
  });

  // Quick open (Ctrl+P): every file, breadth first, skipping dependency and VCS folders, bounded.
  routes.add({
    method: 'get', path: '/ide/:owner/api/find', ...owned,
    handler: async (req, res) => {
      const f = await files(req);
      const found: string[] = [];
      const queue = [''];
      let truncated = false;
      while (queue.length > 0) {
        const dir = queue.shift()!;
        for (const entry of await f.list(dir).catch(() => [])) {
          if (entry.type === 'directory') { if (!QUICK_OPEN_SKIP.has(entry.name)) queue.push(entry.path); }
          else if (entry.type === 'file' && !entry.name.startsWith('.outpost-tmp-')) found.push(entry.path);
          if (found.length >= QUICK_OPEN_MAX) { truncated = true; queue.length = 0; break; }
        }
      }
      res.json({ files: found, truncated });
    },
  });

  routes.add({
    method: 'get', path: '/ide/:owner/api/file', ...owned,
    handler: async (req, res) => {
      const file = await (await files(req)).read(query(req, 'path'));
      const body: FileBody = { path: file.path, version: file.version, text: asText(file.content), size: file.content.length };
      res.json(body);
    },
  });

  routes.add({
    method: 'post', path: '/ide/:owner/api/file', ...owned,
    handler: async (req, res) => {
      const target = query(req, 'path');
      const content = await readBody(req, config.sandbox.files.maxFileBytes, `"${target.slice(0, 100)}"`);
      // With `version` the save is refused if the file changed since the editor read it ('' = must not exist).
      const version = typeof req.query.version === 'string' ? req.query.version : undefined;
      const result = await (await files(req)).write(target, content, { createParents: true, ...(version !== undefined ? { expectedVersion: version } : {}) });
      res.json(result);
    },
  });

  routes.add({
    method: 'get', path: '/ide/:owner/api/download', ...owned,
    handler: async (req, res) => {
      const file = await (await files(req)).read(query(req, 'path'));
      const name = path.posix.basename(file.path).replace(/[^A-Za-z0-9._-]/g, '_');
      res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
      res.type('application/octet-stream').send(file.content);
    },
  });

  const body = (req: Request) => (req.body ?? {}) as Record<string, unknown>;
  routes.add({
    method: 'post', path: '/ide/:owner/api/mkdir', ...owned,
    handler: async (req, res) => { await (await files(req)).mkdir(body(req).path as string); res.json({ ok: true }); },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/rename', ...owned,
    handler: async (req, res) => { await (await files(req)).rename(body(req).from as string, body(req).to as string); res.json({ ok: true }); },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/delete', ...owned,
    handler: async (req, res) => { await (await files(req)).remove(body(req).path as string, { recursive: true }); res.json({ ok: true }); },
  });

  // ------------------------------------------------------------ terminals and runs

  routes.add({
    method: 'get', path: '/ide/:owner/api/terminals', ...owned,
    handler: (req, res) => { res.json({ terminals: hub.list(param(req, 'owner'), 'terminal') }); },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/terminals', ...owned,
    handler: async (req, res) => {
      const { cols, rows } = size(req.body);
      const started = await hub.start(param(req, 'owner'), { kind: 'terminal', argv: ['bash', '-l'], command: 'bash', cols, rows });
      res.status(201).json(started);
    },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/terminals/:id/close', ...owned,
    handler: (req, res) => { hub.end(param(req, 'owner'), 'terminal', param(req, 'id')); res.json({ ok: true }); },
  });
  routes.add({
    method: 'get', path: '/ide/:owner/api/runs', ...owned,
    handler: (req, res) => { res.json({ runs: hub.list(param(req, 'owner'), 'run') }); },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/runs', ...owned,
    handler: async (req, res) => {
      const owner = param(req, 'owner');
      const { cols, rows } = size(req.body);
      const file = typeof body(req).file === 'string' ? (body(req).file as string) : null;
      const purpose = body(req).purpose === 'tests' ? 'tests' : 'run';
      const fromExercise = await deps.runCommandFor?.(owner, file, purpose);
      if (purpose === 'tests' && !fromExercise) throw new OutpostError('INPUT_INVALID', 'This file is not part of an exercise, so there are no tests to run. Open a file in an exercise folder.');
      const command = await runCommand(await workspaces.files(owner), file, fromExercise);
      const started = await hub.start(owner, { kind: 'run', argv: ['bash', '-lc', command], command, cols, rows });
      res.status(201).json(started);
    },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/runs/:id/stop', ...owned,
    handler: (req, res) => { hub.stop(param(req, 'owner'), 'run', param(req, 'id')); res.json({ ok: true }); },
  });

  // ------------------------------------------------------------ exercise (filled by the curriculum)

  routes.add({
    method: 'get', path: '/ide/:owner/api/exercise', ...owned,
    handler: async (req, res) => { res.json({ exercise: (await deps.exerciseFor?.(param(req, 'owner'), query(req, 'path') || null)) ?? null }); },
  });
  routes.add({
    method: 'post', path: '/ide/:owner/api/exercise/submit', ...owned,
    handler: async (req, res) => {
      if (!deps.submitExercise) throw new OutpostError('EXERCISE_NOT_FOUND', 'No curriculum is attached to this server.');
      const exercise = body(req).exercise;
      if (typeof exercise !== 'string') throw new OutpostError('INPUT_INVALID', 'Say which exercise to submit.', { details: { field: 'exercise' } });
      res.status(201).json(await deps.submitExercise(param(req, 'owner'), exercise));
    },
  });
}

