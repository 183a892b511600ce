/**
 * The docker-compose deployment, end to end with Debian's docker-compose: the generated file
 * brings up the control plane (from its image, talking to the engine through the socket) and the
 * sealed network's services; the printed admin password signs in; a student's code runs in a
 * workspace on the sealed network; `docker-compose down` takes it all away again.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { LABEL } from '../sandbox/hardening.ts';
import { freePort, loginAt, makeTestConfigFile, runOutpost, testPassword, unmountUnder, type Client } from './support.ts';

const run = promisify(execFile);

describe('docker-compose deployment (end to end)', function () {
  this.timeout(600_000);
  const docker = new Dockerode();
  const subnetOctet = 150 + (process.pid % 50);
  let root = '';
  let composeFile = '';
  let project = '';
  let instance = '';
  let base = '';
  let configFile = '';
  const compose = (...args: string[]) => run('docker-compose', ['-p', project, '-f', composeFile, ...args], { maxBuffer: 16 * 1024 * 1024 });

  /** With the CLI inside the control-plane container, as an operator would. */
  const addStudent = (name: string, password: string) =>
    run('sh', ['-c', `printf '%s\\n' "$PW" | docker-compose -p ${project} -f ${composeFile} exec -T control outpost user add ${name} --role student --password-stdin`], { env: { ...process.env, PW: password } });

  before(async () => {
    const port = await freePort();
    const made = await makeTestConfigFile({
      http: { host: '127.0.0.1', port },
      log: { level: 'info' },
      fakeInternet: { enabled: true, subnet: `10.213.${subnetOctet}.0/24`, network: `outpost-test-compose-${subnetOctet}-${process.pid}` },
      curriculum: { starterOnFirstRun: false },
    });
    root = made.root;
    configFile = made.file;
    instance = made.config.instance;
    project = `outpost${randomBytes(3).toString('hex')}`;
    composeFile = path.join(root, 'docker-compose.yml');
    base = `http://127.0.0.1:${port}`;
    const generated = await runOutpost(configFile, ['compose', 'file', '--out', composeFile]);
    expect(generated.code, generated.stderr).to.equal(0);
    const prepared = await runOutpost(configFile, ['compose', 'prepare']);
    expect(prepared.code, prepared.stderr).to.equal(0);
  });

  after(async () => {
    if (composeFile) await compose('down', '--timeout', '30').catch(() => undefined);
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`] } });
    await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await docker.getNetwork(`outpost-test-compose-${subnetOctet}-${process.pid}`).remove().catch(() => undefined);
    if (root) {
      await unmountUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, seconds = 240): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      await sleep(500);
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('comes up, signs in with the printed password, runs a student\'s code on the sealed network, and goes down', async () => {
    await compose('up', '-d');

    // The control plane reports healthy; compose then starts the four services on the sealed network.
    await waitFor('/healthz', async () => ((await fetch(`${base}/healthz`)).status < 600 ? true : undefined));
    const services = ['dns', 'gateway', 'git', 'registry'];
    await waitFor('the services', async () => {
      const states = await Promise.all(services.map((s) => docker.getContainer(`outpost-${instance}-svc-${s}`).inspect().then((i) => i.State.Running, () => false)));
      return states.every(Boolean) ? true : undefined;
    });
    // The host's CLI with the engine-mode config must not replace compose's services.
    const dnsBefore = (await docker.getContainer(`outpost-${instance}-svc-dns`).inspect()).Id;
    const fromHost = await runOutpost(configFile, ['sandbox', 'exec', 'nobody', '--', 'true']);
    expect(fromHost.code).to.not.equal(0);
    expect(fromHost.stderr).to.contain('docker-compose exec control outpost');
    expect((await docker.getContainer(`outpost-${instance}-svc-dns`).inspect()).Id).to.equal(dnsBefore);

    const control = await docker.getContainer(`outpost-${instance}-control`).inspect();
    expect(control.HostConfig.NetworkMode).to.equal('host');
    for (const s of services) {
      const info = await docker.getContainer(`outpost-${instance}-svc-${s}`).inspect();
      expect(Object.keys(info.NetworkSettings.Networks), s).to.deep.equal([`outpost-test-compose-${subnetOctet}-${process.pid}`]);
      expect(info.Mounts.some((m) => (m.Source ?? '').includes('docker.sock')), `${s} has the engine socket`).to.equal(false);
    }

    // The first admin password, printed once in the control plane's log.
    const { stdout: logs } = await compose('logs', '--no-color', 'control');
    const password = /password: (\S+)/.exec(logs)?.[1];
    expect(password, logs.slice(-2000)).to.be.a('string');
    const admin = await loginAt(base, 'admin', password!);
    const newPassword = testPassword('admin-compose');
    const changed = await admin.request('POST', '/account/password', { form: { current: password!, next: newPassword, again: newPassword, _csrf: admin.csrf ?? '' }, accept: 'html' });
    expect(changed.status, await changed.text()).to.be.oneOf([200, 303]);
    const home = await admin.request('GET', '/', { accept: 'html' });
    expect(home.status).to.equal(200);

    // A student made with the CLI inside the control-plane container.
    const studentPassword = testPassword('alice');
    await addStudent('alice', studentPassword);
    const alice = await loginAt(base, 'alice', studentPassword);
    const api = (c: Client, method: string, p: string, options: Parameters<Client['request']>[2] = {}) =>
      c.request(method, p, { ...options, headers: { 'x-csrf-token': c.csrf ?? '', ...(options.headers ?? {}) } });

    // Code that resolves a name through the sealed network's DNS and writes what it saw.
    const program = `const dns = require('node:dns').promises;
const fs = require('node:fs');
(async () => {
  const git = await dns.lookup('git.outpost').then((r) => r.address, (e) => e.code);
  const outside = await dns.lookup('example.com').then((r) => r.address, (e) => e.code);
  fs.writeFileSync('out.json', JSON.stringify({ node: process.version, git, outside }));
})();
`;
    const upload = await fetch(`${base}/ide/alice/api/file?path=hello.js`, {
      method: 'POST', body: program,
      headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': alice.csrf ?? '', cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'application/json' },
    });
    expect(upload.status, await upload.text()).to.be.oneOf([200, 201]);
    const started = await api(alice, 'POST', '/ide/alice/api/runs', { json: { file: 'hello.js', cols: 80, rows: 24 } });
    expect(started.status, await started.text()).to.equal(201);
    const result = await waitFor('the program\'s output', async () => {
      const res = await api(alice, 'GET', '/ide/alice/api/file?path=out.json');
      if (res.status !== 200) return undefined;
      return JSON.parse(((await res.json()) as { text: string }).text) as { node: string; git: string; outside: string };
    }, 120);
    expect(result.git).to.equal(`10.213.${subnetOctet}.3`);
    expect(result.outside).to.equal('ENOTFOUND');
    expect(result.node).to.match(/^v\d+\./);
    const workspace = await docker.getContainer(`outpost-${instance}-ws-alice`).inspect();
    expect(Object.keys(workspace.NetworkSettings.Networks)).to.deep.equal([`outpost-test-compose-${subnetOctet}-${process.pid}`]);

    // A CLI command in the same container opens and closes the system too: it must leave the
    // workspaces of students at work alone (only the server's shutdown removes them).
    await addStudent('carol', testPassword('carol'));
    await compose('exec', '-T', 'control', 'outpost', 'sandbox', 'exec', 'carol', '--', 'true');
    expect((await docker.getContainer(`outpost-${instance}-ws-alice`).inspect()).State.Running).to.equal(true);

    // The isolation rules the control-plane container wrote into the host's DOCKER-USER chain hold:
    // alice reaches the gateway but not carol (a dropped SYN times out; without the rules carol's
    // kernel would answer at once with a reset, as nothing listens there).
    const carolIp = (await docker.getContainer(`outpost-${instance}-ws-carol`).inspect()).NetworkSettings.Networks[`outpost-test-compose-${subnetOctet}-${process.pid}`]!.IPAddress;
    const probe = (host: string, port: number) => `const s = require('node:net').connect(${port}, '${host}'); s.setTimeout(3000); s.on('connect', () => { console.log('open'); s.destroy(); }); s.on('timeout', () => { console.log('timeout'); s.destroy(); }); s.on('error', (e) => console.log(e.code));`;
    const toCarol = await compose('exec', '-T', 'control', 'outpost', 'sandbox', 'exec', 'alice', '--', 'node', '-e', probe(carolIp, 9));
    expect(toCarol.stdout.trim()).to.equal('timeout');
    const toGateway = await compose('exec', '-T', 'control', 'outpost', 'sandbox', 'exec', 'alice', '--', 'node', '-e', probe(`10.213.${subnetOctet}.3`, 443));
    expect(toGateway.stdout.trim()).to.equal('open');
    // The disk quota holds: the loop mount made inside the control-plane container reached the
    // host, so the workspace sees the student's own 64 MiB file system, not the host's disk.
    const { stdout: df } = await run('docker', ['exec', `outpost-${instance}-ws-alice`, 'df', '-P', '-k', '/workspace']);
    const totalKiB = Number(df.trim().split('\n')[1]!.split(/\s+/)[1]);
    expect(totalKiB, df).to.be.within(30 * 1024, 70 * 1024);

    // Down: the control plane removes its workspace containers, compose removes the rest.
    await compose('down', '--timeout', '30');
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`] } });
    expect(left.map((c) => c.Names[0])).to.deep.equal([]);
    const network = await docker.getNetwork(`outpost-test-compose-${subnetOctet}-${process.pid}`).inspect().then(() => 'exists', () => 'gone');
    expect(network).to.equal('gone');
    expect(await fetch(`${base}/healthz`).then(() => 'answered', () => 'refused')).to.equal('refused');
  });
});
