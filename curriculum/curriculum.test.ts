/**
 * The curriculum domain against a real store and real grading containers: import (and re-import),
 * submissions, the persisted queue (fairness, re-grading, a crash mid-grade), attempts, and
 * submit-by-push from a real bare repository.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { silentLogger } from '../core/log.ts';
import { addStudents, startTestSystem, type TestSystem, writeTree } from '../test/support.ts';
import { createGradingQueue } from './queue.ts';
import type { Grader, GradeResult } from './grader.ts';

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
