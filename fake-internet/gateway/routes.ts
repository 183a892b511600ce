/**
 * The gateway's configuration (written by the control plane, read by the gateway container) and the
 * routing rule: a request goes to the site whose host matches and whose path prefix is longest; an
 * exact host beats a wildcard host (`*.apps.outpost`, for student app previews; `*` is one label).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OutpostError } from '../../core/errors.ts';

const hostPattern = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const siteBase = {
  host: z
    .string()
    .transform((h) => h.toLowerCase())
    .pipe(z.string().max(253).regex(hostPattern, 'a host name such as docs.python.org, or *.example.org')),
  pathPrefix: z.string().regex(/^\/([^?#\\\0]*\/)?$/, 'a path that starts and ends with "/", such as "/" or "/3/"').default('/'),
  /** What students' cohorts list in `allowedSites`, and what the request log and error pages show. */
  name: z.string().min(1).max(100),
};

export const siteSchema = z.discriminatedUnion('kind', [
  z.object({
    ...siteBase,
    kind: z.literal('static'),
    root: z.string().min(1),
    /** Serve `<path>.html` for `<path>` when it does not exist, as sites with clean URLs do (git-scm.com/docs/git-commit). */
    extensionless: z.boolean().default(false),
  }),
  z.object({
    ...siteBase,
    kind: z.literal('proxy'),
    /** The request path is forwarded unchanged, so the upstream is an origin only: http://10.0.0.5:4873 */
    upstream: z
      .url({ protocol: /^http$/ })
      .refine((u) => { const url = new URL(u); return url.pathname === '/' && url.search === ''; }, 'an http:// origin without a path')
      .transform((u) => new URL(u).origin),
  }),
  z.object({ ...siteBase, kind: z.literal('search'), searchDb: z.string().min(1) }),
]);

const listen = (port: number) =>
  z.object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(port) }).prefault({});

export const gatewayConfigSchema = z.object({
  http: listen(80),
  https: listen(443),
  /** `<host>.crt` / `<host>.key` per served name, wildcards as `_.<domain>` (see pki/ca.ts). */
  certsDir: z.string().min(1),
  requestLog: z.string().min(1),
  /** The request log is moved to `<requestLog>.1` when it grows past this. */
  requestLogMaxBytes: z.number().int().min(4096).default(10 * 1024 * 1024),
  identityFile: z.string().min(1).optional(),
  /** Linked from the "not mirrored" page so students can look for what they wanted. */
  searchUrl: z.string().default('//search.outpost/'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Processes serving requests (main.ts; they share the listening sockets). Default: the CPUs available. Read at start only. */
  workers: z.number().int().min(1).max(256).optional(),
  sites: z.array(siteSchema).superRefine((sites, ctx) => {
    const seen = new Set<string>();
    for (const [index, site] of sites.entries()) {
      const key = `${site.host}${site.pathPrefix}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [index], message: `two sites serve ${key}` });
      seen.add(key);
    }
  }),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type Site = z.infer<typeof siteSchema>;

/** Written by the control plane; maps workspace IPs to their owner and what their cohort may visit. */
export const identitySchema = z.object({
  clients: z.record(z.string(), z.object({ owner: z.string(), cohort: z.string().optional() })).default({}),
  cohorts: z.record(z.string(), z.object({ allowedSites: z.union([z.array(z.string()), z.literal('all')]) })).default({}),
});
export type Identities = z.infer<typeof identitySchema>;

export function parseGatewayConfig(raw: unknown, source: string): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OutpostError('INPUT_INVALID', `The gateway configuration ${source} is invalid: ${z.prettifyError(parsed.error)}. Fix the file and reload the gateway (SIGHUP).`, {
      details: { issues: parsed.error.issues },
    });
  }
  return parsed.data;
}

export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new OutpostError('INPUT_INVALID', `Could not read the ${what} ${file}: ${(error as Error).message}. Check the path and that the gateway may read it.`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new OutpostError('INPUT_INVALID', `The ${what} ${file} is not valid JSON: ${(error as Error).message}.`, { cause: error });
  }
}

export function readIdentities(file: string): Identities {
  const parsed = identitySchema.safeParse(readJsonFile(file, 'identity file'));
  if (!parsed.success) {
    throw new OutpostError('INPUT_INVALID', `The identity file ${file} is invalid: ${z.prettifyError(parsed.error)}. The control plane writes it; rewrite it and reload the gateway.`, {
      details: { issues: parsed.error.issues },
    });
  }
  return parsed.data;
}

export interface RouteMatch {
  site: Site;
  /** True when the request path is the prefix without its trailing slash ("/3" for "/3/"). */
  bare: boolean;
}

export interface Router {
  match(host: string, path: string): RouteMatch | undefined;
}

/** `host` must already be lower-case without a port; `path` is the raw request path without the query. */
export function createRouter(sites: readonly Site[]): Router {
  const byHost = new Map<string, Site[]>();
  for (const site of sites) {
    const list = byHost.get(site.host) ?? [];
    list.push(site);
    byHost.set(site.host, list);
  }
  // Longest prefix first, so the first hit is the winner.
  for (const list of byHost.values()) list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);

  function inHost(list: Site[] | undefined, path: string): RouteMatch | undefined {
    if (list === undefined) return undefined;
    for (const site of list) {
      if (path.startsWith(site.pathPrefix)) return { site, bare: false };
      if (`${path}/` === site.pathPrefix) return { site, bare: true };
    }
    return undefined;
  }

  return {
    match(host, path) {
      const exact = inHost(byHost.get(host), path);
      if (exact !== undefined) return exact;
      // Like a TLS wildcard, `*` stands for exactly one label, so routing and certificates agree.
      const dot = host.indexOf('.');
      return dot === -1 ? undefined : inHost(byHost.get(`*${host.slice(dot)}`), path);
    },
  };
}
