/**
 * The curriculum end to end over HTTP with a real workspace and real grading containers: a course
 * is imported, a student puts the starter in their workspace, submits a wrong then a right solution
 * and reads the results (hidden tests by name only); the instructor overrides with a reason and
 * comments on a line; the CSV has the right numbers; nobody else sees the work.
 */
import { expect } from 'chai';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type Client, type TestServer, writeTree } from './support.ts';

const HIDDEN_MARK = 'hidden-assertion-detail-7731';

describe('curriculum end to end (HTTP, real workspace and grader)', function () {
  this.timeout(6 * 60_000);
  let s: TestServer;
  let ana: Client;
  let ines: Client;
  let ben: Client;

  const form = async (c: Client, url: string, fields: Record<string, string> = {}) => c.request('POST', url, { form: { ...fields, _csrf: c.csrf ?? '' }, accept: 'html' });
  const get = async (c: Client, url: string) => { const r = await c.request('GET', url, { accept: 'html' }); return { status: r.status, text: await r.text() }; };
  const waitForResult = async (c: Client, url: string) => {
    for (let i = 0; i < 120; i++) {
      const page = await get(c, url);
      if (!page.text.includes('Waiting for the grader')) return page.text;
      await sleep(500);
    }
    throw new Error(`no result at ${url}`);
  };

  before(async () => {
    s = await startTestServer({ curriculum: { graderConcurrency: 2 } });
    await s.system.accounts.createCohort('c1', 'Cohort one', { name: 'test' });
    await s.system.accounts.createCohort('c2', 'Cohort two', { name: 'test' });
    const course = await writeTree(path.join(s.root, 'course'), {
      'curriculum.yaml': 'id: e2e\ntitle: E2E course\nversion: 1\ntracks: [js]\n',
      'js/track.yaml': 'id: js\ntitle: JavaScript\nmodules: [m1]\n',
      'js/m1/module.yaml': 'id: m1\ntitle: Functions\nitems:\n  - lesson: intro\n  - exercise: js-area\n',
      'js/m1/lessons/intro.md': '---\nid: intro\ntitle: What a function is\ndocs: [https://nodejs.org/api/]\n---\nA **function** takes values and gives one back.\n',
      'js/m1/exercises/js-area/exercise.yaml': 'id: js-area\ntitle: Area of a room\nlanguage: javascript\ngrader:\n  adapter: mocha\n  timeLimitSeconds: 8\n  points: { "area (more) works for a long thin room": 2 }\n',
      'js/m1/exercises/js-area/README.md': 'Write `area(width, length)` in `area.js`.\n',
      'js/m1/exercises/js-area/starter/area.js': 'export function area(width, length) {\n  // TODO: multiply\n}\n',
      'js/m1/exercises/js-area/starter/package.json': '{"type":"module","scripts":{"test":"mocha"}}\n',
      'js/m1/exercises/js-area/solution/area.js': 'export function area(width, length) {\n  return width * length;\n}\n',
      'js/m1/exercises/js-area/tests/visible/test/area.test.js': "import { expect } from 'chai';\nimport { area } from '../area.js';\ndescribe('area', () => {\n  it('multiplies width by length', () => expect(area(3, 4)).to.equal(12));\n  it('is 0 for a room of no width', () => expect(area(0, 4)).to.equal(0));\n});\n",
      'js/m1/exercises/js-area/tests/hidden/test/area-hidden.test.js': `import { expect } from 'chai';\nimport { area } from '../area.js';\ndescribe('area (more)', () => {\n  it('works for a long thin room', () => expect(area(1, 25), '${HIDDEN_MARK}').to.equal(25));\n});\n`,
    });
    await s.system.curriculum.catalog.import(course, { name: 'test' });
    await s.system.start();
    const a = await s.user('ana', 'student', { cohort: 'c1' });
    const b = await s.user('ben', 'student', { cohort: 'c2' });
    const i = await s.user('ines', 'instructor', { cohort: 'c1' });
    ana = await s.login(a.name, a.password);
    ben = await s.login(b.name, b.password);
    ines = await s.login(i.name, i.password);
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  it('shows the course and its lessons', async () => {
    const learn = await get(ana, '/learn');
    expect(learn.text).to.include('Functions').and.include('Area of a room').and.include('0 of 1 exercises done');
    const lesson = await get(ana, '/learn/e2e/lessons/intro');
    expect(lesson.text).to.include('A <strong>function</strong> takes values');
  });

  it('lets a student start, submit a wrong then a right solution, and read the results', async () => {
    const start = await form(ana, '/learn/exercises/js-area/start');
    expect(start.status).to.equal(303);
    const files = await s.system.sandbox.workspaces.files('ana');
    expect((await files.read('js-area/test/area.test.js')).content.toString()).to.include('multiplies width by length');
    await files.write('js-area/area.js', 'export function area(width, length) {\n  return width + length;\n}\n');
    const wrong = await form(ana, '/learn/exercises/js-area/submit');
    expect(wrong.status).to.equal(303);
    const wrongPage = await waitForResult(ana, wrong.headers.get('location')!);
    expect(wrongPage).to.include('<strong>0/4</strong>').and.include('expected 7 to equal 12');
    expect(wrongPage).to.include('area (more) works for a long thin room');
    expect(wrongPage).to.not.include(HIDDEN_MARK);
    await files.write('js-area/area.js', 'export function area(width, length) {\n  return width * length;\n}\n');
    const right = await form(ana, '/learn/exercises/js-area/submit');
    const rightPage = await waitForResult(ana, right.headers.get('location')!);
    expect(rightPage).to.include('<strong>4/4</strong>');
    const exercise = await get(ana, '/learn/exercises/js-area');
    expect(exercise.text).to.include('Standing: <strong>4/4</strong>');
  });

  it('lets the instructor comment on a line and override with a reason; the CSV has the numbers', async () => {
    const matrix = await get(ines, '/gradebook/c1');
    expect(matrix.status).to.equal(200);
    expect(matrix.text).to.include('4/4');
    const sub = s.system.curriculum.submissions.list({ student: 'ana', exercise: 'js-area' })[0]!;
    const page = await get(ines, `/gradebook/submissions/${sub.id}`);
    expect(page.text).to.include('return width * length;');
    expect(page.text).to.include('works for a long thin room');
    expect((await form(ines, `/gradebook/submissions/${sub.id}/comments`, { file: 'area.js', line: '2', body: 'Nice and *short*.' })).status).to.equal(303);
    const noReason = await form(ines, `/gradebook/submissions/${sub.id}/override`, { score: '3', reason: '' });
    expect(noReason.status).to.equal(400);
    expect((await form(ines, `/gradebook/submissions/${sub.id}/override`, { score: '3', reason: 'Copied the comment block from the lesson' })).status).to.equal(303);
    const csv = await ines.request('GET', '/gradebook/c1/grades.csv');
    const text = await csv.text();
    expect(csv.headers.get('content-type')).to.match(/text\/csv/);
    expect(text.split('\r\n')[0]).to.equal('student,display_name,js-area (of 4),total,total_possible');
    expect(text.split('\r\n')[1]).to.equal('ana,,3,3,4');
    const audited = s.system.audit.query({ action: 'grade.override' }).entries[0]!;
    expect(audited).to.deep.include({ actor: 'ines', target: 'ana' });
    expect(audited.details).to.deep.include({ from: 4, to: 3 });
    const seen = await get(ana, '/learn/exercises/js-area');
    expect(seen.text).to.include('3/4 (set by instructor)').and.include('Copied the comment block').and.include('Nice and <em>short</em>.');
  });

  it("keeps a student's work from other students and from other cohorts' instructors", async () => {
    const sub = s.system.curriculum.submissions.list({ student: 'ana', exercise: 'js-area' })[0]!;
    expect((await get(ben, `/learn/submissions/${sub.id}`)).status).to.equal(404);
    expect((await get(ben, `/gradebook/submissions/${sub.id}`)).status).to.equal(403);
    expect((await get(ben, '/gradebook/c1')).status).to.equal(403);
    const ivan = await s.user('ivan', 'instructor', { cohort: 'c2' });
    const ivanClient = await s.login(ivan.name, ivan.password);
    expect((await get(ivanClient, '/gradebook/c1')).status).to.equal(403);
    expect((await get(ivanClient, `/gradebook/submissions/${sub.id}`)).status).to.equal(404);
    expect((await form(ivanClient, `/gradebook/submissions/${sub.id}/override`, { score: '0', reason: 'not mine to grade' })).status).to.equal(404);
    expect((await form(ines, '/learn/exercises/js-area/submit')).status).to.equal(403);
  });
});
