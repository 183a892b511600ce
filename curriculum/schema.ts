/**
 * A curriculum is a folder: `curriculum.yaml` → tracks → modules → lessons (Markdown with front
 * matter) and exercises (`exercise.yaml` with starter files, visible and hidden tests, a reference
 * solution and grader settings). `loadCurriculum` reads and checks all of it and reports every
 * problem at once, each naming the file and line, so an author fixes a whole folder in one pass.
 * See docs/curriculum.md for the format.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { OutpostError } from '../core/errors.ts';

const ID = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'an id of lowercase letters, digits and "-" (at most 64)');
const TITLE = z.string().trim().min(1).max(200);
const relativePath = z.string().min(1).max(200).refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'a path inside the exercise folder');

export const curriculumFileSchema = z.object({ id: ID, title: TITLE, version: z.union([z.number(), z.string()]).transform(String), tracks: z.array(ID).min(1) }).strict();
export const trackFileSchema = z.object({ id: ID, title: TITLE, summary: z.string().max(2000).default(''), modules: z.array(ID).min(1) }).strict();
export const moduleFileSchema = z
  .object({
    id: ID,
    title: TITLE,
    summary: z.string().max(2000).default(''),
    items: z.array(z.union([z.object({ lesson: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'a lesson file name without .md') }).strict(), z.object({ exercise: ID }).strict()])).min(1),
  })
  .strict();
export const lessonFrontMatterSchema = z
  .object({ id: ID, title: TITLE, minutes: z.number().int().min(1).max(600).optional(), docs: z.array(z.url({ protocol: /^https?$/ })).default([]) })
  .strict();

export const ADAPTERS = ['mocha', 'pytest', 'io'] as const;
export type Adapter = (typeof ADAPTERS)[number];

export const exerciseFileSchema = z
  .object({
    id: ID,
    title: TITLE,
    language: z.enum(['javascript', 'typescript', 'python', 'other']),
    /** Markdown file with the instructions the student sees. */
    instructions: relativePath.default('README.md'),
    starter: relativePath.default('starter'),
    solution: relativePath.default('solution'),
    tests: z.object({ visible: relativePath.default('tests/visible'), hidden: relativePath.default('tests/hidden') }).strict().prefault({}),
    grader: z
      .object({
        adapter: z.enum(ADAPTERS),
        /** Image to grade in; default the workspace image, so grading runs what the student ran. */
        image: z.string().regex(/^[a-z0-9][a-z0-9._/:-]*$/).optional(),
        timeLimitSeconds: z.number().int().min(1).max(600).default(10),
        pointsPerTest: z.number().min(0).max(1000).default(1),
        /** Points for particular tests, by their full title (mocha) or node id (pytest) or case name (io). */
        points: z.record(z.string(), z.number().min(0).max(1000)).default({}),
        /** Graded attempts allowed; 0 means no limit. */
        attempts: z.number().int().min(0).default(0),
        due: z.iso.datetime({ offset: true }).optional(),
        /** Whether a hidden test's failure message is shown; its name and result always are. */
        showHiddenMessages: z.boolean().default(false),
        outputCapKiB: z.number().int().min(1).max(1024).default(64),
      })
      .strict(),
    /** The IDE's Run command in the student's folder. */
    run: z.array(z.string().min(1)).min(1).optional(),
    /** io adapter: the program to run for each case. */
    command: z.array(z.string().min(1)).min(1).optional(),
    cases: z
      .array(z.object({ name: z.string().trim().min(1).max(200), stdin: z.string().default(''), expected: z.string(), hidden: z.boolean().default(false), points: z.number().min(0).max(1000).optional() }).strict())
      .optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.grader.adapter === 'io') {
      if (!e.command) ctx.addIssue({ code: 'custom', path: ['command'], message: 'the io adapter needs a command, e.g. ["python3", "main.py"]' });
      if (!e.cases?.length) ctx.addIssue({ code: 'custom', path: ['cases'], message: 'the io adapter needs at least one case' });
      const names = new Set<string>();
      for (const [i, c] of (e.cases ?? []).entries()) {
        if (names.has(c.name)) ctx.addIssue({ code: 'custom', path: ['cases', i, 'name'], message: `two cases are named "${c.name}"` });
        names.add(c.name);
      }
    } else if (e.cases) {
      ctx.addIssue({ code: 'custom', path: ['cases'], message: `cases belong to the io adapter; ${e.grader.adapter} reads its tests from the test folders` });
    }
  });

export type ExerciseSpec = z.infer<typeof exerciseFileSchema>;

export interface Lesson { kind: 'lesson'; id: string; title: string; minutes?: number; docs: string[]; markdown: string; file: string }
export interface Exercise { kind: 'exercise'; id: string; title: string; spec: ExerciseSpec; dir: string; instructions: string }
export interface Module { id: string; title: string; summary: string; items: (Lesson | Exercise)[] }
export interface Track { id: string; title: string; summary: string; modules: Module[] }

export interface Curriculum {
  id: string;
  title: string;
  version: string;
  root: string;
  /** sha256 of every file's path and bytes: equal hashes, equal content. */
  hash: string;
  tracks: Track[];
  exercises: Map<string, Exercise>;
}

export interface Problem { file: string; line?: number; message: string }

/** Reads a YAML file and checks it; problems name the file and the line of the offending value. */
async function readYaml<T>(file: string, schema: z.ZodType<T>, root: string, problems: Problem[]): Promise<T | undefined> {
  const rel = path.relative(root, file) || path.basename(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    problems.push({ file: rel, message: 'the file is missing' });
    return undefined;
  }
  return parseYamlText(text, rel, schema, problems);
}

function parseYamlText<T>(text: string, rel: string, schema: z.ZodType<T>, problems: Problem[], lineOffset = 0): T | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push({ file: rel, line: (error.linePos?.[0]?.line ?? 0) + lineOffset || undefined, message: `YAML: ${error.message.split('\n')[0]}` } as Problem);
    return undefined;
  }
  const parsed = schema.safeParse(doc.toJS());
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    // The deepest node that exists on the issue's path gives the line.
    let line: number | undefined;
    for (let depth = issue.path.length; depth >= 0 && line === undefined; depth--) {
      const node = depth === 0 ? doc.contents : doc.getIn(issue.path.slice(0, depth) as (string | number)[], true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) line = lineCounter.linePos(range[0]).line + lineOffset;
    }
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    problems.push({ file: rel, ...(line !== undefined ? { line } : {}), message: `${where}${issue.message}` });
  }
  return undefined;
}

async function isDirectory(p: string): Promise<boolean> {
  return lstat(p).then((s) => s.isDirectory(), () => false);
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, base)));
    else if (entry.isFile()) out.push(path.relative(base, full));
  }
  return out.sort();
}

export async function hashFolder(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const rel of await listFiles(dir)) {
    hash.update(rel).update('\0').update(await readFile(path.join(dir, rel))).update('\0');
  }
  return hash.digest('hex');
}

async function loadLesson(file: string, root: string, problems: Problem[]): Promise<Lesson | undefined> {
  const rel = path.relative(root, file);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) {
    problems.push({ file: rel, message: 'the lesson file is missing' });
    return undefined;
  }
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!match) {
    problems.push({ file: rel, line: 1, message: 'a lesson starts with front matter between two "---" lines (id, title, docs)' });
    return undefined;
  }
  const front = parseYamlText(match[1]!, rel, lessonFrontMatterSchema, problems, 1);
  if (!front) return undefined;
  return { kind: 'lesson', id: front.id, title: front.title, ...(front.minutes ? { minutes: front.minutes } : {}), docs: front.docs, markdown: text.slice(match[0].length), file: rel };
}

async function loadExercise(dir: string, root: string, problems: Problem[]): Promise<Exercise | undefined> {
  const file = path.join(dir, 'exercise.yaml');
  const spec = await readYaml(file, exerciseFileSchema, root, problems);
  if (!spec) return undefined;
  const rel = path.relative(root, file);
  if (spec.id !== path.basename(dir)) problems.push({ file: rel, line: 1, message: `id "${spec.id}" differs from the folder name "${path.basename(dir)}"` });
  const instructions = await readFile(path.join(dir, spec.instructions), 'utf8').catch(() => undefined);
  if (instructions === undefined) problems.push({ file: rel, message: `instructions: ${spec.instructions} is missing` });
  for (const [key, folder] of [['starter', spec.starter], ['solution', spec.solution]] as const) {
    if (!(await isDirectory(path.join(dir, folder)))) problems.push({ file: rel, message: `${key}: the folder ${folder} is missing` });
  }
  if (spec.grader.adapter !== 'io') {
    const visible = await listFiles(path.join(dir, spec.tests.visible));
    if (visible.length === 0) problems.push({ file: rel, message: `tests.visible: ${spec.tests.visible} holds no test files` });
    const hidden = await listFiles(path.join(dir, spec.tests.hidden));
    for (const name of hidden) if (visible.includes(name)) problems.push({ file: rel, message: `tests: ${name} is both a visible and a hidden test file; give them different names` });
  }
  return { kind: 'exercise', id: spec.id, title: spec.title, spec, dir, instructions: instructions ?? '' };
}

/** A list of ids from a YAML file that did not pass its schema, when it can be read at all. */
async function rawList(file: string, key: string): Promise<string[]> {
  try {
    const value = (parseDocument(await readFile(file, 'utf8')).toJS() as Record<string, unknown> | null)?.[key];
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && ID.safeParse(v).success) : [];
  } catch {
    return [];
  }
}

/** Loads and checks a curriculum folder; throws CURRICULUM_INVALID listing every problem. */
export async function loadCurriculum(dir: string): Promise<Curriculum> {
  const root = path.resolve(dir);
  const problems: Problem[] = [];
  if (!(await isDirectory(root))) throw new OutpostError('CURRICULUM_INVALID', `${dir} is not a folder. Point at the folder that holds curriculum.yaml.`, { details: { problems: [] } });
  const top = await readYaml(path.join(root, 'curriculum.yaml'), curriculumFileSchema, root, problems);
  const tracks: Track[] = [];
  const exercises = new Map<string, Exercise>();
  const lessonIds = new Set<string>();
  // Go on through the tracks even when curriculum.yaml has a problem, so every problem shows at once.
  const trackIds = top?.tracks ?? (await rawList(path.join(root, 'curriculum.yaml'), 'tracks'));
  for (const trackId of trackIds) {
    const trackDir = path.join(root, trackId);
    const track = await readYaml(path.join(trackDir, 'track.yaml'), trackFileSchema, root, problems);
    if (!track) continue;
    if (track.id !== trackId) problems.push({ file: path.join(trackId, 'track.yaml'), line: 1, message: `id "${track.id}" differs from the folder name "${trackId}"` });
    const modules: Module[] = [];
    for (const moduleId of track.modules) {
      const moduleDir = path.join(trackDir, moduleId);
      const mod = await readYaml(path.join(moduleDir, 'module.yaml'), moduleFileSchema, root, problems);
      if (!mod) continue;
      const items: (Lesson | Exercise)[] = [];
      for (const item of mod.items) {
        if ('lesson' in item) {
          const lesson = await loadLesson(path.join(moduleDir, 'lessons', `${item.lesson}.md`), root, problems);
          if (!lesson) continue;
          if (lessonIds.has(lesson.id)) problems.push({ file: lesson.file, line: 2, message: `lesson id "${lesson.id}" is used twice` });
          lessonIds.add(lesson.id);
          items.push(lesson);
        } else {
          const exercise = await loadExercise(path.join(moduleDir, 'exercises', item.exercise), root, problems);
          if (!exercise) continue;
          if (exercises.has(exercise.id)) problems.push({ file: path.relative(root, path.join(exercise.dir, 'exercise.yaml')), line: 1, message: `exercise id "${exercise.id}" is used twice` });
          exercises.set(exercise.id, exercise);
          items.push(exercise);
        }
      }
      modules.push({ id: mod.id, title: mod.title, summary: mod.summary, items });
    }
    tracks.push({ id: track.id, title: track.title, summary: track.summary, modules });
  }
  if (problems.length > 0 || !top) {
    const lines = problems.slice(0, 50).map((p) => `  ${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    throw new OutpostError('CURRICULUM_INVALID', `The curriculum in ${dir} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}${problems.length > 50 ? `\n  … and ${problems.length - 50} more` : ''}`, { details: { problems } });
  }
  return { id: top.id, title: top.title, version: top.version, root, hash: await hashFolder(root), tracks, exercises };
}
