/**
 * Submissions are immutable snapshots: the files (node_modules and .git left out), their hash, and
 * where they came from (the IDE, a push — with the commit —, or the command line). Each is kept with
 * every grading run made of it. A snapshot is written under a temporary name, moved to a folder
 * named by a random key (never by the row id: a folder left by a restore or a power loss under the
 * next id would otherwise be taken for, or block, a new submission), made read-only, and only then
 * is its row inserted, in the transaction that checks the attempt limit. A failure removes the
 * folder, so no row ever points at missing or foreign files and no refused attempt is counted.
 */
import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AuditLog } from '../core/audit.ts';
import { asOutpostError, OutpostError } from '../core/errors.ts';
import type { Migration } from '../core/migrations.ts';
import type { Store } from '../core/store.ts';
import { makeTreeReadable } from '../core/files.ts';
import type { Catalog } from './catalog.ts';
import { hashFolder } from './schema.ts';

export const submissionMigrations: Migration[] = [
  {
    version: 51,
    name: 'submissions',
    sql: `
      create table submissions (
        id integer primary key,
        exercise text not null,
        exercise_hash text not null,
        student text not null,
        created_at text not null,
        source text not null check (source in ('ide', 'push', 'cli', 'upload')),
        files_hash text not null,
        repo text,
        commit_oid text,
        late integer not null default 0
      );
      create index submissions_student on submissions(student, exercise, id);
      create index submissions_exercise on submissions(exercise, id);
    `,
  },
  {
    version: 87,
    name: 'submissions: folders named by a random key',
    // Null for submissions made before: their folder is still submissions/ID.
    sql: `
      alter table submissions add column dir_key text;
      create unique index submissions_dir_key on submissions(dir_key) where dir_key is not null;
    `,
  },
];

export interface Submission {
  id: number;
  exercise: string;
  exerciseHash: string;
  student: string;
  createdAt: string;
  source: 'ide' | 'push' | 'cli' | 'upload';
  filesHash: string;
  repo: string | null;
  commit: string | null;
  late: boolean;
  dir: string;
}

export interface Submissions {
  create(input: { exercise: string; student: string; from: string; source: Submission['source']; repo?: string; commit?: string }): Promise<Submission>;
  get(id: number): Submission | undefined;
  list(filter: { exercise?: string; student?: string; limit?: number }): Submission[];
  /** The snapshot's files (relative paths) and, for one file, its text. */
  files(id: number): Promise<string[]>;
  readFile(id: number, rel: string): Promise<string>;
  /** Removes snapshot folders a crash left without a row. */
  sweepPartial(): Promise<number>;
}

interface Row { id: number; exercise: string; exercise_hash: string; student: string; created_at: string; source: Submission['source']; files_hash: string; repo: string | null; commit_oid: string | null; late: number; dir_key: string | null }

const SKIPPED = new Set(['node_modules', '.git']);
const MAX_FILES = 2000;
const MAX_BYTES = 20 * 1024 * 1024;

/**
 * Copies a submission's files: regular files and folders only (no links, no devices), without
 * node_modules and .git, refusing more than MAX_FILES files or MAX_BYTES bytes. Returns the count.
 */
export async function copySubmissionFiles(from: string, to: string): Promise<number> {
  let files = 0;
  let bytes = 0;
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (SKIPPED.has(entry.name)) continue;
      const source = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await mkdir(path.join(to, rel, entry.name), { recursive: true });
        await walk(source, path.join(rel, entry.name));
      } else if (entry.isFile()) {
        files++;
        bytes += (await lstat(source)).size;
        if (files > MAX_FILES || bytes > MAX_BYTES) throw new OutpostError('SUBMISSION_INVALID', `The submission is too large: at most ${MAX_FILES} files and ${MAX_BYTES / 1024 / 1024} MiB (node_modules and .git are left out). Remove build output or data files and submit again.`);
        await cp(source, path.join(to, rel, entry.name));
      }
    }
  };
  await mkdir(to, { recursive: true });
  await walk(from, '');
  return files;
}

export function createSubmissions(deps: { store: Store; catalog: Catalog; audit: AuditLog; dataDir: string; now?: () => Date }): Submissions {
  const { db } = deps.store;
  const root = path.join(deps.dataDir, 'submissions');
  const now = deps.now ?? (() => new Date());
  const dirOf = (r: Pick<Row, 'id' | 'dir_key'>) => path.join(root, r.dir_key ?? String(r.id));
  const toSubmission = (r: Row): Submission => ({ id: r.id, exercise: r.exercise, exerciseHash: r.exercise_hash, student: r.student, createdAt: r.created_at, source: r.source, filesHash: r.files_hash, repo: r.repo, commit: r.commit_oid, late: r.late === 1, dir: dirOf(r) });

  async function snapshot(from: string, to: string): Promise<void> {
    if ((await copySubmissionFiles(from, to)) === 0) throw new OutpostError('SUBMISSION_INVALID', 'The submission has no files. Submit the folder that holds your exercise.');
  }

  async function freeze(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) await freeze(p);
      else await chmod(p, 0o444);
    }
    await chmod(dir, 0o555);
  }

  /** Undoes freeze() so a folder that never got its row can be removed without root. */
  async function removeFrozen(dir: string): Promise<void> {
    await makeTreeReadable(dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  const countAttempts = db.prepare('select count(*) as n from submissions where exercise = ? and student = ?');
  const attemptsExhausted = (exercise: { id: string; title: string }, limit: number) =>
    new OutpostError('ATTEMPTS_EXHAUSTED', `You have used all ${limit} attempts at "${exercise.title}". Ask your instructor if you need another.`, { details: { exercise: exercise.id, limit } });

  function get(id: number): Submission | undefined {
    const row = db.prepare('select * from submissions where id = ?').get(id) as Row | undefined;
    return row ? toSubmission(row) : undefined;
  }

  return {
    async create(input) {
      const exercise = deps.catalog.exercise(input.exercise);
      if (!exercise || !exercise.active) throw new OutpostError('EXERCISE_NOT_FOUND', `There is no exercise "${input.exercise}" in the current curriculum.`, { details: { exercise: input.exercise } });
      const limit = exercise.spec.grader.attempts;
      const used = () => (countAttempts.get(exercise.id, input.student) as { n: number }).n;
      // Checked first so a spent student is told before any copying, and again at the insert.
      if (limit > 0 && used() >= limit) throw attemptsExhausted(exercise, limit);
      const key = randomBytes(12).toString('hex');
      const temp = path.join(root, `.partial-${key}`);
      const dir = path.join(root, key);
      let placed = false;
      try {
        await snapshot(input.from, temp);
        const filesHash = await hashFolder(temp);
        await rename(temp, dir);
        placed = true;
        await freeze(dir);
        const at = now();
        const late = exercise.spec.grader.due !== undefined && at.getTime() > Date.parse(exercise.spec.grader.due);
        // The count and the insert in one transaction: concurrent submits cannot all pass the limit.
        const id = db.transaction(() => {
          if (limit > 0 && used() >= limit) throw attemptsExhausted(exercise, limit);
          const inserted = Number(db.prepare('insert into submissions (exercise, exercise_hash, student, created_at, source, files_hash, repo, commit_oid, late, dir_key) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
            .run(exercise.id, exercise.hash, input.student, at.toISOString(), input.source, filesHash, input.repo ?? null, input.commit ?? null, late ? 1 : 0, key).lastInsertRowid);
          deps.audit.record({ actor: input.student, action: 'submission.create', target: exercise.id, details: { submission: inserted, source: input.source, filesHash, ...(input.commit ? { commit: input.commit, repo: input.repo } : {}), ...(late ? { late: true } : {}) } });
          return inserted;
        })();
        placed = false;
        return get(id)!;
      } catch (error) {
        // Only the error's code in the message: the student sees it, and the paths are the server's.
        throw asOutpostError(error, 'SUBMISSION_SAVE_FAILED', `The submission could not be saved (${(error as NodeJS.ErrnoException).code ?? 'storage error'}). Nothing was recorded and no attempt was used; submit again, and tell staff if it keeps failing.`);
      } finally {
        await rm(temp, { recursive: true, force: true });
        if (placed) await removeFrozen(dir);
      }
    },

    get,

    list(filter) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: Math.min(filter.limit ?? 1000, 100_000) };
      if (filter.exercise) { where.push('exercise = @exercise'); params.exercise = filter.exercise; }
      if (filter.student) { where.push('student = @student'); params.student = filter.student; }
      return (db.prepare(`select * from submissions ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit @limit`).all(params) as Row[]).map(toSubmission);
    },

    async files(id) {
      const row = db.prepare('select id, dir_key from submissions where id = ?').get(id) as Pick<Row, 'id' | 'dir_key'> | undefined;
      if (!row) return [];
      const out: string[] = [];
      const walk = async (dir: string, rel: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          if (entry.isDirectory()) await walk(path.join(dir, entry.name), path.join(rel, entry.name));
          else out.push(path.join(rel, entry.name));
        }
      };
      await walk(dirOf(row), '');
      return out.sort();
    },

    async readFile(id, rel) {
      const normal = path.posix.normalize(rel.replace(/\\/g, '/'));
      if (normal.startsWith('../') || normal === '..' || path.isAbsolute(normal)) throw new OutpostError('INPUT_INVALID', `"${rel.slice(0, 100)}" is not a file of the submission.`);
      const row = db.prepare('select id, dir_key from submissions where id = ?').get(id) as Pick<Row, 'id' | 'dir_key'> | undefined;
      if (!row) throw new OutpostError('SUBMISSION_NOT_FOUND', `There is no submission ${id}.`);
      const file = path.join(dirOf(row), normal);
      const s = await lstat(file).catch(() => undefined);
      if (!s?.isFile()) throw new OutpostError('SUBMISSION_NOT_FOUND', `The submission has no file ${normal}.`);
      if (s.size > 1024 * 1024) return `(${s.size} bytes: too large to show)`;
      return readFile(file, 'utf8');
    },

    async sweepPartial() {
      let removed = 0;
      for (const entry of await readdir(root).catch(() => [] as string[])) {
        if (entry.startsWith('.partial-')) { await rm(path.join(root, entry), { recursive: true, force: true }); removed++; }
      }
      return removed;
    },
  };
}
