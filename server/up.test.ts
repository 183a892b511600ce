import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { makeTestConfigFile, unmountUnder, runOutpost, freePort } from '../test/support.ts';
import type { Config } from '../core/config.ts';

describe('./outpost up --detach and down', function () {
  let config: Config;
  let root: string;
  let file: string;
  before(async () => {
    ({ config, root, file } = await makeTestConfigFile({ http: { port: await freePort() } }));
  });
  after(async () => {
    await runOutpost(file, ['down']);
    await unmountUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('brings the system up, prints the first admin password once, and serves /healthz', async () => {
    const first = await runOutpost(file, ['up', '--detach']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/password: [a-z2-9]{5}(-[a-z2-9]{5}){3}/);
    expect(first.stdout).to.include(`Outpost is up on http://localhost:${config.http.port}`);
    expect(first.stdout).to.match(/outpost-starter: \d+ exercises, every reference solution at 100%/);
    const health = await fetch(`http://127.0.0.1:${config.http.port}/healthz`);
    expect(health.status).to.equal(200);
    expect(((await health.json()) as { ok: boolean }).ok).to.equal(true);
    const login = await fetch(`http://127.0.0.1:${config.http.port}/login`);
    expect(await login.text()).to.include('Sign in');
    const again = await runOutpost(file, ['up', '--detach']);
    expect(again.stdout).to.include('already running');
    expect(again.stdout).to.not.include('password:');
  });

  it('down stops it', async () => {
    const down = await runOutpost(file, ['down']);
    expect(down.code).to.equal(0);
    expect(down.stdout).to.include('Outpost is down.');
    const after = await fetch(`http://127.0.0.1:${config.http.port}/healthz`).then(() => 'answered', () => 'refused');
    expect(after).to.equal('refused');
  });
});
