/** Sessions against a real store: idle expiry, and the read-only check a long-lived socket uses. */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from './store.ts';
import { createSessions, type Sessions } from './sessions.ts';

describe('sessions', () => {
  let dir: string;
  let store: Store;
  let clock: number;
  let sessions: Sessions;
  const lastSeen = (user: string) => (store.db.prepare('select last_seen_at as t from sessions where user = ?').get(user) as { t: number } | undefined)?.t;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-sessions-'));
    store = openStore(path.join(dir, 'outpost.db'));
    store.db.prepare("insert into users (name, role, password_hash, created_at) values ('ada', 'student', 'x', '2024-01-01')").run();
    clock = 1_000_000_000;
    sessions = createSessions({ store, config: { sessionIdleMinutes: 60, sessionAbsoluteHours: 12 } as never, now: () => clock });
  });
  afterEach(async () => { store.close(); await rm(dir, { recursive: true, force: true }); });

  it('peek answers like resolve but never touches the idle timer', () => {
    const { id } = sessions.create('ada', { ip: '127.0.0.1', userAgent: 'test' });
    const created = lastSeen('ada');
    clock += 30 * 60_000;
    expect(sessions.peek(id)?.user).to.equal('ada');
    expect(lastSeen('ada'), 'peek wrote last_seen_at').to.equal(created);
    // A WebSocket re-checking every 30 s for an hour is not activity: the session idles out.
    for (let i = 0; i < 61; i++) { clock += 30_000; sessions.peek(id); }
    expect(lastSeen('ada')).to.equal(created);
    expect(sessions.peek(id)).to.equal(undefined);
    expect(sessions.resolve(id)).to.equal(undefined);
  });

  it('resolve touches the idle timer (a request is activity)', () => {
    const { id } = sessions.create('ada', { ip: '127.0.0.1', userAgent: 'test' });
    clock += 30 * 60_000;
    expect(sessions.resolve(id)?.user).to.equal('ada');
    expect(lastSeen('ada')).to.equal(clock);
    expect(sessions.peek('not-a-session')).to.equal(undefined);
    expect(sessions.peek(undefined)).to.equal(undefined);
  });
});
