/** The pieces of the IDE's server side that need no engine: the output ring, text detection, the Run command. */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createWorkspaceFiles, freeBytesAt } from '../sandbox/files.ts';
import { ByteRing } from './hub.ts';
import { asText, runCommand } from './routes.ts';
import { expectCode } from '../test/expect.ts';

describe('ide: output ring', () => {
  it('keeps the last `capacity` bytes in order, across wrap-around and oversized chunks', () => {
    const ring = new ByteRing(8);
    ring.push(Buffer.from('abc'));
    expect(ring.contents().toString()).to.equal('abc');
    ring.push(Buffer.from('defgh'));
    expect(ring.contents().toString()).to.equal('abcdefgh');
    ring.push(Buffer.from('ij'));
    expect(ring.contents().toString()).to.equal('cdefghij');
    ring.push(Buffer.from('klmnopqrstuvwxyz'));
    expect(ring.contents().toString()).to.equal('stuvwxyz');
    ring.push(Buffer.from('1'));
    expect(ring.contents().toString()).to.equal('tuvwxyz1');
    expect(ring.length).to.equal(8);
  });

  it('matches a naive model under random pushes', () => {
    for (let trial = 0; trial < 200; trial++) {
      const capacity = 1 + Math.floor(Math.random() * 50);
      const ring = new ByteRing(capacity);
      let model = Buffer.alloc(0);
      for (let i = 0; i < 30; i++) {
        const chunk = Buffer.from(Array.from({ length: Math.floor(Math.random() * 70) }, () => 97 + Math.floor(Math.random() * 26)));
        ring.push(chunk);
        model = Buffer.concat([model, chunk]).subarray(-capacity);
        expect(ring.contents().equals(model)).to.equal(true);
      }
    }
  });
});

describe('ide: text or binary', () => {
  it('opens UTF-8 text and refuses bytes that are not', () => {
    expect(asText(Buffer.from('héllo ✓\n'))).to.equal('héllo ✓\n');
    expect(asText(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).to.equal(null);
    expect(asText(Buffer.from('a\0b'))).to.equal(null);
    expect(asText(Buffer.alloc(0))).to.equal('');
  });
});

describe('ide: the Run command', () => {
  let root: string;
  before(async () => { root = await mkdtemp(path.join(os.tmpdir(), 'outpost-ide-run-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });
  const files = () => createWorkspaceFiles({ root, uid: process.getuid?.() ?? 0, limits: { maxFileBytes: 1 << 20, maxListEntries: 100 }, freeBytes: () => freeBytesAt(root) });

  it('runs the open file by its type, quoting its name for the shell', async () => {
    expect(await runCommand(files(), 'app.js', undefined)).to.equal("node 'app.js'");
    expect(await runCommand(files(), 'src/main.ts', undefined)).to.equal("node 'src/main.ts'");
    expect(await runCommand(files(), "it's here.py", undefined)).to.equal(`python3 'it'\\''s here.py'`);
    expect(await runCommand(files(), 'x.sh', undefined)).to.equal("bash 'x.sh'");
  });

  it('prefers the exercise, then outpost.json, then the file, then npm start', async () => {
    const f = files();
    await expectCode(runCommand(f, 'notes.txt', undefined), 'INPUT_INVALID');
    await f.write('package.json', '{"scripts": {"start": "node server.js"}}');
    expect(await runCommand(f, 'notes.txt', undefined)).to.equal('npm start');
    expect(await runCommand(f, 'app.js', undefined)).to.equal("node 'app.js'");
    await f.write('outpost.json', '{"run": "npm test"}');
    expect(await runCommand(f, 'app.js', undefined)).to.equal('npm test');
    expect(await runCommand(f, 'app.js', 'mocha exercise.test.js')).to.equal('mocha exercise.test.js');
    await f.write('outpost.json', '{"run": ');
    await expectCode(runCommand(f, 'app.js', undefined), 'INPUT_INVALID');
  });
});
