/**
 * The workspace page: file tree, Monaco with tabs, Markdown preview, terminal, Run, web preview and
 * the exercise panel. The editor is made usable first; xterm and markdown-it load afterwards, on demand.
 *
 * Never lose a keystroke: every change is autosaved (debounced) with the version it was read at, so
 * a file changed in the terminal meanwhile is refused (409) and the student chooses; until a save
 * succeeds the buffer is also kept in localStorage (at most DRAFT_MS behind the last keystroke, and
 * written at once when the page is left, hidden or loses focus) and restored after a crash or reload.
 * A tab whose changes are not on disk cannot be closed, and a draft is never dropped unread.
 */
import '@xterm/xterm/css/xterm.css';
import './ide.css';
import * as monaco from './monaco.ts';
import { createApi, ApiError, type Api } from './api.ts';
import type { ExitInfo, SessionSummary, TreeEntry } from '../protocol.ts';
import type { AttachedTerminal } from './terminal.ts';

declare global {
  interface Window {
    MonacoEnvironment?: { getWorker(moduleId: string, label: string): Worker };
    outpostIde?: Ide;
  }
}

const root = document.getElementById('ide')!;
const owner = root.dataset.owner!;
const csrf = root.dataset.csrf!;
const assets = root.dataset.assets!;
const api = createApi(owner, csrf);

// Monaco's language services run in workers served by Outpost (worker-src 'self').
window.MonacoEnvironment = {
  getWorker(_moduleId, label) {
    const name = label === 'typescript' || label === 'javascript' ? 'ts' : label === 'json' ? 'json' : label === 'css' || label === 'scss' || label === 'less' ? 'css' : label === 'html' || label === 'handlebars' || label === 'razor' ? 'html' : 'editor';
    return new Worker(`${assets}/${name}.worker.js`, { name: label });
  },
};

const $ = <T extends HTMLElement = HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {}, ...children: (Node | string)[]) => {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
};

function status(text: string, kind: 'info' | 'error' = 'info'): void {
  const node = $('#status-message');
  node.textContent = text;
  node.className = kind;
}

// ---------------------------------------------------------------- editor and tabs

interface OpenFile {
  path: string;
  model: monaco.editor.ITextModel;
  /** The version on disk this buffer is based on. */
  version: string;
  savedAlternativeId: number;
  saving: Promise<void> | undefined;
  conflict: boolean;
  timer: number | undefined;
  draftTimer: number | undefined;
  viewState: monaco.editor.ICodeEditorViewState | null;
}

const DRAFT_KEY = (path: string) => `outpost.draft.${owner}.${path}`;
const AUTOSAVE_MS = 800;
/**
 * Drafts are written this long after the last keystroke, not on every one: serializing a multi-MB
 * buffer into localStorage per key made typing lag. Only a crash inside this window loses keys from
 * the draft; a reload, closing the page or switching away flushes it first (flushDrafts).
 */
const DRAFT_MS = 300;

function writeDraft(file: OpenFile): void {
  try { localStorage.setItem(DRAFT_KEY(file.path), JSON.stringify({ version: file.version, text: file.model.getValue() })); } catch { /* storage full: the autosave still runs */ }
}

function readDraft(path: string): { version: string; text: string } | undefined {
  const raw = localStorage.getItem(DRAFT_KEY(path));
  try {
    const draft = raw === null ? undefined : (JSON.parse(raw) as { version?: unknown; text?: unknown });
    if (draft && typeof draft.version === 'string' && typeof draft.text === 'string') return { version: draft.version, text: draft.text };
  } catch { /* not ours: dropped below */ }
  if (raw !== null) localStorage.removeItem(DRAFT_KEY(path));
  return undefined;
}

class Ide {
  readonly editor: monaco.editor.IStandaloneCodeEditor;
  readonly files = new Map<string, OpenFile>();
  active: OpenFile | undefined;
  terminal: AttachedTerminal | undefined;
  runView: AttachedTerminal | undefined;
  currentRun: string | undefined;
  markdown: ((text: string) => string) | undefined;
  conflictShown: OpenFile | undefined;

  constructor(readonly api: Api) {
    monaco.typescriptDefaults.setCompilerOptions({ target: 99, module: 99, moduleResolution: 2, allowJs: true, checkJs: false, allowNonTsExtensions: true, strict: true, esModuleInterop: true });
    monaco.javascriptDefaults.setCompilerOptions({ target: 99, module: 99, allowJs: true, allowNonTsExtensions: true });
    this.editor = monaco.editor.create($('#editor'), {
      automaticLayout: true,
      theme: 'vs-dark',
      fontSize: 14,
      minimap: { enabled: false },
      tabSize: 2,
      model: null,
      'semanticHighlighting.enabled': true,
    });
    const { KeyMod, KeyCode } = monaco;
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyS, () => void this.save(this.active));
    // Alt+W, not Ctrl+W: Chrome keeps Ctrl+W for itself and would close the browser tab. In Find's
    // input Alt+W stays Monaco's "whole word" toggle.
    this.editor.addCommand(KeyMod.Alt | KeyCode.KeyW, () => this.closeActive(), '!findInputFocussed');
    this.editor.addCommand(KeyCode.F5, () => void this.run());
    this.editor.addCommand(KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyV, () => this.toggleMarkdown());
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.Backquote, () => void this.showPanel('terminal'));
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyP, () => void this.quickOpen());
    this.editor.onDidChangeModelContent(() => this.changed());
    window.addEventListener('keydown', (e) => {
      const action = this.shortcut(e, 'page');
      if (action) { e.preventDefault(); action(); }
    });
    window.addEventListener('beforeunload', (e) => {
      this.flushDrafts();
      if ([...this.files.values()].some((f) => this.dirty(f) || f.conflict)) e.preventDefault();
    });
    // A page that is hidden or left may be discarded or crash without another event.
    window.addEventListener('pagehide', () => this.flushDrafts());
    window.addEventListener('blur', () => this.flushDrafts());
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') this.flushDrafts(); });
    window.addEventListener('focus', () => void this.checkDisk());
  }

  /**
   * The shortcuts that also work outside the editor (tree, terminal), as in VS Code. In a terminal
   * Ctrl+P stays the shell's (previous command).
   */
  shortcut(e: KeyboardEvent, where: 'page' | 'terminal'): (() => void) | undefined {
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === 's') return () => void this.save(this.active);
    if (mod && e.shiftKey && (e.key === '~' || e.key === '`')) return () => void this.showPanel('terminal').then(() => this.terminal && this.newTerminal(this.terminal));
    if (mod && e.key === '`') return () => void this.showPanel('terminal');
    if (mod && e.key === 'p' && !e.shiftKey && where === 'page') return () => void this.quickOpen();
    if (mod && e.shiftKey && e.code === 'KeyE') return () => tree.focus();
    // By code, not key: on a Mac Option+W types "∑". Not in a terminal, where Alt+W is the shell's Meta-w.
    if (e.altKey && !mod && !e.shiftKey && e.code === 'KeyW' && where === 'page') return () => this.closeActive();
    if (e.key === 'F5') return () => void this.run();
    return undefined;
  }

  /** Problems the language services found in the open files (for the status bar and tests). */
  markers(): { path: string; message: string; line: number }[] {
    return monaco.editor.getModelMarkers({}).map((m) => ({ path: m.resource.path.replace(/^\/workspace\//, ''), message: m.message, line: m.startLineNumber }));
  }

  dirty(file: OpenFile): boolean {
    return file.model.getAlternativeVersionId() !== file.savedAlternativeId;
  }

  async open(path: string): Promise<void> {
    let file = this.files.get(path);
    if (!file) {
      let body;
      try {
        body = await this.api.read(path);
      } catch (error) {
        return status(`Cannot open ${path}: ${(error as Error).message}`, 'error');
      }
      if (body.text === null) {
        status(`${path} is not text; it is offered as a download.`);
        window.open(this.api.downloadUrl(path), '_blank');
        return;
      }
      if (this.files.has(path)) return this.open(path);
      const uri = monaco.Uri.parse(`file:///workspace/${path.split('/').map(encodeURIComponent).join('/')}`);
      const model = monaco.editor.getModel(uri) ?? monaco.editor.createModel(body.text, undefined, uri);
      file = { path, model, version: body.version, savedAlternativeId: model.getAlternativeVersionId(), saving: undefined, conflict: false, timer: undefined, draftTimer: undefined, viewState: null };
      // A draft from a crash, a reload or a tab closed in conflict is offered back, never dropped
      // unread. Based on the version on disk it is simply the unsaved changes. Based on an older one
      // the file changed since: it is restored in conflict, so the bar asks exactly as for a save
      // refused now (keep mine / load theirs), rather than silently picking either side.
      const draft = readDraft(path);
      if (draft && draft.text !== body.text) {
        model.setValue(draft.text);
        if (draft.version === body.version) status(`Restored unsaved changes to ${path}.`);
        else { file.conflict = true; status(`Restored unsaved changes to ${path}, but the file changed on disk since: choose which to keep.`, 'error'); }
      } else if (draft) localStorage.removeItem(DRAFT_KEY(path));
      this.files.set(path, file);
    }
    if (this.active) this.active.viewState = this.editor.saveViewState();
    this.active = file;
    this.editor.setModel(file.model);
    if (file.viewState) this.editor.restoreViewState(file.viewState);
    this.editor.focus();
    this.renderTabs();
    this.renderMarkdown();
    tree.select(path);
  }

  /**
   * Closing never loses work: changes are saved first, and a tab whose changes are not on disk
   * afterwards (a conflict, a failed save) stays open with the reason in the status bar. Refusing
   * rather than confirm("close anyway?"): the conflict bar already offers both real outcomes (keep
   * mine, load theirs), and a dialog would only add a third that throws the work away. `discard` is
   * for a file the student deleted on purpose.
   */
  async close(path: string, options: { discard?: boolean } = {}): Promise<boolean> {
    const file = this.files.get(path);
    if (!file) return true;
    if (!options.discard) {
      await this.save(file);
      if (this.files.get(path) !== file) return true; // closed meanwhile (a second click)
      if (file.conflict || this.dirty(file) || file.saving) {
        if (this.active !== file) await this.open(path);
        status(file.conflict
          ? `${path} stays open: it changed outside the editor and your changes are not saved. Choose "Keep mine" or "Load theirs" above first.`
          : `${path} stays open: your changes could not be saved yet. Press Ctrl+S to try again.`, 'error');
        return false;
      }
    }
    clearTimeout(file.timer);
    while (file.saving) await file.saving;
    if (this.files.get(path) !== file) return true;
    // A draft still pending is written (or dropped, nothing being unsaved) now: its timer dies with the tab.
    if (options.discard) this.dropDraft(file); else this.storeDraft(file);
    this.files.delete(path);
    if (this.active === file) {
      const next = [...this.files.values()].at(-1);
      this.active = undefined;
      if (next) await this.open(next.path); else this.editor.setModel(null);
    }
    file.model.dispose();
    this.renderTabs();
    this.renderMarkdown();
    return true;
  }

  changed(): void {
    const file = this.active;
    if (!file || this.editor.getModel() !== file.model) return;
    this.renderTabs();
    this.renderMarkdown();
    clearTimeout(file.timer);
    if (!file.conflict) file.timer = window.setTimeout(() => void this.save(file), AUTOSAVE_MS);
    clearTimeout(file.draftTimer);
    file.draftTimer = window.setTimeout(() => this.storeDraft(file), DRAFT_MS);
  }

  closeActive(): void {
    if (this.active) void this.close(this.active.path);
  }

  /**
   * Brings the stored draft in line with the buffer now, whatever is pending. An undo back to the
   * saved text leaves nothing to keep; a draft of it would only come back later.
   */
  storeDraft(file: OpenFile): void {
    clearTimeout(file.draftTimer);
    file.draftTimer = undefined;
    if (this.files.get(file.path) !== file) return; // closed: close() settled its draft
    if (this.dirty(file)) writeDraft(file); else localStorage.removeItem(DRAFT_KEY(file.path));
  }

  /** For a buffer that now equals the disk (reloaded, or deleted on purpose). */
  dropDraft(file: OpenFile): void {
    clearTimeout(file.draftTimer);
    file.draftTimer = undefined;
    localStorage.removeItem(DRAFT_KEY(file.path));
  }

  flushDrafts(): void {
    for (const file of this.files.values()) if (file.draftTimer !== undefined) this.storeDraft(file);
  }

  /** Saves with the version the buffer is based on; a conflict stops autosave for that file. */
  async save(file: OpenFile | undefined, options: { overwrite?: boolean } = {}): Promise<void> {
    if (!file) return;
    clearTimeout(file.timer);
    // One save at a time per file: a save started while another is in flight would send the version
    // from before that one and be refused as a conflict with itself. Every waiter looks again.
    while (file.saving) await file.saving;
    if (file.conflict && !options.overwrite) return status(`${file.path} is not saved: it changed outside the editor. Choose "Keep mine" or "Load theirs" above.`, 'error');
    if (!this.dirty(file) && !options.overwrite) return;
    const text = file.model.getValue();
    const savedId = file.model.getAlternativeVersionId();
    file.saving = (async () => {
      try {
        const result = await this.api.write(file.path, text, options.overwrite ? undefined : file.version);
        file.version = result.version;
        file.savedAlternativeId = savedId;
        file.conflict = false;
        // Typed into while saving: the draft must name the new version, or it would come back as a conflict.
        this.storeDraft(file);
        status(`Saved ${file.path}`);
        document.body.dataset.lastSaved = file.path;
      } catch (error) {
        if (error instanceof ApiError && error.code === 'SANDBOX_FILE_CONFLICT') {
          file.conflict = true;
          status(`${file.path} is not saved: it changed outside the editor.`, 'error');
        } else {
          status(`Not saved: ${(error as Error).message}`, 'error');
        }
      } finally {
        file.saving = undefined;
        this.renderTabs();
      }
    })();
    await file.saving;
  }

  /** The conflict bar speaks for the active file; another file in conflict shows it on its tab. */
  renderConflict(): void {
    const bar = $('#conflict');
    const file = this.active;
    if (!file?.conflict) { bar.hidden = true; this.conflictShown = undefined; return; }
    if (this.conflictShown === file) return;
    this.conflictShown = file;
    bar.replaceChildren(
      el('span', { textContent: `${file.path} was changed outside the editor (in the terminal?). Your changes are not saved yet.` }),
      el('button', { textContent: 'Keep mine (overwrite)', onclick: () => void this.save(file, { overwrite: true }) }),
      el('button', { textContent: 'Load theirs (discard mine)', onclick: () => void this.reload(file) }),
    );
    bar.hidden = false;
  }

  async reload(file: OpenFile): Promise<void> {
    let body;
    try {
      body = await this.api.read(file.path);
    } catch (error) {
      // Theirs is no file at all (deleted in the terminal): discarding mine leaves nothing to show.
      if (error instanceof ApiError && error.code === 'SANDBOX_FILE_NOT_FOUND') { await this.close(file.path, { discard: true }); return; }
      return status(`Cannot load ${file.path}: ${(error as Error).message}`, 'error');
    }
    if (body.text === null) return;
    file.model.setValue(body.text);
    file.version = body.version;
    file.savedAlternativeId = file.model.getAlternativeVersionId();
    file.conflict = false;
    this.dropDraft(file);
    this.renderTabs();
  }

  /**
   * On focus, and for the active file every 4 s: files changed on disk while unmodified here are
   * reloaded; modified ones will conflict on save. The 4 s poll downloads the file (up to 10 MB) only
   * when its folder's listing says it changed.
   */
  async checkDisk(options: { activeOnly?: boolean } = {}): Promise<void> {
    const files = options.activeOnly ? (this.active ? [this.active] : []) : [...this.files.values()];
    for (const file of files) {
      if (this.dirty(file) || file.saving) continue;
      if (options.activeOnly && !(await this.changedOnDisk(file))) continue;
      const body = await this.api.read(file.path).catch(() => undefined);
      if (body && body.version !== file.version && body.text !== null && !this.dirty(file) && !file.saving && this.files.get(file.path) === file) {
        file.model.setValue(body.text);
        file.version = body.version;
        file.savedAlternativeId = file.model.getAlternativeVersionId();
        this.dropDraft(file);
      }
    }
    this.renderTabs();
  }

  /**
   * Whether the version on disk moved, by the listing of the file's folder (a few hundred bytes)
   * rather than the file. The files API has no stat call; a version is `<mtime µs>-<size>-<inode>`
   * (versionOf in sandbox/files.ts) and a listing carries mtime and size. So this misses only a
   * replacement with the same mtime and size (a save then still conflicts, and the full check on
   * window focus reloads it); were the format to change, every answer would be "changed" and the
   * poll would download as it used to, never miss a change.
   */
  async changedOnDisk(file: OpenFile): Promise<boolean> {
    const entries = await this.api.tree(file.path.split('/').slice(0, -1).join('/')).catch(() => undefined);
    // Not listed (gone, or past the listing's entry limit): the read decides, as before.
    const entry = entries?.find((e) => e.path === file.path);
    return !entry || !file.version.startsWith(`${Math.floor(entry.mtimeMs * 1000)}-${entry.size}-`);
  }

  renderTabs(): void {
    const tabs = [...this.files.values()].map((file) => {
      const dirty = this.dirty(file);
      return el('div', { className: `tab${file === this.active ? ' active' : ''}${dirty ? ' dirty' : ''}${file.conflict ? ' conflict' : ''}`, title: file.path, dataset: { path: file.path }, onclick: () => void this.open(file.path) },
        el('span', { className: 'name', textContent: file.path.split('/').at(-1)! }),
        el('span', { className: 'marker', textContent: dirty ? '●' : '', title: dirty ? 'unsaved changes' : '' }),
        el('button', { className: 'close', textContent: '×', title: 'Close (Alt+W)', onclick: (e: MouseEvent) => { e.stopPropagation(); void this.close(file.path); } }),
      );
    });
    $('#tabs').replaceChildren(...tabs);
    this.renderConflict();
    const active = this.active;
    $('#md-toggle').hidden = !active?.path.endsWith('.md');
    $('#welcome').hidden = active !== undefined;
  }

  /** Ctrl+P: find a file by typing parts of its path, as in VS Code. */
  async quickOpen(): Promise<void> {
    const box = $('#quick-open');
    const input = $<HTMLInputElement>('#quick-open-input');
    const list = $('#quick-open-list');
    const { files } = await this.api.find().catch(() => ({ files: [] as string[] }));
    let shown: string[] = [];
    let index = 0;
    // Fuzzy in VS Code's spirit: the typed characters appear in order; shorter paths first.
    const matches = (query: string) => {
      const q = query.toLowerCase().replace(/\s+/g, '');
      return files.filter((f) => { let i = 0; for (const c of f.toLowerCase()) if (c === q[i]) i++; return i === q.length; })
        .sort((a, b) => a.length - b.length).slice(0, 50);
    };
    const render = () => {
      shown = matches(input.value);
      index = Math.min(index, Math.max(0, shown.length - 1));
      list.replaceChildren(...shown.map((f, i) => el('li', { className: i === index ? 'active' : '', textContent: f, dataset: { path: f }, onmousedown: (e: MouseEvent) => { e.preventDefault(); choose(f); } })));
    };
    const close = () => { box.hidden = true; input.oninput = null; input.onkeydown = null; input.onblur = null; this.editor.focus(); };
    const choose = (f: string | undefined) => { close(); if (f) void this.open(f); };
    input.value = '';
    box.hidden = false;
    input.focus();
    render();
    input.oninput = () => { index = 0; render(); };
    input.onblur = close;
    input.onkeydown = (e) => {
      if (e.key === 'Escape') { e.preventDefault(); close(); }
      else if (e.key === 'Enter') { e.preventDefault(); choose(shown[index]); }
      else if (e.key === 'ArrowDown') { e.preventDefault(); index = Math.min(shown.length - 1, index + 1); render(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); index = Math.max(0, index - 1); render(); }
    };
  }

  // ------------------------------------------------------------ markdown

  toggleMarkdown(): void {
    const pane = $('#markdown');
    pane.hidden = !pane.hidden;
    this.renderMarkdown();
  }

  renderMarkdown(): void {
    const pane = $('#markdown');
    const file = this.active;
    if (pane.hidden || !file?.path.endsWith('.md')) { if (!file?.path.endsWith('.md')) pane.hidden = true; return; }
    if (!this.markdown) {
      void import('./markdown.ts').then((m) => { this.markdown = m.render; this.renderMarkdown(); });
      return;
    }
    // markdown-it with html disabled: the output holds no markup the student wrote, only what it generates.
    pane.innerHTML = this.markdown(file.model.getValue());
  }

  // ------------------------------------------------------------ panels

  async showPanel(name: 'terminal' | 'run' | 'exercise'): Promise<void> {
    for (const tab of document.querySelectorAll<HTMLElement>('#panel-tabs [data-panel]')) tab.classList.toggle('active', tab.dataset.panel === name);
    for (const pane of document.querySelectorAll<HTMLElement>('#panel > .pane')) pane.hidden = pane.id !== `pane-${name}`;
    $('#terminal-controls').hidden = name !== 'terminal';
    if (name === 'terminal') await this.openTerminal();
    if (name === 'run') await this.ensureRunView();
    if (name === 'exercise') await this.loadExercise();
  }

  async openTerminal(): Promise<void> {
    if (this.terminal) { this.terminal.fit.fit(); this.terminal.focus(); return; }
    const { AttachedTerminal } = await import('./terminal.ts');
    const term = new AttachedTerminal($('#terminal'), {
      owner, kind: 'terminal', input: true,
      shortcut: (e) => this.shortcut(e, 'terminal'),
      onState: (s) => { $('#terminal-state').textContent = s === 'open' ? '' : s; document.body.dataset.terminal = s; },
      onGone: () => void this.terminalGone(term),
      onExit: () => { localStorage.removeItem(`outpost.terminal.${owner}`); },
    });
    this.terminal = term;
    const remembered = localStorage.getItem(`outpost.terminal.${owner}`);
    const live = await this.api.terminals();
    const existing = live.find((t) => t.id === remembered && !t.exit) ?? live.find((t) => !t.exit);
    if (existing) term.attach(existing.id); else await this.newTerminal(term);
    await this.renderTerminals();
    term.focus();
  }

  async terminalGone(term: AttachedTerminal): Promise<void> {
    const next = (await this.api.terminals().catch(() => [] as SessionSummary[])).find((t) => !t.exit && t.id !== term.id);
    if (next) this.switchTerminal(next.id); else await this.newTerminal(term);
    await this.renderTerminals();
  }

  async newTerminal(term: AttachedTerminal): Promise<void> {
    try {
      const { id } = await this.api.newTerminal(term.term.cols, term.term.rows);
      this.switchTerminal(id);
    } catch (error) {
      status(`No new terminal: ${(error as Error).message}`, 'error');
    }
    await this.renderTerminals();
  }

  switchTerminal(id: string): void {
    localStorage.setItem(`outpost.terminal.${owner}`, id);
    this.terminal?.attach(id);
    this.terminal?.focus();
  }

  /** The terminal picker: several shells at once, like VS Code's terminal list. */
  async renderTerminals(): Promise<void> {
    const live = (await this.api.terminals().catch(() => [] as SessionSummary[])).filter((t) => !t.exit).reverse();
    const select = $<HTMLSelectElement>('#terminal-select');
    select.replaceChildren(...live.map((t, i) => el('option', { value: t.id, textContent: `${i + 1}: ${t.command}`, selected: t.id === this.terminal?.id })));
    select.onchange = () => this.switchTerminal(select.value);
  }

  async closeTerminal(): Promise<void> {
    const id = this.terminal?.id;
    if (!id) return;
    await this.api.closeTerminal(id).catch(() => undefined);
    // The socket closes as "gone" and onGone picks the next live terminal or starts one.
  }

  async ensureRunView(): Promise<AttachedTerminal> {
    if (this.runView) { this.runView.fit.fit(); return this.runView; }
    const { AttachedTerminal } = await import('./terminal.ts');
    this.runView = new AttachedTerminal($('#run-output'), {
      owner, kind: 'run', input: true,
      shortcut: (e) => this.shortcut(e, 'terminal'),
      onExit: (exit) => this.runFinished(exit),
      onState: (s) => { document.body.dataset.run = s; },
    });
    await this.renderRuns();
    return this.runView;
  }

  /**
   * Saves every open file with changes (a program or its tests read the others too); returns those
   * whose changes are still not on disk.
   */
  async saveAll(): Promise<OpenFile[]> {
    const files = [...this.files.values()];
    await Promise.all(files.filter((f) => this.dirty(f) && !f.conflict).map((f) => this.save(f)));
    return files.filter((f) => this.files.get(f.path) === f && (f.conflict || this.dirty(f)));
  }

  async run(purpose: 'run' | 'tests' = 'run'): Promise<void> {
    // A file in conflict does not stop a run (trying things is harmless); the student is told.
    const unsaved = await this.saveAll();
    await this.showPanel('run');
    const view = await this.ensureRunView();
    try {
      const { id, command } = await this.api.run(this.active?.path ?? null, view.term.cols, view.term.rows, purpose);
      this.currentRun = id;
      $('#run-command').textContent = command;
      ($('#stop') as HTMLButtonElement).disabled = false;
      document.body.dataset.runState = 'running';
      view.attach(id);
      view.focus();
      if (unsaved.length) status(`Ran what is on disk: ${unsaved.map((f) => f.path).join(', ')} not saved (see the tab in red).`, 'error');
      await this.renderRuns();
    } catch (error) {
      status(`Cannot run: ${(error as Error).message}`, 'error');
    }
  }

  runFinished(exit: ExitInfo): void {
    ($('#stop') as HTMLButtonElement).disabled = true;
    const how = exit.error ? exit.error : exit.timedOut ? 'stopped: time limit' : exit.oomKilled ? 'killed: out of memory' : exit.signal ? `ended by SIG${exit.signal}` : `exit code ${exit.exitCode}`;
    $('#run-command').textContent = `${$('#run-command').textContent?.split(' — ')[0]} — ${how} (${(exit.durationMs / 1000).toFixed(1)} s)`;
    document.body.dataset.runState = 'finished';
    void this.renderRuns();
  }

  async stop(): Promise<void> {
    if (this.currentRun) await this.api.stopRun(this.currentRun).catch((e: unknown) => status((e as Error).message, 'error'));
  }

  async renderRuns(): Promise<void> {
    const runs: SessionSummary[] = await this.api.runs().catch(() => []);
    $('#runs').replaceChildren(...runs.map((r) => el('li', { dataset: { id: r.id } },
      el('button', {
        textContent: `${new Date(r.startedAt).toLocaleTimeString()} ${r.command} ${r.exit ? (r.exit.signal ? `· SIG${r.exit.signal}` : `· exit ${r.exit.exitCode}`) : '· running'}`,
        onclick: () => { this.currentRun = r.id; $('#run-command').textContent = r.command; ($('#stop') as HTMLButtonElement).disabled = !!r.exit; this.runView?.attach(r.id); },
      }))));
  }

  async loadExercise(): Promise<void> {
    const pane = $('#pane-exercise');
    const { exercise } = await this.api.exercise(this.active?.path ?? null).catch(() => ({ exercise: null }));
    if (!exercise) {
      pane.replaceChildren(el('p', { className: 'muted', textContent: 'Open a file inside an exercise folder (/workspace/EXERCISE-ID) to see its instructions, run its tests and submit it. The course and its exercises are under Learn.' }));
      return;
    }
    // The server renders the instructions with raw HTML off and links checked (core/markdown.ts).
    const instructions = el('div', { className: 'instructions' });
    instructions.innerHTML = exercise.instructionsHtml;
    const runTests = el('button', { textContent: 'Run tests', title: 'Run the visible tests in the terminal below' });
    runTests.onclick = () => void this.run('tests');
    const submit = el('button', { textContent: 'Submit', className: 'primary', title: `Submit ${exercise.folder} for grading` });
    submit.onclick = async () => {
      submit.disabled = true;
      try {
        // A submission is graded from disk: refuse while any change is not there, rather than grade
        // something other than what the student sees.
        const unsaved = await this.saveAll();
        if (unsaved.length) {
          const conflict = unsaved.find((f) => f.conflict);
          return status(conflict
            ? `Not submitted: ${conflict.path} changed outside the editor and your changes are not saved. Open it and choose "Keep mine" or "Load theirs", then submit.`
            : `Not submitted: ${unsaved.map((f) => f.path).join(', ')} could not be saved. Press Ctrl+S and submit again.`, 'error');
        }
        await this.api.submitExercise(exercise.id);
        status(`Submitted ${exercise.folder}; the grader is on it.`);
        await this.loadExercise();
      } catch (error) {
        status(`Cannot submit: ${(error as Error).message}`, 'error');
      } finally {
        submit.disabled = false;
      }
    };
    const attempts = el('ol', { className: 'attempts', reversed: true },
      ...exercise.attempts.map((a) => el('li', { dataset: { status: a.status } },
        el('a', { href: a.url, target: '_blank', rel: 'noopener', textContent: `Attempt ${a.id}` }),
        ` — ${a.score === null ? 'grading…' : `${a.score}/${a.maxScore}${a.status === 'timeout' ? ' (time limit)' : ''}`}`)));
    pane.replaceChildren(
      el('h2', { textContent: exercise.title }),
      el('p', { className: 'muted', textContent: `${exercise.folder} · ${exercise.maxScore} points${exercise.attemptsAllowed ? ` · ${exercise.attemptsAllowed} attempts` : ''} · now: ${exercise.standing}` }),
      el('div', { className: 'actions' }, runTests, submit, el('a', { href: exercise.pageUrl, target: '_blank', rel: 'noopener', textContent: 'Exercise page' })),
      instructions,
      el('h3', { textContent: 'Your attempts' }),
      exercise.attempts.length ? attempts : el('p', { className: 'muted', textContent: 'None yet.' }),
    );
    // While an attempt is being graded, look again every two seconds (only while the panel shows).
    if (exercise.attempts.some((a) => a.score === null)) setTimeout(() => { if (!pane.hidden) void this.loadExercise(); }, 2000);
  }
}

// ---------------------------------------------------------------- file tree

interface Tree {
  refresh(dir?: string): Promise<void>;
  select(path: string): void;
  selected(): string;
  /** Puts the keyboard on the selected row (Ctrl+Shift+E). */
  focus(): void;
}

/**
 * The tree is a flat list of rows with aria-level, keyboard-driven as WAI-ARIA's tree pattern says:
 * one row is in the Tab order (the selected one, else the first), the arrows move between rows and
 * selection follows, so the buttons above (+ File, Rename, …) act on the row the keyboard is on.
 */
function createTree(ide: () => Ide): Tree {
  const container = $('#tree');
  const expanded = new Set<string>(['']);
  let selected = '';
  let selectedType: TreeEntry['type'] = 'directory';
  let lastSignature = '';
  const rows = () => [...container.querySelectorAll<HTMLElement>('.entry')];
  const rowOf = (path: string) => container.querySelector<HTMLElement>(`.entry[data-path="${CSS.escape(path)}"]`);

  function roving(): void {
    const all = rows();
    const current = all.find((r) => r.dataset.path === selected) ?? all[0];
    for (const row of all) {
      row.tabIndex = row === current ? 0 : -1;
      row.ariaSelected = String(row.dataset.path === selected);
    }
  }

  function toggle(path: string): void {
    if (expanded.has(path)) expanded.delete(path); else expanded.add(path);
    void tree.refresh();
  }

  async function renderDir(dir: string, depth: number): Promise<HTMLElement[]> {
    let entries: TreeEntry[];
    try {
      entries = await api.tree(dir);
    } catch (error) {
      return [el('div', { className: 'error', textContent: (error as Error).message })];
    }
    entries.sort((a, b) => (a.type === 'directory' ? 0 : 1) - (b.type === 'directory' ? 0 : 1) || a.name.localeCompare(b.name));
    const rows: HTMLElement[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith('.outpost-tmp-')) continue;
      const isDir = entry.type === 'directory';
      const row = el('div', {
        className: `entry ${entry.type}${entry.path === selected ? ' selected' : ''}`,
        title: entry.path,
        role: 'treeitem',
        ariaLevel: String(depth + 1),
        tabIndex: -1,
        dataset: { path: entry.path, type: entry.type },
        onclick: () => {
          selected = entry.path;
          selectedType = entry.type;
          if (isDir) toggle(entry.path);
          else if (entry.type === 'file') void ide().open(entry.path);
          else tree.select(entry.path);
        },
      }, ...(isDir ? [el('span', { ariaHidden: 'true', textContent: expanded.has(entry.path) ? '▾ ' : '▸ ' })] : []), entry.name);
      if (isDir) row.ariaExpanded = String(expanded.has(entry.path));
      row.style.paddingLeft = `${8 + depth * 14}px`;
      rows.push(row);
      if (isDir && expanded.has(entry.path)) rows.push(...(await renderDir(entry.path, depth + 1)));
    }
    return rows;
  }

  const tree: Tree = {
    async refresh() {
      const rows = await renderDir('', 0);
      // Re-rendering an unchanged tree would only lose the hover and flicker: compare first.
      const signature = rows.map((r) => `${r.className}|${r.textContent}|${r.dataset.path}`).join('\n');
      if (signature === lastSignature) return;
      lastSignature = signature;
      // The focused row is replaced too: the keyboard stays on the tree, on the selected row.
      const hadFocus = container.contains(document.activeElement);
      container.replaceChildren(...rows);
      // The rows were built from the selection before the listing's round trip; it may have moved since.
      tree.select(selected);
      if (hadFocus) tree.focus();
    },
    select(path) {
      selected = path;
      for (const row of rows()) row.classList.toggle('selected', row.dataset.path === path);
      const row = rowOf(path);
      if (row) selectedType = row.dataset.type as TreeEntry['type'];
      roving();
    },
    selected: () => selected,
    focus() {
      const row = container.querySelector<HTMLElement>('.entry[tabindex="0"]');
      if (row) row.focus(); else $('#new-file').focus(); // an empty workspace: make something
    },
  };

  const move = (row: HTMLElement | undefined) => { if (row) { tree.select(row.dataset.path!); row.focus(); } };
  container.addEventListener('keydown', (e) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>('.entry');
    if (!row || e.ctrlKey || e.metaKey || e.altKey) return;
    const all = rows();
    const i = all.indexOf(row);
    const path = row.dataset.path!;
    const isDir = row.dataset.type === 'directory';
    const parent = path.split('/').slice(0, -1).join('/');
    if (e.key === 'ArrowDown') move(all[i + 1]);
    else if (e.key === 'ArrowUp') move(all[i - 1]);
    else if (e.key === 'Home') move(all[0]);
    else if (e.key === 'End') move(all.at(-1));
    else if (e.key === 'ArrowRight') { if (isDir && !expanded.has(path)) toggle(path); else if (isDir && all[i + 1]?.dataset.path?.startsWith(path + '/')) move(all[i + 1]); }
    else if (e.key === 'ArrowLeft') { if (isDir && expanded.has(path)) toggle(path); else if (parent) move(rowOf(parent) ?? undefined); }
    else if (e.key === 'Enter') row.click();
    else if (e.key === 'F2') $('#rename').click();
    else if (e.key === 'Delete') $('#delete').click();
    // There is no context menu: the context-menu keys lead to the actions above, which act on this
    // row (+ File and + Folder make it inside this folder, or next to this file); Escape comes back.
    else if (e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) $('#new-file').focus();
    else return;
    e.preventDefault();
  });
  $('#tree-actions').addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); tree.focus(); } });

  /** New files go into the selected folder, or next to the selected file. */
  const baseDir = () => (selectedType === 'directory' ? selected : selected.split('/').slice(0, -1).join('/'));
  const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    // Reopened tabs take the keyboard to the editor; an action started in the tree (F2, Delete) ends there.
    const fromTree = container.contains(document.activeElement);
    try { await fn(); await tree.refresh(); } catch (error) { status(`${what}: ${(error as Error).message}`, 'error'); }
    if (fromTree) tree.focus();
  };

  $('#new-file').onclick = () => {
    const name = prompt('New file name (e.g. index.js or src/app.ts)');
    if (!name) return;
    const path = join(baseDir(), name);
    void act('New file', async () => {
      // Version '' means "must not exist": an existing file is opened, never emptied.
      await api.write(path, '', '').catch((error: unknown) => { if (!(error instanceof ApiError && error.code === 'SANDBOX_FILE_CONFLICT')) throw error; status(`${path} already exists; opened it.`); });
      await ide().open(path);
    });
  };
  $('#new-folder').onclick = () => {
    const name = prompt('New folder name');
    if (name) void act('New folder', () => api.mkdir(join(baseDir(), name)));
  };
  $('#rename').onclick = () => {
    if (!selected) return status('Select a file or folder first.', 'error');
    const to = prompt(`Rename ${selected} to`, selected);
    if (!to || to === selected) return;
    const from = selected;
    void act('Rename', async () => {
      const ideNow = ide();
      const affected = [...ideNow.files.values()].filter((f) => f.path === from || f.path.startsWith(from + '/'));
      // Save first, under the old name, so nothing typed is lost or written back to the old path later.
      for (const file of affected) await ideNow.save(file);
      if (affected.some((f) => ideNow.dirty(f))) throw new Error('save your changes first (see the message above)');
      await api.rename(from, to);
      const wasActive = ideNow.active && affected.includes(ideNow.active) ? ideNow.active.path : undefined;
      for (const file of affected) await ideNow.close(file.path);
      for (const file of affected) await ideNow.open(to + file.path.slice(from.length));
      if (wasActive) await ideNow.open(to + wasActive.slice(from.length));
      selected = to;
    });
  };
  $('#delete').onclick = () => {
    if (!selected) return status('Select a file or folder first.', 'error');
    if (!confirm(`Delete ${selected}${selectedType === 'directory' ? ' and everything in it' : ''}?`)) return;
    const target = selected;
    // The row above takes the selection (and the keyboard, from the tree), as in VS Code.
    const all = rows();
    const above = all[all.findIndex((r) => r.dataset.path === target) - 1];
    void act('Delete', async () => {
      await api.remove(target);
      const ideNow = ide();
      for (const path of [...ideNow.files.keys()]) if (path === target || path.startsWith(target + '/')) await ideNow.close(path, { discard: true });
      selected = above?.dataset.path ?? '';
      selectedType = (above?.dataset.type ?? 'directory') as TreeEntry['type'];
    });
  };
  $('#download').onclick = () => {
    if (!selected || selectedType !== 'file') return status('Select a file to download.', 'error');
    const a = el('a', { href: api.downloadUrl(selected), download: selected.split('/').at(-1)! });
    document.body.append(a);
    a.click();
    a.remove();
  };
  const upload = $<HTMLInputElement>('#upload-input');
  $('#upload').onclick = () => upload.click();
  upload.onchange = () => {
    const files = [...(upload.files ?? [])];
    upload.value = '';
    void act('Upload', async () => {
      for (const file of files) {
        const path = join(baseDir(), file.name);
        try {
          await api.write(path, file, '');
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 'SANDBOX_FILE_CONFLICT')) throw error;
          if (confirm(`${path} already exists. Replace it with the uploaded file?`)) await api.write(path, file);
        }
      }
      status(`Uploaded ${files.length} file(s).`);
    });
  };
  $('#refresh').onclick = () => void tree.refresh();
  return tree;
}

// ---------------------------------------------------------------- start

const ide = new Ide(api);
const tree = createTree(() => ide);
window.outpostIde = ide;
$('#run').onclick = () => void ide.run();
$('#stop').onclick = () => void ide.stop();
$('#md-toggle').onclick = () => ide.toggleMarkdown();
$('#terminal-new').onclick = () => { if (ide.terminal) void ide.newTerminal(ide.terminal); };
$('#terminal-close').onclick = () => void ide.closeTerminal();
// The panel's height follows the drag handle; the editor and terminal re-fit themselves.
{
  const handle = $('#panel-resize');
  const panel = $('#panel-wrap');
  handle.onpointerdown = (down) => {
    handle.setPointerCapture(down.pointerId);
    handle.classList.add('dragging');
    const startY = down.clientY;
    const startHeight = panel.getBoundingClientRect().height;
    handle.onpointermove = (move) => { panel.style.height = `${Math.max(60, Math.min(window.innerHeight - 150, startHeight + startY - move.clientY))}px`; };
    handle.onpointerup = () => { handle.onpointermove = null; handle.classList.remove('dragging'); };
  };
}
$('#preview-open').onclick = () => {
  const port = Number($<HTMLInputElement>('#preview-port').value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return status('Give the port your server listens on (e.g. 3000).', 'error');
  window.open(`/preview/${encodeURIComponent(owner)}/${port}/`, '_blank', 'noopener');
};
for (const tab of document.querySelectorAll<HTMLElement>('#panel-tabs [data-panel]')) tab.onclick = () => void ide.showPanel(tab.dataset.panel as 'terminal');

await tree.refresh();
const first = new URLSearchParams(location.search).get('open');
if (first) await ide.open(first);
document.body.dataset.editorReady = '1';
// Files change in the terminal too: keep the tree and unmodified open files current while visible.
window.setInterval(() => { if (document.visibilityState === 'visible') { void tree.refresh(); void ide.checkDisk({ activeOnly: true }); } }, 4000);
performance.mark('outpost-editor-ready');
status('Ready');
// After the editor is usable: bring up the terminal (xterm loads now, not before).
void ide.showPanel('terminal');
