/**
 * The Verdaccio configuration of the npm mirror, in its two modes:
 *
 * - sealed (no `uplink`): the registry on the inside network. It serves only what is in the storage
 *   directory and never reaches out; an unknown package is a plain 404.
 * - fetch (`uplink` set): a short-lived registry on the staff side whose one uplink is the machine's
 *   configured npm registry; every packument and tarball that passes through it is cached in storage.
 *
 * Verdaccio takes this object directly (`runServer(config)`), so no YAML file is written.
 *
 * Public URL: Verdaccio 6 builds tarball URLs from `VERDACCIO_PUBLIC_URL` (process-global, and only
 * configuration through the environment) or else from the request's `Host` header plus
 * `X-Forwarded-Proto`; it ignores `X-Forwarded-Host`, and `url_prefix` may only be a path. So the
 * path of `publicUrl` goes into `url_prefix`, and the host and scheme are applied per request by
 * `applyPublicUrl` (see main.ts) to requests that came through the gateway.
 */
import path from 'node:path';
import { z } from 'zod';

/** The uplink's name as it appears in stored packuments (`_uplinks`). */
export const UPLINK_NAME = 'staff';

/**
 * A Verdaccio group no user can ever be in: with `auth: null` nobody can log in, and this makes
 * publish/unpublish refuse even if an auth plugin were added later.
 */
const NOBODY = '$nobody';

export interface VerdaccioConfigOptions {
  storageDir: string;
  /** "HOST:PORT", e.g. "0.0.0.0:4873". */
  listen: string;
  /** e.g. "https://registry.outpost/": where clients behind the gateway see the registry. */
  publicUrl?: string;
  /** Registry URL for the staff-side fetch mode only; absent means sealed. */
  uplink?: string;
  /** Verdaccio's own log level; "http" logs one line per request. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'http' | 'debug' | 'trace';
}

interface PackageAccess {
  access: string;
  publish: string;
  unpublish: string;
  proxy?: string;
}

export interface VerdaccioConfig {
  self_path: string;
  storage: string;
  listen: string[];
  url_prefix?: string;
  uplinks: Record<string, { url: string; cache: boolean; maxage: string; timeout: string; max_fails: number; fail_timeout: string }>;
  packages: Record<string, PackageAccess>;
  auth: null;
  middlewares: Record<string, never>;
  web: { enable: boolean };
  log: { type: 'stdout'; format: 'json'; level: string };
  max_body_size: string;
  server: { keepAliveTimeout: number };
  user_agent: boolean;
}

export function verdaccioConfig(options: VerdaccioConfigOptions): VerdaccioConfig {
  const proxy = options.uplink === undefined ? {} : { proxy: UPLINK_NAME };
  const access: PackageAccess = { access: '$all', publish: NOBODY, unpublish: NOBODY, ...proxy };
  const prefix = options.publicUrl === undefined ? '/' : new URL(options.publicUrl).pathname;
  return {
    // Verdaccio insists on a config path; it only resolves relative paths against it, and all of
    // ours are absolute. The file itself is never read or written.
    self_path: path.join(options.storageDir, 'verdaccio.yaml'),
    storage: options.storageDir,
    listen: [options.listen],
    ...(prefix === '/' ? {} : { url_prefix: prefix }),
    uplinks:
      options.uplink === undefined
        ? {}
        : {
            [UPLINK_NAME]: {
              url: options.uplink,
              cache: true,
              // Refetch every packument: a packument stored earlier has been pruned to its stored
              // versions (packages.ts), so serving it as fresh would hide newer versions.
              maxage: '0ms',
              timeout: '60s',
              max_fails: 5,
              fail_timeout: '10s',
            },
          },
    packages: { '@*/*': access, '**': access },
    // null (not absent) makes Verdaccio skip its default htpasswd plugin: no accounts, no sign-up.
    auth: null,
    // No audit plugin (there is no advisory database inside): loaded but disabled it answers 500
    // on the audit endpoints, whereas without it they are a quick 404 that npm passes over quietly.
    middlewares: {},
    // No web UI (and so no web login): its package list and search cover only packages published
    // to this registry, never cached ones, so it would show students an empty registry.
    web: { enable: false },
    log: { type: 'stdout', format: 'json', level: options.logLevel ?? 'http' },
    max_body_size: '10mb',
    server: { keepAliveTimeout: 60 },
    user_agent: false,
  };
}

/** The settings file of the sealed registry's container (`main.ts --config FILE`). */
export const registrySettingsSchema = z.object({
  storageDir: z.string().min(1),
  listen: z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected "HOST:PORT", e.g. "0.0.0.0:4873" or "[::]:4873"'),
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** JSON-lines file the registry appends one line to per package it did not have. */
  requestLog: z.string().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type RegistrySettings = z.infer<typeof registrySettingsSchema>;
