/**
 * Reading what a service appended to a JSON-lines log since the last read. Only whole lines are
 * taken (the writer may be mid-line); a file smaller than the last offset was rotated or truncated,
 * so reading starts over. The caller keeps the offset (in its own table) in the same transaction as
 * what it does with the lines.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs';

/** At most this much is read per call; the rest comes next time. */
const MAX_CHUNK = 16 * 1024 * 1024;

export function readNewLines(file: string, lastOffset: number | undefined): { lines: string[]; offset: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { lines: [], offset: lastOffset ?? 0 };
  }
  const start = lastOffset === undefined || lastOffset > size ? 0 : lastOffset;
  const buffer = Buffer.alloc(Math.min(size - start, MAX_CHUNK));
  const fd = openSync(file, 'r');
  let read = 0;
  try {
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, start + read);
      if (n === 0) break;
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  const end = buffer.subarray(0, read).lastIndexOf(0x0a) + 1;
  const lines = buffer.subarray(0, end).toString('utf8').split('\n').filter((line) => line.trim() !== '');
  return { lines, offset: start + end };
}
