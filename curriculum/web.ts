/**
 * The curriculum's pages. Students: the course outline with their progress, lessons, each exercise
 * (instructions, starting it in their workspace or as a git repository, submitting, every attempt's
 * results, feedback). Instructors: the cohort × exercise gradebook with its CSV and score
 * distributions, each student's history, a submission's code with line comments, overrides with a
 * reason, re-grading, and the similarity check.
 */
import type { Request, Response } from 'express';
import { mkdtemp, mkdir, rm, writeFile, readdir, readFile, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Accounts, User } from '../core/accounts.ts';
import { OutpostError } from '../core/errors.ts';
import { renderMarkdown } from '../core/markdown.ts';
import type { Policy } from '../core/policy.ts';
import { authOf, csrfField, html, page, pageContext, routeParam as param, type RouteRegistry, type SafeHtml } from '../core/web.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import type { GitHosting } from '../fake-internet/git/hosting.ts';
import type { CatalogExercise } from './catalog.ts';
import type { Curriculum } from './index.ts';
import type { GradingRun } from './queue.ts';
import type { Standing } from './gradebook.ts';
import { comparePairs } from './similarity.ts';
import { createWorkspaceCurriculum } from './workspace.ts';

export interface CurriculumWebDeps {
  curriculum: Curriculum;
  accounts: Accounts;
  policy: Policy;
  workspaces: Workspaces;
  git?: GitHosting;
}

const pct = (score: number | null, max: number) => (score === null || max === 0 ? '' : `${Math.round((score / max) * 100)}%`);
const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function scoreText(s: Standing): string {
  if (s.pending && s.score === null) return 'grading…';
  if (s.score === null) return s.attempts ? 'not graded' : '—';
  return `${s.score}/${s.maxScore}${s.override ? ' (set by instructor)' : ''}`;
}

/** Files of a folder on the host, relative paths. */
async function hostFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => [])) {
    const r = path.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...(await hostFiles(dir, r)));
    else if (entry.isFile()) out.push(r);
  }
  return out;
}

export function registerCurriculumRoutes(routes: RouteRegistry, deps: CurriculumWebDeps): void {
  const { curriculum, accounts } = deps;
  const policy: Policy = deps.policy;
  const { catalog, submissions, queue, gradebook } = curriculum;
  const fromWorkspace = createWorkspaceCurriculum({ curriculum, workspaces: deps.workspaces });
  const me = (res: Response): User => authOf(res)!.user;

  function exerciseOr404(id: string): CatalogExercise {
    const exercise = catalog.exercise(id);
    if (!exercise || !exercise.active) throw new OutpostError('EXERCISE_NOT_FOUND', `There is no exercise "${id.slice(0, 64)}".`);
    return exercise;
  }

  /** A submission, for its student or for someone who may see that student's grades; 404 otherwise. */
  function submissionFor(req: Request, res: Response) {
    const id = Number(param(req, 'id'));
    const sub = Number.isInteger(id) ? submissions.get(id) : undefined;
    const user = me(res);
    if (!sub || (sub.student !== user.name && !policy.can(user, 'gradebook.view', { owner: sub.student }))) throw new OutpostError('SUBMISSION_NOT_FOUND', 'There is no such submission.');
    return sub;
  }

  function testsTable(run: GradingRun | undefined, forInstructor: boolean): SafeHtml {
    if (!run) return html`<p class="muted">Waiting for the grader… this page refreshes by itself.</p>`;
    return html`
      <p><strong>${run.score}/${run.maxScore}</strong> (${pct(run.score, run.maxScore)}) · ${run.status === 'timeout' ? 'stopped at the time limit' : run.status === 'error' ? 'the grader could not finish' : 'graded'} ${when(run.finishedAt)}</p>
      ${run.error ? html`<p class="notice error">${run.error}</p>` : ''}
      <table class="tests"><thead><tr><th>Test</th><th>Kind</th><th>Result</th><th>Points</th></tr></thead><tbody>
      ${run.tests.map((t) => html`<tr class="${t.passed ? 'pass' : 'fail'}"><td>${t.name}${t.message && (t.visibility === 'visible' || forInstructor) ? html`<pre class="message">${t.message}</pre>` : ''}</td><td>${t.visibility}</td><td>${t.passed ? 'passed' : 'failed'}</td><td>${t.points}/${t.maxPoints}</td></tr>`)}
      </tbody></table>
      ${run.output ? html`<details><summary>What your code printed (visible tests)</summary><pre class="output">${run.output}</pre></details>` : ''}`;
  }

  // ---------------------------------------------------------------- students

  routes.add({ method: 'get', path: '/learn', action: 'learn.view', handler: (_req, res) => {
    const user = me(res);
    const ctx = pageContext(res);
    const outlines = catalog.curricula().map((c) => catalog.outline(c.id)!).filter(Boolean);
    // One query for every exercise and one standing each, not one per mention on the page.
    const exercisesById = new Map(catalog.exercises().map((e) => [e.id, e]));
    const standings = new Map(user.role === 'student' ? [...exercisesById.values()].map((e) => [e.id, gradebook.standing(user.name, e)]) : []);
    if (outlines.length === 0) return res.type('html').send(page(ctx, 'Learn', html`<p>No course has been imported yet. Staff import one with <code>./outpost curriculum import DIR</code>.</p>`));
    res.type('html').send(page(ctx, 'Learn', html`${outlines.map((o) => html`
      <section class="course"><h2>${o.title}</h2>
      ${o.tracks.map((t) => html`<section class="track"><h3>${t.title}</h3>${t.summary ? html`<p>${t.summary}</p>` : ''}
        ${t.modules.map((m) => {
          const exercises = m.items.filter((i) => i.kind === 'exercise').map((i) => exercisesById.get(i.id)).filter((e): e is CatalogExercise => e !== undefined);
          const done = exercises.filter((e) => { const s = standings.get(e.id); return s !== undefined && s.score !== null && s.score >= e.maxScore; }).length;
          return html`<div class="module"><h4>${m.title} ${user.role === 'student' ? html`<span class="muted">· ${done} of ${exercises.length} exercises done</span>` : ''}</h4>
            <ol>${m.items.map((i) => i.kind === 'lesson'
              ? html`<li>📖 <a href="/learn/${o.id}/lessons/${i.id}">${i.title}</a>${i.minutes ? html` <span class="muted">(${i.minutes} min)</span>` : ''}</li>`
              : html`<li>✏️ <a href="/learn/exercises/${i.id}">${i.title}</a>${standings.has(i.id) ? html` <span class="muted">${scoreText(standings.get(i.id)!)}</span>` : ''}</li>`)}</ol></div>`;
        })}</section>`)}</section>`)}`));
  } });

  routes.add({ method: 'get', path: '/learn/:curriculum/lessons/:lesson', action: 'learn.view', handler: (req, res) => {
    const lesson = catalog.lesson(param(req, 'curriculum'), param(req, 'lesson'));
    if (!lesson) throw new OutpostError('NOT_FOUND', 'There is no such lesson.');
    res.type('html').send(page(pageContext(res), lesson.title, html`
      <article class="lesson">${renderMarkdown(lesson.markdown)}</article>
      ${lesson.docs.length ? html`<aside><h2>Read more (on the inside internet)</h2><ul>${lesson.docs.map((d) => html`<li><code>${d}</code> — open it in your workspace's browser or with <code>curl</code></li>`)}</ul></aside>` : ''}
      <p><a href="/learn">← Back to the course</a></p>`));
  } });

  routes.add({ method: 'get', path: '/learn/exercises/:id', action: 'learn.view', handler: (req, res) => {
    const exercise = exerciseOr404(param(req, 'id'));
    const user = me(res);
    const ctx = pageContext(res);
    const student = user.role === 'student';
    const mine = student ? submissions.list({ exercise: exercise.id, student: user.name, limit: 50 }) : [];
    const standing = student ? gradebook.standing(user.name, exercise) : undefined;
    const notice = routes.notices.read(req);
    const repo = deps.git && student ? deps.git.get(user.name, exercise.id) : undefined;
    res.type('html').send(page(ctx, exercise.title, html`
      ${notice ? html`<p class="notice ok" role="status">${notice}</p>` : ''}
      <p class="muted">${exercise.language} · ${exercise.maxScore} points${exercise.spec.grader.attempts ? html` · ${exercise.spec.grader.attempts} attempts` : ''}${exercise.spec.grader.due ? html` · due ${when(exercise.spec.grader.due)}` : ''}</p>
      <article class="instructions">${renderMarkdown(exercise.readme)}</article>
      ${student ? html`
        <section><h2>Work on it</h2>
          <form method="post" action="/learn/exercises/${exercise.id}/start">${csrfField(ctx)}<button type="submit">Put the starter files in my workspace</button> <span class="muted">into <code>/workspace/${exercise.id}</code> (never over your own files)</span></form>
          ${deps.git ? repo
            ? html`<p>Your repository: <code>git clone ${deps.git.cloneUrl(user.name, exercise.id)}</code>. Every push to <code>${repo.defaultBranch}</code> is submitted.</p>`
            : html`<form method="post" action="/learn/exercises/${exercise.id}/repo">${csrfField(ctx)}<button type="submit">Start it as a git repository instead</button> <span class="muted">then every push submits</span></form>` : ''}
          <form method="post" action="/learn/exercises/${exercise.id}/submit">${csrfField(ctx)}<button type="submit" class="primary">Submit /workspace/${exercise.id}</button></form>
        </section>
        <section><h2>Your attempts</h2><p>Standing: <strong>${standing ? scoreText(standing) : ''}</strong>${standing?.override ? html` — ${standing.override.reason}` : ''}</p>
          ${mine.length ? html`<table><thead><tr><th>#</th><th>When</th><th>From</th><th>Result</th></tr></thead><tbody>${mine.map((s) => {
            const run = queue.latestRun(s.id);
            return html`<tr><td><a href="/learn/submissions/${String(s.id)}">${String(s.id)}</a></td><td>${when(s.createdAt)}${s.late ? ' (late)' : ''}</td><td>${s.source}${s.commit ? html` <code>${s.commit.slice(0, 8)}</code>` : ''}</td><td>${run ? `${run.score}/${run.maxScore}` : 'grading…'}</td></tr>`;
          })}</tbody></table>` : html`<p class="muted">No attempts yet.</p>`}
        </section>
        ${feedbackList(gradebook.feedback(user.name, exercise.id))}` : html`<p><a href="/gradebook">Open the gradebook</a> to see students' work.</p>`}
      <p><a href="/learn">← Back to the course</a></p>`));
  } });

  function feedbackList(items: ReturnType<typeof gradebook.feedback>): SafeHtml {
    if (items.length === 0) return html``;
    return html`<section><h2>Feedback</h2><ul class="feedback">${items.map((f) => html`<li><span class="muted">${f.author}, ${when(f.at)}${f.file ? html`, on <code>${f.file}:${String(f.line ?? '')}</code>` : ''}</span><div>${renderMarkdown(f.body)}</div></li>`)}</ul></section>`;
  }

  async function starterFolder(exercise: CatalogExercise): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-starter-'));
    for (const from of [exercise.spec.starter, ...(exercise.spec.grader.adapter === 'io' ? [] : [exercise.spec.tests.visible])]) {
      const root = path.join(exercise.dir, from);
      for (const rel of await hostFiles(root)) {
        await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await writeFile(path.join(dir, rel), await readFile(path.join(root, rel)));
      }
    }
    return dir;
  }

  routes.add({ method: 'post', path: '/learn/exercises/:id/start', action: 'learn.submit', handler: async (req, res) => {
    const exercise = exerciseOr404(param(req, 'id'));
    const user = me(res);
    const files = await deps.workspaces.files(user.name);
    const exists = await files.list(exercise.id).then(() => true, () => false);
    if (exists) return res.redirect(303, routes.notices.link(`/learn/exercises/${exercise.id}`, `/workspace/${exercise.id} already exists; nothing was changed.`));
    const starter = await starterFolder(exercise);
    try {
      for (const rel of await hostFiles(starter)) await files.write(path.posix.join(exercise.id, rel.split(path.sep).join('/')), await readFile(path.join(starter, rel)), { createParents: true, expectedVersion: '' });
    } finally {
      await rm(starter, { recursive: true, force: true });
    }
    res.redirect(303, routes.notices.link(`/learn/exercises/${exercise.id}`, `The starter files are in /workspace/${exercise.id}.`));
  } });

  routes.add({ method: 'post', path: '/learn/exercises/:id/repo', action: 'learn.submit', handler: async (req, res) => {
    const exercise = exerciseOr404(param(req, 'id'));
    const user = me(res);
    if (!deps.git) throw new OutpostError('SERVICE_UNAVAILABLE', 'Git hosting is not running on this server.');
    if (!deps.git.get(user.name, exercise.id)) {
      const starter = await starterFolder(exercise);
      try {
        await deps.git.create({ owner: user.name, name: exercise.id, from: starter, description: exercise.title }, { name: user.name });
      } finally {
        await rm(starter, { recursive: true, force: true });
      }
    }
    res.redirect(303, routes.notices.link(`/learn/exercises/${exercise.id}`, `Clone it in your workspace: git clone ${deps.git.cloneUrl(user.name, exercise.id)}`));
  } });

  routes.add({ method: 'post', path: '/learn/exercises/:id/submit', action: 'learn.submit', handler: async (req, res) => {
    const exercise = exerciseOr404(param(req, 'id'));
    const id = await fromWorkspace.submit(me(res).name, exercise.id);
    res.redirect(303, `/learn/submissions/${id}`);
  } });

  routes.add({ method: 'get', path: '/learn/submissions/:id', action: 'learn.view', handler: async (req, res) => {
    const sub = submissionFor(req, res);
    const run = queue.latestRun(sub.id);
    const exercise = catalog.exercise(sub.exercise, sub.exerciseHash) ?? catalog.exercise(sub.exercise);
    const body = page(pageContext(res), `Attempt ${sub.id}: ${exercise?.title ?? sub.exercise}`, html`
      <p class="muted">Submitted ${when(sub.createdAt)} from ${sub.source}${sub.commit ? html` (commit <code>${sub.commit.slice(0, 12)}</code>)` : ''} · files ${sub.filesHash.slice(0, 12)}</p>
      ${testsTable(run, false)}
      ${feedbackList(gradebook.feedback(sub.student, sub.exercise).filter((f) => f.submission === sub.id || f.submission === null))}
      <p><a href="/learn/exercises/${sub.exercise}">← Back to the exercise</a></p>`);
    // Until the result is in, the page asks again every two seconds (no script needed).
    res.type('html').send(run ? body : body.replace('<head>', '<head>\n<meta http-equiv="refresh" content="2">'));
  } });

  // ---------------------------------------------------------------- instructors

  routes.add({ method: 'get', path: '/gradebook', action: 'gradebook.view', handler: (_req, res) => {
    const user = me(res);
    const cohorts = accounts.cohorts(user.role === 'instructor' ? { instructor: user.name } : {});
    res.type('html').send(page(pageContext(res), 'Gradebook', html`<ul>${cohorts.map((c) => html`<li><a href="/gradebook/${c.name}">${c.title || c.name}</a> <span class="muted">(${String(c.members.length)} people)</span></li>`)}</ul>${cohorts.length ? '' : html`<p class="muted">You teach no cohort yet.</p>`}`));
  } });

  function distributionChart(buckets: number[]): SafeHtml {
    const max = Math.max(1, ...buckets);
    const w = 12;
    return html`<svg class="dist" viewBox="0 0 ${String(buckets.length * w)} 40" width="${String(buckets.length * w)}" height="40" role="img" aria-label="Score distribution: ${buckets.join(', ')} students per tenth of the maximum">${buckets.map((n, i) => html`<rect x="${String(i * w + 1)}" y="${String(40 - Math.round((n / max) * 38))}" width="${String(w - 2)}" height="${String(Math.round((n / max) * 38))}"><title>${String(i * 10)}–${String(i * 10 + 10)}%: ${String(n)}</title></rect>`)}</svg>`;
  }

  routes.add({ method: 'get', path: '/gradebook/:cohort', action: 'gradebook.view', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: (req, res) => {
    const cohort = param(req, 'cohort');
    const m = gradebook.matrix(cohort);
    const ctx = pageContext(res);
    res.type('html').send(page(ctx, `Gradebook: ${accounts.cohort(cohort)?.title || cohort}`, html`
      <p><a href="/gradebook/${cohort}/grades.csv">Download as CSV</a></p>
      <div class="scroll"><table class="matrix"><thead><tr><th>Student</th>${m.exercises.map((e) => html`<th title="${e.title}"><a href="/learn/exercises/${e.id}">${e.id}</a></th>`)}</tr>
        <tr><th class="muted">distribution</th>${m.exercises.map((e) => html`<td>${distributionChart(gradebook.distribution(cohort, e))}<br><a class="muted" href="/gradebook/${cohort}/similarity/${e.id}">similarity</a></td>`)}</tr></thead>
      <tbody>${m.students.map((s, i) => html`<tr><th><a href="/gradebook/${cohort}/students/${s}">${accounts.get(s)?.displayName || s}</a></th>${m.cells[i]!.map((c) => html`<td class="${c.score === null ? 'none' : c.score >= c.maxScore ? 'full' : 'part'}">${c.lastSubmission ? html`<a href="/gradebook/submissions/${String(c.lastSubmission)}">${scoreText(c)}</a>` : scoreText(c)}</td>`)}</tr>`)}</tbody></table></div>`));
  } });

  routes.add({ method: 'get', path: '/gradebook/:cohort/grades.csv', action: 'gradebook.view', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: (req, res) => {
    const cohort = param(req, 'cohort');
    res.setHeader('Content-Disposition', `attachment; filename="grades-${cohort}.csv"`);
    res.type('text/csv; charset=utf-8').send(gradebook.csv(cohort));
  } });

  routes.add({ method: 'get', path: '/gradebook/:cohort/students/:student', action: 'gradebook.view', resource: (req) => ({ cohort: param(req, 'cohort'), owner: param(req, 'student') }), handler: (req, res) => {
    const student = param(req, 'student');
    if (!accounts.cohort(param(req, 'cohort'))?.members.includes(student)) throw new OutpostError('NOT_FOUND', 'That person is not in this cohort.');
    const all = submissions.list({ student, limit: 500 });
    res.type('html').send(page(pageContext(res), `${accounts.get(student)?.displayName || student}: history`, html`
      <table><thead><tr><th>#</th><th>Exercise</th><th>When</th><th>From</th><th>Result</th></tr></thead><tbody>
      ${all.map((s) => { const run = queue.latestRun(s.id); return html`<tr><td><a href="/gradebook/submissions/${String(s.id)}">${String(s.id)}</a></td><td>${s.exercise}</td><td>${when(s.createdAt)}${s.late ? ' (late)' : ''}</td><td>${s.source}</td><td>${run ? `${run.score}/${run.maxScore} ${run.status}` : 'grading…'}</td></tr>`; })}
      </tbody></table>`));
  } });

  routes.add({ method: 'get', path: '/gradebook/submissions/:id', action: 'gradebook.view', handler: async (req, res) => {
    const sub = submissionFor(req, res);
    if (!policy.can(me(res), 'gradebook.view', { owner: sub.student })) throw new OutpostError('SUBMISSION_NOT_FOUND', 'There is no such submission.');
    const ctx = pageContext(res);
    const exercise = catalog.exercise(sub.exercise);
    const comments = gradebook.feedback(sub.student, sub.exercise);
    const fileList = await submissions.files(sub.id);
    const texts = await Promise.all(fileList.map(async (f) => ({ path: f, text: await submissions.readFile(sub.id, f) })));
    const standing = exercise ? gradebook.standing(sub.student, exercise) : undefined;
    res.type('html').send(page(ctx, `${accounts.get(sub.student)?.displayName || sub.student} · ${sub.exercise} · attempt ${sub.id}`, html`
      <p class="muted">${when(sub.createdAt)} from ${sub.source}${sub.commit ? html` (commit <code>${sub.commit.slice(0, 12)}</code> of <a href="/git/${sub.repo ?? ''}">${sub.repo ?? ''}</a>)` : ''}${sub.late ? ' · late' : ''}</p>
      ${testsTable(queue.latestRun(sub.id), true)}
      <section class="grading"><h2>Grade</h2><p>Standing: <strong>${standing ? scoreText(standing) : ''}</strong>${standing?.override ? html` — “${standing.override.reason}” (${standing.override.by})` : ''}</p>
        <form class="inline" method="post" action="/gradebook/submissions/${String(sub.id)}/override">${csrfField(ctx)}<label>Score <input name="score" type="number" min="0" max="${String(exercise?.maxScore ?? 0)}" step="0.5" required></label> <label>Reason <input name="reason" required minlength="3" maxlength="2000"></label> <button type="submit">Override</button></form>
        <form class="inline" method="post" action="/gradebook/submissions/${String(sub.id)}/regrade">${csrfField(ctx)}<button type="submit">Grade again</button></form>
      </section>
      <section><h2>Code</h2>${texts.map((f) => html`<h3><code>${f.path}</code></h3><table class="code"><tbody>${f.text.split('\n').map((line, i) => html`<tr id="${f.path}:${String(i + 1)}"><td class="ln">${String(i + 1)}</td><td><pre>${line}</pre>${comments.filter((c) => c.file === f.path && c.line === i + 1).map((c) => html`<div class="line-comment"><strong>${c.author}</strong>: ${c.body}</div>`)}</td></tr>`)}</tbody></table>`)}
        <form class="stack" method="post" action="/gradebook/submissions/${String(sub.id)}/comments">${csrfField(ctx)}
          <label>File <select name="file"><option value="">(the whole attempt)</option>${fileList.map((f) => html`<option>${f}</option>`)}</select></label>
          <label>Line <input name="line" type="number" min="1"></label>
          <label>Comment (Markdown) <textarea name="body" required maxlength="10000"></textarea></label>
          <button type="submit">Add feedback</button></form>
      </section>`));
  } });

  /** The submission, if this user may grade its student (404 when they may not even see it). */
  function gradable(req: Request, res: Response) {
    const sub = submissionFor(req, res);
    policy.assert(me(res), 'gradebook.grade', { owner: sub.student });
    return sub;
  }

  routes.add({ method: 'post', path: '/gradebook/submissions/:id/override', action: 'gradebook.grade', handler: (req, res) => {
    const sub = gradable(req, res);
    const body = req.body as Record<string, unknown>;
    gradebook.override({ exercise: sub.exercise, student: sub.student, score: Number(body.score), reason: String(body.reason ?? '') }, me(res).name);
    res.redirect(303, `/gradebook/submissions/${sub.id}`);
  } });

  routes.add({ method: 'post', path: '/gradebook/submissions/:id/regrade', action: 'gradebook.grade', handler: (req, res) => {
    const sub = gradable(req, res);
    queue.enqueue(sub.id, 'regrade', me(res).name);
    res.redirect(303, `/gradebook/submissions/${sub.id}`);
  } });

  routes.add({ method: 'post', path: '/gradebook/submissions/:id/comments', action: 'gradebook.grade', handler: (req, res) => {
    const sub = gradable(req, res);
    const body = req.body as Record<string, unknown>;
    const file = String(body.file ?? '');
    const line = String(body.line ?? '');
    gradebook.comment({ exercise: sub.exercise, student: sub.student, submission: sub.id, ...(file ? { file } : {}), ...(file && line ? { line: Number(line) } : {}), body: String(body.body ?? '') }, me(res).name);
    res.redirect(303, `/gradebook/submissions/${sub.id}`);
  } });

  /** Whose submissions a user may re-grade all at once: an instructor, the students they teach; staff and admin, everyone's. */
  function regradeScope(user: User): string[] | undefined {
    if (user.role === 'staff' || user.role === 'admin') return undefined;
    if (user.role !== 'instructor') return [];
    return accounts.cohortsOf(user.name).flatMap((c) => accounts.cohort(c)?.members ?? []);
  }

  routes.add({ method: 'post', path: '/gradebook/exercises/:id/regrade', action: 'gradebook.regrade-all', handler: (req, res) => {
    const exercise = exerciseOr404(param(req, 'id'));
    const user = me(res);
    const students = regradeScope(user);
    const jobs = queue.regradeExercise(exercise.id, user.name, students === undefined ? {} : { students });
    res.type('html').send(page(pageContext(res), `Re-grading ${exercise.title}`, html`<p>${String(jobs.length)} submissions${students === undefined ? '' : ' of the cohorts you teach'} are queued for grading against the current tests.</p><p><a href="/gradebook">← Gradebook</a></p>`));
  } });

  routes.add({ method: 'get', path: '/gradebook/:cohort/similarity/:exercise', action: 'gradebook.view', resource: (req) => ({ cohort: param(req, 'cohort') }), handler: async (req, res) => {
    const cohort = param(req, 'cohort');
    const exercise = exerciseOr404(param(req, 'exercise'));
    const members = new Set(accounts.cohort(cohort)?.members ?? []);
    // Each student's latest submission.
    const latest = new Map<string, number>();
    for (const s of submissions.list({ exercise: exercise.id, limit: 100_000 })) if (members.has(s.student) && !latest.has(s.student)) latest.set(s.student, s.id);
    const texts = await Promise.all([...latest.entries()].map(async ([student, id]) => ({ id: student, submission: id, files: await Promise.all((await submissions.files(id)).filter((f) => !f.startsWith('test')).map(async (f) => ({ path: f, text: await submissions.readFile(id, f) }))) })));
    const starterRoot = path.join(exercise.dir, exercise.spec.starter);
    const starter = await Promise.all((await hostFiles(starterRoot)).map(async (f) => ({ path: f, text: (await lstat(path.join(starterRoot, f))).size < 1024 * 1024 ? await readFile(path.join(starterRoot, f), 'utf8') : '' })));
    const pairs = comparePairs(texts, { language: exercise.spec.language, starter, minScore: 0.3 });
    const subOf = new Map(texts.map((t) => [t.id, t.submission]));
    res.type('html').send(page(pageContext(res), `Similarity: ${exercise.title}`, html`
      <p class="muted">Latest submissions of ${String(texts.length)} students, compared by their structure (names, comments and layout do not count; the starter code is left out). A high score is a reason to look, not a verdict.</p>
      ${pairs.length ? html`<table><thead><tr><th>Pair</th><th>Similarity</th><th>Matching regions</th></tr></thead><tbody>${pairs.map((p) => html`<tr><td><a href="/gradebook/submissions/${String(subOf.get(p.a))}">${p.a}</a> & <a href="/gradebook/submissions/${String(subOf.get(p.b))}">${p.b}</a></td><td>${Math.round(p.score * 100)}%</td><td>${p.regions.slice(0, 5).map((r) => html`<div><code>${r.a.path}:${String(r.a.from)}–${String(r.a.to)}</code> ↔ <code>${r.b.path}:${String(r.b.from)}–${String(r.b.to)}</code></div>`)}</td></tr>`)}</tbody></table>` : html`<p>No pair is 30% similar or more.</p>`}
      <form method="post" action="/gradebook/exercises/${exercise.id}/regrade">${csrfField(pageContext(res))}<button type="submit">Re-grade every submission of this exercise${me(res).role === 'instructor' ? ' in the cohorts you teach' : ''}</button></form>`));
  } });
}
