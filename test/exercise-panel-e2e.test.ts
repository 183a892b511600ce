/**
 * The curriculum inside the IDE, in a real chromium: a student puts an exercise's starter in their
 * workspace from its page, opens it in the IDE, reads the instructions in the exercise panel, runs
 * the visible tests in the terminal, fixes the code, submits from the panel, and sees the grade.
 */
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, testPassword, type TestServer, writeTree } from './support.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './browser.ts';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-output');

describe('the exercise panel in the IDE (chromium)', function () {
  this.timeout(240_000);
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const termText = (selector: string) => page.$$eval(`${selector} .xterm-rows > div`, (rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ')).join('\n'));
  async function waitForTerm(selector: string, pattern: RegExp, timeout = 60_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!pattern.test(await termText(selector))) {
      if (Date.now() > deadline) throw new Error(`${selector}: no ${pattern} in:\n${await termText(selector)}`);
      await page.waitForTimeout(200);
    }
  }

  before(async () => {
    await mkdir(OUT, { recursive: true });
    s = await startTestServer({ curriculum: { graderConcurrency: 1 } });
    const course = await writeTree(path.join(s.root, 'course'), {
      'curriculum.yaml': 'id: panel\ntitle: Panel course\nversion: 1\ntracks: [js]\n',
      'js/track.yaml': 'id: js\ntitle: JavaScript\nmodules: [m1]\n',
      'js/m1/module.yaml': 'id: m1\ntitle: Functions\nitems:\n  - exercise: js-area\n',
      'js/m1/exercises/js-area/exercise.yaml': 'id: js-area\ntitle: Area of a room\nlanguage: javascript\nrun: [node, area.js]\ngrader:\n  adapter: mocha\n  timeLimitSeconds: 8\n',
      'js/m1/exercises/js-area/README.md': 'Write **area(width, length)** in `area.js`.\n',
      'js/m1/exercises/js-area/starter/area.js': 'export function area(width, length) {\n  return 0; // TODO: multiply\n}\n',
      'js/m1/exercises/js-area/starter/package.json': '{"type":"module","scripts":{"test":"mocha"}}\n',
      'js/m1/exercises/js-area/solution/area.js': 'export function area(width, length) {\n  return width * length;\n}\n',
      'js/m1/exercises/js-area/tests/visible/test/area.test.js': "import { expect } from 'chai';\nimport { area } from '../area.js';\ndescribe('area', () => {\n  it('multiplies width by length', () => expect(area(3, 4)).to.equal(12));\n});\n",
      'js/m1/exercises/js-area/tests/hidden/test/area-hidden.test.js': "import { expect } from 'chai';\nimport { area } from '../area.js';\ndescribe('area (more)', () => {\n  it('works for a long thin room', () => expect(area(1, 25)).to.equal(25));\n});\n",
    });
    await s.system.curriculum.catalog.import(course, { name: 'test' });
    await s.system.start();
    await s.user('ana', 'student');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => { await browser?.close(); s?.close(); await s?.cleanup(); });

  it('goes from the exercise page to a graded submission without leaving the IDE', async () => {
    await page.goto(`${s.base}/login`);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', testPassword('ana'));
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.goto(`${s.base}/learn/exercises/js-area`);
    await Promise.all([page.waitForNavigation(), page.click('text=Put the starter files in my workspace')]);
    expect(await page.textContent('.notice')).to.include('/workspace/js-area');

    await page.goto(`${s.base}/ide/ana`);
    await page.waitForSelector('body[data-editor-ready="1"]', { timeout: 60_000 });
    await page.evaluate(() => window.outpostIde!.open('js-area/area.js'));
    await page.waitForSelector('.tab.active[data-path="js-area/area.js"]');
    await page.click('#panel-tabs [data-panel="exercise"]');
    await page.waitForSelector('#pane-exercise h2');
    expect(await page.textContent('#pane-exercise h2')).to.equal('Area of a room');
    expect(await page.innerHTML('#pane-exercise .instructions')).to.include('<strong>area(width, length)</strong>');

    await page.click('#pane-exercise button:has-text("Run tests")');
    await waitForTerm('#run-output', /expected \+?0 to equal 12/);
    expect(await page.textContent('#run-command')).to.include("cd 'js-area' && mocha");

    await page.evaluate(() => window.outpostIde!.editor.setValue('export function area(width, length) {\n  return width * length;\n}\n'));
    await page.keyboard.press('Control+s');
    await page.waitForSelector('.tab[data-path="js-area/area.js"]:not(.dirty)');
    await page.click('#panel-tabs [data-panel="exercise"]');
    await page.click('#pane-exercise button:has-text("Submit")');
    await page.waitForFunction(() => /Attempt \d+ — 2\/2/.test(document.querySelector('#pane-exercise ol.attempts')?.textContent ?? ''), undefined, { timeout: 90_000 });
    await page.screenshot({ path: path.join(OUT, 'ide-exercise-panel.png') });
    const sub = s.system.curriculum.submissions.list({ student: 'ana', exercise: 'js-area' })[0]!;
    expect(sub.source).to.equal('ide');
    expect(s.system.curriculum.queue.latestRun(sub.id)).to.deep.include({ score: 2, maxScore: 2 });
  });
});
