/**
 * Terminals and Runs: programs in a student's container that outlive the browser tab watching them.
 *
 * Each session is one agent stream (a TTY) plus a bounded ring of its recent output. A browser
 * attaches over a WebSocket (at most one at a time per session; a second tab takes over), gets the
 * ring replayed, then live output. When the browser goes away the program keeps running and its
 * output keeps landing in the ring, so a reload or a dropped connection gets the terminal back.
 *
 * Flow control, end to end: the browser acknowledges bytes once xterm has rendered them; while more
 * than `flowHighWaterBytes` are unacknowledged the agent stream is paused, which stops the agent
 * reading the pty, which blocks the program's writes. Nothing buffers without bound: the ring is
 * fixed-size and the WebSocket holds at most the high-water mark.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Config } from '../core/config.ts';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import type { AgentSession } from '../sandbox/agent-client.ts';
import { CLOSE, type ClientMessage, type ExitInfo, type ServerMessage, type SessionKind, type SessionSummary } from './protocol.ts';

/** A fixed-size byte ring: keeps the last `capacity` bytes written. */
export class ByteRing {
  #buf: Buffer;
  #start = 0;
  #length = 0;
  constructor(readonly capacity: number) { this.#buf = Buffer.alloc(capacity); }
  get length(): number { return this.#length; }
  push(chunk: Buffer): void {
    if (chunk.length >= this.capacity) {
      chunk.copy(this.#buf, 0, chunk.length - this.capacity);
      this.#start = 0;
      this.#length = this.capacity;
      return;
    }
    const end = (this.#start + this.#length) % this.capacity;
    const first = Math.min(chunk.length, this.capacity - end);
    chunk.copy(this.#buf, end, 0, first);
    chunk.copy(this.#buf, 0, first);
    const overflow = Math.max(0, this.#length + chunk.length - this.capacity);
    this.#length = Math.min(this.capacity, this.#length + chunk.length);
    this.#start = (this.#start + overflow) % this.capacity;
  }
  contents(): Buffer {
    const end = this.#start + this.#length;
    return end <= this.capacity ? Buffer.from(this.#buf.subarray(this.#start, end)) : Buffer.concat([this.#buf.subarray(this.#start), this.#buf.subarray(0, end - this.capacity)]);
  }
}

interface LiveSession {
  id: string;
  owner: string;
  kind: SessionKind;
  command: string;
  startedAt: Date;
  agent: AgentSession;
  ring: ByteRing;
  exit: ExitInfo | null;
  /** Settles once `exit` is set. */
  exited: Promise<void>;
  client: WebSocket | undefined;
  /** Bytes sent to the client that it has not acknowledged yet. */
  unacked: number;
  detachedAt: number;
  cols: number;
  rows: number;
}

export interface StartRequest {
  kind: SessionKind;
  argv: string[];
  command: string;
  cols: number;
  rows: number;
  env?: Record<string, string>;
}

export interface Hub {
  /** Starts a session. A Run first stops the owner's Runs still going and waits for them to exit. */
  start(owner: string, request: StartRequest): Promise<SessionSummary>;
  /** Attaches an authenticated WebSocket; the caller has checked the owner may use it. */
  attach(owner: string, kind: SessionKind, id: string, ws: WebSocket, size?: { cols: number; rows: number }): void;
  list(owner: string, kind: SessionKind): SessionSummary[];
  /** Ends a session now (closing a terminal tab): the agent kills its whole process tree. */
  end(owner: string, kind: SessionKind, id: string): void;
  /** Stops a Run: Ctrl-C, then after a grace period the whole process tree goes. */
  stop(owner: string, kind: SessionKind, id: string): void;
  /** Closes detached terminals idle past the limit; runs on a timer. */
  sweep(now?: number): number;
  close(): void;
}

const STOP_GRACE_MS = 1500;
/** How long a new Run waits for the previous one beyond the whole stop escalation. */
const RESTART_SLACK_MS = 2000;

export function createHub(deps: { workspaces: Workspaces; config: Config; log: Logger }): Hub {
  const { workspaces, config, log } = deps;
  const limits = config.ide;
  const sessions = new Map<string, LiveSession>();
  /** Per owner, the Run start in progress: two quick presses of Run must not both survive. */
  const runStarts = new Map<string, Promise<unknown>>();
  const sweeper = setInterval(() => hub.sweep(), 60_000);
  sweeper.unref();

  const summary = (s: LiveSession): SessionSummary => ({ id: s.id, kind: s.kind, command: s.command, startedAt: s.startedAt.toISOString(), exit: s.exit, attached: s.client !== undefined });
  const mine = (owner: string, kind: SessionKind) => [...sessions.values()].filter((s) => s.owner === owner && s.kind === kind);

  function find(owner: string, kind: SessionKind, id: string): LiveSession {
    const s = sessions.get(id);
    // Another student's id is answered exactly like an unknown one.
    if (!s || s.owner !== owner || s.kind !== kind) throw new OutpostError('IDE_SESSION_NOT_FOUND', `There is no ${kind} ${id.slice(0, 40)} in this workspace; it ended or was closed.`, { details: { id: id.slice(0, 40) } });
    return s;
  }

  function send(s: LiveSession, message: ServerMessage): void {
    if (s.client?.readyState === 1) s.client.send(JSON.stringify(message));
  }

  function output(s: LiveSession, chunk: Buffer): void {
    s.ring.push(chunk);
    const ws = s.client;
    if (!ws || ws.readyState !== 1) return;
    ws.send(chunk);
    s.unacked += chunk.length;
    if (s.unacked > limits.flowHighWaterBytes) s.agent.stdout.pause();
  }

  function detach(s: LiveSession, ws: WebSocket): void {
    if (s.client !== ws) return;
    s.client = undefined;
    s.unacked = 0;
    s.detachedAt = Date.now();
    // Nobody watches: keep the program running and its output flowing into the ring.
    s.agent.stdout.resume();
  }

  function forget(s: LiveSession): void {
    sessions.delete(s.id);
    s.agent.close();
    if (s.client && s.client.readyState <= 1) s.client.close(CLOSE.gone, 'closed');
  }

  /** Ctrl-C, then after a grace period SIGKILL, then the agent kills the whole process tree. */
  function stopSession(s: LiveSession): Promise<void> {
    if (s.exit) return s.exited;
    s.agent.signal('INT');
    setTimeout(() => { if (!s.exit) s.agent.signal('KILL'); }, STOP_GRACE_MS).unref();
    // The agent kills the whole tree when the connection drops: the last resort for a program
    // that ignores signals in a process group of its own.
    setTimeout(() => { if (!s.exit) s.agent.close(); }, STOP_GRACE_MS * 2).unref();
    return s.exited;
  }

  /**
   * Run means restart: the previous Run usually holds the port the new one wants (EADDRINUSE, a
   * stale preview), and the Run button is the only way a student stops a server they forgot.
   */
  async function stopRuns(owner: string): Promise<void> {
    const going = mine(owner, 'run').filter((s) => !s.exit);
    if (!going.length) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), STOP_GRACE_MS * 2 + RESTART_SLACK_MS); });
    const outcome = await Promise.race([Promise.all(going.map(stopSession)), late]).finally(() => clearTimeout(timer));
    if (outcome === 'late') log.warn({ owner, ids: going.filter((s) => !s.exit).map((s) => s.id) }, 'previous Run did not exit in time; starting the new one anyway');
  }

  /** Keeps at most `runsKept` finished runs per student, the oldest go first. */
  function pruneRuns(owner: string): void {
    const finished = mine(owner, 'run').filter((s) => s.exit).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
    for (const s of finished.slice(0, Math.max(0, finished.length - limits.runsKept))) if (!s.client) forget(s);
  }

  async function open(owner: string, request: StartRequest): Promise<SessionSummary> {
    if (request.kind === 'run') await stopRuns(owner);
    const live = mine(owner, request.kind).filter((s) => !s.exit);
    const max = request.kind === 'terminal' ? limits.maxTerminals : limits.runsKept;
    if (live.length >= max) {
      throw new OutpostError('IDE_LIMIT_REACHED', `You already have ${live.length} ${request.kind === 'terminal' ? 'terminals' : 'runs going'}; close one first (the limit is ${max}).`, { details: { limit: max } });
    }
    const agent = await workspaces.stream(owner, {
      argv: request.argv,
      cwd: '/workspace',
      env: { TERM: 'xterm-256color', COLORTERM: 'truecolor', ...(request.env ?? {}) },
      tty: { cols: request.cols, rows: request.rows },
      interactive: true,
      outputCapBytes: 0,
      ...(request.kind === 'terminal' ? { noTimeout: true } : { timeoutSeconds: limits.runTimeoutSeconds }),
    });
    let exited!: () => void;
    const s: LiveSession = {
      id: `${request.kind === 'terminal' ? 't' : 'r'}-${randomBytes(12).toString('base64url')}`,
      owner, kind: request.kind, command: request.command, startedAt: new Date(), agent,
      ring: new ByteRing(request.kind === 'terminal' ? limits.scrollbackBytes : limits.runOutputBytes),
      exit: null, exited: new Promise<void>((resolve) => { exited = resolve; }),
      client: undefined, unacked: 0, detachedAt: Date.now(), cols: request.cols, rows: request.rows,
    };
    sessions.set(s.id, s);
    agent.stdout.on('data', (chunk: Buffer) => output(s, chunk));
    agent.stderr.on('data', (chunk: Buffer) => output(s, chunk));
    agent.exit.then(
      (exit) => ({ exitCode: exit.exitCode, signal: exit.signal, timedOut: exit.timedOut, oomKilled: exit.oomKilled, durationMs: exit.durationMs }),
      (error: unknown) => ({ exitCode: -1, signal: null, timedOut: false, oomKilled: false, durationMs: Date.now() - s.startedAt.getTime(), error: (error as Error).message }),
    ).then((exit: ExitInfo) => {
      s.exit = exit;
      exited();
      // Data events can trail the exit frame by a tick; let them land first.
      setImmediate(() => {
        send(s, { t: 'exit', exit });
        if (s.kind === 'terminal') {
          // A shell that exited is done: the browser is told and will start a new one.
          sessions.delete(s.id);
          if (s.client) s.client.close(CLOSE.gone, 'exited');
        } else {
          pruneRuns(owner);
        }
      });
    });
    log.info({ owner, kind: s.kind, id: s.id, command: s.command }, 'IDE session started');
    if (s.kind === 'run') pruneRuns(owner);
    return summary(s);
  }

  const hub: Hub = {
    start(owner, request) {
      if (request.kind !== 'run') return open(owner, request);
      const started = (runStarts.get(owner) ?? Promise.resolve()).then(() => open(owner, request));
      const settled = started.catch(() => undefined);
      runStarts.set(owner, settled);
      void settled.then(() => { if (runStarts.get(owner) === settled) runStarts.delete(owner); });
      return started;
    },

    attach(owner, kind, id, ws, size) {
      let s: LiveSession;
      try {
        s = find(owner, kind, id);
      } catch (error) {
        ws.send(JSON.stringify({ t: 'error', code: (error as OutpostError).code, message: (error as Error).message } satisfies ServerMessage));
        ws.close(CLOSE.gone, 'no such session');
        return;
      }
      if (s.client && s.client !== ws) s.client.close(CLOSE.replaced, 'opened elsewhere');
      s.client = ws;
      s.unacked = 0;
      const replay = s.ring.contents();
      send(s, { t: 'hello', id: s.id, kind: s.kind, replayedBytes: replay.length, command: s.command });
      if (replay.length) { ws.send(replay); s.unacked += replay.length; }
      if (s.exit) send(s, { t: 'exit', exit: s.exit });
      else if (size) {
        // Full-screen programs (vim, less, top) redraw on SIGWINCH: nudge the size so a reattached
        // screen is repainted even when the window size did not change.
        if (size.cols !== s.cols || size.rows !== s.rows) s.agent.resize(size.cols, size.rows);
        else { s.agent.resize(size.cols, Math.max(1, size.rows - 1)); s.agent.resize(size.cols, size.rows); }
        s.cols = size.cols; s.rows = size.rows;
      }
      s.agent.stdout.resume();

      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (s.client !== ws || s.exit) return;
        if (isBinary) return s.agent.write(data);
        let message: ClientMessage;
        try { message = JSON.parse(data.toString('utf8')) as ClientMessage; } catch { return; }
        try {
          if (message.t === 'ack' && Number.isFinite(message.bytes) && message.bytes > 0) {
            s.unacked = Math.max(0, s.unacked - message.bytes);
            if (s.unacked <= limits.flowHighWaterBytes / 2) s.agent.stdout.resume();
          } else if (message.t === 'resize') {
            s.agent.resize(message.cols, message.rows);
            s.cols = message.cols; s.rows = message.rows;
          } else if (message.t === 'signal') {
            s.agent.signal(message.name);
          }
        } catch (error) {
          // A bad size or signal from the browser: say so, keep the session.
          send(s, { t: 'error', code: (error as OutpostError).code ?? 'INPUT_INVALID', message: (error as Error).message });
        }
      });
      ws.on('close', () => detach(s, ws));
      ws.on('error', () => detach(s, ws));
    },

    list(owner, kind) {
      return mine(owner, kind).sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime()).map(summary);
    },

    end(owner, kind, id) {
      forget(find(owner, kind, id));
    },

    stop(owner, kind, id) {
      void stopSession(find(owner, kind, id));
    },

    sweep(now = Date.now()) {
      let closed = 0;
      for (const s of sessions.values()) {
        if (s.kind === 'terminal' && !s.client && now - s.detachedAt > limits.detachedTerminalMinutes * 60_000) { forget(s); closed++; }
      }
      return closed;
    },

    close() {
      clearInterval(sweeper);
      for (const s of [...sessions.values()]) forget(s);
    },
  };
  return hub;
}
