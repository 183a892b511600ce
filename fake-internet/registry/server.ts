/**
 * Running Verdaccio in this process: the shared start/stop used by both modes, and the sealed
 * registry of the inside network, which adds two things in front of Verdaccio's app: tarball URLs
 * on the public URL for requests that came through the gateway, and a JSON-lines log of every
 * package the mirror did not have (the raw material of "requested packages").
 *
 * Both hooks sit on the Node HTTP server that `runServer` returns, not inside Verdaccio: a
 * 'request' listener prepended before Verdaccio's sees the request first, and the response's
 * 'finish' event sees the final status whichever Verdaccio route or error handler produced it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runServer } from 'verdaccio';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { verdaccioConfig, type VerdaccioConfig } from './config.ts';
import { packageNameFromPath } from './names.ts';

export interface RunningVerdaccio {
  readonly host: string;
  readonly port: number;
  /** Base URL with a trailing slash, e.g. "http://127.0.0.1:4873/". */
  readonly url: string;
  close(): Promise<void>;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Starts Verdaccio with `config` on host:port (port 0 picks a free one). */
export async function startVerdaccio(config: VerdaccioConfig, host: string, port: number, beforeVerdaccio?: RequestListener): Promise<RunningVerdaccio> {
  let server: Server;
  try {
    server = (await runServer(config)) as Server;
  } catch (error) {
    throw new OutpostError('SERVICE_UNAVAILABLE', `Verdaccio could not start over the storage at ${config.storage}: ${(error as Error).message}. Check that the directory exists and is writable (Verdaccio keeps its secret in .verdaccio-db.json there).`, { cause: error });
  }
  if (beforeVerdaccio !== undefined) server.prependListener('request', beforeVerdaccio);
  try {
    server.listen(port, host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
  } catch (error) {
    throw new OutpostError('SERVICE_UNAVAILABLE', `The npm registry cannot listen on ${host}:${port}: ${(error as Error).message}. Choose a free port or stop whatever holds it.`, { cause: error });
  }
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port: bound,
    url: `http://${urlHost}:${bound}/`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

export interface RequestLogEntry {
  time: string;
  /** The package asked for. */
  name: string;
  /** The client: the first X-Forwarded-For hop when a proxy set one, else the peer address. */
  ip: string;
  /** The peer address when it differs from `ip` (the gateway). */
  via?: string;
  method: string;
  path: string;
}

export interface SealedRegistryOptions {
  storageDir: string;
  host: string;
  port: number;
  /** e.g. "https://registry.outpost/"; gateway-forwarded requests get tarball URLs on it. */
  publicUrl?: string;
  /** JSON-lines file that gets one `RequestLogEntry` per package the mirror lacks. */
  requestLog: string;
  log: Logger;
}

/** The registry of the inside network: Verdaccio without uplinks over `storageDir`. */
export async function startSealedRegistry(options: SealedRegistryOptions): Promise<RunningVerdaccio> {
  const publicUrl = options.publicUrl === undefined ? undefined : new URL(options.publicUrl);
  mkdirSync(path.dirname(options.requestLog), { recursive: true });
  // An append-only log, not a file replaced as a whole: each line is written with one write() on an
  // O_APPEND descriptor, so a reader never sees a torn line unless it reads mid-write (see ingest).
  const requestLog = createWriteStream(options.requestLog, { flags: 'a' });
  requestLog.on('error', (error) => options.log.error({ err: error, file: options.requestLog }, 'cannot write the request log'));

  const beforeVerdaccio: RequestListener = (req, res) => {
    if (publicUrl !== undefined && (req.headers['x-forwarded-host'] !== undefined || req.headers['x-forwarded-proto'] !== undefined)) {
      applyPublicUrl(req, publicUrl);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const name = packageNameFromPath(req.url ?? '/');
    if (name === undefined) return;
    res.once('finish', () => {
      if (res.statusCode !== 404) return;
      const entry = requestLogEntry(req, name);
      requestLog.write(`${JSON.stringify(entry)}\n`);
      options.log.info({ package: name, ip: entry.ip }, 'package not in the mirror');
    });
  };

  const config = verdaccioConfig({
    storageDir: options.storageDir,
    listen: `${options.host}:${options.port}`,
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
  });
  let running: RunningVerdaccio;
  try {
    running = await startVerdaccio(config, options.host, options.port, beforeVerdaccio);
  } catch (error) {
    requestLog.end();
    throw error;
  }
  return {
    ...running,
    async close() {
      await running.close();
      await new Promise<void>((resolve) => requestLog.end(() => resolve()));
    },
  };
}

/**
 * Verdaccio derives tarball URLs from the Host header and X-Forwarded-Proto only; the configured
 * public URL (not whatever X-Forwarded-Host says) is what clients behind the gateway must use.
 */
function applyPublicUrl(req: IncomingMessage, publicUrl: URL): void {
  req.headers.host = publicUrl.host;
  req.headers['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1);
}

function requestLogEntry(req: IncomingMessage, name: string): RequestLogEntry {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const forwarded = req.headers['x-forwarded-for'];
  const firstHop = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  const ip = firstHop === undefined || firstHop === '' ? peer : firstHop;
  return {
    time: new Date().toISOString(),
    name,
    ip,
    ...(ip === peer ? {} : { via: peer }),
    method: req.method ?? 'GET',
    path: req.url ?? '/',
  };
}
