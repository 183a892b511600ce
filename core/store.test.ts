import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openStore, migrate } from './store.ts';
import { migrations } from './migrations.ts';
import { isOutpostError } from './errors.ts';

describe('store', () => {
  const made: string[] = [];
  const file = async () => { const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-store-')); made.push(dir); return path.join(dir, 'outpost.db'); };
  after(async () => { for (const dir of made) await rm(dir, { recursive: true, force: true }); });

  it('opens in WAL mode with every migration applied, and reopens idempotently', async () => {
    const f = await file();
    const store = openStore(f);
    expect(store.health()).to.include({ ok: true, journalMode: 'wal' });
    expect(store.version()).to.equal(migrations[migrations.length - 1]!.version);
    store.close();
    const again = openStore(f);
    expect(again.version()).to.equal(migrations[migrations.length - 1]!.version);
    again.close();
  });

  it('leaves the previous version when a migration fails half-way', async () => {
    const db = new Database(await file());
    const broken = [...migrations, { version: 99, name: 'broken', sql: 'create table ok_so_far (x); this is not sql;' }];
    expect(() => migrate(db, broken)).to.throw(/Migration 99 \(broken\) failed/);
    const tables = db.prepare("select name from sqlite_master where name = 'ok_so_far'").all();
    expect(tables).to.deep.equal([]);
    const version = (db.prepare('select max(version) v from schema_migrations').get() as { v: number }).v;
    expect(version).to.equal(migrations[migrations.length - 1]!.version);
  });

  it('refuses a store from a newer Outpost, and duplicate migration numbers', async () => {
    const db = new Database(await file());
    migrate(db, [...migrations, { version: 50, name: 'future', sql: 'select 1' }]);
    try {
      migrate(db, migrations);
      expect.fail('should throw');
    } catch (error) {
      expect(isOutpostError(error, 'STORE_MIGRATION_FAILED')).to.equal(true);
      expect((error as Error).message).to.match(/schema version 50/);
    }
    expect(() => migrate(new Database(':memory:'), [...migrations, migrations[0]!])).to.throw(/Two migrations have version/);
  });
});
