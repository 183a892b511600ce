/**
 * Attachments of project requests. A file is accepted only when its first bytes say it is one of a
 * short list of types (PDF, PNG, JPEG, ZIP, plain text, Markdown) and its name's extension agrees:
 * nothing a browser would run (HTML, SVG, scripts) gets in under any name. Files are stored once by
 * their SHA-256 under `<dataDir>/shop/attachments/`, never under a name the client chose, and are
 * only ever served as downloads (`Content-Disposition: attachment`, `nosniff`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';

export interface AttachmentType { kind: 'pdf' | 'png' | 'jpeg' | 'zip' | 'text' | 'markdown'; contentType: string; extensions: string[] }

export const ATTACHMENT_TYPES: AttachmentType[] = [
  { kind: 'pdf', contentType: 'application/pdf', extensions: ['pdf'] },
  { kind: 'png', contentType: 'image/png', extensions: ['png'] },
  { kind: 'jpeg', contentType: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  { kind: 'zip', contentType: 'application/zip', extensions: ['zip'] },
  { kind: 'text', contentType: 'text/plain; charset=utf-8', extensions: ['txt'] },
  { kind: 'markdown', contentType: 'text/markdown; charset=utf-8', extensions: ['md', 'markdown'] },
];

const startsWith = (data: Buffer, bytes: number[]) => data.length >= bytes.length && bytes.every((b, i) => data[i] === b);

/** Text we accept: valid UTF-8, no NUL or other control characters than tab, newlines and form feed. */
function isPlainText(data: Buffer): boolean {
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(data); } catch { return false; }
  return !/[\x00-\x08\x0b\x0e-\x1f\x7f]/.test(text);
}

/** A file name safe to store and to show: the last path part, no control characters, at most 120 characters. */
export function cleanFilename(raw: string): string {
  const base = raw.replace(/\\/g, '/').split('/').pop() ?? '';
  const clean = base.normalize('NFC').replace(/[\x00-\x1f\x7f"]/g, '').trim().slice(-120);
  if (clean === '' || clean === '.' || clean === '..') throw new OutpostError('INPUT_INVALID', 'The file needs a name, such as brief.pdf.', { details: { field: 'filename' } });
  return clean;
}

/** What the bytes are, checked against the name's extension; throws SHOP_ATTACHMENT_TYPE otherwise. */
export function detectAttachmentType(data: Buffer, filename: string): AttachmentType {
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
  const byBytes: AttachmentType['kind'] | undefined =
    startsWith(data, [0x25, 0x50, 0x44, 0x46, 0x2d]) ? 'pdf'
    : startsWith(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) ? 'png'
    : startsWith(data, [0xff, 0xd8, 0xff]) ? 'jpeg'
    : startsWith(data, [0x50, 0x4b, 0x03, 0x04]) || startsWith(data, [0x50, 0x4b, 0x05, 0x06]) ? 'zip'
    : data.length > 0 && isPlainText(data) ? (ext === 'md' || ext === 'markdown' ? 'markdown' : 'text')
    : undefined;
  const allowed = ATTACHMENT_TYPES.map((t) => `.${t.extensions.join('/.')}`).join(', ');
  const type = ATTACHMENT_TYPES.find((t) => t.kind === byBytes);
  if (!type) throw new OutpostError('SHOP_ATTACHMENT_TYPE', `"${filename}" is not a file type the shop accepts (${allowed}).`, { details: { filename } });
  if (!type.extensions.includes(ext)) {
    throw new OutpostError('SHOP_ATTACHMENT_TYPE', `"${filename}" holds ${type.kind === 'text' ? 'plain text' : `a ${type.kind.toUpperCase()} file`}, but its name ends in ".${ext}"; name it .${type.extensions[0]}.`, { details: { filename, detected: type.kind } });
  }
  return type;
}

export interface AttachmentStore {
  /** Stores the bytes under their SHA-256 (once) and returns it. */
  put(data: Buffer): Promise<{ sha256: string; size: number }>;
  read(sha256: string): Promise<Buffer>;
}

export function createAttachmentStore(dir: string): AttachmentStore {
  const fileOf = (sha256: string) => {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new OutpostError('SHOP_ATTACHMENT_NOT_FOUND', 'There is no such attachment.');
    return path.join(dir, sha256);
  };
  return {
    async put(data) {
      const sha256 = createHash('sha256').update(data).digest('hex');
      const file = fileOf(sha256);
      const exists = await stat(file).then((s) => s.size === data.length, () => false);
      if (!exists) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await writeFileAtomic(file, data, 0o600);
      }
      return { sha256, size: data.length };
    },
    async read(sha256) {
      return readFile(fileOf(sha256)).catch(() => { throw new OutpostError('SHOP_ATTACHMENT_NOT_FOUND', 'The attachment file is missing from the server.'); });
    },
  };
}
