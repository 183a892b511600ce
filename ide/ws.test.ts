/**
 * The IDE's WebSocket attach point without an engine: the heartbeat that ends sockets whose peer
 * vanished without a FIN, and the periodic sign-in re-check that must not count as activity.
 */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { silentLogger } from '../core/log.ts';
import type { Session, Sessions } from '../core/sessions.ts';
import type { Accounts } from '../core/accounts.ts';
import type { Policy } from '../core/policy.ts';
import type { Hub } from './hub.ts';
import { attachUpgrades, type UpgradeDeps } from './ws.ts';

describe('ide: WebSocket heartbeat and session re-check', () => {
  let server: http.Server;
  let detach: () => void;
  let base: string;
  const calls: ('resolve' | 'peek')[] = [];
  const session: Session = { idHash: 'h', user: 'ada', csrfToken: 'c', createdAt: 0, lastSeenAt: 0 };
  const sessions = {
    resolve: (id: string | undefined) => { calls.push('resolve'); return id === 'sid' ? session : undefined; },
    peek: (id: string | undefined) => { calls.push('peek'); return id === 'sid' ? session : undefined; },
  } as unknown as Sessions;
  const accounts = { get: () => ({ name: 'ada', role: 'student', disabled: false, mustChangePassword: false }), onRevoke: () => undefined } as unknown as Accounts;
  const policy = { can: () => true } as unknown as Policy;
  const hub = { attach: () => undefined } as unknown as Hub;

  async function start(timing: Pick<UpgradeDeps, 'heartbeatMs' | 'recheckMs'>): Promise<void> {
    server = http.createServer();
    detach = attachUpgrades(server, { hub, sessions, accounts, policy, log: silentLogger(), ...timing });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  afterEach(async () => {
    detach();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    calls.length = 0;
  });

  async function connect(options: { autoPong: boolean }): Promise<{ ws: WebSocket; closed: Promise<number> }> {
    const ws = new WebSocket(`ws://${base}/ide/ada/attach?kind=terminal&id=t-abc`, { headers: { origin: `http://${base}`, cookie: 'outpost_session=sid' }, autoPong: options.autoPong });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('unexpected-response', (_q, r) => reject(new Error(`refused ${r.statusCode}`))); });
    return { ws, closed };
  }
  const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms))]);

  it('terminates a socket whose peer stops answering pings, and keeps one that answers', async () => {
    await start({ heartbeatMs: 50 });
    const silent = await connect({ autoPong: false });
    const answering = await connect({ autoPong: true });
    let pings = 0;
    silent.ws.on('ping', () => pings++);
    // Ping at 50 ms, no pong by 100 ms: terminated (1006, no close frame, as for a dead peer).
    expect(await within(silent.closed, 1000)).to.equal(1006);
    expect(pings).to.be.at.least(1);
    expect(await within(answering.closed, 300)).to.equal('still open');
    answering.ws.close();
  });

  it('re-checks the sign-in session without touching it, unless the person typed since the last check', async () => {
    await start({ recheckMs: 40 });
    const { ws } = await connect({ autoPong: true });
    expect(calls).to.deep.equal(['resolve']); // the handshake is a request like any other
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls.length).to.be.at.least(3);
    expect(calls.slice(1).every((c) => c === 'peek'), calls.join()).to.equal(true);
    calls.length = 0;
    ws.send(Buffer.from('ls\r'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls.filter((c) => c === 'resolve')).to.have.length(1);
    expect(calls.at(-1)).to.equal('peek');
    ws.close();
  });
});
