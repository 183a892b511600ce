import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { startTestSystem, type TestSystem } from '../test/support.ts';
import { serve } from './system.ts';

describe('HTTP server', function () {
  let t: TestSystem;
  let base: string;
  let close: () => void;
  before(async () => {
    t = await startTestSystem();
    const server = await serve(t.system);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(async () => { close?.(); await t?.cleanup(); });

  it('GET /healthz answers JSON with engine, images and store status', async () => {
    const res = await fetch(`${base}/healthz`);
    const body = (await res.json()) as { ok: boolean; engine: { ok: boolean; version: string }; images: { image: string; present: boolean }[]; store: { ok: boolean; journalMode: string } };
    expect(res.status).to.equal(200);
    expect(body.ok).to.equal(true);
    expect(body.engine.ok).to.equal(true);
    expect(body.engine.version).to.match(/^\d+\./);
    expect(body.images.map((i) => i.image)).to.include('outpost/workspace:latest');
    expect(body.images.every((i) => i.present)).to.equal(true);
    expect(body.store).to.include({ ok: true, journalMode: 'wal' });
  });

  it('maps errors in one place: JSON with a stable code, or HTML for browsers, with security headers', async () => {
    const json = await fetch(`${base}/nope`, { headers: { accept: 'application/json' } });
    expect(json.status).to.equal(404);
    expect(await json.json()).to.deep.equal({ error: { code: 'NOT_FOUND', message: 'Nothing is at GET /nope.' } });
    expect(json.headers.get('content-security-policy')).to.include("default-src 'self'");
    expect(json.headers.get('x-content-type-options')).to.equal('nosniff');
    const html = await fetch(`${base}/nope`, { headers: { accept: 'text/html' } });
    expect(html.headers.get('content-type')).to.match(/text\/html/);
    expect(await html.text()).to.include('NOT_FOUND');
  });
});
