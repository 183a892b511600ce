import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeTestConfigFile, removeTestInstance, runOutpost } from '../test/support.ts';
import type { Config } from '../core/config.ts';

const OUTPOST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'outpost');

/** Every command line the CLI answers, as operators type them (top-level commands, then each subcommand). */
const SUBCOMMANDS: Record<string, string[]> = {
  images: ['build'], sandbox: ['exec'], user: ['add', 'disable', 'enable', 'reset-password'], users: ['list', 'import'], cohort: ['add'],
  audit: ['verify'], mirror: ['import', 'import-debian', 'list', 'remove'], packages: ['add', 'list', 'requested', 'approve'],
  git: ['create', 'list', 'collaborator', 'token'], curriculum: ['validate', 'import', 'export', 'list'],
  bundle: ['keygen', 'trust', 'keys', 'untrust', 'export', 'import', 'list', 'show', 'approve', 'reject'], compose: ['file', 'prepare'],
};
const COMMAND_LINES: string[][] = [
  ...['up', 'down', 'test', 'doctor', 'grade', 'backup', 'restore', 'serve', 'version', '__serve'].map((c) => [c]),
  ...Object.entries(SUBCOMMANDS).flatMap(([c, subs]) => [[c], ...subs.map((s) => [c, s])]),
];

/**
 * Runs ./outpost in its own empty working directory (a mistaken file argument lands there), with a
 * config whose data dir does not exist yet (anything that opens the store creates it).
 */
function runIn(cwd: string, configFile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(OUTPOST, ['--config', configFile, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function inPool<T, R>(items: T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) { const i = next++; results[i] = await fn(items[i]!, i); }
  }));
  return results;
}

describe('./outpost arguments: help and mistakes are answered before anything runs', function () {
  // Each run starts a node process that loads the whole CLI (seconds each, two runs per command line).
  this.timeout(15 * 60_000);
  let config: Config;
  let root: string;
  let file: string;
  before(async () => { ({ config, root, file } = await makeTestConfigFile()); });
  after(() => rm(root, { recursive: true, force: true }));

  /** Runs every line in a fresh cwd; returns what went wrong, one line per command line. */
  async function check(suffix: string[], expectation: (line: string[], r: { code: number; stdout: string; stderr: string }) => string | undefined): Promise<string[]> {
    const problems = await inPool(COMMAND_LINES, 4, async (line, i) => {
      const cwd = path.join(root, `cwd-${suffix.join('')}-${i}`);
      await mkdir(cwd);
      const r = await runIn(cwd, file, [...line, ...suffix]);
      const left = await readdir(cwd);
      const problem = expectation(line, r) ?? (left.length > 0 ? `made ${left.join(', ')} in its working directory` : undefined);
      return problem === undefined ? undefined : `${[...line, ...suffix].join(' ')}: ${problem}`;
    });
    return problems.filter((p): p is string => p !== undefined);
  }

  it('X --help prints X\'s usage, exits 0 and touches nothing, for every command and subcommand', async () => {
    const problems = await check(['--help'], (line, r) => {
      if (r.code !== 0) return `exit ${r.code}: ${r.stderr.slice(0, 300)}`;
      if (!r.stdout.startsWith('Usage')) return `no usage on stdout: ${r.stdout.slice(0, 200)}`;
      // Each alternative of an entry ("mirror list | mirror remove NAME") names its subcommand.
      if (!r.stdout.includes(line.join(' '))) return `the usage does not mention "${line.join(' ')}": ${r.stdout.slice(0, 200)}`;
      return undefined;
    });
    expect(problems, problems.join('\n')).to.deep.equal([]);
    expect(existsSync(config.dataDir), 'the data dir was created').to.equal(false);
    expect(existsSync(config.sandbox.runDir), 'the socket dir was created').to.equal(false);
    // -h is --help, also after other arguments (the argument before it is not acted on).
    const short = await runIn(root, file, ['backup', 'out.tar.gz', '-h']);
    expect(short.code).to.equal(0);
    expect(short.stdout).to.include('backup FILE');
    expect(existsSync(path.join(root, 'out.tar.gz'))).to.equal(false);
  });

  it('X --bogus exits 2 with a clear message and the usage, never a stack trace', async () => {
    const problems = await check(['--bogus'], (_line, r) => {
      if (r.code !== 2) return `exit ${r.code}: ${(r.stderr || r.stdout).slice(0, 300)}`;
      if (/unexpected failure|\n\s+at /.test(r.stderr)) return `a stack trace: ${r.stderr.slice(0, 300)}`;
      if (!r.stderr.includes('Usage')) return `no usage: ${r.stderr.slice(0, 300)}`;
      return undefined;
    });
    expect(problems, problems.join('\n')).to.deep.equal([]);
    expect(existsSync(config.dataDir), 'the data dir was created').to.equal(false);
  });

  it('refuses an option-like file name, a stray argument and an unknown subcommand', async () => {
    const cases: [string[], RegExp][] = [
      [['backup', '-x.tar.gz'], /Unknown option '-x.tar.gz' for "backup"/],
      [['bundle', 'keygen', '--keys'], /Unknown option '--keys' for "bundle keygen"/],
      [['restore', '--'], /Unknown option '--' for "restore"/],
      [['audit', 'verify', 'now'], /"audit verify" takes no arguments \(got "now"\)/],
      [['users', 'list', 'extra'], /Unexpected argument 'extra'/],
      [['users', 'list', '--role'], /argument missing/],
      [['packages', 'frobnicate'], /"packages" has no subcommand "frobnicate"/],
      [['images'], /"images" needs a subcommand/],
    ];
    await inPool(cases, 4, async ([args, message], i) => {
      const cwd = path.join(root, `cwd-bad-${i}`);
      await mkdir(cwd);
      const r = await runIn(cwd, file, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.match(message);
      expect(r.stderr).to.include('[INPUT_INVALID]');
      expect(r.stderr).to.include('Usage');
      expect(await readdir(cwd), args.join(' ')).to.deep.equal([]);
    });
    expect(existsSync(config.dataDir), 'the data dir was created').to.equal(false);
  });
});

describe('./outpost CLI', function () {
  let config: Config;
  let root: string;
  let file: string;
  before(async () => {
    ({ config, root, file } = await makeTestConfigFile());
    const added = await runOutpost(file, ['user', 'add', 'alice', '--role', 'student']);
    expect(added.code, added.stderr).to.equal(0);
  });
  after(() => removeTestInstance(config, root));

  it('sandbox exec streams stdout and stderr and exits with the command status', async () => {
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 5']);
    expect(r.stdout).to.equal('hi\n');
    expect(r.stderr).to.equal('oops\n');
    expect(r.code).to.equal(5);
  });

  it('sandbox exec forwards stdin and keeps files between calls', async () => {
    const w = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'sh', '-c', 'cat > /workspace/in.txt'], 'typed input\n');
    expect(w.code).to.equal(0);
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'cat', '/workspace/in.txt']);
    expect(r.stdout).to.equal('typed input\n');
  });

  it('sandbox exec --timeout exits 124 and says why', async () => {
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--timeout', '1', '--', 'sleep', '30']);
    expect(r.code).to.equal(124);
    expect(r.stderr).to.include('time limit');
  });

  it('gives clear errors for bad input', async () => {
    const badUser = await runOutpost(file, ['sandbox', 'exec', 'Not A User', '--', 'true']);
    expect(badUser.code).to.equal(1);
    expect(badUser.stderr).to.match(/not a valid user name.*\[SANDBOX_INVALID_USER\]/);
    const unknown = await runOutpost(file, ['sandbox', 'exec', 'nobody', '--', 'true']);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/There is no user "nobody".*\[SANDBOX_UNKNOWN_USER\]/);
    const usage = await runOutpost(file, ['sandbox', 'exec', 'alice']);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include('Usage');
    const unknownCommand = await runOutpost(file, ['frobnicate']);
    expect(unknownCommand.code).to.equal(2);
    expect(unknownCommand.stderr).to.include('unknown command');
    const badTimeout = await runOutpost(file, ['sandbox', 'exec', 'alice', '--timeout', 'soon', '--', 'true']);
    expect(badTimeout.stderr).to.include('[SANDBOX_EXEC_INVALID]');
  });

  it('doctor checks engine, images, data dir and store', async () => {
    const r = await runOutpost(file, ['doctor']);
    expect(r.stdout).to.match(/ok\s+Docker engine/);
    expect(r.stdout).to.match(/ok\s+image outpost\/workspace:latest is present/);
    expect(r.stdout).to.match(/ok\s+store .*journal wal/);
    expect(r.stdout).to.match(/ok\s+data dir/);
    expect(r.code, r.stdout).to.equal(0);
  });

  it('doctor reports version drift: data from another Outpost, and a store newer than this code', async () => {
    const dbFile = path.join(config.dataDir, 'outpost.db');
    const db = new Database(dbFile);
    try {
      db.prepare("insert into meta (key, value) values ('version', ?) on conflict(key) do update set value = excluded.value").run(JSON.stringify({ current: '0.0.9', history: [{ version: '0.0.9', since: '2026-01-01T00:00:00Z' }] }));
      const older = await runOutpost(file, ['doctor']);
      expect(older.stdout).to.match(/warn\s+the data was last run by Outpost 0\.0\.9; this is /);
      db.prepare("insert into schema_migrations (version, name, applied_at) values (9999, 'from the future', '2027-01-01')").run();
      const newer = await runOutpost(file, ['doctor']);
      expect(newer.code).to.equal(1);
      expect(newer.stdout).to.match(/FAIL\s+the store is at schema 9999, newer than this Outpost knows/);
    } finally {
      db.prepare('delete from schema_migrations where version = 9999').run();
      db.prepare("delete from meta where key = 'version'").run();
      db.close();
    }
  });

  it('doctor reports an engine that does not answer, with the fix', async () => {
    const broken = path.join(root, 'broken.json');
    await writeFile(broken, JSON.stringify({ ...config, docker: { ...config.docker, socketPath: path.join(root, 'none.sock') } }));
    const r = await runOutpost(broken, ['doctor']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/FAIL\s+no Docker engine answers/);
    expect(r.stdout).to.include('fix:');
  });
});
