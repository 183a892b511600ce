/**
 * Runs the real agent on the host (no container) and drives it through agent-client.ts.
 * Nothing here may endanger the host: no fork or memory bombs (those run inside containers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isOutpostError } from '../../core/errors.ts';
import { pingAgent, runAgentExec, startAgentExec, type AgentExecRequest } from '../agent-client.ts';
import { AGENT_PROTOCOL_VERSION, agentSourceHash, buildAgent } from './build.ts';

const BUILD_DIR = fileURLToPath(new URL('./build', import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  return !/^\d+ \(.*\) Z/s.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function readPid(file: string): Promise<number> {
  let pid = 0;
  await waitFor(async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    pid = Number.parseInt(text.trim(), 10);
    return Number.isInteger(pid) && pid > 0;
  }, 5000, `a pid in ${file}`);
  return pid;
}

describe('workspace agent (on the host)', function () {
  let dir: string;
  let socketPath: string;
  let agent: ChildProcess;
  let agentStderr = '';
  const base = { timeoutMs: 10_000, outputCapBytes: 0 } satisfies Partial<AgentExecRequest>;

  before(async function () {
    const built = await buildAgent({ outDir: BUILD_DIR });
    expect(built.sha256).to.match(/^[0-9a-f]{64}$/);
    expect(agentSourceHash()).to.match(/^[0-9a-f]{64}$/);
    dir = await mkdtemp(path.join('/tmp', 'oa-'));
    socketPath = path.join(dir, 'agent.sock');
    agent = spawn(built.path, ['--socket', socketPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    agent.stderr!.on('data', (chunk: Buffer) => { agentStderr += chunk.toString(); });
    await waitFor(() => existsSync(socketPath), 5000, 'the agent socket');
  });

  after(async function () {
    agent?.kill('SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    expect(agent.exitCode, `agent died; stderr: ${agentStderr}`).to.equal(null);
  });

  it('reuses an up-to-date binary instead of recompiling', async function () {
    const first = await buildAgent({ outDir: BUILD_DIR });
    const before = (await stat(first.path)).mtimeMs;
    const second = await buildAgent({ outDir: BUILD_DIR });
    expect(second).to.deep.equal(first);
    expect((await stat(second.path)).mtimeMs).to.equal(before);
  });

  it('creates its socket with mode 0600', async function () {
    expect((await stat(socketPath)).mode & 0o777).to.equal(0o600);
  });

  it('answers a ping with its protocol version and pid', async function () {
    const pong = await pingAgent(socketPath);
    expect(pong).to.deep.equal({ version: AGENT_PROTOCOL_VERSION, pid: agent.pid });
  });

  it('keeps stdout and stderr apart', async function () {
    const result = await runAgentExec(socketPath, { ...base, argv: ['sh', '-c', 'echo out; echo err >&2'] });
    expect(result.stdout.toString()).to.equal('out\n');
    expect(result.stderr.toString()).to.equal('err\n');
    expect(result).to.include({ exitCode: 0, signal: null, timedOut: false, oomKilled: false, stdoutBytes: 4, stderrBytes: 4 });
    expect(result.truncated).to.deep.equal({ stdout: false, stderr: false });
    expect(result.durationMs).to.be.a('number').and.at.least(0);
  });

  it('reports exit codes and deaths by signal', async function () {
    expect((await runAgentExec(socketPath, { ...base, argv: ['true'] })).exitCode).to.equal(0);
    expect((await runAgentExec(socketPath, { ...base, argv: ['sh', '-c', 'exit 3'] })).exitCode).to.equal(3);
    const killed = await runAgentExec(socketPath, { ...base, argv: ['sh', '-c', 'kill -TERM $$'] });
    expect(killed).to.include({ exitCode: 128 + 15, signal: 'TERM' });
  });

  it('round-trips stdin through cat and honours EOF', async function () {
    const input = Buffer.alloc(300_000, 'abcdefghij\n');
    const result = await runAgentExec(socketPath, { ...base, argv: ['cat'], input });
    expect(result.exitCode).to.equal(0);
    expect(result.stdout.equals(input)).to.equal(true);
  });

  it('gives /dev/null as stdin unless asked', async function () {
    const result = await runAgentExec(socketPath, { ...base, argv: ['cat'] });
    expect(result).to.include({ exitCode: 0, stdoutBytes: 0 });
  });

  it('runs in the requested cwd with the requested environment merged in', async function () {
    const result = await runAgentExec(socketPath, {
      ...base,
      argv: ['sh', '-c', 'pwd; echo "$GREETING"; echo "${PATH:+has-path}"'],
      cwd: dir,
      env: { GREETING: 'héllo "wörld" \u2603 \u{1F600}' },
    });
    expect(result.stdout.toString()).to.equal(`${dir}\nhéllo "wörld" \u2603 \u{1F600}\nhas-path\n`);
  });

  it('exits 127 with a message for a program that does not exist', async function () {
    const result = await runAgentExec(socketPath, { ...base, argv: ['no-such-program-outpost'] });
    expect(result.exitCode).to.equal(127);
    expect(result.stderr.toString()).to.equal('outpost-agent: cannot run "no-such-program-outpost": No such file or directory\n');
  });

  it('fails with a message for a cwd that does not exist', async function () {
    const result = await runAgentExec(socketPath, { ...base, argv: ['true'], cwd: '/no/such/dir' });
    expect(result.exitCode).to.equal(126);
    expect(result.stderr.toString()).to.contain('cannot change directory to "/no/such/dir"');
  });

  it('times out with 124 and kills a setsid grandchild too', async function () {
    const pidFile = path.join(dir, 'timeout.pid');
    const started = Date.now();
    const result = await runAgentExec(socketPath, {
      ...base,
      timeoutMs: 700,
      argv: ['sh', '-c', `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' & sleep 1000`],
    });
    expect(result).to.include({ exitCode: 124, timedOut: true, signal: 'KILL' });
    expect(Date.now() - started).to.be.below(5000);
    const pid = await readPid(pidFile);
    expect(alive(pid), `grandchild ${pid} survived`).to.equal(false);
  });

  it('caps output per stream but counts all of it', async function () {
    const result = await runAgentExec(socketPath, { ...base, outputCapBytes: 100_000, argv: ['sh', '-c', 'yes | head -c 5000000; echo done >&2'] });
    expect(result.exitCode).to.equal(0);
    expect(result.stdout.length).to.equal(100_000);
    expect(result.stdoutBytes).to.equal(5_000_000);
    expect(result.truncated).to.deep.equal({ stdout: true, stderr: false });
    expect(result.stderr.toString()).to.equal('done\n');
  });

  it('streams large output uncapped', async function () {
    const result = await runAgentExec(socketPath, { ...base, argv: ['sh', '-c', 'yes | head -c 20000000'] });
    expect(result.stdout.length).to.equal(20_000_000);
    expect(result.truncated.stdout).to.equal(false);
  });

  it('applies back-pressure instead of buffering when the client stops reading', async function () {
    const session = await startAgentExec(socketPath, { ...base, timeoutMs: 800, argv: ['sh', '-c', 'head -c 50000000 /dev/zero; echo done'] });
    let settled = false;
    session.exit.then(() => { settled = true; }, () => { settled = true; });
    session.stderr.resume();
    await sleep(1200); // past the time-out: it must fire although the agent cannot send anything
    expect(settled).to.equal(false);
    const handlers = readFileSync(`/proc/${agent.pid}/task/${agent.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of handlers) {
      const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      expect(rssKiB, `handler ${pid} RSS`).to.be.below(4096);
    }
    let received = 0;
    session.stdout.on('data', (chunk: Buffer) => { received += chunk.length; });
    const exit = await session.exit;
    expect(exit).to.include({ exitCode: 124, timedOut: true });
    expect(received).to.equal(exit.stdoutBytes);
    expect(received).to.be.below(50_000_000);
  });

  it('runs under a pty of the requested size, and resizes it', async function () {
    const once = await runAgentExec(socketPath, { ...base, argv: ['stty', 'size'], tty: { cols: 97, rows: 31 } });
    expect(once.exitCode).to.equal(0);
    expect(once.stdout.toString()).to.equal('31 97\r\n');

    const session = await startAgentExec(socketPath, { ...base, argv: ['sh', '-i'], tty: { cols: 80, rows: 24 }, env: { PS1: '$ ' } });
    let output = '';
    session.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    session.stderr.resume();
    session.write('stty size; echo TERM=$TERM\n');
    await waitFor(() => output.includes('24 80\r\n'), 5000, `first stty size in ${JSON.stringify(output)}`);
    expect(output).to.contain('TERM=xterm-256color');
    session.resize(132, 50);
    session.write('stty size\n');
    await waitFor(() => output.includes('50 132\r\n'), 5000, `second stty size in ${JSON.stringify(output)}`);
    session.write('exit 5\n');
    const exit = await session.exit;
    expect(exit.exitCode).to.equal(5);
  });

  it('interrupts the foreground command of a pty with INT', async function () {
    const session = await startAgentExec(socketPath, { ...base, argv: ['sleep', '100'], tty: { cols: 80, rows: 24 } });
    session.stdout.resume();
    session.stderr.resume();
    await sleep(100);
    session.signal('INT');
    const exit = await session.exit;
    expect(exit).to.include({ exitCode: 130, signal: 'INT', timedOut: false });
  });

  it('sends TERM to every descendant and KILL to the whole tree', async function () {
    const pidFile = path.join(dir, 'term.pid');
    const term = await startAgentExec(socketPath, { ...base, argv: ['sh', '-c', `sleep 1000 & echo $! > ${pidFile}; wait`] });
    term.stdout.resume();
    term.stderr.resume();
    const pid = await readPid(pidFile);
    term.signal('TERM');
    expect((await term.exit).signal).to.equal('TERM');
    expect(alive(pid)).to.equal(false);

    const kill = await startAgentExec(socketPath, { ...base, argv: ['sh', '-c', 'trap "" TERM INT; sleep 1000'] });
    kill.stdout.resume();
    kill.stderr.resume();
    await sleep(100);
    kill.signal('KILL');
    expect(await kill.exit).to.include({ exitCode: 137, signal: 'KILL' });
  });

  it('kills the whole tree when the client closes the connection', async function () {
    const pidFile = path.join(dir, 'close.pid');
    const session = await startAgentExec(socketPath, { ...base, timeoutMs: 0, argv: ['sh', '-c', `setsid sleep 1000 & echo $! > ${pidFile}; wait`] });
    session.stdout.resume();
    session.stderr.resume();
    const pid = await readPid(pidFile);
    expect(alive(pid)).to.equal(true);
    session.close();
    let rejected: unknown;
    await session.exit.catch((error: unknown) => { rejected = error; });
    expect(isOutpostError(rejected, 'SANDBOX_AGENT_FAILED')).to.equal(true);
    await waitFor(() => !alive(pid), 5000, `pid ${pid} to die`);
  });

  it('kills leftover background processes when the command exits', async function () {
    const pidFile = path.join(dir, 'bg.pid');
    const result = await runAgentExec(socketPath, { ...base, argv: ['sh', '-c', `sleep 1000 >/dev/null 2>&1 & echo $! > ${pidFile}`] });
    expect(result.exitCode).to.equal(0);
    expect(alive(await readPid(pidFile))).to.equal(false);
  });

  it('runs 50 commands in parallel', async function () {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      runAgentExec(socketPath, { ...base, argv: ['sh', '-c', `echo ${i}; sleep 0.2`] })));
    results.forEach((result, i) => {
      expect(result.exitCode).to.equal(0);
      expect(result.stdout.toString()).to.equal(`${i}\n`);
    });
  });

  it('survives malformed frames and bad requests', async function () {
    const raw = async (bytes: Buffer): Promise<Buffer> => new Promise((resolve) => {
      const socket = net.createConnection({ path: socketPath });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => resolve(Buffer.concat(chunks)));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.end(bytes);
    });
    const frame = (type: string, payload: string | Buffer) => {
      const body = Buffer.from(payload);
      const header = Buffer.alloc(5);
      header.write(type, 0, 'latin1');
      header.writeUInt32BE(body.length, 1);
      return Buffer.concat([header, body]);
    };
    // Oversized length, unknown type, truncated frame, garbage JSON, wrong shapes.
    await raw(Buffer.from([0x53, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await raw(frame('Z', 'x'));
    await raw(Buffer.from([0x53, 0, 0, 1]));
    for (const bad of ['{', '{"argv":[]}', '{"argv":"ls"}', '{"argv":["a\\u0000b"]}', '{"argv":["ls"],"tty":{"cols":0,"rows":1}}',
      '{"argv":["ls"]} x', '{"argv":["ls"],"env":{"A=B":"c"}}', '{"argv":["\\ud800"]}', '[1,2]', '{"argv":["ls"],"timeoutMs":-1}', '\u0000\u00ff']) {
      const reply = await raw(frame('S', bad));
      expect(reply.subarray(0, 1).toString(), `reply to ${bad}`).to.equal('F');
      expect(JSON.parse(reply.subarray(5).toString()).message).to.be.a('string');
    }
    // A bad frame in the middle of a session ends that session (and its command) only.
    const start = frame('S', JSON.stringify({ argv: ['sleep', '100'], timeoutMs: 0, outputCap: 0 }));
    for (const bad of [frame('Z', ''), frame('K', '{"signal":"STOP"}'), frame('R', '{"cols":"x"}'), Buffer.from([0x49, 0x7f, 0, 0, 0])]) {
      const reply = await raw(Buffer.concat([start, bad]));
      expect(reply.subarray(0, 1).toString(), `reply to ${bad.toString('hex')}`).to.equal('F');
    }

    const pong = await pingAgent(socketPath);
    expect(pong.pid).to.equal(agent.pid);
    expect((await runAgentExec(socketPath, { ...base, argv: ['echo', 'still here'] })).stdout.toString()).to.equal('still here\n');
  });

  it('rejects invalid requests before connecting', async function () {
    for (const request of [
      { ...base, argv: [] },
      { ...base, argv: ['a\0b'] },
      { ...base, argv: ['ls'], timeoutMs: -1 },
      { ...base, argv: ['ls'], outputCapBytes: 1.5 },
      { ...base, argv: ['ls'], env: { 'A=B': 'x' } },
      { ...base, argv: ['ls'], tty: { cols: 0, rows: 10 } },
    ]) {
      let error: unknown;
      await startAgentExec(socketPath, request as AgentExecRequest).catch((e: unknown) => { error = e; });
      expect(isOutpostError(error, 'SANDBOX_EXEC_INVALID'), JSON.stringify(request)).to.equal(true);
    }
  });

  it('says so when no agent listens', async function () {
    let error: unknown;
    await pingAgent(path.join(dir, 'nothing.sock')).catch((e: unknown) => { error = e; });
    expect(isOutpostError(error, 'SANDBOX_AGENT_FAILED')).to.equal(true);
    expect((error as Error).message).to.contain('did not answer');
  });

  it('measures exec latency (200 sequential `true`)', async function () {
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      const result = await runAgentExec(socketPath, { ...base, argv: ['true'] });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      expect(result.exitCode).to.equal(0);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
    console.log(`      agent exec latency: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`);
  });

  it('stays small when idle', async function () {
    const status = await readFile(`/proc/${agent.pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    console.log(`      agent idle RSS: ${rss} KiB; binary ${(await stat(path.join(BUILD_DIR, 'outpost-agent'))).size} bytes; host ${os.release()}`);
  });
});
