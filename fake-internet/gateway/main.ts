/**
 * Container entrypoint of the gateway: `main.ts --config /etc/outpost/gateway.json`.
 *
 * Reloads on SIGHUP and whenever the config or identity file is replaced. The control plane writes
 * both atomically (temp file + rename), so the *directories* are watched: a watch on the file would
 * stay on the old inode. For the same reason, bind-mount the directories, not the single files.
 * SIGTERM and SIGINT close the listeners and flush the request log, then exit 0.
 *
 * Several processes: with `workers` > 1 (default: the CPUs available to the container) this process
 * becomes a node:cluster primary that serves nothing itself. The workers share the listening sockets
 * (SCHED_NONE: the kernel spreads the accepts) and append whole lines to the one request log; the
 * primary watches the files, tells every worker to reload (and logs `reloaded` once all have), owns
 * request-log rotation, restarts a worker that dies, and on SIGTERM/SIGINT stops them all and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import { renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../../core/log.ts';
import { isOutpostError } from '../../core/errors.ts';
import { availableCpus } from './cpus.ts';
import { createGateway, type Gateway } from './server.ts';
import { parseGatewayConfig, readIdentities, readJsonFile, type GatewayConfig } from './routes.ts';
import { createSearchHandler } from '../search/handler.ts';

const RELOAD_DEBOUNCE_MS = 200;
const RELOAD_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** Messages between the primary and its workers. */
type ToWorker =
  | { type: 'start'; config: unknown }
  | { type: 'reload'; id: number; config: unknown }
  | { type: 'reopen-log' }
  | { type: 'stop' };
type ToPrimary = { type: 'hello' } | { type: 'ready' } | { type: 'reloaded'; id: number; error?: string } | { type: 'log-full'; file: string };

async function main(argv: string[]): Promise<void> {
  if (cluster.isWorker) return runWorker();
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  if (values.config === undefined) {
    process.stderr.write('usage: gateway --config FILE\n');
    process.exit(2);
  }
  const configFile = path.resolve(values.config);
  const loadRaw = (): unknown => readJsonFile(configFile, 'gateway configuration');
  const raw = loadRaw();
  const config = parseGatewayConfig(raw, configFile);
  const workers = config.workers ?? availableCpus();
  if (workers <= 1) await runSingle(configFile, config);
  else await runPrimary(configFile, raw, config, workers);
}

/** One process serving everything itself. */
async function runSingle(configFile: string, initial: GatewayConfig): Promise<void> {
  const load = (): GatewayConfig => parseGatewayConfig(readJsonFile(configFile, 'gateway configuration'), configFile);
  let config = initial;
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

/** The cluster primary: serves nothing, supervises the workers. */
async function runPrimary(configFile: string, initialRaw: unknown, initial: GatewayConfig, count: number): Promise<void> {
  let raw = initialRaw;
  let config = initial;
  const log = createLogger({ level: config.logLevel });
  // The workers accept from the shared sockets themselves (the kernel picks which): no connection
  // passes through this process. (Round-robin via the primary measured no better on this benchmark.)
  if (process.platform !== 'win32') cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: process.argv[1], args: [], silent: false });

  const ready = new Set<number>();
  let everReady = false;
  let stopping = false;
  let nextReloadId = 1;
  let reloading: { id: number; reason: string; waiting: Set<number>; errors: string[]; timer: NodeJS.Timeout } | undefined;
  const queuedReloads: string[] = [];
  const crashes: number[] = [];

  function send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }

  function fork(): void {
    const worker = cluster.fork();
    const startedAt = Date.now();
    worker.on('message', (message: ToPrimary) => onMessage(worker, message));
    worker.once('exit', (code, signal) => {
      ready.delete(worker.id);
      if (reloading?.waiting.delete(worker.id) === true) finishReloadIfDone();
      if (stopping) return;
      if (!everReady) {
        log.fatal({ code, signal }, 'a gateway worker failed to start');
        void stopAll(1);
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && now - crashes[0]! > 60_000) crashes.shift();
      // Back off when workers keep dying (a broken mirror, a bad search index): 0.1 s, doubling, at most 10 s.
      const delay = now - startedAt > 10_000 ? 100 : Math.min(10_000, 100 * 2 ** Math.min(crashes.length, 7));
      log.error({ code, signal, worker: worker.id, restartInMs: delay }, 'a gateway worker died; starting a new one');
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });
  }

  function onMessage(worker: Worker, message: ToPrimary): void {
    switch (message.type) {
      case 'hello':
        // Not on 'online': that comes before the worker's module has a message listener.
        send(worker, { type: 'start', config: raw });
        return;
      case 'ready':
        ready.add(worker.id);
        everReady = true;
        return;
      case 'reloaded':
        if (reloading === undefined || message.id !== reloading.id) return;
        if (message.error !== undefined) reloading.errors.push(message.error);
        reloading.waiting.delete(worker.id);
        finishReloadIfDone();
        return;
      case 'log-full':
        rotateRequestLog(message.file);
        return;
    }
  }

  function rotateRequestLog(file: string): void {
    try {
      // Several workers may report the same full file: only rotate what is still too big.
      if (statSync(file).size > config.requestLogMaxBytes) renameSync(file, `${file}.1`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ file, err: error }, 'rotating the request log failed; it keeps growing');
    }
    // Lines still queued in a worker land in the renamed file: its descriptor follows it.
    for (const worker of Object.values(cluster.workers ?? {})) if (worker !== undefined) send(worker, { type: 'reopen-log' });
  }

  const watchers = watchFiles(log, () => [configFile, config.identityFile], () => reload('a watched file changed'));

  function reload(reason: string): void {
    if (stopping) return;
    if (reloading !== undefined) {
      if (!queuedReloads.includes(reason)) queuedReloads.push(reason);
      return;
    }
    let nextRaw: unknown;
    let next: GatewayConfig;
    try {
      nextRaw = readJsonFile(configFile, 'gateway configuration');
      next = parseGatewayConfig(nextRaw, configFile);
      if (next.identityFile !== undefined) readIdentities(next.identityFile);
    } catch (error) {
      log.error({ reason, err: error }, 'reload failed; still serving the previous configuration');
      return;
    }
    raw = nextRaw;
    config = next;
    watchers.refresh();
    const id = nextReloadId++;
    const targets = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && ready.has(w.id));
    const timer = setTimeout(() => {
      if (reloading?.id !== id) return;
      reloading.errors.push(`${reloading.waiting.size} worker(s) did not answer within ${RELOAD_TIMEOUT_MS} ms`);
      reloading.waiting.clear();
      finishReloadIfDone();
    }, RELOAD_TIMEOUT_MS);
    timer.unref();
    reloading = { id, reason, waiting: new Set(targets.map((w) => w.id)), errors: [], timer };
    for (const worker of targets) send(worker, { type: 'reload', id, config: raw });
    finishReloadIfDone();
  }

  function finishReloadIfDone(): void {
    const current = reloading;
    if (current === undefined || current.waiting.size > 0) return;
    reloading = undefined;
    clearTimeout(current.timer);
    if (current.errors.length === 0) log.info({ reason: current.reason }, 'reloaded');
    else log.error({ reason: current.reason, errors: current.errors }, 'reload failed; still serving the previous configuration');
    const queued = queuedReloads.shift();
    if (queued !== undefined) reload(queued);
  }

  async function stopAll(code: number, signal?: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    if (signal !== undefined) log.info({ signal }, 'gateway stopping');
    watchers.close();
    const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      running.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const timer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
            worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            send(worker, { type: 'stop' });
          }),
      ),
    );
    process.exit(code);
  }

  process.on('SIGHUP', () => reload('SIGHUP'));
  process.once('SIGTERM', () => void stopAll(0, 'SIGTERM'));
  process.once('SIGINT', () => void stopAll(0, 'SIGINT'));
  log.info({ workers: count }, 'gateway starting worker processes');
  for (let i = 0; i < count; i++) fork();
}

/** A cluster worker: serves with the configuration the primary sends, obeys its messages. */
function runWorker(): void {
  let gateway: Gateway | undefined;
  let log: Logger | undefined;
  let stopping = false;
  const reply = (message: ToPrimary) => process.send?.(message);
  // Signals are the primary's business (a terminal's Ctrl-C reaches the whole process group).
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, () => undefined);

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'start': {
        if (gateway !== undefined) return;
        const config = parseGatewayConfig(message.config, 'sent by the gateway primary');
        const workerLog = createLogger({ level: config.logLevel });
        log = workerLog;
        gateway = createGateway({
          config,
          log: workerLog,
          searchHandler: (dbPath) => createSearchHandler({ dbPath, log: workerLog }),
          requestLogOnFull: (file) => reply({ type: 'log-full', file }),
        });
        gateway.start().then(
          () => reply({ type: 'ready' }),
          (error: unknown) => fail(error),
        );
        return;
      }
      case 'reload':
        try {
          gateway?.reload(message.config as GatewayConfig);
          reply({ type: 'reloaded', id: message.id });
        } catch (error) {
          log?.error({ err: error }, 'reload failed in a worker; it keeps the previous configuration');
          reply({ type: 'reloaded', id: message.id, error: error instanceof Error ? error.message : String(error) });
        }
        return;
      case 'reopen-log':
        gateway?.reopenRequestLog();
        return;
      case 'stop':
        if (stopping) return;
        stopping = true;
        void (gateway?.close() ?? Promise.resolve()).finally(() => process.exit(0));
        return;
    }
  });
  reply({ type: 'hello' });
}

function fail(error: unknown): never {
  const report = isOutpostError(error) ? error.toJSON() : { code: 'INTERNAL', message: String(error) };
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'gateway failed to start', ...report })}\n`);
  process.exit(1);
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

main(process.argv.slice(2)).catch((error: unknown) => fail(error));
