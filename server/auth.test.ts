import { expect } from 'chai';
import { Writable } from 'node:stream';
import { startTestServer, testPassword, type TestServer } from '../test/support.ts';

describe('sign-in, sessions and web security (real server)', function () {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ auth: { maxFailedLogins: 3, maxFailuresPerAddress: 1000 } });
    await s.system.accounts.createCohort('c1', 'Cohort one', { name: 'test' });
    await s.user('ann', 'student', { cohort: 'c1' });
    await s.user('boss', 'admin');
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  it('redirects anonymous pages to /login and answers 401 to anonymous API calls', async () => {
    const page = await s.client().request('GET', '/admin/users', { accept: 'html' });
    expect(page.status).to.equal(303);
    expect(page.headers.get('location')).to.equal('/login?next=%2Fadmin%2Fusers');
    const api = await s.client().request('GET', '/admin/users');
    expect(api.status).to.equal(401);
    expect((await api.json() as { error: { code: string } }).error.code).to.equal('AUTH_REQUIRED');
  });

  it('signs in with a new HttpOnly SameSite=Strict session id each time, and signs out', async () => {
    const c = s.client();
    const form = await c.request('GET', '/login', { accept: 'html' });
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    c.cookies.set('outpost_session', 'attacker-chosen-fixation-id');
    const res = await c.request('POST', '/login', { form: { name: 'ann', password: testPassword('ann'), _csrf: token }, accept: 'html' });
    expect(res.status).to.equal(303);
    const setCookie = res.headers.getSetCookie().find((l) => l.startsWith('outpost_session='))!;
    expect(setCookie).to.match(/HttpOnly/i).and.to.match(/SameSite=Strict/i).and.to.match(/Path=\//);
    const first = c.cookies.get('outpost_session');
    expect(first).to.not.equal('attacker-chosen-fixation-id');
    const again = await s.login('ann', testPassword('ann'));
    expect(again.cookies.get('outpost_session')).to.not.equal(first);
    const home = await c.request('GET', '/', { accept: 'html' });
    expect(home.status).to.equal(200);
    await c.refreshCsrf();
    const out = await c.request('POST', '/logout', { form: { _csrf: c.csrf! }, accept: 'html' });
    expect(out.status).to.equal(303);
    c.cookies.set('outpost_session', first!);
    expect((await c.request('GET', '/')).status).to.equal(401);
  });

  it('rejects state changes without the CSRF token or from another origin', async () => {
    const admin = await s.login('boss', testPassword('boss'));
    const noToken = await admin.request('POST', '/admin/cohorts', { form: { name: 'csrf-a', title: 'x' } });
    expect(noToken.status).to.equal(403);
    expect((await noToken.json() as { error: { code: string } }).error.code).to.equal('AUTH_CSRF_FAILED');
    const wrong = await admin.request('POST', '/admin/cohorts', { form: { name: 'csrf-b', _csrf: 'x'.repeat(43) } });
    expect(wrong.status).to.equal(403);
    const crossSite = await admin.request('POST', '/admin/cohorts', { form: { name: 'csrf-c', _csrf: admin.csrf! }, headers: { origin: 'http://evil.example' } });
    expect(crossSite.status).to.equal(403);
    const loginNoToken = await s.client().request('POST', '/login', { form: { name: 'ann', password: testPassword('ann') } });
    expect(loginNoToken.status).to.equal(403);
    expect(s.system.accounts.cohort('csrf-a')).to.equal(undefined);
    const ok = await admin.request('POST', '/admin/cohorts', { form: { name: 'csrf-ok', _csrf: admin.csrf! }, accept: 'html' });
    expect(ok.status).to.equal(303);
  });

  it('locks an account after repeated failures and logs it', async () => {
    await s.user('lou', 'student');
    const c = s.client();
    for (let i = 0; i < 4; i++) {
      const page = await c.request('GET', '/login', { accept: 'html' });
      const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const res = await c.request('POST', '/login', { form: { name: 'lou', password: i < 3 ? 'wrong-password-x' : testPassword('lou'), _csrf: token }, accept: 'html' });
      const text = await res.text();
      if (i < 3) expect(res.status).to.equal(401);
      else { expect(res.status).to.equal(429); expect(text).to.include('locked'); }
    }
    expect(s.system.audit.query({ action: 'auth.lockout', person: 'lou' }).total).to.equal(1);
  });

  it('ends sessions on idle expiry, and at once when the account is disabled', async () => {
    await s.user('idle', 'student');
    const c = await s.login('idle', testPassword('idle'));
    expect((await c.request('GET', '/')).status).to.equal(200);
    s.system.store.db.prepare("update sessions set last_seen_at = last_seen_at - 2 * 3600 * 1000 where user = 'idle'").run();
    expect((await c.request('GET', '/')).status).to.equal(401);
    await s.user('dis', 'student');
    const d = await s.login('dis', testPassword('dis'));
    expect((await d.request('GET', '/')).status).to.equal(200);
    s.system.accounts.setDisabled('dis', true, { name: 'test' });
    expect((await d.request('GET', '/')).status).to.equal(401);
    expect(s.system.store.db.prepare("select count(*) n from sessions where user = 'dis'").get()).to.deep.equal({ n: 0 });
  });

  it('ends a session at its absolute lifetime even while in use', async () => {
    await s.user('abby', 'student');
    const c = await s.login('abby', testPassword('abby'));
    expect((await c.request('GET', '/')).status).to.equal(200);
    s.system.store.db.prepare("update sessions set created_at = created_at - 13 * 3600 * 1000 where user = 'abby'").run();
    expect((await c.request('GET', '/')).status).to.equal(401);
  });

  it('throttles an address that keeps failing, whatever the account', async () => {
    const t2 = await startTestServer({ auth: { maxFailuresPerAddress: 3, maxFailedLogins: 100 } });
    try {
      await t2.user('tina', 'student');
      const c = t2.client();
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const token = /name="_csrf" value="([^"]+)"/.exec(await (await c.request('GET', '/login', { accept: 'html' })).text())![1]!;
        const res = await c.request('POST', '/login', { form: { name: i % 2 ? 'tina' : `guess${i}`, password: 'not the password', _csrf: token }, accept: 'html' });
        statuses.push(res.status);
      }
      expect(statuses).to.deep.equal([401, 401, 401, 429, 429]);
      expect(t2.system.audit.query({ action: 'auth.throttled' }).total).to.equal(2);
    } finally {
      t2.close();
      await t2.cleanup();
    }
  });

  it('throttles guesses sent in parallel too: each one counts before it is checked', async () => {
    const t2 = await startTestServer({ auth: { maxFailuresPerAddress: 3, maxFailedLogins: 100 } });
    try {
      await t2.user('tina', 'student');
      const c = t2.client();
      const token = /name="_csrf" value="([^"]+)"/.exec(await (await c.request('GET', '/login', { accept: 'html' })).text())![1]!;
      const statuses = await Promise.all(Array.from({ length: 20 }, () => c.request('POST', '/login', { form: { name: 'tina', password: 'not the password', _csrf: token }, accept: 'html' }).then((r) => r.status)));
      expect(statuses.filter((x) => x === 401).length, statuses.join(' ')).to.equal(3);
      expect(statuses.filter((x) => x === 429).length).to.equal(17);
      // A success does not count against the address.
      const t3 = await startTestServer({ auth: { maxFailuresPerAddress: 2, maxFailedLogins: 100 } });
      try {
        const { password } = await t3.user('tom', 'student');
        for (let i = 0; i < 4; i++) {
          const c3 = t3.client();
          const tok = /name="_csrf" value="([^"]+)"/.exec(await (await c3.request('GET', '/login', { accept: 'html' })).text())![1]!;
          expect((await c3.request('POST', '/login', { form: { name: 'tom', password, _csrf: tok }, accept: 'html' })).status).to.equal(303);
        }
      } finally {
        t3.close();
        await t3.cleanup();
      }
    } finally {
      t2.close();
      await t2.cleanup();
    }
  });

  it('holds a user whose password was reset at the change page until they change it', async () => {
    await s.user('rex', 'student');
    const temp = await s.system.accounts.resetPassword('rex', { name: 'test' });
    const c = await s.login('rex', temp);
    const home = await c.request('GET', '/', { accept: 'html' });
    expect(home.status).to.equal(303);
    expect(home.headers.get('location')).to.equal('/account/password');
    const weak = await c.request('POST', '/account/password', { form: { _csrf: c.csrf!, current: temp, next: 'short', again: 'short' }, accept: 'html' });
    expect(weak.status).to.equal(400);
    expect(await weak.text()).to.include('at least 12 characters');
    const done = await c.request('POST', '/account/password', { form: { _csrf: c.csrf!, current: temp, next: 'my own long passphrase', again: 'my own long passphrase' }, accept: 'html' });
    expect(done.status).to.equal(303);
    expect((await c.request('GET', '/', { accept: 'html' })).status).to.equal(200);
  });

  it('sends strict security headers: every script, style, font and worker from Outpost itself', async () => {
    const res = await s.client().request('GET', '/login', { accept: 'html' });
    const csp = res.headers.get('content-security-policy')!;
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "font-src 'self'", "worker-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) expect(csp).to.include(directive);
    expect(csp).to.not.match(/unsafe-inline|unsafe-eval|https?:/);
    expect(res.headers.get('x-frame-options')).to.equal('DENY');
    const body = await res.text();
    expect(body).to.not.match(/<script|style=|https?:\/\//);
    const css = await s.client().request('GET', '/static/outpost.css');
    expect(css.status).to.equal(200);
  });

  it('stores hostile strings as given and shows them escaped', async () => {
    const admin = await s.login('boss', testPassword('boss'));
    const hostile = '<script>alert(1)</script>"\'&<img src=x onerror=alert(2)> Zoë 名前';
    const created = await admin.request('POST', '/admin/users', { form: { _csrf: admin.csrf!, name: 'hostile', role: 'student', display_name: hostile, external_id: '' }, accept: 'html' });
    expect(created.status).to.equal(201);
    expect(s.system.accounts.require('hostile').displayName).to.equal(hostile);
    const page = await (await admin.request('GET', '/admin/users/hostile', { accept: 'html' })).text();
    expect(page).to.not.include('<script>alert(1)');
    expect(page).to.not.include('<img src=x');
    expect(page).to.include('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(page).to.include('Zoë 名前');
    const long = await admin.request('POST', '/admin/users', { form: { _csrf: admin.csrf!, name: 'x'.repeat(5000), role: 'student' } });
    expect(long.status).to.equal(400);
    const huge = await admin.request('POST', '/admin/users', { form: { _csrf: admin.csrf!, name: 'longname', role: 'student', display_name: 'y'.repeat(100_000) } });
    expect([400, 413]).to.include(huge.status);
    expect(s.system.accounts.get('longname')).to.equal(undefined);
  });

  it('never writes a password to the log', async () => {
    let logged = '';
    const sink = new Writable({ write(chunk, _enc, cb) { logged += chunk.toString(); cb(); } });
    const { pino } = await import('pino');
    const { createApp } = await import('./app.ts');
    const app = createApp({ log: pino({ level: 'trace' }, sink), routes: s.system.routes, sessions: s.system.sessions, accounts: s.system.accounts });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const page = await fetch(`http://127.0.0.1:${port}/login`);
    const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ name: 'ann', password: 'secret-wrong-password-123', _csrf: token }).toString() });
    await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `name=ann&password=${encodeURIComponent(testPassword('ann'))}&_csrf=bad` });
    server.close();
    expect(logged).to.not.include('secret-wrong-password-123');
    expect(logged).to.not.include(testPassword('ann'));
    const auditDump = JSON.stringify(s.system.audit.query({ limit: 10_000 }));
    expect(auditDump).to.not.include('secret-wrong-password-123');
    expect(auditDump).to.not.include(testPassword('ann'));
  });
});
