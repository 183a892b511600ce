/**
 * WebSocket upgrades for the IDE, on the same http.Server as the app. A WebSocket is authenticated
 * exactly like an HTTP request (the session cookie, resolved through core/sessions), plus an Origin
 * check, because browsers send cookies on cross-site WebSocket handshakes and no CSRF token can ride
 * along: without it any page a student visits could open their terminal (cross-site WebSocket
 * hijacking). The socket is bound to the user who opened it and re-checked every
 * `RECHECK_MS`: signing out, an expired session or a disabled account closes it.
 *
 * A laptop closed mid-session sends no FIN: without a heartbeat the socket would look attached
 * forever, so its terminal would never count as detached (hub sweep) and its workspace never idle.
 * Every `HEARTBEAT_MS` each socket is pinged; one that has not answered the previous ping is
 * terminated. Browsers answer pings themselves.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseCookies } from 'cookie';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Accounts, User } from '../core/accounts.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Policy } from '../core/policy.ts';
import type { Logger } from '../core/log.ts';
import { SESSION_COOKIE } from '../core/web.ts';
import { CLOSE, type SessionKind } from './protocol.ts';
import type { Hub } from './hub.ts';

const ATTACH_PATH = /^\/ide\/([a-z][a-z0-9_-]{0,31})\/attach$/;
const RECHECK_MS = 30_000;
/** A dead peer is noticed within two of these. */
const HEARTBEAT_MS = 30_000;
/** Keystrokes and control messages are small; a paste is chunked by xterm. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface UpgradeDeps {
  hub: Hub;
  sessions: Sessions;
  accounts: Accounts;
  policy: Policy;
  log: Logger;
  /** Tests shorten these; the defaults are RECHECK_MS and HEARTBEAT_MS. */
  recheckMs?: number;
  heartbeatMs?: number;
}

export type Authenticated = { ok: true; user: User; sessionId: string } | { ok: false; status: number; reason: string };

/** The handshake's checks, separate from the socket plumbing so tests can name each refusal. */
export function authenticateUpgrade(req: IncomingMessage, deps: Pick<UpgradeDeps, 'sessions' | 'accounts'>): Authenticated {
  const origin = req.headers.origin;
  let originHost: string | undefined;
  try { originHost = origin ? new URL(origin).host : undefined; } catch { originHost = undefined; }
  // Browsers always send Origin on a WebSocket handshake; one missing or from elsewhere is refused.
  if (!originHost || originHost !== req.headers.host) return { ok: false, status: 403, reason: 'origin' };
  const id = parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE];
  const session = deps.sessions.resolve(id);
  if (!session || !id) return { ok: false, status: 401, reason: 'session' };
  const user = deps.accounts.get(session.user);
  if (!user || user.disabled) return { ok: false, status: 401, reason: 'account' };
  if (user.mustChangePassword) return { ok: false, status: 403, reason: 'password-change' };
  return { ok: true, user, sessionId: id };
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

export function attachUpgrades(server: Server, deps: UpgradeDeps): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  /** `alive`: answered the last ping; `typed`: sent keystrokes since the last re-check. */
  const bound = new Map<WebSocket, { user: string; sessionId: string; alive: boolean; typed: boolean }>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = ATTACH_PATH.exec(url.pathname);
    if (!match) {
      // Not ours: leave it to another upgrade handler if there is one.
      if (server.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found');
      return;
    }
    const owner = match[1]!;
    const auth = authenticateUpgrade(req, deps);
    if (!auth.ok) {
      deps.log.warn({ owner, reason: auth.reason, ip: req.socket.remoteAddress }, 'IDE WebSocket refused');
      return refuse(socket, auth.status, auth.status === 401 ? 'Unauthorized' : 'Forbidden');
    }
    if (!deps.policy.can(auth.user, 'workspace.use', { owner })) {
      deps.log.warn({ owner, user: auth.user.name, ip: req.socket.remoteAddress }, 'IDE WebSocket refused: not this workspace');
      return refuse(socket, 403, 'Forbidden');
    }
    const kind = url.searchParams.get('kind');
    const id = url.searchParams.get('id') ?? '';
    if ((kind !== 'terminal' && kind !== 'run') || !/^[tr]-[A-Za-z0-9_-]{1,40}$/.test(id)) return refuse(socket, 400, 'Bad Request');
    const cols = Number(url.searchParams.get('cols'));
    const rows = Number(url.searchParams.get('rows'));
    const size = Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0 && cols < 1000 && rows < 1000 ? { cols, rows } : undefined;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry = { user: auth.user.name, sessionId: auth.sessionId, alive: true, typed: false };
      bound.set(ws, entry);
      ws.on('close', () => bound.delete(ws));
      ws.on('pong', () => { entry.alive = true; });
      // Binary frames are keystrokes (acks and resizes are text and come without the person).
      ws.on('message', (_data: Buffer, isBinary: boolean) => { if (isBinary) entry.typed = true; });
      deps.hub.attach(owner, kind as SessionKind, id, ws, size);
    });
  };
  server.on('upgrade', onUpgrade);

  // Disabling an account or resetting its password ends its sessions: close its sockets at once.
  deps.accounts.onRevoke((name) => {
    for (const [ws, who] of bound) if (who.user === name) ws.close(CLOSE.unauthenticated, 'signed out');
  });
  // The socket lives longer than the request that opened it: keep checking its sign-in session
  // (signing out and expiry have no hook). The check itself is not activity, or an open tab would
  // keep the session from ever idling out; typing in the terminal is, as a request would be.
  const recheck = setInterval(() => {
    for (const [ws, who] of bound) {
      const session = who.typed ? deps.sessions.resolve(who.sessionId) : deps.sessions.peek(who.sessionId);
      who.typed = false;
      const user = session ? deps.accounts.get(session.user) : undefined;
      if (!session || session.user !== who.user || !user || user.disabled) ws.close(CLOSE.unauthenticated, 'signed out');
    }
  }, deps.recheckMs ?? RECHECK_MS);
  recheck.unref();

  const heartbeat = setInterval(() => {
    for (const [ws, who] of bound) {
      if (!who.alive) { ws.terminate(); continue; }
      who.alive = false;
      ws.ping();
    }
  }, deps.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  return () => {
    clearInterval(recheck);
    clearInterval(heartbeat);
    server.off('upgrade', onUpgrade);
    for (const ws of bound.keys()) ws.terminate();
    wss.close();
  };
}
