/**
 * Reading what a service appended to a JSON-lines log since the last read. Only whole lines are
 * taken (the writer may be mid-line). The caller keeps the position (in its own table) in the same
 * transaction as what it does with the lines.
 *
 * `readNewLines` knows only an offset: a file smaller than it was rotated or truncated, so reading
 * starts over. Fine for a log that is never rotated; for one that is, use `readRotatedLines`.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';

/** At most this much is read per call; the rest comes next time. */
const MAX_CHUNK = 16 * 1024 * 1024;

export function readNewLines(file: string, lastOffset: number | undefined): { lines: string[]; offset: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { lines: [], offset: lastOffset ?? 0 };
  }
  try {
    const size = fstatSync(fd).size;
    const start = lastOffset === undefined || lastOffset > size ? 0 : lastOffset;
    const buffer = readAt(fd, start, Math.min(size - start, MAX_CHUNK));
    const end = buffer.lastIndexOf(0x0a) + 1;
    return { lines: splitLines(buffer.subarray(0, end)), offset: start + end };
  } finally {
    closeSync(fd);
  }
}

/**
 * Where reading stopped in each file of a log rotated by renaming `<file>` to `<file>.1` (which
 * replaces the previous `.1`) and starting a new `<file>`. A file is known by its inode, and by a
 * hash of its first bytes, because a file system hands a freed inode to the next new file.
 */
export interface RotatedLogPosition {
  version: 1;
  files: LogFilePosition[];
}

export interface LogFilePosition {
  /** Inode number, as a string: it may not fit a double. */
  ino: string;
  /** Bytes taken: always just after a newline. */
  offset: number;
  /** The file's size when last read: a smaller one means it was truncated. */
  size: number;
  /** sha256 (hex, shortened) of the file's first `min(offset, HEAD_BYTES)` bytes, which never change. */
  head: string;
  /** Whether it was `<file>` (still being written) rather than `<file>.1` when last read. */
  live: boolean;
}

const positionSchema = z.object({
  version: z.literal(1),
  files: z.array(z.object({ ino: z.string(), offset: z.number().int().min(0), size: z.number().int().min(0), head: z.string(), live: z.boolean() })),
});

/** A position as the caller stored it (JSON text); anything unreadable is undefined, as if never read. */
export function parseRotatedLogPosition(text: string | null | undefined): RotatedLogPosition | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    const parsed = positionSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Lines that were written but cannot be read any more, so the caller can say so rather than lose them silently. */
export interface LogGap {
  file: string;
  /** What happened, in words for staff. */
  reason: string;
  /** Bytes known to be unread; with `more`, an unknown further amount too. */
  bytes: number;
  more: boolean;
}

const HEAD_BYTES = 256;

interface OpenedFile {
  name: string;
  fd: number;
  ino: string;
  size: number;
  live: boolean;
}

/**
 * The lines appended to a rotated log since `previous`, oldest first, each exactly once: the rest
 * of the file that was live last time (now `<file>.1`, perhaps still taking a late write from a
 * writer that has not reopened yet), then the new `<file>` from its start. A file that went away
 * with lines unread (rotated twice between two reads, or deleted) is reported in `gaps`.
 *
 * `legacyOffset` is a bare offset saved before positions existed: it is taken as the live file's.
 */
export function readRotatedLines(file: string, previous: RotatedLogPosition | undefined, legacyOffset?: number): { lines: string[]; position: RotatedLogPosition; gaps: LogGap[] } {
  const opened: OpenedFile[] = [];
  try {
    // The live file first: a rotation between the two opens then shows one inode twice (dropped
    // below), where the other order could miss the file that was renamed in between.
    for (const [name, live] of [[file, true], [`${file}.1`, false]] as const) {
      const fd = openOrUndefined(name);
      if (fd === undefined) continue;
      const stat = fstatSync(fd, { bigint: true });
      const ino = stat.ino.toString();
      const twin = opened.find((o) => o.ino === ino);
      if (twin !== undefined) {
        twin.name = name;
        twin.live = live;
        closeSync(fd);
        continue;
      }
      opened.push({ name, fd, ino, size: Number(stat.size), live });
    }
    opened.reverse();

    const known = previous?.files ?? (legacyOffset === undefined ? [] : legacyPositions(opened, legacyOffset));
    const lines: string[] = [];
    const gaps: LogGap[] = [];
    const next: LogFilePosition[] = [];
    const matched = new Set<LogFilePosition>();
    let budget = MAX_CHUNK;
    let blocked = false;
    for (const f of opened) {
      const was = known.find((k) => !matched.has(k) && sameFile(f, k));
      if (was !== undefined) matched.add(was);
      const start = was?.offset ?? 0;
      // Older lines first: the newer file waits while the older one is still being caught up on.
      const length = blocked ? 0 : Math.min(f.size - start, budget);
      const buffer = readAt(f.fd, start, length);
      const end = buffer.lastIndexOf(0x0a) + 1;
      lines.push(...splitLines(buffer.subarray(0, end)));
      budget -= end;
      if (start + length < f.size) blocked = true;
      const offset = start + end;
      next.push({ ino: f.ino, offset, size: f.size, head: headOf(f.fd, offset), live: f.live });
    }

    for (const k of known) {
      if (matched.has(k)) continue;
      // A `.1` read to its end was simply replaced by the next rotation.
      if (!k.live && k.offset >= k.size) continue;
      gaps.push({
        file,
        reason: k.live
          ? `${file} was rotated away twice (or deleted or truncated) between two reads: lines written to it after byte ${k.offset} were never read`
          : `${file}.1 was replaced by the next rotation before its last ${k.size - k.offset} bytes were read`,
        bytes: k.size - k.offset,
        more: k.live,
      });
    }
    return { lines, position: { version: 1, files: next }, gaps };
  } finally {
    for (const f of opened) closeSync(f.fd);
  }
}

/** A bare offset was the live file's; `.1` was either read before or cannot be told apart: taken as read. */
function legacyPositions(opened: OpenedFile[], offset: number): LogFilePosition[] {
  return opened.map((f) => {
    const taken = f.live ? (offset <= f.size && isLineStart(f.fd, offset) ? offset : 0) : f.size;
    return { ino: f.ino, offset: taken, size: f.size, head: headOf(f.fd, taken), live: f.live };
  });
}

function isLineStart(fd: number, offset: number): boolean {
  return offset === 0 || readAt(fd, offset - 1, 1)[0] === 0x0a;
}

/** Logs only grow: a smaller file under a known inode was truncated or is a new file, read from its start. */
function sameFile(f: OpenedFile, k: LogFilePosition): boolean {
  return k.ino === f.ino && f.size >= k.size && (k.offset === 0 || headOf(f.fd, k.offset) === k.head);
}

function headOf(fd: number, offset: number): string {
  const bytes = readAt(fd, 0, Math.min(offset, HEAD_BYTES));
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

function openOrUndefined(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function readAt(fd: number, start: number, length: number): Buffer {
  const buffer = Buffer.alloc(Math.max(0, length));
  let read = 0;
  while (read < buffer.length) {
    const n = readSync(fd, buffer, read, buffer.length - read, start + read);
    if (n === 0) break;
    read += n;
  }
  return buffer.subarray(0, read);
}

function splitLines(buffer: Buffer): string[] {
  return buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '');
}
