/**
 * The shop's workflow: clients' project requests (with attachments), triage (accept with scope,
 * milestones, a lead instructor and a student team, which creates the team's repository from a
 * skeleton; or decline with a reason), milestones (open → ready with a commit → changes requested or
 * accepted), message threads, students' hours, and outbound packages that leave only after staff
 * approve them. Who may see what is decided here (`projectRole`, `requestVisible`); a person with
 * no role in a project gets SHOP_PROJECT_NOT_FOUND, never a hint that it exists. Every change is
 * audited by the call that makes it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Accounts, Actor, User } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import type { Config } from '../core/config.ts';
import { OutpostError } from '../core/errors.ts';
import type { Store } from '../core/store.ts';
import type { GitHosting } from '../fake-internet/git/hosting.ts';
import { resolveRef } from '../fake-internet/git/repos.ts';
import { cleanFilename, createAttachmentStore, detectAttachmentType, type AttachmentStore } from './attachments.ts';
import { createBundle, diffSummary, releaseNotes, scanCommit, type DiffSummary, type Finding } from './outbound.ts';
import { validBuildOutput, type ShopBuilder } from './build.ts';
import type { Team, Teams } from './teams.ts';

export const SKELETONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'skeletons');

export type RequestStatus = 'submitted' | 'accepted' | 'declined';
export interface ShopRequest { id: number; client: string; title: string; description: string; criteria: string; status: RequestStatus; reason: string | null; decidedBy: string | null; decidedAt: string | null; createdAt: string; project: number | null }
export interface Attachment { id: number; request: number; filename: string; kind: string; contentType: string; size: number; sha256: string; uploadedBy: string; uploadedAt: string }
export interface Project {
  id: number; request: number; client: string; title: string; slug: string; team: string; lead: string; scope: string; repoOwner: string; repoName: string; createdAt: string;
  /** Run on the delivered commit for every package, if set; `buildOutput` is the folder it makes. */
  buildCommand: string | null; buildOutput: string | null;
}
export type MilestoneStatus = 'open' | 'ready' | 'changes-requested' | 'accepted';
export interface Milestone { id: number; project: number; position: number; title: string; due: string; status: MilestoneStatus; commit: string | null; readyBy: string | null; readyAt: string | null; decidedAt: string | null }
export interface Message { id: number; project: number; milestone: number | null; author: string; kind: 'comment' | 'changes-requested' | 'accepted' | 'ready' | 'system'; body: string; at: string }
export interface HoursEntry { id: number; student: string; project: number; day: string; hours: number; note: string; at: string }
/** `building` until the bundle (and build) are complete and the milestone is accepted; only `pending` can be approved. */
export type PackageStatus = 'building' | 'pending' | 'approved' | 'rejected';
export interface Package {
  id: number; project: number; milestone: number; commit: string; baseCommit: string | null; status: PackageStatus; bundleFile: string; size: number; sha256: string;
  /** The one commit in the bundle (the delivered tree, no history); differs from `commit`, which stays in the team's repository. */
  bundleCommit: string | null;
  releaseNotes: string; findings: Finding[]; diff: DiffSummary; createdAt: string; reviewedBy: string | null; reviewedAt: string | null; reviewNote: string | null;
  /** The packed build output, when the project has a build. */
  build: { file: string; size: number; sha256: string; log: string } | null;
}

/** Someone's part in one project; undefined means: not theirs to see. */
export type ProjectRole = 'client' | 'member' | 'lead' | 'staff';

export interface AcceptInput {
  scope: string;
  /** A pseudonym such as "Falcon"; the team is created (or given these members) as needed. */
  team: string;
  members: string[];
  lead: string;
  milestones: { title: string; due: string }[];
  /** A folder name under shop/skeletons (default node-web). */
  skeleton?: string;
  /** Optional: a build to run for every package (`npm ci && npm run build`) and the folder it makes (`dist`). */
  build?: { command: string; output: string };
}

export interface HoursRow { student: string; project: number; projectTitle: string; hours: number; days: number }

export interface Shop {
  teams: Teams;
  /** Attachment bytes, stored by SHA-256. */
  files: AttachmentStore;
  // requests
  createRequest(input: { title: string; description: string; criteria: string }, client: User, actor: Actor): ShopRequest;
  request(id: number): ShopRequest | undefined;
  /** The request if this user may see it (its client; instructors, staff, admin), else SHOP_REQUEST_NOT_FOUND. */
  requestFor(user: User, id: number): ShopRequest;
  requests(filter?: { client?: string; status?: RequestStatus }): ShopRequest[];
  addAttachment(requestId: number, input: { filename: string; data: Buffer }, actor: Actor): Promise<Attachment>;
  attachments(requestId: number): Attachment[];
  attachment(id: number): Attachment | undefined;
  accept(requestId: number, input: AcceptInput, actor: Actor): Promise<Project>;
  decline(requestId: number, reason: string, actor: Actor): ShopRequest;
  // projects
  project(id: number): Project | undefined;
  projects(filter?: { client?: string; team?: string; lead?: string }): Project[];
  projectsFor(user: User): Project[];
  projectRole(user: User, project: Project): ProjectRole | undefined;
  /** The project if this user has a role in it, else SHOP_PROJECT_NOT_FOUND. */
  projectFor(user: User, id: number): { project: Project; role: ProjectRole };
  team(project: Project): Team;
  /** How a person is shown to a client: a student as the team's pseudonym unless they consented. */
  nameForClient(project: Project, person: string): string;
  addMilestone(projectId: number, input: { title: string; due: string }, actor: Actor): Milestone;
  milestones(projectId: number): Milestone[];
  milestone(projectId: number, id: number): Milestone;
  markReady(projectId: number, milestoneId: number, ref: string, actor: Actor): Promise<Milestone>;
  requestChanges(projectId: number, milestoneId: number, comment: string, actor: Actor): Milestone;
  acceptMilestone(projectId: number, milestoneId: number, comment: string, actor: Actor): Promise<{ milestone: Milestone; package: Package }>;
  // messages
  post(projectId: number, input: { milestone?: number | null; body: string; kind?: Message['kind'] }, actor: Actor): Message;
  messages(projectId: number, milestone?: number): Message[];
  /** The newest messages of every project (staff read them all). */
  recentMessages(limit: number): Message[];
  // hours
  logHours(input: { student: string; project: number; day: string; hours: number; note?: string }, actor: Actor): HoursEntry;
  hours(filter: { student?: string; project?: number; from?: string; to?: string }): HoursEntry[];
  hoursByStudent(filter?: { from?: string; to?: string }): HoursRow[];
  hoursCsv(by: 'student' | 'project', filter?: { from?: string; to?: string }): string;
  // outbound
  package(id: number): Package | undefined;
  packages(filter?: { project?: number; status?: PackageStatus }): Package[];
  approvePackage(id: number, note: string, actor: Actor): Package;
  rejectPackage(id: number, note: string, actor: Actor): Package;
  /** The package file for a download by this user: clients only approved packages of their own projects. */
  packageForDownload(user: User, id: number, actor: Actor, what?: 'bundle' | 'build'): { pkg: Package; file: string; filename: string };
  /** Sets (or, with null, removes) the build every later package runs. */
  setBuild(projectId: number, build: { command: string; output: string } | null, actor: Actor): Project;
}

export interface ShopDeps {
  store: Store;
  audit: AuditLog;
  accounts: Accounts;
  git: GitHosting;
  teams: Teams;
  config: Config['shop'];
  dataDir: string;
  /** Runs a project's build in a sandbox (shop/build.ts); without it, projects with a build cannot be packaged. */
  builder?: ShopBuilder;
  now?: () => Date;
}

interface RequestRow { id: number; client: string; title: string; description: string; criteria: string; status: RequestStatus; reason: string | null; decided_by: string | null; decided_at: string | null; created_at: string }
interface ProjectRow { id: number; request: number; client: string; title: string; slug: string; team: string; lead: string; scope: string; repo_owner: string; repo_name: string; created_at: string; build_command: string | null; build_output: string | null }
interface MilestoneRow { id: number; project: number; position: number; title: string; due: string; status: MilestoneStatus; commit_oid: string | null; ready_by: string | null; ready_at: string | null; decided_at: string | null }
interface PackageRow { id: number; project: number; milestone: number; commit_oid: string; base_commit: string | null; status: PackageStatus; bundle_file: string; size: number; sha256: string; release_notes: string; findings: string; diff: string; created_at: string; reviewed_by: string | null; reviewed_at: string | null; review_note: string | null; build_file: string | null; build_size: number | null; build_sha256: string | null; build_log: string | null; bundle_commit: string | null }

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function isValidDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const d = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day;
}

/** "Shop inventory app!" → "shop-inventory-app" (a git repository name). */
export function slugify(title: string): string {
  const slug = title.normalize('NFKD').replace(/[^\x20-\x7e]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return slug || 'project';
}

export const csvField = (value: string | number | null) => {
  const text = value === null ? '' : String(value);
  // A leading = + - @ would make a spreadsheet run it as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

function text(value: unknown, field: string, label: string, max: number, min = 1): string {
  const s = typeof value === 'string' ? value.normalize('NFC').trim() : '';
  if (s.length < min) throw new OutpostError('INPUT_INVALID', `${label} is needed${min > 1 ? ` (at least ${min} characters)` : ''}.`, { details: { field } });
  if (s.length > max) throw new OutpostError('INPUT_INVALID', `${label} has at most ${max} characters.`, { details: { field } });
  return s;
}

const withIp = (actor: Actor) => (actor.ip ? { ip: actor.ip } : {});

export function createShop(deps: ShopDeps): Shop {
  const { db } = deps.store;
  const { audit, accounts, git, teams, config } = deps;
  const now = deps.now ?? (() => new Date());
  const shopDir = path.join(deps.dataDir, 'shop');
  const attachments = createAttachmentStore(path.join(shopDir, 'attachments'));
  const workDir = path.join(shopDir, 'work');
  /** Milestones whose package is being made right now (a double click must not make two). */
  const accepting = new Set<number>();
  /** Packages this process is making; a `building` one not in here was left by a server that stopped. */
  const making = new Set<number>();

  const toRequest = (r: RequestRow): ShopRequest => ({
    id: r.id, client: r.client, title: r.title, description: r.description, criteria: r.criteria, status: r.status, reason: r.reason, decidedBy: r.decided_by, decidedAt: r.decided_at, createdAt: r.created_at,
    project: (db.prepare('select id from shop_projects where request = ?').get(r.id) as { id: number } | undefined)?.id ?? null,
  });
  const toProject = (r: ProjectRow): Project => ({ id: r.id, request: r.request, client: r.client, title: r.title, slug: r.slug, team: r.team, lead: r.lead, scope: r.scope, repoOwner: r.repo_owner, repoName: r.repo_name, createdAt: r.created_at, buildCommand: r.build_command, buildOutput: r.build_output });
  const toMilestone = (r: MilestoneRow): Milestone => ({ id: r.id, project: r.project, position: r.position, title: r.title, due: r.due, status: r.status, commit: r.commit_oid, readyBy: r.ready_by, readyAt: r.ready_at, decidedAt: r.decided_at });
  const toPackage = (r: PackageRow): Package => ({
    id: r.id, project: r.project, milestone: r.milestone, commit: r.commit_oid, baseCommit: r.base_commit, status: r.status, bundleFile: r.bundle_file, size: r.size, sha256: r.sha256, bundleCommit: r.bundle_commit,
    releaseNotes: r.release_notes, findings: JSON.parse(r.findings) as Finding[], diff: JSON.parse(r.diff) as DiffSummary, createdAt: r.created_at, reviewedBy: r.reviewed_by, reviewedAt: r.reviewed_at, reviewNote: r.review_note,
    build: r.build_file ? { file: r.build_file, size: r.build_size ?? 0, sha256: r.build_sha256 ?? '', log: r.build_log ?? '' } : null,
  });

  function request(id: number): ShopRequest | undefined {
    const row = db.prepare('select * from shop_requests where id = ?').get(id) as RequestRow | undefined;
    return row ? toRequest(row) : undefined;
  }
  function requireRequest(id: number): ShopRequest {
    const r = Number.isInteger(id) ? request(id) : undefined;
    if (!r) throw new OutpostError('SHOP_REQUEST_NOT_FOUND', 'There is no such project request.');
    return r;
  }
  function project(id: number): Project | undefined {
    const row = db.prepare('select * from shop_projects where id = ?').get(id) as ProjectRow | undefined;
    return row ? toProject(row) : undefined;
  }
  function requireProject(id: number): Project {
    const p = Number.isInteger(id) ? project(id) : undefined;
    if (!p) throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
    return p;
  }
  const isStaff = (u: User) => u.role === 'staff' || u.role === 'admin';

  function projectRole(user: User, p: Project): ProjectRole | undefined {
    if (user.disabled) return undefined;
    if (isStaff(user)) return 'staff';
    if (user.role === 'client' && p.client === user.name) return 'client';
    if (user.role === 'instructor' && p.lead === user.name) return 'lead';
    if (user.role === 'student' && (teams.members(p.team) ?? []).includes(user.name)) return 'member';
    return undefined;
  }

  function milestones(projectId: number): Milestone[] {
    return (db.prepare('select * from shop_milestones where project = ? order by position, id').all(projectId) as MilestoneRow[]).map(toMilestone);
  }
  function milestone(projectId: number, id: number): Milestone {
    const row = db.prepare('select * from shop_milestones where id = ? and project = ?').get(id, projectId) as MilestoneRow | undefined;
    if (!row) throw new OutpostError('NOT_FOUND', 'There is no such milestone in this project.');
    return toMilestone(row);
  }

  function checkBuild(input: { command: string; output: string }): { command: string; output: string } {
    const command = String(input.command ?? '').trim();
    const output = String(input.output ?? '').trim().replace(/\/+$/, '');
    if (command.length < 2 || command.length > 2000 || /[\r\n\0]/.test(command)) throw new OutpostError('INPUT_INVALID', 'The build command is one line, such as: npm ci && npm run build', { details: { field: 'buildCommand' } });
    if (!validBuildOutput(output)) throw new OutpostError('INPUT_INVALID', `The build output "${output.slice(0, 100)}" must be a folder inside the project, such as dist.`, { details: { field: 'buildOutput' } });
    return { command, output };
  }

  function checkMilestone(input: { title: string; due: string }, index: number): { title: string; due: string } {
    const title = text(input.title, 'milestones', `Milestone ${index + 1}'s title`, 200);
    if (!isValidDay(input.due)) throw new OutpostError('INPUT_INVALID', `Milestone "${title}" needs a due date as YYYY-MM-DD.`, { details: { field: 'milestones' } });
    return { title, due: input.due };
  }

  function insertMilestone(projectId: number, m: { title: string; due: string }): Milestone {
    const position = ((db.prepare('select max(position) as p from shop_milestones where project = ?').get(projectId) as { p: number | null }).p ?? 0) + 1;
    const id = Number(db.prepare('insert into shop_milestones (project, position, title, due) values (?, ?, ?, ?)').run(projectId, position, m.title, m.due).lastInsertRowid);
    return milestone(projectId, id);
  }

  function post(projectId: number, input: { milestone?: number | null; body: string; kind?: Message['kind'] }, actor: Actor): Message {
    requireProject(projectId);
    const body = text(input.body, 'body', 'A message', 10_000);
    const ms = input.milestone ?? null;
    if (ms !== null) milestone(projectId, ms);
    const at = now().toISOString();
    const kind = input.kind ?? 'comment';
    const id = Number(db.prepare('insert into shop_messages (project, milestone, author, kind, body, at) values (?, ?, ?, ?, ?, ?)').run(projectId, ms, actor.name, kind, body, at).lastInsertRowid);
    audit.record({ actor: actor.name, action: 'shop.message', target: `project:${projectId}`, details: { message: id, milestone: ms, kind }, ...withIp(actor) });
    return { id, project: projectId, milestone: ms, author: actor.name, kind, body, at };
  }

  function packages(filter: { project?: number; status?: PackageStatus } = {}): Package[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.project !== undefined) { where.push('project = @project'); params.project = filter.project; }
    if (filter.status) { where.push('status = @status'); params.status = filter.status; }
    return (db.prepare(`select * from shop_packages ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc`).all(params) as PackageRow[]).map(toPackage);
  }

  function packageRow(id: number): Package {
    const row = Number.isInteger(id) ? (db.prepare('select * from shop_packages where id = ?').get(id) as PackageRow | undefined) : undefined;
    if (!row) throw new OutpostError('SHOP_PACKAGE_NOT_FOUND', 'There is no such package.');
    return toPackage(row);
  }

  /** Marks a package that will never be complete as rejected by the system, unless someone decided it already. */
  function failPackage(id: number, why: string, actor: Actor, details: Record<string, unknown>): void {
    db.prepare("update shop_packages set status = 'rejected', reviewed_by = 'system', reviewed_at = ?, review_note = ? where id = ? and status = 'building'").run(now().toISOString(), why.slice(0, 1000), id);
    audit.record({ actor: actor.name, action: 'shop.package.failed', target: `package:${id}`, details: { ...details, error: why.slice(0, 300) } });
  }

  /**
   * Makes the package's bundle (and build) for the milestone's commit. The row is `building` from
   * the start, so staff see it but cannot approve it: what they approve must be exactly what the
   * client downloads. The caller makes it `pending` together with accepting the milestone.
   */
  async function makePackage(p: Project, m: Milestone, actor: Actor): Promise<{ id: number; details: Record<string, unknown> }> {
    const commit = m.commit!;
    const repoDir = git.repoDir(p.repoOwner, p.repoName);
    const base = (db.prepare("select commit_oid from shop_packages where project = ? and status = 'approved' order by id desc limit 1").get(p.id) as { commit_oid: string } | undefined)?.commit_oid ?? null;
    const team = teams.get(p.team)!;
    const notes = await releaseNotes({ repoDir, commit, base, project: p.title, milestone: m.title, team: team.pseudonym });
    // What clients see of a team (shop.nameForClient): its pseudonym, and The Last Mile Works.
    const author = { name: team.pseudonym, email: `${team.name}@shop.invalid` };
    const committer = { name: 'The Last Mile Works', email: 'outbound@shop.invalid' };
    const people = accounts.list({ role: 'student' }).map((u) => ({ name: u.name, displayName: u.displayName, externalId: u.externalId }));
    const scan = await scanCommit({ repoDir, commit, workDir, people, extraText: [{ where: '(release notes)', text: notes }, { where: '(bundle commit)', text: [author, committer].map((who) => `${who.name} <${who.email}>`).join('\n') }] });
    const diff = await diffSummary(repoDir, base, commit);
    const createdAt = now();
    const id = Number(db.prepare(`insert into shop_packages (project, milestone, commit_oid, base_commit, status, bundle_file, size, sha256, release_notes, findings, diff, created_at)
      values (?, ?, ?, ?, 'building', '', 0, '', ?, ?, ?, ?)`).run(p.id, m.id, commit, base, notes, JSON.stringify(scan.findings), JSON.stringify(diff), createdAt.toISOString()).lastInsertRowid);
    const details = { project: p.id, milestone: m.id, commit, base, findings: scan.findings.length, files: diff.files.length };
    making.add(id);
    try {
      const bundleFile = path.join(shopDir, 'packages', `${id}.bundle`);
      // The release notes are the commit message: scanned above, and what the client reads in `git log`.
      const bundle = await createBundle({ repoDir, commit, outFile: bundleFile, workDir, maxBytes: config.maxBundleMiB * 1024 * 1024, message: notes, author, committer, date: createdAt });
      db.prepare("update shop_packages set bundle_file = ?, size = ?, sha256 = ?, bundle_commit = ? where id = ? and status = 'building'").run(bundleFile, bundle.size, bundle.sha256, bundle.commit, id);
      if (p.buildCommand && p.buildOutput) {
        if (!deps.builder) throw new OutpostError('SHOP_PACKAGE_FAILED', 'This project has a build, but this server cannot run builds (no Docker engine).');
        const buildFile = path.join(shopDir, 'packages', `${id}.build.tar.gz`);
        const built = await deps.builder.build({ repoDir, commit, command: p.buildCommand, output: p.buildOutput, outFile: buildFile, maxBytes: config.maxBundleMiB * 1024 * 1024, timeoutSeconds: config.buildTimeoutSeconds });
        db.prepare("update shop_packages set build_file = ?, build_size = ?, build_sha256 = ?, build_log = ? where id = ? and status = 'building'").run(buildFile, built.size, built.sha256, built.log.slice(-4000), id);
      }
    } catch (error) {
      making.delete(id);
      failPackage(id, `The package could not be built: ${(error as Error).message}`, actor, { project: p.id, milestone: m.id, commit });
      throw error;
    }
    // Still in `making`: the caller takes it out once the package is pending (or failed).
    return { id, details };
  }

  function review(id: number, status: 'approved' | 'rejected', note: string, actor: Actor): Package {
    const pkg = packageRow(id);
    // A `building` package nobody is making (the server stopped meanwhile) will never be complete: staff may reject it, never approve it.
    const orphan = pkg.status === 'building' && !making.has(id);
    if (pkg.status === 'building' && !orphan) throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} is still being made (bundle and build); it can be reviewed once it is complete.`);
    if (orphan && status === 'approved') throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} was never completed (the server stopped while it was made); reject it, and the client may accept the milestone again.`);
    if (pkg.status !== 'pending' && !orphan) throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} is already ${pkg.status}.`);
    const complete = /^[0-9a-f]{64}$/.test(pkg.sha256) && pkg.bundleFile !== '' && (!pkg.build || /^[0-9a-f]{64}$/.test(pkg.build.sha256));
    if (status === 'approved' && !complete) throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} has no complete bundle${pkg.build ? ' or build' : ''}; it cannot be approved. Reject it; the client may accept the milestone again.`);
    const clean = typeof note === 'string' ? note.trim().slice(0, 2000) : '';
    if (status === 'rejected' && clean.length < 3) throw new OutpostError('INPUT_INVALID', 'Say why the package is rejected; the team reads it.', { details: { field: 'note' } });
    if (status === 'approved' && pkg.findings.length > 0 && clean.length < 3) {
      throw new OutpostError('INPUT_INVALID', `The personal-data check found ${pkg.findings.length} thing(s); approving anyway needs a note saying why each is fine (consent, a false match).`, { details: { field: 'note' } });
    }
    const changed = db.prepare('update shop_packages set status = ?, reviewed_by = ?, reviewed_at = ?, review_note = ? where id = ? and status = ?').run(status, actor.name, now().toISOString(), clean, id, pkg.status).changes;
    if (changed === 0) throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} was decided meanwhile; reload the page.`);
    audit.record({ actor: actor.name, action: status === 'approved' ? 'shop.package.approve' : 'shop.package.reject', target: `package:${id}`, details: { project: pkg.project, commit: pkg.commit, sha256: pkg.sha256, bundleCommit: pkg.bundleCommit, build: pkg.build?.sha256 ?? null, findings: pkg.findings.length, note: clean }, ...withIp(actor) });
    post(pkg.project, { milestone: pkg.milestone, kind: 'system', body: status === 'approved' ? `Package ${id} was approved by staff and can be downloaded (SHA-256 ${pkg.sha256}).` : `Package ${id} was not released by staff: ${clean}` }, { name: actor.name });
    return packageRow(id);
  }

  function sumHours(where: string, params: Record<string, unknown>): HoursEntry[] {
    return (db.prepare(`select * from shop_hours ${where} order by day, id`).all(params) as { id: number; student: string; project: number; day: string; hours: number; note: string; at: string }[]);
  }

  function hoursByStudent(filter: { from?: string; to?: string } = {}): HoursRow[] {
    const { where, params } = range(filter);
    return (db.prepare(`select h.student, h.project, p.title as projectTitle, sum(h.hours) as hours, count(distinct h.day) as days from shop_hours h join shop_projects p on p.id = h.project ${where} group by h.student, h.project order by h.student, h.project`).all(params) as HoursRow[]);
  }

  function range(filter: { from?: string; to?: string; student?: string; project?: number }): { where: string; params: Record<string, unknown> } {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.from) { if (!isValidDay(filter.from)) throw new OutpostError('INPUT_INVALID', 'From is a date as YYYY-MM-DD.'); where.push('day >= @from'); params.from = filter.from; }
    if (filter.to) { if (!isValidDay(filter.to)) throw new OutpostError('INPUT_INVALID', 'To is a date as YYYY-MM-DD.'); where.push('day <= @to'); params.to = filter.to; }
    if (filter.student) { where.push('student = @student'); params.student = filter.student; }
    if (filter.project !== undefined) { where.push('project = @project'); params.project = filter.project; }
    return { where: where.length ? `where ${where.join(' and ')}` : '', params };
  }

  const shop: Shop = {
    teams,
    files: attachments,

    createRequest(input, client, actor) {
      if (client.role !== 'client') throw new OutpostError('AUTH_FORBIDDEN', 'Only clients file project requests.');
      const title = text(input.title, 'title', 'A title', 200, 3);
      const description = text(input.description, 'description', 'A description', 20_000, 10);
      const criteria = text(input.criteria, 'criteria', 'Acceptance criteria', 20_000, 3);
      const id = Number(db.prepare('insert into shop_requests (client, title, description, criteria, created_at) values (?, ?, ?, ?, ?)').run(client.name, title, description, criteria, now().toISOString()).lastInsertRowid);
      audit.record({ actor: actor.name, action: 'shop.request.create', target: `request:${id}`, details: { title }, ...withIp(actor) });
      return request(id)!;
    },
    request,
    requestFor(user, id) {
      const r = requireRequest(id);
      const visible = (user.role === 'client' && r.client === user.name) || user.role === 'instructor' || isStaff(user);
      if (!visible || user.disabled) throw new OutpostError('SHOP_REQUEST_NOT_FOUND', 'There is no such project request.');
      return r;
    },
    requests(filter = {}) {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      if (filter.client) { where.push('client = @client'); params.client = filter.client; }
      if (filter.status) { where.push('status = @status'); params.status = filter.status; }
      return (db.prepare(`select * from shop_requests ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc`).all(params) as RequestRow[]).map(toRequest);
    },

    async addAttachment(requestId, input, actor) {
      const r = requireRequest(requestId);
      if (r.status !== 'submitted') throw new OutpostError('SHOP_STATE_INVALID', 'Files can be added while the request waits for triage only.');
      const count = (db.prepare('select count(*) as n from shop_attachments where request = ?').get(requestId) as { n: number }).n;
      if (count >= config.maxAttachmentsPerRequest) throw new OutpostError('SHOP_STATE_INVALID', `A request holds at most ${config.maxAttachmentsPerRequest} files.`);
      const filename = cleanFilename(input.filename);
      if (input.data.length > config.maxAttachmentMiB * 1024 * 1024) throw new OutpostError('SHOP_ATTACHMENT_TOO_LARGE', `"${filename}" is larger than ${config.maxAttachmentMiB} MiB, the shop's limit per file.`);
      const type = detectAttachmentType(input.data, filename);
      const { sha256, size } = await attachments.put(input.data);
      const id = Number(db.prepare('insert into shop_attachments (request, filename, kind, content_type, size, sha256, uploaded_by, uploaded_at) values (?, ?, ?, ?, ?, ?, ?, ?)').run(requestId, filename, type.kind, type.contentType, size, sha256, actor.name, now().toISOString()).lastInsertRowid);
      audit.record({ actor: actor.name, action: 'shop.attachment.add', target: `request:${requestId}`, details: { attachment: id, filename, kind: type.kind, size, sha256 }, ...withIp(actor) });
      return shop.attachment(id)!;
    },
    attachments(requestId) {
      return (db.prepare('select id, request, filename, kind, content_type as contentType, size, sha256, uploaded_by as uploadedBy, uploaded_at as uploadedAt from shop_attachments where request = ? order by id').all(requestId) as Attachment[]);
    },
    attachment(id) {
      return db.prepare('select id, request, filename, kind, content_type as contentType, size, sha256, uploaded_by as uploadedBy, uploaded_at as uploadedAt from shop_attachments where id = ?').get(id) as Attachment | undefined;
    },

    async accept(requestId, input, actor) {
      const r = requireRequest(requestId);
      if (r.status !== 'submitted') throw new OutpostError('SHOP_STATE_INVALID', `This request was already ${r.status}.`);
      const scope = text(input.scope, 'scope', 'The scope', 20_000, 3);
      const lead = accounts.get(input.lead);
      if (!lead || lead.role !== 'instructor' || lead.disabled) throw new OutpostError('INPUT_INVALID', `"${String(input.lead).slice(0, 40)}" is not an active instructor; name one as the lead.`, { details: { field: 'lead' } });
      if (input.milestones.length === 0) throw new OutpostError('INPUT_INVALID', 'Set at least one milestone, one per line as YYYY-MM-DD Title.', { details: { field: 'milestones' } });
      const ms = input.milestones.map(checkMilestone);
      const skeleton = input.skeleton ?? 'node-web';
      if (!/^[a-z0-9-]+$/.test(skeleton)) throw new OutpostError('INPUT_INVALID', `There is no skeleton "${skeleton}".`, { details: { field: 'skeleton' } });
      const skeletonDir = path.join(SKELETONS_DIR, skeleton);
      await readFile(path.join(skeletonDir, 'README.md')).catch(() => { throw new OutpostError('INPUT_INVALID', `There is no skeleton "${skeleton}".`, { details: { field: 'skeleton' } }); });
      const build = input.build ? checkBuild(input.build) : null;
      const team = teams.ensure(input.team, input.members, actor);
      let slug = slugify(r.title);
      for (let n = 2; git.get(team.name, slug); n++) slug = `${slugify(r.title).slice(0, 36)}-${n}`;
      // The repository first: if git fails, nothing else has changed (a team made here stays, harmlessly).
      await git.create({ owner: team.name, name: slug, from: skeletonDir, ownerKind: 'team', description: r.title }, actor);
      // The lead instructor reads the team's repository (in the git web view and with git); the
      // client only when configured, since commit pages name their authors.
      await git.setCollaborator(team.name, slug, lead.name, 'read', actor);
      if (config.clientGitAccess) await git.setCollaborator(team.name, slug, r.client, 'read', actor);
      const at = now().toISOString();
      const projectId = db.transaction(() => {
        const changed = db.prepare("update shop_requests set status = 'accepted', decided_by = ?, decided_at = ? where id = ? and status = 'submitted'").run(actor.name, at, requestId).changes;
        if (changed === 0) throw new OutpostError('SHOP_STATE_INVALID', 'This request was decided meanwhile.');
        const id = Number(db.prepare('insert into shop_projects (request, client, title, slug, team, lead, scope, repo_owner, repo_name, created_at, build_command, build_output) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(requestId, r.client, r.title, slug, team.name, lead.name, scope, team.name, slug, at, build?.command ?? null, build?.output ?? null).lastInsertRowid);
        for (const m of ms) insertMilestone(id, m);
        return id;
      })();
      await git.publishAccess();
      audit.record({ actor: actor.name, action: 'shop.request.accept', target: `request:${requestId}`, details: { project: projectId, team: team.name, lead: lead.name, repo: `${team.name}/${slug}`, milestones: ms.length }, ...withIp(actor) });
      return project(projectId)!;
    },

    decline(requestId, reason, actor) {
      const r = requireRequest(requestId);
      if (r.status !== 'submitted') throw new OutpostError('SHOP_STATE_INVALID', `This request was already ${r.status}.`);
      const why = text(reason, 'reason', 'A reason the client can read', 5000, 3);
      db.prepare("update shop_requests set status = 'declined', reason = ?, decided_by = ?, decided_at = ? where id = ? and status = 'submitted'").run(why, actor.name, now().toISOString(), requestId);
      audit.record({ actor: actor.name, action: 'shop.request.decline', target: `request:${requestId}`, details: { reason: why }, ...withIp(actor) });
      return request(requestId)!;
    },

    project,
    projects(filter = {}) {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      if (filter.client) { where.push('client = @client'); params.client = filter.client; }
      if (filter.team) { where.push('team = @team'); params.team = filter.team; }
      if (filter.lead) { where.push('lead = @lead'); params.lead = filter.lead; }
      return (db.prepare(`select * from shop_projects ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc`).all(params) as ProjectRow[]).map(toProject);
    },
    projectsFor(user) {
      return shop.projects().filter((p) => projectRole(user, p) !== undefined);
    },
    projectRole,
    projectFor(user, id) {
      const p = Number.isInteger(id) ? project(id) : undefined;
      const role = p ? projectRole(user, p) : undefined;
      if (!p || !role) throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
      return { project: p, role };
    },
    team(p) {
      return teams.get(p.team)!;
    },
    nameForClient(p, person) {
      const team = teams.get(p.team);
      const member = team?.members.find((m) => m.student === person);
      if (member) return member.showName ? `${accounts.get(person)?.displayName || person} (${team!.pseudonym})` : team!.pseudonym;
      const user = accounts.get(person);
      // Anyone else who can write in a thread is staff, an instructor or the client: named by role.
      if (!user) return person === 'system' ? 'Outpost' : 'The Last Mile Works';
      if (user.role === 'student') return 'The Last Mile Works';
      if (user.role === 'client') return user.displayName || user.name;
      return `${user.displayName || user.name} (The Last Mile Works ${user.role === 'instructor' ? 'instructor' : 'staff'})`;
    },

    addMilestone(projectId, input, actor) {
      requireProject(projectId);
      const m = insertMilestone(projectId, checkMilestone(input, milestones(projectId).length));
      audit.record({ actor: actor.name, action: 'shop.milestone.create', target: `project:${projectId}`, details: { milestone: m.id, title: m.title, due: m.due }, ...withIp(actor) });
      return m;
    },
    milestones,
    milestone,

    async markReady(projectId, milestoneId, ref, actor) {
      const p = requireProject(projectId);
      const m = milestone(projectId, milestoneId);
      if (m.status === 'accepted' || m.status === 'ready') throw new OutpostError('SHOP_STATE_INVALID', `"${m.title}" is ${m.status === 'accepted' ? 'already accepted' : 'already waiting for the client'}.`);
      const wanted = typeof ref === 'string' ? ref.trim() : '';
      if (!wanted) throw new OutpostError('INPUT_INVALID', 'Choose the commit to deliver: a branch or a commit id.', { details: { field: 'commit' } });
      const resolved = await resolveRef(git.repoDir(p.repoOwner, p.repoName), wanted);
      db.prepare("update shop_milestones set status = 'ready', commit_oid = ?, ready_by = ?, ready_at = ?, decided_at = null where id = ?").run(resolved.oid, actor.name, now().toISOString(), m.id);
      audit.record({ actor: actor.name, action: 'shop.milestone.ready', target: `project:${projectId}`, details: { milestone: m.id, commit: resolved.oid, ref: wanted }, ...withIp(actor) });
      post(projectId, { milestone: m.id, kind: 'ready', body: `Ready for review at commit ${resolved.oid}.` }, actor);
      return milestone(projectId, m.id);
    },

    requestChanges(projectId, milestoneId, comment, actor) {
      requireProject(projectId);
      const m = milestone(projectId, milestoneId);
      if (m.status !== 'ready') throw new OutpostError('SHOP_STATE_INVALID', `"${m.title}" is not waiting for review.`);
      const body = text(comment, 'comment', 'What should change', 10_000, 3);
      db.prepare("update shop_milestones set status = 'changes-requested', decided_at = ? where id = ? and status = 'ready'").run(now().toISOString(), m.id);
      audit.record({ actor: actor.name, action: 'shop.milestone.changes-requested', target: `project:${projectId}`, details: { milestone: m.id, commit: m.commit }, ...withIp(actor) });
      post(projectId, { milestone: m.id, kind: 'changes-requested', body }, actor);
      return milestone(projectId, m.id);
    },

    async acceptMilestone(projectId, milestoneId, comment, actor) {
      const p = requireProject(projectId);
      const m = milestone(projectId, milestoneId);
      if (m.status !== 'ready' || !m.commit || accepting.has(m.id)) throw new OutpostError('SHOP_STATE_INVALID', `"${m.title}" is not waiting for review.`);
      // The package first: if it cannot be made, the milestone stays ready and the client may try again.
      accepting.add(m.id);
      let made: { id: number; details: Record<string, unknown> } | undefined;
      try {
        made = await makePackage(p, m, actor);
        const id = made.id;
        // Reviewable and accepted in one step, so staff never review a package whose milestone is not accepted.
        const released = db.transaction(() => {
          const changed = db.prepare("update shop_milestones set status = 'accepted', decided_at = ? where id = ? and status = 'ready' and commit_oid = ?").run(now().toISOString(), m.id, m.commit).changes;
          if (changed === 0) return false;
          if (db.prepare("update shop_packages set status = 'pending' where id = ? and status = 'building'").run(id).changes === 0) {
            throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} was decided while it was made; reload the page.`);
          }
          return true;
        })();
        if (!released) {
          making.delete(id);
          failPackage(id, 'The milestone changed while its package was made.', actor, { project: p.id, milestone: m.id, commit: m.commit });
          throw new OutpostError('SHOP_STATE_INVALID', `"${m.title}" changed meanwhile; reload the page.`);
        }
        audit.record({ actor: actor.name, action: 'shop.package.create', target: `package:${made.id}`, details: made.details, ...withIp(actor) });
        audit.record({ actor: actor.name, action: 'shop.milestone.accept', target: `project:${projectId}`, details: { milestone: m.id, commit: m.commit, package: made.id }, ...withIp(actor) });
        post(projectId, { milestone: m.id, kind: 'accepted', body: comment && comment.trim() ? comment : 'Accepted.' }, actor);
        return { milestone: milestone(projectId, m.id), package: packageRow(made.id) };
      } finally {
        if (made) making.delete(made.id);
        accepting.delete(m.id);
      }
    },

    post,
    messages(projectId, ms) {
      const rows = ms === undefined
        ? db.prepare('select * from shop_messages where project = ? order by id').all(projectId)
        : db.prepare('select * from shop_messages where project = ? and milestone = ? order by id').all(projectId, ms);
      return rows as Message[];
    },

    recentMessages(limit) {
      return db.prepare('select * from shop_messages order by id desc limit ?').all(Math.max(1, Math.min(limit, 1000))) as Message[];
    },

    logHours(input, actor) {
      const p = requireProject(input.project);
      if (!(teams.members(p.team) ?? []).includes(input.student)) throw new OutpostError('SHOP_HOURS_INVALID', 'Hours are logged on projects of your own team only.', { details: { field: 'project' } });
      if (!isValidDay(input.day)) throw new OutpostError('SHOP_HOURS_INVALID', 'The day is a date as YYYY-MM-DD.', { details: { field: 'day' } });
      if (input.day > now().toISOString().slice(0, 10)) throw new OutpostError('SHOP_HOURS_INVALID', 'Hours are logged for today or earlier days, not ahead.', { details: { field: 'day' } });
      const hours = input.hours;
      if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > config.maxHoursPerDay || Math.round(hours * 4) !== hours * 4) {
        throw new OutpostError('SHOP_HOURS_INVALID', `Hours are more than 0 and at most ${config.maxHoursPerDay}, in quarter hours (1.25 is an hour and a quarter).`, { details: { field: 'hours' } });
      }
      const note = typeof input.note === 'string' ? input.note.trim().slice(0, 500) : '';
      const id = db.transaction(() => {
        const already = (db.prepare('select coalesce(sum(hours), 0) as h from shop_hours where student = ? and day = ?').get(input.student, input.day) as { h: number }).h;
        if (already + hours > config.maxHoursPerDay) {
          throw new OutpostError('SHOP_HOURS_INVALID', `That makes ${already + hours} hours on ${input.day} across your projects; at most ${config.maxHoursPerDay} a day (${already} already logged).`, { details: { field: 'hours', already } });
        }
        return Number(db.prepare('insert into shop_hours (student, project, day, hours, note, at) values (?, ?, ?, ?, ?, ?)').run(input.student, p.id, input.day, hours, note, now().toISOString()).lastInsertRowid);
      })();
      audit.record({ actor: actor.name, action: 'shop.hours.log', target: input.student, details: { entry: id, project: p.id, day: input.day, hours }, ...withIp(actor) });
      return db.prepare('select * from shop_hours where id = ?').get(id) as HoursEntry;
    },
    hours(filter) {
      const { where, params } = range(filter);
      return sumHours(where, params);
    },
    hoursByStudent,
    hoursCsv(by, filter = {}) {
      const rows = hoursByStudent(filter);
      const lines: string[] = [];
      if (by === 'student') {
        lines.push(['student', 'display_name', 'person_number', 'project_id', 'project', 'days', 'hours'].map(csvField).join(','));
        for (const r of rows) {
          const u = accounts.get(r.student);
          lines.push([r.student, u?.displayName ?? '', u?.externalId ?? '', r.project, r.projectTitle, r.days, r.hours].map(csvField).join(','));
        }
      } else {
        lines.push(['project_id', 'project', 'team', 'student', 'days', 'hours'].map(csvField).join(','));
        for (const r of [...rows].sort((a, b) => a.project - b.project || (a.student < b.student ? -1 : 1))) {
          lines.push([r.project, r.projectTitle, project(r.project)?.team ?? '', r.student, r.days, r.hours].map(csvField).join(','));
        }
      }
      return `${lines.join('\r\n')}\r\n`;
    },

    package(id) {
      const row = Number.isInteger(id) ? (db.prepare('select * from shop_packages where id = ?').get(id) as PackageRow | undefined) : undefined;
      return row ? toPackage(row) : undefined;
    },
    packages,
    approvePackage: (id, note, actor) => review(id, 'approved', note, actor),
    rejectPackage: (id, note, actor) => review(id, 'rejected', note, actor),
    packageForDownload(user, id, actor, what = 'bundle') {
      const pkg = shop.package(id);
      const p = pkg ? project(pkg.project) : undefined;
      const role = p ? projectRole(user, p) : undefined;
      // A client learns nothing of packages that are not theirs or not yet released.
      if (!pkg || !p || !role || (role !== 'staff' && pkg.status !== 'approved') || (role !== 'staff' && role !== 'client')) {
        throw new OutpostError('SHOP_PACKAGE_NOT_FOUND', 'There is no such package to download.');
      }
      // Its files may be half written.
      if (pkg.status === 'building') throw new OutpostError('SHOP_STATE_INVALID', `Package ${id} is still being made; download it once it is complete.`);
      if (what === 'build') {
        if (!pkg.build) throw new OutpostError('SHOP_PACKAGE_NOT_FOUND', 'This package has no build.');
        audit.record({ actor: actor.name, action: 'shop.package.download', target: `package:${id}`, details: { project: p.id, what: 'build', sha256: pkg.build.sha256, status: pkg.status }, ...withIp(actor) });
        return { pkg, file: pkg.build.file, filename: `${p.slug}-${pkg.commit.slice(0, 12)}-build.tar.gz` };
      }
      if (!pkg.bundleFile) throw new OutpostError('SHOP_PACKAGE_NOT_FOUND', 'This package has no bundle.');
      audit.record({ actor: actor.name, action: 'shop.package.download', target: `package:${id}`, details: { project: p.id, sha256: pkg.sha256, status: pkg.status }, ...withIp(actor) });
      return { pkg, file: pkg.bundleFile, filename: `${p.slug}-${pkg.commit.slice(0, 12)}.bundle` };
    },

    setBuild(projectId, build, actor) {
      const p = project(projectId);
      if (!p) throw new OutpostError('SHOP_PROJECT_NOT_FOUND', 'There is no such project.');
      const checked = build ? checkBuild(build) : null;
      db.prepare('update shop_projects set build_command = ?, build_output = ? where id = ?').run(checked?.command ?? null, checked?.output ?? null, p.id);
      audit.record({ actor: actor.name, action: 'shop.project.build', target: `project:${p.id}`, details: checked ?? { removed: true }, ...withIp(actor) });
      return project(p.id)!;
    },
  };
  return shop;
}
