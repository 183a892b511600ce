/**
 * Reverse proxy to a service on the sealed network (npm mirror, git server, app previews). Bodies
 * stream both ways; hop-by-hop headers stay on their hop; the `X-Forwarded-*` headers are set from
 * what the gateway saw, replacing whatever the client sent, because workspaces are not trusted.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Logger } from '../../core/log.ts';
import { sendPage, upstreamFailedPage } from './pages.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface ForwardRequest {
  siteName: string;
  /** An origin, `http://host:port`. */
  upstream: string;
  client: string;
  scheme: 'http' | 'https';
}

export interface Proxy {
  forward(req: IncomingMessage, res: ServerResponse, target: ForwardRequest): Promise<{ bytes: number }>;
  close(): void;
}

export function createProxy(options: { log: Logger; idleTimeoutMs?: number }): Proxy {
  const { log } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  return {
    forward(req, res, target) {
      const upstream = new URL(target.upstream);
      const headers = withoutHopByHop(req.headers);
      headers['x-forwarded-for'] = target.client;
      headers['x-forwarded-proto'] = target.scheme;
      if (req.headers.host !== undefined) headers['x-forwarded-host'] = req.headers.host;
      delete headers.forwarded;
      // Transfer-Encoding is hop-by-hop, so the client's is dropped; but Node sends a GET's (HEAD's,
      // DELETE's, OPTIONS') body unframed unless told, and the upstream would read it as a second
      // request on the pooled connection: smuggled past the log, its answer given to someone else.
      if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';

      return new Promise((done) => {
        let bytes = 0;
        const upstreamReq = http.request({
          agent,
          hostname: upstream.hostname,
          port: upstream.port === '' ? 80 : Number(upstream.port),
          method: req.method,
          // Origin-form only (the gateway refuses anything else), so the path cannot name another host.
          path: req.url,
          headers,
        });
        upstreamReq.setTimeout(idleTimeoutMs, () => upstreamReq.destroy(new Error(`no data from the upstream for ${idleTimeoutMs} ms`)));
        upstreamReq.on('response', (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, withoutHopByHop(upstreamRes.headers));
          upstreamRes.on('data', (chunk: Buffer) => (bytes += chunk.length));
          upstreamRes.on('error', () => res.destroy());
          upstreamRes.pipe(res);
        });
        upstreamReq.on('error', (error) => {
          log.warn({ site: target.siteName, upstream: target.upstream, err: error }, 'the upstream of a proxied site failed');
          if (res.headersSent) res.destroy();
          else bytes = sendPage(res, upstreamFailedPage(target.siteName), req.method === 'HEAD');
        });
        res.on('close', () => {
          // The client went away (or the response ended): nothing more to fetch.
          if (!upstreamReq.destroyed && !res.writableFinished) upstreamReq.destroy();
          done({ bytes });
        });
        req.pipe(upstreamReq);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !listed.has(name)) kept[name] = value;
  }
  return kept;
}
