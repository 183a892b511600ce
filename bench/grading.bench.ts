/**
 * Grading benchmark: 200 submissions (20 students × 10) of a 10-test mocha exercise (7 visible,
 * 3 hidden) through Outpost's persisted queue and autograder at the configured concurrency (default:
 * one per core), against a naive loop of `docker run --rm` per submission (visible and hidden tests
 * together in one container, the grading command run directly) measured in the same run on the same
 * image. Prints JSON: throughput per minute for both, the ratio, and Outpost's queue-to-result
 * latency (p50, p95). Goal: ≥ 3× the naive loop and ≥ 60 graded per minute. Not a test.
 *
 * Run with `npx tsx bench/grading.bench.ts [--concurrency N]` (images built: ./outpost images build).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { addStudents, startTestSystem, writeTree } from '../test/support.ts';
import { workspaceImage } from '../sandbox/index.ts';

const run = promisify(execFile);
// `--concurrency N` grades N at a time instead of the configured default (one per core).
const concurrency = Number(parseArgs({ options: { concurrency: { type: 'string' } } }).values.concurrency ?? 0);
const STUDENTS = 20;
const PER_STUDENT = 10;
const NAIVE_RUNS = 40;

/**
 * Where the CPU went, as clock ticks (USER_HZ, 100 a second on Linux): the whole machine from
 * /proc/stat, this process (Outpost's control plane runs in it), and the engine's daemons. What is
 * left over is the containers themselves, their shims and runc. It explains the ratio: on a
 * CPU-bound machine throughput is at most cores ÷ CPU-seconds per submission.
 */
interface CpuSample { machine: number; controlPlane: number; engine: number }
const TICKS = 100;
let enginePids: number[] = [];
function daemonTicks(): number {
  let sum = 0;
  for (const pid of enginePids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      sum += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the daemon went away; it counts no more
    }
  }
  return sum;
}
async function findEnginePids(): Promise<void> {
  const pids = await Promise.all(['dockerd', 'containerd'].map((name) => run('pgrep', ['-x', name]).then((r) => r.stdout.trim().split('\n').map(Number), () => [])));
  enginePids = pids.flat().filter((n) => n > 0);
}
function cpuSample(): CpuSample {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait was work.
  const machine = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  const own = process.cpuUsage();
  return { machine, controlPlane: ((own.user + own.system) / 1e6) * TICKS, engine: daemonTicks() };
}
function cpuPerSubmission(from: CpuSample, to: CpuSample, submissions: number) {
  const per = (ticks: number) => round(ticks / TICKS / submissions, 3);
  const machine = to.machine - from.machine;
  const controlPlane = to.controlPlane - from.controlPlane;
  const engine = to.engine - from.engine;
  return { machine: per(machine), controlPlane: per(controlPlane), engineDaemons: per(engine), containersShimsAndRest: per(machine - controlPlane - engine) };
}

const percentile = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]!; };
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const cases = Array.from({ length: 10 }, (_, i) => ({ a: i + 1, b: i * 3 }));
const testFile = (name: string, picked: typeof cases) => `import { expect } from 'chai';\nimport { pay } from '../pay.js';\ndescribe('${name}', () => {\n${picked.map((c) => `  it('pays ${c.a} hours at ${c.b}', () => expect(pay(${c.a}, ${c.b})).to.equal(${c.a * c.b}));`).join('\n')}\n});\n`;

async function main(): Promise<void> {
  const t = await startTestSystem({ log: { level: 'silent' }, ...(concurrency ? { curriculum: { graderConcurrency: concurrency } } : {}) });
  try {
    const course = path.join(t.root, 'course');
    await writeTree(course, {
      'curriculum.yaml': 'id: bench\ntitle: Bench\nversion: 1\ntracks: [t]\n',
      't/track.yaml': 'id: t\ntitle: T\nmodules: [m]\n',
      't/m/module.yaml': 'id: m\ntitle: M\nitems:\n  - exercise: js-pay\n',
      't/m/exercises/js-pay/exercise.yaml': 'id: js-pay\ntitle: Pay\nlanguage: javascript\ngrader:\n  adapter: mocha\n  timeLimitSeconds: 20\n',
      't/m/exercises/js-pay/README.md': 'pay(hours, rate)\n',
      't/m/exercises/js-pay/starter/pay.js': 'export function pay(hours, rate) {}\n',
      't/m/exercises/js-pay/starter/package.json': '{"type":"module"}\n',
      't/m/exercises/js-pay/solution/pay.js': 'export function pay(hours, rate) { return hours * rate; }\n',
      't/m/exercises/js-pay/tests/visible/test/pay.test.js': testFile('pay', cases.slice(0, 7)),
      't/m/exercises/js-pay/tests/hidden/test/pay-hidden.test.js': testFile('pay (hidden)', cases.slice(7)),
    });
    await t.system.curriculum.catalog.import(course, { name: 'bench' });
    const students = Array.from({ length: STUDENTS }, (_, i) => `s${String(i).padStart(2, '0')}`);
    await addStudents(t.system, students);
    const { submissions, queue } = t.system.curriculum;
    const sources: string[] = [];
    for (let i = 0; i < STUDENTS * PER_STUDENT; i++) {
      const dir = path.join(t.root, 'subs', String(i));
      // Every third one is wrong, as real classes go.
      await writeTree(dir, { 'pay.js': i % 3 === 0 ? 'export function pay(h, r) { return h + r; }\n' : `export function pay(hours, rate) { /* v${i} */ return hours * rate; }\n`, 'package.json': '{"type":"module"}\n' });
      sources.push(dir);
    }
    const subs = [];
    for (let i = 0; i < sources.length; i++) subs.push(await submissions.create({ exercise: 'js-pay', student: students[i % STUDENTS]!, from: sources[i]!, source: 'cli' }));

    // Outpost: everything enqueued at once, as at the end of a class.
    await findEnginePids();
    const cpuBefore = cpuSample();
    const started = Date.now();
    for (const s of subs) queue.enqueue(s.id, 'submit', 'bench');
    // As the server does at start: grading containers made ahead, one per grading slot.
    t.system.sandbox.oneShot.setPoolSize(t.config.curriculum.graderConcurrency || (await import('node:os')).availableParallelism());
    queue.start();
    await queue.idle();
    const outpostSeconds = (Date.now() - started) / 1000;
    const cpuOutpost = cpuSample();
    const latencies = (t.system.store.db.prepare("select (julianday(r.finished_at) - julianday(j.enqueued_at)) * 86400000 as ms from grading_runs r join grading_jobs j on j.id = r.job").all() as { ms: number }[]).map((r) => r.ms);
    const graded = latencies.length;

    // Naive: one `docker run --rm` per submission, one after the other, tests copied in beside the code.
    const image = workspaceImage(t.config);
    const naiveDirs: string[] = [];
    for (let i = 0; i < NAIVE_RUNS; i++) {
      const dir = path.join(t.root, 'naive', String(i));
      await cp(sources[i]!, dir, { recursive: true });
      await cp(path.join(course, 't/m/exercises/js-pay/tests/visible'), dir, { recursive: true });
      await cp(path.join(course, 't/m/exercises/js-pay/tests/hidden'), dir, { recursive: true });
      naiveDirs.push(dir);
    }
    const cpuNaiveBefore = cpuSample();
    const naiveStarted = Date.now();
    for (const dir of naiveDirs) {
      await run('docker', ['run', '--rm', '--network', 'none', '-v', `${dir}:/grade:ro`, '-w', '/grade', image, 'mocha', '--reporter', 'json', 'test/*.test.js']).catch(() => undefined);
    }
    const naiveSeconds = (Date.now() - naiveStarted) / 1000;
    const cpuNaive = cpuSample();

    const outpostPerMinute = (graded / outpostSeconds) * 60;
    const naivePerMinute = (NAIVE_RUNS / naiveSeconds) * 60;
    process.stdout.write(`${JSON.stringify({
      benchmark: 'grading 200 submissions of a 10-test mocha exercise',
      cpus: (await import('node:os')).availableParallelism(),
      concurrency: t.config.curriculum.graderConcurrency || (await import('node:os')).availableParallelism(),
      outpost: { submissions: graded, seconds: round(outpostSeconds, 1), perMinute: round(outpostPerMinute, 1), queueToResultMs: { p50: Math.round(percentile(latencies, 0.5)), p95: Math.round(percentile(latencies, 0.95)) }, cpuSecondsPerSubmission: cpuPerSubmission(cpuBefore, cpuOutpost, graded) },
      naiveDockerRunLoop: { submissions: NAIVE_RUNS, seconds: round(naiveSeconds, 1), perMinute: round(naivePerMinute, 1), cpuSecondsPerSubmission: cpuPerSubmission(cpuNaiveBefore, cpuNaive, NAIVE_RUNS) },
      ratio: round(outpostPerMinute / naivePerMinute),
      goal: { ratioAtLeast: 3, perMinuteAtLeast: 60, met: outpostPerMinute / naivePerMinute >= 3 && outpostPerMinute >= 60 },
    }, null, 2)}\n`);
  } finally {
    await t.system.curriculum.queue.stop();
    await t.system.sandbox.oneShot.close();
    await t.cleanup();
  }
}

await main();
