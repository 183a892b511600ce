import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from './log.ts';

describe('createLogger with a file', () => {
  let dir = '';
  beforeEach(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-log-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('rotates past maxBytes, keeps `keep` old files, and loses or splits no line in between', async () => {
    const file = path.join(dir, 'outpost.log');
    const log = createLogger({ level: 'info', file: { path: file, maxBytes: 4096, keep: 2, checkEveryMs: 5 } });
    let written = 0;
    for (let round = 0; round < 6; round += 1) {
      for (let i = 0; i < 40; i += 1) log.info({ n: written++, pad: 'x'.repeat(40) }, 'line');
      await sleep(30);
    }
    await sleep(30);
    const names = (await readdir(dir)).sort();
    expect(names).to.deep.equal(['outpost.log', 'outpost.log.1', 'outpost.log.2']);
    // Every kept line is whole JSON, and the kept ones are the newest, in order, with no gap.
    const numbers: number[] = [];
    for (const name of ['outpost.log.2', 'outpost.log.1', 'outpost.log']) {
      for (const line of (await readFile(path.join(dir, name), 'utf8')).split('\n').filter(Boolean)) numbers.push((JSON.parse(line) as { n: number }).n);
    }
    expect(numbers.at(-1)).to.equal(written - 1);
    numbers.forEach((n, i) => { if (i > 0) expect(n).to.equal(numbers[i - 1]! + 1); });
    expect(numbers.length).to.be.below(written);
    // Rotated files stay near the cap: one check interval's lines over it at most.
    expect((await stat(path.join(dir, 'outpost.log.1'))).size).to.be.below(4096 + 40 * 200);
  });

  it('appends to an existing file', async () => {
    const file = path.join(dir, 'sub', 'outpost.log');
    createLogger({ level: 'info', file: { path: file, maxBytes: 1 << 20, keep: 1 } }).info('first');
    createLogger({ level: 'info', file: { path: file, maxBytes: 1 << 20, keep: 1 } }).info('second');
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(lines).to.deep.equal(['first', 'second']);
  });
});
