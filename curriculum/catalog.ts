/**
 * The imported curriculum: every import is kept as an immutable copy (by content hash), exercises
 * are upserted by id, and submissions keep pointing at the exercise version they were made
 * against, so re-importing a fixed curriculum never loses work. At import each new or changed
 * exercise's reference solution is graded: it must score 100%, and the tests it reports become the
 * exercise's expected test list (a test a later run never reaches counts as failed, not as absent).
 */
import { readFileSync } from 'node:fs';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Actor } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Migration } from '../core/migrations.ts';
import type { Store } from '../core/store.ts';
import type { GradableExercise, Grader, GradeResult } from './grader.ts';
import { exerciseFileSchema, hashFolder, loadCurriculum, type Curriculum, type ExerciseSpec } from './schema.ts';

export const catalogMigrations: Migration[] = [
  {
    version: 50,
    name: 'curriculum catalog',
    sql: `
      create table curriculum_versions (
        hash text primary key,
        curriculum text not null,
        title text not null,
        version text not null,
        outline text not null,
        dir text not null,
        imported_at text not null,
        imported_by text not null
      );
      create table curriculum_current (curriculum text primary key, hash text not null references curriculum_versions(hash));
      create table exercise_versions (
        exercise text not null,
        hash text not null,
        spec text not null,
        dir text not null,
        expected_tests text not null,
        max_score real not null,
        created_at text not null,
        primary key (exercise, hash)
      );
      create table exercises (
        id text primary key,
        curriculum text not null,
        track text not null,
        module text not null,
        position integer not null,
        title text not null,
        language text not null,
        hash text not null,
        active integer not null default 1,
        updated_at text not null,
        foreign key (id, hash) references exercise_versions(exercise, hash)
      );
    `,
  },
];

export interface OutlineItem { kind: 'lesson' | 'exercise'; id: string; title: string; minutes?: number; docs?: string[]; file?: string }
export interface Outline { id: string; title: string; version: string; tracks: { id: string; title: string; summary: string; modules: { id: string; title: string; summary: string; items: OutlineItem[] }[] }[] }

export interface CatalogExercise extends GradableExercise {
  title: string;
  language: string;
  curriculum: string;
  track: string;
  module: string;
  hash: string;
  maxScore: number;
  active: boolean;
  /** The instructions (Markdown). */
  readme: string;
}

export interface ImportReport {
  curriculum: string;
  hash: string;
  unchanged: boolean;
  exercises: { id: string; status: 'new' | 'changed' | 'unchanged'; solutionScore?: string }[];
  retired: string[];
}

export interface Catalog {
  validate(dir: string): Promise<Curriculum>;
  /** Validates, grades every new or changed reference solution, and makes this version current. */
  import(dir: string, actor: Actor, options?: { onProgress?: (line: string) => void }): Promise<ImportReport>;
  /** Copies the current version's folder to `dest` (which must not exist). */
  export(curriculumId: string | undefined, dest: string): Promise<string>;
  outline(curriculumId?: string): (Outline & { hash: string }) | undefined;
  curricula(): { id: string; title: string; version: string; hash: string; importedAt: string }[];
  exercise(id: string, hash?: string): CatalogExercise | undefined;
  exercises(filter?: { curriculum?: string; activeOnly?: boolean }): CatalogExercise[];
  /** The lesson's Markdown from the current version. */
  lesson(curriculumId: string, lessonId: string): { title: string; markdown: string; docs: string[] } | undefined;
}

interface ExerciseRow { id: string; curriculum: string; track: string; module: string; position: number; title: string; language: string; hash: string; active: number; spec: string; dir: string; expected_tests: string; max_score: number }

export function createCatalog(deps: { store: Store; audit: AuditLog; grader?: Grader; dataDir: string; log: Logger }): Catalog {
  const { store, audit, log } = deps;
  const { db } = store;
  const contentRoot = path.join(deps.dataDir, 'curriculum', 'versions');

  function rowToExercise(row: ExerciseRow, text: string): CatalogExercise {
    const spec = exerciseFileSchema.parse(JSON.parse(row.spec));
    return {
      id: row.id, title: row.title, language: row.language, curriculum: row.curriculum, track: row.track, module: row.module, hash: row.hash,
      spec, dir: row.dir, expectedTests: JSON.parse(row.expected_tests) as { visible: string[]; hidden: string[] }, maxScore: row.max_score, active: row.active === 1, readme: text,
    };
  }

  const selectExercise = `select e.id, e.curriculum, e.track, e.module, e.position, e.title, e.language, v.hash, e.active, v.spec, v.dir, v.expected_tests, v.max_score
    from exercises e join exercise_versions v on v.exercise = e.id`;

  function outline(curriculumId?: string): (Outline & { hash: string }) | undefined {
    const row = (curriculumId === undefined
      ? db.prepare('select v.hash, v.outline from curriculum_current c join curriculum_versions v on v.hash = c.hash order by c.curriculum limit 1').get()
      : db.prepare('select v.hash, v.outline from curriculum_current c join curriculum_versions v on v.hash = c.hash where c.curriculum = ?').get(curriculumId)) as { hash: string; outline: string } | undefined;
    return row ? { ...(JSON.parse(row.outline) as Outline), hash: row.hash } : undefined;
  }

  async function gradeReference(exercise: GradableExercise, solutionDir: string): Promise<GradeResult> {
    if (!deps.grader) throw new OutpostError('GRADER_FAILED', 'Importing needs the grader (a Docker engine and the workspace image) to check each reference solution. Run ./outpost doctor.');
    return deps.grader.grade({ exercise, submissionDir: solutionDir, owner: 'outpost-import' });
  }

  /**
   * Exercise ids are global (submissions, runs and grades hang on them), so a curriculum may not
   * take an id another curriculum has, even a retired one: its students' work would change course.
   */
  function refuseForeignExercises(curriculum: Curriculum): void {
    for (const exercise of curriculum.exercises.values()) {
      const owner = db.prepare('select curriculum from exercises where id = ?').get(exercise.id) as { curriculum: string } | undefined;
      if (owner && owner.curriculum !== curriculum.id) {
        const file = path.relative(curriculum.root, path.join(exercise.dir, 'exercise.yaml'));
        throw new OutpostError('CURRICULUM_INVALID', `${file}: the exercise id "${exercise.id}" belongs to the curriculum "${owner.curriculum}"; "${curriculum.id}" cannot use it too. Give the exercise another id (and its folder the same name).`, { details: { exercise: exercise.id, file, curriculum: curriculum.id, owner: owner.curriculum } });
      }
    }
  }

  return {
    validate: (dir) => loadCurriculum(dir),

    async import(dir, actor, options = {}) {
      const say = options.onProgress ?? (() => undefined);
      const curriculum = await loadCurriculum(dir);
      refuseForeignExercises(curriculum);
      const versionDir = path.join(contentRoot, curriculum.hash);
      const known = db.prepare('select hash from curriculum_versions where hash = ?').get(curriculum.hash) !== undefined;
      if (!known) {
        // Copied first under a temporary name and renamed, so a crash never leaves half a version.
        const temp = `${versionDir}.partial`;
        await rm(temp, { recursive: true, force: true });
        await mkdir(path.dirname(versionDir), { recursive: true });
        await cp(curriculum.root, temp, { recursive: true });
        await rm(versionDir, { recursive: true, force: true });
        await rename(temp, versionDir);
      }
      const report: ImportReport = { curriculum: curriculum.id, hash: curriculum.hash, unchanged: false, exercises: [], retired: [] };
      const versions: { id: string; hash: string; spec: ExerciseSpec; dir: string; expected: { visible: string[]; hidden: string[] }; max: number; track: string; module: string; position: number; title: string; language: string }[] = [];
      let position = 0;
      for (const track of curriculum.tracks) {
        for (const mod of track.modules) {
          for (const item of mod.items) {
            if (item.kind !== 'exercise') continue;
            position++;
            const storedDir = path.join(versionDir, path.relative(curriculum.root, item.dir));
            const hash = await hashFolder(storedDir);
            const existing = db.prepare('select expected_tests, max_score from exercise_versions where exercise = ? and hash = ?').get(item.id, hash) as { expected_tests: string; max_score: number } | undefined;
            const previous = db.prepare('select hash, active from exercises where id = ?').get(item.id) as { hash: string; active: number } | undefined;
            let expected: { visible: string[]; hidden: string[] };
            let max: number;
            if (existing) {
              expected = JSON.parse(existing.expected_tests) as typeof expected;
              max = existing.max_score;
            } else {
              say(`  grading the reference solution of ${item.id}…`);
              const solution = path.join(deps.dataDir, 'curriculum', 'work', `${item.id}-${hash.slice(0, 12)}`);
              await rm(solution, { recursive: true, force: true });
              await cp(path.join(storedDir, item.spec.starter), solution, { recursive: true });
              await cp(path.join(storedDir, item.spec.solution), solution, { recursive: true, force: true });
              const result = await gradeReference({ id: item.id, spec: item.spec, dir: storedDir }, solution).finally(() => rm(solution, { recursive: true, force: true }));
              if (result.status !== 'graded' || result.score < result.maxScore || result.maxScore === 0) {
                const failing = result.tests.filter((t) => !t.passed).map((t) => `${t.name}: ${t.message}`).slice(0, 5);
                throw new OutpostError('CURRICULUM_INVALID', `The reference solution of ${item.id} scores ${result.score}/${result.maxScore} (${result.status}${result.error ? `: ${result.error}` : ''}); it must score 100%.${failing.length ? `\n  ${failing.join('\n  ')}` : ''}`, { details: { exercise: item.id } });
              }
              expected = { visible: result.tests.filter((t) => t.visibility === 'visible').map((t) => t.name), hidden: result.tests.filter((t) => t.visibility === 'hidden').map((t) => t.name) };
              max = result.maxScore;
            }
            // Against what students have now: a version known from before (a revert) is still a change.
            report.exercises.push({ id: item.id, status: !previous ? 'new' : previous.active === 1 && previous.hash === hash ? 'unchanged' : 'changed', solutionScore: `${max}/${max}` });
            versions.push({ id: item.id, hash, spec: item.spec, dir: storedDir, expected, max, track: track.id, module: mod.id, position, title: item.title, language: item.spec.language });
          }
        }
      }
      const outlineValue: Outline = {
        id: curriculum.id, title: curriculum.title, version: curriculum.version,
        tracks: curriculum.tracks.map((t) => ({ id: t.id, title: t.title, summary: t.summary, modules: t.modules.map((m) => ({ id: m.id, title: m.title, summary: m.summary, items: m.items.map((i) => i.kind === 'lesson' ? { kind: 'lesson' as const, id: i.id, title: i.title, ...(i.minutes ? { minutes: i.minutes } : {}), docs: i.docs, file: i.file } : { kind: 'exercise' as const, id: i.id, title: i.title }) })) })),
      };
      const now = new Date().toISOString();
      const current = db.prepare('select hash from curriculum_current where curriculum = ?').get(curriculum.id) as { hash: string } | undefined;
      report.unchanged = current?.hash === curriculum.hash;
      db.transaction(() => {
        // Again inside the transaction: another import may have claimed an id while this one graded.
        refuseForeignExercises(curriculum);
        db.prepare('insert or ignore into curriculum_versions (hash, curriculum, title, version, outline, dir, imported_at, imported_by) values (?, ?, ?, ?, ?, ?, ?, ?)').run(curriculum.hash, curriculum.id, curriculum.title, curriculum.version, JSON.stringify(outlineValue), versionDir, now, actor.name);
        db.prepare('insert into curriculum_current (curriculum, hash) values (?, ?) on conflict(curriculum) do update set hash = excluded.hash').run(curriculum.id, curriculum.hash);
        for (const v of versions) {
          db.prepare('insert or ignore into exercise_versions (exercise, hash, spec, dir, expected_tests, max_score, created_at) values (?, ?, ?, ?, ?, ?, ?)').run(v.id, v.hash, JSON.stringify(v.spec), v.dir, JSON.stringify(v.expected), v.max, now);
          db.prepare(`insert into exercises (id, curriculum, track, module, position, title, language, hash, active, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
            on conflict(id) do update set curriculum = excluded.curriculum, track = excluded.track, module = excluded.module, position = excluded.position, title = excluded.title, language = excluded.language, hash = excluded.hash, active = 1, updated_at = excluded.updated_at`).run(v.id, curriculum.id, v.track, v.module, v.position, v.title, v.language, v.hash, now);
        }
        const ids = new Set(versions.map((v) => v.id));
        for (const row of db.prepare('select id from exercises where curriculum = ? and active = 1').all(curriculum.id) as { id: string }[]) {
          if (!ids.has(row.id)) {
            db.prepare('update exercises set active = 0, updated_at = ? where id = ?').run(now, row.id);
            report.retired.push(row.id);
          }
        }
        audit.record({ actor: actor.name, action: 'curriculum.import', target: curriculum.id, details: { hash: curriculum.hash, version: curriculum.version, exercises: report.exercises.map((e) => `${e.id}:${e.status}`), retired: report.retired } });
      })();
      log.info({ curriculum: curriculum.id, hash: curriculum.hash }, 'curriculum imported');
      return report;
    },

    async export(curriculumId, dest) {
      const found = outline(curriculumId);
      if (!found) throw new OutpostError('CURRICULUM_NOT_FOUND', curriculumId ? `No curriculum "${curriculumId}" has been imported.` : 'No curriculum has been imported yet. Run ./outpost curriculum import DIR.');
      const row = db.prepare('select dir from curriculum_versions where hash = ?').get(found.hash) as { dir: string };
      await cp(row.dir, dest, { recursive: true, errorOnExist: true, force: false });
      return found.hash;
    },

    outline,

    curricula() {
      return (db.prepare('select v.curriculum as id, v.title, v.version, v.hash, v.imported_at as importedAt from curriculum_current c join curriculum_versions v on v.hash = c.hash order by v.curriculum').all() as { id: string; title: string; version: string; hash: string; importedAt: string }[]);
    },

    exercise(id, hash) {
      const row = (hash === undefined
        ? db.prepare(`${selectExercise} and v.hash = e.hash where e.id = ?`).get(id)
        : db.prepare(`${selectExercise} and v.hash = ? where e.id = ?`).get(hash, id)) as ExerciseRow | undefined;
      if (!row) return undefined;
      const spec = exerciseFileSchema.parse(JSON.parse(row.spec));
      let text = '';
      try { text = readFileSync(path.join(row.dir, spec.instructions), 'utf8'); } catch { /* missing instructions were refused at import */ }
      return rowToExercise(row, text);
    },

    exercises(filter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.curriculum) { where.push('e.curriculum = ?'); params.push(filter.curriculum); }
      if (filter.activeOnly !== false) where.push('e.active = 1');
      const rows = db.prepare(`${selectExercise} and v.hash = e.hash ${where.length ? `where ${where.join(' and ')}` : ''} order by e.curriculum, e.position`).all(...params) as ExerciseRow[];
      return rows.map((row) => rowToExercise(row, ''));
    },

    lesson(curriculumId, lessonId) {
      const found = outline(curriculumId);
      if (!found) return undefined;
      for (const t of found.tracks) for (const m of t.modules) for (const item of m.items) {
        if (item.kind === 'lesson' && item.id === lessonId && item.file) {
          const row = db.prepare('select dir from curriculum_versions where hash = ?').get(found.hash) as { dir: string };
          const text = readFileSync(path.join(row.dir, item.file), 'utf8');
          return { title: item.title, markdown: text.replace(/^---\r?\n[\s\S]*?\r?\n---\r?\n?/, ''), docs: item.docs ?? [] };
        }
      }
      return undefined;
    },
  };
}
