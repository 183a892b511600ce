import { expect } from 'chai';
import { writeFile, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeTestConfigFile, runOutpost } from '../test/support.ts';
import type { Config } from '../core/config.ts';

describe('./outpost user, users, cohort and audit commands', function () {
  let config: Config;
  let root: string;
  let file: string;
  before(async () => {
    ({ config, root, file } = await makeTestConfigFile());
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('adds people, with a generated password or one from stdin', async () => {
    expect((await runOutpost(file, ['cohort', 'add', 'c1', '--title', 'Cohort one'])).code).to.equal(0);
    const gen = await runOutpost(file, ['user', 'add', 'ann', '--role', 'student', '--cohort', 'c1', '--display-name', 'Ann Lee']);
    expect(gen.code, gen.stderr).to.equal(0);
    expect(gen.stdout).to.match(/First password .*: [a-z2-9-]{23}/);
    const piped = await runOutpost(file, ['user', 'add', 'ines', '--role', 'instructor', '--cohort', 'c1', '--password-stdin'], 'a long enough passphrase\n');
    expect(piped.code, piped.stderr).to.equal(0);
    expect(piped.stdout).to.not.include('passphrase');
    const bad = await runOutpost(file, ['user', 'add', 'bob', '--role', 'wizard']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/"wizard" is not a role.*\[INPUT_INVALID\]/);
    const list = await runOutpost(file, ['users', 'list', '--cohort', 'c1']);
    expect(list.stdout.trim().split('\n').map((l) => l.split('\t')[0])).to.deep.equal(['ann', 'ines']);
  });

  it('disables, enables and resets passwords', async () => {
    const dis = await runOutpost(file, ['user', 'disable', 'ann']);
    expect(dis.stdout).to.include('ann is disabled');
    expect((await runOutpost(file, ['user', 'enable', 'ann'])).code).to.equal(0);
    const reset = await runOutpost(file, ['user', 'reset-password', 'ann']);
    expect(reset.stdout).to.match(/Temporary password .*: [a-z2-9-]{23}/);
    const missing = await runOutpost(file, ['user', 'disable', 'nobody']);
    expect(missing.stderr).to.include('[USER_NOT_FOUND]');
  });

  it('imports a roster idempotently and reports bad rows with their line numbers', async () => {
    const roster = path.join(root, 'roster.csv');
    const passwords = path.join(root, 'passwords.csv');
    await writeFile(roster, 'name,display_name,external_id,cohort\ncarl,Carl,P-10,c1\nBad!,x,,c1\ndora,Dora,P-11,c9\nerin,"Erin, the Second",P-12,c1\n');
    const first = await runOutpost(file, ['users', 'import', roster, '--passwords-out', passwords]);
    expect(first.code).to.equal(1);
    expect(first.stdout).to.include('created 2, updated 0, unchanged 0, rejected 2');
    expect(first.stdout).to.match(/line 3: REJECTED bad!/i);
    expect(first.stdout).to.match(/line 4: REJECTED dora: There is no cohort "c9"/);
    expect((await stat(passwords)).mode & 0o777).to.equal(0o600);
    expect((await readFile(passwords, 'utf8')).split('\n')[1]).to.match(/^carl,/);
    const second = await runOutpost(file, ['users', 'import', roster]);
    expect(second.stdout).to.include('created 0, updated 0, unchanged 2, rejected 2');
  });

  it('audit verify passes on an intact log and names a row edited in SQLite', async () => {
    const ok = await runOutpost(file, ['audit', 'verify']);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/intact: \d+ entries/);
    const db = new Database(path.join(config.dataDir, 'outpost.db'));
    db.exec('drop trigger audit_log_no_update');
    db.prepare("update audit_log set actor = 'nobody' where id = 4").run();
    db.close();
    const bad = await runOutpost(file, ['audit', 'verify']);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.match(/entry 4: its content does not match its hash/);
  });
});
