/**
 * Reading a rotated JSON-lines log: every line exactly once across rotations, never a torn line,
 * and a gap reported (not lost silently) when a file went away before it was read.
 */
import { expect } from 'chai';
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRotatedLogPosition, readRotatedLines, type RotatedLogPosition } from './jsonl.ts';

describe('readRotatedLines', () => {
  let dir = '';
  let file = '';
  let n = 0;
  /** Appends `count` numbered lines, as a writer would. */
  const write = (count: number, to = file) => {
    for (let i = 0; i < count; i++) appendFileSync(to, `${JSON.stringify({ n: n++, pad: 'x'.repeat(40) })}\n`);
  };
  const rotate = () => renameSync(file, `${file}.1`);
  const numbers = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { n: number }).n);
  const upTo = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'outpost-jsonl-'));
    file = path.join(dir, 'gateway.jsonl');
    n = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the rest of the rotated file, then the new one from its start, each line once', () => {
    write(20);
    let r = readRotatedLines(file, undefined);
    expect(numbers(r.lines)).to.deep.equal(upTo(0, 20));
    write(1); // the request the flood is meant to hide
    write(10);
    rotate();
    // The new file grows past the old offset before the next read: no torn line may come of it.
    write(60);
    expect(statSync(file).size).to.be.greaterThan(r.position.files[0]!.offset);
    r = readRotatedLines(file, r.position);
    expect(r.gaps).to.deep.equal([]);
    expect(numbers(r.lines)).to.deep.equal(upTo(20, 91));
    write(5);
    r = readRotatedLines(file, r.position);
    expect(numbers(r.lines)).to.deep.equal(upTo(91, 96));
    expect(readRotatedLines(file, r.position).lines).to.deep.equal([]);
  });

  it('takes late lines a writer appends to the rotated file before it reopens, and a line finished later', () => {
    write(3);
    let r = readRotatedLines(file, undefined);
    rotate();
    write(2);
    write(1, `${file}.1`); // a worker still holding the old descriptor
    appendFileSync(`${file}.1`, '{"n":999,'); // and in the middle of its next line
    r = readRotatedLines(file, r.position);
    expect(numbers(r.lines)).to.deep.equal([5, 3, 4]);
    appendFileSync(`${file}.1`, '"late":true}\n');
    r = readRotatedLines(file, r.position);
    expect(numbers(r.lines)).to.deep.equal([999]);
    expect(r.gaps).to.deep.equal([]);
  });

  it('reports a gap, and still reads everything left, when the log rotated twice between reads', () => {
    write(10);
    let r = readRotatedLines(file, undefined);
    write(4); // lost: its file is overwritten by the second rotation
    rotate();
    write(6);
    rotate();
    write(3);
    r = readRotatedLines(file, r.position);
    expect(numbers(r.lines)).to.deep.equal(upTo(14, 23));
    expect(r.gaps).to.have.length(1);
    expect(r.gaps[0]).to.include({ file, more: true });
    expect(r.gaps[0]!.reason).to.match(/rotated away twice .* after byte \d+ were never read/);
    // Reported once, not at every read.
    expect(readRotatedLines(file, r.position).gaps).to.deep.equal([]);
  });

  it('does not take a new file for the old one when the file system reuses its inode', () => {
    write(30);
    const r = readRotatedLines(file, undefined);
    unlinkSync(file);
    writeFileSync(file, '');
    write(40);
    // Whatever inode the new file got, pretend it is the old one's.
    const forged: RotatedLogPosition = { version: 1, files: r.position.files.map((f) => ({ ...f, ino: String(statSync(file).ino) })) };
    const next = readRotatedLines(file, forged);
    expect(numbers(next.lines)).to.deep.equal(upTo(30, 70));
    expect(next.gaps).to.have.length(1);
  });

  it('carries on from an offset saved before positions existed, skipping the rotated file', () => {
    write(5);
    rotate();
    write(8);
    const offset = statSync(file).size;
    write(2);
    const r = readRotatedLines(file, undefined, offset);
    expect(numbers(r.lines)).to.deep.equal([13, 14]);
    // An offset that is not at a line start (the old reader's torn read) starts over rather than tear.
    expect(numbers(readRotatedLines(file, undefined, offset - 3).lines)).to.deep.equal(upTo(5, 15));
  });

  it('keeps the position as JSON and ignores one it cannot read', () => {
    write(2);
    const r = readRotatedLines(file, undefined);
    expect(parseRotatedLogPosition(JSON.stringify(r.position))).to.deep.equal(r.position);
    expect(parseRotatedLogPosition('{"version":7}')).to.equal(undefined);
    expect(parseRotatedLogPosition('not json')).to.equal(undefined);
    expect(parseRotatedLogPosition(null)).to.equal(undefined);
  });
});
