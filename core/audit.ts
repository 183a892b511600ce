/**
 * The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and hash-chained, so a row
 * changed or deleted behind Outpost's back — with the sqlite3 shell, say — is found by `verify`.
 * Each entry's hash covers its own fields and the previous entry's hash. Deleting the newest rows
 * would leave a valid chain, so every append also writes the head (id and hash) to an anchor file
 * outside the database, which `verify` compares against.
 * What it does not stop: someone with root on the server who drops the triggers, rewrites the whole
 * chain from the changed row on and rewrites the anchor. The chain is not keyed (a key on the same
 * machine would not help against root). Against that, compare with a head kept elsewhere: the
 * anchor file every backup carries.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from './files.ts';
import type { Store } from './store.ts';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  ip: string;
  prevHash: string;
  hash: string;
}

export interface AuditRecord {
  /** Who did it: a user name, or `system`, or `anonymous` for failed logins. */
  actor: string;
  /** Dotted verb, e.g. `auth.login`, `user.create`, `files.staff-read`. */
  action: string;
  target?: string;
  details?: Record<string, unknown>;
  ip?: string;
}

export interface AuditQuery {
  person?: string;
  action?: string;
  from?: string;
  to?: string;
  limit?: number;
  offset?: number;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** The first entry whose content or link does not match, with what is wrong. */
  problems: { id: number; problem: string }[];
}

export interface AuditLog {
  record(entry: AuditRecord): AuditEntry;
  query(filter?: AuditQuery): { entries: AuditEntry[]; total: number };
  verify(): AuditVerifyResult;
}

const GENESIS = '0'.repeat(64);
const HEAD_SQL = 'select id, hash from audit_log order by id desc limit 1';

/** The anchor `verify` compares against: the head's id and hash. */
function writeAnchorFile(file: string, head: { id: number; hash: string }): void {
  writeFileAtomicSync(file, JSON.stringify({ id: head.id, hash: head.hash }) + '\n', 0o600);
}

/**
 * Writes the anchor for the log as it stands in `db` (a backup's snapshot, whose head is not the live
 * anchor's). An empty log gets none: verify accepts an empty log without one.
 */
export function writeAuditAnchorFor(db: { prepare(sql: string): { get(): unknown } }, file: string): void {
  const head = db.prepare(HEAD_SQL).get() as { id: number; hash: string } | undefined;
  if (head !== undefined) writeAnchorFile(file, head);
}

function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  // A fixed field order: the hash must not depend on how an object happened to be built.
  const canonical = JSON.stringify([e.id, e.at, e.actor, e.action, e.target, canonicalJson(e.details), e.ip, e.prevHash]);
  return createHash('sha256').update(canonical).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

interface Row { id: number; at: string; actor: string; action: string; target: string; details: string; ip: string; prev_hash: string; hash: string }

const toEntry = (r: Row): AuditEntry => ({ id: r.id, at: r.at, actor: r.actor, action: r.action, target: r.target, details: JSON.parse(r.details) as Record<string, unknown>, ip: r.ip, prevHash: r.prev_hash, hash: r.hash });

export function createAuditLog(deps: { store: Store; anchorFile: string; now?: () => Date }): AuditLog {
  const { db } = deps.store;
  const now = deps.now ?? (() => new Date());
  const head = db.prepare(HEAD_SQL);
  const insert = db.prepare('insert into audit_log (id, at, actor, action, target, details, ip, prev_hash, hash) values (@id, @at, @actor, @action, @target, @details, @ip, @prevHash, @hash)');

  const append = db.transaction((record: AuditRecord): AuditEntry => {
    const last = head.get() as { id: number; hash: string } | undefined;
    const base = {
      id: (last?.id ?? 0) + 1,
      at: now().toISOString(),
      actor: record.actor,
      action: record.action,
      target: record.target ?? '',
      details: record.details ?? {},
      ip: record.ip ?? '',
      prevHash: last?.hash ?? GENESIS,
    };
    const entry: AuditEntry = { ...base, hash: entryHash(base) };
    insert.run({ ...entry, details: canonicalJson(entry.details) });
    return entry;
  });

  function writeAnchor(entry: AuditEntry): void {
    writeAnchorFile(deps.anchorFile, entry);
  }

  return {
    record(record) {
      // IMMEDIATE: the chain head is read and then written. In a deferred transaction a CLI command
      // and the server appending at once fail with SQLITE_BUSY at the write (busy_timeout does not
      // apply to a read lock being upgraded); taking the write lock first makes the other one wait.
      const entry = append.immediate(record);
      writeAnchor(entry);
      return entry;
    },

    query(filter = {}) {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      if (filter.person) { where.push('(actor = @person or target = @person)'); params.person = filter.person; }
      if (filter.action) { where.push('(action = @action or action like @actionPrefix)'); params.action = filter.action; params.actionPrefix = `${filter.action}.%`; }
      if (filter.from) { where.push('at >= @from'); params.from = filter.from; }
      if (filter.to) { where.push('at <= @to'); params.to = filter.to; }
      const clause = where.length ? `where ${where.join(' and ')}` : '';
      const total = (db.prepare(`select count(*) as n from audit_log ${clause}`).get(params) as { n: number }).n;
      const limit = Math.min(Math.max(filter.limit ?? 100, 1), 100_000);
      const rows = db.prepare(`select * from audit_log ${clause} order by id desc limit @limit offset @offset`).all({ ...params, limit, offset: filter.offset ?? 0 }) as Row[];
      return { entries: rows.map(toEntry), total };
    },

    verify() {
      const problems: { id: number; problem: string }[] = [];
      let prevHash = GENESIS;
      let expectedId = 1;
      let count = 0;
      let last: { id: number; hash: string } | undefined;
      for (const row of db.prepare('select * from audit_log order by id').iterate() as IterableIterator<Row>) {
        count++;
        if (row.id !== expectedId) problems.push({ id: row.id, problem: `entries ${expectedId}–${row.id - 1} are missing (deleted)` });
        if (row.prev_hash !== prevHash) problems.push({ id: row.id, problem: 'its link to the previous entry does not match (an earlier entry was changed or deleted)' });
        let details: Record<string, unknown> = {};
        try { details = JSON.parse(row.details) as Record<string, unknown>; } catch { problems.push({ id: row.id, problem: 'its details are not valid JSON' }); }
        const recomputed = entryHash({ id: row.id, at: row.at, actor: row.actor, action: row.action, target: row.target, details, ip: row.ip, prevHash: row.prev_hash });
        if (recomputed !== row.hash) problems.push({ id: row.id, problem: 'its content does not match its hash (the entry was changed)' });
        prevHash = row.hash;
        expectedId = row.id + 1;
        last = { id: row.id, hash: row.hash };
      }
      let anchor: { id: number; hash: string } | undefined;
      try { anchor = JSON.parse(readFileSync(deps.anchorFile, 'utf8')) as { id: number; hash: string }; } catch { anchor = undefined; }
      if (anchor && (!last || anchor.id !== last.id || anchor.hash !== last.hash)) {
        problems.push({ id: anchor.id, problem: last && last.id < anchor.id ? `the newest entries (${last.id + 1}–${anchor.id}) are missing` : 'the newest entry does not match the anchor file' });
      }
      if (!anchor && last) problems.push({ id: last.id, problem: `the anchor file ${deps.anchorFile} is missing` });
      return { ok: problems.length === 0, entries: count, problems };
    },
  };
}
