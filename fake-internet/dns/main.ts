/**
 * Container entrypoint of the inside internet's DNS: `main.ts --config FILE`.
 *
 * The config JSON is `{ zoneFile, logFile, host, port, logMaxBytes?, logLevel? }` (relative paths are
 * taken from the config file's folder). The zone is reloaded on SIGHUP and whenever the zone file
 * is replaced: the control plane writes a temp file and renames it over the old one, so we watch the
 * folder, not the file (a watch on the file would stay on the old inode). Mount the folder, not the
 * single file, into the container, or the rename is never seen. One JSON line per query goes to
 * logFile, rotated to `logFile.1` past logMaxBytes (10 MiB by default).
 */
import { createWriteStream, fstatSync, openSync, renameSync, watch, type FSWatcher, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OutpostError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { createDnsServer, type DnsQueryLogEntry } from './server.ts';
import { parseZone, type ZoneData } from './zone.ts';

const configSchema = z
  .object({
    zoneFile: z.string().min(1),
    logFile: z.string().min(1),
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    logMaxBytes: z.number().int().min(1).default(10 * 1024 * 1024),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict();
type DnsServiceConfig = z.infer<typeof configSchema>;

/** Past this many unwritten bytes (the disk cannot keep up with a query flood) lines are dropped, not buffered without end. */
const QUERY_LOG_BACKLOG_BYTES = 8 * 1024 * 1024;
/** Editors and copy tools touch a file several times in a row; one reload per burst is enough. */
const RELOAD_DEBOUNCE_MS = 100;

async function readConfig(argv: readonly string[]): Promise<DnsServiceConfig> {
  const flag = argv.findIndex((arg) => arg === '--config' || arg.startsWith('--config='));
  const file = flag < 0 ? undefined : argv[flag]!.startsWith('--config=') ? argv[flag]!.slice('--config='.length) : argv[flag + 1];
  if (file === undefined || file === '') throw new OutpostError('INPUT_INVALID', 'The DNS service needs its config file: run it as `main.ts --config FILE`.');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new OutpostError('INPUT_INVALID', `Could not read the DNS service config ${file}: ${error instanceof Error ? error.message : String(error)}. Write it as JSON { zoneFile, logFile, host, port }.`, { cause: error });
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ');
    throw new OutpostError('INPUT_INVALID', `The DNS service config ${file} is invalid: ${problems}. Fix it and start the service again.`);
  }
  const base = path.dirname(path.resolve(file));
  return { ...parsed.data, zoneFile: path.resolve(base, parsed.data.zoneFile), logFile: path.resolve(base, parsed.data.logFile) };
}

async function loadZone(file: string): Promise<ZoneData> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new OutpostError('DNS_ZONE_INVALID', `Could not read the zone file ${file}: ${error instanceof Error ? error.message : String(error)}. Check that the zone folder is mounted and the file exists.`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OutpostError('DNS_ZONE_INVALID', `The zone file ${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}. Write it again (atomically: temp file + rename).`, { cause: error });
  }
  return parseZone(json, `The zone file ${file}`);
}

interface QueryLog {
  write(entry: DnsQueryLogEntry): void;
  close(): Promise<void>;
}

function openQueryLog(file: string, maxBytes: number, log: Logger): QueryLog {
  // The descriptor is opened synchronously so a rotation can never race a stream still opening its path.
  const openStream = (): { stream: WriteStream; size: number } => {
    const fd = openSync(file, 'a');
    const stream = createWriteStream('', { fd });
    stream.on('error', (error) => log.error({ err: error, file }, 'dns: writing the query log failed'));
    return { stream, size: fstatSync(fd).size };
  };
  let current = openStream();
  let dropping = false;
  return {
    write(entry) {
      const line = `${JSON.stringify(entry)}\n`;
      const bytes = Buffer.byteLength(line);
      if (current.size > 0 && current.size + bytes > maxBytes) {
        // Lines still queued in the old stream land in `.1`: the control plane follows the file by
        // inode (core/jsonl.ts readRotatedLines), so they are read, not lost.
        current.stream.end();
        try {
          renameSync(file, `${file}.1`);
        } catch (error) {
          log.error({ err: error, file }, 'dns: rotating the query log failed; appending to the same file');
        }
        current = openStream();
      }
      if (current.stream.writableLength > QUERY_LOG_BACKLOG_BYTES) {
        if (!dropping) log.warn({ file }, 'dns: the query log cannot keep up; dropping lines until it catches up');
        dropping = true;
        return;
      }
      dropping = false;
      current.stream.write(line);
      current.size += bytes;
    },
    close() {
      return new Promise((done) => current.stream.end(() => done()));
    },
  };
}

async function main(): Promise<void> {
  const bootLog = createLogger({ level: 'info' }).child({ component: 'dns' });
  let config: DnsServiceConfig;
  let zone: ZoneData;
  try {
    config = await readConfig(process.argv.slice(2));
    zone = await loadZone(config.zoneFile);
  } catch (error) {
    bootLog.fatal({ err: error }, 'dns: cannot start');
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ level: config.logLevel }).child({ component: 'dns' });
  const queryLog = openQueryLog(config.logFile, config.logMaxBytes, log);
  const server = createDnsServer({ zone, host: config.host, port: config.port, log, onQuery: (entry) => queryLog.write(entry) });
  try {
    await server.start();
  } catch (error) {
    log.fatal({ err: error }, 'dns: cannot start');
    await queryLog.close();
    process.exitCode = 1;
    return;
  }
  log.info({ serial: zone.serial, zoneFile: config.zoneFile }, 'dns: zone loaded');

  let reloading = Promise.resolve();
  const reload = (reason: string): void => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadZone(config.zoneFile);
        server.setZone(next);
        log.info({ serial: next.serial, reason }, 'dns: zone reloaded');
      } catch (error) {
        log.error({ err: error, reason }, 'dns: zone reload failed; still answering from the previous zone');
      }
    });
  };

  let debounce: NodeJS.Timeout | undefined;
  const zoneName = path.basename(config.zoneFile);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(config.zoneFile), (_event, changed) => {
      if (changed !== zoneName) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => reload('zone file changed'), RELOAD_DEBOUNCE_MS);
    });
    watcher.on('error', (error) => log.error({ err: error }, 'dns: watching the zone folder failed; reload with SIGHUP'));
  } catch (error) {
    log.error({ err: error }, 'dns: cannot watch the zone folder; reload with SIGHUP');
  }

  process.on('SIGHUP', () => reload('SIGHUP'));
  const stop = async (signal: string): Promise<void> => {
    log.info({ signal }, 'dns: stopping');
    watcher?.close();
    clearTimeout(debounce);
    await server.close();
    await reloading;
    await queryLog.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

await main();
