/**
 * The pieces of the IDE's server side that need no engine: the output ring, text detection, the Run
 * command, and the hub's Run lifecycle against a fake workspace agent.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/log.ts';
import { createWorkspaceFiles, freeBytesAt } from '../sandbox/files.ts';
import type { AgentExit, AgentSession, AgentSignal } from '../sandbox/agent-client.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import { ByteRing, createHub, type Hub, type StartRequest } from './hub.ts';
import { asText, runCommand } from './routes.ts';
import { expectCode } from '../test/expect.ts';

describe('ide: output ring', () => {
  it('keeps the last `capacity` bytes in order, across wrap-around and oversized chunks', () => {
    const ring = new ByteRing(8);
    ring.push(Buffer.from('abc'));
    expect(ring.contents().toString()).to.equal('abc');
    ring.push(Buffer.from('defgh'));
    expect(ring.contents().toString()).to.equal('abcdefgh');
    ring.push(Buffer.from('ij'));
    expect(ring.contents().toString()).to.equal('cdefghij');
    ring.push(Buffer.from('klmnopqrstuvwxyz'));
    expect(ring.contents().toString()).to.equal('stuvwxyz');
    ring.push(Buffer.from('1'));
    expect(ring.contents().toString()).to.equal('tuvwxyz1');
    expect(ring.length).to.equal(8);
  });

  it('matches a naive model under random pushes', () => {
    for (let trial = 0; trial < 200; trial++) {
      const capacity = 1 + Math.floor(Math.random() * 50);
      const ring = new ByteRing(capacity);
      let model = Buffer.alloc(0);
      for (let i = 0; i < 30; i++) {
        const chunk = Buffer.from(Array.from({ length: Math.floor(Math.random() * 70) }, () => 97 + Math.floor(Math.random() * 26)));
        ring.push(chunk);
        model = Buffer.concat([model, chunk]).subarray(-capacity);
        expect(ring.contents().equals(model)).to.equal(true);
      }
    }
  });
});

describe('ide: text or binary', () => {
  it('opens UTF-8 text and refuses bytes that are not', () => {
    expect(asText(Buffer.from('héllo ✓\n'))).to.equal('héllo ✓\n');
    expect(asText(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).to.equal(null);
    expect(asText(Buffer.from('a\0b'))).to.equal(null);
    expect(asText(Buffer.alloc(0))).to.equal('');
  });
});

describe('ide: the Run command', () => {
  let root: string;
  before(async () => { root = await mkdtemp(path.join(os.tmpdir(), 'outpost-ide-run-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });
  const files = () => createWorkspaceFiles({ root, uid: process.getuid?.() ?? 0, limits: { maxFileBytes: 1 << 20, maxListEntries: 100 }, freeBytes: () => freeBytesAt(root) });

  it('runs the open file by its type, quoting its name for the shell', async () => {
    expect(await runCommand(files(), 'app.js', undefined)).to.equal("node 'app.js'");
    expect(await runCommand(files(), 'src/main.ts', undefined)).to.equal("node 'src/main.ts'");
    expect(await runCommand(files(), "it's here.py", undefined)).to.equal(`python3 'it'\\''s here.py'`);
    expect(await runCommand(files(), 'x.sh', undefined)).to.equal("bash 'x.sh'");
  });

  it('prefers the exercise, then outpost.json, then the file, then npm start', async () => {
    const f = files();
    await expectCode(runCommand(f, 'notes.txt', undefined), 'INPUT_INVALID');
    await f.write('package.json', '{"scripts": {"start": "node server.js"}}');
    expect(await runCommand(f, 'notes.txt', undefined)).to.equal('npm start');
    expect(await runCommand(f, 'app.js', undefined)).to.equal("node 'app.js'");
    await f.write('outpost.json', '{"run": "npm test"}');
    expect(await runCommand(f, 'app.js', undefined)).to.equal('npm test');
    expect(await runCommand(f, 'app.js', 'mocha exercise.test.js')).to.equal('mocha exercise.test.js');
    await f.write('outpost.json', '{"run": ');
    await expectCode(runCommand(f, 'app.js', undefined), 'INPUT_INVALID');
  });
});

describe('ide: hub Runs', () => {
  /** What happened, in order: `stream <command>`, `<signal> <command>`, `exit <command>`. */
  let events: string[];
  let hub: Hub;

  /** A program in the fake container: exits on the signals it does not ignore, or on close. */
  function fakeAgent(command: string, ignores: AgentSignal[]): AgentSession {
    let finish!: (exit: AgentExit) => void;
    const exit = new Promise<AgentExit>((resolve) => { finish = resolve; });
    let done = false;
    const end = (signal: string | null) => {
      if (done) return;
      done = true;
      events.push(`exit ${command}`);
      finish({ exitCode: signal ? 128 : 0, signal, timedOut: false, oomKilled: false, durationMs: 1, stdoutBytes: 0, stderrBytes: 0, truncated: { stdout: false, stderr: false } });
    };
    return {
      stdout: new PassThrough(), stderr: new PassThrough(), exit,
      write: () => undefined, endInput: () => undefined, resize: () => undefined,
      signal(name) {
        events.push(`${name} ${command}`);
        // A real program takes a moment to wind down.
        if (!ignores.includes(name)) setTimeout(() => end(name), 30);
      },
      close: () => end('KILL'),
    };
  }

  beforeEach(() => {
    events = [];
    const workspaces = {
      async stream(_owner: string, request: { argv: string[] }) {
        const command = request.argv.at(-1)!;
        events.push(`stream ${command}`);
        return fakeAgent(command, command.includes('stubborn') ? ['INT', 'KILL'] : []);
      },
    } as unknown as Workspaces;
    hub = createHub({ workspaces, config: loadConfig({ env: {}, cwd: os.tmpdir() }), log: silentLogger() });
  });
  afterEach(() => hub.close());

  const run = (command: string): StartRequest => ({ kind: 'run', argv: ['bash', '-lc', command], command, cols: 80, rows: 24 });

  it('Run again stops the previous Run, and it has exited before the new one starts', async () => {
    const first = await hub.start('ada', run('node server.js'));
    const second = await hub.start('ada', run('node server.js --again'));
    expect(events).to.deep.equal(['stream node server.js', 'INT node server.js', 'exit node server.js', 'stream node server.js --again']);
    const runs = hub.list('ada', 'run');
    expect(runs.find((r) => r.id === first.id)?.exit?.signal).to.equal('INT');
    expect(runs.find((r) => r.id === second.id)?.exit).to.equal(null);
    // Another student's Run is theirs: untouched.
    await hub.start('bea', run('node other.js'));
    expect(events).not.to.include('INT node server.js --again');
  });

  it('escalates on a Run that ignores Ctrl-C and SIGKILL, and two quick presses leave one Run going', async function () {
    this.timeout(10_000);
    await hub.start('ada', run('stubborn'));
    const [a, b] = await Promise.all([hub.start('ada', run('quick-1')), hub.start('ada', run('quick-2'))]);
    expect(events.slice(0, 4)).to.deep.equal(['stream stubborn', 'INT stubborn', 'KILL stubborn', 'exit stubborn']);
    expect(events.indexOf('exit stubborn')).to.be.below(events.indexOf('stream quick-1'));
    expect(events.indexOf('exit quick-1')).to.be.below(events.indexOf('stream quick-2'));
    const going = hub.list('ada', 'run').filter((r) => !r.exit);
    expect(going.map((r) => r.id)).to.deep.equal([b.id]);
    expect(a.id).not.to.equal(b.id);
  });

  it('does not stop terminals when a Run starts, nor Runs when a terminal opens', async () => {
    await hub.start('ada', run('node server.js'));
    await hub.start('ada', { kind: 'terminal', argv: ['bash', '-l'], command: 'bash -l', cols: 80, rows: 24 });
    await hub.start('ada', { kind: 'terminal', argv: ['bash', '-l'], command: 'bash -l', cols: 80, rows: 24 });
    expect(events.filter((e) => !e.startsWith('stream'))).to.deep.equal([]);
  });
});
