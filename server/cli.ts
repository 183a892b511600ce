/**
 * `./outpost` — the operator's command line. Each subcommand is a small function over the system
 * that server/system.ts assembles; errors print their message and stable code, never a stack.
 */
import { parseArgs } from 'node:util';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openSync, closeSync, accessSync, existsSync, constants as fsConstants } from 'node:fs';
import { mkdir, readFile, rm, writeFile, statfs } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { defaultConfig, loadConfig, type Config } from '../core/config.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { OutpostError, isOutpostError } from '../core/errors.ts';
import { ensureInitialAdmin } from '../core/bootstrap.ts';
import { connectDocker, ensureEngine, pingEngine, stopEngine, aptInstall, hasCommand } from '../sandbox/engine.ts';
import { detectDiskMode, mountPoints } from '../sandbox/disk.ts';
import { LABEL } from '../sandbox/hardening.ts';
import { agentSocketTree } from '../sandbox/agent-sockets.ts';
import { assertInstanceFree, lockInstance } from './instance-lock.ts';
import { openSystem, openCore, serve, allMigrations, VERSION, type System, type Core, type VersionRecord } from './system.ts';
import Database from 'better-sqlite3';
import { parseRepoSlug } from '../fake-internet/git/names.ts';
import { loadCurriculum } from '../curriculum/schema.ts';
import { createBackup, restoreBackup } from './backup.ts';
import { createCatalog } from '../curriculum/catalog.ts';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Role } from '../core/accounts.ts';
import { configuredNpmRegistry } from '../fake-internet/registry/packages.ts';
import { createImageBuilder, IMAGE_KINDS, type ImageProgressEvent } from '../images/build.ts';
import { createBundles, formatFingerprint, generateSigningKeys, type BundleActor, type BundleRecord, type Bundles } from './bundles.ts';
import { createPolicy } from '../core/policy.ts';
import type { Accounts } from '../core/accounts.ts';
import { composeFor, mountHolding } from './compose.ts';
import { writeFileAtomic } from '../core/files.ts';

const run = promisify(execFile);
/** Where test/support.ts makes its throwaway data dirs. */
const TEST_ROOT_PREFIX = '/tmp/outpost-test-';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `Outpost ${VERSION} — an offline coding school server

Usage: ./outpost [--config FILE] COMMAND

  up [--detach]                 bring the whole system up (engine, images, server on the configured port)
  down                          stop what 'up --detach' started
  test [FILES...] [-- MOCHA ARGS...]
                                run every test, or FILES (installs and starts what they need)
  doctor                        check engine, images, networks, data dir, store; print fixes
  images build [--force]        build the images (only those whose inputs changed)
  sandbox exec USER [--timeout SECONDS] -- CMD...
                                run CMD in USER's workspace (created on first use)
  user add NAME --role ROLE [--cohort C] [--display-name N] [--external-id ID] [--password-stdin]
  user disable NAME | user enable NAME | user reset-password NAME
  users list [--role ROLE] [--cohort C]
  users import ROSTER.csv [--passwords-out FILE]
                                create/update people from a CSV (name, role, display_name, external_id, cohort)
  cohort add NAME [--title T] [--instructor USER]
  audit verify                  check the audit log's hash chain; names the first bad entry
  mirror import NAME --host HOST[/PATH] --from DIR|TAR [--extensionless]
                                mirror a site from a directory or tar under its real host name
  mirror import-debian [python|nodejs|git ...]
                                mirror Debian's offline docs (docs.python.org/3/, nodejs.org/api/, git-scm.com/docs/)
  mirror list | mirror remove NAME
  packages add NAME[@RANGE]...  fetch packages and their whole dependency tree into the npm mirror
  packages list | packages requested | packages approve NAME
  git create OWNER/REPO [--from DIR] [--description TEXT] [--cohort | --team] [--branch NAME]
                                make a repository (empty, or one commit of DIR's files)
  git list [OWNER]              list repositories with their clone URLs
  git collaborator OWNER/REPO USER read|write|none
  git token USER LABEL          make an access token for USER (printed once)
  curriculum validate DIR       check a curriculum folder; every problem with its file and line
  curriculum import DIR         import (or update) a curriculum; each changed reference solution is graded
  curriculum export DEST        copy the current curriculum's folder to DEST
  curriculum list               list imported curricula and their exercises
  grade EXERCISE_ID --from DIR  grade DIR against an exercise; prints the result as JSON
  backup FILE                   one archive of the store, repositories, submissions, workspaces, CA (while running)
  restore FILE                  restore a backup into an empty data directory (a fresh machine)
  bundle keygen DIR             make a publisher key pair (outside; the private key never goes inside)
  bundle trust PUBKEY.pem --name NAME | bundle keys | bundle untrust NAME
                                the publisher keys whose bundles this Outpost accepts
  bundle export FILE --key PRIVATE.pem [--images] [--mirror NAME ...] [--packages] [--curriculum DIR] [--note TEXT]
                                a signed offline update bundle (on a machine with access)
  bundle import FILE            verify a bundle and stage it for approval (nothing is applied yet)
  bundle list | bundle show ID
  bundle approve ID --as STAFFUSER [--note TEXT]
  bundle reject ID --as STAFFUSER --reason TEXT
                                staff decide; approval checks the files again, then applies each item
  compose file [--out FILE]     print (or write) docker-compose.yml for this configuration
  compose prepare               make the data and socket directories ready for docker-compose
  serve                         run the control plane in the foreground with an engine it does not
                                own (the control-plane container's command under docker-compose)
  version                       print the version
`;

/** What `up --detach` runs; not for operators, so not in USAGE, but it answers --help like the rest. */
const HIDDEN_USAGE = '  __serve [--log-file FILE]     the detached server that up --detach starts (internal)\n';

/**
 * How a command takes its arguments, checked in main before any handler runs: handlers that took
 * "--help" for a file name or ignored a stray flag had written, mounted or stopped something before
 * anything noticed. `options`: the handler's parseArgs rejects unknown options and positionals (main
 * turns its error into usage); `plain`: no argument may start with '-' but the listed `flags`, and
 * with `passThrough` nothing after `--` is looked at (mocha's flags); `none`: no arguments at all.
 */
interface ArgSpec { args: 'none' | 'options' | 'plain'; flags?: readonly string[]; passThrough?: boolean }
const NONE: ArgSpec = { args: 'none' };
const OPTIONS: ArgSpec = { args: 'options' };
const PLAIN: ArgSpec = { args: 'plain' };
const COMMANDS: Record<string, ArgSpec | Record<string, ArgSpec>> = {
  up: OPTIONS, __serve: { args: 'plain', flags: ['--log-file'] }, serve: NONE, down: NONE, test: { args: 'plain', passThrough: true }, doctor: NONE, version: NONE,
  images: { build: OPTIONS },
  sandbox: { exec: OPTIONS },
  user: { add: OPTIONS, disable: PLAIN, enable: PLAIN, 'reset-password': PLAIN },
  users: { list: OPTIONS, import: OPTIONS },
  cohort: { add: OPTIONS },
  audit: { verify: NONE },
  mirror: { import: OPTIONS, 'import-debian': PLAIN, list: NONE, remove: PLAIN },
  packages: { add: { args: 'plain', flags: ['--seed'] }, list: NONE, requested: NONE, approve: PLAIN },
  git: { create: OPTIONS, list: PLAIN, collaborator: PLAIN, token: PLAIN },
  curriculum: { validate: PLAIN, import: PLAIN, export: PLAIN, list: NONE },
  grade: OPTIONS,
  backup: PLAIN,
  restore: PLAIN,
  bundle: { keygen: PLAIN, trust: OPTIONS, keys: NONE, untrust: PLAIN, export: OPTIONS, import: PLAIN, list: NONE, show: PLAIN, approve: OPTIONS, reject: OPTIONS },
  compose: { file: OPTIONS, prepare: NONE },
};

const isArgSpec = (spec: ArgSpec | Record<string, ArgSpec>): spec is ArgSpec => typeof spec.args === 'string';
const isHelp = (arg: string) => arg === '--help' || arg === '-h';

interface CommandLine { configFile: string | undefined; configMissing: boolean; command: string | undefined; rest: string[] }

function splitCommandLine(argv: string[]): CommandLine {
  let configFile: string | undefined;
  let configMissing = false;
  if (argv[0] === '--config') {
    configFile = argv[1];
    configMissing = configFile === undefined || configFile.startsWith('-');
    argv = argv.slice(2);
  }
  const [command, ...rest] = argv;
  return { configFile, configMissing, command: command === '--version' ? 'version' : command, rest };
}

/** The subcommand named on the line, when the command has subcommands. */
function subcommandOf(command: string | undefined, rest: string[]): string | undefined {
  const spec = command === undefined ? undefined : COMMANDS[command];
  return spec === undefined || isArgSpec(spec) ? undefined : rest[0];
}

/** USAGE's entries for one command, narrowed to a subcommand when it has entries of its own. */
function commandUsage(command: string, sub: string | undefined): string | undefined {
  const entries: string[] = [];
  for (const line of `${USAGE}${HIDDEN_USAGE}`.split('\n')) {
    if (/^ {2}\S/.test(line)) entries.push(line);
    else if (/^ {3,}\S/.test(line) && entries.length > 0) entries[entries.length - 1] += `\n${line}`;
  }
  // "mirror list | mirror remove NAME" is one entry that documents two subcommands.
  const names = (entry: string) => entry.split('\n')[0]!.trim().split(' | ').map((alt) => alt.split(/\s+/));
  const mine = entries.filter((e) => names(e).some(([c]) => c === command));
  if (mine.length === 0) return undefined;
  const forSub = sub === undefined ? [] : mine.filter((e) => names(e).some(([c, s]) => c === command && s === sub));
  return `Usage: ./outpost [--config FILE] ${command} ...\n${(forSub.length > 0 ? forSub : mine).join('\n')}\n`;
}

function usageError(message: string, usage: string): number {
  const error = new OutpostError('INPUT_INVALID', message);
  process.stderr.write(`outpost: ${error.message} [${error.code}]\n\n${usage}`);
  return 2;
}

/** Help and argument mistakes, answered before any config is read or any handler acts; undefined to go on. */
function checkCommandLine(line: CommandLine): number | undefined {
  const { command, rest } = line;
  if (line.configMissing) return usageError('--config needs a file name.', USAGE);
  if (!command || command === 'help' || isHelp(command)) {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : undefined;
  if (spec === undefined) {
    process.stderr.write(`outpost: unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  const sub = subcommandOf(command, rest);
  const args = isArgSpec(spec) ? rest : rest.slice(1);
  const separator = args.indexOf('--');
  const beforeSeparator = separator < 0 ? args : args.slice(0, separator);
  const usage = commandUsage(command, sub) ?? USAGE;
  // Anywhere before `--`, even after a mistake: whoever asks for help gets it, and nothing runs.
  if ((sub !== undefined && isHelp(sub)) || beforeSeparator.some(isHelp)) {
    process.stdout.write(usage);
    return 0;
  }
  let argSpec: ArgSpec;
  if (isArgSpec(spec)) argSpec = spec;
  else if (sub !== undefined && Object.hasOwn(spec, sub)) argSpec = spec[sub]!;
  else return usageError(sub === undefined ? `"${command}" needs a subcommand.` : `"${command}" has no subcommand "${sub}".`, usage);
  const name = sub === undefined ? command : `${command} ${sub}`;
  if (argSpec.args === 'none' && args.length > 0) return usageError(`"${name}" takes no arguments (got "${args[0]}").`, usage);
  if (argSpec.args === 'plain') {
    const bad = (argSpec.passThrough ? beforeSeparator : args).find((a) => a.startsWith('-') && !(argSpec.flags ?? []).includes(a));
    // A file or user name that starts with '-' is almost always a mistyped option.
    if (bad !== undefined) return usageError(`Unknown option '${bad}' for "${name}".`, usage);
  }
  return undefined;
}

interface Context {
  config: Config;
  log: Logger;
  /** The --config argument, passed on to a detached server. */
  configFile: string | undefined;
}

/** main, with parseArgs' errors (an unknown option, a missing value) answered as usage mistakes. */
async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
    const { command, rest } = splitCommandLine(argv);
    return usageError((error as Error).message, (command && commandUsage(command, subcommandOf(command, rest))) || USAGE);
  }
}

async function main(argv: string[]): Promise<number> {
  const line = splitCommandLine(argv);
  const handled = checkCommandLine(line);
  if (handled !== undefined) return handled;
  const { configFile, command } = line;
  // Mocha takes its flags after `--` (checkCommandLine lets them through); the separator is ours.
  const rest = command === 'test' ? line.rest.filter((_, i) => i !== line.rest.indexOf('--')) : line.rest;
  if (command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const config = loadConfig(configFile === undefined ? {} : { file: configFile });
  const logFile = command === '__serve' && rest[0] === '--log-file' ? rest[1] : undefined;
  const log = logFile !== undefined
    ? createLogger({ level: config.log.level, file: { path: logFile, maxBytes: config.log.maxFileMiB * 1024 * 1024, keep: config.log.keepFiles } })
    : createLogger({ level: command === 'up' || command === '__serve' ? config.log.level : 'warn', destination: 2 });
  const ctx: Context = { config, log, configFile };
  switch (command) {
    case 'up': return up(ctx, rest);
    case '__serve': return serveForeground(ctx, { announce: false });
    case 'serve': return serveInContainer(ctx);
    case 'compose': return composeCommand(ctx, rest);
    case 'down': return down(ctx);
    case 'test': return test(ctx, rest);
    case 'doctor': return doctor(ctx);
    case 'images': return images(ctx, rest);
    case 'sandbox': return sandbox(ctx, rest);
    case 'user': return userCommand(ctx, rest);
    case 'users': return usersCommand(ctx, rest);
    case 'cohort': return cohortCommand(ctx, rest);
    case 'audit': return auditCommand(ctx, rest);
    case 'mirror': return mirrorCommand(ctx, rest);
    case 'packages': return packagesCommand(ctx, rest);
    case 'git': return gitCommand(ctx, rest);
    case 'curriculum': return curriculumCommand(ctx, rest);
    case 'grade': return gradeCommand(ctx, rest);
    case 'backup': return backupCommand(ctx, rest);
    case 'restore': return restoreCommand(ctx, rest);
    case 'bundle': return bundleCommand(ctx, rest);
    default:
      process.stderr.write(`outpost: unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function imageProgressPrinter(): (event: ImageProgressEvent) => void {
  let last = '';
  return (event) => {
    const line = `  [${event.image}] ${event.step}${event.detail ? `: ${event.detail}` : ''}`;
    if (line !== last) say(line);
    last = line;
  };
}

async function openFull(ctx: Context, provision: boolean): Promise<System> {
  return openSystem({
    config: ctx.config,
    log: ctx.log,
    provisionEngine: provision,
    onEngineProgress: (message) => say(message),
    onImageProgress: imageProgressPrinter(),
  });
}

const pidFile = (config: Config) => path.join(config.dataDir, 'outpost.pid');
const enginePidFile = (config: Config) => path.join(config.dataDir, 'dockerd.pid');

/** Engine, images and first-run admin: the slow, chatty part of `up`, done in the foreground. */
async function prepare(ctx: Context): Promise<System> {
  say(`Outpost ${VERSION}: data in ${ctx.config.dataDir}`);
  const system = await openFull(ctx, true);
  if (system.engineStartedPid !== undefined) await writeFile(enginePidFile(ctx.config), `${system.engineStartedPid}\n`);
  const plan = await system.images.plan();
  if (plan.some((p) => p.needsBuild)) say('Building images (first run: a few minutes)…');
  await system.images.build();
  const fi = system.fakeInternet;
  if (fi && fi.mirrors.list().length === 0) {
    say('Mirroring Debian\'s offline documentation (first run: about a minute)…');
    const { importDebianDocs } = await import('../fake-internet/mirrors/debian.ts');
    const bar = progressBar('debian docs');
    const reports = await importDebianDocs({ mirrors: fi.mirrors, workDir: path.join(ctx.config.dataDir, 'cache', 'debian-docs'), log: ctx.log, onProgress: (p) => bar.update(`${p.step} ${p.package ?? ''}`.trim(), p.done ?? 0, p.total ?? 0, p.file) });
    bar.done();
    for (const r of reports) say(`  https://${r.site.host}${r.site.pathPrefix} (${r.package} ${r.version})`);
  }
  if (fi && fi.packages.list().length === 0) {
    say('Filling the npm mirror with the curriculum\'s packages (first run: about a minute)…');
    const { SEED_PACKAGES } = await import('../fake-internet/registry/packages.ts');
    const result = await fi.packages.add([...SEED_PACKAGES], { registry: await configuredNpmRegistry() });
    say(`  ${result.added.length} package versions mirrored.`);
  }
  if (needsStarterCurriculum(ctx, system)) {
    // Reference solutions are graded on the sealed network, as every submission is.
    await system.fakeInternet?.up();
    await importStarterCurriculum(system);
  }
  await announceInitialAdmin(system);
  return system;
}

const needsStarterCurriculum = (ctx: Context, system: System) => ctx.config.curriculum.starterOnFirstRun && system.curriculum.catalog.curricula().length === 0;

async function importStarterCurriculum(system: System): Promise<void> {
  say('Importing the starter curriculum (first run: each reference solution is graded, about a minute)…');
  const report = await system.curriculum.catalog.import(path.join(ROOT, 'curriculum', 'content'), { name: 'system' });
  say(`  ${report.curriculum}: ${report.exercises.length} exercises, every reference solution at 100%.`);
}

async function announceInitialAdmin(system: System): Promise<void> {
  const admin = await ensureInitialAdmin(system.accounts);
  if (!admin) return;
  say('');
  say('  First run: an admin account was created. This password is shown only once:');
  say(`    user:     ${admin.name}`);
  say(`    password: ${admin.password}`);
  say('  You will be asked to change it at first login.');
  say('');
}

async function up(ctx: Context, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { detach: { type: 'boolean', default: false } } });
  await mkdir(ctx.config.dataDir, { recursive: true });
  const running = await readPid(pidFile(ctx.config));
  if (running !== undefined) {
    say(`Outpost is already running (pid ${running}) on http://localhost:${ctx.config.http.port}. Stop it with ./outpost down.`);
    return 0;
  }
  // Before the minutes prepare() may take; serveWith takes the lock itself.
  await assertInstanceFree({ runDir: ctx.config.sandbox.runDir, instance: ctx.config.instance });
  const system = await prepare(ctx);
  if (!values.detach) {
    return serveWith(ctx, system, { announce: true });
  }
  await system.close();
  const logFile = path.join(ctx.config.dataDir, 'outpost.log');
  // The server rotates its own log; what bypasses the logger (a crash's stack trace) goes here.
  const consoleFile = path.join(ctx.config.dataDir, 'outpost.console.log');
  const fd = openSync(consoleFile, 'a');
  const configArgs = ctx.configFile === undefined ? [] : ['--config', path.resolve(ctx.configFile)];
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...configArgs, '__serve', '--log-file', logFile], { detached: true, stdio: ['ignore', fd, fd], env: process.env });
  closeSync(fd);
  child.unref();
  await writeFile(pidFile(ctx.config), `${child.pid}\n`);
  const url = `http://localhost:${ctx.config.http.port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`http://127.0.0.1:${ctx.config.http.port}/healthz`);
      if (res.status === 200 || res.status === 503) {
        say(`Outpost is up on ${url} (pid ${child.pid}; log ${logFile}). Stop it with ./outpost down.`);
        return 0;
      }
    } catch { /* not listening yet */ }
    await sleep(200);
  }
  await rm(pidFile(ctx.config), { force: true });
  throw new OutpostError('INTERNAL', `The server did not come up; see ${logFile} and ${consoleFile}.`);
}

/**
 * The control plane in its container (docker-compose): the engine and the images belong to the
 * host, and the outside-world fills of a first `up` (Debian docs, npm seed) are not possible from
 * inside; mirrors and packages arrive by update bundle or `mirror import` / `packages add`.
 */
async function serveInContainer(ctx: Context): Promise<number> {
  say(`Outpost ${VERSION} (container): data in ${ctx.config.dataDir}`);
  const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
  // Presence only: judging whether they are current (images.status) would bundle and hash the
  // services' sources at every start; `doctor` does that.
  const missing: string[] = [];
  for (const kind of ['workspace', 'services']) {
    const image = `${ctx.config.images.repository}/${kind}:latest`;
    if (!(await system.docker.getImage(image).inspect().then(() => true, () => false))) missing.push(image);
  }
  if (missing.length > 0) {
    await system.close();
    throw new OutpostError('IMAGE_MISSING', `The image(s) ${missing.join(', ')} are missing on the engine. Build them on the host with ./outpost images build, then start the stack again.`);
  }
  await announceInitialAdmin(system);
  return serveWith(ctx, system, {
    announce: true,
    // Once the server listens: compose starts the services only when it reports healthy, and
    // grading the reference solutions needs them (the sandboxes wait for them).
    afterStart: needsStarterCurriculum(ctx, system)
      ? () => { importStarterCurriculum(system).catch((error: Error) => ctx.log.error({ err: error }, 'starter curriculum import failed; import it with: outpost curriculum import curriculum/content')); }
      : undefined,
    // `docker-compose down` removes the sealed network next, which it cannot while a workspace is
    // attached, and a container left behind would name a network that no longer exists. Files live
    // on each student's disk; the container is made again at the next open. Only the server does
    // this: a CLI command run in the same container must leave students' workspaces alone.
    beforeClose: async () => {
      for (const w of await system.sandbox.workspaces.list()) {
        if (w.state !== 'absent') await system.sandbox.workspaces.remove(w.owner).catch((error: unknown) => ctx.log.warn({ err: error, owner: w.owner }, 'could not remove a workspace container at shutdown'));
      }
    },
  });
}

async function composeCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'file') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
    const { text, effectiveConfig } = composeFor(ctx.config, defaultConfig());
    if (effectiveConfig !== undefined) {
      await mkdir(path.dirname(effectiveConfig.path), { recursive: true });
      await writeFileAtomic(effectiveConfig.path, effectiveConfig.content, 0o600);
      process.stderr.write(`The configuration in effect is in ${effectiveConfig.path}; the control-plane container reads it. Run this command again after changing the configuration.\n`);
    }
    if (values.out === undefined) process.stdout.write(text);
    else {
      await writeFileAtomic(path.resolve(values.out), text);
      say(`Wrote ${values.out}. Start it with: docker-compose -f ${values.out} up -d`);
    }
    return 0;
  }
  if (sub === 'prepare') {
    await mkdir(ctx.config.dataDir, { recursive: true });
    await mkdir(ctx.config.sandbox.runDir, { recursive: true });
    // The disks the control-plane container loop-mounts must show on the host (rshared bind).
    const holder = mountHolding(await readFile('/proc/self/mountinfo', 'utf8'), path.resolve(ctx.config.dataDir));
    if (holder?.shared) say(`${ctx.config.dataDir} is on a shared mount (${holder.mountPoint}); nothing to do.`);
    else {
      await run('mount', ['--bind', ctx.config.dataDir, ctx.config.dataDir]);
      await run('mount', ['--make-rshared', ctx.config.dataDir]);
      say(`${ctx.config.dataDir} is now a shared mount. A reboot undoes this unless / is shared (systemd does that) or /etc/fstab has:`);
      say(`  ${ctx.config.dataDir} ${ctx.config.dataDir} none rbind,rshared 0 0`);
    }
    say('Ready: docker-compose up -d');
    return 0;
  }
  process.stderr.write('Usage: ./outpost compose file [--out FILE] | compose prepare\n');
  return 2;
}

async function serveForeground(ctx: Context, options: { announce: boolean }): Promise<number> {
  const system = await openFull(ctx, false);
  return serveWith(ctx, system, options);
}

async function serveWith(ctx: Context, system: System, options: { announce: boolean; afterStart?: (() => void) | undefined; beforeClose?: () => Promise<void> }): Promise<number> {
  // Before start(): its reconcile would remove a running server's grading and preview containers.
  const lock = await lockInstance({ runDir: ctx.config.sandbox.runDir, instance: ctx.config.instance }).catch(async (error: unknown) => {
    await system.close();
    throw error;
  });
  let server: Awaited<ReturnType<typeof serve>>;
  let started: Awaited<ReturnType<System['start']>>;
  try {
    started = await system.start();
    server = await serve(system);
  } catch (error) {
    await system.close().catch(() => undefined);
    await lock.release();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : ctx.config.http.port;
  ctx.log.info({ port, ...started }, 'outpost listening');
  if (options.announce) say(`Outpost is up on http://localhost:${port} (Ctrl-C stops it).`);
  options.afterStart?.();
  return new Promise((resolve) => {
    const stop = () => {
      ctx.log.info('shutting down');
      server.close();
      server.closeAllConnections();
      void (options.beforeClose?.() ?? Promise.resolve()).catch((error: unknown) => ctx.log.warn({ err: error }, 'shutdown step failed')).then(() => system.close()).finally(async () => {
        await lock.release();
        await rm(pidFile(ctx.config), { force: true }).catch(() => undefined);
        resolve(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function down(ctx: Context): Promise<number> {
  const pid = await readPid(pidFile(ctx.config));
  if (pid === undefined) say('Outpost is not running (no server started by up --detach).');
  else {
    say(`Stopping Outpost (pid ${pid})…`);
    await stopProcess(pid);
    await rm(pidFile(ctx.config), { force: true });
  }
  const docker = connectDocker(ctx.config.docker.socketPath);
  if (ctx.config.fakeInternet.enabled && (await pingEngine(docker)).ok) {
    const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
    say('Stopping the sealed network\'s services…');
    await system.fakeInternet?.down();
    await system.close();
  }
  const enginePid = await readPid(enginePidFile(ctx.config));
  if (enginePid !== undefined) {
    say(`Stopping the Docker engine Outpost started (pid ${enginePid})…`);
    await stopEngine(enginePid);
    await rm(enginePidFile(ctx.config), { force: true });
  }
  say('Outpost is down.');
  return 0;
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function stopProcess(pid: number): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try { process.kill(pid, 0); } catch { return; }
    await sleep(100);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Every test: provisions the engine and images, runs mocha over every *.test.ts, cleans up. */
async function test(ctx: Context, args: string[]): Promise<number> {
  const started = Date.now();
  say('Type-checking (tsc --noEmit)…');
  const typecheck = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--noEmit'], { cwd: ROOT }).then(
    () => undefined,
    (error: { stdout?: string }) => error.stdout ?? 'tsc failed',
  );
  if (typecheck !== undefined) {
    process.stdout.write(typecheck);
    say('tests: 0 passed, 1 failed (type errors)');
    return 1;
  }
  say('Preparing the test machine: Docker engine, test tools and images…');
  const engine = await ensureEngine({ ...ctx.config.docker, log: ctx.log, onProgress: say });
  await ensureTestTools(ctx.log);
  try {
    // Only the images: the test run must not open (or create) the operator's store.
    const images = createImageBuilder({ docker: engine.docker, config: ctx.config.images, uid: ctx.config.sandbox.uid, cacheDir: path.join(ctx.config.dataDir, 'cache', 'images'), log: ctx.log, onProgress: imageProgressPrinter() });
    const built = await images.build();
    // test/compose-e2e.test.ts runs the control plane from its image.
    built.push(await images.buildControl());
    for (const b of built) say(`  ${b.image}: ${b.built ? `built in ${b.seconds.toFixed(1)} s` : 'up to date'}`);
    const specs = args.length > 0 ? args : ['{core,sandbox,images,server,fake-internet,ide,curriculum,shop,test,bench}/**/*.test.ts'];
    const result = await runMocha(specs);
    await cleanupTestLeftovers(engine.docker);
    say(`Test run took ${((Date.now() - started) / 1000).toFixed(0)} s.`);
    say(`tests: ${result.passed} passed, ${result.failed} failed, ${result.pending} skipped`);
    return result.exitCode === 0 && result.failed === 0 ? 0 : 1;
  } finally {
    if (engine.startedPid !== undefined) {
      say('Stopping the Docker engine this test run started…');
      await stopEngine(engine.startedPid);
    }
  }
}

/**
 * Real clients the tests drive: dig for DNS, curl and openssl for TLS, iptables for the sealed
 * network, chromium for the IDE, Debian's docker-compose for the compose deployment.
 */
const TEST_TOOLS: Record<string, string> = { dig: 'bind9-dnsutils', curl: 'curl', openssl: 'openssl', iptables: 'iptables', chromium: 'chromium', 'docker-compose': 'docker-compose' };

async function ensureTestTools(log: Logger): Promise<void> {
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(TEST_TOOLS)) if (!(await hasCommand(command))) missing.push(pkg);
  if (missing.length === 0) return;
  say(`  installing test tools: ${missing.join(' ')}`);
  await aptInstall(missing, log);
}

async function runMocha(specs: string[]): Promise<{ exitCode: number; passed: number; failed: number; pending: number }> {
  const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const child = spawn(process.execPath, [mocha, '--config', path.join(ROOT, '.mocharc.json'), ...specs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString()).slice(-20_000);
  });
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  const count = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(tail)?.[1] ?? 0);
  return { exitCode, passed: count('passing'), failed: count('failing'), pending: count('pending') };
}

/** Containers and mounts that test files made and could not remove (a crashed test). */
async function cleanupTestLeftovers(docker: ReturnType<typeof connectDocker>): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`] } });
  for (const c of containers) {
    if ((c.Labels[LABEL.instance] ?? '').startsWith('test-')) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  const leftovers = mountPoints().filter((m) => m.startsWith(TEST_ROOT_PREFIX)).sort((a, b) => b.length - a.length);
  for (const m of leftovers) await run('umount', ['-l', m]).catch(() => undefined);
}

async function doctor(ctx: Context): Promise<number> {
  const { config } = ctx;
  let failures = 0;
  const ok = (what: string) => say(`  ok    ${what}`);
  const warn = (what: string, fix: string) => say(`  warn  ${what}\n        fix: ${fix}`);
  const bad = (what: string, fix: string) => { failures++; say(`  FAIL  ${what}\n        fix: ${fix}`); };
  say(`Outpost ${VERSION} doctor`);

  // Version drift, read before anything opens (and so migrates) the store.
  const dbFile = path.join(config.dataDir, 'outpost.db');
  if (existsSync(dbFile)) {
    try {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        const schema = (db.prepare('select max(version) as v from schema_migrations').get() as { v: number | null }).v ?? 0;
        const known = Math.max(...allMigrations().map((m) => m.version));
        const row = db.prepare("select value from meta where key = 'version'").get() as { value: string } | undefined;
        const recorded = row ? (JSON.parse(row.value) as VersionRecord).current : undefined;
        if (schema > known) bad(`the store is at schema ${schema}, newer than this Outpost knows (${known}): it was written by a newer Outpost${recorded ? ` (${recorded})` : ''}`, 'run that newer Outpost, or restore a backup made by this version');
        else if (schema < known) warn(`the store is at schema ${schema}; this Outpost ${VERSION} brings it to ${known} at its next start${recorded ? ` (data last run by Outpost ${recorded})` : ''}`, './outpost backup FILE first, then ./outpost up');
        else if (recorded && recorded !== VERSION) warn(`the data was last run by Outpost ${recorded}; this is ${VERSION}`, './outpost up records the new version (and audits the change)');
        else ok(`store schema ${schema}; ${recorded ? `data last run by Outpost ${recorded}: no drift` : 'Outpost has not been started on this data yet'}`);
      } finally {
        db.close();
      }
    } catch (error) {
      bad(`cannot read the store ${dbFile}: ${(error as Error).message}`, 'restore the data dir from a backup (./outpost restore FILE)');
    }
  }

  const docker = connectDocker(config.docker.socketPath);
  const engine = await pingEngine(docker);
  if (engine.ok) ok(`Docker engine ${engine.version} answers at ${config.docker.socketPath}`);
  else bad(`no Docker engine answers at ${config.docker.socketPath} (${engine.error})`, './outpost up installs and starts it on Debian as root; elsewhere install Docker and start dockerd');

  if (engine.ok) {
    const networks = await docker.listNetworks();
    if (networks.some((n) => n.Name === 'bridge')) warn('the engine has a default bridge (docker0): the host has an address on it', `start dockerd with ${config.docker.daemonConfigPath} ("bridge": "none"), as ./outpost up does`);
    else ok('no default bridge on the engine');
    if (config.fakeInternet.enabled) { /* the sealed network is checked below */ }
    else if (config.sandbox.network === 'none') ok('sandboxes have no network (sandbox.network = none, fakeInternet off)');
    else {
      const net = networks.find((n) => n.Name === config.sandbox.network);
      if (!net) bad(`the sandbox network "${config.sandbox.network}" does not exist`, './outpost up creates it');
      else if (!net.Internal) bad(`the sandbox network "${config.sandbox.network}" is not internal`, 'remove it; ./outpost up recreates it sealed');
      else ok(`sandbox network "${config.sandbox.network}" exists and is internal`);
    }
    try {
      const system = await openSystem({ config, log: ctx.log, provisionEngine: false });
      for (const image of await system.images.status()) {
        if (!image.present) bad(`image ${image.image} is missing`, './outpost images build');
        else if (!image.upToDate) warn(`image ${image.image} is older than this Outpost's recipe${image.problem ? ` (${image.problem})` : ''}`, './outpost images build');
        else ok(`image ${image.image} is present and up to date`);
      }
      if (system.fakeInternet) {
        const fiStatus = await system.fakeInternet.status();
        if (!fiStatus.network.exists) bad(`the sealed network ${config.fakeInternet.network} does not exist`, './outpost up creates it');
        else if (!fiStatus.network.sealed) bad(`the network ${config.fakeInternet.network} is not sealed (internal, no host address)`, `docker network rm ${config.fakeInternet.network}; ./outpost up recreates it`);
        else if (fiStatus.network.hostAddresses.length) bad(`the host has addresses on the sealed network: ${fiStatus.network.hostAddresses.join(', ')}`, `docker network rm ${config.fakeInternet.network}; ./outpost up recreates it`);
        else ok(`sealed network ${config.fakeInternet.network} (${config.fakeInternet.subnet}): internal, no host address`);
        for (const svc of fiStatus.services) {
          if (svc.running) ok(`service ${svc.service} runs at ${svc.address}${svc.restarts ? ` (restarted ${svc.restarts} times)` : ''}`);
          else bad(`service ${svc.service} (${svc.container}) is not running`, './outpost up starts it; docker logs ' + svc.container + ' says why it stopped');
        }
        const sites = system.fakeInternet.mirrors.list();
        if (sites.length) ok(`${sites.length} mirrored sites: ${sites.map((m) => m.host + m.pathPrefix).join(', ')}`);
        else warn('no site is mirrored', './outpost mirror import-debian');
      }
      const health = system.store.health();
      if (health.ok) ok(`store ${system.store.file}: schema ${health.version}, journal ${health.journalMode}`);
      else bad(`store ${system.store.file}: ${health.error}`, 'restore the data dir from a backup');
      await system.close();
    } catch (error) {
      bad(`cannot open the system: ${(error as Error).message}`, 'see the message');
    }
  }

  try {
    await mkdir(config.dataDir, { recursive: true });
    accessSync(config.dataDir, fsConstants.W_OK);
    const s = await statfs(config.dataDir);
    const freeGiB = (s.bavail * s.bsize) / 2 ** 30;
    if (freeGiB < 5) warn(`data dir ${config.dataDir} has only ${freeGiB.toFixed(1)} GiB free`, 'free space or move dataDir to a larger disk');
    else ok(`data dir ${config.dataDir} is writable (${freeGiB.toFixed(0)} GiB free)`);
  } catch (error) {
    bad(`data dir ${config.dataDir} is not writable (${(error as Error).message})`, 'run as root or set OUTPOST_DATA_DIR to a writable directory');
  }
  const diskMode = detectDiskMode(config.sandbox.quotaMode);
  if (diskMode === 'loop') ok(`workspace disks are loop-mounted ext4 files of ${config.sandbox.workspace.diskMiB} MiB (quota enforced by the kernel)`);
  else warn('workspace disks are plain directories: the quota is checked by the files API only, not inside containers', 'run as root on a machine with loop devices (sandbox.quotaMode = auto)');
  // The longest path the host connects to: through the nosymfollow view (sandbox/agent-sockets.ts).
  const socketSample = path.join(agentSocketTree(config.sandbox.runDir, config.instance).view, 'w', 'x'.repeat(32), 'agent.sock');
  if (Buffer.byteLength(socketSample) > 107) bad(`sandbox.runDir is too long for unix socket paths (${socketSample.length} > 107 bytes)`, 'set sandbox.runDir to a short path such as /run/outpost');
  else ok(`agent sockets under ${config.sandbox.runDir}`);
  const running = await readPid(pidFile(config));
  // A server in the foreground or in its compose container leaves no pid file here: ask it.
  const answers = running === undefined && (await fetch(`http://127.0.0.1:${config.http.port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false));
  say(running ? `  info  the server runs (pid ${running}) on port ${config.http.port}` : answers ? `  info  a server answers on port ${config.http.port}` : '  info  the server is not running (./outpost up)');
  say(failures === 0 ? 'All checks passed.' : `${failures} check(s) failed.`);
  return failures === 0 ? 0 : 1;
}

async function images(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'build') {
    process.stderr.write('Usage: ./outpost images build [--force]\n');
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { force: { type: 'boolean', default: false } } });
  const system = await openFull(ctx, true);
  try {
    const results = await system.images.build({ force: values.force ?? false });
    // The control plane's own image, for docker-compose; `up` runs on the host and never needs it.
    results.push(await system.images.buildControl({ force: values.force ?? false }));
    for (const r of results) say(`${r.image}: ${r.built ? `built in ${r.seconds.toFixed(1)} s` : 'up to date'}`);
    return 0;
  } finally {
    await system.close();
  }
}

async function sandbox(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const dashdash = rest.indexOf('--');
  if (sub !== 'exec' || dashdash < 0) {
    process.stderr.write('Usage: ./outpost sandbox exec USER [--timeout SECONDS] -- CMD...\n');
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest.slice(0, dashdash), allowPositionals: true, options: { timeout: { type: 'string' } } });
  const command = rest.slice(dashdash + 1);
  const owner = positionals[0];
  if (positionals.length !== 1 || !owner || command.length === 0) {
    process.stderr.write('Usage: ./outpost sandbox exec USER [--timeout SECONDS] -- CMD...\n');
    return 2;
  }
  const timeoutSeconds = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutSeconds !== undefined && (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)) {
    throw new OutpostError('SANDBOX_EXEC_INVALID', `--timeout must be a positive number of seconds (got "${values.timeout}").`);
  }
  const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
  try {
    // Sandboxes are created on the sealed network, which must exist (it is idempotent and quick).
    await system.fakeInternet?.up();
    const forwardInput = !process.stdin.isTTY;
    const session = await system.sandbox.workspaces.stream(owner, {
      argv: command,
      interactive: forwardInput,
      ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    });
    session.stdout.pipe(process.stdout, { end: false });
    session.stderr.pipe(process.stderr, { end: false });
    if (forwardInput) {
      process.stdin.on('data', (chunk: Buffer) => session.write(chunk));
      process.stdin.on('end', () => session.endInput());
    }
    const exit = await session.exit;
    process.stdin.destroy();
    if (exit.truncated.stdout || exit.truncated.stderr) process.stderr.write(`\noutpost: output was cut at ${ctx.config.sandbox.exec.outputCapBytes} bytes per stream.\n`);
    if (exit.timedOut) process.stderr.write(`\noutpost: time limit reached; the command and everything it started were killed.\n`);
    if (exit.oomKilled) process.stderr.write(`\noutpost: out of memory: the workspace's memory limit (${ctx.config.sandbox.workspace.memoryMiB} MiB) was hit and the process was killed.\n`);
    return exit.exitCode;
  } finally {
    await system.close();
  }
}

/** Audit actor for commands run by an operator at the console. */
const OPERATOR = () => ({ name: `cli:${os.userInfo().username}` });

async function withCore<T>(ctx: Context, fn: (core: Core) => Promise<T>): Promise<T> {
  await mkdir(ctx.config.dataDir, { recursive: true });
  const core = openCore(ctx.config);
  try {
    return await fn(core);
  } finally {
    core.store.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function userCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'Usage: ./outpost user add NAME --role ROLE [--cohort C] [--display-name N] [--external-id ID] [--password-stdin]\n       ./outpost user disable|enable|reset-password NAME\n';
  if (sub === 'add') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: {
      role: { type: 'string' }, cohort: { type: 'string' }, 'display-name': { type: 'string' }, 'external-id': { type: 'string' }, 'password-stdin': { type: 'boolean', default: false },
    } });
    if (positionals.length !== 1 || !values.role) { process.stderr.write(usage); return 2; }
    const password = values['password-stdin'] ? (await readStdin()).replace(/\r?\n$/, '') : undefined;
    return withCore(ctx, async ({ accounts }) => {
      const created = await accounts.create({
        name: positionals[0]!, role: values.role as Role,
        ...(values.cohort ? { cohort: values.cohort } : {}), ...(values['display-name'] ? { displayName: values['display-name'] } : {}),
        ...(values['external-id'] ? { externalId: values['external-id'] } : {}), ...(password !== undefined ? { password } : {}),
      }, OPERATOR());
      say(`Added ${created.user.name} (${created.user.role}).`);
      if (password === undefined) say(`First password (shown once; to be changed at first sign-in): ${created.password}`);
      return 0;
    });
  }
  if ((sub === 'disable' || sub === 'enable' || sub === 'reset-password') && rest.length === 1) {
    return withCore(ctx, async ({ accounts }) => {
      const name = rest[0]!;
      if (sub === 'reset-password') {
        const password = await accounts.resetPassword(name, OPERATOR());
        say(`The password of ${name} was reset and their sessions ended.`);
        say(`Temporary password (shown once; to be changed at next sign-in): ${password}`);
      } else {
        accounts.setDisabled(name, sub === 'disable', OPERATOR());
        say(sub === 'disable' ? `${name} is disabled; their sessions ended. Their work is kept.` : `${name} is enabled.`);
      }
      return 0;
    });
  }
  process.stderr.write(usage);
  return 2;
}

async function usersCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { role: { type: 'string' }, cohort: { type: 'string' } } });
    return withCore(ctx, async ({ accounts }) => {
      for (const u of accounts.list({ ...(values.role ? { role: values.role as Role } : {}), ...(values.cohort ? { cohort: values.cohort } : {}) })) {
        say([u.name, u.role, u.disabled ? 'disabled' : 'active', u.cohorts.join(',') || '-', u.displayName].join('\t'));
      }
      return 0;
    });
  }
  if (sub === 'import') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { 'passwords-out': { type: 'string' } } });
    if (positionals.length !== 1) { process.stderr.write('Usage: ./outpost users import ROSTER.csv [--passwords-out FILE]\n'); return 2; }
    const text = await readFile(positionals[0]!, 'utf8').catch((error: Error) => { throw new OutpostError('ROSTER_INVALID', `Cannot read ${positionals[0]}: ${error.message}`); });
    return withCore(ctx, async ({ accounts }) => {
      const report = await accounts.importRoster(text, OPERATOR(), (t) => parseCsv(t, { relax_column_count: true, skip_empty_lines: false, bom: true }) as string[][]);
      say(`created ${report.created.length}, updated ${report.updated.length}, unchanged ${report.unchanged.length}, rejected ${report.rejected.length}`);
      for (const r of report.updated) say(`  line ${r.line}: updated ${r.name} (${r.changes.join(', ')})`);
      for (const r of report.rejected) say(`  line ${r.line}: REJECTED ${r.name || '(no name)'}: ${r.reason}`);
      if (report.created.length) {
        const lines = ['name,password', ...report.created.map((c) => `${c.name},${c.password}`)].join('\n') + '\n';
        if (values['passwords-out']) {
          await writeFile(values['passwords-out'], lines, { mode: 0o600 });
          say(`First passwords of the ${report.created.length} new accounts are in ${values['passwords-out']} (mode 600). Hand them out, then delete the file.`);
        } else {
          say('First passwords of the new accounts (shown once):');
          for (const c of report.created) say(`  ${c.name}\t${c.password}`);
        }
      }
      return report.rejected.length ? 1 : 0;
    });
  }
  process.stderr.write('Usage: ./outpost users list [--role ROLE] [--cohort C] | users import ROSTER.csv [--passwords-out FILE]\n');
  return 2;
}

async function cohortCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { title: { type: 'string' }, instructor: { type: 'string', multiple: true } } });
  if (sub !== 'add' || positionals.length !== 1) { process.stderr.write('Usage: ./outpost cohort add NAME [--title T] [--instructor USER]\n'); return 2; }
  return withCore(ctx, async ({ accounts }) => {
    const cohort = accounts.createCohort(positionals[0]!, values.title ?? '', OPERATOR());
    for (const instructor of values.instructor ?? []) accounts.addToCohort(cohort.name, instructor, OPERATOR());
    say(`Cohort ${cohort.name} created.`);
    return 0;
  });
}

async function gitCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'Usage: ./outpost git create OWNER/REPO [--from DIR] [--description TEXT] [--cohort | --team] [--branch NAME]\n       ./outpost git list [OWNER]\n       ./outpost git collaborator OWNER/REPO USER read|write|none\n       ./outpost git token USER LABEL\n';
  if (sub === 'create') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: {
      from: { type: 'string' }, description: { type: 'string' }, cohort: { type: 'boolean', default: false }, team: { type: 'boolean', default: false }, branch: { type: 'string' },
    } });
    if (positionals.length !== 1 || (values.cohort && values.team)) { process.stderr.write(usage); return 2; }
    const { owner, name } = parseRepoSlug(positionals[0]!);
    return withCore(ctx, async ({ git }) => {
      const repo = await git.create({
        owner, name, ...(values.from ? { from: path.resolve(values.from) } : {}), ...(values.description ? { description: values.description } : {}),
        ...(values.branch ? { defaultBranch: values.branch } : {}), ...(values.cohort ? { ownerKind: 'cohort' as const } : values.team ? { ownerKind: 'team' as const } : {}),
      }, OPERATOR());
      say(`Created ${repo.owner}/${repo.name} (${repo.ownerKind}-owned${values.from ? `, one commit of ${values.from}` : ', empty'}).`);
      say(`Clone it inside Outpost with: git clone ${git.cloneUrl(repo.owner, repo.name)}`);
      return 0;
    });
  }
  if (sub === 'list' && rest.length <= 1) {
    return withCore(ctx, async ({ git }) => {
      const repos = git.list(rest[0] === undefined ? {} : { owner: rest[0] });
      if (repos.length === 0) say('No repositories.');
      for (const r of repos) say(`${`${r.owner}/${r.name}`.padEnd(40)} ${r.ownerKind.padEnd(6)} ${git.cloneUrl(r.owner, r.name)}${r.description ? `  ${r.description}` : ''}`);
      return 0;
    });
  }
  if (sub === 'collaborator' && rest.length === 3 && ['read', 'write', 'none'].includes(rest[2]!)) {
    const { owner, name } = parseRepoSlug(rest[0]!);
    return withCore(ctx, async ({ git }) => {
      await git.setCollaborator(owner, name, rest[1]!, rest[2] as 'read' | 'write' | 'none', OPERATOR());
      say(`${rest[1]} now has ${rest[2]} access to ${owner}/${name}.`);
      return 0;
    });
  }
  if (sub === 'token' && rest.length === 2) {
    return withCore(ctx, async ({ git }) => {
      const { id, token } = await git.issueToken(rest[0]!, rest[1]!, OPERATOR());
      say(`Token ${id} for ${rest[0]} (shown once; use it as the password for git over HTTPS):`);
      say(token);
      return 0;
    });
  }
  process.stderr.write(usage);
  return 2;
}

async function curriculumCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'Usage: ./outpost curriculum validate DIR | import DIR | export DEST | list\n';
  if (sub === 'validate' && rest.length === 1) {
    const loaded = await loadCurriculum(rest[0]!);
    const exercises = loaded.exercises.size;
    const lessons = loaded.tracks.reduce((n, t) => n + t.modules.reduce((m, mod) => m + mod.items.filter((i) => i.kind === 'lesson').length, 0), 0);
    say(`${loaded.title} (${loaded.id}, version ${loaded.version}) is valid: ${loaded.tracks.length} tracks, ${lessons} lessons, ${exercises} exercises.`);
    return 0;
  }
  if (sub === 'import' && rest.length === 1) {
    const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
    try {
      // Reference solutions are graded on the sealed network, like every submission.
      await system.fakeInternet?.up();
      const report = await system.curriculum.catalog.import(rest[0]!, OPERATOR(), { onProgress: say });
      const counts = { new: 0, changed: 0, unchanged: 0 };
      for (const e of report.exercises) counts[e.status]++;
      say(`Imported ${report.curriculum} (${report.hash.slice(0, 12)}): ${counts.new} new, ${counts.changed} changed, ${counts.unchanged} unchanged exercises${report.retired.length ? `; retired: ${report.retired.join(', ')}` : ''}. Every reference solution scores 100%.`);
      return 0;
    } finally {
      await system.close();
    }
  }
  if (sub === 'export' && rest.length === 1) {
    return withCore(ctx, async ({ store, audit }) => {
      const catalog = createCatalog({ store, audit, dataDir: ctx.config.dataDir, log: ctx.log });
      const hash = await catalog.export(undefined, path.resolve(rest[0]!));
      say(`Exported the current curriculum (${hash.slice(0, 12)}) to ${rest[0]}.`);
      return 0;
    });
  }
  if (sub === 'list' && rest.length === 0) {
    return withCore(ctx, async ({ store, audit }) => {
      const catalog = createCatalog({ store, audit, dataDir: ctx.config.dataDir, log: ctx.log });
      const curricula = catalog.curricula();
      if (curricula.length === 0) say('No curriculum imported yet.');
      for (const c of curricula) {
        say(`${c.id}  ${c.title}  version ${c.version}  (${c.hash.slice(0, 12)}, imported ${c.importedAt.slice(0, 16).replace('T', ' ')})`);
        for (const e of catalog.exercises({ curriculum: c.id })) say(`  ${e.id.padEnd(36)} ${e.spec.grader.adapter.padEnd(6)} ${String(e.maxScore).padStart(3)} pts  ${e.title}`);
      }
      return 0;
    });
  }
  process.stderr.write(usage);
  return 2;
}

async function gradeCommand(ctx: Context, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { from: { type: 'string' }, owner: { type: 'string' } } });
  if (positionals.length !== 1 || !values.from) { process.stderr.write('Usage: ./outpost grade EXERCISE_ID --from DIR\n'); return 2; }
  const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
  try {
    const exercise = system.curriculum.catalog.exercise(positionals[0]!);
    if (!exercise) throw new OutpostError('EXERCISE_NOT_FOUND', `There is no exercise "${positionals[0]}". Import a curriculum first (./outpost curriculum import DIR); ./outpost curriculum list shows the ids.`);
    await system.fakeInternet?.up();
    const result = await system.curriculum.grader.grade({ exercise, submissionDir: path.resolve(values.from), owner: values.owner ?? 'outpost-cli' });
    process.stdout.write(`${JSON.stringify({ exercise: exercise.id, exerciseHash: exercise.hash, ...result }, null, 2)}\n`);
    return 0;
  } finally {
    await system.close();
  }
}

async function backupCommand(ctx: Context, args: string[]): Promise<number> {
  if (args.length !== 1) { process.stderr.write('Usage: ./outpost backup FILE\n'); return 2; }
  return withCore(ctx, async (core) => {
    const manifest = await createBackup({ config: ctx.config, core, log: ctx.log, version: VERSION }, args[0]!, (line) => say(`  ${line}`));
    say(`Backup written to ${args[0]}: ${manifest.counts.users} people, ${manifest.counts.repositories} repositories, ${manifest.counts.submissions} submissions, ${manifest.counts.workspaces} workspaces.`);
    say(`Left out: ${manifest.leftOut.join('; ')}.`);
    return 0;
  });
}

async function restoreCommand(ctx: Context, args: string[]): Promise<number> {
  if (args.length !== 1) { process.stderr.write('Usage: ./outpost restore FILE\n'); return 2; }
  const manifest = await restoreBackup({ config: ctx.config, log: ctx.log }, args[0]!, (line) => say(`  ${line}`));
  say(`Restored the backup of ${manifest.createdAt} (Outpost ${manifest.outpostVersion}, instance ${manifest.instance}) into ${ctx.config.dataDir}. Start it with ./outpost up.`);
  return 0;
}

const BUNDLE_USAGE = `Usage: ./outpost bundle keygen DIR
       ./outpost bundle trust PUBKEY.pem --name NAME | bundle keys | bundle untrust NAME
       ./outpost bundle export FILE --key PRIVATE.pem [--images] [--mirror NAME ...] [--packages] [--curriculum DIR] [--note TEXT]
       ./outpost bundle import FILE | bundle list | bundle show ID
       ./outpost bundle approve ID --as STAFFUSER [--note TEXT]
       ./outpost bundle reject ID --as STAFFUSER --reason TEXT
`;

function sizeText(bytes: number): string {
  return bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : bytes < 2 ** 30 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

function printBundle(b: BundleRecord): void {
  say(`Bundle #${b.id}: ${b.status}`);
  say(`  publisher  ${b.publisher.name} (key ${formatFingerprint(b.publisher.fingerprint)})`);
  say(`  made       ${b.manifest.createdAt} by Outpost ${b.manifest.outpostVersion}${b.manifest.note ? `; note: ${b.manifest.note}` : ''}`);
  say(`  file       ${b.source} (${sizeText(b.bytes)}, sha256 ${b.sourceSha256})`);
  say(`  imported   ${b.stagedAt} by ${b.stagedBy}`);
  if (b.decidedBy) say(`  decided    ${b.decidedAt} by ${b.decidedBy}${b.decisionNote ? `: ${b.decisionNote}` : ''}`);
  for (const u of b.units) say(`  ${u.kind.padEnd(10)} ${u.name}${u.detail ? `  ${u.detail}` : ''}  (${u.files} files, ${sizeText(u.bytes)})`);
  for (const r of b.results) say(`  ${r.status === 'applied' ? 'applied' : 'FAILED '}    ${r.kind} ${r.name}: ${r.detail}${r.code ? ` [${r.code}]` : ''}`);
}

/** The staff account a console decision is made as: it must exist, be active, and be allowed to decide. */
function consoleStaff(accounts: Accounts, name: string | undefined): BundleActor {
  if (!name) throw new OutpostError('INPUT_INVALID', 'Name the staff member who decides with --as STAFFUSER; the audit log records them.');
  const user = accounts.get(name);
  if (!user || user.disabled) throw new OutpostError('USER_NOT_FOUND', `There is no active account "${name}".`);
  const policy = createPolicy({ cohortsOf: (n) => accounts.cohortsOf(n) });
  if (!policy.can(user, 'bundles.manage')) throw new OutpostError('AUTH_FORBIDDEN', `${name} is ${user.role === 'admin' || user.role === 'instructor' ? 'an' : 'a'} ${user.role}; only staff and admins approve or reject bundles.`);
  return { name: user.name, via: OPERATOR().name };
}

async function bundleCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = () => { process.stderr.write(BUNDLE_USAGE); return 2; };
  const bundleId = (text: string | undefined) => (text !== undefined && /^[1-9]\d{0,9}$/.test(text) ? Number(text) : NaN);
  // Keys, staging and listing need only the store; export and approval build the whole system.
  const withBundles = <T>(fn: (bundles: Bundles, core: Core) => Promise<T>) => withCore(ctx, (core) => fn(createBundles({
    store: core.store, audit: core.audit, dataDir: ctx.config.dataDir, log: ctx.log, version: VERSION, imagesRepository: ctx.config.images.repository,
  }), core));
  if (sub === 'keygen' && rest.length === 1) {
    const keys = await generateSigningKeys(path.resolve(rest[0]!));
    say(`Private key (keep it on this machine, readable by you only): ${keys.privateKeyFile}`);
    say(`Public key (copy it inside):                                ${keys.publicKeyFile}`);
    say(`Fingerprint: ${formatFingerprint(keys.fingerprint)}`);
    say('Inside, staff trust it with ./outpost bundle trust FILE --name NAME after checking this fingerprint with you (on paper, not with the file).');
    return 0;
  }
  if (sub === 'trust') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { name: { type: 'string' } } });
    if (positionals.length !== 1 || !values.name) return usage();
    const pem = await readFile(positionals[0]!, 'utf8').catch((error: Error) => { throw new OutpostError('BUNDLE_KEY_INVALID', `Cannot read ${positionals[0]}: ${error.message}`); });
    return withBundles(async (bundles) => {
      const key = bundles.trust(pem, values.name!, OPERATOR());
      say(`Trusted the publisher key "${key.name}": ${formatFingerprint(key.fingerprint)}`);
      say('Bundles signed with it can now be imported; staff still approve each one.');
      return 0;
    });
  }
  if (sub === 'keys' && rest.length === 0) {
    return withBundles(async (bundles) => {
      const keys = bundles.keys();
      if (keys.length === 0) say('No publisher key is trusted yet (./outpost bundle trust PUBKEY.pem --name NAME).');
      for (const k of keys) say(`${k.name.padEnd(20)} ${formatFingerprint(k.fingerprint)}  (trusted ${k.addedAt.slice(0, 16).replace('T', ' ')} by ${k.addedBy})`);
      return 0;
    });
  }
  if (sub === 'untrust' && rest.length === 1) {
    return withBundles(async (bundles) => {
      bundles.untrust(rest[0]!, OPERATOR());
      say(`The key "${rest[0]}" is no longer trusted: its bundles can no longer be imported or approved.`);
      return 0;
    });
  }
  if (sub === 'export') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: {
      key: { type: 'string' }, images: { type: 'boolean', default: false }, mirror: { type: 'string', multiple: true }, packages: { type: 'boolean', default: false },
      curriculum: { type: 'string' }, note: { type: 'string' },
    } });
    if (positionals.length !== 1 || !values.key) return usage();
    const options = {
      privateKeyFile: path.resolve(values.key),
      images: values.images ? IMAGE_KINDS.map((kind) => `${ctx.config.images.repository}/${kind}:latest`) : [],
      mirrors: values.mirror ?? [], packages: values.packages ?? false,
      ...(values.curriculum ? { curriculum: path.resolve(values.curriculum) } : {}), ...(values.note ? { note: values.note } : {}),
      onProgress: (line: string) => say(`  ${line}`),
    };
    const needsSystem = options.images.length > 0 || options.mirrors.length > 0 || options.packages;
    const report = needsSystem
      ? await (async () => {
        const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
        try {
          // The control-plane image travels too where it was built (a docker-compose facility needs it).
          const control = `${ctx.config.images.repository}/control:latest`;
          if (values.images && (await system.docker.getImage(control).inspect().then(() => true, () => false))) options.images.push(control);
          return await system.bundles.export(positionals[0]!, options);
        } finally { await system.close(); }
      })()
      : await withBundles((bundles) => bundles.export(positionals[0]!, options));
    say(`Bundle written to ${report.file} (${sizeText(report.bytes)}, ${report.manifest.items.length} files), signed by ${formatFingerprint(report.manifest.publisherFingerprint)}:`);
    for (const u of report.units) say(`  ${u.kind.padEnd(10)} ${u.name} (${u.files} files, ${sizeText(u.bytes)})`);
    return 0;
  }
  if (sub === 'import' && rest.length === 1) {
    return withBundles(async (bundles) => {
      const record = await bundles.import(rest[0]!, OPERATOR());
      say(`Verified and staged as bundle #${record.id}: the signature of "${record.publisher.name}" and every file's checksum check out. Nothing is applied yet.`);
      printBundle(record);
      say(`Staff approve it on /admin/bundles, or: ./outpost bundle approve ${record.id} --as STAFFUSER`);
      return 0;
    });
  }
  if (sub === 'list' && rest.length === 0) {
    return withBundles(async (bundles) => {
      const list = bundles.list();
      if (list.length === 0) say('No bundle has been imported.');
      for (const b of list) say(`#${String(b.id).padEnd(4)} ${b.status.padEnd(9)} ${b.publisher.name.padEnd(16)} made ${b.manifest.createdAt.slice(0, 16).replace('T', ' ')}  ${b.units.map((u) => `${u.kind}:${u.name}`).join(', ')}  (${sizeText(b.bytes)})${b.manifest.note ? `  ${b.manifest.note}` : ''}`);
      return 0;
    });
  }
  if (sub === 'show' && rest.length === 1) {
    return withBundles(async (bundles) => { printBundle(bundles.get(bundleId(rest[0]))); return 0; });
  }
  if (sub === 'approve' || sub === 'reject') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { as: { type: 'string' }, note: { type: 'string' }, reason: { type: 'string' } } });
    if (positionals.length !== 1 || !values.as || (sub === 'reject' && values.reason === undefined)) return usage();
    const id = bundleId(positionals[0]);
    if (sub === 'reject') {
      return withBundles(async (bundles, core) => {
        const record = await bundles.reject(id, consoleStaff(core.accounts, values.as), values.reason!);
        say(`Bundle #${record.id} was rejected; nothing in it was applied and its staged files were deleted.`);
        return 0;
      });
    }
    const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
    try {
      const actor = consoleStaff(system.accounts, values.as);
      // Reference solutions of a curriculum are graded on the sealed network, which must exist.
      if (system.bundles.get(id).units.some((u) => u.kind === 'curriculum')) await system.fakeInternet?.up();
      const record = await system.bundles.approve(id, actor, { ...(values.note ? { note: values.note } : {}), onProgress: (line) => say(`  ${line}`) });
      say(record.status === 'applied' ? `Bundle #${record.id} was applied.` : `Bundle #${record.id} failed in part; fix the cause and approve it again (applying is idempotent):`);
      if (record.status !== 'applied') printBundle(record);
      return record.status === 'applied' ? 0 : 1;
    } finally {
      await system.close();
    }
  }
  return usage();
}

async function auditCommand(ctx: Context, args: string[]): Promise<number> {
  if (args[0] !== 'verify') { process.stderr.write('Usage: ./outpost audit verify\n'); return 2; }
  return withCore(ctx, async ({ audit }) => {
    const result = audit.verify();
    if (result.ok) { say(`The audit log is intact: ${result.entries} entries, every hash and link checks out.`); return 0; }
    say(`The audit log has been tampered with (${result.entries} entries read):`);
    for (const p of result.problems) say(`  entry ${p.id}: ${p.problem}`);
    return 1;
  });
}

/** A one-line progress bar on a terminal; occasional plain lines otherwise (logs, CI). */
function progressBar(label: string): { update(phase: string, done: number, total: number, detail?: string): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  let lastPhase = '';
  return {
    update(phase, done, total, detail) {
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
      if (tty) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        process.stderr.write(`\r${label} ${phase.padEnd(8)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${total} ${(detail ?? '').slice(-40).padEnd(40)}`);
      } else if (phase !== lastPhase || Date.now() - lastLine > 5000) {
        process.stderr.write(`${label} ${phase}: ${done}/${total}\n`);
        lastLine = Date.now();
      }
      lastPhase = phase;
    },
    done() { if (tty) process.stderr.write('\n'); },
  };
}

async function withFakeInternet<T>(ctx: Context, fn: (system: System, fi: NonNullable<System['fakeInternet']>) => Promise<T>): Promise<T> {
  const system = await openSystem({ config: ctx.config, log: ctx.log, provisionEngine: false });
  try {
    if (!system.fakeInternet) throw new OutpostError('SERVICE_UNAVAILABLE', 'The fake internet is switched off (fakeInternet.enabled is false).');
    return await fn(system, system.fakeInternet);
  } finally {
    await system.close();
  }
}

/** Publishes a changed set of sites to running services; before the first `up` there is nothing to tell. */
async function publishIfUp(fi: NonNullable<System['fakeInternet']>): Promise<void> {
  const status = await fi.status();
  if (status.services.some((s) => s.running)) await fi.publish();
}

async function mirrorCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'Usage: ./outpost mirror import NAME --host HOST[/PATH] --from DIR|TAR [--extensionless]\n       ./outpost mirror import-debian [python|nodejs|git ...]\n       ./outpost mirror list | mirror remove NAME\n';
  if (sub === 'import') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { host: { type: 'string' }, from: { type: 'string' }, extensionless: { type: 'boolean', default: false } } });
    if (positionals.length !== 1 || !values.host || !values.from) { process.stderr.write(usage); return 2; }
    const slash = values.host.indexOf('/');
    const host = slash < 0 ? values.host : values.host.slice(0, slash);
    const prefix = slash < 0 ? '/' : `${values.host.slice(slash).replace(/\/*$/, '')}/`;
    return withFakeInternet(ctx, async (_system, fi) => {
      const bar = progressBar(positionals[0]!);
      const report = await fi.mirrors.importSite({ name: positionals[0]!, host, pathPrefix: prefix, from: path.resolve(values.from!), extensionless: values.extensionless ?? false, onProgress: (p) => bar.update(p.phase, p.done, p.total, p.file) });
      bar.done();
      say(`Mirrored ${report.name} at https://${report.host}${report.pathPrefix}: ${report.files} files, ${(report.bytes / 2 ** 20).toFixed(1)} MiB, ${report.pages} pages indexed${report.dropped ? `, ${report.dropped} links left out` : ''} (${report.seconds.toFixed(1)} s).`);
      await publishIfUp(fi);
      return 0;
    });
  }
  if (sub === 'import-debian') {
    const chosen = rest.length ? rest : ['python', 'nodejs', 'git'];
    for (const c of chosen) if (!['python', 'nodejs', 'git'].includes(c)) { process.stderr.write(usage); return 2; }
    return withFakeInternet(ctx, async (_system, fi) => {
      const { importDebianDocs } = await import('../fake-internet/mirrors/debian.ts');
      const bar = progressBar('debian docs');
      const reports = await importDebianDocs({
        mirrors: fi.mirrors, workDir: path.join(ctx.config.dataDir, 'cache', 'debian-docs'), packages: chosen as ('python' | 'nodejs' | 'git')[], log: ctx.log,
        onProgress: (p) => bar.update(`${p.step} ${p.package ?? ''}`.trim(), p.done ?? 0, p.total ?? 0, p.file),
      });
      bar.done();
      for (const r of reports) say(`Mirrored ${r.package} ${r.version} at https://${r.site.host}${r.site.pathPrefix}: ${r.site.files} files, ${r.site.pages} pages.`);
      await publishIfUp(fi);
      return 0;
    });
  }
  if (sub === 'list') {
    return withFakeInternet(ctx, async (_system, fi) => {
      for (const site of fi.mirrors.list()) say([site.name, `https://${site.host}${site.pathPrefix}`, `${site.files} files`, `${site.pages} pages`, site.importedAt].join('\t'));
      return 0;
    });
  }
  if (sub === 'remove' && rest.length === 1) {
    return withFakeInternet(ctx, async (_system, fi) => {
      await fi.mirrors.remove(rest[0]!);
      await publishIfUp(fi);
      say(`Removed the mirror ${rest[0]}.`);
      return 0;
    });
  }
  process.stderr.write(usage);
  return 2;
}


async function packagesCommand(ctx: Context, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'Usage: ./outpost packages add NAME[@RANGE]... | packages add --seed | packages list | packages requested | packages approve NAME\n';
  return withFakeInternet(ctx, async (_system, fi) => {
    if (sub === 'add' && rest.length > 0) {
      const { SEED_PACKAGES } = await import('../fake-internet/registry/packages.ts');
      const specs = rest.includes('--seed') ? [...SEED_PACKAGES, ...rest.filter((r) => r !== '--seed')] : rest;
      let fetched = 0;
      const result = await fi.packages.add(specs, { registry: await configuredNpmRegistry(), onProgress: (p) => { if (p.step === 'tarball' && ++fetched % 25 === 0) process.stderr.write(`  ${fetched} packages fetched…\n`); } });
      say(`Added ${result.added.length} package versions (${result.tarballs} tarballs, ${(result.bytes / 2 ** 20).toFixed(1)} MiB) to the mirror.`);
      return 0;
    }
    if (sub === 'list') {
      for (const p of fi.packages.list()) say(`${p.name}\t${p.versions.join(' ')}`);
      return 0;
    }
    if (sub === 'requested') {
      fi.packages.ingestRequestLog(path.join(ctx.config.dataDir, 'fake-internet', 'logs', 'registry', 'registry.jsonl'));
      for (const p of fi.packages.requested()) say([p.name, p.status, `${p.count}×`, p.lastRequestedAt, p.requestedBy ?? ''].join('\t'));
      return 0;
    }
    if (sub === 'approve' && rest.length === 1) {
      const result = await fi.packages.approve(rest[0]!, { registry: await configuredNpmRegistry() });
      say(`Approved ${rest[0]}: ${result.added.length} package versions added to the mirror.`);
      return 0;
    }
    process.stderr.write(usage);
    return 2;
  });
}


runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Handles (the engine's keep-alive sockets) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (error: unknown) => {
    if (isOutpostError(error)) process.stderr.write(`outpost: ${error.message} [${error.code}]\n`);
    else process.stderr.write(`outpost: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);

