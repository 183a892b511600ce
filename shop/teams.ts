/**
 * Shop teams: a pseudonym ("Team Falcon") clients see instead of the students, the members, and each
 * member's consent to show their own name to clients. Built in the composition root next to git
 * hosting, which asks `members(team)` who may push to a team-owned repository; so this module needs
 * nothing but the store and the audit log.
 */
import type { Accounts, Actor } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import { OutpostError } from '../core/errors.ts';
import type { Store } from '../core/store.ts';

export interface TeamMember { student: string; showName: boolean }
export interface Team { name: string; pseudonym: string; members: TeamMember[]; createdAt: string }

export interface Teams {
  /** Member names of a team, or undefined when no such team exists (git hosting's `teamMembers`). */
  members(team: string): string[] | undefined;
  get(team: string): Team | undefined;
  list(): Team[];
  teamsOf(student: string): string[];
  /** Creates the team named after its pseudonym (`Falcon` → `team-falcon`, "Team Falcon"), or adds members to it. */
  ensure(pseudonym: string, students: string[], actor: Actor): Team;
  setConsent(team: string, student: string, showName: boolean, actor: Actor): void;
}

const PSEUDONYM = /^[A-Za-z][A-Za-z0-9 ]{0,30}$/;

/** "Falcon" or "Team Falcon" → { name: 'team-falcon', pseudonym: 'Team Falcon' }. */
export function teamNames(input: string): { name: string; pseudonym: string } {
  const word = input.trim().replace(/^team\s+/i, '').replace(/\s+/g, ' ');
  if (!PSEUDONYM.test(word)) {
    throw new OutpostError('SHOP_TEAM_INVALID', `"${input.slice(0, 40)}" is not a team pseudonym: a word or two of letters and digits, such as Falcon.`, { details: { field: 'team' } });
  }
  const pretty = word.split(' ').map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');
  return { name: `team-${word.toLowerCase().replace(/ /g, '-')}`, pseudonym: `Team ${pretty}` };
}

export function createTeams(deps: { store: Store; accounts: Accounts; audit: AuditLog }): Teams {
  const { db } = deps.store;

  function get(name: string): Team | undefined {
    const row = db.prepare('select * from shop_teams where name = ?').get(name) as { name: string; pseudonym: string; created_at: string } | undefined;
    if (!row) return undefined;
    const members = (db.prepare('select student, show_name from shop_team_members where team = ? order by student').all(name) as { student: string; show_name: number }[])
      .map((m) => ({ student: m.student, showName: m.show_name === 1 }));
    return { name: row.name, pseudonym: row.pseudonym, members, createdAt: row.created_at };
  }

  return {
    members(team) {
      if (!db.prepare('select 1 from shop_teams where name = ?').get(team)) return undefined;
      return (db.prepare('select student from shop_team_members where team = ? order by student').all(team) as { student: string }[]).map((r) => r.student);
    },
    get,
    list() {
      return (db.prepare('select name from shop_teams order by name').all() as { name: string }[]).map((r) => get(r.name)!);
    },
    teamsOf(student) {
      return (db.prepare('select team from shop_team_members where student = ? order by team').all(student) as { team: string }[]).map((r) => r.team);
    },
    ensure(input, students, actor) {
      const { name, pseudonym } = teamNames(input);
      for (const s of students) {
        const user = deps.accounts.get(s);
        if (!user || user.role !== 'student' || user.disabled) throw new OutpostError('SHOP_TEAM_INVALID', `"${s.slice(0, 40)}" is not an active student, so cannot be on a team.`, { details: { field: 'members', student: s } });
      }
      // The team name is a git owner: it must not be mistaken for a person or a cohort.
      if (deps.accounts.get(name) || deps.accounts.cohort(name)) throw new OutpostError('SHOP_TEAM_INVALID', `"${name}" is already a user or cohort name; choose another pseudonym.`, { details: { field: 'team' } });
      const existing = get(name);
      const added = students.filter((s) => !existing?.members.some((m) => m.student === s));
      if (!existing && students.length === 0) throw new OutpostError('SHOP_TEAM_INVALID', 'A new team needs at least one student.', { details: { field: 'members' } });
      db.transaction(() => {
        if (!existing) db.prepare('insert into shop_teams (name, pseudonym, created_at, created_by) values (?, ?, ?, ?)').run(name, pseudonym, new Date().toISOString(), actor.name);
        for (const s of added) db.prepare('insert into shop_team_members (team, student) values (?, ?)').run(name, s);
      })();
      if (!existing) deps.audit.record({ actor: actor.name, action: 'shop.team.create', target: name, details: { pseudonym, members: students }, ...(actor.ip ? { ip: actor.ip } : {}) });
      else if (added.length) deps.audit.record({ actor: actor.name, action: 'shop.team.members', target: name, details: { added }, ...(actor.ip ? { ip: actor.ip } : {}) });
      return get(name)!;
    },
    setConsent(team, student, showName, actor) {
      const result = db.prepare('update shop_team_members set show_name = ? where team = ? and student = ?').run(showName ? 1 : 0, team, student);
      if (result.changes === 0) throw new OutpostError('SHOP_TEAM_INVALID', `${student} is not on ${team}.`);
      deps.audit.record({ actor: actor.name, action: 'shop.consent', target: team, details: { student, showName }, ...(actor.ip ? { ip: actor.ip } : {}) });
    },
  };
}
