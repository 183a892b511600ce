/**
 * The sealed network's git server: smart HTTP, protocol v0 and v2, served by the real git plumbing
 * (`git upload-pack` / `git receive-pack --stateless-rpc`) behind Outpost's own routing and
 * authorization. Only those two services exist; the "dumb" protocol and every other path get 404.
 *
 * - URLs: `/OWNER/REPO.git/...` and, for tutorials' commands, `/OWNER/REPO/...` (github.com is an
 *   alias the gateway routes here). Names must match strict patterns before the disk is touched.
 * - Authentication: HTTP Basic with an access token as the password (never a login password).
 *   Anonymous requests get 401 whether or not the repository exists; a signed-in user without
 *   access gets 404, so a private repository's existence does not leak.
 * - Pushes are bounded (git's receive.maxInputSize, plus a hard cap on the request body),
 *   serialized per repository, and recorded with every ref's old → new value in a JSON-lines log
 *   the control plane moves into the audit log.
 */
import { spawn, execFile } from 'node:child_process';
import { appendFile, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../../core/log.ts';
import { accessIn, createAccessReader, hashToken, type AccessFile, type RepoAccess } from './access.ts';
import { GIT_OWNER, isRepoName } from './names.ts';
import { PktLineCheck, PktLineError } from './pkt-line.ts';

const run = promisify(execFile);

export type GitServiceName = 'upload-pack' | 'receive-pack';

export interface GitServiceOptions {
  /** Bare repositories live at `<reposDir>/<owner>/<name>.git`. */
  reposDir: string;
  accessFile: string;
  /** JSON lines, one per push that changed refs. */
  pushLog: string;
  /** Largest pack a push may send. */
  maxPushBytes: number;
  /** Largest fetch negotiation request (wants and haves). */
  maxFetchRequestBytes?: number;
  /** A git process running longer than this is killed. */
  timeoutSeconds?: number;
  /** Git processes at once; more requests wait. */
  maxConcurrent?: number;
  /** The gateway's address: only its X-Forwarded-For is believed. */
  trustedProxies?: string[];
  gitBinary?: string;
  log: Logger;
}

export interface PushRecord {
  time: string;
  user: string;
  repo: string;
  client: string;
  updates: { ref: string; old: string; new: string }[];
}

const ZERO = '0000000000000000000000000000000000000000';
const ROUTE = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;
const PROTOCOL_HEADER = /^[a-z0-9=:.,-]{1,100}$/i;

export interface GitService {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Requests in progress (for a clean stop). */
  readonly busy: number;
}

export function createGitService(options: GitServiceOptions): GitService {
  const { log } = options;
  const git = options.gitBinary ?? 'git';
  const timeoutMs = (options.timeoutSeconds ?? 600) * 1000;
  const maxFetch = options.maxFetchRequestBytes ?? 64 * 1024 * 1024;
  const readAccess = createAccessReader(options.accessFile, (error) => log.error({ err: error, file: options.accessFile }, 'cannot use the git access file; keeping the last good one'));
  const slots = createSemaphore(options.maxConcurrent ?? 8);
  const repoLocks = new Map<string, Promise<unknown>>();
  let busy = 0;

  // A clean environment: no user or system config can change what the plumbing does.
  const gitEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LANG: 'C.UTF-8',
  };

  function clientOf(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded === 'string' && options.trustedProxies?.includes(peer.replace(/^::ffff:/, ''))) return forwarded.split(',')[0]!.trim();
    return peer.replace(/^::ffff:/, '');
  }

  function authenticate(req: IncomingMessage, access: AccessFile): { user?: string; problem?: string } {
    const header = req.headers.authorization;
    if (header === undefined) return {};
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!match) return { problem: 'Only HTTP Basic authentication with an access token is supported.' };
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const username = colon === -1 ? decoded : decoded.slice(0, colon);
    const secret = colon === -1 ? '' : decoded.slice(colon + 1);
    const user = secret === '' ? undefined : access.tokens[hashToken(secret)];
    if (user === undefined) return { problem: 'That access token is not valid (revoked, or the account is disabled). Make a new one in Outpost under Account → Access tokens.' };
    if (username !== '' && username !== user) return { problem: `That access token belongs to another account than "${username.slice(0, 40)}".` };
    return { user };
  }

  function text(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // git shows a text/plain error body to the user as "remote: ...".
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', ...headers });
    res.end(`${message}\n`);
  }

  function withRepoLock<T>(repo: string, work: () => Promise<T>): Promise<T> {
    const previous = repoLocks.get(repo) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(() => undefined, () => undefined);
    repoLocks.set(repo, settled);
    void settled.then(() => { if (repoLocks.get(repo) === settled) repoLocks.delete(repo); });
    return next;
  }

  async function refsOf(dir: string): Promise<Map<string, string>> {
    const { stdout } = await run(git, ['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: dir, env: { ...gitEnv, GIT_DIR: dir }, maxBuffer: 64 * 1024 * 1024 });
    const refs = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
    }
    return refs;
  }

  async function advertise(req: IncomingMessage, res: ServerResponse, dir: string, service: GitServiceName, v2: boolean): Promise<void> {
    const child = spawn(git, [service, '--stateless-rpc', '--advertise-refs', dir], { env: { ...gitEnv, ...(v2 ? { GIT_PROTOCOL: 'version=2' } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr = collectTail(child.stderr);
    res.writeHead(200, { 'content-type': `application/x-git-${service}-advertisement`, 'cache-control': 'no-cache, max-age=0, must-revalidate', expires: 'Fri, 01 Jan 1980 00:00:00 GMT', pragma: 'no-cache' });
    // Protocol v2 has no service line; v0 starts with one (as git http-backend does).
    if (!v2) res.write(pktLine(`# service=git-${service}\n`) + '0000');
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    req.on('close', () => { if (!res.writableFinished) child.kill('SIGKILL'); });
    try {
      await pipeline(child.stdout, res);
    } finally {
      clearTimeout(killer);
    }
    const code = await exitOf(child);
    if (code !== 0) log.warn({ service, dir, code, stderr: stderr() }, 'ref advertisement failed');
  }

  async function rpc(req: IncomingMessage, res: ServerResponse, dir: string, service: GitServiceName, v2: boolean): Promise<{ ok: boolean }> {
    const type = String(req.headers['content-type'] ?? '');
    if (type !== `application/x-git-${service}-request`) {
      text(res, 415, `A git ${service} request must have Content-Type application/x-git-${service}-request (got "${type.slice(0, 80)}").`);
      return { ok: false };
    }
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      text(res, 415, `Content-Encoding "${encoding.slice(0, 40)}" is not supported (only gzip).`);
      return { ok: false };
    }
    const args = service === 'upload-pack'
      ? ['upload-pack', '--stateless-rpc', dir]
      : ['-c', `receive.maxInputSize=${options.maxPushBytes}`, '-c', 'receive.fsckObjects=true', 'receive-pack', '--stateless-rpc', dir];
    const child = spawn(git, args, { env: { ...gitEnv, ...(v2 ? { GIT_PROTOCOL: 'version=2' } : {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr = collectTail(child.stderr);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const check = new PktLineCheck({
      untilFirstFlush: service === 'receive-pack',
      // The pack itself is bounded by receive.maxInputSize, which git reports clearly; this only
      // stops a client that keeps sending after git has given up.
      maxBytes: service === 'receive-pack' ? options.maxPushBytes * 2 + 1024 * 1024 : maxFetch,
    });
    let requestError: Error | undefined;
    const body = encoding === 'identity' ? req : req.pipe(createGunzip());
    body.on('error', (error) => { requestError ??= error; child.kill('SIGKILL'); });
    check.on('error', (error) => { requestError ??= error; child.kill('SIGKILL'); });
    // git may stop reading early (a refused push); keep reading the request so the client gets git's answer.
    child.stdin.on('error', () => check.unpipe(child.stdin).resume());
    body.pipe(check).pipe(child.stdin);
    req.on('close', () => { if (!res.writableFinished && req.errored) child.kill('SIGKILL'); });

    child.stdout.once('data', () => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': `application/x-git-${service}-result`, 'cache-control': 'no-cache, max-age=0, must-revalidate' });
    });
    child.stdout.pipe(res, { end: false });
    const code = await exitOf(child);
    clearTimeout(killer);
    await new Promise((resolve) => (child.stdout.readableEnded ? resolve(undefined) : child.stdout.once('end', resolve)));
    if (requestError !== undefined && !res.headersSent) {
      const malformed = requestError instanceof PktLineError;
      text(res, malformed ? (requestError.message.includes('limit') ? 413 : 400) : 400, malformed ? `Malformed git request: ${requestError.message}.` : `The request body could not be read: ${requestError.message}.`);
      return { ok: false };
    }
    if (!res.headersSent && code === 0) {
      // Nothing to say is a valid answer: git's probe before a large push sends only a flush.
      res.writeHead(200, { 'content-type': `application/x-git-${service}-result`, 'cache-control': 'no-cache, max-age=0, must-revalidate' });
    }
    if (!res.headersSent) {
      log.warn({ service, dir, code, stderr: stderr() }, 'git service failed before answering');
      text(res, 500, `git ${service} failed: ${stderr().split('\n').filter(Boolean).pop() ?? `exit code ${String(code)}`}`);
      return { ok: false };
    }
    res.end();
    if (code !== 0) log.info({ service, dir, code, stderr: stderr() }, 'git service ended with an error');
    return { ok: code === 0 };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const match = ROUTE.exec(pathname);
    if (!match || !GIT_OWNER.test(match[1]!) || !isRepoName(match[2]!)) {
      text(res, 404, 'Not found. Git repositories are at https://git.outpost/OWNER/REPO.git');
      return;
    }
    const [, owner, name, endpoint] = match as unknown as [string, string, string, string];
    const repo = `${owner}/${name}`;
    let service: GitServiceName;
    if (endpoint === 'info/refs') {
      const wanted = query.get('service');
      if (wanted !== 'git-upload-pack' && wanted !== 'git-receive-pack') {
        text(res, 404, 'Only the smart HTTP protocol is served: use git 1.6.6 or newer.');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        text(res, 405, 'Use GET for info/refs.', { allow: 'GET' });
        return;
      }
      service = wanted === 'git-upload-pack' ? 'upload-pack' : 'receive-pack';
    } else {
      if (req.method !== 'POST') {
        text(res, 405, `Use POST for ${endpoint}.`, { allow: 'POST' });
        return;
      }
      service = endpoint === 'git-upload-pack' ? 'upload-pack' : 'receive-pack';
    }

    const access = readAccess();
    const auth = authenticate(req, access);
    if (auth.user === undefined) {
      text(res, 401, auth.problem ?? 'Sign in: use your Outpost user name and an access token as the password.', { 'www-authenticate': 'Basic realm="Outpost git", charset="UTF-8"' });
      return;
    }
    const allowed: RepoAccess = accessIn(access, auth.user, repo);
    const dir = path.join(options.reposDir, owner, `${name}.git`);
    if (allowed === 'none' || !(await isDirectory(dir))) {
      text(res, 404, `Repository ${repo} not found.`);
      return;
    }
    if (service === 'receive-pack' && allowed !== 'write') {
      text(res, 403, `You may read ${repo} but not push to it. Fork it, or ask its owner to add you as a collaborator.`);
      return;
    }
    const protocol = String(req.headers['git-protocol'] ?? '');
    // Protocol v2 exists for fetches only; a push always speaks v0.
    const v2 = service === 'upload-pack' && PROTOCOL_HEADER.test(protocol) && protocol.split(':').includes('version=2');

    busy++;
    const release = await slots.acquire();
    try {
      if (endpoint === 'info/refs') {
        await advertise(req, res, dir, service, v2);
      } else if (service === 'upload-pack') {
        await rpc(req, res, dir, service, v2);
      } else {
        await withRepoLock(repo, async () => {
          const before = await refsOf(dir);
          await rpc(req, res, dir, service, false);
          const after = await refsOf(dir);
          const updates: PushRecord['updates'] = [];
          for (const ref of new Set([...before.keys(), ...after.keys()])) {
            const old = before.get(ref) ?? ZERO;
            const now = after.get(ref) ?? ZERO;
            if (old !== now) updates.push({ ref, old, new: now });
          }
          if (updates.length === 0) return;
          const record: PushRecord = { time: new Date().toISOString(), user: auth.user!, repo, client: clientOf(req), updates: updates.sort((a, b) => a.ref.localeCompare(b.ref)) };
          await appendFile(options.pushLog, `${JSON.stringify(record)}\n`);
          log.info({ repo, user: record.user, updates: updates.length }, 'push');
        });
      }
    } finally {
      release();
      busy--;
    }
  }

  return {
    async handle(req, res) {
      try {
        await handle(req, res);
      } catch (error) {
        log.error({ err: error, url: req.url }, 'git request failed');
        text(res, 500, 'The git server failed on this request; it is logged.');
      }
    },
    get busy() {
      return busy;
    },
  };
}

export async function startGitServer(options: GitServiceOptions & { host: string; port: number }): Promise<{ port: number; service: GitService; close(): Promise<void> }> {
  const service = createGitService(options);
  const server = http.createServer((req, res) => void service.handle(req, res));
  server.requestTimeout = 0; // large clones and pushes take longer than Node's default
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    service,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

export function pktLine(payload: string): string {
  return (Buffer.byteLength(payload) + 4).toString(16).padStart(4, '0') + payload;
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then((s) => s.isDirectory(), () => false);
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

function collectTail(stream: NodeJS.ReadableStream | null): () => string {
  let tail = '';
  stream?.on('data', (chunk: Buffer) => { tail = (tail + chunk.toString('utf8')).slice(-4000); });
  return () => tail;
}

function createSemaphore(size: number): { acquire(): Promise<() => void> } {
  let used = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    used--;
    waiting.shift()?.();
  };
  return {
    async acquire() {
      if (used >= size) await new Promise<void>((resolve) => waiting.push(resolve));
      used++;
      return release;
    },
  };
}
