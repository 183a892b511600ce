/**
 * The gateway's request log: one JSON line per request, appended to a file the control plane reads
 * (who visited what, and what was blocked). Lines are gathered for the rest of the event-loop turn
 * and appended with one synchronous write() on an O_APPEND descriptor (a local append of a few KB:
 * microseconds; a log on a slow network disk would stall serving). So several gateway processes
 * can share one file: Linux appends each write() to a regular file whole, and a batch holds only
 * whole lines, so lines never interleave partially.
 * With several writers, one process must own rotation (`onFull`); each writer then `reopen()`s.
 * The control plane follows a rotation by inode (core/jsonl.ts readRotatedLines): it finishes `.1`,
 * late lines of a writer that has not reopened yet included, before it reads the new file.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../core/log.ts';

export interface RequestLogEntry {
  time: string;
  client: string;
  owner?: string;
  cohort?: string;
  method: string;
  host: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  site?: string;
  blocked?: boolean;
}

export interface RequestLog {
  readonly file: string;
  write(entry: RequestLogEntry): void;
  /** Appends an already formatted line (ending in "\n"). */
  writeLine(line: string): void;
  /** Starts appending to a new file at `file` (after someone else renamed the old one away). */
  reopen(): void;
  close(): Promise<void>;
}

export interface RequestLogOptions {
  file: string;
  maxBytes: number;
  log: Logger;
  /**
   * Set when other processes append to the same file: instead of rotating it itself, the log calls
   * this (at most once per opened file) when the file has grown past `maxBytes`; whoever rotates
   * then makes every writer `reopen()`.
   */
  onFull?: (file: string) => void;
}

const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Larger batches are split (at line ends) so that one write() stays a reasonable size. */
const MAX_WRITE_BYTES = 1024 * 1024;

/** Appends to `file`; past `maxBytes` it becomes `<file>.1` (replacing the previous one) and a new file starts. */
export function openRequestLog(options: RequestLogOptions): RequestLog {
  const { file, maxBytes, log, onFull } = options;
  mkdirSync(path.dirname(file), { recursive: true });
  let size = sizeOf(file);
  let fd: number | undefined = open();
  let pending: string[] = [];
  let pendingBytes = 0;
  let scheduled = false;
  let fullReported = false;
  let reopenWanted = false;
  let closed = false;
  let dropped = 0;
  let errors = 0;

  function open(): number | undefined {
    try {
      return openSync(file, 'a', 0o640);
    } catch (error) {
      log.error({ file, err: error }, 'opening the request log failed');
      return undefined;
    }
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  /** Writes what has gathered: one write() per batch of whole lines (split past MAX_WRITE_BYTES). */
  function flush(): void {
    scheduled = false;
    if (reopenWanted) swap();
    while (pending.length > 0) {
      if (fd === undefined) {
        dropped += pending.length;
        pending = [];
        pendingBytes = 0;
        break;
      }
      let text: string;
      if (pendingBytes <= MAX_WRITE_BYTES) {
        text = pending.length === 1 ? pending[0]! : pending.join('');
        pending = [];
        pendingBytes = 0;
      } else {
        let take = 0;
        let bytes = 0;
        while (take < pending.length && (take === 0 || bytes + pending[take]!.length <= MAX_WRITE_BYTES)) bytes += pending[take++]!.length;
        text = pending.slice(0, take).join('');
        pending = pending.slice(take);
        pendingBytes -= bytes;
      }
      const data = Buffer.from(text);
      try {
        // Synchronous: a local append of a batch costs microseconds, keeps the lines in order and
        // lets rotation happen right after the write that crossed the limit.
        const written = writeSync(fd, data, 0, data.length, null);
        if (written < data.length) log.error({ file, written, length: data.length }, 'the request log took only part of a write');
        size += written;
      } catch (error) {
        if (errors++ % 10_000 === 0) log.error({ file, err: error, errors }, 'writing the request log failed');
      }
      afterWrite();
    }
  }

  function afterWrite(): void {
    if (size <= maxBytes) return;
    if (onFull === undefined) return rotate();
    if (fullReported || fd === undefined) return;
    // Other processes append too: our own count is only a lower bound, the file knows its size.
    try {
      size = fstatSync(fd).size;
    } catch {
      // keep our count
    }
    if (size > maxBytes) {
      fullReported = true;
      onFull(file);
    }
  }

  function swap(): void {
    reopenWanted = false;
    const old = fd;
    fd = open();
    size = 0;
    fullReported = false;
    if (old !== undefined) {
      try {
        closeSync(old);
      } catch {
        // already gone
      }
    }
  }

  function rotate(): void {
    try {
      renameSync(file, `${file}.1`);
    } catch (error) {
      log.error({ file, err: error }, 'rotating the request log failed; it keeps growing');
      size = 0;
      return;
    }
    swap();
  }

  function append(line: string): void {
    if (closed) return;
    if (pendingBytes > MAX_BUFFERED_BYTES) {
      if (dropped++ % 10_000 === 0) log.warn({ file, dropped }, 'the request log cannot keep up; dropping lines');
      return;
    }
    pending.push(line);
    // Lines are nearly all ASCII; the exact byte count is taken when the batch is written.
    pendingBytes += line.length;
    schedule();
  }

  return {
    file,
    write(entry) {
      append(`${JSON.stringify(entry)}\n`);
    },
    writeLine(line) {
      append(line);
    },
    reopen() {
      if (closed) return;
      reopenWanted = true;
      schedule();
    },
    close() {
      if (!closed) {
        closed = true;
        flush();
        if (fd !== undefined) {
          try {
            closeSync(fd);
          } catch {
            // already gone
          }
          fd = undefined;
        }
      }
      return Promise.resolve();
    },
  };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
