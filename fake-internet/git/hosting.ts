/**
 * Git hosting on the control plane's side: which repositories exist and who owns them, who may read
 * and write each one, access tokens, the git identity and credentials every workspace gets, and the
 * pushes the git server reports (into the audit log, and to listeners such as the curriculum's
 * "submit by push").
 *
 * The rules (one place; the web view and the git server's access file both come from `principals`):
 * - a user-owned repository: the owner writes; instructors of the owner's cohorts read (and write
 *   when `git.instructorsWrite` is on);
 * - a cohort-owned repository: the cohort's instructors write, its students read;
 * - a team-owned repository: the team's members write (teams come from the shop);
 * - collaborators get what they were given (read or write), e.g. a client on a commissioned repo;
 * - staff and admins read every repository; everyone else sees nothing (404, never 403).
 * Disabled accounts get nothing, and their tokens stop working at the next access-file write.
 */
import { randomBytes } from 'node:crypto';
import { chown, lstat, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Accounts, Actor, User } from '../../core/accounts.ts';
import type { AuditLog } from '../../core/audit.ts';
import type { Config } from '../../core/config.ts';
import { OutpostError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { readNewLines } from '../../core/jsonl.ts';
import type { Logger } from '../../core/log.ts';
import type { Migration } from '../../core/migrations.ts';
import type { Store } from '../../core/store.ts';
import { hashToken, TOKEN_PREFIX, type AccessFile, type RepoAccess } from './access.ts';
import type { GitHostingView, RepoRecord } from './hosting-types.ts';
import { validateRepoName } from './names.ts';
import { createRepoFromTemplate, initBareRepo } from './repos.ts';
import type { PushRecord } from './server.ts';

export type { RepoRecord, RepoAccess };

export const gitMigrations: Migration[] = [
  {
    version: 40,
    name: 'git hosting',
    sql: `
      create table git_repos (
        owner text not null,
        name text not null,
        owner_kind text not null check (owner_kind in ('user', 'cohort', 'team')),
        description text not null default '',
        default_branch text not null default 'main',
        created_at text not null,
        created_by text not null,
        primary key (owner, name)
      );
      create table git_collaborators (
        owner text not null,
        name text not null,
        user text not null,
        access text not null check (access in ('read', 'write')),
        primary key (owner, name, user),
        foreign key (owner, name) references git_repos(owner, name) on delete cascade
      );
      create index git_collaborators_user on git_collaborators(user);
      create table git_tokens (
        id integer primary key,
        user text not null,
        label text not null,
        kind text not null check (kind in ('personal', 'workspace')),
        hash text not null unique,
        created_at text not null,
        created_by text not null,
        revoked_at text
      );
      create index git_tokens_user on git_tokens(user);
      create table git_pushes (
        id integer primary key,
        at text not null,
        user text not null,
        owner text not null,
        name text not null,
        client text not null,
        updates text not null
      );
      create index git_pushes_repo on git_pushes(owner, name, id);
      create table git_push_log_offsets (file text primary key, offset integer not null);
    `,
  },
];

export interface TokenInfo { id: number; label: string; kind: 'personal' | 'workspace'; createdAt: string; revokedAt: string | null }

export interface PushEvent { id: number; at: string; user: string; owner: string; name: string; client: string; updates: PushRecord['updates'] }

export interface GitHosting extends GitHostingView {
  /** Where the git server's files live on the host; fake-internet/index.ts mounts them. */
  readonly paths: { reposDir: string; accessFile: string; pushLogDir: string; workspaceDir: string };
  /** Creates a bare repository, empty or with one commit of a template folder's files. */
  create(input: { owner: string; name: string; description?: string; from?: string; defaultBranch?: string; ownerKind?: RepoRecord['ownerKind'] }, actor: Actor): Promise<RepoRecord>;
  list(filter?: { owner?: string }): RepoRecord[];
  setCollaborator(owner: string, name: string, user: string, access: RepoAccess, actor: Actor): Promise<void>;
  collaborators(owner: string, name: string): { user: string; access: 'read' | 'write' }[];
  /** A new personal token; the secret is returned once and only its hash is kept. */
  issueToken(user: string, label: string, actor: Actor): Promise<{ id: number; token: string }>;
  tokens(user: string): TokenInfo[];
  revokeToken(user: string, id: number, actor: Actor): Promise<void>;
  /**
   * Writes the files a student's workspace mounts at /etc/outpost/git: a git config with their name
   * and e-mail and a credential helper, and the workspace token it hands to git. Idempotent.
   */
  prepareWorkspace(owner: string): Promise<void>;
  /** Recomputes who may do what and rewrites the git server's access file when it changed. */
  publishAccess(): Promise<boolean>;
  /** Moves pushes the git server logged into the store and the audit log, then tells listeners. */
  ingestPushes(): PushEvent[];
  pushes(filter: { owner?: string; name?: string; limit?: number }): PushEvent[];
  onPush(listener: (push: PushEvent) => void): void;
}

export interface GitHostingDeps {
  store: Store;
  accounts: Accounts;
  audit: AuditLog;
  config: Config;
  log: Logger;
  /** Members of a shop team (the shop plugs in here); undefined when no such team exists. */
  teamMembers?: (team: string) => string[] | undefined;
  /** The uid the git server runs as: it must own the repositories (git refuses others' repos). */
  serviceUid?: number;
}

/** Where a workspace finds its git identity: GIT_CONFIG_SYSTEM points here (read-only mount). */
export const WORKSPACE_GIT_DIR = '/etc/outpost/git';

interface RepoRow { owner: string; name: string; owner_kind: RepoRecord['ownerKind']; description: string; default_branch: string; created_at: string; created_by: string }

/** Where git hosting keeps its files; the service containers mount some of them. */
export function gitPaths(config: Pick<Config, 'dataDir'>): GitHosting['paths'] {
  const root = path.join(config.dataDir, 'git');
  return {
    reposDir: path.join(root, 'repos'),
    accessFile: path.join(root, 'access', 'access.json'),
    pushLogDir: path.join(config.dataDir, 'fake-internet', 'logs', 'git'),
    workspaceDir: path.join(root, 'workspaces'),
  };
}

export function createGitHosting(deps: GitHostingDeps): GitHosting {
  const { store, accounts, audit, config, log } = deps;
  const { db } = store;
  const paths = gitPaths(config);
  const zone = config.fakeInternet.serviceZone;
  const gitHost = `git.${zone}`;
  const listeners: ((push: PushEvent) => void)[] = [];
  let lastAccess = '';

  const toRecord = (row: RepoRow): RepoRecord => ({ owner: row.owner, name: row.name, ownerKind: row.owner_kind, description: row.description, defaultBranch: row.default_branch, createdAt: row.created_at, createdBy: row.created_by });

  function get(owner: string, name: string): RepoRecord | undefined {
    const row = db.prepare('select * from git_repos where owner = ? and name = ?').get(owner, name) as RepoRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  function list(filter: { owner?: string } = {}): RepoRecord[] {
    const rows = (filter.owner === undefined
      ? db.prepare('select * from git_repos order by owner, name').all()
      : db.prepare('select * from git_repos where owner = ? order by name').all(filter.owner)) as RepoRow[];
    return rows.map(toRecord);
  }

  function collaborators(owner: string, name: string): { user: string; access: 'read' | 'write' }[] {
    return db.prepare('select user, access from git_collaborators where owner = ? and name = ? order by user').all(owner, name) as { user: string; access: 'read' | 'write' }[];
  }

  /** Everyone with access to one repository, except staff (who read all): user → access. */
  function principals(repo: RepoRecord): Map<string, 'read' | 'write'> {
    const result = new Map<string, 'read' | 'write'>();
    const grant = (user: string, access: 'read' | 'write') => {
      if (result.get(user) !== 'write') result.set(user, access);
    };
    if (repo.ownerKind === 'user') {
      grant(repo.owner, 'write');
      for (const cohort of accounts.cohortsOf(repo.owner)) {
        for (const instructor of accounts.cohort(cohort)?.instructors ?? []) grant(instructor, config.git.instructorsWrite ? 'write' : 'read');
      }
    } else if (repo.ownerKind === 'cohort') {
      const cohort = accounts.cohort(repo.owner);
      for (const instructor of cohort?.instructors ?? []) grant(instructor, 'write');
      for (const member of cohort?.members ?? []) grant(member, 'read');
    } else {
      for (const member of deps.teamMembers?.(repo.owner) ?? []) grant(member, 'write');
    }
    for (const c of collaborators(repo.owner, repo.name)) grant(c.user, c.access);
    return result;
  }

  const readsAll = (user: User) => user.role === 'staff' || user.role === 'admin';

  function access(user: User | undefined, owner: string, name: string): RepoAccess {
    if (!user || user.disabled) return 'none';
    const repo = get(owner, name);
    if (!repo) return 'none';
    const granted = principals(repo).get(user.name);
    if (granted) return granted;
    return readsAll(user) ? 'read' : 'none';
  }

  function ownerKindOf(owner: string, wanted?: RepoRecord['ownerKind']): RepoRecord['ownerKind'] {
    const kinds: RepoRecord['ownerKind'][] = [];
    if (accounts.get(owner)) kinds.push('user');
    if (accounts.cohort(owner)) kinds.push('cohort');
    if (deps.teamMembers?.(owner) !== undefined) kinds.push('team');
    if (wanted !== undefined) {
      if (!kinds.includes(wanted)) throw new OutpostError('NOT_FOUND', `There is no ${wanted} named "${owner}" to own the repository.`, { details: { owner } });
      return wanted;
    }
    if (kinds.length === 0) throw new OutpostError('NOT_FOUND', `"${owner}" is not a user, cohort or team: create the account or cohort first.`, { details: { owner } });
    // A name that is both a user and a cohort means the user; say --cohort to mean the cohort.
    return kinds[0]!;
  }

  async function ownByService(dir: string): Promise<void> {
    const uid = deps.serviceUid;
    if (uid === undefined) return;
    const walk = async (p: string): Promise<void> => {
      await chown(p, uid, uid);
      const s = await lstat(p);
      if (s.isDirectory()) for (const entry of await readdir(p)) await walk(path.join(p, entry));
    };
    await walk(dir);
  }

  function activeUser(name: string): User | undefined {
    const user = accounts.get(name);
    return user && !user.disabled ? user : undefined;
  }

  function buildAccessFile(): AccessFile {
    const tokens: Record<string, string> = {};
    for (const row of db.prepare('select hash, user from git_tokens where revoked_at is null').all() as { hash: string; user: string }[]) {
      if (activeUser(row.user)) tokens[row.hash] = row.user;
    }
    const readAll = [...accounts.list({ role: 'staff' }), ...accounts.list({ role: 'admin' })].filter((u) => !u.disabled).map((u) => u.name).sort();
    const repos: AccessFile['repos'] = {};
    for (const repo of list()) {
      const read: string[] = [];
      const write: string[] = [];
      for (const [user, granted] of principals(repo)) {
        if (!activeUser(user)) continue;
        (granted === 'write' ? write : read).push(user);
      }
      repos[`${repo.owner}/${repo.name}`] = { read: read.sort(), write: write.sort() };
    }
    return { version: 1, tokens, readAll, repos };
  }

  async function publishAccess(): Promise<boolean> {
    const text = JSON.stringify(buildAccessFile());
    if (text === lastAccess) return false;
    await mkdir(path.dirname(paths.accessFile), { recursive: true });
    // Token hashes only, but still nobody else's business: readable by the git server's user alone.
    await writeFileAtomic(paths.accessFile, text, 0o600);
    if (deps.serviceUid !== undefined) await chown(paths.accessFile, deps.serviceUid, deps.serviceUid);
    lastAccess = text;
    return true;
  }

  function newToken(): string {
    return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  }

  function insertToken(user: string, label: string, kind: TokenInfo['kind'], token: string, actor: string): number {
    const result = db.prepare('insert into git_tokens (user, label, kind, hash, created_at, created_by) values (?, ?, ?, ?, ?, ?)').run(user, label, kind, hashToken(token), new Date().toISOString(), actor);
    return Number(result.lastInsertRowid);
  }

  function gitConfigFor(user: User): string {
    // Quoted values: a display name is the user's own text.
    const quote = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`;
    const helper = `!f() { test "$1" = get && cat ${WORKSPACE_GIT_DIR}/credentials; }; f`;
    const hosts = [gitHost, ...config.git.aliases];
    return [
      '# Written by Outpost; your own settings in ~/.gitconfig win over these.',
      '[user]',
      `\tname = ${quote(user.displayName || user.name)}`,
      `\temail = ${quote(`${user.name}@${gitHost}`)}`,
      '[init]',
      '\tdefaultBranch = main',
      '[pull]',
      '\trebase = false',
      // The token goes only to Outpost's git server, never to any other host a student's code runs.
      ...hosts.flatMap((host) => [`[credential "https://${host}"]`, `\thelper = ${quote(helper)}`, `\tusername = ${quote(user.name)}`]),
      '',
    ].join('\n');
  }

  const hosting: GitHosting = {
    paths,
    repoDir: (owner, name) => path.join(paths.reposDir, owner, `${name}.git`),
    get,
    list,
    collaborators,
    access,
    cloneUrl: (owner, name) => `https://${gitHost}/${owner}/${name}.git`,

    visibleTo(user, owner) {
      if (user.disabled) return [];
      return list(owner === undefined ? {} : { owner }).filter((repo) => readsAll(user) || principals(repo).has(user.name));
    },

    async create(input, actor) {
      const { owner, name } = validateRepoName(input.owner, input.name);
      const ownerKind = ownerKindOf(owner, input.ownerKind);
      const branch = input.defaultBranch ?? 'main';
      if (get(owner, name)) throw new OutpostError('GIT_REPO_EXISTS', `The repository ${owner}/${name} already exists.`, { details: { repo: `${owner}/${name}` } });
      const dir = hosting.repoDir(owner, name);
      await rm(dir, { recursive: true, force: true }); // a leftover of a create that crashed before its row
      await mkdir(path.dirname(dir), { recursive: true });
      const author = { name: actor.name === 'system' ? 'Outpost' : (accounts.get(actor.name)?.displayName || actor.name), email: `${actor.name}@${gitHost}` };
      let head: string | undefined;
      if (input.from !== undefined) head = (await createRepoFromTemplate(dir, input.from, { branch, author, message: 'Initial commit' })).commit;
      else await initBareRepo(dir, { defaultBranch: branch });
      await ownByService(dir);
      const now = new Date().toISOString();
      db.prepare('insert into git_repos (owner, name, owner_kind, description, default_branch, created_at, created_by) values (?, ?, ?, ?, ?, ?, ?)').run(owner, name, ownerKind, (input.description ?? '').slice(0, 500), branch, now, actor.name);
      audit.record({ actor: actor.name, action: 'git.repo.create', target: `${owner}/${name}`, details: { ownerKind, ...(input.from ? { template: path.basename(input.from) } : {}), ...(head ? { head } : {}) } });
      await publishAccess();
      return get(owner, name)!;
    },

    async setCollaborator(owner, name, user, granted, actor) {
      if (!get(owner, name)) throw new OutpostError('GIT_REPO_NOT_FOUND', `There is no repository ${owner}/${name}.`);
      if (!accounts.get(user)) throw new OutpostError('USER_NOT_FOUND', `There is no user "${user}".`);
      if (granted === 'none') db.prepare('delete from git_collaborators where owner = ? and name = ? and user = ?').run(owner, name, user);
      else db.prepare('insert into git_collaborators (owner, name, user, access) values (?, ?, ?, ?) on conflict(owner, name, user) do update set access = excluded.access').run(owner, name, user, granted);
      audit.record({ actor: actor.name, action: 'git.collaborator', target: `${owner}/${name}`, details: { user, access: granted } });
      await publishAccess();
    },

    async issueToken(user, label, actor) {
      if (!accounts.get(user)) throw new OutpostError('USER_NOT_FOUND', `There is no user "${user}".`);
      const clean = label.trim().slice(0, 100);
      if (clean === '') throw new OutpostError('INPUT_INVALID', 'Give the token a name, such as "laptop" or "grading scripts".', { details: { field: 'label' } });
      const token = newToken();
      const id = insertToken(user, clean, 'personal', token, actor.name);
      audit.record({ actor: actor.name, action: 'git.token.create', target: user, details: { id, label: clean } });
      await publishAccess();
      return { id, token };
    },

    tokens(user) {
      return (db.prepare('select id, label, kind, created_at, revoked_at from git_tokens where user = ? order by id desc').all(user) as { id: number; label: string; kind: TokenInfo['kind']; created_at: string; revoked_at: string | null }[]).map((r) => ({ id: r.id, label: r.label, kind: r.kind, createdAt: r.created_at, revokedAt: r.revoked_at }));
    },

    async revokeToken(user, id, actor) {
      const result = db.prepare('update git_tokens set revoked_at = ? where id = ? and user = ? and revoked_at is null').run(new Date().toISOString(), id, user);
      if (result.changes === 0) throw new OutpostError('NOT_FOUND', `No active token ${id} for ${user}.`);
      audit.record({ actor: actor.name, action: 'git.token.revoke', target: user, details: { id } });
      await publishAccess();
    },

    async prepareWorkspace(owner) {
      const user = accounts.get(owner);
      if (!user) return;
      const dir = path.join(paths.workspaceDir, owner);
      await mkdir(paths.workspaceDir, { recursive: true, mode: 0o700 });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const credentialsFile = path.join(dir, 'credentials');
      const existing = await readFile(credentialsFile, 'utf8').catch(() => '');
      const current = /^password=(\S+)$/m.exec(existing)?.[1];
      const valid = current !== undefined && db.prepare("select 1 from git_tokens where hash = ? and user = ? and kind = 'workspace' and revoked_at is null").get(hashToken(current), owner) !== undefined;
      if (!valid) {
        const token = newToken();
        db.transaction(() => {
          db.prepare("update git_tokens set revoked_at = ? where user = ? and kind = 'workspace' and revoked_at is null").run(new Date().toISOString(), owner);
          insertToken(owner, 'workspace', 'workspace', token, 'system');
        })();
        await writeFileAtomic(credentialsFile, `username=${owner}\npassword=${token}\n`, 0o400);
        audit.record({ actor: 'system', action: 'git.token.workspace', target: owner });
        // Only a new token changes who the git server lets in.
        await publishAccess();
      }
      await writeFileAtomic(path.join(dir, 'config'), gitConfigFor(user), 0o444);
      // Readable by the student's uid inside their own container only; the parent is root's 0700.
      for (const file of [dir, credentialsFile]) await chown(file, config.sandbox.uid, config.sandbox.uid);
    },

    publishAccess,

    ingestPushes() {
      const file = path.join(paths.pushLogDir, 'git.jsonl');
      const row = db.prepare('select offset from git_push_log_offsets where file = ?').get(file) as { offset: number } | undefined;
      const { lines, offset } = readNewLines(file, row?.offset);
      if (offset === row?.offset) return [];
      const events: PushEvent[] = [];
      db.transaction(() => {
        for (const line of lines) {
          let push: PushRecord;
          try { push = JSON.parse(line) as PushRecord; } catch { continue; }
          const [owner, name] = push.repo.split('/') as [string, string];
          const result = db.prepare('insert into git_pushes (at, user, owner, name, client, updates) values (?, ?, ?, ?, ?, ?)').run(push.time, push.user, owner, name, push.client, JSON.stringify(push.updates));
          audit.record({ actor: push.user, action: 'git.push', target: push.repo, details: { client: push.client, updates: push.updates } });
          events.push({ id: Number(result.lastInsertRowid), at: push.time, user: push.user, owner, name, client: push.client, updates: push.updates });
        }
        db.prepare('insert into git_push_log_offsets (file, offset) values (?, ?) on conflict(file) do update set offset = excluded.offset').run(file, offset);
      })();
      for (const event of events) {
        for (const listener of listeners) {
          try { listener(event); } catch (error) { log.error({ err: error, push: event.id }, 'a push listener failed'); }
        }
      }
      return events;
    },

    pushes(filter) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: Math.min(filter.limit ?? 100, 1000) };
      if (filter.owner) { where.push('owner = @owner'); params.owner = filter.owner; }
      if (filter.name) { where.push('name = @name'); params.name = filter.name; }
      const rows = db.prepare(`select * from git_pushes ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit @limit`).all(params) as { id: number; at: string; user: string; owner: string; name: string; client: string; updates: string }[];
      return rows.map((r) => ({ ...r, updates: JSON.parse(r.updates) as PushRecord['updates'] }));
    },

    onPush(listener) {
      listeners.push(listener);
    },
  };
  return hosting;
}
