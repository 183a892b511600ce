/**
 * IDE benchmark: prints JSON. Not a test: nothing here asserts a time.
 *
 *  editorReady: navigation → an editable editor (the client's `outpost-editor-ready` mark), in a
 *               fresh chromium context each time (no HTTP cache), localhost, bundle already built.
 *  jsBytes:     JavaScript fetched before the editor was usable (resource timing, uncompressed).
 *  echo:        keystroke → echo in a terminal: a key sent over the IDE's WebSocket until its echo
 *               comes back from bash's readline in the student's container, vs the same measured
 *               on a raw `docker exec -it <container> bash` driven through node-pty (the baseline).
 *  browserEcho: the same from inside the page: a key given to xterm.js as user input until xterm has
 *               parsed its echo (what a student sees, minus the screen's own refresh).
 *
 * Run with `npx tsx bench/ide.bench.ts` (images must be built: ./outpost images build).
 */
import pty from 'node-pty';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { startTestServer, testPassword } from '../test/support.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/browser.ts';

const NAV_RUNS = 7;
const ECHO_RUNS = 200;

/** In the page, as source text (tsx would otherwise add helpers the page does not have). */
const BROWSER_ECHO = `(async () => {
  const term = window.outpostIde.terminal.term;
  const lastLine = () => term.buffer.active.getLine(term.buffer.active.cursorY + term.buffer.active.baseY)?.translateToString(true) ?? '';
  const until = (pred) => new Promise((resolve) => { const d = term.onWriteParsed(() => { if (pred()) { d.dispose(); resolve(); } }); });
  const samples = [];
  for (let i = 0; i < ${ECHO_RUNS} + 10; i++) {
    const before = lastLine();
    const echoed = until(() => lastLine() === before + 'a');
    const start = performance.now();
    term.input('a', true);
    await echoed;
    if (i >= 10) samples.push(performance.now() - start);
    const erased = until(() => lastLine() === before);
    term.input('\\x7f', true);
    await erased;
  }
  return samples;
})()`;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const p90 = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length * 0.9)]!; };
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Types `a` then erases it, ECHO_RUNS times; each sample is the time from writing `a` to the first
 * output byte that contains it. `write` and `onData` abstract the transport.
 */
async function echoLatency(write: (s: string) => void, onData: (fn: (text: string) => void) => void): Promise<number[]> {
  let waiting: ((text: string) => void) | undefined;
  onData((text) => waiting?.(text));
  const until = (pred: (text: string) => boolean) => new Promise<void>((resolve) => {
    waiting = (text) => { if (pred(text)) { waiting = undefined; resolve(); } };
  });
  // Let the shell settle (prompt printed, readline ready).
  await sleep(1000);
  const samples: number[] = [];
  for (let i = 0; i < ECHO_RUNS + 10; i++) {
    const echoed = until((t) => t.includes('a'));
    const start = now();
    write('a');
    await echoed;
    if (i >= 10) samples.push(now() - start); // the first few warm up caches and the JIT
    const erased = until((t) => t.includes('\b'));
    write('\x7f');
    await erased;
  }
  return samples;
}

const s = await startTestServer();
try {
  await s.user('bench', 'student');
  const assets = await s.system.ide.assets.ready();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });

  // ---------------------------------------------------------------- navigation → editable editor
  const ready: number[] = [];
  let jsBytes = 0;
  let jsDecoded = 0;
  let browserEcho: number[] = [];
  let jsFiles: string[] = [];
  const client = await s.login('bench', testPassword('bench'));
  const cookie = client.cookies.get('outpost_session')!;
  for (let i = 0; i < NAV_RUNS; i++) {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'outpost_session', value: cookie, url: s.base }]);
    const page = await context.newPage();
    await page.goto(`${s.base}/ide/bench`, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-editor-ready="1"]', { timeout: 60_000 });
    const m = await page.evaluate(() => {
      const mark = performance.getEntriesByName('outpost-editor-ready')[0]!.startTime;
      const js = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).filter((r) => /\.js(\?|$)/.test(r.name) && r.responseEnd <= mark && !/worker/.test(r.name));
      return { mark, bytes: js.reduce((n, r) => n + r.encodedBodySize, 0), decoded: js.reduce((n, r) => n + r.decodedBodySize, 0), files: js.map((r) => new URL(r.name).pathname.split('/').pop()!) };
    });
    ready.push(m.mark);
    jsBytes = m.bytes;
    jsDecoded = m.decoded;
    jsFiles = m.files;
    if (i === NAV_RUNS - 1) {
      await page.waitForSelector('body[data-terminal="open"]', { timeout: 30_000 });
      await page.waitForTimeout(1000);
      browserEcho = await page.evaluate(BROWSER_ECHO) as number[];
    }
    await context.close();
  }

  // ---------------------------------------------------------------- keystroke → echo
  const created = await client.request('POST', '/ide/bench/api/terminals', { json: { cols: 80, rows: 24 }, headers: { 'x-csrf-token': client.csrf! } });
  const { id } = (await created.json()) as { id: string };
  const ws = new WebSocket(`${s.base.replace('http', 'ws')}/ide/bench/attach?kind=terminal&id=${id}&cols=80&rows=24`, { headers: { cookie: `outpost_session=${cookie}`, origin: s.base } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let acked = 0;
  const outpost = await echoLatency((text) => ws.send(Buffer.from(text)), (fn) => ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) return;
    acked += data.length;
    if (acked > 16_384) { ws.send(JSON.stringify({ t: 'ack', bytes: acked })); acked = 0; }
    fn(data.toString('latin1'));
  }));
  ws.close();

  const container = s.system.sandbox.workspaces.containerName('bench');
  const term = pty.spawn('docker', ['exec', '-it', '-w', '/workspace', '-e', 'TERM=xterm-256color', container, 'bash', '-l'], { name: 'xterm-256color', cols: 80, rows: 24 });
  const baseline = await echoLatency((text) => term.write(text), (fn) => term.onData(fn));
  term.kill();
  await browser.close();

  const total = Object.entries(assets.files).filter(([name]) => name.endsWith('.js'));
  console.log(JSON.stringify({
    editorReady: { p50Ms: round(median(ready)), p90Ms: round(p90(ready)), runs: NAV_RUNS, note: 'fresh browser context (cold HTTP cache) per run; localhost' },
    jsBeforeEditorUsable: {
      transferredKiB: round(jsBytes / 1024, 1), decodedKiB: round(jsDecoded / 1024, 1), files: jsFiles.length,
      bundleTotalJsKiB: round(total.reduce((n, [, b]) => n + b, 0) / 1024, 1), note: 'minified; transferred gzip; Monaco workers and xterm load after',
    },
    keystrokeEcho: {
      outpost: { p50Ms: round(median(outpost), 3), p90Ms: round(p90(outpost), 3), via: 'IDE WebSocket → agent → pty → bash readline' },
      baseline: { p50Ms: round(median(baseline), 3), p90Ms: round(p90(baseline), 3), via: 'node-pty → docker exec -it → bash readline' },
      browser: { p50Ms: round(median(browserEcho), 3), p90Ms: round(p90(browserEcho), 3), via: 'xterm.js input in chromium → … → xterm.js parsed the echo' },
      ratioP50: round(median(outpost) / median(baseline), 3),
      goalRatio: 1.5,
      runs: ECHO_RUNS,
    },
  }, null, 2));
} finally {
  s.close();
  await s.cleanup();
}
