// Outpost's grading runner, run inside a one-shot grading container (Node 24, no dependencies).
// The host mounts the job folder read-only as the working directory and sends the job on stdin:
//   { adapter: 'mocha' | 'pytest' | 'io', timeLimitSeconds, outputCapBytes, command?, cases?: [{ name, stdin }] }
// It runs the tests, keeps at most outputCapBytes of what they print, and ends by printing one line
// `OUTPOST-RESULT <json>` with { tests: [{ name, passed, message, durationMs }], output, timedOut, exitCode }
// (io: { cases: [{ name, stdout, exitCode, timedOut, durationMs }] } — the host compares outputs, so
// expected answers never enter the container).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const job = JSON.parse(readFileSync(0, 'utf8'));
const limitMs = job.timeLimitSeconds * 1000;
const cap = job.outputCapBytes;

function runProcess(argv, { input = '', timeoutMs, capBytes, stdoutOnly = false, reporterLines }) {
  return new Promise((resolve) => {
    const started = performance.now();
    // A process group of its own, so a time-out kills everything the tests started.
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' } });
    const chunks = [];
    let kept = 0;
    let dropped = 0;
    const keep = (chunk) => {
      if (kept < capBytes) {
        const part = chunk.subarray(0, capBytes - kept);
        chunks.push(part);
        kept += part.length;
        dropped += chunk.length - part.length;
      } else dropped += chunk.length;
    };
    let stderr = '';
    // Reporter lines (mocha's json-stream) are set aside before the cap, so a flood of program
    // output cannot push the results out.
    let partial = '';
    const fromStdout = reporterLines === undefined ? keep : (chunk) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > 65536) { keep(Buffer.from(partial)); partial = ''; }
      const rest = [];
      for (const line of lines) {
        if (line.startsWith('["') && reporterLines.length < 20000) reporterLines.push(line);
        else rest.push(line);
      }
      if (rest.length) keep(Buffer.from(rest.join('\n') + '\n'));
    };
    child.stdout.on('data', fromStdout);
    child.stderr.on('data', stdoutOnly ? (chunk) => { if (stderr.length < 4000) stderr += chunk.toString('utf8'); } : keep);
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ output: `could not start ${argv[0]}: ${error.message}`, exitCode: 127, timedOut: false, durationMs: 0, dropped: 0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial && reporterLines !== undefined) { if (partial.startsWith('["')) reporterLines.push(partial); else keep(Buffer.from(partial)); }
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      resolve({ output: Buffer.concat(chunks).toString('utf8'), stderr: stderr.slice(0, 4000), exitCode: code ?? (signal ? 128 : 1), timedOut, durationMs: Math.round(performance.now() - started), dropped });
    });
  });
}

const truncatedNote = (dropped) => (dropped > 0 ? `\n… ${dropped} more bytes of output were cut off.\n` : '');

async function mocha() {
  // json-stream reports each test as it ends, so a run cut short still says which tests passed.
  const reporterLines = [];
  const run = await runProcess(['mocha', '--reporter', 'json-stream', '--no-color', '--timeout', String(Math.min(limitMs, 5000)), '--spec', 'test/**/*.test.{js,mjs,cjs}'], { timeoutMs: limitMs, capBytes: cap, reporterLines });
  const tests = [];
  const other = [];
  for (const line of reporterLines) {
    let event;
    try { event = JSON.parse(line); } catch { event = undefined; }
    if (Array.isArray(event) && (event[0] === 'pass' || event[0] === 'fail') && event[1] && typeof event[1].fullTitle === 'string') {
      const t = event[1];
      tests.push({ name: t.fullTitle, passed: event[0] === 'pass', message: event[0] === 'fail' ? String(t.err ?? '').slice(0, 2000) : '', durationMs: Math.round(t.duration ?? 0) });
    } else if (!(Array.isArray(event) && (event[0] === 'start' || event[0] === 'end'))) other.push(line);
  }
  const output = (other.length ? other.join('\n') + '\n' : '') + run.output;
  return { tests, output: output.slice(0, cap) + truncatedNote(Math.max(0, output.length - cap) + run.dropped), timedOut: run.timedOut, exitCode: run.exitCode };
}

async function pytest() {
  const run = await runProcess(['python3', '-m', 'pytest', '-v', '-rA', '--tb=short', '--color=no', '-p', 'no:cacheprovider', '-o', 'console_output_style=classic'], { timeoutMs: limitMs, capBytes: cap * 4 });
  const tests = new Map();
  for (const line of run.output.split('\n')) {
    const result = /^(\S+::\S+)\s+(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\b/.exec(line);
    if (result) tests.set(result[1], { name: result[1], passed: result[2] === 'PASSED' || result[2] === 'XPASS', message: '', durationMs: 0 });
  }
  // Short summary lines: "FAILED test_x.py::test_y - AssertionError: assert 3 == 4"
  for (const line of run.output.split('\n')) {
    const failed = /^(?:FAILED|ERROR) (\S+::\S+)(?: - (.*))?$/.exec(line);
    if (failed && tests.has(failed[1])) tests.get(failed[1]).message = (failed[2] ?? 'failed').slice(0, 2000);
  }
  return { tests: [...tests.values()], output: run.output.slice(0, cap) + truncatedNote(Math.max(0, run.output.length - cap) + run.dropped), timedOut: run.timedOut, exitCode: run.exitCode };
}

async function io() {
  const cases = [];
  for (const c of job.cases) {
    const run = await runProcess(job.command, { input: c.stdin, timeoutMs: limitMs, capBytes: cap, stdoutOnly: true });
    cases.push({ name: c.name, stdout: run.output, stderr: run.stderr, exitCode: run.exitCode, timedOut: run.timedOut, durationMs: run.durationMs });
  }
  return { cases };
}

const result = job.adapter === 'mocha' ? await mocha() : job.adapter === 'pytest' ? await pytest() : await io();
process.stdout.write(`\nOUTPOST-RESULT ${JSON.stringify(result)}\n`);
