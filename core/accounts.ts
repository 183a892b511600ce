/**
 * Accounts and cohorts. Local accounts only (no internet, no email): scrypt-hashed passwords, a
 * minimum length, lockout after repeated failures, resets by staff or admins that force a change
 * at next login, and disabling that ends every session at once without touching the person's work.
 * Every change is written to the audit log by the same call that makes it.
 */
import { z } from 'zod';
import { OutpostError } from './errors.ts';
import type { Store } from './store.ts';
import type { AuditLog } from './audit.ts';
import type { Config } from './config.ts';
import { generatePassword, hashPassword, verifyPassword } from './passwords.ts';

export const ROLES = ['student', 'instructor', 'client', 'staff', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const USER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
export const COHORT_NAME = /^[a-z0-9][a-z0-9_-]{0,47}$/;

export interface User {
  name: string;
  role: Role;
  displayName: string;
  externalId: string | null;
  disabled: boolean;
  mustChangePassword: boolean;
  lockedUntil: string | null;
  createdAt: string;
  cohorts: string[];
}

export interface Cohort {
  name: string;
  title: string;
  instructors: string[];
  members: string[];
}

export interface Actor {
  name: string;
  ip?: string;
}

export interface NewUser {
  name: string;
  role: Role;
  displayName?: string;
  externalId?: string | null;
  cohort?: string;
  /** When absent, a password is generated and returned once; the user must change it at first login. */
  password?: string;
}

export interface RosterReport {
  created: { line: number; name: string; password: string }[];
  updated: { line: number; name: string; changes: string[] }[];
  unchanged: { line: number; name: string }[];
  rejected: { line: number; name: string; reason: string }[];
}

export interface Accounts {
  create(user: NewUser, actor: Actor): Promise<{ user: User; password: string }>;
  get(name: string): User | undefined;
  require(name: string): User;
  list(filter?: { role?: Role; cohort?: string }): User[];
  authenticate(name: string, password: string, ip: string): Promise<User>;
  changePassword(name: string, current: string, next: string, actor: Actor): Promise<void>;
  resetPassword(name: string, actor: Actor): Promise<string>;
  setDisabled(name: string, disabled: boolean, actor: Actor): void;
  setRole(name: string, role: Role, actor: Actor): void;
  update(name: string, changes: { displayName?: string; externalId?: string | null }, actor: Actor): void;
  createCohort(name: string, title: string, actor: Actor): Cohort;
  cohort(name: string): Cohort | undefined;
  cohorts(filter?: { instructor?: string }): Cohort[];
  addToCohort(cohort: string, user: string, actor: Actor): void;
  removeFromCohort(cohort: string, user: string, actor: Actor): void;
  /** Cohorts a student belongs to or an instructor teaches. */
  cohortsOf(name: string): string[];
  importRoster(csvText: string, actor: Actor, parse: (text: string) => string[][]): Promise<RosterReport>;
  /** Hook for session stores: called when an account is disabled or its password reset. */
  onRevoke(listener: (name: string) => void): void;
}

interface UserRow {
  name: string; role: Role; display_name: string; external_id: string | null; disabled: number; must_change_password: number;
  locked_until: string | null; created_at: string; password_hash: string; failed_logins: number;
}

export function validateUserName(name: unknown): string {
  if (typeof name !== 'string' || !USER_NAME.test(name)) {
    throw new OutpostError('INPUT_INVALID', `"${String(name).slice(0, 40)}" is not a valid user name: 1–32 lowercase letters, digits, "-" or "_", starting with a letter.`, { details: { field: 'name' } });
  }
  return name;
}

const displayNameSchema = z.string().max(200, 'a display name has at most 200 characters').transform((s) => s.normalize('NFC').trim());
const externalIdSchema = z.string().trim().min(1).max(64, 'a person number has at most 64 characters').regex(/^[A-Za-z0-9._/-]+$/, 'a person number uses letters, digits, ".", "_", "/" and "-"');

export function createAccounts(deps: { store: Store; audit: AuditLog; config: Config['auth']; now?: () => Date }): Accounts {
  const { db } = deps.store;
  const { audit, config } = deps;
  const now = deps.now ?? (() => new Date());
  const revokeListeners: ((name: string) => void)[] = [];
  const revoke = (name: string) => { for (const l of revokeListeners) l(name); };

  const selectUser = db.prepare('select * from users where name = ?');
  const cohortsOfStmt = db.prepare('select cohort from cohort_members where student = @n union select cohort from cohort_instructors where instructor = @n order by 1');

  function toUser(row: UserRow): User {
    return {
      name: row.name, role: row.role, displayName: row.display_name, externalId: row.external_id,
      disabled: row.disabled === 1, mustChangePassword: row.must_change_password === 1, lockedUntil: row.locked_until,
      createdAt: row.created_at, cohorts: (cohortsOfStmt.all({ n: row.name }) as { cohort: string }[]).map((r) => r.cohort),
    };
  }

  function requireUser(name: string): UserRow {
    const row = selectUser.get(name) as UserRow | undefined;
    if (!row) throw new OutpostError('USER_NOT_FOUND', `There is no user "${name}".`, { details: { name } });
    return row;
  }

  function checkPassword(name: string, password: string): void {
    if (typeof password !== 'string' || [...password].length < config.minPasswordLength) {
      throw new OutpostError('AUTH_WEAK_PASSWORD', `A password needs at least ${config.minPasswordLength} characters; a few unrelated words make a good one.`);
    }
    if (password.length > 256) throw new OutpostError('AUTH_WEAK_PASSWORD', 'A password has at most 256 characters.');
    if (password.toLowerCase().includes(name.toLowerCase())) throw new OutpostError('AUTH_WEAK_PASSWORD', 'A password must not contain the user name.');
  }

  function requireCohort(name: string): void {
    if (!db.prepare('select 1 from cohorts where name = ?').get(name)) {
      throw new OutpostError('COHORT_NOT_FOUND', `There is no cohort "${name}". Create it first (./outpost cohort add ${name}).`, { details: { cohort: name } });
    }
  }

  function addMembership(cohort: string, user: UserRow): void {
    requireCohort(cohort);
    if (user.role === 'student') db.prepare('insert or ignore into cohort_members (cohort, student) values (?, ?)').run(cohort, user.name);
    else if (user.role === 'instructor') db.prepare('insert or ignore into cohort_instructors (cohort, instructor) values (?, ?)').run(cohort, user.name);
    else throw new OutpostError('INPUT_INVALID', `Only students and instructors belong to cohorts; "${user.name}" is ${user.role === 'admin' ? 'an' : 'a'} ${user.role}.`);
  }

  async function create(input: NewUser, actor: Actor): Promise<{ user: User; password: string }> {
    const name = validateUserName(input.name);
    if (!ROLES.includes(input.role)) throw new OutpostError('INPUT_INVALID', `"${String(input.role)}" is not a role; use one of ${ROLES.join(', ')}.`, { details: { field: 'role' } });
    const displayName = parseField(displayNameSchema, input.displayName ?? '', 'display name');
    const externalId = input.externalId ? parseField(externalIdSchema, input.externalId, 'external id') : null;
    if (selectUser.get(name)) throw new OutpostError('USER_EXISTS', `A user named "${name}" already exists.`, { details: { name } });
    if (externalId && db.prepare('select 1 from users where external_id = ?').get(externalId)) {
      throw new OutpostError('USER_EXISTS', `Another user already has the person number "${externalId}".`, { details: { externalId } });
    }
    if (input.cohort) requireCohort(input.cohort);
    const password = input.password ?? generatePassword();
    checkPassword(name, password);
    const hash = await hashPassword(password);
    const at = now().toISOString();
    db.transaction(() => {
      db.prepare(`insert into users (name, role, password_hash, must_change_password, disabled, created_at, display_name, external_id, updated_at)
                  values (?, ?, ?, ?, 0, ?, ?, ?, ?)`).run(name, input.role, hash, input.password === undefined ? 1 : 0, at, displayName, externalId, at);
      if (input.cohort) addMembership(input.cohort, requireUser(name));
      audit.record({ actor: actor.name, action: 'user.create', target: name, details: { role: input.role, cohort: input.cohort ?? null, externalId }, ip: actor.ip ?? '' });
    })();
    return { user: toUser(requireUser(name)), password };
  }

  return {
    create,
    get: (name) => { const row = selectUser.get(name) as UserRow | undefined; return row ? toUser(row) : undefined; },
    require: (name) => toUser(requireUser(name)),
    list(filter = {}) {
      const rows = filter.cohort
        ? (db.prepare(`select u.* from users u where u.name in (select student from cohort_members where cohort = @c union select instructor from cohort_instructors where cohort = @c) ${filter.role ? 'and u.role = @r' : ''} order by u.name`).all({ c: filter.cohort, r: filter.role }) as UserRow[])
        : (db.prepare(`select * from users ${filter.role ? 'where role = @r' : ''} order by name`).all({ r: filter.role }) as UserRow[]);
      return rows.map(toUser);
    },

    async authenticate(name, password, ip) {
      const row = typeof name === 'string' ? (selectUser.get(name) as UserRow | undefined) : undefined;
      const fail = (reason: string) => {
        audit.record({ actor: 'anonymous', action: 'auth.login-failed', target: String(name).slice(0, 64), details: { reason }, ip });
        // One message for every failure: a login form must not tell which names exist.
        return new OutpostError('AUTH_INVALID_CREDENTIALS', 'The user name or password is wrong.');
      };
      if (!row) {
        // Spend the same time as a real check so response time does not reveal the name.
        await verifyPassword(password, DUMMY_HASH);
        throw fail('unknown user');
      }
      const nowMs = now().getTime();
      const locked = (until: string) => {
        audit.record({ actor: 'anonymous', action: 'auth.login-failed', target: row.name, details: { reason: 'locked' }, ip });
        return new OutpostError('AUTH_LOCKED', `This account is locked after too many failed logins. Try again after ${new Date(Date.parse(until)).toISOString().slice(11, 16)} UTC, or ask staff to reset the password.`);
      };
      if (row.locked_until && Date.parse(row.locked_until) > nowMs) throw locked(row.locked_until);
      // The attempt counts as a failure before the (slow) password check, in one statement: guesses
      // sent in parallel each see the ones before them, instead of all reading the same count.
      // Not while locked: attempts refused during a lockout must not count against the next try.
      const reserved = db.prepare('update users set failed_logins = failed_logins + 1 where name = ? and (locked_until is null or locked_until <= ?) returning failed_logins').get(row.name, new Date(nowMs).toISOString()) as { failed_logins: number } | undefined;
      const lockNow = (failures: number) => {
        const until = new Date(nowMs + config.lockoutMinutes * 60_000).toISOString();
        db.prepare('update users set failed_logins = 0, locked_until = ? where name = ? and (locked_until is null or locked_until < ?)').run(until, row.name, until);
        audit.record({ actor: 'system', action: 'auth.lockout', target: row.name, details: { failures, until }, ip });
        return until;
      };
      if (reserved === undefined) throw locked((selectUser.get(row.name) as UserRow | undefined)?.locked_until ?? new Date(nowMs).toISOString());
      // More attempts in flight than failures allowed: the surplus is refused unchecked.
      if (reserved.failed_logins > config.maxFailedLogins) throw locked(lockNow(reserved.failed_logins));
      const ok = await verifyPassword(String(password), row.password_hash);
      if (!ok) {
        if (reserved.failed_logins >= config.maxFailedLogins) lockNow(reserved.failed_logins);
        throw fail('wrong password');
      }
      if (row.disabled) {
        audit.record({ actor: 'anonymous', action: 'auth.login-failed', target: row.name, details: { reason: 'disabled' }, ip });
        throw new OutpostError('AUTH_INVALID_CREDENTIALS', 'This account is disabled. Ask staff if you think this is a mistake.');
      }
      db.prepare('update users set failed_logins = 0, locked_until = null where name = ?').run(row.name);
      audit.record({ actor: row.name, action: 'auth.login', target: row.name, ip });
      return toUser(requireUser(row.name));
    },

    async changePassword(name, current, next, actor) {
      const row = requireUser(name);
      if (!(await verifyPassword(String(current), row.password_hash))) {
        audit.record({ actor: actor.name, action: 'auth.password-change-failed', target: name, ip: actor.ip ?? '' });
        throw new OutpostError('AUTH_INVALID_CREDENTIALS', 'The current password is wrong.');
      }
      checkPassword(name, next);
      if (await verifyPassword(next, row.password_hash)) throw new OutpostError('AUTH_WEAK_PASSWORD', 'Choose a new password, not the current one.');
      const hash = await hashPassword(next);
      db.prepare('update users set password_hash = ?, must_change_password = 0, password_changed_at = ?, updated_at = ? where name = ?').run(hash, now().toISOString(), now().toISOString(), name);
      audit.record({ actor: actor.name, action: 'auth.password-change', target: name, ip: actor.ip ?? '' });
    },

    async resetPassword(name, actor) {
      requireUser(name);
      const password = generatePassword();
      const hash = await hashPassword(password);
      // The change and its audit entry together, or neither: an unaudited reset must not happen.
      db.transaction(() => {
        db.prepare('update users set password_hash = ?, must_change_password = 1, failed_logins = 0, locked_until = null, updated_at = ? where name = ?').run(hash, now().toISOString(), name);
        audit.record({ actor: actor.name, action: 'user.password-reset', target: name, ip: actor.ip ?? '' });
      }).immediate();
      revoke(name);
      return password;
    },

    setDisabled(name, disabled, actor) {
      const row = requireUser(name);
      if (disabled && row.role === 'admin' && !row.disabled && (db.prepare("select count(*) n from users where role = 'admin' and disabled = 0").get() as { n: number }).n <= 1) {
        throw new OutpostError('INPUT_INVALID', `"${name}" is the last active admin; make another admin first, or nobody could manage accounts.`);
      }
      db.transaction(() => {
        db.prepare('update users set disabled = ?, updated_at = ? where name = ?').run(disabled ? 1 : 0, now().toISOString(), name);
        audit.record({ actor: actor.name, action: disabled ? 'user.disable' : 'user.enable', target: name, ip: actor.ip ?? '' });
      }).immediate();
      if (disabled) revoke(name);
    },

    setRole(name, role, actor) {
      const row = requireUser(name);
      if (!ROLES.includes(role)) throw new OutpostError('INPUT_INVALID', `"${String(role)}" is not a role; use one of ${ROLES.join(', ')}.`);
      if (row.role === role) return;
      if (row.role === 'admin' && (db.prepare("select count(*) n from users where role = 'admin' and disabled = 0").get() as { n: number }).n <= 1) {
        throw new OutpostError('INPUT_INVALID', `"${name}" is the last admin; make another admin first.`);
      }
      db.transaction(() => {
        db.prepare('update users set role = ?, updated_at = ? where name = ?').run(role, now().toISOString(), name);
        // Memberships belong to the old role (a student in a cohort is not its instructor).
        db.prepare('delete from cohort_members where student = ?').run(name);
        db.prepare('delete from cohort_instructors where instructor = ?').run(name);
        audit.record({ actor: actor.name, action: 'user.role-change', target: name, details: { from: row.role, to: role }, ip: actor.ip ?? '' });
      })();
      revoke(name);
    },

    update(name, changes, actor) {
      const row = requireUser(name);
      const displayName = changes.displayName === undefined ? row.display_name : parseField(displayNameSchema, changes.displayName, 'display name');
      const externalId = changes.externalId === undefined ? row.external_id : changes.externalId === null || changes.externalId === '' ? null : parseField(externalIdSchema, changes.externalId, 'external id');
      if (externalId && externalId !== row.external_id && db.prepare('select 1 from users where external_id = ? and name <> ?').get(externalId, name)) {
        throw new OutpostError('USER_EXISTS', `Another user already has the person number "${externalId}".`);
      }
      const diff: Record<string, unknown> = {};
      if (displayName !== row.display_name) diff.displayName = displayName;
      if (externalId !== row.external_id) diff.externalId = externalId;
      if (Object.keys(diff).length === 0) return;
      db.prepare('update users set display_name = ?, external_id = ?, updated_at = ? where name = ?').run(displayName, externalId, now().toISOString(), name);
      audit.record({ actor: actor.name, action: 'user.update', target: name, details: diff, ip: actor.ip ?? '' });
    },

    createCohort(name, title, actor) {
      if (typeof name !== 'string' || !COHORT_NAME.test(name)) throw new OutpostError('INPUT_INVALID', `"${String(name).slice(0, 48)}" is not a valid cohort name: lowercase letters, digits, "-" or "_".`);
      if (db.prepare('select 1 from cohorts where name = ?').get(name)) throw new OutpostError('INPUT_INVALID', `The cohort "${name}" already exists.`);
      const cleanTitle = parseField(displayNameSchema, title, 'display name');
      db.prepare('insert into cohorts (name, title, created_at) values (?, ?, ?)').run(name, cleanTitle, now().toISOString());
      audit.record({ actor: actor.name, action: 'cohort.create', target: name, details: { title: cleanTitle }, ip: actor.ip ?? '' });
      return this.cohort(name)!;
    },

    cohort(name) {
      const row = db.prepare('select * from cohorts where name = ?').get(name) as { name: string; title: string } | undefined;
      if (!row) return undefined;
      return {
        name: row.name, title: row.title,
        instructors: (db.prepare('select instructor from cohort_instructors where cohort = ? order by 1').all(name) as { instructor: string }[]).map((r) => r.instructor),
        members: (db.prepare('select student from cohort_members where cohort = ? order by 1').all(name) as { student: string }[]).map((r) => r.student),
      };
    },

    cohorts(filter = {}) {
      const names = filter.instructor
        ? (db.prepare('select cohort as name from cohort_instructors where instructor = ? order by 1').all(filter.instructor) as { name: string }[])
        : (db.prepare('select name from cohorts order by name').all() as { name: string }[]);
      return names.map((r) => this.cohort(r.name)!);
    },

    addToCohort(cohort, user, actor) {
      const row = requireUser(user);
      addMembership(cohort, row);
      audit.record({ actor: actor.name, action: 'cohort.add-member', target: user, details: { cohort, role: row.role }, ip: actor.ip ?? '' });
    },

    removeFromCohort(cohort, user, actor) {
      requireCohort(cohort);
      const a = db.prepare('delete from cohort_members where cohort = ? and student = ?').run(cohort, user).changes;
      const b = db.prepare('delete from cohort_instructors where cohort = ? and instructor = ?').run(cohort, user).changes;
      if (a + b > 0) audit.record({ actor: actor.name, action: 'cohort.remove-member', target: user, details: { cohort }, ip: actor.ip ?? '' });
    },

    cohortsOf: (name) => (cohortsOfStmt.all({ n: name }) as { cohort: string }[]).map((r) => r.cohort),

    async importRoster(csvText, actor, parse) {
      const report: RosterReport = { created: [], updated: [], unchanged: [], rejected: [] };
      let rows: string[][];
      try {
        rows = parse(csvText);
      } catch (error) {
        throw new OutpostError('ROSTER_INVALID', `The roster is not valid CSV: ${(error as Error).message}`);
      }
      const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase().replace(/[\s-]+/g, '_'));
      const col = (name: string) => header.indexOf(name);
      if (col('name') < 0) throw new OutpostError('ROSTER_INVALID', 'The roster\'s first line must be a header with at least a "name" column (optional: role, display_name, external_id, cohort).');
      const known = new Set(['name', 'role', 'display_name', 'external_id', 'cohort']);
      const unknown = header.filter((h) => !known.has(h));
      if (unknown.length) throw new OutpostError('ROSTER_INVALID', `Unknown roster column(s): ${unknown.join(', ')}. Use name, role, display_name, external_id, cohort.`);
      const seen = new Set<string>();
      for (let i = 1; i < rows.length; i++) {
        const line = i + 1;
        const cells = rows[i]!;
        if (cells.every((c) => c.trim() === '')) continue;
        const get = (name: string) => (col(name) >= 0 ? (cells[col(name)] ?? '').trim() : '');
        const name = get('name').toLowerCase();
        try {
          if (seen.has(name)) throw new OutpostError('ROSTER_INVALID', `"${name}" appears twice in the roster`);
          seen.add(name);
          validateUserName(name);
          const role = (get('role') || 'student') as Role;
          if (!ROLES.includes(role)) throw new OutpostError('INPUT_INVALID', `"${role}" is not a role`);
          const cohort = get('cohort');
          if (cohort) requireCohort(cohort);
          const existing = selectUser.get(name) as UserRow | undefined;
          if (!existing) {
            const created = await create({ name, role, displayName: get('display_name'), externalId: get('external_id') || null, ...(cohort ? { cohort } : {}) }, actor);
            report.created.push({ line, name, password: created.password });
            continue;
          }
          const changes: string[] = [];
          if (existing.role !== role) throw new OutpostError('ROSTER_INVALID', `"${name}" exists as ${existing.role}; the roster says ${role} (change roles one by one, not by import)`);
          const displayName = get('display_name');
          const externalId = get('external_id');
          if (col('display_name') >= 0 && parseField(displayNameSchema, displayName, 'display name') !== existing.display_name) changes.push('display name');
          if (col('external_id') >= 0 && (externalId || null) !== existing.external_id) changes.push('person number');
          if (changes.length) this.update(name, { ...(col('display_name') >= 0 ? { displayName } : {}), ...(col('external_id') >= 0 ? { externalId: externalId || null } : {}) }, actor);
          if (cohort && !this.cohortsOf(name).includes(cohort)) { this.addToCohort(cohort, name, actor); changes.push(`cohort ${cohort}`); }
          if (changes.length) report.updated.push({ line, name, changes });
          else report.unchanged.push({ line, name });
        } catch (error) {
          const reason = error instanceof OutpostError ? error.message : error instanceof z.ZodError ? error.issues.map((x) => x.message).join('; ') : String(error);
          report.rejected.push({ line, name: name.slice(0, 40), reason });
        }
      }
      audit.record({ actor: actor.name, action: 'user.roster-import', details: { created: report.created.length, updated: report.updated.length, unchanged: report.unchanged.length, rejected: report.rejected.length }, ip: actor.ip ?? '' });
      return report;
    },

    onRevoke(listener) { revokeListeners.push(listener); },
  };
}

function parseField<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new OutpostError('INPUT_INVALID', `The ${field} is invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}.`, { details: { field } });
  return parsed.data;
}

/** A real scrypt hash of a random password, used to spend equal time on unknown user names. */
const DUMMY_HASH = 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA$Tj9lVHRfbnFmM1dhc0pPbUxhS1NrWmZ6c2hKQnA2T2s';
