/**
 * The browser IDE end to end: a real chromium (Debian's, driven by playwright-core) against a real
 * server, engine and workspace. A student signs in, creates a file, types code, saves, reloads and
 * sees it, runs it, uses the terminal (ls, node -v, resize, Ctrl-C, vim), gets the terminal back
 * after a reload, stops a runaway program, resolves a save conflict, previews Markdown, uses the
 * IDE's shortcuts from the terminal, keeps edits in conflict through a tab close and a reload, works
 * the file tree from the keyboard, and is refused another student's workspace. Screenshots of the main screens go to test-output/.
 */
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, testPassword, type TestServer } from './support.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './browser.ts';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-output');

describe('ide end to end in chromium', function () {
  this.timeout(180_000);
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const prompts: string[] = [];
  const cspViolations: string[] = [];

  before(async () => {
    await mkdir(OUT, { recursive: true });
    s = await startTestServer();
    await s.user('alice', 'student');
    await s.user('bob', 'student');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('dialog', (dialog) => void (dialog.type() === 'prompt' ? dialog.accept(prompts.shift() ?? '') : dialog.accept()));
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  });
  after(async () => { await browser?.close(); s?.close(); await s?.cleanup(); });

  const shot = (name: string) => page.screenshot({ path: path.join(OUT, `ide-${name}.png`) });
  /** The visible text of an xterm (DOM renderer), one line per row. */
  const termText = (selector: string) => page.$$eval(`${selector} .xterm-rows > div`, (rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ')).join('\n'));
  async function waitForTerm(selector: string, pattern: RegExp, timeout = 30_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!pattern.test(await termText(selector))) {
      if (Date.now() > deadline) throw new Error(`${selector}: no ${pattern} in:\n${await termText(selector)}`);
      await page.waitForTimeout(100);
    }
  }
  const editorValue = () => page.evaluate(() => window.outpostIde!.editor.getValue());
  async function typeInTerminal(line: string): Promise<void> {
    await page.click('#terminal');
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
  }

  it('signs in as a student and opens an editable editor with a live terminal', async () => {
    await page.goto(`${s.base}/login`);
    await page.fill('input[name=name]', 'alice');
    await page.fill('input[name=password]', testPassword('alice'));
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const response = await page.goto(`${s.base}/ide/alice`);
    expect(response?.status()).to.equal(200);
    await page.waitForSelector('body[data-editor-ready="1"]', { timeout: 60_000 });
    await waitForTerm('#terminal', /\$\s*$/m);
    expect(await page.isVisible('#welcome')).to.equal(true);
    await shot('welcome');
  });

  it('creates a file, types code, saves it, and sees it again after a reload', async () => {
    prompts.push('hello.js');
    await page.click('#new-file');
    await page.waitForSelector('.tab[data-path="hello.js"]');
    await page.click('#editor .view-lines');
    await page.keyboard.type('console.log("hello from " + "outpost", 6 * 7);');
    expect(await editorValue()).to.equal('console.log("hello from " + "outpost", 6 * 7);');
    await page.waitForSelector('.tab[data-path="hello.js"].dirty');
    await shot('editor-unsaved');
    await page.keyboard.press('Control+s');
    await page.waitForSelector('.tab[data-path="hello.js"]:not(.dirty)');
    const onDisk = await (await s.system.sandbox.workspaces.files('alice')).read('hello.js');
    expect(onDisk.content.toString()).to.equal('console.log("hello from " + "outpost", 6 * 7);');

    await page.reload();
    await page.waitForSelector('body[data-editor-ready="1"]');
    await page.click('#tree .entry[data-path="hello.js"]');
    await page.waitForSelector('.tab[data-path="hello.js"]');
    expect(await editorValue()).to.equal('console.log("hello from " + "outpost", 6 * 7);');
    await page.waitForFunction(() => document.querySelector('#editor .view-lines')?.textContent?.replace(/\u00a0/g, ' ').includes('hello from'));
  });

  it('runs the file and shows its output in the Run panel', async () => {
    await page.click('#run');
    await waitForTerm('#run-output', /hello from outpost 42/);
    await page.waitForSelector('body[data-run-state="finished"]');
    expect(await page.textContent('#run-command')).to.match(/node 'hello\.js' — exit code 0/);
    expect(await page.$$eval('#runs li', (items) => items.length)).to.equal(1);
    await shot('run');
  });

  it('uses the terminal: ls, node -v, resize, Ctrl-C and a full-screen program', async () => {
    await page.click('#panel-tabs [data-panel="terminal"]');
    await typeInTerminal('ls');
    await waitForTerm('#terminal', /^hello\.js/m);
    await typeInTerminal('node -v');
    await waitForTerm('#terminal', /^v\d+\.\d+\.\d+/m);

    await page.setViewportSize({ width: 1000, height: 640 });
    await page.waitForTimeout(300);
    const { cols, rows } = await page.evaluate(() => ({ cols: window.outpostIde!.terminal!.term.cols, rows: window.outpostIde!.terminal!.term.rows }));
    await typeInTerminal('clear; stty size');
    await waitForTerm('#terminal', new RegExp(`^${rows} ${cols}\\s*$`, 'm'));

    await typeInTerminal('sleep 300; echo "after-$((1+1))"');
    await page.waitForTimeout(300);
    await page.keyboard.press('Control+c');
    await typeInTerminal('echo "status-$?"');
    await waitForTerm('#terminal', /^status-130/m);
    expect(await termText('#terminal')).not.to.match(/^after-2/m);

    await typeInTerminal('vim -u NONE -N notes.md');
    await waitForTerm('#terminal', /^~\s*$/m);
    await page.keyboard.type('i# Notes');
    await page.keyboard.press('Escape');
    await waitForTerm('#terminal', /^# Notes/m);
    await shot('terminal-vim');
    await page.keyboard.type(':wq');
    await page.keyboard.press('Enter');
    await typeInTerminal('clear; echo "marker-$((40+2)) $$"');
    await waitForTerm('#terminal', /^marker-42 \d+/m);
    await shot('terminal');
  });

  it('stays responsive under an output flood, and Ctrl-C stops it', async () => {
    await typeInTerminal('yes "flood flood flood flood flood flood flood flood"');
    await page.waitForTimeout(2000);
    await page.keyboard.press('Control+c');
    const started = Date.now();
    await typeInTerminal('clear; echo "calm-$((2+3))"');
    await waitForTerm('#terminal', /^calm-5/m, 15_000);
    await typeInTerminal('echo "marker-$((40+2)) $$"');
    await waitForTerm('#terminal', /^marker-42 \d+/m);
    expect(Date.now() - started).to.be.below(15_000);
    // The editor still answers while the terminal was flooded.
    expect(await page.evaluate(() => typeof window.outpostIde!.editor.getValue())).to.equal('string');
  });

  it('gets the same terminal back after a reload', async () => {
    const before = /marker-42 (\d+)/.exec(await termText('#terminal'))![1];
    await page.reload();
    await page.waitForSelector('body[data-editor-ready="1"]');
    await waitForTerm('#terminal', /marker-42 \d+/); // replayed
    await typeInTerminal('echo "same-shell-$$"');
    await waitForTerm('#terminal', new RegExp(`same-shell-${before}`));
  });

  it('keeps several terminals, switches between them and closes one', async () => {
    const first = await page.evaluate(() => window.outpostIde!.terminal!.id);
    await page.click('#terminal-new');
    await page.waitForFunction((id) => window.outpostIde!.terminal!.id !== id && document.querySelectorAll('#terminal-select option').length === 2, first);
    await waitForTerm('#terminal', /\$\s*$/m);
    await typeInTerminal('echo "second-$((1+1))"');
    await waitForTerm('#terminal', /^second-2/m);
    await page.selectOption('#terminal-select', first!);
    await waitForTerm('#terminal', /marker-42/);
    await page.selectOption('#terminal-select', { index: 1 });
    await waitForTerm('#terminal', /^second-2/m);
    await page.click('#terminal-close');
    await page.waitForFunction((id) => window.outpostIde!.terminal!.id === id && document.querySelectorAll('#terminal-select option').length === 1, first);
    await waitForTerm('#terminal', /marker-42/);
    // The panel is resizable; the terminal re-fits to it.
    const rowsBefore = await page.evaluate(() => window.outpostIde!.terminal!.term.rows);
    const handle = (await page.$('#panel-resize'))!.boundingBox();
    const box = (await handle)!;
    await page.mouse.move(box.x + 50, box.y + 2);
    await page.mouse.down();
    await page.mouse.move(box.x + 50, box.y - 120, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((before) => window.outpostIde!.terminal!.term.rows > before, rowsBefore);
  });

  it('takes keystrokes after switching terminals while the previous replay was still being parsed', async () => {
    const first = await page.evaluate(() => window.outpostIde!.terminal!.id!);
    await page.click('#terminal-new');
    await page.waitForFunction((id) => window.outpostIde!.terminal!.id !== id, first);
    await typeInTerminal('echo "bee-$((1+1))"');
    await waitForTerm('#terminal', /^bee-2/m);
    const second = await page.evaluate(() => window.outpostIde!.terminal!.id!);
    // A slow parser, made deterministic: the first terminal's parse callbacks are held back until
    // the second one is attached and drawn, as when xterm is still chewing a 256 KiB replay.
    await page.evaluate((id) => {
      const term = window.outpostIde!.terminal!.term;
      const write = term.write.bind(term);
      const held: (() => void)[] = [];
      term.write = ((data: string | Uint8Array, done?: () => void) => write(data, done && (() => held.push(done)))) as typeof term.write;
      const hooks = window as unknown as { restoreWrite(): void; releaseHeld(): void };
      hooks.restoreWrite = () => { term.write = write; };
      hooks.releaseHeld = () => { for (const done of held) done(); };
      window.outpostIde!.switchTerminal(id);
    }, first);
    await waitForTerm('#terminal', /marker-42/);
    await page.evaluate((id) => { (window as unknown as { restoreWrite(): void }).restoreWrite(); window.outpostIde!.switchTerminal(id); }, second);
    await waitForTerm('#terminal', /^bee-2/m);
    await page.evaluate(() => (window as unknown as { releaseHeld(): void }).releaseHeld());
    await typeInTerminal('echo "after-switch-$((3+4))"');
    await waitForTerm('#terminal', /^after-switch-7/m, 5_000);
    await page.click('#terminal-close');
    await page.waitForFunction((id) => window.outpostIde!.terminal!.id === id, first);
  });

  it('stops a runaway program', async () => {
    await (await s.system.sandbox.workspaces.files('alice')).write('spin.js', 'console.log("spinning");\nfor (;;) {}\n');
    await page.click('#tree-actions #refresh');
    await page.click('#tree .entry[data-path="spin.js"]');
    await page.waitForSelector('.tab.active[data-path="spin.js"]');
    await page.click('#run');
    await waitForTerm('#run-output', /spinning/);
    expect(await page.isEnabled('#stop')).to.equal(true);
    const started = Date.now();
    await page.click('#stop');
    await page.waitForFunction(() => document.body.dataset.runState === 'finished' && /SIG|exit code/.test(document.querySelector('#run-command')?.textContent ?? ''), undefined, { timeout: 10_000 });
    expect(Date.now() - started).to.be.below(10_000);
    await shot('run-stopped');
  });

  it('keeps the change made in the terminal: a conflicting save asks instead of overwriting', async () => {
    await page.click('#tree .entry[data-path="hello.js"]');
    await page.waitForSelector('.tab.active[data-path="hello.js"]');
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\n// from the editor');
    // The terminal changes the file while the editor's change waits for autosave (800 ms).
    await s.system.sandbox.workspaces.exec('alice', { argv: ['sh', '-c', 'echo "// from the terminal" >> /workspace/hello.js'] });
    await page.waitForSelector('#conflict:not([hidden])', { timeout: 10_000 });
    await shot('conflict');
    const onDisk = (await (await s.system.sandbox.workspaces.files('alice')).read('hello.js')).content.toString();
    expect(onDisk).to.include('// from the terminal').and.not.include('// from the editor');
    await page.click('#conflict button:text("Load theirs")');
    await page.waitForFunction(() => window.outpostIde!.editor.getValue().includes('// from the terminal'));
    // An open file without local changes follows the disk by itself.
    await s.system.sandbox.workspaces.exec('alice', { argv: ['sh', '-c', 'echo "// again from the terminal" >> /workspace/hello.js'] });
    await page.waitForFunction(() => window.outpostIde!.editor.getValue().includes('// again from the terminal'), undefined, { timeout: 10_000 });
  });

  it('uploads, downloads, renames and deletes files from the tree', async () => {
    await page.click('#tree .entry[data-path="hello.js"]'); // new files go next to the selected one
    await page.setInputFiles('#upload-input', { name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n1,2\n') });
    await page.waitForSelector('#tree .entry[data-path="data.csv"]');
    await page.click('#tree .entry[data-path="data.csv"]');
    await page.waitForSelector('.tab.active[data-path="data.csv"]');
    const download = page.waitForEvent('download');
    await page.click('#download');
    const file = await download;
    expect(file.suggestedFilename()).to.equal('data.csv');
    const { readFile } = await import('node:fs/promises');
    expect(await readFile((await file.path())!, 'utf8')).to.equal('a,b\n1,2\n');
    // An unsaved change in the open file survives the rename: saved first, reopened under the new name.
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('3,4');
    prompts.push('table.csv');
    await page.click('#rename');
    await page.waitForSelector('#tree .entry[data-path="table.csv"]');
    await page.waitForSelector('.tab.active[data-path="table.csv"]');
    expect(await page.$('.tab[data-path="data.csv"]')).to.equal(null);
    expect((await (await s.system.sandbox.workspaces.files('alice')).read('table.csv')).content.toString()).to.equal('a,b\n1,2\n3,4');
    await page.click('#tree .entry[data-path="table.csv"]');
    await page.click('#delete');
    await page.waitForSelector('#tree .entry[data-path="table.csv"]', { state: 'detached' });
    expect(await (await s.system.sandbox.workspaces.files('alice')).list()).to.satisfy((entries: { name: string }[]) => !entries.some((e) => e.name === 'table.csv' || e.name === 'data.csv'));
  });

  it('works the file tree from the keyboard: arrows, Enter opens, F2 renames, Delete deletes', async () => {
    await (await s.system.sandbox.workspaces.files('alice')).write('kb/inner.txt', 'inside\n', { createParents: true });
    await page.click('#tree-actions #refresh');
    await page.waitForSelector('#tree .entry[data-path="kb"][role="treeitem"][aria-expanded="false"]');
    const focused = () => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.path);
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+Shift+E');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).to.equal('treeitem');
    expect(await page.$$eval('#tree .entry[tabindex="0"]', (rows) => rows.length)).to.equal(1);
    await page.keyboard.press('Home');
    for (let i = 0; i < 30 && (await focused()) !== 'kb'; i++) await page.keyboard.press('ArrowDown');
    expect(await focused()).to.equal('kb');
    await page.keyboard.press('ArrowRight'); // expands
    await page.waitForSelector('#tree .entry[data-path="kb"][aria-expanded="true"]');
    await page.keyboard.press('ArrowRight'); // into it
    expect(await focused()).to.equal('kb/inner.txt');
    expect(await page.getAttribute('#tree .entry[data-path="kb/inner.txt"]', 'aria-level')).to.equal('2');
    expect(await page.getAttribute('#tree .entry[data-path="kb/inner.txt"]', 'aria-selected')).to.equal('true');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.tab.active[data-path="kb/inner.txt"]');
    await page.keyboard.press('Control+Shift+E'); // back from the editor, on the open file
    expect(await focused()).to.equal('kb/inner.txt');
    prompts.push('kb/renamed.txt');
    await page.keyboard.press('F2');
    await page.waitForSelector('.tab.active[data-path="kb/renamed.txt"]');
    await page.waitForFunction(() => (document.activeElement as HTMLElement | null)?.dataset.path === 'kb/renamed.txt');
    expect((await (await s.system.sandbox.workspaces.files('alice')).read('kb/renamed.txt')).content.toString()).to.equal('inside\n');
    await page.keyboard.press('ArrowLeft'); // to the folder
    expect(await focused()).to.equal('kb');
    await page.keyboard.press('Delete'); // the confirmation is accepted
    await page.waitForSelector('#tree .entry[data-path="kb"]', { state: 'detached' });
    await page.waitForSelector('.tab[data-path="kb/renamed.txt"]', { state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).to.equal('treeitem');
  });

  it('has TypeScript intelligence: type errors and completions from the TS worker', async () => {
    await (await s.system.sandbox.workspaces.files('alice')).write('types.ts', 'const total: number = "forty-two";\nconst text = "abc";\n');
    await page.click('#tree-actions #refresh');
    await page.click('#tree .entry[data-path="types.ts"]');
    await page.waitForFunction(() => window.outpostIde!.markers().some((m) => m.path === 'types.ts' && /not assignable to type 'number'/.test(m.message)), undefined, { timeout: 30_000 });
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('text.toUpp');
    await page.keyboard.press('Control+Space');
    await page.waitForSelector('.suggest-widget.visible .monaco-list-row[aria-label*="toUpperCase"]', { timeout: 15_000 });
    await shot('typescript');
    await page.keyboard.press('Escape');
  });

  it('opens a file with Ctrl+P, as in VS Code', async () => {
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+p');
    await page.waitForSelector('#quick-open:not([hidden])');
    await page.keyboard.type('spn');
    await page.waitForSelector('#quick-open-list li.active[data-path="spin.js"]');
    await shot('quick-open');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.tab.active[data-path="spin.js"]');
    expect(await page.isHidden('#quick-open')).to.equal(true);
  });

  it('closes the active tab with Alt+W (Chrome keeps Ctrl+W for itself)', async () => {
    await page.waitForSelector('.tab.active[data-path="spin.js"]');
    await page.keyboard.press('Control+f');
    await page.waitForSelector('.find-widget.visible');
    await page.keyboard.press('Alt+w'); // in Find's input it stays "match whole word"
    await page.waitForSelector('.find-widget [aria-label^="Match Whole Word"][aria-checked="true"]');
    expect(await page.$('.tab[data-path="spin.js"]')).to.not.equal(null);
    await page.keyboard.press('Escape');
    // Back in the text: the key must not reach Find's input while it is still closing.
    await page.waitForSelector('.find-widget.visible', { state: 'detached' });
    await page.click('#editor .view-lines');
    await page.keyboard.press('Alt+w');
    await page.waitForSelector('.tab[data-path="spin.js"]', { state: 'detached', timeout: 10_000 }).catch(async (error: Error) => {
      throw new Error(`${error.message}\nstatus bar: ${await page.textContent('#status-message')}`);
    });
    expect(await page.getAttribute('.tab .close', 'title')).to.equal('Close (Alt+W)');
    expect(await page.textContent('#welcome')).to.include('Alt+W').and.not.include('Ctrl+W');
  });

  it('previews Markdown safely', async () => {
    await (await s.system.sandbox.workspaces.files('alice')).write('README.md', '# Title\n\nSome *text* <script>alert(1)</script>\n');
    await page.click('#tree-actions #refresh');
    await page.click('#tree .entry[data-path="README.md"]');
    await page.click('#md-toggle');
    await page.waitForSelector('#markdown h1');
    expect(await page.textContent('#markdown h1')).to.equal('Title');
    expect(await page.$$eval('#markdown script', (n) => n.length)).to.equal(0);
    await shot('markdown');
  });

  it("shows the student's web server in the preview, sandboxed", async () => {
    const files = await s.system.sandbox.workspaces.files('alice');
    await files.write('site/index.html', '<!doctype html><link rel="stylesheet" href="style.css"><h1 id="t">Hi from the workspace</h1><p id="js">no script</p><script src="app.js"></script>', { createParents: true });
    await files.write('site/style.css', 'h1 { color: rgb(255, 0, 0); }');
    await files.write('site/app.js', 'let c; try { c = JSON.stringify(document.cookie); } catch { c = "refused"; } document.getElementById("js").textContent = "script ran, origin " + origin + ", cookie " + c;');
    await files.write('outpost.json', '{"run": "cd site && python3 -m http.server 8000 --bind 127.0.0.1"}');
    await page.click('#run');
    await waitForTerm('#run-output', /Serving HTTP/);
    const popup = page.waitForEvent('popup');
    await page.fill('#preview-port', '8000');
    await page.click('#preview-open');
    const preview = await popup;
    await preview.waitForSelector('#t');
    await preview.waitForFunction(() => document.getElementById('js')?.textContent !== 'no script');
    expect(await preview.$eval('#t', (h) => getComputedStyle(h).color)).to.equal('rgb(255, 0, 0)');
    // The page's scripts run in an opaque origin: no access to Outpost's origin or its cookies.
    expect(await preview.textContent('#js')).to.equal('script ran, origin null, cookie refused');
    await preview.screenshot({ path: path.join(OUT, 'ide-preview.png') });
    await preview.close();
    await page.click('#stop');
    await page.waitForSelector('body[data-run-state="finished"]');
    await files.remove('outpost.json');
  });

  it('takes Ctrl+S, F5 and Ctrl+` in the terminal as the IDE does, and the shell does not freeze', async () => {
    const files = await s.system.sandbox.workspaces.files('alice');
    await files.write('keys.js', 'console.log(require("./keys-lib.js"));\n');
    await files.write('keys-lib.js', 'module.exports = "lib";\n');
    await page.click('#tree-actions #refresh');
    // A change in a background tab, not autosaved yet: Run must save it too.
    await page.click('#tree .entry[data-path="keys-lib.js"]');
    await page.waitForSelector('.tab.active[data-path="keys-lib.js"]');
    await page.evaluate(() => { const file = window.outpostIde!.active!; file.model.setValue('module.exports = "lib-" + 6 * 7;\n'); clearTimeout(file.timer); });
    await page.click('#tree .entry[data-path="keys.js"]');
    await page.waitForSelector('.tab.active[data-path="keys.js"]');
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('// saved from the terminal');
    await page.evaluate(() => clearTimeout(window.outpostIde!.active!.timer)); // only Ctrl+S can save it now
    await page.click('#panel-tabs [data-panel="terminal"]');
    await page.click('#terminal');
    await page.keyboard.press('Control+s');
    await page.waitForSelector('.tab[data-path="keys.js"]:not(.dirty)', { timeout: 5_000 });
    expect((await files.read('keys.js')).content.toString()).to.include('// saved from the terminal');
    // ^S never reached the pty (IXON would have stopped its output).
    await typeInTerminal('echo "not-frozen-$((2+2))"');
    await waitForTerm('#terminal', /^not-frozen-4/m, 5_000);
    await page.keyboard.press('F5');
    await waitForTerm('#run-output', /^lib-42/m, 10_000);
    await page.waitForSelector('body[data-run-state="finished"]');
    await page.click('#run-output');
    await page.keyboard.press('Control+Backquote');
    await page.waitForSelector('#pane-terminal:not([hidden])', { timeout: 5_000 });
  });

  it('queues a save behind the one in flight instead of conflicting with itself', async () => {
    await page.click('.tab[data-path="keys.js"]');
    await page.waitForSelector('.tab.active[data-path="keys.js"]');
    const conflict = await page.evaluate(async () => {
      const ide = window.outpostIde!;
      const file = ide.active!;
      file.model.setValue('// one\n');
      const first = ide.save(file);
      file.model.setValue('// two\n');
      await Promise.all([first, ide.save(file), ide.save(file), ide.save(file)]);
      return file.conflict;
    });
    expect(conflict).to.equal(false);
    expect(await page.$('.tab.conflict')).to.equal(null);
    expect((await (await s.system.sandbox.workspaces.files('alice')).read('keys.js')).content.toString()).to.equal('// two\n');
  });

  it('writes the draft after a pause in typing, and at once when the window loses focus', async () => {
    await page.click('.tab[data-path="keys.js"]');
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('// draft');
    const draft = () => page.evaluate(() => localStorage.getItem('outpost.draft.alice.keys.js'));
    expect(await draft()).to.equal(null); // not per keystroke
    await page.evaluate(() => window.dispatchEvent(new Event('blur')));
    expect(JSON.parse((await draft())!).text).to.equal(await editorValue());
    await page.waitForSelector('.tab[data-path="keys.js"]:not(.dirty)'); // autosaved: nothing left to keep
    expect(await draft()).to.equal(null);
  });

  it('polls an open file by its folder listing, downloading it only when it changed', async () => {
    const count = () => page.evaluate(async () => {
      const ide = window.outpostIde!;
      const read = ide.api.read;
      let reads = 0;
      ide.api.read = (path) => { reads++; return read(path); };
      try { await ide.checkDisk({ activeOnly: true }); } finally { ide.api.read = read; }
      return reads;
    });
    expect(await count()).to.equal(0);
    await (await s.system.sandbox.workspaces.files('alice')).write('keys.js', '// polled\n');
    expect(await count()).to.equal(1);
    expect(await editorValue()).to.equal('// polled\n');
  });

  it('never drops edits in conflict: the tab stays open, and after a reload they come back to choose', async () => {
    const files = await s.system.sandbox.workspaces.files('alice');
    await files.write('keep.js', '// v1\n');
    await page.click('#tree-actions #refresh');
    await page.click('#tree .entry[data-path="keep.js"]');
    await page.waitForSelector('.tab.active[data-path="keep.js"]');
    await page.click('#editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('// mine');
    await files.write('keep.js', '// theirs\n'); // before the autosave (800 ms)
    await page.waitForSelector('.tab.conflict[data-path="keep.js"]', { timeout: 10_000 });
    await page.click('.tab[data-path="keep.js"] .close');
    await page.waitForFunction(() => /keep\.js stays open/.test(document.querySelector('#status-message')?.textContent ?? ''), undefined, { timeout: 5_000 });
    expect(await page.$('.tab.active.conflict[data-path="keep.js"]')).to.not.equal(null);
    expect(await editorValue()).to.equal('// v1\n// mine');
    // Gone without choosing (a reload, a crash): the draft is offered again, in conflict.
    await page.reload(); // the beforeunload prompt is accepted
    await page.waitForSelector('body[data-editor-ready="1"]');
    await page.click('#tree .entry[data-path="keep.js"]');
    await page.waitForSelector('.tab.active.conflict.dirty[data-path="keep.js"]', { timeout: 5_000 });
    expect(await editorValue()).to.equal('// v1\n// mine');
    await page.click('#conflict button:text("Keep mine")');
    await page.waitForSelector('.tab[data-path="keep.js"]:not(.dirty):not(.conflict)');
    expect(await page.isHidden('#conflict')).to.equal(true);
    expect((await files.read('keep.js')).content.toString()).to.equal('// v1\n// mine');
    await page.click('.tab[data-path="keep.js"] .close');
    await page.waitForSelector('.tab[data-path="keep.js"]', { state: 'detached' });
    expect(await page.evaluate(() => localStorage.getItem('outpost.draft.alice.keep.js'))).to.equal(null);
  });

  it("refuses another student's workspace, and loaded without CSP violations", async () => {
    const refused = await page.goto(`${s.base}/ide/bob`);
    expect(refused?.status()).to.equal(403);
    // A WebSocket to Bob's terminal from Alice's page is refused at the handshake.
    await page.goto(`${s.base}/ide/alice`);
    const result = await page.evaluate(() => new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/ide/bob/attach?kind=terminal&id=t-AAAAAAAA`);
      ws.onopen = () => resolve('open');
      ws.onerror = () => resolve('refused');
    }));
    expect(result).to.equal('refused');
    expect(cspViolations).to.deep.equal([]);
  });
});
