import { expect } from 'chai';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { LABEL } from '../sandbox/hardening.ts';
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

  it('refuses a second server of the same instance before it touches the first one\'s containers', async () => {
    // A foreground `up` writes no pid file: move it away to be that case.
    const pid = path.join(config.dataDir, 'outpost.pid');
    await rename(pid, `${pid}.away`);
    const docker = new Docker({ socketPath: config.docker.socketPath });
    const grading = async () => (await docker.listContainers({ filters: { label: [`${LABEL.instance}=${config.instance}`, `${LABEL.kind}=oneshot`] } })).map((c) => c.Id).sort();
    const before = await grading();
    expect(before, 'the running server keeps grading containers ready').to.not.deep.equal([]);
    try {
      const second = await runOutpost(file, ['up'], undefined, { timeoutMs: 90_000 });
      expect(second.code, second.stdout).to.not.equal(0);
      expect(second.stderr).to.include('SERVER_ALREADY_RUNNING');
    } finally {
      await rename(`${pid}.away`, pid);
    }
    expect(await grading(), "the first server's grading containers").to.deep.equal(before);
    expect((await fetch(`http://127.0.0.1:${config.http.port}/healthz`)).status).to.equal(200);
  });

  it('down stops it', async () => {
    const down = await runOutpost(file, ['down']);
    expect(down.code).to.equal(0);
    expect(down.stdout).to.include('Outpost is down.');
    const after = await fetch(`http://127.0.0.1:${config.http.port}/healthz`).then(() => 'answered', () => 'refused');
    expect(after).to.equal('refused');
  });
});
