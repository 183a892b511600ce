/** Numbered schema migrations. Append only: never edit one that has shipped. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'workspaces',
    sql: `
      create table workspaces (
        owner text primary key,
        container_id text,
        state text not null default 'absent',
        disk_mode text not null default 'none',
        created_at text not null,
        last_used_at text not null
      );
      create table meta (key text primary key, value text not null);
    `,
  },
  {
    version: 2,
    name: 'users',
    sql: `
      create table users (
        name text primary key,
        role text not null check (role in ('student', 'instructor', 'client', 'staff', 'admin')),
        password_hash text not null,
        must_change_password integer not null default 0,
        disabled integer not null default 0,
        created_at text not null
      );
    `,
  },
  {
    version: 3,
    name: 'accounts, cohorts, sessions, audit log',
    sql: `
      alter table users add column display_name text not null default '';
      alter table users add column external_id text;
      alter table users add column failed_logins integer not null default 0;
      alter table users add column locked_until text;
      alter table users add column password_changed_at text;
      alter table users add column updated_at text;
      create unique index users_external_id on users(external_id) where external_id is not null;

      create table cohorts (
        name text primary key,
        title text not null default '',
        created_at text not null
      );
      create table cohort_instructors (
        cohort text not null references cohorts(name) on delete cascade,
        instructor text not null references users(name) on delete cascade,
        primary key (cohort, instructor)
      );
      create table cohort_members (
        cohort text not null references cohorts(name) on delete cascade,
        student text not null references users(name) on delete cascade,
        primary key (cohort, student)
      );
      create index cohort_members_student on cohort_members(student);

      -- The session id itself is never stored: only its SHA-256, so a copy of the store opens no session.
      create table sessions (
        id_hash text primary key,
        user text not null references users(name) on delete cascade,
        csrf_token text not null,
        created_at integer not null,
        last_seen_at integer not null,
        ip text not null default '',
        user_agent text not null default ''
      );
      create index sessions_user on sessions(user);

      -- Append-only and hash-chained: see core/audit.ts.
      create table audit_log (
        id integer primary key,
        at text not null,
        actor text not null,
        action text not null,
        target text not null default '',
        details text not null default '{}',
        ip text not null default '',
        prev_hash text not null,
        hash text not null
      );
      create index audit_log_actor on audit_log(actor);
      create index audit_log_action on audit_log(action);
      create index audit_log_target on audit_log(target);
      create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'the audit log is append-only'); end;
      create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'the audit log is append-only'); end;
    `,
  },
];
