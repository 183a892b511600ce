/**
 * Structured logging with pino. One root logger is made by the composition root and handed down;
 * modules make child loggers with their ids (user, workspace, job) instead of formatting strings.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Write to this file descriptor (default stdout). The CLI logs to stderr so stdout stays the command's. */
  destination?: number | string;
  /** Write to this file instead, rotated by size: `file.1` … `file.<keep>` hold the older lines. */
  file?: { path: string; maxBytes: number; keep: number; checkEveryMs?: number };
}

export function createLogger(options: LogOptions): Logger {
  const destination = options.file === undefined
    ? pino.destination({ dest: options.destination ?? 1, sync: true })
    : rotatingDestination(options.file);
  return pino(
    {
      level: options.level,
      base: { app: 'outpost' },
      // Secrets must never reach a log line, whatever a caller passes in.
      redact: { paths: ['password', '*.password', 'token', '*.token', 'cookie', '*.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * A server runs for years: its log file is capped. Writes are synchronous, so between two writes
 * the file can be renamed away and reopened without losing or splitting a line. The size is looked
 * at on a timer, not per line, so a file may overshoot `maxBytes` by one interval's lines.
 */
function rotatingDestination(options: NonNullable<LogOptions['file']>) {
  const destination = pino.destination({ dest: options.path, sync: true, mkdir: true });
  const rotate = () => {
    let size = 0;
    try { size = statSync(options.path).size; } catch { return; }
    if (size < options.maxBytes) return;
    rmSync(`${options.path}.${options.keep}`, { force: true });
    for (let n = options.keep - 1; n >= 1; n -= 1) {
      if (existsSync(`${options.path}.${n}`)) renameSync(`${options.path}.${n}`, `${options.path}.${n + 1}`);
    }
    if (options.keep >= 1) renameSync(options.path, `${options.path}.1`);
    else rmSync(options.path, { force: true });
    destination.reopen();
  };
  const timer = setInterval(() => {
    try { rotate(); } catch { /* a failed rotation must not take the server down; the next tick tries again */ }
  }, options.checkEveryMs ?? 10_000);
  timer.unref();
  destination.on('close', () => clearInterval(timer));
  return destination;
}

/** A logger that drops everything: for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
