/**
 * The grading queue, persisted in SQLite: jobs survive a restart (a job that was running when the
 * server stopped runs again, and its one result is written in the same transaction that marks it
 * done, so no result is ever doubled), run with a configured concurrency, and are taken fairly: the
 * student with the fewest jobs running goes first, then the one served longest ago, so one student
 * pushing twenty times does not hold up the class. Each job names the exercise version it grades
 * against (its target), fixed when it is queued: asking again for the same submission and target
 * while such a job waits or runs returns that job, and asking for another target (a re-grade after
 * a test fix) queues a new one, so a fix is never swallowed by a job for the old tests. Jobs of one
 * submission run one after another, so the last run is the one asked for last.
 */
import type { AuditLog } from '../core/audit.ts';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Migration } from '../core/migrations.ts';
import type { Store } from '../core/store.ts';
import type { Catalog } from './catalog.ts';
import type { Grader, GradeResult } from './grader.ts';
import type { Submissions } from './submissions.ts';

export const queueMigrations: Migration[] = [
  {
    version: 52,
    name: 'grading queue',
    sql: `
      create table grading_jobs (
        id integer primary key,
        submission integer not null references submissions(id),
        student text not null,
        reason text not null check (reason in ('submit', 'regrade')),
        state text not null check (state in ('queued', 'running', 'done', 'failed')),
        enqueued_at text not null,
        started_at text,
        finished_at text,
        tries integer not null default 0,
        requested_by text not null
      );
      create index grading_jobs_state on grading_jobs(state, id);
      create index grading_jobs_submission on grading_jobs(submission);
      create table grading_runs (
        id integer primary key,
        job integer not null unique references grading_jobs(id),
        submission integer not null references submissions(id),
        exercise text not null,
        exercise_hash text not null,
        student text not null,
        status text not null,
        score real not null,
        max_score real not null,
        tests text not null,
        output text not null,
        error text,
        started_at text not null,
        finished_at text not null,
        duration_ms integer not null
      );
      create index grading_runs_submission on grading_runs(submission, id);
      create index grading_runs_student on grading_runs(student, exercise, id);
    `,
  },
  {
    version: 86,
    name: 'grading jobs: target exercise version; index for the fair choice',
    // Unfinished jobs get the target they would have used; finished ones never run again.
    sql: `
      alter table grading_jobs add column target_hash text;
      update grading_jobs set target_hash = (select s.exercise_hash from submissions s where s.id = grading_jobs.submission)
        where reason = 'submit' and state in ('queued', 'running');
      update grading_jobs set target_hash = (select e.hash from submissions s join exercises e on e.id = s.exercise where s.id = grading_jobs.submission)
        where reason = 'regrade' and state in ('queued', 'running');
      create index grading_jobs_student_started on grading_jobs(student, started_at);
    `,
  },
];

export interface GradingRun {
  id: number;
  job: number;
  submission: number;
  exercise: string;
  exerciseHash: string;
  student: string;
  status: GradeResult['status'];
  score: number;
  maxScore: number;
  tests: GradeResult['tests'];
  output: string;
  error: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

export interface JobInfo {
  id: number;
  submission: number;
  student: string;
  reason: 'submit' | 'regrade';
  state: 'queued' | 'running' | 'done' | 'failed';
  /** The exercise version graded against (null only for jobs finished before targets were kept). */
  targetHash: string | null;
  enqueuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface GradingQueue {
  enqueue(submission: number, reason: 'submit' | 'regrade', by: string): JobInfo;
  /**
   * Re-grades the submissions of an exercise against its current tests (after a test fix); with
   * `students`, only theirs (an instructor re-grades the cohorts they teach).
   */
  regradeExercise(exercise: string, by: string, options?: { students?: Iterable<string> }): JobInfo[];
  job(id: number): JobInfo | undefined;
  runsOf(submission: number): GradingRun[];
  latestRun(submission: number): GradingRun | undefined;
  depth(): { queued: number; running: number };
  /** Starts taking jobs (jobs a previous process left running go back to the queue first). */
  start(): void;
  /** Resolves when the queue is empty and nothing runs (tests and the CLI). */
  idle(): Promise<void>;
  onResult(listener: (run: GradingRun) => void): void;
  stop(): Promise<void>;
}

interface JobRow { id: number; submission: number; student: string; reason: 'submit' | 'regrade'; state: JobInfo['state']; target_hash: string | null; enqueued_at: string; started_at: string | null; finished_at: string | null; tries: number }
interface RunRow { id: number; job: number; submission: number; exercise: string; exercise_hash: string; student: string; status: GradeResult['status']; score: number; max_score: number; tests: string; output: string; error: string | null; started_at: string; finished_at: string; duration_ms: number }

const MAX_TRIES = 3;

/**
 * The fair choice of the next job. A job waits while another job of its submission runs, so two
 * runs of one submission never race and the later request writes the later result. Exported so a
 * test can check its query plan (grading_jobs_student_started keeps it from scanning every job).
 */
export const TAKE_SQL = `
  select j.* from grading_jobs j
  where j.state = 'queued'
    and not exists (select 1 from grading_jobs o where o.submission = j.submission and o.state = 'running')
  order by
    (select count(*) from grading_jobs r where r.state = 'running' and r.student = j.student),
    coalesce((select max(r.started_at) from grading_jobs r where r.student = j.student and r.started_at is not null), ''),
    j.id
  limit 1`;

export function createGradingQueue(deps: { store: Store; grader: Grader; catalog: Catalog; submissions: Submissions; audit: AuditLog; log: Logger; concurrency: number }): GradingQueue {
  const { store, grader, catalog, submissions, log } = deps;
  const { db } = store;
  const listeners: ((run: GradingRun) => void)[] = [];
  const running = new Set<Promise<void>>();
  let started = false;
  let stopping = false;
  let idleWaiters: (() => void)[] = [];

  const toJob = (r: JobRow): JobInfo => ({ id: r.id, submission: r.submission, student: r.student, reason: r.reason, state: r.state, targetHash: r.target_hash, enqueuedAt: r.enqueued_at, startedAt: r.started_at, finishedAt: r.finished_at });
  const toRun = (r: RunRow): GradingRun => ({ id: r.id, job: r.job, submission: r.submission, exercise: r.exercise, exerciseHash: r.exercise_hash, student: r.student, status: r.status, score: r.score, maxScore: r.max_score, tests: JSON.parse(r.tests) as GradeResult['tests'], output: r.output, error: r.error, startedAt: r.started_at, finishedAt: r.finished_at, durationMs: r.duration_ms });

  /** The fair choice, taken and marked running in one transaction so two takers never share a job. */
  const take = db.transaction((): JobRow | undefined => {
    const row = db.prepare(TAKE_SQL).get() as JobRow | undefined;
    if (!row) return undefined;
    db.prepare("update grading_jobs set state = 'running', started_at = ?, tries = tries + 1 where id = ?").run(new Date().toISOString(), row.id);
    return { ...row, state: 'running', tries: row.tries + 1 };
  });

  function enqueue(submission: number, reason: 'submit' | 'regrade', by: string, currentHash?: string): JobInfo {
    const sub = submissions.get(submission);
    if (!sub) throw new OutpostError('SUBMISSION_NOT_FOUND', `There is no submission ${submission}.`);
    // A first grade uses the version it was submitted to (if the catalog still has it); a re-grade,
    // the current one. Fixed now, so a job that waits while tests change still grades what was asked.
    const target = reason === 'submit' && catalog.exercise(sub.exercise, sub.exerciseHash) ? sub.exerciseHash : currentHash ?? catalog.exercise(sub.exercise)?.hash ?? sub.exerciseHash;
    const job = db.transaction(() => {
      // A running job with the same target gives the very result asked for (same files, same tests).
      const same = db.prepare("select * from grading_jobs where submission = ? and state in ('queued', 'running') and target_hash = ? order by id desc limit 1").get(submission, target) as JobRow | undefined;
      if (same) return same;
      const id = Number(db.prepare("insert into grading_jobs (submission, student, reason, state, target_hash, enqueued_at, requested_by) values (?, ?, ?, 'queued', ?, ?, ?)").run(submission, sub.student, reason, target, new Date().toISOString(), by).lastInsertRowid);
      return db.prepare('select * from grading_jobs where id = ?').get(id) as JobRow;
    })();
    pump();
    return toJob(job);
  }

  async function runJob(job: JobRow): Promise<void> {
    const sub = submissions.get(job.submission)!;
    // Every job names its target (migration 86 filled in the ones queued before); a version no longer
    // in the catalog falls back to the current one.
    const exercise = (job.target_hash ? catalog.exercise(sub.exercise, job.target_hash) : undefined) ?? catalog.exercise(sub.exercise);
    const startedAt = new Date().toISOString();
    let result: GradeResult;
    try {
      if (!exercise) throw new OutpostError('EXERCISE_NOT_FOUND', `The exercise ${sub.exercise} of submission ${sub.id} is no longer in the catalog.`);
      result = await grader.grade({ exercise, submissionDir: sub.dir, owner: sub.student });
    } catch (error) {
      log.warn({ err: error, job: job.id, submission: sub.id }, 'grading failed');
      if (job.tries < MAX_TRIES && !stopping) {
        db.prepare("update grading_jobs set state = 'queued' where id = ? and state = 'running'").run(job.id);
        return;
      }
      result = { status: 'error', score: 0, maxScore: exercise?.maxScore ?? 0, tests: [], output: '', error: `Grading failed ${job.tries} times: ${(error as Error).message}`, durationMs: 0 };
    }
    if (stopping && result.status === 'error') return; // a stop interrupted it: it runs again at the next start
    const finishedAt = new Date().toISOString();
    const runId = db.transaction(() => {
      const id = Number(db.prepare('insert into grading_runs (job, submission, exercise, exercise_hash, student, status, score, max_score, tests, output, error, started_at, finished_at, duration_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(job.id, sub.id, sub.exercise, exercise?.hash ?? sub.exerciseHash, sub.student, result.status, result.score, result.maxScore, JSON.stringify(result.tests), result.output, result.error ?? null, startedAt, finishedAt, result.durationMs).lastInsertRowid);
      db.prepare("update grading_jobs set state = ?, finished_at = ? where id = ?").run(result.status === 'error' ? 'failed' : 'done', finishedAt, job.id);
      return id;
    })();
    const run = toRun(db.prepare('select * from grading_runs where id = ?').get(runId) as RunRow);
    for (const listener of listeners) {
      try { listener(run); } catch (error) { log.error({ err: error }, 'a grading listener failed'); }
    }
  }

  function pump(): void {
    if (!started || stopping) return;
    while (running.size < deps.concurrency) {
      const job = take();
      if (!job) break;
      const work = runJob(job).catch((error: unknown) => log.error({ err: error, job: job.id }, 'grading job crashed')).finally(() => {
        running.delete(work);
        pump();
        if (running.size === 0 && depthNow().queued === 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const w of waiters) w();
        }
      });
      running.add(work);
    }
  }

  function depthNow(): { queued: number; running: number } {
    const rows = db.prepare("select state, count(*) as n from grading_jobs where state in ('queued', 'running') group by state").all() as { state: string; n: number }[];
    return { queued: rows.find((r) => r.state === 'queued')?.n ?? 0, running: rows.find((r) => r.state === 'running')?.n ?? 0 };
  }

  return {
    enqueue: (submission, reason, by) => enqueue(submission, reason, by),

    regradeExercise(exercise, by, options = {}) {
      const only = options.students === undefined ? undefined : new Set(options.students);
      const subs = (db.prepare('select id, student from submissions where exercise = ? order by id').all(exercise) as { id: number; student: string }[]).filter((s) => only === undefined || only.has(s.student));
      deps.audit.record({ actor: by, action: 'grading.regrade-exercise', target: exercise, details: { submissions: subs.length, ...(only ? { students: new Set(subs.map((s) => s.student)).size } : {}) } });
      const current = catalog.exercise(exercise)?.hash;
      return subs.map((s) => enqueue(s.id, 'regrade', by, current));
    },

    job(id) {
      const row = db.prepare('select * from grading_jobs where id = ?').get(id) as JobRow | undefined;
      return row ? toJob(row) : undefined;
    },

    runsOf(submission) {
      return (db.prepare('select * from grading_runs where submission = ? order by id').all(submission) as RunRow[]).map(toRun);
    },

    latestRun(submission) {
      const row = db.prepare('select * from grading_runs where submission = ? order by id desc limit 1').get(submission) as RunRow | undefined;
      return row ? toRun(row) : undefined;
    },

    depth: depthNow,

    start() {
      if (started) return;
      // Whatever was running when the last process stopped never wrote its result: run it again.
      const recovered = db.prepare("update grading_jobs set state = 'queued' where state = 'running'").run().changes;
      if (recovered > 0) log.info({ recovered }, 'grading jobs interrupted by a stop are queued again');
      started = true;
      stopping = false;
      pump();
    },

    idle() {
      if (running.size === 0 && depthNow().queued === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    onResult(listener) {
      listeners.push(listener);
    },

    async stop() {
      stopping = true;
      await Promise.allSettled([...running]);
      started = false;
    },
  };
}
