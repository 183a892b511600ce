/**
 * Client for the in-workspace agent (sandbox/agent/agent.c). One connection runs one command.
 *
 * Wire format, both directions: 1 byte type, 4 byte big-endian payload length, payload (<= 1 MiB).
 * Client → agent: P ping | S start (JSON) then I stdin bytes, E stdin EOF, R resize (JSON),
 * K signal (JSON). Agent → client: P pong (JSON), 1 stdout, 2 stderr, X exit (JSON), F failure
 * (JSON {message}). The agent closes the connection after X or F; closing it from this side makes
 * the agent kill the command and everything it started.
 */
import net from 'node:net';
import { lstat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { OutpostError } from '../core/errors.ts';

export interface AgentExecRequest {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** 0 = no time-out. */
  timeoutMs: number;
  /** Bytes forwarded per stream; the rest is counted and dropped. 0 = unlimited. */
  outputCapBytes: number;
  /** false (default) gives the command /dev/null as stdin. */
  stdin?: boolean;
  /** Run under a pseudo-terminal of this size; stdout and stderr then arrive merged on stdout. */
  tty?: { cols: number; rows: number };
}

export interface AgentExit {
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: { stdout: boolean; stderr: boolean };
}

export type AgentSignal = 'INT' | 'TERM' | 'KILL' | 'HUP';

export interface AgentSession {
  /**
   * Honours back-pressure: while either stream's buffer is full the connection is paused and the
   * command eventually blocks on its output. So consume both streams (or `resume()` them),
   * otherwise a chatty command never finishes.
   */
  readonly stdout: Readable;
  readonly stderr: Readable;
  write(data: Buffer | string): void;
  endInput(): void;
  resize(cols: number, rows: number): void;
  signal(name: AgentSignal): void;
  /** Rejects with SANDBOX_AGENT_FAILED if the connection drops before the exit frame, or on F. */
  readonly exit: Promise<AgentExit>;
  /** Drops the connection; the agent then kills the whole process tree. */
  close(): void;
}

const MAX_FRAME = 1024 * 1024;
const INPUT_CHUNK = 64 * 1024;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const SIGNALS: readonly AgentSignal[] = ['INT', 'TERM', 'KILL', 'HUP'];

export async function startAgentExec(socketPath: string, request: AgentExecRequest, options: { connectTimeoutMs?: number } = {}): Promise<AgentSession> {
  const start = encodeStart(request);
  const socket = await connect(socketPath, options.connectTimeoutMs ?? 5000);
  return new ExecSession(socket, socketPath, start);
}

export async function pingAgent(socketPath: string, timeoutMs = 2000): Promise<{ version: string; pid: number }> {
  const deadline = Date.now() + timeoutMs;
  const socket = await connect(socketPath, timeoutMs);
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    const fail = (reason: string, cause?: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(agentFailed(socketPath, reason, cause));
    };
    const timer = setTimeout(() => fail(`no answer to a ping within ${timeoutMs} ms`), Math.max(1, deadline - Date.now()));
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        return fail((error as Error).message, error);
      }
      for (const frame of frames) {
        if (frame.type !== 'P') return fail(`unexpected answer to a ping (frame ${JSON.stringify(frame.type)})`);
        const reply = parseJson(frame.payload) as { version?: unknown; pid?: unknown } | undefined;
        if (typeof reply?.version !== 'string' || typeof reply.pid !== 'number') return fail('malformed ping answer');
        clearTimeout(timer);
        socket.destroy();
        return resolve({ version: reply.version, pid: reply.pid });
      }
    });
    socket.on('error', (error) => fail(error.message, error));
    socket.on('close', () => fail('the connection closed before the ping was answered'));
    socket.write(encodeFrame('P', Buffer.alloc(0)));
  });
}

/** Convenience: run to completion, collecting output (as Buffers). */
export async function runAgentExec(socketPath: string, request: AgentExecRequest & { input?: Buffer | string }): Promise<AgentExit & { stdout: Buffer; stderr: Buffer }> {
  const { input, ...rest } = request;
  if (input !== undefined && rest.stdin === false) {
    throw new OutpostError('SANDBOX_EXEC_INVALID', 'input was given but stdin is false; drop one of them');
  }
  const session = await startAgentExec(socketPath, { ...rest, stdin: rest.stdin ?? input !== undefined });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  session.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  session.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  if (input !== undefined) {
    session.write(input);
    session.endInput();
  }
  // Data events trail the exit frame by a tick; wait for both streams to end.
  const [exit] = await Promise.all([session.exit, finished(session.stdout), finished(session.stderr)]);
  return { ...exit, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}

// ------------------------------------------------------------------ session

class ExecSession implements AgentSession {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exit: Promise<AgentExit>;
  readonly #socket: net.Socket;
  readonly #socketPath: string;
  readonly #decoder = new FrameDecoder();
  #settled = false;
  #resolve!: (exit: AgentExit) => void;
  #reject!: (error: OutpostError) => void;

  constructor(socket: net.Socket, socketPath: string, start: Buffer) {
    this.#socket = socket;
    this.#socketPath = socketPath;
    const resume = (): void => {
      if (!this.#settled) socket.resume();
    };
    this.stdout = new Readable({ read: resume });
    this.stderr = new Readable({ read: resume });
    this.exit = new Promise<AgentExit>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Callers that only use the streams must not crash the process with an unhandled rejection.
    this.exit.catch(() => {});
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(`the connection failed: ${error.message}`, error));
    socket.on('close', () => this.#fail('the connection closed before the command finished'));
    socket.write(start);
  }

  write(data: Buffer | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let offset = 0; offset < bytes.length; offset += INPUT_CHUNK) {
      this.#send('I', bytes.subarray(offset, offset + INPUT_CHUNK));
    }
  }

  endInput(): void {
    this.#send('E', Buffer.alloc(0));
  }

  resize(cols: number, rows: number): void {
    checkSize(cols, rows);
    this.#send('R', Buffer.from(JSON.stringify({ cols, rows })));
  }

  signal(name: AgentSignal): void {
    if (!SIGNALS.includes(name)) {
      throw new OutpostError('SANDBOX_EXEC_INVALID', `cannot send signal ${JSON.stringify(name)}: use one of ${SIGNALS.join(', ')}`);
    }
    this.#send('K', Buffer.from(JSON.stringify({ signal: name })));
  }

  close(): void {
    this.#fail('the session was closed before the command finished');
  }

  #send(type: string, payload: Buffer): void {
    if (this.#settled || this.#socket.destroyed) return;
    this.#socket.write(encodeFrame(type, payload));
  }

  #onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      return this.#fail((error as Error).message, error);
    }
    for (const frame of frames) {
      if (this.#settled) return;
      switch (frame.type) {
        case '1':
        case '2': {
          const stream = frame.type === '1' ? this.stdout : this.stderr;
          if (!stream.push(frame.payload)) this.#socket.pause();
          break;
        }
        case 'X': {
          const exit = parseExit(frame.payload);
          if (!exit) return this.#fail('the agent sent a malformed exit frame');
          this.#settled = true;
          this.stdout.push(null);
          this.stderr.push(null);
          this.#socket.destroy();
          this.#resolve(exit);
          return;
        }
        case 'F': {
          const message = (parseJson(frame.payload) as { message?: unknown } | undefined)?.message;
          return this.#fail(`the agent refused the request: ${typeof message === 'string' ? message : frame.payload.toString('utf8')}`);
        }
        default:
          return this.#fail(`the agent sent an unexpected frame type ${JSON.stringify(frame.type)}`);
      }
    }
  }

  #fail(reason: string, cause?: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#socket.destroy();
    // Ending (not destroying) the streams: an 'error' event nobody listens to would crash the process.
    this.stdout.push(null);
    this.stderr.push(null);
    this.#reject(agentFailed(this.#socketPath, reason, cause));
  }
}

// ------------------------------------------------------------------ framing

interface Frame {
  type: string;
  payload: Buffer;
}

function encodeFrame(type: string, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame.writeUInt8(type.charCodeAt(0), 0);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  /** Throws on a frame larger than the protocol allows (the stream is then unusable). */
  push(chunk: Buffer): Frame[] {
    let data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (length > MAX_FRAME) throw new Error(`the agent sent a ${length} byte frame (limit ${MAX_FRAME})`);
      if (data.length < 5 + length) break;
      frames.push({ type: String.fromCharCode(data[0]!), payload: data.subarray(5, 5 + length) });
      data = data.subarray(5 + length);
    }
    this.#pending = data;
    return frames;
  }
}

// ------------------------------------------------------------------ helpers

function connect(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(agentUnreachable(socketPath, `no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (error: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      reject(agentUnreachable(socketPath, error.code ? `${error.code} (${error.message})` : error.message, error));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

function agentUnreachable(socketPath: string, reason: string, cause?: unknown): OutpostError {
  return new OutpostError('SANDBOX_AGENT_FAILED', `the workspace agent at ${socketPath} did not answer: ${reason}. Is the workspace running? Restarting it restarts the agent.`, {
    details: { socketPath },
    cause,
  });
}

function agentFailed(socketPath: string, reason: string, cause?: unknown): OutpostError {
  return new OutpostError('SANDBOX_AGENT_FAILED', `workspace agent at ${socketPath}: ${reason}`, { details: { socketPath }, cause });
}

function invalid(message: string): OutpostError {
  return new OutpostError('SANDBOX_EXEC_INVALID', message);
}

function checkSize(cols: unknown, rows: unknown): void {
  for (const [name, value] of [['cols', cols], ['rows', rows]] as const) {
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) {
      throw invalid(`terminal ${name} must be an integer from 1 to 65535, got ${String(value)}`);
    }
  }
}

function encodeStart(request: AgentExecRequest): Buffer {
  const { argv, cwd, env, timeoutMs, outputCapBytes, stdin, tty } = request;
  if (!Array.isArray(argv) || argv.length === 0) throw invalid('argv must be a non-empty array of strings');
  argv.forEach((arg, i) => {
    if (typeof arg !== 'string') throw invalid(`argv[${i}] must be a string`);
    if (arg.includes('\0')) throw invalid(`argv[${i}] contains a NUL character`);
  });
  if (argv[0] === '') throw invalid('argv[0] (the program) must not be empty');
  if (cwd !== undefined && (typeof cwd !== 'string' || cwd === '' || cwd.includes('\0'))) {
    throw invalid('cwd must be a non-empty path without NUL characters');
  }
  if (env !== undefined) {
    if (typeof env !== 'object' || env === null || Array.isArray(env)) throw invalid('env must be an object of strings');
    for (const [key, value] of Object.entries(env)) {
      if (key === '' || key.includes('=') || key.includes('\0')) throw invalid(`environment name ${JSON.stringify(key)} is invalid (empty, or contains "=" or NUL)`);
      if (typeof value !== 'string' || value.includes('\0')) throw invalid(`environment variable ${key} must be a string without NUL characters`);
    }
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalid(`timeoutMs must be an integer from 0 (none) to ${MAX_TIMEOUT_MS}, got ${String(timeoutMs)}`);
  }
  if (!Number.isSafeInteger(outputCapBytes) || outputCapBytes < 0) {
    throw invalid(`outputCapBytes must be a non-negative integer (0 = unlimited), got ${String(outputCapBytes)}`);
  }
  if (stdin !== undefined && typeof stdin !== 'boolean') throw invalid('stdin must be a boolean');
  if (tty !== undefined) {
    if (typeof tty !== 'object' || tty === null) throw invalid('tty must be { cols, rows }');
    checkSize(tty.cols, tty.rows);
  }
  const body: Record<string, unknown> = { argv, timeoutMs, outputCap: outputCapBytes, stdin: stdin ?? false };
  if (cwd !== undefined) body.cwd = cwd;
  if (env !== undefined) body.env = env;
  if (tty !== undefined) body.tty = { cols: tty.cols, rows: tty.rows };
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  if (payload.length > MAX_FRAME) throw invalid(`the request is ${payload.length} bytes; argv and env together must stay under 1 MiB`);
  return encodeFrame('S', payload);
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

function parseExit(payload: Buffer): AgentExit | undefined {
  const x = parseJson(payload) as Partial<AgentExit> | undefined;
  if (!x || typeof x.exitCode !== 'number' || typeof x.timedOut !== 'boolean' || typeof x.durationMs !== 'number') return undefined;
  return {
    exitCode: x.exitCode,
    signal: typeof x.signal === 'string' ? x.signal : null,
    timedOut: x.timedOut,
    oomKilled: x.oomKilled === true,
    durationMs: x.durationMs,
    stdoutBytes: typeof x.stdoutBytes === 'number' ? x.stdoutBytes : 0,
    stderrBytes: typeof x.stderrBytes === 'number' ? x.stderrBytes : 0,
    truncated: { stdout: x.truncated?.stdout === true, stderr: x.truncated?.stderr === true },
  };
}

/**
 * Refuses anything but a real socket: the directory holding it is writable by the student, who
 * could plant a symlink there to point the control plane elsewhere.
 */
export async function assertAgentSocket(socketPath: string): Promise<void> {
  const s = await lstat(socketPath);
  if (!s.isSocket()) throw new OutpostError('SANDBOX_AGENT_FAILED', `${socketPath} is not a socket.`);
}

export async function agentAnswers(socketPath: string): Promise<boolean> {
  try {
    await assertAgentSocket(socketPath);
    await pingAgent(socketPath, 1000);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a just-started container's agent; `what` names it in the error. */
export async function waitForAgent(socketPath: string, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await assertAgentSocket(socketPath);
      await pingAgent(socketPath, 1000);
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new OutpostError('SANDBOX_AGENT_FAILED', `The agent in ${what} did not answer within ${timeoutMs} ms (${(lastError as Error)?.message}). Run ./outpost doctor.`, { cause: lastError });
}
