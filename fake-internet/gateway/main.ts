/**
 * Container entrypoint of the gateway: `main.ts --config /etc/outpost/gateway.json`.
 *
 * Reloads on SIGHUP and whenever the config or identity file is replaced. The control plane writes
 * both atomically (temp file + rename), so the *directories* are watched: a watch on the file would
 * stay on the old inode. For the same reason, bind-mount the directories, not the single files.
 * SIGTERM and SIGINT close the listeners and flush the request log, then exit 0.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../../core/log.ts';
import { isOutpostError } from '../../core/errors.ts';
import { createGateway, type Gateway } from './server.ts';
import { parseGatewayConfig, readJsonFile, type GatewayConfig } from './routes.ts';
import { createSearchHandler } from '../search/handler.ts';

const RELOAD_DEBOUNCE_MS = 200;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  if (values.config === undefined) {
    process.stderr.write('usage: gateway --config FILE\n');
    process.exit(2);
  }
  const configFile = path.resolve(values.config);
  const load = (): GatewayConfig => parseGatewayConfig(readJsonFile(configFile, 'gateway configuration'), configFile);

  let config = load();
  const log = createLogger({ level: config.logLevel });
  // The search site is served in this process, from the index the control plane builds at import time.
  const gateway = createGateway({ config, log, searchHandler: (dbPath) => createSearchHandler({ dbPath, log }) });
  await gateway.start();

  const watchers = watchFiles(log, () => [configFile, config.identityFile], () => reload('a watched file changed'));
  function reload(reason: string): void {
    try {
      const next = load();
      gateway.reload(next);
      config = next;
      watchers.refresh();
      log.info({ reason }, 'reloaded');
    } catch (error) {
      log.error({ reason, err: error }, 'reload failed; still serving the previous configuration');
    }
  }
  process.on('SIGHUP', () => reload('SIGHUP'));
  const stop = (signal: string) => void shutdown(gateway, watchers, log, signal);
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function shutdown(gateway: Gateway, watchers: { close(): void }, log: Logger, signal: string): Promise<void> {
  log.info({ signal }, 'gateway stopping');
  watchers.close();
  await gateway.close();
  process.exit(0);
}

/** Watches the directories of the given files and calls `changed` (debounced) when one of them is replaced or edited. */
function watchFiles(log: Logger, files: () => Array<string | undefined>, changed: () => void): { refresh(): void; close(): void } {
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  function refresh(): void {
    for (const watcher of watchers) watcher.close();
    const byDir = new Map<string, Set<string>>();
    for (const file of files()) {
      if (file === undefined) continue;
      const abs = path.resolve(file);
      const names = byDir.get(path.dirname(abs)) ?? new Set<string>();
      byDir.set(path.dirname(abs), names.add(path.basename(abs)));
    }
    watchers = [...byDir].map(([dir, names]) => {
      const watcher = watch(dir, (_event, name) => {
        if (name === null || !names.has(name)) return;
        clearTimeout(timer);
        timer = setTimeout(changed, RELOAD_DEBOUNCE_MS);
      });
      watcher.on('error', (error) => log.error({ dir, err: error }, 'watching for configuration changes failed; reload with SIGHUP'));
      return watcher;
    });
  }

  refresh();
  return {
    refresh,
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const report = isOutpostError(error) ? error.toJSON() : { code: 'INTERNAL', message: String(error) };
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'gateway failed to start', ...report })}\n`);
  process.exit(1);
});
