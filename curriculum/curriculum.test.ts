/**
 * The curriculum domain against a real store and real grading containers: import (and re-import),
 * submissions, the persisted queue (fairness, re-grading, a crash mid-grade), attempts, and
 * submit-by-push from a real bare repository.
 */
import { expect } from 'chai';
import type { Request, Response } from 'express';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createAccounts, type User } from '../core/accounts.ts';
import { createAuditLog } from '../core/audit.ts';
import { defaultConfig } from '../core/config.ts';
import { silentLogger } from '../core/log.ts';
import { createPolicy } from '../core/policy.ts';
import { openStore } from '../core/store.ts';
import { createRouteRegistry } from '../core/web.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import { addStudents, startTestSystem, testPassword, type TestSystem, writeTree } from '../test/support.ts';
import { createCatalog } from './catalog.ts';
import { createGradebook } from './gradebook.ts';
import { curriculumMigrations, type Curriculum } from './index.ts';
import { createGradingQueue, TAKE_SQL } from './queue.ts';
import type { GradableExercise, Grader, GradeResult } from './grader.ts';
import { createSubmissions } from './submissions.ts';
import { registerCurriculumRoutes } from './web.ts';

const visibleTest = "import { expect } from 'chai';\nimport { add } from '../add.js';\ndescribe('add', () => {\n  it('adds two numbers', () => expect(add(2, 3)).to.equal(5));\n});\n";

function fixture(root: string, hiddenExpectation = 'expect(add(-1, 1)).to.equal(0)'): Promise<string> {
  return writeTree(root, {
    'curriculum.yaml': 'id: test-course\ntitle: Test course\nversion: 1\ntracks: [basics]\n',
    'basics/track.yaml': 'id: basics\ntitle: Basics\nmodules: [first]\n',
    'basics/first/module.yaml': 'id: first\ntitle: First steps\nitems:\n  - lesson: hello\n  - exercise: js-add\n  - exercise: py-echo\n',
    'basics/first/lessons/hello.md': '---\nid: hello\ntitle: Hello\ndocs: [https://nodejs.org/api/]\n---\n# Hello\n',
    'basics/first/exercises/js-add/exercise.yaml': 'id: js-add\ntitle: Add\nlanguage: javascript\ngrader:\n  adapter: mocha\n  timeLimitSeconds: 8\n  attempts: 4\n',
    'basics/first/exercises/js-add/README.md': 'Write add(a, b).\n',
    'basics/first/exercises/js-add/starter/add.js': 'export function add(a, b) {\n  // TODO\n}\n',
    'basics/first/exercises/js-add/starter/package.json': '{"type":"module","scripts":{"test":"mocha"}}\n',
    'basics/first/exercises/js-add/solution/add.js': 'export function add(a, b) {\n  return a + b;\n}\n',
    'basics/first/exercises/js-add/tests/visible/test/add.test.js': visibleTest,
    'basics/first/exercises/js-add/tests/hidden/test/add-hidden.test.js': `import { expect } from 'chai';\nimport { add } from '../add.js';\ndescribe('add (more)', () => {\n  it('adds a negative number', () => ${hiddenExpectation});\n});\n`,
    'basics/first/exercises/py-echo/exercise.yaml': 'id: py-echo\ntitle: Echo\nlanguage: python\ncommand: [python3, echo.py]\ngrader:\n  adapter: io\ncases:\n  - { name: echoes a word, stdin: "hi\\n", expected: "hi" }\n  - { name: echoes another, stdin: "yo\\n", expected: "yo", hidden: true }\n',
    'basics/first/exercises/py-echo/README.md': 'Print what you read.\n',
    'basics/first/exercises/py-echo/starter/echo.py': '# TODO\n',
    'basics/first/exercises/py-echo/solution/echo.py': 'print(input())\n',
  });
}

describe('curriculum: import, submissions, grading queue', function () {
  this.timeout(6 * 60_000);
  let t: TestSystem;
  const actor = { name: 'test' };
  const work = (name: string, files: Record<string, string>) => writeTree(path.join(t.root, 'work', name), files);

  before(async () => {
    t = await startTestSystem({ curriculum: { graderConcurrency: 2 } });
    await addStudents(t.system, ['ana', 'ben']);
  });
  after(async () => {
    await t?.system.curriculum.queue.stop();
    await t?.cleanup();
  });

  it('refuses an invalid curriculum with every problem named by file and line', async () => {
    const root = await writeTree(path.join(t.root, 'bad'), {
      'curriculum.yaml': 'id: Bad Id\ntitle: x\nversion: 1\ntracks: [t]\n',
      't/track.yaml': 'id: t\ntitle: T\nmodules: [m]\n',
      't/m/module.yaml': 'id: m\ntitle: M\nitems:\n  - exercise: e1\n  - exercise: e2\n',
      't/m/exercises/e2/exercise.yaml': 'id: e2\ntitle: E2\nlanguage: python\ngrader:\n  adapter: pytest\n',
      't/m/exercises/e1/exercise.yaml': 'id: e1\ntitle: E\nlanguage: cobol\ngrader:\n  adapter: mocha\n  timeLimitSeconds: -1\n',
    });
    try {
      await t.system.curriculum.catalog.validate(root);
      expect.fail('validation passed');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).to.match(/curriculum\.yaml:1: id: an id of lowercase/);
      expect(message).to.match(/exercise\.yaml:3: language: /);
      expect(message).to.match(/exercise\.yaml:6: grader\.timeLimitSeconds/);
      expect(message).to.match(/e2\/exercise\.yaml: instructions: README\.md is missing/);
      expect(message).to.match(/e2\/exercise\.yaml: tests\.visible: tests\/visible holds no test files/);
    }
  });

  it('imports, checking that each reference solution scores 100%', async () => {
    const report = await t.system.curriculum.catalog.import(await fixture(path.join(t.root, 'course-v1')), actor);
    expect(report.exercises.map((e) => [e.id, e.status])).to.deep.equal([['js-add', 'new'], ['py-echo', 'new']]);
    const add = t.system.curriculum.catalog.exercise('js-add')!;
    expect(add.expectedTests).to.deep.equal({ visible: ['add adds two numbers'], hidden: ['add (more) adds a negative number'] });
    expect(add.maxScore).to.equal(2);
    expect(t.system.curriculum.catalog.lesson('test-course', 'hello')!.markdown).to.equal('# Hello\n');
    const wrongSolution = await fixture(path.join(t.root, 'course-broken'), 'expect(add(-1, 1)).to.equal(1)');
    try {
      await t.system.curriculum.catalog.import(wrongSolution, actor);
      expect.fail('imported a curriculum whose reference solution fails');
    } catch (error) {
      expect((error as Error).message).to.match(/reference solution of js-add scores 1\/2/);
    }
    expect(t.system.curriculum.catalog.exercise('js-add')!.hash).to.equal(add.hash);
  });

  it('grades a wrong then a right submission through the queue', async () => {
    const { submissions, queue } = t.system.curriculum;
    queue.start();
    const wrong = await submissions.create({ exercise: 'js-add', student: 'ana', source: 'cli', from: await work('wrong', { 'add.js': 'export function add(a, b) { return a + b + (a < 0 ? 1 : 0); }\n', 'package.json': '{"type":"module"}' }) });
    queue.enqueue(wrong.id, 'submit', 'ana');
    const right = await submissions.create({ exercise: 'js-add', student: 'ana', source: 'cli', from: await work('right', { 'add.js': 'export function add(a, b) { return a + b; }\n', 'package.json': '{"type":"module"}', 'node_modules/x/index.js': 'junk' }) });
    queue.enqueue(right.id, 'submit', 'ana');
    await queue.idle();
    expect(queue.latestRun(wrong.id)).to.deep.include({ score: 1, maxScore: 2, status: 'graded' });
    expect(queue.latestRun(right.id)).to.deep.include({ score: 2, maxScore: 2 });
    expect(await submissions.files(right.id)).to.deep.equal(['add.js', 'package.json']);
  });

  it('keeps submissions across a re-import, and re-grades every submission of an exercise once', async () => {
    const { catalog, queue, submissions } = t.system.curriculum;
    const v2 = await fixture(path.join(t.root, 'course-v2'), 'expect(add(-2, 2)).to.equal(0)');
    await writeFile(path.join(v2, 'basics/first/exercises/js-add/README.md'), 'Write add(a, b). Now with more tests.\n');
    const report = await catalog.import(v2, actor);
    expect(report.exercises.find((e) => e.id === 'js-add')!.status).to.equal('changed');
    const before = submissions.list({ exercise: 'js-add' }).length;
    const jobs = queue.regradeExercise('js-add', 'test');
    const again = queue.regradeExercise('js-add', 'test');
    expect(again.map((j) => j.id)).to.deep.equal(jobs.map((j) => j.id));
    await queue.idle();
    expect(submissions.list({ exercise: 'js-add' }).length).to.equal(before);
    for (const job of jobs) {
      const runs = queue.runsOf(job.submission);
      expect(runs).to.have.length(2);
      expect(runs[1]!.exerciseHash).to.equal(catalog.exercise('js-add')!.hash);
    }
  });

  it('takes jobs fairly between students', async () => {
    const order: string[] = [];
    const grader: Grader = { grade: async ({ owner }) => { order.push(owner); return { status: 'graded', score: 1, maxScore: 1, tests: [], output: '', durationMs: 1 } satisfies GradeResult; } };
    const { catalog, submissions } = t.system.curriculum;
    const queue = createGradingQueue({ store: t.system.store, grader, catalog, submissions, audit: t.system.audit, log: silentLogger(), concurrency: 1 });
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push((await submissions.create({ exercise: 'py-echo', student: 'ana', source: 'cli', from: await work(`fa${i}`, { 'echo.py': 'print(input())\n' }) })).id);
    ids.push((await submissions.create({ exercise: 'py-echo', student: 'ben', source: 'cli', from: await work('fb', { 'echo.py': 'print(input())\n' }) })).id);
    for (const id of ids) queue.enqueue(id, 'submit', 'test');
    queue.start();
    await queue.idle();
    expect(order.indexOf('ben')).to.be.at.most(1);
    await queue.stop();
  });

  it('runs a job again after a crash mid-grade, with exactly one result', async () => {
    const { catalog, submissions } = t.system.curriculum;
    const sub = await submissions.create({ exercise: 'py-echo', student: 'ben', source: 'cli', from: await work('crash', { 'echo.py': 'print(input())\n' }) });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const hanging: Grader = { grade: () => { started(); return new Promise<GradeResult>(() => undefined); } };
    const crashed = createGradingQueue({ store: t.system.store, grader: hanging, catalog, submissions, audit: t.system.audit, log: silentLogger(), concurrency: 1 });
    crashed.enqueue(sub.id, 'submit', 'test');
    crashed.start();
    await running;
    // The process "dies" here: the job is left running in the store with no result.
    expect(t.system.store.db.prepare("select state from grading_jobs where submission = ?").get(sub.id)).to.deep.equal({ state: 'running' });
    const restarted = createGradingQueue({ store: t.system.store, grader: t.system.curriculum.grader, catalog, submissions, audit: t.system.audit, log: silentLogger(), concurrency: 1 });
    restarted.start();
    await restarted.idle();
    const runs = restarted.runsOf(sub.id);
    expect(runs).to.have.length(1);
    expect(runs[0]).to.deep.include({ score: 2, maxScore: 2 });
    await restarted.stop();
  });

  it('limits attempts', async () => {
    const { submissions } = t.system.curriculum;
    const from = await work('attempts', { 'add.js': 'export const add = (a, b) => a + b;\n' });
    while (submissions.list({ exercise: 'js-add', student: 'ben' }).length < 4) await submissions.create({ exercise: 'js-add', student: 'ben', source: 'cli', from });
    try {
      await submissions.create({ exercise: 'js-add', student: 'ben', source: 'cli', from });
      expect.fail('a fifth attempt was accepted');
    } catch (error) {
      expect((error as { code?: string }).code).to.equal('ATTEMPTS_EXHAUSTED');
    }
  });

  it('turns a push to a student exercise repository into a submission of exactly that commit', async () => {
    const { git, curriculum } = t.system;
    const starter = await work('push-repo', { 'add.js': 'export function add(a, b) { return a + b; }\n', 'package.json': '{"type":"module"}' });
    await git.create({ owner: 'ana', name: 'js-add', from: starter }, actor);
    const { execFileSync } = await import('node:child_process');
    const head = execFileSync('git', ['-c', 'safe.directory=*', '--git-dir', git.repoDir('ana', 'js-add'), 'rev-parse', 'main'], { encoding: 'utf8' }).trim();
    const job = await curriculum.submitPush({ id: 0, at: new Date().toISOString(), user: 'ana', owner: 'ana', name: 'js-add', client: '10.0.0.9', updates: [{ ref: 'refs/heads/main', old: '0'.repeat(40), new: head }] });
    expect(job).to.be.a('number');
    await curriculum.queue.idle();
    const sub = curriculum.submissions.list({ student: 'ana', exercise: 'js-add' })[0]!;
    expect(sub).to.deep.include({ source: 'push', commit: head, repo: 'ana/js-add' });
    expect(curriculum.queue.latestRun(sub.id)).to.deep.include({ score: 2 });
    expect(await curriculum.submitPush({ id: 0, at: '', user: 'ana', owner: 'ana', name: 'not-an-exercise', client: '', updates: [] })).to.equal(undefined);
  });
});

/**
 * The same domain without an engine: a store, the real catalog, submissions, queue and gradebook,
 * and a grader that reads its test count from the exercise's folder, so what a run was graded
 * against shows in its score.
 */
describe('curriculum: versions, attempts and scopes (no engine)', () => {
  type Light = Awaited<ReturnType<typeof light>>;
  let l: Light;
  const actor = { name: 'test' };
  let dirs = 0;

  /** A grader that gives full marks out of the test count written in tests/visible/t.test.js. */
  function fakeGrader() {
    const g = {
      mode: 'pass' as 'pass' | 'half' | 'throw' | 'hold',
      calls: [] as string[],
      release: () => undefined as void,
      async grade({ exercise }: { exercise: GradableExercise }): Promise<GradeResult> {
        const n = Number(/tests=(\d+)/.exec(readFileSync(path.join(exercise.dir, 'tests/visible/t.test.js'), 'utf8'))![1]);
        g.calls.push(exercise.dir);
        if (g.mode === 'throw') throw new Error('the engine is unavailable');
        // Holds only the next grade, so an import meanwhile can still grade its reference solution.
        if (g.mode === 'hold') {
          g.mode = 'pass';
          await new Promise<void>((resolve) => { g.release = resolve; });
        }
        const pass = g.mode === 'half' ? Math.floor(n / 2) : n;
        const tests = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, visibility: 'visible' as const, passed: i < pass, points: i < pass ? 1 : 0, maxPoints: 1, message: '', durationMs: 1 }));
        return { status: 'graded', score: pass, maxScore: n, tests, output: '', durationMs: 1 };
      },
    };
    return g;
  }

  async function light() {
    const root = await mkdtemp(path.join(os.tmpdir(), 'outpost-curriculum-'));
    const dataDir = path.join(root, 'data');
    const store = openStore(path.join(dataDir, 'outpost.db'), curriculumMigrations);
    const audit = createAuditLog({ store, anchorFile: path.join(dataDir, 'audit.anchor') });
    const accounts = createAccounts({ store, audit, config: defaultConfig().auth });
    const grader = fakeGrader();
    const log = silentLogger();
    const catalog = createCatalog({ store, audit, grader, dataDir, log });
    const submissions = createSubmissions({ store, catalog, audit, dataDir });
    const queue = createGradingQueue({ store, grader, catalog, submissions, audit, log, concurrency: 2 });
    const gradebook = createGradebook({ store, catalog, submissions, accounts, audit });
    for (const name of ['ana', 'ben']) await accounts.create({ name, role: 'student', password: testPassword(name) }, actor);
    return { root, dataDir, store, audit, accounts, grader, catalog, submissions, queue, gradebook };
  }

  /** A one-module curriculum; `marker` changes an exercise's content, `tests` its maximum. */
  async function course(id: string, exercises: { id: string; marker: string; tests?: number; attempts?: number }[]): Promise<string> {
    const files: Record<string, string> = {
      'curriculum.yaml': `id: ${id}\ntitle: ${id}\nversion: 1\ntracks: [t]\n`,
      't/track.yaml': 'id: t\ntitle: T\nmodules: [m]\n',
      't/m/module.yaml': `id: m\ntitle: M\nitems:\n${exercises.map((e) => `  - exercise: ${e.id}\n`).join('')}`,
    };
    for (const e of exercises) {
      const d = `t/m/exercises/${e.id}`;
      Object.assign(files, {
        [`${d}/exercise.yaml`]: `id: ${e.id}\ntitle: ${e.id} of ${id}\nlanguage: javascript\ngrader:\n  adapter: mocha\n  attempts: ${e.attempts ?? 0}\n`,
        [`${d}/README.md`]: `# ${e.id} (${e.marker})\n`,
        [`${d}/starter/index.js`]: '\n',
        [`${d}/solution/index.js`]: `// ${e.marker}\n`,
        [`${d}/tests/visible/t.test.js`]: `// tests=${e.tests ?? 2} ${e.marker}\n`,
      });
    }
    return writeTree(path.join(l.root, 'courses', `${id}-${dirs++}`), files);
  }

  const work = (files: Record<string, string> = { 'index.js': 'export {};\n' }) => writeTree(path.join(l.root, 'work', String(dirs++)), files);
  const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: unknown) => (error as { code?: string }).code ?? `uncoded: ${(error as Error).message}`);

  beforeEach(async () => { l = await light(); });
  afterEach(async () => {
    l.grader.release();
    await l.queue.stop();
    l.store.close();
    await rm(l.root, { recursive: true, force: true });
  });

  it('re-grades against fixed tests even when the first grade still waits in the queue', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'buggy tests', tests: 2 }]), actor);
    const sub = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    const first = l.queue.enqueue(sub.id, 'submit', 'ana');
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'fixed tests', tests: 4 }]), actor);
    const current = l.catalog.exercise('ex')!.hash;
    const jobs = l.queue.regradeExercise('ex', 'ines');
    expect(jobs.map((j) => [j.reason, j.targetHash])).to.deep.equal([['regrade', current]]);
    expect(jobs[0]!.id).to.not.equal(first.id);
    expect(l.queue.regradeExercise('ex', 'ines').map((j) => j.id), 'asking again returns the waiting re-grade').to.deep.equal(jobs.map((j) => j.id));
    l.queue.start();
    await l.queue.idle();
    const runs = l.queue.runsOf(sub.id);
    expect(runs.map((r) => r.exerciseHash)).to.deep.equal([sub.exerciseHash, current]);
    expect(l.queue.latestRun(sub.id)).to.deep.include({ exerciseHash: current, score: 4, maxScore: 4 });
  });

  it('queues a re-grade behind a running grade of the old tests, and runs it after', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'buggy tests', tests: 2 }]), actor);
    const sub = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    l.grader.mode = 'hold';
    const first = l.queue.enqueue(sub.id, 'submit', 'ana');
    l.queue.start();
    expect(l.queue.job(first.id)!.state).to.equal('running');
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'fixed tests', tests: 4 }]), actor);
    const [again] = l.queue.regradeExercise('ex', 'ines');
    expect(again!.id).to.not.equal(first.id);
    // Two grading slots, but a submission's jobs run one after another.
    expect(l.queue.job(again!.id)!.state).to.equal('queued');
    l.grader.release();
    await l.queue.idle();
    expect(l.queue.latestRun(sub.id)).to.deep.include({ exerciseHash: l.catalog.exercise('ex')!.hash, score: 4, maxScore: 4 });
  });

  it('gives jobs waiting in a store from before targets the version they would have graded against', async () => {
    const file = path.join(l.root, 'old.db');
    const old = openStore(file, curriculumMigrations.filter((m) => m.version < 86));
    old.db.exec(`
      insert into exercise_versions (exercise, hash, spec, dir, expected_tests, max_score, created_at) values ('ex', 'h1', '{}', '', '{}', 2, ''), ('ex', 'h2', '{}', '', '{}', 2, '');
      insert into exercises (id, curriculum, track, module, position, title, language, hash, updated_at) values ('ex', 'c', 't', 'm', 1, 'Ex', 'javascript', 'h2', '');
      insert into submissions (id, exercise, exercise_hash, student, created_at, source, files_hash) values (1, 'ex', 'h1', 'ana', '', 'cli', 'f');
      insert into grading_jobs (submission, student, reason, state, enqueued_at, requested_by) values (1, 'ana', 'submit', 'queued', '', 'ana'), (1, 'ana', 'regrade', 'queued', '', 'ines'), (1, 'ana', 'submit', 'done', '', 'ana');`);
    old.close();
    const migrated = openStore(file, curriculumMigrations);
    try {
      expect(migrated.db.prepare('select reason, state, target_hash as target from grading_jobs order by id').all()).to.deep.equal([
        { reason: 'submit', state: 'queued', target: 'h1' },
        { reason: 'regrade', state: 'queued', target: 'h2' },
        { reason: 'submit', state: 'done', target: null },
      ]);
    } finally {
      migrated.close();
    }
  });

  it('takes the next job through an index, not a scan of every job', () => {
    const plan = (l.store.db.prepare(`explain query plan ${TAKE_SQL}`).all() as { detail: string }[]).map((r) => r.detail);
    expect(plan.join('\n')).to.match(/USING (COVERING )?INDEX grading_jobs_student_started/);
    expect(plan.filter((d) => /^SCAN /.test(d)), plan.join('\n')).to.deep.equal([]);
  });

  it('stores a submission beside a folder left under its id, with its own files and one attempt', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v1', attempts: 3 }]), actor);
    await l.submissions.create({ exercise: 'ex', student: 'ben', source: 'cli', from: await work({ 'ben.js': 'ben\n' }) });
    // As after a restore of an older store, or a power loss that lost the last rows but not the files.
    const next = (l.store.db.prepare('select max(id) as m from submissions').get() as { m: number }).m + 1;
    await writeTree(path.join(l.dataDir, 'submissions', String(next)), { 'lost.js': "someone else's work\n" });
    const sub = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'ide', from: await work({ 'ana.js': 'ana\n' }) });
    expect(sub.id).to.equal(next);
    expect(await l.submissions.files(sub.id)).to.deep.equal(['ana.js']);
    expect(await l.submissions.readFile(sub.id, 'ana.js')).to.equal('ana\n');
    expect(await readdir(path.join(l.dataDir, 'submissions', String(next)))).to.deep.equal(['lost.js']);
    expect(l.gradebook.standing('ana', l.catalog.exercise('ex')!).attempts).to.equal(1);
  });

  it('records nothing when a submission cannot be stored, with a typed error', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v1', attempts: 1 }]), actor);
    expect(await codeOf(l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: path.join(l.root, 'no-such-folder') }))).to.equal('SUBMISSION_SAVE_FAILED');
    expect(l.submissions.list({ student: 'ana' })).to.deep.equal([]);
    expect(await readdir(path.join(l.dataDir, 'submissions'))).to.deep.equal([]);
    expect(await codeOf(l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() })), 'the failure used no attempt').to.equal('ok');
  });

  it('holds the attempt limit against concurrent submits', async () => {
    await l.catalog.import(await course('c', [{ id: 'once', marker: 'v1', attempts: 1 }]), actor);
    const from = await work();
    const codes = await Promise.all([1, 2, 3].map(() => codeOf(l.submissions.create({ exercise: 'once', student: 'ana', source: 'ide', from }))));
    expect(codes.sort()).to.deep.equal(['ATTEMPTS_EXHAUSTED', 'ATTEMPTS_EXHAUSTED', 'ok']);
    expect(l.submissions.list({ student: 'ana' })).to.have.length(1);
    // The refused ones leave no files behind.
    expect(await readdir(path.join(l.dataDir, 'submissions'))).to.have.length(1);
  });

  it("refuses a curriculum that reuses another curriculum's exercise id", async () => {
    await l.catalog.import(await course('course-a', [{ id: 'hello', marker: 'a' }]), actor);
    try {
      await l.catalog.import(await course('course-b', [{ id: 'other', marker: 'b' }, { id: 'hello', marker: 'b', tests: 5 }]), actor);
      expect.fail('course-b took over course-a\'s exercise');
    } catch (error) {
      expect((error as { code?: string }).code).to.equal('CURRICULUM_INVALID');
      expect((error as Error).message).to.include('t/m/exercises/hello/exercise.yaml').and.include('"course-a"').and.include('"course-b"');
    }
    expect(l.catalog.exercise('hello')).to.deep.include({ curriculum: 'course-a', maxScore: 2 });
    expect(l.catalog.exercise('other'), 'nothing of course-b was imported').to.equal(undefined);
  });

  it('reports a return to an earlier version as a change', async () => {
    const v1 = await course('c', [{ id: 'ex', marker: 'v1' }]);
    await l.catalog.import(v1, actor);
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v2' }]), actor);
    const back = await l.catalog.import(v1, actor);
    expect(back.exercises.map((e) => [e.id, e.status])).to.deep.equal([['ex', 'changed']]);
    expect(back.unchanged).to.equal(false);
    const again = await l.catalog.import(v1, actor);
    expect(again.exercises.map((e) => [e.id, e.status])).to.deep.equal([['ex', 'unchanged']]);
    expect(again.unchanged).to.equal(true);
  });

  it('keeps a real score when a later run fails in the grader', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v1', tests: 2 }]), actor);
    const sub = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    l.queue.start();
    l.queue.enqueue(sub.id, 'submit', 'ana');
    await l.queue.idle();
    l.grader.mode = 'throw';
    l.queue.enqueue(sub.id, 'regrade', 'ines');
    await l.queue.idle();
    expect(l.queue.latestRun(sub.id)).to.deep.include({ status: 'error' });
    expect(l.gradebook.standing('ana', l.catalog.exercise('ex')!)).to.deep.include({ best: 2, score: 2, maxScore: 2 });
  });

  it('scales each run to the current maximum when versions differ', async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v1', tests: 2 }]), actor);
    l.queue.start();
    l.grader.mode = 'half';
    const sub = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    l.queue.enqueue(sub.id, 'submit', 'ana');
    await l.queue.idle();
    l.grader.mode = 'pass';
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v2', tests: 8 }]), actor);
    // 1 of 2 under the old tests is half marks now: 4 of 8, not 1 of 8.
    expect(l.gradebook.standing('ana', l.catalog.exercise('ex')!)).to.deep.include({ score: 4, maxScore: 8 });
    l.grader.mode = 'half';
    const later = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    l.queue.enqueue(later.id, 'submit', 'ana');
    await l.queue.idle();
    expect(l.gradebook.standing('ana', l.catalog.exercise('ex')!)).to.deep.include({ score: 4, maxScore: 8 });
    l.grader.mode = 'pass';
    l.queue.regradeExercise('ex', 'ines');
    await l.queue.idle();
    expect(l.gradebook.standing('ana', l.catalog.exercise('ex')!)).to.deep.include({ score: 8, maxScore: 8 });
  });

  it("lets an instructor re-grade an exercise for the cohorts they teach only; an admin, everyone's", async () => {
    await l.catalog.import(await course('c', [{ id: 'ex', marker: 'v1' }]), actor);
    l.accounts.createCohort('c1', 'One', actor);
    l.accounts.createCohort('c2', 'Two', actor);
    l.accounts.addToCohort('c1', 'ana', actor);
    l.accounts.addToCohort('c2', 'ben', actor);
    const ines = (await l.accounts.create({ name: 'ines', role: 'instructor', password: testPassword('ines'), cohort: 'c1' }, actor)).user;
    const root = (await l.accounts.create({ name: 'root', role: 'admin', password: testPassword('root') }, actor)).user;
    const ana = await l.submissions.create({ exercise: 'ex', student: 'ana', source: 'cli', from: await work() });
    const ben = await l.submissions.create({ exercise: 'ex', student: 'ben', source: 'cli', from: await work() });
    const policy = createPolicy(l.accounts);
    const routes = createRouteRegistry({ policy });
    const curriculum: Curriculum = { catalog: l.catalog, submissions: l.submissions, queue: l.queue, grader: l.grader, gradebook: l.gradebook, submitPush: async () => undefined };
    registerCurriculumRoutes(routes, { curriculum, accounts: l.accounts, policy, workspaces: {} as Workspaces });
    const route = routes.routes.find((r) => r.method === 'post' && r.path === '/gradebook/exercises/:id/regrade')!;
    const post = async (user: User) => {
      let body = '';
      const res = { locals: { auth: { user, session: { csrfToken: 'x' }, sessionId: 'x' } }, type() { return res; }, send(text: string) { body = text; return res; } };
      await route.handler({ params: { id: 'ex' }, body: {} } as unknown as Request, res as unknown as Response, () => undefined);
      return body;
    };
    const pending = () => (l.store.db.prepare("select submission from grading_jobs where state = 'queued' order by submission").all() as { submission: number }[]).map((r) => r.submission);
    expect(policy.can(ines, route.action as 'gradebook.regrade-all')).to.equal(true);
    expect(await post(ines)).to.include('1 submissions of the cohorts you teach');
    expect(pending()).to.deep.equal([ana.id]);
    await post(root);
    expect(pending()).to.deep.equal([ana.id, ben.id]);
  });
});
