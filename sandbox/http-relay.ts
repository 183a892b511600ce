/**
 * HTTP to a server listening inside a container, with no network path to it: each request goes
 * through the container's agent, which runs a tiny relay (node, connecting to 127.0.0.1:<port> and
 * piping bytes over the agent's stdin/stdout). Node's HTTP client speaks HTTP over that pipe as if
 * it were a socket. Used by the IDE's web preview and the shop's previews.
 *
 * The pages are untrusted code served from Outpost's origin, so the response carries
 * `Content-Security-Policy: sandbox …` without allow-same-origin (the page runs in an opaque
 * origin); the viewer's cookies, authorization and CSRF header are never forwarded, and Set-Cookie
 * (and headers that could weaken Outpost's origin) from the app are dropped.
 *
 * Because the page's origin is opaque, its module scripts and fetch() calls back to its own link are
 * cross-origin (CORS-mode) requests: every relayed response allows any origin, without credentials.
 * That gives nothing away: the link in the path is the credential (whoever holds it may open the
 * page anyway), no cookie is sent or accepted, and Access-Control-Allow-Credentials is never set.
 * Preflights are answered, and loads into Outpost's own pages refused, by the route registry for
 * capability routes (core/web.ts), before any container is woken.
 */
import http from 'node:http';
import { Duplex } from 'node:stream';
import type { Request, Response } from 'express';
import { OutpostError } from '../core/errors.ts';
import type { AgentSession } from './agent-client.ts';

/** Runs in the container: connect, then pipe both ways; exit 3 with the error code. */
export const RELAY_SCRIPT = `const s=require('net').connect(+process.argv[1],'127.0.0.1');s.on('connect',()=>{process.stdin.pipe(s);s.pipe(process.stdout)});s.on('error',e=>{process.stderr.write(String(e.code||e.message));process.exit(3)})`;

/** The argv that runs the relay to `port` inside a container. */
export const relayArgv = (port: number) => ['node', '-e', RELAY_SCRIPT, String(port)];

export const SANDBOXED_PAGE_CSP = [
  'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads',
  "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'", "connect-src 'self'", "frame-ancestors 'self'", "base-uri 'self'", "form-action 'self'",
].join('; ');

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'cookie', 'authorization', 'x-csrf-token', 'host', 'origin', 'referer']);
const DROP_FROM_RESPONSE = new Set(['set-cookie', 'connection', 'keep-alive', 'transfer-encoding', 'content-security-policy', 'content-security-policy-report-only', 'x-frame-options', 'strict-transport-security', 'clear-site-data']);
export const MAX_RELAYED_BODY = 10 * 1024 * 1024;

/**
 * A redirect the app aims at its own root (`res.redirect('/x')`, or an absolute URL built from the
 * Host it was sent) would leave the link: it goes under the prefix instead. A Location already under
 * the prefix (an app honouring X-Forwarded-Prefix) and links to other hosts stay as they are.
 */
export function rewriteLocation(location: string, prefix: string, port: number): string {
  // `//host/…` and `/\host/…` are another host, not a path.
  if (/^\/(?![/\\])/.test(location)) {
    if (location === prefix || location.startsWith(`${prefix}/`) || location.startsWith(`${prefix}?`)) return location;
    return prefix + location;
  }
  let url: URL;
  try { url = new URL(location); } catch { return location; }
  if (url.protocol !== 'http:' || (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1') || Number(url.port || 80) !== port) return location;
  return rewriteLocation(`${url.pathname}${url.search}${url.hash}`, prefix, port);
}

/** An agent stream dressed as a socket for Node's HTTP client. */
function relaySocket(session: AgentSession): Duplex {
  const socket = new Duplex({
    write(chunk: Buffer, _encoding, callback) { session.write(chunk); callback(); },
    final(callback) { session.endInput(); callback(); },
    read() { session.stdout.resume(); },
    destroy(error, callback) { session.close(); callback(error); },
  });
  session.stdout.on('data', (chunk: Buffer) => { if (!socket.push(chunk)) session.stdout.pause(); });
  session.stdout.on('end', () => socket.push(null));
  // http.ClientRequest calls these on real sockets.
  Object.assign(socket, { setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket, ref: () => socket, unref: () => socket });
  return socket;
}

export interface RelayRequest {
  /** Starts the relay program in the container (see relayArgv). */
  session: AgentSession;
  port: number;
  /** The path prefix the page is served under (sent as X-Forwarded-Prefix). */
  prefix: string;
  /** Path and query to ask the app for. */
  path: string;
  req: Request;
  res: Response;
  /** The error to answer when nothing answers on the port (the relay's own message is given). */
  unavailable: (why: string) => OutpostError;
}

export async function relayHttp(r: RelayRequest): Promise<void> {
  const { session, req, res, port } = r;
  let stderr = '';
  session.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(0, 200); });
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  headers.host = `localhost:${port}`;
  headers.connection = 'close';
  headers['x-forwarded-prefix'] = r.prefix;

  await new Promise<void>((resolve, reject) => {
    const upstream = http.request({ method: req.method, path: r.path, headers, createConnection: () => relaySocket(session) as never }, (answer) => {
      res.status(answer.statusCode ?? 502);
      for (const [name, value] of Object.entries(answer.headers)) {
        // The app's own CORS answer is replaced by ours (it could otherwise ask for credentials).
        if (DROP_FROM_RESPONSE.has(name) || name.startsWith('access-control-') || value === undefined) continue;
        res.setHeader(name, name === 'location' ? rewriteLocation(String(value), r.prefix, port) : value);
      }
      res.setHeader('Access-Control-Allow-Origin', '*');
      // As if same-origin: the page may read the app's own headers (never Set-Cookie, dropped above).
      res.setHeader('Access-Control-Expose-Headers', '*');
      res.setHeader('Content-Security-Policy', SANDBOXED_PAGE_CSP);
      // The sandboxed page has an opaque origin, so its own style sheets and scripts are
      // cross-origin requests to it; another site gets nothing from this without the link.
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
      res.removeHeader('X-Frame-Options');
      answer.pipe(res);
      answer.on('end', resolve);
      answer.on('error', () => { res.destroy(); resolve(); });
    });
    upstream.on('error', async (error) => {
      // Give the relay a moment to report why (ECONNREFUSED: nothing listens on that port).
      await Promise.race([session.exit.catch(() => undefined), new Promise((done) => setTimeout(done, 500))]);
      if (res.headersSent) return resolve();
      reject(r.unavailable(/ECONNREFUSED/.test(stderr) ? 'ECONNREFUSED' : stderr || error.message));
    });
    if (req.method === 'GET' || req.method === 'HEAD') {
      upstream.end();
      return;
    }
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_RELAYED_BODY) {
        req.unpipe(upstream);
        upstream.destroy();
        if (!res.headersSent) reject(new OutpostError('INPUT_INVALID', `A request body may be at most ${MAX_RELAYED_BODY / 1024 / 1024} MiB here.`));
      }
    });
    req.pipe(upstream);
  }).finally(() => session.close());
}
