/**
 * The curriculum domain assembled: catalog (import, outline, exercises), submissions, the grading
 * queue over the autograder, and "submit by push": a push to the default branch of a student's
 * repository named after an exercise (`STUDENT/EXERCISE_ID`) becomes a submission of exactly the
 * pushed commit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Accounts } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store.ts';
import type { OneShotRunner } from '../sandbox/oneshot.ts';
import type { GitHosting, PushEvent } from '../fake-internet/git/hosting.ts';
import { exportCommit } from '../fake-internet/git/repos.ts';
import { createCatalog, catalogMigrations, type Catalog } from './catalog.ts';
import { createGrader, type Grader } from './grader.ts';
import { createGradingQueue, queueMigrations, type GradingQueue } from './queue.ts';
import { createSubmissions, submissionMigrations, type Submissions } from './submissions.ts';
import { createGradebook, gradebookMigrations, type Gradebook } from './gradebook.ts';

export const curriculumMigrations = [...catalogMigrations, ...submissionMigrations, ...queueMigrations, ...gradebookMigrations];

export interface Curriculum {
  catalog: Catalog;
  submissions: Submissions;
  queue: GradingQueue;
  grader: Grader;
  gradebook: Gradebook;
  /** Turns a push into a submission when it is a student's exercise repository; returns the job. */
  submitPush(push: PushEvent): Promise<number | undefined>;
}

export interface CurriculumDeps {
  store: Store;
  audit: AuditLog;
  accounts: Accounts;
  log: Logger;
  dataDir: string;
  concurrency: number;
  oneShot: OneShotRunner;
  git?: GitHosting;
}

export function createCurriculum(deps: CurriculumDeps): Curriculum {
  const log = deps.log.child({ module: 'curriculum' });
  const grader = createGrader({ oneShot: deps.oneShot, workDir: path.join(deps.dataDir, 'grader', 'jobs'), log });
  const catalog = createCatalog({ store: deps.store, audit: deps.audit, grader, dataDir: deps.dataDir, log });
  const submissions = createSubmissions({ store: deps.store, catalog, audit: deps.audit, dataDir: deps.dataDir });
  const queue = createGradingQueue({ store: deps.store, grader, catalog, submissions, audit: deps.audit, log, concurrency: deps.concurrency });
  const gradebook = createGradebook({ store: deps.store, catalog, submissions, accounts: deps.accounts, audit: deps.audit });

  async function submitPush(push: PushEvent): Promise<number | undefined> {
    const git = deps.git;
    if (!git) return undefined;
    const repo = git.get(push.owner, push.name);
    const exercise = catalog.exercise(push.name);
    const student = deps.accounts.get(push.owner);
    if (!repo || repo.ownerKind !== 'user' || !exercise?.active || student?.role !== 'student') return undefined;
    const update = push.updates.find((u) => u.ref === `refs/heads/${repo.defaultBranch}` && !/^0+$/.test(u.new));
    if (!update) return undefined;
    const temp = await mkdtemp(path.join(os.tmpdir(), 'outpost-push-'));
    try {
      const files = path.join(temp, 'files');
      await exportCommit(git.repoDir(repo.owner, repo.name), update.new, files);
      const submission = await submissions.create({ exercise: exercise.id, student: student.name, from: files, source: 'push', repo: `${repo.owner}/${repo.name}`, commit: update.new });
      return queue.enqueue(submission.id, 'submit', student.name).id;
    } catch (error) {
      log.warn({ err: error, repo: `${push.owner}/${push.name}`, commit: update.new }, 'a push could not become a submission');
      return undefined;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  deps.git?.onPush((push) => void submitPush(push));

  return { catalog, submissions, queue, grader, gradebook, submitPush };
}
