/**
 * The gateway's request log: one JSON line per request, appended to a file the control plane reads
 * (who visited what, and what was blocked). Writes are buffered so logging never stalls serving; if
 * the disk cannot keep up, lines are dropped and counted rather than buffered without bound.
 */
import { createWriteStream, mkdirSync, renameSync, statSync, type WriteStream } from 'node:fs';
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
  close(): Promise<void>;
}

const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Appends to `file`; past `maxBytes` it becomes `<file>.1` (replacing the previous one) and a new file starts. */
export function openRequestLog(options: { file: string; maxBytes: number; log: Logger }): RequestLog {
  const { file, maxBytes, log } = options;
  mkdirSync(path.dirname(file), { recursive: true });
  let size = sizeOf(file);
  let stream = open();
  let dropped = 0;

  function open(): WriteStream {
    const opened = createWriteStream(file, { flags: 'a', mode: 0o640 });
    opened.on('error', (error) => log.error({ file, err: error }, 'writing the request log failed'));
    return opened;
  }

  function rotate(): void {
    try {
      // Lines still queued on the old stream land in the renamed file: its descriptor follows it.
      renameSync(file, `${file}.1`);
    } catch (error) {
      log.error({ file, err: error }, 'rotating the request log failed; it keeps growing');
      return;
    }
    stream.end();
    stream = open();
    size = 0;
  }

  return {
    file,
    write(entry) {
      if (stream.writableLength > MAX_BUFFERED_BYTES) {
        if (dropped++ % 10_000 === 0) log.warn({ file, dropped }, 'the request log cannot keep up; dropping lines');
        return;
      }
      const line = `${JSON.stringify(entry)}\n`;
      stream.write(line);
      size += Buffer.byteLength(line);
      if (size > maxBytes) rotate();
    },
    close() {
      return new Promise((done) => stream.end(done));
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
