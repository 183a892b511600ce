/**
 * The embedded store: SQLite through better-sqlite3 in WAL mode, with numbered migrations that run
 * forward, each in its own transaction, on open. A crash mid-migration leaves the previous version.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { OutpostError } from './errors.ts';
import { migrations, type Migration } from './migrations.ts';

export type Db = Database.Database;

export interface Store {
  readonly db: Db;
  readonly file: string;
  /** Highest migration applied. */
  version(): number;
  /** A quick consistency probe for /healthz. */
  health(): { ok: boolean; version: number; journalMode: string; error?: string };
  close(): void;
}

export function openStore(file: string, extra: readonly Migration[] = []): Store {
  mkdirSync(path.dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file);
  } catch (error) {
    throw new OutpostError('STORE_MIGRATION_FAILED', `Cannot open the store at ${file}: ${(error as Error).message}. Check that the data dir is writable.`, { cause: error });
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, [...migrations, ...extra]);

  return {
    db,
    file,
    version: () => currentVersion(db),
    health() {
      try {
        const journalMode = String(db.pragma('journal_mode', { simple: true }));
        db.prepare('select 1').get();
        return { ok: true, version: currentVersion(db), journalMode };
      } catch (error) {
        return { ok: false, version: -1, journalMode: 'unknown', error: (error as Error).message };
      }
    },
    close: () => db.close(),
  };
}

function currentVersion(db: Db): number {
  const row = db.prepare('select max(version) as v from schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

export function migrate(db: Db, list: readonly Migration[]): void {
  db.exec('create table if not exists schema_migrations (version integer primary key, name text not null, applied_at text not null)');
  const sorted = [...list].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.version === sorted[i - 1]!.version) {
      throw new OutpostError('STORE_MIGRATION_FAILED', `Two migrations have version ${sorted[i]!.version}; each needs its own number.`);
    }
  }
  const applied = currentVersion(db);
  const known = sorted.length === 0 ? 0 : sorted[sorted.length - 1]!.version;
  if (applied > known) {
    throw new OutpostError('STORE_MIGRATION_FAILED', `The store is at schema version ${applied} but this Outpost knows only up to ${known}. Run the newer Outpost, or restore a backup made by this version.`);
  }
  for (const migration of sorted) {
    if (migration.version <= applied) continue;
    const run = db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('insert into schema_migrations (version, name, applied_at) values (?, ?, ?)').run(migration.version, migration.name, new Date().toISOString());
    });
    try {
      run();
    } catch (error) {
      throw new OutpostError('STORE_MIGRATION_FAILED', `Migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}. The store is left at version ${currentVersion(db)}.`, { cause: error });
    }
  }
}
