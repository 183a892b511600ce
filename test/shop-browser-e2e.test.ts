/**
 * The shop end to end in a real chromium: a client files a request with an attachment; staff
 * accept it (a team repository from the skeleton); a team member pushes with the real git client
 * through the real git server and marks the milestone ready; the client opens the live preview,
 * comments and accepts; staff approve the outbound package; the client downloads a bundle that
 * `git clone`s to the same commit. Screenshots go to test-output/.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { silentLogger } from '../core/log.ts';
import { startGitServer } from '../fake-internet/git/server.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './browser.ts';
import { startTestServer, testPassword, type TestServer } from './support.ts';

const run = promisify(execFile);
const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-output');

async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', LANG: 'C' };
  return (await run('git', ['-c', 'safe.directory=*', '-c', 'user.name=Team Falcon', '-c', 'user.email=falcon@shop.invalid', ...args], { cwd, env })).stdout.trim();
}

describe('the shop end to end in chromium', function () {
  this.timeout(240_000);
  let s: TestServer;
  let browser: Browser;
  let gitServer: Awaited<ReturnType<typeof startGitServer>> | undefined;
  const contexts: BrowserContext[] = [];
  let commit = '';

  /** A signed-in page of its own (own cookies) for one person. */
  async function as(name: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${s.base}/login`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', testPassword(name));
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    return page;
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(OUT, `shop-${name}.png`), fullPage: true });

  before(async () => {
    await mkdir(OUT, { recursive: true });
    s = await startTestServer();
    await s.user('cleo', 'client');
    await s.user('stan', 'staff');
    await s.user('ines', 'instructor');
    await s.user('ana_q7', 'student');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await gitServer?.close();
    s?.close();
    await s?.cleanup();
  });

  it('goes from a request to a downloaded bundle that clones to the delivered commit', async () => {
    // The client files a request and attaches a file.
    const cleo = await as('cleo');
    await cleo.goto(`${s.base}/shop/requests/new`);
    await cleo.fill('input[name=title]', 'Bakery orders');
    await cleo.fill('textarea[name=description]', 'A page where customers order bread for pickup.');
    await cleo.fill('textarea[name=criteria]', 'An order shows up on the list.');
    await Promise.all([cleo.waitForNavigation(), cleo.click('button:has-text("Send the request")')]);
    const sketch = path.join(s.root, 'menu.md');
    await writeFile(sketch, '# Menu\n\n- rye\n- sourdough\n');
    await cleo.setInputFiles('form[data-attach] input[type=file]', sketch);
    await Promise.all([cleo.waitForNavigation(), cleo.click('form[data-attach] button[type=submit]')]);
    expect(await cleo.textContent('main')).to.include('menu.md');
    await shot(cleo, 'request');

    // Staff accept it: team, lead, a milestone; the team repository is made from the skeleton.
    const stan = await as('stan');
    await stan.goto(`${s.base}/shop/requests/1`);
    await stan.fill('textarea[name=scope]', 'An order page and a list of orders.');
    await stan.fill('input[name=team]', 'Falcon');
    await stan.fill('input[name=members]', 'ana_q7');
    await stan.selectOption('select[name=lead]', 'ines');
    await stan.fill('textarea[name=milestones]', '2026-12-01 First working page');
    await Promise.all([stan.waitForNavigation(), stan.click('button:has-text("Accept and create the team repository")')]);
    expect(stan.url()).to.match(/\/shop\/projects\/1(\?|$)/);

    // A team member pushes with the real git client through the real git server.
    const wrapper = path.join(s.root, 'git-as-service');
    await writeFile(wrapper, '#!/bin/sh\nexec git -c safe.directory=* "$@"\n', { mode: 0o755 });
    await mkdir(s.system.git.paths.pushLogDir, { recursive: true });
    gitServer = await startGitServer({ host: '127.0.0.1', port: 0, reposDir: s.system.git.paths.reposDir, accessFile: s.system.git.paths.accessFile, pushLog: path.join(s.system.git.paths.pushLogDir, 'git.jsonl'), maxPushBytes: 1024 * 1024, gitBinary: wrapper, log: silentLogger() });
    const token = (await s.system.git.issueToken('ana_q7', 'browser-e2e', { name: 'test' })).token;
    const work = path.join(s.root, 'work');
    await gitIn(s.root, 'clone', '--quiet', `http://ana_q7:${token}@127.0.0.1:${gitServer.port}/team-falcon/bakery-orders.git`, work);
    await writeFile(path.join(work, 'server.js'), "import express from 'express';\nconst app = express();\napp.get('/', (_req, res) => res.type('html').send('<h1>Bakery orders</h1><p>Rye: 3 left</p>'));\napp.listen(Number(process.env.PORT ?? 3000));\n");
    await gitIn(work, 'commit', '--quiet', '-am', 'Order page');
    await gitIn(work, 'push', '--quiet', 'origin', 'main');
    commit = await gitIn(work, 'rev-parse', 'HEAD');

    // …and marks the milestone ready with that commit.
    const ana = await as('ana_q7');
    await ana.goto(`${s.base}/shop/projects/1`);
    await ana.selectOption('select[name=branch]', commit);
    await Promise.all([ana.waitForNavigation(), ana.click('button:has-text("Mark ready")')]);
    expect(await ana.textContent('main')).to.include(commit.slice(0, 12));

    // The client opens the live preview of exactly that commit, comments, and accepts.
    await cleo.goto(`${s.base}/shop/projects/1`);
    expect(await cleo.textContent('main')).to.include('Team Falcon').and.not.include('ana_q7');
    await Promise.all([cleo.waitForNavigation(), cleo.click('a:has-text("Preview")')]);
    expect(cleo.url()).to.match(/\/shop\/p\/[A-Za-z0-9_-]{32}\/$/);
    expect(await cleo.textContent('h1')).to.equal('Bakery orders');
    await shot(cleo, 'preview');
    await cleo.goto(`${s.base}/shop/projects/1`);
    await cleo.fill('form[action="/shop/projects/1/messages"] textarea[name=body]', 'Looks right. Thank you!');
    await Promise.all([cleo.waitForNavigation(), cleo.click('form[action="/shop/projects/1/messages"] button[type=submit]')]);
    await Promise.all([cleo.waitForNavigation(), cleo.click('form[action="/shop/projects/1/milestones/1/accept"] button[type=submit]')]);
    expect(await cleo.textContent('main')).to.include('Looks right. Thank you!');

    // Nothing to download until staff approve.
    expect(await cleo.$('a[href="/shop/packages/1/download"]')).to.equal(null);
    await stan.goto(`${s.base}/shop/outbound/1`);
    await shot(stan, 'outbound-review');
    await Promise.all([stan.waitForNavigation(), stan.click('button:has-text("Approve: release to the client")')]);

    // The client downloads the bundle; it clones to the delivered commit.
    await cleo.goto(`${s.base}/shop/projects/1`);
    await shot(cleo, 'project-released');
    const [download] = await Promise.all([cleo.waitForEvent('download'), cleo.click('a[href="/shop/packages/1/download"]')]);
    const bundle = path.join(s.root, 'delivery.bundle');
    await download.saveAs(bundle);
    const clone = path.join(s.root, 'delivered');
    await gitIn(s.root, 'clone', '--quiet', bundle, clone);
    // One parentless commit of the delivered tree: the team's history never leaves.
    expect(await gitIn(clone, 'rev-parse', 'HEAD^{tree}')).to.equal(await gitIn(work, 'rev-parse', `${commit}^{tree}`));
    expect(await gitIn(clone, 'rev-list', '--count', 'HEAD')).to.equal('1');
  });
});
