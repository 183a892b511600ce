import { expect } from 'chai';
import { startTestServer, type TestServer, type Client } from '../test/support.ts';
import { createApp } from './app.ts';
import type { Role } from '../core/accounts.ts';

type Who = Role | 'anonymous';
const ALL: Who[] = ['anonymous', 'student', 'instructor', 'client', 'staff', 'admin'];
const SIGNED_IN: Who[] = ['student', 'instructor', 'client', 'staff', 'admin'];

/** Who may use each declared route. A route missing here fails the test: new routes must be added. */
const EXPECTED: Record<string, Who[]> = {
  'GET /healthz': ALL,
  // Loopback only, or with the metrics token (the matrix runs on loopback).
  'GET /metrics': ALL,
  'GET /login': ALL,
  'POST /login': ALL,
  'POST /logout': SIGNED_IN,
  'GET /account/password': SIGNED_IN,
  'POST /account/password': SIGNED_IN,
  'GET /': SIGNED_IN,
  'GET /admin/users': ['staff', 'admin'],
  'POST /admin/users': ['admin'],
  'GET /admin/users/:name': ['staff', 'admin'],
  'POST /admin/users/:name/disable': ['staff', 'admin'],
  'POST /admin/users/:name/enable': ['staff', 'admin'],
  'POST /admin/users/:name/update': ['admin'],
  'POST /admin/users/:name/role': ['admin'],
  'POST /admin/users/:name/reset-password': ['staff', 'admin'],
  'GET /admin/cohorts': ['instructor', 'staff', 'admin'],
  'POST /admin/cohorts': ['admin'],
  'GET /admin/cohorts/:cohort': ['instructor', 'staff', 'admin'],
  'POST /admin/cohorts/:cohort/members': ['admin'],
  'POST /admin/cohorts/:cohort/members/:name/remove': ['admin'],
  'GET /staff/audit': ['staff', 'admin'],
  'GET /staff/audit.csv': ['staff', 'admin'],
  'GET /api/workspaces/:owner/files': ['student', 'instructor', 'staff', 'admin'],
  'GET /staff/network': ['staff', 'admin'],
  'GET /admin/cohorts/:cohort/sites': ['instructor', 'staff', 'admin'],
  'POST /admin/cohorts/:cohort/sites': ['instructor', 'staff', 'admin'],
  'GET /staff/packages': ['staff', 'admin'],
  'POST /staff/packages/:name/approve': ['staff', 'admin'],
  'GET /account/tokens': SIGNED_IN,
  'POST /account/tokens': SIGNED_IN,
  'POST /account/tokens/:id/revoke': SIGNED_IN,
  // Each repository's page answers 404 to whoever may not read it; the route itself is for everyone signed in.
  'GET /git': SIGNED_IN,
  'GET /git/:owner': SIGNED_IN,
  'GET /git/:owner/:repo': SIGNED_IN,
  'GET /git/:owner/:repo/tree/:ref{/*path}': SIGNED_IN,
  'GET /git/:owner/:repo/blob/:ref/*path': SIGNED_IN,
  'GET /git/:owner/:repo/raw/:ref/*path': SIGNED_IN,
  'GET /git/:owner/:repo/commits/:ref': SIGNED_IN,
  'GET /git/:owner/:repo/commit/:ref': SIGNED_IN,
  'GET /learn': SIGNED_IN,
  'GET /learn/:curriculum/lessons/:lesson': SIGNED_IN,
  'GET /learn/exercises/:id': SIGNED_IN,
  'POST /learn/exercises/:id/start': ['student'],
  'POST /learn/exercises/:id/repo': ['student'],
  'POST /learn/exercises/:id/submit': ['student'],
  'GET /learn/submissions/:id': SIGNED_IN,
  'GET /gradebook': ['instructor', 'staff', 'admin'],
  'GET /gradebook/:cohort': ['instructor', 'staff', 'admin'],
  'GET /gradebook/:cohort/grades.csv': ['instructor', 'staff', 'admin'],
  'GET /gradebook/:cohort/students/:student': ['instructor', 'staff', 'admin'],
  'GET /gradebook/:cohort/similarity/:exercise': ['instructor', 'staff', 'admin'],
  'GET /gradebook/submissions/:id': ['instructor', 'staff', 'admin'],
  // Which submissions an instructor may grade is decided per student, inside (404 for others').
  'POST /gradebook/submissions/:id/override': ['instructor', 'admin'],
  'POST /gradebook/submissions/:id/regrade': ['instructor', 'admin'],
  'POST /gradebook/submissions/:id/comments': ['instructor', 'admin'],
  'POST /gradebook/exercises/:id/regrade': ['instructor', 'admin'],
  // The IDE: a student's own workspace only; a preview link is its own credential (bound to the viewer's session).
  'GET /ide': SIGNED_IN,
  'GET /ide-assets/:build/:file': ALL,
  'GET /p/:token{/*rest}': ALL,
  'GET /shop/p/:token{/*rest}': ALL,
  'GET /shop/packages/:id/build': SIGNED_IN,
  'POST /shop/projects/:id/build': ['instructor', 'staff', 'admin'],
  'POST /shop/p/:token{/*rest}': ALL,
  'PUT /shop/p/:token{/*rest}': ALL,
  'PATCH /shop/p/:token{/*rest}': ALL,
  'DELETE /shop/p/:token{/*rest}': ALL,
  'POST /p/:token{/*rest}': ALL,
  'PUT /p/:token{/*rest}': ALL,
  'PATCH /p/:token{/*rest}': ALL,
  'DELETE /p/:token{/*rest}': ALL,
  'GET /preview/:owner/:port{/*rest}': ['student', 'instructor'],
  'GET /ide/:owner': ['student'],
  'GET /ide/:owner/api/tree': ['student'],
  'GET /ide/:owner/api/find': ['student'],
  'GET /ide/:owner/api/file': ['student'],
  'POST /ide/:owner/api/file': ['student'],
  'GET /ide/:owner/api/download': ['student'],
  'POST /ide/:owner/api/mkdir': ['student'],
  'POST /ide/:owner/api/rename': ['student'],
  'POST /ide/:owner/api/delete': ['student'],
  'GET /ide/:owner/api/terminals': ['student'],
  'POST /ide/:owner/api/terminals': ['student'],
  'POST /ide/:owner/api/terminals/:id/close': ['student'],
  'GET /ide/:owner/api/runs': ['student'],
  'POST /ide/:owner/api/runs': ['student'],
  'POST /ide/:owner/api/runs/:id/stop': ['student'],
  'GET /ide/:owner/api/exercise': ['student'],
  'POST /ide/:owner/api/exercise/submit': ['student'],
  // The shop: each request, project and package is further limited inside (404 for anyone without a part in it).
  'GET /shop': SIGNED_IN,
  'GET /shop/requests/new': ['client'],
  'POST /shop/requests': ['client'],
  'GET /shop/requests/:id': SIGNED_IN,
  'POST /shop/requests/:id/attachments': ['client'],
  'GET /shop/attachments/:id': SIGNED_IN,
  'POST /shop/requests/:id/accept': ['instructor', 'staff', 'admin'],
  'POST /shop/requests/:id/decline': ['instructor', 'staff', 'admin'],
  'GET /shop/projects/:id': SIGNED_IN,
  'POST /shop/projects/:id/milestones': ['instructor', 'staff', 'admin'],
  'POST /shop/projects/:id/messages': SIGNED_IN,
  'POST /shop/projects/:id/consent': ['student'],
  'POST /shop/projects/:id/milestones/:mid/ready': ['student'],
  'POST /shop/projects/:id/milestones/:mid/accept': ['client'],
  'POST /shop/projects/:id/milestones/:mid/changes': ['client'],
  'GET /shop/projects/:id/code/:mid{/*path}': SIGNED_IN,
  'GET /shop/projects/:id/milestones/:mid/preview': SIGNED_IN,
  'GET /shop/packages/:id/download': SIGNED_IN,
  'GET /shop/outbound': ['staff', 'admin'],
  'GET /shop/messages': ['staff', 'admin'],
  'GET /shop/outbound/:id': ['staff', 'admin'],
  'POST /shop/outbound/:id/approve': ['staff', 'admin'],
  'POST /shop/outbound/:id/reject': ['staff', 'admin'],
  'GET /shop/hours': ['student'],
  'POST /shop/hours': ['student'],
  'GET /shop/reports': ['staff', 'admin'],
  'GET /shop/reports/hours-by-student.csv': ['staff', 'admin'],
  'GET /shop/reports/hours-by-project.csv': ['staff', 'admin'],
  'GET /shop/static/attach.js': ALL,
  'GET /admin/bundles': ['staff', 'admin'],
  'POST /admin/bundles/:id/approve': ['staff', 'admin'],
  'POST /admin/bundles/:id/reject': ['staff', 'admin'],
};

const PEOPLE: Record<Role, string> = { student: 'stu-a', instructor: 'ines', client: 'cleo', staff: 'stan', admin: 'adam' };

describe('authorization matrix: every declared route × every role', function () {
  let s: TestServer;
  before(async () => {
    // The fake internet's pages are declared too; its services need not run for the policy checks.
    s = await startTestServer({ fakeInternet: { enabled: true, network: `outpost-matrix-${process.pid}` } });
    await s.system.accounts.createCohort('c1', 'One', { name: 'test' });
    await s.system.accounts.createCohort('c2', 'Two', { name: 'test' });
    for (const [role, name] of Object.entries(PEOPLE)) await s.user(name, role as Role, role === 'student' || role === 'instructor' ? { cohort: 'c1' } : {});
    await s.user('stu-b', 'student', { cohort: 'c2' });
    await s.user('ivan', 'instructor', { cohort: 'c2' });
    await s.user('target', 'student', { cohort: 'c1' });
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  /** A fresh session per request, so a sign-out or a disable in one cell does not leak into the next. */
  function clientFor(name: string | undefined): Client {
    const c = s.client();
    if (name) {
      const { id, session } = s.system.sessions.create(name, { ip: '127.0.0.1', userAgent: 'matrix' });
      c.cookies.set('outpost_session', id);
      c.csrf = session.csrfToken;
    }
    return c;
  }

  // An invalid package name: approving it is refused at once, without fetching anything.
  const fill = (path: string) => (path.startsWith('/staff/packages/') ? path.replace(':name', 'NOT%20A%20PACKAGE') : path.replace(':name', 'target')).replace(':cohort', 'c1').replace(':owner', 'stu-a');

  async function denied(res: Response): Promise<boolean> {
    if (res.status !== 401 && res.status !== 403) return false;
    const text = await res.text();
    try {
      const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      // An anonymous POST is already refused by the CSRF check (there is no session to hold a token).
      return code === 'AUTH_REQUIRED' || code === 'AUTH_FORBIDDEN' || code === 'AUTH_CSRF_FAILED';
    } catch {
      return false;
    }
  }

  it('declares every route of the app through the registry, each with a policy action', () => {
    const app = createApp({ log: s.system.log, routes: s.system.routes, sessions: s.system.sessions, accounts: s.system.accounts });
    const stack = (app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack;
    const mounted = stack.filter((l) => l.route).flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m.toUpperCase()} ${l.route!.path}`));
    const declared = s.system.routes.routes.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(mounted.sort()).to.deep.equal([...declared].sort());
    for (const r of s.system.routes.routes) expect(r.action, `${r.method} ${r.path}`).to.be.a('string').and.not.equal('');
    expect(Object.keys(EXPECTED).sort(), 'EXPECTED must list exactly the declared routes').to.deep.equal([...new Set(declared)].sort());
  });

  it('allows and denies exactly as the policy says', async () => {
    const failures: string[] = [];
    for (const route of s.system.routes.routes) {
      const key = `${route.method.toUpperCase()} ${route.path}`;
      for (const who of ALL) {
        const c = clientFor(who === 'anonymous' ? undefined : PEOPLE[who]);
        if (who === 'anonymous' && route.path === '/login' && route.method === 'post') {
          // Signing in needs the form's own CSRF token, as a browser would have it.
          c.csrf = /name="_csrf" value="([^"]+)"/.exec(await (await c.request('GET', '/login', { accept: 'html' })).text())?.[1];
        }
        const res = await c.request(route.method.toUpperCase(), fill(route.path), route.method === 'post' ? { form: { _csrf: c.csrf ?? '' } } : {});
        const wasDenied = await denied(res);
        const shouldAllow = EXPECTED[key]!.includes(who);
        if (wasDenied === shouldAllow) failures.push(`${key} as ${who}: ${wasDenied ? 'denied' : `allowed (${res.status})`}, expected ${shouldAllow ? 'allowed' : 'denied'}`);
      }
    }
    expect(failures).to.deep.equal([]);
  });

  it("never lets one student, or another cohort's instructor, read a student's anything", async () => {
    for (const [who, path] of [
      ['stu-b', '/api/workspaces/stu-a/files'], ['stu-a', '/api/workspaces/stu-b/files'], ['stu-a', '/api/workspaces/target/files'],
      ['ivan', '/api/workspaces/stu-a/files'], ['stu-b', '/admin/users/stu-a'], ['ivan', '/admin/cohorts/c1'], ['stu-a', '/staff/audit?person=stu-b'],
      ['ivan', '/admin/cohorts/c1/sites'], ['stu-a', '/staff/network?owner=stu-b'],
    ] as const) {
      const res = await clientFor(who).request('GET', path);
      expect(res.status, `${who} GET ${path}`).to.equal(403);
    }
    const own = await clientFor('stu-a').request('GET', '/api/workspaces/stu-a/files');
    expect(own.status).to.equal(200);
  });

  it("lets staff reset and disable only the accounts of students, instructors and clients, never an admin's or staff's", async () => {
    await s.user('stella', 'staff');
    for (const target of ['adam', 'stella']) {
      for (const action of ['reset-password', 'disable', 'enable']) {
        const c = clientFor('stan');
        const res = await c.request('POST', `/admin/users/${target}/${action}`, { form: { _csrf: c.csrf ?? '' } });
        expect(res.status, `staff POST ${action} on ${target}`).to.equal(403);
        expect(await res.text()).to.include('AUTH_FORBIDDEN');
      }
    }
    expect(s.system.accounts.get('adam')?.disabled).to.equal(false);
    for (const target of ['ines', 'cleo']) {
      const c = clientFor('stan');
      const res = await c.request('POST', `/admin/users/${target}/reset-password`, { form: { _csrf: c.csrf ?? '' } });
      expect(res.status, `staff resets ${target}`).to.equal(200);
    }
    const admin = clientFor('adam');
    expect((await admin.request('POST', '/admin/users/stella/reset-password', { form: { _csrf: admin.csrf ?? '' } })).status, 'admin resets staff').to.equal(200);
    // The last active admin cannot be disabled, or nobody could manage accounts any more.
    const actor = { name: 'test' };
    for (const other of s.system.accounts.list().filter((u) => u.role === 'admin' && u.name !== 'adam' && !u.disabled)) s.system.accounts.setDisabled(other.name, true, actor);
    expect(() => s.system.accounts.setDisabled('adam', true, actor)).to.throw(/last active admin/);
  });

  it("audits staff and instructors opening a student's files", async () => {
    await clientFor('stan').request('GET', '/api/workspaces/stu-a/files');
    await clientFor('ines').request('GET', '/api/workspaces/stu-a/files');
    const entries = s.system.audit.query({ action: 'files.read-other', person: 'stu-a' }).entries.map((e) => e.actor);
    expect(entries).to.include.members(['stan', 'ines']);
  });
});
