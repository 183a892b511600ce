import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

  it('takes appends from two processes at once (a CLI command beside the server) without losing one', async function () {
    this.timeout(60_000);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const writer = path.join(dir, 'writer.ts');
    await writeFile(writer, `import { openStore } from ${JSON.stringify(path.join(here, 'store.ts'))};
import { createAuditLog } from ${JSON.stringify(path.join(here, 'audit.ts'))};
const store = openStore(${JSON.stringify(path.join(dir, 'outpost.db'))});
const audit = createAuditLog({ store, anchorFile: ${JSON.stringify(path.join(dir, 'audit.anchor'))} });
let failed = 0;
for (let i = 0; i < 300; i++) { try { audit.record({ actor: process.argv[2], action: 'test.append', target: String(i) }); } catch (e) { failed++; console.error(String(e)); } }
store.close();
process.exit(failed === 0 ? 0 : 1);
`);
    const runWriter = (name: string) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', writer, name], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    store.close();
    const results = await Promise.all([runWriter('server'), runWriter('cli')]);
    store = openStore(path.join(dir, 'outpost.db'));
    audit = createAuditLog({ store, anchorFile: path.join(dir, 'audit.anchor') });
    for (const r of results) expect(r.code, r.stderr.split('\n').slice(0, 3).join('\n')).to.equal(0);
    expect(audit.query({ action: 'test.append' }).total).to.equal(600);
    expect(audit.verify().ok).to.equal(true);
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
