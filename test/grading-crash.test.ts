/**
 * A real crash mid-grade: the server (`./outpost up --detach`) is killed with SIGKILL while a
 * submission is being graded; after `up` again the job runs again and the submission ends with
 * exactly one result, and the grading container the dead server left behind is gone.
 */
import { expect } from 'chai';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LABEL } from '../sandbox/hardening.ts';
import { makeTestConfigFile, runOutpost, unmountUnder, removeInstance, writeTree, freePort } from './support.ts';
import { openSystem } from '../server/system.ts';
import { silentLogger } from '../core/log.ts';
import type { Config } from '../core/config.ts';

const run = promisify(execFile);

describe('a server crash in the middle of grading', function () {
  this.timeout(6 * 60_000);
  let config: Config;
  let root: string;
  let file: string;
  let submission = 0;

  before(async () => {
    ({ config, root, file } = await makeTestConfigFile({ http: { port: await freePort() }, curriculum: { starterOnFirstRun: false, graderConcurrency: 1 } }));
    // A course whose hidden test takes a while, so there is time to kill the server mid-grade.
    const course = await writeTree(path.join(root, 'course'), {
      'curriculum.yaml': 'id: crash\ntitle: Crash course\nversion: 1\ntracks: [t]\n',
      't/track.yaml': 'id: t\ntitle: T\nmodules: [m]\n',
      't/m/module.yaml': 'id: m\ntitle: M\nitems:\n  - exercise: js-slow\n',
      't/m/exercises/js-slow/exercise.yaml': 'id: js-slow\ntitle: Slow\nlanguage: javascript\ngrader:\n  adapter: mocha\n  timeLimitSeconds: 30\n',
      't/m/exercises/js-slow/README.md': 'x\n',
      't/m/exercises/js-slow/starter/one.js': 'export const one = () => 0;\n',
      't/m/exercises/js-slow/starter/package.json': '{"type":"module"}\n',
      't/m/exercises/js-slow/solution/one.js': 'export const one = () => 1;\n',
      't/m/exercises/js-slow/tests/visible/test/one.test.js': "import { expect } from 'chai';\nimport { one } from '../one.js';\nit('is one', async function () { this.timeout(20000); await new Promise((r) => setTimeout(r, 6000)); expect(one()).to.equal(1); });\n",
    });
    const system = await openSystem({ config, log: silentLogger(), provisionEngine: false });
    try {
      await system.curriculum.catalog.import(course, { name: 'test' });
      await system.accounts.create({ name: 'ana', role: 'student', password: 'Bnb-xyz-0123-long' }, { name: 'test' });
      const from = await writeTree(path.join(root, 'work'), { 'one.js': 'export const one = () => 1;\n', 'package.json': '{"type":"module"}\n' });
      submission = (await system.curriculum.submissions.create({ exercise: 'js-slow', student: 'ana', source: 'cli', from })).id;
      // Queued, not graded: the server started below takes it.
      system.curriculum.queue.enqueue(submission, 'submit', 'ana');
    } finally {
      await system.close();
    }
  });

  after(async () => {
    await runOutpost(file, ['down']);
    const system = await openSystem({ config, log: silentLogger(), provisionEngine: false }).catch(() => undefined);
    if (system) { await removeInstance(system, config.instance); await system.close(); }
    await unmountUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  const db = () => new Database(path.join(config.dataDir, 'outpost.db'), { readonly: true, fileMustExist: true });
  const jobState = () => { const d = db(); try { return (d.prepare('select state from grading_jobs where submission = ?').get(submission) as { state: string }).state; } finally { d.close(); } };
  const runs = () => { const d = db(); try { return d.prepare('select score, max_score from grading_runs where submission = ?').all(submission) as { score: number; max_score: number }[]; } finally { d.close(); } };

  it('runs the job again after a SIGKILL mid-grade, with exactly one result', async () => {
    const up = await runOutpost(file, ['up', '--detach']);
    expect(up.code, up.stderr).to.equal(0);
    const deadline = Date.now() + 90_000;
    while (jobState() !== 'running' && Date.now() < deadline) await sleep(200);
    expect(jobState()).to.equal('running');
    await sleep(1500); // well inside the 6 s test
    const graders = async () => (await run('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=${LABEL.instance}=${config.instance}`, '--filter', `label=${LABEL.kind}=oneshot`])).stdout.trim().split('\n').filter(Boolean);
    const before = await graders();
    expect(before.length).to.be.at.least(1);
    const pid = Number((await readFile(path.join(config.dataDir, 'outpost.pid'), 'utf8')).trim());
    process.kill(pid, 'SIGKILL');
    while (await sleep(100).then(() => { try { process.kill(pid, 0); return true; } catch { return false; } }));
    expect(jobState()).to.equal('running');
    expect(runs()).to.deep.equal([]);

    const again = await runOutpost(file, ['up', '--detach']);
    expect(again.code, again.stderr).to.equal(0);
    const done = Date.now() + 120_000;
    while (jobState() !== 'done' && Date.now() < done) await sleep(500);
    expect(jobState()).to.equal('done');
    expect(runs()).to.deep.equal([{ score: 1, max_score: 1 }]);
    // What the dead server left running was removed when the new one reconciled.
    const now = await graders();
    for (const id of before) expect(now).to.not.include(id);
  });
});
