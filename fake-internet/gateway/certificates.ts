/**
 * Picks the TLS certificate for the name a client asks for (SNI) from the certificates directory the
 * control plane fills (see pki/ca.ts `writeGatewayCertificates`): `<name>.crt`/`.key`, else the
 * wildcard `_.<parent>.crt`/`.key`. Contexts are cached and the files re-checked at most every
 * `recheckMs`, so a renewed or newly added certificate is picked up without a restart.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../../core/log.ts';

interface Cached {
  context: SecureContext | undefined;
  certFile: string | undefined;
  mtimeMs: number;
  checkedAt: number;
}

export interface CertificateStore {
  sniCallback(servername: string, callback: (error: Error | null, context?: SecureContext) => void): void;
  clear(): void;
}

// The name comes from the client and becomes a file name: nothing but a plain host name may pass.
const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const MAX_CACHED_NAMES = 10_000;

export function createCertificateStore(options: { dir: string; log: Logger; recheckMs?: number; now?: () => number }): CertificateStore {
  const { dir, log } = options;
  const recheckMs = options.recheckMs ?? 5000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();

  async function load(name: string): Promise<Cached> {
    const at = now();
    const dot = name.indexOf('.');
    const bases = dot === -1 ? [name] : [name, `_${name.slice(dot)}`];
    for (const base of bases) {
      const certFile = path.join(dir, `${base}.crt`);
      const info = await stat(certFile).catch(() => undefined);
      if (info === undefined) continue;
      const known = cache.get(name);
      if (known?.certFile === certFile && known.mtimeMs === info.mtimeMs && known.context !== undefined) return { ...known, checkedAt: at };
      try {
        const [cert, key] = await Promise.all([readFile(certFile), readFile(path.join(dir, `${base}.key`))]);
        return { context: createSecureContext({ cert, key, minVersion: 'TLSv1.2' }), certFile, mtimeMs: info.mtimeMs, checkedAt: at };
      } catch (error) {
        log.error({ certFile, err: error }, 'a gateway certificate could not be loaded');
      }
    }
    return { context: undefined, certFile: undefined, mtimeMs: 0, checkedAt: at };
  }

  return {
    sniCallback(servername, callback) {
      const name = servername.toLowerCase().replace(/\.$/, '');
      if (!HOST_NAME.test(name)) {
        callback(new Error(`no certificate for "${servername}"`));
        return;
      }
      const known = cache.get(name);
      if (known !== undefined && now() - known.checkedAt < recheckMs) {
        callback(known.context === undefined ? new Error(`no certificate for ${name}`) : null, known.context);
        return;
      }
      load(name).then(
        (loaded) => {
          // Unknown names are cached too (briefly) so a client cannot make every handshake hit the disk.
          if (cache.size >= MAX_CACHED_NAMES && !cache.has(name)) cache.delete(cache.keys().next().value as string);
          cache.set(name, loaded);
          if (loaded.context === undefined) log.debug({ servername: name }, 'TLS handshake for a name without a certificate');
          callback(loaded.context === undefined ? new Error(`no certificate for ${name}`) : null, loaded.context);
        },
        (error: unknown) => callback(error as Error),
      );
    },
    clear() {
      cache.clear();
    },
  };
}
