/**
 * The gradebook: a student's standing on each exercise (best graded score, or the instructor's
 * override, which always wins and always carries a reason), feedback (general or on a line of a
 * submitted file), the cohort × exercise matrix and its CSV, and the score distribution per
 * exercise. Every override and comment is audited.
 */
import type { Accounts } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import { OutpostError } from '../core/errors.ts';
import type { Migration } from '../core/migrations.ts';
import type { Store } from '../core/store.ts';
import type { Catalog, CatalogExercise } from './catalog.ts';
import type { Submissions } from './submissions.ts';

export const gradebookMigrations: Migration[] = [
  {
    version: 53,
    name: 'gradebook',
    sql: `
      create table grade_overrides (
        id integer primary key,
        exercise text not null,
        student text not null,
        score real not null,
        reason text not null,
        by text not null,
        at text not null
      );
      create index grade_overrides_student on grade_overrides(student, exercise, id);
      create table feedback (
        id integer primary key,
        exercise text not null,
        student text not null,
        submission integer,
        file text,
        line integer,
        body text not null,
        author text not null,
        at text not null
      );
      create index feedback_student on feedback(student, exercise, id);
    `,
  },
];

export interface Standing {
  exercise: string;
  student: string;
  attempts: number;
  /**
   * The best of each submission's latest real result (a run the grader could not finish does not
   * replace one), each scaled from the maximum it was graded out of to the current maximum, so
   * runs against different versions of the exercise compare; null when nothing is graded yet.
   */
  best: number | null;
  override: { score: number; reason: string; by: string; at: string } | null;
  score: number | null;
  maxScore: number;
  lastSubmission: number | null;
  /** A submission waits in the queue. */
  pending: boolean;
}

export interface Feedback { id: number; exercise: string; student: string; submission: number | null; file: string | null; line: number | null; body: string; author: string; at: string }

export interface Gradebook {
  standing(student: string, exercise: CatalogExercise): Standing;
  /** Rows: students of the cohort; columns: the active exercises in curriculum order. */
  matrix(cohort: string): { students: string[]; exercises: CatalogExercise[]; cells: Standing[][] };
  csv(cohort: string): string;
  /** Counts of final scores per exercise in ten buckets of the maximum (0–10%, …, 90–100%). */
  distribution(cohort: string, exercise: CatalogExercise): number[];
  override(input: { exercise: string; student: string; score: number; reason: string }, by: string): void;
  comment(input: { exercise: string; student: string; submission?: number; file?: string; line?: number; body: string }, by: string): Feedback;
  feedback(student: string, exercise?: string): Feedback[];
}

export function createGradebook(deps: { store: Store; catalog: Catalog; submissions: Submissions; accounts: Accounts; audit: AuditLog }): Gradebook {
  const { db } = deps.store;

  function standing(student: string, exercise: CatalogExercise): Standing {
    // A timeout is a real result (the code was too slow); an error is the grader's failure, not the student's.
    const agg = db.prepare(`
      select count(distinct s.id) as attempts, max(s.id) as last,
        (select max(case when r.max_score > 0 then r.score * @max / r.max_score else 0 end) from grading_runs r join submissions s2 on s2.id = r.submission
          where s2.student = @student and s2.exercise = @exercise
            and r.id = (select max(r2.id) from grading_runs r2 where r2.submission = s2.id and r2.status <> 'error')) as best,
        (select count(*) from grading_jobs j join submissions s3 on s3.id = j.submission where s3.student = @student and s3.exercise = @exercise and j.state in ('queued', 'running')) as pending
      from submissions s where s.student = @student and s.exercise = @exercise`).get({ student, exercise: exercise.id, max: exercise.maxScore }) as { attempts: number; last: number | null; best: number | null; pending: number };
    if (agg.best !== null) agg.best = Math.round(agg.best * 100) / 100;
    const o = db.prepare('select score, reason, by, at from grade_overrides where student = ? and exercise = ? order by id desc limit 1').get(student, exercise.id) as Standing['override'] | undefined;
    return {
      exercise: exercise.id, student, attempts: agg.attempts, best: agg.best, override: o ?? null,
      score: o ? o.score : agg.best, maxScore: exercise.maxScore, lastSubmission: agg.last, pending: agg.pending > 0,
    };
  }

  function studentsOf(cohort: string): string[] {
    const c = deps.accounts.cohort(cohort);
    if (!c) throw new OutpostError('COHORT_NOT_FOUND', `There is no cohort "${cohort}".`);
    return c.members.filter((m) => deps.accounts.get(m)?.role === 'student').sort();
  }

  function matrix(cohort: string) {
    const students = studentsOf(cohort);
    const exercises = deps.catalog.exercises();
    return { students, exercises, cells: students.map((s) => exercises.map((e) => standing(s, e))) };
  }

  const csvField = (value: string | number | null) => {
    const text = value === null ? '' : String(value);
    // A leading = + - @ would make a spreadsheet run it as a formula.
    const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text) ? `'${text}` : text;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };

  return {
    standing,
    matrix,

    csv(cohort) {
      const m = matrix(cohort);
      const lines = [['student', 'display_name', ...m.exercises.map((e) => `${e.id} (of ${e.maxScore})`), 'total', 'total_possible'].map(csvField).join(',')];
      m.students.forEach((student, i) => {
        const cells = m.cells[i]!;
        const total = cells.reduce((sum, c) => sum + (c.score ?? 0), 0);
        const possible = m.exercises.reduce((sum, e) => sum + e.maxScore, 0);
        lines.push([student, deps.accounts.get(student)?.displayName ?? '', ...cells.map((c) => c.score), total, possible].map(csvField).join(','));
      });
      return `${lines.join('\r\n')}\r\n`;
    },

    distribution(cohort, exercise) {
      const buckets = Array.from({ length: 10 }, () => 0);
      for (const student of studentsOf(cohort)) {
        const s = standing(student, exercise);
        if (s.score === null || exercise.maxScore === 0) continue;
        buckets[Math.min(9, Math.floor((s.score / exercise.maxScore) * 10))]!++;
      }
      return buckets;
    },

    override(input, by) {
      const exercise = deps.catalog.exercise(input.exercise);
      if (!exercise) throw new OutpostError('EXERCISE_NOT_FOUND', `There is no exercise "${input.exercise}".`);
      const reason = input.reason.trim();
      if (reason.length < 3) throw new OutpostError('INPUT_INVALID', 'Give a reason for the override (the student sees it, and it is audited).', { details: { field: 'reason' } });
      if (!Number.isFinite(input.score) || input.score < 0 || input.score > exercise.maxScore) throw new OutpostError('INPUT_INVALID', `The score must be between 0 and ${exercise.maxScore}.`, { details: { field: 'score' } });
      const before = standing(input.student, exercise);
      db.prepare('insert into grade_overrides (exercise, student, score, reason, by, at) values (?, ?, ?, ?, ?, ?)').run(exercise.id, input.student, input.score, reason.slice(0, 2000), by, new Date().toISOString());
      deps.audit.record({ actor: by, action: 'grade.override', target: input.student, details: { exercise: exercise.id, from: before.score, to: input.score, reason: reason.slice(0, 500) } });
    },

    comment(input, by) {
      const body = input.body.trim();
      if (body === '') throw new OutpostError('INPUT_INVALID', 'The comment is empty.', { details: { field: 'body' } });
      if (input.line !== undefined && (!Number.isInteger(input.line) || input.line < 1)) throw new OutpostError('INPUT_INVALID', 'A line number starts at 1.', { details: { field: 'line' } });
      const at = new Date().toISOString();
      const id = Number(db.prepare('insert into feedback (exercise, student, submission, file, line, body, author, at) values (?, ?, ?, ?, ?, ?, ?, ?)').run(input.exercise, input.student, input.submission ?? null, input.file ?? null, input.line ?? null, body.slice(0, 10_000), by, at).lastInsertRowid);
      deps.audit.record({ actor: by, action: 'grade.comment', target: input.student, details: { exercise: input.exercise, ...(input.submission ? { submission: input.submission } : {}), ...(input.file ? { file: input.file, line: input.line } : {}) } });
      return { id, exercise: input.exercise, student: input.student, submission: input.submission ?? null, file: input.file ?? null, line: input.line ?? null, body, author: by, at };
    },

    feedback(student, exercise) {
      return (exercise === undefined
        ? db.prepare('select * from feedback where student = ? order by id').all(student)
        : db.prepare('select * from feedback where student = ? and exercise = ? order by id').all(student, exercise)) as Feedback[];
    },
  };
}
