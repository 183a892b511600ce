/**
 * The shop's tables (store versions 60–69, then 85–89: versions are global and only a version above
 * the highest applied one runs). Requests and their attachments, teams with their pseudonyms and
 * members' consent, projects, milestones, message threads, hours, and outbound packages. Money-like
 * and legal records (hours, packages) are never deleted by the shop.
 */
import type { Migration } from '../core/migrations.ts';

export const shopMigrations: Migration[] = [
  {
    version: 60,
    name: 'shop',
    sql: `
      create table shop_requests (
        id integer primary key,
        client text not null,
        title text not null,
        description text not null,
        criteria text not null,
        status text not null default 'submitted' check (status in ('submitted', 'accepted', 'declined')),
        reason text,
        decided_by text,
        decided_at text,
        created_at text not null
      );
      create index shop_requests_client on shop_requests(client, id);
      create table shop_attachments (
        id integer primary key,
        request integer not null references shop_requests(id),
        filename text not null,
        kind text not null,
        content_type text not null,
        size integer not null,
        sha256 text not null,
        uploaded_by text not null,
        uploaded_at text not null
      );
      create index shop_attachments_request on shop_attachments(request, id);
      create table shop_teams (
        name text primary key,
        pseudonym text not null unique,
        created_at text not null,
        created_by text not null
      );
      create table shop_team_members (
        team text not null references shop_teams(name),
        student text not null,
        show_name integer not null default 0,
        primary key (team, student)
      );
      create index shop_team_members_student on shop_team_members(student);
      create table shop_projects (
        id integer primary key,
        request integer not null unique references shop_requests(id),
        client text not null,
        title text not null,
        slug text not null,
        team text not null references shop_teams(name),
        lead text not null,
        scope text not null,
        repo_owner text not null,
        repo_name text not null,
        created_at text not null
      );
      create index shop_projects_client on shop_projects(client);
      create index shop_projects_team on shop_projects(team);
      create table shop_milestones (
        id integer primary key,
        project integer not null references shop_projects(id),
        position integer not null,
        title text not null,
        due text not null,
        status text not null default 'open' check (status in ('open', 'ready', 'changes-requested', 'accepted')),
        commit_oid text,
        ready_by text,
        ready_at text,
        decided_at text
      );
      create index shop_milestones_project on shop_milestones(project, position);
      create table shop_messages (
        id integer primary key,
        project integer not null references shop_projects(id),
        milestone integer references shop_milestones(id),
        author text not null,
        kind text not null default 'comment',
        body text not null,
        at text not null
      );
      create index shop_messages_project on shop_messages(project, id);
      create table shop_hours (
        id integer primary key,
        student text not null,
        project integer not null references shop_projects(id),
        day text not null,
        hours real not null check (hours > 0),
        note text not null default '',
        at text not null
      );
      create index shop_hours_student_day on shop_hours(student, day);
      create index shop_hours_project on shop_hours(project, day);
      create table shop_packages (
        id integer primary key,
        project integer not null references shop_projects(id),
        milestone integer not null references shop_milestones(id),
        commit_oid text not null,
        base_commit text,
        status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
        bundle_file text not null,
        size integer not null,
        sha256 text not null,
        release_notes text not null,
        findings text not null,
        diff text not null,
        created_at text not null,
        reviewed_by text,
        reviewed_at text,
        review_note text
      );
      create index shop_packages_project on shop_packages(project, id);
    `,
  },
  {
    version: 61,
    name: 'shop builds',
    sql: `
      alter table shop_projects add column build_command text;
      alter table shop_projects add column build_output text;
      alter table shop_packages add column build_file text;
      alter table shop_packages add column build_size integer;
      alter table shop_packages add column build_sha256 text;
      alter table shop_packages add column build_log text;
    `,
  },
  {
    version: 85,
    name: 'shop packages: building status, bundle commit',
    // SQLite cannot alter a CHECK constraint, so the table is rebuilt: new table, copy, drop, rename,
    // all in this migration's one transaction. Foreign keys stay on (they cannot be switched inside
    // a transaction), which is safe because no table references shop_packages; its own references
    // are re-checked on the copy. The index goes with the old table and is made again. A package still
    // 'pending' without a bundle checksum was being made when an older server stopped: it would
    // never have been completed, and staff must not be able to approve it, so it is rejected here.
    sql: `
      create table shop_packages_new (
        id integer primary key,
        project integer not null references shop_projects(id),
        milestone integer not null references shop_milestones(id),
        commit_oid text not null,
        base_commit text,
        status text not null default 'building' check (status in ('building', 'pending', 'approved', 'rejected')),
        bundle_file text not null,
        size integer not null,
        sha256 text not null,
        release_notes text not null,
        findings text not null,
        diff text not null,
        created_at text not null,
        reviewed_by text,
        reviewed_at text,
        review_note text,
        build_file text,
        build_size integer,
        build_sha256 text,
        build_log text,
        bundle_commit text
      );
      insert into shop_packages_new (id, project, milestone, commit_oid, base_commit, status, bundle_file, size, sha256, release_notes, findings, diff, created_at, reviewed_by, reviewed_at, review_note, build_file, build_size, build_sha256, build_log)
        select id, project, milestone, commit_oid, base_commit, status, bundle_file, size, sha256, release_notes, findings, diff, created_at, reviewed_by, reviewed_at, review_note, build_file, build_size, build_sha256, build_log
        from shop_packages;
      update shop_packages_new set status = 'rejected', reviewed_by = 'system', reviewed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
        review_note = 'The server stopped while this package was being made; it was never complete.'
        where status = 'pending' and sha256 = '';
      drop table shop_packages;
      alter table shop_packages_new rename to shop_packages;
      create index shop_packages_project on shop_packages(project, id);
    `,
  },
];
