import { expect } from 'chai';
import { startTestSystem, type TestSystem } from '../test/support.ts';
import { ensureInitialAdmin } from '../core/bootstrap.ts';
import { verifyPassword } from '../core/passwords.ts';
import net from 'node:net';
import { serve, VERSION } from './system.ts';
import { isOutpostError } from '../core/errors.ts';

describe('system start-up', function () {
  let t: TestSystem;
  before(async () => { t = await startTestSystem(); });
  after(async () => { await t?.cleanup(); });

  it('creates the first admin once, with a hashed password that must be changed', async () => {
    const admin = await ensureInitialAdmin(t.system.accounts);
    expect(admin?.name).to.equal('admin');
    const row = t.system.store.db.prepare("select password_hash, must_change_password from users where name = 'admin'").get() as { password_hash: string; must_change_password: number };
    expect(row.password_hash).to.not.include(admin!.password);
    expect(await verifyPassword(admin!.password, row.password_hash)).to.equal(true);
    expect(row.must_change_password).to.equal(1);
    expect(await ensureInitialAdmin(t.system.accounts)).to.equal(undefined);
  });

  it('prewarms a container for every active student and reconciles strays', async () => {
    const insert = t.system.store.db.prepare("insert into users (name, role, password_hash, disabled, created_at) values (?, 'student', 'x', ?, datetime('now'))");
    insert.run('stu1', 0);
    insert.run('gone', 1);
    const result = await t.system.start();
    expect(result.prewarmed).to.equal(1);
    const info = await t.system.docker.getContainer(t.system.sandbox.workspaces.containerName('stu1')).inspect();
    expect(info.State.Status).to.equal('created');
    const disabled = await t.system.docker.getContainer(t.system.sandbox.workspaces.containerName('gone')).inspect().then(() => true, () => false);
    expect(disabled).to.equal(false);
  });

  it('records which Outpost runs on this data, and audits the first start and every version change', async () => {
    const recorded = JSON.parse((t.system.store.db.prepare("select value from meta where key = 'version'").get() as { value: string }).value) as { current: string; history: { version: string }[] };
    expect(recorded.current).to.equal(VERSION);
    expect(t.system.audit.query({ action: 'system.first-start' }).entries).to.have.length(1);
  });
});

describe('serve', function () {
  it('refuses a port already in use with PORT_IN_USE, instead of running without listening', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const t = await startTestSystem({ http: { host: '127.0.0.1', port } });
    try {
      const outcome = await serve(t.system).then((server) => { server.close(); return 'listening'; }, (e: unknown) => e);
      expect(isOutpostError(outcome, 'PORT_IN_USE'), String(outcome)).to.equal(true);
      expect((outcome as Error).message).to.include(String(port));
    } finally {
      blocker.close();
      await t.cleanup();
    }
  });
});
