/**
 * Structured logging with pino. One root logger is made by the composition root and handed down;
 * modules make child loggers with their ids (user, workspace, job) instead of formatting strings.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Write to this file descriptor (default stdout). The CLI logs to stderr so stdout stays the command's. */
  destination?: number | string;
}

export function createLogger(options: LogOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { app: 'outpost' },
      // Secrets must never reach a log line, whatever a caller passes in.
      redact: { paths: ['password', '*.password', 'token', '*.token', 'cookie', '*.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    },
    pino.destination({ dest: options.destination ?? 1, sync: true }),
  );
}

/** A logger that drops everything: for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
