/**
 * The curriculum seen from a student's workspace: an exercise lives in `/workspace/EXERCISE_ID`.
 * Submitting copies that folder out through the files API (so no symlink ever leads outside it),
 * and the IDE's exercise panel, Run and "Run tests" buttons are answered from here.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';
import { renderMarkdown } from '../core/markdown.ts';
import type { WorkspaceFiles } from '../sandbox/files.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import type { CatalogExercise } from './catalog.ts';
import type { Curriculum } from './index.ts';
import type { ExercisePanel } from '../ide/protocol.ts';

const MAX_FILES = 2000;

async function copyFromWorkspace(files: WorkspaceFiles, dir: string, dest: string): Promise<number> {
  let count = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await files.list(rel)) {
      if (entry.name === 'node_modules' || entry.name === '.git') continue;
      if (entry.type === 'directory') await walk(entry.path);
      else if (entry.type === 'file') {
        if (++count > MAX_FILES) throw new OutpostError('SUBMISSION_INVALID', `The folder ${dir} has more than ${MAX_FILES} files; remove build output and try again.`);
        const target = path.join(dest, path.relative(dir, entry.path));
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, (await files.read(entry.path)).content);
      }
    }
  };
  await walk(dir);
  return count;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface WorkspaceCurriculum {
  /** Snapshots /workspace/EXERCISE_ID as a submission and queues it; returns its id. */
  submit(student: string, exerciseId: string): Promise<number>;
  /** The exercise a path in the workspace belongs to (its first folder), if any. */
  exerciseAt(filePath: string | null | undefined): CatalogExercise | undefined;
  panel(student: string, filePath: string | null | undefined): ExercisePanel | null;
  /** The command for Run or "Run tests" when the file is in an exercise folder. */
  command(filePath: string | null | undefined, purpose: 'run' | 'tests'): string | undefined;
}

export function createWorkspaceCurriculum(deps: { curriculum: Curriculum; workspaces: Workspaces }): WorkspaceCurriculum {
  const { catalog, submissions, queue, gradebook } = deps.curriculum;

  function exerciseAt(filePath: string | null | undefined): CatalogExercise | undefined {
    const first = (filePath ?? '').replace(/^\/?(workspace\/)?/, '').split('/')[0] ?? '';
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(first)) return undefined;
    const exercise = catalog.exercise(first);
    return exercise?.active ? exercise : undefined;
  }

  return {
    exerciseAt,

    async submit(student, exerciseId) {
      const exercise = catalog.exercise(exerciseId);
      if (!exercise?.active) throw new OutpostError('EXERCISE_NOT_FOUND', `There is no exercise "${exerciseId.slice(0, 64)}".`);
      const files = await deps.workspaces.files(student);
      if (!(await files.list(exercise.id).then(() => true, () => false))) {
        throw new OutpostError('SUBMISSION_INVALID', `There is no folder /workspace/${exercise.id} in your workspace. Put the starter files there first (on the exercise's page), or move your work into that folder.`);
      }
      const temp = await mkdtemp(path.join(os.tmpdir(), 'outpost-submit-'));
      try {
        await copyFromWorkspace(files, exercise.id, temp);
        const sub = await submissions.create({ exercise: exercise.id, student, from: temp, source: 'ide' });
        queue.enqueue(sub.id, 'submit', student);
        return sub.id;
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    },

    panel(student, filePath) {
      const exercise = exerciseAt(filePath);
      if (!exercise) return null;
      const standing = gradebook.standing(student, exercise);
      const attempts = submissions.list({ exercise: exercise.id, student, limit: 10 }).map((s) => {
        const run = queue.latestRun(s.id);
        return { id: s.id, createdAt: s.createdAt, score: run?.score ?? null, maxScore: run?.maxScore ?? exercise.maxScore, status: run ? run.status : 'grading', url: `/learn/submissions/${s.id}` };
      });
      return {
        id: exercise.id, title: exercise.title, instructionsHtml: renderMarkdown(exercise.readme).value, folder: `/workspace/${exercise.id}`,
        maxScore: exercise.maxScore, attemptsAllowed: exercise.spec.grader.attempts, attempts,
        standing: standing.score === null ? (standing.pending ? 'grading…' : 'not submitted yet') : `${standing.score}/${standing.maxScore}${standing.override ? ' (set by your instructor)' : ''}`,
        pageUrl: `/learn/exercises/${exercise.id}`,
      };
    },

    command(filePath, purpose) {
      const exercise = exerciseAt(filePath);
      if (!exercise) return undefined;
      const cd = `cd ${shellQuote(exercise.id)}`;
      if (purpose === 'run') return exercise.spec.run ? `${cd} && ${exercise.spec.run.map(shellQuote).join(' ')}` : undefined;
      switch (exercise.spec.grader.adapter) {
        case 'mocha': return `${cd} && mocha`;
        case 'pytest': return `${cd} && python3 -m pytest -v -p no:cacheprovider`;
        case 'io': {
          // The visible cases, each run with its input and shown next to what is expected.
          const program = (exercise.spec.command ?? []).map(shellQuote).join(' ');
          const steps = (exercise.spec.cases ?? []).filter((c) => !c.hidden).map((c) => `echo ${shellQuote(`── ${c.name}`)}; printf %s ${shellQuote(c.stdin)} | ${program}; echo ${shellQuote(`(expected: ${c.expected.trim()})`)}`);
          return `${cd} && { ${steps.join('; ')}; }`;
        }
      }
    },
  };
}
