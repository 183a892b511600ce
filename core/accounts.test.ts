import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { openStore, type Store } from './store.ts';
import { createAuditLog, type AuditLog } from './audit.ts';
import { createAccounts, type Accounts } from './accounts.ts';
import { defaultConfig } from './config.ts';
import { expectCode } from '../test/expect.ts';


describe('accounts', () => {
  let store: Store;
  let audit: AuditLog;
  let accounts: Accounts;
  let clock = Date.parse('2026-11-22T10:00:00Z');
  const admin = { name: 'root-admin' };
  const csv = (t: string) => parse(t, { relax_column_count: true, bom: true }) as string[][];

  let dir = '';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-accounts-'));
    store = openStore(path.join(dir, 'outpost.db'));
    audit = createAuditLog({ store, anchorFile: path.join(dir, 'a.anchor') });
    accounts = createAccounts({ store, audit, config: { ...defaultConfig().auth, maxFailedLogins: 3, lockoutMinutes: 10 }, now: () => new Date(clock) });
    await accounts.createCohort('c1', 'Cohort one', admin);
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates accounts with generated or given passwords, never storing the password', async () => {
    const { user, password } = await accounts.create({ name: 'ann', role: 'student', displayName: 'Ann Lee', externalId: 'P-100', cohort: 'c1' }, admin);
    expect(user).to.deep.include({ name: 'ann', role: 'student', displayName: 'Ann Lee', externalId: 'P-100', mustChangePassword: true, cohorts: ['c1'] });
    expect(password).to.have.length.greaterThan(12);
    const row = store.db.prepare("select password_hash from users where name = 'ann'").get() as { password_hash: string };
    expect(row.password_hash).to.not.include(password);
    const dump = JSON.stringify(store.db.prepare('select * from audit_log').all());
    expect(dump).to.not.include(password);
    await expectCode(accounts.create({ name: 'ann', role: 'student' }, admin), 'USER_EXISTS');
    await expectCode(accounts.create({ name: 'bob', role: 'student', externalId: 'P-100' }, admin), 'USER_EXISTS');
    await expectCode(accounts.create({ name: 'Bad Name', role: 'student' }, admin), 'INPUT_INVALID');
    await expectCode(accounts.create({ name: 'cat', role: 'student', password: 'short' }, admin), 'AUTH_WEAK_PASSWORD');
    await expectCode(accounts.create({ name: 'dan', role: 'wizard' as never }, admin), 'INPUT_INVALID');
    await expectCode(accounts.create({ name: 'eve', role: 'student', cohort: 'nope' }, admin), 'COHORT_NOT_FOUND');
    await expectCode(accounts.create({ name: 'fay', role: 'student', displayName: 'x'.repeat(201) }, admin), 'INPUT_INVALID');
  });

  it('authenticates, locks out after repeated failures (audited), and unlocks after the lockout', async () => {
    await accounts.create({ name: 'ann', role: 'student', password: 'correct horse battery' }, admin);
    for (let i = 0; i < 3; i++) await expectCode(accounts.authenticate('ann', 'wrong password!', '10.1.1.1'), 'AUTH_INVALID_CREDENTIALS');
    await expectCode(accounts.authenticate('ann', 'correct horse battery', '10.1.1.1'), 'AUTH_LOCKED');
    expect(audit.query({ action: 'auth.lockout' }).total).to.equal(1);
    expect(audit.query({ action: 'auth.login-failed' }).total).to.equal(4);
    clock += 11 * 60_000;
    const user = await accounts.authenticate('ann', 'correct horse battery', '10.1.1.1');
    expect(user.name).to.equal('ann');
    expect(audit.query({ action: 'auth.login' }).total).to.equal(1);
    const unknown = await expectCode(accounts.authenticate('nobody', 'whatever whatever', '10.1.1.1'), 'AUTH_INVALID_CREDENTIALS');
    expect(unknown.message).to.equal('The user name or password is wrong.');
  });

  it('counts guesses sent in parallel one by one: a batch cannot slip past the lockout', async () => {
    await accounts.create({ name: 'ann', role: 'student', password: 'correct horse battery' }, admin);
    const codes = await Promise.all(Array.from({ length: 40 }, () => accounts.authenticate('ann', 'wrong password!', '10.1.1.1').then(() => 'ok', (e: { code?: string }) => e.code)));
    expect(codes.filter((c) => c === 'AUTH_INVALID_CREDENTIALS').length, codes.join(' ')).to.equal(3);
    expect(codes.filter((c) => c === 'AUTH_LOCKED').length).to.equal(37);
    // The right password too waits out the lockout; refusals during it do not count against later.
    await expectCode(accounts.authenticate('ann', 'correct horse battery', '10.1.1.1'), 'AUTH_LOCKED');
    clock += 11 * 60_000;
    expect((await accounts.authenticate('ann', 'correct horse battery', '10.1.1.1')).name).to.equal('ann');
  });

  it('resets force a change, disabling refuses login and revokes sessions, work is kept', async () => {
    await accounts.create({ name: 'ann', role: 'student', password: 'correct horse battery' }, admin);
    const revoked: string[] = [];
    accounts.onRevoke((n) => revoked.push(n));
    const temp = await accounts.resetPassword('ann', admin);
    expect(accounts.require('ann').mustChangePassword).to.equal(true);
    await accounts.changePassword('ann', temp, 'a brand new passphrase', { name: 'ann' });
    expect(accounts.require('ann').mustChangePassword).to.equal(false);
    accounts.setDisabled('ann', true, admin);
    await expectCode(accounts.authenticate('ann', 'a brand new passphrase', 'ip'), 'AUTH_INVALID_CREDENTIALS');
    expect(revoked).to.deep.equal(['ann', 'ann']);
    expect(accounts.get('ann')).to.not.equal(undefined);
    accounts.setDisabled('ann', false, admin);
    expect((await accounts.authenticate('ann', 'a brand new passphrase', 'ip')).name).to.equal('ann');
  });

  it('keeps the last admin an admin', async () => {
    await accounts.create({ name: 'boss', role: 'admin', password: 'correct horse battery' }, admin);
    await expectCode(() => accounts.setRole('boss', 'student', admin), 'INPUT_INVALID');
  });

  it('imports a roster idempotently with per-line errors, keeping good rows', async () => {
    const roster = [
      'name,role,display_name,external_id,cohort',
      'ann,student,Ann Lee,P-1,c1',
      'bob,,Bob <b>Bold</b>,P-2,c1',
      'Bad Name,student,x,P-3,c1',
      'cat,student,Cat,P-1,c1',
      'dan,student,Dan,P-4,nocohort',
      'eve,teacher,Eve,P-5,',
      'ann,student,dup,P-6,c1',
      '',
      'zoë,student,Zoë,P-7,c1',
      'ida,instructor,Ida Instructor,,c1',
    ].join('\n');
    const first = await accounts.importRoster(roster, admin, csv);
    expect(first.created.map((c) => [c.line, c.name])).to.deep.equal([[2, 'ann'], [3, 'bob'], [11, 'ida']]);
    expect(first.rejected.map((r) => r.line)).to.deep.equal([4, 5, 6, 7, 8, 10]);
    expect(first.rejected.find((r) => r.line === 5)!.reason).to.match(/person number "P-1"/);
    expect(first.rejected.find((r) => r.line === 6)!.reason).to.match(/no cohort "nocohort"/);
    expect(first.rejected.find((r) => r.line === 8)!.reason).to.match(/appears twice/);
    expect(accounts.require('bob').displayName).to.equal('Bob <b>Bold</b>');
    expect(accounts.cohort('c1')!.instructors).to.deep.equal(['ida']);
    const second = await accounts.importRoster(roster.replace('Ann Lee', 'Ann Lee-Smith'), admin, csv);
    expect(second.created).to.deep.equal([]);
    expect(second.updated).to.deep.equal([{ line: 2, name: 'ann', changes: ['display name'] }]);
    expect(second.unchanged.map((u) => u.name)).to.deep.equal(['bob', 'ida']);
    await expectCode(accounts.importRoster('role,cohort\nstudent,c1', admin, csv), 'ROSTER_INVALID');
    await expectCode(accounts.importRoster('name,colour\nann,red', admin, csv), 'ROSTER_INVALID');
  });
});
