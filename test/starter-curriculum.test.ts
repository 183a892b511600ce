/**
 * The starter curriculum Outpost ships (curriculum/content): it validates, it meets the promised
 * size, every reference solution scores 100% in the real grader (import refuses anything less),
 * and every starter scores below 100%.
 */
import { expect } from 'chai';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestSystem, type TestSystem } from './support.ts';

const CONTENT = fileURLToPath(new URL('../curriculum/content', import.meta.url));

describe('the starter curriculum', function () {
  this.timeout(20 * 60_000);
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem();
  });
  after(async () => {
    await t?.cleanup();
  });

  it('has the promised tracks, modules and exercises, and lessons that point at mirrored docs', async () => {
    const c = await t.system.curriculum.catalog.validate(CONTENT);
    const byTrack = Object.fromEntries(c.tracks.map((track) => [track.id, { modules: track.modules.length, exercises: track.modules.reduce((n, m) => n + m.items.filter((i) => i.kind === 'exercise').length, 0) }]));
    const tracks = Object.values(byTrack);
    expect(c.tracks.map((x) => x.title)).to.have.members(['JavaScript foundations', 'Web development with Node and Express', 'Python foundations']);
    const js = byTrack[c.tracks.find((x) => x.title === 'JavaScript foundations')!.id]!;
    const web = byTrack[c.tracks.find((x) => x.title === 'Web development with Node and Express')!.id]!;
    const py = byTrack[c.tracks.find((x) => x.title === 'Python foundations')!.id]!;
    expect(js.modules).to.be.at.least(3);
    expect(js.exercises).to.be.at.least(12);
    expect(web.modules).to.be.at.least(2);
    expect(web.exercises).to.be.at.least(6);
    expect(py.modules).to.be.at.least(2);
    expect(py.exercises).to.be.at.least(6);
    expect(tracks.length).to.equal(3);
    const docs = c.tracks.flatMap((x) => x.modules.flatMap((m) => m.items.flatMap((i) => (i.kind === 'lesson' ? i.docs : []))));
    expect(docs.length).to.be.above(0);
    for (const url of docs) expect(url, url).to.match(/^https:\/\/(docs\.python\.org\/3\/|nodejs\.org\/(api|docs)\/|git-scm\.com\/docs\b|search\.outpost\/)/);
  });

  it('imports: every reference solution scores 100% in the real grader', async () => {
    const report = await t.system.curriculum.catalog.import(CONTENT, { name: 'test' });
    expect(report.exercises.length).to.be.at.least(24);
    for (const e of report.exercises) expect(e.status).to.equal('new');
  });

  it('every starter scores below 100%', async () => {
    const { catalog, grader } = t.system.curriculum;
    const failures: string[] = [];
    for (const exercise of catalog.exercises()) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-starter-check-'));
      try {
        await cp(path.join(exercise.dir, exercise.spec.starter), dir, { recursive: true });
        const result = await grader.grade({ exercise, submissionDir: dir, owner: 'starter-check' });
        if (result.score >= result.maxScore) failures.push(`${exercise.id}: the starter scores ${result.score}/${result.maxScore}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    expect(failures).to.deep.equal([]);
  });
});
