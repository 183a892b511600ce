/**
 * The one authorization policy. Every route and WebSocket asks `can(user, action, resource)`;
 * nothing decides access anywhere else. Actions are listed here with who may do them, so the whole
 * policy can be read (and tested as a matrix) in one place. Other modules add their actions here.
 */
import { OutpostError } from './errors.ts';
import type { Role, User } from './accounts.ts';

export interface Resource {
  /** The person whose thing it is (a workspace owner, an account). */
  owner?: string;
  cohort?: string;
  /** The role of the account acted on (resetting or disabling an account). */
  role?: Role;
}

export type Action =
  | 'page.home'
  | 'account.password'
  | 'account.tokens'
  | 'users.view'
  | 'users.manage'
  | 'users.reset-password'
  | 'users.disable'
  | 'cohorts.view'
  | 'cohorts.manage'
  | 'audit.view'
  | 'workspace.files.read'
  | 'workspace.use'
  | 'cohorts.sites'
  | 'network.view'
  | 'packages.manage'
  | 'repos.browse'
  | 'learn.view'
  | 'learn.submit'
  | 'gradebook.view'
  | 'gradebook.grade'
  | 'gradebook.regrade-all'
  | 'workspace.preview'
  | 'shop.view'
  | 'shop.request'
  | 'shop.review'
  | 'shop.triage'
  | 'shop.work'
  | 'shop.outbound'
  | 'shop.reports'
  | 'bundles.manage';

type Rule = (user: User, resource: Resource, relations: Relations) => boolean;

export interface Relations {
  /** Cohorts a student belongs to or an instructor teaches. */
  cohortsOf(name: string): string[];
}

const anyone: Rule = () => true;
/**
 * Staff look after the accounts of the people Outpost serves, not of those who run it: a staff member
 * who could reset an admin's (or a fellow staff member's) password could sign in as them.
 */
const actsOnAccount = (user: User, resource: Resource): boolean =>
  user.role === 'admin' || (user.role === 'staff' && resource.role !== undefined && resource.role !== 'staff' && resource.role !== 'admin');
const roles = (...allowed: Role[]): Rule => (user) => allowed.includes(user.role);
const teaches = (user: User, resource: Resource, relations: Relations): boolean => {
  if (user.role !== 'instructor') return false;
  const mine = relations.cohortsOf(user.name);
  if (resource.cohort !== undefined) return mine.includes(resource.cohort);
  if (resource.owner !== undefined) return relations.cohortsOf(resource.owner).some((c) => mine.includes(c));
  return false;
};

export const POLICY: Record<Action, { who: string; rule: Rule }> = {
  'page.home': { who: 'any signed-in user', rule: anyone },
  'account.password': { who: 'any signed-in user, for their own account', rule: anyone },
  'account.tokens': { who: 'any signed-in user, for their own git access tokens', rule: anyone },
  'users.view': { who: 'staff, admin', rule: roles('staff', 'admin') },
  'users.manage': { who: 'admin', rule: roles('admin') },
  'users.reset-password': { who: 'admin; staff, for student, instructor and client accounts', rule: (u, r) => actsOnAccount(u, r) },
  'users.disable': { who: 'admin; staff, for student, instructor and client accounts', rule: (u, r) => actsOnAccount(u, r) },
  'cohorts.view': { who: 'staff, admin; an instructor for the cohorts they teach', rule: (u, r, rel) => roles('staff', 'admin')(u, r, rel) || (r.cohort === undefined ? u.role === 'instructor' : teaches(u, r, rel)) },
  'cohorts.manage': { who: 'admin', rule: roles('admin') },
  'audit.view': { who: 'staff, admin', rule: roles('staff', 'admin') },
  'workspace.files.read': {
    who: 'the student, an instructor of their cohort, staff, admin (access by others is audited)',
    rule: (u, r, rel) => (r.owner !== undefined && u.name === r.owner) || roles('staff', 'admin')(u, r, rel) || teaches(u, r, rel),
  },
  'cohorts.sites': { who: 'an instructor for the cohorts they teach, staff, admin', rule: (u, r, rel) => roles('staff', 'admin')(u, r, rel) || teaches(u, r, rel) },
  'network.view': { who: 'staff, admin', rule: roles('staff', 'admin') },
  'packages.manage': { who: 'staff, admin', rule: roles('staff', 'admin') },
  // Each repository's own readers are decided by git hosting; a repository someone may not read answers 404.
  'repos.browse': { who: 'any signed-in user; each repository only for those git hosting lets read it', rule: anyone },
  'learn.view': { who: 'any signed-in user (students see their own progress and attempts)', rule: anyone },
  'learn.submit': { who: 'students, for themselves', rule: roles('student') },
  'gradebook.view': {
    who: 'an instructor for the cohorts they teach (and their students), staff, admin',
    rule: (u, r, rel) => roles('staff', 'admin')(u, r, rel) || (r.cohort === undefined && r.owner === undefined ? u.role === 'instructor' : teaches(u, r, rel)),
  },
  'gradebook.grade': {
    who: "an instructor of the student's cohort, admin (overrides and comments are audited)",
    rule: (u, r, rel) => roles('admin')(u, r, rel) || (r.cohort === undefined && r.owner === undefined ? u.role === 'instructor' : teaches(u, r, rel)),
  },
  'gradebook.regrade-all': { who: 'instructors, admin', rule: roles('instructor', 'admin') },
  'workspace.use': { who: 'the student who owns the workspace, only', rule: (u, r) => r.owner !== undefined && u.name === r.owner && u.role === 'student' },
  // A student's web server, seen through Outpost: the student and the instructors of their cohort only.
  'workspace.preview': {
    who: 'the student who owns the workspace, an instructor of their cohort',
    rule: (u, r, rel) => (r.owner !== undefined && u.name === r.owner && u.role === 'student') || teaches(u, r, rel),
  },
  // The shop (shop/): each request and project is further limited inside to its client, its team,
  // its lead instructor and staff; anyone else gets 404, so a project's existence does not leak.
  'shop.view': { who: "any signed-in user; each request or project only for its client, its team's students, its lead instructor (instructors also see requests to triage), staff, admin", rule: anyone },
  'shop.request': { who: 'clients, for their own requests', rule: roles('client') },
  'shop.review': { who: 'clients, for their own projects (accept a deliverable or request changes)', rule: roles('client') },
  'shop.triage': { who: 'instructors, staff, admin (accept or decline requests, set scope, milestones, lead and team)', rule: roles('instructor', 'staff', 'admin') },
  'shop.work': { who: "students, on their own team's projects (mark deliverables ready, log their hours, consent to show their name)", rule: roles('student') },
  'shop.outbound': { who: 'staff, admin (review, approve or reject outbound packages)', rule: roles('staff', 'admin') },
  'shop.reports': { who: 'staff, admin (hours reports and their CSV)', rule: roles('staff', 'admin') },
  // Offline update bundles (server/bundles.ts): what enters the facility from outside.
  'bundles.manage': { who: 'staff, admin (review, approve or reject offline update bundles)', rule: roles('staff', 'admin') },
};

export interface Policy {
  can(user: User | undefined, action: Action, resource?: Resource): boolean;
  /** Throws AUTH_REQUIRED for anonymous callers and AUTH_FORBIDDEN for the rest. */
  assert(user: User | undefined, action: Action, resource?: Resource): asserts user is User;
}

export function createPolicy(relations: Relations): Policy {
  const can = (user: User | undefined, action: Action, resource: Resource = {}): boolean => {
    if (!user || user.disabled) return false;
    return POLICY[action].rule(user, resource, relations);
  };
  return {
    can,
    assert(user, action, resource = {}) {
      if (can(user, action, resource)) return;
      if (!user) throw new OutpostError('AUTH_REQUIRED', 'Sign in first.');
      throw new OutpostError('AUTH_FORBIDDEN', 'You do not have access to this.', { details: { action } });
    },
  };
}
