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
];
