import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeTestConfigFile, removeTestInstance, runOutpost } from '../test/support.ts';
import type { Config } from '../core/config.ts';

describe('./outpost CLI', function () {
  let config: Config;
  let root: string;
  let file: string;
  before(async () => {
    ({ config, root, file } = await makeTestConfigFile());
    const added = await runOutpost(file, ['user', 'add', 'alice', '--role', 'student']);
    expect(added.code, added.stderr).to.equal(0);
  });
  after(() => removeTestInstance(config, root));

  it('sandbox exec streams stdout and stderr and exits with the command status', async () => {
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 5']);
    expect(r.stdout).to.equal('hi\n');
    expect(r.stderr).to.equal('oops\n');
    expect(r.code).to.equal(5);
  });

  it('sandbox exec forwards stdin and keeps files between calls', async () => {
    const w = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'sh', '-c', 'cat > /workspace/in.txt'], 'typed input\n');
    expect(w.code).to.equal(0);
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--', 'cat', '/workspace/in.txt']);
    expect(r.stdout).to.equal('typed input\n');
  });

  it('sandbox exec --timeout exits 124 and says why', async () => {
    const r = await runOutpost(file, ['sandbox', 'exec', 'alice', '--timeout', '1', '--', 'sleep', '30']);
    expect(r.code).to.equal(124);
    expect(r.stderr).to.include('time limit');
  });

  it('gives clear errors for bad input', async () => {
    const badUser = await runOutpost(file, ['sandbox', 'exec', 'Not A User', '--', 'true']);
    expect(badUser.code).to.equal(1);
    expect(badUser.stderr).to.match(/not a valid user name.*\[SANDBOX_INVALID_USER\]/);
    const unknown = await runOutpost(file, ['sandbox', 'exec', 'nobody', '--', 'true']);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/There is no user "nobody".*\[SANDBOX_UNKNOWN_USER\]/);
    const usage = await runOutpost(file, ['sandbox', 'exec', 'alice']);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include('Usage');
    const unknownCommand = await runOutpost(file, ['frobnicate']);
    expect(unknownCommand.code).to.equal(2);
    expect(unknownCommand.stderr).to.include('unknown command');
    const badTimeout = await runOutpost(file, ['sandbox', 'exec', 'alice', '--timeout', 'soon', '--', 'true']);
    expect(badTimeout.stderr).to.include('[SANDBOX_EXEC_INVALID]');
  });

  it('doctor checks engine, images, data dir and store', async () => {
    const r = await runOutpost(file, ['doctor']);
    expect(r.stdout).to.match(/ok\s+Docker engine/);
    expect(r.stdout).to.match(/ok\s+image outpost\/workspace:latest is present/);
    expect(r.stdout).to.match(/ok\s+store .*journal wal/);
    expect(r.stdout).to.match(/ok\s+data dir/);
    expect(r.code, r.stdout).to.equal(0);
  });

  it('doctor reports version drift: data from another Outpost, and a store newer than this code', async () => {
    const dbFile = path.join(config.dataDir, 'outpost.db');
    const db = new Database(dbFile);
    try {
      db.prepare("insert into meta (key, value) values ('version', ?) on conflict(key) do update set value = excluded.value").run(JSON.stringify({ current: '0.0.9', history: [{ version: '0.0.9', since: '2026-01-01T00:00:00Z' }] }));
      const older = await runOutpost(file, ['doctor']);
      expect(older.stdout).to.match(/warn\s+the data was last run by Outpost 0\.0\.9; this is /);
      db.prepare("insert into schema_migrations (version, name, applied_at) values (9999, 'from the future', '2027-01-01')").run();
      const newer = await runOutpost(file, ['doctor']);
      expect(newer.code).to.equal(1);
      expect(newer.stdout).to.match(/FAIL\s+the store is at schema 9999, newer than this Outpost knows/);
    } finally {
      db.prepare('delete from schema_migrations where version = 9999').run();
      db.prepare("delete from meta where key = 'version'").run();
      db.close();
    }
  });

  it('doctor reports an engine that does not answer, with the fix', async () => {
    const broken = path.join(root, 'broken.json');
    await writeFile(broken, JSON.stringify({ ...config, docker: { ...config.docker, socketPath: path.join(root, 'none.sock') } }));
    const r = await runOutpost(broken, ['doctor']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/FAIL\s+no Docker engine answers/);
    expect(r.stdout).to.include('fix:');
  });
});
