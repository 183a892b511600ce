/**
 * The inside internet's web gateway: one HTTP and one HTTPS listener that route by Host (and path
 * prefix) to mirrored static sites, the search site, and proxied services, with certificates from
 * the local CA chosen by SNI. HTTP serves exactly what HTTPS serves (no forced redirect), so plain
 * `curl http://...` works in a workspace that lacks the CA.
 *
 * Allowlist: when an identity file is configured, a request from a known workspace IP whose cohort
 * lists `allowedSites` is refused (403 page, `blocked: true` in the request log) for sites not on
 * the list. Clients the file does not know, and cohorts it has no entry for, are allowed: the sealed
 * network already holds only Outpost's sites, and the allowlist narrows them for a class.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../core/log.ts';
import { OutpostError } from '../../core/errors.ts';
import { createCertificateStore, type CertificateStore } from './certificates.ts';
import {
  badRequestPage,
  blockedPage,
  methodNotAllowedPage,
  notMirroredPage,
  sendPage,
  unavailablePage,
  unknownHostPage,
  type Page,
} from './pages.ts';
import { createProxy } from './proxy.ts';
import { openRequestLog, type RequestLog, type RequestLogEntry } from './request-log.ts';
import { createRouter, parseGatewayConfig, readIdentities, type GatewayConfig, type GatewayConfigInput, type Identities, type Router, type Site } from './routes.ts';
import { createStaticFiles } from './static.ts';

/** Answers requests for a `search` site; made once per search database by the caller's factory. */
export type SearchHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface GatewayOptions {
  config: GatewayConfig | GatewayConfigInput;
  log: Logger;
  searchHandler?: (searchDb: string) => SearchHandler;
  onRequest?: (entry: RequestLogEntry) => void;
  /**
   * Set when other processes append to the same request log (cluster workers): called instead of
   * rotating the log when it is full; the rotating process then has every writer reopenRequestLog().
   */
  requestLogOnFull?: (file: string) => void;
}

export interface Gateway {
  start(): Promise<{ httpPort: number; httpsPort: number }>;
  /** Applies a new configuration and re-reads the identity file and certificates. Throws (keeping the old state) if it is invalid. */
  reload(config: GatewayConfig | GatewayConfigInput): void;
  /** Start appending to a new request log file (someone else rotated the old one away). */
  reopenRequestLog(): void;
  close(): Promise<void>;
}

interface RoutingState {
  config: GatewayConfig;
  router: Router;
  identities: Identities | undefined;
  search: Map<string, SearchHandler>;
}

interface RequestRecord {
  site?: Site;
  owner?: string;
  cohort?: string;
  blocked?: boolean;
  bytes: number;
}

const MAX_LOGGED_PATH = 2048;

/**
 * Own keys only: names come from outside (a cohort may be called "constructor"), and a lookup that
 * reached Object.prototype found no allowlist and let everything through.
 */
function identityOf(identities: Identities, client: string): Identities['clients'][string] | undefined {
  return Object.hasOwn(identities.clients, client) ? identities.clients[client] : undefined;
}

/** Whether a student of `cohort` may visit `site`. A cohort missing from the file is allowed nothing: the control plane writes every cohort it names. */
function allows(identities: Identities, cohort: string, site: string): boolean {
  if (!Object.hasOwn(identities.cohorts, cohort)) return false;
  const allowed = identities.cohorts[cohort]!.allowedSites;
  return allowed === 'all' || allowed.includes(site);
}

export function createGateway(options: GatewayOptions): Gateway {
  const { log, onRequest } = options;
  let state = buildState(parseGatewayConfig(options.config, 'given to the gateway'));
  let certificates: CertificateStore = createCertificateStore({ dir: state.config.certsDir, log });
  let requestLog: RequestLog | undefined;
  const files = createStaticFiles({ log });
  const proxy = createProxy({ log });
  let servers: { http: http.Server; https: https.Server } | undefined;

  function buildState(config: GatewayConfig): RoutingState {
    const identities = config.identityFile === undefined ? undefined : readIdentities(config.identityFile);
    const search = new Map<string, SearchHandler>();
    for (const site of config.sites) {
      if (site.kind === 'search' && options.searchHandler !== undefined && !search.has(site.searchDb)) {
        search.set(site.searchDb, options.searchHandler(site.searchDb));
      }
    }
    return { config, router: createRouter(config.sites), identities, search };
  }

  function record(req: IncomingMessage, res: ServerResponse, client: string, host: string, started: number, rec: RequestRecord): void {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const path = req.url === undefined ? '' : req.url.length > MAX_LOGGED_PATH ? req.url.slice(0, MAX_LOGGED_PATH) : req.url;
    const method = req.method ?? '';
    if (onRequest === undefined) {
      // The hot path: the line is built directly, in the key order JSON.stringify of the entry would use.
      if (requestLog === undefined) return;
      let line = `{"time":"${isoNow()}","client":${jsonString(client)}`;
      if (rec.owner !== undefined) line += `,"owner":${jsonString(rec.owner)}`;
      if (rec.cohort !== undefined) line += `,"cohort":${jsonString(rec.cohort)}`;
      line += `,"method":${jsonString(method)},"host":${jsonString(host)},"path":${jsonString(path)},"status":${res.statusCode},"bytes":${rec.bytes},"durationMs":${durationMs}`;
      if (rec.site !== undefined) line += `,"site":${jsonString(rec.site.name)}`;
      if (rec.blocked === true) line += ',"blocked":true';
      requestLog.writeLine(`${line}}\n`);
      return;
    }
    const entry: RequestLogEntry = { time: isoNow(), client, method, host, path, status: res.statusCode, bytes: rec.bytes, durationMs };
    if (rec.owner !== undefined) entry.owner = rec.owner;
    if (rec.cohort !== undefined) entry.cohort = rec.cohort;
    if (rec.site !== undefined) entry.site = rec.site.name;
    if (rec.blocked === true) entry.blocked = true;
    requestLog?.write(entry);
    try {
      onRequest(entry);
    } catch (error) {
      log.error({ err: error }, 'the request listener failed');
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https'): void {
    const started = performance.now();
    const client = clientAddress(req.socket.remoteAddress);
    const host = hostOf(req.headers.host);
    if (host !== undefined && serveCached(req, res, client, host, started)) return;
    const rec: RequestRecord = { bytes: 0 };
    res.once('close', () => record(req, res, client, host ?? '', started, rec));
    dispatch(req, res, scheme, client, host, rec).catch((error: unknown) => {
      log.error({ err: error, host, url: req.url }, 'the gateway failed to answer a request');
      if (res.headersSent) res.destroy();
      else rec.bytes = sendPage(res, { status: 500, title: 'Something went wrong', body: '<p>The gateway could not answer this request. Try again, and tell your instructor if it keeps happening.</p>' }, req.method === 'HEAD');
    });
  }

  /**
   * The hot path, answered synchronously: a GET or HEAD of a static file whose bytes are cached and
   * fresh, by a client the allowlist lets through. Anything else returns false, having sent nothing,
   * and takes the full path (dispatch), which decides the same way where both apply.
   */
  function serveCached(req: IncomingMessage, res: ServerResponse, client: string, host: string, started: number): boolean {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url ?? '';
    if (url.charCodeAt(0) !== 47 /* "/" */) return false;
    const queryAt = url.indexOf('?');
    const decoded = decodePath(queryAt === -1 ? url : url.slice(0, queryAt));
    if (decoded === undefined) return false;
    const { router, identities } = state;
    const match = router.match(host, decoded);
    if (match === undefined || match.bare) return false;
    const { site } = match;
    if (site.kind !== 'static') return false;
    let owner: string | undefined;
    let cohort: string | undefined;
    const identity = identities === undefined ? undefined : identityOf(identities, client);
    if (identity !== undefined) {
      owner = identity.owner;
      cohort = identity.cohort;
      if (cohort !== undefined && !allows(identities!, cohort, site.name)) return false;
    }
    const outcome = files.serveCached(req, res, site.root, decoded.slice(site.pathPrefix.length));
    if (outcome === undefined) return false;
    // The response is handed over whole, so it can be logged now rather than on 'close'.
    const rec: RequestRecord = { bytes: outcome.bytes, site };
    if (owner !== undefined) rec.owner = owner;
    if (cohort !== undefined) rec.cohort = cohort;
    record(req, res, client, host, started, rec);
    return true;
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https', client: string, host: string | undefined, rec: RequestRecord): Promise<void> {
    const { config, router, identities } = state;
    const head = req.method === 'HEAD';
    const answer = (page: Page) => {
      rec.bytes = sendPage(res, page, head);
    };
    const url = req.url ?? '';
    if (host === undefined) return answer(badRequestPage('The request has no Host header, so the gateway cannot tell which site it is for.'));
    // Absolute-form and authority-form targets are for forward proxies; this is not one.
    if (!url.startsWith('/')) return answer(badRequestPage('The request must ask for a path that starts with "/".'));
    const queryAt = url.indexOf('?');
    const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? '' : url.slice(queryAt);
    const decoded = decodePath(rawPath);
    if (decoded === undefined) return answer(badRequestPage('The address contains "..", ".", a backslash, a NUL or broken %-encoding; ask for the page by its plain address.'));

    const match = router.match(host, decoded);
    if (match === undefined) {
      const sameHost = config.sites.filter((s) => s.host === host).sort((a, b) => a.pathPrefix.length - b.pathPrefix.length)[0];
      return answer(sameHost === undefined ? unknownHostPage(host, config.searchUrl) : notMirroredPage(sameHost.name, sameHost.pathPrefix, decoded, config.searchUrl));
    }
    const { site } = match;
    rec.site = site;

    const identity = identities === undefined ? undefined : identityOf(identities, client);
    if (identity !== undefined) {
      rec.owner = identity.owner;
      if (identity.cohort !== undefined) {
        rec.cohort = identity.cohort;
        if (!allows(identities!, identity.cohort, site.name)) {
          rec.blocked = true;
          return answer(blockedPage(site.name));
        }
      }
    }

    switch (site.kind) {
      case 'static': {
        if (req.method !== 'GET' && !head) return answer(methodNotAllowedPage(req.method ?? '', 'GET, HEAD'));
        if (match.bare) return answer(redirectPage(`${rawPath}/${query}`));
        const relative = decoded.slice(site.pathPrefix.length);
        let outcome = await files.serve(req, res, site.root, relative);
        if (outcome.status === 'missing' && site.extensionless && relative !== '' && !relative.endsWith('/') && !relative.endsWith('.html')) {
          outcome = await files.serve(req, res, site.root, `${relative}.html`);
        }
        if (outcome.status === 'missing') return answer(notMirroredPage(site.name, site.pathPrefix, decoded, config.searchUrl));
        if (outcome.status === 'redirect') return answer(redirectPage(`${rawPath}/${query}`));
        rec.bytes = outcome.bytes;
        return;
      }
      case 'proxy': {
        const { bytes } = await proxy.forward(req, res, { siteName: site.name, upstream: site.upstream, client, scheme });
        rec.bytes = bytes;
        return;
      }
      case 'search': {
        const handler = state.search.get(site.searchDb);
        if (handler === undefined) return answer(unavailablePage(site.name));
        countBodyBytes(res, rec);
        await handler(req, res);
        return;
      }
    }
  }

  function listen(server: http.Server, host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) =>
        reject(new OutpostError('SERVICE_UNAVAILABLE', `The gateway could not listen on ${host}:${port}: ${error.message}. Free the port or change the gateway configuration.`, { cause: error }));
      server.once('error', failed);
      server.listen(port, host, () => {
        server.off('error', failed);
        server.on('error', (error) => log.error({ err: error }, 'gateway listener error'));
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  return {
    async start() {
      if (servers !== undefined) throw new OutpostError('INTERNAL', 'The gateway was started twice; start it once and use reload() to change its configuration.');
      const { config } = state;
      requestLog = openRequestLog({ file: config.requestLog, maxBytes: config.requestLogMaxBytes, log, onFull: options.requestLogOnFull });
      const plain = http.createServer((req, res) => handle(req, res, 'http'));
      const secure = https.createServer(
        { SNICallback: (name, callback) => certificates.sniCallback(name, callback), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] },
        (req, res) => handle(req, res, 'https'),
      );
      // Failed handshakes are routine (clients without SNI, names without a certificate): not errors.
      secure.on('tlsClientError', (error) => log.debug({ err: error }, 'TLS handshake failed'));
      servers = { http: plain, https: secure };
      const [httpPort, httpsPort] = await Promise.all([listen(plain, config.http.host, config.http.port), listen(secure, config.https.host, config.https.port)]);
      log.info({ httpPort, httpsPort, sites: config.sites.length }, 'gateway listening');
      return { httpPort, httpsPort };
    },

    reload(next) {
      const config = parseGatewayConfig(next, 'given to reload');
      const old = state.config;
      state = buildState(config);
      files.clear();
      certificates = createCertificateStore({ dir: config.certsDir, log });
      if (requestLog !== undefined && (config.requestLog !== old.requestLog || config.requestLogMaxBytes !== old.requestLogMaxBytes)) {
        void requestLog.close();
        requestLog = openRequestLog({ file: config.requestLog, maxBytes: config.requestLogMaxBytes, log, onFull: options.requestLogOnFull });
      }
      if (JSON.stringify([config.http, config.https]) !== JSON.stringify([old.http, old.https])) {
        log.warn({ http: config.http, https: config.https }, 'the gateway listen addresses changed; restart the gateway to apply them');
      }
      log.info({ sites: config.sites.length }, 'gateway configuration reloaded');
    },

    reopenRequestLog() {
      requestLog?.reopen();
    },

    async close() {
      const running = servers;
      servers = undefined;
      if (running !== undefined) {
        await Promise.all(
          [running.http, running.https].map(
            (server) =>
              new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
              }),
          ),
        );
      }
      proxy.close();
      await requestLog?.close();
      requestLog = undefined;
    },
  };
}

/**
 * Decodes the path once and refuses what could walk out of a site or confuse a file system:
 * `.`/`..` segments, backslashes and NULs (before or after decoding) and invalid %-encoding.
 * A double-encoded `%252e%252e` stays the literal text `%2e%2e`, which names no file.
 */
export function decodePath(rawPath: string): string | undefined {
  // The common case, a plain path: nothing to decode, and no "/." means no "." or ".." segment.
  if (rawPath.startsWith('/') && PLAIN_PATH.test(rawPath) && !rawPath.includes('/.')) return rawPath;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (/[\\\0]/.test(decoded)) return undefined;
  for (const segment of decoded.split('/')) if (segment === '..' || segment === '.') return undefined;
  return decoded;
}

/** No %-escapes, backslashes, NULs or other control characters. */
const PLAIN_PATH = /^[^%\\\0-\x1f]*$/;

let isoSecond = -1;
let isoPrefix = '';
/** new Date().toISOString(), built once per second plus the milliseconds. */
function isoNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const ms = now - second * 1000;
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** JSON.stringify of a string, skipped for the usual plain ASCII without quotes or backslashes. */
function jsonString(value: string): string {
  return JSON_PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}
const JSON_PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function redirectPage(location: string): Page {
  // "//host/x" would be a redirect to another host; one leading slash keeps it on this one.
  const target = `/${location.replace(/^\/+/, '')}`;
  return { status: 301, title: 'Moved', body: '<p>This page has moved to the address with a trailing slash.</p>', headers: { location: target } };
}

function clientAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Lower-case host without port or trailing dot; IPv6 literals keep their brackets. */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const lower = header.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? undefined : lower.slice(0, end + 1);
  }
  const colon = lower.indexOf(':');
  const host = colon === -1 ? lower : lower.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** For handlers the gateway did not write (search): count what they send so the log has `bytes`. */
function countBodyBytes(res: ServerResponse, rec: RequestRecord): void {
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const count = (chunk: unknown) => {
    if (typeof chunk === 'string') rec.bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) rec.bytes += chunk.length;
  };
  res.write = ((...args: unknown[]) => {
    count(args[0]);
    return write(...args);
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    if (typeof args[0] !== 'function') count(args[0]);
    return end(...args);
  }) as typeof res.end;
}
