import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from './store.ts';
import { createAuditLog, type AuditLog } from './audit.ts';

describe('audit log', () => {
  let store: Store;
  let audit: AuditLog;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-audit-'));
    store = openStore(path.join(dir, 'outpost.db'));
    audit = createAuditLog({ store, anchorFile: path.join(dir, 'audit.anchor') });
    for (let i = 1; i <= 5; i++) audit.record({ actor: 'alice', action: 'user.create', target: `u${i}`, details: { n: i, nested: { b: 1, a: 2 } }, ip: '10.0.0.1' });
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('chains entries and verifies an untouched log', () => {
    const { entries, total } = audit.query();
    expect(total).to.equal(5);
    expect(entries[0]!.prevHash).to.equal(entries[1]!.hash);
    expect(audit.verify()).to.deep.equal({ ok: true, entries: 5, problems: [] });
  });

  it('refuses UPDATE and DELETE through SQL', () => {
    expect(() => store.db.prepare("update audit_log set target = 'x' where id = 2").run()).to.throw(/append-only/);
    expect(() => store.db.prepare('delete from audit_log where id = 2').run()).to.throw(/append-only/);
  });

  it('names a row edited directly in SQLite', () => {
    store.db.exec('drop trigger audit_log_no_update');
    store.db.prepare("update audit_log set target = 'mallory' where id = 3").run();
    const result = audit.verify();
    expect(result.ok).to.equal(false);
    expect(result.problems[0]).to.deep.include({ id: 3 });
    expect(result.problems[0]!.problem).to.match(/changed/);
  });

  it('finds a deleted row in the middle and deleted newest rows', () => {
    store.db.exec('drop trigger audit_log_no_delete');
    store.db.prepare('delete from audit_log where id = 2').run();
    expect(audit.verify().problems.map((p) => p.id)).to.include(3);
    store.db.prepare('delete from audit_log where id >= 4').run();
    const tail = audit.verify();
    expect(tail.problems.some((p) => /newest entries \(4–5\) are missing/.test(p.problem))).to.equal(true);
  });

  it('filters by person, action prefix and time', () => {
    audit.record({ actor: 'bob', action: 'auth.login', target: 'bob' });
    expect(audit.query({ person: 'bob' }).total).to.equal(1);
    expect(audit.query({ person: 'u2' }).total).to.equal(1);
    expect(audit.query({ action: 'auth' }).total).to.equal(1);
    expect(audit.query({ action: 'user.create' }).total).to.equal(5);
    expect(audit.query({ from: '2999-01-01' }).total).to.equal(0);
  });
});
