/**
 * A streaming check of git's pkt-line framing: four hex digits of length (0000 flush, 0001 delim,
 * 0002 response-end, 4..65520 data including the header) and then that many bytes. Requests are
 * checked before git sees them, so a malformed body gets a clear 400 instead of a git process
 * dying half-way, and the check can stop where a push's raw pack data begins (the first flush).
 */
import { Transform, type TransformCallback } from 'node:stream';

export const MAX_PKT_LEN = 65520;

export class PktLineError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

export interface PktLineCheckOptions {
  /** Stop checking after the first flush-pkt (a push: commands, then raw pack data). */
  untilFirstFlush: boolean;
  /** Fail once more than this many bytes have passed. */
  maxBytes: number;
}

export class PktLineCheck extends Transform {
  private offset = 0;
  private header = '';
  private remaining = 0;
  private done = false;

  constructor(private readonly options: PktLineCheckOptions) {
    super();
  }

  get bytes(): number {
    return this.offset;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const start = this.offset;
    this.offset += chunk.length;
    if (this.offset > this.options.maxBytes) {
      callback(new PktLineError(`the request is larger than the ${this.options.maxBytes}-byte limit`, this.offset));
      return;
    }
    if (!this.done) {
      try {
        this.scan(chunk, start);
      } catch (error) {
        callback(error as Error);
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.done && (this.header.length > 0 || this.remaining > 0)) {
      callback(new PktLineError('the request ends in the middle of a pkt-line', this.offset));
      return;
    }
    callback();
  }

  private scan(chunk: Buffer, start: number): void {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header += String.fromCharCode(chunk[i]!);
      i++;
      if (this.header.length < 4) continue;
      const at = start + i - 4;
      if (!/^[0-9a-fA-F]{4}$/.test(this.header)) {
        throw new PktLineError(`bad pkt-line length ${JSON.stringify(this.header)} at byte ${at}`, at);
      }
      const length = parseInt(this.header, 16);
      this.header = '';
      if (length === 0) {
        if (this.options.untilFirstFlush) this.done = true;
      } else if (length === 3 || length > MAX_PKT_LEN) {
        throw new PktLineError(`pkt-line length ${length} at byte ${at} is out of range (4..${MAX_PKT_LEN})`, at);
      } else if (length >= 4) {
        this.remaining = length - 4;
      }
    }
  }
}
