import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestSystem, addStudents, text, type TestSystem } from '../test/support.ts';
import { checkHardening } from './hardening.ts';
import { createWorkspaces } from './workspaces.ts';
import { createDiskManager } from './disk.ts';
import { connectDocker } from './engine.ts';
import { silentLogger } from '../core/log.ts';
import { isOutpostError } from '../core/errors.ts';

describe('workspaces (real engine)', function () {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem();
    await addStudents(t.system, ['alice', 'carol', 'dave', 'erin', 'frank']);
  });
  after(async () => { await t?.cleanup(); });

  const ws = () => t.system.sandbox.workspaces;

  it('creates a workspace on first use and runs a command, stdout and stderr kept apart', async () => {
    const r = await ws().exec('alice', { argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    expect(text(r.stdout)).to.equal('out\n');
    expect(text(r.stderr)).to.equal('err\n');
    expect(r.exitCode).to.equal(3);
    expect(r.timedOut).to.equal(false);
    expect(r.durationMs).to.be.a('number');
  });

  it('passes stdin, cwd and env', async () => {
    const r = await ws().exec('alice', { argv: ['sh', '-c', 'pwd; echo "$GREETING"; cat'], cwd: '/tmp', env: { GREETING: 'hello' }, stdin: 'from stdin' });
    expect(text(r.stdout)).to.equal('/tmp\nhello\nfrom stdin');
  });

  it('runs as the non-root student with a read-only root and the hardened container spec', async () => {
    const r = await ws().exec('alice', { argv: ['sh', '-c', 'id -u; echo $HOME; touch /etc/x 2>&1; grep CapEff /proc/self/status'] });
    const [uid, home, touch, caps] = text(r.stdout).trim().split('\n');
    expect(uid).to.equal('1000');
    expect(home).to.equal('/home/student');
    expect(touch).to.match(/Read-only file system|Permission denied/);
    expect(caps).to.match(/CapEff:\s+0000000000000000/);
    const info = await t.system.docker.getContainer(ws().containerName('alice')).inspect();
    const report = checkHardening(info, { uid: 1000, limits: t.config.sandbox.workspace });
    expect(report.problems).to.deep.equal([]);
    expect(info.Config.Labels).to.include({ 'outpost.kind': 'workspace', 'outpost.owner': 'alice', 'outpost.instance': t.config.instance });
  });

  it('times out with 124 and kills the whole process tree, not the workspace', async () => {
    const r = await ws().exec('alice', { argv: ['sh', '-c', '(setsid sh -c "sleep 300" &) ; sleep 300'], timeoutSeconds: 1 });
    expect(r.exitCode).to.equal(124);
    expect(r.timedOut).to.equal(true);
    const ps = await ws().exec('alice', { argv: ['sh', '-c', 'ps -eo comm | grep -c "^sleep" || true'] });
    expect(text(ps.stdout).trim()).to.equal('0');
  });

  it('caps output and says so', async () => {
    const r = await ws().exec('alice', { argv: ['sh', '-c', 'head -c 3000000 /dev/zero'], outputCapBytes: 100_000 });
    expect(r.stdout.length).to.equal(100_000);
    expect(r.truncated.stdout).to.equal(true);
    expect(r.stdoutBytes).to.equal(3_000_000);
  });

  it('streams output as it comes, with a TTY that can be resized', async () => {
    const session = await ws().stream('alice', { argv: ['sh', '-c', 'stty size; read x; stty size'], tty: { cols: 100, rows: 30 } });
    let out = '';
    session.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    while (!out.includes('30 100')) await new Promise((r) => setTimeout(r, 20));
    session.resize(120, 40);
    session.write('\n');
    const exit = await session.exit;
    expect(exit.exitCode).to.equal(0);
    expect(out).to.include('40 120');
  });

  it('keeps files across container removal and recreation', async () => {
    await ws().exec('alice', { argv: ['sh', '-c', 'echo keep > /workspace/keep.txt; mkdir -p ~/.config; echo h > ~/.config/h'] });
    await ws().remove('alice');
    const r = await ws().exec('alice', { argv: ['sh', '-c', 'cat /workspace/keep.txt ~/.config/h'] });
    expect(text(r.stdout)).to.equal('keep\nh\n');
  });

  it('pauses and stops idle workspaces, and opens them again on demand', async () => {
    await ws().exec('carol', { argv: ['true'] });
    const soon = Date.now() + t.config.sandbox.workspace.idlePauseSeconds * 1000 + 1000;
    const paused = await ws().sweepIdle(soon);
    expect(paused.paused).to.include('carol');
    expect((await t.system.docker.getContainer(ws().containerName('carol')).inspect()).State.Paused).to.equal(true);
    expect(text((await ws().exec('carol', { argv: ['echo', 'back'] })).stdout)).to.equal('back\n');
    const later = Date.now() + t.config.sandbox.workspace.idleStopSeconds * 1000 + 1000;
    const stopped = await ws().sweepIdle(later);
    expect(stopped.stopped).to.include('carol');
    expect((await t.system.docker.getContainer(ws().containerName('carol')).inspect()).State.Running).to.equal(false);
    expect(text((await ws().exec('carol', { argv: ['echo', 'again'] })).stdout)).to.equal('again\n');
  });

  it('recovers when the student kills the agent', async () => {
    await ws().exec('dave', { argv: ['sh', '-c', 'kill -9 $PPID'] }).catch(() => undefined);
    const r = await ws().exec('dave', { argv: ['echo', 'alive'] });
    expect(text(r.stdout)).to.equal('alive\n');
  });

  it('prewarms containers so the first open is a start, not a create', async () => {
    await ws().prewarm(['erin']);
    const before = await t.system.docker.getContainer(ws().containerName('erin')).inspect();
    expect(before.State.Status).to.equal('created');
    await ws().exec('erin', { argv: ['true'] });
    const afterInfo = await t.system.docker.getContainer(ws().containerName('erin')).inspect();
    expect(afterInfo.Id).to.equal(before.Id);
  });

  it('reconciles on startup: adopts known workspaces, removes strays', async () => {
    await ws().exec('frank', { argv: ['true'] });
    // A labelled container the store does not know (as if left by a crash).
    const stray = await t.system.docker.createContainer({
      Image: t.system.sandbox.image, Cmd: ['true'], name: `outpost-${t.config.instance}-ws-ghost`,
      Labels: { 'outpost.managed': 'true', 'outpost.instance': t.config.instance, 'outpost.kind': 'workspace', 'outpost.owner': 'ghost' },
    });
    const fresh = createWorkspaces({
      docker: t.system.docker, store: t.system.store, config: t.config, log: silentLogger(), image: t.system.sandbox.image,
      disks: createDiskManager({ dataDir: t.config.dataDir, quotaMode: 'auto', diskMiB: 64, uid: 1000, log: silentLogger() }),
    });
    const result = await fresh.reconcile();
    expect(result.adopted).to.include('frank');
    expect(result.removed).to.include(`outpost-${t.config.instance}-ws-ghost`);
    const gone = await t.system.docker.getContainer(stray.id).inspect().then(() => false, () => true);
    expect(gone).to.equal(true);
    expect(text((await fresh.exec('frank', { argv: ['echo', 'adopted'] })).stdout)).to.equal('adopted\n');
  });

  it('rejects bad input with stable codes', async () => {
    for (const bad of ['Root', '../x', '', 'a'.repeat(40), 'x y']) {
      const error = await ws().exec(bad, { argv: ['true'] }).then(() => undefined, (e: unknown) => e);
      expect(isOutpostError(error, 'SANDBOX_INVALID_USER'), `owner ${bad}`).to.equal(true);
    }
    const noTimeout = await ws().exec('alice', { argv: ['true'], timeoutSeconds: -1 }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(noTimeout, 'SANDBOX_EXEC_INVALID')).to.equal(true);
    const noArgv = await ws().exec('alice', { argv: [] }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(noArgv, 'SANDBOX_EXEC_INVALID')).to.equal(true);
  });

  it('refuses a user with no student account', async () => {
    const error = await ws().exec('mallory', { argv: ['true'] }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(error, 'SANDBOX_UNKNOWN_USER')).to.equal(true);
    expect((error as Error).message).to.include('mallory');
  });

  it('refuses an unknown user when the accounts module says so', async () => {
    const strict = createWorkspaces({
      docker: t.system.docker, store: t.system.store, config: t.config, log: silentLogger(), image: t.system.sandbox.image,
      disks: t.system.sandbox.disks, ownerExists: (owner) => owner === 'alice',
    });
    const error = await strict.exec('mallory', { argv: ['true'] }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(error, 'SANDBOX_UNKNOWN_USER')).to.equal(true);
    expect((error as Error).message).to.include('mallory');
  });

  it('reports an engine that is down as ENGINE_UNAVAILABLE and writes nothing', async () => {
    const down = createWorkspaces({
      docker: connectDocker(path.join(t.root, 'no-engine.sock')), store: t.system.store, config: t.config, log: silentLogger(), image: t.system.sandbox.image,
      disks: t.system.sandbox.disks,
    });
    const error = await down.exec('zed', { argv: ['true'] }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(error, 'ENGINE_UNAVAILABLE'), String(error)).to.equal(true);
    expect((error as Error).message).to.match(/Docker engine/);
    const rows = (await down.list()).filter((w) => w.owner === 'zed');
    expect(rows).to.deep.equal([]);
  });

  it('stores workspace state in the store', async () => {
    const rows = await ws().list();
    expect(rows.map((r) => r.owner)).to.include('alice');
    const db = await readFile(t.system.store.file);
    expect(db.length).to.be.greaterThan(0);
  });
});
