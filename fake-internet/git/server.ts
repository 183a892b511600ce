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
 * - Fairness: git processes are few (`maxConcurrent`), so one account may hold only
 *   `maxConcurrentPerUser` requests at once (more get 429), a request takes a process only once its
 *   body has arrived (or its first MiB, for a large push), and a body must arrive within
 *   `bodyTimeoutSeconds` plus one second per 256 KiB (else 408): a client trickling bytes cannot keep
 *   a process, or everyone else's turn, waiting.
 */
import { spawn, execFile } from 'node:child_process';
import { appendFile, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
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
  /** Requests one account may have in progress (waiting or running); more are answered 429. */
  maxConcurrentPerUser?: number;
  /** Time a request body may take to arrive, plus one second per BODY_MIN_RATE bytes received. */
  bodyTimeoutSeconds?: number;
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
/** A body up to this size is read whole before git starts; a larger push streams on from here. */
const BODY_PREREAD_BYTES = 1024 * 1024;
/** Past the initial grace, a body must keep coming at least this fast (bytes per second). */
const BODY_MIN_RATE = 256 * 1024;
/** What a client over its share is told to wait: its other git requests are usually done by then. */
const RETRY_AFTER_SECONDS = 5;
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
  const perUser = options.maxConcurrentPerUser ?? 2;
  const bodyTimeoutMs = (options.bodyTimeoutSeconds ?? 30) * 1000;
  const activeByUser = new Map<string, number>();
  const repoLocks = new Map<string, Promise<unknown>>();

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

  /**
   * Starts reading a request body: checked for pkt-line framing, held to the body deadline, and read
   * up to BODY_PREREAD_BYTES (all of a fetch's negotiation, nearly always) before the caller takes a
   * git process for it. Answers the client itself, and returns undefined, when the body is refused.
   */
  async function receiveBody(req: IncomingMessage, res: ServerResponse, service: GitServiceName): Promise<IncomingBody | undefined> {
    const type = String(req.headers['content-type'] ?? '');
    if (type !== `application/x-git-${service}-request`) {
      text(res, 415, `A git ${service} request must have Content-Type application/x-git-${service}-request (got "${type.slice(0, 80)}").`);
      return undefined;
    }
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      text(res, 415, `Content-Encoding "${encoding.slice(0, 40)}" is not supported (only gzip).`);
      return undefined;
    }
    const check = new PktLineCheck({
      untilFirstFlush: service === 'receive-pack',
      // The pack itself is bounded by receive.maxInputSize, which git reports clearly; this only
      // stops a client that keeps sending after git has given up.
      maxBytes: service === 'receive-pack' ? options.maxPushBytes * 2 + 1024 * 1024 : maxFetch,
    });
    const body: IncomingBody = { stream: check, head: [], ended: false, error: undefined, onError: undefined, deadline: undefined! };
    const fail = (error: Error) => {
      if (body.error !== undefined) return;
      body.error = error;
      body.onError?.(error);
    };
    const source = encoding === 'identity' ? req : req.pipe(createGunzip());
    body.deadline = watchBody(req, bodyTimeoutMs, () => {
      fail(new BodyTimeoutError(`the request body did not arrive in time (${Math.round(bodyTimeoutMs / 1000)} s, plus 1 s per ${BODY_MIN_RATE / 1024} KiB)`));
      source.unpipe(check);
      check.destroy();
    });
    source.on('error', (error) => fail(error));
    check.on('error', (error) => fail(error));
    req.on('close', () => { if (!req.complete) fail(new Error('the client closed the connection before sending the whole request')); });
    source.pipe(check);

    await new Promise<void>((resolve) => {
      let bytes = 0;
      const done = () => {
        check.off('data', onData);
        check.off('end', onEnd);
        body.onError = undefined;
        resolve();
      };
      const onData = (chunk: Buffer) => {
        body.head.push(chunk);
        bytes += chunk.length;
        if (bytes >= BODY_PREREAD_BYTES) {
          check.pause();
          done();
        }
      };
      const onEnd = () => {
        body.ended = true;
        done();
      };
      body.onError = done;
      check.on('data', onData);
      check.once('end', onEnd);
    });
    if (body.error !== undefined) {
      body.deadline.stop();
      answerBodyError(req, res, body.error);
      return undefined;
    }
    if (body.ended) body.deadline.stop();
    else body.deadline.pause();
    return body;
  }

  function answerBodyError(req: IncomingMessage, res: ServerResponse, error: Error): void {
    if (error instanceof BodyTimeoutError) {
      text(res, 408, `${error.message[0]!.toUpperCase()}${error.message.slice(1)}; the git server does not wait longer for a slow client. Try again.`, { connection: 'close' });
    } else {
      const malformed = error instanceof PktLineError;
      text(res, malformed ? (error.message.includes('limit') ? 413 : 400) : 400, malformed ? `Malformed git request: ${error.message}.` : `The request body could not be read: ${error.message}.`);
    }
    closeUnread(req, res);
  }

  async function rpc(req: IncomingMessage, res: ServerResponse, dir: string, service: GitServiceName, v2: boolean, body: IncomingBody): Promise<{ ok: boolean }> {
    // The client may have gone while this request waited for its turn.
    if (body.error !== undefined) {
      answerBodyError(req, res, body.error);
      return { ok: false };
    }
    const args = service === 'upload-pack'
      ? ['upload-pack', '--stateless-rpc', dir]
      : ['-c', `receive.maxInputSize=${options.maxPushBytes}`, '-c', 'receive.fsckObjects=true', 'receive-pack', '--stateless-rpc', dir];
    const child = spawn(git, args, { env: { ...gitEnv, ...(v2 ? { GIT_PROTOCOL: 'version=2' } : {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr = collectTail(child.stderr);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    body.onError = () => child.kill('SIGKILL');
    const check = body.stream;
    // git may stop reading early (a refused push); keep reading the request so the client gets git's answer.
    child.stdin.on('error', () => { if (!body.ended) check.unpipe(child.stdin).resume(); });
    for (const chunk of body.head) child.stdin.write(chunk);
    body.head = [];
    if (body.ended) {
      child.stdin.end();
    } else {
      body.deadline.resume();
      check.once('end', () => body.deadline.stop());
      check.pipe(child.stdin);
    }
    req.on('close', () => { if (!res.writableFinished && req.errored) child.kill('SIGKILL'); });

    child.stdout.once('data', () => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': `application/x-git-${service}-result`, 'cache-control': 'no-cache, max-age=0, must-revalidate' });
    });
    child.stdout.pipe(res, { end: false });
    const code = await exitOf(child);
    clearTimeout(killer);
    body.deadline.stop();
    await new Promise((resolve) => (child.stdout.readableEnded ? resolve(undefined) : child.stdout.once('end', resolve)));
    if (body.error !== undefined && !res.headersSent) {
      answerBodyError(req, res, body.error);
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

    const user = auth.user;
    const active = activeByUser.get(user) ?? 0;
    if (active >= perUser) {
      log.info({ user, active, url: pathname }, 'git request over the per-user share refused');
      text(res, 429, `You already have ${active} git request${active === 1 ? '' : 's'} in progress; each account may run ${perUser} at once, so that one person cannot hold up everyone's git. Wait for the others to finish, then try again.`, { 'retry-after': String(RETRY_AFTER_SECONDS), connection: 'close' });
      closeUnread(req, res);
      return;
    }
    activeByUser.set(user, active + 1);
    try {
      await serve(req, res, { endpoint, service, dir, repo, v2, user });
    } finally {
      const left = (activeByUser.get(user) ?? 1) - 1;
      if (left > 0) activeByUser.set(user, left);
      else activeByUser.delete(user);
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse, r: { endpoint: string; service: GitServiceName; dir: string; repo: string; v2: boolean; user: string }): Promise<void> {
    const { endpoint, service, dir, repo, v2 } = r;
    // Before a git process is taken: a client that is slow to send keeps only itself waiting.
    const body = endpoint === 'info/refs' ? undefined : await receiveBody(req, res, service);
    if (endpoint !== 'info/refs' && body === undefined) return;
    const release = await slots.acquire();
    try {
      if (body === undefined) {
        await advertise(req, res, dir, service, v2);
      } else if (service === 'upload-pack') {
        await rpc(req, res, dir, service, v2, body);
      } else {
        await withRepoLock(repo, async () => {
          const before = await refsOf(dir);
          await rpc(req, res, dir, service, false, body);
          const after = await refsOf(dir);
          const updates: PushRecord['updates'] = [];
          for (const ref of new Set([...before.keys(), ...after.keys()])) {
            const old = before.get(ref) ?? ZERO;
            const now = after.get(ref) ?? ZERO;
            if (old !== now) updates.push({ ref, old, new: now });
          }
          if (updates.length === 0) return;
          const record: PushRecord = { time: new Date().toISOString(), user: r.user, repo, client: clientOf(req), updates: updates.sort((a, b) => a.ref.localeCompare(b.ref)) };
          await appendFile(options.pushLog, `${JSON.stringify(record)}\n`);
          log.info({ repo, user: record.user, updates: updates.length }, 'push');
        });
      }
    } finally {
      release();
      body?.deadline.stop();
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
      let total = 0;
      for (const n of activeByUser.values()) total += n;
      return total;
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

/** A body left unread is not drained (a slow client could make that take forever): the connection goes. */
function closeUnread(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  if (res.writableFinished) req.destroy();
  else res.once('finish', () => req.destroy()).once('close', () => req.destroy());
}

interface IncomingBody {
  /** The checked body, paused where the pre-read stopped. */
  stream: PktLineCheck;
  /** What was read before git started: all of it when `ended`. */
  head: Buffer[];
  ended: boolean;
  error: Error | undefined;
  /** Told when the body fails (too slow, malformed, cut off), once. */
  onError: ((error: Error) => void) | undefined;
  deadline: BodyDeadline;
}

class BodyTimeoutError extends Error {}

interface BodyDeadline {
  /** Waiting for a git process or a repository lock is the server's time, not the client's. */
  pause(): void;
  resume(): void;
  stop(): void;
}

/**
 * Calls `onExpire` once the body has taken longer than `graceMs` plus a second per BODY_MIN_RATE
 * bytes received: a total, not an idle timeout, because a byte now and then keeps any idle timer quiet.
 */
function watchBody(req: Readable, graceMs: number, onExpire: () => void): BodyDeadline {
  let received = 0;
  let usedMs = 0;
  let since: number | undefined = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const count = (chunk: Buffer) => { received += chunk.length; };
  req.on('data', count);
  const arm = () => {
    clearTimeout(timer);
    if (stopped || since === undefined) return;
    const left = graceMs + (received / BODY_MIN_RATE) * 1000 - (usedMs + Date.now() - since);
    if (left > 0) {
      timer = setTimeout(arm, left);
      return;
    }
    stop();
    onExpire();
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    req.off('data', count);
  };
  arm();
  return {
    pause() {
      if (since === undefined) return;
      usedMs += Date.now() - since;
      since = undefined;
      clearTimeout(timer);
    },
    resume() {
      if (stopped || since !== undefined) return;
      since = Date.now();
      arm();
    },
    stop,
  };
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
