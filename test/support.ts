/**
 * Test support: a real system (real engine, real images, real disks) in a throwaway data dir with its
 * own instance label, so tests never touch an operator's Outpost or each other's containers.
 * The images come from `./outpost test`, which builds them before mocha starts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../core/config.ts';
import { silentLogger } from '../core/log.ts';
import type { AddressInfo } from 'node:net';
import { openSystem, serve, type System } from '../server/system.ts';
import type { Role } from '../core/accounts.ts';
import { LABEL } from '../sandbox/hardening.ts';
import { mountPointsUnder } from '../sandbox/disk.ts';
import { connectDocker } from '../sandbox/engine.ts';

const run = promisify(execFile);

export const TEST_PREFIX = '/tmp/outpost-test-';

export interface TestSystem {
  system: System;
  config: Config;
  root: string;
  cleanup(): Promise<void>;
}

/** A config for one test file: temp data dir, short socket dir, small limits, unique instance. */
export async function makeTestConfig(overrides: Record<string, unknown> = {}): Promise<{ config: Config; root: string }> {
  const root = await mkdtemp(TEST_PREFIX);
  const instance = `test-${randomBytes(3).toString('hex')}`;
  const base: Record<string, unknown> = {
    instance,
    dataDir: path.join(root, 'data'),
    log: { level: 'silent' },
    http: { port: 0 },
    docker: { provision: false },
    // Tests that need the sealed network turn it on with a network and subnet of their own.
    fakeInternet: { enabled: false },
    sandbox: {
      runDir: path.join(root, 'r'),
      workspace: { memoryMiB: 256, diskMiB: 64, pids: 128, cpus: 0.5, fsizeMiB: 32 },
      oneShot: { memoryMiB: 256, pids: 64, cpus: 0.5 },
      exec: { defaultTimeoutSeconds: 20 },
    },
  };
  const config = loadConfig({ env: {}, overrides: mergeDeep(base, overrides), cwd: os.tmpdir() });
  return { config, root };
}

/** A test config written to a file, for tests that drive the real `./outpost` command line. */
export async function makeTestConfigFile(overrides: Record<string, unknown> = {}): Promise<{ config: Config; root: string; file: string }> {
  const { config, root } = await makeTestConfig(overrides);
  const file = path.join(root, 'outpost.config.json');
  await writeFile(file, JSON.stringify(config));
  return { config, root, file };
}

export async function startTestSystem(overrides: Record<string, unknown> = {}): Promise<TestSystem> {
  const { config, root } = await makeTestConfig(overrides);
  const system = await openSystem({ config, log: silentLogger(), provisionEngine: false });
  return {
    system,
    config,
    root,
    async cleanup() {
      await system.close().catch(() => undefined);
      await removeInstance(system, config.instance);
      await unmountUnder(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Student accounts for tests that use workspaces (a workspace belongs to an existing student). */
export async function addStudents(system: System, names: string[]): Promise<void> {
  for (const name of names) {
    if (!system.accounts.get(name)) await system.accounts.create({ name, role: 'student', password: testPassword(name) }, { name: 'test' });
  }
}

export async function removeInstance(system: System, instance: string): Promise<void> {
  const containers = await system.docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`] } });
  await Promise.all(containers.map((c) => system.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

/** After a test that drove the real CLI: its instance's containers, mounts and temp folder go. */
export async function removeTestInstance(config: Config, root: string): Promise<void> {
  const docker = connectDocker(config.docker.socketPath);
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${config.instance}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await unmountUnder(root);
  await rm(root, { recursive: true, force: true });
}

export async function unmountUnder(root: string): Promise<void> {
  // Deepest first: the nosymfollow view and bind mounts sit on top of the disk mount.
  for (const m of mountPointsUnder(root)) {
    await run('umount', [m]).catch(() => run('umount', ['-l', m]).catch(() => undefined));
  }
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? mergeDeep(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export const text = (b: Buffer) => b.toString('utf8');

const OUTPOST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'outpost');

/** Runs the real `./outpost` command line with a config file; stdin gets `input` (or nothing). */
export function runOutpost(configFile: string, args: string[], input?: string, options: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(OUTPOST, ['--config', configFile, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    // A command that should have failed may serve forever instead: the test then fails, not hangs.
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), options.timeoutMs);
    child.on('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}


/** A real server on a free loopback port over a real system, and a small cookie-keeping client. */
export interface TestServer extends TestSystem {
  base: string;
  close(): void;
  /** Creates an account with a known password (no forced change) and returns it. */
  user(name: string, role: Role, options?: { cohort?: string; password?: string }): Promise<{ name: string; password: string }>;
  /** Signs in through the real login form; returns a client carrying the session cookie. */
  login(name: string, password: string): Promise<Client>;
  client(): Client;
}

export interface Client {
  cookies: Map<string, string>;
  csrf?: string;
  request(method: string, path: string, options?: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string>; accept?: 'html' | 'json' }): Promise<Response>;
  /** Reads a page's CSRF token (from its sign-out form) into `csrf`. */
  refreshCsrf(): Promise<string>;
}

/** The password `TestServer.user` gives an account: long enough, and never containing the name. */
export function testPassword(name: string): string {
  // Each letter shifted by one, so the name itself never appears in it.
  const shifted = [...name].map((c) => (/[a-y]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 1) : c === 'z' ? 'a' : c)).join('');
  return `${shifted}!9-KVX-WPQ-482`;
}

/** A cookie-keeping HTTP client for a running Outpost at `base` (http://127.0.0.1:PORT). */
export function httpClient(base: string): Client {
  const client: Client = {
    cookies: new Map(),
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { accept: options.accept === 'html' ? 'text/html' : 'application/json', ...(options.headers ?? {}) };
      if (client.cookies.size) headers.cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      let body: string | undefined;
      if (options.form) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(options.form).toString(); }
      if (options.json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(options.json); }
      const res = await fetch(base + path, { method, headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [k, ...v] = (pair ?? '').split('=');
        if (!k) continue;
        if (/max-age=0/i.test(line)) client.cookies.delete(k.trim());
        else client.cookies.set(k.trim(), v.join('='));
      }
      return res;
    },
    async refreshCsrf() {
      const res = await client.request('GET', '/account/password', { accept: 'html' });
      const token = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1];
      if (!token) throw new Error('no CSRF token on the page');
      client.csrf = token;
      return token;
    },
  };
  return client;
}

/** Signs `name` in at `base` through the login form; the client then holds the session and a CSRF token. */
export async function loginAt(base: string, name: string, password: string): Promise<Client> {
  const client = httpClient(base);
  const page = await client.request('GET', '/login', { accept: 'html' });
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const res = await client.request('POST', '/login', { form: { name, password, _csrf: token, next: '/' }, accept: 'html' });
  if (res.status !== 303) throw new Error(`login of ${name} failed: ${res.status} ${await res.text()}`);
  await client.refreshCsrf().catch(() => undefined);
  return client;
}

export async function startTestServer(overrides: Record<string, unknown> = {}): Promise<TestServer> {
  const t = await startTestSystem(overrides);
  const server = await serve(t.system);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const makeClient = (): Client => httpClient(base);
  return {
    ...t,
    base,
    close: () => { server.closeAllConnections(); server.close(); },
    async user(name, role, options = {}) {
      const password = options.password ?? testPassword(name);
      await t.system.accounts.create({ name, role, password, ...(options.cohort ? { cohort: options.cohort } : {}) }, { name: 'test' });
      return { name, password };
    },
    login: (name, password) => loginAt(base, name, password),
    client: makeClient,
  };
}

/** Writes files given by relative path (folders made as needed) under `root`; returns `root`. */
export async function writeTree(root: string, files: Record<string, string>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
  return root;
}

/** A TCP port free on loopback right now (for a server a test starts as a separate process). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
