/**
 * The autograder: runs an exercise's tests against a submission in fresh one-shot sandbox containers
 * (the same hardening and network as workspaces), the folder mounted read-only, with a wall-time
 * limit and an output cap. The visible tests run first; then the container is taken off the network
 * and reset (every process killed, every writable place emptied) before the hidden tests are made
 * readable and run, so nothing of the visible run watches them arrive and nothing can carry them out
 * over the network. (An exercise with an image of its own gets two containers, the hidden one with
 * no network.) Nothing from the hidden run is shown but each test's name, result and points (and its
 * message only when the exercise allows). For io exercises the expected outputs never enter a
 * container at all: the program's output comes back and is compared here.
 *
 * Limits of any in-process test runner, stated plainly: student code runs in the same process as
 * the tests, so a determined student can make tests report passes; instructors see the code, the
 * similarity check flags copies, and an override or re-grade fixes a score.
 */
import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/log.ts';
import { JOB_DIR, type OneShotRunner, type WarmContainer } from '../sandbox/oneshot.ts';
import type { ExecResult } from '../sandbox/workspaces.ts';
import type { ExerciseSpec } from './schema.ts';
import { makeTreeReadable } from '../core/files.ts';
import { copySubmissionFiles } from './submissions.ts';

export const KIT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kit');

export interface TestResult {
  name: string;
  visibility: 'visible' | 'hidden';
  passed: boolean;
  points: number;
  maxPoints: number;
  /** For hidden tests only when the exercise allows it. */
  message: string;
  durationMs: number;
}

export interface GradeResult {
  status: 'graded' | 'timeout' | 'error';
  score: number;
  maxScore: number;
  tests: TestResult[];
  /** What the visible run printed (capped); never anything from the hidden run. */
  output: string;
  error?: string;
  durationMs: number;
}

export interface GradableExercise {
  id: string;
  spec: ExerciseSpec;
  /** The exercise's folder (exercise.yaml, tests, starter, solution). */
  dir: string;
  /** The tests a full run has, from grading the reference solution; missing ones count as failed. */
  expectedTests?: { visible: string[]; hidden: string[] };
}

export interface Grader {
  grade(input: { exercise: GradableExercise; submissionDir: string; owner: string; image?: string }): Promise<GradeResult>;
}

interface RawTest { name: string; passed: boolean; message: string; durationMs: number }
interface RawRun { tests?: RawTest[]; cases?: { name: string; stdout: string; stderr: string; exitCode: number; timedOut: boolean; durationMs: number }[]; output?: string; timedOut?: boolean; exitCode?: number }

interface PassOutcome { raw?: RawRun; timedOut: boolean; error?: string }

/** Runs the grading kit on one assembled folder and returns what the container printed. */
type PassRunner = (visibility: 'visible' | 'hidden', job: string, timeoutSeconds: number, outputCapBytes: number) => Promise<ExecResult>;

/**
 * Between the visible and the hidden run in one container: every process the visible run left
 * behind is killed (all but init, the agent and this shell's own agent connection), and every
 * writable place is emptied, so nothing of the first run is there to watch the hidden tests arrive.
 * Exit 3 when a process survives: the hidden tests are then not run at all.
 */
const RESET_SCRIPT = `
me=$$; conn=$PPID
read -r _ _ _ agent _ < /proc/$conn/stat
keep() { case $1 in 1|$me|$conn|$agent) return 0;; esac; return 1; }
i=0
while [ $i -lt 100 ]; do
  others=""
  for d in /proc/[0-9]*; do p=\${d#/proc/}; keep $p || others="$others $p"; done
  [ -z "$others" ] && break
  kill -9 $others 2>/dev/null
  i=$((i + 1))
done
rm -rf /tmp/* /tmp/.[!.]* /workspace/* /workspace/.[!.]* /home/student/* /home/student/.[!.]* 2>/dev/null
for d in /proc/[0-9]*; do p=\${d#/proc/}; keep $p || exit 3; done
exit 0
`;


/** Compares program output the forgiving way people expect: trailing spaces and final newlines do not count. */
export function sameOutput(actual: string, expected: string): boolean {
  const norm = (s: string) => s.replace(/\r\n/g, '\n').split('\n').map((l) => l.replace(/\s+$/, '')).join('\n').replace(/\n+$/, '');
  return norm(actual) === norm(expected);
}

function parseRun(stdout: string): RawRun | undefined {
  const marker = stdout.lastIndexOf('\nOUTPOST-RESULT ');
  if (marker === -1) return undefined;
  const line = stdout.slice(marker + '\nOUTPOST-RESULT '.length).split('\n')[0]!;
  try {
    return JSON.parse(line) as RawRun;
  } catch {
    return undefined;
  }
}

export function createGrader(deps: { oneShot: OneShotRunner; workDir: string; log: Logger }): Grader {
  const { oneShot, log } = deps;

  async function runPass(exercise: GradableExercise, visibility: 'visible' | 'hidden', runner: PassRunner): Promise<PassOutcome> {
    const spec = exercise.spec;
    const cases = (spec.cases ?? []).filter((c) => (visibility === 'hidden') === c.hidden).map((c) => ({ name: c.name, stdin: c.stdin }));
    if (spec.grader.adapter === 'io' && cases.length === 0) return { raw: { cases: [] }, timedOut: false };
    const job = { adapter: spec.grader.adapter, timeLimitSeconds: spec.grader.timeLimitSeconds, outputCapBytes: spec.grader.outputCapKiB * 1024, ...(spec.command ? { command: spec.command } : {}), cases };
    const runs = spec.grader.adapter === 'io' ? Math.max(1, cases.length) : 1;
    // The runner enforces the limit itself; this is the backstop should it hang.
    const result = await runner(visibility, JSON.stringify(job), spec.grader.timeLimitSeconds * runs + 20, spec.grader.outputCapKiB * 1024 * 8 + 4 * 1024 * 1024);
    const raw = parseRun(result.stdout.toString('utf8'));
    if (result.timedOut) return { ...(raw ? { raw } : {}), timedOut: true };
    if (!raw) return { timedOut: false, error: `The grading run ended without a result (exit ${result.exitCode}): ${result.stderr.toString('utf8').slice(-500)}` };
    return { raw, timedOut: raw.timedOut === true || (raw.cases ?? []).some((c) => c.timedOut) };
  }

  function scoreTests(exercise: GradableExercise, visibility: 'visible' | 'hidden', raw: RawRun | undefined, timedOut: boolean): TestResult[] {
    const spec = exercise.spec;
    const maxFor = (name: string, explicit?: number) => explicit ?? spec.grader.points[name] ?? spec.grader.pointsPerTest;
    const showMessage = visibility === 'visible' || spec.grader.showHiddenMessages;
    const results: TestResult[] = [];
    if (spec.grader.adapter === 'io') {
      for (const c of (spec.cases ?? []).filter((x) => (visibility === 'hidden') === x.hidden)) {
        const ran = raw?.cases?.find((r) => r.name === c.name);
        const passed = ran !== undefined && !ran.timedOut && ran.exitCode === 0 && sameOutput(ran.stdout, c.expected);
        const message = !ran ? 'did not run' : ran.timedOut ? `did not finish within ${spec.grader.timeLimitSeconds} s` : ran.exitCode !== 0 ? `the program exited with code ${ran.exitCode}${ran.stderr ? `: ${ran.stderr.trim().split('\n').slice(-3).join(' ')}` : ''}` : passed ? '' : visibility === 'visible' ? `expected:\n${c.expected}\ngot:\n${ran.stdout}` : 'the output differs from what was expected';
        const max = maxFor(c.name, c.points);
        results.push({ name: c.name, visibility, passed, points: passed ? max : 0, maxPoints: max, message: showMessage || passed ? message : '', durationMs: ran?.durationMs ?? 0 });
      }
      return results;
    }
    const ran = new Map((raw?.tests ?? []).map((t) => [t.name, t]));
    const expected = exercise.expectedTests?.[visibility] ?? [...ran.keys()];
    for (const name of expected) {
      const t = ran.get(name);
      const passed = t?.passed === true;
      const message = t ? t.message : timedOut ? `did not finish: the tests stopped at the ${spec.grader.timeLimitSeconds} s time limit` : 'did not run (the test run crashed before reaching it)';
      const max = maxFor(name);
      results.push({ name, visibility, passed, points: passed ? max : 0, maxPoints: max, message: showMessage ? message : passed ? '' : 'failed', durationMs: t?.durationMs ?? 0 });
    }
    return results;
  }

  return {
    async grade({ exercise, submissionDir, owner, image }) {
      const started = Date.now();
      const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
      // The usual case: one container made ahead of time, both runs in it, one after the other.
      // An exercise with an image of its own gets two containers made for it, side by side.
      let warm: WarmContainer | undefined = image === undefined ? await oneShot.take() : undefined;
      const base = warm ? warm.slot : path.join(deps.workDir, id);
      try {
        const passes = ['visible', 'hidden'] as const;
        const dirs = { visible: path.join(base, 'visible'), hidden: path.join(base, 'hidden') };
        for (const visibility of passes) {
          await copySubmissionFiles(submissionDir, dirs[visibility]);
          if (exercise.spec.grader.adapter !== 'io') {
            const tests = path.join(exercise.dir, exercise.spec.tests[visibility]);
            // The exercise's tests win over any file of the same name in the submission.
            if (await lstat(tests).then((s) => s.isDirectory(), () => false)) await cp(tests, dirs[visibility], { recursive: true, force: true });
          }
          await makeTreeReadable(dirs[visibility]);
        }
        await chmod(base, 0o755);
        if (warm) {
          await mkdir(path.join(base, 'kit'));
          await cp(path.join(KIT_DIR, 'run.mjs'), path.join(base, 'kit', 'run.mjs'));
          await makeTreeReadable(path.join(base, 'kit'));
          // Root's alone until the visible run is over and the container reset.
          await chmod(dirs.hidden, 0o700);
        }
        const hasHidden = exercise.spec.grader.adapter === 'io' ? (exercise.spec.cases ?? []).some((c) => c.hidden) : await readdir(path.join(exercise.dir, exercise.spec.tests.hidden)).then((e) => e.length > 0, () => false);
        const none: PassOutcome = { raw: { tests: [], cases: [] }, timedOut: false };
        let visible: PassOutcome;
        let hidden: PassOutcome;
        if (warm) {
          const inside = warm;
          const runner: PassRunner = (visibility, job, timeoutSeconds, outputCapBytes) => inside.exec({ argv: ['node', `${JOB_DIR}/kit/run.mjs`], cwd: `${JOB_DIR}/${visibility}`, stdin: job, timeoutSeconds, outputCapBytes });
          visible = await runPass(exercise, 'visible', runner);
          hidden = none;
          if (hasHidden) {
            // Off the network first: code the hidden tests load could otherwise push them somewhere
            // the student can read later (their own git repository, with a token they brought).
            const offline = await inside.isolate().then(() => true, (error: unknown) => {
              log.warn({ err: error, exercise: exercise.id }, 'could not take a grading container off the network');
              return false;
            });
            const reset = offline ? await inside.exec({ argv: ['sh', '-c', RESET_SCRIPT], cwd: '/', timeoutSeconds: 30 }) : undefined;
            if (reset === undefined) {
              hidden = { timedOut: false, error: 'The grading container could not be taken off the network, so the hidden tests were not run.' };
            } else if (reset.exitCode !== 0 || reset.timedOut) {
              hidden = { timedOut: false, error: 'The grading container could not be reset after the visible tests, so the hidden tests were not run.' };
            } else {
              await makeTreeReadable(dirs.hidden);
              hidden = await runPass(exercise, 'hidden', runner);
            }
          }
        } else {
          const cold = (jobDir: string): PassRunner => (visibility, job, timeoutSeconds, outputCapBytes) => oneShot.run({
            owner, argv: ['node', '/opt/outpost-grader/run.mjs'], cwd: '/grade', stdin: job, timeoutSeconds, outputCapBytes, offline: visibility === 'hidden',
            mounts: [{ source: jobDir, target: '/grade' }, { source: KIT_DIR, target: '/opt/outpost-grader' }],
            ...(image ? { image } : {}),
          });
          [visible, hidden] = await Promise.all([
            runPass(exercise, 'visible', cold(dirs.visible)),
            hasHidden ? runPass(exercise, 'hidden', cold(dirs.hidden)) : Promise.resolve(none),
          ]);
        }
        const tests = [...scoreTests(exercise, 'visible', visible.raw, visible.timedOut), ...(hasHidden ? scoreTests(exercise, 'hidden', hidden.raw, hidden.timedOut) : [])];
        const score = tests.reduce((sum, t) => sum + t.points, 0);
        const maxScore = tests.reduce((sum, t) => sum + t.maxPoints, 0);
        const error = visible.error ?? (hidden.error ? 'The hidden tests could not be run to the end.' : undefined);
        if (visible.error || hidden.error) log.warn({ exercise: exercise.id, visible: visible.error, hidden: hidden.error }, 'a grading run failed');
        return {
          status: visible.timedOut || hidden.timedOut ? 'timeout' : error ? 'error' : 'graded',
          score, maxScore, tests,
          output: visible.raw?.output ?? (visible.raw?.cases ?? []).map((c) => `$ ${exercise.spec.command?.join(' ') ?? ''}  (${c.name})\n${c.stdout}${c.stderr ? `\n${c.stderr}` : ''}`).join('\n'),
          ...(error ? { error } : {}),
          durationMs: Date.now() - started,
        };
      } finally {
        // Removing the container is not on the student's clock.
        if (warm) void warm.dispose();
        else await rm(base, { recursive: true, force: true });
        warm = undefined;
      }
    },
  };
}
