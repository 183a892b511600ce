import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestSystem, text, type TestSystem } from '../test/support.ts';
import { checkHardening } from './hardening.ts';

describe('one-shot grading containers (real engine)', function () {
  let t: TestSystem;
  before(async () => { t = await startTestSystem(); });
  after(async () => { await t?.cleanup(); });

  it('runs with inputs mounted read-only, the same hardening, and is removed afterwards', async () => {
    const submission = path.join(t.root, 'submission');
    await mkdir(submission);
    await writeFile(path.join(submission, 'answer.js'), 'console.log(6 * 7)');
    let seenId = '';
    const watcher = setInterval(async () => {
      const list = await t.system.docker.listContainers({ filters: { label: [`outpost.instance=${t.config.instance}`, 'outpost.kind=oneshot'] } });
      const c = list[0];
      if (c && !seenId) {
        seenId = c.Id;
        const info = await t.system.docker.getContainer(c.Id).inspect();
        const report = checkHardening(info, { uid: 1000, limits: t.config.sandbox.oneShot });
        expect(report.problems).to.deep.equal([]);
      }
    }, 50);
    const r = await t.system.sandbox.oneShot.run({
      owner: 'alice',
      argv: ['sh', '-c', 'sleep 0.5; node /submission/answer.js; echo x > /submission/answer.js 2>&1 || echo read-only; echo scratch > /workspace/s && cat /workspace/s'],
      mounts: [{ source: submission, target: '/submission' }],
      timeoutSeconds: 20,
    });
    clearInterval(watcher);
    expect(text(r.stdout)).to.equal('42\nread-only\nscratch\n');
    expect(seenId).to.equal(r.containerId);
    const left = await t.system.docker.listContainers({ all: true, filters: { label: [`outpost.instance=${t.config.instance}`, 'outpost.kind=oneshot'] } });
    expect(left).to.deep.equal([]);
  });

  it('times out with 124 and still removes the container', async () => {
    const r = await t.system.sandbox.oneShot.run({ owner: 'alice', argv: ['sleep', '100'], timeoutSeconds: 1 });
    expect(r.exitCode).to.equal(124);
    const left = await t.system.docker.listContainers({ all: true, filters: { label: [`outpost.instance=${t.config.instance}`] } });
    expect(left).to.deep.equal([]);
  });

  it('starts fresh every time: nothing is left from an earlier run', async () => {
    await t.system.sandbox.oneShot.run({ owner: 'alice', argv: ['sh', '-c', 'echo left > /workspace/x; echo left > /tmp/x'] });
    const r = await t.system.sandbox.oneShot.run({ owner: 'alice', argv: ['sh', '-c', 'cat /workspace/x /tmp/x 2>&1 | wc -l; ls /workspace | wc -l'] });
    expect(text(r.stdout)).to.equal('2\n0\n');
  });
});
