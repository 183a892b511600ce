import { expect } from 'chai';
import { startTestServer, testPassword, type TestServer } from '../test/support.ts';

describe('staff audit page and CSV export (real server)', function () {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    await s.user('stan', 'staff');
    await s.user('ann', 'student');
    // A display name a spreadsheet would run as a formula.
    await s.system.accounts.update('ann', { displayName: '=HYPERLINK("http://x","y")' }, { name: 'stan' });
    await s.login('ann', testPassword('ann'));
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  it('filters by person, action and time', async () => {
    const staff = await s.login('stan', testPassword('stan'));
    const byPerson = await (await staff.request('GET', '/staff/audit?person=ann', { accept: 'html' })).text();
    expect(byPerson).to.include('auth.login').and.to.include('user.create').and.to.include('user.update');
    const byAction = await (await staff.request('GET', '/staff/audit?action=auth.login', { accept: 'html' })).text();
    expect(byAction).to.include('<td>auth.login</td>').and.not.include('<td>user.create</td>');
    const future = await (await staff.request('GET', '/staff/audit?from=2999-01-01', { accept: 'html' })).text();
    expect(future).to.include('0 entries');
  });

  it('exports CSV, audits the export, and defuses spreadsheet formulas', async () => {
    const staff = await s.login('stan', testPassword('stan'));
    const res = await staff.request('GET', '/staff/audit.csv?person=ann');
    expect(res.headers.get('content-type')).to.match(/text\/csv/);
    expect(res.headers.get('content-disposition')).to.include('outpost-audit.csv');
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]).to.equal('id,at,actor,action,target,details,ip,hash');
    expect(lines.length).to.be.greaterThan(2);
    const update = lines.find((l) => l.includes('user.update'))!;
    expect(update).to.include(`"{""displayName"":""=HYPERLINK`);
    expect(lines.every((l) => !/(^|,)=/.test(l))).to.equal(true);
    expect(s.system.audit.query({ action: 'audit.export' }).entries[0]!.actor).to.equal('stan');
  });
});
