/**
 * The autograder in real one-shot containers: mocha, pytest and io exercises, and hostile
 * submissions (an endless loop, an output flood, code that prints the hidden tests, code that
 * rewrites the tests).
 */
import { expect } from 'chai';
import path from 'node:path';
import { silentLogger } from '../core/log.ts';
import { startTestSystem, type TestSystem, writeTree } from '../test/support.ts';
import { createGrader, sameOutput, type GradableExercise, type Grader } from './grader.ts';
import { exerciseFileSchema } from './schema.ts';

const HIDDEN_SECRET = 'the-hidden-test-says-banana-42';

describe('autograder (real one-shot containers)', function () {
  this.timeout(5 * 60_000);
  let t: TestSystem;
  let grader: Grader;
  let mochaExercise: GradableExercise;
  let pytestExercise: GradableExercise;
  let ioExercise: GradableExercise;
  const submit = async (name: string, files: Record<string, string>) => writeTree(path.join(t.root, 'submissions', name), files);

  before(async () => {
    t = await startTestSystem();
    grader = createGrader({ oneShot: t.system.sandbox.oneShot, workDir: path.join(t.root, 'grader'), log: silentLogger() });
    const mochaDir = await writeTree(path.join(t.root, 'ex', 'js-total'), {
      'tests/visible/test/total.test.js': "import { expect } from 'chai';\nimport { total } from '../total.js';\ndescribe('total', () => {\n  it('adds two prices', () => expect(total([1, 2])).to.equal(3));\n  it('is 0 for an empty list', () => expect(total([])).to.equal(0));\n});\n",
      'tests/hidden/test/total-hidden.test.js': `import { expect } from 'chai';\nimport { total } from '../total.js';\n// ${HIDDEN_SECRET}\ndescribe('total (hidden)', () => {\n  it('handles negative refunds', () => expect(total([5, -2])).to.equal(3));\n});\n`,
    });
    mochaExercise = { id: 'js-total', dir: mochaDir, spec: exerciseFileSchema.parse({ id: 'js-total', title: 'Total', language: 'javascript', grader: { adapter: 'mocha', timeLimitSeconds: 5, points: { 'total (hidden) handles negative refunds': 3 } } }) };
    const pyDir = await writeTree(path.join(t.root, 'ex', 'py-double'), {
      'tests/visible/test_double.py': 'from double import double\n\ndef test_doubles_two():\n    assert double(2) == 4\n',
      'tests/hidden/test_double_hidden.py': 'from double import double\n\ndef test_doubles_negative():\n    assert double(-3) == -6\n',
    });
    pytestExercise = { id: 'py-double', dir: pyDir, spec: exerciseFileSchema.parse({ id: 'py-double', title: 'Double', language: 'python', grader: { adapter: 'pytest', timeLimitSeconds: 10, showHiddenMessages: true } }) };
    const ioDir = await writeTree(path.join(t.root, 'ex', 'py-greet'), {});
    ioExercise = { id: 'py-greet', dir: ioDir, spec: exerciseFileSchema.parse({ id: 'py-greet', title: 'Greet', language: 'python', command: ['python3', 'greet.py'], grader: { adapter: 'io', timeLimitSeconds: 5 }, cases: [
      { name: 'greets Ada', stdin: 'Ada\n', expected: 'Hello, Ada!\n' },
      { name: 'greets a second name', stdin: 'Lin\n', expected: 'Hello, Lin!', hidden: true },
    ] }) };
  });

  after(async () => {
    await t?.cleanup();
  });

  it('grades a right and a wrong mocha submission, with points per test and hidden messages withheld', async () => {
    const right = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('right', { 'total.js': 'export function total(xs) { console.log("summing", xs.length); return xs.reduce((a, b) => a + b, 0); }\n', 'package.json': '{"type":"module"}' }) });
    expect(right.status).to.equal('graded');
    expect(right.score).to.equal(5);
    expect(right.maxScore).to.equal(5);
    expect(right.output).to.include('summing 2');
    const wrong = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('wrong', { 'total.js': 'export function total(xs) { return xs.reduce((a, b) => a + b, 0) + (xs[0] === 1 ? 1 : 0); }\n', 'package.json': '{"type":"module"}' }) });
    expect(wrong.score).to.equal(4);
    const hidden = wrong.tests.find((x) => x.visibility === 'hidden')!;
    expect(hidden).to.deep.include({ name: 'total (hidden) handles negative refunds', passed: true, maxPoints: 3 });
    const off = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('off', { 'total.js': 'export function total(xs) { return 99; }\n', 'package.json': '{"type":"module"}' }) });
    const failedHidden = off.tests.find((x) => x.visibility === 'hidden')!;
    expect(failedHidden.passed).to.equal(false);
    expect(failedHidden.message).to.equal('failed');
    expect(off.tests.find((x) => x.name === 'total adds two prices')!.message).to.match(/expected 99 to equal 3/);
  });

  it('grades pytest and io exercises; io compares outside the container', async () => {
    const py = await grader.grade({ exercise: pytestExercise, owner: 'ana', submissionDir: await submit('py', { 'double.py': 'def double(x):\n    return x * 2 if x > 0 else x\n' }) });
    expect(py.tests.map((x) => [x.name, x.passed])).to.deep.equal([['test_double.py::test_doubles_two', true], ['test_double_hidden.py::test_doubles_negative', false]]);
    expect(py.tests[1]!.message).to.match(/assert -3 == -6/);
    const io = await grader.grade({ exercise: ioExercise, owner: 'ana', submissionDir: await submit('io', { 'greet.py': 'name = input()\nprint(f"Hello, {name}!")\n' }) });
    expect(io.score).to.equal(2);
    const ioWrong = await grader.grade({ exercise: ioExercise, owner: 'ana', submissionDir: await submit('io-wrong', { 'greet.py': 'print("Hello, Ada!")\n' }) });
    expect(ioWrong.tests.map((x) => x.passed)).to.deep.equal([true, false]);
    expect(ioWrong.tests[1]!.message).to.equal('');
    expect(sameOutput('a  \nb\n\n', 'a\nb')).to.equal(true);
  });

  it('stops an endless loop at the time limit and reports it', async () => {
    const r = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('loop', { 'total.js': 'export function total(xs) { while (true) {} }\n', 'package.json': '{"type":"module"}' }) });
    expect(r.status).to.equal('timeout');
    expect(r.score).to.equal(0);
    expect(r.durationMs).to.be.below(30_000);
  });

  it('caps an output flood', async () => {
    const r = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('flood', { 'total.js': 'for (let i = 0; i < 200000; i++) console.log("flood flood flood flood flood " + i);\nexport function total(xs) { return xs.reduce((a, b) => a + b, 0); }\n', 'package.json': '{"type":"module"}' }) });
    expect(r.output.length).to.be.below(64 * 1024 + 200);
    expect(r.output).to.match(/more bytes of output were cut off/);
    expect(r.score).to.equal(5);
  });

  it('never shows hidden tests, even to code that goes looking for them', async () => {
    const snoop = `import { readdirSync, readFileSync } from 'node:fs';\nfor (const dir of ['test', '/grade/test']) { try { for (const f of readdirSync(dir)) console.log(f, readFileSync(dir + '/' + f, 'utf8')); } catch {} }\nexport function total(xs) { throw new Error(readdirSync('test').map((f) => readFileSync('test/' + f, 'utf8')).join('')); }\n`;
    const r = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('snoop', { 'total.js': snoop, 'package.json': '{"type":"module"}' }) });
    expect(JSON.stringify(r)).to.not.include(HIDDEN_SECRET);
    expect(JSON.stringify(r)).to.not.include('handles negative refunds).to.equal');
  });

  it('leaves nothing of the visible run alive to watch the hidden tests arrive', async () => {
    // Two layers stand here: the agent (a child subreaper) kills what an exec leaves behind, and the
    // grader resets the container between the runs. This checks the outcome, whichever layer acts.
    // Loaded in the visible run: tries the hidden folder, then leaves a sleeper behind. Loaded again
    // in the hidden run: if the sleeper is still there, it makes total() wrong, so the hidden test fails.
    const sneaky = `import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
let readable = 'no';
try { readdirSync('/job/hidden'); readable = 'yes'; } catch {}
console.log('hidden readable: ' + readable);
const alive = () => readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).some((p) => { try { return p !== String(process.pid) && readFileSync('/proc/' + p + '/cmdline', 'utf8').includes('outpost-sleeper-marker'); } catch { return false; } });
if (process.cwd().endsWith('/visible')) {
  spawn('bash', ['-c', '(exec -a outpost-sleeper-marker sleep 600 &) ; exit 0'], { detached: true, stdio: 'ignore' }).unref();
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log('sleeper alive: ' + alive());
}
const sabotage = !process.cwd().endsWith('/visible') && alive();
export function total(xs) { return sabotage ? 0 : xs.reduce((a, b) => a + b, 0); }
`;
    const r = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('sneaky', { 'total.js': sneaky, 'package.json': '{"type":"module"}' }) });
    expect(r.output).to.include('hidden readable: no');
    expect(r.output).to.include('sleeper alive: true');
    expect(r.tests.find((x) => x.visibility === 'hidden')!.passed, JSON.stringify(r)).to.equal(true);
    expect(r.score).to.equal(5);
  });

  it('keeps the tests read-only: code that rewrites them cannot pass', async () => {
    const cheat = `import { writeFileSync } from 'node:fs';\ntry { writeFileSync('test/total.test.js', "it('ok', () => {});"); console.log('rewrote the tests'); } catch (e) { console.log('could not: ' + e.code); }\nexport function total() { return -1; }\n`;
    const r = await grader.grade({ exercise: mochaExercise, owner: 'ana', submissionDir: await submit('cheat', { 'total.js': cheat, 'package.json': '{"type":"module"}' }) });
    expect(r.output).to.match(/could not: EROFS/);
    expect(r.score).to.equal(0);
  });
});
